//! The schema registry: JSON Schemas per (source, detail type, optional
//! version), the only writer of the `schemas` tree, and the compiled
//! validators the publish paths consult.
//!
//! Records are stored as their text, framed; the compiled validators live in
//! memory in one immutable map behind an `Arc`, rebuilt on every change and
//! swapped whole, so a publish reads it without waiting on a writer. Which
//! schema an event meets is [`Schemas::lookup`]'s rule. HTTP status codes and
//! wire formats are `api`'s business.

mod compile;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::event::now_ms;
use crate::store::{Store, StoreError, tree};
use prometheus::IntGauge;

pub use compile::{Compiled, MAX_SCHEMA_BYTES, SchemaError, Violation};

/// The most schemas a registry holds.
pub const MAX_SCHEMAS: usize = 10_000;
/// The longest source or detail type, in bytes (EventBridge's limit for both is 256).
const MAX_NAME_BYTES: usize = 256;
/// The longest version, in bytes.
const MAX_VERSION_BYTES: usize = 64;

/// Which schema: source, detail type, and a version or none.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SchemaKey {
    pub source: String,
    pub detail_type: String,
    pub version: Option<String>,
}

impl SchemaKey {
    /// The tree key: source `\0` detail type `\0` version (empty for none);
    /// names never hold a NUL (`validate`), so the key is unambiguous.
    fn tree_key(&self) -> Vec<u8> {
        let version = self.version.as_deref().unwrap_or("");
        [
            self.source.as_bytes(),
            self.detail_type.as_bytes(),
            version.as_bytes(),
        ]
        .join(&0u8)
    }

    /// Refuses empty, over-long or NUL-holding parts.
    pub fn validate(&self) -> Result<(), RegistryError> {
        let check = |field: &'static str, value: &str, max: usize| {
            if value.is_empty() || value.len() > max || value.contains('\0') {
                Err(RegistryError::InvalidKey { field, max })
            } else {
                Ok(())
            }
        };
        check("source", &self.source, MAX_NAME_BYTES)?;
        check("detailType", &self.detail_type, MAX_NAME_BYTES)?;
        match &self.version {
            Some(version) => check("version", version, MAX_VERSION_BYTES),
            None => Ok(()),
        }
    }
}

impl std::fmt::Display for SchemaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "source {:?}, detail type {:?}",
            self.source, self.detail_type
        )?;
        match &self.version {
            Some(version) => write!(f, ", version {version:?}"),
            None => f.write_str(", no version"),
        }
    }
}

/// A stored schema, framed (codec v1) under [`SchemaKey::tree_key`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchemaRecord {
    pub key: SchemaKey,
    /// The schema as registered, byte for byte.
    pub text: String,
    pub created_ms: i64,
    pub modified_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("{field} must be 1 to {max} bytes without NUL characters")]
    InvalidKey { field: &'static str, max: usize },
    #[error("no schema is registered for {0}")]
    NotFound(SchemaKey),
    #[error("the registry holds its limit of {MAX_SCHEMAS} schemas; delete one first")]
    Full,
    #[error("storing the schema failed")]
    Storage(#[from] StoreError),
}

impl From<sled::Error> for RegistryError {
    fn from(e: sled::Error) -> Self {
        RegistryError::Storage(StoreError::Sled(e))
    }
}

/// The schemas of one (source, detail type).
#[derive(Clone, Default)]
struct Versions {
    unversioned: Option<Arc<Compiled>>,
    by_version: HashMap<String, Arc<Compiled>>,
}

/// source → detail type → versions; immutable once built.
type CompiledMap = HashMap<String, HashMap<String, Versions>>;

/// Whether a put made a new schema or replaced one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Put {
    Created,
    Replaced,
}

#[derive(Clone)]
pub struct Schemas {
    store: Arc<Store>,
    tree: sled::Tree,
    compiled: Arc<RwLock<Arc<CompiledMap>>>,
    /// Serialises writers: tree write, sync and swap happen as one step.
    writer: Arc<Mutex<()>>,
    registered: IntGauge,
}

impl Schemas {
    /// Loads and compiles every stored schema. A damaged record, or one that no
    /// longer compiles, is logged and skipped: its events go unvalidated.
    pub fn open(store: Arc<Store>, registered: IntGauge) -> Result<Schemas, StoreError> {
        let tree = store.tree(tree::SCHEMAS)?;
        let mut map = CompiledMap::new();
        for item in tree.iter() {
            let (key, value) = item?;
            let record = match codec::decode::<SchemaRecord>(&value) {
                Ok(record) => record,
                Err(error) => {
                    tracing::error!(key = %String::from_utf8_lossy(&key), %error, "damaged schema record skipped");
                    continue;
                }
            };
            match Compiled::build(&record.text) {
                Ok(compiled) => insert(&mut map, &record.key, Arc::new(compiled)),
                Err(error) => {
                    tracing::error!(key = %record.key, %error, "stored schema does not compile; skipped")
                }
            }
        }
        registered.set(gauge_value(tree.len()));
        Ok(Schemas {
            store,
            tree,
            compiled: Arc::new(RwLock::new(Arc::new(map))),
            writer: Arc::new(Mutex::new(())),
            registered,
        })
    }

