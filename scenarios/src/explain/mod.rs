//! `hangsim explain`: a recorded run drawn as one self-contained HTML page.
//!
//! Map: this file turns a replayed [`RunRecord`] (its events recorded) into a [`Timeline`]:
//! one [`Lane`] per fiber with its [`Mark`]s, the spans its fiber spent waiting, the command
//! queue's history, the Kafka-level events, the crash, and from the typed hang report the stuck
//! waits, the wait-for chain and the `why:` lines. [`page`] embeds the timeline as JSON in the
//! page template (`page.html`: inline CSS and script, nothing fetched).
//!
//! The events of a recorded run are words ([`sim::trace::TraceRecord`]), written by the
//! observer for people; this module reads the few shapes it draws (`started`, `ended with`,
//! `waits .. on`, `resumed from`, an operation `op `label` (detail)`, `asked fiber#N to stop`,
//! `kafka: ..` notes) and keeps every other event as a plain mark, so an unknown shape loses
//! its colour, never its place.

pub mod page;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use consumer::internal::labels::{COMMAND_QUEUE, PROMISE_PREFIX, RUNLOOP_DONE};
use consumer::rt::queue::ops as queue_ops;
use serde::Serialize;
use sim::trace::{format_virtual_time, TraceRecord};
use sim::StrategyChoice;

use crate::report::{Completer, RunloopState, WaitStep, Why};
use crate::verdict::RunRecord;

/// What a mark stands for: the page colours and filters by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkKind {
    Start,
    End,
    /// An offer to a queue (the command queue's offers also appear in the queue's lane).
    Offer,
    Take,
    TakeAll,
    /// `close_and_drain` or a queue's shutdown.
    Drain,
    /// A promise completed (won).
    Complete,
    /// This fiber asked another to stop.
    Interrupt,
    /// Another fiber asked this one to stop.
    Interrupted,
    ScopeClose,
    Panic,
    /// An obligation opened (a request, a user call, a commit).
    Obligation,
    /// Kafka: an authorization (ACL) change.
    KafkaAcl,
    /// Kafka: a poll that failed.
    KafkaPollError,
    /// Kafka: an assignment or a rebalance listener's callback.
    KafkaRebalance,
    /// Kafka: a commit's result.
    KafkaCommit,
    /// Kafka: any other note (a poll that succeeded).
    Kafka,
    /// Anything else the run recorded.
    Other,
}

impl MarkKind {
    /// Whether a fiber with a mark of this kind is worth its own lane; the rest are folded.
    /// Offers, takes, completions and interrupts are not enough: every race's loser is
    /// interrupted and every partition stream takes from its queue, hundreds of fibers in a
    /// chaos run. The command queue's fibers are kept by [`Builder::finish`].
    fn is_of_interest(self) -> bool {
        !matches!(
            self,
            MarkKind::Start
                | MarkKind::End
                | MarkKind::Other
                | MarkKind::Take
                | MarkKind::TakeAll
                | MarkKind::Offer
                | MarkKind::Complete
                | MarkKind::Interrupt
                | MarkKind::Interrupted
        )
    }
}

/// One event drawn as a mark. Field names are short: a 100,000-event page carries 100,000 of
/// them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mark {
    /// Position in the run's order of events.
    #[serde(rename = "i")]
    pub index: u64,
    /// Virtual nanoseconds since the run started.
    #[serde(rename = "t")]
    pub at_ns: u64,
    /// The fiber whose lane it is on; `None` for the Kafka lane's cluster events.
    #[serde(rename = "f")]
    pub fiber: Option<u64>,
    #[serde(rename = "k")]
    pub kind: MarkKind,
    /// The event in words, shown on hover.
    #[serde(rename = "w")]
    pub what: String,
}

/// A span a fiber spent waiting on an object; `until_ns` is `None` when it never resumed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WaitSpan {
    pub fiber: u64,
    pub object: String,
    pub interruptible: bool,
    pub from_ns: u64,
    pub from_index: u64,
    pub until_ns: Option<u64>,
    pub until_index: Option<u64>,
}

