//! Event buses: the named streams events are published to.
//!
//! Bus `default` always exists and cannot be deleted. Other buses are persisted in
//! the `buses` tree and cached in memory, so that ingestion checks a bus without
//! touching disk. Routing rules attached to buses live elsewhere.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::config::AwsConfig;
use crate::event::now_ms;
use crate::store::{Store, StoreError, tree};

pub const DEFAULT_BUS: &str = "default";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BusRecord {
    pub name: String,
    pub description: Option<String>,
    pub created_ms: i64,
    pub modified_ms: i64,
}

/// Why a bus change was refused or failed. The Display is for logs; the API
/// words refusals for its clients.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("event bus {0} already exists")]
    AlreadyExists(String),
    #[error("event bus {0} does not exist")]
    NotFound(String),
    #[error("event bus name {name:?} is not valid ({fault:?})")]
    InvalidName { name: String, fault: NameFault },
    #[error("the default event bus cannot be deleted")]
    CannotDeleteDefault,
    #[error("storing the event bus failed")]
    Storage(#[from] StoreError),
}

/// What is wrong with a bus name (see [`validate_name`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameFault {
    /// Not 1 to 256 bytes long.
    Length,
    /// A character outside `[.\-_A-Za-z0-9]`.
    Characters,
}

impl From<sled::Error> for BusError {
    fn from(e: sled::Error) -> Self {
        BusError::Storage(StoreError::Sled(e))
    }
}

/// While it lives, no bus is created or deleted (`Buses::hold_changes`).
pub struct BusChangesHeld<'a> {
    _held: std::sync::RwLockReadGuard<'a, BTreeMap<String, BusRecord>>,
}

#[derive(Clone)]
pub struct Buses {
    store: Arc<Store>,
    tree: sled::Tree,
    cache: Arc<RwLock<BTreeMap<String, BusRecord>>>,
    arn_prefix: String,
}

impl Buses {
    pub fn open(store: Arc<Store>, aws: &AwsConfig) -> Result<Buses, StoreError> {
        let tree = store.tree(tree::BUSES)?;
        let mut cache = BTreeMap::new();
        for item in tree.iter() {
            let (key, value) = item?;
            match codec::decode::<BusRecord>(&value) {
                Ok(record) => {
                    cache.insert(record.name.clone(), record);
                }
                Err(error) => {
                    tracing::error!(key = %String::from_utf8_lossy(&key), %error, "damaged bus record skipped")
                }
            }
        }
        if !cache.contains_key(DEFAULT_BUS) {
            let now = now_ms();
            let record = BusRecord {
                name: DEFAULT_BUS.into(),
                description: None,
                created_ms: now,
                modified_ms: now,
            };
            tree.insert(DEFAULT_BUS, codec::encode(&record))?;
            store.sync()?;
            cache.insert(DEFAULT_BUS.into(), record);
        }
        let arn_prefix = format!("arn:aws:events:{}:{}:event-bus/", aws.region, aws.account);
        Ok(Buses {
            store,
            tree,
            cache: Arc::new(RwLock::new(cache)),
            arn_prefix,
        })
    }

    pub fn exists(&self, name: &str) -> bool {
        self.read().contains_key(name)
    }

    pub fn get(&self, name: &str) -> Option<BusRecord> {
        self.read().get(name).cloned()
    }

    /// Buses whose name starts with `prefix`, in name order.
    pub fn list(&self, prefix: Option<&str>) -> Vec<BusRecord> {
        let cache = self.read();
        cache
            .values()
            .filter(|b| prefix.is_none_or(|p| b.name.starts_with(p)))
            .cloned()
            .collect()
    }

    pub fn create(&self, name: &str, description: Option<String>) -> Result<BusRecord, BusError> {
        validate_name(name)?;
        let mut cache = self.write();
        if cache.contains_key(name) {
            return Err(BusError::AlreadyExists(name.into()));
        }
        let now = now_ms();
        let record = BusRecord {
            name: name.into(),
            description,
            created_ms: now,
            modified_ms: now,
        };
        self.tree.insert(name, codec::encode(&record))?;
        self.store.sync()?;
        cache.insert(name.into(), record.clone());
        Ok(record)
    }

    pub fn delete(&self, name: &str) -> Result<(), BusError> {
        if name == DEFAULT_BUS {
            return Err(BusError::CannotDeleteDefault);
        }
        let mut cache = self.write();
        if cache.remove(name).is_none() {
            return Err(BusError::NotFound(name.into()));
        }
        self.tree.remove(name)?;
        self.store.sync()?;
        Ok(())
    }

    pub fn arn(&self, name: &str) -> String {
        format!("{}{}", self.arn_prefix, name)
    }

    /// A bus name from a name or this server's bus ARN; `None` for a foreign ARN.
    pub fn resolve<'a>(&self, name_or_arn: &'a str) -> Option<&'a str> {
        if name_or_arn.starts_with("arn:") {
            name_or_arn.strip_prefix(self.arn_prefix.as_str())
        } else {
            Some(name_or_arn)
        }
    }

    /// Holds bus changes off until dropped (a backup copying the `buses`
    /// tree with the catalog's); reads go on. Never hold it across an await.
    pub fn hold_changes(&self) -> BusChangesHeld<'_> {
        BusChangesHeld { _held: self.read() }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, BusRecord>> {
        self.cache.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, BusRecord>> {
        self.cache.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// AWS's rule for custom bus names: 1–256 of `[.\-_A-Za-z0-9]`.
pub fn validate_name(name: &str) -> Result<(), BusError> {
    let invalid = |fault| {
        Err(BusError::InvalidName {
            name: name.into(),
            fault,
        })
    };
    if name.is_empty() || name.len() > 256 {
        return invalid(NameFault::Length);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return invalid(NameFault::Characters);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_aws_rule() {
        assert!(validate_name("orders.prod-1_a").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name(&"x".repeat(257)).is_err());
    }
}
