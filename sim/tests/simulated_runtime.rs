//! The simulated runtime as a whole: determinism, replay from a decision log, and how runs end
//! (completed, deadline, blocked forever, workload panic), none of which may crash the caller.

use std::collections::BTreeSet;
use std::time::Duration;

use consumer::rt::{Promise, Queue, Rt};
use sim::{run, Outcome, RunConfig, StrategyChoice};

/// A busy workload: producers and consumers on a queue, random sleeps, a promise; enough
/// scheduling points that forced yields and random draws change the trace.
async fn busy_workload(rt: Rt) {
    let queue: Queue<u64> = Queue::new(&rt, "work_queue");
    let done: Promise<(), ()> = Promise::new(&rt, "promise:done");
    let mut workers = Vec::new();
    for worker in 0..3 {
        let (rt2, queue2) = (rt.clone(), queue.clone());
        workers.push(
            rt.fork::<u64, (), _>(format!("consumer{worker}"), async move {
                let mut sum = 0;
                while let Ok(item) = queue2.take().await {
                    sum += item;
                    rt2.sleep(Duration::from_micros(rt2.random_below(500)))
                        .await?;
                }
                Ok(sum)
            }),
        );
    }
    for item in 0..30 {
        queue.offer(item).await.unwrap();
        if rt.random_below(3) == 0 {
            rt.sleep(Duration::from_micros(rt.random_below(300)))
                .await
                .unwrap();
        }
    }
    rt.sleep(Duration::from_millis(50)).await.unwrap();
    queue.shutdown().await.unwrap();
    for worker in workers {
        let _ = worker.join().await;
    }
    done.succeed(()).await.unwrap();
}

/// The same seed gives the same trace hash and the same decisions, run after run.
#[test]
fn same_seed_gives_same_trace_hash() {
    assert!(sim::SIMULATED, "needs --cfg madsim");
    for seed in [0, 1, 42, 9_999] {
        let config = RunConfig::new(seed);
        let hash = run_twice(&config, busy_workload)
            .unwrap_or_else(|(first, second)| panic!("seed {seed}: {:#x} != {:#x}", first, second));
        assert_eq!(
            run(&config, busy_workload).trace_hash,
            hash,
            "seed {seed}: a third run differs"
        );
    }
}

/// Different seeds give different traces: the seed reaches the workload's draws and the
/// schedule.
#[test]
fn different_seeds_give_different_traces() {
    let hashes: BTreeSet<u64> = (0..40)
        .map(|seed| run(&RunConfig::new(seed), busy_workload).trace_hash)
        .collect();
    assert_eq!(
        hashes.len(),
        40,
        "40 seeds gave only {} distinct traces",
        hashes.len()
    );
}

/// A run replayed from its decision log reproduces its trace even when the strategy is changed:
/// the log, not the strategy, decides.
#[test]
fn replay_from_decision_log_reproduces_the_run() {
    let mut replayed_with_choices = 0;
    for seed in 0..20 {
        let original = run(
            &RunConfig::new(seed).with_strategy(StrategyChoice::Yields(0.4)),
            busy_workload,
        );
        assert!(
            !original.decisions.is_empty(),
            "seed {seed}: a busy run takes decisions"
        );
        replayed_with_choices += original.decisions.decisions().iter().any(|&d| d != 0) as u32;
        let replay_config = RunConfig::new(seed)
            .with_strategy(StrategyChoice::Yields(0.0))
            .replaying(original.decisions.clone());
        let replayed = run(&replay_config, busy_workload);
        assert!(
            !replayed.replay_diverged(),
            "seed {seed}: the replay left its log"
        );
        assert_eq!(
            replayed.trace_hash, original.trace_hash,
            "seed {seed}: replay differs"
        );
        assert_eq!(
            replayed.decisions, original.decisions,
            "seed {seed}: replay re-records the same log"
        );
        let unreplayed = run(
            &RunConfig::new(seed).with_strategy(StrategyChoice::Yields(0.0)),
            busy_workload,
        );
        if original.decisions.decisions().iter().any(|&d| d != 0) {
            assert_ne!(
                unreplayed.trace_hash, original.trace_hash,
                "seed {seed}: the log should matter"
            );
        }
    }
    assert!(
        replayed_with_choices > 10,
        "too few runs took a non-default decision"
    );
}

/// A caller waiting on a promise nobody completes, while a periodic timer keeps the simulation
/// busy, is not quiescence: the run goes on to its deadline (without a quiet window nothing
/// proves it stuck: a timeout), and the report names the open caller and the promise.
#[test]
fn deadline_with_periodic_timer_reports_open_obligation() {
    let config = RunConfig::new(3).with_deadline(Duration::from_secs(10));
    let result = run(&config, |rt| async move {
        let ticker_rt = rt.clone();
        rt.fork_daemon::<(), (), _>("metrics", async move {
            loop {
                ticker_rt.sleep(Duration::from_millis(100)).await?;
            }
        });
        let call = rt.obligation(
            consumer::rt::ObligationKind::Request,
            "RemoveSubscription#1",
        );
        let reply: Promise<(), ()> = Promise::new(&rt, "promise:RemoveSubscription#1");
        let _ = reply.wait().await;
        call.close();
    });
    assert_eq!(
        result.outcome,
        Outcome::DeadlineReached,
        "{}",
        result.report()
    );
    // madsim advances its clock by a few dozen nanoseconds per task run, so "at the deadline"
    // means within a millisecond after it.
    assert!(
        result.elapsed >= Duration::from_secs(10) && result.elapsed < Duration::from_millis(10_001)
    );
    assert!(result.timed_out() && !result.is_hang());
    let open = &result.liveness.open_obligations;
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].kind, open[0].label.as_str()),
        (
            consumer::rt::ObligationKind::Request,
            "RemoveSubscription#1"
        )
    );
    let chain = result.liveness.wait_chain(open[0].fiber);
    assert_eq!(chain[0].waits_on.object, "promise:RemoveSubscription#1");
    assert!(chain[0].waits_on.interruptible);
    assert!(
        result.report().contains("promise:RemoveSubscription#1"),
        "{}",
        result.report()
    );
}

