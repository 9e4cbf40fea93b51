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
    /// Whether `running`, at a scheduling point, gives way to the other ready fibers.
    fn yield_at_checkpoint(&mut self, running: FiberId, rng: &mut ChaCha8Rng) -> bool;
    /// Which of `ready` (oldest first, at least two) runs next: an index into `ready`.
    fn pick_next(&mut self, ready: &[FiberId], rng: &mut ChaCha8Rng) -> usize;
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
}

impl SchedulingStrategy for ForcedYields {
    fn fiber_started(&mut self, _fiber: FiberId, _rng: &mut ChaCha8Rng) {}

    fn yield_at_checkpoint(&mut self, _running: FiberId, rng: &mut ChaCha8Rng) -> bool {
        (rng.next_u32() % 1_000_000) < self.per_million
    }

    fn pick_next(&mut self, _ready: &[FiberId], _rng: &mut ChaCha8Rng) -> usize {
        0
    }
}

/// The yield probabilities a swarm-style seed chooses from: some runs calm, some stormy.
pub const SWARM_YIELD_PROBABILITIES: [f64; 5] = [0.0, 0.02, 0.1, 0.3, 0.6];

/// Which strategy a run uses, as named on the command line and in fixtures.
#[derive(Clone, Debug, PartialEq)]
pub enum StrategyChoice {
    /// `yields`: forced yields with a probability drawn from the seed among
    /// [`SWARM_YIELD_PROBABILITIES`].
    SwarmYields,
    /// `yields:P`: forced yields with probability `P`.
    Yields(f64),
}

impl StrategyChoice {
    /// Builds the strategy for one run; `rng` is the scheduling stream of the run's seed.
    pub fn build(&self, rng: &mut ChaCha8Rng) -> Box<dyn SchedulingStrategy> {
        match self {
            StrategyChoice::SwarmYields => {
                let index = (rng.next_u32() as usize) % SWARM_YIELD_PROBABILITIES.len();
                Box::new(ForcedYields::new(SWARM_YIELD_PROBABILITIES[index]))
            }
            StrategyChoice::Yields(probability) => Box::new(ForcedYields::new(*probability)),
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
        }
    }
}

impl FromStr for StrategyChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once(':') {
            None if text == "yields" => Ok(StrategyChoice::SwarmYields),
            Some(("yields", probability)) => match probability.parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => Ok(StrategyChoice::Yields(p)),
                _ => Err(format!(
                    "bad yield probability {probability:?} in strategy {text:?}: expected a number between 0 and 1"
                )),
            },
            _ => Err(format!("unknown strategy {text:?}: expected `yields` or `yields:P`")),
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

    pub(crate) fn yield_at_checkpoint(&mut self, running: FiberId) -> bool {
        let decision = match self.replayed(2) {
            Some(value) => value,
            None => self.strategy.yield_at_checkpoint(running, &mut self.rng) as u32,
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
}
