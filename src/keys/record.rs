//! What is stored of a publisher key, and the view of it that callers get.
//!
//! | tree             | key             | value                       |
//! |------------------|-----------------|-----------------------------|
//! | `publisher_keys` | key id (16 hex) | framed `KeyRecord` (codec v1) |
//!
//! Only hashes of tokens are stored; a token is shown once, when made.

use serde::{Deserialize, Serialize};

use super::grant::GrantText;
use super::token::TokenHash;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    /// SHA-256 of the current token.
    pub hash: TokenHash,
    /// The token before the last rotation, valid until its grace ends.
    pub previous: Option<PreviousToken>,
    /// Canonical text of the grant (validated when written).
    pub grant: GrantText,
    pub created_ms: i64,
    pub rotated_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousToken {
    pub hash: TokenHash,
    pub valid_until_ms: i64,
}

/// A key as listed and described: never a token or a hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub sources: Vec<String>,
    pub detail_types: Vec<String>,
    pub rate: Option<String>,
    pub quota: Option<String>,
    pub networks: Vec<String>,
    pub created: String,
    pub rotated: Option<String>,
    /// When the token replaced by the last rotation stops being accepted.
    pub previous_valid_until: Option<String>,
    pub revoked: Option<String>,
    pub state: String,
    pub usage: UsageView,
}

/// Counters since the server started, and today's quota use.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageView {
    pub published: u64,
    pub refused: u64,
    pub published_today: u64,
    pub last_used: Option<String>,
}

pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}
