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

/// A set of offsets of one partition, kept as sorted, disjoint, non-adjacent ranges: records
/// are mostly processed in order, so a partition's set is one range, or a few when records were
/// skipped or another member processed some.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OffsetSet {
    /// `(first, last)` inclusive, ascending, with a gap of at least one offset between two.
    ranges: Vec<(i64, i64)>,
}

impl OffsetSet {
    /// Adds one offset.
    pub fn insert(&mut self, offset: i64) {
        // The first range that ends at or after offset - 1: offset joins it, or goes before it.
        let at = self.ranges.partition_point(|&(_, last)| last < offset - 1);
        match self.ranges.get_mut(at) {
            Some((first, last)) if *first <= offset + 1 => {
                *first = (*first).min(offset);
                *last = (*last).max(offset);
                // Growing up by one may close the gap to the next range.
                if let Some(&(next_first, next_last)) = self.ranges.get(at + 1) {
                    if next_first <= self.ranges[at].1 + 1 {
                        self.ranges[at].1 = next_last;
                        self.ranges.remove(at + 1);
                    }
                }
            }
            _ => self.ranges.insert(at, (offset, offset)),
        }
    }

    /// Adds every offset of `other`.
    pub fn extend(&mut self, other: &OffsetSet) {
        for &(first, last) in &other.ranges {
            for offset in first..=last {
                self.insert(offset);
            }
        }
    }

    pub fn contains(&self, offset: i64) -> bool {
        let at = self.ranges.partition_point(|&(_, last)| last < offset);
        self.ranges
            .get(at)
            .is_some_and(|&(first, _)| first <= offset)
    }

    /// The highest offset in the set.
    pub fn highest(&self) -> Option<i64> {
        self.ranges.last().map(|&(_, last)| last)
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// How many offsets the set holds.
    pub fn len(&self) -> u64 {
        self.ranges
            .iter()
            .map(|&(first, last)| (last - first + 1) as u64)
            .sum()
    }

    /// The offsets below `end` missing from the set, as inclusive ranges, from offset 0.
    pub fn missing_below(&self, end: i64) -> Vec<(i64, i64)> {
        let mut missing = Vec::new();
        let mut next = 0;
        for &(first, last) in &self.ranges {
            if first >= end {
                break;
            }
            if first > next {
                missing.push((next, first - 1));
            }
            next = last + 1;
        }
        if next < end {
            missing.push((next, end - 1));
        }
        missing
    }

    /// The set built from `offsets`.
    pub fn of(offsets: impl IntoIterator<Item = i64>) -> OffsetSet {
        let mut set = OffsetSet::default();
        for offset in offsets {
            set.insert(offset);
        }
        set
    }
}

/// `0..=4, 7, 9..=12`.
impl std::fmt::Display for OffsetSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_ranges(f, &self.ranges)
    }
}

/// Inclusive ranges as `0..=4, 7, 9..=12`.
pub fn write_ranges(f: &mut std::fmt::Formatter<'_>, ranges: &[(i64, i64)]) -> std::fmt::Result {
    for (index, &(first, last)) in ranges.iter().enumerate() {
        if index > 0 {
            f.write_str(", ")?;
        }
        if first == last {
            write!(f, "{first}")?;
        } else {
            write!(f, "{first}..={last}")?;
        }
    }
    Ok(())
}

/// One consumption of a consumer: its topics, when it started and, if it did, when it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumptionSpan {
    pub topics: Vec<String>,
    pub started: Duration,
    pub ended: Option<Duration>,
}

/// Something that disturbed the group, from `from` until `until` (`None`: it never ended).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disturbance {
    pub from: Duration,
    pub until: Option<Duration>,
    pub what: String,
    /// Whether it ends the consumer's consumptions (closing it, stopping or interrupting a
    /// consumption): such an action returns at once, and it lasts until they have ended.
    pub ends_consumptions: bool,
}

impl Disturbance {
    /// Whether it lasted into `[start, end)`, the consumer's `consumptions` being the ones an
    /// action that ends them waits for.
    pub fn overlaps(
        &self,
        consumptions: &[ConsumptionSpan],
        start: Duration,
        end: Duration,
    ) -> bool {
        self.from < end
            && self
                .lasted_until(consumptions)
                .is_none_or(|until| until >= start)
    }

    /// When it was over: for an action that ends consumptions, once every consumption running
    /// when it began had ended (`None`: one never did).
    pub fn lasted_until(&self, consumptions: &[ConsumptionSpan]) -> Option<Duration> {
        let mut until = self.until?;
        if self.ends_consumptions {
            for span in consumptions.iter().filter(|span| {
                span.started <= self.from && span.ended.is_none_or(|ended| ended > self.from)
            }) {
                until = until.max(span.ended?);
            }
        }
        Some(until)
    }
}

