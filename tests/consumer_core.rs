//! The consumer core's ports of zio-kafka behaviours that the issue-10 work added, each run for
//! every protocol with the outcome each protocol shows asserted (so that a change is visible):
//! `consume_with` apart from `run_with_graceful_shutdown`, the runloop's end on a shut-down
//! queue and on interruption, the ways a handled command or a poll fails in the field (a
//! `commit_async` that throws, a failing user rebalance listener, a failing manual offset
//! retrieval, an `unsubscribe` that throws), the `committed()` probe of #1713, and the access
//! lock with `wakeup`.

mod common;

use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use common::{
    assert_completed, assert_hangs_on, tp, with_client, with_client_settings, with_mock_consumer,
    Log, Spec,
};
use consumer::internal::{
    ConsumerAccess, PartitionsTake, RecordHandler, Runloop, UserRebalanceListener,
};
use consumer::kafka::{KafkaClient, Subscription};
use consumer::rt::{Cause, ExitKind, Hub};
use consumer::{
    CommittableRecord, ConsumerError, ConsumerSettings, DiagnosticEvent, ShutdownProtocol,
};
use sim::kafka::{
    AclChange, CallFault, CallLatency, ClientCall, ClientConfig, FaultPlan, FaultTimes,
    InjectedError, ReadAccess,
};

const GROUP: &str = "core-group";

fn group_client() -> ClientConfig {
    ClientConfig::group(GROUP)
}

/// Records on partition 0 of `topic`, one every `every` from the start.
fn produce(spec: &Spec, topic: &str, count: u64, every: Duration) {
    spec.cluster.create_topic(topic, 1);
    for n in 0..count {
        spec.cluster.produce_at(
            every * n as u32,
            &tp(topic, 0),
            &format!("k{n}"),
            &format!("v{n}"),
        );
    }
}

/// A handler that takes `delay` per record, logs it, and commits it when `commit` is set.
fn slow_handler(spec: &Spec, log: &Log, delay: Duration, commit: bool) -> RecordHandler {
    let (rt, log) = (spec.rt.clone(), log.clone());
    Rc::new(move |record: CommittableRecord| {
        let (rt, log) = (rt.clone(), log.clone());
        Box::pin(async move {
            rt.sleep(delay).await?;
            log.push(format!("processed {}", record.offset()));
            if commit {
                let committed = record.commit().await;
                let outcome = match committed {
                    Ok(()) => "ok".to_string(),
                    Err(Cause::Fail(error)) => format!("failed: {error}"),
                    Err(cause) => cause.kind().to_string(),
                };
                log.push(format!("commit {}: {outcome}", record.offset()));
            }
            Ok(())
        })
    })
}

fn fault(call: ClientCall, error: InjectedError) -> FaultPlan {
    FaultPlan {
        call_faults: vec![CallFault {
            call,
            error,
            from_ms: 0,
            times: FaultTimes::Once,
            client: None,
        }],
        ..FaultPlan::default()
    }
}

/// The protocols that hang after a runloop crash when the subscription finalizer (an
/// uninterruptible caller) removes its subscription: `Master` waits on a promise nobody
/// completes; `RaceOnly` races it against a `runloop_done` that is already done, and waits for
/// the loser, the same promise.
fn hangs_after_crash(protocol: ShutdownProtocol) -> bool {
    matches!(
        protocol,
        ShutdownProtocol::Master | ShutdownProtocol::RaceOnly
    )
}

/// Asserts the outcome of a run whose runloop crashed before its subscription ended: the
/// finalizer's hang on its own `RemoveSubscription` promise under `Master` and `RaceOnly`,
/// completion otherwise. Returns whether the run completed.
fn completed_unless_crash_hangs(protocol: ShutdownProtocol, result: &sim::RunResult) -> bool {
    if hangs_after_crash(protocol) {
        assert_hangs_on(
            result,
            "RemoveSubscription",
            "promise:RemoveSubscription",
            protocol.name(),
        );
        return false;
    }
    assert_completed(result, protocol.name());
    true
}

