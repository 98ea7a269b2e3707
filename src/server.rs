//! The server: opens the store, starts the log writer, serves HTTP, shuts down in
//! order.
//!
//! `Server::bind` then `Server::run(shutdown)`: main passes ctrl-c/SIGTERM, tests
//! pass a oneshot. Shutdown stops accepting, lets in-flight requests finish (up to
//! `server.shutdown_grace_ms`), stops background tasks, lets the log writer answer
//! everything queued, and syncs the store one last time.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{self, AppState, Shared};
use crate::archive::Archives;
use crate::attempts::AttemptHistory;
use crate::auth::{Access, Operators, OperatorsError, Unprotected};
use crate::bus::Buses;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::dead_letter::DeadLetters;
use crate::delivery::{self, Clock, Delivery};
use crate::keys::{KeyError, PublisherKeys};
use crate::log::{Log, WriterHandle};
use crate::metrics::Metrics;
use crate::pending::PendingDeliveries;
use crate::replay::Replays;
use crate::retention::{ExtraHolder, Holders, Retention};
use crate::router::Router;
use crate::schema::Schemas;
use crate::store::{Store, StoreError};

/// How often expired idempotency keys are swept.
const IDEMPOTENCY_SWEEP_EVERY: Duration = Duration::from_secs(600);
/// How often settled deliveries' expired attempt history is swept.
const HISTORY_SWEEP_EVERY: Duration = Duration::from_secs(600);
/// How often archive entries past their archive's retention are swept (and
/// whenever delivery's clock is moved, in tests).
const ARCHIVE_SWEEP_EVERY: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
    #[error("cannot load the publisher keys")]
    Keys(#[from] KeyError),
    #[error("cannot start the delivery runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot load the operator credentials")]
    Operators(#[from] OperatorsError),
    #[error(transparent)]
    Unprotected(#[from] Unprotected),
    #[error("cannot load the secrets key")]
    SecretsKey(#[from] crate::secrets::KeyError),
}

pub struct Server {
    /// Cancelled when shutdown begins; every subsystem's token is a child.
    root: CancellationToken,
    listener: TcpListener,
    state: AppState,
    writer: WriterHandle,
    config: Config,
    delivery_runtime: delivery::Runtime,
}

impl Server {
    /// Opens the data directory and binds the listener; nothing is served yet.
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        let access = Access::new(
            Operators::load(&config.auth)?,
            config.server.listen,
            config.server.metrics_open,
            &config.aws.region,
        )?;
        if access.is_open() {
            tracing::warn!(
                listen = %config.server.listen,
                "no operator credentials configured: serving open to every caller on this loopback address; configure [auth] operators to require AWS SigV4 signatures"
            );
        }
        let store = Arc::new(Store::open(&config.storage)?);
        let metrics = Metrics::new();
        let (log, writer) = Log::open(store.clone(), &config.ingest, metrics.log.clone())?;
        let buses = Buses::open(store.clone(), &config.aws)?;
        let secrets = open_secrets(&config, &store)?;
        let catalog = Catalog::open(
            store.clone(),
            &config.aws,
            config.patterns.limits(),
            secrets,
        )?;
        let schemas = Schemas::open(store.clone(), metrics.schema.registered.clone())?;
        let dead_letters = DeadLetters::open(store.clone())?;
        let archives = Archives::open(
            store.clone(),
            catalog.arns().clone(),
            config.patterns.limits(),
            metrics.archive.clone(),
        )?;
        let root = CancellationToken::new();
        let replays = Replays::open(
            store.clone(),
            Arc::new(archives.clone()),
            log.clone(),
            config.replay.clone(),
            metrics.replay.clone(),
            root.child_token(),
        )?;
        let delivery_runtime =
            delivery::Runtime::new(config.delivery.threads).map_err(ServerError::Runtime)?;
        let history = AttemptHistory::open(
            &store,
            config.delivery.attempt_history_per_delivery,
            config.delivery.attempt_history_secs,
        )?;
        let delivery = Delivery::new(
            PendingDeliveries::open(store.clone())?,
            history,
            log.clone(),
            catalog.clone(),
            dead_letters.clone(),
            config.delivery.clone(),
            metrics.delivery.clone(),
            delivery_runtime
                .handle()
                .ok_or_else(|| ServerError::Runtime(std::io::Error::other("no runtime")))?,
            root.child_token(),
        )?;
        let retention = Retention::new(
            store.clone(),
            log.clone(),
            Holders {
                pending: delivery.pending().clone(),
                dead_letters: dead_letters.clone(),
                catalog: catalog.clone(),
                extra: vec![{
                    let archives = archives.clone();
                    ExtraHolder::new("archive", move || archives.lowest_held())
                }],
            },
            dead_letters.clone(),
            delivery.history().clone(),
            delivery.clock().clone(),
            config.log.min_retention,
            config.dead_letters.retention,
            metrics.retention.clone(),
        );
        let addr = config.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        let keys = PublisherKeys::open(store.clone(), metrics.keys.clone())?;
        let state = AppState::new(Shared {
            log,
            buses,
            catalog,
            delivery,
            dead_letters,
            archives,
            retention,
            replays,
            store,
            metrics,
            ingest: Arc::new(config.ingest.clone()),
            aws: Arc::new(config.aws.clone()),
            patterns: Arc::new(config.patterns.limits()),
            access: Arc::new(access),
            keys,
            schemas,
        });
        Ok(Server {
            root,
            listener,
            state,
            writer,
            config,
            delivery_runtime,
        })
    }

    /// Delivery's clock. `main` never moves it; an in-process test does, to
    /// reach retry age limits without waiting for them.
    pub fn clock(&self) -> Clock {
        self.state.delivery.clock().clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.config.server.listen)
    }

    /// Serves until `shutdown` completes, then shuts down in order.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let Server {
            root,
            listener,
            state,
            writer,
            config,
            delivery_runtime,
        } = self;
        let store = state.store.clone();
        let tasks = TaskTracker::new();
        tasks.spawn(sweep_idempotency_keys(
            state.log.clone(),
            root.child_token(),
        ));
        let delivery = state.delivery.clone();
        tasks.spawn(sweep_attempt_history(delivery.clone(), root.child_token()));
        tasks.spawn(sweep_archives(
            state.archives.clone(),
            delivery.clock().clone(),
            root.child_token(),
        ));
        tasks.spawn(
            state
                .retention
                .clone()
                .run(config.log.retention_sweep_interval, root.child_token()),
        );
        delivery.start();
        let router = Router {
            log: state.log.clone(),
            catalog: state.catalog.clone(),
            pending: delivery.pending().clone(),
            delivery: delivery.clone(),
            metrics: state.metrics.delivery.clone(),
            batch: config.delivery.router_batch,
            archives: state.archives.clone(),
            replays: state.replays.clone(),
        };
        delivery.spawn(router.run(root.child_token()));
        // Unfinished replays go on where their cursors are.
        let replays = state.replays.clone();
        replays.resume();

        let stop = root.clone();
        tokio::spawn(async move {
            shutdown.await;
            stop.cancel();
        });
        let app = api::router(state);
        // Acks are small writes that must leave at once, not wait for Nagle.
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::warn!(%error, "cannot set TCP_NODELAY");
            }
        });
        let serve =
            // The peer's address: publisher keys may be bound to networks.
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(root.clone().cancelled_owned());
        let grace = Duration::from_millis(config.server.shutdown_grace_ms);
        let deadline = async {
            root.cancelled().await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            served = serve => served.map_err(ServerError::Serve)?,
            () = deadline => tracing::warn!(grace_ms = config.server.shutdown_grace_ms, "in-flight requests did not finish in time"),
        }
        tracing::info!("stopped accepting; finishing");
        tasks.close();
        tasks.wait().await;
        // Runners stop between batches; they append, so before the writer goes.
        replays.shutdown().await;
        drop(replays);
        delivery.shutdown().await;
        // The writer exits once every `Log` handle is gone; delivery holds one.
        drop(delivery);
        drop(delivery_runtime);

        let joined = tokio::task::spawn_blocking(move || writer.join());
        if tokio::time::timeout(grace, joined).await.is_err() {
            tracing::warn!("log writer still busy at the deadline");
        }
        store.sync()?;
        tracing::info!("shutdown complete");
        Ok(())
    }
}

