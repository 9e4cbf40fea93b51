//! The decision log: the decisions a run took, in order, and their text form in fixtures; and
//! the source a run takes its decisions from (the strategy, or a log being replayed).

use std::time::Duration;

use consumer::rt::FiberId;
use rand_chacha::ChaCha8Rng;

use super::fiber_schedule::{FiberSchedule, Keyed, ScheduleDivergence};
use super::SchedulingStrategy;

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

    /// Parses the text form written by [`DecisionLog::encode`]. Refuses, with one line, a
    /// token that is not `N` or `N*COUNT`, a count of 0, and a log longer than
    /// [`MAX_DECISIONS`]: the count is checked before anything is allocated, so a malformed
    /// file can never make this allocate more than `MAX_DECISIONS` decisions.
    pub fn decode(text: &str) -> Result<DecisionLog, String> {
        let mut decisions = Vec::new();
        for token in text.split_whitespace() {
            let (value, count) = match token.split_once('*') {
                Some((value, count)) => (value, count),
                None => (token, "1"),
            };
            let value: u32 = parse_digits(value).ok_or_else(|| {
                format!("bad decision {token:?} in decision log: expected N or N*COUNT")
            })?;
            let count: usize = parse_digits(count)
                .ok_or_else(|| format!("bad repeat count in decision {token:?} of decision log"))?;
            let total = decisions.len().checked_add(count);
            if count == 0 || total.is_none_or(|total| total > MAX_DECISIONS) {
                return Err(format!(
                    "decision {token:?} gives a log outside 1..={MAX_DECISIONS} entries"
                ));
            }
            decisions.extend(std::iter::repeat_n(value, count));
        }
        Ok(DecisionLog { decisions })
    }
}

/// A number written with decimal digits only (no sign, no spaces), as [`DecisionLog::encode`]
/// writes them.
fn parse_digits<N: std::str::FromStr>(text: &str) -> Option<N> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The longest decision log a run may replay, and so a fixture carry: a limit on what a
/// malformed file can make us allocate (4 bytes a decision, 16 MiB in all). The longest log of a
/// committed fixture holds about 4,000 decisions.
pub const MAX_DECISIONS: usize = 4_000_000;

/// How a replay left its decision log. A strict replay (fixtures) takes exactly its log: any of
/// these makes it a mismatch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayDivergence {
    /// The run needed decision number `at` (from 0), but the log ended before it.
    RanOut { at: usize },
    /// Decision number `at` of the log, `logged`, is not one of the `options` choices the run
    /// had there.
    DoesNotFit {
        at: usize,
        logged: u32,
        options: u32,
    },
    /// The run ended after taking `used` decisions of a log of `len`.
    LeftOver { used: usize, len: usize },
}

impl std::fmt::Display for ReplayDivergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayDivergence::RanOut { at } => {
                write!(
                    f,
                    "the run needed decision {at}, but the log holds only {at}"
                )
            }
            ReplayDivergence::DoesNotFit {
                at,
                logged,
                options,
            } => write!(
                f,
                "decision {at} of the log is {logged}, but the run had only {options} choices there"
            ),
            ReplayDivergence::LeftOver { used, len } => write!(
                f,
                "the run ended after {used} decisions, but the log holds {len}"
            ),
        }
    }
}

/// A decision of a replayed log that the run's strategy could not have taken (for example a
/// yield under `yields:0`, or another fiber than PCT's highest-priority one): the fixture's
/// `strategy` does not describe its log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrategyDisagreement {
    /// The decision's number in the log, from 0.
    pub at: usize,
    /// The logged decision.
    pub logged: u32,
    /// What the strategy answered there.
    pub strategy_answered: u32,
}

impl std::fmt::Display for StrategyDisagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "decision {} of the log is {}, which the strategy could not have taken (it answered {})",
            self.at, self.logged, self.strategy_answered
        )
    }
}

