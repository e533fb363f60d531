//! An HTTP proxy on 127.0.0.1 that injects faults in front of a peer.
//!
//! ```no_run
//! # async fn demo(peer: &shardgate_tests::Peer) -> Result<(), shardgate_tests::PeerError> {
//! use shardgate_tests::fault_proxy::{FaultMode, FaultProxy};
//! let proxy = FaultProxy::in_front_of(peer).await?;
//! // point the provider at proxy.endpoint() instead of peer.endpoint() ...
//! proxy.set_mode(FaultMode::Hang); // the next request never gets an answer
//! # Ok(()) }
//! ```
//!
//! The proxy understands HTTP/1.x framing, so a mode switch takes effect on
//! the next *request*, also on keep-alive connections a client already holds
//! in its pool. It stops (listener and every connection) when dropped.

mod connection;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::PeerError;
use crate::peer::Peer;

/// Connections served at once; beyond this new ones are closed at once.
/// Keeps a runaway test from exhausting file descriptors.
const MAX_CONNECTIONS: usize = 256;

/// Every `CORRUPT_STRIDE`-th byte of a corrupted body is flipped, starting
/// with the first: a short body is corrupted too, and a shard is hit both in
/// its header and in its payload.
pub const CORRUPT_STRIDE: u64 = 512;

/// What the proxy does with the next request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultMode {
    /// Forward requests and responses unchanged.
    PassThrough,
    /// Reset new connections as soon as they are accepted, and reset pooled
    /// ones when they send their next request (the client sees
    /// "connection reset", as from a provider that is down).
    Refuse,
    /// Accept and read the request, then never answer: only the caller's
    /// timeout ends the request. Hung connections are closed when the mode
    /// changes again or the proxy is dropped.
    Hang,
    /// Answer every request with HTTP 500 and an S3-style `InternalError`
    /// body, without contacting the peer.
    Http500,
    /// Forward, but flip bytes (see [`CORRUPT_STRIDE`]) in the body of every
    /// successful (2xx) GET response. Headers, including Content-Length,
    /// stay as the peer sent them.
    CorruptGetBodies,
}

/// Counters of what the proxy did, so a test can check its fault fired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// TCP connections the listener accepted, including ones then refused.
    pub connections_accepted: u64,
    /// Requests passed on to the upstream peer (in any forwarding mode).
    pub requests_forwarded: u64,
    /// Connections reset: at accept (in `Refuse` mode or over the connection
    /// limit) or on their next request after a switch to `Refuse`.
    pub connections_refused: u64,
    /// Requests read and then never answered (`Hang` mode).
    pub requests_hung: u64,
    /// Requests answered with HTTP 500 by the proxy itself (`Http500` mode).
    pub requests_answered_500: u64,
    /// Non-empty 2xx GET response bodies that had bytes flipped
    /// (`CorruptGetBodies` mode).
    pub bodies_corrupted: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    connections_accepted: AtomicU64,
    requests_forwarded: AtomicU64,
    connections_refused: AtomicU64,
    requests_hung: AtomicU64,
    requests_answered_500: AtomicU64,
    bodies_corrupted: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A running fault proxy. See the module docs.
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    mode: watch::Sender<FaultMode>,
    counters: Arc<Counters>,
    stop: Option<oneshot::Sender<()>>,
    accept_task: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream`, in [`FaultMode::PassThrough`].
    pub async fn start(upstream: SocketAddr) -> Result<FaultProxy, PeerError> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|err| PeerError::io("bind fault proxy on 127.0.0.1:0", err))?;
        let addr = listener
            .local_addr()
            .map_err(|err| PeerError::io("read fault proxy address", err))?;
        let (mode, mode_rx) = watch::channel(FaultMode::PassThrough);
        let counters = Arc::new(Counters::default());
        let (stop, stop_rx) = oneshot::channel();
        let accept_task = tokio::spawn(accept_loop(
            listener,
            upstream,
            mode_rx,
            Arc::clone(&counters),
            stop_rx,
        ));
        Ok(FaultProxy {
            addr,
            upstream,
            mode,
            counters,
            stop: Some(stop),
            accept_task: Some(accept_task),
        })
    }

    /// Starts a proxy in front of a peer.
    pub async fn in_front_of(peer: &Peer) -> Result<FaultProxy, PeerError> {
        FaultProxy::start(peer.addr()).await
    }

    /// `http://127.0.0.1:<proxy port>`: give this to the client under test.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The proxy's own listening address on 127.0.0.1.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The peer address requests are forwarded to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Switches behaviour; applies to the next request on every connection.
    pub fn set_mode(&self, mode: FaultMode) {
        self.mode.send_replace(mode);
    }

    /// The mode the next request will be handled in.
    pub fn mode(&self) -> FaultMode {
        *self.mode.borrow()
    }

    /// A snapshot of the counters since the proxy started (they are never
    /// reset), to check that a fault actually fired.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ProxyStats {
            connections_accepted: load(&c.connections_accepted),
            requests_forwarded: load(&c.requests_forwarded),
            connections_refused: load(&c.connections_refused),
            requests_hung: load(&c.requests_hung),
            requests_answered_500: load(&c.requests_answered_500),
            bodies_corrupted: load(&c.bodies_corrupted),
        }
    }

    /// Stops the proxy and waits until the listener and every connection
    /// are closed. Dropping the proxy does the same without waiting.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.accept_task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Dropping `stop` ends the accept loop, which closes the listener and
        // aborts every connection task: no socket outlives the proxy.
        self.stop.take();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: watch::Receiver<FaultMode>,
    counters: Arc<Counters>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            // A stop message or a dropped proxy: both end the loop.
            _ = &mut stop => break,
            accepted = listener.accept() => accepted,
            // Reap finished connections so the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let Ok((client, _)) = accepted else {
            // Transient accept errors (e.g. EMFILE): try again on the next loop.
            continue;
        };
        Counters::bump(&counters.connections_accepted);
        if *mode.borrow() == FaultMode::Refuse || connections.len() >= MAX_CONNECTIONS {
            connection::reset(client);
            Counters::bump(&counters.connections_refused);
            continue;
        }
        connections.spawn(connection::serve(
            client,
            upstream,
            mode.clone(),
            Arc::clone(&counters),
        ));
    }
    drop(listener);
    // Abort every connection (hung ones included) and wait until they are gone.
    connections.shutdown().await;
}
