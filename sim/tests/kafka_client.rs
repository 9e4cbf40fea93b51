//! The fake Kafka client's semantics, each checked on the simulated runtime: rebalance callbacks
//! inside poll and their order, eager and cooperative protocols, commits and their failures,
//! unsubscribe, close, wakeup, poll timing, and Kafka MockConsumer parity.

use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use consumer::kafka::{
    KafkaClient, KafkaError, KafkaFuture, Offset, Offsets, RebalanceListener, Subscription,
    TopicPartition,
};
use consumer::rt::Rt;
use sim::kafka::{AutoOffsetReset, ClientConfig, FakeCluster, MemberKind, RebalanceProtocol};
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

/// A listener that logs each callback with the assignment the client reports inside it.
struct Recorder {
    log: Log,
}

impl Recorder {
    fn boxed(log: &Log) -> Rc<dyn RebalanceListener> {
        Rc::new(Recorder { log: log.clone() })
    }

    fn note(&self, client: &dyn KafkaClient, what: &str, partitions: &BTreeSet<TopicPartition>) {
        let assignment = client.assignment().map(|a| show(&a)).unwrap_or_default();
        self.log.push(format!(
            "{what} {} (assignment {assignment})",
            show(partitions)
        ));
    }
}

impl RebalanceListener for Recorder {
    fn on_revoked<'a>(
        &'a self,
        client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()> {
        self.note(client, "revoked", &partitions);
        Box::pin(async { Ok(()) })
    }

    fn on_assigned<'a>(
        &'a self,
        client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()> {
        self.note(client, "assigned", &partitions);
        Box::pin(async { Ok(()) })
    }

    fn on_lost<'a>(
        &'a self,
        client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()> {
        self.note(client, "lost", &partitions);
        Box::pin(async { Ok(()) })
    }
}

fn config(seed: u64) -> RunConfig {
    RunConfig::new(seed)
        .with_strategy(StrategyChoice::Yields(0.0))
        .with_deadline(Duration::from_secs(3_600))
}

/// Runs a workload and asserts that it completed without a panic (assertions inside the
/// workload panic, and the report shows them).
fn run_ok<W, F>(seed: u64, workload: W) -> RunResult
where
    W: FnOnce(Rt) -> F + Send + 'static,
    F: std::future::Future<Output = ()> + 'static,
{
    assert!(sim::SIMULATED, "these tests need --cfg madsim");
    let result = run(&config(seed), workload);
    assert_eq!(result.outcome, Outcome::Completed, "{}", result.report());
    assert!(result.panics.is_empty(), "{}", result.report());
    result
}

fn topics(names: &[&str]) -> Subscription {
    Subscription::topics(names.iter().copied())
}

/// Callbacks run inside poll, revoked (with the old assignment still visible) before the
/// assignment changes, then assigned (with the new one visible).
#[test]
fn callbacks_run_inside_poll_revoked_before_assigned() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(1, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 4);
        let client = cluster.client(ClientConfig::group("g"));
        client
            .subscribe(topics(&["t"]), Recorder::boxed(&log))
            .await
            .unwrap();
        log.push("poll 1");
        client.poll(10 * MS).await.unwrap();
        cluster.peer_join("g", "p");
        log.push("poll 2");
        client.poll(10 * MS).await.unwrap();
        log.push("done");
    });
    assert_eq!(
        seen.lines(),
        vec![
            "poll 1",
            "assigned {t-0,t-1,t-2,t-3} (assignment {t-0,t-1,t-2,t-3})",
            "poll 2",
            "revoked {t-0,t-1,t-2,t-3} (assignment {t-0,t-1,t-2,t-3})",
            "assigned {t-0,t-1} (assignment {t-0,t-1})",
            "done",
        ]
    );
}

