//! Liveness tracking: who waits on what, and which obligations are still open.
//!
//! A hang is not quiescence: a periodic timer keeps a simulation busy while a caller waits
//! forever. So the tracker keeps, from the runtime layer's events,
//! - the obligations workloads open and close (a request awaiting its reply, a user-facing
//!   call); one still open when a run ends is a hang; one whose fiber was killed with its
//!   process is discharged (a dead process has no callers left);
//! - a wait-for table: for every live fiber, the labelled object it waits on and whether an
//!   interruption could end that wait;
//! - each fiber's name, parent, interruption requests and exit.
//!
//! At the end of a run, [`LivenessTracker::snapshot`] turns this into a [`LivenessSnapshot`]:
//! plain data, with names and labels, that reports and verdicts are made of.

use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Duration;

use consumer::rt::{Event, ExitKind, FiberId, ObjectId, ObjectRef, ObligationKind};

use crate::trace::format_virtual_time;

#[derive(Clone, Debug)]
struct FiberRecord {
    name: Rc<str>,
    parent: Option<FiberId>,
    object: ObjectId,
    daemon: bool,
    wait: Option<WaitRecord>,
    interrupt_requested_by: Option<FiberId>,
    ended: Option<(ExitKind, Duration)>,
}

#[derive(Clone, Copy, Debug)]
struct WaitRecord {
    object: ObjectId,
    interruptible: bool,
    since: Duration,
}

#[derive(Clone, Debug)]
struct ObligationRecord {
    kind: ObligationKind,
    label: Rc<str>,
    fiber: FiberId,
    opened_at: Duration,
    closed: bool,
    /// Closed because the fiber that opened it was killed with its process: discharged, not
    /// met (a dead process has no callers left to answer).
    discharged_by_kill: bool,
}

/// The wait-for table and the obligations of one run, fed with the runtime layer's events.
#[derive(Default)]
pub struct LivenessTracker {
    /// Indexed by `ObjectId - 1`: ids are dense from 1.
    objects: Vec<ObjectRef>,
    /// Indexed by `FiberId - 1`: ids are dense from 1.
    fibers: Vec<FiberRecord>,
    /// Indexed by `ObligationId - 1`: ids are dense from 1.
    obligations: Vec<ObligationRecord>,
}

impl LivenessTracker {
    /// Takes one event into account; `now` is its virtual time.
    pub fn record(&mut self, event: &Event<'_>, now: Duration) {
        match *event {
            Event::ObjectCreated { object } => {
                debug_assert_eq!(
                    object.id.0 as usize,
                    self.objects.len() + 1,
                    "object ids are dense"
                );
                self.objects.push(object.clone());
            }
            Event::FiberStarted {
                fiber,
                parent,
                name,
                object,
                daemon,
                ..
            } => {
                debug_assert_eq!(
                    fiber.0 as usize,
                    self.fibers.len() + 1,
                    "fiber ids are dense"
                );
                self.fibers.push(FiberRecord {
                    name: name.clone(),
                    parent,
                    object,
                    daemon,
                    wait: None,
                    interrupt_requested_by: None,
                    ended: None,
                });
            }
            Event::FiberEnded { fiber, exit } => {
                if let Some(record) = self.fiber_mut(fiber) {
                    record.ended = Some((exit, now));
                    record.wait = None;
                }
            }
            Event::InterruptRequested { fiber, by } => {
                if let Some(record) = self.fiber_mut(fiber) {
                    record.interrupt_requested_by.get_or_insert(by);
                }
            }
            Event::Waiting {
                fiber,
                object,
                interruptible,
            } => {
                if let Some(record) = self.fiber_mut(fiber) {
                    record.wait = Some(WaitRecord {
                        object,
                        interruptible,
                        since: now,
                    });
                }
            }
            Event::Resumed { fiber, .. } => {
                if let Some(record) = self.fiber_mut(fiber) {
                    record.wait = None;
                }
            }
            Event::ObligationOpened {
                obligation,
                fiber,
                kind,
                label,
            } => {
                debug_assert_eq!(obligation.0 as usize, self.obligations.len() + 1);
                self.obligations.push(ObligationRecord {
                    kind,
                    label: label.into(),
                    fiber,
                    opened_at: now,
                    closed: false,
                    discharged_by_kill: false,
                });
            }
            Event::ObligationClosed { obligation } => {
                if let Some(record) = self.obligations.get_mut(obligation.0 as usize - 1) {
                    record.closed = true;
                }
            }
            Event::ProcessKilled { fibers, .. } => {
                // Before the fibers' tasks are dropped: what their drops close afterwards is
                // already discharged.
                for record in self
                    .obligations
                    .iter_mut()
                    .filter(|record| !record.closed && fibers.contains(&record.fiber))
                {
                    record.closed = true;
                    record.discharged_by_kill = true;
                }
                for &fiber in fibers {
                    if let Some(record) = self.fiber_mut(fiber) {
                        record.wait = None;
                    }
                }
            }
            Event::Op { .. }
            | Event::FiberPanicked { .. }
            | Event::Progress { .. }
            | Event::Note { .. } => {}
        }
    }

