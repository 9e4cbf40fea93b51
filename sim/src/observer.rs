//! The observer: what a run makes of the runtime layer's events. Every event is folded into
//! the trace hash and the liveness tracker; operations on watched objects are kept; panics are
//! kept; and, for a recorded run (or when `tracing` is on at TRACE for `hangsim::rt`), every
//! event is also written out in words.

use std::time::Duration;

use consumer::rt::promise::ops as promise_ops;
use consumer::rt::{Event, FiberId, ObjectId};

use crate::liveness::LivenessTracker;
use crate::runtime::{PanicRecord, Progress, WatchedOp};
use crate::trace::{TraceHash, TraceRecord};

pub(crate) struct Observer {
    pub(crate) hash: TraceHash,
    pub(crate) liveness: LivenessTracker,
    pub(crate) events: Option<Vec<TraceRecord>>,
    /// The labels to watch, the objects found with them, and their operations so far (the
    /// fiber names are filled in when the run ends).
    pub(crate) watch: Vec<&'static str>,
    pub(crate) watched_objects: Vec<(ObjectId, &'static str)>,
    pub(crate) watched: Vec<WatchedOp>,
    pub(crate) panics: Vec<PanicRecord>,
    pub(crate) root: Option<FiberId>,
    pub(crate) root_done: bool,
    /// What the run did that counts as progress (DESIGN 3.4): the quiet window is measured
    /// from its last mark.
    pub(crate) progress: Progress,
    /// Obligations opened and not yet closed: a count, so that the executor's check for a
    /// stuck run costs nothing.
    pub(crate) open_obligations: u64,
    /// Set when the run's results are taken: later events (futures dropped at teardown) are
    /// not part of the run.
    pub(crate) closed: bool,
}

impl Observer {
    /// An observer for a run that records every event or not, and watches the objects
    /// labelled `watch`.
    pub(crate) fn new(record_events: bool, watch: Vec<&'static str>) -> Observer {
        Observer {
            hash: TraceHash::default(),
            liveness: LivenessTracker::default(),
            events: record_events.then(Vec::new),
            watch,
            watched_objects: Vec::new(),
            watched: Vec::new(),
            panics: Vec::new(),
            root: None,
            root_done: false,
            progress: Progress::default(),
            open_obligations: 0,
            closed: false,
        }
    }

    /// Takes one event of the run at virtual time `now`.
    pub(crate) fn take(&mut self, event: &Event<'_>, now: Duration) {
        self.fold_into_hash(event, now);
        self.liveness.record(event, now);
        self.note_progress(event, now);
        match *event {
            Event::FiberStarted {
                fiber,
                parent: None,
                daemon: false,
                ..
            } if self.root.is_none() => {
                self.root = Some(fiber);
            }
            Event::FiberEnded { fiber, .. } if Some(fiber) == self.root => self.root_done = true,
            Event::ObjectCreated { object } if !self.watch.is_empty() => {
                if let Some(&label) = self.watch.iter().find(|&&label| *object.label == *label) {
                    self.watched_objects.push((object.id, label));
                }
            }
            Event::Op {
                fiber,
                object,
                op,
                detail,
            } if !self.watched_objects.is_empty() => {
                if let Some(&(_, label)) = self.watched_objects.iter().find(|(id, _)| *id == object)
                {
                    self.watched.push(WatchedOp {
                        at: now,
                        object: label,
                        object_id: object.0,
                        fiber: fiber.0,
                        fiber_name: String::new(),
                        op,
                        detail,
                    });
                }
            }
            Event::FiberPanicked { fiber, message } => self.panics.push(PanicRecord {
                fiber: fiber.0,
                fiber_name: self.liveness.fiber_name(fiber).to_string(),
                message: message.to_string(),
                at: now,
            }),
            _ => {}
        }
        if self.events.is_some() || tracing::enabled!(target: "hangsim::rt", tracing::Level::TRACE)
        {
            let record = self.describe(event, now);
            tracing::trace!(target: "hangsim::rt", fiber = record.fiber, "{}", record.what);
            if let Some(events) = &mut self.events {
                events.push(record);
            }
        }
    }

