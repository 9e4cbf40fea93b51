//! Which seeds a search runs: a half-open [`SeedRange`], a [`Shard`] of it, and the
//! [`SeedPlan`] that numbers the shard's seeds. The arithmetic is exact over the whole `u64`
//! range: the last seeds and the largest shard counts plan the same seeds as small ones.

use std::fmt;
use std::str::FromStr;

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

impl FromStr for SeedRange {
    type Err = String;

    fn from_str(text: &str) -> Result<SeedRange, String> {
        let (start, end) = text.split_once("..").ok_or_else(|| {
            format!("bad seed range {text:?}: expected A..B, for example 0..1000")
        })?;
        let number = |part: &str| {
            parse_u64(part).ok_or_else(|| {
                format!(
                    "bad seed range {text:?}: {part:?} is not a seed (a number from 0 to 2^64-1)"
                )
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
}

/// Decimal digits only: no sign, no spaces inside (surrounding spaces are allowed).
fn parse_u64(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
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

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let bad =
            || format!("bad shard {text:?}: expected K/N with N > 0 and K < N, for example 0/4");
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let index = parse_u64(index).ok_or_else(bad)?;
        let count = parse_u64(count).ok_or_else(bad)?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// The seeds of a range that fall in a shard, in order, numbered from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedPlan {
    first: u64,
    step: u64,
    /// How many seeds.
    pub len: u64,
}

impl SeedPlan {
    /// The plan of `range` in `shard`. Exact for every range and shard: the arithmetic is done
    /// in `u128`, where nothing of two `u64`s can overflow.
    pub fn new(range: SeedRange, shard: Shard) -> SeedPlan {
        let (start, end, count) = (
            u128::from(range.start),
            u128::from(range.end),
            u128::from(shard.count),
        );
        // The first seed at or after `start` with `seed % count == index`.
        let offset = (u128::from(shard.index) + count - start % count) % count;
        let first = start + offset;
        let len = if first < end {
            (end - 1 - first) / count + 1
        } else {
            0
        };
        SeedPlan {
            // Past the range (len 0) the first seed is never read; clamp it into u64.
            first: u64::try_from(first).unwrap_or(u64::MAX),
            step: shard.count,
            len: u64::try_from(len).expect("a plan holds at most the range's seeds"),
        }
    }

    /// The `index`th seed (`index < len`).
    pub fn seed(&self, index: u64) -> u64 {
        assert!(
            index < self.len,
            "seed index {index} past the plan's {}",
            self.len
        );
        let seed = u128::from(self.first) + u128::from(index) * u128::from(self.step);
        u64::try_from(seed).expect("a planned seed lies in its range")
    }

    /// The seeds in order.
    pub fn seeds(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.len).map(|index| self.seed(index))
    }
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
                    let planned: Vec<u64> = plan.seeds().collect();
                    let expected: Vec<u64> =
                        (start..end).filter(|seed| seed % count == index).collect();
                    assert_eq!(planned, expected, "{start}..{end} shard {index}/{count}");
                }
            }
        }
    }

    /// At the top of the `u64` range the plan still holds exactly the shard's seeds (this
    /// overflowed and ran the wrong seed before).
    #[test]
    fn plans_at_the_top_of_the_range_are_exact() {
        let range: SeedRange = "18446744073709551613..18446744073709551615"
            .parse()
            .unwrap();
        let shard: Shard = "18446744073709551614/18446744073709551615".parse().unwrap();
        let plan = SeedPlan::new(range, shard);
        assert_eq!(plan.seeds().collect::<Vec<_>>(), [18446744073709551614]);
        let top = SeedRange {
            start: u64::MAX - 5,
            end: u64::MAX,
        };
        for count in [1, 2, 3, u64::MAX - 1, u64::MAX] {
            for index in [0, 1, count - 1].into_iter().filter(|&index| index < count) {
                let shard = Shard { index, count };
                let expected: Vec<u64> = (top.start..top.end)
                    .filter(|seed| seed % count == index)
                    .collect();
                let planned: Vec<u64> = SeedPlan::new(top, shard).seeds().collect();
                assert_eq!(planned, expected, "shard {shard}");
            }
        }
    }

    /// Bad ranges and shards are refused: empty, reversed, unparsable, signed, K >= N, N = 0.
    #[test]
    fn bad_ranges_and_shards_are_refused() {
        for bad in ["5..5", "9..3", "x..3", "3", "1..2..3", "-1..4", "+1..4", ""] {
            assert!(bad.parse::<SeedRange>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "0..10".parse::<SeedRange>(),
            Ok(SeedRange { start: 0, end: 10 })
        );
        for bad in ["1/1", "0/0", "3/2", "a/2", "1", "+0/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad:?}");
        }
    }
}
