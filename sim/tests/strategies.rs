//! The scheduling strategies `random` and `pct:D` as a whole: their names, determinism, replay
//! from the decision log, PCT's priority rule seen from a workload, and how fast each strategy
//! finds the check-offer-drain window of a micro-model of the shutdown race.
//!
//! Start with `workloads::check_offer_drain_micro_model`, the model; `seeds_to_first_hang` measures it.

use std::cell::RefCell;
use std::rc::Rc;

use consumer::rt::{Promise, Queue, Rt};
use sim::{run, RunConfig, RunResult, StrategyChoice};

mod workloads;

use workloads::{busy_workload, check_offer_drain_micro_model};

/// The strategies compared in these tests, by name.
const STRATEGIES: [&str; 3] = ["yields", "random", "pct:3"];

fn strategy(name: &str) -> StrategyChoice {
    name.parse()
        .unwrap_or_else(|error| panic!("{name}: {error}"))
}

/// The micro-model of the check-offer-drain race ([`check_offer_drain_micro_model`]) with
/// `served_before_crash` commands served before the crash and no bystander.
fn micro_model(served_before_crash: usize) -> impl FnOnce(Rt) -> BoxedWorkload + Send + 'static {
    move |rt| Box::pin(check_offer_drain_micro_model(rt, served_before_crash, 0))
}

/// A workload as a boxed future, so that different workloads fit one replay helper.
type BoxedWorkload = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// The same seed gives the same trace hash and decision log under `random` and `pct:3`.
#[test]
fn same_seed_gives_same_trace_under_each_strategy() {
    assert!(sim::SIMULATED, "needs --cfg madsim");
    for name in ["yields", "random", "pct:1", "pct:3", "pct:10"] {
        for seed in [0, 1, 7, 4_242] {
            let config = RunConfig::new(seed).with_strategy(strategy(name));
            let hash = run_twice(&config, busy_workload).unwrap_or_else(|(first, second)| {
                panic!("{name}, seed {seed}: {:#x} != {:#x}", first, second)
            });
            assert_eq!(
                run(&config, busy_workload).trace_hash,
                hash,
                "{name}, seed {seed}: a third run differs"
            );
        }
    }
}

/// Each strategy schedules differently: over the same seeds, `random` and `pct:3` give traces
/// that `yields` does not, so the choice reaches the schedule.
#[test]
fn strategies_give_different_schedules() {
    for name in ["random", "pct:3"] {
        let differing = (0..20)
            .filter(|&seed| {
                let base = run(&RunConfig::new(seed), busy_workload);
                let other = run(
                    &RunConfig::new(seed).with_strategy(strategy(name)),
                    busy_workload,
                );
                base.trace_hash != other.trace_hash
            })
            .count();
        assert!(
            differing >= 10,
            "{name}: only {differing} of 20 seeds differ from `yields`"
        );
    }
}

/// Replays `original`'s decision log under a strategy that would decide otherwise, and checks
/// that the log alone reproduces the run.
fn assert_replays(
    name: &str,
    seed: u64,
    original: &RunResult,
    workload: impl FnOnce(Rt) -> BoxedWorkload + Send + 'static,
) {
    let replay_config = RunConfig::new(seed)
        .with_strategy(StrategyChoice::Yields(0.0))
        .replaying(original.decisions.clone());
    let replayed = run(&replay_config, workload);
    assert!(
        !replayed.replay_diverged(),
        "{name}, seed {seed}: the replay left its log"
    );
    assert_eq!(
        replayed.trace_hash, original.trace_hash,
        "{name}, seed {seed}: the replay differs"
    );
    assert_eq!(
        replayed.decisions, original.decisions,
        "{name}, seed {seed}: the replay re-records another log"
    );
    assert_eq!(replayed.is_hang(), original.is_hang());
}

