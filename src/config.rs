//! Configuration: built-in defaults < TOML file < `STOWAGE_*` env < flags.
//!
//! Loaded and validated once, in `Config::load`; each subsystem then receives only
//! its own section. Environment variables name a field by its section and name,
//! joined by a double underscore: `STOWAGE_INGEST__MAX_EVENT_BYTES=524288`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::{Figment, Provider};
use serde::{Deserialize, Serialize};

pub mod duration;
mod error;
mod suggest;

pub use error::{ConfigError, Hint, Place};

/// The largest event the gateway can be configured to accept.
pub const MAX_EVENT_BYTES_LIMIT: usize = 1024 * 1024;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub ingest: IngestConfig,
    pub aws: AwsConfig,
    pub patterns: PatternConfig,
    pub delivery: DeliveryConfig,
    pub log: LogConfig,
    pub dead_letters: DeadLetterConfig,
    pub replay: ReplayConfig,
    pub auth: AuthConfig,
    pub secrets: SecretsConfig,
}

/// Where the key sealing secrets at rest comes from. The env variable
/// `STOWAGE_SECRETS_KEY` (base64 of 32 bytes) wins over `key_file`; with
/// neither, a key file is generated in the data directory on first start.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// A file holding the base64 of 32 random bytes. Default none (see above).
    pub key_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// How long shutdown waits for in-flight requests. Default 10 000 ms.
    pub shutdown_grace_ms: u64,
    /// `/metrics` without operator credentials. Default: open on a loopback
    /// listen address, operators only elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_open: Option<bool>,
}

/// Operator credentials for SigV4 (docs/security.md). None configured: the
/// server runs open, and only on a loopback address.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `[[auth.operators]]` entries. Default none.
    pub operators: Vec<OperatorCredential>,
    /// A file of more: `[[operators]]` (TOML) or `{"operators": [...]}` (`.json`). Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operators_file: Option<PathBuf>,
}

/// One operator's access key id and secret access key.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorCredential {
    pub access_key_id: String,
    pub secret_access_key: Secret,
}

/// A secret value: its `Debug` never shows it and it has no `Display`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Where the sled database lives. Default `./data`.
    pub data_dir: PathBuf,
    /// sled's page cache. Default 64 MiB; RSS does not grow with the log beyond it.
    pub cache_capacity_bytes: u64,
    /// Whether `serve` compacts the database into a fresh one before starting
    /// (gives back the disk space sled keeps after removals; docs/retention.md).
    /// `auto` (default): when the file is over three times the live data plus 64 MiB.
    pub compact_on_start: CompactOnStart,
}