/// Where a run's decisions come from: the strategy, or a log being replayed. Either way every
/// decision taken is recorded again, so a replayed run yields the same log.
///
/// While replaying, the strategy is asked too, and each logged decision is checked against
/// what it could have answered ([`SchedulingStrategy::admits_yield`],
/// [`SchedulingStrategy::admits_pick`]); the first it could not have taken is reported. The
/// strategy's answers draw only from the scheduling stream, so asking it changes nothing the
/// workload sees.
pub(crate) struct DecisionSource {
    strategy: Box<dyn SchedulingStrategy>,
    rng: ChaCha8Rng,
    /// The log being replayed and the number of the next decision to take from it; `None` when
    /// not replaying, or once the replay has left its log.
    replay: Option<(DecisionLog, usize)>,
    recorded: Vec<u32>,
    divergence: Option<ReplayDivergence>,
    disagreement: Option<StrategyDisagreement>,
    /// The decisions keyed by fiber ([`super::fiber_schedule`]): the schedule followed and the
    /// keyed record, when the run follows one or is asked to record one; `None` otherwise, so
    /// that a search pays nothing for it.
    keyed: Option<Keyed>,
}

/// The end of a run's decisions: the log taken, how a replay left its log, the first logged
/// decision its strategy could not have taken, and (when keyed) the keyed record and how the
/// run left the schedule it followed.
pub(crate) struct FinishedDecisions {
    pub(crate) log: DecisionLog,
    pub(crate) divergence: Option<ReplayDivergence>,
    pub(crate) disagreement: Option<StrategyDisagreement>,
    pub(crate) keyed: Option<(FiberSchedule, Option<ScheduleDivergence>)>,
}

impl DecisionSource {
    /// Decisions from `strategy`, or from `replay` (by position) or `schedule` (keyed by fiber)
    /// when given; `key_decisions` also records them keyed by fiber.
    pub(crate) fn new(
        strategy: Box<dyn SchedulingStrategy>,
        rng: ChaCha8Rng,
        replay: Option<DecisionLog>,
        schedule: Option<FiberSchedule>,
        key_decisions: bool,
        pin_picks_at: Option<Duration>,
    ) -> Self {
        let keyed =
            (key_decisions || schedule.is_some()).then(|| Keyed::new(schedule, pin_picks_at));
        DecisionSource {
            strategy,
            rng,
            replay: replay.map(|log| (log, 0)),
            recorded: Vec::new(),
            divergence: None,
            disagreement: None,
            keyed,
        }
    }

    pub(crate) fn fiber_started(&mut self, fiber: FiberId, name: &str) {
        self.strategy.fiber_started(fiber, &mut self.rng);
        if let Some(keyed) = &mut self.keyed {
            keyed.fiber_started(fiber, name);
        }
    }

    /// `fiber` is at a scheduling point at `now` (asked or not: the keys count them all).
    pub(crate) fn scheduling_point(&mut self, fiber: FiberId, now: Duration) {
        if let Some(keyed) = &mut self.keyed {
            keyed.scheduling_point(fiber, now);
        }
    }

    /// `fiber` ended or was killed (keyed decisions rank the live fibers of a name).
    pub(crate) fn fiber_ended(&mut self, fiber: FiberId) {
        if let Some(keyed) = &mut self.keyed {
            keyed.fiber_ended(fiber);
        }
    }

    /// The executor is about to poll `fiber`: a pick after it is keyed by it.
    pub(crate) fn polling(&mut self, fiber: FiberId) {
        if let Some(keyed) = &mut self.keyed {
            keyed.polling(fiber);
        }
    }

    /// A logged decision among `options` choices, if replaying and the log still fits; once it
    /// does not, the replay leaves its log for good and says why.
    fn replayed(&mut self, options: u32) -> Option<u32> {
        let (log, position) = self.replay.as_mut()?;
        let at = *position;
        *position += 1;
        match log.decisions.get(at).copied() {
            Some(value) if value < options => Some(value),
            Some(logged) => {
                self.divergence = Some(ReplayDivergence::DoesNotFit {
                    at,
                    logged,
                    options,
                });
                self.replay = None;
                None
            }
            None => {
                self.divergence = Some(ReplayDivergence::RanOut { at });
                self.replay = None;
                None
            }
        }
    }