/// One fiber's lane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lane {
    pub fiber: u64,
    pub name: String,
    pub parent: Option<u64>,
    /// `root`, `daemon` or `child of fiber#N`, and its region.
    pub started_as: String,
    pub started_ns: u64,
    pub ended_ns: Option<u64>,
    /// How it ended (`success`, `interruption`, ...), if it did.
    pub ending: Option<String>,
    /// Whether it has a stuck wait of the hang report.
    pub stuck: bool,
    /// Folded into the group lane: it did nothing of interest (no mark of interest, not stuck,
    /// not in a wait-for chain, not the runloop).
    pub folded: bool,
    /// How many marks it has.
    pub marks: usize,
}

/// One operation on the command queue, with the queue's depth after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QueueStep {
    pub index: u64,
    pub at_ns: u64,
    pub fiber: Option<u64>,
    /// `offer`, `take`, `take_all`, `close_and_drain`, `poll`, `shutdown`.
    pub op: String,
    /// The command offered (from the offering fiber's note), when known.
    pub command: Option<String>,
    /// How many commands it added (positive) or took (negative).
    pub change: i64,
    pub depth: i64,
    pub what: String,
}

/// The runloop's crash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Crash {
    pub at_ns: u64,
    pub what: String,
    /// The runloop's fiber, when the trace names it.
    pub fiber: Option<u64>,
}

/// A wait of the hang report that never ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StuckWait {
    pub fiber: u64,
    pub fiber_name: String,
    pub object_kind: String,
    pub object: String,
    pub interruptible: bool,
    pub since_ns: u64,
    /// The stuck obligations (or waiting fiber) whose chain passes through this wait.
    pub callers: Vec<String>,
}

/// An arrow of the wait-for chain: `from` waits on something only `to` can complete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainArrow {
    pub from: u64,
    pub to: u64,
    pub at_ns: u64,
    pub label: String,
}

/// Everything the page draws.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Timeline {
    /// `scenario under protocol, seed N (strategy)`.
    pub title: String,
    pub verdict: String,
    pub signature: String,
    /// The report's `why:` lines, first the one that explains the hang.
    pub whys: Vec<String>,
    /// The report in words, as `hangsim replay` prints it.
    pub report: String,
    /// A fixture under strategy `schedule`: its entries, one line each (what decided the run's
    /// order, in the words of `sim::ScheduleEntry`); empty otherwise.
    pub schedule: Vec<String>,
    pub end_ns: u64,
    pub event_count: u64,
    pub lanes: Vec<Lane>,
    /// Every mark, in the run's order.
    pub marks: Vec<Mark>,
    pub waits: Vec<WaitSpan>,
    /// The command queues' history; with several consumers, their queues (one label) merged.
    pub queue: Vec<QueueStep>,
    /// The fibers that took from a command queue: one runloop per consumer.
    pub runloops: Vec<u64>,
    pub crash: Option<Crash>,
    pub stuck: Vec<StuckWait>,
    pub chain: Vec<ChainArrow>,
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The text between the first pair of backticks.
fn quoted(text: &str) -> Option<&str> {
    let start = text.find('`')? + 1;
    let length = text[start..].find('`')?;
    Some(&text[start..start + length])
}

/// The number after the first `fiber#` in `text`.
fn fiber_number(text: &str) -> Option<u64> {
    let rest = &text[text.find("fiber#")? + "fiber#".len()..];
    let digits: &str = &rest[..rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len())];
    digits.parse().ok()
}

/// The number in a detail `(took N)`.
fn took(text: &str) -> i64 {
    text.rsplit_once("(took ")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .and_then(|count| count.parse().ok())
        .unwrap_or(0)
}

/// The kind of a Kafka note (`kafka: ...`).
fn kafka_kind(what: &str) -> MarkKind {
    if what.contains("ACL change") {
        MarkKind::KafkaAcl
    } else if what.starts_with("kafka: poll by") && what.contains(" failed: ") {
        MarkKind::KafkaPollError
    } else if what.contains(" is assigned ") || what.contains("rebalance listener") {
        MarkKind::KafkaRebalance
    } else if what.contains("kafka: commit") {
        MarkKind::KafkaCommit
    } else {
        MarkKind::Kafka
    }
}

