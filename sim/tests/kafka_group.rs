//! The fake client's semantics with several full clients in one group, and the faults a group
//! of full consumers meets: which client gets which partitions under the eager and the
//! cooperative protocol and in whose poll each callback runs, what a commit returns during a
//! rebalance, per-client faults, listener callbacks that fail (and the `unsubscribe` or `poll`
//! that rethrows it), `commit_sync` failing inside `on_revoked`, a `commit_async` that throws,
//! the application's offset retrieval, commit and call latency, and the group swarm draw.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use consumer::kafka::{
    KafkaClient, KafkaFuture, Offset, Offsets, RebalanceListener, Subscription, TopicPartition,
};
use consumer::rt::Rt;
use sim::kafka::{
    AclChange, CallFault, CallLatency, ClientCall, ClientConfig, FakeCluster, FakeConsumer,
    FaultPlan, FaultTimes, GroupSwarmSpace, InjectedError, ReadAccess, RebalanceProtocol,
    SwarmSpace,
};
use sim::{run, Outcome, RunConfig, RunResult, StrategyChoice};

const MS: Duration = Duration::from_millis(1);

/// Lines the workload writes and the test reads.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, line: impl Into<String>) {
        self.0.lock().unwrap().push(line.into());
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn tps(spec: &[(&str, i32)]) -> BTreeSet<TopicPartition> {
    spec.iter().map(|(t, p)| tp(t, *p)).collect()
}

fn show(partitions: &BTreeSet<TopicPartition>) -> String {
    let names: Vec<String> = partitions.iter().map(ToString::to_string).collect();
    format!("{{{}}}", names.join(","))
}

fn topics(names: &[&str]) -> Subscription {
    Subscription::topics(names.iter().copied())
}

fn run_ok<W, F>(seed: u64, workload: W) -> RunResult
where
    W: FnOnce(Rt) -> F + Send + 'static,
    F: std::future::Future<Output = ()> + 'static,
{
    assert!(sim::SIMULATED, "these tests need --cfg madsim");
    let config = RunConfig::new(seed)
        .with_strategy(StrategyChoice::Yields(0.0))
        .with_deadline(Duration::from_secs(3_600));
    let result = run(&config, workload);
    assert_eq!(result.outcome, Outcome::Completed, "{}", result.report());
    assert!(result.panics.is_empty(), "{}", result.report());
    result
}

/// A listener that logs each callback, prefixed with its client's name, and may commit
/// `commit_in_revoke` synchronously inside `on_revoked` (as rebalance-safe commits do).
struct Recorder {
    name: &'static str,
    log: Log,
    commit_in_revoke: RefCell<Option<Offsets>>,
}

impl Recorder {
    fn boxed(name: &'static str, log: &Log) -> Rc<Recorder> {
        Rc::new(Recorder {
            name,
            log: log.clone(),
            commit_in_revoke: RefCell::new(None),
        })
    }
}

impl RebalanceListener for Recorder {
    fn on_revoked<'a>(
        &'a self,
        client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()> {
        self.log
            .push(format!("{} revoked {}", self.name, show(&partitions)));
        let commit = self.commit_in_revoke.borrow_mut().take();
        Box::pin(async move {
            if let Some(offsets) = commit {
                let result = client.commit_sync(offsets, Duration::from_secs(1)).await;
                self.log
                    .push(format!("{} commit in revoke: {result:?}", self.name));
                result?;
            }
            Ok(())
        })
    }

    fn on_assigned<'a>(
        &'a self,
        _client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()> {
        self.log
            .push(format!("{} assigned {}", self.name, show(&partitions)));
        Box::pin(async { Ok(()) })
    }

    fn on_lost<'a>(
        &'a self,
        _client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()> {
        self.log
            .push(format!("{} lost {}", self.name, show(&partitions)));
        Box::pin(async { Ok(()) })
    }
}

