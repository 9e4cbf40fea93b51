//! zio-kafka's `ConsumerSpec` tests that need a group of full consumers, rebalance-safe
//! commits, restart mode, a manual subscription or a second consumption session, ported to the
//! fake cluster and run for every protocol. Each asserts the outcome its protocol shows: where
//! a protocol hangs (the racing ones when a subscription ends while its runloop is alive), the
//! test asserts that hang with the stuck request named; otherwise it checks what the zio-kafka
//! test checks. Timings are zio-kafka's where they matter and smaller where they only make the
//! test long (record counts).

mod common;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use common::{
    completed_unless_graceful_end_hangs, completed_unless_graceful_end_stalls, tp, with_group,
    GroupSpec, Log, Member,
};
use consumer::internal::PartitionsTake;
use consumer::kafka::Subscription;
use consumer::rt::{Cause, Exit, ExitKind, Fiber, Promise, Rt, Scope};
use consumer::{CommittableRecord, ConsumerError, DiagnosticEvent, ShutdownProtocol};
use sim::kafka::{ClientConfig, FaultPlan, PollLatency, RebalanceProtocol};

const GROUP: &str = "spec-group";

fn config(protocol: RebalanceProtocol) -> ClientConfig {
    ClientConfig::group(GROUP).with_protocol(protocol)
}

/// A steady producer: one record on every partition of `topic` every `interval`, `rounds`
/// times, keys `key-{partition}-{round}`.
fn produce_every(spec: &GroupSpec, topic: &str, partitions: i32, interval: Duration, rounds: u64) {
    spec.cluster.create_topic(topic, partitions);
    for round in 0..rounds {
        for partition in 0..partitions {
            spec.cluster.produce_at(
                interval * round as u32,
                &tp(topic, partition),
                &format!("key-{partition}-{round}"),
                "v",
            );
        }
    }
}

fn key(record: &CommittableRecord) -> String {
    record.record.key_text().unwrap_or_default()
}

fn kafka_protocols() -> [RebalanceProtocol; 2] {
    [
        RebalanceProtocol::EagerRange,
        RebalanceProtocol::CooperativeSticky,
    ]
}

/// Polls `condition` every 30 ms of virtual time, for at most `limit`; whether it held.
async fn eventually(
    rt: &Rt,
    limit: Duration,
    condition: impl Fn() -> bool,
) -> Exit<bool, ConsumerError> {
    let step = Duration::from_millis(30);
    for _ in 0..=(limit.as_millis() / step.as_millis()) {
        if condition() {
            return Ok(true);
        }
        rt.sleep(step).await?;
    }
    Ok(condition())
}

