//! The store: blobs as files named by digest (`blobs`), metadata in sled (`meta`), every path
//! in one place (`paths`), and the import lock (`lock`).

pub mod blobs;
pub mod lock;
pub mod meta;
pub mod paths;

use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use feas_format::Digest;

pub use blobs::BlobStore;
pub use lock::ImportLock;
pub use meta::{unix_now, BundleRecord, Changes, HistoryRecord, ManifestRecord, Meta, References, Removal, PUSH_GRACE};
pub use paths::Paths;

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
        let paths = Paths::new(root);
        for d in paths.blob_dirs().iter().chain([&paths.tmp()]) {
            std::fs::create_dir_all(d).map_err(|source| StoreError::Io { path: d.clone(), source })?;
        }
        // Created up front so a store's file set does not change when the first import runs.
        let lock = paths.lock();
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock).map_err(|source| StoreError::Io { path: lock, source })?;
        if !paths.meta().exists() {
            // A new store: create the trees, then settle, so the first (maybe refused) import
            // does not rewrite sled's files.
            Meta::open(open_db(&paths)?)?.mark_indexed()?;
            Store::settle(root)?;
        }
        let mut db = open_db(&paths)?;
        if Meta::lacks_trees(&db) {
            // A store from a release before some tree: create it, and reopen so that sled writes
            // its fresh snapshot now, not during the next read-only command.
            drop(Meta::open(db)?);
            db = open_db(&paths)?;
        }
        remove_stale_staging(&paths.tmp());
        Ok(Store { blobs: BlobStore::new(paths.clone()), meta: Meta::open(db)?, paths, writes: RwLock::new(()) })
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

    /// sled writes behind a reader's back in two ways. A traversal finishes the splits and
    /// merges a write left pending: every metadata transaction walks its written keys again
    /// until nothing is left (`meta::trees::settle_written`). And the first open after commits
    /// writes a fresh snapshot of sled's page table: this reopen does that, right after a
    /// write (an import, rm, gc, a server's stop) rather than during the next read-only
    /// command or refused import — which keeps the promise that those leave every store file
    /// byte for byte. It reads no records: its cost follows sled's page table, not the store.
    pub fn settle(root: &Path) -> Result<(), StoreError> {
        // An open may also give back free segments at the end of sled's file — truncating it —
        // and a segment is freed when sled's epoch-based reclamation gets to it, so whether the
        // writer's process or the next open does that is a matter of timing. Reopen until an
        // open finds the files as the one before left them; bounded, as a guard.
        let paths = Paths::new(root);
        let mut last = None;
        for _ in 0..SETTLE_OPENS {
            let db = open_db(&paths)?;
            // Taken holding sled's lock: whatever the previous open started has finished.
            let now = meta_files_state(&paths.meta());
            db.flush()?;
            drop(db);
            if last.as_ref() == Some(&now) {
                break;
            }
            last = Some(now);
        }
        Ok(())
    }
}

/// Opens `settle` makes at most.
const SETTLE_OPENS: u32 = 6;

/// Name, length and modification time of each file in sled's directory.
fn meta_files_state(dir: &Path) -> Vec<(std::ffi::OsString, u64, Option<std::time::SystemTime>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir).into_iter().flatten().flatten().filter_map(|e| e.metadata().ok().map(|m| (e.file_name(), m.len(), m.modified().ok()))).collect();
    out.sort();
    out
}

/// Attempts at taking sled's file lock, 20 ms apart.
const LOCK_ATTEMPTS: u32 = 100;

