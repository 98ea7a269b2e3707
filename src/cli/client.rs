//! The client side of a running server, for every client command (`put`,
//! `dlq`, `status`): JSON in and out over the native API (`/events`, `/v1/…`)
//! and the AWS API (`POST /` with `X-Amz-Target`), and a `RequestError` that
//! keeps apart "the server said no" (its `{"error":{"code","message"}}` or
//! AWS's `{"__type","message"}`) from "there was no usable answer".
//!
//! Every request goes through [`Client::execute`], so a transport failure is
//! always a `RequestError` whose sources are reqwest's own chain, down to the
//! operating system's reason (`Connection refused`); printed with `{:#}` (as
//! `Cli::run` does) the whole chain shows. It does not print and does not
//! decide exit codes; the commands do.

use std::future::Future;
use std::time::Duration;

use crate::auth::sigv4::{self, Scope, Signable};

use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// How long to wait for a connection before calling the server unreachable.
/// There is no overall timeout: a redrive of a large queue may take a while.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Most characters of an unexpected response body quoted in an error.
const QUOTED_BODY_CHARS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("cannot reach {endpoint}")]
    Unreachable {
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with its JSON error.
    #[error("{code}: {message} ({status})")]
    Server {
        status: StatusCode,
        code: String,
        message: String,
    },
    /// The AWS API answered with its JSON error (`__type` is the kind).
    #[error("{kind}: {message} ({status})")]
    Aws {
        status: StatusCode,
        kind: String,
        message: String,
    },
    /// A failure status without Stowage's error body (a proxy, another server).
    #[error("{url} answered {status}: {body}")]
    Status {
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("the response from {url} was cut short")]
    Truncated {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("unreadable response from {url} ({status})")]
    Unreadable {
        url: String,
        status: StatusCode,
        #[source]
        source: serde_json::Error,
    },
}

impl RequestError {
    /// The server's error code, when it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            RequestError::Server { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// `{"error":{"code","message"}}`, as `api::error` sends it.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// `{"__type","message"}`, as `api::aws` sends it.
#[derive(Deserialize)]
struct AwsErrorBody {
    #[serde(rename = "__type")]
    kind: String,
    #[serde(default)]
    message: String,
}

pub struct Client {
    http: reqwest::Client,
    /// Without a trailing slash.
    endpoint: String,
    /// Every request is signed with these when present.
    signer: Option<Signer>,
}

/// An operator's credentials, to sign with SigV4 (service `events`).
struct Signer {
    access_key_id: String,
    secret_access_key: String,
    region: String,
}

impl Client {
    /// A client for `endpoint`, signing when `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` are set (`AWS_REGION`, default us-east-1).
    /// Commands use `for_args`; this stays for commands on other branches
    /// that still call it, so that they sign too once merged.
    #[allow(dead_code)]
    pub fn new(endpoint: &str) -> anyhow::Result<Client> {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let signer = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key_id), Some(secret_access_key)) => Some(Signer {
                access_key_id,
                secret_access_key,
                region: var("AWS_REGION").unwrap_or_else(|| "us-east-1".to_owned()),
            }),
            _ => None,
        };
        Client::build(endpoint, signer)
    }

    /// A client for the command's `--endpoint`, signing with its credentials
    /// when both are given.
    pub fn for_args(args: &super::ClientArgs) -> anyhow::Result<Client> {
        let signer = match (&args.access_key_id, &args.secret_access_key) {
            (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Some(Signer {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                region: args.region.clone(),
            }),
            (Some(_), None) => anyhow::bail!(
                "--access-key-id needs --secret-access-key (or AWS_SECRET_ACCESS_KEY) too"
            ),
            (None, Some(_)) => anyhow::bail!(
                "--secret-access-key needs --access-key-id (or AWS_ACCESS_KEY_ID) too"
            ),
            _ => None,
        };
        Client::build(&args.endpoint, signer)
    }

    fn build(endpoint: &str, signer: Option<Signer>) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("stowage-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client {
            http,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            signer,
        })
    }

    /// Builds, signs when credentials are configured, and sends.
    async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Result<reqwest::Response> {
        let mut request = request.build()?;
        if let Some(signer) = &self.signer {
            signer.sign(&mut request, chrono::Utc::now());
        }
        self.http.execute(request).await
    }

    /// `GET path?query`, decoded as `T` (`Box<RawValue>` keeps the text as sent).
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, RequestError> {
        let url = self.url(path);
        let request = self.http.get(&url).query(query);
        let (status, body) = self.execute(&url, request).await?;
        decode(&url, status, &body)
    }

    /// `POST path` with a JSON body, the answer decoded as `T`.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, RequestError> {
        let url = self.url(path);
        let request = self.http.post(&url).json(body);
        let (status, body) = self.execute(&url, request).await?;
        decode(&url, status, &body)
    }

    /// `POST path` with JSON text sent as given (a line of `put --file`), the
    /// answer decoded as `T`.
    pub async fn post_text<T: DeserializeOwned>(
        &self,
        path: &str,
        body: String,
    ) -> Result<T, RequestError> {
        let url = self.url(path);
        let request = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        let (status, body) = self.execute(&url, request).await?;
        decode(&url, status, &body)
    }

    /// The AWS operation `operation` (`PutEvents`) with its JSON request, the
    /// answer decoded as `T`.
    pub async fn aws<T: DeserializeOwned>(
        &self,
        operation: &str,
        body: &serde_json::Value,
    ) -> Result<T, RequestError> {
        let url = self.url("/");
        let request = self
            .http
            .post(&url)
            .header("x-amz-target", format!("AWSEvents.{operation}"))
            .header(reqwest::header::CONTENT_TYPE, "application/x-amz-json-1.1")
            .body(body.to_string());
        let (status, body) = self.execute(&url, request).await?;
        decode(&url, status, &body)
    }

    /// Every page of the AWS list operation `operation` for `request`: the
    /// items under `items` (`Archives`, `Replays`) of each page, in order,
    /// following `NextToken` until a page has none.
    pub async fn aws_all(
        &self,
        operation: &str,
        mut request: serde_json::Value,
        items: &str,
    ) -> Result<Vec<serde_json::Value>, RequestError> {
        let mut all = Vec::new();
        loop {
            let page: serde_json::Value = self.aws(operation, &request).await?;
            if let Some(found) = page[items].as_array() {
                all.extend(found.iter().cloned());
            }
            match page["NextToken"].as_str() {
                Some(token) => request["NextToken"] = serde_json::json!(token),
                None => return Ok(all),
            }
        }
    }

    /// `PUT path` with JSON text sent as given, the answer decoded as `T`.
    pub async fn put_text<T: DeserializeOwned>(
        &self,
        path: &str,
        body: String,
    ) -> Result<T, RequestError> {
        let url = self.url(path);
        let request = self
            .http
            .put(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        let (status, body) = self.execute(&url, request).await?;
        decode(&url, status, &body)
    }

    /// `DELETE path`; any success status will do, its body is ignored.
    pub async fn delete(&self, path: &str) -> Result<(), RequestError> {
        let url = self.url(path);
        let request = self.http.delete(&url);
        self.execute(&url, request).await.map(|_| ())
    }

    /// `POST path` with no body, for a long binary answer read piece by piece
    /// (`Response::chunk`); a refusal is decoded as every other request's.
    pub async fn post_streamed(&self, path: &str) -> Result<reqwest::Response, RequestError> {
        let url = self.url(path);
        let response =
            self.send(self.http.post(&url))
                .await
                .map_err(|source| RequestError::Unreachable {
                    endpoint: self.endpoint.clone(),
                    source,
                })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response
            .bytes()
            .await
            .map_err(|source| RequestError::Truncated {
                url: url.clone(),
                source,
            })?;
        Err(refusal(&url, status, &body))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint)
    }

    /// Sends the request; a success status with its body, or the error.
    async fn execute(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, bytes::Bytes), RequestError> {
        let response = self
            .send(request)
            .await
            .map_err(|source| RequestError::Unreachable {
                endpoint: self.endpoint.clone(),
                source,
            })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|source| RequestError::Truncated {
                url: url.to_owned(),
                source,
            })?;
        if status.is_success() {
            return Ok((status, body));
        }
        Err(refusal(url, status, &body))
    }
}