/// The time an ACL change note says the change takes effect (`scheduled at 1.5s`).
fn scheduled_at(what: &str) -> Option<u64> {
    let rest = &what[what.find("scheduled at ")? + "scheduled at ".len()..];
    let seconds = rest.split_once("s:")?.0;
    let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, "0"));
    let whole: u64 = whole.parse().ok()?;
    let fraction = format!("{fraction:0<9}");
    let fraction: u64 = fraction.get(..9)?.parse().ok()?;
    Some(whole * 1_000_000_000 + fraction)
}

/// How the operation `op` on an object is drawn.
fn op_kind(op: &str, what: &str) -> MarkKind {
    match op {
        queue_ops::OFFER | queue_ops::OFFER_ALL | "hub.publish" => MarkKind::Offer,
        queue_ops::TAKE | queue_ops::POLL => MarkKind::Take,
        queue_ops::TAKE_ALL => MarkKind::TakeAll,
        queue_ops::CLOSE_AND_DRAIN | queue_ops::SHUTDOWN | "hub.shutdown" => MarkKind::Drain,
        "promise.complete" if what.ends_with("(won)") => MarkKind::Complete,
        "scope.close" => MarkKind::ScopeClose,
        _ => MarkKind::Other,
    }
}

/// Builds the timeline of a run recorded with `record_events`; a run recorded without events
/// gives lanes only for the fibers its report names.
pub fn timeline(record: &RunRecord) -> Timeline {
    let events: &[TraceRecord] = record.events.as_deref().unwrap_or(&[]);
    let mut builder = Builder::default();
    for (index, event) in events.iter().enumerate() {
        builder.event(index as u64, event);
    }
    let end_ns = record
        .report
        .ending
        .as_ref()
        .map(|ending| nanos(ending.at.0))
        .unwrap_or(0)
        .max(events.last().map(|event| nanos(event.at)).unwrap_or(0));
    builder.finish(record, end_ns, events.len() as u64)
}

#[derive(Default)]
struct Builder {
    lanes: BTreeMap<u64, Lane>,
    marks: Vec<Mark>,
    waits: Vec<WaitSpan>,
    /// The open wait of each fiber: an index into `waits`.
    open_wait: BTreeMap<u64, usize>,
    queue: Vec<QueueStep>,
    queue_depth: i64,
    /// The command each fiber said it offers next (`offers X to command_queue`).
    offering: BTreeMap<u64, String>,
    /// The fibers that took from a command queue: the runloops, one per consumer.
    runloops: BTreeSet<u64>,
}

impl Builder {
    fn lane(&mut self, fiber: u64) -> &mut Lane {
        self.lanes.entry(fiber).or_insert_with(|| Lane {
            fiber,
            name: format!("fiber#{fiber}"),
            parent: None,
            started_as: String::new(),
            started_ns: 0,
            ended_ns: None,
            ending: None,
            stuck: false,
            folded: false,
            marks: 0,
        })
    }

    fn mark(&mut self, index: u64, at_ns: u64, fiber: Option<u64>, kind: MarkKind, what: String) {
        if let Some(fiber) = fiber {
            self.lane(fiber).marks += 1;
        }
        self.marks.push(Mark {
            index,
            at_ns,
            fiber,
            kind,
            what,
        });
    }

