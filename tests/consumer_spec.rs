//! zio-kafka's `ConsumerSpec` tests about shutdown, finalizer order and failures, ported to the
//! fake cluster (group-managed client, real records) and run for every protocol. Where a
//! protocol hangs, the test asserts the hang with the stuck request named in the report.

mod common;

use std::rc::Rc;
use std::time::Duration;

use common::{assert_completed, completed_unless_graceful_end_hangs, tp, with_client, Log, Spec};
use consumer::internal::RecordHandler;
use consumer::kafka::Subscription;
use consumer::rt::{Cause, ExitKind};
use consumer::{CommittableRecord, ConsumerError, DiagnosticEvent, ShutdownProtocol};
use sim::kafka::ClientConfig;

const GROUP: &str = "spec-group";

fn group_client() -> ClientConfig {
    ClientConfig::group(GROUP)
}

/// A handler that logs each record's value and fails on the value `fail_on`, if any.
fn logging_handler(log: Log, fail_on: Option<&'static str>) -> RecordHandler {
    Rc::new(move |record: CommittableRecord| {
        let log = log.clone();
        Box::pin(async move {
            let value = record.record.value_text().unwrap_or_default();
            if Some(value.as_str()) == fail_on {
                return Err(Cause::Fail(ConsumerError::Handler(format!(
                    "boom at {value}"
                ))));
            }
            log.push(format!("processed {value}"));
            Ok(())
        })
    })
}

/// Ten records on partition 0 of `topic`.
fn produce_ten(spec: &Spec, topic: &str) {
    spec.cluster.create_topic(topic, 1);
    for n in 0..10 {
        spec.cluster
            .produce(&tp(topic, 0), &format!("k{n}"), &format!("v{n}"));
    }
}

/// "fail when the consuming effect produces a failure": `consume_with` returns the handler's
/// failure (after the records before it were processed).
#[test]
fn fail_when_the_consuming_effect_produces_a_failure() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_client(
            protocol,
            |s| s,
            group_client(),
            move |spec: Spec| async move {
                produce_ten(&spec, "orders");
                let exit = spec
                    .consumer
                    .consume_with(
                        Subscription::topics(["orders"]),
                        logging_handler(log.clone(), Some("v3")),
                    )
                    .await;
                log.push(format!(
                    "consume_with: {:?}",
                    exit.err().map(|c| c.to_string())
                ));
                Ok(())
            },
        );
        if completed_unless_graceful_end_hangs(protocol, &result) {
            let lines = seen.lines();
            assert_eq!(
                &lines[..3],
                &["processed v0", "processed v1", "processed v2"],
                "{protocol}"
            );
            assert_eq!(
                lines.last().unwrap(),
                "consume_with: Some(\"failed: handler failed: boom at v3\")",
                "{protocol}"
            );
        }
    }
}

/// "process outstanding commits after a graceful shutdown", and its variant "with
/// aggregateAsync using `maxRebalanceDuration`" (rebalance-safe commits, `maxRebalanceDuration`
/// 6 s, `commitTimeout` 4 s): after `stop_consumption`, every processed record's offset is
/// committed (the committed offset is the last one plus one).
#[test]
fn process_outstanding_commits_after_a_graceful_shutdown() {
    for rebalance_safe in [false, true] {
        for protocol in ShutdownProtocol::ALL {
            process_outstanding_commits(protocol, rebalance_safe);
        }
    }
}

