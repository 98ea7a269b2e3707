//! Durations as people write them in a config file: `90s`, `15m`, `24h`,
//! `14d`, `500ms`, or several parts such as `1h30m`. `0` alone means zero.
//!
//! Owns the text form (parse and display) and its serde adapter; it does not
//! decide which durations are allowed (that is `Config::check`).

use std::fmt;
use std::time::Duration;

use serde::{Deserializer, Serializer};

/// Units, longest names first so that `ms` is not read as `m`.
const UNITS: &[(&str, u64)] = &[
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error(
        "expected a duration such as \"90s\", \"15m\", \"24h\" or \"14d\", found an empty string"
    )]
    Empty,
    #[error(
        "expected a duration such as \"90s\", \"15m\", \"24h\" or \"14d\", found {text:?}: {problem}"
    )]
    Malformed { text: String, problem: &'static str },
    #[error("the duration {text:?} is too long")]
    TooLong { text: String },
}

/// Parses `text` (see the module doc).
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    let malformed = |problem| DurationError::Malformed {
        text: text.to_owned(),
        problem,
    };
    let mut rest = trimmed;
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(malformed(
                "each part is a whole number followed by ms, s, m, h or d",
            ));
        }
        let (number, after) = rest.split_at(digits);
        let number: u64 = number.parse().map_err(|_| DurationError::TooLong {
            text: text.to_owned(),
        })?;
        let Some((unit, scale)) = UNITS
            .iter()
            .filter(|(unit, _)| after.starts_with(unit))
            .max_by_key(|(unit, _)| unit.len())
        else {
            return Err(malformed("a number needs a unit: ms, s, m, h or d"));
        };
        let part = number.checked_mul(*scale).ok_or(DurationError::TooLong {
            text: text.to_owned(),
        })?;
        total_ms = total_ms.checked_add(part).ok_or(DurationError::TooLong {
            text: text.to_owned(),
        })?;
        rest = &after[unit.len()..];
    }
    Ok(Duration::from_millis(total_ms))
}

/// `duration` in the largest units that show it exactly: `14d`, `1h30m`, `500ms`.
pub fn display(duration: Duration) -> String {
    let mut ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0".into();
    }
    let mut out = String::new();
    for (unit, scale) in UNITS.iter().rev() {
        if ms >= *scale {
            out.push_str(&format!("{}{unit}", ms / scale));
            ms %= scale;
        }
    }
    out
}

/// A `Duration` written as text: `#[serde(with = "duration::text")]`.
pub mod text {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&display(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as \"90s\", \"24h\" or \"14d\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                parse(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                if v == 0 {
                    Ok(Duration::ZERO)
                } else {
                    Err(E::custom(format!(
                        "expected a duration with its unit, such as \"{v}s\" or \"{v}h\", found the number {v}"
                    )))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!(
                        "expected a duration such as \"90s\", found the negative number {v}"
                    ))),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_compound_durations_parse() {
        let ms = |text| parse(text).map(|d| d.as_millis());
        assert_eq!(ms("0"), Ok(0));
        assert_eq!(ms("500ms"), Ok(500));
        assert_eq!(ms("90s"), Ok(90_000));
        assert_eq!(ms("15m"), Ok(900_000));
        assert_eq!(ms("24h"), Ok(86_400_000));
        assert_eq!(ms("14d"), Ok(14 * 86_400_000));
        assert_eq!(ms("1h30m"), Ok(5_400_000));
        assert_eq!(ms(" 2m1s "), Ok(121_000));
    }

    #[test]
    fn malformed_durations_say_what_is_expected() {
        for bad in ["", "24", "h", "1x", "-1h", "1.5h", "1 h", "24hours"] {
            let err = parse(bad).expect_err(bad).to_string();
            assert!(
                err.starts_with("expected a duration such as"),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            parse("99999999999999999999d"),
            Err(DurationError::TooLong {
                text: "99999999999999999999d".into()
            })
        );
    }

    #[test]
    fn display_round_trips() {
        for text in ["0", "500ms", "45s", "1m30s", "23h", "14d", "1d1h1m1s1ms"] {
            let d = parse(text).expect(text);
            assert_eq!(display(d), text);
            assert_eq!(parse(&display(d)), Ok(d));
        }
    }
}
