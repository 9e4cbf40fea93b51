//! Interleaving coverage (issue 13): for every command that raced the runloop's end, the order
//! of its critical steps, as one [`OrderingClass`]; and tallies of the classes a search reached.
//!
//! The steps come from the run's watched operations on `command_queue` and `runloop_done` (the
//! runner watches the second when `RunSpec::coverage` asks: a few dozen operations a run, no
//! recorded trace). Steps at the same virtual instant keep the run's event order: a watched
//! operation's place in the list is that order.
//!
//! The steps: an offer (O, accepted or refused), a caller's check of `runloop_done` (K, which
//! saw it done or not), the runloop's completion of `runloop_done` (F), its drains (D:
//! `take_all`, or `close_and_drain`, which also closes the queue), and its takes (T). The
//! runloop's end is its first F or D. A command raced that end when it was offered after the
//! runloop's last take before the end, or was dequeued by that last take; a check that saw
//! `runloop_done` done without an offer of its own is a command that never reached the queue.
//!
//! With several consumers in one run, each runloop (its `command_queue` and its
//! `runloop_done`, paired by the order they were made in) is classified on its own and the
//! run reaches the union of their classes. The end the workload reported for consumer `k` is
//! taken as the end of the `k`-th runloop made: consumers make their runloops in the file's
//! order unless the schedule reorders two that start at one instant.

use std::fmt;
use std::time::Duration;

use consumer::internal::labels::{COMMAND_QUEUE, RUNLOOP_DONE};
use consumer::rt::promise::ops as promise_ops;
use consumer::rt::queue::ops as queue_ops;
use serde::{Deserialize, Serialize};
use sim::WatchedOp;

/// How a command that raced the runloop's end was ordered against the end's steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrderingClass {
    /// Dequeued by the runloop's last take before its end: the runloop ended while that chunk
    /// was being handled.
    InLastChunk,
    /// Offered before `runloop_done` completed; the end's drain took it.
    BeforeDoneDrained,
    /// Offered after `runloop_done` completed and before the drain; the drain took it.
    BetweenDoneAndDrain,
    /// Offered after the runloop's last drain, and its caller did not see `runloop_done` done
    /// after the offer: nothing will ever dequeue it (check-offer-drain's window).
    AfterLastDrain,
    /// Offered after the runloop's last drain, then its caller saw `runloop_done` done
    /// (offer-then-check fails its own promise here).
    AfterLastDrainSawDone,
    /// Offered before `runloop_done` completed, by a protocol whose end does not drain: never
    /// dequeued, only `runloop_done` can answer it.
    BeforeDoneNoDrain,
    /// Offered after `runloop_done` completed, by a protocol whose end does not drain.
    AfterDoneNoDrain,
    /// Offered after the runloop's last take and never dequeued, and the end left no step at
    /// all (no `runloop_done`, no drain: master, or a protocol without that hook).
    NoEndStep,
    /// Offered after the queue was closed or shut down: the offer failed at once.
    Refused,
    /// The caller saw `runloop_done` done before offering, and did not offer.
    SawDoneNoOffer,
}

impl OrderingClass {
    /// Every class, in the order tables print them.
    pub const ALL: [OrderingClass; 10] = [
        OrderingClass::InLastChunk,
        OrderingClass::BeforeDoneDrained,
        OrderingClass::BetweenDoneAndDrain,
        OrderingClass::AfterLastDrain,
        OrderingClass::AfterLastDrainSawDone,
        OrderingClass::BeforeDoneNoDrain,
        OrderingClass::AfterDoneNoDrain,
        OrderingClass::NoEndStep,
        OrderingClass::Refused,
        OrderingClass::SawDoneNoOffer,
    ];

