//! Parity: the same scripted calls on the simulator's fake cluster and on rdkafka with
//! librdkafka's mock cluster give the same observable results. Each side runs the script of
//! this file on its own runtime (the fake inside `sim::run`, the real client on tokio); the
//! tests compare the transcripts. Differences that cannot be removed are listed in
//! `sim::kafka`'s module docs, each pinned here by a test of its own.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use consumer::kafka::{
    KafkaClient, KafkaError, KafkaFuture, Offset, Offsets, RebalanceListener, Subscription,
    TopicPartition,
};
use real::broker::{Broker, Fault};
use real::client::RdKafkaClient;
use sim::kafka::{ClientConfig, FakeCluster, ReadAccess, RebalanceProtocol};

const GROUP: &str = "parity-group";
const TOPIC: &str = "topic0";
const RECORDS: u32 = 3;
/// Every wait of the script is a bounded number of polls of this timeout.
const POLL: Duration = Duration::from_millis(100);
const MAX_POLLS: usize = 300;

/// A listener that writes each callback as a line: `assigned topic0-0,topic0-1`.
#[derive(Default)]
struct Recorder {
    lines: RefCell<Vec<String>>,
}

impl Recorder {
    fn note(&self, what: &str, partitions: &BTreeSet<TopicPartition>) {
        let names: Vec<String> = partitions.iter().map(ToString::to_string).collect();
        self.lines
            .borrow_mut()
            .push(format!("{what} {}", names.join(",")));
    }
}

impl RebalanceListener for Recorder {
    fn on_revoked<'a>(
        &'a self,
        _client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()> {
        self.note("revoked", &partitions);
        Box::pin(async { Ok(()) })
    }

    fn on_assigned<'a>(
        &'a self,
        _client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()> {
        self.note("assigned", &partitions);
        Box::pin(async { Ok(()) })
    }

    fn on_lost<'a>(
        &'a self,
        _client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()> {
        self.note("lost", &partitions);
        Box::pin(async { Ok(()) })
    }
}

/// What the script can ask of the world around the client.
trait World {
    fn deny_read(&self, topic: &str);
    fn peer_join(&self);
}

/// What a script observed, compared across the two sides.
#[derive(Debug, Default, PartialEq, Eq)]
struct Transcript {
    assignment: BTreeSet<String>,
    listener: Vec<String>,
    values: BTreeMap<String, Vec<String>>,
    commit_async: Option<Result<(), String>>,
    commit_sync: Option<Result<(), String>>,
    committed: BTreeMap<String, Option<i64>>,
    denial: Option<String>,
    close: Option<Result<(), String>>,
    after_close: Option<String>,
}

fn kind(error: &KafkaError) -> String {
    // The variant only: texts differ (librdkafka does not name the topic).
    format!("{error:?}")
        .split('(')
        .next()
        .unwrap_or("")
        .to_string()
}

fn tp(partition: i32) -> TopicPartition {
    TopicPartition::new(TOPIC, partition)
}

