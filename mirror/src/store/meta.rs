//! Metadata in sled. Keys are `repo \0 tag`, `repo \0 digest`, `repo \0 subject \0 digest`, so
//! a tag or referrer list is one prefix scan and a manifest lookup is one get. Everything one
//! import adds goes in through `commit`, one transaction across all trees, flushed before it
//! returns.

use std::collections::BTreeMap;
use std::convert::Infallible;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use sled::transaction::ConflictableTransactionResult;

use feas_format::oci::Descriptor;
use feas_format::Digest;

use super::StoreError;

mod audit;
mod check;
mod counts;
mod pages;
mod reach;
mod remove;
mod trees;

pub use audit::{Action, Actor, Audit, Event};
pub use counts::{Counted, Counts};
pub(crate) use pages::distinct;
pub use pages::Page;
pub use reach::References;
pub(crate) use reach::{names_no_blob, parts, Rule, Walker};
pub use remove::Removal;
pub(crate) use trees::{trees, Trees};

pub(crate) const SEP: u8 = 0;
const GENERATION: &[u8] = b"generation";
/// The `state` key saying which indexes writes have kept since the store was created
/// (`INDEX_VERSION`); absent in stores created before any.
const INDEX_VERSION_KEY: &[u8] = b"index-version";
/// Bumped when writes start keeping a new index (1: apt's `names`). A store created at an
/// older version may lack entries for its older records, so lookups also scan there.
const INDEX_VERSION: u64 = 1;

/// The `state` key of an ecosystem's generation.
pub(crate) fn eco_generation_key(eco: &str) -> Vec<u8> {
    format!("generation/{eco}").into_bytes()
}

/// Bumps the store generation in a commit's or removal's transaction, before the ecosystems'
/// hooks run, so that they read the generation they write with `tx_generation`.
fn next_generation(state: &Counted<'_>) -> ConflictableTransactionResult<u64, Infallible> {
    let generation = tx_generation(state)? + 1;
    state.insert(GENERATION, &generation.to_be_bytes()[..])?;
    Ok(generation)
}

/// The store generation as the running transaction sees it: in a commit's or removal's, the
/// one it writes (what an ecosystem records as the last change of a suite, a project, …).
pub(crate) fn tx_generation(state: &Counted<'_>) -> ConflictableTransactionResult<u64, Infallible> {
    Ok(state.get(GENERATION)?.map(|v| u64::from_be_bytes(v.as_ref().try_into().unwrap_or_default())).unwrap_or(0))
}

/// How long gc keeps a pushed blob that no manifest references yet: a client pushes every
/// blob before the manifest naming them, so a gc in between would otherwise collect them.
pub const PUSH_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Seconds since the epoch, as the metadata records times.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The `pushed` tree's key for a blob: no repository name is empty, so it cannot clash.
fn push_mark(d: &Digest) -> Vec<u8> {
    key(&["", &d.to_string()])
}

pub(crate) fn key(parts: &[&str]) -> Vec<u8> {
    let mut k = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(SEP);
        }
        k.extend_from_slice(p.as_bytes());
    }
    k
}

pub(crate) fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("record serializes")
}

pub(crate) fn decode<T: DeserializeOwned>(tree: &str, v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError::Corrupt(format!("{tree}: {e}")))
}

pub(crate) fn u64_of(v: &[u8]) -> Result<u64, StoreError> {
    Ok(u64::from_be_bytes(v.try_into().map_err(|_| StoreError::Corrupt("bad counter".into()))?))
}

/// A manifest held in a repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestRecord {
    pub media_type: String,
    pub size: u64,
    /// An index carried as upstream wrote it with some platforms left out: child digest →
    /// the platform it is for, so a request for one is answered with what is missing and why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub omitted: BTreeMap<Digest, String>,
}

impl ManifestRecord {
    pub fn new(media_type: impl Into<String>, size: u64) -> ManifestRecord {
        ManifestRecord { media_type: media_type.into(), size, omitted: BTreeMap::new() }
    }
}

