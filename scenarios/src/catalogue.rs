//! The scenario catalogue: the built-in scenarios, TOML files in `scenarios/catalogue/` embedded
//! in the binary, and [`Scenario`], a scenario from the catalogue, a file, or a fixture.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::scenario::load::{load, ScenarioError};
use crate::scenario::resolve;
use crate::scenario::spec::ScenarioFile;

/// The built-in scenarios: name and file text, in the order `hangsim list` shows them.
pub const CATALOGUE: &[(&str, &str)] = &[
    ("auth-crash", include_str!("../catalogue/auth-crash.toml")),
    (
        "auth-crash-end-streams",
        include_str!("../catalogue/auth-crash-end-streams.toml"),
    ),
    (
        "auth-crash-idle-streams",
        include_str!("../catalogue/auth-crash-idle-streams.toml"),
    ),
    (
        "graceful-shutdown",
        include_str!("../catalogue/graceful-shutdown.toml"),
    ),
    (
        "rebalance-during-shutdown",
        include_str!("../catalogue/rebalance-during-shutdown.toml"),
    ),
    (
        "pull-timeout",
        include_str!("../catalogue/pull-timeout.toml"),
    ),
    (
        "commit-after-crash",
        include_str!("../catalogue/commit-after-crash.toml"),
    ),
    ("chaos", include_str!("../catalogue/chaos.toml")),
    ("group-churn", include_str!("../catalogue/group-churn.toml")),
];

/// Where a scenario came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The built-in catalogue.
    Catalogue,
    /// A file the user named.
    File(String),
    /// A resolved scenario embedded in a fixture.
    Embedded,
}

/// A scenario ready to run: its file (checked) and where it came from. Cheap to clone and
/// shareable between the search's workers.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub origin: Origin,
    pub file: Arc<ScenarioFile>,
    /// The `--set` overrides applied, as given.
    pub overrides: Vec<String>,
    /// What the checks warned about.
    pub warnings: Vec<String>,
}

impl PartialEq for Scenario {
    fn eq(&self, other: &Scenario) -> bool {
        self.file == other.file
    }
}

impl Scenario {
    /// The built-in scenario `name`, with `sets` applied.
    pub fn builtin_with(name: &str, sets: &[String]) -> Result<Scenario, ScenarioError> {
        let Some((_, text)) = CATALOGUE.iter().find(|(known, _)| *known == name) else {
            let names: Vec<&str> = CATALOGUE.iter().map(|(name, _)| *name).collect();
            return Err(ScenarioError {
                origin: "--scenario".into(),
                line: None,
                key: None,
                message: format!(
                    "unknown scenario {name:?}: expected one of {}",
                    names.join(", ")
                ),
            });
        };
        let loaded = load(text, &format!("catalogue:{name}"), sets)?;
        Ok(Scenario {
            origin: Origin::Catalogue,
            file: Arc::new(loaded.file),
            overrides: sets.to_vec(),
            warnings: loaded.warnings,
        })
    }

    /// The built-in scenario `name`.
    pub fn builtin(name: &str) -> Result<Scenario, ScenarioError> {
        Scenario::builtin_with(name, &[])
    }

    /// Every built-in scenario, in catalogue order.
    pub fn catalogue() -> Vec<Scenario> {
        CATALOGUE
            .iter()
            .map(|(name, _)| Scenario::builtin(name).expect("the catalogue's files are valid"))
            .collect()
    }

    /// The scenario of a file, with `sets` applied.
    pub fn from_path(path: &Path, sets: &[String]) -> Result<Scenario, ScenarioError> {
        let origin = path.display().to_string();
        let text = crate::fixture::read_bounded(path, crate::scenario::load::MAX_FILE_BYTES as u64)
            .map_err(|message| ScenarioError {
                origin: origin.clone(),
                line: None,
                key: None,
                message,
            })?;
        let loaded = load(&text, &origin, sets)?;
        Ok(Scenario {
            origin: Origin::File(origin),
            file: Arc::new(loaded.file),
            overrides: sets.to_vec(),
            warnings: loaded.warnings,
        })
    }

    /// A resolved scenario embedded in a fixture (checked when the fixture was read).
    pub fn embedded(file: ScenarioFile) -> Scenario {
        Scenario {
            origin: Origin::Embedded,
            file: Arc::new(file),
            overrides: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The scenario's name.
    pub fn name(&self) -> &str {
        &self.file.name
    }

    /// Its one-line description.
    pub fn description(&self) -> &str {
        &self.file.description
    }

    /// The scenario as resolved for `seed`.
    pub fn resolve(&self, seed: u64) -> ScenarioFile {
        resolve(&self.file, seed)
    }

    /// A digest of the scenario's content: searches and shards of different files (or
    /// overrides) of one name must not be merged.
    pub fn digest(&self) -> u64 {
        let text = toml::to_string(&*self.file).expect("a scenario serializes");
        let mut hash = sim::trace::TraceHash::default();
        hash.text(&text);
        hash.value()
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
