//! The simulated world: a deterministic runtime on madsim, scheduling strategies, liveness
//! tracking and traces.
//!
//! Map:
//! - [`runtime`]: [`run`] one workload under one seed and get a [`RunResult`] back (outcome,
//!   trace hash, decision log, what was left open); [`check_determinism`] runs a seed twice.
//! - [`strategy`]: the scheduling oracle ([`SchedulingStrategy`]), forced yields, and the
//!   [`DecisionLog`] a run can be replayed from.
//! - [`liveness`]: obligations and the wait-for table, and the plain-words description of what
//!   is stuck.
//! - [`memory`]: resident memory, for the flat-memory measurements.
//! - [`trace`]: the stable trace hash, recorded events, and `tracing` output in virtual time.
//!
//! - [`kafka`]: the fake Kafka cluster and client (`consumer::kafka::KafkaClient`), and fault plans.

pub mod kafka;
pub mod liveness;
pub mod memory;
pub mod runtime;
pub mod strategy;
pub mod trace;

pub use liveness::LivenessSnapshot;
pub use runtime::{
    check_determinism, quiet_simulation_panics, run, Outcome, RunConfig, RunResult, WatchedOp,
};
pub use strategy::{DecisionLog, SchedulingStrategy, StrategyChoice};

/// Whether this build simulates (`--cfg madsim`). Without it madsim is the real runtime and
/// nothing here is deterministic; tests assert this first.
pub const SIMULATED: bool = cfg!(madsim);