/// Subscribe, wait for the assignment, read every record, commit async and sync, read the
/// committed offsets, deny READ and wait for the error, close.
async fn basic_script(client: &dyn KafkaClient, world: &dyn World) -> Transcript {
    let recorder = Rc::new(Recorder::default());
    let mut transcript = Transcript::default();
    client
        .subscribe(Subscription::topics([TOPIC]), recorder.clone())
        .await
        .expect("subscribe");
    let mut total = 0;
    for _ in 0..MAX_POLLS {
        for record in client.poll(POLL).await.expect("poll") {
            total += 1;
            transcript
                .values
                .entry(record.topic_partition().to_string())
                .or_default()
                .push(record.value_text().unwrap_or_default());
        }
        if total >= 2 * RECORDS as usize {
            break;
        }
    }
    transcript.assignment = client
        .assignment()
        .expect("assignment")
        .iter()
        .map(ToString::to_string)
        .collect();
    transcript.listener = recorder.lines.borrow().clone();
    let result = Rc::new(RefCell::new(None));
    let seen = result.clone();
    client
        .commit_async(
            Offsets::from([(tp(0), Offset(RECORDS as i64))]),
            Box::new(move |_, outcome| {
                *seen.borrow_mut() = Some(outcome.map_err(|error| kind(&error)));
            }),
        )
        .expect("commit_async");
    for _ in 0..MAX_POLLS {
        if result.borrow().is_some() {
            break;
        }
        client.poll(POLL).await.expect("poll");
    }
    transcript.commit_async = result.borrow_mut().take();
    transcript.commit_sync = Some(
        client
            .commit_sync(
                Offsets::from([(tp(1), Offset(RECORDS as i64))]),
                Duration::from_secs(10),
            )
            .await
            .map_err(|error| kind(&error)),
    );
    transcript.committed = client
        .committed(BTreeSet::from([tp(0), tp(1)]), Duration::from_secs(10))
        .await
        .expect("committed")
        .into_iter()
        .map(|(tp, offset)| (tp.to_string(), offset.map(|o| o.0)))
        .collect();
    world.deny_read(TOPIC);
    for _ in 0..MAX_POLLS {
        if let Err(error) = client.poll(POLL).await {
            transcript.denial = Some(kind(&error));
            break;
        }
    }
    let before_close = recorder.lines.borrow().len();
    transcript.close = Some(
        client
            .close(Duration::from_secs(10))
            .await
            .map_err(|error| kind(&error)),
    );
    transcript
        .listener
        .extend(recorder.lines.borrow()[before_close..].iter().cloned());
    transcript.after_close = client.poll(POLL).await.err().map(|error| kind(&error));
    transcript
}

/// Subscribe, wait for the assignment, let a peer join, poll until the rebalance is done;
/// returns the listener's lines.
async fn peer_script(client: &dyn KafkaClient, world: &dyn World) -> Vec<String> {
    let recorder = Rc::new(Recorder::default());
    client
        .subscribe(Subscription::topics([TOPIC]), recorder.clone())
        .await
        .expect("subscribe");
    for _ in 0..MAX_POLLS {
        client.poll(POLL).await.expect("poll");
        if !recorder.lines.borrow().is_empty() {
            break;
        }
    }
    world.peer_join();
    for _ in 0..MAX_POLLS {
        client.poll(POLL).await.expect("poll");
        if recorder.lines.borrow().len() >= 3 {
            break;
        }
    }
    let lines = recorder.lines.borrow().clone();
    let _ = client.close(Duration::from_secs(10)).await;
    lines
}

/// Repeated polls after a denial: the errors each side reports over `polls` polls.
async fn denial_script(client: &dyn KafkaClient, world: &dyn World, polls: usize) -> usize {
    client
        .subscribe(Subscription::topics([TOPIC]), Rc::new(Recorder::default()))
        .await
        .expect("subscribe");
    for _ in 0..MAX_POLLS {
        client.poll(POLL).await.expect("poll");
        if !client.assignment().expect("assignment").is_empty() {
            break;
        }
    }
    world.deny_read(TOPIC);
    let mut errors = 0;
    let mut seen_first = false;
    for _ in 0..MAX_POLLS {
        if client.poll(POLL).await.is_err() {
            seen_first = true;
        }
        if seen_first {
            break;
        }
    }
    for _ in 0..polls {
        if client.poll(POLL).await.is_err() {
            errors += 1;
        }
    }
    let _ = client.close(Duration::from_secs(10)).await;
    errors
}

struct FakeWorld {
    cluster: FakeCluster,
    denial: ReadAccess,
}

impl World for FakeWorld {
    fn deny_read(&self, topic: &str) {
        self.cluster.set_read_access(topic, self.denial);
    }

    fn peer_join(&self) {
        self.cluster.peer_join(GROUP, "peer0");
    }
}

