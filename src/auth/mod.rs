//! Who the caller is: operators sign requests with AWS Signature Version 4
//! (`sigv4`) using credentials from the config; publishers without a
//! signature are `Anonymous` and left to the publish handlers.
//!
//! This module holds the credentials and the pure checks; which route needs
//! what, and how a refusal reads on the wire, is `api::auth`'s.

pub mod sigv4;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Toml};

use crate::config::{AuthConfig, OperatorCredential, Secret};

/// The caller of one request, put into its extensions by `api::auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No operator credentials are configured and the server listens on loopback: everything is open.
    Open,
    /// A valid SigV4 signature by a configured operator access key.
    Operator { access_key_id: String },
    /// No operator signature on a publish route (gateway POST /events, POST /buses/{bus}/events,
    /// AWS PutEvents): the publish handler decides (publisher key or 401).
    Anonymous,
}

/// The configured operator credentials, by access key id.
#[derive(Default)]
pub struct Operators {
    by_id: HashMap<String, Secret>,
}

impl std::fmt::Debug for Operators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operators")
            .field("access_key_ids", &self.by_id.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorsError {
    #[error("cannot read the operators file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the operators file {path} is not valid JSON")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the operators file {path} is not valid TOML")]
    Toml {
        path: PathBuf,
        #[source]
        source: Box<figment::Error>,
    },
    #[error("operator access key id {access_key_id:?} is configured twice")]
    Duplicate { access_key_id: String },
    #[error(
        "an operator credential needs a non-empty access_key_id and a secret_access_key of at least 8 characters"
    )]
    Weak,
}

/// An operators file: `[[operators]]` tables (TOML) or `{"operators": [...]}` (JSON).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorsFile {
    operators: Vec<OperatorCredential>,
}

impl Operators {
    /// The credentials of `[auth] operators` and of `[auth] operators_file`
    /// (read now; `.json` is JSON, anything else TOML).
    pub fn load(config: &AuthConfig) -> Result<Operators, OperatorsError> {
        let mut credentials = config.operators.clone();
        if let Some(path) = &config.operators_file {
            credentials.extend(read_file(path)?);
        }
        let mut by_id = HashMap::new();
        for credential in credentials {
            if credential.access_key_id.is_empty()
                || credential.secret_access_key.expose().len() < 8
            {
                return Err(OperatorsError::Weak);
            }
            if by_id.contains_key(&credential.access_key_id) {
                return Err(OperatorsError::Duplicate {
                    access_key_id: credential.access_key_id,
                });
            }
            by_id.insert(credential.access_key_id, credential.secret_access_key);
        }
        Ok(Operators { by_id })
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The secret of `access_key_id`, if it is an operator's.
    pub fn secret(&self, access_key_id: &str) -> Option<&str> {
        self.by_id.get(access_key_id).map(Secret::expose)
    }
}

fn read_file(path: &Path) -> Result<Vec<OperatorCredential>, OperatorsError> {
    let text = std::fs::read_to_string(path).map_err(|source| OperatorsError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file: OperatorsFile = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|source| OperatorsError::Json {
            path: path.to_owned(),
            source,
        })?
    } else {
        Figment::from(Toml::string(&text))
            .extract()
            .map_err(|source| OperatorsError::Toml {
                path: path.to_owned(),
                source: Box::new(source),
            })?
    };
    Ok(file.operators)
}

/// What the server's access rules depend on, fixed at start.
#[derive(Debug)]
pub struct Access {
    pub operators: Operators,
    /// `/metrics` without a signature.
    pub metrics_open: bool,
    /// The region a signature's credential scope must name.
    pub region: String,
}

impl Access {
    /// Decides from the config and the listen address; refuses to run
    /// without credentials anywhere but on loopback.
    pub fn new(
        operators: Operators,
        listen: SocketAddr,
        metrics_open: Option<bool>,
        region: &str,
    ) -> Result<Access, Unprotected> {
        let loopback = listen.ip().is_loopback();
        if operators.is_empty() && !loopback {
            return Err(Unprotected { addr: listen });
        }
        Ok(Access {
            operators,
            metrics_open: metrics_open.unwrap_or(loopback),
            region: region.to_owned(),
        })
    }

    /// True when no credentials are configured: every caller is `Open`.
    pub fn is_open(&self) -> bool {
        self.operators.is_empty()
    }
}

/// The refusal to serve a non-loopback address with no operator credentials.
#[derive(Debug, thiserror::Error)]
#[error(
    "refusing to listen on {addr} without operator credentials: add [[auth.operators]] entries (access_key_id, secret_access_key) to the config file or point STOWAGE_AUTH__OPERATORS_FILE at a file of them, or listen on a loopback address such as 127.0.0.1"
)]
pub struct Unprotected {
    pub addr: SocketAddr,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(id: &str, secret: &str) -> OperatorCredential {
        OperatorCredential {
            access_key_id: id.into(),
            secret_access_key: Secret::new(secret.into()),
        }
    }

    #[test]
    fn no_credentials_is_open_on_loopback_only() {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 8080));
        let any = SocketAddr::from(([0, 0, 0, 0], 8080));
        let open =
            Access::new(Operators::default(), loopback, None, "us-east-1").expect("loopback");
        assert!(open.is_open() && open.metrics_open);
        let refused = Access::new(Operators::default(), any, None, "us-east-1").expect_err("any");
        assert!(
            refused.to_string().contains("[[auth.operators]]"),
            "{refused}"
        );
        let config = AuthConfig {
            operators: vec![credential("AKOP", "a-long-secret")],
            operators_file: None,
        };
        let guarded = Access::new(
            Operators::load(&config).expect("loads"),
            any,
            None,
            "us-east-1",
        )
        .expect("credentials");
        assert!(!guarded.is_open() && !guarded.metrics_open);
        assert_eq!(guarded.operators.secret("AKOP"), Some("a-long-secret"));
    }

    #[test]
    fn files_add_credentials_and_duplicates_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let toml = dir.path().join("ops.toml");
        std::fs::write(
            &toml,
            "[[operators]]\naccess_key_id = \"AKFILE\"\nsecret_access_key = \"secret-from-file\"\n",
        )
        .expect("write");
        let json = dir.path().join("ops.json");
        std::fs::write(
            &json,
            r#"{"operators":[{"access_key_id":"AKJSON","secret_access_key":"json-secret"}]}"#,
        )
        .expect("write");
        for (path, id) in [(&toml, "AKFILE"), (&json, "AKJSON")] {
            let config = AuthConfig {
                operators: vec![credential("AKCONF", "conf-secret")],
                operators_file: Some(path.clone()),
            };
            let operators = Operators::load(&config).expect("loads");
            assert!(operators.secret(id).is_some() && operators.secret("AKCONF").is_some());
            assert!(
                !format!("{operators:?}").contains("secret"),
                "{operators:?}"
            );
        }
        let config = AuthConfig {
            operators: vec![credential("AKJSON", "other-secret")],
            operators_file: Some(json),
        };
        assert!(matches!(
            Operators::load(&config),
            Err(OperatorsError::Duplicate { .. })
        ));
    }
}
