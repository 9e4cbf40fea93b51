//! The worker pool: whole runs on worker threads, results handed back in seed order.
//!
//! Worker threads take seed indices from a shared counter and run whole runs, never sharing a
//! run (a run is single-threaded, and threads exist only here, in the driver, never inside a
//! run); the calling thread takes their results back *in seed order*, so that what a search
//! prints and writes is the same for every number of jobs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::seeds::SeedPlan;

/// How far workers may run ahead of the seed the main thread waits for: a limit on the results
/// held back for ordering.
const REORDER_WINDOW: u64 = 4_096;

/// Whether [`in_seed_order`] goes on after a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Runs `work` on the seeds of `plan` from index `from` to `until` (exclusive) on `jobs`
/// threads, and hands each result to `emit` in seed order, on the calling thread. `emit`
/// may stop the search; seeds already started finish and are dropped. Returns how many results
/// were emitted.
pub fn in_seed_order<T: Send>(
    plan: SeedPlan,
    from: u64,
    until: u64,
    jobs: u32,
    work: impl Fn(u64) -> T + Sync,
    mut emit: impl FnMut(u64, u64, T) -> Flow,
) -> u64 {
    assert!(jobs >= 1 && from <= until && until <= plan.len);
    let next = AtomicU64::new(from);
    let emitted = AtomicU64::new(from);
    let stop = AtomicBool::new(false);
    let (sender, receiver) = mpsc::channel::<(u64, T)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let sender = sender.clone();
            let (next, emitted, stop, work) = (&next, &emitted, &stop, &work);
            scope.spawn(move || loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= until {
                    return;
                }
                // Wait (in the driver, never in a run) while too far ahead of the main thread;
                // it only waits for seeds that are running, so the wait ends. The sleep decides
                // only when a worker starts its seed, never what the seed finds: every run is a
                // function of its seed, and results leave in seed order whatever the timing.
                while index >= emitted.load(Ordering::Relaxed) + REORDER_WINDOW
                    && !stop.load(Ordering::Relaxed)
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let result = work(plan.seed(index));
                if sender.send((index, result)).is_err() {
                    return;
                }
            });
        }
        drop(sender);
        let mut waiting: BTreeMap<u64, T> = BTreeMap::new();
        let mut cursor = from;
        while cursor < until {
            let Ok((index, result)) = receiver.recv() else {
                break;
            };
            waiting.insert(index, result);
            while let Some(result) = waiting.remove(&cursor) {
                let flow = emit(cursor, plan.seed(cursor), result);
                cursor += 1;
                emitted.store(cursor, Ordering::Relaxed);
                if flow == Flow::Stop {
                    stop.store(true, Ordering::Relaxed);
                    return cursor - from;
                }
            }
        }
        cursor - from
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::seeds::{SeedRange, Shard};

    /// Results come back in seed order whatever the number of jobs, and a stop ends the pool
    /// after the result that asked for it.
    #[test]
    fn results_come_back_in_seed_order_and_stop_when_asked() {
        let plan = SeedPlan::new(
            SeedRange { start: 10, end: 60 },
            Shard { index: 1, count: 2 },
        );
        for jobs in [1, 2, 4] {
            let mut seen = Vec::new();
            let emitted = in_seed_order(
                plan,
                0,
                plan.len,
                jobs,
                |seed| seed * 2,
                |index, seed, doubled| {
                    assert_eq!(doubled, seed * 2);
                    seen.push((index, seed));
                    if seed >= 31 {
                        Flow::Stop
                    } else {
                        Flow::Continue
                    }
                },
            );
            let expected: Vec<(u64, u64)> = (0..=10).map(|i| (i, 11 + 2 * i)).collect();
            assert_eq!(seen, expected, "jobs {jobs}");
            assert_eq!(emitted, 11);
        }
    }
}