    /// The name in tables and NDJSON lines.
    pub fn name(self) -> &'static str {
        match self {
            OrderingClass::InLastChunk => "in-last-chunk",
            OrderingClass::BeforeDoneDrained => "before-done-drained",
            OrderingClass::BetweenDoneAndDrain => "between-done-and-drain",
            OrderingClass::AfterLastDrain => "after-last-drain",
            OrderingClass::AfterLastDrainSawDone => "after-last-drain-saw-done",
            OrderingClass::BeforeDoneNoDrain => "before-done-no-drain",
            OrderingClass::AfterDoneNoDrain => "after-done-no-drain",
            OrderingClass::NoEndStep => "no-end-step",
            OrderingClass::Refused => "refused",
            OrderingClass::SawDoneNoOffer => "saw-done-no-offer",
        }
    }

    /// One line for `hangsim list`.
    pub fn description(self) -> &'static str {
        match self {
            OrderingClass::InLastChunk => {
                "dequeued by the runloop's last take; the runloop ended while handling that chunk"
            }
            OrderingClass::BeforeDoneDrained => {
                "offered before runloop_done completed; the end's drain took it"
            }
            OrderingClass::BetweenDoneAndDrain => {
                "offered after runloop_done completed, before the drain; the drain took it"
            }
            OrderingClass::AfterLastDrain => {
                "offered after the last drain, no check saw runloop_done after: never dequeued"
            }
            OrderingClass::AfterLastDrainSawDone => {
                "offered after the last drain, then the caller's check saw runloop_done done"
            }
            OrderingClass::BeforeDoneNoDrain => {
                "offered before runloop_done completed; the end has no drain"
            }
            OrderingClass::AfterDoneNoDrain => {
                "offered after runloop_done completed; the end has no drain"
            }
            OrderingClass::NoEndStep => {
                "offered after the runloop's last take; its end neither completed runloop_done nor drained"
            }
            OrderingClass::Refused => "offered after the queue was closed: the offer failed at once",
            OrderingClass::SawDoneNoOffer => "the caller's check saw runloop_done done; no offer",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for OrderingClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One critical step, in the run's event order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// O: an offer to the command queue by `fiber`, accepted or refused.
    Offer { fiber: u64, accepted: bool },
    /// K: a check of `runloop_done` by `fiber`, which saw it done or not.
    Check { fiber: u64, done: bool },
    /// F: `runloop_done` completed (the winning completion only).
    Complete,
    /// T: the runloop took `took` commands.
    Take { took: u64 },
    /// D: the runloop drained the queue (`take_all`, or `close_and_drain` when `closes`).
    Drain { closes: bool },
}

/// The steps of a run, from its watched operations (in their order), each with its time.
pub fn steps_of<'a>(watched: impl IntoIterator<Item = &'a WatchedOp>) -> Vec<(Duration, Step)> {
    watched
        .into_iter()
        .filter_map(|op| step_of(op).map(|step| (op.at, step)))
        .collect()
}

fn step_of(op: &WatchedOp) -> Option<Step> {
    match (op.object, op.op) {
        (COMMAND_QUEUE, queue_ops::OFFER) => Some(Step::Offer {
            fiber: op.fiber,
            accepted: op.detail == 1,
        }),
        (COMMAND_QUEUE, queue_ops::TAKE) => Some(Step::Take { took: op.detail }),
        (COMMAND_QUEUE, queue_ops::TAKE_ALL) => Some(Step::Drain { closes: false }),
        (COMMAND_QUEUE, queue_ops::CLOSE_AND_DRAIN) => Some(Step::Drain { closes: true }),
        (RUNLOOP_DONE, promise_ops::IS_DONE) => Some(Step::Check {
            fiber: op.fiber,
            done: op.detail == 1,
        }),
        (RUNLOOP_DONE, promise_ops::COMPLETE) if op.detail == 1 => Some(Step::Complete),
        _ => None,
    }
}

/// The classes of every command of the run that raced the runloop's end, one entry per
/// command, in the order of their offers (or checks).
pub fn classify(steps: &[Step]) -> Vec<OrderingClass> {
    classify_with_reported_end(steps, None)
}

