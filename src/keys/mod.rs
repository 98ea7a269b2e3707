//! Publisher keys: who may publish what, with a key (`stk_…`) instead of an
//! operator signature. Owns the `publisher_keys` tree (its only writer) and an
//! in-memory copy of every key, updated with each change so that a running
//! server refuses a revoked key at once. Decides, per publish: the key is
//! known, live and used from an allowed network; each event's source and detail
//! type are granted; the rate and the daily quota hold. Knows nothing of HTTP:
//! `api::keys` reads headers and chooses status codes.
//!
//! Usage counters live in memory (since the server started); the daily quota
//! is counted in memory per UTC day, so a restart forgets today's count.

pub mod grant;
pub mod record;
pub mod token;

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::codec::{self, FrameError};
use crate::metrics::KeyMetrics;
use crate::store::{Store, StoreError, tree};
use grant::{EntryRefusal, Grant, GrantError, GrantText};
use record::{KeyRecord, KeyView, PreviousToken, UsageView, rfc3339};

const DAY_MS: i64 = 86_400_000;
/// The longest key name.
const MAX_NAME_CHARS: usize = 128;
/// The longest grace a rotation may give the old token.
pub const MAX_GRACE: Duration = Duration::from_secs(30 * 86_400);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Grant(#[from] GrantError),
    #[error("name: must be 1 to {MAX_NAME_CHARS} visible characters")]
    BadName,
    #[error("grace: at most {} seconds", MAX_GRACE.as_secs())]
    BadGrace,
    #[error("no publisher key {id:?}")]
    NotFound { id: String },
    #[error("publisher key {id:?} is revoked")]
    Revoked { id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored publisher key {id:?} is damaged")]
    Frame {
        id: String,
        #[source]
        source: FrameError,
    },
    #[error(transparent)]
    Random(#[from] token::RandomError),
}

impl From<sled::Error> for KeyError {
    fn from(e: sled::Error) -> Self {
        KeyError::Store(StoreError::Sled(e))
    }
}

/// Why a publish with a key is refused as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No key presented where one is needed.
    Missing,
    /// Not a `stk_…` token.
    Malformed,
    /// Well formed, but no such key or a wrong secret.
    Unknown,
    Revoked,
    /// The peer is outside the key's networks.
    Network,
    RateLimited {
        retry_after: Duration,
    },
    QuotaExhausted {
        retry_after: Duration,
    },
}

impl Refusal {
    /// The metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Missing => "missing_key",
            Refusal::Malformed => "malformed_key",
            Refusal::Unknown => "unknown_key",
            Refusal::Revoked => "revoked_key",
            Refusal::Network => "network",
            Refusal::RateLimited { .. } => "rate",
            Refusal::QuotaExhausted { .. } => "quota",
        }
    }
}

/// What a newly made or rotated key returns: the token, shown once.
pub struct Issued {
    pub view: KeyView,
    pub token: String,
}

/// What an operator asks for when creating a key.
pub struct NewKey {
    pub name: String,
    pub grant: GrantText,
}

struct Usage {
    limiter: Option<DefaultDirectRateLimiter>,
    published: AtomicU64,
    refused: AtomicU64,
    last_used_ms: AtomicI64,
    /// (UTC day number, events published that day).
    today: Mutex<(i64, u64)>,
}

impl Usage {
    fn new(grant: &Grant) -> Usage {
        let limiter = grant.rate.map(|rate| {
            let period = Duration::from_secs(u64::from(rate.per_seconds.get())) / rate.events.get();
            let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                .allow_burst(rate.events);
            RateLimiter::direct(quota)
        });
        Usage {
            limiter,
            published: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            last_used_ms: AtomicI64::new(0),
            today: Mutex::new((0, 0)),
        }
    }

    fn published_today(&self, now_ms: i64) -> u64 {
        let today = self.today.lock().unwrap_or_else(|p| p.into_inner());
        if today.0 == now_ms.div_euclid(DAY_MS) {
            today.1
        } else {
            0
        }
    }
}

/// A key as the running server holds it.
struct LiveKey {
    record: KeyRecord,
    grant: Grant,
    usage: Arc<Usage>,
}

/// A publish admitted by a key: its events still each need `allows`, and the
/// whole publish `take`.
#[derive(Clone)]
pub struct Admitted {
    key: Arc<LiveKey>,
    metrics: KeyMetrics,
}

impl Admitted {
    pub fn id(&self) -> &str {
        &self.key.record.id
    }

    pub fn allows(&self, source: &str, detail_type: &str) -> Result<(), EntryRefusal> {
        let verdict = self.key.grant.allows(source, detail_type);
        if let Err(refusal) = verdict {
            self.refused(match refusal {
                EntryRefusal::Source => "source",
                EntryRefusal::DetailType => "detail_type",
            });
        }
        verdict
    }

