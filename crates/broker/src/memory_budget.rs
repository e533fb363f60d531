//! One broker-wide budget for the bytes that transfers hold in memory:
//! upload pieces and their shard objects, the shards and plaintext of
//! chunks being read back, repair's rebuilds, and the shard objects an
//! upload keeps for a retry.
//!
//! # Why one budget, in bytes
//!
//! Each path already bounds itself per transfer (an upload's window, a
//! download's read-ahead), but nothing bounded their sum: 32 concurrent
//! range downloads took a broker to 1.2 GiB. A semaphore whose permits are
//! [`UNIT`]-sized slices of `pipeline.memory_budget_bytes` caps the sum.
//! A path reserves what a chunk will need *before* it allocates, and the
//! reservation lives exactly as long as the bytes: a download's chunk
//! carries it inside its `Bytes` (see [`BudgetPermit::attach`]), so it goes
//! back when the transport has taken the last frame cut from that chunk.
//!
//! # Waiting, then refusing — at the start only
//!
//! A transfer is *admitted* by reserving its first chunk (a Put before it
//! reads any data, a Get before its first byte): that waits at most
//! `pipeline.memory_wait_ms`, then fails with `Overloaded`
//! (RESOURCE_EXHAUSTED, "retry in 1 s"; HTTP 503 with `Retry-After`), a
//! clean refusal with nothing stored or charged. Once admitted, its later
//! chunks wait for room as long as it takes ([`MemoryBudget::reserve_waiting`]):
//! failing a half-sent body is worse than a slower one, and waiting cannot
//! deadlock — an upload's pieces in flight free their room without the
//! client, and a download only ever holds chunks at or after the one it
//! sends next, reserved in order from a fair (FIFO) semaphore. A download
//! whose client takes nothing for a minute is cut off (`get/mod.rs`), so a
//! stalled reader cannot hold its share for ever. Repair waits the same way.
//!
//! A single reservation larger than the whole budget is cut down to the
//! whole budget: it then runs alone rather than never.
//!
//! # What a transfer costs
//!
//! Besides its chunks, each transfer holds memory for as long as its
//! stream lives, which it reserves at admission too: an upload, the piece
//! its cutter is filling plus what HTTP/2 may buffer unread on its stream
//! (the 4 MiB window, `server.rs`); a download, the message tonic is
//! encoding plus what h2 queues for the client (two frames). Measured
//! before these were counted: 16 concurrent uploads took a broker with a
//! 512 MiB budget to 664 MiB (docs/performance.md, "Many transfers at
//! once"). Not counted: the index, connections, the runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use shardgate_core::SHARD_HEADER_LEN;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::BrokerError;

/// HTTP/2 receive window of one stream (the server's setting): what an
/// upload's client may have in flight that the broker must buffer.
pub(crate) const STREAM_WINDOW_BYTES: u32 = 4 << 20;

/// Granularity of reservations: 64 KiB, so a `u32` of permits spans 256
/// TiB and a 4 MiB chunk is 64 permits.
pub(crate) const UNIT: u64 = 64 << 10;

/// What a refused caller is told to wait before retrying, ms.
const RETRY_AFTER_MS: u64 = 1_000;

/// Size of one shard object of a chunk sealed to `sealed_len` bytes with
/// `k` data shards: its share of the sealed bytes plus the shard header.
pub(crate) fn shard_object_bytes(sealed_len: u32, k: u8) -> u64 {
    u64::from(sealed_len).div_ceil(u64::from(k.max(1))) + SHARD_HEADER_LEN as u64
}

/// The budget; cheap to clone (shared state behind an `Arc`).
#[derive(Clone)]
pub(crate) struct MemoryBudget {
    inner: Arc<Inner>,
}

struct Inner {
    permits: Arc<Semaphore>,
    total_units: u32,
    wait: Duration,
    waiters: AtomicUsize,
}

impl MemoryBudget {
    /// The broker's budget of `bytes`, the buffer pool included: the pool
    /// of freed chunk buffers (shardgate-backends `aligned.rs`) may keep an
    /// eighth of it, at most 64 MiB, and transfers may reserve the rest.
    /// Those pooled buffers are resident too, so counting them keeps the
    /// broker's memory within what was configured (the pool is global:
    /// the last broker started in a process sets it).
    pub(crate) fn with_buffer_pool(bytes: u64, wait: Duration) -> Self {
        let pool = shardgate_backends::aligned::set_pool_limit(
            usize::try_from(bytes / 8).unwrap_or(usize::MAX),
        );
        tracing::debug!(
            budget_bytes = bytes,
            pool_bytes = pool,
            "memory budget: the buffer pool's share is taken off what transfers may reserve"
        );
        Self::new(bytes.saturating_sub(pool as u64), wait)
    }