/// `consume_with`, interrupted, is interrupted at once: the record in its handler is not
/// finished, only what was processed before is committed. `run_with_graceful_shutdown` ends
/// its streams and lets the chunk in the handler finish, then commits it. Under the racing
/// protocols the graceful end's `EndStreamsBySubscription` hangs (an uninterruptible race whose
/// loser waits for a live runloop's `runloop_done`); `consume_with` hangs there in the
/// subscription finalizer's `RemoveSubscription` instead.
#[test]
fn consume_with_is_interrupted_while_run_with_graceful_shutdown_ends_its_streams() {
    for graceful in [false, true] {
        for protocol in ShutdownProtocol::ALL {
            let log = Log::default();
            let seen = log.clone();
            let result = with_client(
                protocol,
                |s| s,
                group_client(),
                move |spec: Spec| async move {
                    produce(&spec, "orders", 10, Duration::from_millis(500));
                    let handler = slow_handler(&spec, &log, Duration::from_secs(1), false);
                    let (consumer, subscription) =
                        (spec.consumer.clone(), Subscription::topics(["orders"]));
                    let caller = spec.rt.fork::<(), ConsumerError, _>("caller", async move {
                        if graceful {
                            consumer
                                .run_with_graceful_shutdown(subscription, handler)
                                .await
                        } else {
                            consumer.consume_with(subscription, handler).await
                        }
                    });
                    spec.rt.sleep(Duration::from_millis(1_500)).await?;
                    let _ = caller.interrupt().await?;
                    let committed = spec.cluster.committed_offset(GROUP, &tp("orders", 0));
                    log.push(format!("committed {committed:?}"));
                    Ok(())
                },
            );
            let context = format!("{protocol}, graceful {graceful}");
            if common::hangs_on_graceful_end(protocol) {
                let command = if graceful {
                    "EndStreamsBySubscription"
                } else {
                    "RemoveSubscription"
                };
                assert_hangs_on(&result, command, "promise:runloop_done", &context);
                continue;
            }
            assert_completed(&result, &context);
            // The graceful end lets the chunk in the handler ([1, 2], pulled at 1 s) finish.
            let expected: Vec<&str> = if graceful {
                vec![
                    "processed 0",
                    "processed 1",
                    "processed 2",
                    "committed Some(Offset(3))",
                ]
            } else {
                vec!["processed 0", "committed Some(Offset(1))"]
            };
            assert_eq!(seen.lines(), expected, "{context}");
        }
    }
}

/// A runloop waiting for commands whose command queue is shut down ends normally
/// (`ZStream.fromQueue` ends): `RunloopExited` with success, and the exit hook runs, so that
/// `runloop_done` is completed under the protocols that have an exit hook.
#[test]
fn a_shut_down_command_queue_ends_the_runloop_normally() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_mock_consumer(
            protocol,
            |s| s,
            move |spec: Spec| async move {
                let runloop = spec.runloop().await?;
                spec.rt.sleep(Duration::from_millis(100)).await?;
                runloop.channel().command_queue.shutdown().await?;
                spec.rt.sleep(Duration::from_millis(100)).await?;
                for (_, event) in spec.diagnostics.events() {
                    if let DiagnosticEvent::RunloopExited { exit, .. } = event {
                        log.push(format!("runloop exited: {exit}"));
                    }
                }
                log.push(format!(
                    "runloop_done: {}",
                    runloop.channel().runloop_done.is_done_now()
                ));
                Ok(())
            },
        );
        assert_completed(&result, protocol.name());
        let done = matches!(
            protocol,
            ShutdownProtocol::CheckOfferDrain
                | ShutdownProtocol::DaemonRace
                | ShutdownProtocol::ClosedQueue
        );
        assert_eq!(
            seen.lines(),
            vec![
                "runloop exited: success".to_string(),
                format!("runloop_done: {done}")
            ],
            "{protocol}"
        );
    }
}

