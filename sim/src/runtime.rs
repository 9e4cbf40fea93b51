//! The deterministic simulated runtime: one workload, one seed, one outcome.
//!
//! [`run`] builds a madsim runtime from the seed, starts a simulated node, and runs on it an
//! executor that polls the workload's fibers one at a time. madsim supplies the virtual clock,
//! the timers and the node; the executor supplies the scheduling, so that every choice of which
//! fiber runs next is asked of the run's [`SchedulingStrategy`] and recorded in its
//! [`DecisionLog`] (madsim's own random pick among its tasks cannot be recorded, and a fixture
//! must replay from its log). The run ends when the root fiber terminates, when the virtual
//! deadline passes, when no fiber can ever run again (nothing ready, no timer pending: what
//! madsim reports as "all tasks will block forever"), or when the step limit is reached.
//! A panic of the workload ends its fiber with a defect and is reported; it never unwinds
//! into the caller.
//!
//! Memory stays flat over millions of runs: the executor owns every fiber's future and drops
//! them all when the run ends, whatever state they are in, and the node is killed before
//! `block_on` returns, so that madsim's leak of pending tasks (madsim issue #242) cannot apply.
//!
//! [`SchedulingStrategy`]: crate::strategy::SchedulingStrategy

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use consumer::rt::{Event, FiberId, LocalBoxFuture, ObjectId, Rt, Runtime};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::liveness::{LivenessSnapshot, LivenessTracker};
use crate::strategy::{DecisionLog, DecisionSource, StrategyChoice};
use crate::trace::{TraceHash, TraceRecord};

/// How to run one workload.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Fixes everything: madsim's clock and timers, the workload's random draws, the strategy.
    pub seed: u64,
    /// The run stops at this virtual time if it has not ended before.
    pub deadline: Duration,
    /// How fibers are scheduled.
    pub strategy: StrategyChoice,
    /// Replay these decisions instead of asking the strategy (until the log runs out).
    pub replay: Option<DecisionLog>,
    /// Keep a structured record of every event (for reports shown to people; slower).
    pub record_events: bool,
    /// Labels of objects whose every operation the run keeps in [`RunResult::watched`], even
    /// when it does not record events: what a hang report needs to tell a command's history,
    /// for the cost of a few pushes instead of the whole trace in words.
    pub watch: Vec<&'static str>,
    /// The most fiber polls a run may take: a bound on livelock.
    pub max_steps: u64,
}

impl RunConfig {
    /// A run of `seed` with the default deadline (one virtual hour), strategy and limits.
    pub fn new(seed: u64) -> RunConfig {
        RunConfig {
            seed,
            deadline: Duration::from_secs(3_600),
            strategy: StrategyChoice::default(),
            replay: None,
            record_events: false,
            watch: Vec::new(),
            max_steps: 2_000_000,
        }
    }

    /// The same run with another deadline.
    pub fn with_deadline(mut self, deadline: Duration) -> RunConfig {
        self.deadline = deadline;
        self
    }

    /// The same run with another strategy.
    pub fn with_strategy(mut self, strategy: StrategyChoice) -> RunConfig {
        self.strategy = strategy;
        self
    }

    /// The same run, replaying a decision log.
    pub fn replaying(mut self, log: DecisionLog) -> RunConfig {
        self.replay = Some(log);
        self
    }

    /// The same run, recording every event.
    pub fn recording(mut self) -> RunConfig {
        self.record_events = true;
        self
    }

    /// The same run, keeping the operations on objects labelled `label`.
    pub fn watching(mut self, label: &'static str) -> RunConfig {
        self.watch.push(label);
        self
    }
}

/// One operation on a watched object (see [`RunConfig::watch`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchedOp {
    /// Virtual time of the operation.
    pub at: Duration,
    /// The watched object's label.
    pub object: &'static str,
    /// The fiber that operated, and its name.
    pub fiber: u64,
    pub fiber_name: String,
    /// The operation (`queue.offer`, `queue.take`...) and its op-specific detail.
    pub op: &'static str,
    pub detail: u64,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The root fiber terminated.
    Completed,
    /// The virtual deadline passed with the root fiber still running.
    DeadlineReached,
    /// No fiber was ready and no timer pending: nothing could ever run again.
    BlockedForever,
    /// The run took more fiber polls than `max_steps` (a livelock, or a limit set too low).
    StepLimitReached,
}

