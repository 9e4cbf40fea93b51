//! The executor: polls the fibers of one run, one at a time, as the strategy decides, and is
//! the simulated world's side of `consumer::rt::Runtime` (spawn, sleep, now, scheduling points,
//! randomness, and events, which it hands to the [`Observer`]).
//!
//! madsim supplies the clock and the timers; the executor is a single madsim task, so every
//! choice of which fiber runs next is ours and recorded. Sleeps are counted, background loops'
//! apart, so that "nothing ready and no timer pending" is detected at once as `BlockedForever`,
//! and "nothing ready and only background loops' timers pending" as `OnlyBackgroundLoopsLeft`.
//! It also stops a run that has not progressed for a whole quiet window, where the executor
//! would let the clock move on and when the clock has moved on. It sets no timer of its own
//! for that: every executor poll costs a draw of madsim's randomness (madsim moves its clock a
//! few nanoseconds per task run), so an extra wake-up would shift the time stamps, and so the
//! trace hash, of every run, passing ones too. A run whose next timer lies beyond the window's
//! end stops when the clock gets there, before anything then runs.
//! The one timer it sets is the deadline's, replaced at the deadline by the end of the grace
//! after it ([`Executor::past_deadline`]); only runs that reach their deadline see either.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use consumer::rt::{Event, FiberId, LocalBoxFuture, Rt, Runtime};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::liveness::LivenessTracker;
use crate::observer::Observer;
use crate::runtime::{Outcome, RunConfig, RunResult};
use crate::strategy::DecisionSource;

/// A fiber's task in the executor.
struct TaskSlot {
    fiber: FiberId,
    /// Taken out while the task is being polled; `None` once it is done.
    future: Option<LocalBoxFuture<()>>,
    waker: Waker,
}

/// Tasks woken since the executor last looked, and the executor's own waker. Behind a mutex
/// because `Waker` must be `Send + Sync`; only the run's own thread ever touches it.
#[derive(Default)]
struct WakeQueue {
    state: Mutex<WakeState>,
}

#[derive(Default)]
struct WakeState {
    woken: Vec<usize>,
    queued: Vec<bool>,
    executor: Option<Waker>,
}

impl WakeQueue {
    fn wake(&self, task: usize) {
        let mut state = self.state.lock().expect("wake queue lock");
        if !state.queued[task] {
            state.queued[task] = true;
            state.woken.push(task);
        }
        if let Some(executor) = &state.executor {
            executor.wake_by_ref();
        }
    }
}

struct TaskWaker {
    task: usize,
    queue: Arc<WakeQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.queue.wake(self.task);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.queue.wake(self.task);
    }
}

/// The simulated world's side of `consumer::rt::Runtime`.
struct SimCore {
    tasks: RefCell<Vec<TaskSlot>>,
    wake_queue: Arc<WakeQueue>,
    /// Tasks ready to run, oldest first.
    ready: RefCell<VecDeque<usize>>,
    decisions: RefCell<DecisionSource>,
    workload_rng: RefCell<ChaCha8Rng>,
    observer: RefCell<Observer>,
    /// Sleeps started and not yet finished or dropped: while there are none and no fiber is
    /// ready, nothing can ever run again.
    pending_sleeps: Rc<Cell<u64>>,
    /// Those of them that are background loops' (`Runtime::background_sleep`): while they are
    /// all that is pending and no fiber is ready, nothing but those loops can ever run again.
    pending_background_sleeps: Rc<Cell<u64>>,
    /// Virtual time, read from madsim once per executor poll: madsim's clock only moves between
    /// its task runs, and the whole run is one madsim task, so it cannot change during a poll.
    now: Cell<Duration>,
    /// Reused by `should_yield` and the executor's picks, which run at every scheduling point.
    scratch: RefCell<Vec<FiberId>>,
    /// Whether decisions are keyed by fiber (a schedule followed or recorded): only then are
    /// polls and ends of fibers passed to the decisions, so that a search, which never keys,
    /// pays one test of this flag per poll instead of borrowing them.
    keys_decisions: bool,
}