    /// Counts the events that are progress: an obligation closed, a fiber ended, a promise
    /// completed (by its first completion), or the workload's own mark. Everything else (a
    /// ticker's wake-up, a poll that returned nothing, a wait) is not.
    fn note_progress(&mut self, event: &Event<'_>, now: Duration) {
        let what = match *event {
            Event::ObligationOpened { .. } => {
                self.open_obligations += 1;
                return;
            }
            Event::ObligationClosed { .. } => {
                self.open_obligations = self.open_obligations.saturating_sub(1);
                "an obligation closed"
            }
            Event::FiberEnded { .. } => "a fiber ended",
            Event::ProcessKilled { .. } => "a process was killed",
            Event::Op { op, detail, .. } if detail == 1 && op == promise_ops::COMPLETE => {
                "a promise completed"
            }
            Event::Progress { what, .. } => what,
            _ => return,
        };
        self.progress.marks += 1;
        self.progress.last_at = now;
        self.progress.last = what;
    }

    /// Folds one event into the trace hash. What is folded, and in which order, is part of
    /// every committed fixture's trace hash: change it only with a re-recording.
    fn fold_into_hash(&mut self, event: &Event<'_>, now: Duration) {
        // A progress mark or a note changes nothing the run does (and a note exists only in a
        // recorded run); folding them in would only change every committed fixture's hash.
        if let Event::Progress { .. } | Event::Note { .. } = event {
            return;
        }
        let hash = &mut self.hash;
        hash.word(now.as_nanos() as u64);
        match *event {
            Event::ObjectCreated { object } => {
                hash.word(1);
                hash.word(object.id.0);
                hash.text(object.kind);
                hash.text(&object.label);
            }
            Event::FiberStarted {
                fiber,
                parent,
                name,
                object,
                interruptible,
                daemon,
            } => {
                hash.word(2);
                hash.word(fiber.0);
                hash.word(parent.map_or(0, |p| p.0));
                hash.text(name);
                hash.word(object.0);
                hash.word(interruptible as u64 | (daemon as u64) << 1);
            }
            Event::FiberEnded { fiber, exit } => {
                hash.word(3);
                hash.word(fiber.0);
                hash.word(exit.code());
            }
            Event::FiberPanicked { fiber, message } => {
                hash.word(4);
                hash.word(fiber.0);
                hash.text(message);
            }
            Event::InterruptRequested { fiber, by } => {
                hash.word(5);
                hash.word(fiber.0);
                hash.word(by.0);
            }
            Event::Op {
                fiber,
                object,
                op,
                detail,
            } => {
                hash.word(6);
                hash.word(fiber.0);
                hash.word(object.0);
                hash.text(op);
                hash.word(detail);
            }
            Event::Waiting {
                fiber,
                object,
                interruptible,
            } => {
                hash.word(7);
                hash.word(fiber.0);
                hash.word(object.0);
                hash.word(interruptible as u64);
            }
            Event::Resumed { fiber, object } => {
                hash.word(8);
                hash.word(fiber.0);
                hash.word(object.0);
            }
            Event::ObligationOpened {
                obligation,
                fiber,
                kind,
                label,
            } => {
                hash.word(9);
                hash.word(obligation.0);
                hash.word(fiber.0);
                hash.text(kind.name());
                hash.text(label);
            }
            Event::ObligationClosed { obligation } => {
                hash.word(10);
                hash.word(obligation.0);
            }
            Event::ProcessKilled {
                process,
                name,
                by,
                fibers,
            } => {
                hash.word(11);
                hash.word(process.0);
                hash.text(name);
                hash.word(by.0);
                hash.word(fibers.len() as u64);
                for fiber in fibers {
                    hash.word(fiber.0);
                }
            }
            Event::Progress { .. } | Event::Note { .. } => {}
        }
    }

