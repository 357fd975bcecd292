//! `mirror gc`: delete the blobs nothing in the metadata references, and `mirror verify
//! --quarantine`: move damaged blobs aside.
//!
//! Both hold the import lock, so no import is between its graph walk (which may count on a
//! blob being present) and its commit, and `Store::collecting`, so no push is between placing
//! a file and committing its record. Both take a blob out of the `blobs` tree (one
//! transaction) before touching its file: a crash in between leaves at worst an orphan file,
//! which the next gc deletes, and never metadata that promises a file that is gone. A running
//! server keeps serving throughout: only blobs no served record references disappear.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use feas_format::bundle::BlobRef;
use feas_format::progress::Progress;
use feas_format::Digest;

use crate::store::{blobs::Found, unix_now, Action, Actor, Audit, ImportLock, Removal, Store, StoreError, PUSH_GRACE};

#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error("gc refused, nothing deleted: {} manifest(s) the metadata names are missing or unreadable, so what they reference is unknown: {}. Re-import the bundles that carried them (or `mirror rm` those artifacts), then run gc again", .0.len(), .0.join("; "))]
    Unreadable(Vec<String>),
    #[error("deleting {path}: {source}")]
    Delete { path: std::path::PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct GcSummary {
    pub dry_run: bool,
    /// Store generation afterwards.
    pub generation: u64,
    /// Blob files that stay (referenced).
    pub kept: usize,
    /// Of those, blobs kept only because a push wrote them within `PUSH_GRACE`: no manifest
    /// names them yet (a push in progress, or one abandoned, collected after the grace).
    #[serde(default)]
    pub awaiting_manifest: usize,
    /// Blobs deleted (or, with --dry-run, that would be).
    pub removed: Vec<BlobRef>,
    pub bytes: u64,
}

/// Collect garbage (or only say what would go, with `dry_run`). Blobs pushed within
/// `push_grace` seconds are kept: their manifest may still be on the way.
/// `progress` counts the blob files looked at.
pub fn gc(store: &Store, dry_run: bool, push_grace: u64, by: &Actor, progress: &Progress) -> Result<GcSummary, GcError> {
    let _lock = ImportLock::acquire(&store.paths)?;
    // A dry run deletes nothing, so pushes need not wait for it.
    let _collecting = (!dry_run).then(|| store.collecting());
    let refs = store.references_pushed_since(&store.paths, unix_now().saturating_sub(push_grace))?;
    if !refs.unreadable.is_empty() {
        return Err(GcError::Unreadable(refs.unreadable.iter().map(|(d, a)| format!("{d} ({})", a.iter().cloned().collect::<Vec<_>>().join(", "))).collect()));
    }
    // One directory entry at a time: only the garbage is kept (it is what gc reports).
    let (mut garbage, mut kept) = (BTreeMap::<Digest, u64>::new(), 0);
    progress.add_total(store.counts()?.1.keys.blobs);
    for found in store.blobs.walk() {
        let Found::Blob { digest, path } = found? else { continue };
        progress.inc(1);
        if refs.blobs.contains(&digest) {
            kept += 1;
        } else if let std::collections::btree_map::Entry::Vacant(e) = garbage.entry(digest) {
            e.insert(std::fs::symlink_metadata(&path).map_err(|source| StoreError::Io { path, source })?.len());
        }
    }
    progress.finish();
    // Recorded as held with no file and no reference: drop the record too.
    let mut recorded = Vec::new();
    for r in store.blob_records() {
        let (d, _) = r?;
        if !refs.blobs.contains(&d) {
            recorded.push(d);
        }
    }
    let awaiting_manifest = refs.awaiting_manifest.iter().filter(|d| store.blobs.size(d).is_some()).count();
    let mut summary = GcSummary { dry_run, generation: store.generation()?, kept, awaiting_manifest, ..GcSummary::default() };
    summary.bytes = garbage.values().sum();
    if !dry_run {
        // What the summary reports: garbage files and records without one, each blob once.
        let blobs = garbage.len() + recorded.iter().filter(|d| !garbage.contains_key(*d)).count();
        let audit = Audit { by: by.clone(), action: Action::Gc { blobs, bytes: summary.bytes, kept } };
        summary.generation = store.remove(&Removal { blobs: recorded.clone(), audit: Some(audit), ..Removal::default() })?;
        for d in garbage.keys() {
            // Both layouts: a blob an earlier release left flat may have been written again.
            for path in store.paths.blob_copies(d) {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => return Err(GcError::Delete { path, source }),
                }
            }
        }
        store.blobs.sync_dirs_of(garbage.keys())?;
        tracing::info!("gc: {} blobs ({}) deleted, {kept} kept", garbage.len(), feas_format::term::bytes(summary.bytes));
    }
    for d in recorded {
        garbage.entry(d).or_insert(0);
    }
    summary.removed = garbage.into_iter().map(|(digest, size)| BlobRef { digest, size }).collect();
    Ok(summary)
}

/// A damaged blob moved aside.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Quarantined {
    pub digest: Digest,
    pub path: String,
    /// Artifacts that referenced it: what to re-import.
    pub artifacts: Vec<String>,
}

/// Move `damaged` blobs to STORE/quarantine/ and out of the `blobs` tree, so the inventory no
/// longer claims them and the next delta bundle carries them again. The caller holds the
/// import lock.
pub fn quarantine(store: &Store, damaged: &[Digest], by: &Actor) -> Result<Vec<Quarantined>, GcError> {
    if damaged.is_empty() {
        return Ok(Vec::new());
    }
    let _collecting = store.collecting();
    let since = unix_now().saturating_sub(PUSH_GRACE.as_secs());
    let mut names = store.artifacts_referencing(&store.paths, since, &damaged.iter().cloned().collect())?;
    let artifacts = names.values().flatten().cloned().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let audit = Audit { by: by.clone(), action: Action::Quarantine { blobs: damaged.to_vec(), artifacts } };
    store.remove(&Removal { blobs: damaged.to_vec(), audit: Some(audit), ..Removal::default() })?;
    let mut out = Vec::new();
    for d in damaged {
        let (from, to) = (store.blobs.path(d), store.paths.quarantined(d));
        let dir = to.parent().expect("quarantine path has a parent");
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_path_buf(), source })?;
        std::fs::rename(&from, &to).map_err(|source| StoreError::Io { path: from.clone(), source })?;
        let artifacts = names.remove(d).unwrap_or_default().into_iter().collect();
        out.push(Quarantined { digest: d.clone(), path: to.display().to_string(), artifacts });
    }
    store.blobs.sync_dirs_of(damaged)?;
    Ok(out)
}