    fn fiber_mut(&mut self, fiber: FiberId) -> Option<&mut FiberRecord> {
        self.fibers.get_mut((fiber.0 as usize).checked_sub(1)?)
    }

    fn fiber(&self, fiber: FiberId) -> Option<&FiberRecord> {
        self.fibers.get((fiber.0 as usize).checked_sub(1)?)
    }

    /// The label of an object, for words about it.
    pub fn object_label(&self, object: ObjectId) -> Rc<str> {
        match self.objects.get((object.0 as usize).wrapping_sub(1)) {
            Some(known) => known.label.clone(),
            None => format!("object#{}", object.0).into(),
        }
    }

    /// The name of a fiber, for words about it.
    pub fn fiber_name(&self, fiber: FiberId) -> Rc<str> {
        match self.fiber(fiber) {
            Some(record) => record.name.clone(),
            None => format!("fiber#{}", fiber.0).into(),
        }
    }

    /// Everything still open and waiting, as plain data.
    pub fn snapshot(&self, now: Duration) -> LivenessSnapshot {
        let describe_wait = |wait: &WaitRecord| Wait {
            object: self.object_label(wait.object).to_string(),
            object_kind: self
                .objects
                .get(wait.object.0 as usize - 1)
                .map_or("object", |o| o.kind),
            interruptible: wait.interruptible,
            since: wait.since,
        };
        let obligation = |(index, record): (usize, &ObligationRecord)| OpenObligation {
            id: index as u64 + 1,
            kind: record.kind,
            label: record.label.to_string(),
            fiber: record.fiber.0,
            fiber_name: self.fiber_name(record.fiber).to_string(),
            opened_at: record.opened_at,
        };
        let open_obligations = self
            .obligations
            .iter()
            .enumerate()
            .filter(|(_, record)| !record.closed)
            .map(obligation)
            .collect();
        let discharged_by_kill = self
            .obligations
            .iter()
            .enumerate()
            .filter(|(_, record)| record.discharged_by_kill)
            .map(obligation)
            .collect();
        let waiting_fibers = self
            .fibers
            .iter()
            .enumerate()
            .filter(|(_, record)| record.ended.is_none())
            .filter_map(|(index, record)| {
                let wait = record.wait.as_ref()?;
                let fiber_object_owner = |object: ObjectId| {
                    self.fibers
                        .iter()
                        .position(|f| f.object == object)
                        .map(|i| i as u64 + 1)
                };
                Some(WaitingFiber {
                    fiber: index as u64 + 1,
                    name: record.name.to_string(),
                    parent: record.parent.map(|p| p.0),
                    daemon: record.daemon,
                    waits_on: describe_wait(wait),
                    waits_on_fiber: fiber_object_owner(wait.object),
                    interrupt_requested_by: record.interrupt_requested_by.map(|f| f.0),
                })
            })
            .collect();
        let live_fibers = self
            .fibers
            .iter()
            .filter(|record| record.ended.is_none())
            .count();
        let ended_fibers = self
            .fibers
            .iter()
            .enumerate()
            .filter_map(|(index, record)| {
                let (exit, at) = record.ended?;
                Some(EndedFiber {
                    fiber: index as u64 + 1,
                    name: record.name.to_string(),
                    exit,
                    at,
                })
            })
            .collect();
        LivenessSnapshot {
            at: now,
            open_obligations,
            discharged_by_kill,
            waiting_fibers,
            live_fibers,
            ended_fibers,
        }
    }
}

/// What a fiber waits on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    /// The object's label, for example `promise:RemoveSubscription#7`.
    pub object: String,
    /// The object's kind: promise, queue, fiber, clock...
    pub object_kind: &'static str,
    /// Whether an interruption could end the wait.
    pub interruptible: bool,
    /// Since when (virtual time).
    pub since: Duration,
}