    /// The schema an event of (source, detail type, version) must meet: the one
    /// registered for its version, else the one without a version, else none.
    /// The flag says which: `true` for the version's own schema.
    pub fn lookup(
        &self,
        source: &str,
        detail_type: &str,
        version: Option<&str>,
    ) -> Option<(bool, Arc<Compiled>)> {
        let map = self.current();
        let versions = map.get(source)?.get(detail_type)?;
        if let Some(compiled) = version.and_then(|v| versions.by_version.get(v)) {
            return Some((true, compiled.clone()));
        }
        versions
            .unversioned
            .clone()
            .map(|compiled| (false, compiled))
    }

    /// Whether any schema is registered for (source, detail type): a publish
    /// builds no JSON tree when none is.
    pub fn covers(&self, source: &str, detail_type: &str) -> bool {
        self.current()
            .get(source)
            .is_some_and(|types| types.contains_key(detail_type))
    }

    /// Compiles and stores a schema, durably, then makes it current. A schema
    /// that does not compile changes nothing.
    pub fn put(&self, key: SchemaKey, text: String) -> Result<(SchemaRecord, Put), RegistryError> {
        key.validate()?;
        let compiled = Arc::new(Compiled::build(&text)?);
        let _writer = self.lock_writer();
        let tree_key = key.tree_key();
        let previous = self
            .tree
            .get(&tree_key)?
            .and_then(|v| codec::decode::<SchemaRecord>(&v).ok());
        if previous.is_none() && self.tree.len() >= MAX_SCHEMAS {
            return Err(RegistryError::Full);
        }
        let now = now_ms();
        let record = SchemaRecord {
            key: key.clone(),
            text,
            created_ms: previous.as_ref().map_or(now, |p| p.created_ms),
            modified_ms: now,
        };
        self.tree.insert(tree_key, codec::encode(&record))?;
        self.store.sync()?;
        let mut map = CompiledMap::clone(&self.current());
        insert(&mut map, &key, compiled);
        self.swap(map);
        self.registered.set(gauge_value(self.tree.len()));
        let put = if previous.is_some() {
            Put::Replaced
        } else {
            Put::Created
        };
        Ok((record, put))
    }

    pub fn get(&self, key: &SchemaKey) -> Result<SchemaRecord, RegistryError> {
        let value = self
            .tree
            .get(key.tree_key())?
            .ok_or_else(|| RegistryError::NotFound(key.clone()))?;
        codec::decode(&value).map_err(|error| {
            tracing::error!(%key, %error, "damaged schema record");
            RegistryError::NotFound(key.clone())
        })
    }

    /// Every stored schema, by source, detail type and version; `source`
    /// narrows the list.
    pub fn list(&self, source: Option<&str>) -> Result<Vec<SchemaRecord>, RegistryError> {
        let prefix = source
            .map(|s| [s.as_bytes(), &[0]].concat())
            .unwrap_or_default();
        let mut records = Vec::new();
        for item in self.tree.scan_prefix(prefix) {
            let (_, value) = item?;
            if let Ok(record) = codec::decode::<SchemaRecord>(&value) {
                records.push(record);
            }
        }
        Ok(records)
    }

    /// Removes a schema, durably; events it covered go unvalidated (or meet
    /// the unversioned schema, if one remains).
    pub fn delete(&self, key: &SchemaKey) -> Result<(), RegistryError> {
        let _writer = self.lock_writer();
        if self.tree.remove(key.tree_key())?.is_none() {
            return Err(RegistryError::NotFound(key.clone()));
        }
        self.store.sync()?;
        let mut map = CompiledMap::clone(&self.current());
        remove(&mut map, key);
        self.swap(map);
        self.registered.set(gauge_value(self.tree.len()));
        Ok(())
    }

    fn current(&self) -> Arc<CompiledMap> {
        self.compiled
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn swap(&self, map: CompiledMap) {
        *self.compiled.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(map);
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn insert(map: &mut CompiledMap, key: &SchemaKey, compiled: Arc<Compiled>) {
    let versions = map
        .entry(key.source.clone())
        .or_default()
        .entry(key.detail_type.clone())
        .or_default();
    match &key.version {
        Some(version) => {
            versions.by_version.insert(version.clone(), compiled);
        }
        None => versions.unversioned = Some(compiled),
    }
}

fn remove(map: &mut CompiledMap, key: &SchemaKey) {
    let Some(types) = map.get_mut(&key.source) else {
        return;
    };
    if let Some(versions) = types.get_mut(&key.detail_type) {
        match &key.version {
            Some(version) => {
                versions.by_version.remove(version);
            }
            None => versions.unversioned = None,
        }
        if versions.unversioned.is_none() && versions.by_version.is_empty() {
            types.remove(&key.detail_type);
        }
    }
    if types.is_empty() {
        map.remove(&key.source);
    }
}
