//! Why the catalog refused or failed a change. Each variant names the resource
//! it concerns; the Display is for logs. How a refusal reads to a client (its
//! wording, its status) is the API's to decide, not the catalog's.

use crate::pattern::PatternError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("rule {name} does not exist on bus {bus}")]
    RuleNotFound { bus: String, name: String },
    #[error("rule {name} on bus {bus} still has targets")]
    RuleHasTargets { bus: String, name: String },
    #[error("rule {name} on bus {bus} would have more than {limit} targets")]
    TooManyTargets {
        bus: String,
        name: String,
        limit: usize,
    },
    #[error("connection {name} does not exist")]
    ConnectionNotFound { name: String },
    #[error("connection {name} already exists")]
    ConnectionExists { name: String },
    #[error("connection {name} is used by API destination {destination}")]
    ConnectionInUse { name: String, destination: String },
    #[error("API destination {name} does not exist")]
    DestinationNotFound { name: String },
    #[error("API destination {name} already exists")]
    DestinationExists { name: String },
    #[error("no signing secret is set for {subject}")]
    SigningNotFound { subject: String },
    #[error("a resource would have more than {limit} tags")]
    TooManyTags { limit: usize },
    #[error("the rule's event pattern is not valid")]
    InvalidPattern(#[from] PatternError),
    #[error("storing the control plane failed")]
    Storage(#[from] StoreError),
}

impl From<sled::Error> for CatalogError {
    fn from(e: sled::Error) -> Self {
        CatalogError::Storage(StoreError::Sled(e))
    }
}
