//! `Draw<T>`: a value of a scenario file that is either fixed or drawn per seed.
//!
//! In TOML a draw is written as the value itself (`partitions = 2`), as an inclusive range of
//! numbers (`records_per_partition = { min = 1, max = 20 }`) or as a choice
//! (`api = { one_of = ["consume_with", "plain_stream"] }`). A resolved scenario holds only fixed
//! values.

use std::fmt;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value fixed in the file or drawn per seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Draw<T> {
    Fixed(T),
    /// Uniform over `min..=max` (numbers only).
    Range {
        min: T,
        max: T,
    },
    /// Uniform over the listed values.
    OneOf(Vec<T>),
}

impl<T: Default> Default for Draw<T> {
    fn default() -> Self {
        Draw::Fixed(T::default())
    }
}

/// What a drawn value must support: numbers draw from ranges, everything from lists.
pub trait Drawable: Clone + fmt::Debug + PartialEq {
    /// A value uniformly in `min..=max`, or `None` when the type has no ranges.
    fn between(min: &Self, max: &Self, rng: &mut ChaCha8Rng) -> Option<Self>;
    /// Whether `min <= max`, for types with ranges.
    fn ordered(min: &Self, max: &Self) -> bool;
}

impl Drawable for u64 {
    fn between(min: &u64, max: &u64, rng: &mut ChaCha8Rng) -> Option<u64> {
        let span = max.checked_sub(*min)?;
        if span == u64::MAX {
            return Some(rng.next_u64());
        }
        // Rejection sampling keeps the draw unbiased.
        let bound = span + 1;
        let zone = u64::MAX - (u64::MAX % bound);
        loop {
            let value = rng.next_u64();
            if value < zone {
                return Some(min + value % bound);
            }
        }
    }

    fn ordered(min: &u64, max: &u64) -> bool {
        min <= max
    }
}

impl Drawable for bool {
    fn between(_: &bool, _: &bool, _: &mut ChaCha8Rng) -> Option<bool> {
        None
    }

    fn ordered(_: &bool, _: &bool) -> bool {
        true
    }
}

/// Named values (API names, protocols, modes) draw from lists only.
#[macro_export]
#[doc(hidden)]
macro_rules! drawable_by_name {
    ($($name:ty),*) => {$(
        impl $crate::scenario::draw::Drawable for $name {
            fn between(_: &Self, _: &Self, _: &mut rand_chacha::ChaCha8Rng) -> Option<Self> {
                None
            }
            fn ordered(_: &Self, _: &Self) -> bool {
                true
            }
        }
    )*};
}

impl<T: Drawable> Draw<T> {
    /// The value of a resolved draw; for one not yet resolved, its lowest or first value.
    pub fn value(&self) -> T {
        match self {
            Draw::Fixed(value) => value.clone(),
            Draw::Range { min, .. } => min.clone(),
            Draw::OneOf(values) => values[0].clone(),
        }
    }

    /// Whether the value is fixed.
    pub fn is_fixed(&self) -> bool {
        matches!(self, Draw::Fixed(_))
    }

    /// Draws the value with `rng`.
    pub fn draw(&self, rng: &mut ChaCha8Rng) -> T {
        match self {
            Draw::Fixed(value) => value.clone(),
            Draw::Range { min, max } => T::between(min, max, rng).unwrap_or_else(|| min.clone()),
            Draw::OneOf(values) => {
                let index = u64::between(&0, &(values.len() as u64 - 1), rng).unwrap_or(0);
                values[index as usize].clone()
            }
        }
    }

    /// Every value the draw can name (a range by its ends), for bound checks.
    pub fn extremes(&self) -> Vec<&T> {
        match self {
            Draw::Fixed(value) => vec![value],
            Draw::Range { min, max } => vec![min, max],
            Draw::OneOf(values) => values.iter().collect(),
        }
    }

    /// Whether any value the draw names satisfies `test`.
    pub fn any(&self, test: impl Fn(&T) -> bool) -> bool {
        self.extremes().into_iter().any(test)
    }

    /// A shape error: a range with min > max, a range of a type without ranges, an empty list.
    pub fn shape_error(&self) -> Option<String> {
        match self {
            Draw::Fixed(_) => None,
            Draw::Range { min, max } if !T::ordered(min, max) => {
                Some(format!("min {min:?} is greater than max {max:?}"))
            }
            Draw::Range { min, max } => {
                let mut rng = ChaCha8Rng::seed_from_u64(0);
                T::between(min, max, &mut rng)
                    .is_none()
                    .then(|| "ranges apply to numbers only; use { one_of = [...] }".to_string())
            }
            Draw::OneOf(values) if values.is_empty() => Some("one_of lists no value".into()),
            Draw::OneOf(_) => None,
        }
    }
}

impl<T: Serialize> Serialize for Draw<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Draw::Fixed(value) => value.serialize(serializer),
            Draw::Range { min, max } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("min", min)?;
                map.serialize_entry("max", max)?;
                map.end()
            }
            Draw::OneOf(values) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("one_of", values)?;
                map.end()
            }
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Draw<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = toml::Value::deserialize(deserializer)?;
        let convert = |value: toml::Value| T::deserialize(value).map_err(D::Error::custom);
        let toml::Value::Table(table) = value else {
            return convert(value).map(Draw::Fixed);
        };
        let keys: Vec<&str> = table.keys().map(String::as_str).collect();
        match keys.as_slice() {
            ["max", "min"] | ["min", "max"] => {
                let min = convert(table["min"].clone())?;
                let max = convert(table["max"].clone())?;
                Ok(Draw::Range { min, max })
            }
            ["one_of"] => {
                let toml::Value::Array(values) = table["one_of"].clone() else {
                    return Err(D::Error::custom("one_of must be a list of values"));
                };
                values
                    .into_iter()
                    .map(convert)
                    .collect::<Result<Vec<T>, _>>()
                    .map(Draw::OneOf)
            }
            _ => Err(D::Error::custom(format!(
                "a drawn value is a value, {{ min = .., max = .. }} or {{ one_of = [..] }}; found keys {}",
                keys.join(", ")
            ))),
        }
    }
}

/// The generator of one drawn key: seeded by the run's seed and the key's path, so that adding,
/// removing or overriding one key leaves every other key's draw as it was. The path is mixed in
/// with the trace hash's function, the project's one portable hash.
pub fn key_rng(seed: u64, path: &str) -> ChaCha8Rng {
    let mut hash = sim::trace::TraceHash::default();
    hash.word(seed);
    hash.text(path);
    ChaCha8Rng::seed_from_u64(hash.value())
}