/// The eager protocol revokes every owned partition at each rebalance, even those that stay,
/// and the range assignor splits the topic between client and peer.
#[test]
fn eager_rebalance_revokes_every_partition_then_assigns_ranges() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(2, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 3);
        let client = cluster.client(ClientConfig::group("g"));
        client
            .subscribe(topics(&["t"]), Recorder::boxed(&log))
            .await
            .unwrap();
        client.poll(MS).await.unwrap();
        cluster.peer_join("g", "p");
        client.poll(MS).await.unwrap();
        let members = cluster.members("g");
        let peer = members
            .iter()
            .find(|m| matches!(m.kind, MemberKind::Peer(_)))
            .unwrap();
        assert_eq!(peer.owned, tps(&[("t", 2)]));
        cluster.peer_leave("g", "p");
        client.poll(MS).await.unwrap();
    });
    assert_eq!(
        seen.lines(),
        vec![
            "assigned {t-0,t-1,t-2} (assignment {t-0,t-1,t-2})",
            "revoked {t-0,t-1,t-2} (assignment {t-0,t-1,t-2})",
            "assigned {t-0,t-1} (assignment {t-0,t-1})",
            "revoked {t-0,t-1} (assignment {t-0,t-1})",
            "assigned {t-0,t-1,t-2} (assignment {t-0,t-1,t-2})",
        ]
    );
}

/// The cooperative protocol revokes only what moves, calls assigned even when nothing is
/// added, and gives a moved partition to its new owner only in the next generation.
#[test]
fn cooperative_rebalance_revokes_only_moved_partitions_and_assigns_even_when_empty() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(3, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 4);
        let config = ClientConfig::group("g").with_protocol(RebalanceProtocol::CooperativeSticky);
        let client = cluster.client(config);
        client
            .subscribe(topics(&["t"]), Recorder::boxed(&log))
            .await
            .unwrap();
        client.poll(MS).await.unwrap();
        let generation_before = cluster.generation("g");
        cluster.peer_join("g", "p");
        client.poll(MS).await.unwrap();
        let peer_owned: Vec<_> = cluster
            .members("g")
            .into_iter()
            .filter(|m| matches!(m.kind, MemberKind::Peer(_)))
            .map(|m| m.owned)
            .collect();
        assert_eq!(peer_owned, vec![tps(&[("t", 2), ("t", 3)])]);
        assert_eq!(
            cluster.generation("g"),
            generation_before + 2,
            "moving partitions takes two generations"
        );
    });
    assert_eq!(
        seen.lines(),
        vec![
            "assigned {t-0,t-1,t-2,t-3} (assignment {t-0,t-1,t-2,t-3})",
            "revoked {t-2,t-3} (assignment {t-0,t-1,t-2,t-3})",
            "assigned {} (assignment {t-0,t-1})",
            "assigned {} (assignment {t-0,t-1})",
        ]
    );
}

/// One poll can run several rebalances: a peer joining while the poll waits makes it call
/// assigned, then revoked, then assigned again before it returns.
#[test]
fn one_poll_runs_assigned_then_revoked_when_a_peer_joins_during_it() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(4, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 2);
        cluster.apply_faults(&sim::kafka::FaultPlan {
            peer_changes: vec![sim::kafka::PeerChange {
                at_ms: 10,
                group: "g".into(),
                peer: "p".into(),
                action: sim::kafka::PeerAction::Join,
            }],
            ..Default::default()
        });
        let client = cluster.client(ClientConfig::group("g"));
        client
            .subscribe(topics(&["t"]), Recorder::boxed(&log))
            .await
            .unwrap();
        log.push("poll");
        let records = client.poll(100 * MS).await.unwrap();
        assert!(records.is_empty());
        log.push(format!("returned at {}ms", rt.now().as_millis()));
    });
    assert_eq!(
        seen.lines(),
        vec![
            "poll",
            "assigned {t-0,t-1} (assignment {t-0,t-1})",
            "revoked {t-0,t-1} (assignment {t-0,t-1})",
            "assigned {t-0} (assignment {t-0})",
            "returned at 100ms",
        ]
    );
}

/// Commits store the offset given (the last processed offset plus one) per group; a new member
/// of the same group resumes there, another group has nothing committed.
#[test]
fn commits_store_next_offset_per_group_and_a_new_member_resumes_there() {
    run_ok(5, |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 1);
        for n in 0..3 {
            cluster.produce(&tp("t", 0), &format!("k{n}"), "v");
        }
        let first = cluster.client(ClientConfig::group("g"));
        first
            .subscribe(topics(&["t"]), Recorder::boxed(&Log::default()))
            .await
            .unwrap();
        let records = first.poll(10 * MS).await.unwrap();
        assert_eq!(records.len(), 3);
        let processed = &records[1];
        let offsets: Offsets = [(processed.topic_partition(), processed.next_offset())].into();
        first.commit_sync(offsets, MS).await.unwrap();
        let committed = first.committed(tps(&[("t", 0)]), MS).await.unwrap();
        assert_eq!(committed[&tp("t", 0)], Some(Offset(2)));
        assert_eq!(cluster.committed_offset("other", &tp("t", 0)), None);
        first.close(MS).await.unwrap();
        let second = cluster.client(ClientConfig::group("g"));
        second
            .subscribe(topics(&["t"]), Recorder::boxed(&Log::default()))
            .await
            .unwrap();
        let records = second.poll(10 * MS).await.unwrap();
        let keys: Vec<_> = records.iter().map(|r| r.key_text().unwrap()).collect();
        assert_eq!(keys, vec!["k2"], "resumes at the committed offset");
    });
}

