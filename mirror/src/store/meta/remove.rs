//! Taking metadata out: what `mirror rm`, `mirror gc` and `mirror verify --quarantine` delete,
//! applied like an import, in one transaction that bumps the generation. Plus the few scans
//! the planner of a removal needs.

use feas_format::oci::Descriptor;
use feas_format::Digest;

use super::{decode, key, next_generation, push_mark, u64_of, Meta, Trees, SEP};
use crate::store::StoreError;

/// Keys to delete, tree by tree.
#[derive(Debug, Default)]
pub struct Removal {
    /// (repo, tag)
    pub tags: Vec<(String, String)>,
    pub manifests: Vec<(String, Digest)>,
    /// (repo, subject, referrer)
    pub referrers: Vec<(String, Digest, Digest)>,
    pub repos: Vec<String>,
    /// Each ecosystem's records.
    pub eco: crate::ecosystems::EcoRemoval,
    /// (artifact name, manifest digest)
    pub envelopes: Vec<(String, Digest)>,
    /// Bundle names whose sequence record goes: that name may be imported afresh.
    pub bundles: Vec<String>,
    /// Entries of the `blobs` tree (what the inventory says is held).
    pub blobs: Vec<Digest>,
    /// Artifact names `mirror rm` took out (as `mirror import` prints them): remembered, so
    /// the import that brings one back says so.
    pub artifacts: Vec<String>,
    /// Who did what, for the audit trail. Written even when nothing else is (a gc that deleted
    /// only unrecorded files, or nothing), then without bumping the generation.
    pub audit: Option<super::Audit>,
}

impl Removal {
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
            && self.manifests.is_empty()
            && self.referrers.is_empty()
            && self.repos.is_empty()
            && self.eco == crate::ecosystems::EcoRemoval::default()
            && self.envelopes.is_empty()
            && self.bundles.is_empty()
            && self.blobs.is_empty()
            && self.artifacts.is_empty()
    }
}

impl Meta {
    /// Delete everything `r` names in one transaction and make it durable. Returns the new
    /// generation (unchanged when `r` is empty).
    pub fn remove(&self, r: &Removal) -> Result<u64, StoreError> {
        if r.is_empty() {
            if let Some(a) = &r.audit {
                self.transact(|t| {
                    let generation = super::tx_generation(&t.state)?;
                    super::audit::append(&t.audit, &t.state, generation, a)?;
                    Ok(())
                })?;
            }
            return self.generation();
        }
        // Flushed with the removal below (a lost upgrade is only built again).
        crate::ecosystems::upgrade(self)?;
        let pre = crate::ecosystems::prepare_removal(self, r)?;
        self.transact(|t| {
            let Trees { repos, tags, manifests, referrers, blobs, bundles, history: _, state, envelopes, pushed, audit, removed, eco: _ } = t;
            let generation = next_generation(state)?;
            for (repo, tag) in &r.tags {
                tags.remove(key(&[repo, tag]))?;
                pushed.remove(key(&[repo, tag]))?;
            }
            for (repo, d) in &r.manifests {
                manifests.remove(key(&[repo, &d.to_string()]))?;
                pushed.remove(key(&[repo, &format!("@{d}")]))?;
            }
            for (repo, s, d) in &r.referrers {
                referrers.remove(key(&[repo, &s.to_string(), &d.to_string()]))?;
            }
            for repo in &r.repos {
                repos.remove(repo.as_bytes())?;
            }
            crate::ecosystems::remove(t, r, &pre)?;
            for (name, d) in &r.envelopes {
                envelopes.remove(key(&[name, &d.to_string()]))?;
            }
            for name in &r.bundles {
                bundles.remove(name.as_bytes())?;
            }
            for d in &r.blobs {
                if let Some(v) = blobs.remove(d.to_string().as_bytes())? {
                    blobs.add_bytes(-(u64_of(&v).unwrap_or(0) as i64));
                }
                pushed.remove(push_mark(d))?;
            }
            for name in &r.artifacts {
                removed.insert(name.as_bytes(), &generation.to_be_bytes()[..])?;
            }
            if let Some(a) = &r.audit {
                super::audit::append(audit, state, generation, a)?;
            }
            crate::ecosystems::mark_generations(state, None, Some(r), generation)?;
            Ok(generation)
        })
    }

    /// Every tag of every repository: (repo, tag, digest).
    pub fn all_tags(&self) -> Result<Vec<(String, String, Digest)>, StoreError> {
        self.t
            .tags
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                let (repo, tag) = split2(&k).ok_or_else(|| StoreError::Corrupt("tags key".into()))?;
                let d = std::str::from_utf8(&v).ok().and_then(|s| s.parse().ok()).ok_or_else(|| StoreError::Corrupt(format!("tag {repo}:{tag}")))?;
                Ok((repo, tag, d))
            })
            .collect()
    }

    /// The manifests a repository holds.
    pub fn manifest_digests(&self, repo: &str) -> Result<Vec<Digest>, StoreError> {
        let prefix = key(&[repo, ""]);
        self.t
            .manifests
            .scan_prefix(&prefix)
            .keys()
            .map(|k| {
                let k = k?;
                std::str::from_utf8(&k[prefix.len()..]).ok().and_then(|s| s.parse().ok()).ok_or_else(|| StoreError::Corrupt(format!("manifest key in {repo}")))
            })
            .collect()
    }

    /// Every referrer entry of a repository: (subject, referrer descriptor).
    pub fn referrer_entries(&self, repo: &str) -> Result<Vec<(Digest, Descriptor)>, StoreError> {
        let prefix = key(&[repo, ""]);
        self.t
            .referrers
            .scan_prefix(&prefix)
            .map(|kv| {
                let (k, v) = kv?;
                let subject = k[prefix.len()..].split(|b| *b == SEP).next().and_then(|s| std::str::from_utf8(s).ok()).and_then(|s| s.parse().ok());
                let subject = subject.ok_or_else(|| StoreError::Corrupt(format!("referrer key in {repo}")))?;
                Ok((subject, decode("referrers", &v)?))
            })
            .collect()
    }

    /// The envelope manifests recorded under an artifact name.
    pub fn envelopes_of(&self, name: &str) -> Result<Vec<Digest>, StoreError> {
        let prefix = key(&[name, ""]);
        self.t
            .envelopes
            .scan_prefix(&prefix)
            .keys()
            .map(|k| {
                let k = k?;
                std::str::from_utf8(&k[prefix.len()..]).ok().and_then(|s| s.parse().ok()).ok_or_else(|| StoreError::Corrupt(format!("envelope key of {name}")))
            })
            .collect()
    }
}

fn split2(k: &[u8]) -> Option<(String, String)> {
    let i = k.iter().position(|b| *b == SEP)?;
    Some((String::from_utf8_lossy(&k[..i]).into_owned(), String::from_utf8_lossy(&k[i + 1..]).into_owned()))
}