/// An interrupted runloop fiber runs no crash hook, as ZIO runs no error handler of an
/// interrupted fiber: its streams are not halted and no failure is published on the hub; only
/// the protocols whose end is a finalizer (`DaemonRace`, `ClosedQueue`: close and drain) end
/// the request channel. The fiber ends interrupted.
#[test]
fn an_interrupted_runloop_runs_no_crash_hook() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_mock_consumer(
            protocol,
            |s| s,
            move |spec: Spec| async move {
                let rt = spec.rt.clone();
                let tp10 = tp("t1", 10);
                spec.client
                    .schedule_poll_task(move |c| c.rebalance([tp10.clone()]));
                let hub = Hub::new(&rt, "test_hub");
                let taken = hub.subscribe().await?;
                let client: Rc<dyn KafkaClient> = spec.client.clone();
                let runloop = Runloop::new(
                    &rt,
                    ConsumerSettings::default().with_protocol(protocol),
                    ConsumerAccess::new(&rt, client),
                    hub.clone(),
                    spec.diagnostics.clone(),
                );
                let fiber = rt.fork_daemon("test_runloop", runloop.clone().run());
                runloop
                    .add_subscription(Subscription::topics(["t1"]))
                    .await?;
                rt.sleep(Duration::from_millis(200)).await?;
                let exit = fiber.interrupt().await?;
                log.push(format!("runloop fiber: {}", ExitKind::of(&exit)));
                for message in taken.take_all().await? {
                    match message {
                        PartitionsTake::Streams(streams) => {
                            for stream in streams {
                                // A halted stream fails its pull at once; a live one waits.
                                let mut stream = stream.stream();
                                let pulled = rt
                                    .timeout_fail(
                                        "pull",
                                        async move { stream.next_chunk().await.map(|_| ()) },
                                        Duration::from_millis(100),
                                        ConsumerError::Handler("still waiting".into()),
                                    )
                                    .await;
                                log.push(match pulled {
                                    Err(Cause::Fail(ConsumerError::Handler(_))) => {
                                        "a pull waits for data".to_string()
                                    }
                                    other => format!("a pull ends: {}", ExitKind::of(&other)),
                                });
                            }
                        }
                        PartitionsTake::Fail(_) => log.push("failure published"),
                        PartitionsTake::End => log.push("end published"),
                    }
                }
                log.push(format!(
                    "runloop_done: {}",
                    runloop.channel().runloop_done.is_done_now()
                ));
                Ok(())
            },
        );
        assert_completed(&result, protocol.name());
        let done = matches!(
            protocol,
            ShutdownProtocol::DaemonRace | ShutdownProtocol::ClosedQueue
        );
        // Not halted: a pull waits for data, except under `ClosedQueue`, whose closed queue
        // refuses the pull's request with the runloop's end.
        let pull = if protocol == ShutdownProtocol::ClosedQueue {
            "a pull ends: interruption"
        } else {
            "a pull waits for data"
        };
        assert_eq!(
            seen.lines(),
            vec![
                "runloop fiber: interruption".to_string(),
                pull.to_string(),
                format!("runloop_done: {done}")
            ],
            "{protocol}"
        );
    }
}

/// A `commit_async` that throws fails the runloop's turn (zio-kafka's `LiveCommitter`), so the
/// runloop crashes with it: `consume_with` fails with the client's exception (its partition
/// streams fail, and the handler waiting for the lost commit is interrupted with them). After
/// the crash the subscription's removal hangs under `Master` and `RaceOnly`.
#[test]
fn a_commit_async_that_throws_crashes_the_runloop() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_client(
            protocol,
            |s| s.with_commit_timeout(Duration::from_secs(2)),
            group_client(),
            move |spec: Spec| async move {
                spec.cluster.apply_faults(&fault(
                    ClientCall::CommitAsyncThrows,
                    InjectedError::Other("KafkaException: commit failed".into()),
                ));
                produce(&spec, "orders", 3, Duration::ZERO);
                let handler = slow_handler(&spec, &log, Duration::from_millis(10), true);
                let exit = spec
                    .consumer
                    .consume_with(Subscription::topics(["orders"]), handler)
                    .await;
                log.push(format!(
                    "consume_with: {}",
                    exit.err().map_or("success".into(), |c| c.to_string())
                ));
                Ok(())
            },
        );
        if !completed_unless_crash_hangs(protocol, &result) {
            continue;
        }
        assert_eq!(
            seen.lines(),
            vec![
                "processed 0",
                "commit 0: interruption",
                "consume_with: failed: KafkaException: commit failed",
            ],
            "{protocol}"
        );
    }
}

