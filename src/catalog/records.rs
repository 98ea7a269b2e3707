//! What the control plane stores: rules with their targets, connections and API
//! destinations. Plain data; `Catalog` keeps them consistent and durable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::transform::InputSpec;

/// AWS's defaults and bounds for a target's `RetryPolicy`.
pub const DEFAULT_MAX_RETRY_ATTEMPTS: u32 = 185;
pub const MAX_RETRY_ATTEMPTS: u32 = 185;
pub const DEFAULT_MAX_EVENT_AGE_SECS: u32 = 86_400;
pub const MIN_EVENT_AGE_SECS: u32 = 60;
pub const MAX_EVENT_AGE_SECS: u32 = 86_400;
/// AWS's default `InvocationRateLimitPerSecond` of an API destination.
pub const DEFAULT_RATE_LIMIT_PER_SEC: u32 = 300;
/// AWS's limit of targets per rule.
pub const MAX_TARGETS_PER_RULE: usize = 5;
/// The dead-letter queue of a target without a `DeadLetterConfig`.
pub const DEFAULT_QUEUE: &str = "default";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleRecord {
    pub bus: String,
    pub name: String,
    /// The pattern JSON exactly as given (validated when put).
    pub pattern: String,
    pub enabled: bool,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub targets: Vec<TargetRecord>,
}

/// What `PutRule` sets; targets are kept.
#[derive(Clone, Debug)]
pub struct RuleInput {
    pub bus: String,
    pub name: String,
    pub pattern: String,
    pub enabled: bool,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    /// Set on the rule (added to its tags when it exists already).
    pub tags: Vec<super::Tag>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetRecord {
    /// The rule-scoped `Id` the user gave.
    pub id: String,
    /// Server-wide identity of this (rule, target) pair: the prefix of its pending
    /// deliveries. Kept when the target is updated, new when it is re-added.
    pub uid: u64,
    /// An API destination ARN, or a plain `http(s)://` URL.
    pub arn: String,
    pub role_arn: Option<String>,
    pub input: InputSpec,
    pub http: HttpParameters,
    /// `DeadLetterConfig.Arn` as given, if any.
    pub dead_letter_arn: Option<String>,
    /// The local queue that `dead_letter_arn` names, or `default`.
    pub queue: String,
    pub retry: RetryPolicy,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpParameters {
    /// Fill the `*` of the endpoint, in order.
    pub path_values: Vec<String>,
    pub headers: BTreeMap<String, String>,
    pub query: BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub max_age_secs: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: DEFAULT_MAX_RETRY_ATTEMPTS,
            max_age_secs: DEFAULT_MAX_EVENT_AGE_SECS,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    pub name: String,
    /// The last ARN segment, fixed at creation.
    pub uuid: String,
    pub description: Option<String>,
    pub auth: ConnectionAuth,
    /// Parameters added to every invocation; they win over the target's.
    pub invocation: ParameterSet,
    pub state: ConnectionState,
    pub state_reason: Option<String>,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub authorized_ms: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionState {
    Authorized,
    Deauthorized,
}

impl ConnectionState {
    pub fn as_aws(self) -> &'static str {
        match self {
            ConnectionState::Authorized => "AUTHORIZED",
            ConnectionState::Deauthorized => "DEAUTHORIZED",
        }
    }
}

/// A connection's credentials. Secrets are write-only: the API never returns
/// them and `Debug` never prints them.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub enum ConnectionAuth {
    ApiKey {
        name: String,
        value: String,
    },
    Basic {
        username: String,
        password: String,
    },
    OAuth {
        client_id: String,
        client_secret: String,
        endpoint: String,
        method: String,
        parameters: ParameterSet,
    },
}

impl ConnectionAuth {
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectionAuth::ApiKey { .. } => "API_KEY",
            ConnectionAuth::Basic { .. } => "BASIC",
            ConnectionAuth::OAuth { .. } => "OAUTH_CLIENT_CREDENTIALS",
        }
    }

    /// The same credentials with every secret removed (`DeauthorizeConnection`).
    pub fn without_secrets(&self) -> ConnectionAuth {
        match self {
            ConnectionAuth::ApiKey { name, .. } => ConnectionAuth::ApiKey {
                name: name.clone(),
                value: String::new(),
            },
            ConnectionAuth::Basic { username, .. } => ConnectionAuth::Basic {
                username: username.clone(),
                password: String::new(),
            },
            ConnectionAuth::OAuth {
                client_id,
                endpoint,
                method,
                parameters,
                ..
            } => ConnectionAuth::OAuth {
                client_id: client_id.clone(),
                client_secret: String::new(),
                endpoint: endpoint.clone(),
                method: method.clone(),
                parameters: parameters.without_secrets(),
            },
        }
    }
}

impl std::fmt::Debug for ConnectionAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnectionAuth::{}(<redacted>)", self.kind())
    }
}

/// Header, query string and body parameters, each possibly secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ParameterSet {
    pub headers: Vec<Parameter>,
    pub query: Vec<Parameter>,
    pub body: Vec<Parameter>,
}

impl ParameterSet {
    pub fn without_secrets(&self) -> ParameterSet {
        let keep = |ps: &[Parameter]| ps.iter().filter(|p| !p.secret).cloned().collect();
        ParameterSet {
            headers: keep(&self.headers),
            query: keep(&self.query),
            body: keep(&self.body),
        }
    }
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    pub key: String,
    pub value: String,
    pub secret: bool,
}

impl std::fmt::Debug for Parameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = if self.secret {
            "<redacted>"
        } else {
            &self.value
        };
        write!(f, "{}={value}", self.key)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiDestinationRecord {
    pub name: String,
    pub uuid: String,
    pub description: Option<String>,
    /// The connection's name.
    pub connection: String,
    /// An `http(s)://` URL; each `*` is filled by a target's path parameter.
    pub endpoint: String,
    pub method: String,
    pub rate_per_sec: u32,
    pub created_ms: i64,
    pub modified_ms: i64,
}
