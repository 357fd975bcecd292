//! `mirror verify [--quarantine]`: re-hash every blob file, check every blob the metadata
//! records or references is there, and optionally move damaged blobs aside.

use std::collections::BTreeSet;
use std::io::BufReader;

use serde::{Deserialize, Serialize};

use feas_format::{Digest, HashReader};

use crate::cli::VerifyArgs;
use crate::control::{self, Request};
use crate::gc::{quarantine, Quarantined};
use crate::store::blobs::Found;
use crate::store::digests::DigestSetBuilder;
use feas_format::progress::Progress;

use crate::store::{Actor, ImportLock, Store};

/// Of each kind of problem, how many a report names; the rest are counted. A store whose
/// records name a million absent files (a broken copy, a lost disk) gave a report of a million
/// names, held in memory (786 MB) and printed, where the first thousand tell as much.
pub const LISTED: usize = 1000;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct VerifyReport {
    pub checked: usize,
    pub bytes: u64,
    /// Files whose content does not hash to their name (the first `LISTED`).
    pub damaged: Vec<String>,
    /// Recorded or referenced in the metadata but absent on disk (the first `LISTED`).
    pub missing: Vec<String>,
    /// How many are damaged and missing, listed or not.
    #[serde(default)]
    pub damaged_total: usize,
    #[serde(default)]
    pub missing_total: usize,
    /// Files in blobs/ that are not named by a digest.
    pub stray: Vec<String>,
    /// Tags and indexes naming a manifest their repository no longer holds: served, but a
    /// client following them gets a 404.
    #[serde(default)]
    pub dangling: Vec<String>,
    /// With --quarantine: the damaged blobs moved aside, and who referenced them.
    #[serde(default)]
    pub quarantined: Vec<Quarantined>,
    #[serde(skip)]
    damaged_digests: Vec<Digest>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.damaged_total == 0 && self.missing_total == 0 && self.dangling.is_empty()
    }
}

pub fn verify(store: &Store) -> anyhow::Result<VerifyReport> {
    verify_showing(store, &Progress::hidden())
}

/// `verify`, with `progress` counting the bytes re-hashed.
pub fn verify_showing(store: &Store, progress: &Progress) -> anyhow::Result<VerifyReport> {
    let mut r = VerifyReport::default();
    progress.add_total(store.counts()?.1.blob_bytes);
    // One file at a time, streamed through the hasher; only digests are kept of what is
    // present, names only of what is reported.
    let mut present = DigestSetBuilder::default();
    let mut damaged = Vec::new();
    for found in store.blobs.walk() {
        let (d, path) = match found? {
            Found::Blob { digest, path } => (digest, path),
            Found::Stray(p) => {
                r.stray.push(p.display().to_string());
                continue;
            }
        };
        let f = std::fs::File::open(&path)?;
        let (actual, n) = HashReader::new(BufReader::with_capacity(1 << 20, f), d.algorithm()).finish()?;
        r.checked += 1;
        r.bytes += n;
        progress.inc(n);
        if actual != d {
            damaged.push((d.clone(), format!("{d} ({} hashes to {actual})", path.display())));
        }
        present.insert(&d);
    }
    damaged.sort();
    r.damaged_total = damaged.len();
    // Every damaged digest is kept (for --quarantine); names only of the listed ones.
    (r.damaged_digests, r.damaged) = damaged.into_iter().unzip();
    r.damaged.truncate(LISTED);
    let present = present.build();
    // What the served records need, with who needs it: after a quarantine this stays an error
    // until a re-import brings the blob back. Counted as streamed; only the listed are named.
    let refs = store.references(&store.paths)?;
    let mut absent = BTreeSet::<Digest>::new();
    for d in refs.blobs.iter().filter(|d| !present.contains(d)) {
        r.missing_total += 1;
        if absent.len() < LISTED {
            absent.insert(d);
        }
    }
    let names = store.artifacts_referencing(&store.paths, refs.since, &absent)?;
    for d in &absent {
        let artifacts = names.get(d).map(|a| a.iter().cloned().collect::<Vec<_>>().join(", ")).unwrap_or_default();
        r.missing.push(format!("{d} (referenced by {artifacts})"));
    }
    for rec in store.blob_records() {
        let (d, _) = rec?;
        if !present.contains(&d) && !refs.blobs.contains(&d) {
            r.missing_total += 1;
            if r.missing.len() < LISTED {
                r.missing.push(d.to_string());
            }
        }
    }
    r.dangling = store.dangling(&store.paths)?;
    Ok(r)
}

