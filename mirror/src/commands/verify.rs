//! `mirror verify`: re-hash every blob file, and check every blob the metadata records is there.

use std::collections::BTreeSet;
use std::io::BufReader;

use serde::Serialize;

use bundler::format::HashReader;

use crate::store::Store;

#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub checked: usize,
    pub bytes: u64,
    /// Files whose content does not hash to their name.
    pub damaged: Vec<String>,
    /// Recorded in the metadata but absent on disk.
    pub missing: Vec<String>,
    /// Files in blobs/ that are not named by a digest.
    pub stray: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.damaged.is_empty() && self.missing.is_empty()
    }
}

pub fn verify(store: &Store) -> anyhow::Result<VerifyReport> {
    let mut r = VerifyReport::default();
    let listing = store.blobs.list()?;
    let on_disk = listing.blobs;
    r.stray = listing.stray.iter().map(|p| p.display().to_string()).collect();
    let present: BTreeSet<_> = on_disk.iter().map(|(d, _)| d.clone()).collect();
    for (d, _) in &on_disk {
        let path = store.blobs.path(d);
        let f = std::fs::File::open(&path)?;
        let (actual, n) = HashReader::new(BufReader::with_capacity(1 << 20, f), d.algorithm()).finish()?;
        r.checked += 1;
        r.bytes += n;
        if &actual != d {
            r.damaged.push(format!("{d} ({} hashes to {actual})", path.display()));
        }
    }
    r.missing = store.blobs()?.into_iter().filter(|(d, _)| !present.contains(d)).map(|(d, _)| d.to_string()).collect();
    Ok(r)
}

pub fn run(store: &Store, json: bool) -> anyhow::Result<()> {
    let r = verify(store)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    }
    for d in &r.damaged {
        eprintln!("DAMAGED {d}");
    }
    for m in &r.missing {
        eprintln!("MISSING {m}");
    }
    for s in &r.stray {
        eprintln!("STRAY {s} (not a blob name; ignored)");
    }
    if !r.ok() {
        anyhow::bail!(
            "{} damaged and {} missing blob(s); re-import the bundles that carried them (`mirror history` lists them)",
            r.damaged.len(),
            r.missing.len()
        );
    }
    eprintln!("store OK: {} blobs, {} bytes re-hashed", r.checked, r.bytes);
    Ok(())
}
