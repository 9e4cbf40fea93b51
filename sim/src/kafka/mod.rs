//! `sim::kafka`: a fake Kafka cluster and client, deterministic, with fault injection.
//!
//! Map:
//! - [`cluster`]: [`FakeCluster`], topics and partition logs, producers, READ ACLs, and the
//!   timeline of scheduled changes applied lazily in virtual time. Start here.
//! - [`coordinator`]: consumer groups: members (clients and simulated peers), generations,
//!   eager (range) and cooperative (cooperative-sticky) rebalances, expulsions, committed
//!   offsets.
//! - [`client`]: [`FakeConsumer`], the `consumer::kafka::KafkaClient` implementation, with the
//!   Java client's call semantics and Kafka `MockConsumer` parity for ports of zio-kafka's specs.
//! - [`faults`]: [`FaultPlan`], serializable (TOML) and drawable from a seed, swarm style
//!   ([`FaultPlan::swarm`], and [`FaultPlan::swarm_group`] for a group of full consumers).
//!
//! Topic patterns are matched with `consumer::pattern`, which the consumer core shares.
//!
//! How a test or scenario uses it, inside a `sim::run` workload:
//!
//! ```ignore
//! let cluster = FakeCluster::new(&rt);
//! cluster.create_topic("orders", 4);
//! cluster.apply_faults(&FaultPlan::swarm(seed, &space));
//! let client: Rc<dyn KafkaClient> = cluster.client(ClientConfig::group("app"));
//! client.subscribe(Subscription::topics(["orders"]), Rc::new(NoopRebalanceListener)).await?;
//! let records = client.poll(Duration::from_millis(50)).await?;
//! ```
//!
//! Differences from a real client (librdkafka through rdkafka, real mode's adapter), found by
//! `real/tests/parity.rs`, which runs one scripted call sequence on both and compares
//! assignment, records per partition, commit results, committed offsets, the authorization
//! error from poll, rebalance callback order on a peer joining, and close:
//! - **A READ denial surfaces once per partition.** librdkafka reports a Fetch's
//!   TOPIC_AUTHORIZATION_FAILED once per partition, then stays silent for as long as the denial
//!   lasts; the fake's `DeniedEveryPollThrows` throws on every poll
//!   (`librdkafka_reports_a_denial_once_per_partition`). `DeniedThrownOncePerPartitionThenSilent`
//!   is librdkafka's mode. The catalogue's auth scenarios draw every-poll, so a real runloop
//!   crashes only when its retry schedule allows fewer retries than partitions in error; with
//!   librdkafka's mode the simulator gives, seed for seed, what real runs give
//!   (BENCHMARKS.md, "Real mode cross-check").
//! - **The error names no topic.** librdkafka's error event carries only the code
//!   (`librdkafka_names_no_topic_in_a_denial`); the other parity tests compare error variants.
//!
//! Not differences of the fake, but of the brokers real mode uses: the fake assigns within the
//! first poll, a real client after a join round trip (the parity scripts wait with bounded
//! polls); and the mock cluster cannot deny commits per topic (its error stacks are per
//! request kind and broker), so real mode denies Fetch only and commits of a denied topic
//! succeed there, where the fake fails them.
//!
//! Invariants: everything is driven from the calling fibers (no background fiber, no timer but
//! a waiting poll's), iteration is over ordered maps only, and randomness comes only from a
//! seed; so one seed and one plan give one sequence of client results.

pub mod client;
pub mod cluster;
pub mod coordinator;
pub mod faults;

pub use client::{AssignmentSource, AutoOffsetReset, ClientConfig, FakeConsumer};
pub use cluster::{is_valid_topic_name, FakeCluster, MemberView, ProducerSpec};
pub use coordinator::{ClientId, MemberKind, RebalanceProtocol};
pub use faults::{
    AclChange, AuthenticationOutage, CallFault, CallLatency, ClientCall, FaultPlan, FaultTimes,
    GroupSwarmSpace, InjectedError, PeerAction, PeerChange, PollLatency, ReadAccess,
    SessionTimeout, SwarmSpace, Weather,
};
