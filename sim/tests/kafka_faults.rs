//! The fake cluster's faults, each checked on the simulated runtime, plus determinism (one seed
//! and one plan, one sequence of client results) and the fault plan's TOML round trip.

use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use consumer::kafka::{
    KafkaClient, KafkaError, NoopRebalanceListener, Offset, Subscription, TopicPartition,
};
use consumer::rt::Rt;
use sim::kafka::{
    AclChange, AuthenticationOutage, CallFault, ClientCall, ClientConfig, FakeCluster,
    FakeConsumer, FaultPlan, FaultTimes, InjectedError, MemberKind, PeerAction, PeerChange,
    PollLatency, ProducerSpec, ReadAccess, SessionTimeout, SwarmSpace,
};
use sim::{run, Outcome, RunConfig, RunResult, StrategyChoice};

const MS: Duration = Duration::from_millis(1);

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

/// A cluster with topic `t` (2 partitions, a record in each) under `plan`, and a subscribed
/// client of group `g`.
async fn subscribed(rt: &Rt, plan: &FaultPlan) -> (FakeCluster, Rc<FakeConsumer>) {
    let cluster = FakeCluster::new(rt);
    cluster.create_topic("t", 2);
    cluster.produce(&tp("t", 0), "a", "v");
    cluster.produce(&tp("t", 1), "b", "v");
    cluster.apply_faults(plan);
    let client = cluster.client(ClientConfig::group("g"));
    client
        .subscribe(Subscription::topics(["t"]), Rc::new(NoopRebalanceListener))
        .await
        .unwrap();
    (cluster, client)
}

fn acl(at_ms: u64, access: ReadAccess) -> FaultPlan {
    FaultPlan {
        acl_changes: vec![AclChange {
            at_ms,
            topic: "t".into(),
            access,
            client: None,
        }],
        ..FaultPlan::default()
    }
}

fn outcome<T>(result: Result<Vec<T>, KafkaError>) -> String {
    match result {
        Ok(records) => format!("{} records", records.len()),
        Err(error) => format!("{error:?}"),
    }
}

/// Denied READ, first mode: every poll throws TopicAuthorization for the topic.
#[test]
fn denied_read_every_poll_mode_throws_on_every_poll() {
    run_ok(1, |rt| async move {
        let (_cluster, client) = subscribed(&rt, &acl(0, ReadAccess::DeniedEveryPollThrows)).await;
        for _ in 0..3 {
            assert_eq!(
                client.poll(10 * MS).await,
                Err(KafkaError::TopicAuthorization("t".into()))
            );
        }
    });
}

/// Denied READ, second mode: poll silently returns nothing (after waiting its timeout) while
/// `committed` throws TopicAuthorization.
#[test]
fn denied_read_silent_mode_poll_empty_committed_throws() {
    run_ok(2, |rt| async move {
        let plan = acl(0, ReadAccess::DeniedSilentPollCommittedThrows);
        let (_cluster, client) = subscribed(&rt, &plan).await;
        for _ in 0..3 {
            assert_eq!(client.poll(10 * MS).await, Ok(Vec::new()));
        }
        assert_eq!(rt.now().as_millis(), 30, "each poll waited out its timeout");
        let partitions: BTreeSet<_> = [tp("t", 0)].into();
        assert_eq!(
            client.committed(partitions, MS).await,
            Err(KafkaError::TopicAuthorization("t".into()))
        );
    });
}

/// Denied READ, third mode: the first poll after the denial throws, later polls are silent.
#[test]
fn denied_read_thrown_once_mode_throws_then_goes_silent() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(3, move |rt| async move {
        let plan = acl(0, ReadAccess::DeniedThrownOnceThenSilent);
        let (_cluster, client) = subscribed(&rt, &plan).await;
        for _ in 0..3 {
            log.push(outcome(client.poll(10 * MS).await));
        }
    });
    assert_eq!(
        seen.lines(),
        vec!["TopicAuthorization(\"t\")", "0 records", "0 records"]
    );
}

