//! The invariants checked on every run (DESIGN.md 3.4), over what the workload observed.
//!
//! [`check`] returns the broken invariants in the order of [`Invariant::ALL`], and that order
//! matters: the runner's verdict is a violation of the *first* one (after a panic and a hang,
//! which come before any invariant), so the fixtures and signatures of a run that breaks two
//! invariants name the earlier one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::scenario::spec::{EventKind, ScenarioFile};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::workload::observations::write_ranges;
use crate::workload::{Milestone, Observations, OffsetSet};
use consumer::rt::ExitKind;

/// An invariant every run is checked against. Its name is what verdicts, fixtures, NDJSON lines
/// and signatures use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Invariant {
    CrashCauseReturned,
    FinalizerOrder,
    NoRecordsAfterEnd,
    CommittedOffsetsProcessed,
    AtLeastOnce,
    SettledAtLeastOnce,
    GracefulEndCommitsEverything,
    CommitAnswersInTime,
}

impl Invariant {
    /// Every invariant, in the order [`check`] reports them (the first broken one decides the
    /// verdict).
    pub const ALL: [Invariant; 8] = [
        Invariant::CrashCauseReturned,
        Invariant::FinalizerOrder,
        Invariant::NoRecordsAfterEnd,
        Invariant::CommittedOffsetsProcessed,
        Invariant::AtLeastOnce,
        Invariant::SettledAtLeastOnce,
        Invariant::GracefulEndCommitsEverything,
        Invariant::CommitAnswersInTime,
    ];

