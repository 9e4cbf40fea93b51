//! Parsers for what the command line names: scenarios, protocols, strategies, seed ranges and
//! shards. Each refuses bad input with one line that clap turns into `error: ...` and exit 2.

use std::fmt;

use consumer::ShutdownProtocol;
use scenarios::ScenarioName;
use sim::StrategyChoice;

pub fn scenario(text: &str) -> Result<ScenarioName, String> {
    text.parse()
}

pub fn protocol(text: &str) -> Result<ShutdownProtocol, String> {
    text.parse()
}

/// Strategies parse only through [`StrategyChoice`]'s own `FromStr`, so that new strategies
/// need no change here.
pub fn strategy(text: &str) -> Result<StrategyChoice, String> {
    text.parse()
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

/// A half-open range of seeds, `A..B`, never empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    pub start: u64,
    pub end: u64,
}

impl fmt::Display for SeedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

pub fn seed_range(text: &str) -> Result<SeedRange, String> {
    let (start, end) = text
        .split_once("..")
        .ok_or_else(|| format!("bad seed range {text:?}: expected A..B, for example 0..1000"))?;
    let number = |part: &str| {
        part.trim().parse::<u64>().map_err(|_| {
            format!("bad seed range {text:?}: {part:?} is not a seed (a number from 0 to 2^64-1)")
        })
    };
    let (start, end) = (number(start)?, number(end)?);
    if start >= end {
        return Err(format!(
            "bad seed range {text:?}: it is empty; A..B runs the seeds from A up to B-1, so B must be greater than A"
        ));
    }
    Ok(SeedRange { start, end })
}

/// `K/N`: the seeds with `seed % N == K`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Every seed.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

pub fn shard(text: &str) -> Result<Shard, String> {
    let bad = || format!("bad shard {text:?}: expected K/N with N > 0 and K < N, for example 0/4");
    let (index, count) = text.split_once('/').ok_or_else(bad)?;
    let index: u64 = index.trim().parse().map_err(|_| bad())?;
    let count: u64 = count.trim().parse().map_err(|_| bad())?;
    if count == 0 || index >= count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

/// The seeds of a range that fall in a shard, in order, by index.
#[derive(Clone, Copy, Debug)]
pub struct SeedPlan {
    first: u64,
    step: u64,
    /// How many seeds.
    pub len: u64,
}

impl SeedPlan {
    pub fn new(range: SeedRange, shard: Shard) -> SeedPlan {
        let offset = (shard.index + shard.count - range.start % shard.count) % shard.count;
        let len = match range.start.checked_add(offset) {
            Some(first) if first < range.end => (range.end - 1 - first) / shard.count + 1,
            _ => 0,
        };
        SeedPlan {
            first: range.start.wrapping_add(offset),
            step: shard.count,
            len,
        }
    }

    /// The `index`th seed (`index < len`).
    pub fn seed(&self, index: u64) -> u64 {
        assert!(
            index < self.len,
            "seed index {index} past the plan's {}",
            self.len
        );
        self.first + index * self.step
    }
}

/// Today's date in UTC, `YYYY-MM-DD`, for fixture provenance. The driver reads the wall clock
/// here; no simulated run ever sees it.
pub fn today_utc() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    // Howard Hinnant's days-to-civil algorithm.
    let days = (seconds / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shard plan holds exactly the seeds of the range with `seed % N == K`, in order.
    #[test]
    fn shard_plans_hold_exactly_their_seeds() {
        for (start, end) in [(0, 10), (3, 17), (5, 6), (7, 8)] {
            for count in 1..5 {
                for index in 0..count {
                    let plan = SeedPlan::new(SeedRange { start, end }, Shard { index, count });
                    let planned: Vec<u64> = (0..plan.len).map(|i| plan.seed(i)).collect();
                    let expected: Vec<u64> =
                        (start..end).filter(|seed| seed % count == index).collect();
                    assert_eq!(planned, expected, "{start}..{end} shard {index}/{count}");
                }
            }
        }
    }

    /// Bad ranges and shards are refused: empty, reversed, unparsable, K >= N, N = 0.
    #[test]
    fn bad_ranges_and_shards_are_refused() {
        for bad in ["5..5", "9..3", "x..3", "3", "1..2..3", "-1..4", ""] {
            assert!(seed_range(bad).is_err(), "{bad:?}");
        }
        assert_eq!(seed_range("0..10"), Ok(SeedRange { start: 0, end: 10 }));
        for bad in ["1/1", "0/0", "3/2", "a/2", "1"] {
            assert!(shard(bad).is_err(), "{bad:?}");
        }
    }
}
