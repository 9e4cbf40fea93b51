//! The glue to the simulator's judgement, kept in this one file: a real run's observations
//! as the catalogue's `Observations`, its invariants, its verdict and its report (the same
//! `RunReport` and hang report a simulated run prints). When the catalogue's types change,
//! this file and [`crate::scenario::from_resolved`] are what change with them.

use std::fmt;

use consumer::internal::labels::RECORDS_AFTER_END;
use consumer::rt::ExitKind;
use consumer::{DiagnosticEvent, ShutdownProtocol};
use scenarios::catalogue::Scenario;
use scenarios::invariants;
use scenarios::report::{hang_signature, panic_signature, RunReport};
use scenarios::verdict::{RunSpec, Verdict};
use scenarios::workload::{
    CommitOutcome, ConsumeOutcome, InterruptRequest, Milestone, Observations,
};

use crate::run::{RealEnding, RealRun};
use crate::workload::RealObservations;

/// A real run's verdict: the simulator's, plus what only the wall clock can end in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RealVerdict {
    /// Judged as the simulator judges a run.
    Judged(Verdict),
    /// Still making progress at the deadline: not a hang (DESIGN 3.4's Timeout).
    Timeout,
    /// Stopped by the user before it ended.
    Stopped,
}

impl RealVerdict {
    /// Whether the run failed (exit status 1).
    pub fn is_failure(&self) -> bool {
        match self {
            RealVerdict::Judged(verdict) => verdict.is_failure(),
            RealVerdict::Timeout => true,
            RealVerdict::Stopped => false,
        }
    }
}

impl fmt::Display for RealVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RealVerdict::Judged(verdict) => write!(f, "{verdict}"),
            RealVerdict::Timeout => f.write_str("timeout"),
            RealVerdict::Stopped => f.write_str("stopped"),
        }
    }
}

/// A judged real run.
pub struct Judgement {
    pub verdict: RealVerdict,
    /// The failure's signature (`hang:RemoveSubscription@promise:runloop_done`...), `pass`.
    pub signature: String,
    pub report: RunReport,
}

/// The catalogue's observations of a real run.
pub fn observations(seen: &RealObservations) -> Observations {
    Observations {
        consume_outcomes: seen
            .consume_ends
            .iter()
            .map(|end| ConsumeOutcome {
                topic: end.topic.clone(),
                exit: end.exit,
                failure: end.failure.clone(),
                at: end.at,
                seq: end.seq,
            })
            .collect(),
        interrupt_requests: seen
            .interrupts
            .iter()
            .map(|(topic, at, seq)| InterruptRequest {
                topic: topic.clone(),
                at: *at,
                seq: *seq,
            })
            .collect(),
        processed: seen.processed.clone(),
        committed: seen.committed.clone(),
        // A real run has one consumer in a fresh group: what the group committed, it did.
        own_commits: seen.committed.clone(),
        explicit_commits: seen
            .handler_commits
            .iter()
            .map(|commit| CommitOutcome {
                started: commit.started,
                ended: commit.ended,
                result: commit.result.clone(),
            })
            .collect(),
        milestones: seen
            .diagnostics
            .iter()
            .filter_map(|(at, seq, event)| milestone(event).map(|m| (*at, *seq, m)))
            .collect(),
        commit_timeout: seen.commit_timeout,
        stop_requested_seq: seen.stop_requested_seq,
        finished: seen.finished,
        consumer: "app-1".into(),
        // A real run keeps no consumption spans, rebalance times or triggered faults, so the
        // settled form of at-least-once (`run.settle_ms`) never applies to it.
        consumptions: Vec::new(),
        disturbances: Vec::new(),
        group_rebalances: Vec::new(),
        faults_added: Default::default(),
    }
}

fn milestone(event: &DiagnosticEvent) -> Option<Milestone> {
    Some(match event {
        DiagnosticEvent::SubscriptionFinalized => Milestone::SubscriptionFinalized,
        DiagnosticEvent::RunloopFinalized => Milestone::RunloopFinalized,
        DiagnosticEvent::ConsumerFinalized => Milestone::ConsumerFinalized,
        DiagnosticEvent::RunloopExited { exit, cause } => Milestone::RunloopExited {
            exit: *exit,
            cause: cause.clone(),
            offered_records_after_end: *exit == ExitKind::Die
                && cause
                    .as_deref()
                    .is_some_and(|text| text.contains(RECORDS_AFTER_END)),
        },
        DiagnosticEvent::ConsumptionEnded { topics, exit } => Milestone::ConsumptionEnded {
            topics: topics.clone(),
            exit: *exit,
        },
        _ => return None,
    })
}

/// Judges a real run of a catalogue scenario as the simulator's runner judges a simulated
/// one: a panic, then a hang (open obligations, quiet for the window), then the first broken
/// invariant, else a pass.
pub fn judge(
    scenario: &Scenario,
    protocol: ShutdownProtocol,
    seed: u64,
    run: &RealRun,
) -> Judgement {
    let seen = observations(&run.seen);
    let resolved = scenario.resolve(seed);
    let broken = invariants::check_all(&resolved, std::slice::from_ref(&seen));
    let spec = RunSpec::new(scenario.clone(), protocol, seed);
    let (verdict, signature) = if let Some(panic) = run.result.panics.first() {
        (
            RealVerdict::Judged(Verdict::Panic),
            panic_signature(&panic.message),
        )
    } else {
        match run.ending {
            RealEnding::Stopped => (RealVerdict::Stopped, "stopped".to_string()),
            RealEnding::Deadline => (RealVerdict::Timeout, "timeout".to_string()),
            RealEnding::Quiet => (
                RealVerdict::Judged(Verdict::Hang),
                hang_signature(&run.result),
            ),
            RealEnding::Completed if run.result.is_hang() => (
                RealVerdict::Judged(Verdict::Hang),
                hang_signature(&run.result),
            ),
            RealEnding::Completed => match broken.first() {
                Some(first) => (
                    RealVerdict::Judged(Verdict::Violation {
                        invariant: first.invariant,
                        detail: first.detail.clone(),
                    }),
                    format!("violation:{}", first.invariant),
                ),
                None => (RealVerdict::Judged(Verdict::Pass), "pass".to_string()),
            },
        }
    };
    let report_verdict = match &verdict {
        RealVerdict::Judged(verdict) => verdict.clone(),
        // The report's shape for a run cut off with work open is a hang's.
        RealVerdict::Timeout | RealVerdict::Stopped => Verdict::Hang,
    };
    let report = RunReport::of(
        &spec,
        &report_verdict,
        &run.result,
        &seen,
        &broken,
        run.limits,
    );
    Judgement {
        verdict,
        signature,
        report,
    }
}