/// What the last `verify` found, kept in the store for `mirror status` and the web page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastVerify {
    /// RFC 3339, UTC: when it finished.
    pub at: String,
    pub checked: usize,
    pub bytes: u64,
    pub damaged: usize,
    pub missing: usize,
    pub dangling: usize,
    pub quarantined: usize,
}

impl LastVerify {
    pub fn ok(&self) -> bool {
        self.damaged + self.missing + self.dangling == 0
    }
}

/// Verify, then (with `quarantine`) move the damaged blobs aside under the import lock, and
/// keep what it found as the store's last verify.
pub fn verify_store(store: &Store, quarantine_damaged: bool, by: &Actor, progress: &Progress) -> anyhow::Result<VerifyReport> {
    let _lock = if quarantine_damaged { Some(ImportLock::acquire(&store.paths)?) } else { None };
    let mut r = verify_showing(store, progress)?;
    progress.finish();
    if quarantine_damaged {
        r.quarantined = quarantine(store, &r.damaged_digests, by)?;
    }
    let last = LastVerify {
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        checked: r.checked,
        bytes: r.bytes,
        damaged: r.damaged_total,
        missing: r.missing_total,
        dangling: r.dangling.len(),
        quarantined: r.quarantined.len(),
    };
    store.set_last_verify(&last)?;
    Ok(r)
}

pub fn run(args: &VerifyArgs) -> anyhow::Result<()> {
    let r = match control::request(&args.store, Request::Verify { quarantine: args.quarantine }) {
        Some(reply) => reply?.into_verified()?,
        None => {
            let store = Store::open_for_scan(&args.store)?;
            verify_store(&store, args.quarantine, &Actor::this_process(), &Progress::bytes("verify", !args.json))?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    }
    for d in &r.damaged {
        eprintln!("DAMAGED {d}");
    }
    for q in &r.quarantined {
        let who = if q.artifacts.is_empty() { "no artifact (unreferenced)".to_string() } else { q.artifacts.join(", ") };
        eprintln!("QUARANTINED {} -> {}; referenced by: {who}", q.digest, q.path);
    }
    for m in &r.missing {
        eprintln!("MISSING {m}");
    }
    for (kind, listed, total) in [("damaged", r.damaged.len(), r.damaged_total), ("missing", r.missing.len(), r.missing_total)] {
        if total > listed {
            eprintln!("… and {} more {kind} blob(s), not listed (the first {LISTED} of each kind are)", total - listed);
        }
    }
    for d in &r.dangling {
        eprintln!("DANGLING {d}");
    }
    for s in &r.stray {
        eprintln!("STRAY {s} (not a blob name; ignored)");
    }
    if !r.ok() {
        let what = if r.quarantined.is_empty() { "" } else { " (damaged ones quarantined; the inventory no longer lists them)" };
        anyhow::bail!(
            "{} damaged and {} missing blob(s){what}, {} dangling reference(s); re-import the bundles that carried them (`mirror history` lists them; an identical bundle restores missing records) or import a delta built from a fresh `mirror inventory`",
            r.damaged_total,
            r.missing_total,
            r.dangling.len()
        );
    }
    eprintln!("store OK: {} blobs, {} re-hashed", r.checked, feas_format::term::bytes(r.bytes));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecosystems::pypi::WheelRecord;
    use crate::store::Changes;

    /// Records naming more absent files than a report lists: the first `LISTED` are named, all
    /// are counted, and the store's last verify and the verdict use the counts.
    #[test]
    fn a_report_names_the_first_and_counts_all() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let n = LISTED + 5;
        let pypi = (0..n)
            .map(|i| {
                let filename = format!("p{i}-1.0-py3-none-any.whl");
                WheelRecord {
                    project: format!("p{i}"),
                    version: "1.0".into(),
                    digest: Digest::sha256_of(filename.as_bytes()),
                    filename,
                    size: 1,
                    requires_python: None,
                    metadata: None,
                }
            })
            .collect();
        store.commit(&Changes { eco: crate::ecosystems::EcoChanges { pypi, ..Default::default() }, ..Changes::default() }).unwrap();
        let r = verify_store(&store, false, &Actor::this_process(), &Progress::hidden()).unwrap();
        assert_eq!((r.missing.len(), r.missing_total), (LISTED, n));
        assert!(r.missing[0].contains("referenced by p"), "{}", r.missing[0]);
        assert!(!r.ok());
        assert_eq!(store.last_verify::<LastVerify>().unwrap().map(|v| v.missing), Some(n));
    }
}
