//! zio-kafka's `RunloopSpec` (the PR #1712 version, all eight tests), ported: the runloop driven
//! directly against a MockConsumer-like fake client, run for every protocol. Where a protocol
//! hangs, the test asserts the hang with the stuck request named in the report.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{assert_completed, assert_hangs_on, tp, with_mock_consumer, Log, Spec};
use consumer::internal::PartitionsTake;
use consumer::kafka::{KafkaError, Offset, Subscription};
use consumer::rt::{Cause, Exit, ExitKind, Schedule};
use consumer::{ConsumerError, DiagnosticEvent, ShutdownProtocol};

fn topics_t1() -> Subscription {
    Subscription::topics(["t1"])
}

/// Takes hub messages until one carries streams; bounded.
async fn next_streams(
    hub: &consumer::rt::HubSubscription<PartitionsTake>,
) -> Exit<Vec<consumer::internal::PartitionStreamControl>, ConsumerError> {
    for _ in 0..100 {
        match hub.take().await? {
            PartitionsTake::Streams(streams) => return Ok(streams),
            PartitionsTake::End => continue,
            PartitionsTake::Fail(cause) => return Err(cause),
        }
    }
    Err(Cause::Die("no streams in 100 hub messages".into()))
}

/// 1. "runloop creates a new partition stream and polls for new records".
#[test]
fn runloop_creates_a_new_partition_stream_and_polls_for_new_records() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_mock_consumer(
            protocol,
            |s| s,
            move |spec: Spec| async move {
                let tp10 = tp("t1", 10);
                spec.client.schedule_poll_task(move |c| {
                    c.update_end_offsets([(tp10.clone(), Offset(0))]);
                    c.rebalance([tp10.clone()]);
                    c.add_record(&tp10, "key", "value");
                });
                let hub = spec.hub().subscribe().await?;
                let runloop = spec.runloop().await?;
                runloop.add_subscription(topics_t1()).await?;
                let streams = next_streams(&hub).await?;
                let mut stream = streams[0].stream();
                let chunk = stream.next_chunk().await?.expect("a chunk");
                log.push(chunk[0].record.key_text().unwrap_or_default());
                Ok(())
            },
        );
        assert_completed(&result, protocol.name());
        assert_eq!(seen.lines(), vec!["key"], "{protocol}");
    }
}

/// 2. "runloop does not start a new stream for a partition revoked right after assignment
///    within the same RebalanceEvent": one `Rebalance(revoked={tp11}, assigned={tp10})`.
#[test]
fn no_stream_for_partition_revoked_right_after_assignment_in_one_poll() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_mock_consumer(
            protocol,
            |s| s,
            move |spec: Spec| async move {
                let (tp10, tp11) = (tp("t1", 10), tp("t1", 11));
                spec.client.schedule_poll_task(move |c| {
                    c.rebalance([tp10.clone(), tp11.clone()]);
                    c.rebalance([tp10.clone()]);
                });
                let runloop = spec.runloop().await?;
                runloop.add_subscription(topics_t1()).await?;
                for _ in 0..20 {
                    spec.rt.sleep(Duration::from_millis(500)).await?;
                    let rebalances: Vec<String> = spec
                    .diagnostics
                    .events()
                    .into_iter()
                    .filter_map(|(_, event)| match event {
                        DiagnosticEvent::Rebalance { revoked, assigned, lost, ended } => {
                            Some(format!("revoked={revoked:?} assigned={assigned:?} lost={lost:?} ended={ended:?}"))
                        }
                        _ => None,
                    })
                    .collect();
                    if !rebalances.is_empty() {
                        for line in rebalances {
                            log.push(line);
                        }
                        return Ok(());
                    }
                }
                Ok(())
            },
        );
        assert_completed(&result, protocol.name());
        let expected = format!(
            "revoked={:?} assigned={:?} lost={:?} ended={:?}",
            BTreeSet::from([tp("t1", 11)]),
            BTreeSet::from([tp("t1", 10)]),
            BTreeSet::<consumer::kafka::TopicPartition>::new(),
            BTreeSet::<consumer::kafka::TopicPartition>::new()
        );
        assert_eq!(seen.lines(), vec![expected], "{protocol}");
    }
}

