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
//! - `log` ([`FromLog`]): decisions come from the fixture's log; past its end, default ones (no
//!   forced yield, the oldest ready fiber). Every logged decision is admitted, so any log that
//!   fits replays strictly: the strategy of an explicit schedule, which `hangsim shrink` writes
//!   when it has edited a schedule its original strategy could not have taken (a PCT run's).
//!   One fixed schedule for every seed: searches refuse it ([`StrategyChoice::searchable`]).
//! - `schedule`: decisions come from the fixture's schedule keyed by fiber
//!   ([`FiberSchedule`]: "at 2.418 s, when the runloop stops after its third scheduling point,
//!   fiber X runs next"); every other decision is the default, as under `log`. What
//!   `hangsim shrink` writes when a schedule keeps non-default decisions: each entry keeps its
//!   meaning when another is deleted, so such schedules shrink far further than position-keyed
//!   logs, and read as a list of named preemptions. Searches refuse it too.
//!
//! Deliberately left out: strategies that learn across runs (coverage feedback, or shuttle's
//! PCT, which sizes its change points from the previous run's length). Every run here is a pure
//! function of its seed, so a search can run seeds in any order, on any number of jobs.
//!
//! Map: [`forced_yields`], [`random_pick`], [`pct`] and [`from_log`] hold one strategy each; [`decision_log`]
//! holds the [`DecisionLog`] and the source that takes decisions from a strategy or replays them
//! from a log; this file holds the oracle's trait and [`StrategyChoice`], which names them.

use std::fmt;
use std::str::FromStr;

use consumer::rt::FiberId;
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

pub mod decision_log;
pub mod fiber_schedule;
pub mod forced_yields;
pub mod from_log;
pub mod pct;
pub mod random_pick;

pub(crate) use decision_log::DecisionSource;
pub use decision_log::{DecisionLog, ReplayDivergence, StrategyDisagreement, MAX_DECISIONS};
pub use fiber_schedule::{
    Action, FiberRef, FiberSchedule, ScheduleDivergence, ScheduleEntry, MAX_SCHEDULE_ENTRIES,
};
pub use forced_yields::ForcedYields;
pub use from_log::FromLog;
pub use pct::{Pct, MAX_PCT_DEPTH, PCT_LENGTH_ESTIMATE_LOG2};
pub use random_pick::RandomPick;

/// The scheduler's oracle (after shuttle's `Scheduler`): three questions, each asked only when
/// there is a real choice, and two checks a replay makes of the decisions it takes from a log.
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
    /// Whether the strategy could have answered `logged` at a scheduling point where it has
    /// just answered `answered`: a replay checks every logged decision this way, so that a
    /// fixture whose log its strategy could not have produced is a mismatch. A strategy whose
    /// answer is a function of its state admits only that answer (the default); one that draws
    /// its answer admits whatever the draw could have given.
    fn admits_yield(&self, logged: bool, answered: bool) -> bool {
        logged == answered
    }
    /// As [`SchedulingStrategy::admits_yield`], for a pick.
    fn admits_pick(&self, logged: usize, answered: usize) -> bool {
        logged == answered
    }
}

/// The yield probabilities a swarm-style seed chooses from: some runs calm, some stormy.
pub const SWARM_YIELD_PROBABILITIES: [f64; 5] = [0.0, 0.02, 0.1, 0.3, 0.6];

/// A number in `0..bound` (`bound` at least 1), uniform up to a bias of `bound / 2^32`, which is
/// far below anything a search can notice for the handful of fibers a run has ready at once.
pub(crate) fn uniform_below(rng: &mut ChaCha8Rng, bound: usize) -> usize {
    debug_assert!(bound > 0, "uniform_below needs a positive bound");
    ((u64::from(rng.next_u32()) * bound as u64) >> 32) as usize
}

/// The swarm draw of a forced-yield probability among [`SWARM_YIELD_PROBABILITIES`], the same
/// for `yields` and `random`.
pub(crate) fn swarm_yield_probability(rng: &mut ChaCha8Rng) -> f64 {
    let index = (rng.next_u32() as usize) % SWARM_YIELD_PROBABILITIES.len();
    SWARM_YIELD_PROBABILITIES[index]
}