    /// The invariant's name.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::CrashCauseReturned => "crash-cause-returned",
            Invariant::FinalizerOrder => "finalizer-order",
            Invariant::NoRecordsAfterEnd => "no-records-after-end",
            Invariant::CommittedOffsetsProcessed => "committed-offsets-processed",
            Invariant::AtLeastOnce => "at-least-once",
            Invariant::SettledAtLeastOnce => "settled-at-least-once",
            Invariant::GracefulEndCommitsEverything => "graceful-end-commits-everything",
            Invariant::CommitAnswersInTime => "commit-answers-in-time",
        }
    }

    /// What the invariant asserts, in one line.
    pub fn description(self) -> &'static str {
        match self {
            Invariant::CrashCauseReturned => {
                "a consume_with that returns after a runloop crash fails (with the crash's cause, or a failure of the same consumption at that moment)"
            }
            Invariant::FinalizerOrder => "finalizers run in the order subscriptions, runloop, consumer",
            Invariant::NoRecordsAfterEnd => "no records are offered to a partition stream after it ended",
            Invariant::CommittedOffsetsProcessed => {
                "no consumer commits an offset beyond the highest record it processed itself"
            }
            Invariant::AtLeastOnce => {
                "every record below the group's committed offset was processed by some consumer of the group (none skipped)"
            }
            Invariant::SettledAtLeastOnce => {
                "once the group has been undisturbed for run.settle_ms before the final stop (faults over, no rebalance, no user action) with a consumption of the topic live throughout, every record produced before then was processed by some consumer"
            }
            Invariant::GracefulEndCommitsEverything => {
                "after consumption ends gracefully (every consume_with succeeded), every processed record is committed"
            }
            Invariant::CommitAnswersInTime => "every commit returns within the commit timeout",
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Invariant {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Invariant::ALL
            .into_iter()
            .find(|invariant| invariant.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Invariant::ALL.iter().map(|i| i.name()).collect();
                format!(
                    "unknown invariant {text:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// A broken invariant, and what broke it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Broken {
    pub invariant: Invariant,
    pub detail: String,
}

/// Whether a graceful end pins the committed offsets in `file`: Kafka's last write wins, so only
/// a run with one consumer and no fault (nothing else commits, nothing fails a commit) can hold
/// the group's offsets to what was processed.
pub fn graceful_end_applies(file: &ScenarioFile) -> bool {
    file.consumers
        .iter()
        .filter(|consumer| consumer.is_enabled())
        .count()
        == 1
        && file.faults.is_calm()
        && file.swarm.is_none()
        && file
            .events
            .iter()
            .all(|event| matches!(event.kind, EventKind::StopConsumption))
}

/// The invariants the observations of every consumer break, in the order of
/// [`Invariant::ALL`] per consumer (a peer's details name it), then the group's at-least-once.
pub fn check_all(file: &ScenarioFile, seen: &[Observations]) -> Vec<Broken> {
    let graceful = graceful_end_applies(file);
    let mut broken = Vec::new();
    for (index, consumer) in seen.iter().enumerate() {
        for mut found in check(graceful, consumer) {
            if index > 0 {
                found.detail = format!("{}: {}", consumer.consumer, found.detail);
            }
            broken.push(found);
        }
    }
    broken.extend(check_at_least_once(seen));
    broken.extend(check_settled_at_least_once(file, seen));
    // The verdict names the first broken invariant of ALL's order.
    broken.sort_by_key(|found| found.invariant);
    broken
}

/// The offsets some member of the group processed, per partition.
fn processed_by_the_group(seen: &[Observations]) -> BTreeMap<&str, OffsetSet> {
    let mut group_processed: BTreeMap<&str, OffsetSet> = BTreeMap::new();
    for consumer in seen {
        for (tp, offsets) in &consumer.processed {
            group_processed.entry(tp).or_default().extend(offsets);
        }
    }
    group_processed
}

/// At-least-once across the group: a record below a committed offset of the group is never read
/// again by anyone, so it must have been processed by some member. The committed offsets are
/// read when each consumer finishes (Kafka's last write wins, so they can move back, never
/// skipping a record when the group is correct); the records processed are the group's, to the
/// end of the run. Records above the committed offset are not lost: the next consumer of the
/// group reads them again.
pub fn check_at_least_once(seen: &[Observations]) -> Vec<Broken> {
    let group_processed = processed_by_the_group(seen);
    // Per partition, the highest committed offset any member read at its end.
    let mut committed: BTreeMap<&str, (i64, &str)> = BTreeMap::new();
    for consumer in seen
        .iter()
        .filter(|consumer| consumer.committed_offsets_read())
    {
        for (tp, offset) in &consumer.committed {
            let entry = committed
                .entry(tp)
                .or_insert((*offset, consumer.consumer.as_str()));
            if *offset > entry.0 {
                *entry = (*offset, consumer.consumer.as_str());
            }
        }
    }
    let empty = OffsetSet::default();
    let mut broken = Vec::new();
    for (tp, (offset, read_by)) in committed {
        let processed = group_processed.get(tp).unwrap_or(&empty);
        let missing = processed.missing_below(offset);
        if !missing.is_empty() {
            broken.push(Broken {
                invariant: Invariant::AtLeastOnce,
                detail: format!(
                    "{tp}: the group committed {offset} (read when {read_by} finished), but no consumer processed {}",
                    Ranges(&missing)
                ),
            });
        }
    }
    broken
}

/// Whether a run's group settled before its final stop, for [`check_settled_at_least_once`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// The scenario does not set `run.settle_ms`.
    NotAsked,
    /// The group was disturbed within the settle time before the final stop: why.
    Unsettled(String),
    /// Undisturbed from `settled_from` to the final stop; the faults were over by `calm_from`.
    Settled {
        settled_from: Duration,
        final_stop: Duration,
        calm_from: Duration,
    },
}

impl fmt::Display for Settlement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Settlement::NotAsked => f.write_str("not checked: the scenario sets no run.settle_ms"),
            Settlement::Unsettled(why) => write!(f, "not checked: {why}"),
            Settlement::Settled {
                settled_from,
                final_stop,
                calm_from,
            } => write!(
                f,
                "checked: the group was undisturbed from {} to the final stop at {} ({})",
                seconds(*settled_from),
                seconds(*final_stop),
                faults_over(*calm_from)
            ),
        }
    }
}