    fn describe(&self, event: &Event<'_>, now: Duration) -> TraceRecord {
        let label = |object| self.liveness.object_label(object);
        let (fiber, what) = match *event {
            Event::ObjectCreated { object } => {
                (None, format!("created {} `{}`", object.kind, object.label))
            }
            Event::FiberStarted {
                fiber,
                parent,
                name,
                interruptible,
                daemon,
                ..
            } => {
                let region = if interruptible {
                    "interruptible"
                } else {
                    "uninterruptible"
                };
                let relation = match (parent, daemon) {
                    (_, true) => "daemon".to_string(),
                    (Some(parent), false) => format!("child of fiber#{}", parent.0),
                    (None, false) => "root".to_string(),
                };
                (
                    Some(fiber.0),
                    format!("started `{name}` ({relation}, {region})"),
                )
            }
            Event::FiberEnded { fiber, exit } => (Some(fiber.0), format!("ended with {exit}")),
            Event::FiberPanicked { fiber, message } => {
                (Some(fiber.0), format!("panicked: {message}"))
            }
            Event::InterruptRequested { fiber, by } => {
                (Some(by.0), format!("asked fiber#{} to stop", fiber.0))
            }
            Event::Op {
                fiber,
                object,
                op,
                detail,
            } => (
                Some(fiber.0),
                format!("{op} `{}` ({})", label(object), op_detail(op, detail)),
            ),
            Event::Waiting {
                fiber,
                object,
                interruptible,
            } => {
                let region = if interruptible {
                    "interruptibly"
                } else {
                    "uninterruptibly"
                };
                (
                    Some(fiber.0),
                    format!("waits {region} on `{}`", label(object)),
                )
            }
            Event::Resumed { fiber, object } => {
                (Some(fiber.0), format!("resumed from `{}`", label(object)))
            }
            Event::ObligationOpened {
                obligation,
                fiber,
                kind,
                label,
            } => (
                Some(fiber.0),
                format!("opened {kind} #{} `{label}`", obligation.0),
            ),
            Event::ObligationClosed { obligation } => {
                (None, format!("closed obligation #{}", obligation.0))
            }
            Event::ProcessKilled {
                process,
                name,
                by,
                fibers,
            } => {
                let ids: Vec<String> = fibers.iter().map(|fiber| fiber.to_string()).collect();
                (
                    Some(by.0),
                    format!(
                        "killed process `{name}` ({process}): {} ended without finalizers",
                        if ids.is_empty() {
                            "no fiber".to_string()
                        } else {
                            ids.join(", ")
                        }
                    ),
                )
            }
            Event::Progress { fiber, what } => (Some(fiber.0), format!("progress: {what}")),
            Event::Note { fiber, what } => (Some(fiber.0), what.to_string()),
        };
        TraceRecord {
            at: now,
            fiber,
            what,
        }
    }
}

/// An operation's detail in words: whether an offer was accepted, how many elements a read
/// took, whether a completion won.
fn op_detail(op: &str, detail: u64) -> String {
    use consumer::rt::queue::ops as queue_ops;
    match op {
        queue_ops::OFFER | queue_ops::OFFER_ALL => {
            if detail == 1 { "accepted" } else { "refused" }.to_string()
        }
        queue_ops::TAKE | queue_ops::TAKE_ALL | queue_ops::CLOSE_AND_DRAIN => {
            format!("took {detail}")
        }
        queue_ops::POLL => if detail == 1 { "took 1" } else { "empty" }.to_string(),
        queue_ops::SHUTDOWN => if detail == 1 { "first" } else { "again" }.to_string(),
        promise_ops::COMPLETE => if detail == 1 {
            "won"
        } else {
            "already completed"
        }
        .to_string(),
        promise_ops::IS_DONE => if detail == 1 { "done" } else { "not done" }.to_string(),
        _ => format!("detail {detail}"),
    }
}