/// Denied READ, librdkafka's mode: one poll throws for each assigned partition of the topic
/// (two here), later polls are silent.
#[test]
fn denied_read_thrown_once_per_partition_mode_throws_per_partition_then_goes_silent() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(3, move |rt| async move {
        let plan = acl(0, ReadAccess::DeniedThrownOncePerPartitionThenSilent);
        let (_cluster, client) = subscribed(&rt, &plan).await;
        for _ in 0..4 {
            log.push(outcome(client.poll(10 * MS).await));
        }
    });
    assert_eq!(
        seen.lines(),
        vec![
            "TopicAuthorization(\"t\")",
            "TopicAuthorization(\"t\")",
            "0 records",
            "0 records"
        ]
    );
}

/// An ACL change takes effect at its virtual time, also in the middle of a waiting poll, and
/// allowing READ again brings the records back.
#[test]
fn acl_changes_take_effect_at_their_time_and_can_be_lifted() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(4, move |rt| async move {
        let mut plan = acl(50, ReadAccess::DeniedEveryPollThrows);
        plan.acl_changes.push(AclChange {
            at_ms: 200,
            topic: "t".into(),
            access: ReadAccess::Allowed,
            client: None,
        });
        let (cluster, client) = subscribed(&rt, &plan).await;
        log.push(outcome(client.poll(10 * MS).await));
        let result = client.poll(Duration::from_secs(1)).await;
        log.push(format!("{} at {}ms", outcome(result), rt.now().as_millis()));
        rt.sleep(200 * MS).await.unwrap();
        cluster.produce(&tp("t", 0), "c", "v");
        log.push(outcome(client.poll(10 * MS).await));
    });
    assert_eq!(
        seen.lines(),
        vec![
            "2 records",
            "TopicAuthorization(\"t\") at 50ms",
            "1 records"
        ]
    );
}

/// Polls during an authentication outage throw Authentication; after it they work again.
#[test]
fn authentication_outage_fails_polls_in_its_window() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(5, move |rt| async move {
        let plan = FaultPlan {
            authentication_outages: vec![AuthenticationOutage {
                from_ms: 0,
                until_ms: Some(100),
                client: None,
            }],
            ..FaultPlan::default()
        };
        let (_cluster, client) = subscribed(&rt, &plan).await;
        log.push(outcome(client.poll(10 * MS).await));
        rt.sleep(100 * MS).await.unwrap();
        log.push(outcome(client.poll(10 * MS).await));
    });
    assert_eq!(seen.lines(), vec!["Authentication", "2 records"]);
}

fn call_fault(call: ClientCall, error: InjectedError, times: FaultTimes) -> FaultPlan {
    FaultPlan {
        call_faults: vec![CallFault {
            call,
            error,
            from_ms: 0,
            times,
            client: None,
        }],
        ..FaultPlan::default()
    }
}

/// A call fault with `times` fails that many calls of its kind and no other call.
fn commit_sync_outcomes(seed: u64, times: FaultTimes) -> Vec<String> {
    let log = Log::default();
    let seen = log.clone();
    run_ok(seed, move |rt| async move {
        let plan = call_fault(ClientCall::CommitSync, InjectedError::CommitFailed, times);
        let (_cluster, client) = subscribed(&rt, &plan).await;
        client.poll(MS).await.unwrap();
        for _ in 0..4 {
            let result = client
                .commit_sync([(tp("t", 0), Offset(1))].into(), MS)
                .await;
            log.push(format!("{result:?}"));
        }
        assert!(client.poll(MS).await.is_ok(), "other calls are unaffected");
    });
    seen.lines()
}

/// A call fault firing once fails only the first call.
#[test]
fn call_fault_once_fails_only_the_first_call() {
    assert_eq!(
        commit_sync_outcomes(6, FaultTimes::Once),
        vec!["Err(CommitFailed)", "Ok(())", "Ok(())", "Ok(())"]
    );
}