/// An async commit's callback does not run in the call, nor in the poll during which it was
/// made, but in a later poll.
#[test]
fn async_commit_callback_runs_on_a_later_poll() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(6, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 1);
        let client = cluster.client(ClientConfig::group("g"));
        client
            .subscribe(topics(&["t"]), Recorder::boxed(&Log::default()))
            .await
            .unwrap();
        client.poll(MS).await.unwrap();
        let callback_log = log.clone();
        client
            .commit_async(
                [(tp("t", 0), Offset(0))].into(),
                Box::new(move |offsets, result| {
                    callback_log.push(format!("callback {} {result:?}", offsets.len()))
                }),
            )
            .unwrap();
        log.push("committed");
        client.poll(MS).await.unwrap();
        log.push("polled");
    });
    assert_eq!(
        seen.lines(),
        vec!["committed", "callback 1 Ok(())", "polled"]
    );
}

/// A listener committing asynchronously from inside a poll gets its callback in the next poll,
/// not in the one that ran the listener.
#[test]
fn async_commit_made_inside_a_poll_calls_back_in_the_next_poll() {
    struct CommitOnAssign {
        log: Log,
    }
    impl RebalanceListener for CommitOnAssign {
        fn on_revoked<'a>(
            &'a self,
            _client: &'a dyn KafkaClient,
            _partitions: BTreeSet<TopicPartition>,
        ) -> KafkaFuture<'a, ()> {
            Box::pin(async { Ok(()) })
        }
        fn on_assigned<'a>(
            &'a self,
            client: &'a dyn KafkaClient,
            _partitions: BTreeSet<TopicPartition>,
        ) -> KafkaFuture<'a, ()> {
            let log = self.log.clone();
            let result = client.commit_async(
                [(tp("t", 0), Offset(0))].into(),
                Box::new(move |_, result| log.push(format!("callback {result:?}"))),
            );
            Box::pin(async move { result })
        }
    }
    let log = Log::default();
    let seen = log.clone();
    run_ok(7, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 1);
        let client = cluster.client(ClientConfig::group("g"));
        let listener = Rc::new(CommitOnAssign { log: log.clone() });
        client.subscribe(topics(&["t"]), listener).await.unwrap();
        client.poll(MS).await.unwrap();
        log.push("first poll returned");
        client.poll(MS).await.unwrap();
        log.push("second poll returned");
    });
    assert_eq!(
        seen.lines(),
        vec![
            "first poll returned",
            "callback Ok(())",
            "second poll returned"
        ]
    );
}

/// `commit_sync` runs the callbacks of earlier async commits before it returns.
#[test]
fn commit_sync_runs_pending_async_callbacks_first() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(8, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 1);
        let client = cluster.client(ClientConfig::group("g"));
        client
            .subscribe(topics(&["t"]), Recorder::boxed(&Log::default()))
            .await
            .unwrap();
        client.poll(MS).await.unwrap();
        let callback_log = log.clone();
        client
            .commit_async(
                [(tp("t", 0), Offset(1))].into(),
                Box::new(move |_, _| callback_log.push("async callback")),
            )
            .unwrap();
        client.commit_sync(Offsets::new(), MS).await.unwrap();
        log.push("commit_sync returned");
    });
    assert_eq!(seen.lines(), vec!["async callback", "commit_sync returned"]);
}

