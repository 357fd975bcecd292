//! One file per ecosystem. Each resolves manifest entries to locked entries, then fetches
//! exactly the locked bytes into the cache and says which index.json descriptors and blobs
//! the bundle carries.

pub mod apt;
pub mod archive;
pub mod file;
pub mod http;
pub mod nltk;
pub mod oci;
pub mod pypi;

use std::collections::BTreeMap;

use crate::format::oci::Descriptor;
use crate::format::Digest;

/// What one artifact contributes to a bundle.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Entries for the bundle's index.json.
    pub descriptors: Vec<Descriptor>,
    /// Every blob (manifests included) to carry, with its size.
    pub blobs: BTreeMap<Digest, u64>,
}

impl Fetched {
    pub fn merge(&mut self, other: Fetched) {
        self.descriptors.extend(other.descriptors);
        self.blobs.extend(other.blobs);
    }
}
