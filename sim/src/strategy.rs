//! Scheduling strategies and the decision log.
//!
//! The simulated runtime runs one fiber at a time. Two kinds of decision shape a run, and both
//! are asked of a [`SchedulingStrategy`] and written to the run's [`DecisionLog`]:
//! - at every scheduling point of the running fiber (every operation of `consumer::rt`), whether
//!   it gives way to the other ready fibers ("forced yield");
//! - whenever several fibers are ready, which one runs next.
//!
//! Only decisions with a real choice (another fiber ready, or two or more candidates) are asked
//! and logged. A run replayed from its log takes the logged decisions in order, so a fixture
//! reproduces its schedule even after a change that would make the seed alone schedule
//! differently; when the log runs out or a logged choice no longer fits, the strategy decides
//! again and the replay reports that it diverged.
//!
//! The strategy draws from its own ChaCha stream, separate from the workload's, so that a change
//! in how often the scheduler is asked does not shift the workload's random draws.
//!
//! The strategies, by name (see [`StrategyChoice`]):
//! - `yields`, `yields:P` ([`ForcedYields`]): ready fibers run oldest first; at each scheduling
//!   point the running fiber gives way with probability `P` (for `yields`, drawn per seed).
//! - `random` ([`RandomPick`]): madsim's own policy, made recordable: a uniformly random ready
//!   fiber at each pick, plus forced yields with a probability drawn per seed.
//! - `pct:D` ([`Pct`]): probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi,
//!   Nagarakatte, ASPLOS 2010): random fiber priorities, the highest-priority ready fiber
//!   always runs, and `D - 1` priority change points demote the running fiber. A bug that needs
//!   `D` ordering constraints is found with probability at least `1 / (n * k^(D-1))` per run
//!   (`n` fibers, `k` steps).
//!
//! Deliberately left out: strategies that learn across runs (coverage feedback, or shuttle's
//! PCT, which sizes its change points from the previous run's length). Every run here is a pure
//! function of its seed, so a search can run seeds in any order, on any number of jobs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use consumer::rt::FiberId;
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

/// The scheduler's oracle (after shuttle's `Scheduler`): three questions, each asked only when
/// there is a real choice.
///
/// Contract: answers may depend only on the arguments and on draws from `rng`, never on wall
/// time, addresses or global state, so that the same seed gives the same answers.
pub trait SchedulingStrategy {
    /// A fiber was forked (strategies that rank fibers, such as PCT, rank it here).
    fn fiber_started(&mut self, fiber: FiberId, rng: &mut ChaCha8Rng);
    /// Whether `running`, at a scheduling point, gives way to the other ready fibers `ready`
    /// (oldest first, at least one, never `running` itself). A fiber that gives way goes to the
    /// back of the ready queue, and [`SchedulingStrategy::pick_next`] is asked next.
    fn yield_at_checkpoint(
        &mut self,
        running: FiberId,
        ready: &[FiberId],
        rng: &mut ChaCha8Rng,
    ) -> bool;
    /// Which of `ready` (oldest first, at least two) runs next: an index into `ready`.
    fn pick_next(&mut self, ready: &[FiberId], rng: &mut ChaCha8Rng) -> usize;
    /// Whether [`SchedulingStrategy::yield_at_checkpoint`] reads its `ready` list. A strategy
    /// that does not is passed an empty list, which spares the executor from listing the ready
    /// fibers at each of the thousands of scheduling points of a run.
    fn reads_ready_fibers_at_checkpoints(&self) -> bool {
        true
    }
}

/// Forced yields: ready fibers run oldest first, and at each scheduling point the running fiber
/// gives way with a fixed probability.
#[derive(Clone, Debug)]
pub struct ForcedYields {
    /// Yield probability in parts per million, so that the decision is integer arithmetic.
    per_million: u32,
}

impl ForcedYields {
    /// Yields with `probability` (between 0 and 1) at each scheduling point.
    pub fn new(probability: f64) -> ForcedYields {
        assert!(
            (0.0..=1.0).contains(&probability),
            "a yield probability is between 0 and 1"
        );
        ForcedYields {
            per_million: (probability * 1_000_000.0).round() as u32,
        }
    }

    /// The yield probability.
    pub fn probability(&self) -> f64 {
        self.per_million as f64 / 1_000_000.0
    }

    /// One yield decision, drawn from `rng`.
    fn draw_yield(&self, rng: &mut ChaCha8Rng) -> bool {
        (rng.next_u32() % 1_000_000) < self.per_million
    }
}

