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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{completed_unless_graceful_end_hangs, tp, with_group, GroupSpec, Log, Member};
use consumer::internal::{PartitionsTake, RecordHandler};
use consumer::kafka::{Subscription, TopicPartition};
use consumer::rt::{Cause, Exit, ExitKind, Fiber, Promise, Rt, Scope};
use consumer::{CommittableRecord, ConsumerError, DiagnosticEvent, ShutdownProtocol};
use sim::kafka::{ClientConfig, ProducerSpec, RebalanceProtocol};

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
                if !completed_unless_graceful_end_hangs(protocol, &result) {
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