/// "rebalanceSafeCommits prevents processing messages twice when rebalancing", for the eager
/// and the cooperative protocol: consumer 1 (rebalance-safe commits, `max.poll.records = 1`,
/// three seconds per record before committing it) reads both partitions; once it has seen both,
/// consumer 2 joins and takes five records, committing each. No record is processed by both.
/// Without rebalance-safe commits, consumer 2 reads again what consumer 1 had pulled but not yet
/// committed: the same run shows overlapping keys, so the test can fail.
#[test]
fn rebalance_safe_commits_prevent_processing_messages_twice() {
    for kafka_protocol in kafka_protocols() {
        for safe in [true, false] {
            for protocol in ShutdownProtocol::ALL {
                let log = Log::default();
                let seen = log.clone();
                let result = with_group(protocol, move |spec: GroupSpec| async move {
                    produce_every(&spec, "topic", 2, Duration::from_millis(500), 120);
                    let rt = spec.rt.clone();
                    let c1 = spec
                        .member(
                            "c1",
                            |s| {
                                s.with_rebalance_safe_commits(safe)
                                    .with_max_rebalance_duration(Duration::from_secs(60))
                            },
                            config(kafka_protocol).with_max_poll_records(1),
                        )
                        .await?;
                    let c1_keys: Rc<RefCell<Vec<String>>> = Rc::default();
                    let c1_sleep = Rc::new(RefCell::new(Duration::from_secs(3)));
                    let c1_started: Promise<(), ConsumerError> =
                        Promise::new(&rt, "promise:c1_started");
                    let fiber1 = {
                        let (rt, consumer, keys, sleep, started) = (
                            rt.clone(),
                            c1.consumer.clone(),
                            c1_keys.clone(),
                            c1_sleep.clone(),
                            c1_started.clone(),
                        );
                        let scoping = rt.clone();
                        rt.clone()
                            .fork::<BTreeSet<String>, ConsumerError, _>("c1", async move {
                                scoping
                                    .scoped("c1_stream", |scope: Scope| async move {
                                        let mut stream = consumer
                                            .plain_stream(Subscription::topics(["topic"]), &scope)
                                            .await?;
                                        let mut processed = BTreeSet::new();
                                        while let Some(record) = stream.next().await? {
                                            keys.borrow_mut().push(key(&record));
                                            let partitions: BTreeSet<char> = keys
                                                .borrow()
                                                .iter()
                                                .filter_map(|k| k.chars().nth(4))
                                                .collect();
                                            if partitions.len() == 2 {
                                                started.succeed(()).await?;
                                            }
                                            let delay = *sleep.borrow();
                                            rt.sleep(delay).await?;
                                            record.commit().await?;
                                            processed.insert(key(&record));
                                        }
                                        Ok(processed)
                                    })
                                    .await
                            })
                    };
                    c1_started.wait().await?;
                    let c2 = spec
                        .member("c2", |s| s, config(kafka_protocol).with_max_poll_records(1))
                        .await?;
                    let c2_keys: BTreeSet<String> = spec
                        .rt
                        .scoped("c2_stream", |scope: Scope| async move {
                            let mut stream = c2
                                .consumer
                                .plain_stream(Subscription::topics(["topic"]), &scope)
                                .await?;
                            let mut keys = BTreeSet::new();
                            while keys.len() < 5 {
                                let Some(record) = stream.next().await? else {
                                    break;
                                };
                                record.commit().await?;
                                keys.insert(key(&record));
                            }
                            Ok::<_, Cause<ConsumerError>>(keys)
                        })
                        .await?;
                    c1.consumer.stop_consumption().await?;
                    *c1_sleep.borrow_mut() = Duration::ZERO;
                    let c1_keys = fiber1.join().await?;
                    let both: Vec<&String> = c1_keys.intersection(&c2_keys).collect();
                    log.push(format!(
                        "c2 read {}, processed by both: {}",
                        c2_keys.len(),
                        if both.is_empty() { "none" } else { "some" }
                    ));
                    Ok(())
                });
                let context = format!("{protocol}, {kafka_protocol:?}, safe {safe}");
                if !completed_unless_graceful_end_stalls(protocol, &result) {
                    continue;
                }
                let expected = if safe {
                    "c2 read 5, processed by both: none"
                } else {
                    "c2 read 5, processed by both: some"
                };
                assert_eq!(seen.lines(), vec![expected], "{context}");
            }
        }
    }
}

/// Drains `stream` in a fiber of its own, counting records into `count` and committing each
/// (the record's own commit: the committer retries `RebalanceInProgress` by itself); a commit
/// failure fails the fiber.
fn drain_committing(
    rt: &Rt,
    name: &str,
    mut stream: consumer::internal::PartitionStream,
    count: Rc<RefCell<u64>>,
) -> Fiber<(), ConsumerError> {
    rt.fork::<(), ConsumerError, _>(name.to_string(), async move {
        let drained = async {
            while let Some(chunk) = stream.next_chunk().await? {
                for record in chunk {
                    *count.borrow_mut() += 1;
                    record.commit().await?;
                }
            }
            Ok(())
        }
        .await;
        let _ = stream.finish().await;
        drained
    })
}