/// An obligation still open when the run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenObligation {
    pub id: u64,
    /// What kind of obligation: a request, a user call...
    pub kind: ObligationKind,
    pub label: String,
    /// The fiber that opened it, and its name.
    pub fiber: u64,
    pub fiber_name: String,
    pub opened_at: Duration,
}

/// A live fiber that was waiting when the run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitingFiber {
    pub fiber: u64,
    pub name: String,
    pub parent: Option<u64>,
    pub daemon: bool,
    pub waits_on: Wait,
    /// When it waits on another fiber (join, interrupt, race), that fiber's id.
    pub waits_on_fiber: Option<u64>,
    /// Who asked it to stop, if anybody did (a request still pending if it waits on).
    pub interrupt_requested_by: Option<u64>,
}

/// Everything still open at the end of a run.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LivenessSnapshot {
    /// Virtual time of the snapshot.
    pub at: Duration,
    pub open_obligations: Vec<OpenObligation>,
    /// Obligations that were open when the fiber that opened them was killed with its process:
    /// discharged, neither met nor a hang.
    pub discharged_by_kill: Vec<OpenObligation>,
    pub waiting_fibers: Vec<WaitingFiber>,
    /// Fibers that had not terminated.
    pub live_fibers: usize,
    /// Fibers that had terminated: how and when.
    pub ended_fibers: Vec<EndedFiber>,
}

/// A fiber that terminated during the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndedFiber {
    pub fiber: u64,
    pub name: String,
    pub exit: ExitKind,
    pub at: Duration,
}

impl LivenessSnapshot {
    /// Whether nothing is owed: no obligation open.
    pub fn all_obligations_met(&self) -> bool {
        self.open_obligations.is_empty()
    }

    /// The first fiber named `name` that terminated, if one did.
    pub fn ended_fiber(&self, name: &str) -> Option<&EndedFiber> {
        self.ended_fibers.iter().find(|ended| ended.name == name)
    }

    /// The waiting fiber with this id, if it was waiting.
    pub fn waiting_fiber(&self, fiber: u64) -> Option<&WaitingFiber> {
        self.waiting_fibers
            .iter()
            .find(|waiting| waiting.fiber == fiber)
    }

    /// The chain of waits starting at `fiber`: the fiber, the fiber it waits on, and so on, until
    /// a fiber waits on something that is not a fiber. Bounded by the number of fibers.
    pub fn wait_chain(&self, fiber: u64) -> Vec<&WaitingFiber> {
        let mut chain: Vec<&WaitingFiber> = Vec::new();
        let mut next = self.waiting_fiber(fiber);
        while let Some(waiting) = next {
            if chain.iter().any(|seen| seen.fiber == waiting.fiber)
                || chain.len() > self.waiting_fibers.len()
            {
                break;
            }
            chain.push(waiting);
            next = waiting.waits_on_fiber.and_then(|id| self.waiting_fiber(id));
        }
        chain
    }

    /// Plain words: each open obligation, and for its fiber the chain of waits down to the
    /// object nobody will signal.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for obligation in &self.open_obligations {
            let _ = writeln!(
                out,
                "- {} `{}` opened by fiber#{} ({}) at {} is still open",
                obligation.kind,
                obligation.label,
                obligation.fiber,
                obligation.fiber_name,
                format_virtual_time(obligation.opened_at),
            );
            for waiting in self.wait_chain(obligation.fiber) {
                let _ = writeln!(out, "    {}", describe_waiting(waiting));
            }
        }
        if self.open_obligations.is_empty() && !self.waiting_fibers.is_empty() {
            let _ = writeln!(out, "- no obligation open; fibers still waiting:");
            for waiting in &self.waiting_fibers {
                let _ = writeln!(out, "    {}", describe_waiting(waiting));
            }
        }
        out
    }
}

fn describe_waiting(waiting: &WaitingFiber) -> String {
    let region = if waiting.waits_on.interruptible {
        "interruptible"
    } else {
        "uninterruptible"
    };
    let mut line = format!(
        "fiber#{} ({}, {region}) waits on {} `{}` since {}",
        waiting.fiber,
        waiting.name,
        waiting.waits_on.object_kind,
        waiting.waits_on.object,
        format_virtual_time(waiting.waits_on.since),
    );
    if let Some(by) = waiting.interrupt_requested_by {
        if waiting.waits_on.interruptible {
            let _ = write!(line, "; interruption by fiber#{by} requested");
        } else {
            let _ = write!(
                line,
                "; interruption by fiber#{by} pending, not deliverable here"
            );
        }
    }
    line
}
