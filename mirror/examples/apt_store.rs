//! Fill a store with N synthetic Debian package records in one apt suite (`bench`, suite
//! `stable`, component `main`, amd64) for bench/apt-index.sh: the Packages index the mirror
//! renders from them is what is measured, so the debs themselves are not needed.
//! Usage: cargo run --release -p mirror --example apt_store -- STORE N

use feas_format::Digest;
use mirror::ecosystems::apt::{DebKey, DebRecord};
use mirror::store::{Changes, Store};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(store), Some(n)) = (args.next(), args.next()) else { anyhow::bail!("usage: apt_store STORE N") };
    let n: usize = n.parse()?;
    let store = Store::open(std::path::Path::new(&store))?;
    let mut changes = Changes::default();
    for i in 0..n {
        let name = format!("bench-pkg{i:05}");
        let filename = format!("pool/main/b/{name}/{name}_1.{}-1_amd64.deb", i % 7);
        let digest = Digest::sha256_of(name.as_bytes());
        let size = 10_000 + (i as u64 * 37) % 90_000;
        let depends = if i > 0 { format!("Depends: bench-pkg{:05} (>= 1.0), libc6 (>= 2.36)\n", i - 1) } else { String::new() };
        let stanza = format!(
            "Package: {name}\nVersion: 1.{}-1\nArchitecture: amd64\nMaintainer: Bench Maintainers <bench@example.org>\nInstalled-Size: {}\n{depends}Section: utils\nPriority: optional\nFilename: {filename}\nSize: {size}\nMD5sum: {}\nSHA256: {}\nDescription: synthetic package {i} for the index benchmark\n Long description line one of package {i}.\n",
            i % 7,
            size / 1024 * 3,
            &digest.hex()[..32],
            digest.hex()
        );
        let key = DebKey { id: "bench".into(), suite: "stable".into(), component: "main".into(), arch: "amd64".into(), filename };
        changes.eco.apt.push((key, DebRecord { stanza, digest, size, codename: Some("stable".into()), origin: Some("bench".into()), label: Some("bench".into()) }));
    }
    store.commit(&changes)?;
    eprintln!("apt_store: {n} records in suite bench/stable");
    Ok(())
}