impl SimCore {
    /// Whether a fiber other than the running one could run now: what `should_yield` needs to
    /// know for strategies that do not read the list (see [`SimCore::ready_fibers`]).
    fn another_fiber_is_ready(&self) -> bool {
        let tasks = self.tasks.borrow();
        let ready = self.ready.borrow();
        let state = self.wake_queue.state.lock().expect("wake queue lock");
        ready
            .iter()
            .chain(state.woken.iter())
            .any(|&task| tasks[task].future.is_some())
    }

    /// Fills `into` with the fibers that could run instead of the running one, oldest first, in
    /// the order the executor would queue them (ready, then woken since it last looked).
    /// Strategies that rank fibers (PCT) need them to answer whether the running fiber gives
    /// way. The running task's future is out of its slot while it is polled, so the running
    /// fiber is never among them, nor is a task that has finished.
    fn ready_fibers(&self, into: &mut Vec<FiberId>) {
        into.clear();
        let tasks = self.tasks.borrow();
        let ready = self.ready.borrow();
        let state = self.wake_queue.state.lock().expect("wake queue lock");
        into.extend(
            ready
                .iter()
                .chain(state.woken.iter())
                .filter(|&&task| tasks[task].future.is_some())
                .map(|&task| tasks[task].fiber),
        );
    }
}

fn virtual_now() -> Duration {
    madsim::time::TimeHandle::current().elapsed()
}

impl Runtime for SimCore {
    fn spawn_task(&self, fiber: FiberId, name: &str, task: LocalBoxFuture<()>) {
        let index = {
            let mut tasks = self.tasks.borrow_mut();
            let index = tasks.len();
            let waker = Waker::from(Arc::new(TaskWaker {
                task: index,
                queue: self.wake_queue.clone(),
            }));
            tasks.push(TaskSlot {
                fiber,
                future: Some(task),
                waker,
            });
            index
        };
        self.wake_queue
            .state
            .lock()
            .expect("wake queue lock")
            .queued
            .push(true);
        self.ready.borrow_mut().push_back(index);
        self.decisions.borrow_mut().fiber_started(fiber, name);
    }

    fn sleep(&self, duration: Duration) -> LocalBoxFuture<()> {
        Box::pin(TrackedSleep::new(
            duration,
            self.pending_sleeps.clone(),
            None,
        ))
    }

    fn background_sleep(&self, duration: Duration) -> LocalBoxFuture<()> {
        Box::pin(TrackedSleep::new(
            duration,
            self.pending_sleeps.clone(),
            Some(self.pending_background_sleeps.clone()),
        ))
    }

    fn now(&self) -> Duration {
        self.now.get()
    }

    fn should_yield(&self, fiber: FiberId) -> bool {
        let mut decisions = self.decisions.borrow_mut();
        let now = self.now.get();
        // The decisions are borrowed here anyway: they test whether they are keyed themselves.
        decisions.scheduling_point(fiber, now);
        if !decisions.reads_ready_fibers_at_checkpoints() {
            // The question is asked exactly when another fiber is ready, as below.
            return self.another_fiber_is_ready() && decisions.yield_at_checkpoint(fiber, &[], now);
        }
        // A scratch buffer: this runs at every scheduling point of every fiber.
        let mut others = self.scratch.borrow_mut();
        self.ready_fibers(&mut others);
        !others.is_empty() && decisions.yield_at_checkpoint(fiber, &others, now)
    }

    fn next_u64(&self) -> u64 {
        self.workload_rng.borrow_mut().next_u64()
    }

    fn records_notes(&self) -> bool {
        self.observer.borrow().events.is_some()
    }

    /// A killed fiber's task leaves its slot for good: `next_task` and the ready checks skip
    /// an empty slot, so its pending wake-ups come to nothing.
    fn take_task(&self, fiber: FiberId) -> Option<LocalBoxFuture<()>> {
        let mut tasks = self.tasks.borrow_mut();
        // Fibers are spawned in id order, so the slots are sorted by fiber id.
        let index = tasks.binary_search_by_key(&fiber, |slot| slot.fiber).ok()?;
        let task = tasks[index].future.take();
        if task.is_some() && self.keys_decisions {
            self.decisions.borrow_mut().fiber_ended(fiber);
        }
        task
    }

