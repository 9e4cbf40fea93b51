//! What the command line names, as clap sees it: scenarios, protocols and determinism checks
//! are `clap::ValueEnum`s (so `--help` lists them with what each is, and a wrong name gets
//! clap's one-line error); strategies (`pct:3`, `yields:0.1` carry a number) and seed ranges
//! parse through their own `FromStr`.
//!
//! The enums belong to the library crates, which know nothing of clap; each is wrapped here in
//! a newtype whose `ValueEnum` takes its names and descriptions from the library, so that no
//! name is written twice.

use clap::builder::PossibleValue;
use clap::ValueEnum;
use consumer::ShutdownProtocol;
use scenarios::search::{SeedRange, Shard};
use std::path::PathBuf;

use scenarios::catalogue::{Scenario, CATALOGUE};
use scenarios::DeterminismCheck;
use sim::StrategyChoice;

/// Defines a `ValueEnum` newtype over a library enum with `ALL`, `name()` and `description()`.
macro_rules! value_enum {
    ($(#[$doc:meta])* $wrapper:ident($inner:ty), $count:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $wrapper(pub $inner);

        impl $wrapper {
            const VARIANTS: [$wrapper; $count] = {
                let mut variants = [$wrapper(<$inner>::ALL[0]); $count];
                let mut index = 0;
                while index < $count {
                    variants[index] = $wrapper(<$inner>::ALL[index]);
                    index += 1;
                }
                variants
            };
        }

        impl ValueEnum for $wrapper {
            fn value_variants<'a>() -> &'a [Self] {
                &Self::VARIANTS
            }

            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(PossibleValue::new(self.0.name()).help(self.0.description()))
            }
        }
    };
}

/// A scenario of the catalogue, by name (`hangsim list`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioArg(pub &'static str);

impl ValueEnum for ScenarioArg {
    fn value_variants<'a>() -> &'a [Self] {
        static NAMES: std::sync::OnceLock<Vec<ScenarioArg>> = std::sync::OnceLock::new();
        NAMES.get_or_init(|| {
            CATALOGUE
                .iter()
                .map(|(name, _)| ScenarioArg(name))
                .collect()
        })
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let description = Scenario::builtin(self.0)
            .map(|scenario| scenario.description().to_string())
            .unwrap_or_default();
        Some(PossibleValue::new(self.0).help(description))
    }
}

impl ScenarioArg {
    /// The catalogue's scenario of this name.
    pub fn scenario(&self) -> Scenario {
        Scenario::builtin(self.0).expect("clap admits only catalogue names")
    }
}

/// Which scenario a command runs: one of the catalogue, or a file; with `--set` overrides.
#[derive(clap::Args, Clone, Debug)]
pub struct ScenarioChoice {
    /// A scenario of the catalogue (`hangsim list`; `hangsim describe NAME` shows its keys).
    #[arg(
        long,
        value_enum,
        required_unless_present = "scenario_file",
        conflicts_with = "scenario_file"
    )]
    pub scenario: Option<ScenarioArg>,
    /// A scenario file (TOML; `hangsim describe` lists every key).
    #[arg(long, value_name = "FILE")]
    pub scenario_file: Option<PathBuf>,
    /// Overrides one value of the scenario: `topic[0].partitions=4`,
    /// `consumer[app-1].commit_timeout_ms=5000`, `event[0].at_ms={ min = 0, max = 100 }`.
    /// Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
}

impl ScenarioChoice {
    /// The scenario, checked, its warnings printed; or the one error line.
    pub fn load(&self) -> Result<Scenario, String> {
        let loaded = match (&self.scenario, &self.scenario_file) {
            (Some(name), _) => Scenario::builtin_with(name.0, &self.sets),
            (None, Some(path)) => Scenario::from_path(path, &self.sets),
            (None, None) => unreachable!("clap requires --scenario or --scenario-file"),
        };
        let scenario = loaded.map_err(|error| error.to_string())?;
        for warning in &scenario.warnings {
            eprintln!("warning: {}: {warning}", scenario.name());
        }
        Ok(scenario)
    }
}
value_enum!(
    /// A shutdown protocol.
    ProtocolArg(ShutdownProtocol),
    ShutdownProtocol::ALL.len()
);
value_enum!(
    /// Which runs are run twice and compared.
    CheckArg(DeterminismCheck),
    DeterminismCheck::ALL.len()
);