    fn event(&mut self, index: u64, event: &TraceRecord) {
        let at_ns = nanos(event.at);
        let what = event.what.as_str();
        let Some(fiber) = event.fiber else {
            // Objects created, obligations closed: not drawn, but a cluster's Kafka note is.
            if what.starts_with("kafka:") {
                let kind = kafka_kind(what);
                let at = scheduled_at(what).unwrap_or(at_ns);
                self.mark(index, at, None, kind, what.to_string());
            }
            return;
        };
        if let Some(rest) = what.strip_prefix("started ") {
            let name = quoted(rest).unwrap_or("").to_string();
            let started_as = rest
                .rsplit_once(" (")
                .map(|(_, how)| how.trim_end_matches(')').to_string())
                .unwrap_or_default();
            let parent = started_as
                .starts_with("child of")
                .then(|| fiber_number(&started_as))
                .flatten();
            let lane = self.lane(fiber);
            lane.name = name;
            lane.parent = parent;
            lane.started_as = started_as;
            lane.started_ns = at_ns;
            self.mark(index, at_ns, Some(fiber), MarkKind::Start, what.to_string());
        } else if let Some(ending) = what.strip_prefix("ended with ") {
            self.close_wait(fiber, index, at_ns);
            let lane = self.lane(fiber);
            lane.ended_ns = Some(at_ns);
            lane.ending = Some(ending.to_string());
            self.mark(index, at_ns, Some(fiber), MarkKind::End, what.to_string());
        } else if what.starts_with("panicked: ") {
            self.mark(index, at_ns, Some(fiber), MarkKind::Panic, what.to_string());
        } else if what.starts_with("asked fiber#") {
            if let Some(target) = fiber_number(what) {
                self.mark(
                    index,
                    at_ns,
                    Some(target),
                    MarkKind::Interrupted,
                    format!("fiber#{fiber} asked this fiber to stop"),
                );
            }
            self.mark(
                index,
                at_ns,
                Some(fiber),
                MarkKind::Interrupt,
                what.to_string(),
            );
        } else if let Some(rest) = what.strip_prefix("waits ") {
            self.close_wait(fiber, index, at_ns);
            self.open_wait.insert(fiber, self.waits.len());
            self.waits.push(WaitSpan {
                fiber,
                object: quoted(rest).unwrap_or("").to_string(),
                interruptible: rest.starts_with("interruptibly"),
                from_ns: at_ns,
                from_index: index,
                until_ns: None,
                until_index: None,
            });
        } else if what.starts_with("resumed from ") {
            self.close_wait(fiber, index, at_ns);
        } else if let Some(command) = what
            .strip_prefix("offers ")
            .and_then(|rest| rest.strip_suffix(" to command_queue"))
        {
            self.offering.insert(fiber, command.to_string());
        } else if what.starts_with("kafka:") {
            let kind = kafka_kind(what);
            self.mark(index, at_ns, Some(fiber), kind, what.to_string());
        } else if what.starts_with("opened ") {
            self.mark(
                index,
                at_ns,
                Some(fiber),
                MarkKind::Obligation,
                what.to_string(),
            );
        } else if let Some((op, rest)) = what.split_once(' ') {
            let kind = op_kind(op, what);
            let object = quoted(rest).unwrap_or("");
            if object == COMMAND_QUEUE {
                self.queue_step(index, at_ns, fiber, op, what);
            }
            if matches!(kind, MarkKind::Other) && op == "ref.modify" {
                // A `Ref`'s updates are the bulk of a run's events and say nothing on a lane.
                return;
            }
            self.mark(index, at_ns, Some(fiber), kind, what.to_string());
        } else {
            self.mark(index, at_ns, Some(fiber), MarkKind::Other, what.to_string());
        }
    }

    /// The runloop, when the run had one consumer.
    fn only_runloop(&self) -> Option<u64> {
        match self.runloops.len() {
            1 => self.runloops.first().copied(),
            _ => None,
        }
    }

    fn close_wait(&mut self, fiber: u64, index: u64, at_ns: u64) {
        if let Some(open) = self.open_wait.remove(&fiber) {
            self.waits[open].until_ns = Some(at_ns);
            self.waits[open].until_index = Some(index);
        }
    }

