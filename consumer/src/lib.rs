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
//! - [`pattern`]: topic patterns (`Subscription::Pattern`), shared by the core and the fake
//!   cluster.

pub mod kafka;
pub mod pattern;
pub mod rt;