/// Runs `script` on the fake cluster with topic0's two partitions of three records; READ is
/// denied in the catalogue's mode, every poll throws.
fn on_fake<T: 'static>(
    script: impl for<'a> FnOnce(&'a dyn KafkaClient, &'a dyn World) -> futures::future::LocalBoxFuture<'a, T>
        + 'static,
) -> T {
    on_fake_denying(ReadAccess::DeniedEveryPollThrows, script)
}

/// [`on_fake`] with READ denied in `denial` mode.
fn on_fake_denying<T: 'static>(
    denial: ReadAccess,
    script: impl for<'a> FnOnce(&'a dyn KafkaClient, &'a dyn World) -> futures::future::LocalBoxFuture<'a, T>
        + 'static,
) -> T {
    let out = Rc::new(RefCell::new(None));
    let sink = out.clone();
    let result = sim::run(&sim::RunConfig::new(1), move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        cluster.create_group(GROUP, RebalanceProtocol::EagerRange);
        cluster.create_topic(TOPIC, 2);
        for partition in 0..2 {
            for n in 0..RECORDS {
                cluster.produce(
                    &tp(partition),
                    &format!("k{n}"),
                    &format!("{TOPIC}-{partition}-{n}"),
                );
            }
        }
        let client = cluster.client(ClientConfig::group(GROUP));
        let world = FakeWorld { cluster, denial };
        let value = script(&*client, &world).await;
        *sink.borrow_mut() = Some(value);
    });
    assert!(result.panics.is_empty(), "{:?}", result.panics);
    let value = out.borrow_mut().take();
    value.expect("the fake side finished its script")
}

struct RealWorld {
    broker: Rc<Broker>,
    peers: RefCell<Vec<real::peer::Peer>>,
}

impl World for RealWorld {
    fn deny_read(&self, topic: &str) {
        self.broker
            .apply(
                &Fault::DenyRead {
                    topic: topic.into(),
                },
                |_| 0,
            )
            .expect("deny");
    }

    fn peer_join(&self) {
        let peer = real::peer::Peer::join(self.broker.bootstrap(), GROUP, &[TOPIC.to_string()])
            .expect("peer joins");
        self.peers.borrow_mut().push(peer);
    }
}

/// Runs `script` on rdkafka against a fresh mock cluster with the same topic and records.
fn on_real<T>(
    script: impl for<'a> FnOnce(
        &'a dyn KafkaClient,
        &'a dyn World,
    ) -> futures::future::LocalBoxFuture<'a, T>,
) -> T {
    let broker = Broker::mock().expect("mock cluster");
    broker.create_topic(TOPIC, 0, 2, GROUP).expect("topic");
    broker.produce(TOPIC, 2, RECORDS).expect("records");
    let client = RdKafkaClient::new(broker.bootstrap(), GROUP, &[]).expect("client");
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let local = tokio::task::LocalSet::new();
    let world = RealWorld {
        broker: Rc::new(broker),
        peers: RefCell::new(Vec::new()),
    };
    let value = local.block_on(&tokio, script(&client, &world));
    drop(world.peers.take());
    // Let the peers' pollers end and leave.
    local.block_on(&tokio, async {
        tokio::time::sleep(Duration::from_millis(200)).await
    });
    value
}

/// Assignment after subscribe, records in order per partition, async and sync commit
/// results, committed offsets, the authorization error from poll, the revocation on close and
/// `IllegalState` after it: the same on both sides.
#[test]
fn the_basic_script_gives_the_same_transcript() {
    let fake = on_fake(|client, world| Box::pin(basic_script(client, world)));
    let real = on_real(|client, world| Box::pin(basic_script(client, world)));
    assert_eq!(
        fake.assignment,
        BTreeSet::from(["topic0-0".to_string(), "topic0-1".to_string()])
    );
    assert_eq!(
        fake.values["topic0-1"],
        vec!["topic0-1-0", "topic0-1-1", "topic0-1-2"]
    );
    assert_eq!(fake.denial.as_deref(), Some("TopicAuthorization"));
    assert_eq!(fake, real);
}

