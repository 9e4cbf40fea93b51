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
    /// When no request is open: why the first stuck caller (or waiting fiber) is never woken,
    /// as far as the tracker can tell. Every hang report has a `why:` line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<Why>,
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

/// The read of the command queue that dequeued the command: the first read after the offer
/// (in the order of operations, not only of time) that took anything. The runloop takes up to
/// `command_chunk_limit` (1,024) commands at once, more than a queue ever holds here, so that
/// read took every command queued before it, this one too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextRead {
    pub at: VirtualTime,
    pub fiber: u64,
    pub how: QueueRead,
    /// How many commands it took: the chunk this command was dequeued in.
    #[serde(default)]
    pub took: u64,
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
    /// The read that dequeued the command; `None` if nothing took it.
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
    /// Dequeued by the runloop in a chunk whose handling ended the runloop before this command
    /// was handled.
    DequeuedNeverHandled {
        command: String,
        dequeued_at: VirtualTime,
        chunk: u64,
        runloop_ended_at: VirtualTime,
        /// The runloop's cause, when it crashed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<String>,
    },
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
    /// A hang without an open request: what the tracker knows of the first stuck caller's wait
    /// chain (its last object, who could complete it, and whether that one is alive).
    WaitChainEnds {
        /// The stuck obligation (or, with none open, the waiting fiber's name).
        caller: String,
        /// The last fiber of the chain and what it waits on.
        fiber: FiberRef,
        object_kind: String,
        object: String,
        since: VirtualTime,
        completer: Completer,
    },
}

/// Who could complete the object a wait chain ends on, as far as the tracker knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "completer", rename_all = "kebab-case")]
pub enum Completer {
    /// The runloop (the object is `runloop_done` or a command's reply): ended when, if it did.
    Runloop { ended_at: Option<VirtualTime> },
    /// A fiber (the object is that fiber): ended when, if it did.
    Fiber {
        fiber: FiberRef,
        ended_at: Option<VirtualTime>,
    },
    /// Nothing the run recorded says who would.
    Unknown,
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
            Why::DequeuedNeverHandled {
                command,
                dequeued_at,
                chunk,
                runloop_ended_at,
                cause,
            } => {
                write!(
                    f,
                    "{command} was dequeued at {dequeued_at} in a chunk of {chunk} command{}; the \
                     runloop ended at {runloop_ended_at} while handling that chunk",
                    if *chunk == 1 { "" } else { "s" }
                )?;
                if let Some(cause) = cause {
                    write!(f, " ({cause})")?;
                }
                write!(
                    f,
                    "; this command was never handled, and nothing else completes its promise"
                )
            }
            Why::OfferedAfterLastDrain {
                command,
                offered_at,
                runloop_ended_at,
                drained_at,
            } => {
                if offered_at == drained_at {
                    write!(
                        f,
                        "at one instant ({offered_at}): the runloop's last drain of command_queue, \
                         then {command} offered (the runloop ended at {runloop_ended_at})"
                    )?;
                } else {
                    write!(
                        f,
                        "{command} was offered at {offered_at}, after the runloop ended \
                         ({runloop_ended_at}) and after the last drain ({drained_at})"
                    )?;
                }
                write!(
                    f,
                    "; no live fiber takes from command_queue, so nothing will complete its promise"
                )
            }
            Why::OfferedAfterRunloopEnded {
                command,
                offered_at,
                runloop_ended_at,
            } => {
                if offered_at == runloop_ended_at {
                    write!(
                        f,
                        "{command} was offered at {offered_at}, the instant the runloop ended"
                    )?;
                } else {
                    write!(
                        f,
                        "{command} was offered at {offered_at}, after the runloop ended at \
                         {runloop_ended_at}"
                    )?;
                }
                write!(
                    f,
                    "; no live fiber takes from command_queue, so nothing will complete its promise"
                )
            }
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
            Why::WaitChainEnds {
                caller,
                fiber,
                object_kind,
                object,
                since,
                completer,
            } => {
                write!(
                    f,
                    "`{caller}` waits, through fiber#{} ({}), on {object_kind} `{object}` since \
                     {since}; ",
                    fiber.id, fiber.name
                )?;
                match completer {
                    Completer::Runloop {
                        ended_at: Some(at),
                    } => write!(f, "only the runloop completes it, and the runloop ended at {at}"),
                    Completer::Runloop { ended_at: None } => write!(
                        f,
                        "only the runloop completes it; the runloop had not ended and never did"
                    ),
                    Completer::Fiber {
                        fiber,
                        ended_at: Some(at),
                    } => write!(
                        f,
                        "that is fiber#{} ({}), which ended at {at}",
                        fiber.id, fiber.name
                    ),
                    Completer::Fiber {
                        fiber,
                        ended_at: None,
                    } => write!(
                        f,
                        "that is fiber#{} ({}), alive, and it never ended",
                        fiber.id, fiber.name
                    ),
                    Completer::Unknown => write!(
                        f,
                        "the run recorded nothing that would complete it, and nothing did"
                    ),
                }
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
        runloop: RunloopEnd<'_>,
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
        let requests: Vec<RequestHistory> = stuck
            .iter()
            .zip(&liveness.open_obligations)
            .filter(|(caller, _)| caller.kind == ObligationKind::Request)
            .map(|(caller, open)| queue.history_of(caller, open, runloop))
            .collect();
        let why = if requests.is_empty() {
            let first = stuck
                .iter()
                .find(|caller| !caller.waits.is_empty())
                .map(|caller| (caller.label.as_str(), caller.waits.last()))
                .or_else(|| {
                    waiting
                        .first()
                        .map(|wait| (wait.fiber.name.as_str(), Some(wait)))
                });
            first.and_then(|(caller, last)| {
                last.map(|last| wait_chain_why(caller, last, liveness, runloop))
            })
        } else {
            None
        };
        HangReport {
            stuck,
            waiting,
            requests,
            why,
        }
    }

