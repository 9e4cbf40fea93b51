//! The hang report: each stuck caller with its chain of waits, and for each stuck request the
//! command's history on the command queue (offered when and by whom, read or not, the drains)
//! and one line of why nobody will answer.
//!
//! The history comes from the operations on `command_queue` that every run keeps
//! ([`sim::RunConfig::watching`]), not from a recorded trace: a search's findings get the whole
//! report at the cost of a few pushes per run.

use std::fmt;

use consumer::internal::labels::COMMAND_QUEUE;
use consumer::rt::queue::ops;
use consumer::rt::ObligationKind;
use serde::{Deserialize, Serialize};
use sim::liveness::{LivenessSnapshot, OpenObligation, WaitingFiber};
use sim::WatchedOp;

use super::VirtualTime;

/// Who is stuck, on what, and why nobody will answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HangReport {
    /// Every obligation still open, with the chain of waits of the fiber that holds it.
    pub stuck: Vec<StuckCaller>,
    /// When no obligation is open: the fibers still waiting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<WaitStep>,
    /// Every open request: its command's history and why it is never answered.
    pub requests: Vec<RequestHistory>,
}

/// A fiber, by id and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiberRef {
    pub id: u64,
    pub name: String,
}

/// An obligation still open at the end of the run, and what its fiber waits on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StuckCaller {
    #[serde(with = "crate::serde_as::obligation_kind")]
    pub kind: ObligationKind,
    /// The obligation's label: the command's name for a request (`RemoveSubscription#3`).
    pub label: String,
    pub fiber: FiberRef,
    pub opened_at: VirtualTime,
    /// The fiber's wait, then the wait of the fiber it waits on, and so on, down to an object
    /// that is not a fiber.
    pub waits: Vec<WaitStep>,
}

/// One fiber's wait.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitStep {
    pub fiber: FiberRef,
    /// Whether an interruption could end the wait.
    pub interruptible: bool,
    /// What it waits on: the object's kind (promise, queue, fiber...) and label.
    pub object_kind: String,
    pub object: String,
    pub since: VirtualTime,
    /// Who asked this fiber to stop, if anybody did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupt_requested_by: Option<u64>,
}

/// How a fiber read the command queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueRead {
    Take,
    TakeAll,
    CloseAndDrain,
}

impl QueueRead {
    fn name(self) -> &'static str {
        match self {
            QueueRead::Take => "take",
            QueueRead::TakeAll => "take_all",
            QueueRead::CloseAndDrain => "close_and_drain",
        }
    }
}

/// One operation on the command queue: when, by which fiber.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueOp {
    pub at: VirtualTime,
    pub fiber: u64,
}

/// The first read of the command queue after the command was offered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextRead {
    pub at: VirtualTime,
    pub fiber: u64,
    pub how: QueueRead,
}

/// A read that emptied the command queue (`take_all`, `close_and_drain`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drain {
    pub at: VirtualTime,
    pub fiber: u64,
    pub how: QueueRead,
    /// How many commands it took.
    pub took: u64,
}

/// A stuck request's command, on the command queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestHistory {
    /// The command's name (`RemoveSubscription#3`).
    pub command: String,
    pub requested_at: VirtualTime,
    pub requested_by: FiberRef,
    /// When and by whom the command was offered to the queue; `None` if it never was.
    pub offered: Option<QueueOp>,
    /// The first read of the queue after the offer; `None` if nothing read it again.
    pub next_read: Option<NextRead>,
    /// Every drain of the queue in the run.
    pub drains: Vec<Drain>,
    pub why: Why,
}

/// Why nobody will ever answer a request: one line, as data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "because", rename_all = "kebab-case")]
pub enum Why {
    /// The caller races uninterruptibly, and the race's loser waits on `runloop_done`, which
    /// only the end of the runloop completes, which waits for this caller.
    RaceLoserWaitsOnRunloopDone { command: String },
    /// Offered after the runloop ended and after its last drain.
    OfferedAfterLastDrain {
        command: String,
        offered_at: VirtualTime,
        runloop_ended_at: VirtualTime,
        drained_at: VirtualTime,
    },
    /// Offered after the runloop ended (and no drain after it).
    OfferedAfterRunloopEnded {
        command: String,
        offered_at: VirtualTime,
        runloop_ended_at: VirtualTime,
    },
    /// Offered while the runloop ran, which ended without answering it.
    OfferedWhileRunloopRan {
        command: String,
        offered_at: VirtualTime,
        runloop_ended_at: VirtualTime,
    },
    /// Requested (never offered) after the runloop ended.
    RequestedAfterRunloopEnded {
        command: String,
        requested_at: VirtualTime,
        runloop_ended_at: VirtualTime,
    },
    /// Anything else: the caller waits on an object nothing will complete.
    WaitsOnWhatNothingCompletes { command: String, waits_on: String },
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::RaceLoserWaitsOnRunloopDone { command } => write!(
                f,
                "{command}'s caller races uninterruptibly and its race's loser waits on runloop_done, which \
                 completes only when the runloop stops; the runloop is stopped by the consumer scope, \
                 which closes only after this caller returns"
            ),
            Why::OfferedAfterLastDrain {
                command,
                offered_at,
                runloop_ended_at,
                drained_at,
            } => write!(
                f,
                "{command} was offered at {offered_at}, after the runloop ended ({runloop_ended_at}) and after \
                 the last drain ({drained_at}); no live fiber takes from command_queue, so nothing will \
                 complete its promise"
            ),
            Why::OfferedAfterRunloopEnded {
                command,
                offered_at,
                runloop_ended_at,
            } => write!(
                f,
                "{command} was offered at {offered_at}, after the runloop ended at {runloop_ended_at}; no live \
                 fiber takes from command_queue, so nothing will complete its promise"
            ),
            Why::OfferedWhileRunloopRan {
                command,
                offered_at,
                runloop_ended_at,
            } => write!(
                f,
                "{command} was offered at {offered_at} while the runloop ran; the runloop ended at \
                 {runloop_ended_at} without answering it, and nothing else completes its promise"
            ),
            Why::RequestedAfterRunloopEnded {
                command,
                requested_at,
                runloop_ended_at,
            } => write!(
                f,
                "{command} was requested at {requested_at}, after the runloop ended at {runloop_ended_at}; \
                 nothing will complete its promise"
            ),
            Why::WaitsOnWhatNothingCompletes { command, waits_on } => {
                write!(f, "{command} waits on `{waits_on}`, which nothing will complete")
            }
        }
    }
}

