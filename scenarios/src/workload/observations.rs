//! What a workload observed, per consumer, for the invariants and the report. The workload
//! writes it as things happen, so a run cut short keeps everything it observed until then.

use std::collections::BTreeMap;
use std::time::Duration;

use consumer::internal::labels::RECORDS_AFTER_END;
use consumer::rt::ExitKind;

/// How one `consume_with` ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumeOutcome {
    /// The topic it consumed.
    pub topic: String,
    pub exit: ExitKind,
    /// The failure's text, if it failed.
    pub failure: Option<String>,
    pub at: Duration,
    /// Its place in the order of everything observed (several things happen at one instant).
    pub seq: u64,
}

/// The driver asked the `consume_with` of `topic` to stop (interrupted its fiber).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterruptRequest {
    pub topic: String,
    pub at: Duration,
    /// Its place in the order of everything observed.
    pub seq: u64,
}

/// One explicit commit by a user (`record.commit()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitOutcome {
    pub started: Duration,
    pub ended: Duration,
    pub result: Result<(), String>,
}

/// A diagnostic event the invariants and reports need, as plain data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Milestone {
    SubscriptionFinalized,
    RunloopFinalized,
    ConsumerFinalized,
    /// The runloop ended: how, its cause's text, and whether that cause is the defect of
    /// offering records to a partition stream that had ended.
    RunloopExited {
        exit: ExitKind,
        cause: Option<String>,
        offered_records_after_end: bool,
    },
    /// A `consume_with`'s processing ended, before its subscription's finalizers.
    ConsumptionEnded {
        topics: Vec<String>,
        exit: ExitKind,
    },
}

impl Milestone {
    pub fn of(event: &consumer::DiagnosticEvent) -> Option<Milestone> {
        use consumer::DiagnosticEvent as Event;
        match event {
            Event::SubscriptionFinalized => Some(Milestone::SubscriptionFinalized),
            Event::RunloopFinalized => Some(Milestone::RunloopFinalized),
            Event::ConsumerFinalized => Some(Milestone::ConsumerFinalized),
            Event::RunloopExited { exit, cause } => Some(Milestone::RunloopExited {
                exit: *exit,
                cause: cause.clone(),
                // The consumer reports its cause as text; it owns the words of this defect, so
                // the check names its constant rather than repeating them.
                offered_records_after_end: *exit == ExitKind::Die
                    && cause
                        .as_deref()
                        .is_some_and(|text| text.contains(RECORDS_AFTER_END)),
            }),
            Event::ConsumptionEnded { topics, exit } => Some(Milestone::ConsumptionEnded {
                topics: topics.clone(),
                exit: *exit,
            }),
            _ => None,
        }
    }
}

/// What a workload saw, for the invariants and the report. The workload writes it as things
/// happen, so a run cut short keeps everything it observed until then.
#[derive(Clone, Debug, Default)]
pub struct Observations {
    pub consume_outcomes: Vec<ConsumeOutcome>,
    /// The driver's requests to stop a `consume_with`.
    pub interrupt_requests: Vec<InterruptRequest>,
    /// The highest offset processed per partition (`topic-partition`).
    pub processed: BTreeMap<String, i64>,
    /// Committed offsets of the group at the end (offset + 1 of the last committed record).
    pub committed: BTreeMap<String, i64>,
    pub explicit_commits: Vec<CommitOutcome>,
    /// The consumer's milestones (from its diagnostic events), with their times and their
    /// places in the order of everything observed.
    pub milestones: Vec<(Duration, u64, Milestone)>,
    /// The commit timeout in force.
    pub commit_timeout: Duration,
    /// When the user first called `stop_consumption`, in the order of observations.
    pub stop_requested_seq: Option<u64>,
    /// Whether the workload ran to its end (the consumer scope closed); the committed offsets
    /// are read then, so they are empty for a run cut short.
    pub finished: bool,
    /// The consumer these are of.
    pub consumer: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runloop's exit milestone marks the defect of offering records to an ended stream,
    /// whose words the consumer owns, and nothing else.
    #[test]
    fn runloop_exit_marks_the_records_after_end_defect() {
        let offered = |exit: ExitKind, cause: &str| match Milestone::of(
            &consumer::DiagnosticEvent::RunloopExited {
                exit,
                cause: Some(cause.to_string()),
            },
        ) {
            Some(Milestone::RunloopExited {
                offered_records_after_end,
                ..
            }) => offered_records_after_end,
            other => panic!("{other:?}"),
        };
        let defect = format!("died: Partition stream topic0-1 {RECORDS_AFTER_END}");
        assert!(offered(ExitKind::Die, &defect));
        assert!(!offered(ExitKind::Failure, "failed: not authorized"));
        assert!(!offered(ExitKind::Die, "died: something else"));
    }
}