    /// A budget of `bytes` (at least one unit); reservations wait at most
    /// `wait`.
    pub(crate) fn new(bytes: u64, wait: Duration) -> Self {
        let total_units = u32::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX);
        let budget = Self {
            inner: Arc::new(Inner {
                permits: Arc::new(Semaphore::new(total_units as usize)),
                total_units,
                wait,
                waiters: AtomicUsize::new(0),
            }),
        };
        metrics::gauge!("shardgate_memory_budget_bytes").set(budget.total_bytes() as f64);
        budget.publish();
        budget
    }

    /// The configured budget, bytes (rounded up to whole units).
    pub(crate) fn total_bytes(&self) -> u64 {
        u64::from(self.inner.total_units) * UNIT
    }

    /// Bytes reserved right now.
    pub(crate) fn in_use_bytes(&self) -> u64 {
        let free = self.inner.permits.available_permits() as u64;
        (u64::from(self.inner.total_units) - free.min(u64::from(self.inner.total_units))) * UNIT
    }

    fn units(&self, bytes: u64) -> u32 {
        u32::try_from(bytes.div_ceil(UNIT).max(1))
            .unwrap_or(u32::MAX)
            .min(self.inner.total_units)
    }

    /// Reserves `bytes` for `what` (words for the refusal), waiting at most
    /// the configured time for room.
    pub(crate) async fn reserve(
        &self,
        bytes: u64,
        what: &str,
    ) -> Result<BudgetPermit, BrokerError> {
        let waited = tokio::time::timeout(self.inner.wait, self.reserve_waiting(bytes)).await;
        match waited {
            Ok(reserved) => reserved,
            Err(_elapsed) => {
                metrics::counter!("shardgate_memory_budget_refusals_total").increment(1);
                Err(BrokerError::Overloaded {
                    what: format!(
                        "the broker is at its memory budget for transfers ({} MiB) and {what} waited {} ms for room",
                        self.total_bytes() >> 20,
                        self.inner.wait.as_millis()
                    ),
                    retry_after_ms: RETRY_AFTER_MS,
                })
            }
        }
    }

    /// Reserves `bytes`, waiting as long as it takes: for work already
    /// admitted, and for background work (repair), which has no caller to
    /// refuse and must not allocate past the budget either. The semaphore
    /// is fair, so it queues with clients.
    pub(crate) async fn reserve_waiting(&self, bytes: u64) -> Result<BudgetPermit, BrokerError> {
        let units = self.units(bytes);
        if let Ok(permit) = self.inner.permits.clone().try_acquire_many_owned(units) {
            return Ok(self.granted(permit));
        }
        // Counted while waiting; the guard also uncounts a wait that is
        // cancelled (the client went away, the timeout in `reserve`).
        let _waiting = Waiting::start(self);
        let acquired = self.inner.permits.clone().acquire_many_owned(units).await;
        let permit =
            acquired.map_err(|_| BrokerError::Internal("memory budget closed".to_owned()))?;
        Ok(self.granted(permit))
    }

    /// Reserves `bytes` only if there is room now (for memory that is
    /// useful but optional, like shard objects kept for a retry).
    pub(crate) fn try_reserve(&self, bytes: u64) -> Option<BudgetPermit> {
        let units = self.units(bytes);
        let permit = self
            .inner
            .permits
            .clone()
            .try_acquire_many_owned(units)
            .ok()?;
        Some(self.granted(permit))
    }

    fn granted(&self, permit: OwnedSemaphorePermit) -> BudgetPermit {
        self.publish();
        BudgetPermit {
            permit: Some(permit),
            budget: self.clone(),
        }
    }

    /// Updates the gauges (after every change: they are what an operator
    /// watches to size the budget).
    fn publish(&self) {
        metrics::gauge!("shardgate_memory_budget_in_use_bytes").set(self.in_use_bytes() as f64);
        metrics::gauge!("shardgate_memory_budget_waiters")
            .set(self.inner.waiters.load(Ordering::Relaxed) as f64);
    }
}

/// One waiter in the gauge, for as long as it lives.
struct Waiting<'a>(&'a MemoryBudget);

impl<'a> Waiting<'a> {
    fn start(budget: &'a MemoryBudget) -> Self {
        budget.inner.waiters.fetch_add(1, Ordering::Relaxed);
        budget.publish();
        Waiting(budget)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.inner.waiters.fetch_sub(1, Ordering::Relaxed);
        self.0.publish();
    }
}

/// A reservation; the bytes go back to the budget when it is dropped.
pub(crate) struct BudgetPermit {
    permit: Option<OwnedSemaphorePermit>,
    budget: MemoryBudget,
}

impl BudgetPermit {
    /// Keeps only what `bytes` needs and gives the rest back now (a chunk
    /// read reserves for its shards, then holds only its plaintext).
    pub(crate) fn shrink_to(&mut self, bytes: u64) {
        let keep = self.budget.units(bytes) as usize;
        if let Some(permit) = self.permit.as_mut() {
            let extra = permit.num_permits().saturating_sub(keep);
            if extra > 0 {
                drop(permit.split(extra));
                self.budget.publish();
            }
        }
    }

    /// Bytes this reservation holds.
    pub(crate) fn bytes(&self) -> u64 {
        self.permit.as_ref().map_or(0, |p| p.num_permits() as u64) * UNIT
    }

