//! Connections and API destinations: where and how targets send.

use super::{ApiDestinationRecord, Catalog, CatalogError, ConnectionRecord, State};
use crate::codec;
use crate::event::now_ms;
use crate::store::tree;

impl Catalog {
    // ---- connections ----

    pub fn connection(&self, name: &str) -> Option<ConnectionRecord> {
        self.state().connections.get(name).cloned()
    }

    pub fn connections(&self) -> Vec<ConnectionRecord> {
        self.state().connections.values().cloned().collect()
    }

    pub fn create_connection(
        &self,
        record: ConnectionRecord,
    ) -> Result<ConnectionRecord, CatalogError> {
        let mut state = self.state();
        if state.connections.contains_key(&record.name) {
            return Err(CatalogError::ConnectionExists { name: record.name });
        }
        self.save_connection(&mut state, record.clone())?;
        Ok(record)
    }

    /// Changes a connection in place; returns it as saved.
    pub fn update_connection(
        &self,
        name: &str,
        change: impl FnOnce(&mut ConnectionRecord) -> Result<(), CatalogError>,
    ) -> Result<ConnectionRecord, CatalogError> {
        let mut state = self.state();
        let mut record = state
            .connections
            .get(name)
            .cloned()
            .ok_or_else(|| CatalogError::ConnectionNotFound { name: name.into() })?;
        change(&mut record)?;
        record.modified_ms = now_ms();
        self.save_connection(&mut state, record.clone())?;
        Ok(record)
    }

    fn save_connection(
        &self,
        state: &mut State,
        record: ConnectionRecord,
    ) -> Result<(), CatalogError> {
        self.inner.connections_tree.insert(
            record.name.as_bytes(),
            self.seal(tree::CONNECTIONS, record.name.as_bytes(), &record),
        )?;
        state.connections.insert(record.name.clone(), record);
        self.commit(state)
    }

    /// Deletes a connection; refused while an API destination uses it.
    pub fn delete_connection(&self, name: &str) -> Result<ConnectionRecord, CatalogError> {
        let mut state = self.state();
        let record = state
            .connections
            .get(name)
            .cloned()
            .ok_or_else(|| CatalogError::ConnectionNotFound { name: name.into() })?;
        if let Some(d) = state.destinations.values().find(|d| d.connection == name) {
            return Err(CatalogError::ConnectionInUse {
                name: name.into(),
                destination: d.name.clone(),
            });
        }
        self.inner.connections_tree.remove(name.as_bytes())?;
        state.connections.remove(name);
        let arn = self.inner.arns.connection(&record);
        self.save_tags(&mut state, arn, Vec::new())?;
        self.commit(&state)?;
        Ok(record)
    }

    // ---- API destinations ----

    pub fn api_destination(&self, name: &str) -> Option<ApiDestinationRecord> {
        self.state().destinations.get(name).cloned()
    }

    pub fn api_destinations(&self) -> Vec<ApiDestinationRecord> {
        self.state().destinations.values().cloned().collect()
    }

    pub fn create_api_destination(
        &self,
        record: ApiDestinationRecord,
    ) -> Result<ApiDestinationRecord, CatalogError> {
        let mut state = self.state();
        if state.destinations.contains_key(&record.name) {
            return Err(CatalogError::DestinationExists { name: record.name });
        }
        if !state.connections.contains_key(&record.connection) {
            return Err(CatalogError::ConnectionNotFound {
                name: record.connection,
            });
        }
        self.save_destination(&mut state, record.clone())?;
        Ok(record)
    }

    pub fn update_api_destination(
        &self,
        name: &str,
        change: impl FnOnce(&mut ApiDestinationRecord) -> Result<(), CatalogError>,
    ) -> Result<ApiDestinationRecord, CatalogError> {
        let mut state = self.state();
        let mut record = state
            .destinations
            .get(name)
            .cloned()
            .ok_or_else(|| CatalogError::DestinationNotFound { name: name.into() })?;
        change(&mut record)?;
        if !state.connections.contains_key(&record.connection) {
            return Err(CatalogError::ConnectionNotFound {
                name: record.connection,
            });
        }
        record.modified_ms = now_ms();
        self.save_destination(&mut state, record.clone())?;
        Ok(record)
    }

    fn save_destination(
        &self,
        state: &mut State,
        record: ApiDestinationRecord,
    ) -> Result<(), CatalogError> {
        self.inner
            .destinations_tree
            .insert(record.name.as_bytes(), codec::encode(&record))?;
        state.destinations.insert(record.name.clone(), record);
        self.commit(state)
    }

    pub fn delete_api_destination(&self, name: &str) -> Result<ApiDestinationRecord, CatalogError> {
        let mut state = self.state();
        let record = state
            .destinations
            .remove(name)
            .ok_or_else(|| CatalogError::DestinationNotFound { name: name.into() })?;
        self.inner.destinations_tree.remove(name.as_bytes())?;
        let arn = self.inner.arns.api_destination(&record);
        self.save_tags(&mut state, arn, Vec::new())?;
        self.commit(&state)?;
        Ok(record)
    }
}
