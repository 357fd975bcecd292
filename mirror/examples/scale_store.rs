//! Fill a store with about N records for bench/scale.sh, written straight into the metadata in
//! batches (what imports and pushes would have written, without carrying the content):
//! - half apt package records in suite `bench/stable` (plus 100 in `bench/small`);
//! - a quarter PyPI files, ten per project;
//! - a quarter image tags, pushed (so the registry API may delete them), spread over four
//!   repositories `bench.local/scale/r0..r3` and pointing at 256 small image manifests per
//!   repository, whose manifest, config and layer blobs are real files.
//!
//! Usage: cargo run --release -p mirror --example scale_store -- STORE N

use feas_format::Digest;
use mirror::ecosystems::apt::{DebKey, DebRecord};
use mirror::ecosystems::pypi::WheelRecord;
use mirror::ecosystems::EcoChanges;
use mirror::store::{Changes, ManifestRecord, Store};

const BATCH: usize = 20_000;
const REPOS: usize = 4;
const MANIFESTS: usize = 256;
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

fn deb(id: &str, suite: &str, i: usize) -> (DebKey, DebRecord) {
    let name = format!("{suite}-pkg{i:07}");
    let filename = format!("pool/main/b/{name}/{name}_1.{}-1_amd64.deb", i % 7);
    let digest = Digest::sha256_of(name.as_bytes());
    let size = 10_000 + (i as u64 * 37) % 90_000;
    let stanza = format!(
        "Package: {name}\nVersion: 1.{}-1\nArchitecture: amd64\nMaintainer: Bench <bench@example.org>\nInstalled-Size: {}\nSection: utils\nPriority: optional\nFilename: {filename}\nSize: {size}\nSHA256: {}\nDescription: synthetic package {i}\n",
        i % 7,
        size / 1024 * 3,
        digest.hex()
    );
    let key = DebKey { id: id.into(), suite: suite.into(), component: "main".into(), arch: "amd64".into(), filename };
    (key, DebRecord { stanza, digest, size, codename: Some(suite.into()), origin: Some(id.into()), label: Some(id.into()) })
}

fn wheel(i: usize) -> WheelRecord {
    let (project, version) = (format!("proj{:06}", i / 10), format!("1.{}", i % 10));
    let filename = format!("{project}-{version}-py3-none-any.whl");
    WheelRecord { digest: Digest::sha256_of(filename.as_bytes()), project, version, filename, size: 1000 + i as u64 % 5000, requires_python: None, metadata: None }
}

/// A small image manifest for repository `r`, number `m`, with its blobs written to the store.
fn image(store: &Store, c: &mut Changes, repo: &str, m: usize) -> anyhow::Result<Digest> {
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[]}},\"n\":\"{repo}/{m}\"}}");
    let layer = format!("layer {repo} {m}");
    let mut blob = |bytes: &[u8]| -> anyhow::Result<(Digest, u64)> {
        let d = Digest::sha256_of(bytes);
        store.blobs.write(&d, &mut &bytes[..])?;
        c.blobs.push((d.clone(), bytes.len() as u64));
        Ok((d, bytes.len() as u64))
    };
    let (cd, cn) = blob(config.as_bytes())?;
    let (ld, ln) = blob(layer.as_bytes())?;
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": cn},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld.to_string(), "size": ln}],
    });
    let bytes = serde_json::to_vec(&manifest)?;
    let (md, mn) = blob(&bytes)?;
    c.manifests.push((repo.to_string(), md.clone(), ManifestRecord::new(MANIFEST_TYPE, mn)));
    Ok(md)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(root), Some(n)) = (args.next(), args.next()) else { anyhow::bail!("usage: scale_store STORE N") };
    let n: usize = n.parse()?;
    let store = Store::open(std::path::Path::new(&root))?;
    let commit = |c: Changes| -> anyhow::Result<()> {
        store.commit(&c)?;
        Ok(())
    };

    let small = Changes { eco: EcoChanges { apt: (0..100).map(|i| deb("bench", "small", i)).collect(), ..Default::default() }, ..Changes::default() };
    commit(small)?;
    let (debs, wheels, tags) = (n / 2, n / 4, n - n / 2 - n / 4);
    for start in (0..debs).step_by(BATCH) {
        let apt = (start..(start + BATCH).min(debs)).map(|i| deb("bench", "stable", i)).collect();
        commit(Changes { eco: EcoChanges { apt, ..Default::default() }, ..Changes::default() })?;
    }
    for start in (0..wheels).step_by(BATCH) {
        let pypi = (start..(start + BATCH).min(wheels)).map(wheel).collect();
        commit(Changes { eco: EcoChanges { pypi, ..Default::default() }, ..Changes::default() })?;
    }
    let mut targets: Vec<Vec<Digest>> = Vec::new();
    for r in 0..REPOS {
        let repo = format!("bench.local/scale/r{r}");
        let mut c = Changes { repos: vec![repo.clone()], pushed: true, ..Changes::default() };
        targets.push((0..MANIFESTS).map(|m| image(&store, &mut c, &repo, m)).collect::<anyhow::Result<_>>()?);
        commit(c)?;
    }
    for start in (0..tags).step_by(BATCH) {
        let mut c = Changes { pushed: true, ..Changes::default() };
        for i in start..(start + BATCH).min(tags) {
            let r = i % REPOS;
            c.tags.push((format!("bench.local/scale/r{r}"), format!("t{i:07}"), targets[r][i / REPOS % MANIFESTS].clone()));
        }
        commit(c)?;
    }
    eprintln!("scale_store: {debs} debs, {wheels} PyPI files, {tags} tags in {REPOS} repositories ({} records)", debs + wheels + tags + 100);
    Ok(())
}