/// Last import of a bundle name: what the sequence rule compares against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleRecord {
    pub sequence: u64,
    /// sha256 of the exact bundle.json bytes: the same bundle again is a no-op.
    pub bundle_json: Digest,
    pub imported_at: String,
    /// The bundle's SPDX SBOM blob, served at `/sbom/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<Digest>,
    /// The key that signed it (as minisign prints key ids): the name belongs to that key.
    /// Absent in stores from before signers were recorded; the history tree tells then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}

/// One past import, keyed by the generation it produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryRecord {
    pub generation: u64,
    pub imported_at: String,
    pub name: String,
    pub sequence: u64,
    pub bundle_json: Digest,
    pub signer: String,
    pub file: String,
    pub blobs_added: usize,
    pub bytes_added: u64,
    pub artifacts: Vec<String>,
    /// Who ran the import (absent in records from before the audit trail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Actor>,
}

/// What one import writes, applied in a single transaction.
#[derive(Debug, Default)]
pub struct Changes {
    pub repos: Vec<String>,
    pub tags: Vec<(String, String, Digest)>,
    pub manifests: Vec<(String, Digest, ManifestRecord)>,
    pub referrers: Vec<(String, Digest, Descriptor)>,
    pub blobs: Vec<(Digest, u64)>,
    /// Each ecosystem's records.
    pub eco: crate::ecosystems::EcoChanges,
    /// `(artifact name, digest)` of each non-image artifact's own OCI manifest (deb, wheel,
    /// file, …): not served, but kept so gc keeps it and deltas need not carry it again.
    pub envelopes: Vec<(String, Digest)>,
    pub bundle: Option<(String, BundleRecord)>,
    /// `generation` is filled in by `commit`.
    pub history: Option<HistoryRecord>,
    /// Written by an authenticated push, not an import: its tags stay writable.
    pub pushed: bool,
    /// Who did what, for the audit trail (imports say it in `history`).
    pub audit: Option<Audit>,
}

pub struct Meta {
    db: sled::Db,
    pub(crate) t: Trees<sled::Tree>,
}

impl Meta {
    pub fn open(db: sled::Db) -> Result<Meta, StoreError> {
        let meta = Meta { t: Trees::open(&db)?, db };
        // Persist the freshly created trees now, so nothing is written later behind our back.
        meta.db.flush()?;
        Ok(meta)
    }

    pub fn repo_exists(&self, repo: &str) -> Result<bool, StoreError> {
        Ok(self.t.repos.contains_key(repo.as_bytes())?)
    }

    /// Repositories, sorted.
    pub fn repositories(&self) -> Result<Vec<String>, StoreError> {
        self.t.repos.iter().keys().map(|k| Ok(String::from_utf8_lossy(&k?).into_owned())).collect()
    }

    pub fn tag(&self, repo: &str, tag: &str) -> Result<Option<Digest>, StoreError> {
        match self.t.tags.get(key(&[repo, tag]))? {
            None => Ok(None),
            Some(v) => std::str::from_utf8(&v).ok().and_then(|s| s.parse().ok()).map(Some).ok_or_else(|| StoreError::Corrupt(format!("tag {repo}:{tag}"))),
        }
    }

    /// Tags of a repository, sorted bytewise (the spec's "ASCIIbetical" order).
    pub fn tags(&self, repo: &str) -> Result<Vec<String>, StoreError> {
        let prefix = key(&[repo, ""]);
        self.t.tags.scan_prefix(&prefix).keys().map(|k| Ok(String::from_utf8_lossy(&k?[prefix.len()..]).into_owned())).collect()
    }

    /// The repository's tags that point at `d` (a scan of that repository only).
    pub fn tags_of(&self, repo: &str, d: &Digest) -> Result<Vec<String>, StoreError> {
        let (prefix, want) = (key(&[repo, ""]), d.to_string());
        let mut out = Vec::new();
        for kv in self.t.tags.scan_prefix(&prefix) {
            let (k, v) = kv?;
            if v.as_ref() == want.as_bytes() {
                out.push(String::from_utf8_lossy(&k[prefix.len()..]).into_owned());
            }
        }
        Ok(out)
    }

    pub fn manifest(&self, repo: &str, d: &Digest) -> Result<Option<ManifestRecord>, StoreError> {
        self.t.manifests.get(key(&[repo, &d.to_string()]))?.map(|v| decode("manifests", &v)).transpose()
    }