async fn sweep_idempotency_keys(log: Log, stop: CancellationToken) {
    let mut every = tokio::time::interval(IDEMPOTENCY_SWEEP_EVERY);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let log = log.clone();
        match tokio::task::spawn_blocking(move || log.sweep_idempotency_keys()).await {
            Ok(Ok(removed)) if removed > 0 => {
                tracing::info!(removed, "expired idempotency keys swept")
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "idempotency sweep failed"),
            Err(error) => tracing::warn!(%error, "idempotency sweep panicked"),
        }
    }
}

/// The key sealing secrets at rest; says where it came from, never what it is.
fn open_secrets(config: &Config, store: &Store) -> Result<crate::secrets::SecretBox, ServerError> {
    use crate::secrets::{KeySource, SecretBox, load_or_create};
    let env = std::env::var(crate::secrets::KEY_ENV).ok();
    // A new key must not be generated over records sealed with a lost one.
    let mut sealed_data = false;
    for name in [crate::store::tree::CONNECTIONS, crate::store::tree::SIGNING] {
        if let Some(item) = store.tree(name)?.iter().values().next() {
            sealed_data |= SecretBox::is_sealed(&item.map_err(StoreError::Sled)?);
        }
    }
    let (secrets, source) = load_or_create(
        env.as_deref(),
        config.secrets.key_file.as_deref(),
        &config.storage.data_dir,
        sealed_data,
    )?;
    match source {
        KeySource::Env => tracing::info!(
            "secrets at rest sealed with the key from {}",
            crate::secrets::KEY_ENV
        ),
        KeySource::File(path) => {
            tracing::info!(path = %path.display(), "secrets at rest sealed with the key file")
        }
        KeySource::Generated(path) => tracing::warn!(
            path = %path.display(),
            "generated a secrets key file in the data directory: it travels with the data directory and its backups; to keep the key apart from the data, set [secrets] key_file outside the data directory or STOWAGE_SECRETS_KEY"
        ),
    }
    Ok(secrets)
}

