//! `consumer::rt`: the runtime the consumer core compiles against.
//!
//! The bugs hangsim hunts live in ZIO's concurrency semantics, so this layer reproduces them
//! rather than borrowing tokio's: interruption is a request delivered only at interruptible await
//! points, `race_first` waits for its loser, finalizers run uninterruptibly. Each primitive's doc
//! comment names the ZIO behaviour it follows.
//!
//! Where to start:
//! - [`Runtime`] is the port: spawn a task, sleep, read the clock, decide whether to yield at a
//!   scheduling point, draw randomness, observe events. `sim` implements it deterministically.
//! - [`Rt`] is the handle the consumer core holds. It owns fiber bookkeeping (which fiber is
//!   running, ids, object labels) on top of a [`Runtime`].
//! - [`fiber`]: [`Fiber`], [`Rt::fork`], [`Rt::fork_daemon`], [`Rt::uninterruptible`],
//!   [`Rt::interruptible`], and the interruption machinery.
//! - [`race`] holds [`Rt::race_first`].
//! - [`process`]: groups of fibers that die together ([`Rt::kill_process`]), the way an
//!   operating-system process does.
//! - [`promise`], [`queue`], [`hub`], [`reference`](mod@reference), [`scope`], [`schedule`]: the primitives.
//! - [`observe`]: the events every operation reports, and liveness obligations.
//!
//! Invariants:
//! - Every await of the consumer core on another fiber goes through this module, so the observer
//!   sees every wait and the simulated runtime can reorder fibers at every operation.
//! - Each operation is a scheduling point: it first passes a [`Rt::checkpoint`], where the runtime
//!   may switch to another fiber and where a pending interruption of an interruptible fiber is
//!   delivered (as ZIO checks for interruption between the steps of an interruptible fiber).
//! - Everything here is single-threaded (`Rc`, `Cell`): one run of the consumer is one thread.

pub mod cause;
pub mod fiber;
pub mod hub;
pub mod label;
pub mod observe;
pub mod process;
pub mod promise;
pub mod queue;
pub mod race;
pub mod reference;
pub mod schedule;
pub mod scope;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

pub use cause::{Cause, Exit, ExitKind, Interrupted};
pub use fiber::{Fiber, FiberId};
pub use hub::{Hub, HubSubscription};
pub use observe::{Event, ObjectId, ObjectRef, Obligation, ObligationId, ObligationKind};
pub use process::{Process, ProcessId};
pub use promise::Promise;
pub use queue::{Queue, QueueError};
pub use reference::Ref;
pub use schedule::Schedule;
pub use scope::Scope;

use fiber::FiberCore;

/// A boxed, single-threaded future: every fiber of one run lives on one thread.
pub type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T> + 'static>>;

/// The port the runtime layer is written against.
///
/// Contract, for implementors:
/// - `spawn_task` polls the future to completion on the current thread, one poll at a time
///   (no two tasks are polled at once), waking it through the `Waker` it was polled with.
/// - `sleep` completes after `duration` of the implementation's clock; `now` reads that clock
///   as the time since the runtime started.
/// - `should_yield` is asked at every scheduling point of `fiber`; answering `true` makes the
///   fiber give way once to other ready tasks. A real runtime answers `false`.
/// - `next_u64` is the only source of randomness the consumer core may use.
/// - `observe` receives every [`Event`]; it must not call back into the runtime.
pub trait Runtime {
    /// Starts a task for fiber `fiber`.
    fn spawn_task(&self, fiber: FiberId, name: &str, task: LocalBoxFuture<()>);
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> LocalBoxFuture<()>;
    /// A sleep of a periodic background loop that completes nothing (a metrics ticker): the
    /// simulation does not count it as something that could still unblock a stuck run.
    fn background_sleep(&self, duration: Duration) -> LocalBoxFuture<()> {
        self.sleep(duration)
    }
    /// Time since the runtime started.
    fn now(&self) -> Duration;
    /// Whether `fiber` should give way to other ready fibers at this scheduling point.
    fn should_yield(&self, fiber: FiberId) -> bool;
    /// The next seeded random number.
    fn next_u64(&self) -> u64;
    /// Receives every event of the runtime layer.
    fn observe(&self, event: &Event<'_>);
    /// Whether [`Event::Note`]s are wanted (a recorded run): they cost a `format!` each.
    fn records_notes(&self) -> bool {
        false
    }
    /// Takes the task of `fiber` out for good, unpolled, for [`Rt::kill_process`]: the runtime
    /// never polls it again and forgets its wake-ups. `None` when the task has ended, or when
    /// the runtime cannot (a real runtime, whose kills are refused before they are made).
    fn take_task(&self, _fiber: FiberId) -> Option<LocalBoxFuture<()>> {
        None
    }
}

/// The handle the consumer core holds: a [`Runtime`] plus fiber bookkeeping.
///
/// Cloning is cheap (an `Rc`). All clones share the same fibers and ids.
#[derive(Clone)]
pub struct Rt {
    core: Rc<RtCore>,
}

struct RtCore {
    runtime: Rc<dyn Runtime>,
    /// The fiber whose task is being polled right now, set by the fiber's task around each poll.
    current: RefCell<Option<Rc<FiberCore>>>,
    next_fiber: Cell<u64>,
    next_object: Cell<u64>,
    next_obligation: Cell<u64>,
    /// Fibers terminated so far: gives each terminating fiber its rank, so that a race knows
    /// which side finished first even when it looks after both have.
    fibers_ended: Cell<u64>,
    /// The object every `sleep` waits on.
    clock: RefCell<Option<ObjectRef>>,
    /// Every primitive made so far, for `release_all`.
    releasables: RefCell<Vec<Weak<dyn Releasable>>>,
    /// What a workload asked to run at `release_all` (see [`Rt::at_release`]).
    release_hooks: RefCell<Vec<Box<dyn FnOnce()>>>,
    /// The processes made so far (see [`process`]).
    processes: process::ProcessTable,
}

/// A primitive whose contents can be dropped when its run is over. A run that never finished
/// leaves reference cycles behind (a scope's finalizers capture what holds the scope; a queued
/// command holds a promise that the queue's owner holds...); `Rt::release_all` breaks them so
/// that a hanging run frees its memory like any other.
pub(crate) trait Releasable {
    fn release(&self);
}

impl Rt {
    /// Wraps a runtime implementation.
    pub fn new(runtime: Rc<dyn Runtime>) -> Rt {
        Rt {
            core: Rc::new(RtCore {
                runtime,
                current: RefCell::new(None),
                next_fiber: Cell::new(1),
                next_object: Cell::new(1),
                next_obligation: Cell::new(1),
                fibers_ended: Cell::new(0),
                clock: RefCell::new(None),
                releasables: RefCell::new(Vec::new()),
                release_hooks: RefCell::new(Vec::new()),
                processes: process::ProcessTable::default(),
            }),
        }
    }

