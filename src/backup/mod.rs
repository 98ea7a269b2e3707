//! Backup: a consistent copy of a running server's database, as a stream of
//! framed (tree, key, value) records (`stream`), read from the store in an
//! order that makes the copy consistent (`copy_order`, `copy`).
//!
//! Does not decide HTTP (`api::backup`) or write the copy (`store::StoreCopy`,
//! driven by `cli::backup`).
//!
//! ## Why the copy is consistent
//!
//! sled has no snapshot across trees, so the trees are read one after
//! another while the server keeps working. Three rules make the result a
//! state the server could have been in, give or take deliveries repeated:
//!
//! 1. **Nothing is removed during the copy.** `copy` holds
//!    `Store::pause_removals()` from before the first tree to after the last:
//!    retention (log chunks, archive entries, old dead letters) waits, and so
//!    do a redrive (which removes a letter to add a delivery), an operator's
//!    deletion of a letter (letters are copied before `dead_letter_seqs`,
//!    their index of held log records) and an archive's purge. Whatever a
//!    copied record refers to is still there when its tree is read.
//! 2. **Referrers before what they refer to; the log last.** Catalog trees
//!    first (buses, rules, connections, API destinations, tags), then
//!    `pending` (deliveries and the router's position), then `dead_letters`,
//!    then every other tree (idempotency, meta, attempts, archives, replays,
//!    and any tree added later, found by `Store::tree_names`), and `log`
//!    last. The log is append-only and nothing leaves it during the copy, so
//!    the copied log holds every event acknowledged before the backup began
//!    (an acknowledgement comes after the event's chunk is in the tree) and
//!    every event a copied delivery, letter, archive entry or idempotency key
//!    names; the copied router position is at or below the copied log's end,
//!    and `meta`'s next sequence number is below it too (the log recovers
//!    the larger of the two).
//! 3. **Deliveries are at least once.** A delivery completed after `pending`
//!    was read is still owed in the copy and is sent again after a restore.
//!    A delivery dead-lettered after `pending` was read is in both trees of
//!    the copy (owed, and a letter). No delivery is lost: the only move from
//!    `dead_letters` into `pending` (redrive) waits for the copy (rule 1).
//!
//! Each tree is copied up to the last key it had when its copy began, so the
//! copy ends even while the log grows faster than the reader. Events
//! published during the copy may or may not be in it; the ones that are have
//! been routed or will be after a restore. One window is not closed: the log
//! writer inserts a batch's idempotency keys a moment before its log chunk,
//! so a key copied in that moment can name an event the copy lacks (it was
//! not acknowledged before the backup began); a retry of that publish after
//! a restore is answered with that missing event's id. The catalog trees
//! are copied as one state: bus and catalog changes wait while they are
//! copied (milliseconds: they are small).
//!
//! sled's id counter is not a tree: the trailer carries the next id the
//! source would hand out, and the copy starts above it.

pub mod stream;

use std::time::Instant;

use crate::bus::Buses;
use crate::catalog::Catalog;
use crate::event::now_ms;
use crate::store::{Store, StoreError, tree};
pub use stream::{Decoder, Item, StreamError, Trailer};
use stream::{Encoder, FORMAT_VERSION, Header};

/// The catalog's trees, copied first, in this order.
const CATALOG: &[&str] = &[
    tree::BUSES,
    tree::RULES,
    tree::CONNECTIONS,
    tree::API_DESTINATIONS,
    tree::TAGS,
];

/// The stream is handed on in pieces of about this size.
pub const PIECE_BYTES: usize = 256 * 1024;

/// The order in which `names` (every tree of the database) are copied; see
/// the module doc.
pub fn copy_order(names: &[String]) -> Vec<String> {
    let present = |name: &str| names.iter().any(|n| n == name);
    let mut order: Vec<String> = CATALOG
        .iter()
        .chain([&tree::PENDING, &tree::DEAD_LETTERS])
        .filter(|name| present(name))
        .map(|name| (*name).to_owned())
        .collect();
    let mut rest: Vec<String> = names
        .iter()
        .filter(|n| !order.contains(n) && n.as_str() != tree::LOG)
        .cloned()
        .collect();
    rest.sort();
    rest.dedup();
    order.extend(rest);
    if present(tree::LOG) {
        order.push(tree::LOG.to_owned());
    }
    order
}

/// What holds configuration changes off while the catalog trees are copied.
#[derive(Clone, Copy)]
pub struct Config<'a> {
    pub buses: &'a Buses,
    pub catalog: &'a Catalog,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("reading the store failed")]
    Store(#[from] StoreError),
    #[error("the reader of the backup went away")]
    ReaderGone,
}

/// What one backup sent.
#[derive(Debug)]
pub struct Copied {
    pub trailer: Trailer,
    /// Stream bytes, framing included.
    pub stream_bytes: u64,
    /// How long removals were paused.
    pub paused: std::time::Duration,
}