/// A panic of the workload, caught at its fiber's boundary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanicRecord {
    pub fiber: u64,
    pub fiber_name: String,
    pub message: String,
    pub at: Duration,
}

/// Everything a run produced. Plain data: it outlives the run's runtime.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub seed: u64,
    pub outcome: Outcome,
    /// Panics of the workload, in order.
    pub panics: Vec<PanicRecord>,
    /// The hash of every event of the run, in order.
    pub trace_hash: u64,
    /// The decisions the run took; replaying them reproduces the run.
    pub decisions: DecisionLog,
    /// Whether a replayed log ran out or stopped fitting before the run ended.
    pub replay_diverged: bool,
    /// What was still open and waiting when the run ended.
    pub liveness: LivenessSnapshot,
    /// Virtual time at the end.
    pub elapsed: Duration,
    /// Fiber polls taken.
    pub steps: u64,
    /// Every event, when the run was asked to record.
    pub events: Option<Vec<TraceRecord>>,
    /// The operations on watched objects, in order (see [`RunConfig::watch`]).
    pub watched: Vec<WatchedOp>,
}

impl RunResult {
    /// Whether the run hung: the root did not terminate, or an obligation is still open.
    pub fn is_hang(&self) -> bool {
        self.outcome != Outcome::Completed || !self.liveness.all_obligations_met()
    }

    /// A report in plain words: how the run ended and, if it hung, who waits on what.
    pub fn report(&self) -> String {
        let at = crate::trace::format_virtual_time(self.elapsed);
        let mut out = match self.outcome {
            Outcome::Completed => format!("the workload completed at {at}\n"),
            Outcome::DeadlineReached => {
                format!("the deadline passed at {at} with the workload still running\n")
            }
            Outcome::BlockedForever => {
                format!(
                    "at {at} no fiber could ever run again (no fiber ready, no timer pending)\n"
                )
            }
            Outcome::StepLimitReached => format!("the run reached its step limit at {at}\n"),
        };
        for panic in &self.panics {
            out.push_str(&format!(
                "panic in fiber#{} ({}) at {}: {}\n",
                panic.fiber,
                panic.fiber_name,
                crate::trace::format_virtual_time(panic.at),
                panic.message
            ));
        }
        out.push_str(&self.liveness.describe());
        out
    }
}

/// Runs `workload` as the root fiber under `config` and reports how it went. Never panics
/// because of the workload.
pub fn run<W, Fut>(config: &RunConfig, workload: W) -> RunResult
where
    W: FnOnce(Rt) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let madsim_config = madsim::Config::default();
    let runtime = madsim::runtime::Runtime::with_seed_and_config(config.seed, madsim_config);
    let job: Arc<Mutex<Option<W>>> = Arc::new(Mutex::new(Some(workload)));
    let (result_sender, result_receiver) = futures::channel::oneshot::channel::<RunResult>();
    let result_sender = Arc::new(Mutex::new(Some(result_sender)));
    let node_config = config.clone();
    let node = runtime
        .create_node()
        .name("workload")
        .init(move || {
            // madsim may call `init` again on a restart; the workload runs once.
            let job = job.lock().expect("job lock").take();
            let sender = result_sender.lock().expect("sender lock").take();
            let config = node_config.clone();
            async move {
                if let (Some(workload), Some(sender)) = (job, sender) {
                    let _ = sender.send(Executor::run(config, workload).await);
                }
            }
        })
        .build();
    let node_id = node.id();
    // The executor ends itself at the deadline; the backstop only guards against a bug in the
    // executor, and is far enough never to race it.
    let backstop = config.deadline + Duration::from_secs(1);
    let finished = in_simulation(|| {
        runtime.block_on(async move {
            let backstop = madsim::time::sleep(backstop);
            let result = match futures::future::select(result_receiver, Box::pin(backstop)).await {
                futures::future::Either::Left((Ok(result), _)) => Some(result),
                _ => None,
            };
            madsim::runtime::Handle::current().kill(node_id);
            result
        })
    });
    drop(runtime);
    match finished {
        Ok(Some(result)) => result,
        Ok(None) => executor_failure(config, None),
        Err(message) => executor_failure(config, Some(message)),
    }
}