/// A client named `name` of group `g` subscribed to topic `t`, with a recording listener.
async fn member(
    cluster: &FakeCluster,
    name: &'static str,
    protocol: RebalanceProtocol,
    log: &Log,
) -> (Rc<FakeConsumer>, Rc<Recorder>) {
    let client = cluster.client(
        ClientConfig::group("g")
            .with_protocol(protocol)
            .with_name(name),
    );
    let recorder = Recorder::boxed(name, log);
    client
        .subscribe(topics(&["t"]), recorder.clone())
        .await
        .unwrap();
    (client, recorder)
}

fn plan_with(call_faults: Vec<CallFault>) -> FaultPlan {
    FaultPlan {
        call_faults,
        ..FaultPlan::default()
    }
}

fn fault(call: ClientCall, error: InjectedError, client: Option<&str>) -> CallFault {
    CallFault {
        call,
        error,
        from_ms: 0,
        times: FaultTimes::Once,
        client: client.map(str::to_string),
    }
}

/// Eager protocol, two clients: when b joins, a revokes everything in its next poll, and each
/// client gets its range (a the first half, b the second) in its own poll, after both have
/// rejoined.
#[test]
fn two_clients_eager_each_gets_its_range_in_its_own_poll() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(1, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 4);
        let (a, _) = member(&cluster, "a", RebalanceProtocol::EagerRange, &log).await;
        a.poll(MS).await.unwrap();
        let (b, _) = member(&cluster, "b", RebalanceProtocol::EagerRange, &log).await;
        log.push("b polls");
        b.poll(MS).await.unwrap();
        log.push(format!("rebalancing: {}", cluster.is_rebalancing("g")));
        log.push("a polls");
        a.poll(MS).await.unwrap();
        log.push("b polls");
        b.poll(MS).await.unwrap();
        log.push(format!("rebalancing: {}", cluster.is_rebalancing("g")));
        log.push(format!(
            "a owns {}, b owns {}",
            show(&a.assignment().unwrap()),
            show(&b.assignment().unwrap())
        ));
    });
    assert_eq!(
        seen.lines(),
        vec![
            "a assigned {t-0,t-1,t-2,t-3}",
            "b polls",
            "rebalancing: true",
            "a polls",
            "a revoked {t-0,t-1,t-2,t-3}",
            "a assigned {t-0,t-1}",
            "b polls",
            "b assigned {t-2,t-3}",
            "rebalancing: false",
            "a owns {t-0,t-1}, b owns {t-2,t-3}",
        ]
    );
}

/// Cooperative protocol, two clients: a gives up only the partitions that move (and its
/// assigned callback still runs, with nothing added), and b gets them only in the follow-up
/// rebalance, after a has revoked them: b's next poll applies the first generation (nothing),
/// rejoins, and applies the second (the moved partitions) once a has rejoined too.
#[test]
fn two_clients_cooperative_move_partitions_in_two_rebalances() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(2, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 4);
        let cooperative = RebalanceProtocol::CooperativeSticky;
        let (a, _) = member(&cluster, "a", cooperative, &log).await;
        a.poll(MS).await.unwrap();
        let generation = cluster.generation("g");
        let (b, _) = member(&cluster, "b", cooperative, &log).await;
        for round in 0..3 {
            log.push(format!("round {round}"));
            b.poll(MS).await.unwrap();
            a.poll(MS).await.unwrap();
        }
        log.push(format!(
            "a owns {}, b owns {}, {} generations later",
            show(&a.assignment().unwrap()),
            show(&b.assignment().unwrap()),
            cluster.generation("g") - generation
        ));
    });
    assert_eq!(
        seen.lines(),
        vec![
            "a assigned {t-0,t-1,t-2,t-3}",
            "round 0",
            "a revoked {t-2,t-3}",
            "a assigned {}",
            "round 1",
            "b assigned {}",
            "b assigned {t-2,t-3}",
            "a assigned {}",
            "round 2",
            "a owns {t-0,t-1}, b owns {t-2,t-3}, 2 generations later",
        ]
    );
}

