//! `log`: every decision comes from the run's decision log; past its end, default ones.

use consumer::rt::FiberId;
use rand_chacha::ChaCha8Rng;

use super::SchedulingStrategy;

/// The strategy of an explicit schedule: the decisions are the fixture's log, replayed as
/// written, and this strategy only answers where no log decides (a run without a log, or past
/// its end) with the default decisions: no forced yield, the oldest ready fiber.
///
/// It admits every logged decision, so any log that fits the run's choices replays strictly
/// under it. That is what lets `hangsim shrink` edit the schedule of a run whose own strategy
/// admits nothing but its own answers (PCT's are a function of its priorities): the shrinker
/// re-expresses such a run under `log` (the same decisions give the same run: the replay's
/// trace hash and signature are checked) and then moves its log toward the defaults.
///
/// It draws nothing from the scheduling stream, and a run under it with no log is the run
/// `yields:0` gives; searching seeds under it would search one fixed schedule, so
/// `hangsim search` and `hangsim bench` refuse it ([`super::StrategyChoice::searchable`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct FromLog;

impl SchedulingStrategy for FromLog {
    fn fiber_started(&mut self, _fiber: FiberId, _rng: &mut ChaCha8Rng) {}

    fn yield_at_checkpoint(
        &mut self,
        _running: FiberId,
        _ready: &[FiberId],
        _rng: &mut ChaCha8Rng,
    ) -> bool {
        false
    }

    fn pick_next(&mut self, _ready: &[FiberId], _rng: &mut ChaCha8Rng) -> usize {
        0
    }

    fn reads_ready_fibers_at_checkpoints(&self) -> bool {
        false
    }

    fn admits_yield(&self, _logged: bool, _answered: bool) -> bool {
        true
    }

    fn admits_pick(&self, _logged: usize, _answered: usize) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    /// Without a log to follow, `log` answers the defaults: no forced yield, the oldest fiber.
    #[test]
    fn from_log_answers_the_defaults() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut strategy = FromLog;
        let fibers: Vec<FiberId> = (1..=4).map(FiberId).collect();
        for &fiber in &fibers {
            strategy.fiber_started(fiber, &mut rng);
        }
        for _ in 0..100 {
            assert!(!strategy.yield_at_checkpoint(fibers[3], &fibers[..3], &mut rng));
            assert_eq!(strategy.pick_next(&fibers, &mut rng), 0);
        }
        assert!(!strategy.reads_ready_fibers_at_checkpoints());
    }

    /// `log` admits every logged decision, whatever it answered there; `yields:0` and PCT do
    /// not, which is why a shrunk schedule is written under `log`.
    #[test]
    fn from_log_admits_every_decision() {
        let strategy = FromLog;
        for logged in [false, true] {
            for answered in [false, true] {
                assert!(strategy.admits_yield(logged, answered));
            }
        }
        for logged in 0..8 {
            for answered in 0..8 {
                assert!(strategy.admits_pick(logged, answered));
            }
        }
        let calm = super::super::ForcedYields::new(0.0);
        assert!(!calm.admits_yield(true, false));
        assert!(!calm.admits_pick(1, 0));
    }

    /// It draws nothing from the scheduling stream: a run's other draws are the same whether or
    /// not it is asked.
    #[test]
    fn from_log_draws_nothing() {
        use rand_core::RngCore;
        let mut asked = ChaCha8Rng::seed_from_u64(3);
        let mut strategy = FromLog;
        strategy.fiber_started(FiberId(1), &mut asked);
        strategy.yield_at_checkpoint(FiberId(1), &[FiberId(2)], &mut asked);
        strategy.pick_next(&[FiberId(1), FiberId(2)], &mut asked);
        let mut untouched = ChaCha8Rng::seed_from_u64(3);
        assert_eq!(asked.next_u64(), untouched.next_u64());
    }
}