/// 3. "runloop continues polling after a lost partition": the streams of lost partitions end,
///    polling goes on, and a later assignment brings new streams (three in all, at least).
#[test]
fn runloop_continues_polling_after_a_lost_partition() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_mock_consumer(
            protocol,
            |s| s,
            move |spec: Spec| async move {
                let (tp10, tp11) = (tp("t1", 10), tp("t1", 11));
                let (a, b) = (tp10.clone(), tp11.clone());
                spec.client.schedule_poll_task(move |c| c.rebalance([a, b]));
                let (a, b) = (tp10.clone(), tp11.clone());
                spec.client
                    .schedule_poll_task(move |c| c.invoke_on_lost([a, b]));
                spec.client.schedule_poll_task(move |c| {
                    c.rebalance([]);
                    c.rebalance([tp10, tp11]);
                });
                let hub = spec.hub().subscribe().await?;
                let runloop = spec.runloop().await?;
                runloop.add_subscription(topics_t1()).await?;
                let mut count = 0;
                while count < 3 {
                    let streams = next_streams(&hub).await?;
                    count += streams.len();
                    // Pull from every stream, as a consumer does: pulling is what asks for polls.
                    for control in streams {
                        let mut stream = control.stream();
                        spec.rt.fork::<(), ConsumerError, _>("drain", async move {
                            while stream.next_chunk().await?.is_some() {}
                            Ok(())
                        });
                    }
                }
                log.push(format!("at least three streams: {}", count >= 3));
                Ok(())
            },
        );
        assert_completed(&result, protocol.name());
        assert_eq!(
            seen.lines(),
            vec!["at least three streams: true"],
            "{protocol}"
        );
    }
}

/// 4. "runloop retries poll upon AuthorizationException and AuthenticationException": the
///    record after two failed polls arrives, and two auth errors were counted.
#[test]
fn runloop_retries_poll_upon_authorization_and_authentication_errors() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_mock_consumer(
            protocol,
            |s| s,
            move |spec: Spec| async move {
                let tp10 = tp("t1", 10);
                let assigned = tp10.clone();
                spec.client.schedule_poll_task(move |c| {
                    c.update_end_offsets([(assigned.clone(), Offset(0))]);
                    c.rebalance([assigned]);
                });
                spec.client.schedule_poll_task(|c| {
                    c.set_poll_exception(KafkaError::TopicAuthorization("t1".into()))
                });
                spec.client
                    .schedule_poll_task(|c| c.set_poll_exception(KafkaError::Authentication));
                spec.client.schedule_poll_task(move |c| {
                    c.add_record(&tp10, "key", "value");
                });
                let hub = spec.hub().subscribe().await?;
                let runloop = spec.runloop().await?;
                runloop.add_subscription(topics_t1()).await?;
                let streams = next_streams(&hub).await?;
                let mut stream = streams[0].stream();
                let chunk = stream.next_chunk().await?.expect("a chunk");
                log.push(chunk[0].record.key_text().unwrap_or_default());
                log.push(format!("auth errors {}", runloop.poll_auth_errors()));
                Ok(())
            },
        );
        assert_completed(&result, protocol.name());
        assert_eq!(seen.lines(), vec!["key", "auth errors 2"], "{protocol}");
    }
}

/// 5. "partition stream fails when Runloop crashes after auth retries exhaust with empty
///    dataQueue" (#1707): the parked stream fails with the authorization error.
#[test]
fn partition_stream_fails_when_runloop_crashes_with_empty_data_queue() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let no_retry =
            |s: consumer::ConsumerSettings| s.with_auth_error_retry_schedule(Schedule::recurs(0));
        let result = with_mock_consumer(protocol, no_retry, move |spec: Spec| async move {
            let tp10 = tp("t1", 10);
            spec.client.schedule_poll_task(move |c| {
                c.update_end_offsets([(tp10.clone(), Offset(0))]);
                c.rebalance([tp10]);
            });
            spec.client.schedule_poll_task(|c| {
                c.set_poll_exception(KafkaError::TopicAuthorization("acl-denied".into()))
            });
            let hub = spec.hub().subscribe().await?;
            let runloop = spec.runloop().await?;
            runloop.add_subscription(topics_t1()).await?;
            let streams = next_streams(&hub).await?;
            let mut stream = streams[0].stream();
            match stream.next_chunk().await {
                Err(Cause::Fail(error)) => log.push(format!("stream failed: {error}")),
                other => log.push(format!(
                    "unexpected: {:?}",
                    other.map(|c| c.map(|v| v.len()))
                )),
            }
            Ok(())
        });
        assert_completed(&result, protocol.name());
        assert_eq!(
            seen.lines(),
            vec!["stream failed: not authorized to access topics: [acl-denied]"],
            "{protocol}"
        );
    }
}

