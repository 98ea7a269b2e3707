//! `InProcess`: the library's real `Server` (the code `stowage serve` runs) on
//! 127.0.0.1:0 inside the test process, on a thread with its own runtime, so
//! that a test can hold delivery's `Clock` and move it. `TestServer` uses it
//! for its in-process mode; tests reach it through `TestServer`.
//!
//! Stopped with a oneshot, as `main` stops the server with a signal; dropping
//! it stops the server and joins its thread within `STOP_TIMEOUT`. Not here:
//! process controls (kill -9, signals, restart) and the server's logs, which
//! need a process of their own.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::value::Value;
use stowage::config::Config;
use stowage::delivery::Clock;
use stowage::server::{Server, ServerError};
use tokio::sync::oneshot;

/// How long the server may take to open its store and bind.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stop may take: the server's own grace (2 s in `Config::for_test`)
/// and the runtime's shutdown, with room to spare on a busy machine.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

pub struct InProcess {
    addr: SocketAddr,
    clock: Clock,
    stop: Option<oneshot::Sender<()>>,
    /// Disconnected once the server's thread has ended.
    ended: mpsc::Receiver<()>,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
}

impl InProcess {
    /// Binds and starts serving `config`; returns once the listener is bound.
    pub async fn start(config: Config) -> InProcess {
        let (ready_tx, ready_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (ended_tx, ended_rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("stowage-in-process".into())
            .spawn(move || {
                let _ended = ended_tx;
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("build the server's runtime");
                let served = runtime.block_on(async move {
                    let server = match Server::bind(config).await {
                        Ok(server) => server,
                        Err(error) => {
                            let _ = ready_tx.send(Err(error));
                            return Ok(());
                        }
                    };
                    let _ = ready_tx.send(Ok((server.local_addr(), server.clock())));
                    // A dropped sender (the test panicked) stops it too.
                    server
                        .run(async move {
                            let _ = stop_rx.await;
                        })
                        .await
                });
                runtime.shutdown_timeout(STOP_TIMEOUT / 2);
                served
            })
            .expect("spawn the server's thread");
        let mut server = InProcess {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            clock: Clock::default(),
            stop: Some(stop_tx),
            ended: ended_rx,
            thread: Some(thread),
        };
        match tokio::time::timeout(START_TIMEOUT, ready_rx).await {
            Ok(Ok(Ok((addr, clock)))) => {
                server.addr = addr;
                server.clock = clock;
                server
            }
            Ok(Ok(Err(error))) => panic!("the in-process server did not start: {error:?}"),
            Ok(Err(_)) => panic!("the in-process server's thread ended before it was bound"),
            Err(_) => panic!("the in-process server was not bound within {START_TIMEOUT:?}"),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Delivery's clock in the running server.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(thread) = self.thread.take() else {
            return;
        };
        // Already unwinding: report nothing more, but still stop and wait.
        let quiet = std::thread::panicking();
        match self.ended.recv_timeout(STOP_TIMEOUT) {
            Err(mpsc::RecvTimeoutError::Disconnected) | Ok(()) => match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(error)) if !quiet => panic!("the in-process server failed: {error:?}"),
                Err(_) if !quiet => panic!("the in-process server's thread panicked"),
                _ => {}
            },
            Err(mpsc::RecvTimeoutError::Timeout) if !quiet => {
                panic!("the in-process server did not stop within {STOP_TIMEOUT:?}")
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

/// The config `serve --listen 127.0.0.1:0 --data-dir DIR` would load with this
/// TOML file and these `STOWAGE_SECTION__FIELD` variables, from
/// `Config::for_test(data_dir)` rather than the process's environment, which
/// other tests share.
pub fn config(data_dir: &Path, toml: Option<&str>, env: &[(String, String)]) -> Config {
    let mut figment = Figment::from(Serialized::defaults(Config::for_test(data_dir)));
    if let Some(toml) = toml {
        figment = figment.merge(Toml::string(toml));
    }
    for (key, value) in env {
        let field = key
            .strip_prefix("STOWAGE_")
            .filter(|k| k.contains("__"))
            .unwrap_or_else(|| panic!("{key} is not a STOWAGE_SECTION__FIELD variable"))
            .to_lowercase()
            .replace("__", ".");
        let value: Value = value.parse().expect("parsing a value is infallible");
        figment = figment.merge(Serialized::default(&field, value));
    }
    let config: Config = figment
        .extract()
        .unwrap_or_else(|e| panic!("bad in-process config: {e}"));
    config
        .validate()
        .unwrap_or_else(|e| panic!("bad in-process config: {e}"));
    config
}
