//! The startup check: every stored record is read back and its crc32 verified.
//!
//! Runs on its own thread so that a large log never delays startup. A damaged
//! record is reported (log line, `stowage_log_corrupt_records_total`) and skipped;
//! reads of it return `ReadError::Corrupt`, never its bytes.

use super::chunk;

use crate::event::Seq;
use crate::metrics::LogMetrics;

/// Checks records below `end` (the writer counts everything from `end` on).
pub(super) fn spawn(log: sled::Tree, end: Seq, metrics: LogMetrics) {
    let spawned = std::thread::Builder::new()
        .name("log-check".into())
        .spawn(move || {
            let (mut records, mut bytes, mut corrupt) = (0i64, 0i64, 0u64);
            for item in log.range(..end.to_key()) {
                let (key, value) = match item {
                    Ok(kv) => kv,
                    Err(error) => {
                        tracing::error!(%error, "log check stopped: sled read failed");
                        break;
                    }
                };
                let first = Seq::from_key(&key).map_or(0, |s| s.0);
                for (seq, frame) in (first..).zip(chunk::frames(&value)) {
                    let checked = frame.map_err(|e| e.to_string()).and_then(|frame| {
                        super::decode_event(frame)
                            .map(|_| frame.len())
                            .map_err(|e| e.to_string())
                    });
                    match checked {
                        Ok(len) => {
                            records += 1;
                            bytes += i64::try_from(len).unwrap_or(i64::MAX);
                        }
                        Err(error) => {
                            corrupt += 1;
                            metrics.corrupt_records.inc();
                            tracing::error!(seq, %error, "damaged log record skipped");
                        }
                    }
                }
            }
            metrics.records.add(records);
            metrics.record_bytes.add(bytes);
            metrics.check_complete.set(1);
            tracing::info!(records, corrupt, "log check complete");
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the log check");
    }
}
