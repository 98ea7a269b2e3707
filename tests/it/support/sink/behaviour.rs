//! What the sink answers: `Behaviour`s set for all paths or per path, the
//! `Answer`s they make, and the OAuth token state that Bearer-protected paths are
//! checked against. No I/O and no clock: a decision is a `Plan` that `sink.rs`,
//! which serves and records, carries out.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::Received;

/// A response the sink sends.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// `status` with no headers and an empty body.
    pub fn status(status: u16) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn ok() -> Answer {
        Answer::status(200)
    }

    pub fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Answer {
        self.body = body.into();
        self
    }

    /// A JSON body with its content type.
    pub fn json(self, value: &Value) -> Answer {
        self.header("content-type", "application/json")
            .body(value.to_string())
    }
}

/// How the sink answers. Counting behaviours (`FailTimes`, `RetryAfter`) count
/// the requests their path (or the default) has seen since they were set.
#[derive(Clone)]
pub enum Behaviour {
    /// `200`, empty body.
    Ok,
    /// This answer every time: a `200` with a body, a status with a body, headers.
    Answer(Answer),
    /// This status every time, empty body.
    Status(u16),
    /// The first `n` requests get `status`, later ones `200`.
    FailTimes { n: usize, status: u16 },
    /// The first `n` requests get `status` with `Retry-After: retry_after` (delay
    /// seconds or an HTTP date), later ones `200`.
    RetryAfter {
        n: usize,
        status: u16,
        retry_after: String,
    },
    /// Never answers; the connection is held until the sink drops. Other
    /// connections are unaffected.
    Hang,
    /// `200` after this long.
    Delay(Duration),
    /// Whatever the closure answers. It runs under the sink's lock: keep it quick.
    Custom(Arc<dyn Fn(&Received) -> Answer + Send + Sync>),
    /// An OAuth client-credentials token endpoint: each request is issued a new
    /// token `tok-N` (N from 1) that replaces the previous one, answered as
    /// `{"access_token","token_type":"Bearer","expires_in"}`.
    OAuthToken { lifetime_secs: u64 },
}

impl Behaviour {
    pub fn custom(answer: impl Fn(&Received) -> Answer + Send + Sync + 'static) -> Behaviour {
        Behaviour::Custom(Arc::new(answer))
    }
}

impl fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Behaviour::Ok => write!(f, "Ok"),
            Behaviour::Answer(answer) => write!(f, "Answer({answer:?})"),
            Behaviour::Status(status) => write!(f, "Status({status})"),
            Behaviour::FailTimes { n, status } => write!(f, "FailTimes({n} × {status})"),
            Behaviour::RetryAfter {
                n,
                status,
                retry_after,
            } => write!(f, "RetryAfter({n} × {status}, {retry_after:?})"),
            Behaviour::Hang => write!(f, "Hang"),
            Behaviour::Delay(delay) => write!(f, "Delay({delay:?})"),
            Behaviour::Custom(_) => write!(f, "Custom"),
            Behaviour::OAuthToken { lifetime_secs } => write!(f, "OAuthToken({lifetime_secs} s)"),
        }
    }
}

/// A behaviour and how many requests it has answered.
struct Rule {
    behaviour: Behaviour,
    seen: usize,
}

impl Rule {
    fn new(behaviour: Behaviour) -> Rule {
        Rule { behaviour, seen: 0 }
    }
}

/// What decides answers; one lock, so that issuing and checking tokens agree.
pub(super) struct Control {
    default: Rule,
    paths: HashMap<String, Rule>,
    /// Paths answering 401 unless they get `Bearer <valid token>`.
    protected: HashSet<String>,
    tokens_issued: u64,
    valid_token: Option<String>,
}

/// When and what to answer.
pub(super) enum Plan {
    Now(Answer),
    After(Duration, Answer),
    Never,
}

impl Control {
    pub(super) fn new() -> Control {
        Control {
            default: Rule::new(Behaviour::Ok),
            paths: HashMap::new(),
            protected: HashSet::new(),
            tokens_issued: 0,
            valid_token: None,
        }
    }

    pub(super) fn set(&mut self, path: Option<&str>, behaviour: Behaviour) {
        let rule = Rule::new(behaviour);
        match path {
            Some(path) => {
                self.paths.insert(path.into(), rule);
            }
            None => self.default = rule,
        }
    }

    pub(super) fn protect(&mut self, path: &str) {
        self.protected.insert(path.into());
    }

    pub(super) fn revoke_tokens(&mut self) {
        self.valid_token = None;
    }

    pub(super) fn tokens_issued(&self) -> u64 {
        self.tokens_issued
    }

    /// Picks the answer for `request` and counts it against its rule. A request
    /// refused for its token does not count.
    pub(super) fn decide(&mut self, request: &Received) -> Plan {
        let path = request.path();
        if self.protected.contains(path) && !self.bearer_accepted(request) {
            return Plan::Now(
                Answer::status(401).header("www-authenticate", "Bearer error=\"invalid_token\""),
            );
        }
        let rule = self.paths.get_mut(path).unwrap_or(&mut self.default);
        let nth = rule.seen;
        rule.seen += 1;
        let answer = match &rule.behaviour {
            Behaviour::Ok => Answer::ok(),
            Behaviour::Answer(answer) => answer.clone(),
            Behaviour::Status(status) => Answer::status(*status),
            Behaviour::FailTimes { n, status } if nth < *n => Answer::status(*status),
            Behaviour::RetryAfter {
                n,
                status,
                retry_after,
            } if nth < *n => Answer::status(*status).header("retry-after", retry_after),
            Behaviour::FailTimes { .. } | Behaviour::RetryAfter { .. } => Answer::ok(),
            Behaviour::Hang => return Plan::Never,
            Behaviour::Delay(delay) => return Plan::After(*delay, Answer::ok()),
            Behaviour::Custom(answer) => answer(request),
            Behaviour::OAuthToken { lifetime_secs } => {
                self.tokens_issued += 1;
                let token = format!("tok-{}", self.tokens_issued);
                let body = json!({
                    "access_token": token,
                    "token_type": "Bearer",
                    "expires_in": lifetime_secs,
                });
                self.valid_token = Some(token);
                Answer::ok().header("cache-control", "no-store").json(&body)
            }
        };
        Plan::Now(answer)
    }

    fn bearer_accepted(&self, request: &Received) -> bool {
        let presented = request
            .header("authorization")
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        matches!((presented, &self.valid_token), (Some(p), Some(v)) if p == v)
    }
}
