//! Config errors, worded as the user wrote the setting: `[ingest] max_event_byte
//! in stowage.toml` for a file, `STOWAGE_INGEST__MAX_EVENT_BYTE` for the
//! environment, with the closest known name when one was misspelt.
//!
//! Owns the translation from figment's errors (whose keys carry the profile and
//! whose messages nest backticks); it does not load or validate anything.

use std::fmt;
use std::path::PathBuf;

use figment::error::{Actual, Kind};
use figment::{Figment, Metadata, Source};

use super::suggest::closest;

/// The prefix of every config environment variable.
pub const ENV_PREFIX: &str = "STOWAGE_";
/// Joins section and field in an environment variable's name.
const ENV_SEPARATOR: &str = "__";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A section `Config` does not have.
    #[error("unknown config section {place}: {hint}")]
    UnknownSection { place: Place, hint: Hint },
    /// A field its section does not have.
    #[error("unknown config field {place}: {hint}")]
    UnknownField { place: Place, hint: Hint },
    /// A value of the wrong type or shape.
    #[error("invalid value for {place}: {}", describe(kind))]
    BadValue { place: Place, kind: Kind },
    /// A value of the right type that `Config::validate` refuses.
    #[error("invalid value for {place}: {reason}")]
    Invalid { place: Place, reason: &'static str },
    /// Anything else figment reports (an unreadable file, TOML syntax).
    #[error(transparent)]
    Load(Box<figment::Error>),
}

/// Where a setting was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// `[section] field in FILE`.
    File { file: PathBuf, keys: Vec<String> },
    /// The environment variable as it is spelt in the environment.
    Env { var: String, keys: Vec<String> },
    /// A built-in default or a flag: `section.field`.
    Key(Vec<String>),
}

/// What to say after an unknown name: the closest known one, or all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hint {
    /// Spelt as the user would write it (`[ingest]`, `STOWAGE_INGEST__…`).
    suggestion: Option<String>,
    known: &'static [&'static str],
}

impl ConfigError {
    /// Words figment's first error in the user's terms. `env_name` is the env
    /// provider's metadata name, which tells its values from the others'.
    pub(super) fn from_figment(error: figment::Error, env_name: &str) -> ConfigError {
        let place = Place::of(error.metadata.as_ref(), &error.path, env_name);
        match &error.kind {
            Kind::UnknownField(found, known) => {
                let section = error.path.len() <= 1;
                let hint = Hint {
                    suggestion: closest(found, known).map(|name| place.spell(name, section)),
                    known,
                };
                if section {
                    ConfigError::UnknownSection { place, hint }
                } else {
                    ConfigError::UnknownField { place, hint }
                }
            }
            Kind::InvalidType(..)
            | Kind::InvalidValue(..)
            | Kind::InvalidLength(..)
            | Kind::UnknownVariant(..)
            | Kind::Message(_)
            | Kind::ISizeOutOfRange(_)
            | Kind::USizeOutOfRange(_)
                if !error.path.is_empty() =>
            {
                ConfigError::BadValue {
                    place,
                    kind: error.kind.clone(),
                }
            }
            _ => ConfigError::Load(Box::new(error)),
        }
    }

    /// Names where a field refused by `Config::validate` was set.
    pub(super) fn invalid(
        figment: &Figment,
        field: &str,
        reason: &'static str,
        env_name: &str,
    ) -> ConfigError {
        let keys: Vec<String> = field.split('.').map(str::to_owned).collect();
        let place = Place::of(figment.find_metadata(field), &keys, env_name);
        ConfigError::Invalid { place, reason }
    }
}

impl Place {
    fn of(metadata: Option<&Metadata>, keys: &[String], env_name: &str) -> Place {
        let keys = keys.to_vec();
        match metadata {
            Some(Metadata {
                source: Some(Source::File(file)),
                ..
            }) => Place::File {
                file: file.clone(),
                keys,
            },
            Some(metadata) if metadata.name == env_name => Place::Env {
                var: env_var(&keys),
                keys,
            },
            _ => Place::Key(keys),
        }
    }