/// Whether the group of a run settled for `run.settle_ms` before its final stop (see
/// [`check_settled_at_least_once`]), and if not, the first reason found.
pub fn settlement(file: &ScenarioFile, seen: &[Observations]) -> Settlement {
    let Some(settle_ms) = file.run.settle_ms else {
        return Settlement::NotAsked;
    };
    let final_stop = crate::workload::final_stop(file);
    let settled_from = final_stop.saturating_sub(Duration::from_millis(settle_ms));
    let window = format!("{} to {}", seconds(settled_from), seconds(final_stop));
    let mut plan = crate::workload::events::timed_fault_plan(file);
    for consumer in seen {
        plan.extend(&consumer.faults_added);
    }
    let Some(calm_from) = plan.calm_from() else {
        return Settlement::Unsettled("a fault never ends".into());
    };
    if calm_from > settled_from {
        return Settlement::Unsettled(format!(
            "the faults were over only at {}, after {}",
            seconds(calm_from),
            seconds(settled_from)
        ));
    }
    // The earliest disturbance that lasted into the settle time: the likeliest cause of the
    // others.
    let earliest = seen
        .iter()
        .flat_map(|consumer| {
            consumer
                .disturbances
                .iter()
                .filter(|disturbance| {
                    disturbance.overlaps(&consumer.consumptions, settled_from, final_stop)
                })
                .map(move |disturbance| (disturbance, consumer.consumer.as_str()))
        })
        .min_by_key(|(disturbance, _)| disturbance.from);
    if let Some((disturbance, consumer)) = earliest {
        return Settlement::Unsettled(format!(
            "{} of {consumer} (from {}) lasted into {window}",
            disturbance.what,
            seconds(disturbance.from)
        ));
    }
    if let Some((started, _)) = seen
        .iter()
        .flat_map(|consumer| consumer.group_rebalances.iter())
        .find(|&&(started, completed)| {
            started < final_stop && completed.is_none_or(|completed| completed >= settled_from)
        })
    {
        return Settlement::Unsettled(format!(
            "a rebalance of the group (from {}) lasted into {window}",
            seconds(*started)
        ));
    }
    if has_passive_member(&plan, settled_from) {
        return Settlement::Unsettled(format!(
            "a passive member was in the group at {}",
            seconds(settled_from)
        ));
    }
    Settlement::Settled {
        settled_from,
        final_stop,
        calm_from,
    }
}

/// At-least-once in its liveness form (issue 10: "when the faults have ended and the group has
/// settled, every record produced was processed by some consumer of the group"), for a scenario
/// that sets `run.settle_ms`. The group has settled when, for the last `settle_ms` before the
/// final stop, no fault was in effect (the resolved plan's and the triggered faults',
/// [`sim::kafka::FaultPlan::calm_from`]), no rebalance was in progress at the coordinator and
/// none was reported by a member, and no user action aimed at a member was under way. Then, for every topic that some consumption consumed
/// throughout that time (started before it, not ended before the final stop), every record
/// produced before it began must have been processed by some member: the settle time is the
/// scenario author's bound on catching up after the last disturbance. A topic whose every
/// consumption ended before (a crash returned to its caller, a user stop) is not held to it:
/// such an end is reported, not silent. A fault that never ends means the group never settled,
/// and a group with a passive member (which takes partitions and never consumes) never
/// processes everything, so neither is held to it.
pub fn check_settled_at_least_once(file: &ScenarioFile, seen: &[Observations]) -> Vec<Broken> {
    let Settlement::Settled {
        settled_from,
        final_stop,
        calm_from,
    } = settlement(file, seen)
    else {
        return Vec::new();
    };
    let group_processed = processed_by_the_group(seen);
    let empty = OffsetSet::default();
    let mut broken = Vec::new();
    for topic in &file.topics {
        let live: Vec<&str> = seen
            .iter()
            .filter(|consumer| {
                consumer.consumptions.iter().any(|span| {
                    span.topics.contains(&topic.name)
                        && span.started <= settled_from
                        && span.ended.is_none_or(|ended| ended >= final_stop)
                })
            })
            .map(|consumer| consumer.consumer.as_str())
            .collect();
        if live.is_empty() {
            continue;
        }
        let records = topic.records_per_partition.value();
        let every_ms = topic.produce_every_ms.value();
        let settled_ms = settled_from.as_millis() as u64;
        // Record n of a partition is produced at n * every_ms.
        let owed = match every_ms {
            0 if settled_ms > 0 => records,
            0 => 0,
            every => records.min(settled_ms.div_ceil(every)),
        };
        for partition in 0..topic.partitions.value() {
            let tp = format!("{}-{partition}", topic.name);
            let processed = group_processed.get(tp.as_str()).unwrap_or(&empty);
            let missing = processed.missing_below(owed as i64);
            if !missing.is_empty() {
                broken.push(Broken {
                    invariant: Invariant::SettledAtLeastOnce,
                    detail: format!(
                        "{tp}: the group was undisturbed from {} to the final stop at {} ({}), and {} consumed {} throughout, but no consumer processed {} of the {owed} records produced before then",
                        seconds(settled_from),
                        seconds(final_stop),
                        faults_over(calm_from),
                        live.join(", "),
                        topic.name,
                        Ranges(&missing)
                    ),
                });
            }
        }
    }
    broken
}

