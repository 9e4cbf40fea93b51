//! What the runtime layer reports: named objects, operations, waits, fibers and liveness
//! obligations. The simulated runtime folds these into its trace hash, its wait-for table and
//! its hang reports; a real runtime may ignore them.

use std::rc::Rc;

use super::{ExitKind, FiberId, ProcessId, Rt};

/// The id of a named object (promise, queue, fiber, timer...), unique within one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId(pub u64);

/// A named object: reports show its label, for example `promise:RemoveSubscription#7`.
#[derive(Clone, Debug)]
pub struct ObjectRef {
    pub id: ObjectId,
    pub kind: &'static str,
    pub label: Rc<str>,
}

/// What kind of thing an obligation is: every kind a run may leave open is named here, so that
/// reports and verdicts match on it instead of on text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObligationKind {
    /// A command offered to the runloop, awaiting its reply (`offer_and_await`).
    Request,
    /// A call the user made and that must return (`consume_with`, closing a scope).
    UserCall,
    /// A commit awaiting its callback.
    Commit,
}

impl ObligationKind {
    /// The kind in words, as reports print it and the trace hash folds it (so it must never
    /// change: fixtures pin trace hashes).
    pub fn name(self) -> &'static str {
        match self {
            ObligationKind::Request => "request",
            ObligationKind::UserCall => "user call",
            ObligationKind::Commit => "commit",
        }
    }
}

impl std::fmt::Display for ObligationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The id of a liveness obligation, unique within one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObligationId(pub u64);

/// One event of the runtime layer. Borrowed, so that reporting costs no allocation.
#[derive(Debug)]
pub enum Event<'a> {
    /// A named object came to be.
    ObjectCreated { object: &'a ObjectRef },
    /// A fiber was forked. `parent` is `None` for root and daemon fibers.
    FiberStarted {
        fiber: FiberId,
        parent: Option<FiberId>,
        name: &'a Rc<str>,
        object: ObjectId,
        interruptible: bool,
        daemon: bool,
    },
    /// A fiber terminated.
    FiberEnded { fiber: FiberId, exit: ExitKind },
    /// A fiber's task panicked; the fiber ends with a defect. In the simulation this is a
    /// finding about the system under test.
    FiberPanicked { fiber: FiberId, message: &'a str },
    /// `by` asked `fiber` to stop.
    InterruptRequested { fiber: FiberId, by: FiberId },
    /// `by` killed process `process` (named `name`): `fibers`, in id order, are never polled
    /// again and end as killed (a `FiberEnded` each follows); the obligations they opened are
    /// discharged, not met and not owed.
    ProcessKilled {
        process: ProcessId,
        name: &'a str,
        by: FiberId,
        fibers: &'a [FiberId],
    },
    /// An operation on an object (offer, take, succeed...). `detail` is op-specific.
    Op {
        fiber: FiberId,
        object: ObjectId,
        op: &'static str,
        detail: u64,
    },
    /// A fiber started waiting on an object; `interruptible` says whether an interruption can
    /// end the wait.
    Waiting {
        fiber: FiberId,
        object: ObjectId,
        interruptible: bool,
    },
    /// A fiber stopped waiting on an object (its wait completed or was interrupted).
    Resumed { fiber: FiberId, object: ObjectId },
    /// A liveness obligation was opened by `fiber`.
    ObligationOpened {
        obligation: ObligationId,
        fiber: FiberId,
        kind: ObligationKind,
        label: &'a str,
    },
    /// A liveness obligation was met.
    ObligationClosed { obligation: ObligationId },
    /// The workload did something a user would call progress (a record reached its handler, a
    /// commit completed): what tells a slow run from a hang ([`Rt::progress`]).
    Progress { fiber: FiberId, what: &'static str },
    /// Something a reader of a recorded trace needs in words (a Kafka call's result, which
    /// command was offered): made only when the runtime records ([`Rt::note`]), changes nothing.
    Note { fiber: FiberId, what: &'a str },
}

/// A liveness obligation: something a fiber must finish. It is met when closed or dropped
/// (a caller interrupted out of its wait has returned, so its obligation is met too).
pub struct Obligation {
    rt: Rt,
    id: ObligationId,
    open: bool,
}

impl Obligation {
    pub(crate) fn new(rt: Rt, id: ObligationId) -> Obligation {
        Obligation { rt, id, open: true }
    }

    /// This obligation's id.
    pub fn id(&self) -> ObligationId {
        self.id
    }

    /// Marks the obligation met.
    pub fn close(mut self) {
        self.close_once();
    }

    fn close_once(&mut self) {
        if self.open {
            self.open = false;
            self.rt.observe(&Event::ObligationClosed {
                obligation: self.id,
            });
        }
    }
}

impl Drop for Obligation {
    fn drop(&mut self) {
        self.close_once();
    }
}
