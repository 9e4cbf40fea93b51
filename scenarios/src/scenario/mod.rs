//! Scenario files (DESIGN.md section 3.7): a scenario is a TOML file, not code.
//!
//! - [`spec`]: the format's types ([`ScenarioFile`]); [`draw`]: values fixed or drawn per seed.
//! - [`keys`]: every key's meaning, default and bounds, one table for checks and `describe`.
//! - [`mod@load`]: text to a checked file, `--set` overrides, errors naming file, line and key.
//! - [`validate`]: bounds, names that must exist, keys an event does not use, triggers that
//!   never fire; [`trigger`]: the named events of a run that an event can follow.
//! - [`mod@resolve`]: a file as resolved for one seed (what fixtures embed).
//! - [`describe`]: `hangsim describe`.

pub mod describe;
pub mod draw;
pub mod keys;
pub mod load;
pub mod resolve;
pub mod spec;
pub mod trigger;
pub mod validate;

#[cfg(test)]
mod tests;

pub use draw::Draw;
pub use load::{load, Loaded, ScenarioError};
pub use resolve::{resolve, GROUP};
pub use spec::{ApiName, ConsumeSpec, ConsumerSpec, EventKind, EventSpec, ScenarioFile};
pub use trigger::{Trigger, TriggerKind};