/// What a commit returns during a rebalance: a member that has not rejoined yet still commits
/// in its generation (inside `on_revoked` too, where rebalance-safe commits commit); one that
/// rejoined and waits for the others gets `RebalanceInProgress`, also in an async commit's
/// callback; a member expelled from the group gets `CommitFailed`.
#[test]
fn commits_during_a_rebalance_return_by_the_members_state() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(3, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 2);
        let (a, recorder) = member(&cluster, "a", RebalanceProtocol::EagerRange, &log).await;
        a.poll(MS).await.unwrap();
        let offsets: Offsets = [(tp("t", 0), Offset(3))].into();
        let (b, _) = member(&cluster, "b", RebalanceProtocol::EagerRange, &log).await;
        b.poll(MS).await.unwrap();
        log.push(format!(
            "a before rejoining: {:?}",
            a.commit_sync(offsets.clone(), MS).await
        ));
        let callback_log = log.clone();
        b.commit_async(
            offsets.clone(),
            Box::new(move |_, result| callback_log.push(format!("b async: {result:?}"))),
        )
        .unwrap();
        log.push(format!(
            "b waiting for a: {:?}",
            b.commit_sync(offsets.clone(), MS).await
        ));
        *recorder.commit_in_revoke.borrow_mut() = Some([(tp("t", 1), Offset(5))].into());
        a.poll(MS).await.unwrap();
        b.poll(MS).await.unwrap();
        log.push(format!(
            "committed t-1: {:?}",
            cluster.committed_offset("g", &tp("t", 1))
        ));
        cluster.expire_sessions("g");
        log.push(format!(
            "a expelled: {:?}",
            a.commit_sync(offsets, MS).await
        ));
    });
    assert_eq!(
        seen.lines(),
        vec![
            "a assigned {t-0,t-1}",
            "a before rejoining: Ok(())",
            "b async: Err(RebalanceInProgress)",
            "b waiting for a: Err(RebalanceInProgress)",
            "a revoked {t-0,t-1}",
            "a commit in revoke: Ok(())",
            "a assigned {t-0}",
            "b assigned {t-1}",
            "committed t-1: Some(Offset(5))",
            "a expelled: Err(CommitFailed)",
        ]
    );
}

/// A READ denial for one client leaves the other reading; allowing the topic for that client
/// lifts its denial.
#[test]
fn a_read_denial_for_one_client_leaves_the_others_reading() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(4, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 2);
        cluster.produce(&tp("t", 0), "k", "v");
        cluster.produce(&tp("t", 1), "k", "v");
        cluster.apply_faults(&FaultPlan {
            acl_changes: vec![
                AclChange {
                    at_ms: 0,
                    topic: "t".into(),
                    access: ReadAccess::DeniedEveryPollThrows,
                    client: Some("a".into()),
                },
                AclChange {
                    at_ms: 100,
                    topic: "t".into(),
                    access: ReadAccess::Allowed,
                    client: Some("a".into()),
                },
            ],
            ..FaultPlan::default()
        });
        let (a, _) = member(
            &cluster,
            "a",
            RebalanceProtocol::EagerRange,
            &Log::default(),
        )
        .await;
        let (b, _) = member(
            &cluster,
            "b",
            RebalanceProtocol::EagerRange,
            &Log::default(),
        )
        .await;
        for _ in 0..3 {
            let _ = a.poll(MS).await;
            let _ = b.poll(MS).await;
        }
        log.push(format!("a: {:?}", a.poll(MS).await.map(|r| r.len())));
        log.push(format!("b: {:?}", b.poll(MS).await.map(|r| r.len())));
        rt.sleep(100 * MS).await.unwrap();
        log.push(format!("a later: {:?}", a.poll(MS).await.map(|r| r.len())));
    });
    assert_eq!(
        seen.lines(),
        vec![
            "a: Err(TopicAuthorization(\"t\"))",
            "b: Ok(0)",
            "a later: Ok(1)",
        ]
    );
}