/// A run under `random` or `pct:3`, replayed from its decision log under another strategy,
/// reproduces its trace, its log and its hang; without the log the other strategy schedules
/// differently.
#[test]
fn replay_from_decision_log_reproduces_random_and_pct_runs() {
    for name in ["random", "pct:3"] {
        let mut differs_without_log = 0;
        for seed in 0..12 {
            let config = RunConfig::new(seed).with_strategy(strategy(name));
            let original = run(&config, |rt| Box::pin(busy_workload(rt)) as BoxedWorkload);
            assert!(
                !original.decisions.is_empty(),
                "{name}, seed {seed}: no decisions"
            );
            assert_replays(name, seed, &original, |rt| Box::pin(busy_workload(rt)));
            let unreplayed = run(
                &RunConfig::new(seed).with_strategy(StrategyChoice::Yields(0.0)),
                busy_workload,
            );
            differs_without_log += (unreplayed.trace_hash != original.trace_hash) as u32;
        }
        assert!(
            differs_without_log >= 6,
            "{name}: the log mattered in only {differs_without_log} of 12 runs"
        );
        // A hang found by the strategy replays from its log as a hang.
        let hanging_seed = (0..2_000)
            .find(|&seed| {
                run(
                    &RunConfig::new(seed).with_strategy(strategy(name)),
                    micro_model(8),
                )
                .is_hang()
            })
            .unwrap_or_else(|| panic!("{name}: no hang in 2,000 seeds of the micro-model"));
        let original = run(
            &RunConfig::new(hanging_seed).with_strategy(strategy(name)),
            micro_model(8),
        );
        assert!(original.is_hang());
        assert_replays(name, hanging_seed, &original, micro_model(8));
    }
}

/// What each fiber did, in order: (round, worker) pairs.
type ActionLog = Rc<RefCell<Vec<(usize, usize)>>>;

const WORKERS: usize = 3;
const ROUNDS: usize = 4;

/// Three workers wait on a gate; the root opens it, waking all three at once, and each worker
/// notes its turn and acknowledges; four rounds. Which worker acts first in a round is the
/// scheduler's choice among fibers that became ready together.
async fn gated_rounds(rt: Rt, actions: ActionLog) {
    let gates: Vec<Promise<(), ()>> = (0..ROUNDS)
        .map(|round| Promise::new(&rt, format!("promise:gate#{round}")))
        .collect();
    let acks: Queue<usize> = Queue::new(&rt, "acks");
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let (gates, acks, actions) = (gates.clone(), acks.clone(), actions.clone());
        workers.push(rt.fork::<(), (), _>(format!("worker{worker}"), async move {
            for (round, gate) in gates.iter().enumerate() {
                let _ = gate.wait().await;
                actions.borrow_mut().push((round, worker));
                acks.offer(worker).await.expect("the queue is open");
            }
            Ok(())
        }));
    }
    for gate in &gates {
        gate.succeed(()).await.expect("the root is not interrupted");
        for _ in 0..WORKERS {
            acks.take().await.expect("the queue is open");
        }
    }
    for worker in workers {
        let _ = worker.join().await;
    }
}

/// The order in which the workers acted in each round of `gated_rounds` under `seed`.
fn round_orders(name: &str, seed: u64) -> Vec<Vec<usize>> {
    let actions: ActionLog = Rc::default();
    let recorded = actions.clone();
    let result = run(
        &RunConfig::new(seed).with_strategy(strategy(name)),
        move |rt| gated_rounds(rt, recorded),
    );
    assert!(
        !result.is_hang(),
        "{name}, seed {seed}: the gated rounds hung"
    );
    let actions = actions.borrow().clone();
    assert_eq!(actions.len(), WORKERS * ROUNDS);
    (0..ROUNDS)
        .map(|round| {
            actions
                .iter()
                .filter(|(r, _)| *r == round)
                .map(|&(_, worker)| worker)
                .collect()
        })
        .collect()
}

/// PCT runs the highest-priority ready fiber: without change points (`pct:1`) workers woken
/// together act in one fixed order in every round of a run, that order is random across seeds,
/// while `random` reorders them within a run.
#[test]
fn pct_runs_the_highest_priority_ready_fiber() {
    let mut orders_seen = std::collections::BTreeSet::new();
    for seed in 0..60 {
        let orders = round_orders("pct:1", seed);
        assert!(
            orders.iter().all(|order| order == &orders[0]),
            "pct:1, seed {seed}: the rounds ran in different orders: {orders:?}"
        );
        orders_seen.insert(orders[0].clone());
    }
    assert_eq!(
        orders_seen.len(),
        6,
        "pct:1 gave only these worker orders over 60 seeds: {orders_seen:?}"
    );
    let reordered = (0..20)
        .filter(|&seed| {
            let orders = round_orders("random", seed);
            orders.iter().any(|order| order != &orders[0])
        })
        .count();
    assert!(
        reordered >= 10,
        "random reordered the rounds in only {reordered} of 20 runs"
    );
}

/// How many seeds of `window` (counting from its first) until the first hang of the micro-model
/// serving `served_before_crash` commands; `None` when none of its `len` seeds hangs.
fn seeds_to_first_hang(
    name: &str,
    served_before_crash: usize,
    window: std::ops::Range<u64>,
) -> Option<u64> {
    let first = window.start;
    window
        .into_iter()
        .find(|&seed| {
            run(
                &RunConfig::new(seed).with_strategy(strategy(name)),
                micro_model(served_before_crash),
            )
            .is_hang()
        })
        .map(|seed| seed - first + 1)
}

