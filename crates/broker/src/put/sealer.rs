//! The threads that seal upload pieces: a fixed set, one per core, shared
//! by every upload in the process.
//!
//! Why not tokio's blocking pool: a seal allocates about 16 MiB (ciphertext,
//! shard bodies, shard objects) and glibc serves each thread from its own
//! arena. On the blocking pool a seal lands on whichever of dozens of
//! threads is idle (fs shard writes keep many alive), so those buffers were
//! spread over up to 16 arenas, each keeping its own freed megabytes: peak
//! RSS of a 4 GiB upload 275 MiB, and every chunk touched fresh pages. On
//! the same few threads the buffers of one chunk are reused by the next.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::error::BrokerError;

type Job = Box<dyn FnOnce() + Send>;

/// Where jobs go; the threads start on first use.
fn queue() -> &'static Mutex<Sender<Job>> {
    static QUEUE: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("shardgate-seal-{i}"))
                .spawn(move || run(&rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a sealing thread");
            }
        }
        Mutex::new(tx)
    })
}

fn run(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            // A panicking job drops its reply sender: its caller gets an
            // error, the thread carries on.
            Ok(job) => {
                let _ = catch_unwind(AssertUnwindSafe(job));
            }
            Err(_) => return,
        }
    }
}

/// Runs `job` on a sealing thread. The caller bounds concurrency (it holds
/// a CPU permit), so the queue never grows past the number of uploads'
/// windows.
pub(super) async fn on_sealing_thread<T, F>(job: F) -> Result<T, BrokerError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (reply, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = reply.send(job());
    });
    queue()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .send(job)
        .map_err(|_| BrokerError::Internal("no sealing thread is running".to_owned()))?;
    result
        .await
        .map_err(|_| BrokerError::Internal("a sealing job failed (panicked)".to_owned()))
}
