//! `random`: madsim's own scheduling policy (a uniformly random ready fiber), made recordable.

use consumer::rt::FiberId;
use rand_chacha::ChaCha8Rng;

use super::{uniform_below, ForcedYields, SchedulingStrategy};

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

    fn admits_yield(&self, logged: bool, _answered: bool) -> bool {
        self.yields.admits_drawn_yield(logged)
    }

    fn admits_pick(&self, _logged: usize, _answered: usize) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::{swarm_yield_probability, SWARM_YIELD_PROBABILITIES};

    fn rng(seed: u64) -> ChaCha8Rng {
        use rand_core::SeedableRng;
        ChaCha8Rng::seed_from_u64(seed)
    }

    fn fibers(count: u64) -> Vec<FiberId> {
        (1..=count).map(FiberId).collect()
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