/// A call fault for one client fires only for that client.
#[test]
fn a_call_fault_for_one_client_spares_the_others() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(5, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 2);
        cluster.apply_faults(&plan_with(vec![fault(
            ClientCall::Poll,
            InjectedError::Timeout,
            Some("b"),
        )]));
        let (a, _) = member(
            &cluster,
            "a",
            RebalanceProtocol::EagerRange,
            &Log::default(),
        )
        .await;
        let (b, _) = member(
            &cluster,
            "b",
            RebalanceProtocol::EagerRange,
            &Log::default(),
        )
        .await;
        log.push(format!("a: {:?}", a.poll(MS).await.map(|r| r.len())));
        log.push(format!("b: {:?}", b.poll(MS).await.map(|r| r.len())));
        log.push(format!("b again: {:?}", b.poll(MS).await.map(|r| r.len())));
    });
    assert_eq!(
        seen.lines(),
        vec!["a: Ok(0)", "b: Err(Timeout)", "b again: Ok(0)"]
    );
}

/// A failing `on_revoked` makes `unsubscribe` throw, but only after it completed: the client
/// left the group, forgot its assignment, and the other member takes the partitions over.
#[test]
fn unsubscribe_rethrows_a_revoke_callback_failure_after_leaving() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(6, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 2);
        let (a, _) = member(&cluster, "a", RebalanceProtocol::EagerRange, &log).await;
        a.poll(MS).await.unwrap();
        let (b, _) = member(&cluster, "b", RebalanceProtocol::EagerRange, &log).await;
        b.poll(MS).await.unwrap();
        a.poll(MS).await.unwrap();
        b.poll(MS).await.unwrap();
        cluster.apply_faults(&plan_with(vec![fault(
            ClientCall::OnRevoked,
            InjectedError::Other("listener failed".into()),
            Some("a"),
        )]));
        log.push(format!("unsubscribe: {:?}", a.unsubscribe().await));
        log.push(format!(
            "a assignment {}, members {}",
            show(&a.assignment().unwrap()),
            cluster.members("g").len()
        ));
        b.poll(MS).await.unwrap();
    });
    assert_eq!(
        seen.lines(),
        vec![
            "a assigned {t-0,t-1}",
            "a revoked {t-0,t-1}",
            "a assigned {t-0}",
            "b assigned {t-1}",
            "a revoked {t-0}",
            "unsubscribe: Err(Other(\"listener failed\"))",
            "a assignment {}, members 1",
            "b revoked {t-1}",
            "b assigned {t-0,t-1}",
        ]
    );
}

/// A failing `on_assigned` makes the poll throw after the assignment changed (KAFKA-4600).
#[test]
fn a_failing_assigned_callback_fails_the_poll_after_the_assignment() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(7, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 2);
        cluster.apply_faults(&plan_with(vec![fault(
            ClientCall::OnAssigned,
            InjectedError::Other("listener failed".into()),
            None,
        )]));
        let (a, _) = member(&cluster, "a", RebalanceProtocol::EagerRange, &log).await;
        log.push(format!("poll: {:?}", a.poll(MS).await.map(|r| r.len())));
        log.push(format!("assignment {}", show(&a.assignment().unwrap())));
        log.push(format!(
            "next poll: {:?}",
            a.poll(MS).await.map(|r| r.len())
        ));
    });
    assert_eq!(
        seen.lines(),
        vec![
            "a assigned {t-0,t-1}",
            "poll: Err(Other(\"listener failed\"))",
            "assignment {t-0,t-1}",
            "next poll: Ok(0)",
        ]
    );
}