/// Which request a crash test makes after the runloop has crashed, and from which region.
#[derive(Clone, Copy)]
enum AfterCrash {
    RemoveSubscription { uninterruptible: bool },
    EndStreamsBySubscription,
}

/// The crash tests' common body: the first poll throws, the runloop crashes (no retries), and
/// two seconds later the request is made. Returns the run and the request's exit, if it
/// returned.
fn request_after_crash(
    protocol: ShutdownProtocol,
    request: AfterCrash,
) -> (sim::RunResult, Vec<String>) {
    let log = Log::default();
    let seen = log.clone();
    let no_retry =
        |s: consumer::ConsumerSettings| s.with_auth_error_retry_schedule(Schedule::recurs(0));
    let result = with_mock_consumer(protocol, no_retry, move |spec: Spec| async move {
        spec.client.schedule_poll_task(|c| {
            c.set_poll_exception(KafkaError::TopicAuthorization("t1".into()))
        });
        let runloop = spec.runloop().await?;
        runloop.add_subscription(topics_t1()).await?;
        spec.rt.sleep(Duration::from_secs(2)).await?;
        let exit = match request {
            AfterCrash::RemoveSubscription {
                uninterruptible: false,
            } => runloop.remove_subscription(topics_t1()).await,
            AfterCrash::RemoveSubscription {
                uninterruptible: true,
            } => {
                spec.rt
                    .uninterruptible(runloop.remove_subscription(topics_t1()))
                    .await
            }
            AfterCrash::EndStreamsBySubscription => {
                spec.rt
                    .uninterruptible(runloop.end_streams_by_subscription(topics_t1()))
                    .await
            }
        };
        log.push(format!("request returned {}", ExitKind::of(&exit)));
        Ok(())
    });
    (result, seen.lines())
}

/// The protocols whose request hangs after a crash, per test: what the simulation shows, in
/// line with DESIGN.md section 2's reading.
fn hangs_after_crash(protocol: ShutdownProtocol, request: AfterCrash) -> bool {
    match protocol {
        ShutdownProtocol::Master => true,
        // The race's loser, `{offer; promise.await}`, cannot be interrupted in an
        // uninterruptible region, and nobody completes the promise.
        ShutdownProtocol::RaceOnly => !matches!(
            request,
            AfterCrash::RemoveSubscription {
                uninterruptible: false
            }
        ),
        _ => false,
    }
}

fn check_request_after_crash(request: AfterCrash, command: &str) {
    for protocol in ShutdownProtocol::ALL {
        let (result, lines) = request_after_crash(protocol, request);
        if hangs_after_crash(protocol, request) {
            assert_hangs_on(
                &result,
                command,
                &format!("promise:{command}"),
                protocol.name(),
            );
            assert!(
                lines.is_empty(),
                "{protocol}: the request returned: {lines:?}"
            );
        } else {
            assert_completed(&result, protocol.name());
            assert_eq!(lines.len(), 1, "{protocol}: {lines:?}");
        }
    }
}

/// 6. "removeSubscription does not hang after Runloop crashes": it does under `Master`.
#[test]
fn remove_subscription_after_runloop_crash() {
    check_request_after_crash(
        AfterCrash::RemoveSubscription {
            uninterruptible: false,
        },
        "RemoveSubscription",
    );
}

/// 7. "removeSubscription does not hang in uninterruptible context after Runloop crashes": it
///    does under `Master` and `RaceOnly`.
#[test]
fn remove_subscription_in_uninterruptible_region_after_runloop_crash() {
    check_request_after_crash(
        AfterCrash::RemoveSubscription {
            uninterruptible: true,
        },
        "RemoveSubscription",
    );
}

/// 8. "endStreamsBySubscription does not hang in uninterruptible context after Runloop
///    crashes": it does under `Master` and `RaceOnly`.
#[test]
fn end_streams_by_subscription_in_uninterruptible_region_after_runloop_crash() {
    check_request_after_crash(
        AfterCrash::EndStreamsBySubscription,
        "EndStreamsBySubscription",
    );
}
