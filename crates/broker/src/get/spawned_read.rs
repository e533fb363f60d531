//! A chunk read that runs on a task of its own.
//!
//! A download reads `pipeline.read_ahead` chunks ahead of the one it
//! sends. Each read waits for things every transfer shares: room in the
//! memory budget and a CPU permit (`Broker::compute`, one per core).
//! Both are fair semaphores, which hand a freed permit to the first
//! waiter whether or not anything is polling it. Kept inside the
//! download's own task (a `buffered` stream), a read is polled only while
//! that task polls the stream, and not while it waits for a client that
//! takes no frames. A read queued for a CPU permit at that moment was
//! handed the permit and kept it, unused: four downloads opened and left
//! unread took every permit, and every other download on the broker
//! waited until the stall cut-off dropped them, a minute later (test
//! `sdk_unread_downloads::unread_downloads_do_not_hold_up_other_downloads`).
//!
//! Spawned, a read runs to its end whether or not the download is moving,
//! and gives back its CPU permit when the work is done. Its result then
//! waits, holding only its chunk (counted in the budget, so the download
//! can never hold more than its read-ahead), until the download takes it.
//! Dropping the handle (the client went away, the stall cut-off) aborts
//! the read.

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