/// Consumes `subscription` with `member` on a fiber of its own, in a subscription scope: each
/// partition stream drained by its own fiber (`flatMapPar`) that counts into `count` and
/// commits every record; ends when the partitioned stream ends (`stop_consumption`) and every
/// drain is done. A commit's failure fails it.
fn consume_committing(
    rt: &Rt,
    member: &Member,
    subscription: Subscription,
    count: Rc<RefCell<u64>>,
) -> Fiber<(), ConsumerError> {
    let (fiber_rt, consumer) = (rt.clone(), member.consumer.clone());
    rt.fork::<(), ConsumerError, _>(member.name.clone(), async move {
        let scoping = fiber_rt.clone();
        scoping
            .scoped("subscription_scope", |scope: Scope| async move {
                let mut partitioned = consumer.partitioned_stream(subscription, &scope).await?;
                let mut drains = Vec::new();
                while let Some(stream) = partitioned.next().await? {
                    let name = format!("drain:{}", stream.tp());
                    drains.push(drain_committing(&fiber_rt, &name, stream, count.clone()));
                }
                for drain in drains {
                    drain.join().await?;
                }
                Ok(())
            })
            .await
    })
}

/// "handles RebalanceInProgressExceptions transparently" (cooperative): consumer 1 consumes
/// five partitions committing what it processes; once it has 20 records, consumer 2 joins and
/// takes partitions over (commits made while the group rebalances get `RebalanceInProgress` and
/// are retried by the committer); once consumer 2 has 20 records, both stop. No commit of
/// either consumer fails.
#[test]
fn handles_rebalance_in_progress_exceptions_transparently() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_group(protocol, move |spec: GroupSpec| async move {
            let cooperative = RebalanceProtocol::CooperativeSticky;
            produce_every(&spec, "topic", 5, Duration::from_millis(20), 200);
            // Consumer 2's broker round trips are slow: it rejoins late, and consumer 1, which
            // rejoined already, commits meanwhile (a real broker's JoinGroup takes time too).
            spec.cluster.apply_faults(&FaultPlan {
                poll_latency: vec![PollLatency {
                    from_ms: 0,
                    until_ms: None,
                    latency_ms: 300,
                    client: Some("c2".into()),
                }],
                ..FaultPlan::default()
            });
            let rt = spec.rt.clone();
            let settings = |s: consumer::ConsumerSettings| {
                let mut s = s;
                s.poll_timeout = Duration::from_millis(500);
                s
            };
            let (first, second): (Rc<RefCell<u64>>, Rc<RefCell<u64>>) = Default::default();
            let c1 = spec.member("c1", settings, config(cooperative)).await?;
            let run1 = consume_committing(&rt, &c1, Subscription::topics(["topic"]), first.clone());
            let c1_had_20 =
                eventually(&rt, Duration::from_secs(15), || *first.borrow() >= 20).await?;
            // Consumer 2 spends its polls in the slow round trip, not waiting for records.
            let quick = |s: consumer::ConsumerSettings| {
                let mut s = s;
                s.poll_timeout = Duration::from_millis(10);
                s
            };
            let c2 = spec.member("c2", quick, config(cooperative)).await?;
            let run2 =
                consume_committing(&rt, &c2, Subscription::topics(["topic"]), second.clone());
            let c2_had_20 =
                eventually(&rt, Duration::from_secs(15), || *second.borrow() >= 20).await?;
            c1.consumer.stop_consumption().await?;
            let ended1 = run1.join().await;
            c2.consumer.stop_consumption().await?;
            let ended2 = run2.join().await;
            log.push(format!(
                "c1 got 20: {c1_had_20}, c2 got 20: {c2_had_20}, c1 ended: {}, c2 ended: {}",
                ExitKind::of(&ended1),
                ExitKind::of(&ended2)
            ));
            let refused = c1.client.rebalance_in_progress_refusals()
                + c2.client.rebalance_in_progress_refusals();
            log.push(format!(
                "commits refused with RebalanceInProgress: {}",
                refused > 0
            ));
            c2.close().await?;
            c1.close().await?;
            Ok(())
        });
        if !completed_unless_graceful_end_hangs(protocol, &result) {
            continue;
        }
        assert_eq!(
            seen.lines(),
            vec![
                "c1 got 20: true, c2 got 20: true, c1 ended: success, c2 ended: success",
                "commits refused with RebalanceInProgress: true",
            ],
            "{protocol}"
        );
    }
}