/// `commit_sync` failing inside `on_revoked` fails the callback, and so the poll that ran the
/// rebalance, which still completes.
#[test]
fn commit_sync_failing_inside_on_revoked_fails_the_rebalancing_poll() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(8, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 2);
        let (a, recorder) = member(&cluster, "a", RebalanceProtocol::EagerRange, &log).await;
        a.poll(MS).await.unwrap();
        cluster.apply_faults(&plan_with(vec![fault(
            ClientCall::CommitSync,
            InjectedError::CommitFailed,
            Some("a"),
        )]));
        *recorder.commit_in_revoke.borrow_mut() = Some([(tp("t", 0), Offset(1))].into());
        cluster.peer_join("g", "p");
        log.push(format!("poll: {:?}", a.poll(MS).await.map(|r| r.len())));
        log.push(format!("assignment {}", show(&a.assignment().unwrap())));
    });
    assert_eq!(
        seen.lines(),
        vec![
            "a assigned {t-0,t-1}",
            "a revoked {t-0,t-1}",
            "a commit in revoke: Err(CommitFailed)",
            "a assigned {t-0}",
            "poll: Err(CommitFailed)",
            "assignment {t-0}",
        ]
    );
}

/// A `commit_async` that throws sends nothing and calls nothing back; the next one works, and
/// runs the callback of the earlier answered commit first.
#[test]
fn commit_async_can_throw_and_runs_earlier_answered_callbacks_first() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(9, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 1);
        cluster.apply_faults(&plan_with(vec![fault(
            ClientCall::CommitAsyncThrows,
            InjectedError::Other("KafkaException".into()),
            None,
        )]));
        let (a, _) = member(
            &cluster,
            "a",
            RebalanceProtocol::EagerRange,
            &Log::default(),
        )
        .await;
        a.poll(MS).await.unwrap();
        let commit = |offset: i64| -> Offsets { [(tp("t", 0), Offset(offset))].into() };
        for offset in 1..=3 {
            let callback_log = log.clone();
            let sent = a.commit_async(
                commit(offset),
                Box::new(move |_, result| callback_log.push(format!("{offset}: {result:?}"))),
            );
            log.push(format!("sent {offset}: {sent:?}"));
        }
        log.push(format!(
            "committed {:?}",
            cluster.committed_offset("g", &tp("t", 0))
        ));
    });
    assert_eq!(
        seen.lines(),
        vec![
            "sent 1: Err(Other(\"KafkaException\"))",
            "sent 2: Ok(())",
            "2: Ok(())",
            "sent 3: Ok(())",
            "committed Some(Offset(3))",
        ]
    );
}

/// The application's offset store answers the group's committed offsets (0 where none), after
/// its latency, and fails with an `OffsetRetrieval` fault.
#[test]
fn offset_retrieval_reads_committed_offsets_and_can_fail() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(10, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 2);
        let (a, _) = member(
            &cluster,
            "a",
            RebalanceProtocol::EagerRange,
            &Log::default(),
        )
        .await;
        a.poll(MS).await.unwrap();
        a.commit_sync([(tp("t", 0), Offset(7))].into(), MS)
            .await
            .unwrap();
        cluster.apply_faults(&FaultPlan {
            call_faults: vec![CallFault {
                from_ms: 50,
                ..fault(
                    ClientCall::OffsetRetrieval,
                    InjectedError::Other("offset store unavailable".into()),
                    Some("a"),
                )
            }],
            call_latency: vec![CallLatency {
                call: ClientCall::OffsetRetrieval,
                from_ms: 0,
                until_ms: Some(50),
                latency_ms: 20,
                client: None,
            }],
            ..FaultPlan::default()
        });
        let all = tps(&[("t", 0), ("t", 1)]);
        let offsets = a.retrieve_offsets(all.clone()).await;
        log.push(format!("{}ms: {offsets:?}", rt.now().as_millis()));
        rt.sleep(50 * MS).await.unwrap();
        log.push(format!("later: {:?}", a.retrieve_offsets(all).await));
    });
    assert_eq!(
        seen.lines(),
        vec![
            "21ms: Ok({TopicPartition { topic: \"t\", partition: 0 }: Offset(7), \
             TopicPartition { topic: \"t\", partition: 1 }: Offset(0)})",
            "later: Err(Other(\"offset store unavailable\"))",
        ]
    );
}