    fn observe(&self, event: &Event<'_>) {
        let mut observer = self.observer.borrow_mut();
        if observer.closed {
            return;
        }
        observer.take(event, self.now.get());
    }
}

/// A madsim sleep counted in `pending_sleeps` while it is pending, and also in
/// `pending_background_sleeps` for a background loop's.
struct TrackedSleep {
    sleep: Pin<Box<madsim::time::Sleep>>,
    pending: Rc<Cell<u64>>,
    pending_background: Option<Rc<Cell<u64>>>,
    counted: bool,
}

impl TrackedSleep {
    fn new(
        duration: Duration,
        pending: Rc<Cell<u64>>,
        pending_background: Option<Rc<Cell<u64>>>,
    ) -> TrackedSleep {
        pending.set(pending.get() + 1);
        if let Some(background) = &pending_background {
            background.set(background.get() + 1);
        }
        TrackedSleep {
            sleep: Box::pin(madsim::time::sleep(duration)),
            pending,
            pending_background,
            counted: true,
        }
    }

    fn uncount(&mut self) {
        if self.counted {
            self.counted = false;
            self.pending.set(self.pending.get() - 1);
            if let Some(background) = &self.pending_background {
                background.set(background.get() - 1);
            }
        }
    }
}

impl Future for TrackedSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let polled = self.sleep.as_mut().poll(cx);
        if polled.is_ready() {
            self.uncount();
        }
        polled
    }
}

impl Drop for TrackedSleep {
    fn drop(&mut self) {
        self.uncount();
    }
}

/// Polls the fibers of one run, one at a time, as the strategy decides.
pub(crate) struct Executor {
    core: Rc<SimCore>,
    /// The run's handle, to release what a hanging run leaves behind when it ends.
    rt: Rt,
    config: RunConfig,
    /// The deadline's timer, then (in the grace after the deadline) the end of the quiet window
    /// since the last progress.
    deadline_timer: Pin<Box<madsim::time::Sleep>>,
    /// How many times the run had progressed when it reached its deadline: set once the
    /// deadline passed (see [`Executor::past_deadline`]).
    marks_at_deadline: Option<u64>,
    steps: u64,
}

impl Executor {
    pub(crate) async fn run<W, Fut>(config: RunConfig, workload: W) -> RunResult
    where
        W: FnOnce(Rt) -> Fut,
        Fut: Future<Output = ()> + 'static,
    {
        let mut scheduling_rng = ChaCha8Rng::seed_from_u64(config.seed);
        scheduling_rng.set_stream(1);
        let mut workload_rng = ChaCha8Rng::seed_from_u64(config.seed);
        workload_rng.set_stream(2);
        let strategy = config.strategy.build(&mut scheduling_rng);
        let core = Rc::new(SimCore {
            tasks: RefCell::new(Vec::new()),
            wake_queue: Arc::new(WakeQueue::default()),
            ready: RefCell::new(VecDeque::new()),
            decisions: RefCell::new(DecisionSource::new(
                strategy,
                scheduling_rng,
                config.replay.clone(),
                config.schedule.clone(),
                config.key_decisions,
                config.pin_picks_at,
            )),
            workload_rng: RefCell::new(workload_rng),
            observer: RefCell::new(Observer::new(config.record_events, config.watch.clone())),
            pending_sleeps: Rc::new(Cell::new(0)),
            pending_background_sleeps: Rc::new(Cell::new(0)),
            now: Cell::new(virtual_now()),
            scratch: RefCell::new(Vec::new()),
            keys_decisions: config.key_decisions || config.schedule.is_some(),
        });
        let rt = Rt::new(core.clone());
        let root = workload(rt.clone());
        rt.spawn_root::<(), (), _>("main", async move {
            root.await;
            Ok(())
        });
        let executor = Executor {
            deadline_timer: Box::pin(madsim::time::sleep(config.deadline)),
            rt: rt.clone(),
            core,
            config,
            marks_at_deadline: None,
            steps: 0,
        };
        executor.await
    }