/// With nothing ready and no timer pending the run ends at once as blocked forever, at the
/// virtual time the last fiber blocked, not at the deadline.
#[test]
fn blocked_forever_is_detected_without_waiting_for_the_deadline() {
    let result = run(&RunConfig::new(4), |rt| async move {
        rt.sleep(Duration::from_millis(5)).await.unwrap();
        let never: Promise<(), ()> = Promise::new(&rt, "promise:never");
        let _ = never.wait().await;
    });
    assert_eq!(
        result.outcome,
        Outcome::BlockedForever,
        "{}",
        result.report()
    );
    assert!(
        result.elapsed < Duration::from_millis(6),
        "ended at {:?}",
        result.elapsed
    );
    assert_eq!(result.liveness.waiting_fibers.len(), 1);
    assert_eq!(
        result.liveness.waiting_fibers[0].waits_on.object,
        "promise:never"
    );
}

/// A panic in the workload ends its fiber with a defect and is reported in the result; the
/// caller of `run` never sees it unwind, and the rest of the workload goes on.
#[test]
fn workload_panic_is_reported_not_raised() {
    let result = run(&RunConfig::new(5), |rt| async move {
        let doomed = rt.fork::<(), (), _>("doomed", async move {
            let items: Vec<u32> = Vec::new();
            let _ = items[3];
            Ok(())
        });
        let exit = doomed.join().await;
        assert!(
            matches!(exit, Err(consumer::rt::Cause::Die(_))),
            "a panic is a defect: {exit:?}"
        );
        rt.sleep(Duration::from_millis(1)).await.unwrap();
    });
    assert_eq!(result.outcome, Outcome::Completed, "{}", result.report());
    assert_eq!(result.panics.len(), 1, "{}", result.report());
    assert_eq!(result.panics[0].fiber_name, "doomed");
    assert!(
        result.panics[0].message.contains("index out of bounds"),
        "{:?}",
        result.panics[0]
    );
}

/// A livelock (fibers that yield to each other forever without time passing) ends at the step
/// limit instead of spinning forever.
#[test]
fn livelock_ends_at_the_step_limit() {
    let mut config = RunConfig::new(6).with_strategy(StrategyChoice::Yields(1.0));
    config.max_steps = 10_000;
    let result = run(&config, |rt| async move {
        for name in ["spinner1", "spinner2"] {
            let spin_rt = rt.clone();
            rt.fork::<(), (), _>(name, async move {
                loop {
                    spin_rt.yield_now().await?;
                }
            });
        }
        let never: Promise<(), ()> = Promise::new(&rt, "promise:never");
        let _ = never.wait().await;
    });
    assert_eq!(
        result.outcome,
        Outcome::StepLimitReached,
        "{}",
        result.report()
    );
    assert_eq!(result.steps, 10_000);
}

/// A recorded run keeps its events in words, stamped with virtual time, for people to read.
#[test]
fn recorded_run_keeps_readable_events() {
    let result = run(&RunConfig::new(7).recording(), busy_workload);
    let events = result.events.expect("recorded");
    assert!(events.len() > 100, "only {} events", events.len());
    assert!(events
        .iter()
        .any(|e| e.what.contains("queue.offer `work_queue`")));
    assert!(
        events.windows(2).all(|pair| pair[0].at <= pair[1].at),
        "time goes forward"
    );
    let unrecorded = run(&RunConfig::new(7), busy_workload);
    assert_eq!(
        unrecorded.trace_hash, result.trace_hash,
        "recording does not change the run"
    );
}

/// A watched object's operations are kept, in order, with the fiber that made each; other
/// objects' are not, and a run that watches nothing keeps nothing. The trace is the same either
/// way: watching is bookkeeping, not behaviour.
#[test]
fn watched_objects_keep_their_operations_in_order() {
    assert!(sim::SIMULATED, "needs --cfg madsim");
    let plain = run(&RunConfig::new(7), busy_workload);
    assert!(plain.watched.is_empty());
    let watched = run(&RunConfig::new(7).watching("work_queue"), busy_workload);
    assert_eq!(watched.trace_hash, plain.trace_hash);
    let ops = &watched.watched;
    assert!(ops.iter().all(|op| op.object == "work_queue"));
    assert!(ops.windows(2).all(|pair| pair[0].at <= pair[1].at));
    let offers: Vec<_> = ops.iter().filter(|op| op.op == "queue.offer").collect();
    assert_eq!(offers.len(), 30, "the main fiber offers 30 items");
    assert!(offers
        .iter()
        .all(|op| op.fiber_name == "main" && op.detail == 1));
    let takers: BTreeSet<&str> = ops
        .iter()
        .filter(|op| op.op == "queue.take")
        .map(|op| op.fiber_name.as_str())
        .collect();
    assert_eq!(
        takers,
        BTreeSet::from(["consumer0", "consumer1", "consumer2"])
    );
    let shutdowns: Vec<_> = ops.iter().filter(|op| op.op == "queue.shutdown").collect();
    assert_eq!(shutdowns.len(), 1);
    assert_eq!(shutdowns[0].fiber_name, "main");
    assert!(shutdowns[0].at >= offers[29].at);
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
