//! Fibers with ZIO's interruption semantics.
//!
//! A fiber is a task with a name, an interruptibility status and a parent. Following ZIO 2's
//! `FiberRuntime`:
//! - a forked fiber inherits its parent's interruptibility *at the fork*;
//! - `interrupt` is a request: it is delivered only at an interruptible await point (every
//!   operation of this module is one) of a fiber whose current region is interruptible, and it
//!   stays pending while the fiber runs uninterruptibly;
//! - a request is passed on at once to the fiber's children, whatever the fiber's own region
//!   (`processNewInterruptSignal`), and a child forked by a fiber being interrupted is told to
//!   stop at once (`addChild`);
//! - interruption is sticky: once delivered, every later interruptible await point of the fiber
//!   is interrupted again, so code cannot carry on as if nothing happened (ZIO marks the fiber as
//!   interrupting); uninterruptible regions (finalizers) still run to completion;
//! - when a fiber's effect is done, it interrupts its children (forked, not daemon) that are still
//!   running and waits for them to terminate before it terminates itself (ZIO 2's
//!   auto-supervision: `interruptAllChildren` then `await`);
//! - `fork_daemon` forks in the global scope: the fiber has no parent and is never interrupted
//!   because its forker ended;
//! - a panic of the fiber's task is caught at the fiber's boundary and ends the fiber with a defect
//!   (`Cause::Die`), as ZIO turns a thrown exception into a defect.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::observe::{Event, ObjectRef};
use super::process::ProcessId;
use super::{label, Cause, Exit, ExitKind, Interrupted, LocalBoxFuture, Rt};

/// A fiber's id, unique within one run; ids are given in fork order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FiberId(pub u64);

impl fmt::Display for FiberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fiber#{}", self.0)
    }
}

/// The untyped part of a fiber, shared by its task, its handles, its parent and the runtime.
pub(crate) struct FiberCore {
    pub(crate) id: FiberId,
    pub(crate) name: Rc<str>,
    /// The object that stands for this fiber in waits on it (join, interrupt, race).
    pub(crate) object: ObjectRef,
    /// Whether the region the fiber is in now is interruptible.
    interruptible: Cell<bool>,
    /// Who asked this fiber to stop, once somebody has.
    interrupt_by: Cell<Option<FiberId>>,
    /// The waker of the fiber's task, to wake it when an interruption arrives.
    task_waker: RefCell<Option<Waker>>,
    done: Cell<bool>,
    /// The order in which this fiber terminated among all fibers of the run (1 for the first).
    end_rank: Cell<u64>,
    exit_kind: Cell<Option<ExitKind>>,
    /// Fibers waiting for this one to terminate.
    exit_waiters: WaiterList,
    /// Forked (non-daemon) children that may still be running.
    children: RefCell<Vec<Rc<FiberCore>>>,
    /// The process the fiber belongs to now, if any (see [`process`](super::process)):
    /// inherited at fork, changed only for the length of an [`Rt::in_process`] region.
    pub(crate) process: Cell<Option<ProcessId>>,
    /// Who killed the fiber's process, once somebody has: the fiber is done then, without an
    /// exit of its own.
    pub(crate) killed_by: Cell<Option<FiberId>>,
}

impl FiberCore {
    /// The interruption to deliver at an await point now, if any: one was requested and the
    /// current region is interruptible.
    pub(crate) fn deliverable_interrupt(&self) -> Option<Interrupted> {
        if self.interruptible.get() {
            self.interrupt_by.get().map(|by| Interrupted { by })
        } else {
            None
        }
    }

    pub(crate) fn is_interruptible(&self) -> bool {
        self.interruptible.get()
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.get()
    }

    /// Ends the fiber as killed by `by` (its process died): done, with no exit of its own and
    /// no children to wait for. Its task must already be out of the runtime; the fibers that
    /// wait for its end are woken by [`FiberCore::wake_exit_waiters`].
    pub(crate) fn mark_killed(&self, rt: &Rt, by: FiberId) {
        self.killed_by.set(Some(by));
        self.exit_kind.set(Some(ExitKind::Killed));
        self.done.set(true);
        self.end_rank.set(rt.next_end_rank());
        self.children.borrow_mut().clear();
        self.task_waker.borrow_mut().take();
    }

    /// Wakes every fiber waiting for this one to end.
    pub(crate) fn wake_exit_waiters(&self) {
        self.exit_waiters.wake_all();
    }