    /// Moves woken tasks to the back of the ready queue, in the order they were woken.
    fn collect_woken(&self) {
        let mut state = self.core.wake_queue.state.lock().expect("wake queue lock");
        let state = &mut *state;
        if state.woken.is_empty() {
            return;
        }
        let mut ready = self.core.ready.borrow_mut();
        // A task stays marked queued while it waits in `ready`, so it is never there twice.
        ready.extend(state.woken.drain(..));
    }

    fn next_task(&self) -> Option<usize> {
        let mut ready = self.core.ready.borrow_mut();
        // Tasks that finished while queued are skipped; `ready` holds each task at most once.
        let tasks = self.core.tasks.borrow();
        ready.retain(|&task| tasks[task].future.is_some());
        match ready.len() {
            0 => None,
            1 => ready.pop_front(),
            _ => {
                let mut candidates = self.core.scratch.borrow_mut();
                candidates.clear();
                candidates.extend(ready.iter().map(|&task| tasks[task].fiber));
                let index = self
                    .core
                    .decisions
                    .borrow_mut()
                    .pick_next(&candidates, self.core.now.get());
                ready.remove(index)
            }
        }
    }

    fn poll_task(&mut self, task: usize) {
        let (future, waker, fiber) = {
            let mut tasks = self.core.tasks.borrow_mut();
            let slot = &mut tasks[task];
            (slot.future.take(), slot.waker.clone(), slot.fiber)
        };
        let Some(mut future) = future else { return };
        if self.core.keys_decisions {
            self.core.decisions.borrow_mut().polling(fiber);
        }
        {
            // A task that is run is no longer queued; a wake during its poll queues it again.
            let mut state = self.core.wake_queue.state.lock().expect("wake queue lock");
            state.queued[task] = false;
        }
        self.steps += 1;
        let mut cx = Context::from_waker(&waker);
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(()) => {
                drop(future);
                if self.core.keys_decisions {
                    self.core.decisions.borrow_mut().fiber_ended(fiber);
                }
            }
            Poll::Pending => self.core.tasks.borrow_mut()[task].future = Some(future),
        }
    }

    /// Why the run cannot usefully go on, asked when no fiber is ready: no timer pending at
    /// all; only background loops' timers pending (they complete nothing, so no fiber will
    /// ever be woken by anything but them); or a whole quiet window without progress.
    fn stuck_before_the_clock_moves(&self) -> Option<Outcome> {
        let pending = self.core.pending_sleeps.get();
        if pending == 0 {
            return Some(Outcome::BlockedForever);
        }
        if pending == self.core.pending_background_sleeps.get() {
            return Some(Outcome::OnlyBackgroundLoopsLeft);
        }
        self.quiet_window_elapsed()
            .then_some(Outcome::QuietWindowElapsed)
    }

    /// Whether a whole quiet window has passed since the last progress.
    fn quiet_window_elapsed(&self) -> bool {
        let Some(window) = self.config.quiet_window else {
            return false;
        };
        let last_progress = self.core.observer.borrow().progress.last_at;
        self.core.now.get() >= last_progress.saturating_add(window)
    }

    /// What a run at or past its deadline comes to (DESIGN 3.4). Without a quiet window, the
    /// deadline stops it: a timeout. With one, the deadline starts a grace: the run goes on
    /// until it progresses again (it was still working when it was stopped: a timeout) or a
    /// whole quiet window has passed since its last progress (a hang, as before the deadline).
    /// Without the grace, a hang whose quiet window, begun shortly before the deadline, ends
    /// after it would be called a timeout. The grace lasts at most one quiet window, so a run
    /// never goes past its deadline plus its quiet window. `None`: go on.
    fn past_deadline(&mut self) -> Option<Outcome> {
        let Some(window) = self.config.quiet_window else {
            return Some(Outcome::DeadlineReached);
        };
        if self.quiet_window_elapsed() {
            return Some(Outcome::QuietWindowElapsed);
        }
        let progress = self.core.observer.borrow().progress;
        match self.marks_at_deadline {
            Some(marks) => (progress.marks > marks).then_some(Outcome::DeadlineReached),
            None => {
                self.marks_at_deadline = Some(progress.marks);
                let grace_ends = progress.last_at.saturating_add(window);
                let until_then = grace_ends.saturating_sub(self.core.now.get());
                self.deadline_timer = Box::pin(madsim::time::sleep(until_then));
                None
            }
        }
    }

    fn finish(&mut self, outcome: Outcome) -> RunResult {
        let now = virtual_now();
        let finished = self.core.decisions.borrow_mut().finish();
        let (fiber_schedule, schedule_divergence) = finished.keyed.unzip();
        let mut observer = self.core.observer.borrow_mut();
        observer.closed = true;
        let mut watched = std::mem::take(&mut observer.watched);
        for op in &mut watched {
            op.fiber_name = observer.liveness.fiber_name(FiberId(op.fiber)).to_string();
        }
        let result = RunResult {
            seed: self.config.seed,
            outcome,
            panics: std::mem::take(&mut observer.panics),
            trace_hash: observer.hash.value(),
            decisions: finished.log,
            replay_divergence: finished.divergence,
            strategy_disagreement: finished.disagreement,
            fiber_schedule,
            schedule_divergence: schedule_divergence.flatten(),
            liveness: observer.liveness.snapshot(now),
            elapsed: now,
            progress: observer.progress,
            steps: self.steps,
            events: observer.events.take(),
            watched,
        };
        // The tracker's records are in the snapshot now; what a hanging run leaves reachable
        // must not keep them alive.
        observer.liveness = LivenessTracker::default();
        drop(observer);
        // Drop every fiber, finished or not: nothing of this run may outlive it. Then break the
        // reference cycles that primitives of a run that never finished still hold.
        let tasks = std::mem::take(&mut *self.core.tasks.borrow_mut());
        drop(tasks);
        self.core.ready.borrow_mut().clear();
        self.rt.release_all();
        result
    }
}