/// While a rebalance is in progress, a member that has rejoined and waits for the others gets
/// RebalanceInProgress, while a member still in the current generation may commit.
#[test]
fn commit_during_rebalance_fails_with_rebalance_in_progress_for_a_rejoined_member() {
    run_ok(9, |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 2);
        let first = cluster.client(ClientConfig::group("g"));
        first
            .subscribe(topics(&["t"]), Recorder::boxed(&Log::default()))
            .await
            .unwrap();
        first.poll(MS).await.unwrap();
        let second = cluster.client(ClientConfig::group("g"));
        second
            .subscribe(topics(&["t"]), Recorder::boxed(&Log::default()))
            .await
            .unwrap();
        second.poll(MS).await.unwrap();
        assert!(cluster.is_rebalancing("g"));
        let offsets: Offsets = [(tp("t", 0), Offset(1))].into();
        assert_eq!(
            second.commit_sync(offsets.clone(), MS).await,
            Err(KafkaError::RebalanceInProgress)
        );
        assert_eq!(first.commit_sync(offsets.clone(), MS).await, Ok(()));
        first.poll(MS).await.unwrap();
        second.poll(MS).await.unwrap();
        assert!(!cluster.is_rebalancing("g"));
        assert_eq!(first.assignment().unwrap(), tps(&[("t", 0)]));
        assert_eq!(second.assignment().unwrap(), tps(&[("t", 1)]));
        assert_eq!(second.commit_sync(offsets, MS).await, Ok(()));
    });
}

/// A client that does not poll within max.poll.interval loses its generation: commits fail with
/// CommitFailed, the next poll reports the partitions lost and rejoins.
#[test]
fn max_poll_interval_exceeded_fails_commits_with_commit_failed_then_poll_reports_lost() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(10, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 2);
        let config = ClientConfig::group("g").with_max_poll_interval(Duration::from_secs(1));
        let client = cluster.client(config);
        client
            .subscribe(topics(&["t"]), Recorder::boxed(&log))
            .await
            .unwrap();
        client.poll(MS).await.unwrap();
        rt.sleep(Duration::from_secs(2)).await.unwrap();
        let result = client
            .commit_sync([(tp("t", 0), Offset(0))].into(), MS)
            .await;
        log.push(format!("commit {result:?}"));
        client.poll(MS).await.unwrap();
        let result = client
            .commit_sync([(tp("t", 0), Offset(0))].into(), MS)
            .await;
        log.push(format!("commit {result:?}"));
    });
    assert_eq!(
        seen.lines(),
        vec![
            "assigned {t-0,t-1} (assignment {t-0,t-1})",
            "commit Err(CommitFailed)",
            "lost {t-0,t-1} (assignment {t-0,t-1})",
            "assigned {t-0,t-1} (assignment {t-0,t-1})",
            "commit Ok(())",
        ]
    );
}

/// `unsubscribe` revokes the owned partitions and leaves the group, whose peers take them over;
/// a later poll throws IllegalState.
#[test]
fn unsubscribe_revokes_and_leaves_the_group() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(11, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 2);
        cluster.peer_join("g", "p");
        let client = cluster.client(ClientConfig::group("g"));
        client
            .subscribe(topics(&["t"]), Recorder::boxed(&log))
            .await
            .unwrap();
        client.poll(MS).await.unwrap();
        client.unsubscribe().await.unwrap();
        let members = cluster.members("g");
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].owned, tps(&[("t", 0), ("t", 1)]));
        assert_eq!(client.assignment().unwrap(), BTreeSet::new());
        assert!(matches!(
            client.poll(MS).await,
            Err(KafkaError::IllegalState(_))
        ));
    });
    assert_eq!(
        seen.lines(),
        vec![
            "assigned {t-0} (assignment {t-0})",
            "revoked {t-0} (assignment {t-0})",
        ]
    );
}

/// A poll without a subscription or an assignment throws IllegalState.
#[test]
fn poll_without_subscription_or_assignment_throws_illegal_state() {
    run_ok(12, |rt| async move {
        let cluster = FakeCluster::new(&rt);
        let client = cluster.client(ClientConfig::group("g"));
        assert_eq!(
            client.poll(MS).await,
            Err(KafkaError::IllegalState(
                "Consumer is not subscribed to any topics or assigned any partitions".into()
            ))
        );
    });
}

