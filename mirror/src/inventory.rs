//! The inventory: what the store holds, in the form the connected side reads back to build
//! deltas (`bundler create --have`).

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
