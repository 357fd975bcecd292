//! Fill a store with synthetic registry records for bench/read-load.sh: repository
//! `bench/small` with 1,000 tags and `bench/big` with N, one manifest record each, N blob
//! records. Tag pages and `/` are what is measured, so no blob files are written.
//! Usage: cargo run --release -p mirror --example oci_store -- STORE N

use feas_format::Digest;
use mirror::store::{Changes, ManifestRecord, Store};

/// Records per commit: one transaction of this size stays small in memory.
const CHUNK: usize = 50_000;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(store), Some(n)) = (args.next(), args.next()) else { anyhow::bail!("usage: oci_store STORE N") };
    let n: usize = n.parse()?;
    let store = Store::open(std::path::Path::new(&store))?;
    let m = Digest::sha256_of(b"bench manifest");
    for (repo, tags) in [("bench/small", 1_000), ("bench/big", n)] {
        for start in (0..tags).step_by(CHUNK) {
            let mut c = Changes {
                repos: vec![repo.into()],
                manifests: vec![(repo.into(), m.clone(), ManifestRecord::new("application/vnd.oci.image.manifest.v1+json", 2))],
                ..Changes::default()
            };
            for i in start..(start + CHUNK).min(tags) {
                c.tags.push((repo.into(), format!("t{i:07}"), m.clone()));
                if repo == "bench/big" {
                    c.blobs.push((Digest::sha256_of(&i.to_be_bytes()), 1000 + i as u64 % 1000));
                }
            }
            store.commit(&c)?;
        }
    }
    eprintln!("oci_store: bench/small 1000 tags, bench/big {n} tags, {n} blob records");
    Ok(())
}