/// The result of a run whose executor itself failed (a bug of the simulator, not of the
/// workload): reported as a panic so that a search records it and goes on.
fn executor_failure(config: &RunConfig, message: Option<String>) -> RunResult {
    RunResult {
        seed: config.seed,
        outcome: Outcome::BlockedForever,
        panics: vec![PanicRecord {
            fiber: 0,
            fiber_name: "simulator".into(),
            message: message.unwrap_or_else(|| "the executor ended without a result".into()),
            at: Duration::ZERO,
        }],
        trace_hash: 0,
        decisions: DecisionLog::default(),
        replay_diverged: false,
        liveness: LivenessSnapshot::default(),
        elapsed: Duration::ZERO,
        steps: 0,
        events: None,
        watched: Vec::new(),
    }
}

/// Runs twice and compares: `Ok(hash)` if both runs gave the same trace, `Err` with both
/// results otherwise.
pub fn check_determinism<W, Fut>(
    config: &RunConfig,
    workload: W,
) -> Result<u64, Box<(RunResult, RunResult)>>
where
    W: Fn(Rt) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let first = run(config, workload.clone());
    let second = run(config, workload);
    if first.trace_hash == second.trace_hash && first.decisions == second.decisions {
        Ok(first.trace_hash)
    } else {
        Err(Box::new((first, second)))
    }
}

thread_local! {
    /// Whether this thread is inside a simulated run: panics there are findings, reported in the
    /// run's result, so the quiet panic hook keeps them off stderr.
    static IN_SIMULATION: Cell<bool> = const { Cell::new(false) };
}

fn in_simulation<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let was = IN_SIMULATION.with(|flag| flag.replace(true));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    IN_SIMULATION.with(|flag| flag.set(was));
    outcome.map_err(|panic| consumer::rt::fiber::panic_message(&panic))
}

/// Installs a panic hook that keeps panics raised inside simulated runs off stderr (each is
/// reported in its run's result instead) and leaves every other panic to the previous hook.
/// For searches, which may see many panicking runs. Call once per process.
pub fn quiet_simulation_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !IN_SIMULATION.with(Cell::get) {
            previous(info);
        }
    }));
}

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
    /// Virtual time, read from madsim once per executor poll: madsim's clock only moves between
    /// its task runs, and the whole run is one madsim task, so it cannot change during a poll.
    now: Cell<Duration>,
    /// Reused by `should_yield` and the executor's picks, which run at every scheduling point.
    scratch: RefCell<Vec<FiberId>>,
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

struct Observer {
    hash: TraceHash,
    liveness: LivenessTracker,
    events: Option<Vec<TraceRecord>>,
    /// The labels to watch, the objects found with them, and their operations so far (the
    /// fiber names are filled in when the run ends).
    watch: Vec<&'static str>,
    watched_objects: Vec<(ObjectId, &'static str)>,
    watched: Vec<WatchedOp>,
    panics: Vec<PanicRecord>,
    root: Option<FiberId>,
    root_done: bool,
    /// Set when the run's results are taken: later events (futures dropped at teardown) are
    /// not part of the run.
    closed: bool,
}

fn virtual_now() -> Duration {
    madsim::time::TimeHandle::current().elapsed()
}

impl Runtime for SimCore {
    fn spawn_task(&self, fiber: FiberId, _name: &str, task: LocalBoxFuture<()>) {
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
        self.decisions.borrow_mut().fiber_started(fiber);
    }

    fn sleep(&self, duration: Duration) -> LocalBoxFuture<()> {
        Box::pin(TrackedSleep::new(duration, self.pending_sleeps.clone()))
    }

    fn now(&self) -> Duration {
        self.now.get()
    }

    fn should_yield(&self, fiber: FiberId) -> bool {
        let mut decisions = self.decisions.borrow_mut();
        if !decisions.reads_ready_fibers_at_checkpoints() {
            // The question is asked exactly when another fiber is ready, as below.
            return self.another_fiber_is_ready() && decisions.yield_at_checkpoint(fiber, &[]);
        }
        // A scratch buffer: this runs at every scheduling point of every fiber.
        let mut others = self.scratch.borrow_mut();
        self.ready_fibers(&mut others);
        !others.is_empty() && decisions.yield_at_checkpoint(fiber, &others)
    }

    fn next_u64(&self) -> u64 {
        self.workload_rng.borrow_mut().next_u64()
    }

