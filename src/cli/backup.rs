//! `stowage backup --out DIR`: a consistent copy of a running server's data
//! (`POST /v1/backup`) written as a new data directory. Restore is
//! `stowage serve --data-dir DIR`.
//!
//! The copy is written into `DIR.partial` (mode 0700), every record's crc and
//! the trailer's counts checked as it arrives (`backup::Decoder`), made
//! durable, then renamed to `DIR`: `DIR` exists only complete. On any failure
//! (the server goes away, a damaged stream, a full disk, Ctrl-C) the partial
//! directory is removed and the command exits 1. What makes the copy
//! consistent is the server's side (`backup`).

use std::fs::DirBuilder;
use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use serde_json::json;

use super::ClientArgs;
use super::client::{Client, RequestError, block_on};
use super::output::println;
use crate::backup::{Decoder, Item, Trailer};
use crate::store::StoreCopy;

/// Pieces of the stream buffered between the network and the writer.
const BUFFERED_PIECES: usize = 16;

#[derive(clap::Args)]
pub struct BackupArgs {
    /// The directory to write the copy to; it must not exist, or be empty.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    client: ClientArgs,
}

/// What a finished backup wrote.
struct Summary {
    trees: usize,
    records: u64,
    bytes: u64,
    elapsed: Duration,
}

pub fn run(args: BackupArgs) -> anyhow::Result<ExitCode> {
    block_on(backup(args))
}

async fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let out = args.out.as_path();
    refuse_non_empty(out)?;
    let partial = partial_path(out)?;
    create_private(&partial)?;
    let client = Client::for_args(&args.client)?;
    let bar = progress(args.client.json);
    let copied = tokio::select! {
        copied = copy(&client, &partial, &bar) => copied,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    bar.finish_and_clear();
    let summary = match copied.and_then(|summary| move_into_place(&partial, out).map(|()| summary))
    {
        Ok(summary) => summary,
        Err(error) => {
            if let Err(cleanup) = remove_partial(&partial).await {
                eprintln!("warning: cannot remove {}: {cleanup}", partial.display());
            }
            return Err(error.context(format!(
                "backup failed; nothing was written to {}",
                out.display()
            )));
        }
    };
    let seconds = summary.elapsed.as_secs_f64();
    let text = if args.client.json {
        json!({
            "out": out.display().to_string(),
            "trees": summary.trees,
            "records": summary.records,
            "bytes": summary.bytes,
            "seconds": seconds,
        })
        .to_string()
    } else {
        format!(
            "backup written to {}: {} trees, {} records, {} in {:.1} s ({:.1} MiB/s); \
             restore with: stowage serve --data-dir {}",
            out.display(),
            summary.trees,
            summary.records,
            indicatif::HumanBytes(summary.bytes),
            seconds,
            mib_per_sec(summary.bytes, seconds),
            out.display(),
        )
    };
    println(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// MiB per second, for display.
fn mib_per_sec(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        bytes as f64 / (1024.0 * 1024.0) / seconds
    } else {
        0.0
    }
}

/// Removes the unfinished copy. sled's flusher thread may still be closing
/// its files a moment after the database is dropped, so a directory that is
/// not yet empty is tried again (bounded).
async fn remove_partial(partial: &Path) -> std::io::Result<()> {
    let mut tries = 0;
    loop {
        match std::fs::remove_dir_all(partial) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if tries >= 20 => return Err(e),
            Err(_) => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// `DIR` must not exist, or be an empty directory.
fn refuse_non_empty(out: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "{} is not empty: pass --out a new or empty directory",
                    out.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotADirectory => bail!(
            "{} is a file: pass --out a new or empty directory",
            out.display()
        ),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", out.display())),
    }
}

/// `DIR.partial`, next to `DIR`.
fn partial_path(out: &Path) -> anyhow::Result<PathBuf> {
    let Some(name) = out.file_name() else {
        bail!("--out {} names no directory", out.display());
    };
    let mut name = name.to_os_string();
    name.push(".partial");
    Ok(out.with_file_name(name))
}

fn create_private(partial: &Path) -> anyhow::Result<()> {
    if let Some(parent) = partial.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    match DirBuilder::new().mode(0o700).create(partial) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => bail!(
            "{} exists, left by an interrupted backup or another one running: \
             remove it, or choose another --out",
            partial.display()
        ),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", partial.display())),
    }
}

/// Reads the stream into a new database in `partial`; returns what it held.
/// The network is read here while a blocking thread (`write`) checks the
/// pieces and inserts them, so reading and writing overlap; a bounded channel
/// between them keeps memory flat and paces the server.
async fn copy(
    client: &Client,
    partial: &Path,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let mut response = client.post_streamed("/v1/backup").await?;
    let url = response.url().to_string();
    let copy = StoreCopy::create(partial)?;
    let records = Arc::new(AtomicU64::new(0));
    let (pieces, inbox) = tokio::sync::mpsc::channel::<Bytes>(BUFFERED_PIECES);
    let writer = tokio::task::spawn_blocking({
        let records = records.clone();
        move || write(copy, inbox, &records)
    });
    let mut received = 0u64;
    let read = async {
        while let Some(piece) = response
            .chunk()
            .await
            .map_err(|source| RequestError::Truncated {
                url: url.clone(),
                source,
            })
            .context("the server stopped sending the backup")?
        {
            received += piece.len() as u64;
            bar.set_position(received);
            bar.set_message(format!("{} records", records.load(Ordering::Relaxed)));
            if pieces.send(piece).await.is_err() {
                break; // the writer stopped: its error says why
            }
        }
        anyhow::Ok(())
    };
    let read = read.await;
    drop(pieces);
    bar.set_message(format!(
        "{} records; syncing",
        records.load(Ordering::Relaxed)
    ));
    // A failed read is the cause of the writer's "incomplete"; a refused
    // stream stops the reading without a read error.
    let written = writer.await.context("the copy's writer thread failed")?;
    read?;
    let trailer =
        written.with_context(|| format!("cannot complete the copy in {}", partial.display()))?;
    Ok(Summary {
        trees: trailer.trees.len(),
        records: trailer.records(),
        bytes: received,
        elapsed: started.elapsed(),
    })
}

/// Checks and inserts every piece until the channel closes, then, if the
/// stream was complete, finishes the copy (ids raised, synced). Blocking.
fn write(
    mut copy: StoreCopy,
    mut inbox: tokio::sync::mpsc::Receiver<Bytes>,
    records: &AtomicU64,
) -> anyhow::Result<Trailer> {
    let mut decoder = Decoder::new();
    let mut tree: Option<String> = None;
    let mut trailer: Option<Trailer> = None;
    while let Some(piece) = inbox.blocking_recv() {
        decoder.push(&piece);
        while let Some(item) = decoder
            .next_item()
            .context("the backup stream is damaged")?
        {
            match item {
                Item::Header(_) => {}
                Item::Tree(name) => {
                    let name = String::from_utf8(name).context("a tree name is not UTF-8")?;
                    copy.create_tree(&name)?;
                    tree = Some(name);
                }
                Item::Record { key, value } => {
                    let Some(tree) = &tree else {
                        bail!("the backup stream has a record before any tree");
                    };
                    copy.insert(tree, &key, &value)?;
                    records.fetch_add(1, Ordering::Relaxed);
                }
                Item::Trailer(t) => trailer = Some(t),
            }
        }
    }
    decoder
        .finish()
        .context("the backup stream is incomplete")?;
    let Some(trailer) = trailer else {
        bail!("the backup stream has no trailer");
    };
    copy.finish(trailer.id_floor)?;
    Ok(trailer)
}

/// Renames the complete copy to `out` (replacing it if it is an empty
/// directory) and makes the rename durable.
fn move_into_place(partial: &Path, out: &Path) -> anyhow::Result<()> {
    std::fs::rename(partial, out)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), out.display()))?;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(parent)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("cannot sync {}", parent.display()))
}

/// Bytes received, their rate and the records written so far, on stderr;
/// hidden with `--json` (and by indicatif when stderr is not a terminal).
fn progress(json: bool) -> indicatif::ProgressBar {
    if json {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {msg}, {bytes} received ({binary_bytes_per_sec}), {elapsed}",
    )
    .expect("the template is valid");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_sits_next_to_out() {
        assert_eq!(
            partial_path(Path::new("/b/copy")).expect("a name"),
            PathBuf::from("/b/copy.partial")
        );
        assert_eq!(
            partial_path(Path::new("copy/")).expect("a name"),
            PathBuf::from("copy.partial")
        );
        assert!(partial_path(Path::new("/")).is_err());
    }

    #[test]
    fn only_a_missing_or_empty_out_is_accepted() {
        let root = tempfile::tempdir().expect("tempdir");
        assert!(refuse_non_empty(&root.path().join("new")).is_ok());
        assert!(refuse_non_empty(root.path()).is_ok());
        std::fs::write(root.path().join("f"), b"x").expect("write");
        let err = refuse_non_empty(root.path()).expect_err("not empty");
        assert!(err.to_string().contains("not empty"), "{err}");
        let err = refuse_non_empty(&root.path().join("f")).expect_err("a file");
        assert!(err.to_string().contains("is a file"), "{err}");
    }
}
