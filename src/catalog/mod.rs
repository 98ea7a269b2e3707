//! The control plane's state: rules and their targets per bus, connections and
//! API destinations, persisted in sled and compiled into an immutable
//! [`Snapshot`] that the router and the delivery workers read.
//!
//! Every change is written and synced before it is answered, then a new
//! snapshot is built and published on a `watch` channel: readers never lock,
//! they hold an `Arc<Snapshot>` for as long as they work with it. Changes are
//! serialised by one mutex; they are rare next to events.

mod arns;
mod endpoints;
mod error;
mod records;
mod signing;
mod snapshot;
mod tags;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

pub use arns::{ArnError, Arns, Resource};
pub use error::CatalogError;
pub use records::*;
pub use signing::{SigningKeys, SigningRecord};
pub use snapshot::{BusRoutes, RuleRoute, Snapshot, TargetRoute};
pub use tags::{MAX_TAGS_PER_RESOURCE, Tag};

use crate::codec;
use crate::config::AwsConfig;
use crate::event::now_ms;
use crate::pattern::{Limits, Pattern};
use crate::secrets::SecretBox;
use crate::store::{Store, StoreError, tree};

/// While it lives, the catalog does not change (`Catalog::hold_changes`).
pub struct CatalogChangesHeld<'a> {
    _held: std::sync::MutexGuard<'a, State>,
}

/// Handle on the control plane; clone it freely.
#[derive(Clone)]
pub struct Catalog {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    rules_tree: sled::Tree,
    connections_tree: sled::Tree,
    destinations_tree: sled::Tree,
    tags_tree: sled::Tree,
    signing_tree: sled::Tree,
    /// Seals the records that hold secrets (connections, signing secrets).
    secrets: SecretBox,
    state: Mutex<State>,
    published: watch::Sender<Arc<Snapshot>>,
    limits: Limits,
    arns: Arns,
    /// Records that could not be read at startup.
    damaged: usize,
}

#[derive(Clone, Default)]
struct State {
    /// (bus, rule name) → rule.
    rules: BTreeMap<(String, String), RuleRecord>,
    connections: BTreeMap<String, ConnectionRecord>,
    destinations: BTreeMap<String, ApiDestinationRecord>,
    /// resource ARN → its tags (never empty).
    tags: BTreeMap<String, Vec<Tag>>,
    /// subject (API destination name or target URL) → signing secrets.
    signing: BTreeMap<String, SigningRecord>,
}

fn rule_key(bus: &str, name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(bus.len() + 1 + name.len());
    key.extend_from_slice(bus.as_bytes());
    key.push(0);
    key.extend_from_slice(name.as_bytes());
    key
}

/// The records of `tree`; damaged ones are logged, skipped and counted in
/// `damaged`.
fn load<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    what: &str,
    damaged: &mut usize,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    for item in tree.iter() {
        let (key, value) = item?;
        match codec::decode::<T>(&value) {
            Ok(record) => out.push(record),
            Err(error) => {
                *damaged += 1;
                tracing::error!(
                    what,
                    key = %String::from_utf8_lossy(&key),
                    %error,
                    "damaged control-plane record skipped"
                )
            }
        }
    }
    Ok(out)
}

/// The records of a tree whose values are sealed; plaintext records written
/// before sealing still load and their keys are returned to be rewritten
/// sealed. Damaged or unopenable records are logged (by key), skipped and
/// counted in `damaged`.
fn load_sealed<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    name: &str,
    secrets: &SecretBox,
    damaged: &mut usize,
) -> Result<(Vec<T>, Vec<sled::IVec>), StoreError> {
    let mut out = Vec::new();
    let mut plaintext = Vec::new();
    for item in tree.iter() {
        let (key, value) = item?;
        let decoded = if SecretBox::is_sealed(&value) {
            secrets
                .open(name, &key, &value)
                .map_err(|e| e.to_string())
                .and_then(|frame| codec::decode::<T>(&frame).map_err(|e| e.to_string()))
        } else {
            plaintext.push(key.clone());
            codec::decode::<T>(&value).map_err(|e| e.to_string())
        };
        match decoded {
            Ok(record) => out.push(record),
            Err(error) => {
                *damaged += 1;
                tracing::error!(
                    what = name,
                    key = %String::from_utf8_lossy(&key),
                    %error,
                    "damaged or unopenable control-plane record skipped"
                )
            }
        }
    }
    Ok((out, plaintext))
}