impl SchedulingStrategy for ForcedYields {
    fn fiber_started(&mut self, _fiber: FiberId, _rng: &mut ChaCha8Rng) {}

    fn yield_at_checkpoint(
        &mut self,
        _running: FiberId,
        _ready: &[FiberId],
        rng: &mut ChaCha8Rng,
    ) -> bool {
        // A calm run never yields; the draw it skips is used for nothing else here (`random`
        // draws it, as its picks come from the same generator).
        self.per_million != 0 && self.draw_yield(rng)
    }

    fn pick_next(&mut self, _ready: &[FiberId], _rng: &mut ChaCha8Rng) -> usize {
        0
    }

    fn reads_ready_fibers_at_checkpoints(&self) -> bool {
        false
    }
}

/// The yield probabilities a swarm-style seed chooses from: some runs calm, some stormy.
pub const SWARM_YIELD_PROBABILITIES: [f64; 5] = [0.0, 0.02, 0.1, 0.3, 0.6];

/// A number in `0..bound` (`bound` at least 1), uniform up to a bias of `bound / 2^32`, which is
/// far below anything a search can notice for the handful of fibers a run has ready at once.
fn uniform_below(rng: &mut ChaCha8Rng, bound: usize) -> usize {
    debug_assert!(bound > 0, "uniform_below needs a positive bound");
    ((u64::from(rng.next_u32()) * bound as u64) >> 32) as usize
}

/// The swarm draw of a forced-yield probability among [`SWARM_YIELD_PROBABILITIES`], the same
/// for `yields` and `random`.
fn swarm_yield_probability(rng: &mut ChaCha8Rng) -> f64 {
    let index = (rng.next_u32() as usize) % SWARM_YIELD_PROBABILITIES.len();
    SWARM_YIELD_PROBABILITIES[index]
}

/// madsim's own scheduling policy, made recordable: at each pick a uniformly random ready fiber
/// runs, and at each scheduling point the running fiber gives way with a fixed probability (as
/// [`ForcedYields`] does).
///
/// The pick is ours, not madsim's: madsim draws its pick inside its executor from its own RNG,
/// where it can be neither recorded nor replayed, and our executor is one madsim task, so madsim
/// never has a choice to make. The distribution is the same: madsim's `try_recv_random` takes a
/// uniformly random task from its run queue, and so does [`RandomPick::pick_next`] among the
/// ready fibers.
#[derive(Clone, Debug)]
pub struct RandomPick {
    yields: ForcedYields,
}

impl RandomPick {
    /// Random picks, and forced yields with `yield_probability` (between 0 and 1).
    pub fn new(yield_probability: f64) -> RandomPick {
        RandomPick {
            yields: ForcedYields::new(yield_probability),
        }
    }

    /// The forced-yield probability.
    pub fn yield_probability(&self) -> f64 {
        self.yields.probability()
    }
}

impl SchedulingStrategy for RandomPick {
    fn fiber_started(&mut self, _fiber: FiberId, _rng: &mut ChaCha8Rng) {}

    fn yield_at_checkpoint(
        &mut self,
        _running: FiberId,
        _ready: &[FiberId],
        rng: &mut ChaCha8Rng,
    ) -> bool {
        self.yields.draw_yield(rng)
    }

    fn pick_next(&mut self, ready: &[FiberId], rng: &mut ChaCha8Rng) -> usize {
        uniform_below(rng, ready.len())
    }

    fn reads_ready_fibers_at_checkpoints(&self) -> bool {
        false
    }
}

/// The deepest PCT a run may ask for. A depth-`D` run has `D - 1` change points and finds a
/// depth-`D` bug with probability about `1 / (n * k^(D-1))`: beyond a handful that bound is
/// too small to matter, and the limit keeps the change points (at most 9) far fewer than the
/// smallest length estimate.
pub const MAX_PCT_DEPTH: u32 = 10;

/// The smallest and largest run-length estimate of [`Pct`], as powers of two: estimates run
/// from 16 to 65,536 steps. The micro-model of the protocol race takes a few dozen steps, a full
/// consumer scenario thousands.
pub const PCT_LENGTH_ESTIMATE_LOG2: std::ops::RangeInclusive<u32> = 4..=16;