/// `close` revokes the assignment and leaves the group; after it every call throws
/// IllegalState, except `close` (a no-op) and `wakeup` (ignored).
#[test]
fn every_call_after_close_throws_illegal_state() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(13, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 1);
        let client = cluster.client(ClientConfig::group("g"));
        client
            .subscribe(topics(&["t"]), Recorder::boxed(&log))
            .await
            .unwrap();
        client.poll(MS).await.unwrap();
        client.close(MS).await.unwrap();
        assert!(cluster.members("g").is_empty(), "close leaves the group");
        let illegal = |result: Result<(), KafkaError>| {
            assert!(
                matches!(result, Err(KafkaError::IllegalState(_))),
                "{result:?}"
            )
        };
        let p = tps(&[("t", 0)]);
        illegal(client.poll(MS).await.map(drop));
        illegal(
            client
                .subscribe(topics(&["t"]), Recorder::boxed(&Log::default()))
                .await,
        );
        illegal(client.unsubscribe().await);
        illegal(client.assign(p.clone()));
        illegal(client.pause(&p));
        illegal(client.resume(&p));
        illegal(client.paused().map(drop));
        illegal(client.assignment().map(drop));
        illegal(client.subscription().map(drop));
        illegal(client.position(tp("t", 0)).await.map(drop));
        illegal(client.seek(tp("t", 0), Offset(0)));
        illegal(client.commit_async(Offsets::new(), Box::new(|_, _| {})));
        illegal(client.commit_sync(Offsets::new(), MS).await);
        illegal(client.committed(p.clone(), MS).await.map(drop));
        illegal(client.end_offsets(p, MS).await.map(drop));
        illegal(client.group_metadata().map(drop));
        client.wakeup();
        assert_eq!(client.close(MS).await, Ok(()));
    });
    assert_eq!(
        seen.lines(),
        vec![
            "assigned {t-0} (assignment {t-0})",
            "revoked {t-0} (assignment {t-0})",
        ]
    );
}

/// `wakeup` from another fiber cuts a waiting poll short with Wakeup at that moment.
#[test]
fn wakeup_makes_the_current_poll_throw_wakeup() {
    run_ok(14, |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 1);
        let client = cluster.client(ClientConfig::group("g"));
        client
            .subscribe(topics(&["t"]), Recorder::boxed(&Log::default()))
            .await
            .unwrap();
        let (waker_rt, waker_client) = (rt.clone(), client.clone());
        let waker = rt.fork::<(), (), _>("waker", async move {
            waker_rt.sleep(100 * MS).await?;
            waker_client.wakeup();
            Ok(())
        });
        assert_eq!(
            client.poll(Duration::from_secs(10)).await,
            Err(KafkaError::Wakeup)
        );
        assert_eq!(rt.now().as_millis(), 100);
        assert!(waker.join().await.is_ok());
        assert_eq!(
            client.poll(MS).await,
            Ok(Vec::new()),
            "a wakeup throws once"
        );
    });
}

/// A wakeup with no blocking call in progress makes the next blocking call throw Wakeup.
#[test]
fn wakeup_makes_the_next_blocking_call_throw_wakeup() {
    run_ok(15, |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 1);
        let client = cluster.client(ClientConfig::group("g"));
        client
            .subscribe(topics(&["t"]), Recorder::boxed(&Log::default()))
            .await
            .unwrap();
        client.poll(MS).await.unwrap();
        client.wakeup();
        assert_eq!(
            client
                .commit_sync([(tp("t", 0), Offset(0))].into(), MS)
                .await,
            Err(KafkaError::Wakeup)
        );
        assert_eq!(
            client
                .commit_sync([(tp("t", 0), Offset(0))].into(), MS)
                .await,
            Ok(())
        );
    });
}

/// With no records available, poll waits out its timeout in virtual time and returns empty.
#[test]
fn poll_waits_its_timeout_in_virtual_time_when_no_records_arrive() {
    run_ok(16, |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 1);
        let client = cluster.client(ClientConfig::group("g"));
        client
            .subscribe(topics(&["t"]), Recorder::boxed(&Log::default()))
            .await
            .unwrap();
        let started = rt.now();
        let records = client.poll(Duration::from_secs(5)).await.unwrap();
        assert!(records.is_empty());
        assert_eq!((rt.now() - started).as_millis(), 5_000);
    });
}

/// A poll returns as soon as a record arrives, scheduled or produced by another fiber.
#[test]
fn poll_returns_early_when_records_arrive() {
    run_ok(17, |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 1);
        cluster.produce_at(30 * MS, &tp("t", 0), "scheduled", "v");
        let client = cluster.client(ClientConfig::group("g"));
        client
            .subscribe(topics(&["t"]), Recorder::boxed(&Log::default()))
            .await
            .unwrap();
        let records = client.poll(Duration::from_secs(1)).await.unwrap();
        assert_eq!(rt.now().as_millis(), 30);
        assert_eq!(records[0].key_text().as_deref(), Some("scheduled"));
        assert_eq!(records[0].timestamp, 30 * MS);
        let (producer_rt, producer_cluster) = (rt.clone(), cluster.clone());
        let _producer = rt.fork::<(), (), _>("producer", async move {
            producer_rt.sleep(70 * MS).await?;
            producer_cluster.produce(&tp("t", 0), "live", "v");
            Ok(())
        });
        let records = client.poll(Duration::from_secs(1)).await.unwrap();
        assert_eq!(rt.now().as_millis(), 100);
        assert_eq!(records[0].key_text().as_deref(), Some("live"));
    });
}