    fn queue_step(&mut self, index: u64, at_ns: u64, fiber: u64, op: &str, what: &str) {
        let accepted = what.ends_with("(accepted)");
        let (short, change, command) = match op {
            queue_ops::OFFER | queue_ops::OFFER_ALL => {
                ("offer", i64::from(accepted), self.offering.remove(&fiber))
            }
            queue_ops::TAKE => ("take", -took(what), None),
            queue_ops::TAKE_ALL => ("take_all", -took(what), None),
            queue_ops::CLOSE_AND_DRAIN => ("close_and_drain", -took(what), None),
            queue_ops::POLL => ("poll", -took(what), None),
            queue_ops::SHUTDOWN => ("shutdown", 0, None),
            _ => return,
        };
        if matches!(short, "take" | "take_all") {
            self.runloops.insert(fiber);
        }
        self.queue_depth = (self.queue_depth + change).max(0);
        self.queue.push(QueueStep {
            index,
            at_ns,
            fiber: Some(fiber),
            op: short.to_string(),
            command,
            change,
            depth: self.queue_depth,
            what: what.to_string(),
        });
    }

    fn finish(mut self, record: &RunRecord, end_ns: u64, event_count: u64) -> Timeline {
        let report = &record.report;
        let mut stuck: Vec<StuckWait> = Vec::new();
        let mut chain: Vec<ChainArrow> = Vec::new();
        let mut whys: Vec<String> = Vec::new();
        if let Some(hang) = &report.hang {
            let chains = hang
                .stuck
                .iter()
                .map(|caller| (caller.label.as_str(), caller.waits.as_slice()))
                .chain(
                    hang.waiting
                        .iter()
                        .map(|wait| (wait.fiber.name.as_str(), std::slice::from_ref(wait))),
                );
            for (caller, waits) in chains {
                for step in waits {
                    add_stuck(&mut stuck, caller, step);
                }
                for pair in waits.windows(2) {
                    add_arrow(
                        &mut chain,
                        pair[0].fiber.id,
                        pair[1].fiber.id,
                        nanos(pair[0].since.0),
                        format!("waits on {} `{}`", pair[0].object_kind, pair[0].object),
                    );
                }
            }
            for why in hang.whys() {
                if let Why::WaitChainEnds {
                    fiber,
                    object,
                    completer: Completer::Fiber { fiber: to, .. },
                    since,
                    ..
                } = why
                {
                    add_arrow(
                        &mut chain,
                        fiber.id,
                        to.id,
                        nanos(since.0),
                        format!("waits on `{object}`, which only fiber#{} completes", to.id),
                    );
                }
                // Two callers stuck the same way give the same line; the page shows it once.
                let line = why.to_string();
                if !whys.contains(&line) {
                    whys.push(line);
                }
            }
            // A stuck wait on a command's reply or on `runloop_done`: only the runloop would
            // complete it. With several consumers, every command queue and `runloop_done` has
            // the same label in the trace's words, so which runloop is unknown: no arrow.
            if let Some(runloop) = self.only_runloop() {
                for wait in &stuck {
                    let on_runloop = wait.object == RUNLOOP_DONE
                        || hang.requests.iter().any(|request| {
                            wait.object.strip_prefix(PROMISE_PREFIX)
                                == Some(request.command.as_str())
                        });
                    if on_runloop && wait.fiber != runloop {
                        add_arrow(
                            &mut chain,
                            wait.fiber,
                            runloop,
                            wait.since_ns,
                            format!(
                                "waits on `{}`, which only the runloop completes",
                                wait.object
                            ),
                        );
                    }
                }
            }
        }
        if whys.is_empty() {
            whys.push(report.why());
        }
        let crash = match &report.runloop {
            RunloopState::Crashed { at, exit, cause } => Some(Crash {
                at_ns: nanos(at.0),
                what: format!(
                    "the runloop crashed at {} ({exit}){}",
                    format_virtual_time(at.0),
                    cause
                        .as_ref()
                        .map(|cause| format!(": {cause}"))
                        .unwrap_or_default()
                ),
                fiber: self.only_runloop(),
            }),
            _ => None,
        };
        let mut chained: Vec<u64> = chain
            .iter()
            .flat_map(|arrow| [arrow.from, arrow.to])
            .collect();
        chained.extend(stuck.iter().map(|wait| wait.fiber));
        chained.extend(self.runloops.iter().copied());
        let mut kept: Vec<u64> = self
            .marks
            .iter()
            .filter(|mark| mark.kind.is_of_interest())
            .filter_map(|mark| mark.fiber)
            .chain(self.queue.iter().filter_map(|step| step.fiber))
            .chain(chained)
            .collect();
        kept.sort_unstable();
        kept.dedup();
        for lane in self.lanes.values_mut() {
            lane.stuck = stuck.iter().any(|wait| wait.fiber == lane.fiber);
            lane.folded = kept.binary_search(&lane.fiber).is_err();
        }
        Timeline {
            title: format!(
                "{} under {}, seed {} ({})",
                report.scenario, report.protocol, report.seed, report.strategy
            ),
            verdict: record.verdict.to_string(),
            signature: record.signature.clone(),
            whys,
            report: report.to_string(),
            schedule: match (&record.spec.strategy, &record.fiber_schedule) {
                (StrategyChoice::Schedule, Some(schedule)) => schedule.to_lines(),
                _ => Vec::new(),
            },
            end_ns,
            event_count,
            lanes: self.lanes.into_values().collect(),
            marks: self.marks,
            waits: self.waits,
            queue: self.queue,
            runloops: self.runloops.into_iter().collect(),
            crash,
            stuck,
            chain,
        }
    }
}