    /// Counts `events` against the rate and today's quota; all or none.
    pub fn take(&self, events: u32, now_ms: i64) -> Result<(), Refusal> {
        let Some(n) = NonZeroU32::new(events) else {
            return Ok(());
        };
        let usage = &self.key.usage;
        if let Some(limiter) = &usage.limiter {
            let verdict = match limiter.check_n(n) {
                Ok(Ok(())) => Ok(()),
                Ok(Err(not_until)) => Err(not_until.wait_time_from(DefaultClock::default().now())),
                // More events at once than the burst: wait a whole period.
                Err(_) => Err(Duration::from_secs(1)),
            };
            if let Err(wait) = verdict {
                let refusal = Refusal::RateLimited {
                    retry_after: wait.max(Duration::from_millis(1)),
                };
                self.refused(refusal.reason());
                return Err(refusal);
            }
        }
        let day = now_ms.div_euclid(DAY_MS);
        let mut today = usage.today.lock().unwrap_or_else(|p| p.into_inner());
        if today.0 != day {
            *today = (day, 0);
        }
        let over_quota = self
            .key
            .grant
            .quota_per_day
            .is_some_and(|quota| today.1 + u64::from(events) > quota.get());
        if over_quota {
            drop(today);
            let wait = u64::try_from((day + 1) * DAY_MS - now_ms).unwrap_or(0);
            let refusal = Refusal::QuotaExhausted {
                retry_after: Duration::from_millis(wait),
            };
            self.refused(refusal.reason());
            return Err(refusal);
        }
        today.1 += u64::from(events);
        drop(today);
        usage
            .published
            .fetch_add(u64::from(events), Ordering::Relaxed);
        usage.last_used_ms.store(now_ms, Ordering::Relaxed);
        self.metrics
            .published
            .with_label_values(&[self.id()])
            .inc_by(u64::from(events));
        Ok(())
    }

    fn refused(&self, reason: &'static str) {
        self.key.usage.refused.fetch_add(1, Ordering::Relaxed);
        self.metrics.refused.with_label_values(&[reason]).inc();
    }
}

#[derive(Clone)]
pub struct PublisherKeys {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    tree: sled::Tree,
    live: RwLock<HashMap<String, Arc<LiveKey>>>,
    /// Serialises changes: read, change, write, publish to `live`.
    writes: Mutex<()>,
    metrics: KeyMetrics,
}

impl PublisherKeys {
    /// Loads every key. A damaged record is reported and its key refused.
    pub fn open(store: Arc<Store>, metrics: KeyMetrics) -> Result<PublisherKeys, KeyError> {
        let tree = store.tree(tree::PUBLISHER_KEYS)?;
        let mut live = HashMap::new();
        for item in tree.iter() {
            let (key, value) = item?;
            let id = String::from_utf8_lossy(&key).into_owned();
            let record: KeyRecord = match codec::decode(&value) {
                Ok(record) => record,
                Err(source) => {
                    tracing::error!(error = %KeyError::Frame { id: id.clone(), source }, "publisher key skipped");
                    continue;
                }
            };
            match Grant::parse(&record.grant) {
                Ok(grant) => {
                    let usage = Arc::new(Usage::new(&grant));
                    live.insert(
                        id,
                        Arc::new(LiveKey {
                            record,
                            grant,
                            usage,
                        }),
                    );
                }
                Err(error) => tracing::error!(%error, key = %id, "publisher key skipped"),
            }
        }
        Ok(PublisherKeys {
            inner: Arc::new(Inner {
                store,
                tree,
                live: RwLock::new(live),
                writes: Mutex::new(()),
                metrics,
            }),
        })
    }

    /// Whether `token` (if any) may publish from `peer`. A missing token is
    /// `Refusal::Missing`: the caller decides whether one was needed.
    pub fn admit(
        &self,
        token: Option<&str>,
        peer: Option<IpAddr>,
        now_ms: i64,
    ) -> Result<Admitted, Refusal> {
        let verdict = self.check(token, peer, now_ms);
        if let Err(refusal) = &verdict {
            if let Some(key) = token.and_then(token::key_id).and_then(|id| self.get(id)) {
                key.usage.refused.fetch_add(1, Ordering::Relaxed);
            }
            self.inner
                .metrics
                .refused
                .with_label_values(&[refusal.reason()])
                .inc();
        }
        verdict
    }

    fn check(
        &self,
        token: Option<&str>,
        peer: Option<IpAddr>,
        now_ms: i64,
    ) -> Result<Admitted, Refusal> {
        let token = token.ok_or(Refusal::Missing)?;
        let id = token::key_id(token).ok_or(Refusal::Malformed)?;
        let key = self.get(id).ok_or(Refusal::Unknown)?;
        let hash = token::hash(token);
        let current = token::same(&key.record.hash, &hash);
        let previous = key.record.previous.as_ref().is_some_and(|p| {
            // Both compared whatever the outcome, so timing says nothing.
            let same = token::same(&p.hash, &hash);
            same && now_ms < p.valid_until_ms
        });
        if !(current || previous) {
            return Err(Refusal::Unknown);
        }
        if key.record.revoked_ms.is_some() {
            return Err(Refusal::Revoked);
        }
        if !key.grant.allows_peer(peer) {
            return Err(Refusal::Network);
        }
        Ok(Admitted {
            key,
            metrics: self.inner.metrics.clone(),
        })
    }

