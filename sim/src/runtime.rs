//! The deterministic simulated runtime: one workload, one seed, one outcome.
//!
//! [`run`] builds a madsim runtime from the seed, starts a simulated node, and runs on it an
//! executor that polls the workload's fibers one at a time. madsim supplies the virtual clock,
//! the timers and the node; the executor supplies the scheduling, so that every choice of which
//! fiber runs next is asked of the run's [`SchedulingStrategy`] and recorded in its
//! [`DecisionLog`] (madsim's own random pick among its tasks cannot be recorded, and a fixture
//! must replay from its log). The run ends when the root fiber terminates, when the virtual
//! deadline passes (with a quiet window: when the run progresses again after it), when no fiber
//! can ever run again (nothing ready, no timer pending: what madsim reports as "all tasks will
//! block forever"), when nothing but background loops could ever run again (a run proven
//! stuck), when a whole quiet window passed without progress, or when the step limit is
//! reached. The last three are checked where the executor would otherwise move the clock on,
//! so a stuck run stops at the instant it is known to be stuck.
//! A panic of the workload ends its fiber with a defect and is reported; it never unwinds
//! into the caller.
//!
//! Map: this file holds what a caller sees ([`RunConfig`], [`run`], [`RunResult`]); the
//! crate's private `executor` module polls the fibers and implements the runtime port, and its
//! `observer` module folds the events into the trace hash, the liveness tracker and the watched
//! operations.
//!
//! Memory stays flat over millions of runs: the executor owns every fiber's future and drops
//! them all when the run ends, whatever state they are in, and the node is killed before
//! `block_on` returns, so that madsim's leak of pending tasks (madsim issue #242) cannot apply.
//!
//! [`SchedulingStrategy`]: crate::strategy::SchedulingStrategy

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::time::Duration;

use consumer::rt::{LocalBoxFuture, Rt};

use crate::executor::Executor;
use crate::liveness::LivenessSnapshot;
use crate::strategy::{
    DecisionLog, FiberSchedule, ReplayDivergence, ScheduleDivergence, StrategyChoice,
    StrategyDisagreement,
};
use crate::trace::TraceRecord;

/// How to run one workload.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Fixes everything: madsim's clock and timers, the workload's random draws, the strategy.
    pub seed: u64,
    /// The run stops at this virtual time if it has not ended before; with a quiet window, it
    /// goes on after it until it progresses again (a timeout) or the quiet window since its
    /// last progress ends (stuck), so at most a quiet window longer.
    pub deadline: Duration,
    /// How fibers are scheduled.
    pub strategy: StrategyChoice,
    /// Replay these decisions instead of asking the strategy (until the log runs out).
    pub replay: Option<DecisionLog>,
    /// Follow this schedule keyed by fiber (strategy `schedule`): its entries decide, every
    /// other decision is the default. Not together with `replay`.
    pub schedule: Option<FiberSchedule>,
    /// Record the run's non-default decisions keyed by fiber too
    /// ([`RunResult::fiber_schedule`]): what turns a position-keyed log into a schedule.
    pub key_decisions: bool,
    /// While keying: record every pick at this instant, the default ones too, so that the
    /// order of that instant is named fiber by fiber and no longer rests on the order the
    /// fibers became ready in (what lets the shrinker drop the earlier entries that set it up).
    pub pin_picks_at: Option<Duration>,
    /// Keep a structured record of every event (for reports shown to people; slower).
    pub record_events: bool,
    /// Labels of objects whose every operation the run keeps in [`RunResult::watched`], even
    /// when it does not record events: what a hang report needs to tell a command's history,
    /// for the cost of a few pushes instead of the whole trace in words.
    pub watch: Vec<&'static str>,
    /// The most fiber polls a run may take: a bound on livelock.
    pub max_steps: u64,
    /// The run stops once this much virtual time passed without progress ([`Progress`]);
    /// `None`: never (only the deadline stops a run that still ticks).
    pub quiet_window: Option<Duration>,
}

impl RunConfig {
    /// A run of `seed` with the default deadline (one virtual hour), strategy and limits.
    pub fn new(seed: u64) -> RunConfig {
        RunConfig {
            seed,
            deadline: Duration::from_secs(3_600),
            strategy: StrategyChoice::default(),
            replay: None,
            schedule: None,
            key_decisions: false,
            pin_picks_at: None,
            record_events: false,
            watch: Vec::new(),
            max_steps: 2_000_000,
            quiet_window: None,
        }
    }