    /// The `why:` lines: one per open request, or the one of the wait chain.
    pub fn whys(&self) -> impl Iterator<Item = &Why> {
        self.requests
            .iter()
            .map(|request| &request.why)
            .chain(self.why.as_ref())
    }
}

/// What the tracker knows of a wait chain's end: its last object and who could complete it.
fn wait_chain_why(
    caller: &str,
    last: &WaitStep,
    liveness: &LivenessSnapshot,
    runloop: RunloopEnd<'_>,
) -> Why {
    let is_runloops = last.object == consumer::internal::labels::RUNLOOP_DONE
        || last
            .object
            .starts_with(consumer::internal::labels::PROMISE_PREFIX)
            && last.object[consumer::internal::labels::PROMISE_PREFIX.len()..]
                .starts_with(|c: char| c.is_ascii_uppercase());
    let waited_fiber = liveness
        .waiting_fiber(last.fiber.id)
        .and_then(|waiting| waiting.waits_on_fiber);
    let completer = if let Some(id) = waited_fiber {
        let ended = liveness.ended_fibers.iter().find(|ended| ended.fiber == id);
        Completer::Fiber {
            fiber: FiberRef {
                id,
                name: ended
                    .map(|ended| ended.name.clone())
                    .unwrap_or_else(|| format!("fiber#{id}")),
            },
            ended_at: ended.map(|ended| VirtualTime(ended.at)),
        }
    } else if is_runloops {
        Completer::Runloop {
            ended_at: runloop.at,
        }
    } else {
        Completer::Unknown
    };
    Why::WaitChainEnds {
        caller: caller.to_string(),
        fiber: last.fiber.clone(),
        object_kind: last.object_kind.clone(),
        object: last.object.clone(),
        since: last.since,
        completer,
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

/// When the runloop ended, if it did, and its cause if it crashed: what a why needs of it.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunloopEnd<'a> {
    pub at: Option<VirtualTime>,
    pub cause: Option<&'a str>,
}

/// What happened on `command_queue`, read from the run's watched operations. Each offer and
/// read keeps its place in the order of operations: many happen at one virtual instant, and
/// "after" must mean after in that order.
struct CommandQueueOps<'a> {
    /// Accepted offers: place, time, fiber, the fiber's name.
    offers: Vec<(usize, VirtualTime, u64, &'a str)>,
    reads: Vec<(usize, NextRead)>,
    /// Drains, with their places.
    drains: Vec<(usize, Drain)>,
}

impl<'a> CommandQueueOps<'a> {
    fn of(watched: &'a [WatchedOp]) -> CommandQueueOps<'a> {
        let mut queue = CommandQueueOps {
            offers: Vec::new(),
            reads: Vec::new(),
            drains: Vec::new(),
        };
        for (place, op) in watched
            .iter()
            .enumerate()
            .filter(|(_, op)| op.object == COMMAND_QUEUE)
        {
            let at = VirtualTime(op.at);
            let read = match op.op {
                // An offer's detail is whether the queue accepted it.
                ops::OFFER if op.detail == 1 => {
                    queue
                        .offers
                        .push((place, at, op.fiber, op.fiber_name.as_str()));
                    None
                }
                ops::TAKE => Some(QueueRead::Take),
                ops::TAKE_ALL => Some(QueueRead::TakeAll),
                ops::CLOSE_AND_DRAIN => Some(QueueRead::CloseAndDrain),
                _ => None,
            };
            if let Some(how) = read {
                queue.reads.push((
                    place,
                    NextRead {
                        at,
                        fiber: op.fiber,
                        how,
                        took: op.detail,
                    },
                ));
                if how != QueueRead::Take {
                    queue.drains.push((
                        place,
                        Drain {
                            at,
                            fiber: op.fiber,
                            how,
                            took: op.detail,
                        },
                    ));
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
        runloop: RunloopEnd<'_>,
    ) -> RequestHistory {
        let offer = self.offers.iter().find(|(_, at, fiber, name)| {
            at.0 >= open.opened_at && (*fiber == open.fiber || name.contains(open.label.as_str()))
        });
        let offered = offer.map(|(_, at, fiber, _)| QueueOp {
            at: *at,
            fiber: *fiber,
        });
        // The read that dequeued it: the first after the offer, in operation order, that took
        // something (a read at the same instant but before the offer did not).
        let dequeue = offer.and_then(|(offer_place, ..)| {
            self.reads
                .iter()
                .find(|(place, read)| place > offer_place && read.took > 0)
        });
        let dequeued = dequeue.map(|(_, read)| read.clone());
        // Dequeued by the runloop's last take before it ended: the chunk it was handling.
        let in_last_chunk = |runloop_ended_at: VirtualTime| {
            dequeue.is_some_and(|(dequeue_place, read)| {
                read.how == QueueRead::Take
                    && read.at <= runloop_ended_at
                    && !self.reads.iter().any(|(place, later)| {
                        place > dequeue_place
                            && later.how == QueueRead::Take
                            && later.took > 0
                            && later.at <= runloop_ended_at
                    })
            })
        };
        let last_drain = self.drains.last();
        let waits_on = caller
            .waits
            .last()
            .map(|wait| wait.object.clone())
            .unwrap_or_default();
        let command = open.label.clone();
        let why = match (offered.as_ref(), last_drain, runloop.at) {
            _ if waits_on == consumer::internal::labels::RUNLOOP_DONE => {
                Why::RaceLoserWaitsOnRunloopDone { command }
            }
            (Some(_), _, Some(runloop_ended_at)) if in_last_chunk(runloop_ended_at) => {
                let read = dequeued.as_ref().expect("checked above");
                Why::DequeuedNeverHandled {
                    command,
                    dequeued_at: read.at,
                    chunk: read.took,
                    runloop_ended_at,
                    cause: runloop.cause.map(str::to_string),
                }
            }
            (Some(offered), Some((drain_place, drain)), Some(runloop_ended_at))
                if offer.is_some_and(|(place, ..)| place > drain_place) =>
            {
                Why::OfferedAfterLastDrain {
                    command,
                    offered_at: offered.at,
                    runloop_ended_at,
                    drained_at: drain.at,
                }
            }
            (Some(offered), _, Some(runloop_ended_at)) if offered.at >= runloop_ended_at => {
                Why::OfferedAfterRunloopEnded {
                    command,
                    offered_at: offered.at,
                    runloop_ended_at,
                }
            }
            (Some(offered), _, Some(runloop_ended_at)) => Why::OfferedWhileRunloopRan {
                command,
                offered_at: offered.at,
                runloop_ended_at,
            },
            (None, _, Some(runloop_ended_at)) if caller.opened_at >= runloop_ended_at => {
                Why::RequestedAfterRunloopEnded {
                    command,
                    requested_at: caller.opened_at,
                    runloop_ended_at,
                }
            }
            _ => Why::WaitsOnWhatNothingCompletes {
                command,
                waits_on: waits_on.clone(),
            },
        };
        RequestHistory {
            command: open.label.clone(),
            requested_at: caller.opened_at,
            requested_by: caller.fiber.clone(),
            offered,
            next_read: dequeued,
            drains: self.drains.iter().map(|(_, drain)| drain.clone()).collect(),
            why,
        }
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
        if let Some(why) = &self.why {
            writeln!(f, "why: {why}")?;
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
                        "  dequeued at {} by fiber#{} ({}, a chunk of {} command{})",
                        read.at,
                        read.fiber,
                        read.how.name(),
                        read.took,
                        if read.took == 1 { "" } else { "s" }
                    )?,
                    None => writeln!(
                        f,
                        "  never dequeued: nothing took from {COMMAND_QUEUE} after it was offered"
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