/// PCT (Burckhardt, Kothari, Musuvathi, Nagarakatte, "A Randomized Scheduler with Probabilistic
/// Guarantees of Finding Bugs", ASPLOS 2010), at depth `D`.
///
/// - **Priorities.** Each fiber gets a distinct random priority when it starts: a uniformly
///   random rank among all fibers of the run, as the paper's random permutation of `D..D+n`
///   gives. The highest-priority ready fiber always runs: [`Pct::yield_at_checkpoint`] answers
///   true exactly when a ready fiber outranks the running one, and [`Pct::pick_next`] returns
///   the highest-priority ready fiber.
/// - **Steps.** The step counter advances by one at every question the executor asks, that is
///   at every scheduling point where another fiber is ready and at every pick among two or more
///   ready fibers; steps are numbered from 0. Scheduling points where no other fiber is ready
///   are not asked and not counted. Nothing is lost by that: the paper demotes a thread to make
///   another run in its place, and where no other fiber is ready, none can; the next point where
///   one can is a counted step. Counting only real choices keeps `k` small, which is what the
///   bound `1 / (n * k^(D-1))` rewards.
/// - **Change points.** `D - 1` distinct steps `c_1 .. c_{D-1}`. At step `c_i` the fiber that
///   would take the step (the running fiber at a scheduling point, the highest-priority ready
///   fiber at a pick) drops to priority `i`, below every initial priority, and the question is
///   then answered with the new priorities, so the change point preempts it there. The `i` are
///   in the order the points were drawn, not in step order, as in the paper.
/// - **Where the change points fall.** The paper draws them uniformly among the run's `k`
///   steps, but `k` is unknown until the run ends, and runs differ by orders of magnitude. A
///   fixed estimate `K` costs a factor `K / k` per change point on shorter runs: on the
///   micro-model of the check-offer-drain race (under 50 steps, `sim/tests/strategies.rs`),
///   `K = 2000` left `pct:3` without a hang in half of 20 windows of 2,000 seeds, where the
///   drawn estimate below needs a median of about 70 seeds. Shuttle grows its estimate from
///   earlier runs, which a run that is a pure function of its seed cannot do. So each run
///   draws its own estimate, swarm style: `K = 2^j` with `j` uniform in
///   [`PCT_LENGTH_ESTIMATE_LOG2`], and the change points are uniform among the distinct steps
///   of `[0, K)`. A run of `k` steps, from 16 to 65,536, gets an estimate from `k` to `2k` in
///   one run out of 13, so the paper's bound holds within a factor `13 * 2^(D-1)`; change
///   points past the run's end are simply never reached.
///
/// Deterministic given its RNG: priorities live in a `BTreeMap`, and every draw comes from the
/// run's scheduling stream.
#[derive(Clone, Debug)]
pub struct Pct {
    depth: u32,
    /// Each started fiber's current priority. Initial priorities have the top bit set, so they
    /// outrank every demoted priority `1..D`.
    priorities: BTreeMap<FiberId, u64>,
    /// Every initial priority given so far, so that a new one is drawn distinct from them.
    initial_priorities: BTreeSet<u64>,
    /// `change_points[i - 1]` is the step at which the `i`-th change point demotes to `i`.
    change_points: Vec<u64>,
    /// The run-length estimate the change points were drawn from.
    length_estimate: u64,
    /// Steps counted so far: the number of the next step.
    steps: u64,
}

/// Initial priorities carry this bit, so that every initial priority outranks every demoted one.
const INITIAL_PRIORITY: u64 = 1 << 63;

/// A bound on redraws of a priority or change point that collided with an earlier one. With at
/// most [`MAX_PCT_DEPTH`] - 1 change points among at least 16 steps, and 63-bit priorities, a
/// redraw collides again with probability below 10/16, so running out is a broken RNG.
const MAX_REDRAWS: u32 = 1_000;

impl Pct {
    /// PCT at `depth` (from 1 to [`MAX_PCT_DEPTH`]), its length estimate and change points
    /// drawn from `rng`.
    pub fn new(depth: u32, rng: &mut ChaCha8Rng) -> Pct {
        assert!(
            (1..=MAX_PCT_DEPTH).contains(&depth),
            "a PCT depth is from 1 to {MAX_PCT_DEPTH}"
        );
        let log2_choices = PCT_LENGTH_ESTIMATE_LOG2.end() - PCT_LENGTH_ESTIMATE_LOG2.start() + 1;
        let log2 =
            PCT_LENGTH_ESTIMATE_LOG2.start() + uniform_below(rng, log2_choices as usize) as u32;
        let length_estimate = 1u64 << log2;
        let mut change_points: Vec<u64> = Vec::with_capacity(depth as usize - 1);
        for _ in 1..depth {
            let mut redraws = 0;
            let point = loop {
                let candidate = rng.next_u64() % length_estimate;
                if !change_points.contains(&candidate) {
                    break candidate;
                }
                redraws += 1;
                assert!(
                    redraws < MAX_REDRAWS,
                    "PCT could not draw distinct change points"
                );
            };
            change_points.push(point);
        }
        Pct {
            depth,
            priorities: BTreeMap::new(),
            initial_priorities: BTreeSet::new(),
            change_points,
            length_estimate,
            steps: 0,
        }
    }