/// A user rebalance listener whose `on_assigned` fails makes the poll that ran it throw
/// (after the assignment), which fails the runloop: `consume_with` fails with the listener's
/// failure. The consumer's own handling ran first: the stream of the assigned partition was
/// never started, since the failed poll's rebalance is not applied.
#[test]
fn a_failing_user_rebalance_listener_crashes_the_runloop() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let listener_log = log.clone();
        let result = with_client(
            protocol,
            move |s| {
                let on_assigned: consumer::internal::ListenerCallback =
                    Rc::new(move |partitions, _client| {
                        let log = listener_log.clone();
                        Box::pin(async move {
                            log.push(format!("user assigned {}", partitions.len()));
                            Err(Cause::Fail(ConsumerError::Handler(
                                "listener refused".into(),
                            )))
                        })
                    });
                let on_revoked: consumer::internal::ListenerCallback =
                    Rc::new(|_, _| Box::pin(async { Ok(()) }));
                s.with_rebalance_listener(UserRebalanceListener::new(on_assigned, on_revoked))
            },
            group_client(),
            move |spec: Spec| async move {
                produce(&spec, "orders", 3, Duration::ZERO);
                let handler = slow_handler(&spec, &log, Duration::from_millis(10), false);
                let exit = spec
                    .consumer
                    .consume_with(Subscription::topics(["orders"]), handler)
                    .await;
                log.push(format!(
                    "consume_with: {}",
                    exit.err().map_or("success".into(), |c| c.to_string())
                ));
                Ok(())
            },
        );
        if !completed_unless_crash_hangs(protocol, &result) {
            continue;
        }
        assert_eq!(
            seen.lines(),
            vec![
                "user assigned 1",
                "consume_with: failed: rebalance listener: failed: handler failed: listener refused",
            ],
            "{protocol}"
        );
    }
}

/// A manual subscription whose offset retrieval fails: `AddSubscription` is answered before the
/// client is changed, then the retrieval fails the command's handling, and so the runloop;
/// `consume_with` fails with the retrieval's error. Without the fault, the retrieval reads the
/// application's offset store and consumption starts there.
#[test]
fn a_failing_manual_offset_retrieval_crashes_the_runloop() {
    for failing in [false, true] {
        for protocol in ShutdownProtocol::ALL {
            let log = Log::default();
            let seen = log.clone();
            let result = with_client_settings(
                protocol,
                |s, client| s.with_offset_retrieval(client.manual_offset_retrieval()),
                group_client(),
                move |spec: Spec| async move {
                    produce(&spec, "orders", 3, Duration::ZERO);
                    if failing {
                        spec.cluster.apply_faults(&fault(
                            ClientCall::OffsetRetrieval,
                            InjectedError::Other("offset store unavailable".into()),
                        ));
                    }
                    let (stopper, stop_rt) = (spec.consumer.clone(), spec.rt.clone());
                    spec.rt.fork::<(), ConsumerError, _>("stopper", async move {
                        stop_rt.sleep(Duration::from_secs(2)).await?;
                        stopper.stop_consumption().await
                    });
                    let handler = slow_handler(&spec, &log, Duration::from_millis(10), false);
                    let exit = spec
                        .consumer
                        .consume_with(Subscription::manual([tp("orders", 0)]), handler)
                        .await;
                    log.push(format!(
                        "consume_with: {}",
                        exit.err().map_or("success".into(), |c| c.to_string())
                    ));
                    Ok(())
                },
            );
            let context = format!("{protocol}, failing {failing}");
            let completed = if failing {
                completed_unless_crash_hangs(protocol, &result)
            } else {
                common::completed_unless_graceful_end_hangs(protocol, &result)
            };
            if !completed {
                continue;
            }
            let expected: Vec<&str> = if failing {
                vec!["consume_with: failed: offset store unavailable"]
            } else {
                vec![
                    "processed 0",
                    "processed 1",
                    "processed 2",
                    "consume_with: success",
                ]
            };
            assert_eq!(seen.lines(), expected, "{context}");
        }
    }
}

