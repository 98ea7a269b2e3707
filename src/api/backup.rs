//! `POST /v1/backup`: the whole database as a backup stream
//! (`backup::stream`), for `stowage backup`.
//!
//! The copy runs on a blocking thread (sled reads, and the removal pause is a
//! std lock that must never be held across an await) and hands its pieces
//! through a bounded body channel: a slow reader slows the copy, it never
//! buffers the database. The status is sent before the copy starts, so a
//! failure later (a store error) aborts the response mid-body; the reader
//! then has no trailer and refuses the stream.

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::channel::Channel;

use super::AppState;
use crate::backup::{self, CopyError};

/// Pieces (`backup::PIECE_BYTES` each) buffered between the copy and the socket.
const BUFFERED_PIECES: usize = 4;

pub async fn backup(State(state): State<AppState>) -> Response {
    let (mut sender, body) = Channel::<Bytes, std::io::Error>::new(BUFFERED_PIECES);
    let store = state.store.clone();
    let (buses, catalog) = (state.buses.clone(), state.catalog.clone());
    let metrics = state.metrics.backup.clone();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        metrics.running.inc();
        // The generated secrets key, when the data directory has one: the
        // copy's sealed secrets need it (a key from env or a file outside the
        // data directory stays out of the backup).
        let key = match store.data_file(crate::secrets::GENERATED_KEY_FILE) {
            Ok(key) => key,
            Err(error) => {
                metrics.running.dec();
                metrics.failed.inc();
                tracing::error!(%error, "cannot read the generated secrets key; backup refused");
                sender.abort(std::io::Error::other("the backup failed on the server"));
                return;
            }
        };
        let files: Vec<(&str, Vec<u8>)> = key
            .map(|key| (crate::secrets::GENERATED_KEY_FILE, key))
            .into_iter()
            .collect();
        let config = backup::Config {
            buses: &buses,
            catalog: &catalog,
            files: &files,
        };
        let copied = backup::copy(&store, config, env!("CARGO_PKG_VERSION"), |piece| {
            runtime
                .block_on(sender.send_data(Bytes::from(piece)))
                .is_ok()
        });
        metrics.running.dec();
        match copied {
            Ok(copied) => {
                let seconds = started.elapsed().as_secs_f64();
                metrics.completed.inc();
                metrics.bytes.inc_by(copied.stream_bytes);
                metrics.last_duration_seconds.set(seconds);
                tracing::info!(
                    records = copied.trailer.records(),
                    bytes = copied.stream_bytes,
                    seconds,
                    paused_ms = copied.paused.as_millis(),
                    "backup streamed; removals resumed"
                );
            }
            Err(CopyError::ReaderGone) => {
                metrics.failed.inc();
                tracing::warn!("backup reader went away; copy stopped, removals resumed");
            }
            Err(CopyError::Store(error)) => {
                metrics.failed.inc();
                tracing::error!(%error, "backup failed; stream aborted");
                sender.abort(std::io::Error::other("the backup failed on the server"));
            }
        }
    });
    (
        [(header::CONTENT_TYPE, "application/vnd.stowage.backup")],
        Body::new(body),
    )
        .into_response()
}