/// Strategies parse only through [`StrategyChoice`]'s own `FromStr`, so that new strategies
/// need no change here.
pub fn strategy(text: &str) -> Result<StrategyChoice, String> {
    text.parse()
}

pub fn seed_range(text: &str) -> Result<SeedRange, String> {
    text.parse()
}

pub fn shard(text: &str) -> Result<Shard, String> {
    text.parse()
}

/// A wall-clock duration in humantime's words: `45m`, `1h 30m`, `90s`; never zero.
pub fn duration(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|error| format!("bad duration {text:?}: {error} (for example 45m or 1h 30m)"))?;
    if duration.is_zero() {
        return Err(format!("bad duration {text:?}: it must be more than zero"));
    }
    Ok(duration)
}

/// A virtual deadline in whole seconds (`--deadline 600`), within the bounds a run accepts.
pub fn deadline(text: &str) -> Result<std::time::Duration, String> {
    let seconds: u64 = text
        .parse()
        .map_err(|_| format!("bad deadline {text:?}: expected whole seconds, for example 600"))?;
    let deadline = std::time::Duration::from_secs(seconds);
    scenarios::runner::check_deadline(deadline)?;
    Ok(deadline)
}

/// The strategies `hangsim list` shows and `hangsim bench` compares, with what each is. Only
/// those this build's [`StrategyChoice`] accepts are shown.
pub fn known_strategies() -> Vec<(&'static str, &'static str)> {
    [
        (
            "yields",
            "yields",
            "forced yields with a probability drawn per seed (calm and stormy runs)",
        ),
        (
            "yields:P",
            "yields:0.1",
            "forced yields with probability P at every scheduling point",
        ),
        (
            "random",
            "random",
            "a random ready fiber at every choice, plus forced yields",
        ),
        (
            "pct:D",
            "pct:3",
            "PCT: random fiber priorities with D-1 priority change points",
        ),
        (
            "log",
            "log",
            "decisions from the fixture's log; past its end, no forced yield and the oldest ready fiber (what shrink writes for PCT)",
        ),
        (
            "schedule",
            "schedule",
            "decisions from the fixture's schedule keyed by fiber (\"at 2.418s, after runloop step 6, caller runs\"); elsewhere the defaults (what shrink writes when decisions are left)",
        ),
    ]
    .into_iter()
    .filter(|(_, example, _)| example.parse::<StrategyChoice>().is_ok())
    .map(|(name, _, description)| (name, description))
    .collect()
}

/// The strategies `bench` compares: one concrete choice per family this build knows.
pub fn bench_strategies() -> Vec<StrategyChoice> {
    ["yields", "random", "pct:3"]
        .into_iter()
        .filter_map(|name| name.parse().ok())
        .collect()
}

/// Today's date in UTC, `YYYY-MM-DD`, for fixture provenance. The driver reads the wall clock
/// here; no simulated run ever sees it.
pub fn today_utc() -> String {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    stamp[..10].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wrapped enums list every library value, by its library name.
    #[test]
    fn value_enums_list_every_library_value() {
        let names: Vec<String> = ScenarioArg::value_variants()
            .iter()
            .map(|v| v.to_possible_value().unwrap().get_name().to_string())
            .collect();
        let expected: Vec<&str> = CATALOGUE.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, expected);
        assert_eq!(
            ProtocolArg::value_variants().len(),
            ShutdownProtocol::ALL.len()
        );
        assert_eq!(
            ProtocolArg::from_str("closed-queue", false),
            Ok(ProtocolArg(ShutdownProtocol::ClosedQueue))
        );
    }

    /// Today's date has the shape YYYY-MM-DD.
    #[test]
    fn today_is_a_date() {
        let today = today_utc();
        assert_eq!(today.len(), 10, "{today}");
        assert_eq!(today.as_bytes()[4], b'-');
        assert_eq!(today.as_bytes()[7], b'-');
    }
}
