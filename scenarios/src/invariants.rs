//! The invariants checked on every run (DESIGN.md 3.4), over what the workload observed.
//! Each has a name that verdicts, fixtures and signatures use.

use crate::catalogue::{Milestone, Observations, ScenarioName};
use consumer::rt::ExitKind;

/// A broken invariant: its name, and what broke it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    pub invariant: &'static str,
    pub detail: String,
}

/// Every invariant, with a line saying what it asserts (for `hangsim list` and docs).
pub const INVARIANTS: [(&str, &str); 6] = [
    (
        "crash-cause-returned",
        "a consume_with that returns after a runloop crash fails (with the crash's cause, or a failure of the same consumption at that moment)",
    ),
    (
        "finalizer-order",
        "finalizers run in the order subscriptions, runloop, consumer",
    ),
    (
        "no-records-after-end",
        "no records are offered to a partition stream after it ended",
    ),
    (
        "committed-offsets-processed",
        "every committed offset was processed",
    ),
    (
        "graceful-end-commits-everything",
        "after consumption ends gracefully (every consume_with succeeded), every processed record is committed",
    ),
    (
        "commit-answers-in-time",
        "every commit returns within the commit timeout",
    ),
];

/// The invariants the observations break, in the order of [`INVARIANTS`].
pub fn check(scenario: ScenarioName, seen: &Observations) -> Vec<Broken> {
    let mut broken = Vec::new();
    let crash = seen
        .milestones
        .iter()
        .find_map(|(_, seq, event)| match event {
            Milestone::RunloopExited {
                exit,
                cause: Some(cause),
            } if *exit != ExitKind::Success => Some((*seq, cause.clone())),
            _ => None,
        });
    if let Some((crashed_seq, cause)) = &crash {
        let interrupted: Vec<&str> = seen
            .consume_outcomes
            .iter()
            .filter(|o| o.interrupted_by_driver)
            .map(|o| o.topic.trim_end_matches(" (interrupt requested)"))
            .collect();
        // A consume_with whose processing ended after the crash must fail. One whose processing
        // had ended before (its own subscription's finalizer may be what crashed the runloop),
        // or that the user had already stopped, is not held to the crash.
        for (_, seq, milestone) in &seen.milestones {
            let Milestone::ConsumptionEnded { topics, exit } = milestone else {
                continue;
            };
            let was_interrupted = topics.iter().any(|topic| {
                interrupted
                    .iter()
                    .any(|name| *name == topic || name.starts_with(&format!("{topic}:")))
            });
            let stopped_before = seen
                .stop_requested_seq
                .is_some_and(|stop| stop < *crashed_seq);
            if *seq > *crashed_seq
                && !was_interrupted
                && !stopped_before
                && *exit != ExitKind::Failure
            {
                broken.push(Broken {
                    invariant: "crash-cause-returned",
                    detail: format!(
                        "consume_with({}) ended its processing with {exit} after the runloop crashed with `{cause}`",
                        topics.join(",")
                    ),
                });
            }
        }
        if cause.contains("has already ended") {
            broken.push(Broken {
                invariant: "no-records-after-end",
                detail: cause.clone(),
            });
        }
    }
    if seen.finished {
        let order: Vec<u8> = seen
            .milestones
            .iter()
            .filter_map(|(_, _, event)| match event {
                Milestone::SubscriptionFinalized => Some(0),
                Milestone::RunloopFinalized => Some(1),
                Milestone::ConsumerFinalized => Some(2),
                Milestone::RunloopExited { .. } | Milestone::ConsumptionEnded { .. } => None,
            })
            .collect();
        if order.windows(2).any(|pair| pair[0] > pair[1]) {
            broken.push(Broken {
                invariant: "finalizer-order",
                detail: format!("finalizations in the order {order:?}"),
            });
        }
    }
    for (tp, committed) in &seen.committed {
        let processed = seen.processed.get(tp).map(|offset| offset + 1).unwrap_or(0);
        if *committed > processed {
            broken.push(Broken {
                invariant: "committed-offsets-processed",
                detail: format!("{tp}: committed {committed}, processed only up to {processed}"),
            });
        }
    }
    // Last write wins in Kafka, so only a graceful end pins the committed offsets: every
    // `consume_with` returned successfully, and its last batch commit covers what it processed.
    let graceful = scenario == ScenarioName::GracefulShutdown
        && seen.finished
        && !seen.consume_outcomes.is_empty()
        && seen
            .consume_outcomes
            .iter()
            .all(|outcome| outcome.exit == ExitKind::Success);
    if graceful {
        for (tp, processed) in &seen.processed {
            let committed = seen.committed.get(tp).copied().unwrap_or(0);
            if committed != processed + 1 {
                broken.push(Broken {
                    invariant: "graceful-end-commits-everything",
                    detail: format!(
                        "{tp}: processed up to {processed}, but the group has {committed}"
                    ),
                });
            }
        }
    }
    let limit = seen.commit_timeout + std::time::Duration::from_millis(100);
    for commit in &seen.explicit_commits {
        if commit.ended.saturating_sub(commit.started) > limit {
            broken.push(Broken {
                invariant: "commit-answers-in-time",
                detail: format!(
                    "a commit took {:?} (limit {:?})",
                    commit.ended - commit.started,
                    seen.commit_timeout
                ),
            });
        }
    }
    broken
}
