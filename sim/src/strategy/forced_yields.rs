//! `yields` and `yields:P`: ready fibers run oldest first, and the running fiber gives way at
//! each scheduling point with a fixed probability.

use consumer::rt::FiberId;
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

use super::SchedulingStrategy;

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
    /// Whether a draw could give `logged`: never a yield at probability 0, always one at 1.
    pub(crate) fn admits_drawn_yield(&self, logged: bool) -> bool {
        match self.per_million {
            0 => !logged,
            1_000_000 => logged,
            _ => true,
        }
    }

    pub(crate) fn draw_yield(&self, rng: &mut ChaCha8Rng) -> bool {
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

    fn admits_yield(&self, logged: bool, _answered: bool) -> bool {
        self.admits_drawn_yield(logged)
    }

    fn admits_pick(&self, logged: usize, _answered: usize) -> bool {
        logged == 0
    }
}
