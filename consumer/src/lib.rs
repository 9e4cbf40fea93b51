//! The consumer core and the runtime it compiles against.
//!
//! Map:
//! - [`rt`]: a small structured-concurrency layer with ZIO's semantics (fibers, interruption,
//!   `race_first`, scopes, promises, queues, hubs, refs, schedules). Every blocking point of the
//!   consumer core goes through it, and every operation reports to the runtime's observer. It is
//!   written against the [`rt::Runtime`] port, which the simulated world (crate `sim`) implements.
//!
//! The consumer core itself (the port of zio-kafka's runloop) and the `KafkaClient` port arrive
//! with their own issues; they will be written only against [`rt`] and know nothing of simulation.

pub mod rt;