/// `[storage] compact_on_start`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompactOnStart {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest accepted event (gateway body, PutEvents entry size). Default 256 KiB, at most 1 MiB.
    pub max_event_bytes: usize,
    /// How long an `Idempotency-Key` is remembered. Default 86 400 s (24 h).
    pub idempotency_ttl_secs: u64,
    /// Most events made durable by one sync. Default 4096.
    pub max_batch_events: usize,
    /// Appends that may wait for the log writer before publishers are held back. Default 16 384.
    pub queue_depth: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwsConfig {
    /// Region in ARNs and events. Default `us-east-1`.
    pub region: String,
    /// Account id in ARNs and events (12 digits). Default `000000000000`.
    pub account: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PatternConfig {
    /// Longest accepted event pattern, in characters. Default 4096 (as AWS).
    pub max_pattern_chars: usize,
    /// Most combinations a pattern's `$or`s may expand to. Default 1000 (as AWS).
    pub max_or_combinations: usize,
}

impl Default for PatternConfig {
    fn default() -> Self {
        let limits = crate::pattern::Limits::default();
        PatternConfig {
            max_pattern_chars: limits.max_pattern_chars,
            max_or_combinations: limits.max_or_combinations,
        }
    }
}

impl PatternConfig {
    pub fn limits(&self) -> crate::pattern::Limits {
        crate::pattern::Limits {
            max_pattern_chars: self.max_pattern_chars,
            max_or_combinations: self.max_or_combinations,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Threads of delivery's own runtime (routing and delivery run there, apart
    /// from the threads serving publishers). Default: the number of cores, like
    /// the serving runtime, so that the OS shares the cores evenly when both are busy.
    pub threads: usize,
    /// Requests one target may have in flight at once. Default 16.
    pub max_in_flight: usize,
    /// How long one delivery request may take, connecting included. Default 5000 ms.
    pub request_timeout_ms: u64,
    /// First retry waits up to this (full jitter, doubling per attempt). Default 1000 ms.
    pub backoff_base_ms: u64,
    /// No retry waits longer than this (unless `Retry-After` asks for more). Default 300 000 ms.
    pub backoff_cap_ms: u64,
    /// Events the router reads and matches per step. Default 1024.
    pub router_batch: usize,
    /// Memory for routed events kept rendered for their targets' workers, so
    /// that an event is decoded and rendered once (a miss reads the log).
    /// Default 32 MiB; 0 turns it off.
    pub event_cache_bytes: usize,
    /// Attempts kept per (target, event) in the attempt history, the latest
    /// ones; 0 records none. Default 10, at most 1000.
    pub attempt_history_per_delivery: u32,
    /// A settled delivery's attempts are dropped once its last attempt is this
    /// old (swept every 10 minutes). Default 604 800 s (7 days).
    pub attempt_history_secs: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_in_flight: 16,
            request_timeout_ms: 5_000,
            backoff_base_ms: 1_000,
            backoff_cap_ms: 300_000,
            router_batch: 1024,
            event_cache_bytes: 32 * 1024 * 1024,
            attempt_history_per_delivery: 10,
            attempt_history_secs: 7 * 86_400,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `human` (default) or `json`.
    pub format: LogFormat,
    /// A tracing filter such as `info` (default) or `stowage=debug`. `RUST_LOG` wins if set.
    pub level: String,
    /// Event log retention: a record no pending delivery, dead letter or
    /// archive still needs is removed once it is this old (docs/retention.md).
    /// Text such as `"24h"` (default) or `"90m"`; `"0"` removes as soon as nothing needs it.
    #[serde(with = "duration::text")]
    pub min_retention: Duration,
    /// How often the retention sweep runs. Default `"1m"`, at least `"10ms"`.
    #[serde(with = "duration::text")]
    pub retention_sweep_interval: Duration,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// A dead letter is removed once it has been in its queue this long.
    /// Default `"14d"`; `"0"` keeps letters until an operator purges them.
    #[serde(with = "duration::text")]
    pub retention: Duration,
}

impl Default for DeadLetterConfig {
    fn default() -> Self {
        DeadLetterConfig {
            retention: Duration::from_secs(14 * 86_400),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            shutdown_grace_ms: 10_000,
            metrics_open: None,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./data"),
            cache_capacity_bytes: 64 * 1024 * 1024,
            compact_on_start: CompactOnStart::Auto,
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_event_bytes: 256 * 1024,
            idempotency_ttl_secs: 24 * 60 * 60,
            max_batch_events: 4096,
            queue_depth: 16_384,
        }
    }
}

impl Default for AwsConfig {
    fn default() -> Self {
        AwsConfig {
            region: "us-east-1".into(),
            account: "000000000000".into(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            level: "info".into(),
            min_retention: Duration::from_secs(86_400),
            retention_sweep_interval: Duration::from_secs(60),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplayConfig {
    /// Most events per second one replay appends; 0 = unlimited. Default 2000,
    /// so that a replay leaves the log writer to live traffic.
    pub events_per_sec: u64,
    /// Most archived events a replay reads and appends per batch (a low
    /// `events_per_sec` takes fewer). Default 256, at most 65 536.
    pub batch_events: usize,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            events_per_sec: 2_000,
            batch_events: 256,
        }
    }
}

/// Values given as command-line flags; they win over everything else.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
}

impl Config {
    /// Loads defaults < `file` < `STOWAGE_*` env < `flags`, then validates.
    pub fn load(file: Option<&Path>, flags: &Flags) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        // Only `SECTION__FIELD` variables are config; other STOWAGE_* ones (the CLI's
        // `STOWAGE_ENDPOINT`) are not.
        let env = Env::prefixed(error::ENV_PREFIX)
            .filter(|k| k.as_str().contains("__"))
            .split("__");
        let env_name = env.metadata().name.into_owned();
        figment = figment.merge(env);
        if let Some(listen) = flags.listen {
            figment = figment.merge(Serialized::default("server.listen", listen));
        }
        if let Some(dir) = &flags.data_dir {
            figment = figment.merge(Serialized::default("storage.data_dir", dir));
        }
        if let Some(format) = flags.log_format {
            figment = figment.merge(Serialized::default("log.format", format));
        }
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::from_figment(e, &env_name))?;
        match config.check() {
            Ok(()) => Ok(config),
            Err((field, reason)) => Err(ConfigError::invalid(&figment, field, reason, &env_name)),
        }
    }

    /// A config for tests: port 0, `dir` for data, a small cache.
    pub fn for_test(dir: &Path) -> Config {
        let mut config = Config::default();
        config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.server.shutdown_grace_ms = 2_000;
        config.storage.data_dir = dir.to_path_buf();
        config.storage.cache_capacity_bytes = 8 * 1024 * 1024;
        config
    }

    /// Checks every field's range; the error names the field as `section.field`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check()
            .map_err(|(field, reason)| ConfigError::Invalid {
                place: Place::Key(field.split('.').map(str::to_owned).collect()),
                reason,
            })
    }

    /// The first field out of range, as `section.field`, and why.
    fn check(&self) -> Result<(), (&'static str, &'static str)> {
        let invalid = |field, reason| Err((field, reason));
        let ingest = &self.ingest;
        if ingest.max_event_bytes < 1024 || ingest.max_event_bytes > MAX_EVENT_BYTES_LIMIT {
            return invalid("ingest.max_event_bytes", "must be between 1024 and 1048576");
        }
        if ingest.max_batch_events == 0 {
            return invalid("ingest.max_batch_events", "must be at least 1");
        }
        if ingest.queue_depth == 0 {
            return invalid("ingest.queue_depth", "must be at least 1");
        }
        if ingest.idempotency_ttl_secs == 0 {
            return invalid("ingest.idempotency_ttl_secs", "must be at least 1");
        }
        if self.patterns.max_pattern_chars == 0 {
            return invalid("patterns.max_pattern_chars", "must be at least 1");
        }
        if self.patterns.max_or_combinations == 0 {
            return invalid("patterns.max_or_combinations", "must be at least 1");
        }
        let delivery = &self.delivery;
        if delivery.threads == 0 || delivery.threads > 256 {
            return invalid("delivery.threads", "must be between 1 and 256");
        }
        if delivery.max_in_flight == 0 || delivery.max_in_flight > 4096 {
            return invalid("delivery.max_in_flight", "must be between 1 and 4096");
        }
        if delivery.request_timeout_ms == 0 {
            return invalid("delivery.request_timeout_ms", "must be at least 1");
        }
        if delivery.backoff_base_ms == 0 || delivery.backoff_cap_ms < delivery.backoff_base_ms {
            return invalid(
                "delivery.backoff_cap_ms",
                "backoff_base_ms must be at least 1 and backoff_cap_ms at least backoff_base_ms",
            );
        }
        if delivery.router_batch == 0 {
            return invalid("delivery.router_batch", "must be at least 1");
        }
        if delivery.attempt_history_per_delivery > 1000 {
            return invalid(
                "delivery.attempt_history_per_delivery",
                "must be between 0 and 1000",
            );
        }
        if delivery.attempt_history_secs == 0 {
            return invalid("delivery.attempt_history_secs", "must be at least 1");
        }
        if self.log.retention_sweep_interval < Duration::from_millis(10) {
            return invalid("log.retention_sweep_interval", "must be at least 10ms");
        }
        if self.replay.batch_events == 0 || self.replay.batch_events > 65_536 {
            return invalid("replay.batch_events", "must be between 1 and 65536");
        }
        if self.storage.cache_capacity_bytes < 1024 * 1024 {
            return invalid("storage.cache_capacity_bytes", "must be at least 1 MiB");
        }
        if self.storage.data_dir.as_os_str().is_empty() {
            return invalid("storage.data_dir", "must not be empty");
        }
        let region_ok = !self.aws.region.is_empty()
            && self
                .aws
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return invalid("aws.region", "must be a region name such as us-east-1");
        }
        if self.aws.account.len() != 12 || !self.aws.account.bytes().all(|b| b.is_ascii_digit()) {
            return invalid("aws.account", "must be 12 digits");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_secrets_load_from_the_file_and_never_show_in_debug() {
        let (_dir, loaded) = load_toml(
            "[[auth.operators]]\naccess_key_id = \"AKOP\"\nsecret_access_key = \"s3cr3t-value\"\n",
        );
        let config = loaded.expect("auth loads");
        assert_eq!(config.auth.operators[0].access_key_id, "AKOP");
        assert_eq!(
            config.auth.operators[0].secret_access_key.expose(),
            "s3cr3t-value"
        );
        assert!(!format!("{config:?}").contains("s3cr3t-value"));
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().expect("defaults validate");
    }

    #[test]
    fn file_then_flags_override_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("stowage.toml");
        std::fs::write(
            &file,
            "[ingest]\nmax_event_bytes = 2048\n[server]\nlisten = \"127.0.0.1:9000\"\n",
        )
        .expect("write config");
        let flags = Flags {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9100))),
            ..Flags::default()
        };
        let config = Config::load(Some(&file), &flags).expect("config loads");
        assert_eq!(config.ingest.max_event_bytes, 2048);
        assert_eq!(config.server.listen.port(), 9100);
    }

    /// Loads `toml` as the config file.
    fn load_toml(toml: &str) -> (tempfile::TempDir, Result<Config, ConfigError>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("stowage.toml");
        std::fs::write(&file, toml).expect("write config");
        let loaded = Config::load(Some(&file), &Flags::default());
        (dir, loaded)
    }

    #[test]
    fn unknown_field_is_named_with_its_section_and_the_closest_field() {
        let (dir, loaded) = load_toml("[ingest]\nmax_event_byte = 2048\n");
        let err = loaded.expect_err("typo is refused").to_string();
        let file = dir.path().join("stowage.toml");
        assert_eq!(
            err,
            format!(
                "unknown config field [ingest] max_event_byte in {}: did you mean max_event_bytes?",
                file.display()
            )
        );
    }

    #[test]
    fn unknown_section_is_named_with_the_closest_section() {
        let (_dir, loaded) = load_toml("[ingestion]\nmax_event_bytes = 2048\n");
        let err = loaded.expect_err("typo is refused").to_string();
        assert!(
            err.starts_with("unknown config section [ingestion] in "),
            "{err}"
        );
        assert!(err.ends_with(": did you mean [ingest]?"), "{err}");
    }

    #[test]
    fn unknown_field_far_from_any_lists_the_known_ones() {
        let (_dir, loaded) = load_toml("[aws]\ncolour = \"blue\"\n");
        let err = loaded.expect_err("typo is refused").to_string();
        assert!(err.ends_with(": expected one of region, account"), "{err}");
    }

    #[test]
    fn the_removed_test_clock_field_is_refused_as_unknown() {
        let (_dir, loaded) = load_toml("[delivery]\ntest_clock = true\n");
        let err = loaded.expect_err("no longer a field").to_string();
        assert!(
            err.starts_with("unknown config field [delivery] test_clock in "),
            "{err}"
        );
    }

    #[test]
    fn value_of_the_wrong_type_names_the_field_and_both_types() {
        let (_dir, loaded) = load_toml("[ingest]\nmax_event_bytes = \"big\"\n");
        let err = loaded.expect_err("a string is refused").to_string();
        assert!(
            err.starts_with("invalid value for [ingest] max_event_bytes in "),
            "{err}"
        );
        assert!(
            err.ends_with(": expected a whole number (0 or more), found the string \"big\""),
            "{err}"
        );
        assert!(!err.contains('`'), "{err}");
    }

    #[test]
    fn retention_durations_are_read_as_text() {
        let (_dir, loaded) = load_toml(
            "[log]\nmin_retention = \"90m\"\nretention_sweep_interval = \"30s\"\n[dead_letters]\nretention = \"0\"\n",
        );
        let config = loaded.expect("durations load");
        assert_eq!(config.log.min_retention, Duration::from_secs(5400));
        assert_eq!(config.log.retention_sweep_interval, Duration::from_secs(30));
        assert_eq!(config.dead_letters.retention, Duration::ZERO);
        let defaults = Config::default();
        assert_eq!(defaults.log.min_retention, Duration::from_secs(86_400));
        assert_eq!(
            defaults.dead_letters.retention,
            Duration::from_secs(14 * 86_400)
        );
    }

    #[test]
    fn a_bad_duration_names_the_field_and_the_expected_form() {
        let (_dir, loaded) = load_toml("[log]\nmin_retention = \"24 hours\"\n");
        let err = loaded.expect_err("refused").to_string();
        assert!(
            err.starts_with("invalid value for [log] min_retention in "),
            "{err}"
        );
        assert!(err.contains("expected a duration such as"), "{err}");
        let (_dir, loaded) = load_toml("[dead_letters]\nretention = 14\n");
        let err = loaded.expect_err("a bare number is refused").to_string();
        assert!(
            err.starts_with("invalid value for [dead_letters] retention in "),
            "{err}"
        );
        assert!(err.contains("\"14s\""), "{err}");
    }

    #[test]
    fn out_of_range_value_names_the_field_where_it_was_set() {
        let (_dir, loaded) = load_toml("[ingest]\nmax_event_bytes = 4194304\n");
        let err = loaded.expect_err("too large").to_string();
        assert!(
            err.starts_with("invalid value for [ingest] max_event_bytes in "),
            "{err}"
        );
        assert!(err.ends_with(": must be between 1024 and 1048576"), "{err}");
    }
}
