//! Shared rate slots: a rate that holds across every broker on one index
//! (today the node-wide cap on invoice creations, `[limits]`
//! `node_invoices_per_second`).
//!
//! A rate of `n` per second is a queue of slots `1/n` apart. A caller books
//! the next free slot and waits until it; a slot further away than the
//! caller may wait is not booked, and the caller is told how long the queue
//! is (a generic cell rate algorithm with the queue as its burst). Kept per
//! process, a cap of `n` becomes `n` per replica; kept in the index, the
//! replicas on one PostgreSQL share one queue, on PostgreSQL's clock.

use std::time::Duration;

/// What [`crate::Index::book_rate_slot`] gave the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotBooking {
    /// A slot is booked: go ahead after `wait`.
    Booked {
        /// How long until the booked slot (zero when the queue was empty).
        wait: Duration,
    },
    /// The queue is longer than the caller may wait; nothing was booked.
    Full {
        /// When a slot within the caller's wait will be free again.
        retry_after: Duration,
    },
}

/// The rule both backends apply under their lock: with the queue's next
/// free slot at `next_free_us` and the clock at `now_us` (microseconds on
/// one clock), the booking, and the next free slot to store if booked.
pub(crate) fn book(
    next_free_us: i64,
    now_us: i64,
    spacing: Duration,
    max_wait: Duration,
) -> (SlotBooking, Option<i64>) {
    let spacing_us = i64::try_from(spacing.as_micros())
        .unwrap_or(i64::MAX)
        .max(1);
    let max_wait_us = i64::try_from(max_wait.as_micros()).unwrap_or(i64::MAX);
    let slot = next_free_us.max(now_us);
    let ahead = slot.saturating_sub(now_us);
    if ahead > max_wait_us {
        let retry_after = micros(ahead - max_wait_us);
        return (SlotBooking::Full { retry_after }, None);
    }
    let booking = SlotBooking::Booked {
        wait: micros(ahead),
    };
    (booking, Some(slot.saturating_add(spacing_us)))
}

fn micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn an_idle_queue_books_now_and_moves_the_next_slot_one_spacing_on() {
        let (booking, next) = book(0, 5_000, 10 * MS, 100 * MS);
        assert_eq!(
            booking,
            SlotBooking::Booked {
                wait: Duration::ZERO
            }
        );
        assert_eq!(next, Some(15_000));
    }

    #[test]
    fn a_queued_caller_waits_for_its_slot_and_one_beyond_the_wait_is_refused() {
        let (booking, next) = book(60_000, 5_000, 10 * MS, 100 * MS);
        assert_eq!(booking, SlotBooking::Booked { wait: 55 * MS });
        assert_eq!(next, Some(70_000));
        let (booking, next) = book(160_000, 5_000, 10 * MS, 100 * MS);
        assert_eq!(
            booking,
            SlotBooking::Full {
                retry_after: 55 * MS
            }
        );
        assert_eq!(next, None, "nothing booked");
    }
}