    /// Records an interruption request, passes it on to the children (ZIO 2's
    /// `processNewInterruptSignal` signals every child at once, whatever the parent's region),
    /// and wakes the fiber so that it reaches an await point.
    fn request_interrupt(&self, rt: &Rt, by: FiberId) {
        if self.done.get() {
            return;
        }
        if self.interrupt_by.get().is_none() {
            self.interrupt_by.set(Some(by));
        }
        rt.observe(&Event::InterruptRequested { fiber: self.id, by });
        let children = self.children.borrow().clone();
        for child in children.iter().filter(|child| !child.is_done()) {
            child.request_interrupt(rt, by);
        }
        if let Some(waker) = self.task_waker.borrow().as_ref() {
            waker.wake_by_ref();
        }
    }
}

/// Wakers of the fibers waiting on one object, one entry per fiber.
#[derive(Default)]
pub(crate) struct WaiterList {
    waiters: RefCell<Vec<(FiberId, Waker)>>,
}

impl WaiterList {
    /// Registers `fiber` as waiting, replacing its earlier waker.
    pub(crate) fn register(&self, fiber: FiberId, waker: &Waker) {
        let mut waiters = self.waiters.borrow_mut();
        match waiters.iter_mut().find(|(id, _)| *id == fiber) {
            Some((_, known)) => known.clone_from(waker),
            None => waiters.push((fiber, waker.clone())),
        }
    }

    /// Forgets `fiber` (its wait ended).
    pub(crate) fn remove(&self, fiber: FiberId) {
        self.waiters.borrow_mut().retain(|(id, _)| *id != fiber);
    }

    /// Forgets every waiter without waking it.
    pub(crate) fn clear(&self) {
        self.waiters.borrow_mut().clear();
    }

    /// Wakes every waiter, in the order they started waiting, and forgets them.
    pub(crate) fn wake_all(&self) {
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for (_, waker) in waiters {
            waker.wake();
        }
    }
}