fn add_stuck(stuck: &mut Vec<StuckWait>, caller: &str, step: &WaitStep) {
    if let Some(known) = stuck
        .iter_mut()
        .find(|wait| wait.fiber == step.fiber.id && wait.object == step.object)
    {
        if !known.callers.iter().any(|known| known == caller) {
            known.callers.push(caller.to_string());
        }
        return;
    }
    stuck.push(StuckWait {
        fiber: step.fiber.id,
        fiber_name: step.fiber.name.clone(),
        object_kind: step.object_kind.clone(),
        object: step.object.clone(),
        interruptible: step.interruptible,
        since_ns: nanos(step.since.0),
        callers: vec![caller.to_string()],
    });
}

fn add_arrow(chain: &mut Vec<ChainArrow>, from: u64, to: u64, at_ns: u64, label: String) {
    if from != to
        && !chain
            .iter()
            .any(|arrow| arrow.from == from && arrow.to == to)
    {
        chain.push(ChainArrow {
            from,
            to,
            at_ns,
            label,
        });
    }
}

#[cfg(test)]
mod tests {
    use consumer::ShutdownProtocol;

    use super::*;
    use crate::catalogue::Scenario;
    use crate::runner::run_one;
    use crate::verdict::{RunSpec, VerdictKind};

    fn record(at_ms: u64, fiber: Option<u64>, what: &str) -> TraceRecord {
        TraceRecord {
            at: Duration::from_millis(at_ms),
            fiber,
            what: what.to_string(),
        }
    }