    /// The same run with another deadline.
    pub fn with_deadline(mut self, deadline: Duration) -> RunConfig {
        self.deadline = deadline;
        self
    }

    /// The same run, stopped once `window` of virtual time passed without progress: make it
    /// longer than the longest wait the workload may legitimately make.
    pub fn with_quiet_window(mut self, window: Duration) -> RunConfig {
        self.quiet_window = Some(window);
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
    /// Which object of that label (objects of one label, such as the command queues of two
    /// consumers, are told apart by it).
    pub object_id: u64,
    /// The fiber that operated, and its name.
    pub fiber: u64,
    pub fiber_name: String,
    /// The operation (`queue.offer`, `queue.take`...) and its op-specific detail.
    pub op: &'static str,
    pub detail: u64,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The root fiber terminated.
    Completed,
    /// The virtual deadline passed with the root fiber still running, and the run progressed
    /// again after it (or it has no quiet window): slow, not proven stuck.
    DeadlineReached,
    /// No fiber was ready and no timer pending: nothing could ever run again.
    BlockedForever,
    /// No fiber was ready and the only timers pending were those of background loops that
    /// complete nothing (`Rt::background_sleep`): nothing but them could ever run again.
    OnlyBackgroundLoopsLeft,
    /// A whole quiet window ([`RunConfig::quiet_window`]) passed without progress.
    QuietWindowElapsed,
    /// The run took more fiber polls than `max_steps` (a livelock, or a limit set too low).
    StepLimitReached,
}

impl Outcome {
    /// Whether the run stopped because it was stuck: proven (nothing, or nothing but
    /// background loops, could run again) or by a quiet window without progress.
    pub fn is_stuck(self) -> bool {
        matches!(
            self,
            Outcome::BlockedForever
                | Outcome::OnlyBackgroundLoopsLeft
                | Outcome::QuietWindowElapsed
        )
    }
}

/// What a run did that counts as progress (DESIGN 3.4): an obligation closed, a fiber ended, a
/// promise completed, or a mark of the workload's own (`Rt::progress`: a record reached its
/// handler, a commit completed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// How many times it progressed.
    pub marks: u64,
    /// When it last did (zero if it never did).
    pub last_at: Duration,
    /// What it did then, in a few words.
    pub last: &'static str,
}

impl Default for Progress {
    fn default() -> Progress {
        Progress {
            marks: 0,
            last_at: Duration::ZERO,
            last: "nothing yet",
        }
    }
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
    /// How a replay left its decision log, if it did: it ran out, a logged decision did not
    /// fit, or the run ended before the log did.
    pub replay_divergence: Option<ReplayDivergence>,
    /// The first logged decision the run's strategy could not have taken, if any.
    pub strategy_disagreement: Option<StrategyDisagreement>,
    /// The run's non-default decisions keyed by fiber, when it followed a schedule or was asked
    /// to key them ([`RunConfig::key_decisions`]); following it gives the same run.
    pub fiber_schedule: Option<FiberSchedule>,
    /// How the run left the schedule it followed (or, recording, a decision no key can name).
    pub schedule_divergence: Option<ScheduleDivergence>,
    /// What was still open and waiting when the run ended.
    pub liveness: LivenessSnapshot,
    /// Virtual time at the end.
    pub elapsed: Duration,
    /// What the run did that counts as progress, and when it last did.
    pub progress: Progress,
    /// Fiber polls taken.
    pub steps: u64,
    /// Every event, when the run was asked to record.
    pub events: Option<Vec<TraceRecord>>,
    /// The operations on watched objects, in order (see [`RunConfig::watch`]).
    pub watched: Vec<WatchedOp>,
}

impl RunResult {
    /// Whether a replay left its decision log (see [`RunResult::replay_divergence`]).
    pub fn replay_diverged(&self) -> bool {
        self.replay_divergence.is_some()
    }