/// Open the metadata db. sled's file lock outlives a dropped `Db` by a moment while its last
/// threads finish (sled's own tests block on it for that reason), so a reopen in the same
/// process — `settle` right after an import — waits briefly before calling the store busy.
fn open_db(paths: &Paths) -> Result<sled::Db, StoreError> {
    let mut attempt = 1;
    loop {
        // We flush after each commit; no background flusher means a refused import writes nothing.
        match sled::Config::new().flush_every_ms(None).path(paths.meta()).open() {
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

#[cfg(test)]
mod tests {
    use super::meta::{Changes, Removal};
    use super::*;

    fn meta_files(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out: Vec<_> =
            std::fs::read_dir(Paths::new(root).meta()).unwrap().flatten().filter(|e| e.path().is_file()).map(|e| (e.path(), std::fs::read(e.path()).unwrap())).collect();
        out.sort();
        out
    }

    /// Removing most keys leaves underfull nodes that sled merges on the next traversal — a
    /// write. After `settle`, a read-only command (here: listing every blob) writes nothing.
    #[test]
    fn after_settle_reads_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let digests: Vec<Digest> = (0..3000u32).map(|i| Digest::sha256_of(&i.to_be_bytes())).collect();
        {
            let store = Store::open(dir.path()).unwrap();
            store.commit(&Changes { blobs: digests.iter().map(|d| (d.clone(), 1)).collect(), ..Changes::default() }).unwrap();
        }
        Store::settle(dir.path()).unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.remove(&Removal { blobs: digests[..2900].to_vec(), ..Removal::default() }).unwrap();
        }
        Store::settle(dir.path()).unwrap();
        let before = meta_files(dir.path());
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.blobs().unwrap().len(), 100);
        }
        let after = meta_files(dir.path());
        let names = |v: &[(PathBuf, Vec<u8>)]| v.iter().map(|(p, b)| format!("{} {}", p.file_name().unwrap().to_string_lossy(), b.len())).collect::<Vec<_>>();
        let changed: Vec<_> = after.iter().filter(|f| !before.contains(f)).map(|(p, _)| p.clone()).collect();
        assert!(changed.is_empty(), "a read after settle rewrote {changed:?}: {:?} -> {:?}", names(&before), names(&after));
    }

    /// Writes of every shape — batches that split nodes, removals that leave them underfull,
    /// single keys, in several trees — then a full scan of every tree (what gc and inventory
    /// do). Bytes the scan wrote: restructuring the writes left behind.
    fn scan_after_writes_writes(seed: u64) -> usize {
        let dir = tempfile::tempdir().unwrap();
        let mut seed = seed;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let store = Store::open(dir.path()).unwrap();
        let (mut blobs, mut tags) = (Vec::new(), Vec::new());
        for round in 0..24u32 {
            let n = [1, 9, 400, 2500][round as usize % 4];
            let mut c = Changes { repos: vec!["r".into()], ..Changes::default() };
            for i in 0..n {
                let d = Digest::sha256_of(format!("{round}/{i}").as_bytes());
                c.blobs.push((d.clone(), i as u64));
                c.tags.push(("r".into(), format!("t{round}-{i}"), d.clone()));
                blobs.push(d);
                tags.push(("r".to_string(), format!("t{round}-{i}")));
            }
            store.commit(&c).unwrap();
            if round % 3 == 2 {
                // Remove most of what is held, in a random order.
                let mut r = Removal::default();
                blobs.retain(|d| {
                    next() % 10 == 9 || {
                        r.blobs.push(d.clone());
                        false
                    }
                });
                tags.retain(|t| {
                    next() % 10 >= 8 || {
                        r.tags.push(t.clone());
                        false
                    }
                });
                store.remove(&r).unwrap();
            }
        }
        let mut trees = Vec::new();
        store.t.list(&mut trees);
        for tree in &trees {
            for kv in tree.iter() {
                kv.unwrap();
            }
        }
        trees[0].flush().unwrap()
    }

    /// Each transaction walks its written keys again, so a later full scan finds nothing to
    /// restructure: without the walk it writes every time. sled's IO threads can rarely race a
    /// merge during the walk (about 1 run in 40 on a loaded 2-core machine), which the next
    /// traversal then finishes; so the claim checked is that one of three runs is clean.
    #[test]
    fn after_writes_a_full_scan_writes_nothing() {
        let written: Vec<usize> = (0..3).map(|i| scan_after_writes_writes(0x9e37_79b9 + i)).take_while(|&n| n > 0).collect();
        assert!(written.len() < 3, "a full scan after the writes restructured sled's trees in every run: {written:?} bytes");
    }
}