/// Whether a passive member (`peer-join`) is in the group at `at`: it takes partitions and never
/// consumes them, so a group with one never processes everything, by design of the model.
fn has_passive_member(plan: &sim::kafka::FaultPlan, at: Duration) -> bool {
    let mut changes: Vec<&sim::kafka::PeerChange> = plan.peer_changes.iter().collect();
    changes.sort_by_key(|change| change.at_ms);
    let mut present: Vec<&str> = Vec::new();
    for change in changes
        .into_iter()
        .filter(|change| Duration::from_millis(change.at_ms) <= at)
    {
        present.retain(|peer| *peer != change.peer);
        if change.action == sim::kafka::PeerAction::Join {
            present.push(&change.peer);
        }
    }
    !present.is_empty()
}

/// When the faults were over, in words.
fn faults_over(calm_from: Duration) -> String {
    if calm_from.is_zero() {
        "no fault".into()
    } else {
        format!("faults over by {}", seconds(calm_from))
    }
}

/// A virtual time as `12.500 s`.
fn seconds(at: Duration) -> String {
    format!("{:.3} s", at.as_secs_f64())
}

/// Inclusive offset ranges, as `0..=4, 7`.
struct Ranges<'a>(&'a [(i64, i64)]);

impl fmt::Display for Ranges<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_ranges(f, self.0)
    }
}