    /// The depth `D`.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// The run-length estimate the change points were drawn from.
    pub fn length_estimate(&self) -> u64 {
        self.length_estimate
    }

    /// The steps of the change points, in the order of their demoted priorities `1..D`.
    pub fn change_points(&self) -> &[u64] {
        &self.change_points
    }

    /// The current priority of `fiber`; higher runs first.
    pub fn priority(&self, fiber: FiberId) -> u64 {
        *self
            .priorities
            .get(&fiber)
            .unwrap_or_else(|| panic!("PCT was asked about fiber#{} before it started", fiber.0))
    }

    /// Counts one step and, if it is a change point, demotes `fiber` (the one that would take
    /// the step) below every initial priority.
    fn take_step(&mut self, fiber: FiberId) {
        let step = self.steps;
        self.steps += 1;
        if let Some(index) = self.change_points.iter().position(|&point| point == step) {
            let demoted = index as u64 + 1;
            self.priorities.insert(fiber, demoted);
        }
    }

    /// The index in `ready` of the highest-priority fiber.
    fn highest(&self, ready: &[FiberId]) -> usize {
        let mut best = 0;
        for (index, &fiber) in ready.iter().enumerate().skip(1) {
            if self.priority(fiber) > self.priority(ready[best]) {
                best = index;
            }
        }
        best
    }
}

impl SchedulingStrategy for Pct {
    fn fiber_started(&mut self, fiber: FiberId, rng: &mut ChaCha8Rng) {
        // Random 63-bit keys give every fiber a uniformly random rank among all fibers of the
        // run, whenever it starts; a redraw keeps them distinct.
        let mut redraws = 0;
        let priority = loop {
            let candidate = INITIAL_PRIORITY | rng.next_u64();
            if self.initial_priorities.insert(candidate) {
                break candidate;
            }
            redraws += 1;
            assert!(
                redraws < MAX_REDRAWS,
                "PCT could not draw a distinct priority"
            );
        };
        let previous = self.priorities.insert(fiber, priority);
        assert!(previous.is_none(), "fiber#{} started twice", fiber.0);
    }

    fn yield_at_checkpoint(
        &mut self,
        running: FiberId,
        ready: &[FiberId],
        _rng: &mut ChaCha8Rng,
    ) -> bool {
        self.take_step(running);
        let running_priority = self.priority(running);
        ready
            .iter()
            .any(|&fiber| self.priority(fiber) > running_priority)
    }

    fn pick_next(&mut self, ready: &[FiberId], _rng: &mut ChaCha8Rng) -> usize {
        let would_run = ready[self.highest(ready)];
        self.take_step(would_run);
        self.highest(ready)
    }
}

/// Which strategy a run uses, as named on the command line and in fixtures.
#[derive(Clone, Debug, PartialEq)]
pub enum StrategyChoice {
    /// `yields`: forced yields with a probability drawn from the seed among
    /// [`SWARM_YIELD_PROBABILITIES`].
    SwarmYields,
    /// `yields:P`: forced yields with probability `P`.
    Yields(f64),
    /// `random`: a uniformly random ready fiber at each pick ([`RandomPick`]), with forced
    /// yields at a probability drawn from the seed among [`SWARM_YIELD_PROBABILITIES`].
    Random,
    /// `pct:D`: PCT at depth `D`, from 1 to [`MAX_PCT_DEPTH`] ([`Pct`]).
    Pct(u32),
}