impl Future for Executor {
    type Output = RunResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<RunResult> {
        self.core.now.set(virtual_now());
        // The clock may have moved past the end of a quiet window: the run is stuck, whatever
        // the timer that woke it would do now.
        if self.quiet_window_elapsed() && !self.core.observer.borrow().root_done {
            return Poll::Ready(self.finish(Outcome::QuietWindowElapsed));
        }
        loop {
            if self.core.observer.borrow().root_done {
                return Poll::Ready(self.finish(Outcome::Completed));
            }
            if self.steps >= self.config.max_steps {
                return Poll::Ready(self.finish(Outcome::StepLimitReached));
            }
            if self.core.now.get() >= self.config.deadline {
                if let Some(outcome) = self.past_deadline() {
                    return Poll::Ready(self.finish(outcome));
                }
            }
            self.collect_woken();
            if let Some(task) = self.next_task() {
                self.poll_task(task);
                continue;
            }
            // Nothing is ready: the clock would move on here. Is there anything to wait for?
            if let Some(stuck) = self.stuck_before_the_clock_moves() {
                return Poll::Ready(self.finish(stuck));
            }
            // Nothing ready: wait for a timer (or the deadline). Register before re-checking, so
            // that a wake between the check and the registration is not lost.
            {
                let mut state = self.core.wake_queue.state.lock().expect("wake queue lock");
                match &state.executor {
                    Some(known) if known.will_wake(cx.waker()) => {}
                    _ => state.executor = Some(cx.waker().clone()),
                }
                if !state.woken.is_empty() {
                    continue;
                }
            }
            if self.deadline_timer.as_mut().poll(cx).is_ready() {
                self.core.now.set(virtual_now());
                let in_grace = self.marks_at_deadline.is_some();
                match self.past_deadline() {
                    Some(outcome) => return Poll::Ready(self.finish(outcome)),
                    // The grace timer fired, yet its window has not ended: a clock that went
                    // back, which madsim's never does; stop rather than spin.
                    None if in_grace => return Poll::Ready(self.finish(Outcome::DeadlineReached)),
                    // The grace began: its timer is set, wait for it or for a fiber.
                    None => continue,
                }
            }
            return Poll::Pending;
        }
    }
}