/// Commit latency: an async commit's callback runs only in a poll after its answer came;
/// `commit_sync` of nothing waits for the answers of earlier async commits; a `commit_sync`
/// whose answer would come after its timeout fails with `Timeout` at the timeout; `close`
/// waits for the answer of a commit in flight and runs its callback.
#[test]
fn commit_latency_delays_answers_and_commit_sync_and_close_wait_for_them() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(11, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 1);
        cluster.apply_faults(&FaultPlan {
            call_latency: vec![
                CallLatency {
                    call: ClientCall::CommitAsync,
                    from_ms: 0,
                    until_ms: None,
                    latency_ms: 300,
                    client: None,
                },
                CallLatency {
                    call: ClientCall::CommitSync,
                    from_ms: 0,
                    until_ms: None,
                    latency_ms: 2_000,
                    client: None,
                },
            ],
            ..FaultPlan::default()
        });
        let (a, _) = member(
            &cluster,
            "a",
            RebalanceProtocol::EagerRange,
            &Log::default(),
        )
        .await;
        a.poll(MS).await.unwrap();
        let offsets: Offsets = [(tp("t", 0), Offset(1))].into();
        let (callback_log, callback_rt) = (log.clone(), rt.clone());
        a.commit_async(
            offsets.clone(),
            Box::new(move |_, result| {
                callback_log.push(format!(
                    "first answered at {}ms: {result:?}",
                    callback_rt.now().as_millis()
                ))
            }),
        )
        .unwrap();
        a.poll(100 * MS).await.unwrap();
        log.push(format!("polled until {}ms", rt.now().as_millis()));
        a.poll(300 * MS).await.unwrap();
        log.push(format!("polled until {}ms", rt.now().as_millis()));
        let (callback_log, callback_rt) = (log.clone(), rt.clone());
        a.commit_async(
            offsets.clone(),
            Box::new(move |_, result| {
                callback_log.push(format!(
                    "second answered at {}ms: {result:?}",
                    callback_rt.now().as_millis()
                ))
            }),
        )
        .unwrap();
        let flushed = a.commit_sync(Offsets::new(), Duration::from_secs(5)).await;
        log.push(format!("flush at {}ms: {flushed:?}", rt.now().as_millis()));
        let slow = a.commit_sync(offsets.clone(), Duration::from_secs(1)).await;
        log.push(format!("sync at {}ms: {slow:?}", rt.now().as_millis()));
        let (callback_log, callback_rt) = (log.clone(), rt.clone());
        a.commit_async(
            offsets,
            Box::new(move |_, result| {
                callback_log.push(format!(
                    "third answered at {}ms: {result:?}",
                    callback_rt.now().as_millis()
                ))
            }),
        )
        .unwrap();
        let closed = a.close(Duration::from_secs(30)).await;
        log.push(format!("closed at {}ms: {closed:?}", rt.now().as_millis()));
    });
    assert_eq!(
        seen.lines(),
        vec![
            "polled until 101ms",
            "polled until 401ms",
            "first answered at 401ms: Ok(())",
            "second answered at 701ms: Ok(())",
            "flush at 701ms: Ok(())",
            "sync at 1701ms: Err(Timeout)",
            "third answered at 2001ms: Ok(())",
            "closed at 2001ms: Ok(())",
        ]
    );
}