    /// Whether the run hung: it stopped stuck (see [`Outcome::is_stuck`]) or livelocked at
    /// its step limit, or its root terminated with an obligation still open. A run stopped by
    /// its deadline while still progressing is not a hang: see [`RunResult::timed_out`].
    pub fn is_hang(&self) -> bool {
        match self.outcome {
            Outcome::Completed => !self.liveness.all_obligations_met(),
            Outcome::DeadlineReached => false,
            Outcome::BlockedForever
            | Outcome::OnlyBackgroundLoopsLeft
            | Outcome::QuietWindowElapsed
            | Outcome::StepLimitReached => true,
        }
    }

    /// Whether the deadline stopped the run while it was still progressing (it progressed
    /// again after the deadline, if it had a quiet window): a slow run, not a proven hang.
    pub fn timed_out(&self) -> bool {
        self.outcome == Outcome::DeadlineReached
    }

    /// A report in plain words: how the run ended and, if it hung, who waits on what.
    pub fn report(&self) -> String {
        let at = crate::trace::format_virtual_time(self.elapsed);
        let mut out = match self.outcome {
            Outcome::Completed => format!("the workload completed at {at}\n"),
            Outcome::DeadlineReached => {
                format!("the deadline passed and the workload still progressed after it, at {at}\n")
            }
            Outcome::BlockedForever => {
                format!(
                    "at {at} no fiber could ever run again (no fiber ready, no timer pending)\n"
                )
            }
            Outcome::OnlyBackgroundLoopsLeft => format!(
                "at {at} nothing but background loops could ever run again (no fiber ready, \
                 only their timers pending)\n"
            ),
            Outcome::QuietWindowElapsed => format!(
                "at {at} a whole quiet window had passed without progress (last: {} at {})\n",
                self.progress.last,
                crate::trace::format_virtual_time(self.progress.last_at)
            ),
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

thread_local! {
    /// The executor of the run this thread is about to start, handed to the simulated node that
    /// runs it. madsim wants a node's `init` to be `Send + Sync` (it may run it again on a
    /// restart), but a run is single-threaded and its fibers share `Rc`s: the executor is built
    /// on the run's thread and taken from here by `init`, on the same thread, so that neither
    /// it nor the workload has to be `Send`.
    static NEXT_EXECUTOR: RefCell<Option<LocalBoxFuture<()>>> = const { RefCell::new(None) };
}

/// Runs `workload` as the root fiber under `config` and reports how it went. Never panics
/// because of the workload.
///
/// The workload need not be `Send`: a run is single-threaded, so what its fibers share can be
/// `Rc<RefCell<..>>`, and a caller can keep a clone to read what the workload observed.
pub fn run<W, Fut>(config: &RunConfig, workload: W) -> RunResult
where
    W: FnOnce(Rt) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let madsim_config = madsim::Config::default();
    let runtime = madsim::runtime::Runtime::with_seed_and_config(config.seed, madsim_config);
    let (result_sender, result_receiver) = futures::channel::oneshot::channel::<RunResult>();
    let executor_config = config.clone();
    NEXT_EXECUTOR.with(|slot| {
        *slot.borrow_mut() = Some(Box::pin(async move {
            let _ = result_sender.send(Executor::run(executor_config, workload).await);
        }));
    });
    let node = runtime
        .create_node()
        .name("workload")
        // madsim may call `init` again on a restart; the executor runs once.
        .init(|| {
            NEXT_EXECUTOR
                .with(|slot| slot.borrow_mut().take())
                .unwrap_or_else(|| Box::pin(async {}))
        })
        .build();
    let node_id = node.id();
    // The executor ends itself at the deadline, or at the end of the grace after it (at most a
    // quiet window); the backstop only guards against a bug in the executor, and is far enough
    // never to race it.
    let backstop =
        config.deadline + config.quiet_window.unwrap_or_default() + Duration::from_secs(1);
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
    // A run that never started its node leaves its executor here; it must not reach the next.
    NEXT_EXECUTOR.with(|slot| slot.borrow_mut().take());
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
        replay_divergence: None,
        strategy_disagreement: None,
        fiber_schedule: None,
        schedule_divergence: None,
        liveness: LivenessSnapshot::default(),
        elapsed: Duration::ZERO,
        progress: Progress::default(),
        steps: 0,
        events: None,
        watched: Vec::new(),
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