/// A blocking wait of the current fiber: an interruptible await point that reports `Waiting`
/// and `Resumed` on `object` to the observer.
///
/// `poll_ready` is called with the context and the waiting fiber's id; it must register the
/// waker wherever the awaited thing will be signalled.
pub(crate) struct Blocking<'a, T, F>
where
    F: FnMut(&mut Context<'_>, FiberId) -> Poll<T>,
{
    rt: &'a Rt,
    object: &'a ObjectRef,
    poll_ready: F,
    waiting: bool,
    on_abandon: Option<&'a WaiterList>,
}

impl<'a, T, F> Blocking<'a, T, F>
where
    F: FnMut(&mut Context<'_>, FiberId) -> Poll<T>,
{
    pub(crate) fn new(rt: &'a Rt, object: &'a ObjectRef, poll_ready: F) -> Self {
        Blocking {
            rt,
            object,
            poll_ready,
            waiting: false,
            on_abandon: None,
        }
    }

    /// Removes the fiber from `waiters` when the wait is interrupted or dropped.
    pub(crate) fn deregister_from(mut self, waiters: &'a WaiterList) -> Self {
        self.on_abandon = Some(waiters);
        self
    }

    fn resume(&mut self, fiber: FiberId) {
        if self.waiting {
            self.waiting = false;
            self.rt.observe(&Event::Resumed {
                fiber,
                object: self.object.id,
            });
        }
    }
}

impl<T, F> Future for Blocking<'_, T, F>
where
    F: FnMut(&mut Context<'_>, FiberId) -> Poll<T> + Unpin,
{
    type Output = Result<T, Interrupted>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let fiber = this.rt.current_core();
        if let Some(interrupted) = fiber.deliverable_interrupt() {
            if let Some(waiters) = this.on_abandon {
                waiters.remove(fiber.id);
            }
            this.resume(fiber.id);
            return Poll::Ready(Err(interrupted));
        }
        match (this.poll_ready)(cx, fiber.id) {
            Poll::Ready(value) => {
                this.resume(fiber.id);
                Poll::Ready(Ok(value))
            }
            Poll::Pending => {
                if !this.waiting {
                    this.waiting = true;
                    this.rt.observe(&Event::Waiting {
                        fiber: fiber.id,
                        object: this.object.id,
                        interruptible: fiber.is_interruptible(),
                    });
                }
                Poll::Pending
            }
        }
    }
}

impl<T, F> Drop for Blocking<'_, T, F>
where
    F: FnMut(&mut Context<'_>, FiberId) -> Poll<T>,
{
    fn drop(&mut self) {
        if let (true, Some(waiters)) = (self.waiting, self.on_abandon) {
            if let Some(fiber) = self.rt.try_current_core() {
                waiters.remove(fiber.id);
            }
        }
    }
}

/// A handle on a running fiber, typed by its result (ZIO `Fiber[E, A]`).
pub struct Fiber<A, E> {
    shared: Rc<FiberShared<A, E>>,
    rt: Rt,
}

impl<A, E> Clone for Fiber<A, E> {
    fn clone(&self) -> Self {
        Fiber {
            shared: self.shared.clone(),
            rt: self.rt.clone(),
        }
    }
}

struct FiberShared<A, E> {
    core: Rc<FiberCore>,
    exit: RefCell<Option<Exit<A, E>>>,
}

impl<A: Clone, E: Clone> Fiber<A, E> {
    /// This fiber's id.
    pub fn id(&self) -> FiberId {
        self.shared.core.id
    }

    /// This fiber's name.
    pub fn name(&self) -> &str {
        &self.shared.core.name
    }

    /// Whether the fiber has terminated.
    pub fn is_done(&self) -> bool {
        self.shared.core.is_done()
    }

    /// Waits for the fiber to terminate and returns its exit (ZIO `Fiber#await`); an
    /// interruptible await point of the caller.
    pub async fn await_exit(&self) -> Result<Exit<A, E>, Interrupted> {
        self.rt.checkpoint().await?;
        let core = &self.shared.core;
        Blocking::new(&self.rt, &core.object, |cx, waiter| {
            if core.is_done() {
                Poll::Ready(())
            } else {
                core.exit_waiters.register(waiter, cx.waker());
                Poll::Pending
            }
        })
        .deregister_from(&core.exit_waiters)
        .await?;
        Ok(self.exit_now().expect("a done fiber has an exit"))
    }

    /// Waits for the fiber and returns its result; an interruption of the caller while it waits
    /// becomes the caller's failure (ZIO `Fiber#join`).
    pub async fn join(&self) -> Exit<A, E> {
        match self.await_exit().await {
            Ok(exit) => exit,
            Err(interrupted) => Err(interrupted.into()),
        }
    }

    /// Asks the fiber to stop and waits until it has terminated (ZIO `Fiber#interrupt`). The
    /// wait is an interruptible await point of the caller; in an uninterruptible region it lasts
    /// until the target terminates, however long that is.
    pub async fn interrupt(&self) -> Result<Exit<A, E>, Interrupted> {
        self.interrupt_fork().await?;
        self.await_exit().await
    }

    /// Asks the fiber to stop without waiting (ZIO `Fiber#interruptFork`).
    pub async fn interrupt_fork(&self) -> Result<(), Interrupted> {
        self.rt.checkpoint().await?;
        let by = self.rt.current_fiber();
        self.rt
            .observe_op(&self.shared.core.object, "fiber.interrupt", 0);
        self.shared.core.request_interrupt(&self.rt, by);
        Ok(())
    }

    /// The exit, if the fiber is done (ZIO `Fiber#poll`), without a scheduling point. A fiber
    /// whose process was killed ends with [`Cause::Killed`].
    pub fn exit_now(&self) -> Option<Exit<A, E>> {
        if !self.is_done() {
            return None;
        }
        if let Some(by) = self.shared.core.killed_by.get() {
            return Some(Err(Cause::Killed { by }));
        }
        self.shared.exit.borrow().clone()
    }
}

/// How a new fiber relates to the fiber that forks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parentage {
    /// A child of the current fiber: inherits its interruptibility and is interrupted when it
    /// ends (ZIO `fork`).
    Child,
    /// No parent, inherits the current fiber's interruptibility (ZIO `forkDaemon`).
    Daemon,
    /// A root fiber started from outside any fiber: interruptible, no parent.
    Root,
}

impl Rt {
    /// Starts a root fiber, interruptible and without parent: the entry point of a workload.
    pub fn spawn_root<A, E, F>(&self, name: impl Into<Rc<str>>, effect: F) -> Fiber<A, E>
    where
        A: Clone + 'static,
        E: Clone + 'static,
        F: Future<Output = Exit<A, E>> + 'static,
    {
        self.start_fiber(name.into(), Parentage::Root, effect)
    }

    /// Forks a child of the current fiber (ZIO `fork`): it inherits the current
    /// interruptibility and is interrupted, and awaited, when the current fiber's effect ends.
    pub fn fork<A, E, F>(&self, name: impl Into<Rc<str>>, effect: F) -> Fiber<A, E>
    where
        A: Clone + 'static,
        E: Clone + 'static,
        F: Future<Output = Exit<A, E>> + 'static,
    {
        self.start_fiber(name.into(), Parentage::Child, effect)
    }

    /// Forks a fiber in the global scope (ZIO `forkDaemon`): it inherits the current
    /// interruptibility but has no parent, so the current fiber's end does not interrupt it.
    pub fn fork_daemon<A, E, F>(&self, name: impl Into<Rc<str>>, effect: F) -> Fiber<A, E>
    where
        A: Clone + 'static,
        E: Clone + 'static,
        F: Future<Output = Exit<A, E>> + 'static,
    {
        self.start_fiber(name.into(), Parentage::Daemon, effect)
    }

    fn start_fiber<A, E, F>(&self, name: Rc<str>, parentage: Parentage, effect: F) -> Fiber<A, E>
    where
        A: Clone + 'static,
        E: Clone + 'static,
        F: Future<Output = Exit<A, E>> + 'static,
    {
        self.start_fiber_in(name, parentage, None, effect)
    }

    /// Starts a fiber in `process`, or in its forker's process when `None`.
    pub(crate) fn start_fiber_in<A, E, F>(
        &self,
        name: Rc<str>,
        parentage: Parentage,
        process: Option<ProcessId>,
        effect: F,
    ) -> Fiber<A, E>
    where
        A: Clone + 'static,
        E: Clone + 'static,
        F: Future<Output = Exit<A, E>> + 'static,
    {
        let parent = match parentage {
            Parentage::Root => None,
            Parentage::Child | Parentage::Daemon => Some(self.current_core()),
        };
        let interruptible = parent.as_ref().is_none_or(|p| p.is_interruptible());
        // A fiber belongs to its forker's process, daemon or not: a process's threads all die
        // with it.
        let process = process.or_else(|| parent.as_ref().and_then(|p| p.process.get()));
        let id = self.next_fiber_id();
        let mut digits = [0; 20];
        let object = self.object(
            "fiber",
            label::join(&["fiber:", &name, "#", label::decimal(id.0, &mut digits)]),
        );
        let core = Rc::new(FiberCore {
            id,
            name: name.clone(),
            object,
            interruptible: Cell::new(interruptible),
            interrupt_by: Cell::new(None),
            task_waker: RefCell::new(None),
            done: Cell::new(false),
            end_rank: Cell::new(0),
            exit_kind: Cell::new(None),
            exit_waiters: WaiterList::default(),
            children: RefCell::new(Vec::new()),
            process: Cell::new(process),
            killed_by: Cell::new(None),
        });
        if let Some(process) = process {
            self.add_to_process(process, &core);
        }
        let supervisor = match parentage {
            Parentage::Child => parent.clone(),
            Parentage::Daemon | Parentage::Root => None,
        };
        if let Some(supervisor) = &supervisor {
            let mut children = supervisor.children.borrow_mut();
            // Forget children that are done, so that a long-lived fiber's list stays short.
            children.retain(|child| !child.is_done());
            children.push(core.clone());
        }
        self.observe(&Event::FiberStarted {
            fiber: id,
            parent: supervisor.as_ref().map(|p| p.id),
            name: &name,
            object: core.object.id,
            interruptible,
            daemon: parentage == Parentage::Daemon,
        });
        let shared = Rc::new(FiberShared {
            core: core.clone(),
            exit: RefCell::new(None),
        });
        let task = FiberTask {
            rt: self.clone(),
            shared: shared.clone(),
            state: TaskState::Running(Box::pin(effect)),
        };
        self.runtime().spawn_task(id, &name, Box::pin(task));
        Fiber {
            shared,
            rt: self.clone(),
        }
    }

    /// Runs `effect` uninterruptibly (ZIO `uninterruptible`): interruption requests stay pending
    /// while it runs. When it ends inside an interruptible region with an interruption pending,
    /// the interruption takes over and the effect's result is dropped, as in ZIO.
    pub async fn uninterruptible<T, E, F>(&self, effect: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: From<Interrupted>,
    {
        let result = Region {
            rt: self,
            interruptible: false,
            effect: Box::pin(effect),
        }
        .await;
        match self.current_core().deliverable_interrupt() {
            Some(interrupted) => Err(interrupted.into()),
            None => result,
        }
    }

    /// Runs `effect` interruptibly (ZIO `interruptible`), even inside an uninterruptible region.
    pub async fn interruptible<T, F>(&self, effect: F) -> T
    where
        F: Future<Output = T>,
    {
        Region {
            rt: self,
            interruptible: true,
            effect: Box::pin(effect),
        }
        .await
    }

    /// Whether the current fiber's region is interruptible now.
    pub fn is_interruptible(&self) -> bool {
        self.current_core().is_interruptible()
    }
}

/// Sets the current fiber's interruptibility while `effect` is polled, restoring it after each
/// poll: the region covers exactly the await points reached from inside `effect`.
struct Region<'a, F> {
    rt: &'a Rt,
    interruptible: bool,
    effect: Pin<Box<F>>,
}

impl<F: Future> Future for Region<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let fiber = self.rt.current_core();
        let outer = fiber.interruptible.replace(self.interruptible);
        let polled = self.effect.as_mut().poll(cx);
        fiber.interruptible.set(outer);
        polled
    }
}