/// A call fault firing N times fails the first N calls.
#[test]
fn call_fault_n_times_fails_the_first_n_calls() {
    assert_eq!(
        commit_sync_outcomes(7, FaultTimes::Times(2)),
        vec!["Err(CommitFailed)", "Err(CommitFailed)", "Ok(())", "Ok(())"]
    );
}

/// A call fault firing always fails every call.
#[test]
fn call_fault_always_fails_every_call() {
    assert_eq!(
        commit_sync_outcomes(8, FaultTimes::Always),
        vec!["Err(CommitFailed)"; 4]
    );
}

/// Injected faults reach each kind of call: subscribe throws InvalidTopic, an async commit's
/// callback receives RebalanceInProgress, close throws yet closes.
#[test]
fn call_faults_reach_subscribe_commit_async_and_close() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(9, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 1);
        let once = |call, error| CallFault {
            call,
            error,
            from_ms: 0,
            times: FaultTimes::Once,
            client: None,
        };
        cluster.apply_faults(&FaultPlan {
            call_faults: vec![
                once(ClientCall::Subscribe, InjectedError::InvalidTopic),
                once(ClientCall::CommitAsync, InjectedError::RebalanceInProgress),
                once(
                    ClientCall::Close,
                    InjectedError::Other("close failed".into()),
                ),
            ],
            ..FaultPlan::default()
        });
        let client = cluster.client(ClientConfig::group("g"));
        let subscribe =
            || client.subscribe(Subscription::topics(["t"]), Rc::new(NoopRebalanceListener));
        log.push(format!("subscribe {:?}", subscribe().await));
        log.push(format!("subscribe {:?}", subscribe().await));
        client.poll(MS).await.unwrap();
        let callback_log = log.clone();
        client
            .commit_async(
                [(tp("t", 0), Offset(0))].into(),
                Box::new(move |_, result| callback_log.push(format!("callback {result:?}"))),
            )
            .unwrap();
        client.poll(MS).await.unwrap();
        log.push(format!("close {:?}", client.close(MS).await));
        log.push(format!("closed {}", client.is_closed()));
    });
    assert_eq!(
        seen.lines(),
        vec![
            "subscribe Err(InvalidTopic)",
            "subscribe Ok(())",
            "callback Err(RebalanceInProgress)",
            "close Err(Other(\"close failed\"))",
            "closed true",
        ]
    );
}

/// A poll in a latency window takes the latency before it looks for records, overrunning its
/// timeout; outside the window it returns at once.
#[test]
fn poll_latency_delays_polls_in_its_window() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(10, move |rt| async move {
        let plan = FaultPlan {
            poll_latency: vec![PollLatency {
                from_ms: 0,
                until_ms: Some(1_000),
                latency_ms: 300,
                client: None,
            }],
            ..FaultPlan::default()
        };
        let (_cluster, client) = subscribed(&rt, &plan).await;
        let records = client.poll(50 * MS).await.unwrap();
        log.push(format!(
            "{} records at {}ms",
            records.len(),
            rt.now().as_millis()
        ));
        rt.sleep(Duration::from_secs(1)).await.unwrap();
        let started = rt.now().as_millis();
        client.poll(50 * MS).await.unwrap();
        log.push(format!("took {}ms", rt.now().as_millis() - started));
    });
    assert_eq!(seen.lines(), vec!["2 records at 300ms", "took 50ms"]);
}

/// Peers from the plan join and leave at their times, each time rebalancing the client.
#[test]
fn peers_join_and_leave_at_their_planned_times() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(11, move |rt| async move {
        let change = |at_ms, action| PeerChange {
            at_ms,
            group: "g".into(),
            peer: "p".into(),
            action,
        };
        let plan = FaultPlan {
            peer_changes: vec![
                change(100, PeerAction::Join),
                change(300, PeerAction::Leave),
            ],
            ..FaultPlan::default()
        };
        let (cluster, client) = subscribed(&rt, &plan).await;
        for _ in 0..4 {
            client.poll(100 * MS).await.unwrap();
            let peers = cluster
                .members("g")
                .iter()
                .filter(|m| matches!(m.kind, MemberKind::Peer(_)))
                .count();
            log.push(format!(
                "{}ms: {} partitions, {peers} peers",
                rt.now().as_millis(),
                client.assignment().unwrap().len()
            ));
        }
    });
    assert_eq!(
        seen.lines(),
        vec![
            "0ms: 2 partitions, 0 peers",
            "100ms: 1 partitions, 1 peers",
            "200ms: 1 partitions, 1 peers",
            "300ms: 2 partitions, 0 peers",
        ]
    );
}

