//! `pct:D`: probabilistic concurrency testing at depth `D`.

use std::collections::{BTreeMap, BTreeSet};

use consumer::rt::FiberId;
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

use super::{uniform_below, SchedulingStrategy};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