/// "restartStreamsOnRebalancing mode closes all partition streams" (cooperative): consumer 1
/// (restart mode) consumes five partitions; consumer 2 joins and leaves after 20 records,
/// which makes consumer 1 rebalance twice. In the first rebalance consumer 1 ends the streams
/// of all five partitions, also of those it keeps, and starts those again.
#[test]
fn restart_streams_on_rebalancing_closes_all_partition_streams() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_group(protocol, move |spec: GroupSpec| async move {
            let cooperative = RebalanceProtocol::CooperativeSticky;
            produce_every(&spec, "topic", 5, Duration::from_millis(100), 300);
            let rt = spec.rt.clone();
            let c1 = spec
                .member(
                    "c1",
                    |s| s.with_restart_streams_on_rebalancing(true),
                    config(cooperative),
                )
                .await?;
            let started: Rc<RefCell<Vec<BTreeSet<i32>>>> = Rc::default();
            let stopped: Rc<RefCell<Vec<i32>>> = Rc::default();
            let (fiber_rt, consumer, started1, stopped1) = (
                rt.clone(),
                c1.consumer.clone(),
                started.clone(),
                stopped.clone(),
            );
            let run1 = rt.fork::<(), ConsumerError, _>("c1", async move {
                let scoping = fiber_rt.clone();
                scoping
                    .scoped("subscription_scope", |scope: Scope| async move {
                        let partitioned = consumer
                            .partitioned_stream(Subscription::topics(["topic"]), &scope)
                            .await?;
                        let mut drains = Vec::new();
                        // One assignment at a time, as `partitionedAssignmentStream` gives them.
                        while let Some(PartitionsTake::Streams(controls)) =
                            partitioned.control().next().await?
                        {
                            started1
                                .borrow_mut()
                                .push(controls.iter().map(|c| c.tp().partition).collect());
                            for control in controls {
                                let (stopped, count) = (stopped1.clone(), Rc::default());
                                let partition = control.tp().partition;
                                let drain =
                                    drain_committing(&fiber_rt, "drain", control.stream(), count);
                                drains.push(fiber_rt.fork::<(), ConsumerError, _>(
                                    "drain_end",
                                    async move {
                                        let drained = drain.join().await;
                                        stopped.borrow_mut().push(partition);
                                        drained
                                    },
                                ));
                            }
                        }
                        for drain in drains {
                            let _ = drain.join().await;
                        }
                        Ok(())
                    })
                    .await
            });
            let first = started.clone();
            eventually(&rt, Duration::from_secs(15), || !first.borrow().is_empty()).await?;
            let c2 = spec.member("c2", |s| s, config(cooperative)).await?;
            let c2_scope_rt = rt.clone();
            let c2_consumer = c2.consumer.clone();
            let run2 = rt.fork::<(), ConsumerError, _>("c2", async move {
                c2_scope_rt
                    .scoped("c2_stream", |scope: Scope| async move {
                        let mut stream = c2_consumer
                            .plain_stream(Subscription::topics(["topic"]), &scope)
                            .await?;
                        for _ in 0..20 {
                            if stream.next().await?.is_none() {
                                break;
                            }
                        }
                        Ok(())
                    })
                    .await
            });
            let rebalanced = started.clone();
            let three = eventually(&rt, Duration::from_secs(30), || {
                rebalanced.borrow().len() >= 3
            })
            .await?;
            run2.join().await?;
            c1.consumer.stop_consumption().await?;
            run1.join().await?;
            let started = started.borrow().clone();
            let stopped = stopped.borrow().clone();
            let first_five: BTreeSet<i32> = stopped.iter().take(5).copied().collect();
            log.push(format!(
                "three assignments: {three}, first rebalance stopped {first_five:?}, \
                 kept partitions restarted: {}",
                started.len() > 1 && started[0].intersection(&started[1]).next().is_some()
            ));
            c2.close().await?;
            c1.close().await?;
            Ok(())
        });
        if !completed_unless_graceful_end_hangs(protocol, &result) {
            continue;
        }
        assert_eq!(
            seen.lines(),
            vec![
                "three assignments: true, first rebalance stopped {0, 1, 2, 3, 4}, \
                 kept partitions restarted: true"
            ],
            "{protocol}"
        );
    }
}

