//! How much the store holds, kept as counters in the `state` tree by the same transaction that
//! writes the records (`count/<tree>`: its keys; `bytes/blobs`: the sizes the `blobs` tree
//! lists), so `/` reads a few keys instead of scanning. Every write goes through `Counted`
//! views, which count only keys that were absent before an insert or present before a remove:
//! writing a record again, or removing one that is not there, moves nothing.
//!
//! Stores written before the counters have none. Reading them then counts every tree, in
//! memory only (a read-only command must not write); the next write persists that count with
//! its own changes in its one transaction, marked by `counters`. A crash before that leaves
//! no counters, so the next reader counts again: nothing half-kept is ever read.

use std::cell::Cell;
use std::convert::Infallible;

use sled::transaction::{ConflictableTransactionResult, TransactionalTree, UnabortableTransactionError};
use sled::IVec;

use super::{u64_of, Meta, Trees};
use crate::store::StoreError;

/// What sled's transactional reads and writes return.
type TxResult<T> = Result<T, UnabortableTransactionError>;

/// Present once the counters below are kept by every write.
const KEPT: &[u8] = b"counters";
const BLOB_BYTES: &[u8] = b"bytes/blobs";
/// The `state` tree holds the counters themselves: its own keys are not counted.
const UNCOUNTED: &str = "state";

fn count_key(tree: &str) -> Vec<u8> {
    format!("count/{tree}").into_bytes()
}

/// A transaction's view of one tree: sled's, plus the keys it added (net) and, for the
/// `blobs` tree, the bytes.
pub struct Counted<'a> {
    tree: &'a TransactionalTree,
    keys: Cell<i64>,
    bytes: Cell<i64>,
}

impl<'a> Counted<'a> {
    pub fn new(tree: &'a TransactionalTree) -> Counted<'a> {
        Counted { tree, keys: Cell::new(0), bytes: Cell::new(0) }
    }

    /// sled's `insert`: the previous value, if any.
    pub fn insert<K, V>(&self, key: K, value: V) -> TxResult<Option<IVec>>
    where
        K: AsRef<[u8]> + Into<IVec>,
        V: Into<IVec>,
    {
        let old = self.tree.insert(key, value)?;
        if old.is_none() {
            self.keys.set(self.keys.get() + 1);
        }
        Ok(old)
    }

    /// sled's `remove`: the removed value, if there was one.
    pub fn remove<K: AsRef<[u8]> + Into<IVec>>(&self, key: K) -> TxResult<Option<IVec>> {
        let old = self.tree.remove(key)?;
        if old.is_some() {
            self.keys.set(self.keys.get() - 1);
        }
        Ok(old)
    }

    pub fn get<K: AsRef<[u8]>>(&self, key: K) -> TxResult<Option<IVec>> {
        self.tree.get(key)
    }

    /// For the `blobs` tree: bytes added (negative: removed) besides the keys.
    pub fn add_bytes(&self, n: i64) {
        self.bytes.set(self.bytes.get() + n);
    }
}

/// How many keys each tree holds (`state`'s own: 0, not counted), and the bytes of the blobs
/// the `blobs` tree lists.
#[derive(Clone)]
pub struct Counts {
    pub keys: Trees<u64>,
    pub blob_bytes: u64,
}

impl Counts {
    /// `(tree, keys)` for every tree, in declaration order.
    pub fn by_tree(&self) -> Vec<(&'static str, u64)> {
        let (mut names, mut counts) = (Vec::new(), Vec::new());
        Trees::<u64>::names(&mut names);
        self.keys.list(&mut counts);
        names.into_iter().zip(counts.into_iter().copied()).collect()
    }
}

impl std::fmt::Debug for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counts").field("keys", &self.by_tree()).field("blob_bytes", &self.blob_bytes).finish()
    }
}

impl PartialEq for Counts {
    fn eq(&self, other: &Counts) -> bool {
        self.by_tree() == other.by_tree() && self.blob_bytes == other.blob_bytes
    }
}

fn stored(state: &TransactionalTree, k: &[u8]) -> TxResult<u64> {
    Ok(state.get(k)?.and_then(|v| u64_of(&v).ok()).unwrap_or(0))
}

fn moved(n: u64, delta: i64) -> u64 {
    n.saturating_add_signed(delta)
}