async fn sweep_attempt_history(delivery: Delivery, stop: CancellationToken) {
    let mut every = tokio::time::interval(HISTORY_SWEEP_EVERY);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let delivery = delivery.clone();
        let swept = tokio::task::spawn_blocking(move || {
            let now = delivery.clock().now_ms();
            delivery.history().sweep(delivery.pending(), now)
        });
        match swept.await {
            Ok(Ok(removed)) if removed > 0 => {
                tracing::info!(removed, "expired delivery attempt records swept")
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "attempt history sweep failed"),
            Err(error) => tracing::warn!(%error, "attempt history sweep panicked"),
        }
    }
}

/// Removes archive entries past their archive's retention, by delivery's
/// clock: every `ARCHIVE_SWEEP_EVERY`, and at once when a test moves the clock.
async fn sweep_archives(archives: Archives, clock: Clock, stop: CancellationToken) {
    let mut every = tokio::time::interval(ARCHIVE_SWEEP_EVERY);
    let mut moved = clock.moved();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
            changed = moved.changed() => if changed.is_err() { return },
        }
        let archives = archives.clone();
        let now = clock.now_ms();
        match tokio::task::spawn_blocking(move || archives.sweep(now)).await {
            Ok(Ok(removed)) if removed > 0 => {
                tracing::info!(removed, "archive entries past retention swept")
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "archive retention sweep failed"),
            Err(error) => tracing::warn!(%error, "archive retention sweep panicked"),
        }
    }
}