    /// `name` spelt as the user would write it here, in place of the last key
    /// (a section when `section`).
    fn spell(&self, name: &str, section: bool) -> String {
        match self {
            Place::File { .. } if section => format!("[{name}]"),
            Place::File { .. } | Place::Key(_) => name.to_owned(),
            Place::Env { var, keys } => {
                // Keep the rest of the variable: STOWAGE_INGESTION__X → STOWAGE_INGEST__X.
                let index = keys.len().saturating_sub(1);
                let mut parts: Vec<String> = var
                    .get(ENV_PREFIX.len()..)
                    .unwrap_or_default()
                    .split(ENV_SEPARATOR)
                    .map(str::to_owned)
                    .collect();
                if let Some(part) = parts.get_mut(index) {
                    *part = name.to_ascii_uppercase();
                }
                format!("{ENV_PREFIX}{}", parts.join(ENV_SEPARATOR))
            }
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::File { file, keys } => match keys.split_first() {
                Some((section, [])) => write!(f, "[{section}] in {}", file.display()),
                Some((section, rest)) => {
                    write!(f, "[{section}] {} in {}", rest.join("."), file.display())
                }
                None => write!(f, "in {}", file.display()),
            },
            Place::Env { var, keys } if keys.len() == 1 => write!(f, "{} in {var}", keys[0]),
            Place::Env { var, .. } => f.write_str(var),
            Place::Key(keys) => f.write_str(&keys.join(".")),
        }
    }
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.suggestion {
            Some(name) => write!(f, "did you mean {name}?"),
            None => write!(f, "expected one of {}", self.known.join(", ")),
        }
    }
}

/// The environment variable that set `keys`, as spelt in the environment
/// (figment lowercases names), or the canonical spelling if none matches.
fn env_var(keys: &[String]) -> String {
    let found = std::env::vars_os().find_map(|(name, _)| {
        let name = name.into_string().ok()?;
        let rest = name
            .get(..ENV_PREFIX.len())
            .filter(|prefix| prefix.eq_ignore_ascii_case(ENV_PREFIX))
            .and_then(|_| name.get(ENV_PREFIX.len()..))?
            .to_ascii_lowercase();
        let parts: Vec<&str> = rest.split(ENV_SEPARATOR).collect();
        let matches = parts.len() >= keys.len() && parts.iter().zip(keys).all(|(p, k)| p == k);
        matches.then_some(name)
    });
    found.unwrap_or_else(|| {
        format!(
            "{ENV_PREFIX}{}",
            keys.join(ENV_SEPARATOR).to_ascii_uppercase()
        )
    })
}

/// figment's error kind in plain words: what was expected, what was found.
fn describe(kind: &Kind) -> String {
    match kind {
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
            format!(
                "expected {}, found {}",
                expected_words(expected),
                actual_words(actual)
            )
        }
        Kind::UnknownVariant(found, known) => {
            format!("expected one of {}, found {found:?}", known.join(", "))
        }
        Kind::InvalidLength(length, expected) => {
            format!("expected {expected}, found {length} elements")
        }
        Kind::ISizeOutOfRange(value) => format!("{value} is out of range"),
        Kind::USizeOutOfRange(value) => format!("{value} is out of range"),
        Kind::Message(message) => message.clone(),
        other => other.to_string(),
    }
}

fn expected_words(expected: &str) -> &str {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number (0 or more)",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" | "bool" => "true or false",
        other => other,
    }
}

fn actual_words(actual: &Actual) -> String {
    match actual {
        Actual::Str(text) => format!("the string {text:?}"),
        Actual::Unsigned(n) => n.to_string(),
        Actual::Signed(n) => n.to_string(),
        Actual::Float(n) => n.to_string(),
        Actual::Bool(b) => b.to_string(),
        Actual::Map => "a table".to_owned(),
        Actual::Seq => "a list".to_owned(),
        other => other.to_string(),
    }
}
