//! The scenario catalogue, the runner and its verdicts, hang reports, and (with their issues)
//! seed search, shrinking and fixtures.
//!
//! Map:
//! - [`catalogue`]: the named scenarios ([`ScenarioName`]) and their workloads; what a workload
//!   observed ([`catalogue::Observations`]).
//! - [`params`]: [`ScenarioParams`], proptest strategies per scenario, drawn from a seed.
//! - [`runner`]: [`run_one`] (one run, judged) and [`run_checked`] (twice, for nondeterminism).
//! - [`verdict`]: [`RunSpec`], [`Verdict`], [`RunRecord`].
//! - [`invariants`]: the invariants every run is checked against.
//! - [`report`]: hang reports in plain words, and failure signatures.

pub mod catalogue;
pub mod fixture;
pub mod invariants;
pub mod params;
pub mod report;
pub mod runner;
pub mod verdict;

pub use catalogue::ScenarioName;
pub use params::ScenarioParams;
pub use runner::{run_checked, run_one};
pub use verdict::{RunRecord, RunSpec, Verdict};
