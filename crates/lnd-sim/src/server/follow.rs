//! Server streams that follow one invoice or one payment: current state
//! first, then every change, ending after a final state (as LND's
//! SubscribeSingleInvoice and SendPaymentV2/TrackPaymentV2 do).
//!
//! Streams are plain `unfold`s driven by tonic, not spawned tasks: when the
//! client goes away tonic drops the stream and nothing is left running.
//! When the node stops serving, each stream ends with UNAVAILABLE so the
//! server's graceful shutdown is never held up by a subscriber.

use std::pin::Pin;

use futures::Stream;
use tokio::sync::{broadcast, watch};
use tonic::Status;

use crate::lnd_status::LndStatus;
use crate::records::{InvoiceRecord, PaymentRecord};

/// A boxed response stream, the shape tonic's generated traits expect.
pub(super) type RpcStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Something a stream can follow by payment hash.
pub(super) trait Followed: Clone + Send + 'static {
    type Proto: Send + 'static;
    fn hash(&self) -> [u8; 32];
    fn is_final(&self) -> bool;
    /// Whether two snapshots would look the same to a client (duplicates
    /// arise when an update races the initial read; we send each state once).
    fn same_state(&self, other: &Self) -> bool;
    fn to_proto(&self) -> Self::Proto;
}

impl Followed for InvoiceRecord {
    type Proto = crate::proto::lnrpc::Invoice;
    fn hash(&self) -> [u8; 32] {
        self.hash
    }
    fn is_final(&self) -> bool {
        self.state.is_final()
    }
    fn same_state(&self, other: &Self) -> bool {
        self.state == other.state && self.amt_paid_msat == other.amt_paid_msat
    }
    fn to_proto(&self) -> Self::Proto {
        InvoiceRecord::to_proto(self)
    }
}

impl Followed for PaymentRecord {
    type Proto = crate::proto::lnrpc::Payment;
    fn hash(&self) -> [u8; 32] {
        self.hash
    }
    fn is_final(&self) -> bool {
        PaymentRecord::is_final(self)
    }
    fn same_state(&self, other: &Self) -> bool {
        self.status == other.status && self.payment_index == other.payment_index
    }
    fn to_proto(&self) -> Self::Proto {
        PaymentRecord::to_proto(self)
    }
}

/// What to follow and how.
pub(super) struct Follow<T: Followed> {
    pub hash: [u8; 32],
    /// Subscribed BEFORE `initial` was read, so no change can slip between.
    pub feed: broadcast::Receiver<T>,
    pub initial: Option<T>,
    /// Re-reads the current state after the feed lagged.
    pub reread: Box<dyn Fn() -> Option<T> + Send>,
    /// Only send final states (SendPaymentV2's `no_inflight_updates`).
    pub final_only: bool,
    /// Flips to true when the node stops serving.
    pub stop: watch::Receiver<bool>,
}

struct Cursor<T: Followed> {
    follow: Follow<T>,
    last_sent: Option<T>,
    done: bool,
}

impl<T: Followed> Cursor<T> {
    /// Decides whether `item` goes out; marks the stream done after a final.
    fn offer(&mut self, item: T) -> Option<T::Proto> {
        if item.hash() != self.follow.hash {
            return None;
        }
        if self.follow.final_only && !item.is_final() {
            return None;
        }
        if self.last_sent.as_ref().is_some_and(|l| l.same_state(&item)) {
            return None;
        }
        self.done = item.is_final();
        let proto = item.to_proto();
        self.last_sent = Some(item);
        Some(proto)
    }

    async fn next(&mut self) -> Option<Result<T::Proto, Status>> {
        if self.done {
            return None;
        }
        if let Some(initial) = self.follow.initial.take()
            && let Some(proto) = self.offer(initial)
        {
            return Some(Ok(proto));
        }
        loop {
            let received = tokio::select! {
                _ = self.follow.stop.wait_for(|stopped| *stopped) => {
                    self.done = true;
                    return Some(Err(LndStatus::ShuttingDown.into()));
                }
                received = self.follow.feed.recv() => received,
            };
            let item = match received {
                Ok(item) => item,
                Err(broadcast::error::RecvError::Lagged(_)) => match (self.follow.reread)() {
                    Some(item) => item,
                    None => continue,
                },
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            if let Some(proto) = self.offer(item) {
                return Some(Ok(proto));
            }
        }
    }
}

/// Turns a `Follow` into a response stream.
pub(super) fn stream<T: Followed>(follow: Follow<T>) -> RpcStream<T::Proto> {
    let cursor = Cursor {
        follow,
        last_sent: None,
        done: false,
    };
    Box::pin(futures::stream::unfold(cursor, |mut cursor| async move {
        let item = cursor.next().await?;
        Some((item, cursor))
    }))
}