/// What a workload saw, for the invariants and the report. The workload writes it as things
/// happen, so a run cut short keeps everything it observed until then.
#[derive(Clone, Debug, Default)]
pub struct Observations {
    pub consume_outcomes: Vec<ConsumeOutcome>,
    /// The driver's requests to stop a `consume_with`.
    pub interrupt_requests: Vec<InterruptRequest>,
    /// The offsets this consumer processed, per partition (`topic-partition`): every one, so a
    /// record skipped shows as a gap.
    pub processed: BTreeMap<String, OffsetSet>,
    /// Committed offsets of the group when this consumer finished (offset + 1 of the last
    /// committed record): the group's, whoever committed them.
    pub committed: BTreeMap<String, i64>,
    /// The highest offset this consumer's own client committed per partition, accepted by the
    /// coordinator, read when it finished.
    pub own_commits: BTreeMap<String, i64>,
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
    /// Its consumptions, in the order they started.
    pub consumptions: Vec<ConsumptionSpan>,
    /// What disturbed the group: this consumer's rebalances (when its runloop reported one)
    /// and the user actions aimed at it (closing it, stopping, adding or interrupting a
    /// consumption), from when they began until they were done.
    pub disturbances: Vec<Disturbance>,
    /// The group's latest rebalances as its coordinator saw them (started, completed), read
    /// when the workload ended; kept in the first consumer's observations, as they are the
    /// group's.
    pub group_rebalances: Vec<(Duration, Option<Duration>)>,
    /// Faults that events added while the run went on (triggered faults), with their times in
    /// the plan; kept in the first consumer's observations, as they are the group's. The
    /// faults known at the start are the resolved scenario's.
    pub faults_added: sim::kafka::FaultPlan,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offsets inserted in any order make the same ranges; gaps below a bound are found.
    #[test]
    fn offset_sets_keep_ranges_and_find_gaps() {
        let set = OffsetSet::of([5, 0, 1, 3, 2, 9, 8, 6]);
        assert_eq!(set.to_string(), "0..=3, 5..=6, 8..=9");
        assert_eq!(set, OffsetSet::of([9, 8, 6, 5, 3, 2, 1, 0]));
        assert_eq!(set.len(), 8);
        assert_eq!(set.highest(), Some(9));
        assert!(set.contains(6) && !set.contains(4) && !set.contains(7) && !set.contains(10));
        assert_eq!(set.missing_below(12), vec![(4, 4), (7, 7), (10, 11)]);
        assert_eq!(set.missing_below(4), vec![]);
        assert_eq!(OffsetSet::of([2, 3]).missing_below(3), vec![(0, 1)]);
        let mut joined = OffsetSet::of([0, 1, 3]);
        joined.insert(2);
        assert_eq!(joined.to_string(), "0..=3");
        joined.extend(&OffsetSet::of([4, 7]));
        assert_eq!(joined.to_string(), "0..=4, 7");
        assert!(OffsetSet::default().missing_below(0).is_empty());
    }

    /// An action that ends consumptions lasts until the ones running when it began have ended
    /// (one that never ended: for ever); a rebalance lasts its instant; overlap is judged on
    /// that span.
    #[test]
    fn a_disturbance_lasts_until_the_consumptions_it_ends_have_ended() {
        let secs = Duration::from_secs;
        let span = |started: u64, ended: Option<u64>| ConsumptionSpan {
            topics: vec!["t".into()],
            started: secs(started),
            ended: ended.map(secs),
        };
        let close = Disturbance {
            from: secs(10),
            until: Some(secs(10)),
            what: "close-consumer".into(),
            ends_consumptions: true,
        };
        // Started after the close: not waited for.
        let spans = [span(0, Some(40)), span(12, Some(50))];
        assert_eq!(close.lasted_until(&spans), Some(secs(40)));
        assert!(close.overlaps(&spans, secs(22), secs(30)));
        assert!(!close.overlaps(&[span(0, Some(15))], secs(22), secs(30)));
        assert_eq!(close.lasted_until(&[span(0, None)]), None);
        assert!(close.overlaps(&[span(0, None)], secs(22), secs(30)));
        let rebalance = Disturbance {
            ends_consumptions: false,
            what: "a rebalance".into(),
            ..close
        };
        assert_eq!(rebalance.lasted_until(&spans), Some(secs(10)));
        assert!(!rebalance.overlaps(&spans, secs(22), secs(30)));
        assert!(rebalance.overlaps(&spans, secs(10), secs(30)));
        // A disturbance from the final stop on is not inside the settle time.
        let late = Disturbance {
            from: secs(30),
            until: Some(secs(31)),
            ..rebalance
        };
        assert!(!late.overlaps(&spans, secs(22), secs(30)));
    }

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