fn process_outstanding_commits(protocol: ShutdownProtocol, rebalance_safe: bool) {
    let log = Log::default();
    let seen = log.clone();
    let result = with_client(
        protocol,
        move |s| {
            if rebalance_safe {
                s.with_rebalance_safe_commits(true)
                    .with_max_rebalance_duration(Duration::from_secs(6))
                    .with_commit_timeout(Duration::from_secs(4))
            } else {
                s
            }
        },
        group_client(),
        move |spec: Spec| async move {
            produce_ten(&spec, "orders");
            let (consumer, stop_log) = (spec.consumer.clone(), log.clone());
            let handler: RecordHandler = Rc::new(move |record: CommittableRecord| {
                let (consumer, log) = (consumer.clone(), stop_log.clone());
                Box::pin(async move {
                    log.push(format!("processed {}", record.offset()));
                    if record.offset().0 == 6 {
                        consumer.stop_consumption().await?;
                    }
                    Ok(())
                })
            });
            let exit = spec
                .consumer
                .consume_with(Subscription::topics(["orders"]), handler)
                .await;
            log.push(format!("consume_with {}", ExitKind::of(&exit)));
            let committed = spec.cluster.committed_offset(GROUP, &tp("orders", 0));
            log.push(format!("committed {committed:?}"));
            Ok(())
        },
    );
    if !completed_unless_graceful_end_hangs(protocol, &result) {
        return;
    }
    let lines = seen.lines();
    let processed: Vec<i64> = lines
        .iter()
        .filter_map(|line| line.strip_prefix("processed ").and_then(|n| n.parse().ok()))
        .collect();
    let last = *processed.last().expect("records were processed");
    assert!(
        last >= 6,
        "{protocol}: stopped at 6, processed {processed:?}"
    );
    assert!(
        lines.contains(&"consume_with success".to_string()),
        "{protocol}: {lines:?}"
    );
    assert_eq!(
        lines.last().unwrap(),
        &format!("committed Some(Offset({}))", last + 1),
        "{protocol}: every processed record is committed"
    );
}

/// "Ordering of finalizers matters": two subscriptions, then the consumer's end, finalize in
/// the order `SubscriptionFinalized, SubscriptionFinalized, RunloopFinalized,
/// ConsumerFinalized`.
#[test]
fn ordering_of_finalizers_subscriptions_then_runloop_then_consumer() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_client(
            protocol,
            |s| s,
            group_client(),
            move |spec: Spec| async move {
                produce_ten(&spec, "orders");
                produce_ten(&spec, "payments");
                let diagnostics = spec.diagnostics.clone();
                let stopper = spec.consumer.clone();
                let stop_rt = spec.rt.clone();
                spec.rt.fork::<(), ConsumerError, _>("stopper", async move {
                    stop_rt.sleep(Duration::from_secs(2)).await?;
                    stopper.stop_consumption().await
                });
                let first = spec.consumer.clone();
                let first_log = log.clone();
                let orders = spec.rt.fork::<(), ConsumerError, _>("orders", async move {
                    first
                        .consume_with(
                            Subscription::topics(["orders"]),
                            logging_handler(first_log, None),
                        )
                        .await
                });
                let payments = spec
                    .consumer
                    .consume_with(
                        Subscription::topics(["payments"]),
                        logging_handler(log.clone(), None),
                    )
                    .await;
                let orders = orders.join().await;
                log.push(format!(
                    "{} {}",
                    ExitKind::of(&orders),
                    ExitKind::of(&payments)
                ));
                // Close the consumer scope here, so that its finalizations can be read.
                spec.scope
                    .close(ExitKind::Success)
                    .await
                    .map_err(|c| c.map(|never| match never {}))?;
                log.push(format!("{:?}", diagnostics.finalizations()));
                Ok(())
            },
        );
        if !completed_unless_graceful_end_hangs(protocol, &result) {
            continue;
        }
        let lines = seen.lines();
        assert!(
            lines.contains(&"success success".to_string()),
            "{protocol}: {lines:?}"
        );
        let expected = vec![
            DiagnosticEvent::SubscriptionFinalized,
            DiagnosticEvent::SubscriptionFinalized,
            DiagnosticEvent::RunloopFinalized,
            DiagnosticEvent::ConsumerFinalized,
        ];
        assert_eq!(
            lines.last(),
            Some(&format!("{expected:?}")),
            "{protocol}: finalizer order"
        );
    }
}

/// "Booting a Consumer to do something else than consuming should not fail": a consumer made and
/// closed without a subscription only emits `ConsumerFinalized`.
#[test]
fn a_consumer_that_never_consumes_only_finalizes_itself() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_client(
            protocol,
            |s| s,
            group_client(),
            move |spec: Spec| async move {
                let diagnostics = spec.diagnostics.clone();
                let scope = spec.scope.clone();
                scope
                    .close(ExitKind::Success)
                    .await
                    .map_err(|c| c.map(|never| match never {}))?;
                log.push(format!("{:?}", diagnostics.finalizations()));
                Ok(())
            },
        );
        assert_completed(&result, protocol.name());
        assert_eq!(
            seen.lines(),
            vec![format!("{:?}", vec![DiagnosticEvent::ConsumerFinalized])],
            "{protocol}"
        );
    }
}