impl HangReport {
    /// The hang report of a run: its liveness snapshot, the operations on its command queue,
    /// and when the runloop ended (if it did).
    pub fn of(
        liveness: &LivenessSnapshot,
        watched: &[WatchedOp],
        runloop_ended_at: Option<VirtualTime>,
    ) -> HangReport {
        let stuck: Vec<StuckCaller> = liveness
            .open_obligations
            .iter()
            .map(|open| StuckCaller {
                kind: open.kind,
                label: open.label.clone(),
                fiber: FiberRef {
                    id: open.fiber,
                    name: open.fiber_name.clone(),
                },
                opened_at: VirtualTime(open.opened_at),
                waits: liveness
                    .wait_chain(open.fiber)
                    .into_iter()
                    .map(WaitStep::of)
                    .collect(),
            })
            .collect();
        let waiting = if stuck.is_empty() {
            liveness.waiting_fibers.iter().map(WaitStep::of).collect()
        } else {
            Vec::new()
        };
        let queue = CommandQueueOps::of(watched);
        let requests = stuck
            .iter()
            .zip(&liveness.open_obligations)
            .filter(|(caller, _)| caller.kind == ObligationKind::Request)
            .map(|(caller, open)| queue.history_of(caller, open, runloop_ended_at))
            .collect();
        HangReport {
            stuck,
            waiting,
            requests,
        }
    }
}

impl WaitStep {
    fn of(waiting: &WaitingFiber) -> WaitStep {
        WaitStep {
            fiber: FiberRef {
                id: waiting.fiber,
                name: waiting.name.clone(),
            },
            interruptible: waiting.waits_on.interruptible,
            object_kind: waiting.waits_on.object_kind.to_string(),
            object: waiting.waits_on.object.clone(),
            since: VirtualTime(waiting.waits_on.since),
            interrupt_requested_by: waiting.interrupt_requested_by,
        }
    }
}

/// What happened on `command_queue`, read from the run's watched operations.
struct CommandQueueOps<'a> {
    /// Accepted offers: time, fiber, the fiber's name.
    offers: Vec<(VirtualTime, u64, &'a str)>,
    reads: Vec<NextRead>,
    drains: Vec<Drain>,
}