/// In the transaction, after its writes: add what the views counted to the counters. `base`
/// is the full count made before the transaction when the store kept no counters yet.
pub(super) fn apply(t: &Trees<Counted<'_>>, base: Option<&Counts>) -> ConflictableTransactionResult<(), Infallible> {
    let state = t.state.tree;
    let kept = state.get(KEPT)?.is_some();
    // Never both absent: `count_base` looked before the transaction, and nothing removes `KEPT`.
    let base = if kept { None } else { base };
    let (mut names, mut views) = (Vec::new(), Vec::new());
    Trees::<()>::names(&mut names);
    t.list(&mut views);
    for (name, view) in names.into_iter().zip(views) {
        let delta = view.keys.get();
        if name == UNCOUNTED || (kept && delta == 0) {
            continue;
        }
        let k = count_key(name);
        let before = match base {
            Some(b) => b.keys.get(name.as_bytes()).copied().unwrap_or(0),
            None => stored(state, &k)?,
        };
        state.insert(k, &moved(before, delta).to_be_bytes()[..])?;
    }
    let bytes = t.blobs.bytes.get();
    if !kept || bytes != 0 {
        let before = match base {
            Some(b) => b.blob_bytes,
            None => stored(state, BLOB_BYTES)?,
        };
        state.insert(BLOB_BYTES, &moved(before, bytes).to_be_bytes()[..])?;
    }
    if !kept {
        state.insert(KEPT, &[1u8][..])?;
    }
    Ok(())
}

impl Meta {
    /// Whether the store keeps counters (every store since they were added, after its first write).
    fn counters_kept(&self) -> Result<bool, StoreError> {
        Ok(self.t.state.contains_key(KEPT)?)
    }

    /// Every tree counted key by key, and the blob sizes summed: what a store without
    /// counters starts them from. Reads only.
    pub(super) fn count_all(&self) -> Result<Counts, StoreError> {
        let keys = Trees::try_new(&mut |name| if name == UNCOUNTED { Ok(0) } else { Ok::<u64, StoreError>(self.t.get(name.as_bytes()).map_or(0, |t| t.len() as u64)) })?;
        let mut blob_bytes = 0u64;
        for v in self.t.blobs.iter().values() {
            blob_bytes = blob_bytes.saturating_add(u64_of(&v?)?);
        }
        Ok(Counts { keys, blob_bytes })
    }

    /// Before a write's transaction: the full count to start the counters from, when the store
    /// has none yet (once per store).
    pub(super) fn count_base(&self) -> Result<Option<Counts>, StoreError> {
        if self.counters_kept()? {
            return Ok(None);
        }
        self.count_all().map(Some)
    }

    /// The store generation, and what the store holds (as of that generation or a later one).
    /// A few reads when the store keeps counters; a count of every tree (in memory, writing
    /// nothing) when it does not yet.
    ///
    /// The generation is read first: a commit landing meanwhile can only make the counts newer
    /// than it, so whatever is keyed to the generation is redone once that commit is seen.
    pub fn counts(&self) -> Result<(u64, Counts), StoreError> {
        let generation = self.generation()?;
        if !self.counters_kept()? {
            return Ok((generation, self.count_all()?));
        }
        let state = &self.t.state;
        let read = |k: &[u8]| -> Result<u64, StoreError> { state.get(k)?.map(|v| u64_of(&v)).transpose().map(|n| n.unwrap_or(0)) };
        let keys = Trees::try_new(&mut |name| if name == UNCOUNTED { Ok(0) } else { read(&count_key(name)) })?;
        Ok((generation, Counts { keys, blob_bytes: read(BLOB_BYTES)? }))
    }
}

#[cfg(test)]
mod tests {
    use feas_format::oci::Descriptor;
    use feas_format::Digest;

    use super::super::{Changes, ManifestRecord, Removal};
    use super::*;
    use crate::ecosystems::{EcoChanges, EcoRemoval};

    /// What each tree really holds, counted from the trees.
    fn real(meta: &Meta) -> Counts {
        meta.count_all().unwrap()
    }

    fn d(s: &str) -> Digest {
        Digest::sha256_of(s.as_bytes())
    }

    fn image(repo: &str, tag: &str, m: &str, blob_size: u64) -> Changes {
        let referrer = Descriptor::new("application/vnd.oci.image.manifest.v1+json", d(&format!("{m}-sig")), 1);
        Changes {
            repos: vec![repo.into()],
            tags: vec![(repo.into(), tag.into(), d(m))],
            manifests: vec![(repo.into(), d(m), ManifestRecord::new("x", 2))],
            referrers: vec![(repo.into(), d(m), referrer)],
            blobs: vec![(d(m), 2), (d(&format!("{m}-layer")), blob_size)],
            ..Changes::default()
        }
    }