/// A session timeout expels the client: the peer takes its partitions, its commits fail with
/// CommitFailed, and its next poll reports them lost and rejoins.
#[test]
fn session_timeout_loses_partitions_and_the_client_rejoins() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(12, move |rt| async move {
        let plan = FaultPlan {
            session_timeouts: vec![SessionTimeout {
                at_ms: 50,
                group: "g".into(),
            }],
            ..FaultPlan::default()
        };
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 2);
        cluster.apply_faults(&plan);
        cluster.peer_join("g", "p");
        let client = cluster.client(ClientConfig::group("g"));
        let listener = Rc::new(LostRecorder { log: log.clone() });
        client
            .subscribe(Subscription::topics(["t"]), listener)
            .await
            .unwrap();
        client.poll(MS).await.unwrap();
        rt.sleep(100 * MS).await.unwrap();
        let peer_owned = cluster.members("g")[0].owned.len();
        log.push(format!("peer owns {peer_owned}"));
        let commit = client
            .commit_sync([(tp("t", 0), Offset(0))].into(), MS)
            .await;
        log.push(format!("commit {commit:?}"));
        client.poll(MS).await.unwrap();
    });
    assert_eq!(
        seen.lines(),
        vec![
            "assigned 1",
            "peer owns 2",
            "commit Err(CommitFailed)",
            "lost 1",
            // Rejoining without a generation: no eager revoke first, as in Kafka.
            "assigned 1",
        ]
    );
}

/// Logs callbacks by partition count.
struct LostRecorder {
    log: Log,
}

impl consumer::kafka::RebalanceListener for LostRecorder {
    fn on_revoked<'a>(
        &'a self,
        _client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> consumer::kafka::KafkaFuture<'a, ()> {
        self.log.push(format!("revoked {}", partitions.len()));
        Box::pin(async { Ok(()) })
    }

    fn on_assigned<'a>(
        &'a self,
        _client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> consumer::kafka::KafkaFuture<'a, ()> {
        self.log.push(format!("assigned {}", partitions.len()));
        Box::pin(async { Ok(()) })
    }

    fn on_lost<'a>(
        &'a self,
        _client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> consumer::kafka::KafkaFuture<'a, ()> {
        self.log.push(format!("lost {}", partitions.len()));
        Box::pin(async { Ok(()) })
    }
}

/// Faults planned to start at or after the storm end never start; earlier ones do.
#[test]
fn storm_end_drops_faults_that_would_start_after_it() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(13, move |rt| async move {
        let mut plan = acl(500, ReadAccess::DeniedEveryPollThrows);
        plan.storm_end_ms = Some(100);
        plan.authentication_outages.push(AuthenticationOutage {
            from_ms: 10,
            until_ms: Some(20),
            client: None,
        });
        plan.call_faults.push(CallFault {
            call: ClientCall::Poll,
            error: InjectedError::Timeout,
            from_ms: 100,
            times: FaultTimes::Always,
            client: None,
        });
        let (_cluster, client) = subscribed(&rt, &plan).await;
        rt.sleep(10 * MS).await.unwrap();
        log.push(outcome(client.poll(MS).await));
        rt.sleep(Duration::from_secs(1)).await.unwrap();
        log.push(outcome(client.poll(MS).await));
    });
    assert_eq!(seen.lines(), vec!["Authentication", "2 records"]);
}

