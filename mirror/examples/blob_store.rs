//! Fill a store with N tiny blobs and the records that reference them, for bench/gc-rss.sh:
//! what `mirror gc --dry-run` and `mirror verify` cost at scale is measured, so the blobs are
//! a few bytes each. Groups of ten alternate between an image (a tagged manifest over a config
//! and eight layers) and ten raw files; every hundredth group adds one blob nothing references
//! (garbage for gc to find). Files are staged without fsync and promoted one batch at a time,
//! with one commit per batch.
//! Usage: cargo run --release -p mirror --example blob_store -- STORE N

use feas_format::Digest;
use mirror::store::{Changes, ManifestRecord, Paths, Store};

const GROUP: usize = 10;
const BATCH: usize = 1000;
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Blobs to stage and the records of one batch.
#[derive(Default)]
struct Batch {
    files: Vec<(Digest, Vec<u8>)>,
    changes: Changes,
}

impl Batch {
    fn put(&mut self, bytes: Vec<u8>) -> Digest {
        let d = Digest::sha256_of(&bytes);
        self.changes.blobs.push((d.clone(), bytes.len() as u64));
        self.files.push((d.clone(), bytes));
        d
    }
}

fn group(b: &mut Batch, g: usize) {
    if g.is_multiple_of(2) {
        let config = b.put(format!(r#"{{"group":{g}}}"#).into_bytes());
        let layers: Vec<String> = (0..GROUP - 2)
            .map(|l| {
                let d = b.put(format!("layer {g}.{l}").into_bytes());
                format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{d}","size":{}}}"#, format!("layer {g}.{l}").len())
            })
            .collect();
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{}}},"layers":[{}]}}"#,
            format!(r#"{{"group":{g}}}"#).len(),
            layers.join(",")
        );
        let n = m.len() as u64;
        let md = b.put(m.into_bytes());
        let repo = format!("bench/r{}", g / 1000);
        b.changes.repos.push(repo.clone());
        b.changes.tags.push((repo.clone(), format!("t{g}"), md.clone()));
        b.changes.manifests.push((repo, md, ManifestRecord::new(MANIFEST, n)));
    } else {
        for f in 0..GROUP {
            let bytes = format!("file {g}.{f}").into_bytes();
            let n = bytes.len() as u64;
            let d = b.put(bytes);
            b.changes.eco.files.push((format!("bench/{g}/{f}.bin"), d, n));
        }
    }
    if g % 100 == 99 {
        b.put(format!("garbage {g}").into_bytes());
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(root), Some(n)) = (args.next(), args.next()) else { anyhow::bail!("usage: blob_store STORE N") };
    let n: usize = n.parse()?;
    let store = Store::open(std::path::Path::new(&root))?;
    let staging = store.paths.tmp().join("blob_store");
    std::fs::create_dir_all(&staging)?;
    let groups = n.div_ceil(GROUP);
    let mut blobs = 0;
    for start in (0..groups).step_by(BATCH) {
        let mut b = Batch::default();
        (start..groups.min(start + BATCH)).for_each(|g| group(&mut b, g));
        for (d, bytes) in &b.files {
            std::fs::write(Paths::staged_blob(&staging, d), bytes)?;
        }
        store.blobs.promote_all(b.files.iter().map(|(d, _)| (Paths::staged_blob(&staging, d), d)))?;
        b.changes.repos.dedup();
        store.commit(&b.changes)?;
        blobs += b.files.len();
    }
    std::fs::remove_dir(&staging)?;
    eprintln!("blob_store: {blobs} blobs in {groups} groups");
    Ok(())
}