    fn observe(&self, event: &Event<'_>) {
        let mut observer = self.observer.borrow_mut();
        if observer.closed {
            return;
        }
        observer.take(event, self.now.get());
    }
}

impl Observer {
    fn take(&mut self, event: &Event<'_>, now: Duration) {
        self.fold_into_hash(event, now);
        self.liveness.record(event, now);
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

    fn fold_into_hash(&mut self, event: &Event<'_>, now: Duration) {
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
                hash.text(kind);
                hash.text(label);
            }
            Event::ObligationClosed { obligation } => {
                hash.word(10);
                hash.word(obligation.0);
            }
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
                format!("{op} `{}` ({detail})", label(object)),
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
        };
        TraceRecord {
            at: now,
            fiber,
            what,
        }
    }
}

/// A madsim sleep counted in `pending_sleeps` while it is pending.
struct TrackedSleep {
    sleep: Pin<Box<madsim::time::Sleep>>,
    pending: Rc<Cell<u64>>,
    counted: bool,
}

impl TrackedSleep {
    fn new(duration: Duration, pending: Rc<Cell<u64>>) -> TrackedSleep {
        pending.set(pending.get() + 1);
        TrackedSleep {
            sleep: Box::pin(madsim::time::sleep(duration)),
            pending,
            counted: true,
        }
    }

    fn uncount(&mut self) {
        if self.counted {
            self.counted = false;
            self.pending.set(self.pending.get() - 1);
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
struct Executor {
    core: Rc<SimCore>,
    /// The run's handle, to release what a hanging run leaves behind when it ends.
    rt: Rt,
    config: RunConfig,
    deadline_timer: Pin<Box<madsim::time::Sleep>>,
    steps: u64,
}

impl Executor {
    async fn run<W, Fut>(config: RunConfig, workload: W) -> RunResult
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
            )),
            workload_rng: RefCell::new(workload_rng),
            observer: RefCell::new(Observer {
                hash: TraceHash::default(),
                liveness: LivenessTracker::default(),
                events: config.record_events.then(Vec::new),
                watch: config.watch.clone(),
                watched_objects: Vec::new(),
                watched: Vec::new(),
                panics: Vec::new(),
                root: None,
                root_done: false,
                closed: false,
            }),
            pending_sleeps: Rc::new(Cell::new(0)),
            now: Cell::new(virtual_now()),
            scratch: RefCell::new(Vec::new()),
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
                let index = self.core.decisions.borrow_mut().pick_next(&candidates);
                ready.remove(index)
            }
        }
    }

    fn poll_task(&mut self, task: usize) {
        let (future, waker) = {
            let mut tasks = self.core.tasks.borrow_mut();
            let slot = &mut tasks[task];
            (slot.future.take(), slot.waker.clone())
        };
        let Some(mut future) = future else { return };
        {
            // A task that is run is no longer queued; a wake during its poll queues it again.
            let mut state = self.core.wake_queue.state.lock().expect("wake queue lock");
            state.queued[task] = false;
        }
        self.steps += 1;
        let mut cx = Context::from_waker(&waker);
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(()) => drop(future),
            Poll::Pending => self.core.tasks.borrow_mut()[task].future = Some(future),
        }
    }

    fn finish(&mut self, outcome: Outcome) -> RunResult {
        let now = virtual_now();
        let (decisions, replay_diverged) = self.core.decisions.borrow_mut().finish();
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
            decisions,
            replay_diverged,
            liveness: observer.liveness.snapshot(now),
            elapsed: now,
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
        loop {
            if self.core.observer.borrow().root_done {
                return Poll::Ready(self.finish(Outcome::Completed));
            }
            if self.steps >= self.config.max_steps {
                return Poll::Ready(self.finish(Outcome::StepLimitReached));
            }
            if self.core.now.get() >= self.config.deadline {
                return Poll::Ready(self.finish(Outcome::DeadlineReached));
            }
            self.collect_woken();
            if let Some(task) = self.next_task() {
                self.poll_task(task);
                continue;
            }
            if self.core.pending_sleeps.get() == 0 {
                return Poll::Ready(self.finish(Outcome::BlockedForever));
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
                return Poll::Ready(self.finish(Outcome::DeadlineReached));
            }
            return Poll::Pending;
        }
    }
}
