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
