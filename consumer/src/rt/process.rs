//! Processes: groups of fibers that die together, the way an operating-system process does.
//!
//! A fiber belongs to at most one process. [`Rt::fork_in_process`] starts a fiber in a process;
//! every fiber it forks, child or daemon, belongs to the same process (a process's threads all
//! die with it). [`Rt::in_process`] counts the current fiber in a process for the length of a
//! region: a user's call on a consumer runs in the consumer's process, so it dies with it.
//!
//! [`Rt::kill_process`] kills every fiber of a process at once, in fiber-id order:
//! - each is never polled again and none of its finalizers runs: its task is taken out of the
//!   runtime and dropped. Dropping runs only the runtime's bookkeeping (a wait leaves its
//!   object's waiter list, a hub subscription leaves its hub, a sleep stops counting, an
//!   obligation guard closes); no `Drop` of this module completes a promise, offers to a queue
//!   or runs an effect, so nothing that the dead code would have done only by running happens;
//! - the obligations its fibers opened are discharged as "its process died": the
//!   [`Event::ProcessKilled`] that comes first names the fibers, and the simulation records
//!   their obligations as discharged by the kill, not as met and not as a hang (a dead process
//!   has no callers left to wait for it);
//! - a fiber outside the process that joins or awaits a killed fiber sees it end with
//!   [`Cause::Killed`] (kind [`ExitKind::Killed`](super::ExitKind::Killed)), and a parent
//!   outside the process stops waiting for it. ZIO has no such exit: a process that dies takes
//!   its callers with it; here the only fibers outside are the simulation's driver and other
//!   processes, which cannot call into a dead one;
//! - fibers of other processes blocked on something only a dead fiber would have completed stay
//!   blocked: that is a real hang of the survivor, and the simulation reports it as one.
//!
//! Membership is kept per process as weak references to the fibers that ever joined it, so a
//! kill needs no table of every fiber, and a run that never kills pays one `Cell` per fiber.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};

use super::fiber::{FiberCore, Parentage};
use super::observe::Event;
use super::{Cause, Exit, Fiber, FiberId, Interrupted, Rt};

/// A process's id, unique within one run; ids are given in creation order, from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessId(pub u64);

impl std::fmt::Display for ProcessId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "process#{}", self.0)
    }
}

/// A handle on a process: a named group of fibers that [`Rt::kill_process`] kills at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    id: ProcessId,
    name: Rc<str>,
}

impl Process {
    /// The process's id.
    pub fn id(&self) -> ProcessId {
        self.id
    }

    /// The process's name, as the kill's trace event names it.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What the runtime knows of one process.
#[derive(Default)]
pub(crate) struct ProcessRecord {
    /// Every fiber that ever joined the process (forked in it, or entered an `in_process`
    /// region); a fiber is killed only if it still belongs to it.
    members: Vec<Weak<FiberCore>>,
    killed: bool,
}

/// The processes of one run, indexed by `ProcessId - 1`.
#[derive(Default)]
pub(crate) struct ProcessTable {
    records: RefCell<Vec<ProcessRecord>>,
}

impl Rt {
    /// A new process, with no fiber yet. Makes no event: a run that starts processes and never
    /// kills one is traced exactly as one without them.
    pub fn new_process(&self, name: impl Into<Rc<str>>) -> Process {
        let mut records = self.processes().records.borrow_mut();
        records.push(ProcessRecord::default());
        Process {
            id: ProcessId(records.len() as u64),
            name: name.into(),
        }
    }

    /// Forks a child of the current fiber (as [`Rt::fork`]) that belongs to `process`, with
    /// everything it forks.
    pub fn fork_in_process<A, E, F>(
        &self,
        process: &Process,
        name: impl Into<Rc<str>>,
        effect: F,
    ) -> Fiber<A, E>
    where
        A: Clone + 'static,
        E: Clone + 'static,
        F: Future<Output = Exit<A, E>> + 'static,
    {
        self.start_fiber_in(name.into(), Parentage::Child, Some(process.id), effect)
    }

    /// Runs `effect` with the current fiber counted in `process`: killing the process while
    /// `effect` runs kills the current fiber too, and fibers it forks meanwhile belong to the
    /// process. A user's call on a consumer is made by the consumer's process.
    pub async fn in_process<T, F>(&self, process: &Process, effect: F) -> T
    where
        F: Future<Output = T>,
    {
        InProcess {
            rt: self,
            process: process.id,
            entered: None,
            effect: Box::pin(effect),
        }
        .await
    }