/// Paused partitions are not fetched until resumed; `max.poll.records` caps one poll.
#[test]
fn paused_partitions_are_skipped_and_max_poll_records_caps_a_poll() {
    run_ok(18, |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 2);
        for n in 0..5 {
            cluster.produce(&tp("t", 0), &format!("a{n}"), "v");
            cluster.produce(&tp("t", 1), &format!("b{n}"), "v");
        }
        let client = cluster.client(ClientConfig::group("g").with_max_poll_records(3));
        client
            .subscribe(topics(&["t"]), Recorder::boxed(&Log::default()))
            .await
            .unwrap();
        client.poll(MS).await.unwrap(); // joins and takes the first three records
        client.pause(&tps(&[("t", 1)])).unwrap();
        assert_eq!(client.paused().unwrap(), tps(&[("t", 1)]));
        let mut partition0 = 0;
        for _ in 0..5 {
            let records = client.poll(MS).await.unwrap();
            assert!(records.len() <= 3);
            assert!(records.iter().all(|r| r.partition == 0), "t-1 is paused");
            partition0 += records.len();
        }
        assert!(partition0 >= 2, "the rest of t-0 arrives");
        client.resume(&tps(&[("t", 1)])).unwrap();
        let records = client.poll(MS).await.unwrap();
        assert!(records.iter().any(|r| r.partition == 1));
        assert!(matches!(
            client.pause(&tps(&[("u", 0)])),
            Err(KafkaError::IllegalState(_))
        ));
    });
}

/// `position` follows the records polled, and `seek` makes the next poll fetch from there.
#[test]
fn seek_moves_the_position_of_the_next_poll() {
    run_ok(19, |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 1);
        for n in 0..4 {
            cluster.produce(&tp("t", 0), &format!("k{n}"), "v");
        }
        let client = cluster.client(ClientConfig::group("g"));
        client.assign(tps(&[("t", 0)])).unwrap();
        assert_eq!(client.position(tp("t", 0)).await, Ok(Offset(0)));
        assert_eq!(client.poll(MS).await.unwrap().len(), 4);
        assert_eq!(client.position(tp("t", 0)).await, Ok(Offset(4)));
        client.seek(tp("t", 0), Offset(2)).unwrap();
        let records = client.poll(MS).await.unwrap();
        assert_eq!(records.first().map(|r| r.offset), Some(Offset(2)));
        assert_eq!(
            client.end_offsets(tps(&[("t", 0)]), MS).await.unwrap()[&tp("t", 0)],
            Offset(4)
        );
    });
}

/// A pattern subscription picks up a matching topic created later (a rebalance assigns it).
#[test]
fn pattern_subscription_picks_up_matching_topics_created_later() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(20, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("orders-eu", 1);
        cluster.create_topic("payments", 1);
        let client = cluster.client(ClientConfig::group("g"));
        client
            .subscribe(Subscription::pattern("orders-.*"), Recorder::boxed(&log))
            .await
            .unwrap();
        client.poll(MS).await.unwrap();
        cluster.create_topic("orders-us", 1);
        client.poll(MS).await.unwrap();
    });
    assert_eq!(
        seen.lines(),
        vec![
            "assigned {orders-eu-0} (assignment {orders-eu-0})",
            "revoked {orders-eu-0} (assignment {orders-eu-0})",
            "assigned {orders-eu-0,orders-us-0} (assignment {orders-eu-0,orders-us-0})",
        ]
    );
}

