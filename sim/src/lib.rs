//! The simulated world: a deterministic runtime on madsim, scheduling strategies, liveness
//! tracking and traces.
//!
//! Map:
//! - [`runtime`]: [`run`] one workload under one seed and get a [`RunResult`] back (outcome,
//!   trace hash, decision log, what was left open). Behind it, the executor (which polls the
//!   fibers and implements the runtime port) and the observer (which folds events into the
//!   trace hash, the liveness tracker and the watched operations).
//! - [`strategy`]: the scheduling oracle ([`SchedulingStrategy`]), one file per strategy, and
//!   the [`DecisionLog`] a run can be replayed from.
//! - [`liveness`]: obligations and the wait-for table, and the plain-words description of what
//!   is stuck.
//! - [`memory`]: resident memory, for the flat-memory measurements.
//! - [`trace`]: the stable trace hash, recorded events, and virtual time in words.
//!
//! - [`kafka`]: the fake Kafka cluster and client (`consumer::kafka::KafkaClient`), and fault plans.

mod executor;
pub mod kafka;
pub mod liveness;
pub mod memory;
mod observer;
pub mod runtime;
pub mod strategy;
pub mod trace;

pub use liveness::LivenessSnapshot;
pub use runtime::{
    quiet_simulation_panics, run, Outcome, Progress, RunConfig, RunResult, WatchedOp,
};
pub use strategy::{
    DecisionLog, FiberSchedule, ReplayDivergence, ScheduleDivergence, ScheduleEntry,
    SchedulingStrategy, StrategyChoice, StrategyDisagreement,
};

/// Whether this build simulates (`--cfg madsim`). Without it madsim is the real runtime and
/// nothing here is deterministic; tests assert this first.
pub const SIMULATED: bool = cfg!(madsim);