/// Seeds per measuring window, and the number of disjoint windows the median is taken over.
const WINDOW_SEEDS: u64 = 2_000;
const WINDOWS: u64 = 20;

/// Every strategy finds the check-offer-drain window of the micro-model, and PCT depth 3 finds
/// it within a median of 2,000 seeds whatever the number k of commands served before the crash;
/// prints the median seeds to the first hang per strategy and k, for the record.
#[test]
fn strategies_find_the_check_offer_drain_window() {
    eprintln!("median seeds to the first hang over {WINDOWS} windows of {WINDOW_SEEDS} seeds (check-offer-drain micro-model)");
    eprintln!("{:<8} {:>6} {:>6} {:>6}", "strategy", "k=1", "k=8", "k=16");
    for name in STRATEGIES {
        let mut row = format!("{name:<8}");
        for served_before_crash in [1, 8, 16] {
            // A window without a hang counts as beyond it, so it sorts last.
            let mut firsts: Vec<u64> = (0..WINDOWS)
                .map(|window| {
                    let start = 1_000_000 + window * WINDOW_SEEDS;
                    seeds_to_first_hang(name, served_before_crash, start..start + WINDOW_SEEDS)
                        .unwrap_or(WINDOW_SEEDS + 1)
                })
                .collect();
            firsts.sort_unstable();
            let median = firsts[firsts.len() / 2];
            row.push_str(&if median > WINDOW_SEEDS {
                format!(" {:>6}", format!(">{WINDOW_SEEDS}"))
            } else {
                format!(" {median:>6}")
            });
            assert!(
                firsts[0] <= WINDOW_SEEDS,
                "{name} found no hang in {WINDOWS} windows of {WINDOW_SEEDS} seeds at k={served_before_crash}"
            );
            if name == "pct:3" {
                assert!(
                    median <= WINDOW_SEEDS,
                    "pct:3 found no hang within {WINDOW_SEEDS} seeds at k={served_before_crash}: {firsts:?}"
                );
            }
        }
        eprintln!("{row}");
    }
}

/// Runs `config` twice: the trace hash when both runs gave the same trace hash and decision
/// log, else both hashes.
fn run_twice<W, F>(config: &RunConfig, workload: W) -> Result<u64, (u64, u64)>
where
    W: Fn(consumer::rt::Rt) -> F + Clone + 'static,
    F: std::future::Future<Output = ()> + 'static,
{
    let first = run(config, workload.clone());
    let second = run(config, workload);
    if first.trace_hash == second.trace_hash && first.decisions == second.decisions {
        Ok(first.trace_hash)
    } else {
        Err((first.trace_hash, second.trace_hash))
    }
}

/// A `pct:3` or `random` run replayed from its log under `log` is the same run, and `log`
/// admits every decision of it, where `yields:0` (which answers the same defaults) refuses a
/// non-default one: the shrinker's re-expression of a PCT schedule rests on this.
#[test]
fn log_replays_pct_and_random_runs_and_admits_their_decisions() {
    for name in ["random", "pct:3"] {
        let mut refused_by_calm_yields = 0;
        for seed in 0..12 {
            let config = RunConfig::new(seed).with_strategy(strategy(name));
            let original = run(&config, |rt| Box::pin(busy_workload(rt)) as BoxedWorkload);
            let under_log = run(
                &RunConfig::new(seed)
                    .with_strategy(StrategyChoice::Log)
                    .replaying(original.decisions.clone()),
                busy_workload,
            );
            assert!(!under_log.replay_diverged(), "{name}, seed {seed}");
            assert_eq!(
                under_log.trace_hash, original.trace_hash,
                "{name}, seed {seed}"
            );
            assert_eq!(
                under_log.decisions, original.decisions,
                "{name}, seed {seed}"
            );
            assert_eq!(under_log.strategy_disagreement, None, "{name}, seed {seed}");
            let under_calm_yields = run(
                &RunConfig::new(seed)
                    .with_strategy(StrategyChoice::Yields(0.0))
                    .replaying(original.decisions.clone()),
                busy_workload,
            );
            refused_by_calm_yields += under_calm_yields.strategy_disagreement.is_some() as u32;
        }
        assert!(
            refused_by_calm_yields >= 6,
            "{name}: yields:0 refused only {refused_by_calm_yields} of 12 logs"
        );
    }
}