impl Catalog {
    /// Opens the catalog; `secrets` seals the records holding secrets, and
    /// plaintext ones from before sealing are rewritten sealed here.
    pub fn open(
        store: Arc<Store>,
        aws: &AwsConfig,
        limits: Limits,
        secrets: SecretBox,
    ) -> Result<Catalog, StoreError> {
        let rules_tree = store.tree(tree::RULES)?;
        let connections_tree = store.tree(tree::CONNECTIONS)?;
        let destinations_tree = store.tree(tree::API_DESTINATIONS)?;
        let tags_tree = store.tree(tree::TAGS)?;
        let signing_tree = store.tree(tree::SIGNING)?;
        let mut state = State::default();
        let mut damaged = 0;
        for rule in load::<RuleRecord>(&rules_tree, "rule", &mut damaged)? {
            state
                .rules
                .insert((rule.bus.clone(), rule.name.clone()), rule);
        }
        let (connections, plaintext) = load_sealed::<ConnectionRecord>(
            &connections_tree,
            tree::CONNECTIONS,
            &secrets,
            &mut damaged,
        )?;
        for c in connections {
            state.connections.insert(c.name.clone(), c);
        }
        // Migration: connections stored before sealing are rewritten sealed.
        for key in &plaintext {
            let name = String::from_utf8_lossy(key);
            if let Some(record) = state.connections.get(name.as_ref()) {
                let frame = codec::encode(record);
                connections_tree.insert(key, secrets.seal(tree::CONNECTIONS, key, &frame))?;
            }
        }
        if !plaintext.is_empty() {
            store.sync()?;
            tracing::info!(
                connections = plaintext.len(),
                "plaintext connection records sealed at rest"
            );
        }
        let (signings, _) =
            load_sealed::<SigningRecord>(&signing_tree, tree::SIGNING, &secrets, &mut damaged)?;
        for r in signings {
            state.signing.insert(r.subject.clone(), r);
        }
        for d in load::<ApiDestinationRecord>(&destinations_tree, "api destination", &mut damaged)?
        {
            state.destinations.insert(d.name.clone(), d);
        }
        for t in load::<tags::TagRecord>(&tags_tree, "tags", &mut damaged)? {
            state.tags.insert(t.arn, t.tags);
        }
        let arns = Arns::new(aws);
        let mut snapshot = Snapshot::compile(
            &state.rules,
            &state.connections,
            &state.destinations,
            &arns,
            &limits,
        );
        snapshot.signing = signing::compile(&state.signing);
        let (published, _) = watch::channel(Arc::new(snapshot));
        Ok(Catalog {
            inner: Arc::new(Inner {
                store,
                rules_tree,
                connections_tree,
                destinations_tree,
                tags_tree,
                signing_tree,
                secrets,
                state: Mutex::new(state),
                published,
                limits,
                arns,
                damaged,
            }),
        })
    }

    /// Whether some stored control-plane record could not be read at startup:
    /// then targets missing from the snapshot may still exist on disk.
    pub fn has_damaged_records(&self) -> bool {
        self.inner.damaged > 0
    }

    pub fn arns(&self) -> &Arns {
        &self.inner.arns
    }

