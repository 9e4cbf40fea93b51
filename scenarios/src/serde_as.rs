//! How types that other crates own, and that know nothing of serde, are written in NDJSON lines
//! and fixtures: by their names (the same names the command line and reports use), and virtual
//! times as whole nanoseconds. Use with `#[serde(with = "crate::serde_as::...")]`.

use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// A virtual time or duration as whole nanoseconds (`u64`: 584 years of virtual time).
pub mod nanos {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        let nanos = u64::try_from(value.as_nanos()).map_err(serde::ser::Error::custom)?;
        serializer.serialize_u64(nanos)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_nanos(u64::deserialize(deserializer)?))
    }
}

/// Writes a value by a `&'static str` name and reads it back by parsing the name.
macro_rules! by_name {
    ($module:ident, $type:ty, $name:expr, $parse:expr) => {
        pub mod $module {
            use super::*;

            pub fn serialize<S: Serializer>(
                value: &$type,
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                let name: fn(&$type) -> &'static str = $name;
                serializer.serialize_str(name(value))
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(
                deserializer: D,
            ) -> Result<$type, D::Error> {
                let text = String::deserialize(deserializer)?;
                let parse: fn(&str) -> Result<$type, String> = $parse;
                parse(&text).map_err(D::Error::custom)
            }
        }
    };
}

by_name!(
    protocol,
    consumer::ShutdownProtocol,
    |protocol| protocol.name(),
    |text| text.parse()
);

by_name!(
    exit_kind,
    consumer::rt::ExitKind,
    |kind| exit_kind_name(*kind),
    |text| {
        use consumer::rt::ExitKind;
        [
            ExitKind::Success,
            ExitKind::Failure,
            ExitKind::Die,
            ExitKind::Interrupt,
            ExitKind::Killed,
        ]
        .into_iter()
        .find(|kind| exit_kind_name(*kind) == text)
        .ok_or_else(|| format!("unknown exit kind {text:?}"))
    }
);

by_name!(
    obligation_kind,
    consumer::rt::ObligationKind,
    |kind| kind.name(),
    |text| {
        use consumer::rt::ObligationKind;
        [
            ObligationKind::Request,
            ObligationKind::UserCall,
            ObligationKind::Commit,
        ]
        .into_iter()
        .find(|kind| kind.name() == text)
        .ok_or_else(|| format!("unknown obligation kind {text:?}"))
    }
);

/// An exit kind's name, as reports print it (`success`, `failure`, `defect`, `interruption`,
/// `killed`).
fn exit_kind_name(kind: consumer::rt::ExitKind) -> &'static str {
    use consumer::rt::ExitKind;
    match kind {
        ExitKind::Success => "success",
        ExitKind::Failure => "failure",
        ExitKind::Die => "defect",
        ExitKind::Interrupt => "interruption",
        ExitKind::Killed => "killed",
    }
}

/// A seed: an integer where TOML can hold it (up to 2^63-1), else its decimal digits as a
/// string, since TOML integers are signed 64-bit; read back from either.
pub mod seed {
    use super::*;

    pub fn serialize<S: Serializer>(seed: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        match i64::try_from(*seed) {
            Ok(small) => serializer.serialize_i64(small),
            Err(_) => serializer.collect_str(seed),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(u64),
            Digits(String),
        }
        match Written::deserialize(deserializer)? {
            Written::Number(seed) => Ok(seed),
            Written::Digits(text)
                if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) =>
            {
                text.parse().map_err(D::Error::custom)
            }
            Written::Digits(text) => Err(D::Error::custom(format!(
                "bad seed {text:?}: expected a number from 0 to 2^64-1"
            ))),
        }
    }
}
