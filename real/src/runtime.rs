//! The `Runtime` port on tokio: a current-thread runtime with a `LocalSet`, the wall clock and
//! tokio's timers, and the watchdog that decides when a real run has hung.
//!
//! The consumer core's fibers are `!Send` (`Rc`, `RefCell`), so every fiber is a
//! `spawn_local` task of one `LocalSet` on one thread; nothing here is deterministic, and
//! `should_yield` always answers `false` (tokio decides the order of ready tasks).
//!
//! The watchdog is the simulator's [`LivenessTracker`] fed from the same events, plus the time
//! progress last happened. A real run cannot prove that nobody will ever answer, so it uses
//! the other half of the rule of DESIGN 3.4: obligations are open and no progress happened for
//! a whole quiet window (wall clock).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use consumer::rt::{Event, FiberId, LocalBoxFuture, ObjectId, Runtime};
use sim::liveness::LivenessTracker;
use sim::runtime::PanicRecord;
use sim::WatchedOp;

/// What the watchdog keeps of a run's events.
pub struct Watchdog {
    pub liveness: LivenessTracker,
    /// The labels to watch (as `sim::RunConfig::watch`), the objects found, their operations.
    watch: Vec<&'static str>,
    watched_objects: Vec<(ObjectId, &'static str)>,
    pub watched: Vec<WatchedOp>,
    pub panics: Vec<PanicRecord>,
    /// Wall-clock time (since the run started) of the last progress.
    pub last_progress: Duration,
    root: Option<FiberId>,
    pub root_done: bool,
}

impl Watchdog {
    fn new(watch: Vec<&'static str>) -> Watchdog {
        Watchdog {
            liveness: LivenessTracker::default(),
            watch,
            watched_objects: Vec::new(),
            watched: Vec::new(),
            panics: Vec::new(),
            last_progress: Duration::ZERO,
            root: None,
            root_done: false,
        }
    }

    fn take(&mut self, event: &Event<'_>, now: Duration) {
        self.liveness.record(event, now);
        // Progress, as DESIGN 3.4 defines it: a promise answered, an obligation closed, a fiber
        // ended (records reaching a handler and commits are noted by the workload itself).
        match *event {
            Event::ObligationClosed { .. } | Event::FiberEnded { .. } => self.last_progress = now,
            Event::Op {
                op: "promise.complete",
                detail: 1,
                ..
            } => self.last_progress = now,
            _ => {}
        }
        match *event {
            Event::FiberStarted {
                fiber,
                parent: None,
                daemon: false,
                ..
            } if self.root.is_none() => self.root = Some(fiber),
            Event::FiberEnded { fiber, .. } if Some(fiber) == self.root => self.root_done = true,
            Event::ObjectCreated { object } => {
                if let Some(&label) = self.watch.iter().find(|&&label| *object.label == *label) {
                    self.watched_objects.push((object.id, label));
                }
            }
            Event::Op {
                fiber,
                object,
                op,
                detail,
            } => {
                if let Some(&(_, label)) = self.watched_objects.iter().find(|(id, _)| *id == object)
                {
                    self.watched.push(WatchedOp {
                        at: now,
                        object: label,
                        object_id: object.0,
                        fiber: fiber.0,
                        fiber_name: self.liveness.fiber_name(fiber).to_string(),
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
    }
}

/// The `Runtime` port on tokio. Must be used inside a `LocalSet` (fibers are local tasks).
pub struct TokioRuntime {
    started: Instant,
    /// SplitMix64 state: the consumer core's randomness (jitter), seeded from `--seed`.
    random: Cell<u64>,
    watchdog: Rc<RefCell<Watchdog>>,
}

impl TokioRuntime {
    /// A runtime whose clock starts now, drawing from `seed`, watching the objects labelled
    /// `watch` for the hang report.
    pub fn new(seed: u64, watch: Vec<&'static str>) -> TokioRuntime {
        TokioRuntime {
            started: Instant::now(),
            random: Cell::new(seed),
            watchdog: Rc::new(RefCell::new(Watchdog::new(watch))),
        }
    }

    /// The watchdog fed by this runtime's events.
    pub fn watchdog(&self) -> Rc<RefCell<Watchdog>> {
        self.watchdog.clone()
    }

    /// The wall-clock time since the run started.
    pub fn now_for_report(&self) -> Duration {
        self.started.elapsed()
    }

    /// Notes progress the runtime layer cannot see (a record processed, a commit completed).
    pub fn note_progress(&self) {
        self.watchdog.borrow_mut().last_progress = self.now();
    }
}

impl Runtime for TokioRuntime {
    fn spawn_task(&self, _fiber: FiberId, _name: &str, task: LocalBoxFuture<()>) {
        tokio::task::spawn_local(task);
    }

    fn sleep(&self, duration: Duration) -> LocalBoxFuture<()> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    fn should_yield(&self, _fiber: FiberId) -> bool {
        false
    }

    fn next_u64(&self) -> u64 {
        // SplitMix64: small, seeded, good enough for retry jitter.
        let state = self.random.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        self.random.set(state);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn observe(&self, event: &Event<'_>) {
        let now = self.now();
        self.watchdog.borrow_mut().take(event, now);
    }
}