    /// The index of `repo` that names `d` as a platform its bundle left out, and that
    /// platform. A scan of the repository's manifest records: only asked when `d` is not held.
    pub fn omitted_child(&self, repo: &str, d: &Digest) -> Result<Option<(Digest, String)>, StoreError> {
        let (prefix, want) = (key(&[repo, ""]), d.to_string());
        for kv in self.t.manifests.scan_prefix(&prefix) {
            let (k, v) = kv?;
            // Most records name no omitted child: decode only those that mention `d`.
            if !v.windows(want.len()).any(|w| w == want.as_bytes()) {
                continue;
            }
            let rec: ManifestRecord = decode("manifests", &v)?;
            if let Some(platform) = rec.omitted.get(d) {
                let index = String::from_utf8_lossy(&k[prefix.len()..]).parse().map_err(|_| StoreError::Corrupt(format!("manifests key in {repo}")))?;
                return Ok(Some((index, platform.clone())));
            }
        }
        Ok(None)
    }

    pub fn referrers(&self, repo: &str, subject: &Digest) -> Result<Vec<Descriptor>, StoreError> {
        let prefix = key(&[repo, &subject.to_string(), ""]);
        self.t.referrers.scan_prefix(&prefix).values().map(|v| decode("referrers", &v?)).collect()
    }

    /// Whether a tag was set by a push (writable by pushers) rather than by an import.
    pub fn tag_pushed(&self, repo: &str, tag: &str) -> Result<bool, StoreError> {
        Ok(self.t.pushed.contains_key(key(&[repo, tag]))?)
    }

    /// Whether a manifest was written by a push (and by no import since).
    pub fn manifest_pushed(&self, repo: &str, d: &Digest) -> Result<bool, StoreError> {
        Ok(self.t.pushed.contains_key(key(&[repo, &format!("@{d}")]))?)
    }

    pub fn has_blob(&self, d: &Digest) -> Result<bool, StoreError> {
        Ok(self.t.blobs.contains_key(d.to_string().as_bytes())?)
    }

    /// Every blob the metadata records as held, with its size, sorted by digest.
    pub fn blobs(&self) -> Result<Vec<(Digest, u64)>, StoreError> {
        self.blob_records().collect()
    }