/// Streams the whole database to `send` in pieces of about `PIECE_BYTES`,
/// holding removals paused throughout. `send` blocks while its reader is
/// behind and returns false once the reader is gone. Blocking: call it on a
/// blocking thread.
pub fn copy(
    store: &Store,
    config: Config<'_>,
    server_version: &str,
    mut send: impl FnMut(Vec<u8>) -> bool,
) -> Result<Copied, CopyError> {
    let paused = store.pause_removals();
    let started = Instant::now();
    let mut out = Vec::with_capacity(2 * PIECE_BYTES);
    let header = Header {
        format_version: FORMAT_VERSION,
        created_ms: now_ms(),
        server_version: server_version.to_owned(),
    };
    let mut encoder = Encoder::start(&header, &mut out);
    let mut stream_bytes = 0u64;
    let mut hand_on = |out: &mut Vec<u8>| {
        stream_bytes += out.len() as u64;
        if send(std::mem::replace(out, Vec::with_capacity(2 * PIECE_BYTES))) {
            Ok(())
        } else {
            Err(CopyError::ReaderGone)
        }
    };
    let names = copy_order(&store.tree_names());
    let catalog_trees = names
        .iter()
        .take_while(|n| CATALOG.contains(&n.as_str()))
        .count();
    // The configuration is copied as one state: no change lands between its trees.
    let mut config_held = Some((config.buses.hold_changes(), config.catalog.hold_changes()));
    for (i, name) in names.into_iter().enumerate() {
        if i == catalog_trees {
            config_held = None;
        }
        let tree = store.tree(&name)?;
        encoder.tree(name.as_bytes(), &mut out);
        // Up to the last key when the tree's copy starts, so a tree that grows
        // faster than the reader (the log under load) still ends.
        let Some((last, _)) = tree.last().map_err(StoreError::from)? else {
            continue;
        };
        for entry in tree.range(..=last) {
            let (key, value) = entry.map_err(StoreError::from)?;
            encoder.record(&key, &value, &mut out);
            // Never wait for the reader while configuration changes are held:
            // the configuration is buffered whole (it is small).
            if out.len() >= PIECE_BYTES && config_held.is_none() {
                hand_on(&mut out)?;
            }
        }
    }
    drop(config_held);
    // Taken last: every id in the copied records was handed out before it.
    let id_floor = store.generate_id()?;
    let trailer = encoder.finish(id_floor, &mut out);
    hand_on(&mut out)?;
    let paused_for = started.elapsed();
    drop(paused);
    Ok(Copied {
        trailer,
        stream_bytes,
        paused: paused_for,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &std::path::Path) -> (std::sync::Arc<Store>, Buses, Catalog) {
        let config = crate::config::Config::for_test(dir);
        let store = std::sync::Arc::new(Store::open(&config.storage).expect("open"));
        let buses = Buses::open(store.clone(), &config.aws).expect("buses");
        let catalog = Catalog::open(
            store.clone(),
            &config.aws,
            config.patterns.limits(),
            crate::secrets::SecretBox::for_test(),
        )
        .expect("catalog");
        (store, buses, catalog)
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn catalog_first_then_pending_letters_others_and_log_last() {
        let order = copy_order(&names(&[
            "log",
            "archives",
            "dead_letters",
            "meta",
            "__sled__default",
            "pending",
            "tags",
            "idempotency",
            "buses",
            "rules",
            "replays",
        ]));
        assert_eq!(
            order,
            names(&[
                "buses",
                "rules",
                "tags",
                "pending",
                "dead_letters",
                "__sled__default",
                "archives",
                "idempotency",
                "meta",
                "replays",
                "log",
            ])
        );
    }

    #[test]
    fn every_tree_is_copied_once() {
        let all = names(&["log", "x", "buses", "x", "pending"]);
        let order = copy_order(&all);
        assert_eq!(order, names(&["buses", "pending", "x", "log"]));
    }

    #[test]
    fn copy_streams_every_record_and_a_floor_above_used_ids() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, buses, catalog) = open(dir.path());
        store
            .tree(tree::LOG)
            .expect("log")
            .insert(1u64.to_be_bytes(), &b"chunk"[..])
            .expect("insert");
        store
            .tree(tree::BUSES)
            .expect("buses")
            .insert("default", &b"bus"[..])
            .expect("insert");
        let used = store.generate_id().expect("id");
        let mut bytes = Vec::new();
        let config = Config {
            buses: &buses,
            catalog: &catalog,
        };
        let copied = copy(&store, config, "test", |piece| {
            bytes.extend_from_slice(&piece);
            true
        })
        .expect("copied");
        assert!(copied.trailer.id_floor > used);
        assert_eq!(copied.stream_bytes, bytes.len() as u64);
        let mut decoder = Decoder::new();
        decoder.push(&bytes);
        let mut trees = Vec::new();
        while let Some(item) = decoder.next_item().expect("intact") {
            if let Item::Tree(name) = item {
                trees.push(String::from_utf8(name).expect("utf-8"));
            }
        }
        decoder.finish().expect("complete");
        assert_eq!(trees.first().map(String::as_str), Some("buses"));
        assert_eq!(trees.last().map(String::as_str), Some("log"));
        // Removals are allowed again afterwards.
        drop(store.removal_permit());
    }

    #[test]
    fn removals_wait_until_the_copy_ends() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, buses, catalog) = open(dir.path());
        let config = Config {
            buses: &buses,
            catalog: &catalog,
        };
        let removed = Arc::new(AtomicBool::new(false));
        let mut sweeper = None;
        copy(&store, config, "test", |_| {
            let (sweep_store, sweep_removed) = (store.clone(), removed.clone());
            sweeper.get_or_insert_with(|| {
                std::thread::spawn(move || {
                    let _permit = sweep_store.removal_permit();
                    sweep_removed.store(true, Ordering::SeqCst);
                })
            });
            std::thread::sleep(std::time::Duration::from_millis(100));
            assert!(!removed.load(Ordering::SeqCst), "a removal ran mid-copy");
            true
        })
        .expect("copied");
        sweeper.expect("spawned").join().expect("sweeper");
        assert!(removed.load(Ordering::SeqCst));
    }

    #[test]
    fn a_reader_gone_stops_the_copy_and_releases_removals() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, buses, catalog) = open(dir.path());
        let config = Config {
            buses: &buses,
            catalog: &catalog,
        };
        let err = copy(&store, config, "test", |_| false).expect_err("reader gone");
        assert!(matches!(err, CopyError::ReaderGone), "{err:?}");
        drop(store.removal_permit());
    }
}