/// "should close old stream during rebalancing under load": three consumers of three
/// partitions join one by one and leave one by one while records flow; after each step,
/// within 15 s, every consumer running has a partition, and every partition has exactly one
/// stream (an old stream ends before its partition's new one starts elsewhere).
#[test]
fn should_close_old_stream_during_rebalancing_under_load() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_group(protocol, move |spec: GroupSpec| async move {
            spec.cluster.create_topic("topic", 3);
            for n in 0..3_000u64 {
                spec.cluster.produce_at(
                    Duration::from_millis(n * 10),
                    &tp("topic", (n % 3) as i32),
                    &format!("key-{n}"),
                    "v",
                );
            }
            let rt = spec.rt.clone();
            let assignments: Rc<RefCell<BTreeMap<usize, Vec<i32>>>> = Rc::default();
            let mut fibers = Vec::new();
            let mut members = Vec::new();
            let valid = |assignments: &Rc<RefCell<BTreeMap<usize, Vec<i32>>>>,
                         instances: &BTreeSet<usize>| {
                let state = assignments.borrow();
                let keys: BTreeSet<usize> = state
                    .iter()
                    .filter(|(_, partitions)| !partitions.is_empty())
                    .map(|(instance, _)| *instance)
                    .collect();
                let mut all: Vec<i32> = state.values().flatten().copied().collect();
                all.sort_unstable();
                keys == *instances && all == vec![0, 1, 2]
            };
            let mut instances = BTreeSet::new();
            for instance in 0..3usize {
                let member = spec
                    .member(
                        &format!("c{instance}"),
                        |s| s,
                        config(RebalanceProtocol::EagerRange),
                    )
                    .await?;
                fibers.push(run_registering(&rt, &member, instance, assignments.clone()));
                members.push(member);
                instances.insert(instance);
                let ok = eventually(&rt, Duration::from_secs(15), || {
                    valid(&assignments, &instances)
                })
                .await?;
                log.push(format!("{} running: valid {ok}", instances.len()));
            }
            for instance in (1..3usize).rev() {
                let _ = fibers[instance].interrupt().await?;
                assignments.borrow_mut().remove(&instance);
                instances.remove(&instance);
                let ok = eventually(&rt, Duration::from_secs(15), || {
                    valid(&assignments, &instances)
                })
                .await?;
                log.push(format!("{} running: valid {ok}", instances.len()));
            }
            let _ = fibers[0].interrupt().await?;
            for member in members.iter().rev() {
                member.close().await?;
            }
            Ok(())
        });
        if !completed_unless_graceful_end_hangs(protocol, &result) {
            continue;
        }
        assert_eq!(
            seen.lines(),
            vec![
                "1 running: valid true",
                "2 running: valid true",
                "3 running: valid true",
                "2 running: valid true",
                "1 running: valid true",
            ],
            "{protocol}"
        );
    }
}

