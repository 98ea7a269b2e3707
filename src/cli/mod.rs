//! The command line: `serve` runs the server; `test-pattern` works locally; the
//! other subcommands talk to a running server over HTTP (`--endpoint`).
//!
//! Client commands exit 0 on success, 1 when the server refused or could not
//! be reached (the error on stderr), 2 for a usage error.

mod archive;
mod backup;
mod client;
mod compact;
mod dlq;
mod events;
mod keys;
mod output;
mod put;
mod replay;
mod schemas;
mod status;
mod test_pattern;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, Flags, LogFormat};
use crate::server::Server;

#[derive(Parser)]
#[command(
    name = "stowage",
    version,
    about = "A storage-first durable event gateway"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (data in ./data, listening on 127.0.0.1:8080 by default).
    Serve(ServeArgs),
    /// Publish events to a running server.
    Put(put::PutArgs),
    /// Inspect, redrive and purge dead letters on a running server.
    Dlq(dlq::DlqArgs),
    /// Create, list, describe, update and delete archives on a running server.
    Archive(archive::ArchiveArgs),
    /// Start, follow, list and cancel replays of archived events on a running server.
    Replay(replay::ReplayArgs),
    /// Inspect events on a running server: `events trace ID` shows where one went.
    Events(events::EventsArgs),
    /// Show every target's delivery status on a running server.
    Status(status::StatusArgs),
    /// Register, list, show and delete the JSON Schemas events are checked against.
    Schemas(schemas::SchemasArgs),
    /// Copy a running server's data to a new directory (restore: serve --data-dir it).
    Backup(backup::BackupArgs),
    /// Publisher keys: create (token shown once), list, describe, rotate, revoke.
    Keys(keys::KeysArgs),
    /// Compact a stopped server's database into a fresh one, giving disk space back.
    Compact(compact::CompactArgs),
    /// Test an event pattern against an event, locally (exit 0 match, 1 no match, 2 invalid).
    TestPattern(test_pattern::TestPatternArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// A TOML config file (defaults < file < STOWAGE_SECTION__FIELD env < flags).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Data directory [default: ./data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Log format [default: human].
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
}

/// Shared by the client subcommands.
#[derive(clap::Args, Clone)]
pub struct ClientArgs {
    /// The server to talk to.
    #[arg(
        long,
        env = "STOWAGE_ENDPOINT",
        default_value = "http://127.0.0.1:8080",
        value_parser = parse_endpoint
    )]
    pub endpoint: String,
    /// Print JSON instead of human-readable text.
    #[arg(long)]
    pub json: bool,
    /// Operator access key id: requests are signed with AWS SigV4 when it and
    /// the secret are given.
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub access_key_id: Option<String>,
    /// Operator secret access key (prefer the environment variable: a flag
    /// shows in the process list).
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_access_key: Option<String>,
    /// Region of the signature's credential scope (the server's `aws.region`).
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
}

impl Cli {
    /// Runs the command. An error is printed as its chain of causes on one
    /// line (`error: cannot reach …: …: Connection refused`), never with a
    /// backtrace (`main` returning an error would print one under
    /// `RUST_BACKTRACE=1`), and exits 1; commands that exit otherwise return
    /// their code.
    pub fn run(self) -> ExitCode {
        let outcome = match self.command {
            Command::Serve(args) => serve(args).map(|()| ExitCode::SUCCESS),
            Command::Put(args) => put::run(args),
            Command::Dlq(args) => dlq::run(args),
            Command::Archive(args) => archive::run(args),
            Command::Replay(args) => replay::run(args),
            Command::Events(args) => events::run(args),
            Command::Status(args) => status::run(args),
            Command::Backup(args) => backup::run(args),
            Command::Keys(args) => keys::run(args),
            Command::Compact(args) => compact::run(args),
            Command::Schemas(args) => schemas::run(args),
            Command::TestPattern(args) => Ok(test_pattern::run(args)),
        };
        outcome.unwrap_or_else(|error| {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        })
    }
}

/// An `http://` or `https://` base URL; anything else is a usage error.
fn parse_endpoint(text: &str) -> Result<String, String> {
    const EXAMPLE: &str = "expected a base URL such as http://127.0.0.1:8080";
    let url = reqwest::Url::parse(text).map_err(|e| format!("{e}; {EXAMPLE}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(EXAMPLE.to_owned());
    }
    Ok(text.to_owned())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Everything `serve` creates is in the data dir, which holds connection
    // secrets: owner-only, including the files sled creates later (blobs,
    // snapshots). Set before any thread starts, as the umask is per process.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let flags = Flags {
        listen: args.listen,
        data_dir: args.data_dir,
        log_format: args.log_format,
    };
    let config = Config::load(args.config.as_deref(), &flags)?;
    init_tracing(&config);
    // Before the store is opened: an interrupted compaction is finished first.
    crate::compact::at_start(&config.storage)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = Server::bind(config.clone()).await?;
        let shutdown = shutdown_signal()?;
        let addr = server.local_addr();
        tracing::info!(%addr, data_dir = %config.storage.data_dir.display(), "stowage listening");
        // Scripts and tests read the bound address from this first stdout line.
        println!("stowage listening on http://{addr}");
        server.run(shutdown).await?;
        Ok(())
    })
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let colour = wants_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Colour only for a person watching a terminal: never into a file or a pipe,
/// and never when `NO_COLOR` is set to anything but the empty string (no-color.org).
fn wants_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|value| value.is_empty())
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called,
/// not when the future is first polled, so call it before announcing the address:
/// a signal sent right after the announcement must not hit the default action.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
        }
    })
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::wants_colour;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(wants_colour(true, None));
        assert!(wants_colour(true, Some(OsStr::new(""))));
        assert!(!wants_colour(true, Some(OsStr::new("1"))));
        assert!(!wants_colour(false, None));
        assert!(!wants_colour(false, Some(OsStr::new(""))));
    }
}
