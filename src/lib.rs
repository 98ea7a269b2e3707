//! Stowage: a storage-first durable event gateway.
//!
//! Every event is fsynced into an append-only sled log before the publisher gets
//! its `200`; rules with EventBridge patterns route events to HTTP targets.
//!
//! - `archive`: archives: per archive an index over the log of its bus's matching events
//! - `api`: HTTP (gateway, AWS JSON 1.1, operator API); the only place for status codes
//! - `auth`: who the caller is: operator credentials and SigV4 verification
//! - `backup`: a consistent copy of the database as a stream of framed records
//! - `bus`: event buses, `default` and custom ones, persisted
//! - `catalog`: the control plane: rules, targets, connections, API destinations, compiled
//! - `cli`: the command line (`serve`, `put`, `dlq`, `status`, `test-pattern`)
//! - `compact`: a stopped server's database copied into a fresh one, giving disk space back
//! - `codec`: record framing (version byte, crc32, bincode)
//! - `config`: defaults < TOML < env < flags, validated once
//! - `dead_letter`: dead-letter queues: failed deliveries with their reasons
//! - `delivery`: per-target workers: input, auth, rate limit, retries
//! - `event`: the Event, its ids and its EventBridge envelope
//! - `keys`: publisher keys: who may publish which sources and detail types, how fast
//! - `log`: the append-only log and its group-commit writer
//! - `metrics`: the Prometheus registry and handles
//! - `pending`: the owner of pending deliveries: owed exactly until delivered, dead-lettered or purged
//! - `pattern`: EventBridge event patterns (parse, validate, compile, match)
//! - `retention`: log records nothing needs, and old dead letters, removed by a periodic sweep
//! - `replay`: replays of an archive's window, in the background, resumable
//! - `router`: each durable event matched once; pending deliveries recorded
//! - `secrets`: the key that seals secrets at rest (connections, signing secrets)
//! - `schema`: JSON Schemas per source and detail type, checked at ingest
//! - `server`: bind, serve, shut down in order
//! - `store`: the sled database, its trees, durability
//! - `transform`: input transformation (Input, InputPath, InputTransformer) and JSON paths

pub mod api;
pub mod archive;
pub mod attempts;
pub mod auth;
pub mod backup;
pub mod bus;
pub mod catalog;
pub mod cli;
pub mod codec;
pub mod compact;
pub mod config;
pub mod dead_letter;
pub mod delivery;
pub mod event;
pub mod keys;
pub mod log;
pub mod metrics;
pub mod pattern;
pub mod pending;
pub mod replay;
pub mod retention;
pub mod router;
pub mod schema;
pub mod secrets;
pub mod server;
pub mod store;
pub mod transform;
