//! Command bodies other than import/serve.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use bundler::format::HashReader;

use crate::store::Store;

#[derive(Serialize)]
pub struct Inventory {
    pub format: u32,
    /// Blob digests → size: everything a delta may assume.
    pub blobs: BTreeMap<String, u64>,
    /// Bundle name → last imported sequence.
    pub sequences: BTreeMap<String, u64>,
}

pub fn inventory(store: &Store) -> anyhow::Result<Inventory> {
    let blobs = store.blob_list()?.into_iter().filter(|(d, _)| store.has_blob(d)).map(|(d, n)| (d.to_string(), n)).collect();
    let sequences = store.bundles()?.into_iter().map(|(n, b)| (n, b.sequence)).collect();
    Ok(Inventory { format: 1, blobs, sequences })
}

#[derive(Serialize)]
pub struct VerifyReport {
    pub checked: usize,
    pub bytes: u64,
    pub damaged: Vec<String>,
    pub missing: Vec<String>,
}

/// Re-hash every blob the metadata knows.
pub fn verify(store: &Store) -> anyhow::Result<VerifyReport> {
    let mut r = VerifyReport { checked: 0, bytes: 0, damaged: Vec::new(), missing: Vec::new() };
    for (d, size) in store.blob_list()? {
        let p = store.blob_path(&d);
        let Ok(f) = std::fs::File::open(&p) else {
            r.missing.push(d.to_string());
            continue;
        };
        let (actual, n) = HashReader::new(std::io::BufReader::with_capacity(1 << 20, f), d.algorithm()).finish()?;
        r.checked += 1;
        r.bytes += n;
        if actual != d || n != size {
            r.damaged.push(format!("{d} ({})", p.display()));
        }
    }
    Ok(r)
}

pub fn store_exists(dir: &Path) -> bool {
    dir.join("meta").exists()
}
