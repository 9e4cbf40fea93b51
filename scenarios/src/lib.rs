//! The scenario catalogue, the runner and its verdicts, reports, fixtures and the seed search.
//!
//! Map:
//! - [`catalogue`]: the built-in scenario files and [`Scenario`], a scenario from the catalogue,
//!   a file or a fixture; [`mod@scenario`]: the scenario file format, its draws and checks.
//! - [`workload`]: the generic workload a scenario file runs, and what it observed
//!   ([`workload::Observations`], one per consumer).
//! - [`runner`]: [`run_one`] (one run, judged) and [`run_checked`] (the one place a run is run
//!   twice and compared).
//! - [`verdict`]: [`RunSpec`], [`Verdict`] and [`VerdictKind`], [`RunRecord`].
//! - [`invariants`]: the [`Invariant`]s every run is checked against.
//! - [`report`]: the [`RunReport`] of a run and, for a hang, the hang report, as data that
//!   prints itself; failure signatures.
//! - [`fixture`]: fixtures, read with bounds, written atomically, replayed strictly.
//! - [`shrink`]: a failing fixture reduced to a smaller one with the same failure signature.
//! - [`search`]: the seed search (worker pool, seed plan, NDJSON findings, fixtures, resume).
//! - [`merge`]: the shards of one search joined as if one machine had searched every seed.
//! - [`explain`]: a recorded run as a timeline, drawn as one self-contained HTML page.
//! - [`atomic`]: atomic file writes. [`serde_as`]: how other crates' types are serialized.

pub mod atomic;
pub mod catalogue;
pub mod coverage;
pub mod explain;
pub mod fixture;
pub mod invariants;
pub mod merge;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod search;
pub mod serde_as;
pub mod shrink;
pub mod verdict;
pub mod workload;

pub use catalogue::Scenario;
pub use invariants::Invariant;
pub use report::RunReport;
pub use runner::{run_checked, run_one, DeterminismCheck};
pub use verdict::{RunRecord, RunSpec, Verdict, VerdictKind};
