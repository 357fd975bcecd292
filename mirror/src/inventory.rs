//! The inventory: what the store holds, in the form the connected side reads back to build
//! deltas (`bundler create --have`), and by name (`mirror ls`, the web page's search).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use feas_format::bundle::BlobRef;

use crate::store::{Store, StoreError};

#[derive(Debug, Serialize, Deserialize)]
pub struct Inventory {
    pub format: u32,
    pub generation: u64,
    /// Every blob held, in bundle.json's `{digest, size}` form, sorted by digest.
    pub blobs: Vec<BlobRef>,
    /// Bundle name → last imported sequence.
    pub sequences: BTreeMap<String, u64>,
}

pub fn inventory(store: &Store) -> Result<Inventory, StoreError> {
    Ok(Inventory {
        format: 1,
        generation: store.generation()?,
        blobs: store.blobs()?.into_iter().map(|(digest, size)| BlobRef { digest, size }).collect(),
        sequences: store.bundles()?.into_iter().map(|(n, b)| (n, b.sequence)).collect(),
    })
}

/// One artifact the store holds, by the name `mirror import` prints.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Held {
    pub name: String,
    /// `image`, or the ecosystem's name (`apt`, `pypi`, `helm`, …).
    pub kind: String,
}

/// What kind of artifact a name is, from the form `mirror import` prints.
pub fn kind_of(name: &str) -> &'static str {
    match name.split_once('/').map(|(p, _)| p) {
        Some("charts") => "helm",
        Some(p) => crate::ecosystems::NAMES.iter().find(|n| **n == p).copied().unwrap_or("image"),
        None => "pypi",
    }
}

/// Held artifacts that `keep` accepts, sorted by name, at most `limit`: every tag of every
/// repository (pushed or imported), and every other artifact the import history names that
/// the store still holds (history keeps what `rm` took out). `tags_per_repo` bounds the tags
/// read of one repository (a search shows a few; `ls` all).
pub fn held(store: &Store, keep: &mut dyn FnMut(&str, &str) -> bool, limit: usize, tags_per_repo: Option<usize>) -> Result<Vec<Held>, StoreError> {
    let mut out: BTreeMap<String, &'static str> = BTreeMap::new();
    'repos: for repo in store.repositories()? {
        for tag in store.tags_page(&repo, None, tags_per_repo)?.items {
            if out.len() >= limit {
                break 'repos;
            }
            let name = format!("{repo}:{tag}");
            let kind = kind_of(&name);
            if keep(&name, kind) {
                out.insert(name, kind);
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    'imports: for h in store.history_newest_first() {
        for a in &h?.artifacts {
            if out.len() >= limit {
                break 'imports;
            }
            let kind = kind_of(a);
            if !out.contains_key(a) && seen.insert(a.clone()) && keep(a, kind) && crate::remove::holds(store, a)? {
                out.insert(a.clone(), kind);
            }
        }
    }
    Ok(out.into_iter().map(|(name, kind)| Held { name, kind: kind.to_string() }).collect())
}
