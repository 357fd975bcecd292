//! The store: blobs as files named by digest (`blobs`), metadata in sled (`meta`), every path
//! in one place (`paths`), and the import lock (`lock`).

pub mod blobs;
pub mod digests;
pub mod lock;
pub mod meta;
pub mod paths;

use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use feas_format::Digest;

pub use blobs::BlobStore;
pub use digests::DigestSet;
pub use lock::ImportLock;
pub use meta::{unix_now, Action, Actor, Audit, BundleRecord, Changes, Event, HistoryRecord, ManifestRecord, Meta, References, Removal, PUSH_GRACE};
pub use paths::Paths;

/// sled's page cache for `Store::open_for_scan`: at 1M blobs, gc and verify peak at ~190 and
/// ~220 MB with it, against ~430 MB with sled's default.
const SCAN_CACHE: u64 = 32 << 20;

/// sled's page cache for every other open (the server, CLI writes): sled's default of 1 GiB let
/// a serving process at 1M records grow past 1 GB; hot reads are served from renderings and
/// counters, not from pages.
const CACHE: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("store metadata at {path} cannot be opened: {detail}. Another mirror process (a running `mirror serve`?) holds this store: stop it, or let `mirror import` hand the bundle to it through {socket}")]
    Busy { path: PathBuf, socket: PathBuf, detail: String },
    #[error("store metadata: {0}")]
    Db(#[from] sled::Error),
    #[error("store metadata is damaged ({0}); restore the store from a backup or re-import into a fresh one")]
    Corrupt(String),
    #[error("{path} is larger than {max} bytes, too large for a manifest")]
    TooLarge { path: PathBuf, max: u64 },
    #[error("metadata tree {0} has no reachability rule (mirror/src/store/meta/reach.rs); refusing to collect blobs it may reference")]
    NoReachRule(String),
    #[error("written blob hashes to {actual}, expected {expected}")]
    DigestMismatch { expected: Digest, actual: Digest },
}

/// A transaction over the metadata trees fails only in storage: none of ours aborts.
impl From<sled::transaction::TransactionError<std::convert::Infallible>> for StoreError {
    fn from(e: sled::transaction::TransactionError<std::convert::Infallible>) -> Self {
        match e {
            sled::transaction::TransactionError::Storage(e) => StoreError::Db(e),
            sled::transaction::TransactionError::Abort(never) => match never {},
        }
    }
}

/// An open store. Derefs to its metadata so callers write `store.tag(..)`.
pub struct Store {
    pub paths: Paths,
    pub blobs: BlobStore,
    meta: Meta,
    /// Adding content and collecting it exclude each other. A push puts its file in `blobs/`
    /// (or counts on one being there) before its record commits; gc and rm decide from the
    /// records what is unreferenced, then delete. Without this a file that lands, or a record
    /// that names an existing file, between the two is deleted under an acknowledged push.
    /// sled lets one process open a store, so an in-process lock covers every writer.
    writes: RwLock<()>,
}

impl Deref for Store {
    type Target = Meta;
    fn deref(&self) -> &Meta {
        &self.meta
    }
}

impl Store {
    /// Open (creating if needed). sled locks its database, so from here on this process is the
    /// only one using the store and any `tmp/import-*` left is from an import that crashed:
    /// metadata never pointed at it, so it is removed.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(root, CACHE)
    }

    /// Open for one pass over the whole store (`gc`, `verify` without a server): every page is
    /// read once, so sled's cache is kept small rather than growing to 1 GiB with the store.
    pub fn open_for_scan(root: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(root, SCAN_CACHE)
    }

    fn open_with_cache(root: &Path, cache: u64) -> Result<Store, StoreError> {
        let paths = Paths::new(root);
        for d in paths.blob_dirs().iter().chain([&paths.tmp()]) {
            std::fs::create_dir_all(d).map_err(|source| StoreError::Io { path: d.clone(), source })?;
        }
        // A fan directory a crashed process created is made durable before anything counts on it.
        for d in paths.blob_dirs() {
            blobs::sync_dir(&d)?;
        }
        // Created up front so a store's file set does not change when the first import runs.
        let lock = paths.lock();
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock).map_err(|source| StoreError::Io { path: lock, source })?;
        let new = !paths.meta().exists();
        let meta = Meta::open(open_db(&paths, cache)?)?;
        if new {
            // Its indexes and summaries are complete from the start: there is nothing to sum up.
            meta.mark_indexed()?;
            meta.upgrade()?;
        }
        remove_stale_staging(&paths.tmp());
        Ok(Store { blobs: BlobStore::new(paths.clone()), meta, paths, writes: RwLock::new(()) })
    }

    /// Held while adding: from checking or placing a blob or manifest file until the records
    /// naming it are committed. Many adders at once; never while `collecting` is held.
    pub fn adding(&self) -> RwLockReadGuard<'_, ()> {
        self.writes.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Held while taking content out (gc, rm, quarantine, a manifest DELETE): from reading what
    /// is referenced until the deletions are done, so no push lands in between. Writers queue
    /// behind it, not the other way round (std's RwLock prefers writers).
    pub fn collecting(&self) -> RwLockWriteGuard<'_, ()> {
        self.writes.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Attempts at taking sled's file lock, 20 ms apart.
const LOCK_ATTEMPTS: u32 = 100;

/// Open the metadata db. sled's file lock outlives a dropped `Db` by a moment while its last
/// threads finish (sled's own tests block on it for that reason), so a reopen soon after —
/// the next command, a test — waits briefly before calling the store busy.
/// `cache`: sled's page cache in bytes.
fn open_db(paths: &Paths, cache: u64) -> Result<sled::Db, StoreError> {
    let mut attempt = 1;
    loop {
        // We flush after each commit; no background flusher means a refused import writes nothing.
        match sled::Config::new().flush_every_ms(None).cache_capacity(cache).path(paths.meta()).open() {
            Ok(db) => return Ok(db),
            Err(e) if attempt < LOCK_ATTEMPTS && e.to_string().contains("could not acquire lock") => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(StoreError::Busy { path: paths.meta(), socket: paths.socket(), detail: e.to_string() }),
        }
    }
}

fn remove_stale_staging(tmp: &Path) {
    let Ok(rd) = std::fs::read_dir(tmp) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let r = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        match r {
            Ok(()) => tracing::info!("removed {} left by an interrupted import", p.display()),
            Err(err) => tracing::warn!("cannot remove {}: {err}", p.display()),
        }
    }
}