    /// Notes the first logged decision the strategy could not have taken.
    fn check_against_strategy(&mut self, admitted: bool, logged: u32, answered: u32) {
        if !admitted && self.disagreement.is_none() {
            self.disagreement = Some(StrategyDisagreement {
                at: self.recorded.len(),
                logged,
                strategy_answered: answered,
            });
        }
    }

    /// Whether [`DecisionSource::yield_at_checkpoint`] needs the list of ready fibers, or only
    /// needs to be asked when there is one.
    pub(crate) fn reads_ready_fibers_at_checkpoints(&self) -> bool {
        self.strategy.reads_ready_fibers_at_checkpoints()
    }

    pub(crate) fn yield_at_checkpoint(
        &mut self,
        running: FiberId,
        ready: &[FiberId],
        now: Duration,
    ) -> bool {
        let scheduled = self
            .keyed
            .as_mut()
            .and_then(|keyed| keyed.gives_way(running, now));
        let replayed = self.replayed(2).or(scheduled.map(u32::from));
        let answered = self
            .strategy
            .yield_at_checkpoint(running, ready, &mut self.rng);
        let decision = match replayed {
            Some(logged) => {
                let admitted = self.strategy.admits_yield(logged == 1, answered);
                self.check_against_strategy(admitted, logged, answered as u32);
                logged
            }
            None => answered as u32,
        };
        self.recorded.push(decision);
        if let Some(keyed) = &mut self.keyed {
            keyed.yield_taken(running, now, decision == 1);
        }
        decision == 1
    }

    pub(crate) fn pick_next(&mut self, ready: &[FiberId], now: Duration) -> usize {
        let scheduled = self.keyed.as_mut().and_then(|keyed| keyed.pick(ready, now));
        let replayed = self
            .replayed(ready.len() as u32)
            .or(scheduled.map(|index| index as u32));
        let answered = self.strategy.pick_next(ready, &mut self.rng);
        assert!(
            answered < ready.len(),
            "a strategy picked outside the ready fibers"
        );
        let decision = match replayed {
            Some(logged) => {
                let admitted = self.strategy.admits_pick(logged as usize, answered);
                self.check_against_strategy(admitted, logged, answered as u32);
                logged as usize
            }
            None => answered,
        };
        self.recorded.push(decision as u32);
        if let Some(keyed) = &mut self.keyed {
            keyed.pick_taken(ready, decision, now);
        }
        decision
    }

    /// The log of this run, how a replay left its log (if it did), and the first logged
    /// decision the strategy could not have taken (if any).
    pub(crate) fn finish(&mut self) -> FinishedDecisions {
        let left_over = self.replay.as_ref().and_then(|(log, position)| {
            (*position < log.decisions.len()).then_some(ReplayDivergence::LeftOver {
                used: *position,
                len: log.decisions.len(),
            })
        });
        FinishedDecisions {
            log: DecisionLog {
                decisions: std::mem::take(&mut self.recorded),
            },
            divergence: self.divergence.take().or(left_over),
            disagreement: self.disagreement.take(),
            keyed: self.keyed.as_mut().map(Keyed::finish),
        }
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
        for bad in [
            "x",
            "1*",
            "1*0",
            "-1",
            "+1",
            "0*+2",
            "0*99999999999",
            "0 0*18446744073709551615",
            "4294967296",
        ] {
            assert!(
                DecisionLog::decode(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    /// A log that asks for more than the limit is refused before anything is allocated, even
    /// when its counts would wrap around (a run-length of 2^64-1 after one decision).
    #[test]
    fn wrapping_run_lengths_are_refused() {
        let error = DecisionLog::decode("0 0*18446744073709551615").unwrap_err();
        assert!(error.contains("outside 1..="), "{error}");
        let at_limit = format!("0*{MAX_DECISIONS}");
        assert_eq!(DecisionLog::decode(&at_limit).unwrap().len(), MAX_DECISIONS);
        assert!(DecisionLog::decode(&format!("{at_limit} 1")).is_err());
    }
}
