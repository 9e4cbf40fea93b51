//! Schedules keyed by fiber (`sim::FiberSchedule`, the strategy `schedule`): a run's decisions
//! recorded that way and followed give the same run; entries keep their meaning when others
//! are deleted, which is what lets a race shrink to its few named preemptions; fibers are named
//! by their rank among the live fibers of their name; entries a run cannot meet are divergences.

use std::time::Duration;

use consumer::rt::Rt;
use sim::{
    run, FiberSchedule, RunConfig, RunResult, ScheduleDivergence, ScheduleEntry, StrategyChoice,
};

mod workloads;

use workloads::{busy_workload, check_offer_drain_micro_model};

type BoxedWorkload = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// Generations of fibers of one name, two alive at a time: ten in all.
async fn generations(rt: Rt) {
    for _ in 0..5 {
        let mut pair = Vec::new();
        for _ in 0..2 {
            let rt2 = rt.clone();
            pair.push(rt.fork::<(), (), _>("worker", async move {
                for _ in 0..3 {
                    rt2.yield_now().await?;
                }
                Ok(())
            }));
        }
        for fiber in pair {
            let _ = fiber.join().await;
        }
    }
}

fn keyed(seed: u64, strategy: &str, workload: fn(Rt) -> BoxedWorkload) -> RunResult {
    let mut config = RunConfig::new(seed).with_strategy(strategy.parse().unwrap());
    config.key_decisions = true;
    run(&config, workload)
}

fn following(seed: u64, schedule: FiberSchedule, workload: fn(Rt) -> BoxedWorkload) -> RunResult {
    let mut config = RunConfig::new(seed).with_strategy(StrategyChoice::Schedule);
    config.schedule = Some(schedule);
    run(&config, workload)
}

fn busy(rt: Rt) -> BoxedWorkload {
    Box::pin(busy_workload(rt))
}

/// The check-offer-drain race in miniature: 3 commands served before the crash, and 4
/// bystander fibers that make the schedule long.
fn race(rt: Rt) -> BoxedWorkload {
    Box::pin(check_offer_drain_micro_model(rt, 3, 4))
}

fn non_default(result: &RunResult) -> usize {
    result
        .decisions
        .decisions()
        .iter()
        .filter(|&&d| d != 0)
        .count()
}

/// A `random` or `pct:3` run's decisions, recorded keyed by fiber, give the same run when
/// followed: the same trace hash, every entry met, and the same record again. The keyed record
/// holds exactly the run's non-default decisions.
#[test]
fn a_keyed_record_followed_is_the_same_run() {
    for name in ["random", "pct:3", "yields:0.3"] {
        for seed in 0..12 {
            for workload in [busy as fn(Rt) -> BoxedWorkload, race] {
                let original = keyed(seed, name, workload);
                let schedule = original.fiber_schedule.clone().expect("keyed");
                assert_eq!(original.schedule_divergence, None, "{name} {seed}");
                assert_eq!(schedule.len(), non_default(&original), "{name} {seed}");
                let followed = following(seed, schedule.clone(), workload);
                assert_eq!(followed.schedule_divergence, None, "{name} {seed}");
                assert_eq!(followed.trace_hash, original.trace_hash, "{name} {seed}");
                assert_eq!(followed.fiber_schedule, Some(schedule), "{name} {seed}");
            }
        }
    }
}

/// A PCT hang of the micro-model, keyed, shrinks by deleting entries one at a time (each kept
/// out when the run still hangs) to a few entries that name the race's fibers and no bystander
/// (measured: seed 46's 7 entries become "after main step 4, runloop runs", "runloop gives way
/// at step 5" and "caller gives way at step 2").
#[test]
fn deleting_entries_shrinks_a_race_to_its_named_preemptions() {
    let (seed, original) = (0..400)
        .map(|seed| (seed, keyed(seed, "pct:3", race)))
        .find(|(_, result)| result.is_hang())
        .expect("pct:3 finds the micro-model's race within 400 seeds");
    let mut entries = original.fiber_schedule.clone().unwrap().entries;
    let before = entries.len();
    let mut index = 0;
    while index < entries.len() {
        let mut fewer = entries.clone();
        fewer.remove(index);
        let result = following(seed, FiberSchedule::new(fewer), race);
        if result.is_hang() {
            entries = result.fiber_schedule.unwrap().entries;
        } else {
            index += 1;
        }
    }
    assert!(entries.len() <= 3, "{before} entries → {entries:?}");
    assert!(
        entries.len() < before,
        "{before} entries → {}",
        entries.len()
    );
    let named: Vec<String> = entries.iter().map(ScheduleEntry::to_string).collect();
    assert!(
        named.iter().all(|line| !line.contains("bystander")),
        "the race needs no bystander: {named:?}"
    );
    let shrunk = following(seed, FiberSchedule::new(entries), race);
    assert!(shrunk.is_hang());
    assert_eq!(shrunk.schedule_divergence, None);
}

