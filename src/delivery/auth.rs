//! Connection auth on delivery requests: API key header, Basic, and OAuth
//! client-credentials bearer tokens, fetched from the authorization endpoint,
//! cached until shortly before they expire and refreshed when a target
//! answers 401 or 407.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::failure::{Failure, Reason};
use crate::catalog::{ConnectionAuth, ConnectionRecord};

/// A token is used until this long before it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
/// Lifetime assumed when the endpoint sends no `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

#[derive(Clone)]
struct Cached {
    token: Arc<str>,
    valid_until: Instant,
    /// The connection's last change when fetched: new credentials, new token.
    modified_ms: i64,
}

#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, Cached>>,
    /// One fetch per connection at a time; the others wait for its token.
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The last failed fetch per connection: attempts that waited for it get
    /// its failure instead of each trying (and waiting) again.
    failed: Mutex<HashMap<String, (Instant, i64, Failure)>>,
}

/// How long a failed token fetch answers for the attempts that waited on it.
const FAILURE_MEMORY: Duration = Duration::from_secs(1);

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    /// A number, or a numeric string (some providers send `"3599"`).
    expires_in: Option<serde_json::Value>,
}

impl TokenReply {
    fn lifetime(&self) -> Duration {
        let secs = match &self.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        // At most a year: anything longer is a typo, not a reason to overflow.
        secs.map_or(DEFAULT_LIFETIME, |s| {
            Duration::from_secs(s.min(365 * 24 * 3600))
        })
    }
}

impl TokenCache {
    fn cached(&self, connection: &ConnectionRecord) -> Option<Arc<str>> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens
            .get(&connection.name)
            .filter(|c| c.modified_ms == connection.modified_ms && c.valid_until > Instant::now())
            .map(|c| c.token.clone())
    }

    /// A valid bearer token for `connection` (an OAuth one).
    pub async fn token(
        &self,
        client: &reqwest::Client,
        connection: &ConnectionRecord,
        timeout: Duration,
    ) -> Result<Arc<str>, Failure> {
        if let Some(token) = self.cached(connection) {
            return Ok(token);
        }
        let lock = {
            let mut fetching = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
            fetching.entry(connection.name.clone()).or_default().clone()
        };
        let _guard = lock.lock().await;
        if let Some(token) = self.cached(connection) {
            return Ok(token);
        }
        if let Some((at, modified_ms, failure)) = self
            .failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&connection.name)
            && *modified_ms == connection.modified_ms
            && at.elapsed() < FAILURE_MEMORY
        {
            return Err(failure.clone());
        }
        let (token, lifetime) = match fetch(client, connection, timeout).await {
            Ok(fetched) => fetched,
            Err(failure) => {
                self.failed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(
                        connection.name.clone(),
                        (Instant::now(), connection.modified_ms, failure.clone()),
                    );
                return Err(failure);
            }
        };
        let cached = Cached {
            token: token.into(),
            valid_until: Instant::now()
                .checked_add(lifetime.saturating_sub(EXPIRY_MARGIN).max(lifetime / 2))
                .unwrap_or_else(|| Instant::now() + DEFAULT_LIFETIME),
            modified_ms: connection.modified_ms,
        };
        let token = cached.token.clone();
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(connection.name.clone(), cached);
        tracing::debug!(connection = %connection.name, "OAuth token fetched");
        Ok(token)
    }

    /// Forgets `token` if it is still the cached one (a target refused it).
    pub fn invalidate(&self, connection: &str, token: &str) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if tokens.get(connection).is_some_and(|c| &*c.token == token) {
            tokens.remove(connection);
        }
    }
}

async fn fetch(
    client: &reqwest::Client,
    connection: &ConnectionRecord,
    timeout: Duration,
) -> Result<(String, Duration), Failure> {
    let ConnectionAuth::OAuth {
        client_id,
        client_secret,
        endpoint,
        method,
        parameters,
    } = &connection.auth
    else {
        return Err(Failure::config(format!(
            "connection {} does not use OAuth",
            connection.name
        )));
    };
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::POST);
    let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
    form.extend(
        parameters
            .body
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str())),
    );
    let query: Vec<(&str, &str)> = parameters
        .query
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect();
    let mut request = client
        .request(method.clone(), endpoint)
        .timeout(timeout)
        .basic_auth(client_id, Some(client_secret))
        .header("accept", "application/json")
        .query(&query);
    for p in &parameters.headers {
        request = request.header(p.key.as_str(), p.value.as_str());
    }
    request = if method == reqwest::Method::GET {
        request.query(&form)
    } else {
        request.form(&form)
    };
    let failed = |message: String| Failure::new(Reason::OAuthToken, message);
    let response = request.send().await.map_err(|e| {
        failed(format!(
            "fetching an OAuth token for connection {} failed: {}",
            connection.name,
            super::attempt::describe_error(e)
        ))
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(failed(format!(
            "the authorization endpoint of connection {} answered {status}",
            connection.name
        )));
    }
    let reply: TokenReply = response.json().await.map_err(|e| {
        failed(format!(
            "the authorization endpoint of connection {} sent no usable token: {e}",
            connection.name
        ))
    })?;
    let lifetime = reply.lifetime();
    Ok((reply.access_token, lifetime))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifetime(json: &str) -> Duration {
        serde_json::from_str::<TokenReply>(json)
            .expect("a token reply")
            .lifetime()
    }

    #[test]
    fn expires_in_may_be_a_number_or_a_string_and_never_overflows() {
        assert_eq!(
            lifetime(r#"{"access_token":"t","expires_in":60}"#),
            Duration::from_secs(60)
        );
        assert_eq!(
            lifetime(r#"{"access_token":"t","expires_in":"3599"}"#),
            Duration::from_secs(3599)
        );
        assert_eq!(lifetime(r#"{"access_token":"t"}"#), DEFAULT_LIFETIME);
        assert_eq!(
            lifetime(r#"{"access_token":"t","expires_in":"soon"}"#),
            DEFAULT_LIFETIME
        );
        assert_eq!(
            lifetime(r#"{"access_token":"t","expires_in":18446744073709551615}"#),
            Duration::from_secs(365 * 24 * 3600)
        );
    }
}