/// A blocking call waiting for a slow answer is cut short by a wakeup from another fiber.
#[test]
fn wakeup_cuts_a_slow_committed_call_short() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(12, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 1);
        cluster.apply_faults(&FaultPlan {
            call_latency: vec![CallLatency {
                call: ClientCall::Committed,
                from_ms: 0,
                until_ms: None,
                latency_ms: 1_000,
                client: None,
            }],
            ..FaultPlan::default()
        });
        let (a, _) = member(
            &cluster,
            "a",
            RebalanceProtocol::EagerRange,
            &Log::default(),
        )
        .await;
        a.poll(MS).await.unwrap();
        let (waker, waker_rt) = (a.clone(), rt.clone());
        rt.fork::<(), (), _>("waker", async move {
            waker_rt.sleep(250 * MS).await?;
            waker.wakeup();
            Ok(())
        });
        let result = a.committed(tps(&[("t", 0)]), Duration::from_secs(5)).await;
        log.push(format!("{}ms: {result:?}", rt.now().as_millis()));
        let timed_out = a.committed(tps(&[("t", 0)]), 100 * MS).await;
        log.push(format!("{}ms: {timed_out:?}", rt.now().as_millis()));
    });
    assert_eq!(
        seen.lines(),
        vec!["251ms: Err(Wakeup)", "351ms: Err(Timeout)"]
    );
}

fn group_space() -> (SwarmSpace, GroupSwarmSpace) {
    (
        SwarmSpace {
            topics: vec!["t0".into(), "t1".into()],
            group: "g".into(),
            horizon: Duration::from_secs(8),
        },
        GroupSwarmSpace {
            clients: vec!["app-1".into(), "app-2".into(), "app-3".into()],
        },
    )
}

/// The group swarm draw keeps `swarm`'s plan as it is (so old fixtures' plans are still what
/// their seeds draw), adds faults of a group from a stream of its own, is a function of the
/// seed, and over many seeds draws every new fault it knows.
#[test]
fn the_group_swarm_draw_extends_swarm_and_reaches_every_new_fault() {
    let (space, group) = group_space();
    let mut calls = BTreeSet::new();
    let (mut per_client_denials, mut latencies, mut targeted, mut calm) = (0, 0, 0, 0);
    for seed in 0..300 {
        let plan = FaultPlan::swarm_group(seed, &space, &group);
        assert_eq!(plan, FaultPlan::swarm_group(seed, &space, &group));
        let base = FaultPlan::swarm(seed, &space);
        assert!(
            plan.acl_changes.starts_with(&base.acl_changes),
            "seed {seed}"
        );
        assert!(
            plan.call_faults.starts_with(&base.call_faults),
            "seed {seed}"
        );
        assert_eq!(plan.peer_changes, base.peer_changes, "seed {seed}");
        assert_eq!(plan.poll_latency, base.poll_latency, "seed {seed}");
        let added = &plan.call_faults[base.call_faults.len()..];
        calls.extend(added.iter().map(|fault| format!("{:?}", fault.call)));
        targeted += added.iter().filter(|fault| fault.client.is_some()).count();
        per_client_denials += plan.acl_changes[base.acl_changes.len()..]
            .iter()
            .filter(|change| {
                change
                    .client
                    .as_ref()
                    .is_some_and(|client| group.clients.contains(client))
            })
            .count();
        latencies += plan.call_latency.len();
        calm += usize::from(plan.fault_count() == base.fault_count());
        let toml = plan.to_toml();
        assert_eq!(FaultPlan::from_toml(&toml).unwrap(), plan);
    }
    let expected: BTreeSet<String> = [
        "OnRevoked",
        "OnAssigned",
        "OnLost",
        "CommitSync",
        "CommitAsyncThrows",
        "OffsetRetrieval",
        "Unsubscribe",
        "Subscribe",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(calls, expected);
    assert!(per_client_denials > 0 && latencies > 0 && targeted > 0);
    assert!(calm > 0, "some seeds add nothing");
}

/// Cooperative protocol: a member revoking partitions while it applies a new generation commits
/// in that generation, so a commit from its `on_revoked` is accepted (as in Java, whose
/// callbacks run after the sync); before it applied it, its commits are refused with
/// `RebalanceInProgress`.
#[test]
fn a_cooperative_member_commits_from_on_revoked_in_its_new_generation() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(13, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 2);
        let cooperative = RebalanceProtocol::CooperativeSticky;
        let (a, recorder) = member(&cluster, "a", cooperative, &log).await;
        a.poll(MS).await.unwrap();
        let (b, _) = member(&cluster, "b", cooperative, &log).await;
        b.poll(MS).await.unwrap();
        *recorder.commit_in_revoke.borrow_mut() = Some([(tp("t", 1), Offset(4))].into());
        a.poll(MS).await.unwrap();
        log.push(format!(
            "committed t-1: {:?}",
            cluster.committed_offset("g", &tp("t", 1))
        ));
        log.push(format!(
            "b before applying: {:?}",
            b.commit_sync([(tp("t", 0), Offset(1))].into(), MS).await
        ));
    });
    assert_eq!(
        seen.lines(),
        vec![
            "a assigned {t-0,t-1}",
            "a revoked {t-1}",
            "a commit in revoke: Ok(())",
            "a assigned {}",
            "committed t-1: Some(Offset(4))",
            "b before applying: Err(RebalanceInProgress)",
        ]
    );
}

