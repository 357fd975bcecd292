//! The store: blobs as files named by digest, metadata in sled.

pub mod meta;
pub mod paths;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use bundler::format::oci::Descriptor;
use bundler::format::Digest;

pub use meta::{BundleRecord, Changes, HistoryRecord, ManifestRecord};
pub use paths::Paths;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("store metadata at {path} cannot be opened: {detail} (is another `mirror` process using this store? a running `mirror serve` takes imports through {path}/../mirror.sock)")]
    Open { path: PathBuf, detail: String },
    #[error("store metadata: {0}")]
    Db(String),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

pub struct Store {
    pub paths: Paths,
    db: sled::Db,
    repos: sled::Tree,
    tags: sled::Tree,
    manifests: sled::Tree,
    referrers: sled::Tree,
    blobs: sled::Tree,
    bundles: sled::Tree,
    history: sled::Tree,
}

impl Store {
    /// Open (creating if needed). Leftover staging from an interrupted import is removed:
    /// it was never referenced by metadata.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let paths = Paths::new(root);
        for d in [paths.blobs().join("sha256"), paths.blobs().join("sha512"), paths.tmp()] {
            std::fs::create_dir_all(&d).map_err(io_at(&d))?;
        }
        let db = sled::Config::new()
            .path(paths.meta())
            .open()
            .map_err(|e| StoreError::Open { path: paths.meta(), detail: e.to_string() })?;
        if let Ok(rd) = std::fs::read_dir(paths.tmp()) {
            for e in rd.flatten() {
                let _ = if e.path().is_dir() { std::fs::remove_dir_all(e.path()) } else { std::fs::remove_file(e.path()) };
            }
        }
        let t = |n: &str| db.open_tree(n);
        Ok(Store {
            repos: t("repos")?,
            tags: t("tags")?,
            manifests: t("manifests")?,
            referrers: t("referrers")?,
            blobs: t("blobs")?,
            bundles: t("bundles")?,
            history: t("history")?,
            db,
            paths,
        })
    }

    pub fn has_blob(&self, d: &Digest) -> bool {
        self.paths.blob(d).is_file()
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.paths.blob(d)
    }

    pub fn repo_exists(&self, repo: &str) -> Result<bool, StoreError> {
        Ok(self.repos.contains_key(repo.as_bytes())?)
    }

    pub fn repositories(&self) -> Result<Vec<String>, StoreError> {
        self.repos.iter().keys().map(|k| Ok(String::from_utf8_lossy(&k?).into_owned())).collect()
    }

    pub fn tag(&self, repo: &str, tag: &str) -> Result<Option<Digest>, StoreError> {
        Ok(self.tags.get(meta::key(&[repo, tag]))?.and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()))
    }

    /// Tags of a repository, sorted.
    pub fn tags(&self, repo: &str) -> Result<Vec<String>, StoreError> {
        let prefix = meta::key(&[repo, ""]);
        self.tags
            .scan_prefix(&prefix)
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k?[prefix.len()..]).into_owned()))
            .collect()
    }

    pub fn manifest(&self, repo: &str, d: &Digest) -> Result<Option<ManifestRecord>, StoreError> {
        Ok(self.manifests.get(meta::key(&[repo, &d.to_string()]))?.and_then(|v| serde_json::from_slice(&v).ok()))
    }

    pub fn referrers(&self, repo: &str, subject: &Digest) -> Result<Vec<Descriptor>, StoreError> {
        let prefix = meta::key(&[repo, &subject.to_string(), ""]);
        self.referrers.scan_prefix(&prefix).values().map(|v| serde_json::from_slice(&v?).map_err(|e| StoreError::Db(e.to_string()))).collect()
    }

    pub fn bundle(&self, name: &str) -> Result<Option<BundleRecord>, StoreError> {
        Ok(self.bundles.get(name.as_bytes())?.and_then(|v| serde_json::from_slice(&v).ok()))
    }

    pub fn bundles(&self) -> Result<Vec<(String, BundleRecord)>, StoreError> {
        self.bundles
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((String::from_utf8_lossy(&k).into_owned(), serde_json::from_slice(&v).map_err(|e| StoreError::Db(e.to_string()))?))
            })
            .collect()
    }

    pub fn history(&self) -> Result<Vec<HistoryRecord>, StoreError> {
        self.history.iter().values().map(|v| serde_json::from_slice(&v?).map_err(|e| StoreError::Db(e.to_string()))).collect()
    }

    /// Every blob the metadata knows, with its size.
    pub fn blob_list(&self) -> Result<Vec<(Digest, u64)>, StoreError> {
        self.blobs
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                let d = std::str::from_utf8(&k).ok().and_then(|s| s.parse().ok()).ok_or_else(|| StoreError::Db("bad blob key".into()))?;
                let n = u64::from_be_bytes(v.as_ref().try_into().map_err(|_| StoreError::Db("bad blob size".into()))?);
                Ok((d, n))
            })
            .collect()
    }

    /// Apply one import's metadata atomically and make it durable.
    pub fn commit(&self, c: &Changes) -> Result<(), StoreError> {
        let enc = |v: &dyn erased::Ser| v.json();
        let history_id = self.db.generate_id()?;
        let res: Result<(), TransactionError<()>> =
            (&self.repos, &self.tags, &self.manifests, &self.referrers, &self.blobs, &self.bundles, &self.history).transaction(
                |(repos, tags, manifests, referrers, blobs, bundles, history)| {
                    for r in &c.repos {
                        repos.insert(r.as_bytes(), &[][..])?;
                    }
                    for (r, t, d) in &c.tags {
                        tags.insert(meta::key(&[r, t]), d.to_string().as_bytes())?;
                    }
                    for (r, d, m) in &c.manifests {
                        manifests.insert(meta::key(&[r, &d.to_string()]), enc(m))?;
                    }
                    for (r, s, desc) in &c.referrers {
                        referrers.insert(meta::key(&[r, &s.to_string(), &desc.digest.to_string()]), enc(desc))?;
                    }
                    for (d, n) in &c.blobs {
                        blobs.insert(d.to_string().as_bytes(), &n.to_be_bytes()[..])?;
                    }
                    if let Some((name, rec)) = &c.bundle {
                        bundles.insert(name.as_bytes(), enc(rec))?;
                    }
                    if let Some(h) = &c.history {
                        history.insert(&history_id.to_be_bytes()[..], enc(h))?;
                    }
                    Ok::<(), ConflictableTransactionError<()>>(())
                },
            );
        res.map_err(|e| StoreError::Db(format!("{e:?}")))?;
        self.db.flush()?;
        Ok(())
    }

    /// Move a verified staged file into the blob store.
    pub fn promote(&self, staged: &Path, d: &Digest) -> Result<(), StoreError> {
        let dest = self.paths.blob(d);
        let f = std::fs::File::open(staged).map_err(io_at(staged))?;
        f.sync_all().map_err(io_at(staged))?;
        std::fs::rename(staged, &dest).map_err(io_at(&dest))
    }

    /// fsync the blob directories so renames survive a power cut before metadata commits.
    pub fn sync_blob_dirs(&self) -> Result<(), StoreError> {
        for d in [self.paths.blobs().join("sha256"), self.paths.blobs().join("sha512")] {
            std::fs::File::open(&d).and_then(|f| f.sync_all()).map_err(io_at(&d))?;
        }
        Ok(())
    }

    /// Write `data` atomically into `path` (temp in STORE/tmp → fsync → rename).
    pub fn write_atomic(&self, path: &Path, data: &[u8]) -> Result<(), StoreError> {
        let mut tmp = tempfile::NamedTempFile::new_in(self.paths.tmp()).map_err(io_at(path))?;
        tmp.write_all(data).map_err(io_at(path))?;
        tmp.as_file().sync_all().map_err(io_at(path))?;
        tmp.persist(path).map_err(|e| StoreError::Io { path: path.into(), source: e.error })?;
        Ok(())
    }
}

/// Tiny helper so the transaction closure can serialize different record types.
mod erased {
    pub trait Ser {
        fn json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> Vec<u8> {
            serde_json::to_vec(self).expect("record serializes")
        }
    }
}