/// A listener's error fails the poll, but only after the rebalance completed: the assignment
/// changed and on_assigned ran (KAFKA-4600).
#[test]
fn listener_error_fails_poll_after_the_rebalance_completes() {
    struct FailingRevoke {
        log: Log,
    }
    impl RebalanceListener for FailingRevoke {
        fn on_revoked<'a>(
            &'a self,
            _client: &'a dyn KafkaClient,
            _partitions: BTreeSet<TopicPartition>,
        ) -> KafkaFuture<'a, ()> {
            self.log.push("revoked");
            Box::pin(async { Err(KafkaError::Other("listener failed".into())) })
        }
        fn on_assigned<'a>(
            &'a self,
            _client: &'a dyn KafkaClient,
            partitions: BTreeSet<TopicPartition>,
        ) -> KafkaFuture<'a, ()> {
            self.log.push(format!("assigned {}", show(&partitions)));
            Box::pin(async { Ok(()) })
        }
    }
    let log = Log::default();
    let seen = log.clone();
    run_ok(21, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 2);
        let client = cluster.client(ClientConfig::group("g"));
        let listener = Rc::new(FailingRevoke { log: log.clone() });
        client.subscribe(topics(&["t"]), listener).await.unwrap();
        client.poll(MS).await.unwrap();
        cluster.peer_join("g", "p");
        let result = client.poll(MS).await;
        log.push(format!("poll {result:?}"));
        assert_eq!(client.assignment().unwrap(), tps(&[("t", 0)]));
    });
    assert_eq!(
        seen.lines(),
        vec![
            "assigned {t-0,t-1}",
            "revoked",
            "assigned {t-0}",
            "poll Err(Other(\"listener failed\"))",
        ]
    );
}

/// Subscribing to an invalid topic name throws InvalidTopic; mixing a manual assignment with a
/// subscription throws IllegalState.
#[test]
fn subscribe_rejects_invalid_topics_and_mixing_with_assign() {
    run_ok(22, |rt| async move {
        let cluster = FakeCluster::new(&rt);
        let client = cluster.client(ClientConfig::group("g"));
        assert_eq!(
            client
                .subscribe(topics(&["bad topic"]), Recorder::boxed(&Log::default()))
                .await,
            Err(KafkaError::InvalidTopic)
        );
        client.assign(tps(&[("t", 0)])).unwrap();
        assert!(matches!(
            client
                .subscribe(topics(&["t"]), Recorder::boxed(&Log::default()))
                .await,
            Err(KafkaError::IllegalState(_))
        ));
    });
}

/// A client interrupted while it waits in poll finishes the call (a blocking call is not
/// interruptible); the interruption takes effect when the call returns.
#[test]
fn interruption_during_poll_takes_effect_when_the_call_returns() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(23, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_topic("t", 1);
        let client = cluster.client(ClientConfig::group("g"));
        client
            .subscribe(topics(&["t"]), Recorder::boxed(&Log::default()))
            .await
            .unwrap();
        let (poller_rt, poller_log) = (rt.clone(), log.clone());
        let poller = rt.fork::<(), (), _>("poller", async move {
            let result = client.poll(200 * MS).await;
            poller_log.push(format!(
                "poll returned {result:?} at {}ms",
                poller_rt.now().as_millis()
            ));
            poller_rt.sleep(MS).await?;
            poller_log.push("not reached");
            Ok(())
        });
        rt.sleep(50 * MS).await.unwrap();
        let exit = poller.interrupt().await.unwrap();
        log.push(format!("poller interrupted: {}", exit.is_err()));
    });
    assert_eq!(
        seen.lines(),
        vec!["poll returned Ok([]) at 200ms", "poller interrupted: true"]
    );
}

// ----- Kafka MockConsumer parity (as zio-kafka's RunloopSpec uses it) -----

fn mock(cluster: &FakeCluster) -> Rc<sim::kafka::FakeConsumer> {
    cluster.client(ClientConfig::mock_consumer(AutoOffsetReset::Latest))
}

/// Each poll runs one scheduled task, in order, before it looks for records.
#[test]
fn mock_poll_tasks_run_one_per_poll_in_order() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(30, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        let client = mock(&cluster);
        client
            .subscribe(topics(&["t"]), Recorder::boxed(&log))
            .await
            .unwrap();
        for n in 1..=2 {
            let task_log = log.clone();
            client.schedule_poll_task(move |_| task_log.push(format!("task {n}")));
        }
        for n in 1..=3 {
            client.poll(MS).await.unwrap();
            log.push(format!("poll {n}"));
        }
    });
    assert_eq!(
        seen.lines(),
        vec!["task 1", "poll 1", "task 2", "poll 2", "poll 3"]
    );
}