    /// Time since the runtime started (virtual time in the simulation).
    pub fn now(&self) -> Duration {
        self.core.runtime.now()
    }

    /// The next seeded random number: the only randomness the consumer core may use.
    pub fn random_u64(&self) -> u64 {
        self.core.runtime.next_u64()
    }

    /// A uniformly drawn number below `bound` (which must be positive).
    pub fn random_below(&self, bound: u64) -> u64 {
        assert!(bound > 0, "random_below needs a positive bound");
        // Multiply-shift keeps the draw count at one per call, which keeps traces stable.
        ((self.random_u64() as u128 * bound as u128) >> 64) as u64
    }

    /// The id of the fiber running now. Panics outside a fiber: every operation of the runtime
    /// layer must run inside one, so that its waits can be attributed.
    pub fn current_fiber(&self) -> FiberId {
        self.current_core().id
    }

    pub(crate) fn current_core(&self) -> Rc<FiberCore> {
        self.core
            .current
            .borrow()
            .clone()
            .expect("consumer::rt operation used outside a fiber: spawn one with Rt::spawn_root")
    }

    pub(crate) fn try_current_core(&self) -> Option<Rc<FiberCore>> {
        self.core.current.borrow().clone()
    }

    pub(crate) fn enter(&self, fiber: Rc<FiberCore>) -> Option<Rc<FiberCore>> {
        self.core.current.replace(Some(fiber))
    }

    pub(crate) fn leave(&self, previous: Option<Rc<FiberCore>>) {
        *self.core.current.borrow_mut() = previous;
    }

    pub(crate) fn processes(&self) -> &process::ProcessTable {
        &self.core.processes
    }

    pub(crate) fn runtime(&self) -> &dyn Runtime {
        &*self.core.runtime
    }

    pub(crate) fn next_end_rank(&self) -> u64 {
        let rank = self.core.fibers_ended.get() + 1;
        self.core.fibers_ended.set(rank);
        rank
    }

    pub(crate) fn next_fiber_id(&self) -> FiberId {
        let id = self.core.next_fiber.get();
        self.core.next_fiber.set(id + 1);
        FiberId(id)
    }

    /// Runs `release` at [`Rt::release_all`], before the primitives are released: a workload
    /// whose own state forms reference cycles (a consumer held by a table that its diagnostics
    /// listener holds, for example) clears that state there, so that a run that never finished
    /// frees its memory. The hook is dropped after it ran, with what it captured.
    pub fn at_release(&self, release: impl FnOnce() + 'static) {
        self.core.release_hooks.borrow_mut().push(Box::new(release));
    }

    pub(crate) fn register(&self, primitive: Weak<dyn Releasable>) {
        self.core.releasables.borrow_mut().push(primitive);
    }

    /// Drops the contents of every primitive of this runtime still alive (queued elements,
    /// scopes' finalizers, promises' values and waiters, hubs' subscribers), breaking the
    /// reference cycles a run that never finished leaves. Call it only when no fiber of the run
    /// will be polled again: the simulated runtime does, when a run ends.
    pub fn release_all(&self) {
        let hooks = std::mem::take(&mut *self.core.release_hooks.borrow_mut());
        for hook in hooks {
            hook();
        }
        let releasables = std::mem::take(&mut *self.core.releasables.borrow_mut());
        for primitive in releasables.iter().filter_map(Weak::upgrade) {
            primitive.release();
        }
        self.core.current.borrow_mut().take();
    }