    /// The current compiled state.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.published.borrow().clone()
    }

    /// Notified with every new snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.inner.published.subscribe()
    }

    /// Holds every change (and read) of the catalog off until dropped (a
    /// backup copying the catalog's trees as one state). Hold it briefly and
    /// never across an await.
    pub fn hold_changes(&self) -> CatalogChangesHeld<'_> {
        CatalogChangesHeld {
            _held: self.state(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Syncs the store and publishes a snapshot of `state`.
    fn commit(&self, state: &State) -> Result<(), CatalogError> {
        self.inner.store.sync()?;
        let mut snapshot = Snapshot::compile(
            &state.rules,
            &state.connections,
            &state.destinations,
            &self.inner.arns,
            &self.inner.limits,
        );
        snapshot.signing = signing::compile(&state.signing);
        self.inner.published.send_replace(Arc::new(snapshot));
        Ok(())
    }

    /// `record` framed and sealed for `key` of `tree`.
    fn seal<T: serde::Serialize>(&self, tree: &str, key: &[u8], record: &T) -> Vec<u8> {
        self.inner.secrets.seal(tree, key, &codec::encode(record))
    }

    // ---- rules ----

    pub fn rule(&self, bus: &str, name: &str) -> Option<RuleRecord> {
        self.state()
            .rules
            .get(&(bus.to_owned(), name.to_owned()))
            .cloned()
    }

    /// The rules of `bus` in name order whose name starts with `prefix`.
    pub fn rules(&self, bus: &str, prefix: Option<&str>) -> Vec<RuleRecord> {
        self.state()
            .rules
            .range((bus.to_owned(), String::new())..)
            .take_while(|((b, _), _)| b == bus)
            .map(|(_, r)| r)
            .filter(|r| prefix.is_none_or(|p| r.name.starts_with(p)))
            .cloned()
            .collect()
    }

    /// Whether `bus` has a rule.
    pub fn has_rules(&self, bus: &str) -> bool {
        self.state()
            .rules
            .range((bus.to_owned(), String::new())..)
            .next()
            .is_some_and(|((b, _), _)| b == bus)
    }

    /// Creates or updates a rule (its targets are kept); returns it.
    pub fn put_rule(&self, input: RuleInput) -> Result<RuleRecord, CatalogError> {
        Pattern::parse(&input.pattern, &self.inner.limits)?;
        let mut state = self.state();
        let now = now_ms();
        let key = (input.bus.clone(), input.name.clone());
        let fresh = !state.rules.contains_key(&key);
        // Checked before anything is written: a 51st tag refuses the whole PutRule.
        self.tag_rule_unsynced(&mut state, &input.bus, &input.name, input.tags, fresh)?;
        let record = match state.rules.get(&key) {
            Some(old) => RuleRecord {
                pattern: input.pattern,
                enabled: input.enabled,
                description: input.description,
                role_arn: input.role_arn,
                modified_ms: now,
                ..old.clone()
            },
            None => RuleRecord {
                bus: input.bus,
                name: input.name,
                pattern: input.pattern,
                enabled: input.enabled,
                description: input.description,
                role_arn: input.role_arn,
                created_ms: now,
                modified_ms: now,
                targets: Vec::new(),
            },
        };
        self.save_rule(&mut state, record.clone())?;
        Ok(record)
    }

    fn save_rule(&self, state: &mut State, record: RuleRecord) -> Result<(), CatalogError> {
        self.inner
            .rules_tree
            .insert(rule_key(&record.bus, &record.name), codec::encode(&record))?;
        state
            .rules
            .insert((record.bus.clone(), record.name.clone()), record);
        self.commit(state)
    }

    fn with_rule<T>(
        &self,
        bus: &str,
        name: &str,
        change: impl FnOnce(&mut RuleRecord) -> Result<T, CatalogError>,
    ) -> Result<T, CatalogError> {
        let mut state = self.state();
        let mut record = state
            .rules
            .get(&(bus.to_owned(), name.to_owned()))
            .cloned()
            .ok_or_else(|| CatalogError::RuleNotFound {
                bus: bus.into(),
                name: name.into(),
            })?;
        let out = change(&mut record)?;
        record.modified_ms = now_ms();
        self.save_rule(&mut state, record)?;
        Ok(out)
    }

    pub fn set_rule_enabled(
        &self,
        bus: &str,
        name: &str,
        enabled: bool,
    ) -> Result<(), CatalogError> {
        self.with_rule(bus, name, |rule| {
            rule.enabled = enabled;
            Ok(())
        })
    }

    /// Deletes a rule; refused while it has targets (AWS's `Force` only concerns
    /// rules managed by AWS services, and Stowage has none).
    pub fn delete_rule(&self, bus: &str, name: &str) -> Result<(), CatalogError> {
        let mut state = self.state();
        let key = (bus.to_owned(), name.to_owned());
        match state.rules.get(&key) {
            // AWS answers DeleteRule for a missing rule with success.
            None => return Ok(()),
            Some(rule) if !rule.targets.is_empty() => {
                return Err(CatalogError::RuleHasTargets {
                    bus: bus.into(),
                    name: name.into(),
                });
            }
            Some(_) => {}
        }
        self.inner.rules_tree.remove(rule_key(bus, name))?;
        state.rules.remove(&key);
        let arn = self.inner.arns.rule(bus, name);
        self.save_tags(&mut state, arn, Vec::new())?;
        self.commit(&state)
    }

    /// Adds or replaces targets by `Id`. All or nothing: the rule may not end up
    /// with more than five targets.
    pub fn put_targets(
        &self,
        bus: &str,
        rule: &str,
        targets: Vec<TargetRecord>,
    ) -> Result<(), CatalogError> {
        self.with_rule(bus, rule, |record| {
            for mut target in targets {
                match record.targets.iter_mut().find(|t| t.id == target.id) {
                    Some(existing) => {
                        target.uid = existing.uid;
                        *existing = target;
                    }
                    None => {
                        target.uid = new_uid();
                        record.targets.push(target);
                    }
                }
            }
            if record.targets.len() > MAX_TARGETS_PER_RULE {
                return Err(CatalogError::TooManyTargets {
                    bus: bus.into(),
                    name: rule.into(),
                    limit: MAX_TARGETS_PER_RULE,
                });
            }
            Ok(())
        })
    }

    /// Removes targets by `Id`; returns the ids that were not there.
    pub fn remove_targets(
        &self,
        bus: &str,
        rule: &str,
        ids: &[String],
    ) -> Result<Vec<String>, CatalogError> {
        self.with_rule(bus, rule, |record| {
            let missing = ids
                .iter()
                .filter(|id| !record.targets.iter().any(|t| &&t.id == id))
                .cloned()
                .collect();
            record.targets.retain(|t| !ids.contains(&t.id));
            Ok(missing)
        })
    }
}

/// A random non-zero id for a new (rule, target) pair.
fn new_uid() -> u64 {
    let (high, _) = uuid::Uuid::new_v4().as_u64_pair();
    // Below u64::MAX so that a target's key range has an end.
    (high >> 1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::transform::InputSpec;

    fn target(id: &str) -> TargetRecord {
        TargetRecord {
            id: id.into(),
            uid: 0,
            arn: format!("http://127.0.0.1:9/{id}"),
            role_arn: None,
            input: InputSpec::Event,
            http: HttpParameters::default(),
            dead_letter_arn: None,
            queue: DEFAULT_QUEUE.into(),
            retry: RetryPolicy::default(),
        }
    }

    #[test]
    fn targets_keep_their_uid_and_only_enabled_matching_rules_route() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config::for_test(dir.path());
        let store = Arc::new(Store::open(&config.storage).expect("store"));
        let catalog = Catalog::open(
            store.clone(),
            &config.aws,
            Limits::default(),
            SecretBox::for_test(),
        )
        .expect("catalog");
        let rule = |name: &str, source: &str| RuleInput {
            bus: "default".into(),
            name: name.into(),
            pattern: format!(r#"{{"source":["{source}"]}}"#),
            enabled: true,
            description: None,
            role_arn: None,
            tags: Vec::new(),
        };
        catalog.put_rule(rule("a", "x")).expect("put rule");
        catalog.put_rule(rule("b", "y")).expect("put rule");
        catalog
            .put_targets("default", "a", vec![target("t1"), target("t2")])
            .expect("targets");
        catalog
            .put_targets("default", "b", vec![target("t1")])
            .expect("targets");
        let uids = |name: &str| -> Vec<u64> {
            catalog
                .rule("default", name)
                .expect("rule")
                .targets
                .iter()
                .map(|t| t.uid)
                .collect()
        };
        let a = uids("a");
        assert!(a.iter().all(|&u| u != 0) && a[0] != a[1] && a[0] != uids("b")[0]);

        // Updating a target keeps its uid; a sixth target is refused whole.
        let mut changed = target("t1");
        changed.arn = "http://127.0.0.1:9/new".into();
        catalog
            .put_targets("default", "a", vec![changed])
            .expect("update");
        assert_eq!(uids("a"), a);
        let six = (0..4).map(|i| target(&format!("n{i}"))).collect();
        assert!(matches!(
            catalog.put_targets("default", "a", six),
            Err(CatalogError::TooManyTargets { .. })
        ));
        assert_eq!(uids("a"), a);

        let event = br#"{"source":"x","detail":{}}"#;
        assert_eq!(
            catalog.snapshot().route("default", event).expect("route"),
            a
        );
        catalog
            .set_rule_enabled("default", "a", false)
            .expect("disable");
        assert!(
            catalog
                .snapshot()
                .route("default", event)
                .expect("route")
                .is_empty()
        );
        assert_eq!(
            catalog.snapshot().targets.len(),
            3,
            "disabled rules keep their targets"
        );
        assert!(matches!(
            catalog.delete_rule("default", "a"),
            Err(CatalogError::RuleHasTargets { .. })
        ));

        // Everything comes back from disk.
        drop(catalog);
        let reopened = Catalog::open(store, &config.aws, Limits::default(), SecretBox::for_test())
            .expect("reopen");
        assert_eq!(
            reopened.rule("default", "a").expect("rule").targets.len(),
            2
        );
        assert!(!reopened.rule("default", "a").expect("rule").enabled);
    }
}