/// The `committed()` probe of #1713: READ revoked silently (polls return nothing, `committed`
/// throws). Without the probe the consumer goes on and the user's stop ends it normally; with
/// it, the third empty poll of the topic probes `committed`, which throws, and the runloop
/// crashes: `consume_with` fails with `TopicAuthorization`.
#[test]
fn the_committed_probe_turns_a_silent_read_denial_into_a_crash() {
    for probe in [false, true] {
        for protocol in ShutdownProtocol::ALL {
            let log = Log::default();
            let seen = log.clone();
            let result = with_client(
                protocol,
                move |s| {
                    if probe {
                        s.with_empty_poll_count_to_meta_refresh(3)
                    } else {
                        s
                    }
                },
                group_client(),
                move |spec: Spec| async move {
                    produce(&spec, "orders", 2, Duration::ZERO);
                    spec.cluster.apply_faults(&FaultPlan {
                        acl_changes: vec![AclChange {
                            at_ms: 500,
                            topic: "orders".into(),
                            access: ReadAccess::DeniedSilentPollCommittedThrows,
                            client: None,
                        }],
                        ..FaultPlan::default()
                    });
                    let (stopper, stop_rt) = (spec.consumer.clone(), spec.rt.clone());
                    spec.rt.fork::<(), ConsumerError, _>("stopper", async move {
                        stop_rt.sleep(Duration::from_secs(5)).await?;
                        stopper.stop_consumption().await
                    });
                    let handler = slow_handler(&spec, &log, Duration::from_millis(10), false);
                    let exit = spec
                        .consumer
                        .consume_with(Subscription::topics(["orders"]), handler)
                        .await;
                    log.push(format!(
                        "consume_with: {}",
                        exit.err().map_or("success".into(), |c| c.to_string())
                    ));
                    Ok(())
                },
            );
            let context = format!("{protocol}, probe {probe}");
            let completed = if probe {
                completed_unless_crash_hangs(protocol, &result)
            } else {
                common::completed_unless_graceful_end_hangs(protocol, &result)
            };
            if !completed {
                continue;
            }
            let end = if probe {
                "consume_with: failed: not authorized to access topics: [orders]"
            } else {
                "consume_with: success"
            };
            assert_eq!(
                seen.lines(),
                vec!["processed 0", "processed 1", end],
                "{context}"
            );
        }
    }
}

/// A user's client call goes through the access lock and wakes the client up when
/// interrupted: a slow `committed` holds the lock (the runloop's next poll waits for it), and
/// interrupted, it ends at once with an interruption; the runloop then polls again and is not
/// harmed (the wakeup was spent on the call it cut short).
#[test]
fn an_interrupted_user_call_wakes_the_client_and_releases_the_lock() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_client(
            protocol,
            |s| s,
            group_client(),
            move |spec: Spec| async move {
                produce(&spec, "orders", 1, Duration::ZERO);
                spec.cluster.apply_faults(&FaultPlan {
                    call_latency: vec![CallLatency {
                        call: ClientCall::Committed,
                        from_ms: 0,
                        until_ms: None,
                        latency_ms: 10_000,
                        client: None,
                    }],
                    ..FaultPlan::default()
                });
                let (rt, consumer) = (spec.rt.clone(), spec.consumer.clone());
                let consuming = rt.fork::<(), ConsumerError, _>("consuming", async move {
                    let handler: RecordHandler = Rc::new(|_| Box::pin(async { Ok(()) }));
                    consumer
                        .consume_with(Subscription::topics(["orders"]), handler)
                        .await
                });
                rt.sleep(Duration::from_millis(500)).await?;
                let (caller_rt, caller_consumer, caller_log) =
                    (rt.clone(), spec.consumer.clone(), log.clone());
                let caller = rt.fork::<(), ConsumerError, _>("committed_caller", async move {
                    let asked = caller_rt.now();
                    let answer = caller_consumer
                        .committed(BTreeSet::from([tp("orders", 0)]), Duration::from_secs(60))
                        .await;
                    caller_log.push(format!(
                        "committed ended after {} ms: {}",
                        (caller_rt.now() - asked).as_millis(),
                        ExitKind::of(&answer)
                    ));
                    answer.map(|_| ())
                });
                rt.sleep(Duration::from_millis(1_000)).await?;
                let polls_before = polls(&spec);
                log.push(format!(
                    "locked while the call runs: {}",
                    spec.consumer.consumer_access().is_locked()
                ));
                let _ = caller.interrupt().await?;
                rt.sleep(Duration::from_millis(1_000)).await?;
                log.push(format!(
                    "the runloop polled again: {}",
                    polls(&spec) > polls_before
                ));
                spec.consumer.stop_consumption().await?;
                let exit = consuming.join().await;
                log.push(format!("consume_with: {}", ExitKind::of(&exit)));
                Ok(())
            },
        );
        if !common::completed_unless_graceful_end_hangs(protocol, &result) {
            continue;
        }
        assert_eq!(
            seen.lines(),
            vec![
                "locked while the call runs: true",
                "committed ended after 1000 ms: interruption",
                "the runloop polled again: true",
                "consume_with: success",
            ],
            "{protocol}"
        );
    }
}

/// The `Poll` diagnostics so far.
fn polls(spec: &Spec) -> usize {
    spec.diagnostics
        .events()
        .iter()
        .filter(|(_, event)| matches!(event, DiagnosticEvent::Poll { .. }))
        .count()
}