/// A member whose process died keeps its partitions until its session times out: the survivor
/// gets them only then, in a rebalance without the dead member (whose callbacks never run).
/// The dead client's async commit already sent stays applied, and is never answered.
#[test]
fn a_dead_members_partitions_move_to_the_survivor_after_its_session_timeout() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(20, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 4);
        let eager = RebalanceProtocol::EagerRange;
        let a = cluster.client(
            ClientConfig::group("g")
                .with_protocol(eager)
                .with_name("a")
                .with_session_timeout(Duration::from_secs(10)),
        );
        a.subscribe(topics(&["t"]), Recorder::boxed("a", &log))
            .await
            .unwrap();
        a.poll(MS).await.unwrap();
        let (b, _) = member(&cluster, "b", eager, &log).await;
        b.poll(MS).await.unwrap();
        a.poll(MS).await.unwrap();
        b.poll(MS).await.unwrap();
        let mut offsets = Offsets::new();
        offsets.insert(tp("t", 0), Offset(3));
        let answered = Rc::new(RefCell::new(false));
        let callback_answered = answered.clone();
        a.commit_async(
            offsets,
            Box::new(move |_, _| *callback_answered.borrow_mut() = true),
        )
        .unwrap();
        log.push("a dies");
        cluster.process_died(&a);
        rt.sleep(Duration::from_millis(9_990)).await.unwrap();
        b.poll(MS).await.unwrap();
        log.push(format!(
            "before the session timeout: b owns {}, rebalancing: {}",
            show(&b.assignment().unwrap()),
            cluster.is_rebalancing("g")
        ));
        rt.sleep(10 * MS).await.unwrap();
        b.poll(MS).await.unwrap();
        log.push(format!(
            "after it: b owns {}, members: {}",
            show(&b.assignment().unwrap()),
            cluster.members("g").len()
        ));
        log.push(format!(
            "committed t-0: {:?}, a's callback ran: {}",
            cluster.committed_offset("g", &tp("t", 0)),
            answered.borrow()
        ));
    });
    assert_eq!(
        seen.lines(),
        vec![
            "a assigned {t-0,t-1,t-2,t-3}",
            "a revoked {t-0,t-1,t-2,t-3}",
            "a assigned {t-0,t-1}",
            "b assigned {t-2,t-3}",
            "a dies",
            "before the session timeout: b owns {t-2,t-3}, rebalancing: false",
            "b revoked {t-2,t-3}",
            "b assigned {t-0,t-1,t-2,t-3}",
            "after it: b owns {t-0,t-1,t-2,t-3}, members: 1",
            "committed t-0: Some(Offset(3)), a's callback ran: false",
        ]
    );
}
