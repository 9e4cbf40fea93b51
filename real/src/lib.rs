//! Real mode: the consumer core on tokio and rdkafka, against librdkafka's mock cluster or a
//! real Kafka-compatible broker, judged as the simulator judges its runs.
//!
//! Map (start with [`run`](mod@run)):
//! - [`runtime`]: the `Runtime` port on a tokio current-thread runtime with a `LocalSet` and
//!   the wall clock, and the [`runtime::Watchdog`] (the simulator's liveness tracker plus the
//!   time of the last progress).
//! - [`client`]: the `KafkaClient` port over rdkafka's `BaseConsumer`; its docs say how each
//!   promise of the port is kept where librdkafka differs.
//! - [`broker`]: the mock cluster (leaders pinned, no initial rebalance delay, faults through
//!   the raw bindings) or a broker at an address; [`peer`]: a second real group member.
//! - [`scenario`]: [`scenario::RealScenario`], what a real run does, and the one mapping from
//!   the simulator's catalogue.
//! - [`workload`]: the consumer lifetime itself; [`run`]: one run with its watchdog;
//!   [`judge`](mod@judge): the glue to the simulator's invariants, verdicts and reports.
//!
//! Real mode is not deterministic: tests check outcomes with generous bounds, never
//! interleavings. The simulator's crates do not depend on this one (it links librdkafka).

pub mod broker;
pub mod client;
pub mod judge;
pub mod peer;
pub mod run;
pub mod runtime;
pub mod scenario;
pub mod stop;
pub mod workload;

pub use judge::{judge, Judgement, RealVerdict};
pub use run::{run_real, BrokerChoice, RealEnding, RealRun, RealRunConfig};
pub use scenario::{from_resolved, RealAction, RealEvent, RealScenario};