/// As [`classify`], where the workload saw the runloop end (crash or stop) before step
/// `reported_end` (an index into `steps`). The protocols without hooks leave no step at their
/// end: without this, a command the runloop never handled looks like any other.
pub fn classify_with_reported_end(
    steps: &[Step],
    reported_end: Option<usize>,
) -> Vec<OrderingClass> {
    let first_end_step = steps
        .iter()
        .position(|step| matches!(step, Step::Complete | Step::Drain { .. }));
    let end = match (first_end_step, reported_end) {
        (Some(step), Some(reported)) => Some(step.min(reported)),
        (step, reported) => step.or(reported),
    };
    let end_left_a_step = first_end_step.is_some();
    let done_at = steps.iter().position(|step| *step == Step::Complete);
    let drains: Vec<usize> = steps
        .iter()
        .enumerate()
        .filter(|(_, step)| matches!(step, Step::Drain { .. }))
        .map(|(place, _)| place)
        .collect();
    let takes: Vec<usize> = steps
        .iter()
        .enumerate()
        .filter(|(_, step)| matches!(step, Step::Take { took } if *took > 0))
        .map(|(place, _)| place)
        .collect();
    // The runloop's last take before its end (or its last take, when its end left no step).
    let last_take = takes
        .iter()
        .copied()
        .rfind(|&place| end.is_none_or(|end| place < end));
    let mut classes = Vec::new();
    for (place, step) in steps.iter().enumerate() {
        match *step {
            Step::Offer {
                accepted: false, ..
            } if end.is_some() => classes.push(OrderingClass::Refused),
            Step::Offer {
                fiber,
                accepted: true,
            } => {
                // Only the runloop's takes count: none after its end.
                let taken_by = takes
                    .iter()
                    .copied()
                    .find(|&take| take > place && end.is_none_or(|end| take < end));
                let drained_by = drains.iter().copied().find(|&drain| drain > place);
                let class = match (end, taken_by) {
                    // Dequeued by a take: raced the end only when that was the last one.
                    (_, Some(take)) if drained_by.is_none_or(|drain| take < drain) => {
                        if end.is_some() && Some(take) == last_take {
                            Some(OrderingClass::InLastChunk)
                        } else {
                            None
                        }
                    }
                    (None, _) => Some(OrderingClass::NoEndStep),
                    (Some(_), _) if !end_left_a_step => Some(OrderingClass::NoEndStep),
                    (Some(_), _) => Some(match (drained_by, done_at) {
                        (Some(_), Some(done)) if done < place => OrderingClass::BetweenDoneAndDrain,
                        (Some(_), _) => OrderingClass::BeforeDoneDrained,
                        (None, _) if !drains.is_empty() => {
                            if saw_done_after(steps, place, fiber) {
                                OrderingClass::AfterLastDrainSawDone
                            } else {
                                OrderingClass::AfterLastDrain
                            }
                        }
                        (None, Some(done)) if done < place => OrderingClass::AfterDoneNoDrain,
                        (None, _) => OrderingClass::BeforeDoneNoDrain,
                    }),
                };
                classes.extend(class);
            }
            Step::Check { fiber, done: true } if !follows_own_offer(steps, place, fiber) => {
                classes.push(OrderingClass::SawDoneNoOffer);
            }
            _ => {}
        }
    }
    classes
}

/// Whether `fiber`'s next check after its offer at `offer` saw `runloop_done` done.
fn saw_done_after(steps: &[Step], offer: usize, fiber: u64) -> bool {
    steps[offer + 1..]
        .iter()
        .find_map(|step| match *step {
            Step::Check { fiber: by, done } if by == fiber => Some(done),
            Step::Offer { fiber: by, .. } if by == fiber => Some(false),
            _ => None,
        })
        .unwrap_or(false)
}

/// Whether `fiber`'s step before its check at `check` was an offer (offer-then-check's check).
fn follows_own_offer(steps: &[Step], check: usize, fiber: u64) -> bool {
    steps[..check].iter().rev().find_map(|step| match *step {
        Step::Offer { fiber: by, .. } if by == fiber => Some(true),
        Step::Check { fiber: by, .. } if by == fiber => Some(false),
        _ => None,
    }) == Some(true)
}

/// The set of classes one run reached: a bit per class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RunCoverage {
    bits: u16,
}