/// "handle rebalancing by completing topic-partition streams" and "produce diagnostic events
/// when rebalancing": when a peer joins the group (eager protocol), every partition stream is
/// revoked and completes, the consumer keeps the partitions the new assignment gives it, and a
/// `Rebalance` diagnostic names what was revoked and assigned.
#[test]
fn rebalancing_completes_partition_streams_and_emits_diagnostics() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_client(
            protocol,
            |s| s,
            group_client(),
            move |spec: Spec| async move {
                spec.cluster.create_topic("orders", 4);
                for partition in 0..4 {
                    for n in 0..5 {
                        let at = Duration::from_millis(n * 400);
                        spec.cluster.produce_at(
                            at,
                            &tp("orders", partition),
                            "k",
                            &format!("v{n}"),
                        );
                    }
                }
                let (rt, cluster, consumer) =
                    (spec.rt.clone(), spec.cluster.clone(), spec.consumer.clone());
                spec.rt.fork::<(), ConsumerError, _>("group", async move {
                    rt.sleep(Duration::from_millis(500)).await?;
                    cluster.peer_join(GROUP, "peer");
                    rt.sleep(Duration::from_secs(3)).await?;
                    consumer.stop_consumption().await
                });
                let exit = spec
                    .consumer
                    .consume_with(
                        Subscription::topics(["orders"]),
                        logging_handler(log.clone(), None),
                    )
                    .await;
                log.push(format!("consume_with {}", ExitKind::of(&exit)));
                for (at, event) in spec.diagnostics.events() {
                    if let DiagnosticEvent::Rebalance {
                        revoked, assigned, ..
                    } = event
                    {
                        if at >= Duration::from_millis(500) {
                            log.push(format!(
                                "rebalance: revoked {} assigned {}",
                                revoked.len(),
                                assigned.len()
                            ));
                        }
                    }
                }
                Ok(())
            },
        );
        if !completed_unless_graceful_end_hangs(protocol, &result) {
            continue;
        }
        let lines = seen.lines();
        assert!(
            lines.contains(&"consume_with success".to_string()),
            "{protocol}: {lines:?}"
        );
        assert!(
            lines.contains(&"rebalance: revoked 4 assigned 2".to_string()),
            "{protocol}: an eager rebalance revokes all four and assigns half: {lines:?}"
        );
        let processed = lines
            .iter()
            .filter(|line| line.starts_with("processed"))
            .count();
        assert!(
            processed >= 10,
            "{protocol}: consumption went on after the rebalance: {lines:?}"
        );
    }
}

/// "stopConsumption must end streams while still processing commits": after
/// `stop_consumption`, a record's own commit still succeeds and the stream completes.
#[test]
fn stop_consumption_ends_streams_while_commits_still_work() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_client(
            protocol,
            |s| s,
            group_client(),
            move |spec: Spec| async move {
                produce_ten(&spec, "orders");
                let (consumer, handler_log) = (spec.consumer.clone(), log.clone());
                let handler: RecordHandler = Rc::new(move |record: CommittableRecord| {
                    let (consumer, log) = (consumer.clone(), handler_log.clone());
                    Box::pin(async move {
                        if record.offset().0 == 3 {
                            consumer.stop_consumption().await?;
                            let committed = record.commit().await;
                            log.push(format!("commit after stop: {}", ExitKind::of(&committed)));
                        }
                        Ok(())
                    })
                });
                let exit = spec
                    .consumer
                    .consume_with(Subscription::topics(["orders"]), handler)
                    .await;
                log.push(format!("consume_with {}", ExitKind::of(&exit)));
                Ok(())
            },
        );
        if !completed_unless_graceful_end_hangs(protocol, &result) {
            continue;
        }
        assert_eq!(
            seen.lines(),
            vec!["commit after stop: success", "consume_with success"],
            "{protocol}"
        );
    }
}