    /// Splits `bytes` off into a reservation of its own (for memory that
    /// lives as long as something else than the rest).
    pub(crate) fn split_off(&mut self, bytes: u64) -> BudgetPermit {
        let units = self.budget.units(bytes) as usize;
        let permit = self.permit.as_mut().and_then(|p| {
            let n = units.min(p.num_permits().saturating_sub(1));
            if n == 0 { None } else { p.split(n) }
        });
        BudgetPermit {
            permit,
            budget: self.budget.clone(),
        }
    }

    /// `bytes` as a `Bytes` that holds this reservation: it is given back
    /// when the last slice of it is dropped.
    pub(crate) fn attach<B>(self, bytes: B) -> Bytes
    where
        B: AsRef<[u8]> + Send + 'static,
    {
        Bytes::from_owner(Reserved {
            bytes,
            _permit: self,
        })
    }
}

impl std::fmt::Debug for BudgetPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let units = self.permit.as_ref().map_or(0, |p| p.num_permits() as u64);
        write!(f, "BudgetPermit({} bytes)", units * UNIT)
    }
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        drop(self.permit.take());
        self.budget.publish();
    }
}

/// Bytes together with the reservation that paid for them.
struct Reserved<B> {
    bytes: B,
    _permit: BudgetPermit,
}

impl<B: AsRef<[u8]>> AsRef<[u8]> for Reserved<B> {
    fn as_ref(&self) -> &[u8] {
        self.bytes.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[tokio::test]
    async fn reservations_add_up_and_come_back() {
        let budget = MemoryBudget::new(8 * MIB, Duration::from_millis(10));
        let a = budget.reserve(3 * MIB, "a").await.unwrap();
        let b = budget.reserve(5 * MIB, "b").await.unwrap();
        assert_eq!(budget.in_use_bytes(), 8 * MIB);
        assert!(budget.try_reserve(1).is_none());
        drop(a);
        assert_eq!(budget.in_use_bytes(), 5 * MIB);
        drop(b);
        assert_eq!(budget.in_use_bytes(), 0);
    }

    #[tokio::test]
    async fn a_full_budget_refuses_after_the_wait_with_a_retry_hint() {
        let budget = MemoryBudget::new(4 * MIB, Duration::from_millis(20));
        let _all = budget.reserve(4 * MIB, "first").await.unwrap();
        let err = budget.reserve(MIB, "a download").await.err().unwrap();
        match &err {
            BrokerError::Overloaded {
                what,
                retry_after_ms,
            } => {
                assert!(what.contains("a download"), "{what}");
                assert!(what.contains("4 MiB"), "{what}");
                assert_eq!(*retry_after_ms, 1_000);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            crate::grpc_status::code_of(&err),
            tonic::Code::ResourceExhausted
        );
    }

    #[tokio::test]
    async fn a_waiter_gets_room_when_a_holder_finishes() {
        let budget = MemoryBudget::new(4 * MIB, Duration::from_secs(5));
        let held = budget.reserve(4 * MIB, "first").await.unwrap();
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.reserve(2 * MIB, "second").await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(held);
        waiter.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_refused_or_cancelled_wait_is_no_longer_counted_as_waiting() {
        let budget = MemoryBudget::new(4 * MIB, Duration::from_millis(20));
        let _all = budget.reserve(4 * MIB, "first").await.unwrap();
        assert!(budget.reserve(MIB, "refused").await.is_err());
        let cancelled =
            tokio::time::timeout(Duration::from_millis(20), budget.reserve_waiting(MIB));
        assert!(cancelled.await.is_err());
        assert_eq!(budget.inner.waiters.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_split_off_part_lives_on_its_own() {
        let budget = MemoryBudget::new(16 * MIB, Duration::from_millis(10));
        let mut chunk = budget.reserve(12 * MIB, "upload").await.unwrap();
        let stream = chunk.split_off(8 * MIB);
        drop(chunk);
        assert_eq!(budget.in_use_bytes(), 8 * MIB);
        drop(stream);
        assert_eq!(budget.in_use_bytes(), 0);
    }

    #[tokio::test]
    async fn more_than_the_whole_budget_runs_alone_instead_of_never() {
        let budget = MemoryBudget::new(4 * MIB, Duration::from_millis(10));
        let big = budget.reserve(64 * MIB, "huge chunk").await.unwrap();
        assert_eq!(budget.in_use_bytes(), 4 * MIB);
        drop(big);
    }

    #[tokio::test]
    async fn shrinking_returns_the_rest_and_attached_bytes_hold_the_remainder() {
        let budget = MemoryBudget::new(16 * MIB, Duration::from_millis(10));
        let mut permit = budget.reserve(10 * MIB, "read").await.unwrap();
        permit.shrink_to(4 * MIB);
        assert_eq!(budget.in_use_bytes(), 4 * MIB);
        let bytes = permit.attach(vec![7u8; (4 * MIB) as usize]);
        let frame = bytes.slice(0..1024);
        drop(bytes);
        // A frame cut from the chunk still holds it.
        assert_eq!(budget.in_use_bytes(), 4 * MIB);
        assert_eq!(frame[0], 7);
        drop(frame);
        assert_eq!(budget.in_use_bytes(), 0);
    }
}