enum TaskState<A, E> {
    Running(LocalBoxFuture<Exit<A, E>>),
    /// The effect is done; waiting for the interrupted children to terminate.
    AwaitingChildren,
    Done,
}

/// The task that drives one fiber: sets the current fiber around each poll, catches panics,
/// then supervises the children before the fiber terminates.
struct FiberTask<A, E> {
    rt: Rt,
    shared: Rc<FiberShared<A, E>>,
    state: TaskState<A, E>,
}

impl<A, E> FiberTask<A, E> {
    fn poll_effect(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let TaskState::Running(effect) = &mut self.state else {
            return Poll::Ready(());
        };
        let core = &self.shared.core;
        let exit = match catch_unwind(AssertUnwindSafe(|| effect.as_mut().poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(exit)) => exit,
            Err(panic) => {
                let message = panic_message(&panic);
                self.rt.observe(&Event::FiberPanicked {
                    fiber: core.id,
                    message: &message,
                });
                Err(Cause::Die(
                    format!("panic in {}: {message}", core.name).into(),
                ))
            }
        };
        core.exit_kind.set(Some(ExitKind::of(&exit)));
        *self.shared.exit.borrow_mut() = Some(exit);
        self.state = TaskState::AwaitingChildren;
        // Auto-supervision: the children still running are interrupted when the effect ends.
        let children = core.children.borrow().clone();
        for child in children.iter().filter(|child| !child.is_done()) {
            child.request_interrupt(&self.rt, core.id);
        }
        Poll::Ready(())
    }