/// `unsubscribe` rethrowing a failure of the revoke callback: the subscription's removal
/// (`RemoveSubscription`) fails, its caller is answered with the failure and the runloop
/// crashes with it. Under `Master` the subscription finalizer's `.orDie` makes the removal a
/// defect, so `consume_with` dies and `SubscriptionFinalized` is skipped (`<*`); the later
/// protocols ignore the failure and emit it.
#[test]
fn an_unsubscribe_rethrowing_a_revoke_failure_fails_the_removal() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_client(
            protocol,
            |s| s,
            group_client(),
            move |spec: Spec| async move {
                produce(&spec, "orders", 2, Duration::ZERO);
                let (stopper, stop_rt, cluster) =
                    (spec.consumer.clone(), spec.rt.clone(), spec.cluster.clone());
                spec.rt.fork::<(), ConsumerError, _>("stopper", async move {
                    stop_rt.sleep(Duration::from_secs(1)).await?;
                    cluster.apply_faults(&fault(
                        ClientCall::OnRevoked,
                        InjectedError::Other("listener failed".into()),
                    ));
                    stopper.stop_consumption().await
                });
                let handler = slow_handler(&spec, &log, Duration::from_millis(10), false);
                let exit = spec
                    .consumer
                    .consume_with(Subscription::topics(["orders"]), handler)
                    .await;
                log.push(format!("consume_with: {}", ExitKind::of(&exit)));
                for (_, event) in spec.diagnostics.events() {
                    match event {
                        DiagnosticEvent::RunloopExited { cause, .. } => {
                            log.push(format!("runloop exited: {}", cause.unwrap_or_default()))
                        }
                        DiagnosticEvent::SubscriptionFinalized => {
                            log.push("subscription finalized")
                        }
                        _ => {}
                    }
                }
                Ok(())
            },
        );
        assert_completed(&result, protocol.name());
        let mut expected = vec!["processed 0", "processed 1"];
        if protocol == ShutdownProtocol::Master {
            expected.extend([
                "consume_with: defect",
                "runloop exited: failed: listener failed",
            ]);
        } else {
            expected.extend([
                "consume_with: success",
                "runloop exited: failed: listener failed",
                "subscription finalized",
            ]);
        }
        assert_eq!(seen.lines(), expected, "{protocol}");
    }
}

/// Rebalance-safe commits stall the runloop inside `on_revoked` for at most
/// `max_rebalance_duration - commit_timeout` (here 6 s - 4 s): when a peer joins while the
/// handler of partition 0 is busy with a record (30 s), the revoke waits for that stream and its
/// commit until the deadline and the rebalance ends about 2 s after the join (partition 1's
/// stream, idle, keeps the runloop polling, so the join is seen at once); partition 0 comes back
/// from its last commit, so its record is processed again.
#[test]
fn a_rebalance_safe_revoke_stalls_the_runloop_up_to_its_deadline() {
    for protocol in ShutdownProtocol::ALL {
        let log = Log::default();
        let seen = log.clone();
        let result = with_client(
            protocol,
            |s| {
                s.with_rebalance_safe_commits(true)
                    .with_max_rebalance_duration(Duration::from_secs(6))
                    .with_commit_timeout(Duration::from_secs(4))
            },
            group_client(),
            move |spec: Spec| async move {
                spec.cluster.create_topic("orders", 2);
                spec.cluster.produce(&tp("orders", 0), "k0", "v0");
                let (rt, cluster, stopper) =
                    (spec.rt.clone(), spec.cluster.clone(), spec.consumer.clone());
                spec.rt.fork::<(), ConsumerError, _>("group", async move {
                    rt.sleep(Duration::from_secs(1)).await?;
                    cluster.peer_join(GROUP, "peer");
                    rt.sleep(Duration::from_secs(9)).await?;
                    stopper.stop_consumption().await
                });
                let handler = slow_handler(&spec, &log, Duration::from_secs(30), false);
                let exit = spec
                    .consumer
                    .consume_with(Subscription::topics(["orders"]), handler)
                    .await;
                log.push(format!("consume_with: {}", ExitKind::of(&exit)));
                for (at, event) in spec.diagnostics.events() {
                    if let DiagnosticEvent::Rebalance { revoked, .. } = event {
                        if !revoked.is_empty() {
                            log.push(format!(
                                "the revoke ended {} ms after the peer joined",
                                (at - Duration::from_secs(1)).as_millis() / 100 * 100
                            ));
                        }
                    }
                }
                Ok(())
            },
        );
        if !common::completed_unless_graceful_end_hangs(protocol, &result) {
            continue;
        }
        assert_eq!(
            seen.lines(),
            vec![
                // The record's commit missed the deadline: the partition, assigned again, starts
                // from the last commit and processes it a second time (at least once).
                "processed 0",
                "processed 0",
                "consume_with: success",
                "the revoke ended 2000 ms after the peer joined",
            ],
            "{protocol}"
        );
    }
}