/// Which strategy a run uses, as named on the command line and in fixtures.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum StrategyChoice {
    /// `yields`: forced yields with a probability drawn from the seed among
    /// [`SWARM_YIELD_PROBABILITIES`]. The default.
    #[default]
    SwarmYields,
    /// `yields:P`: forced yields with probability `P`.
    Yields(f64),
    /// `random`: a uniformly random ready fiber at each pick ([`RandomPick`]), with forced
    /// yields at a probability drawn from the seed among [`SWARM_YIELD_PROBABILITIES`].
    Random,
    /// `pct:D`: PCT at depth `D`, from 1 to [`MAX_PCT_DEPTH`] ([`Pct`]).
    Pct(u32),
    /// `log`: the decisions are the run's decision log (a fixture's); past its end, or with no
    /// log, the defaults ([`FromLog`]).
    Log,
    /// `schedule`: the decisions are the run's schedule keyed by fiber ([`FiberSchedule`]);
    /// where it says nothing, or with none, the defaults (answered by [`FromLog`]).
    Schedule,
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
            StrategyChoice::Log | StrategyChoice::Schedule => Box::new(FromLog),
        }
    }

    /// Whether a log edited toward the default decisions (no forced yield, the oldest ready
    /// fiber) still replays strictly under this strategy, that is whether it admits a default
    /// decision wherever a default was possible. Not so for PCT, whose every answer is a
    /// function of its priorities, nor for `yields:1`, which always yields: the shrinker
    /// re-expresses their fixtures under `log` before it edits their schedule.
    pub fn admits_default_decisions(&self) -> bool {
        match self {
            // The swarm's probabilities are all below 1 (`SWARM_YIELD_PROBABILITIES`).
            StrategyChoice::SwarmYields
            | StrategyChoice::Random
            | StrategyChoice::Log
            | StrategyChoice::Schedule => true,
            StrategyChoice::Yields(probability) => *probability < 1.0,
            StrategyChoice::Pct(_) => false,
        }
    }

    /// Whether a search over seeds under this strategy searches anything: `log` and `schedule`
    /// give every seed the same schedule (the fixture's, or the defaults), so `search` and
    /// `bench` refuse them.
    pub fn searchable(&self) -> bool {
        !matches!(self, StrategyChoice::Log | StrategyChoice::Schedule)
    }
}

impl fmt::Display for StrategyChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrategyChoice::SwarmYields => f.write_str("yields"),
            StrategyChoice::Yields(probability) => write!(f, "yields:{probability}"),
            StrategyChoice::Random => f.write_str("random"),
            StrategyChoice::Pct(depth) => write!(f, "pct:{depth}"),
            StrategyChoice::Log => f.write_str("log"),
            StrategyChoice::Schedule => f.write_str("schedule"),
        }
    }
}

/// A strategy is written by its name (`pct:3`) in NDJSON lines and fixtures.
impl serde::Serialize for StrategyChoice {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for StrategyChoice {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for StrategyChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once(':') {
            None if text == "yields" => Ok(StrategyChoice::SwarmYields),
            None if text == "random" => Ok(StrategyChoice::Random),
            None if text == "log" => Ok(StrategyChoice::Log),
            None if text == "schedule" => Ok(StrategyChoice::Schedule),
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
                "unknown strategy {text:?}: expected `yields`, `yields:P`, `random`, `pct:D`, `log` or `schedule`"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ("log", StrategyChoice::Log),
            ("schedule", StrategyChoice::Schedule),
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
            ("log:3", "unknown strategy \"log:3\""),
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
        for listed in ["`yields`", "`yields:P`", "`random`", "`pct:D`", "`log`"] {
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

    /// Only PCT and `yields:1` refuse default decisions, and only `log` and `schedule` are not
    /// searchable.
    #[test]
    fn which_strategies_admit_defaults_and_searches() {
        let admit = [
            "yields",
            "yields:0",
            "yields:0.6",
            "random",
            "log",
            "schedule",
        ];
        let refuse = ["yields:1", "pct:1", "pct:3"];
        for name in admit {
            let choice: StrategyChoice = name.parse().unwrap();
            assert!(choice.admits_default_decisions(), "{name}");
            assert!(
                choice.searchable() != ["log", "schedule"].contains(&name),
                "{name}"
            );
        }
        for name in refuse {
            let choice: StrategyChoice = name.parse().unwrap();
            assert!(!choice.admits_default_decisions(), "{name}");
            assert!(choice.searchable(), "{name}");
        }
    }
}
