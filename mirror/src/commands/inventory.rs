//! `mirror inventory`: what the store holds, as JSON, for the connected side to build deltas
//! (`bundler create --have`).

use std::collections::BTreeMap;

use serde::Serialize;

use bundler::format::bundle::BlobRef;

use crate::store::{Store, StoreError};

#[derive(Debug, Serialize)]
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

pub fn run(store: &Store) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&inventory(store)?)?);
    Ok(())
}
