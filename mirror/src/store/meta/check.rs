//! Consistency of the records among themselves: what `mirror verify` reports beyond blob files
//! (a tag or index naming a manifest the repository no longer holds), and what a re-import of
//! an identical bundle looks at to decide whether it has anything to repair.

use feas_format::oci::AnyManifest;
use feas_format::Digest;

use super::{key, Changes, Meta, SEP};
use crate::store::{BlobStore, Paths, StoreError};

/// The import refuses manifests larger than this, so none in the store is.
const MAX_MANIFEST: u64 = 4 << 20;

impl Meta {
    /// Tags naming a manifest their repository does not hold, and indexes whose child manifest
    /// is on disk but not held by the repository (a child absent from disk is one a platform
    /// filter left out; a pushed index had every child, so any absent child counts there).
    pub fn dangling(&self, paths: &Paths) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for kv in self.t.tags.iter() {
            let (k, v) = kv?;
            let (repo, tag) = split(&k)?;
            let d = String::from_utf8_lossy(&v);
            if !self.t.manifests.contains_key(key(&[&repo, &d]))? {
                out.push(format!("tag {repo}:{tag} names {d}, which {repo} does not hold"));
            }
        }
        for k in self.t.manifests.iter().keys() {
            let k = k?;
            let (repo, d) = split(&k)?;
            let d: Digest = d.parse().map_err(|_| StoreError::Corrupt(format!("manifests key in {repo}")))?;
            // Unreadable manifests are `verify`'s missing or damaged blobs already.
            let Ok(bytes) = BlobStore::read_small(&paths.blob(&d), MAX_MANIFEST) else {
                continue;
            };
            let Ok(m) = AnyManifest::parse(&bytes) else {
                continue;
            };
            let pushed = self.manifest_pushed(&repo, &d)?;
            for child in &m.manifests {
                let held = self.t.manifests.contains_key(key(&[&repo, &child.digest.to_string()]))?;
                if !held && (pushed || paths.blob(&child.digest).is_file()) {
                    out.push(format!("index {repo}@{d} lists {}, which {repo} does not hold", child.digest));
                }
            }
        }
        Ok(out)
    }

    /// What of `c` (an import's records) the store does not hold as that import left it: a
    /// record gone, or an imported manifest a push took over. Values that a later import may
    /// legitimately have changed (where a tag points, an ecosystem's revision names) are not
    /// compared.
    pub fn missing_records(&self, c: &Changes) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut need = |present: bool, what: String| {
            if !present {
                out.push(what);
            }
        };
        for r in &c.repos {
            need(self.t.repos.contains_key(r.as_bytes())?, format!("repository {r}"));
        }
        for (r, t, _) in &c.tags {
            need(self.t.tags.contains_key(key(&[r, t]))?, format!("tag {r}:{t}"));
        }
        for (r, d, _) in &c.manifests {
            need(self.t.manifests.contains_key(key(&[r, &d.to_string()]))?, format!("manifest {r}@{d}"));
            need(!self.manifest_pushed(r, d)?, format!("manifest {r}@{d} as imported (a push holds it)"));
        }
        for (r, s, desc) in &c.referrers {
            need(self.t.referrers.contains_key(key(&[r, &s.to_string(), &desc.digest.to_string()]))?, format!("referrer {} of {r}@{s}", desc.digest));
        }
        for (d, _) in &c.blobs {
            need(self.t.blobs.contains_key(d.to_string().as_bytes())?, format!("blob {d}"));
        }
        crate::ecosystems::missing_records(self, c, &mut need)?;
        for (name, d) in &c.envelopes {
            need(self.t.envelopes.contains_key(key(&[name, &d.to_string()]))?, format!("envelope {d} of {name}"));
        }
        if let Some((name, _)) = &c.bundle {
            need(self.t.bundles.contains_key(name.as_bytes())?, format!("bundle record {name}"));
        }
        Ok(out)
    }
}

fn split(k: &[u8]) -> Result<(String, String), StoreError> {
    let i = k.iter().position(|b| *b == SEP).ok_or_else(|| StoreError::Corrupt("key without a separator".into()))?;
    Ok((String::from_utf8_lossy(&k[..i]).into_owned(), String::from_utf8_lossy(&k[i + 1..]).into_owned()))
}