/// The invariants one consumer's observations break, in the order of [`Invariant::ALL`].
/// `graceful_applies`: whether a graceful end must commit everything (see
/// [`graceful_end_applies`]).
pub fn check(graceful_applies: bool, seen: &Observations) -> Vec<Broken> {
    let mut broken = Vec::new();
    let crash = seen
        .milestones
        .iter()
        .find_map(|(_, seq, event)| match event {
            Milestone::RunloopExited {
                exit,
                cause: Some(cause),
                offered_records_after_end,
            } if *exit != ExitKind::Success => {
                Some((*seq, cause.clone(), *offered_records_after_end))
            }
            _ => None,
        });
    if let Some((crashed_seq, cause, records_after_end)) = &crash {
        // A consume_with whose processing ended after the crash must fail. One whose processing
        // had ended before (its own subscription's finalizer may be what crashed the runloop),
        // or that the user had already stopped, is not held to the crash.
        for (_, seq, milestone) in &seen.milestones {
            let Milestone::ConsumptionEnded { topics, exit } = milestone else {
                continue;
            };
            let was_interrupted = topics.iter().any(|topic| {
                seen.interrupt_requests
                    .iter()
                    .any(|request| request.topic == *topic)
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
                    invariant: Invariant::CrashCauseReturned,
                    detail: format!(
                        "consume_with({}) ended its processing with {exit} after the runloop crashed with `{cause}`",
                        topics.join(",")
                    ),
                });
            }
        }
        if *records_after_end {
            broken.push(Broken {
                invariant: Invariant::NoRecordsAfterEnd,
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
                Milestone::RunloopExited { .. }
                | Milestone::ConsumptionEnded { .. }
                | Milestone::Killed => None,
            })
            .collect();
        if order.windows(2).any(|pair| pair[0] > pair[1]) {
            broken.push(Broken {
                invariant: Invariant::FinalizerOrder,
                detail: format!("finalizations in the order {order:?}"),
            });
        }
    }
    // A member commits the offsets of records it processed itself; another member's records
    // are not its to commit.
    for (tp, committed) in &seen.own_commits {
        let processed_end = seen
            .processed
            .get(tp)
            .and_then(OffsetSet::highest)
            .map(|offset| offset + 1)
            .unwrap_or(0);
        if *committed > processed_end {
            broken.push(Broken {
                invariant: Invariant::CommittedOffsetsProcessed,
                detail: format!(
                    "{tp}: committed {committed} itself, but processed only up to {processed_end}"
                ),
            });
        }
    }
    // Last write wins in Kafka, so only a graceful end pins the committed offsets: every
    // `consume_with` returned successfully, and its last batch commit covers what it processed.
    let graceful = graceful_applies
        && seen.finished
        && !seen.was_killed()
        && seen.interrupt_requests.is_empty()
        && !seen.consume_outcomes.is_empty()
        && seen
            .consume_outcomes
            .iter()
            .all(|outcome| outcome.exit == ExitKind::Success);
    if graceful {
        for (tp, offsets) in &seen.processed {
            let Some(processed) = offsets.highest() else {
                continue;
            };
            let committed = seen.committed.get(tp).copied().unwrap_or(0);
            if committed != processed + 1 {
                broken.push(Broken {
                    invariant: Invariant::GracefulEndCommitsEverything,
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
                invariant: Invariant::CommitAnswersInTime,
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::workload::{CommitOutcome, ConsumeOutcome};

    fn crash(seq: u64) -> (Duration, u64, Milestone) {
        let cause = Some("failed: not authorized to access topics: [topic0]".to_string());
        (
            Duration::from_secs(3),
            seq,
            Milestone::RunloopExited {
                exit: ExitKind::Failure,
                cause,
                offered_records_after_end: false,
            },
        )
    }

    fn ended(seq: u64, topic: &str, exit: ExitKind) -> (Duration, u64, Milestone) {
        (
            Duration::from_secs(3),
            seq,
            Milestone::ConsumptionEnded {
                topics: vec![topic.into()],
                exit,
            },
        )
    }

    fn names(broken: &[Broken]) -> Vec<Invariant> {
        broken.iter().map(|b| b.invariant).collect()
    }

    /// A consume_with whose processing ends after a crash must fail; failing passes, and so does
    /// one the user had stopped before the crash.
    #[test]
    fn crash_cause_returned_judges_processing_that_ended_after_the_crash() {
        let mut seen = Observations {
            milestones: vec![crash(1), ended(2, "topic0", ExitKind::Success)],
            ..Default::default()
        };
        assert_eq!(
            names(&check(false, &seen)),
            vec![Invariant::CrashCauseReturned]
        );
        seen.milestones = vec![crash(1), ended(2, "topic0", ExitKind::Failure)];
        assert!(check(false, &seen).is_empty());
        seen.milestones = vec![ended(1, "topic0", ExitKind::Success), crash(2)];
        assert!(check(false, &seen).is_empty(), "ended before the crash");
        seen.milestones = vec![crash(2), ended(3, "topic0", ExitKind::Success)];
        seen.stop_requested_seq = Some(1);
        assert!(check(false, &seen).is_empty(), "stopped before the crash");
    }

    /// A consumption the driver asked to stop, by its topic, is not held to the crash.
    #[test]
    fn crash_cause_returned_spares_a_consumption_the_driver_interrupted() {
        let mut seen = Observations {
            milestones: vec![crash(1), ended(3, "topic0", ExitKind::Success)],
            ..Default::default()
        };
        seen.interrupt_requests
            .push(crate::workload::InterruptRequest {
                topic: "topic1".into(),
                at: Duration::ZERO,
                seq: 2,
            });
        assert_eq!(
            names(&check(false, &seen)),
            vec![Invariant::CrashCauseReturned],
            "another topic's interruption does not spare topic0"
        );
        seen.interrupt_requests[0].topic = "topic0".into();
        assert!(check(false, &seen).is_empty());
    }

    /// no-records-after-end is judged by the runloop exit's typed flag, not by the words of its
    /// cause.
    #[test]
    fn no_records_after_end_follows_the_flag_not_the_words() {
        let exit = |offered_records_after_end: bool, cause: &str| {
            (
                Duration::from_secs(3),
                1,
                Milestone::RunloopExited {
                    exit: ExitKind::Die,
                    cause: Some(cause.to_string()),
                    offered_records_after_end,
                },
            )
        };
        let seen = Observations {
            milestones: vec![exit(true, "died: some other wording")],
            ..Default::default()
        };
        assert_eq!(
            names(&check(false, &seen)),
            vec![Invariant::NoRecordsAfterEnd]
        );
        let seen = Observations {
            milestones: vec![exit(false, "died: stream has already ended")],
            ..Default::default()
        };
        assert!(check(false, &seen).is_empty());
    }

    /// Finalizers out of order (the runloop before a subscription) break finalizer-order.
    #[test]
    fn finalizer_order_requires_subscriptions_then_runloop_then_consumer() {
        let at = Duration::ZERO;
        let mut seen = Observations {
            finished: true,
            milestones: vec![
                (at, 1, Milestone::SubscriptionFinalized),
                (at, 2, Milestone::RunloopFinalized),
                (at, 3, Milestone::ConsumerFinalized),
            ],
            ..Default::default()
        };
        assert!(check(true, &seen).is_empty());
        seen.milestones.swap(0, 1);
        assert_eq!(names(&check(true, &seen)), vec![Invariant::FinalizerOrder]);
    }

    /// A committed offset beyond what was processed, an incomplete graceful end, and a commit
    /// slower than the commit timeout are each reported.
    #[test]
    fn offsets_and_commit_timing_are_checked() {
        let mut seen = Observations {
            finished: true,
            commit_timeout: Duration::from_secs(15),
            ..Default::default()
        };
        seen.consume_outcomes.push(ConsumeOutcome {
            topic: "topic0".into(),
            exit: ExitKind::Success,
            failure: None,
            at: Duration::ZERO,
            seq: 1,
        });
        seen.processed
            .insert("topic0-0".into(), OffsetSet::of(0..=4));
        seen.committed.insert("topic0-0".into(), 5);
        seen.own_commits.insert("topic0-0".into(), 5);
        assert!(
            check(true, &seen).is_empty(),
            "offset 4 processed, 5 committed"
        );
        seen.committed.insert("topic0-0".into(), 7);
        seen.own_commits.insert("topic0-0".into(), 7);
        let broken = names(&check(true, &seen));
        assert_eq!(
            broken,
            vec![
                Invariant::CommittedOffsetsProcessed,
                Invariant::GracefulEndCommitsEverything
            ]
        );
        seen.committed.insert("topic0-0".into(), 5);
        seen.own_commits.insert("topic0-0".into(), 5);
        seen.explicit_commits.push(CommitOutcome {
            started: Duration::ZERO,
            ended: Duration::from_secs(16),
            result: Err("commit timeout".into()),
        });
        assert_eq!(
            names(&check(true, &seen)),
            vec![Invariant::CommitAnswersInTime]
        );
    }

    fn member(
        name: &str,
        processed: &[(&str, OffsetSet)],
        committed: &[(&str, i64)],
    ) -> Observations {
        Observations {
            consumer: name.into(),
            finished: true,
            processed: processed
                .iter()
                .map(|(tp, offsets)| (tp.to_string(), offsets.clone()))
                .collect(),
            committed: committed
                .iter()
                .map(|(tp, offset)| (tp.to_string(), *offset))
                .collect(),
            ..Default::default()
        }
    }

    /// A record below the group's committed offset that no member processed breaks
    /// at-least-once; one that another member processed does not, and records above the
    /// committed offset are not lost.
    #[test]
    fn at_least_once_looks_for_records_no_member_processed() {
        let first = member("app-1", &[("t-0", OffsetSet::of(0..=4))], &[("t-0", 5)]);
        let second = member("app-2", &[("t-0", OffsetSet::of(5..=9))], &[("t-0", 10)]);
        assert!(check_at_least_once(&[first.clone(), second.clone()]).is_empty());
        // Only up to the committed offset matters: 10..=19 are read again by the next member.
        let above = member("app-2", &[("t-0", OffsetSet::of(5..=9))], &[("t-0", 10)]);
        assert!(check_at_least_once(&[first.clone(), above]).is_empty());
        let skipped = member(
            "app-2",
            &[("t-0", OffsetSet::of([5, 6, 9]))],
            &[("t-0", 10)],
        );
        let broken = check_at_least_once(&[first.clone(), skipped]);
        assert_eq!(names(&broken), vec![Invariant::AtLeastOnce]);
        assert_eq!(
            broken[0].detail,
            "t-0: the group committed 10 (read when app-2 finished), but no consumer processed 7..=8"
        );
        // The highest committed offset read counts, whoever read it; a member that did not
        // finish read nothing.
        let mut unfinished = member("app-2", &[], &[("t-0", 12)]);
        unfinished.finished = false;
        assert!(check_at_least_once(&[first.clone(), unfinished]).is_empty());
        let nothing_processed = member("app-1", &[], &[("t-0", 3)]);
        assert_eq!(
            check_at_least_once(&[nothing_processed])[0].detail,
            "t-0: the group committed 3 (read when app-1 finished), but no consumer processed 0..=2"
        );
    }

    /// A member's own commits are held to what it processed itself, not to what the group did.
    #[test]
    fn own_commits_are_held_to_the_members_own_records() {
        let mut peer = member("app-2", &[("t-0", OffsetSet::of(0..=4))], &[("t-0", 9)]);
        peer.own_commits.insert("t-0".into(), 5);
        assert!(check(false, &peer).is_empty());
        peer.own_commits.insert("t-0".into(), 9);
        let broken = check(false, &peer);
        assert_eq!(names(&broken), vec![Invariant::CommittedOffsetsProcessed]);
        assert_eq!(
            broken[0].detail,
            "t-0: committed 9 itself, but processed only up to 5"
        );
    }
}