    fn poll_children(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let core = &self.shared.core;
        let children = core.children.borrow();
        for child in children.iter() {
            if !child.is_done() {
                child.exit_waiters.register(core.id, cx.waker());
                return Poll::Pending;
            }
        }
        Poll::Ready(())
    }
}

impl<A, E> Future for FiberTask<A, E> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let core = this.shared.core.clone();
        {
            let mut task_waker = core.task_waker.borrow_mut();
            match task_waker.as_ref() {
                Some(known) if known.will_wake(cx.waker()) => {}
                _ => *task_waker = Some(cx.waker().clone()),
            }
        }
        let previous = this.rt.enter(core.clone());
        if this.poll_effect(cx).is_pending() {
            this.rt.leave(previous);
            return Poll::Pending;
        }
        let children_done = this.poll_children(cx);
        this.rt.leave(previous);
        if children_done.is_pending() {
            return Poll::Pending;
        }
        if !matches!(this.state, TaskState::Done) {
            this.state = TaskState::Done;
            core.done.set(true);
            core.end_rank.set(this.rt.next_end_rank());
            core.children.borrow_mut().clear();
            let exit = core
                .exit_kind
                .get()
                .expect("exit set before children are awaited");
            this.rt.observe(&Event::FiberEnded {
                fiber: core.id,
                exit,
            });
            // Drop the waker: a done fiber is never woken again, and holding it would keep the
            // task's allocation reachable from handles.
            core.task_waker.borrow_mut().take();
            core.exit_waiters.wake_all();
        }
        Poll::Ready(())
    }
}

/// The text of a caught panic.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-text payload".to_string()
    }
}

impl<A, E> Fiber<A, E> {
    /// Registers `waiter` to be woken when this fiber terminates (for waits on several fibers).
    pub(crate) fn register_exit_waiter(&self, waiter: FiberId, waker: &Waker) {
        self.shared.core.exit_waiters.register(waiter, waker);
    }

    /// Where this fiber came in the order of terminations (0 while it runs).
    pub(crate) fn end_rank(&self) -> u64 {
        self.shared.core.end_rank.get()
    }

    /// Forgets a waiter registered with `register_exit_waiter`.
    pub(crate) fn deregister_exit_waiter(&self, waiter: FiberId) {
        self.shared.core.exit_waiters.remove(waiter);
    }
}