/// A poll exception is thrown once by the next poll, after that poll's task ran (a task can set
/// it for its own poll).
#[test]
fn mock_poll_exception_is_thrown_once_after_the_task() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(31, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        let client = mock(&cluster);
        client
            .subscribe(topics(&["t"]), Recorder::boxed(&log))
            .await
            .unwrap();
        let task_log = log.clone();
        client.schedule_poll_task(move |mock| {
            task_log.push("task");
            mock.rebalance([tp("t", 0)]);
            mock.set_poll_exception(KafkaError::TopicAuthorization("t".into()));
        });
        let first = client.poll(MS).await;
        log.push(format!("poll 1 {first:?}"));
        let second = client.poll(MS).await;
        log.push(format!("poll 2 {second:?}"));
    });
    assert_eq!(
        seen.lines(),
        vec![
            "task",
            "assigned {t-0} (assignment {t-0})",
            "poll 1 Err(TopicAuthorization(\"t\"))",
            "poll 2 Ok([])",
        ]
    );
}

/// `rebalance(tp10, tp11)` then `rebalance(tp10)` in one task: assigned both, then revoked
/// tp11, within one poll (RunloopSpec's "revoked right after assignment" test).
#[test]
fn mock_rebalance_twice_in_one_task_assigns_then_revokes_within_one_poll() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(32, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        let client = mock(&cluster);
        client
            .subscribe(topics(&["t1"]), Recorder::boxed(&log))
            .await
            .unwrap();
        client.schedule_poll_task(|mock| {
            mock.rebalance([tp("t1", 0), tp("t1", 1)]);
            mock.rebalance([tp("t1", 0)]);
        });
        log.push("poll");
        client.poll(MS).await.unwrap();
        log.push("returned");
    });
    assert_eq!(
        seen.lines(),
        vec![
            "poll",
            "assigned {t1-0,t1-1} (assignment {t1-0,t1-1})",
            "revoked {t1-1} (assignment {t1-0,t1-1})",
            "assigned {} (assignment {t1-0})",
            "returned",
        ]
    );
}

/// `invoke_on_lost` calls the listener's on_lost without changing the assignment; a later
/// `rebalance` revokes and reassigns (RunloopSpec's "continues polling after a lost partition").
#[test]
fn mock_invoke_on_lost_calls_listener_and_keeps_assignment() {
    let log = Log::default();
    let seen = log.clone();
    run_ok(33, move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        let client = mock(&cluster);
        client
            .subscribe(topics(&["t1"]), Recorder::boxed(&log))
            .await
            .unwrap();
        client.schedule_poll_task(|mock| mock.rebalance([tp("t1", 0)]));
        client.schedule_poll_task(|mock| mock.invoke_on_lost([tp("t1", 0)]));
        client.schedule_poll_task(|mock| {
            mock.rebalance([]);
            mock.rebalance([tp("t1", 0)]);
        });
        for _ in 0..3 {
            client.poll(MS).await.unwrap();
        }
    });
    assert_eq!(
        seen.lines(),
        vec![
            "assigned {t1-0} (assignment {t1-0})",
            "lost {t1-0} (assignment {t1-0})",
            "revoked {t1-0} (assignment {t1-0})",
            "assigned {} (assignment {})",
            "assigned {t1-0} (assignment {t1-0})",
        ]
    );
}

/// With reset "latest", end offsets set by `update_end_offsets` fix where a new assignment
/// starts, so a record added by the same task is returned (RunloopSpec's first test).
#[test]
fn mock_added_record_is_returned_from_the_updated_end_offset() {
    run_ok(34, |rt| async move {
        let cluster = FakeCluster::new(&rt);
        let client = mock(&cluster);
        client
            .subscribe(topics(&["t1"]), Recorder::boxed(&Log::default()))
            .await
            .unwrap();
        client.schedule_poll_task(|mock| {
            mock.update_end_offsets([(tp("t1", 0), Offset(0))]);
            mock.rebalance([tp("t1", 0)]);
            mock.add_record(&tp("t1", 0), "key0", "value0");
        });
        let records = client.poll(MS).await.unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].key_text().as_deref(), Some("key0"));
        let end = client.end_offsets(tps(&[("t1", 0)]), MS).await.unwrap();
        assert_eq!(end[&tp("t1", 0)], Offset(0), "the scripted end offset");
        client.update_end_offsets([(tp("t1", 0), Offset(7))]);
        let end = client.end_offsets(tps(&[("t1", 0)]), MS).await.unwrap();
        assert_eq!(end[&tp("t1", 0)], Offset(7));
    });
}