/// A fiber is named by its rank among the live fibers of its name: of ten fibers named
/// `worker`, never more than two alive at once, no decision names a rank above 2.
#[test]
fn fibers_are_ranked_among_the_live_ones() {
    let mut named = 0;
    for seed in 0..20 {
        let result = keyed(seed, "random", |rt| Box::pin(generations(rt)));
        let schedule = result.fiber_schedule.unwrap();
        for entry in &schedule.entries {
            let mut fibers = vec![&entry.fiber];
            if let sim::strategy::Action::ThenRuns(next) = &entry.action {
                fibers.push(next);
            }
            for fiber in fibers {
                if fiber.name == "worker" {
                    named += 1;
                    assert!(fiber.rank <= 2, "{entry}");
                }
            }
        }
        let followed = following(seed, schedule, |rt| Box::pin(generations(rt)));
        assert_eq!(followed.trace_hash, result.trace_hash, "seed {seed}");
    }
    assert!(named > 20, "only {named} decisions named a worker");
}

/// An entry the run never meets, and one whose fiber to run is not ready, are divergences that
/// name the entry; the run takes the default decision there.
#[test]
fn entries_that_cannot_be_met_are_divergences() {
    let never: FiberSchedule =
        FiberSchedule::from_lines(&["at 99.000000000s, runloop gives way at step 1".to_string()])
            .unwrap();
    let result = following(0, never, race);
    assert!(
        matches!(
            result.schedule_divergence,
            Some(ScheduleDivergence::NeverMet { entry: 1, .. })
        ),
        "{:?}",
        result.schedule_divergence
    );
    // Take a real pick of a recorded run and name a fiber that does not exist there.
    let (seed, original) = (0..50)
        .map(|seed| (seed, keyed(seed, "random", race)))
        .find(|(_, result)| {
            result
                .fiber_schedule
                .as_ref()
                .unwrap()
                .entries
                .iter()
                .any(|entry| matches!(entry.action, sim::strategy::Action::ThenRuns(_)))
        })
        .expect("random picks other than the oldest fiber within 50 seeds");
    let mut entries = original.fiber_schedule.unwrap().entries;
    let pick = entries
        .iter()
        .position(|entry| matches!(entry.action, sim::strategy::Action::ThenRuns(_)))
        .unwrap();
    entries.truncate(pick + 1);
    entries[pick].action = sim::strategy::Action::ThenRuns("nobody".parse().unwrap());
    let result = following(seed, FiberSchedule::new(entries), race);
    match result.schedule_divergence {
        Some(ScheduleDivergence::NotReady { entry, .. }) => assert_eq!(entry, pick + 1),
        other => panic!("expected a fiber not ready, got {other:?}"),
    }
}

/// Pinning an instant records every pick made there, the oldest ready fiber's too, so that the
/// instant's order is named fiber by fiber: the record holds more entries than the run's
/// non-default decisions, and following it gives the same run with every entry met.
#[test]
fn pinning_an_instant_names_its_every_pick() {
    let mut pinned_more = 0;
    for seed in 0..12 {
        let plain = keyed(seed, "yields:0.3", busy);
        let mut config = RunConfig::new(seed).with_strategy("yields:0.3".parse().unwrap());
        config.key_decisions = true;
        config.pin_picks_at = Some(Duration::ZERO);
        let pinned = run(&config, busy);
        assert_eq!(pinned.trace_hash, plain.trace_hash, "seed {seed}");
        let schedule = pinned.fiber_schedule.unwrap();
        let plain_entries = plain.fiber_schedule.unwrap().len();
        assert!(schedule.len() >= plain_entries, "seed {seed}");
        pinned_more += usize::from(schedule.len() > plain_entries);
        let followed = following(seed, schedule.clone(), busy);
        assert_eq!(followed.trace_hash, plain.trace_hash, "seed {seed}");
        assert_eq!(followed.schedule_divergence, None, "seed {seed}");
        assert_eq!(followed.fiber_schedule, Some(schedule), "seed {seed}");
    }
    assert!(
        pinned_more > 0,
        "pinning instant 0 added no entry in 12 seeds"
    );
}
