//! A chunk read that runs on a task of its own.
//!
//! A download reads `pipeline.read_ahead` chunks ahead of the one it
//! sends, inside its own task (a `buffered` stream), so a read is polled
//! only while that task polls the stream, and not while it waits for a
//! client that takes no frames. Each read takes a CPU permit
//! (`Broker::compute`, one per core) from a fair semaphore, which hands a
//! freed permit to its first waiter whether or not anything is polling
//! it. A read queued for a permit when its download stopped moving was
//! handed the permit and kept it, unused: four downloads opened and left
//! unread took every permit, and every other download on the broker
//! waited until the stall cut-off dropped them, a minute later (test
//! `sdk_unread_downloads::unread_downloads_do_not_hold_up_other_downloads`).
//!
//! Spawned, the read (shard I/O, then the CPU work) runs to its end
//! whether or not the download is moving, and gives its permit back when
//! the work is done. Dropping the handle (the client went away, the stall
//! cut-off) aborts it.
//!
//! The wait for room in the memory budget stays in the download's task,
//! before the spawn, as it was. There the reads queue for room in chunk
//! order (the `buffered` stream first polls them in order, and the
//! semaphore is fair), so a download never holds room for a later chunk
//! while the one it must send next waits: it cannot block itself. Spawned
//! tasks start in any order; with the wait spawned too, chunk 3 got room
//! before chunk 1, and under the 16 MiB budget of `broker_memory_budget`
//! chunk 1 then waited for room that only sending chunk 1 would free. What
//! the fair semaphore hands an idle download here is room for its own next
//! chunk, which the budget counts and the stall cut-off frees.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::error::BrokerError;

/// The handle of a spawned read; awaiting it gives the read's result.
pub(super) struct SpawnedRead<T>(JoinHandle<Result<T, BrokerError>>);

impl<T: Send + 'static> SpawnedRead<T> {
    /// Starts `read` on its own task, in the current tracing span.
    pub(super) fn spawn(
        read: impl Future<Output = Result<T, BrokerError>> + Send + 'static,
    ) -> Self {
        Self(tokio::spawn(read.in_current_span()))
    }
}

impl<T> Future for SpawnedRead<T> {
    type Output = Result<T, BrokerError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match ready!(Pin::new(&mut self.0).poll(cx)) {
            Ok(result) => result,
            Err(e) => Err(BrokerError::Internal(format!(
                "chunk read task failed: {e}"
            ))),
        })
    }
}

impl<T> Drop for SpawnedRead<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