impl RunCoverage {
    /// The classes of a run's watched operations. `runloop_ended_at[k]` is when the workload
    /// saw consumer `k`'s runloop end, if it did; steps at that instant count as before it.
    pub fn of_watched(watched: &[WatchedOp], runloop_ended_at: &[Option<Duration>]) -> RunCoverage {
        // The k-th queue made and the k-th runloop_done made belong to one runloop.
        let ranks = |label: &str| {
            let mut ids: Vec<u64> = watched
                .iter()
                .filter(|op| op.object == label)
                .map(|op| op.object_id)
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let (queues, promises) = (ranks(COMMAND_QUEUE), ranks(RUNLOOP_DONE));
        let runloop_of = |op: &WatchedOp| {
            let ids = if op.object == COMMAND_QUEUE {
                &queues
            } else {
                &promises
            };
            ids.binary_search(&op.object_id).unwrap_or(0)
        };
        let mut coverage = RunCoverage::default();
        for runloop in 0..queues.len().max(promises.len()) {
            let timed = steps_of(watched.iter().filter(|op| runloop_of(op) == runloop));
            let reported_end = runloop_ended_at
                .get(runloop)
                .copied()
                .flatten()
                .map(|ended| timed.iter().take_while(|(at, _)| *at <= ended).count());
            let steps: Vec<Step> = timed.into_iter().map(|(_, step)| step).collect();
            let classes = classify_with_reported_end(&steps, reported_end);
            coverage = coverage.union(RunCoverage::of_classes(&classes));
        }
        coverage
    }

    /// The set of `classes`.
    pub fn of_classes(classes: &[OrderingClass]) -> RunCoverage {
        RunCoverage {
            bits: classes.iter().fold(0, |bits, class| bits | class.bit()),
        }
    }

    /// Whether the run reached `class`.
    pub fn contains(self, class: OrderingClass) -> bool {
        self.bits & class.bit() != 0
    }

    /// The classes reached, in [`OrderingClass::ALL`] order.
    pub fn classes(self) -> Vec<OrderingClass> {
        OrderingClass::ALL
            .into_iter()
            .filter(|class| self.contains(*class))
            .collect()
    }

    /// Both sets together.
    pub fn union(self, other: RunCoverage) -> RunCoverage {
        RunCoverage {
            bits: self.bits | other.bits,
        }
    }

    /// Whether every class of `other` is in this set.
    pub fn covers(self, other: RunCoverage) -> bool {
        self.bits & other.bits == other.bits
    }
}

/// How often each class was reached over many runs, and the first seed that reached it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoverageTally {
    /// Per class in [`OrderingClass::ALL`] order: runs that reached it, first seed.
    reached: [(u64, Option<u64>); OrderingClass::ALL.len()],
    /// Runs counted.
    pub runs: u64,
}

impl CoverageTally {
    /// Counts one run's classes; seeds come in seed order, so the first seed is the smallest.
    pub fn count(&mut self, seed: u64, coverage: RunCoverage) {
        self.runs += 1;
        for (slot, class) in OrderingClass::ALL.into_iter().enumerate() {
            if coverage.contains(class) {
                let (runs, first) = &mut self.reached[slot];
                *runs += 1;
                *first = Some(first.map_or(seed, |first: u64| first.min(seed)));
            }
        }
    }

    /// Runs that reached `class`, and the smallest seed that did.
    pub fn of(&self, class: OrderingClass) -> (u64, Option<u64>) {
        let slot = OrderingClass::ALL
            .iter()
            .position(|c| *c == class)
            .expect("every class is in ALL");
        self.reached[slot]
    }

    /// Every class reached at least once.
    pub fn reached(&self) -> RunCoverage {
        RunCoverage::of_classes(
            &OrderingClass::ALL
                .into_iter()
                .filter(|class| self.of(*class).0 > 0)
                .collect::<Vec<_>>(),
        )
    }
}

impl fmt::Display for CoverageTally {
    /// The table `hangsim search --coverage` prints: per class, runs and first seed, then the
    /// classes never reached.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "interleaving coverage over {} runs:", self.runs)?;
        let mut never = Vec::new();
        for class in OrderingClass::ALL {
            match self.of(class) {
                (runs, Some(first)) => writeln!(
                    f,
                    "  {:<26} {:>7} runs, first seed {first}",
                    class.name(),
                    runs
                )?,
                _ => never.push(class.name()),
            }
        }
        if never.is_empty() {
            write!(f, "  every class reached")
        } else {
            write!(f, "  never reached: {}", never.join(", "))
        }
    }
}

#[cfg(test)]
mod tests;