/// `commit_sync` failing inside a rebalance-safe `on_revoked` fails the callback, the poll
/// that ran it, and so the runloop: `consume_with` fails with the commit's error.
///
/// A finding, not in zio-kafka's tests: the consumer then dies when it closes. The crashed
/// runloop never unsubscribed, so the client still owns partitions; Java's `close` revokes
/// them, the coordinator's rebalance-safe revoke waits for commits through the committer,
/// whose queue the runloop's finalizers have already shut down (`commitQueue.takeAll` is
/// `ZIO.interrupt`), the listener fails, `close` throws, and `ConsumerAccess`'s
/// `close(..).orDie` makes it a defect of the consumer scope. Without rebalance-safe commits the
/// same crash closes cleanly.
#[test]
fn commit_sync_failing_inside_on_revoked_crashes_the_runloop() {
    for safe_close in [true, false] {
        for protocol in ShutdownProtocol::ALL {
            let log = Log::default();
            let seen = log.clone();
            let result = common::with_group(protocol, move |spec: common::GroupSpec| async move {
                spec.cluster.create_topic("orders", 1);
                for n in 0..3 {
                    spec.cluster
                        .produce(&tp("orders", 0), &format!("k{n}"), &format!("v{n}"));
                }
                spec.cluster
                    .apply_faults(&fault(ClientCall::CommitSync, InjectedError::CommitFailed));
                // The control run crashes the same way, by a callback failure of its own.
                if !safe_close {
                    spec.cluster.apply_faults(&fault(
                        ClientCall::OnRevoked,
                        InjectedError::Other("listener failed".into()),
                    ));
                }
                let member = spec
                    .member(
                        "c1",
                        move |s| s.with_rebalance_safe_commits(safe_close),
                        group_client(),
                    )
                    .await?;
                let (rt, cluster) = (spec.rt.clone(), spec.cluster.clone());
                spec.rt.fork::<(), ConsumerError, _>("group", async move {
                    rt.sleep(Duration::from_secs(1)).await?;
                    cluster.peer_join(GROUP, "peer");
                    Ok(())
                });
                let (rt, handler_log) = (spec.rt.clone(), log.clone());
                let handler: RecordHandler = Rc::new(move |record: CommittableRecord| {
                    let (rt, log) = (rt.clone(), handler_log.clone());
                    Box::pin(async move {
                        rt.sleep(Duration::from_millis(10)).await?;
                        log.push(format!("processed {}", record.offset()));
                        Ok(())
                    })
                });
                let exit = member
                    .consumer
                    .consume_with(Subscription::topics(["orders"]), handler)
                    .await;
                log.push(format!(
                    "consume_with: {}",
                    exit.err().map_or("success".into(), |c| c.to_string())
                ));
                let closed = member.close().await;
                log.push(format!(
                    "consumer close: {}",
                    closed.err().map_or("success".into(), |c| c.to_string())
                ));
                Ok(())
            });
            let context = format!("{protocol}, rebalance-safe {safe_close}");
            if !completed_unless_crash_hangs(protocol, &result) {
                continue;
            }
            let expected: Vec<&str> = if safe_close {
                vec![
                    "processed 0",
                    "processed 1",
                    "processed 2",
                    "consume_with: failed: commit cannot be completed since the group has \
                     already rebalanced and assigned the partitions to another member",
                    "consumer close: died: close failed: rebalance listener: interrupted",
                ]
            } else {
                vec![
                    "processed 0",
                    "processed 1",
                    "processed 2",
                    "consume_with: failed: listener failed",
                    "consumer close: success",
                ]
            };
            let lines: Vec<String> = seen
                .lines()
                .into_iter()
                .map(|line| match line.find(" by fiber#") {
                    Some(at) => line[..at].to_string(),
                    None => line,
                })
                .collect();
            assert_eq!(lines, expected, "{context}");
        }
    }
}