impl StrategyChoice {
    /// Builds the strategy for one run; `rng` is the scheduling stream of the run's seed.
    pub fn build(&self, rng: &mut ChaCha8Rng) -> Box<dyn SchedulingStrategy> {
        match self {
            StrategyChoice::SwarmYields => {
                Box::new(ForcedYields::new(swarm_yield_probability(rng)))
            }
            StrategyChoice::Yields(probability) => Box::new(ForcedYields::new(*probability)),
            StrategyChoice::Random => Box::new(RandomPick::new(swarm_yield_probability(rng))),
            StrategyChoice::Pct(depth) => Box::new(Pct::new(*depth, rng)),
        }
    }
}

impl Default for StrategyChoice {
    fn default() -> Self {
        StrategyChoice::SwarmYields
    }
}

impl fmt::Display for StrategyChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrategyChoice::SwarmYields => f.write_str("yields"),
            StrategyChoice::Yields(probability) => write!(f, "yields:{probability}"),
            StrategyChoice::Random => f.write_str("random"),
            StrategyChoice::Pct(depth) => write!(f, "pct:{depth}"),
        }
    }
}

impl FromStr for StrategyChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once(':') {
            None if text == "yields" => Ok(StrategyChoice::SwarmYields),
            None if text == "random" => Ok(StrategyChoice::Random),
            None if text == "pct" => Err(format!(
                "strategy \"pct\" needs a depth: `pct:D` with D from 1 to {MAX_PCT_DEPTH}"
            )),
            Some(("yields", probability)) => match probability.parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => Ok(StrategyChoice::Yields(p)),
                _ => Err(format!(
                    "bad yield probability {probability:?} in strategy {text:?}: expected a number between 0 and 1"
                )),
            },
            Some(("pct", depth)) => match depth.parse::<u32>() {
                Ok(d) if (1..=MAX_PCT_DEPTH).contains(&d) => Ok(StrategyChoice::Pct(d)),
                _ => Err(format!(
                    "bad PCT depth {depth:?} in strategy {text:?}: expected a whole number from 1 to {MAX_PCT_DEPTH}"
                )),
            },
            _ => Err(format!(
                "unknown strategy {text:?}: expected `yields`, `yields:P`, `random` or `pct:D`"
            )),
        }
    }
}

/// The decisions of one run, in the order they were taken. Each is a small number: 0 or 1 for
/// a yield decision, an index into the ready fibers for a pick.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecisionLog {
    decisions: Vec<u32>,
}

impl DecisionLog {
    /// A log of these decisions.
    pub fn from_decisions(decisions: Vec<u32>) -> DecisionLog {
        DecisionLog { decisions }
    }

    /// The decisions in order.
    pub fn decisions(&self) -> &[u32] {
        &self.decisions
    }

    /// How many decisions the log holds.
    pub fn len(&self) -> usize {
        self.decisions.len()
    }

    /// Whether the log holds no decision.
    pub fn is_empty(&self) -> bool {
        self.decisions.is_empty()
    }

    /// A compact text form for fixtures: space-separated decisions, with runs written
    /// `value*count` (for example `0*41 1 0*7 2`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let mut index = 0;
        while index < self.decisions.len() {
            let value = self.decisions[index];
            let run = self.decisions[index..]
                .iter()
                .take_while(|&&d| d == value)
                .count();
            if !out.is_empty() {
                out.push(' ');
            }
            if run > 1 {
                out.push_str(&format!("{value}*{run}"));
            } else {
                out.push_str(&value.to_string());
            }
            index += run;
        }
        out
    }

    /// Parses the text form written by [`DecisionLog::encode`].
    pub fn decode(text: &str) -> Result<DecisionLog, String> {
        let mut decisions = Vec::new();
        for token in text.split_whitespace() {
            let (value, count) = match token.split_once('*') {
                Some((value, count)) => (value, count),
                None => (token, "1"),
            };
            let value: u32 = value.parse().map_err(|_| {
                format!("bad decision {token:?} in decision log: expected N or N*COUNT")
            })?;
            let count: usize = count
                .parse()
                .map_err(|_| format!("bad repeat count in decision {token:?} of decision log"))?;
            if count == 0 || decisions.len() + count > MAX_DECISIONS {
                return Err(format!(
                    "decision {token:?} gives a log outside 1..={MAX_DECISIONS} entries"
                ));
            }
            decisions.extend(std::iter::repeat_n(value, count));
        }
        Ok(DecisionLog { decisions })
    }
}

/// The longest decision log a fixture may carry; a limit on what a malformed file can ask for.
pub const MAX_DECISIONS: usize = 50_000_000;

