//! Stowage: a storage-first durable event gateway.
//!
//! Every event is fsynced into an append-only sled log before the publisher gets
//! its `200`; rules with EventBridge patterns route events to HTTP targets.

pub mod bus; // event buses: default + custom, persisted
pub mod codec; // record framing: version byte, crc32, bincode
pub mod config; // defaults < TOML < env < flags, validated once
pub mod event; // the Event, its ids and its EventBridge envelope
pub mod log; // the append-only log and its group-commit writer
pub mod metrics; // Prometheus registry and handles
pub mod pattern; // EventBridge event patterns: parse, validate, compile, match
pub mod store; // the sled database, its trees, durability