    fn get(&self, id: &str) -> Option<Arc<LiveKey>> {
        self.inner
            .live
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    pub fn create(&self, new: NewKey, now_ms: i64) -> Result<Issued, KeyError> {
        let name = new.name.trim().to_string();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(KeyError::BadName);
        }
        let grant = Grant::parse(&new.grant)?;
        let (id, token) = token::generate()?;
        let record = KeyRecord {
            id: id.clone(),
            name,
            hash: token::hash(&token),
            previous: None,
            grant: grant.text(),
            created_ms: now_ms,
            rotated_ms: None,
            revoked_ms: None,
        };
        let _writing = self.lock_writes();
        let usage = Arc::new(Usage::new(&grant));
        let key = self.write(record, grant, usage)?;
        Ok(Issued {
            view: view(&key, now_ms),
            token,
        })
    }

    /// A new token; the old one stays valid for `grace` (zero: refused at once).
    pub fn rotate(&self, id: &str, grace: Duration, now_ms: i64) -> Result<Issued, KeyError> {
        if grace > MAX_GRACE {
            return Err(KeyError::BadGrace);
        }
        let _writing = self.lock_writes();
        let key = self
            .get(id)
            .ok_or_else(|| KeyError::NotFound { id: id.into() })?;
        if key.record.revoked_ms.is_some() {
            return Err(KeyError::Revoked { id: id.into() });
        }
        let token = token::for_key(id)?;
        let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        let mut record = key.record.clone();
        record.previous = Some(PreviousToken {
            hash: record.hash,
            valid_until_ms: now_ms.saturating_add(grace_ms),
        });
        record.hash = token::hash(&token);
        record.rotated_ms = Some(now_ms);
        let key = self.write(record, key.grant.clone(), key.usage.clone())?;
        Ok(Issued {
            view: view(&key, now_ms),
            token,
        })
    }

    /// Refuses the key from now on; revoking twice is not an error.
    pub fn revoke(&self, id: &str, now_ms: i64) -> Result<KeyView, KeyError> {
        let _writing = self.lock_writes();
        let key = self
            .get(id)
            .ok_or_else(|| KeyError::NotFound { id: id.into() })?;
        if key.record.revoked_ms.is_some() {
            return Ok(view(&key, now_ms));
        }
        let mut record = key.record.clone();
        record.revoked_ms = Some(now_ms);
        record.previous = None;
        let key = self.write(record, key.grant.clone(), key.usage.clone())?;
        Ok(view(&key, now_ms))
    }

    pub fn describe(&self, id: &str, now_ms: i64) -> Option<KeyView> {
        self.get(id).map(|key| view(&key, now_ms))
    }

    /// Every key, oldest first.
    pub fn list(&self, now_ms: i64) -> Vec<KeyView> {
        let live = self.inner.live.read().unwrap_or_else(|p| p.into_inner());
        let mut keys: Vec<&Arc<LiveKey>> = live.values().collect();
        keys.sort_by(|a, b| {
            (a.record.created_ms, &a.record.id).cmp(&(b.record.created_ms, &b.record.id))
        });
        keys.into_iter().map(|key| view(key, now_ms)).collect()
    }

    fn lock_writes(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inner.writes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes durably, then makes the change visible to publishes.
    fn write(
        &self,
        record: KeyRecord,
        grant: Grant,
        usage: Arc<Usage>,
    ) -> Result<Arc<LiveKey>, KeyError> {
        self.inner
            .tree
            .insert(record.id.as_bytes(), codec::encode(&record))?;
        self.inner.store.sync()?;
        let key = Arc::new(LiveKey {
            record,
            grant,
            usage,
        });
        self.inner
            .live
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.record.id.clone(), key.clone());
        Ok(key)
    }
}

fn view(key: &LiveKey, now_ms: i64) -> KeyView {
    let r = &key.record;
    let usage = &key.usage;
    let last_used = usage.last_used_ms.load(Ordering::Relaxed);
    KeyView {
        id: r.id.clone(),
        name: r.name.clone(),
        sources: r.grant.sources.clone(),
        detail_types: r.grant.detail_types.clone(),
        rate: r.grant.rate.clone(),
        quota: r.grant.quota.clone(),
        networks: r.grant.networks.clone(),
        created: rfc3339(r.created_ms),
        rotated: r.rotated_ms.map(rfc3339),
        previous_valid_until: r
            .previous
            .as_ref()
            .filter(|p| p.valid_until_ms > now_ms)
            .map(|p| rfc3339(p.valid_until_ms)),
        revoked: r.revoked_ms.map(rfc3339),
        state: if r.revoked_ms.is_some() {
            "revoked"
        } else {
            "active"
        }
        .to_string(),
        usage: UsageView {
            published: usage.published.load(Ordering::Relaxed),
            refused: usage.refused.load(Ordering::Relaxed),
            published_today: usage.published_today(now_ms),
            last_used: (last_used > 0).then(|| rfc3339(last_used)),
        },
    }
}