impl Signer {
    /// Adds `host`, `x-amz-date` and `authorization`: every header the
    /// request has is signed, with the body's hash.
    fn sign(&self, request: &mut reqwest::Request, now: chrono::DateTime<chrono::Utc>) {
        let url = request.url().clone();
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => String::new(),
        };
        let amz_date = sigv4::format_amz_date(now);
        let headers = request.headers_mut();
        for (name, value) in [("host", host), ("x-amz-date", amz_date.clone())] {
            if let Ok(value) = reqwest::header::HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        let body = request
            .body()
            .and_then(reqwest::Body::as_bytes)
            .unwrap_or_default();
        let payload_hash = sigv4::sha256_hex(body);
        let date = &amz_date[..8];
        let authorization = sigv4::authorization(
            &Signable {
                method: request.method().as_str(),
                path: url.path(),
                query: url.query().unwrap_or(""),
                headers: request.headers(),
                payload_hash: &payload_hash,
            },
            &amz_date,
            &Scope {
                date,
                region: &self.region,
                service: "events",
            },
            &self.access_key_id,
            &self.secret_access_key,
        );
        if let Ok(value) = reqwest::header::HeaderValue::from_str(&authorization) {
            request
                .headers_mut()
                .insert(reqwest::header::AUTHORIZATION, value);
        }
    }
}

/// The error a failure status and its body stand for.
fn refusal(url: &str, status: StatusCode, body: &[u8]) -> RequestError {
    if let Ok(ErrorBody { error }) = serde_json::from_slice(body) {
        return RequestError::Server {
            status,
            code: error.code,
            message: error.message,
        };
    }
    match serde_json::from_slice::<AwsErrorBody>(body) {
        Ok(AwsErrorBody { kind, message }) => RequestError::Aws {
            status,
            kind,
            message,
        },
        Err(_) => RequestError::Status {
            url: url.to_owned(),
            status,
            body: String::from_utf8_lossy(body)
                .chars()
                .take(QUOTED_BODY_CHARS)
                .collect(),
        },
    }
}

fn decode<T: DeserializeOwned>(
    url: &str,
    status: StatusCode,
    body: &[u8],
) -> Result<T, RequestError> {
    serde_json::from_slice(body).map_err(|source| RequestError::Unreadable {
        url: url.to_owned(),
        status,
        source,
    })
}

/// Runs a client command's future on a small runtime of its own.
pub fn block_on<T>(future: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(future)
}