fn space() -> SwarmSpace {
    SwarmSpace {
        topics: vec!["t".into(), "u".into()],
        group: "g".into(),
        horizon: Duration::from_secs(10),
    }
}

/// Swarm plans are a function of the seed; across seeds some are calm and some stormy, and
/// every fault starts before the storm end.
#[test]
fn swarm_plans_are_deterministic_and_range_from_calm_to_stormy() {
    let space = space();
    let mut calm = 0;
    let mut largest = 0;
    for seed in 0..200 {
        let plan = FaultPlan::swarm(seed, &space);
        assert_eq!(plan, FaultPlan::swarm(seed, &space), "seed {seed}");
        assert_eq!(plan.storm_end_ms, Some(10_000));
        let starts = plan
            .acl_changes
            .iter()
            .map(|c| c.at_ms)
            .chain(plan.call_faults.iter().map(|f| f.from_ms))
            .chain(plan.peer_changes.iter().map(|c| c.at_ms))
            .chain(plan.session_timeouts.iter().map(|t| t.at_ms))
            .chain(plan.poll_latency.iter().map(|l| l.from_ms))
            .chain(plan.authentication_outages.iter().map(|o| o.from_ms));
        for start in starts {
            assert!(start < 10_000, "seed {seed} starts a fault at {start}");
        }
        calm += usize::from(plan.fault_count() == 0);
        largest = largest.max(plan.fault_count());
    }
    assert!(
        calm >= 20,
        "about a quarter of the seeds are calm, got {calm}"
    );
    assert!(
        largest >= 10,
        "some seeds are stormy, largest plan {largest}"
    );
}

/// A fault plan round-trips through TOML unchanged, and the TOML is readable.
#[test]
fn fault_plan_round_trips_through_toml() {
    let mut plan = FaultPlan::swarm(3, &space());
    plan.acl_changes.push(AclChange {
        at_ms: 5,
        topic: "t".into(),
        access: ReadAccess::DeniedSilentPollCommittedThrows,
        client: None,
    });
    plan.call_faults.push(CallFault {
        call: ClientCall::Close,
        error: InjectedError::TopicAuthorization("t".into()),
        from_ms: 0,
        times: FaultTimes::Times(3),
        client: None,
    });
    plan.session_timeouts.push(SessionTimeout {
        at_ms: 7,
        group: "g".into(),
    });
    let text = plan.to_toml();
    assert!(
        text.contains("access = \"denied_silent_poll_committed_throws\""),
        "{text}"
    );
    assert_eq!(FaultPlan::from_toml(&text), Ok(plan));
    assert!(FaultPlan::from_toml("storm_end_ms = 1\nunknown = 2").is_err());
    assert_eq!(FaultPlan::from_toml(""), Ok(FaultPlan::calm()));
}

/// A stormy workload: a producer, a swarm plan, a client polling and committing; it returns
/// every client result as a line.
fn stormy_workload(
    seed: u64,
    results: Log,
) -> impl FnOnce(Rt) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> + Send + 'static {
    move |rt: Rt| {
        Box::pin(async move {
            let cluster = FakeCluster::new(&rt);
            cluster.create_topic("t", 3);
            cluster.create_topic("u", 2);
            cluster.add_producer(ProducerSpec {
                topic: "t".into(),
                start: Duration::ZERO,
                interval: 7 * MS,
                count: 400,
                key_prefix: "r".into(),
            });
            cluster.apply_faults(&FaultPlan::swarm(seed, &space()));
            let client = cluster.client(ClientConfig::group("g"));
            let listener = Rc::new(LostRecorder {
                log: results.clone(),
            });
            let subscribed = client
                .subscribe(Subscription::topics(["t", "u"]), listener)
                .await;
            results.push(format!("subscribe {subscribed:?}"));
            for _ in 0..200 {
                let polled = client.poll(50 * MS).await;
                let line = match &polled {
                    Ok(records) => {
                        let last = records.last().map(|r| r.offset.0).unwrap_or(-1);
                        format!("poll {} last {last}", records.len())
                    }
                    Err(error) => format!("poll {error:?}"),
                };
                results.push(format!("{}ms {line}", rt.now().as_millis()));
                if let Ok(records) = polled {
                    if let Some(record) = records.last() {
                        let commit = client
                            .commit_sync(
                                [(record.topic_partition(), record.next_offset())].into(),
                                MS,
                            )
                            .await;
                        results.push(format!("commit {commit:?}"));
                    }
                }
            }
            results.push(format!("close {:?}", client.close(MS).await));
        })
    }
}