    /// The counters equal what the trees hold after commits and removals, including a record
    /// written again (not counted twice) and a removal of keys that are not there.
    #[test]
    fn counters_follow_commits_and_removals() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(sled::Config::new().path(dir.path()).open().unwrap()).unwrap();
        let check = |what: &str| {
            let (_, kept) = meta.counts().unwrap();
            assert_eq!(kept, real(&meta), "after {what}");
        };
        check("nothing");
        meta.commit(&image("a", "1", "m1", 100)).unwrap();
        check("one image");
        assert_eq!(meta.counts().unwrap().1.blob_bytes, 102);
        // The same image again, plus a second tag and image; a pushed blob.
        let mut again = image("a", "1", "m1", 100);
        again.tags.push(("a".into(), "2".into(), d("m2")));
        meta.commit(&again).unwrap();
        meta.commit(&image("a/b", "1", "m2", 1000)).unwrap();
        meta.commit(&Changes { repos: vec!["c".into()], blobs: vec![(d("pushed"), 7)], pushed: true, ..Changes::default() }).unwrap();
        check("re-commits");
        let (_, c) = meta.counts().unwrap();
        assert_eq!((c.keys.repos, c.keys.tags, c.keys.manifests, c.keys.blobs, c.blob_bytes), (3, 3, 2, 5, 2 + 100 + 2 + 1000 + 7));
        let files = EcoChanges { files: vec![("f".into(), d("f"), 3), ("g".into(), d("g"), 4)], ..Default::default() };
        meta.commit(&Changes { eco: files, ..Changes::default() }).unwrap();
        check("files");
        // Removals: some present, some absent, one named twice.
        let r = Removal {
            tags: vec![("a".into(), "2".into()), ("a".into(), "nope".into())],
            manifests: vec![(("a/b").into(), d("m2")), ("a".into(), d("absent"))],
            blobs: vec![d("m2-layer"), d("m2-layer"), d("never")],
            repos: vec!["zz".into()],
            eco: EcoRemoval { files: vec!["f".into(), "absent".into()], ..Default::default() },
            ..Removal::default()
        };
        meta.remove(&r).unwrap();
        check("removals");
        let (_, c) = meta.counts().unwrap();
        assert_eq!((c.keys.tags, c.keys.manifests, c.keys.blobs, c.blob_bytes, c.keys.eco.files.files), (2, 1, 4, 2 + 100 + 2 + 7, 1));
    }

    /// A store written before the counters: reading them counts the trees and writes no record;
    /// the next write persists them, exact.
    #[test]
    fn a_store_without_counters_is_counted_without_writing() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = crate::store::Store::open(dir.path()).unwrap();
            store.commit(&image("a", "1", "m1", 10)).unwrap();
            store.commit(&image("b", "1", "m2", 20)).unwrap();
            // What an older mirror left: no counters.
            for k in store.t.state.iter().keys() {
                let k = k.unwrap();
                if k.starts_with(b"count") || k.starts_with(b"bytes/") {
                    store.t.state.remove(k).unwrap();
                }
            }
            store.t.state.flush().unwrap();
            assert!(!store.counters_kept().unwrap());
        }
        let state = || {
            let store = crate::store::Store::open(dir.path()).unwrap();
            store.t.state.iter().map(|kv| kv.unwrap()).collect::<Vec<_>>()
        };
        let before = state();
        {
            let store = crate::store::Store::open(dir.path()).unwrap();
            let (generation, c) = store.counts().unwrap();
            assert_eq!((generation, &c), (2, &real(&store)));
            assert_eq!((c.keys.repos, c.keys.blobs, c.blob_bytes), (2, 4, 2 + 10 + 2 + 20));
            assert!(!store.counters_kept().unwrap(), "a read keeps nothing");
        }
        assert!(state() == before, "reading the counts of a store without them wrote to it");
        let store = crate::store::Store::open(dir.path()).unwrap();
        store.commit(&image("c", "1", "m3", 30)).unwrap();
        assert!(store.counters_kept().unwrap());
        let (_, c) = store.counts().unwrap();
        assert_eq!(c, real(&store));
        assert_eq!((c.keys.repos, c.keys.blobs, c.blob_bytes), (3, 6, 2 + 10 + 2 + 20 + 2 + 30));
    }
}