/// Consumes with `member` in a subscription scope on a fiber of its own, registering each
/// partition stream's partition for `instance` when it starts and removing it when it ends.
fn run_registering(
    rt: &Rt,
    member: &Member,
    instance: usize,
    assignments: Rc<RefCell<BTreeMap<usize, Vec<i32>>>>,
) -> Fiber<(), ConsumerError> {
    let (fiber_rt, consumer) = (rt.clone(), member.consumer.clone());
    rt.fork::<(), ConsumerError, _>(member.name.clone(), async move {
        let scoping = fiber_rt.clone();
        scoping
            .scoped("subscription_scope", |scope: Scope| async move {
                let mut partitioned = consumer
                    .partitioned_stream(Subscription::topics(["topic"]), &scope)
                    .await?;
                while let Some(mut stream) = partitioned.next().await? {
                    let partition = stream.tp().partition;
                    assignments
                        .borrow_mut()
                        .entry(instance)
                        .or_default()
                        .push(partition);
                    let assignments = assignments.clone();
                    fiber_rt.fork::<(), ConsumerError, _>("drain", async move {
                        let drained = async {
                            while stream.next_chunk().await?.is_some() {}
                            Ok(())
                        }
                        .await;
                        let _ = stream.finish().await;
                        if let Some(partitions) = assignments.borrow_mut().get_mut(&instance) {
                            if let Some(index) = partitions.iter().position(|p| *p == partition) {
                                partitions.remove(index);
                            }
                        }
                        drained
                    });
                }
                Ok(())
            })
            .await
    })
}

/// "running streams don't stall after a poll timeout": a manual subscription's stream gets a
/// record, then, after polls that returned nothing, the next record produced.
#[test]
fn running_streams_dont_stall_after_a_poll_timeout() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_group(protocol, move |spec: GroupSpec| async move {
            spec.cluster.create_topic("topic", 1);
            spec.cluster.produce(&tp("topic", 0), "key1", "message1");
            let rt = spec.rt.clone();
            let member = spec
                .member(
                    "c1",
                    |s| s,
                    ClientConfig::group(GROUP)
                        .with_auto_offset_reset(sim::kafka::AutoOffsetReset::Earliest),
                )
                .await?;
            let (cluster, consumer, scoping) =
                (spec.cluster.clone(), member.consumer.clone(), rt.clone());
            scoping
                .scoped("subscription_scope", |scope: Scope| async move {
                    let mut stream = consumer
                        .plain_stream(Subscription::manual([tp("topic", 0)]), &scope)
                        .await?;
                    if let Some(record) = stream.next().await? {
                        log.push(record.record.value_text().unwrap_or_default());
                    }
                    rt.sleep(Duration::from_millis(200)).await?;
                    cluster.produce(&tp("topic", 0), "key2", "message2");
                    if let Some(record) = stream.next().await? {
                        log.push(record.record.value_text().unwrap_or_default());
                    }
                    Ok::<(), Cause<ConsumerError>>(())
                })
                .await?;
            member.close().await
        });
        if !completed_unless_graceful_end_hangs(protocol, &result) {
            continue;
        }
        assert_eq!(seen.lines(), vec!["message1", "message2"], "{protocol}");
    }
}

/// "it's possible to start a new consumption session from a Consumer that had a consumption
/// session stopped previously": a session over a manual subscription stops (`stop_consumption`)
/// after 10 of 100 records (produced one every 10 ms: zio-kafka's 100,000 records make the
/// same point, that the stop comes before the end); a new session of the same consumer reads
/// all 100 (nothing was committed); the finalizers run in order, one `SubscriptionFinalized`
/// per session.
#[test]
fn a_new_consumption_session_after_a_stopped_one() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_group(protocol, move |spec: GroupSpec| async move {
            spec.cluster.create_topic("topic", 1);
            for n in 0..100u64 {
                spec.cluster.produce_at(
                    Duration::from_millis(n * 10),
                    &tp("topic", 0),
                    &format!("key-{n}"),
                    &format!("msg-{n}"),
                );
            }
            let member = spec.member("c1", |s| s, ClientConfig::group(GROUP)).await?;
            let mut consumed = Vec::new();
            for session in 0..2 {
                let (consumer, scoping) = (member.consumer.clone(), spec.rt.clone());
                let count = scoping
                    .scoped("subscription_scope", |scope: Scope| async move {
                        let mut stream = consumer
                            .plain_stream(Subscription::manual([tp("topic", 0)]), &scope)
                            .await?;
                        let mut count = 0u64;
                        while count < 100 {
                            if stream.next().await?.is_none() {
                                break;
                            }
                            count += 1;
                            if session == 0 && count == 10 {
                                consumer.stop_consumption().await?;
                            }
                        }
                        Ok::<u64, Cause<ConsumerError>>(count)
                    })
                    .await?;
                consumed.push(count);
            }
            member.close().await?;
            log.push(format!(
                "first session: {}, second session: {}",
                if consumed[0] > 0 && consumed[0] < 100 {
                    "stopped early"
                } else {
                    "not stopped"
                },
                consumed[1]
            ));
            log.push(format!("{:?}", member.diagnostics.finalizations()));
            Ok(())
        });
        if !completed_unless_graceful_end_hangs(protocol, &result) {
            continue;
        }
        let finalizations = vec![
            DiagnosticEvent::SubscriptionFinalized,
            DiagnosticEvent::SubscriptionFinalized,
            DiagnosticEvent::RunloopFinalized,
            DiagnosticEvent::ConsumerFinalized,
        ];
        assert_eq!(
            seen.lines(),
            vec![
                "first session: stopped early, second session: 100".to_string(),
                format!("{finalizations:?}"),
            ],
            "{protocol}"
        );
    }
}