/// Where a run's decisions come from: the strategy, or a log being replayed. Either way every
/// decision taken is recorded again, so a replayed run yields the same log.
pub(crate) struct DecisionSource {
    strategy: Box<dyn SchedulingStrategy>,
    rng: ChaCha8Rng,
    replay: Option<(DecisionLog, usize)>,
    recorded: Vec<u32>,
    diverged: bool,
}

impl DecisionSource {
    pub(crate) fn new(
        strategy: Box<dyn SchedulingStrategy>,
        rng: ChaCha8Rng,
        replay: Option<DecisionLog>,
    ) -> Self {
        DecisionSource {
            strategy,
            rng,
            replay: replay.map(|log| (log, 0)),
            recorded: Vec::new(),
            diverged: false,
        }
    }

    pub(crate) fn fiber_started(&mut self, fiber: FiberId) {
        self.strategy.fiber_started(fiber, &mut self.rng);
    }

    /// A logged decision among `options` choices, if replaying and the log still fits.
    fn replayed(&mut self, options: u32) -> Option<u32> {
        let (log, position) = self.replay.as_mut()?;
        let logged = log.decisions.get(*position).copied();
        *position += 1;
        match logged {
            Some(value) if value < options => Some(value),
            _ => {
                self.diverged = true;
                self.replay = None;
                None
            }
        }
    }

    /// Whether [`DecisionSource::yield_at_checkpoint`] needs the list of ready fibers, or only
    /// needs to be asked when there is one.
    pub(crate) fn reads_ready_fibers_at_checkpoints(&self) -> bool {
        self.strategy.reads_ready_fibers_at_checkpoints()
    }

    pub(crate) fn yield_at_checkpoint(&mut self, running: FiberId, ready: &[FiberId]) -> bool {
        let decision = match self.replayed(2) {
            Some(value) => value,
            None => self
                .strategy
                .yield_at_checkpoint(running, ready, &mut self.rng) as u32,
        };
        self.recorded.push(decision);
        decision == 1
    }

    pub(crate) fn pick_next(&mut self, ready: &[FiberId]) -> usize {
        let decision = match self.replayed(ready.len() as u32) {
            Some(value) => value as usize,
            None => {
                let index = self.strategy.pick_next(ready, &mut self.rng);
                assert!(
                    index < ready.len(),
                    "a strategy picked outside the ready fibers"
                );
                index
            }
        };
        self.recorded.push(decision as u32);
        decision
    }

