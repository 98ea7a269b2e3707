//! Tags of buses, rules, connections and API destinations, kept by the ARN of
//! the resource (as [`Arns::of`] writes it) in the `tags` tree.
//!
//! Invariant: a key exists only while its resource does and has tags. The
//! catalog removes a rule's, connection's or API destination's tags in the same
//! sync as the resource; buses live in `bus.rs`, so their API asks for
//! [`Catalog::forget_tags`] after a delete and replaces the tags on create
//! (which also clears any left by a crash in between). Tag-only changes do not
//! touch routing: they are synced, not compiled into a snapshot. Tag shapes
//! (lengths, reserved prefix) are the API's to check; the count is checked here.

use serde::{Deserialize, Serialize};

use super::{Catalog, CatalogError, Resource, State};
use crate::codec;

/// AWS's limit of tags per resource.
pub const MAX_TAGS_PER_RESOURCE: usize = 50;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A value of the `tags` tree.
#[derive(Serialize, Deserialize)]
pub(super) struct TagRecord {
    pub arn: String,
    /// In the order the keys were first set.
    pub tags: Vec<Tag>,
}

impl Catalog {
    /// The tags of an existing resource. A bus is not checked: buses are not the
    /// catalog's.
    pub fn tags(&self, resource: Resource<'_>) -> Result<Vec<Tag>, CatalogError> {
        let state = self.state();
        exists(&state, resource)?;
        let arn = self.inner.arns.of(resource);
        Ok(state.tags.get(&arn).cloned().unwrap_or_default())
    }

    /// Adds `tags` to an existing resource, replacing the values of keys it has.
    pub fn tag(&self, resource: Resource<'_>, tags: Vec<Tag>) -> Result<(), CatalogError> {
        let mut state = self.state();
        exists(&state, resource)?;
        let arn = self.inner.arns.of(resource);
        let merged = merge(state.tags.get(&arn).cloned().unwrap_or_default(), tags)?;
        self.save_tags(&mut state, arn, merged)?;
        self.inner.store.sync()?;
        Ok(())
    }

    /// Removes the given keys (absent ones are ignored) from an existing resource.
    pub fn untag(&self, resource: Resource<'_>, keys: &[String]) -> Result<(), CatalogError> {
        let mut state = self.state();
        exists(&state, resource)?;
        let arn = self.inner.arns.of(resource);
        let mut tags = state.tags.get(&arn).cloned().unwrap_or_default();
        tags.retain(|t| !keys.contains(&t.key));
        self.save_tags(&mut state, arn, tags)?;
        self.inner.store.sync()?;
        Ok(())
    }

    /// Sets the tags of a bus just created: exactly `tags`.
    pub fn replace_bus_tags(&self, bus: &str, tags: Vec<Tag>) -> Result<(), CatalogError> {
        let tags = merge(Vec::new(), tags)?;
        let mut state = self.state();
        let arn = self.inner.arns.bus(bus);
        self.save_tags(&mut state, arn, tags)?;
        self.inner.store.sync()?;
        Ok(())
    }

    /// Forgets the tags of a deleted bus.
    pub fn forget_bus_tags(&self, bus: &str) -> Result<(), CatalogError> {
        self.replace_bus_tags(bus, Vec::new())
    }

    /// Stores `tags` as the tags of `arn` (none: the key goes), unsynced.
    pub(super) fn save_tags(
        &self,
        state: &mut State,
        arn: String,
        tags: Vec<Tag>,
    ) -> Result<(), CatalogError> {
        if tags.is_empty() {
            if state.tags.remove(&arn).is_some() {
                self.inner.tags_tree.remove(arn.as_bytes())?;
            }
            return Ok(());
        }
        let record = TagRecord {
            arn: arn.clone(),
            tags,
        };
        self.inner
            .tags_tree
            .insert(arn.as_bytes(), codec::encode(&record))?;
        state.tags.insert(arn, record.tags);
        Ok(())
    }

    /// Adds `tags` to a rule's, as PutRule does, without syncing; the caller's
    /// commit covers them.
    pub(super) fn tag_rule_unsynced(
        &self,
        state: &mut State,
        bus: &str,
        name: &str,
        tags: Vec<Tag>,
        fresh: bool,
    ) -> Result<(), CatalogError> {
        let arn = self.inner.arns.rule(bus, name);
        let old = if fresh {
            Vec::new()
        } else {
            state.tags.get(&arn).cloned().unwrap_or_default()
        };
        let merged = merge(old, tags)?;
        self.save_tags(state, arn, merged)
    }
}

/// `old` with `new` set on it (a repeated key: the last value wins); at most
/// [`MAX_TAGS_PER_RESOURCE`] keys.
pub(super) fn merge(mut old: Vec<Tag>, new: Vec<Tag>) -> Result<Vec<Tag>, CatalogError> {
    for tag in new {
        match old.iter_mut().find(|t| t.key == tag.key) {
            Some(existing) => existing.value = tag.value,
            None => old.push(tag),
        }
    }
    if old.len() > MAX_TAGS_PER_RESOURCE {
        return Err(CatalogError::TooManyTags {
            limit: MAX_TAGS_PER_RESOURCE,
        });
    }
    Ok(old)
}

/// `Ok` when `resource` exists (a bus always does, for the catalog).
fn exists(state: &State, resource: Resource<'_>) -> Result<(), CatalogError> {
    let found = match resource {
        Resource::Bus(_) => true,
        Resource::Rule { bus, name } => state.rules.contains_key(&(bus.into(), name.into())),
        Resource::Connection { name, id } => {
            state.connections.get(name).is_some_and(|c| c.uuid == id)
        }
        Resource::ApiDestination { name, id } => {
            state.destinations.get(name).is_some_and(|d| d.uuid == id)
        }
    };
    match (found, resource) {
        (true, _) | (_, Resource::Bus(_)) => Ok(()),
        (false, Resource::Rule { bus, name }) => Err(CatalogError::RuleNotFound {
            bus: bus.into(),
            name: name.into(),
        }),
        (false, Resource::Connection { name, .. }) => {
            Err(CatalogError::ConnectionNotFound { name: name.into() })
        }
        (false, Resource::ApiDestination { name, .. }) => {
            Err(CatalogError::DestinationNotFound { name: name.into() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str, value: &str) -> Tag {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn merging_keeps_first_order_and_lets_the_last_value_win() {
        let merged = merge(
            vec![tag("a", "1"), tag("b", "2")],
            vec![tag("b", "3"), tag("c", "4"), tag("c", "5")],
        )
        .expect("within the limit");
        assert_eq!(merged, vec![tag("a", "1"), tag("b", "3"), tag("c", "5")]);
    }

    #[test]
    fn a_resource_has_at_most_fifty_tags() {
        let fifty: Vec<Tag> = (0..50).map(|i| tag(&format!("k{i}"), "")).collect();
        let full = merge(Vec::new(), fifty).expect("fifty fit");
        assert!(
            merge(full.clone(), vec![tag("k0", "new")]).is_ok(),
            "a replaced key"
        );
        assert!(matches!(
            merge(full, vec![tag("k50", "")]),
            Err(CatalogError::TooManyTags { limit: 50 })
        ));
    }
}