/// "produce diagnostic events when rebalancing", with two full consumers: when consumer 2
/// joins, each consumer's `Rebalance` diagnostics say what it was assigned and what it gave
/// up: under the eager protocol consumer 1 revokes all four partitions and gets two back; under
/// the cooperative one it revokes only the two that move (and is assigned nothing new), and
/// consumer 2 gets them in the follow-up rebalance, applied in the same poll as the first.
#[test]
fn rebalance_diagnostics_of_two_full_consumers() {
    for kafka_protocol in kafka_protocols() {
        for protocol in ShutdownProtocol::ALL {
            let log = Log::default();
            let seen = log.clone();
            let result = with_group(protocol, move |spec: GroupSpec| async move {
                produce_every(&spec, "topic", 4, Duration::from_millis(100), 50);
                let rt = spec.rt.clone();
                let c1 = spec.member("c1", |s| s, config(kafka_protocol)).await?;
                let count1: Rc<RefCell<u64>> = Rc::default();
                let run1 = consume_committing(&rt, &c1, Subscription::topics(["topic"]), count1);
                rt.sleep(Duration::from_millis(500)).await?;
                let c2 = spec.member("c2", |s| s, config(kafka_protocol)).await?;
                let count2: Rc<RefCell<u64>> = Rc::default();
                let run2 = consume_committing(&rt, &c2, Subscription::topics(["topic"]), count2);
                rt.sleep(Duration::from_secs(2)).await?;
                c1.consumer.stop_consumption().await?;
                c2.consumer.stop_consumption().await?;
                run1.join().await?;
                run2.join().await?;
                for member in [&c1, &c2] {
                    let rebalances: Vec<String> = member
                        .diagnostics
                        .events()
                        .into_iter()
                        .filter(|(at, _)| *at < Duration::from_millis(2_500))
                        .filter_map(|(_, event)| match event {
                            DiagnosticEvent::Rebalance {
                                revoked, assigned, ..
                            } => Some(format!("-{} +{}", revoked.len(), assigned.len())),
                            _ => None,
                        })
                        .collect();
                    log.push(format!("{}: {}", member.name, rebalances.join(" ")));
                }
                c2.close().await?;
                c1.close().await?;
                Ok(())
            });
            let context = format!("{protocol}, {kafka_protocol:?}");
            if !completed_unless_graceful_end_hangs(protocol, &result) {
                continue;
            }
            let expected = match kafka_protocol {
                RebalanceProtocol::EagerRange => vec!["c1: -0 +4 -4 +2", "c2: -0 +2"],
                // Each consumer applies both generations of the cooperative move in one poll, so
                // one `Rebalance` diagnostic accumulates them.
                RebalanceProtocol::CooperativeSticky => vec!["c1: -0 +4 -2 +0", "c2: -0 +2"],
            };
            assert_eq!(seen.lines(), expected, "{context}");
        }
    }
}