    /// The log of this run, and whether a replay had to leave its log.
    pub(crate) fn finish(&mut self) -> (DecisionLog, bool) {
        let diverged = self.diverged
            || self
                .replay
                .as_ref()
                .is_some_and(|(log, position)| *position < log.decisions.len());
        (
            DecisionLog {
                decisions: std::mem::take(&mut self.recorded),
            },
            diverged,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text form of a log reads back to the same decisions.
    #[test]
    fn decision_log_round_trips_through_text() {
        let log = DecisionLog::from_decisions(vec![0, 0, 0, 1, 0, 2, 2, 0]);
        assert_eq!(log.encode(), "0*3 1 0 2*2 0");
        assert_eq!(DecisionLog::decode(&log.encode()).unwrap(), log);
        assert_eq!(DecisionLog::decode("").unwrap(), DecisionLog::default());
    }

    /// Malformed decision logs are refused with a message, not a panic.
    #[test]
    fn malformed_decision_logs_are_refused() {
        for bad in ["x", "1*", "1*0", "-1", "0*99999999999"] {
            assert!(
                DecisionLog::decode(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    /// Strategy names parse, print back, and unknown ones are refused.
    #[test]
    fn strategy_names_parse_and_print() {
        assert_eq!(
            "yields".parse::<StrategyChoice>().unwrap(),
            StrategyChoice::SwarmYields
        );
        let fixed: StrategyChoice = "yields:0.25".parse().unwrap();
        assert_eq!(fixed.to_string(), "yields:0.25");
        assert!("yields:2".parse::<StrategyChoice>().is_err());
        assert!("telepathy".parse::<StrategyChoice>().is_err());
    }

    /// Every strategy name prints back to itself, and parses to the strategy it names.
    #[test]
    fn strategy_names_round_trip() {
        let named = [
            ("yields", StrategyChoice::SwarmYields),
            ("yields:0", StrategyChoice::Yields(0.0)),
            ("yields:0.3", StrategyChoice::Yields(0.3)),
            ("random", StrategyChoice::Random),
            ("pct:1", StrategyChoice::Pct(1)),
            ("pct:3", StrategyChoice::Pct(3)),
            ("pct:10", StrategyChoice::Pct(10)),
        ];
        for (name, choice) in named {
            assert_eq!(
                name.parse::<StrategyChoice>().as_ref(),
                Ok(&choice),
                "{name}"
            );
            assert_eq!(choice.to_string(), name);
        }
    }

    /// Bad strategy names are refused with one line that names the input and what was expected.
    #[test]
    fn bad_strategy_names_are_refused_with_one_line() {
        let refused = [
            ("pct:0", "bad PCT depth \"0\""),
            ("pct:x", "bad PCT depth \"x\""),
            ("pct:99", "bad PCT depth \"99\""),
            ("pct:-1", "bad PCT depth"),
            ("pct:3.5", "bad PCT depth"),
            ("pct:", "bad PCT depth"),
            ("pct", "needs a depth"),
            ("random:0.5", "unknown strategy \"random:0.5\""),
            ("Random", "unknown strategy"),
            ("yields:x", "bad yield probability"),
            ("", "unknown strategy"),
        ];
        for (name, expected) in refused {
            let error = name.parse::<StrategyChoice>().unwrap_err();
            assert!(error.contains(expected), "{name:?} gave {error:?}");
            assert!(!error.contains('\n'), "{name:?} gave more than one line");
        }
        let unknown = "telepathy".parse::<StrategyChoice>().unwrap_err();
        for listed in ["`yields`", "`yields:P`", "`random`", "`pct:D`"] {
            assert!(
                unknown.contains(listed),
                "{unknown:?} does not list {listed}"
            );
        }
        assert!("pct:11"
            .parse::<StrategyChoice>()
            .unwrap_err()
            .contains("from 1 to 10"));
    }

    fn rng(seed: u64) -> ChaCha8Rng {
        use rand_core::SeedableRng;
        ChaCha8Rng::seed_from_u64(seed)
    }

    fn fibers(count: u64) -> Vec<FiberId> {
        (1..=count).map(FiberId).collect()
    }

    /// Without change points, PCT picks the highest-priority ready fiber, and the running fiber
    /// gives way exactly when a ready fiber outranks it.
    #[test]
    fn pct_runs_the_highest_priority_ready_fiber() {
        for seed in 0..50 {
            let mut rng = rng(seed);
            let mut pct = Pct::new(1, &mut rng);
            assert!(pct.change_points().is_empty());
            let all = fibers(5);
            for &fiber in &all {
                pct.fiber_started(fiber, &mut rng);
            }
            let top = *all.iter().max_by_key(|&&f| pct.priority(f)).unwrap();
            let picked = pct.pick_next(&all, &mut rng);
            assert_eq!(all[picked], top, "seed {seed}");
            for &running in &all {
                let others: Vec<FiberId> = all.iter().copied().filter(|&f| f != running).collect();
                let outranked = others
                    .iter()
                    .any(|&f| pct.priority(f) > pct.priority(running));
                assert_eq!(
                    pct.yield_at_checkpoint(running, &others, &mut rng),
                    outranked,
                    "seed {seed}, fiber#{}",
                    running.0
                );
            }
        }
    }

    /// Initial priorities are distinct and give every order of the fibers: over many seeds each
    /// of three fibers is on top about a third of the time.
    #[test]
    fn pct_priorities_are_distinct_and_uniform() {
        let mut on_top = [0u32; 3];
        for seed in 0..3_000 {
            let mut rng = rng(seed);
            let mut pct = Pct::new(1, &mut rng);
            let all = fibers(3);
            for &fiber in &all {
                pct.fiber_started(fiber, &mut rng);
            }
            let distinct: BTreeMap<u64, FiberId> =
                all.iter().map(|&f| (pct.priority(f), f)).collect();
            assert_eq!(distinct.len(), 3, "seed {seed}: equal priorities");
            on_top[pct.pick_next(&all, &mut rng)] += 1;
        }
        for count in on_top {
            assert!((850..1_150).contains(&count), "on top: {on_top:?} of 3,000");
        }
    }

    /// The i-th change point demotes the fiber that takes that step to priority i, below every
    /// initial priority; at a scheduling point that makes the running fiber give way.
    #[test]
    fn pct_change_points_demote_below_every_initial_priority() {
        for seed in 0..50 {
            let mut rng = rng(seed);
            let mut pct = Pct::new(4, &mut rng);
            let estimate = pct.length_estimate();
            let log2 = estimate.trailing_zeros();
            assert!(estimate.is_power_of_two() && PCT_LENGTH_ESTIMATE_LOG2.contains(&log2));
            let points = pct.change_points().to_vec();
            assert_eq!(points.len(), 3);
            assert!(
                points.iter().all(|&p| p < estimate),
                "seed {seed}: {points:?}"
            );
            let distinct: std::collections::BTreeSet<u64> = points.iter().copied().collect();
            assert_eq!(distinct.len(), 3, "seed {seed}: change points collide");
            let all = fibers(2);
            for &fiber in &all {
                pct.fiber_started(fiber, &mut rng);
            }
            // Step up to each change point with the top fiber running, in step order.
            let mut in_step_order: Vec<(u64, u64)> = points
                .iter()
                .enumerate()
                .map(|(i, &p)| (p, i as u64 + 1))
                .collect();
            in_step_order.sort_unstable();
            for (point, demoted_to) in in_step_order {
                let running = all[pct.highest(&all)];
                let other = all.iter().copied().find(|&f| f != running).unwrap();
                while pct.steps < point {
                    assert!(!pct.yield_at_checkpoint(running, &[other], &mut rng));
                }
                let other_priority = pct.priority(other);
                let gives_way = pct.yield_at_checkpoint(running, &[other], &mut rng);
                assert_eq!(pct.priority(running), demoted_to, "seed {seed}");
                assert_eq!(gives_way, other_priority > demoted_to, "seed {seed}");
            }
        }
    }

    /// A change point at a pick demotes the fiber that would have run, so the next one runs.
    #[test]
    fn pct_change_point_at_a_pick_runs_the_next_fiber() {
        let seed = (0..1_000)
            .find(|&seed| Pct::new(2, &mut rng(seed)).change_points() == [0])
            .expect("some seed puts the change point at step 0");
        let mut rng = rng(seed);
        let mut pct = Pct::new(2, &mut rng);
        let all = fibers(3);
        for &fiber in &all {
            pct.fiber_started(fiber, &mut rng);
        }
        let mut by_priority = all.clone();
        by_priority.sort_by_key(|&f| std::cmp::Reverse(pct.priority(f)));
        assert_eq!(all[pct.pick_next(&all, &mut rng)], by_priority[1]);
        assert_eq!(pct.priority(by_priority[0]), 1);
        assert_eq!(all[pct.pick_next(&all, &mut rng)], by_priority[1]);
    }

    /// PCT is a function of its RNG: the same seed gives the same estimate, change points,
    /// priorities and answers.
    #[test]
    fn pct_is_deterministic_given_its_rng() {
        let answers = |seed: u64| {
            let mut rng = rng(seed);
            let mut pct = Pct::new(3, &mut rng);
            let all = fibers(4);
            for &fiber in &all {
                pct.fiber_started(fiber, &mut rng);
            }
            let picks: Vec<usize> = (0..200).map(|_| pct.pick_next(&all, &mut rng)).collect();
            (pct.length_estimate(), pct.change_points().to_vec(), picks)
        };
        for seed in 0..20 {
            assert_eq!(answers(seed), answers(seed), "seed {seed}");
        }
        assert_ne!(answers(1), answers(2));
    }

    /// The random pick is uniform over the ready fibers.
    #[test]
    fn random_pick_is_uniform() {
        let mut rng = rng(7);
        let mut strategy = RandomPick::new(0.0);
        let ready = fibers(4);
        let mut picked = [0u32; 4];
        for _ in 0..8_000 {
            picked[strategy.pick_next(&ready, &mut rng)] += 1;
        }
        for count in picked {
            assert!(
                (1_800..2_200).contains(&count),
                "picks: {picked:?} of 8,000"
            );
        }
        assert!(!strategy.yield_at_checkpoint(FiberId(1), &ready[1..], &mut rng));
    }

    /// `random` draws its forced-yield probability from the swarm, as `yields` does.
    #[test]
    fn random_draws_its_yield_probability_from_the_swarm() {
        let drawn: std::collections::BTreeSet<u64> = (0..200)
            .map(|seed| (swarm_yield_probability(&mut rng(seed)) * 1_000.0) as u64)
            .collect();
        let swarm: std::collections::BTreeSet<u64> = SWARM_YIELD_PROBABILITIES
            .iter()
            .map(|p| (p * 1_000.0) as u64)
            .collect();
        assert_eq!(drawn, swarm);
    }
}
