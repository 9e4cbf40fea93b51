//! The consumer core and the runtime it compiles against.
//!
//! Map:
//! - [`rt`]: a small structured-concurrency layer with ZIO's semantics (fibers, interruption,
//!   `race_first`, scopes, promises, queues, hubs, refs, schedules). Every blocking point of the
//!   consumer core goes through it, and every operation reports to the runtime's observer. It is
//!   written against the [`rt::Runtime`] port, which the simulated world (crate `sim`) implements.
//! - [`kafka`]: the `KafkaClient` port (modelled on Java's `KafkaConsumer`), its rebalance
//!   listener, records, offsets and errors; `sim::kafka` implements it with a fake cluster.
//!
//! - [`internal`]: the consumer core, a port of zio-kafka's `consumer/internal/` (runloop,
//!   runloop access, partition streams, committer, rebalance coordinator) and its public API
//!   (`Consumer`), with the seven shutdown protocols side by side in [`internal::protocol`].
//!   Written only against [`rt`] and [`kafka`]; it knows nothing of simulation.
//! - [`pattern`]: topic patterns (`Subscription::Pattern`), shared by the core and the fake
//!   cluster.

pub mod internal;
pub mod kafka;
pub mod pattern;
pub mod rt;

pub use internal::{
    CommittableRecord, Consumer, ConsumerError, ConsumerSettings, DiagnosticEvent, Diagnostics,
    ShutdownProtocol,
};