    /// Registers a named object (a promise, a queue, a fiber...) with the observer. The label
    /// is what reports show, for example `command_queue` or `promise:RemoveSubscription#7`.
    pub fn object(&self, kind: &'static str, label: impl Into<Rc<str>>) -> ObjectRef {
        let id = ObjectId(self.core.next_object.get());
        self.core.next_object.set(id.0 + 1);
        let object = ObjectRef {
            id,
            kind,
            label: label.into(),
        };
        self.observe(&Event::ObjectCreated { object: &object });
        object
    }

    /// Opens a liveness obligation held by the current fiber: something that must finish (a
    /// request awaiting its reply, a user-facing call). It closes when the guard is closed or
    /// dropped; one still open at the end of a run is a hang.
    pub fn obligation(&self, kind: ObligationKind, label: impl Into<Rc<str>>) -> Obligation {
        let id = ObligationId(self.core.next_obligation.get());
        self.core.next_obligation.set(id.0 + 1);
        let label = label.into();
        let fiber = self.current_fiber();
        self.observe(&Event::ObligationOpened {
            obligation: id,
            fiber,
            kind,
            label: &label,
        });
        Obligation::new(self.clone(), id)
    }

    pub(crate) fn observe(&self, event: &Event<'_>) {
        self.core.runtime.observe(event)
    }

    /// Reports an operation `op` on `object` by the current fiber; `detail` is op-specific (for
    /// example whether a promise completion won).
    pub(crate) fn observe_op(&self, object: &ObjectRef, op: &'static str, detail: u64) {
        let fiber = self.current_fiber();
        self.observe(&Event::Op {
            fiber,
            object: object.id,
            op,
            detail,
        });
    }

    /// A scheduling point: the runtime may switch to another ready fiber here, and a pending
    /// interruption of an interruptible fiber is delivered here.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            rt: self.clone(),
            yielded: false,
        }
    }

    /// Sleeps for `duration`; an interruptible await point.
    pub async fn sleep(&self, duration: Duration) -> Result<(), Interrupted> {
        self.checkpoint().await?;
        let clock = self.clock();
        let mut sleeping = self.core.runtime.sleep(duration);
        fiber::Blocking::new(self, &clock, move |cx, _| sleeping.as_mut().poll(cx)).await
    }

    /// Sleeps for `duration` as a periodic background loop that completes nothing (zio-kafka's
    /// runloop metrics): an interruptible await point like [`Rt::sleep`], but the simulation
    /// knows that such a tick cannot unblock anybody, so a run where nothing else can ever run
    /// is stuck even while the loop ticks on. Use it only for loops that answer nobody.
    pub async fn background_sleep(&self, duration: Duration) -> Result<(), Interrupted> {
        self.checkpoint().await?;
        let clock = self.clock();
        let mut sleeping = self.core.runtime.background_sleep(duration);
        fiber::Blocking::new(self, &clock, move |cx, _| sleeping.as_mut().poll(cx)).await
    }

    /// Marks progress of the workload: a record reached its handler, a commit completed. What
    /// tells a slow run from a hang (a hang is a whole quiet window without progress); costs one
    /// event, no allocation. `what` says what happened, in a few words.
    pub fn progress(&self, what: &'static str) {
        if let Some(fiber) = self.try_current_core() {
            self.observe(&Event::Progress {
                fiber: fiber.id,
                what,
            });
        }
    }

    /// Whether notes are wanted: a caller that must prepare a note's words before a call
    /// (which consumes what they describe) asks first.
    pub fn records_notes(&self) -> bool {
        self.core.runtime.records_notes()
    }

    /// Adds a line in words to a recorded trace (a Kafka call's result, which command was
    /// offered), by the current fiber. `what` is called only when the runtime records, so an
    /// unrecorded run pays one check; nothing else sees a note.
    pub fn note(&self, what: impl FnOnce() -> String) {
        if !self.core.runtime.records_notes() {
            return;
        }
        if let Some(fiber) = self.try_current_core() {
            let text = what();
            self.observe(&Event::Note {
                fiber: fiber.id,
                what: &text,
            });
        }
    }

    fn clock(&self) -> ObjectRef {
        if let Some(clock) = self.core.clock.borrow().as_ref() {
            return clock.clone();
        }
        let clock = self.object("clock", "clock");
        *self.core.clock.borrow_mut() = Some(clock.clone());
        clock
    }

    /// Gives way to other ready fibers once if the runtime so decides (always a checkpoint).
    pub async fn yield_now(&self) -> Result<(), Interrupted> {
        self.checkpoint().await
    }
}

/// The future of [`Rt::checkpoint`].
pub struct Checkpoint {
    rt: Rt,
    yielded: bool,
}

impl Future for Checkpoint {
    type Output = Result<(), Interrupted>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fiber = self.rt.current_core();
        if let Some(interrupted) = fiber.deliverable_interrupt() {
            return Poll::Ready(Err(interrupted));
        }
        if !self.yielded && self.rt.runtime().should_yield(fiber.id) {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }
}