    /// The shapes of events the page draws are read back from their words: lanes with names
    /// and parents, wait spans, the command queue's depth with the offered command, interrupts
    /// on both lanes, and an ACL change placed when it takes effect.
    #[test]
    fn events_in_words_become_lanes_waits_queue_steps_and_marks() {
        let events = [
            record(0, Some(1), "started `main` (root, interruptible)"),
            record(
                0,
                Some(2),
                "started `runloop` (child of fiber#1, interruptible)",
            ),
            record(
                0,
                None,
                "kafka: ACL change scheduled at 1.500000s: READ on topic0 for every client: Deny",
            ),
            record(1, Some(1), "offers RemoveSubscription#3 to command_queue"),
            record(1, Some(1), "queue.offer `command_queue` (accepted)"),
            record(
                1,
                Some(1),
                "waits uninterruptibly on `promise:RemoveSubscription#3`",
            ),
            record(2, Some(2), "queue.take_all `command_queue` (took 1)"),
            record(2, Some(2), "asked fiber#1 to stop"),
            record(3, Some(1), "resumed from `promise:RemoveSubscription#3`"),
            record(3, Some(2), "kafka: poll by app-0 failed: not authorized"),
            record(4, Some(2), "ended with failure"),
        ];
        let mut builder = Builder::default();
        for (index, event) in events.iter().enumerate() {
            builder.event(index as u64, event);
        }
        assert_eq!(builder.lanes[&2].name, "runloop");
        assert_eq!(builder.lanes[&2].parent, Some(1));
        assert_eq!(builder.lanes[&2].ending.as_deref(), Some("failure"));
        assert_eq!(builder.waits.len(), 1);
        let wait = &builder.waits[0];
        assert_eq!(
            (wait.fiber, wait.object.as_str(), wait.interruptible),
            (1, "promise:RemoveSubscription#3", false)
        );
        assert_eq!((wait.from_ns, wait.until_ns), (1_000_000, Some(3_000_000)));
        let steps: Vec<(&str, Option<&str>, i64)> = builder
            .queue
            .iter()
            .map(|step| (step.op.as_str(), step.command.as_deref(), step.depth))
            .collect();
        assert_eq!(
            steps,
            [
                ("offer", Some("RemoveSubscription#3"), 1),
                ("take_all", None, 0)
            ]
        );
        assert_eq!(builder.only_runloop(), Some(2));
        let kinds: Vec<(Option<u64>, MarkKind)> = builder
            .marks
            .iter()
            .map(|mark| (mark.fiber, mark.kind))
            .collect();
        assert!(kinds.contains(&(Some(2), MarkKind::Interrupt)));
        assert!(kinds.contains(&(Some(1), MarkKind::Interrupted)));
        assert!(kinds.contains(&(Some(2), MarkKind::KafkaPollError)));
        let acl = builder
            .marks
            .iter()
            .find(|mark| mark.kind == MarkKind::KafkaAcl)
            .expect("the ACL change is a mark");
        assert_eq!((acl.fiber, acl.at_ns), (None, 1_500_000_000));
    }

    /// A hang of auth-crash under master (seed 0; every seed of it hangs): a lane for every fiber that started, the fibers of
    /// the stuck waits marked and never folded, an arrow from each stuck caller to the runloop,
    /// the crash, and the report's why first.
    #[test]
    fn a_hang_fixture_gives_lanes_stuck_fibers_chain_and_why() {
        let mut spec = RunSpec::new(
            Scenario::builtin("auth-crash").expect("a catalogue scenario"),
            ShutdownProtocol::Master,
            0,
        );
        spec.record_events = true;
        let record = &run_one(&spec);
        assert_eq!(
            record.verdict.kind(),
            VerdictKind::Hang,
            "{}",
            record.report
        );
        let timeline = timeline(record);
        let events = record.events.as_deref().expect("a replay records events");
        let started = events
            .iter()
            .filter(|event| event.what.starts_with("started `"))
            .count();
        assert_eq!(timeline.lanes.len(), started);
        assert_eq!(timeline.event_count, events.len() as u64);
        let hang = record
            .report
            .hang
            .as_ref()
            .expect("a hang has a hang report");
        assert!(!hang.stuck.is_empty());
        for caller in &hang.stuck {
            for step in &caller.waits {
                let lane = timeline
                    .lanes
                    .iter()
                    .find(|lane| lane.fiber == step.fiber.id)
                    .expect("a stuck fiber has a lane");
                assert!(lane.stuck && !lane.folded, "{lane:?}");
                assert_eq!(lane.name, step.fiber.name);
            }
        }
        assert!(timeline.lanes.iter().any(|lane| lane.folded));
        assert_eq!(
            timeline.whys.first().map(String::as_str),
            Some(record.report.why().as_str())
        );
        let crash = timeline.crash.as_ref().expect("the runloop crashed");
        let runloop = crash.fiber.expect("the runloop took from command_queue");
        for request in &hang.requests {
            let caller = request.requested_by.id;
            assert!(
                timeline
                    .chain
                    .iter()
                    .any(|arrow| arrow.from == caller && arrow.to == runloop),
                "no arrow from fiber#{caller} to the runloop: {:?}",
                timeline.chain
            );
        }
        assert!(timeline
            .queue
            .iter()
            .any(|step| step.command.as_deref() == Some(hang.requests[0].command.as_str())));
        let html = page::render(&timeline);
        assert!(html.contains(r#"<script type="application/json" id="timeline-data">{"#));
        assert!(!html.contains("{{TIMELINE_JSON}}"));
    }
}