/// The same seed and plan give the same sequence of client results (and the same trace); other
/// seeds give other sequences.
#[test]
fn same_seed_and_plan_give_the_same_client_results() {
    let mut distinct = BTreeSet::new();
    for seed in [11, 12, 13, 14] {
        let (first, second) = (Log::default(), Log::default());
        let run_first = run_ok(seed, stormy_workload(seed, first.clone()));
        let run_second = run_ok(seed, stormy_workload(seed, second.clone()));
        assert!(first.lines().len() > 200);
        assert_eq!(first.lines(), second.lines(), "seed {seed}");
        assert_eq!(run_first.trace_hash, run_second.trace_hash, "seed {seed}");
        distinct.insert(first.lines());
    }
    assert!(distinct.len() > 1, "different seeds give different runs");
}

/// When a plan's faults are over: denials lifted (for all, or the client's own), outages and
/// latencies ended, peer changes past; `None` while some fault never ends.
#[test]
fn a_plan_is_calm_once_every_fault_has_ended() {
    use sim::kafka::{AclChange, AuthenticationOutage, CallFault, ClientCall, FaultTimes};
    let acl = |at_ms: u64, access: ReadAccess, client: Option<&str>| AclChange {
        at_ms,
        topic: "t".into(),
        access,
        client: client.map(String::from),
    };
    let denied = ReadAccess::DeniedEveryPollThrows;
    assert_eq!(FaultPlan::calm().calm_from(), Some(Duration::ZERO));
    let mut plan = FaultPlan {
        acl_changes: vec![acl(5_000, denied, None)],
        ..FaultPlan::default()
    };
    assert_eq!(plan.calm_from(), None, "a denial never lifted");
    plan.acl_changes.push(acl(9_000, ReadAccess::Allowed, None));
    assert_eq!(plan.calm_from(), Some(Duration::from_secs(9)));
    // A client's own denial is not lifted by allowing another client.
    plan.acl_changes.push(acl(10_000, denied, Some("app-2")));
    plan.acl_changes
        .push(acl(11_000, ReadAccess::Allowed, Some("app-1")));
    assert_eq!(plan.calm_from(), None);
    plan.acl_changes
        .push(acl(12_000, ReadAccess::Allowed, Some("app-2")));
    assert_eq!(plan.calm_from(), Some(Duration::from_secs(12)));
    // An outage without an end never ends; one with an end ends then.
    let mut outage = AuthenticationOutage {
        from_ms: 1_000,
        until_ms: None,
        client: None,
    };
    plan.authentication_outages.push(outage.clone());
    assert_eq!(plan.calm_from(), None);
    outage.until_ms = Some(20_000);
    plan.authentication_outages = vec![outage];
    assert_eq!(plan.calm_from(), Some(Duration::from_secs(20)));
    // A call that always fails never ends; one that fails once counts from its start.
    let mut fault = CallFault {
        call: ClientCall::CommitSync,
        error: sim::kafka::InjectedError::RebalanceInProgress,
        from_ms: 25_000,
        times: FaultTimes::Once,
        client: None,
    };
    plan.call_faults.push(fault.clone());
    assert_eq!(plan.calm_from(), Some(Duration::from_secs(25)));
    fault.times = FaultTimes::Always;
    let mut always = FaultPlan::default();
    always.call_faults.push(fault);
    plan.extend(&always);
    assert_eq!(plan.calm_from(), None);
}
