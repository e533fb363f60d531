//! After a load, idle memory goes back to the system: on a timer, while
//! transfers hold little of the memory budget, the buffer pool is emptied
//! and the allocator trimmed (`shardgate_backends::release_idle_memory`,
//! which says why glibc needs it).

use std::time::Duration;

use crate::memory_budget::MemoryBudget;

/// Every `every`, releases idle memory when transfers hold less than an
/// eighth of the budget (the load is over or light).
pub(crate) async fn release_periodically(budget: MemoryBudget, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if budget.in_use_bytes() <= budget.total_bytes() / 8 {
            let _ = tokio::task::spawn_blocking(shardgate_backends::release_idle_memory).await;
        }
    }
}