    /// The blobs recorded as held, with their sizes, one at a time (gc and verify of a
    /// million-blob store must not hold them all).
    pub fn blob_records(&self) -> impl Iterator<Item = Result<(Digest, u64), StoreError>> + '_ {
        self.t.blobs.iter().map(|kv| {
            let (k, v) = kv?;
            let d = std::str::from_utf8(&k).ok().and_then(|s| s.parse().ok()).ok_or_else(|| StoreError::Corrupt("blob key".into()))?;
            Ok((d, u64_of(&v)?))
        })
    }

    pub fn bundle(&self, name: &str) -> Result<Option<BundleRecord>, StoreError> {
        self.t.bundles.get(name.as_bytes())?.map(|v| decode("bundles", &v)).transpose()
    }

    pub fn bundles(&self) -> Result<Vec<(String, BundleRecord)>, StoreError> {
        self.t
            .bundles
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((String::from_utf8_lossy(&k).into_owned(), decode("bundles", &v)?))
            })
            .collect()
    }

    pub fn history(&self) -> Result<Vec<HistoryRecord>, StoreError> {
        self.t.history.iter().values().map(|v| decode("history", &v?)).collect()
    }

    /// The import history newest first, one record at a time (a search or a page reads it
    /// without holding all of it).
    pub fn history_newest_first(&self) -> impl Iterator<Item = Result<HistoryRecord, StoreError>> + '_ {
        self.t.history.iter().values().rev().map(|v| decode("history", &v?))
    }

    /// Whether `mirror rm` took the artifact `name` out (and no import brought it back since).
    pub fn was_removed(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.t.removed.contains_key(name.as_bytes())?)
    }

    /// When the store last changed (RFC 3339), from the import history.
    pub fn last_import_time(&self) -> Result<Option<String>, StoreError> {
        Ok(self.t.history.last()?.map(|(_, v)| decode::<HistoryRecord>("history", &v)).transpose()?.map(|h| h.imported_at))
    }

    /// The store generation that last changed the ecosystem `eco` (as `registry!` names it);
    /// 0 when none did since stores recorded it. Caches of what it renders are keyed to this.
    pub fn eco_generation(&self, eco: &str) -> Result<u64, StoreError> {
        self.t.state.get(eco_generation_key(eco))?.map(|v| u64_of(&v)).transpose().map(|g| g.unwrap_or(0))
    }

    /// Whether every index writes keep (apt's `names`, …) has held all records since the
    /// store was created; if not, a lookup in one also scans what it indexes.
    pub fn indexed_since_creation(&self) -> Result<bool, StoreError> {
        Ok(self.t.state.get(INDEX_VERSION_KEY)?.map(|v| u64_of(&v)).transpose()?.is_some_and(|v| v >= INDEX_VERSION))
    }

    /// For a store being created: its indexes are complete from the start.
    pub(crate) fn mark_indexed(&self) -> Result<(), StoreError> {
        self.t.state.insert(INDEX_VERSION_KEY, &INDEX_VERSION.to_be_bytes()[..])?;
        self.db.flush()?;
        Ok(())
    }

    /// Bumped by every import that changed something; 0 for an empty store.
    pub fn generation(&self) -> Result<u64, StoreError> {
        self.t.state.get(GENERATION)?.map(|v| u64_of(&v)).transpose().map(|g| g.unwrap_or(0))
    }

    /// Builds what the ecosystems derive from their records (summaries, per-key generations)
    /// when the store was written before they kept it: once, each in one transaction. Run
    /// before every write, and by the server as it starts; reads fall back to scans until then.
    pub fn upgrade(&self) -> Result<(), StoreError> {
        crate::ecosystems::upgrade(self)?;
        self.db.flush()?;
        Ok(())
    }

    /// Apply one import's metadata atomically and make it durable. Returns the new generation.
    pub fn commit(&self, c: &Changes) -> Result<u64, StoreError> {
        // Flushed with the commit below (a lost upgrade is only built again).
        crate::ecosystems::upgrade(self)?;
        self.transact(|t| {
            let Trees { repos, tags, manifests, referrers, blobs, bundles, history, state, envelopes, pushed, audit, removed, eco: _ } = t;
            let generation = next_generation(state)?;
            for r in &c.repos {
                repos.insert(r.as_bytes(), &[][..])?;
            }
            for (r, tag, d) in &c.tags {
                tags.insert(key(&[r, tag]), d.to_string().as_bytes())?;
                // An import takes a tag back from pushers; a push marks it theirs.
                if c.pushed {
                    pushed.insert(key(&[r, tag]), &[][..])?;
                } else {
                    pushed.remove(key(&[r, tag]))?;
                }
            }
            for (r, d, m) in &c.manifests {
                let k = key(&[r, &d.to_string()]);
                let marker = key(&[r, &format!("@{d}")]);
                if !c.pushed {
                    // An import takes a pushed manifest over: it is signed content from now on.
                    pushed.remove(marker)?;
                } else if manifests.get(&k)?.is_none() {
                    pushed.insert(marker, &[][..])?;
                }
                // A push of bytes already held keeps their provenance: pushing an imported
                // manifest again must not make it deletable.
                manifests.insert(k, json(m))?;
            }
            for (r, s, desc) in &c.referrers {
                referrers.insert(key(&[r, &s.to_string(), &desc.digest.to_string()]), json(desc))?;
            }
            let now = unix_now();
            for (d, n) in &c.blobs {
                let old = blobs.insert(d.to_string().as_bytes(), &n.to_be_bytes()[..])?;
                blobs.add_bytes(*n as i64 - old.map_or(0, |v| u64_of(&v).unwrap_or(0) as i64));
                if c.pushed {
                    pushed.insert(push_mark(d), &now.to_be_bytes()[..])?;
                }
            }
            crate::ecosystems::write(t, c)?;
            for (name, d) in &c.envelopes {
                envelopes.insert(key(&[name, &d.to_string()]), &[][..])?;
            }
            if let Some((name, rec)) = &c.bundle {
                bundles.insert(name.as_bytes(), json(rec))?;
            }
            if let Some(h) = &c.history {
                for a in &h.artifacts {
                    removed.remove(a.as_bytes())?;
                }
                let h = HistoryRecord { generation, ..h.clone() };
                history.insert(&generation.to_be_bytes()[..], json(&h))?;
            }
            if let Some(a) = &c.audit {
                audit::append(audit, state, generation, a)?;
            }
            crate::ecosystems::mark_generations(state, Some(c), None, generation)?;
            Ok(generation)
        })
    }

    /// Run `f` as one transaction across every tree, keeping the counters (`counts`) in it,
    /// and make it durable.
    pub(crate) fn transact<A>(&self, f: impl Fn(&Trees<Counted<'_>>) -> ConflictableTransactionResult<A, Infallible>) -> Result<A, StoreError> {
        let base = self.count_base()?;
        let a = self.t.transaction(|t| {
            let a = f(t)?;
            counts::apply(t, base.as_ref())?;
            Ok(a)
        })?;
        self.db.flush()?;
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_is_visible_and_counts_generations() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(sled::Config::new().path(dir.path()).open().unwrap()).unwrap();
        assert_eq!(meta.generation().unwrap(), 0);
        let d = Digest::sha256_of(b"m");
        let subject = Digest::sha256_of(b"s");
        let mut referrer = Descriptor::new("application/vnd.oci.image.manifest.v1+json", d.clone(), 1);
        referrer.artifact_type = Some("application/spdx+json".into());
        let c = Changes {
            repos: vec!["docker.io/library/a".into()],
            tags: vec![("docker.io/library/a".into(), "1".into(), d.clone()), ("docker.io/library/a".into(), "0".into(), d.clone())],
            manifests: vec![("docker.io/library/a".into(), d.clone(), ManifestRecord::new("x", 1))],
            referrers: vec![("docker.io/library/a".into(), subject.clone(), referrer.clone())],
            blobs: vec![(d.clone(), 1)],
            ..Changes::default()
        };
        assert_eq!(meta.commit(&c).unwrap(), 1);
        assert_eq!(meta.generation().unwrap(), 1);
        assert_eq!(meta.tags("docker.io/library/a").unwrap(), vec!["0", "1"]);
        assert_eq!(meta.tag("docker.io/library/a", "1").unwrap(), Some(d.clone()));
        assert!(meta.tags("docker.io/library").unwrap().is_empty(), "prefix must not leak across repos");
        assert_eq!(meta.referrers("docker.io/library/a", &subject).unwrap(), vec![referrer]);
        assert!(meta.repo_exists("docker.io/library/a").unwrap() && !meta.repo_exists("docker.io/library").unwrap());
        assert_eq!(meta.blobs().unwrap(), vec![(d, 1)]);
    }

    /// An ecosystem's generation moves only with writes to its records: what its rendered
    /// indexes are keyed to.
    #[test]
    fn ecosystem_generations_move_only_with_their_records() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(sled::Config::new().path(dir.path()).open().unwrap()).unwrap();
        let gens = || (meta.generation().unwrap(), meta.eco_generation("files").unwrap(), meta.eco_generation("hf").unwrap());
        assert_eq!(gens(), (0, 0, 0));
        let files = crate::ecosystems::EcoChanges { files: vec![("a".into(), Digest::sha256_of(b"a"), 1)], ..Default::default() };
        meta.commit(&Changes { eco: files, ..Changes::default() }).unwrap();
        assert_eq!(gens(), (1, 1, 0));
        meta.commit(&Changes { blobs: vec![(Digest::sha256_of(b"b"), 1)], ..Changes::default() }).unwrap();
        assert_eq!(gens(), (2, 1, 0), "a blob is no ecosystem's record");
        meta.remove(&Removal { eco: crate::ecosystems::EcoRemoval { files: vec!["a".into()], ..Default::default() }, ..Removal::default() }).unwrap();
        assert_eq!(gens(), (3, 3, 0));
        assert!(meta.raw_file("a").unwrap().is_none());
    }
}