/// A peer joining: revoked everything, then assigned a share, in that order, on both sides
/// (eager range assignment: one of the two partitions each).
#[test]
fn a_peer_joining_revokes_then_assigns_on_both_sides() {
    let fake = on_fake(|client, world| Box::pin(peer_script(client, world)));
    let real = on_real(|client, world| Box::pin(peer_script(client, world)));
    let shape = |lines: &[String]| -> Vec<(String, usize)> {
        lines
            .iter()
            .map(|line| {
                let (what, partitions) = line.split_once(' ').unwrap_or((line, ""));
                let count = partitions.split(',').filter(|p| !p.is_empty()).count();
                (what.to_string(), count)
            })
            .collect()
    };
    let expected = vec![
        ("assigned".to_string(), 2),
        ("revoked".to_string(), 2),
        ("assigned".to_string(), 1),
    ];
    assert_eq!(shape(&fake), expected, "fake: {fake:?}");
    assert_eq!(shape(&real), expected, "real: {real:?}");
}

/// Difference 1 (see `sim::kafka`): after a READ denial the fake's every-poll mode throws on
/// every poll, while librdkafka reports the denial once per partition and then stays silent
/// for as long as it lasts (the fake's `DeniedThrownOnceThenSilent` is the closer mode).
#[test]
fn librdkafka_reports_a_denial_once_per_partition() {
    let fake = on_fake(|client, world| Box::pin(denial_script(client, world, 10)));
    let real = on_real(|client, world| Box::pin(denial_script(client, world, 10)));
    assert_eq!(fake, 10, "the fake throws on every poll");
    // The first poll's error was the first partition's; the second partition's comes once.
    assert!(
        real <= 1,
        "librdkafka reported the denial {real} more times"
    );
}

/// The fake's librdkafka mode removes that difference: after the first error, one more (the
/// second partition's), then silence, on both sides.
#[test]
fn the_fakes_librdkafka_mode_reports_a_denial_as_librdkafka_does() {
    let fake = on_fake_denying(
        ReadAccess::DeniedThrownOncePerPartitionThenSilent,
        |client, world| Box::pin(denial_script(client, world, 10)),
    );
    let real = on_real(|client, world| Box::pin(denial_script(client, world, 10)));
    assert_eq!(fake, 1);
    assert_eq!(real, fake);
}

/// The first error a denial gives, in full.
async fn first_denial_error(client: &dyn KafkaClient, world: &dyn World) -> Option<KafkaError> {
    client
        .subscribe(Subscription::topics([TOPIC]), Rc::new(Recorder::default()))
        .await
        .expect("subscribe");
    for _ in 0..MAX_POLLS {
        client.poll(POLL).await.expect("poll");
        if !client.assignment().expect("assignment").is_empty() {
            break;
        }
    }
    world.deny_read(TOPIC);
    let mut first = None;
    for _ in 0..MAX_POLLS {
        if let Err(error) = client.poll(POLL).await {
            first = Some(error);
            break;
        }
    }
    let _ = client.close(Duration::from_secs(10)).await;
    first
}

/// Difference 2 (see `sim::kafka`): the fake's authorization error names the topic;
/// librdkafka's error event carries only the code, so the adapter's names none.
#[test]
fn librdkafka_names_no_topic_in_a_denial() {
    let fake = on_fake(|client, world| Box::pin(first_denial_error(client, world)));
    let real = on_real(|client, world| Box::pin(first_denial_error(client, world)));
    assert_eq!(fake, Some(KafkaError::TopicAuthorization(TOPIC.into())));
    match real {
        Some(KafkaError::TopicAuthorization(topic)) => assert_ne!(topic, TOPIC),
        other => panic!("expected a TopicAuthorization error, got {other:?}"),
    }
}
