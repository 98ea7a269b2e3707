//! Stowage's integration tests: one binary, a module per area, each test against
//! its own real server on port 0 over its own temporary data dir: a `stowage`
//! process, or the same server code in-process where a test moves delivery's clock.

#![allow(clippy::unwrap_used)] // tests may unwrap; most use `expect` with a reason

mod archive_retention;
mod archives;
mod auth_keys;
mod auth_sigv4;
mod aws_buses;
mod aws_connections;
mod aws_put_events;
mod aws_rules;
mod aws_tags;
mod backup;
mod bad_input;
mod cli;
mod cli_dlq;
mod cli_replay;
mod compaction;
mod config;
mod corruption;
mod crash;
mod delivery;
mod delivery_auth;
mod delivery_crash;
mod delivery_input;
mod delivery_limits;
mod durability;
mod events_trace;
mod gateway;
mod idempotency;
mod in_process;
mod operations;
mod pattern_api;
mod pattern_conformance;
mod readme;
mod replays;
mod retention;
mod schemas;
mod secrets_key;
mod shutdown;
mod signed_delivery;
mod sink;
mod startup;
mod status;
mod support;
mod sync_failure;