    /// Whether `process` has been killed.
    pub fn is_killed(&self, process: &Process) -> bool {
        self.processes()
            .records
            .borrow()
            .get(process.id.0 as usize - 1)
            .is_some_and(|record| record.killed)
    }

    /// Kills every fiber of `process` as the process dying would (see the module docs), in
    /// fiber-id order, and returns how many it killed. The current fiber is never among them: a
    /// process does not kill itself here, something outside it does. A scheduling point first.
    ///
    /// Needs a runtime that can take a task out ([`Runtime::take_task`](super::Runtime::take_task));
    /// on one that cannot (a real runtime), the kill is a defect of the calling fiber.
    pub async fn kill_process(&self, process: &Process) -> Result<usize, Interrupted> {
        self.checkpoint().await?;
        let killer = self.current_core();
        let mut victims: Vec<Rc<FiberCore>> = {
            let mut records = self.processes().records.borrow_mut();
            let record = &mut records[process.id.0 as usize - 1];
            record.killed = true;
            let members = std::mem::take(&mut record.members);
            members
                .iter()
                .filter_map(Weak::upgrade)
                .filter(|fiber| {
                    !fiber.is_done()
                        && fiber.process.get() == Some(process.id)
                        && fiber.id != killer.id
                })
                .collect()
        };
        victims.sort_by_key(|fiber| fiber.id);
        victims.dedup_by_key(|fiber| fiber.id);
        let ids: Vec<FiberId> = victims.iter().map(|fiber| fiber.id).collect();
        self.observe(&Event::ProcessKilled {
            process: process.id,
            name: &process.name,
            by: killer.id,
            fibers: &ids,
        });
        for victim in &victims {
            let task = self.runtime().take_task(victim.id);
            assert!(
                task.is_some(),
                "kill_process needs a runtime that can take a live fiber's task out"
            );
            victim.mark_killed(self, killer.id);
            // Dropped as the victim, so that the waits it abandons are its own.
            let previous = self.enter(victim.clone());
            drop(task);
            self.leave(previous);
            self.observe(&Event::FiberEnded {
                fiber: victim.id,
                exit: super::ExitKind::Killed,
            });
        }
        // Joiners are woken once every victim is dead: none of them sees a half-dead process.
        for victim in &victims {
            victim.wake_exit_waiters();
        }
        Ok(victims.len())
    }

    /// Adds `fiber` to the members of `process`.
    pub(crate) fn add_to_process(&self, process: ProcessId, fiber: &Rc<FiberCore>) {
        let mut records = self.processes().records.borrow_mut();
        if let Some(record) = records.get_mut(process.0 as usize - 1) {
            // Forget members that are done, so that a long-lived process's list stays short.
            if record.members.len() >= 64 {
                record
                    .members
                    .retain(|member| member.upgrade().is_some_and(|member| !member.is_done()));
            }
            record.members.push(Rc::downgrade(fiber));
        }
    }
}

/// The future of [`Rt::in_process`]: the current fiber belongs to the process from the first
/// poll until the effect is done (or dropped), then to its own process again.
struct InProcess<'a, F> {
    rt: &'a Rt,
    process: ProcessId,
    /// The fiber and the process it belonged to before, once entered.
    entered: Option<(Rc<FiberCore>, Option<ProcessId>)>,
    effect: Pin<Box<F>>,
}

impl<F> InProcess<'_, F> {
    fn leave(&mut self) {
        if let Some((fiber, outer)) = self.entered.take() {
            fiber.process.set(outer);
        }
    }
}

impl<F: Future> Future for InProcess<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        if this.entered.is_none() {
            let fiber = this.rt.current_core();
            let outer = fiber.process.replace(Some(this.process));
            this.rt.add_to_process(this.process, &fiber);
            this.entered = Some((fiber, outer));
        }
        let polled = this.effect.as_mut().poll(cx);
        if polled.is_ready() {
            this.leave();
        }
        polled
    }
}

impl<F> Drop for InProcess<'_, F> {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Whether an exit says its fiber was killed with its process.
pub fn was_killed<A, E>(exit: &Exit<A, E>) -> bool {
    matches!(exit, Err(Cause::Killed { .. }))
}