impl<'a> CommandQueueOps<'a> {
    fn of(watched: &'a [WatchedOp]) -> CommandQueueOps<'a> {
        let mut queue = CommandQueueOps {
            offers: Vec::new(),
            reads: Vec::new(),
            drains: Vec::new(),
        };
        for op in watched.iter().filter(|op| op.object == COMMAND_QUEUE) {
            let at = VirtualTime(op.at);
            let read = match op.op {
                // An offer's detail is whether the queue accepted it.
                ops::OFFER if op.detail == 1 => {
                    queue.offers.push((at, op.fiber, op.fiber_name.as_str()));
                    None
                }
                ops::TAKE => Some(QueueRead::Take),
                ops::TAKE_ALL => Some(QueueRead::TakeAll),
                ops::CLOSE_AND_DRAIN => Some(QueueRead::CloseAndDrain),
                _ => None,
            };
            if let Some(how) = read {
                queue.reads.push(NextRead {
                    at,
                    fiber: op.fiber,
                    how,
                });
                if how != QueueRead::Take {
                    queue.drains.push(Drain {
                        at,
                        fiber: op.fiber,
                        how,
                        took: op.detail,
                    });
                }
            }
        }
        queue
    }

    /// The history of a stuck request: its offer is the first accepted offer after it was
    /// opened, by its own fiber or by a fiber named after its command (a race's side).
    fn history_of(
        &self,
        caller: &StuckCaller,
        open: &OpenObligation,
        runloop_ended_at: Option<VirtualTime>,
    ) -> RequestHistory {
        let offered = self
            .offers
            .iter()
            .find(|(at, fiber, name)| {
                at.0 >= open.opened_at
                    && (*fiber == open.fiber || name.contains(open.label.as_str()))
            })
            .map(|(at, fiber, _)| QueueOp {
                at: *at,
                fiber: *fiber,
            });
        let next_read = offered
            .as_ref()
            .and_then(|offer| self.reads.iter().find(|read| read.at >= offer.at).cloned());
        let waits_on = caller
            .waits
            .last()
            .map(|wait| wait.object.clone())
            .unwrap_or_default();
        let why = why(
            &open.label,
            &waits_on,
            caller.opened_at,
            offered.as_ref().map(|offer| offer.at),
            runloop_ended_at,
            self.drains.last().map(|drain| drain.at),
        );
        RequestHistory {
            command: open.label.clone(),
            requested_at: caller.opened_at,
            requested_by: caller.fiber.clone(),
            offered,
            next_read,
            drains: self.drains.clone(),
            why,
        }
    }
}

fn why(
    command: &str,
    waits_on: &str,
    requested_at: VirtualTime,
    offered_at: Option<VirtualTime>,
    runloop_ended_at: Option<VirtualTime>,
    last_drain: Option<VirtualTime>,
) -> Why {
    let command = command.to_string();
    if waits_on == consumer::internal::labels::RUNLOOP_DONE {
        return Why::RaceLoserWaitsOnRunloopDone { command };
    }
    match (offered_at, runloop_ended_at, last_drain) {
        (Some(offered_at), Some(runloop_ended_at), Some(drained_at))
            if offered_at >= drained_at =>
        {
            Why::OfferedAfterLastDrain {
                command,
                offered_at,
                runloop_ended_at,
                drained_at,
            }
        }
        (Some(offered_at), Some(runloop_ended_at), _) if offered_at >= runloop_ended_at => {
            Why::OfferedAfterRunloopEnded {
                command,
                offered_at,
                runloop_ended_at,
            }
        }
        (Some(offered_at), Some(runloop_ended_at), _) => Why::OfferedWhileRunloopRan {
            command,
            offered_at,
            runloop_ended_at,
        },
        (None, Some(runloop_ended_at), _) if requested_at >= runloop_ended_at => {
            Why::RequestedAfterRunloopEnded {
                command,
                requested_at,
                runloop_ended_at,
            }
        }
        _ => Why::WaitsOnWhatNothingCompletes {
            command,
            waits_on: waits_on.to_string(),
        },
    }
}

impl fmt::Display for WaitStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let region = if self.interruptible {
            "interruptible"
        } else {
            "uninterruptible"
        };
        write!(
            f,
            "fiber#{} ({}, {region}) waits on {} `{}` since {}",
            self.fiber.id, self.fiber.name, self.object_kind, self.object, self.since
        )?;
        match (self.interrupt_requested_by, self.interruptible) {
            (Some(by), true) => write!(f, "; interruption by fiber#{by} requested"),
            (Some(by), false) => write!(
                f,
                "; interruption by fiber#{by} pending, not deliverable here"
            ),
            (None, _) => Ok(()),
        }
    }
}

impl fmt::Display for HangReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "stuck:")?;
        for caller in &self.stuck {
            writeln!(
                f,
                "- {} `{}` opened by fiber#{} ({}) at {} is still open",
                caller.kind, caller.label, caller.fiber.id, caller.fiber.name, caller.opened_at
            )?;
            for wait in &caller.waits {
                writeln!(f, "    {wait}")?;
            }
        }
        if self.stuck.is_empty() && !self.waiting.is_empty() {
            writeln!(f, "- no obligation open; fibers still waiting:")?;
            for wait in &self.waiting {
                writeln!(f, "    {wait}")?;
            }
        }
        for request in &self.requests {
            write!(f, "{request}")?;
        }
        Ok(())
    }
}

impl fmt::Display for RequestHistory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "history of `{}`:", self.command)?;
        writeln!(
            f,
            "  requested at {} by fiber#{} ({})",
            self.requested_at, self.requested_by.id, self.requested_by.name
        )?;
        match &self.offered {
            Some(offer) => {
                writeln!(
                    f,
                    "  offered to {COMMAND_QUEUE} at {} by fiber#{}",
                    offer.at, offer.fiber
                )?;
                match &self.next_read {
                    Some(read) => writeln!(
                        f,
                        "  the queue was next read at {} by fiber#{} ({})",
                        read.at,
                        read.fiber,
                        read.how.name()
                    )?,
                    None => writeln!(
                        f,
                        "  never dequeued: nothing read {COMMAND_QUEUE} after it was offered"
                    )?,
                }
            }
            None => writeln!(f, "  never offered to {COMMAND_QUEUE}")?,
        }
        for drain in &self.drains {
            writeln!(
                f,
                "  drain: {} of {COMMAND_QUEUE} at {} by fiber#{} took {}",
                drain.how.name(),
                drain.at,
                drain.fiber,
                drain.took
            )?;
        }
        writeln!(f, "why: {}", self.why)
    }
}
