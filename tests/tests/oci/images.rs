//! Issue 2 end to end: images from a real registry (Debian's docker-registry), bundled,
//! imported, and pulled back by skopeo, ctr (containerd) and podman; bad input refused with
//! the store unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::image::{push_artifact, push_index, MANIFEST};
use e2e::{raw_manifest, run, sha256, skopeo, snapshot, BuiltImage, Containerd, Gap, ImageBuilder, Mirror, Podman, Registry};

fn manifest(gap: &Gap, name: &str, registry: &str, platforms: &str, images: &str) -> PathBuf {
    gap.write(
        &format!("{name}.yaml"),
        &format!("name: {name}\nplatforms: {platforms}\nregistries:\n  docker.io: {{url: \"http://{registry}\", insecure: true}}\nimages:\n{images}"),
    )
}

/// Upstream with two multi-arch images sharing a layer: library/hello:1 and library/other:1.
fn upstream(dir: &Path) -> (Registry, BuiltImage, BuiltImage) {
    e2e::image::shared_pair(dir)
}

/// Digests of the blobs `bundler inspect --json` says the bundle carries (`blobs[].digest`).
fn carried(info: &serde_json::Value) -> Vec<String> {
    let blobs = info["blobs"].as_array().unwrap_or_else(|| panic!("`bundler inspect --json` has no `blobs` array: {info}"));
    blobs.iter().map(|b| b["digest"].as_str().unwrap_or_else(|| panic!("blob without `digest`: {b}")).to_string()).collect()
}

#[test]
fn images_reach_skopeo_ctr_and_podman_through_the_gap() {
    let gap = Gap::new();
    let (reg, hello, other) = upstream(gap.dir.path());
    let m = manifest(&gap, "stack", &reg.host, "[linux/amd64, linux/arm64]", "  - docker.io/library/hello:1\n  - {ref: other:1}\n");
    gap.lock(&m).ok();
    let lock = std::fs::read_to_string(gap.lock_file()).unwrap();
    assert!(lock.contains(&hello.index) && lock.contains(&other.index), "lock pins both indexes:\n{lock}");
    let bundle = gap.create(&m, "stack.bundle", &["--locked"]);
    gap.verify(&bundle).ok();
    let info = gap.inspect(&bundle);
    let blobs = carried(&info);
    assert_eq!(blobs.iter().filter(|d| **d == hello.shared_layer).count(), 1, "shared layer carried once");
    // Exactly the two images: 2 indexes + 4 manifests + 4 configs + 4 own layers + 1 shared
    // layer, and the bundle's SBOM.
    let sbom = gap.bundler(&["inspect", bundle.to_str().unwrap(), "--sbom"]).ok().stdout;
    let expected: std::collections::BTreeSet<String> = hello.blobs().into_iter().chain(other.blobs()).chain([sha256(sbom.as_bytes())]).collect();
    let got: std::collections::BTreeSet<String> = blobs.iter().cloned().collect();
    assert_eq!(got.len(), blobs.len(), "a blob listed twice: {blobs:?}");
    assert_eq!(got, expected, "carried blobs differ from upstream's");

    gap.import(&bundle).ok();
    // Importing the same bundle again changes nothing.
    let held = snapshot(&gap.path("store/blobs"));
    gap.import(&bundle).ok();
    assert_eq!(held, snapshot(&gap.path("store/blobs")));
    let mirror = Mirror::start(&gap.store());

    // skopeo, path-style: digests equal upstream's.
    assert_eq!(sha256(&raw_manifest(&mirror.host, "docker.io/library/hello:1")), hello.index);
    let oci = gap.path("pulled-oci");
    skopeo(&["copy", "--all", "--quiet", "--src-tls-verify=false", &format!("docker://{}/docker.io/library/hello:1", mirror.host), &format!("oci:{}:1", oci.display())]).ok();
    let idx: serde_json::Value = serde_json::from_slice(&std::fs::read(oci.join("index.json")).unwrap()).unwrap();
    assert_eq!(idx["manifests"][0]["digest"], hello.index.as_str());
    for d in hello.blobs() {
        assert_eq!(sha256(&std::fs::read(oci.join("blobs/sha256").join(&d[7..])).unwrap()), d, "oci: blob {d}");
    }
    let dir = gap.path("pulled-dir");
    skopeo(&[
        "copy",
        "--quiet",
        "--override-arch",
        "arm64",
        "--src-tls-verify=false",
        &format!("docker://{}/docker.io/library/other:1", mirror.host),
        &format!("dir:{}", dir.display()),
    ])
    .ok();
    assert_eq!(sha256(&std::fs::read(dir.join("manifest.json")).unwrap()), other.manifests["arm64"]);
    for d in [&other.shared_layer, &other.own_layers["arm64"], &other.configs["arm64"]] {
        assert_eq!(&sha256(&std::fs::read(dir.join(&d[7..])).unwrap()), d, "dir: blob {d}");
    }

    // containerd through a hosts.toml mirror for docker.io (it sends ?ns=docker.io).
    let ctrd = Containerd::start();
    ctrd.hosts_toml("docker.io", &mirror.host);
    ctrd.pull("e2e", "docker.io/library/hello:1", &["--all-platforms"]).ok();
    assert_eq!(ctrd.image_digest("e2e", "docker.io/library/hello:1").as_deref(), Some(hello.index.as_str()));
    ctrd.check("e2e");

    // podman through a registries.conf remap of docker.io to the mirror's path-style names.
    let podman = Podman::new();
    podman.remap("docker.io", &format!("{}/docker.io", mirror.host));
    podman.pull("docker.io/library/other:1", &[]).ok();
    assert_eq!(podman.image_digest("docker.io/library/other:1"), other.index);
    podman.pull("docker.io/library/hello:1", &["--arch", "arm64"]).ok();
    assert_eq!(podman.image_digest("docker.io/library/hello:1"), hello.index);

    let mut mirror = mirror;
    assert!(mirror.server.terminate(), "mirror should stop on SIGTERM");
    drop(reg);
}

#[test]
fn platform_filter_carries_only_requested_platforms() {
    let gap = Gap::new();
    let (reg, hello, _) = upstream(gap.dir.path());
    let m = manifest(&gap, "arm", &reg.host, "[linux/amd64]", "  - {ref: docker.io/library/hello:1, platforms: [linux/arm64]}\n");
    let bundle = gap.create(&m, "arm.bundle", &[]);
    let blobs = carried(&gap.inspect(&bundle));
    for d in [&hello.shared_layer, &hello.own_layers["arm64"], &hello.manifests["arm64"], &hello.configs["arm64"]] {
        assert!(blobs.contains(d), "arm64 blob {d} must be carried: {blobs:?}");
    }
    for d in [&hello.own_layers["amd64"], &hello.manifests["amd64"], &hello.configs["amd64"]] {
        assert!(!blobs.contains(d), "amd64 blob {d} must not be carried: {blobs:?}");
    }
    let info = gap.inspect(&bundle);
    let image =
        info["artifacts"].as_array().unwrap().iter().find(|a| a["ref"] == "docker.io/library/hello:1").unwrap_or_else(|| panic!("no artifact docker.io/library/hello:1: {info}"));
    let platforms: Vec<&str> = image["platforms"].as_array().unwrap().iter().map(|p| p["platform"].as_str().unwrap()).collect();
    assert_eq!(platforms, ["linux/arm64"], "{image}");
    gap.import(&bundle).ok();
    let mirror = Mirror::start(&gap.store());
    // The upstream index, byte for byte (so a pull by its digest works); amd64 is named in it
    // but not held (pinned.rs pulls by that digest with ctr, podman and skopeo).
    assert_eq!(sha256(&raw_manifest(&mirror.host, "docker.io/library/hello:1")), hello.index, "served index is upstream's");
    let status = |path: String| e2e::http_status(&mirror.url(&path));
    assert_eq!(status(format!("/v2/docker.io/library/hello/blobs/{}", hello.own_layers["amd64"])), 404);
    assert_eq!(status(format!("/v2/library/hello/blobs/{}?ns=docker.io", hello.own_layers["amd64"])), 404);
    assert_eq!(status(format!("/v2/docker.io/library/hello/manifests/{}", hello.manifests["amd64"])), 404);
    assert_eq!(status(format!("/v2/docker.io/library/hello/blobs/{}", hello.own_layers["arm64"])), 200);
    assert_eq!(status(format!("/v2/library/hello/blobs/{}?ns=docker.io", hello.own_layers["arm64"])), 200);
    // A client asking for the missing platform gets an error, not some other platform's image.
    skopeo(&["inspect", "--tls-verify=false", "--override-arch", "amd64", &format!("docker://{}/docker.io/library/hello:1", mirror.host)]).fails();
}

#[test]
fn signatures_and_local_sources_are_carried() {
    let gap = Gap::new();
    let (reg, hello, _) = upstream(gap.dir.path());
    // A cosign-style signature tag on the index.
    let payload = br#"{"critical":{"image":{"docker-manifest-digest":"x"}}}"#;
    let cfg = b"{}";
    let sig = serde_json::json!({"schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(cfg), "size": cfg.len()},
        "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": sha256(payload), "size": payload.len(),
                    "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQ=="}}]});
    let sig_tag = format!("sha256-{}.sig", &hello.index[7..]);
    let sig_digest = push_artifact(&reg.host, "library/hello", &sig_tag, &serde_json::to_vec(&sig).unwrap(), &[cfg, payload]);
    // An OCI 1.1 referrer (an SBOM with `subject`). docker-registry 2.8 has no referrers API,
    // so it is published through the referrers tag schema, as the distribution spec says.
    let sbom = br#"{"spdxVersion":"SPDX-2.3"}"#;
    let empty = b"{}";
    let referrer = serde_json::json!({"schemaVersion": 2, "mediaType": MANIFEST, "artifactType": "application/spdx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(empty), "size": 2},
        "layers": [{"mediaType": "application/spdx+json", "digest": sha256(sbom), "size": sbom.len()}],
        "subject": {"mediaType": e2e::image::INDEX, "digest": hello.index, "size": std::fs::metadata(gap.path("layout/blobs/sha256").join(&hello.index[7..])).unwrap().len()}});
    let referrer_bytes = serde_json::to_vec(&referrer).unwrap();
    let referrer_digest = push_artifact(&reg.host, "library/hello", &sha256(&referrer_bytes), &referrer_bytes, &[empty, sbom]);
    let tag_schema = serde_json::json!({"schemaVersion": 2, "mediaType": e2e::image::INDEX, "manifests": [
        {"mediaType": MANIFEST, "digest": referrer_digest, "size": referrer_bytes.len(), "artifactType": "application/spdx+json"}]});
    push_index(&reg.host, "library/hello", &format!("sha256-{}", &hello.index[7..]), &serde_json::to_vec(&tag_schema).unwrap());

    // Local sources: the OCI layout directory, and a docker-archive made by skopeo.
    let archive = gap.path("hello.tar");
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--override-arch",
        "amd64",
        &format!("oci:{}:1", gap.path("layout").display()),
        &format!("docker-archive:{}:localhost/archived:1", archive.display()),
    ]))
    .ok();
    let images =
        "  - docker.io/library/hello:1\n  - {ref: localhost/fromlayout:1, oci_layout: layout, layout_ref: \"1\"}\n  - {ref: localhost/archived:1, docker_archive: hello.tar}\n";
    let m = manifest(&gap, "sig", &reg.host, "[linux/amd64, linux/arm64]", images);
    let bundle = gap.create(&m, "sig.bundle", &[]);
    let info = gap.bundler(&["inspect", bundle.to_str().unwrap(), "--json"]).ok().json();
    let accessories: Vec<&serde_json::Value> = info["artifacts"].as_array().unwrap().iter().filter(|a| a["kind"] == "image-accessory").collect();
    let sig_acc = accessories.iter().find(|a| a["tag"] == sig_tag.as_str()).expect("signature tag carried");
    assert_eq!(sig_acc["digest"], sig_digest.as_str());
    assert!(accessories.iter().any(|a| a["digest"] == referrer_digest.as_str() && a["tag"].is_null()), "referrer carried: {accessories:?}");
    gap.import(&bundle).ok();
    let mirror = Mirror::start(&gap.store());
    assert_eq!(sha256(&raw_manifest(&mirror.host, &format!("docker.io/library/hello:{sig_tag}"))), sig_digest);
    let referrers =
        run(Command::new("curl").args(["-sSf", &format!("http://{}/v2/docker.io/library/hello/referrers/{}?artifactType=application/spdx%2Bjson", mirror.host, hello.index)])).ok();
    let referrers: serde_json::Value = serde_json::from_str(&referrers.stdout).unwrap();
    assert_eq!(referrers["manifests"][0]["digest"], referrer_digest.as_str(), "{referrers}");
    assert_eq!(referrers["manifests"][0]["artifactType"], "application/spdx+json");
    assert_eq!(sha256(&raw_manifest(&mirror.host, "localhost/fromlayout:1")), hello.index);
    let archived: serde_json::Value = serde_json::from_slice(&raw_manifest(&mirror.host, "localhost/archived:1")).unwrap();
    let served_cfg = archived["config"]["digest"].as_str().unwrap().to_string();
    let layout_cfg = {
        let m: serde_json::Value = serde_json::from_slice(&std::fs::read(gap.path("layout/blobs/sha256").join(&hello.manifests["amd64"][7..])).unwrap()).unwrap();
        m["config"]["digest"].as_str().unwrap().to_string()
    };
    assert_eq!(served_cfg, layout_cfg, "docker-archive keeps the image config byte for byte");
}

// ---- bad input: every variant is refused naming what is wrong, and the store stays as it was.

/// Rewrite a tar entry by entry: `edit` gets each entry's name and data and returns the data to
/// keep (headers are copied as they were, sizes fixed), or `None` to drop the entry.
fn rewrite(src: &Path, dst: &Path, edit: impl Fn(&str, Vec<u8>) -> Option<Vec<u8>>) {
    let mut ar = tar::Archive::new(std::fs::File::open(src).unwrap());
    let mut out = tar::Builder::new(std::fs::File::create(dst).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut header = e.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if let Some(data) = edit(&name, data) {
            header.set_size(data.len() as u64);
            header.set_cksum();
            out.append(&header, &data[..]).unwrap();
        }
    }
    out.finish().unwrap();
}

/// Copy a tar, changing bytes of one entry's data in place (everything else byte-identical).
fn patch_in_place(src: &Path, dst: &Path, entry: &str, patch: impl Fn(&mut [u8])) {
    let mut bytes = std::fs::read(src).unwrap();
    let mut ar = tar::Archive::new(&bytes[..]);
    let (pos, size) = ar
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.path().unwrap().to_string_lossy() == entry)
        .map(|e| (e.raw_file_position() as usize, e.size() as usize))
        .unwrap_or_else(|| panic!("no entry {entry} in {}", src.display()));
    patch(&mut bytes[pos..pos + size]);
    std::fs::write(dst, bytes).unwrap();
}

/// Append an entry after the good ones, its name written raw so `..` survives (the tar crate
/// refuses to write such names).
fn with_extra_entry(src: &Path, dst: &Path, name: &str, kind: tar::EntryType) {
    let bytes = std::fs::read(src).unwrap();
    // Cut the end-of-archive blocks: keep up to the end of the last entry's padded data.
    let end = {
        let mut ar = tar::Archive::new(&bytes[..]);
        ar.entries().unwrap().map(Result::unwrap).map(|e| (e.raw_file_position() + e.size()).div_ceil(512) * 512).max().unwrap() as usize
    };
    let mut body = bytes[..end].to_vec();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_mtime(0);
    let data: &[u8] = if kind.is_symlink() { b"" } else { b"owned\n" };
    h.set_size(data.len() as u64);
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
    if kind.is_symlink() {
        h.set_link_name("/etc/passwd").unwrap();
    }
    h.set_cksum();
    body.extend_from_slice(h.as_bytes());
    body.extend_from_slice(data);
    body.resize(body.len().div_ceil(512) * 512, 0);
    body.extend_from_slice(&[0u8; 1024]);
    std::fs::write(dst, body).unwrap();
}

/// An upstream, a good uncompressed bundle of `docker.io/library/hello:1` (both platforms), and
/// a store that already holds an earlier import (library/other:1, arm64) a refusal must not touch.
struct Refusals {
    gap: Gap,
    _reg: Registry,
    hello: BuiltImage,
    manifest: PathBuf,
    good: PathBuf,
}

impl Refusals {
    fn new() -> Refusals {
        let gap = Gap::new();
        let (reg, hello, _) = upstream(gap.dir.path());
        let base = manifest(&gap, "base", &reg.host, "[linux/arm64]", "  - docker.io/library/other:1\n");
        let base_bundle = gap.path("base.bundle");
        gap.bundler(&[
            "create",
            base.to_str().unwrap(),
            "--key",
            gap.key().to_str().unwrap(),
            "--out",
            base_bundle.to_str().unwrap(),
            "--lock",
            gap.path("base.lock").to_str().unwrap(),
        ])
        .ok();
        gap.import(&base_bundle).ok();
        let m = manifest(&gap, "bad", &reg.host, "[linux/amd64, linux/arm64]", "  - docker.io/library/hello:1\n");
        let good = gap.create(&m, "good.bundle", &["--compression", "none"]);
        Refusals { gap, _reg: reg, hello, manifest: m, good }
    }

    fn variant(&self, name: &str) -> PathBuf {
        self.gap.path(name)
    }

    /// `mirror import` fails naming every one of `needles`; no blob, no held metadata and, as
    /// the issue says, no byte of any file under the store changes; `bundler verify` fails too.
    /// Returns the import's stderr.
    fn assert_refused(&self, bundle: &Path, needles: &[&str]) -> String {
        let store = self.gap.store();
        // What the store holds, read from a copy: even a read-only open of the real store must
        // not happen between the snapshots.
        let inventory = |dir: &Path| self.gap.mirror(&["inventory", "--store", dir.to_str().unwrap()]).ok().stdout;
        let copy = self.gap.path("store-copy");
        let _ = std::fs::remove_dir_all(&copy);
        run(Command::new("cp").arg("-a").arg(&store).arg(&copy)).ok();
        let held = inventory(&copy);
        let before = snapshot(&store);
        assert!(!before.is_empty(), "the base import left no files in {}", store.display());
        let r = self.gap.import(bundle).fails_with(needles);
        eprintln!("{}: {}", bundle.display(), r.stderr.trim());
        let after = snapshot(&store);
        let changed = |prefix: &Path| -> std::collections::BTreeSet<&PathBuf> {
            before.keys().chain(after.keys()).filter(|p| p.starts_with(prefix) && before.get(*p) != after.get(*p)).collect()
        };
        assert!(changed(&store.join("blobs")).is_empty(), "refused import of {} changed blobs: {:?}", bundle.display(), changed(&store.join("blobs")));
        let staging = std::fs::read_dir(store.join("tmp")).map(|d| d.count()).unwrap_or(0);
        assert_eq!(staging, 0, "refused import of {} left staging files", bundle.display());
        assert_eq!(held, inventory(&store), "refused import of {} changed what the store holds", bundle.display());
        assert!(
            changed(&store).is_empty(),
            "refused import of {} rewrote store files {:?}: a refused import must leave the store byte for byte \
             (issue 2), so `mirror import` must not open/flush the metadata db before the bundle is accepted",
            bundle.display(),
            changed(&store)
        );
        let v = self.gap.verify(bundle).fails();
        assert!(!v.stderr.trim().is_empty(), "`bundler verify` must say why it failed: {v:?}");
        // The held image is still whole.
        self.gap.mirror(&["verify", "--store", store.to_str().unwrap()]).ok();
        r.stderr
    }
}

#[test]
fn good_bundle_verifies_with_bundler_and_minisign() {
    let f = Refusals::new();
    f.gap.verify(&f.good).ok();
    let x = f.gap.path("extracted");
    std::fs::create_dir_all(&x).unwrap();
    let mut ar = tar::Archive::new(std::fs::File::open(&f.good).unwrap());
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .take(4)
        .map(|mut e| {
            let name = e.path().unwrap().to_string_lossy().into_owned();
            if name.starts_with("bundle.json") {
                e.unpack(x.join(&name)).unwrap();
            }
            name
        })
        .collect();
    assert_eq!(names, ["bundle.json", "bundle.json.minisig", "oci-layout", "index.json"], "entry order of DESIGN.md");
    run(Command::new("minisign").args(["-V", "-m", x.join("bundle.json").to_str().unwrap(), "-p", f.gap.public().to_str().unwrap()])).ok();
    // minisign also rejects a changed bundle.json with the same signature.
    let mut doc = std::fs::read(x.join("bundle.json")).unwrap();
    doc.push(b' ');
    std::fs::write(x.join("bundle.json"), doc).unwrap();
    run(Command::new("minisign").args(["-V", "-m", x.join("bundle.json").to_str().unwrap(), "-p", f.gap.public().to_str().unwrap()])).fails();
}

#[test]
fn flipped_byte_in_a_layer_is_refused() {
    let f = Refusals::new();
    let layer = f.hello.own_layers["amd64"].clone();
    let bad = f.variant("flipped.bundle");
    patch_in_place(&f.good, &bad, &format!("blobs/sha256/{}", &layer[7..]), |d| d[d.len() / 2] ^= 0x01);
    let err = f.assert_refused(&bad, &["damaged"]);
    assert!(err.contains(&layer[7..]), "names the damaged blob {layer}: {err}");
}

#[test]
fn edited_bundle_json_is_refused() {
    let f = Refusals::new();
    let bad = f.variant("edited.bundle");
    // Same length, so only the content changes: the bundle name "bad" becomes "bax".
    patch_in_place(&f.good, &bad, "bundle.json", |d| {
        let at = d.windows(5).position(|w| w == b"\"bad\"").expect("bundle.json names the bundle");
        d[at + 3] = b'x';
    });
    f.assert_refused(&bad, &["signature"]);
}

#[test]
fn signature_by_an_untrusted_key_is_refused() {
    let f = Refusals::new();
    f.gap.bundler(&["keygen", "--out", f.variant("other-keys").to_str().unwrap()]).ok();
    let bad = f.variant("foreign.bundle");
    f.gap.try_create(&f.manifest, &bad, &f.variant("other-keys/bundle.key"), &[]).ok();
    f.assert_refused(&bad, &["not among the trusted keys"]);
}

#[test]
fn missing_signature_is_refused() {
    let f = Refusals::new();
    let bad = f.variant("unsigned.bundle");
    rewrite(&f.good, &bad, |n, d| (n != "bundle.json.minisig").then_some(d));
    f.assert_refused(&bad, &["no signature"]);
}

#[test]
fn truncated_bundle_is_refused() {
    let f = Refusals::new();
    let bytes = std::fs::read(&f.good).unwrap();
    // Cut in the middle of the bundle, and in the middle of the last blob.
    let last_blob_middle = tar::Archive::new(&bytes[..]).entries().unwrap().map(Result::unwrap).map(|e| e.raw_file_position() + e.size() / 2).max().unwrap() as usize;
    for (name, len) in [("truncated-half.bundle", bytes.len() / 2), ("truncated-last.bundle", last_blob_middle)] {
        let bad = f.variant(name);
        std::fs::write(&bad, &bytes[..len]).unwrap();
        f.assert_refused(&bad, &["truncated"]);
    }
    // A zstd bundle cut short too.
    let z = f.gap.create(&f.manifest, "z.bundle", &[]);
    let zb = std::fs::read(&z).unwrap();
    let bad = f.variant("truncated-zstd.bundle");
    std::fs::write(&bad, &zb[..zb.len() * 2 / 3]).unwrap();
    f.assert_refused(&bad, &["truncated"]);
}

/// Issue 15: a blob entry whose tar header claims 1 GiB (zeros, which zstd shrinks to almost
/// nothing) where the signed bundle.json lists its real size. Refused before a byte of it is
/// written: the import runs under a 64 MiB file-size limit (`prlimit --fsize`), which kills an
/// import that stages the claimed bytes before comparing sizes.
#[test]
fn blob_whose_tar_header_outsizes_its_signed_size_is_refused_before_a_byte_is_written() {
    const CLAIMED: u64 = 1 << 30;
    let f = Refusals::new();
    let layer = f.hello.own_layers["amd64"].clone();
    let entry = format!("blobs/sha256/{}", &layer[7..]);
    let bad = f.variant("oversized-header.bundle");
    let mut ar = tar::Archive::new(std::fs::File::open(&f.good).unwrap());
    let mut out = tar::Builder::new(zstd::Encoder::new(std::fs::File::create(&bad).unwrap(), 3).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut header = e.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if name == entry {
            header.set_size(CLAIMED);
            header.set_cksum();
            out.append(&header, std::io::Read::take(std::io::Read::chain(&data[..], std::io::repeat(0)), CLAIMED)).unwrap();
        } else {
            out.append(&header, &data[..]).unwrap();
        }
    }
    out.into_inner().unwrap().finish().unwrap();
    assert!(std::fs::metadata(&bad).unwrap().len() < 1 << 20, "the crafted bundle is small");

    let store = f.gap.store();
    let before = snapshot(&store);
    let (b, s, t) = (bad.to_str().unwrap(), store.to_str().unwrap(), f.gap.public());
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--fsize={}", 64 << 20)).arg(e2e::bin("mirror")).args(["import", b, "--store", s, "--trust", t.to_str().unwrap()]);
    let r = run(&mut cmd);
    assert_eq!(r.status, 1, "refused with an error, not killed (SIGXFSZ) for writing past the limit: {r:?}");
    r.fails_with(&[&layer, "tar header", &CLAIMED.to_string()]);
    assert_eq!(std::fs::read_dir(store.join("tmp")).map(|d| d.count()).unwrap_or(0), 0, "staging left behind");
    assert_eq!(before, snapshot(&store), "the store changed");
    f.assert_refused(&bad, &[&layer, "tar header"]);
    f.gap.verify(&bad).fails_with(&[&layer, "tar header"]);
}

#[test]
fn path_traversal_entry_is_refused() {
    let f = Refusals::new();
    let bad = f.variant("traversal.bundle");
    with_extra_entry(&f.good, &bad, "../../etc/x", tar::EntryType::Regular);
    f.assert_refused(&bad, &["../../etc/x"]);
    for p in [f.gap.path("../../etc/x"), f.gap.store().join("../../etc/x"), f.gap.store().join("tmp/../../etc/x")] {
        assert!(!p.exists(), "{} was written", p.display());
    }
}

#[test]
fn symlink_entry_is_refused() {
    let f = Refusals::new();
    let bad = f.variant("symlink.bundle");
    with_extra_entry(&f.good, &bad, "blobs/sha256/evil", tar::EntryType::Symlink);
    f.assert_refused(&bad, &["symlink"]);
}

#[test]
fn same_lock_and_source_date_epoch_give_identical_bundles() {
    let gap = Gap::new();
    let (reg, _, _) = upstream(gap.dir.path());
    let m = manifest(&gap, "repro", &reg.host, "[linux/amd64, linux/arm64]", "  - docker.io/library/hello:1\n  - docker.io/library/other:1\n");
    gap.lock(&m).ok();
    let create = |out: &str, cache: &str| {
        let (m, k, o, l, c) = (
            m.display().to_string(),
            gap.key().display().to_string(),
            gap.path(out).display().to_string(),
            gap.lock_file().display().to_string(),
            gap.path(cache).display().to_string(),
        );
        gap.bundler_env(&["create", &m, "--key", &k, "--out", &o, "--lock", &l, "--locked", "--cache", &c], &[("SOURCE_DATE_EPOCH", "1700000000")]).ok();
        std::fs::read(gap.path(out)).unwrap()
    };
    // The second run starts from an empty cache: nothing but the lock and upstream decide.
    let (a, b) = (create("r1.bundle", "cache1"), create("r2.bundle", "cache2"));
    assert!(a == b, "bundles differ: {} vs {}", sha256(&a), sha256(&b));
    let info = gap.inspect(&gap.path("r1.bundle"));
    assert!(info.to_string().contains("2023-11-14T22:13:20"), "created comes from SOURCE_DATE_EPOCH: {info}");
}

#[test]
fn unknown_manifest_key_names_key_and_file() {
    let gap = Gap::new();
    let typo = gap.write("typo.yaml", "name: t\nimages:\n  - {ref: busybox:1, platfroms: [linux/amd64]}\n");
    gap.lock(&typo).fails_with(&["platfroms", "typo.yaml", "line 3"]);
    let top = gap.write("top.yaml", "name: t\nimagez: [busybox:1]\n");
    gap.lock(&top).fails_with(&["imagez", "top.yaml"]);
    assert!(!gap.lock_file().exists(), "no lock written on error");
}

#[test]
fn tag_missing_upstream_names_image_and_registry() {
    let gap = Gap::new();
    let (reg, _, _) = upstream(gap.dir.path());
    let m = manifest(&gap, "missing", &reg.host, "[linux/amd64]", "  - docker.io/library/hello:1\n  - docker.io/library/hello:nothere\n");
    gap.lock(&m).fails_with(&["docker.io/library/hello:nothere", &reg.host, "not found"]);
    let r = gap.try_create(&m, &gap.path("x.bundle"), &gap.key(), &[]).fails_with(&["docker.io/library/hello:nothere", &reg.host]);
    assert!(!gap.path("x.bundle").exists(), "no bundle written on error: {}", r.stderr);
}

#[test]
fn upstream_down_names_the_registry_url() {
    let gap = Gap::new();
    let down_host = format!("127.0.0.1:{}", e2e::free_port());
    let m = manifest(&gap, "down", &down_host, "[linux/amd64]", "  - docker.io/library/hello:1\n");
    gap.lock(&m).fails_with(&[&format!("http://{down_host}"), "docker.io/library/hello:1", "unreachable"]);
}

#[test]
fn basic_auth_credentials_come_from_the_environment() {
    let gap = Gap::new();
    let reg = Registry::start_with_htpasswd("feas", "s3cret");
    let mut b = ImageBuilder::new(&gap.path("layout"));
    let img = b.multi_arch("1", "auth shared", "auth");
    b.push_with_creds("1", &reg.host, "library/private", "feas:s3cret");
    let with_user = |user: &str| {
        format!("name: auth\nplatforms: [linux/amd64]\nregistries:\n  docker.io: {{url: \"http://{}\", insecure: true{user}}}\nimages: [docker.io/library/private:1]\n", reg.host)
    };
    let anon = gap.write("anon.yaml", &with_user(""));
    let r = gap.bundler(&["lock", anon.to_str().unwrap(), "--lock", gap.path("a.lock").to_str().unwrap()]).fails();
    assert!(r.stderr.contains("refused access") || r.stderr.contains("Not authorized"), "{}", r.stderr);
    let authed = gap.write("authed.yaml", &with_user(", username: feas, password_env: FEAS_TEST_PASSWORD"));
    let lock = gap.path("b.lock");
    let out = run(Command::new(e2e::bin("bundler"))
        .args(["lock", authed.to_str().unwrap(), "--lock", lock.to_str().unwrap()])
        .env("BUNDLER_CACHE", gap.path("cache"))
        .env("FEAS_TEST_PASSWORD", "s3cret"))
    .ok();
    assert!(std::fs::read_to_string(&lock).unwrap().contains(&img.index), "{}", out.stderr);
}

#[test]
fn registry_api_details() {
    let gap = Gap::new();
    let (reg, hello, _) = upstream(gap.dir.path());
    let m = manifest(&gap, "api", &reg.host, "[linux/amd64, linux/arm64]", "  - docker.io/library/hello:1\n  - docker.io/library/hello:2\n  - docker.io/library/other:1\n");
    // Tag 2 is the same image under another tag.
    run(Command::new("skopeo").args([
        "copy",
        "--all",
        "--quiet",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{}/library/hello:1", reg.host),
        &format!("docker://{}/library/hello:2", reg.host),
    ]))
    .ok();
    let bundle = gap.create(&m, "api.bundle", &[]);
    gap.import(&bundle).ok();
    let mirror = Mirror::start(&gap.store());
    let curl = |args: &[&str]| run(Command::new("curl").args(["-sS"]).args(args)).ok().stdout;
    let url = |p: &str| format!("http://{}{p}", mirror.host);

    let base = curl(&["-i", &url("/v2/")]);
    assert!(base.to_lowercase().contains("docker-distribution-api-version: registry/2.0"), "{base}");
    let head = curl(&["-I", &url("/v2/docker.io/library/hello/manifests/1")]).to_lowercase();
    assert!(head.contains(&format!("docker-content-digest: {}", hello.index)) && head.contains(e2e::image::INDEX), "{head}");
    assert!(head.contains(&format!("etag: \"{}\"", hello.index)), "{head}");

    // Range on a blob returns exactly those bytes.
    let layer = std::fs::read(gap.path("layout/blobs/sha256").join(&hello.shared_layer[7..])).unwrap();
    let part = run(Command::new("curl").args([
        "-sS",
        "-r",
        "5-14",
        "-o",
        gap.path("part").to_str().unwrap(),
        "-w",
        "%{http_code}",
        &url(&format!("/v2/docker.io/library/hello/blobs/{}", hello.shared_layer)),
    ]))
    .ok();
    assert_eq!(part.stdout, "206");
    assert_eq!(std::fs::read(gap.path("part")).unwrap(), layer[5..15]);
    let bad_range =
        curl(&["-o", "/dev/null", "-w", "%{http_code}", "-r", &format!("{}-", layer.len() + 10), &url(&format!("/v2/docker.io/library/hello/blobs/{}", hello.shared_layer))]);
    assert_eq!(bad_range, "416");

    // Tag list pagination with a Link header, and the catalog.
    let page = curl(&["-i", &url("/v2/docker.io/library/hello/tags/list?n=1")]);
    assert!(page.contains(r#""tags":["1"]"#) && page.to_lowercase().contains("link: </v2/docker.io/library/hello/tags/list?n=1&last=1>; rel=\"next\""), "{page}");
    let next = curl(&[&url("/v2/docker.io/library/hello/tags/list?n=1&last=1")]);
    assert!(next.contains(r#""tags":["2"]"#), "{next}");
    let catalog = curl(&[&url("/v2/_catalog")]);
    assert!(catalog.contains("docker.io/library/hello") && catalog.contains("docker.io/library/other"), "{catalog}");

    // OCI error bodies, and no writes.
    let missing = curl(&["-w", " %{http_code}", &url("/v2/docker.io/library/hello/manifests/nope")]);
    assert!(missing.contains("MANIFEST_UNKNOWN") && missing.ends_with("404"), "{missing}");
    let unknown = curl(&["-w", " %{http_code}", &url("/v2/docker.io/library/nothere/tags/list")]);
    assert!(unknown.contains("NAME_UNKNOWN") && unknown.ends_with("404"), "{unknown}");
    let blob = curl(&["-w", " %{http_code}", &url(&format!("/v2/docker.io/library/hello/blobs/sha256:{}", "0".repeat(64)))]);
    assert!(blob.contains("BLOB_UNKNOWN") && blob.ends_with("404"), "{blob}");
    let put = curl(&["-X", "PUT", "-w", " %{http_code}", &url("/v2/docker.io/library/hello/manifests/3")]);
    assert!(put.contains("UNSUPPORTED") && put.ends_with("405"), "{put}");
    let home = curl(&[&url("/")]);
    assert!(home.contains("docker.io/library/hello") && home.contains("api"), "{home}");
}

#[test]
fn docker_schema2_lists_are_filtered_and_served_as_docker_types() {
    let gap = Gap::new();
    let (reg, hello, _) = upstream(gap.dir.path());
    run(Command::new("skopeo").args([
        "copy",
        "--all",
        "--quiet",
        "--format",
        "v2s2",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", gap.path("layout").display()),
        &format!("docker://{}/library/dockerfmt:1", reg.host),
    ]))
    .ok();
    let upstream_list: serde_json::Value = serde_json::from_slice(&raw_manifest(&reg.host, "library/dockerfmt:1")).unwrap();
    assert_eq!(upstream_list["mediaType"], "application/vnd.docker.distribution.manifest.list.v2+json");
    let m = manifest(&gap, "docker", &reg.host, "[linux/arm64]", "  - docker.io/library/dockerfmt:1\n");
    let bundle = gap.create(&m, "docker.bundle", &[]);
    gap.import(&bundle).ok();
    let mirror = Mirror::start(&gap.store());
    let head = run(Command::new("curl").args(["-sSI", &format!("http://{}/v2/docker.io/library/dockerfmt/manifests/1", mirror.host)])).ok().stdout.to_lowercase();
    assert!(head.contains("content-type: application/vnd.docker.distribution.manifest.list.v2+json"), "{head}");
    let served: serde_json::Value = serde_json::from_slice(&raw_manifest(&mirror.host, "docker.io/library/dockerfmt:1")).unwrap();
    let arm = upstream_list["manifests"].as_array().unwrap().iter().find(|d| d["platform"]["architecture"] == "arm64").unwrap();
    assert_eq!(served, upstream_list, "the list as upstream wrote it");
    let amd = upstream_list["manifests"].as_array().unwrap().iter().find(|d| d["platform"]["architecture"] == "amd64").unwrap();
    assert_eq!(e2e::http_status(&mirror.url(&format!("/v2/docker.io/library/dockerfmt/manifests/{}", amd["digest"].as_str().unwrap()))), 404, "amd64 is left out");
    // The arm64 image itself is byte-identical to upstream's.
    let digest = arm["digest"].as_str().unwrap();
    assert_eq!(sha256(&raw_manifest(&mirror.host, &format!("docker.io/library/dockerfmt@{digest}"))), digest);
    let _ = hello;
}

#[test]
fn locked_create_refuses_a_stale_lock_and_drifted_bytes() {
    let gap = Gap::new();
    let mut b = ImageBuilder::new(&gap.path("layout"));
    let img = b.multi_arch("1", "drift shared", "drift");
    let m = gap.write("local.yaml", "name: local\nplatforms: [linux/amd64, linux/arm64]\nimages:\n  - {ref: localhost/drift:1, oci_layout: layout, layout_ref: \"1\"}\n");
    let (ms, k, lock) = (m.display().to_string(), gap.key().display().to_string(), gap.path("bundles.lock").display().to_string());
    let out = gap.path("x.bundle").display().to_string();
    // No lock yet: --locked refuses and says what to run.
    let r = gap.bundler(&["create", &ms, "--key", &k, "--out", &out, "--lock", &lock, "--locked"]).fails();
    assert!(r.stderr.contains("localhost/drift:1") && r.stderr.contains("bundler lock"), "{}", r.stderr);
    gap.bundler(&["lock", &ms, "--lock", &lock]).ok();
    assert!(std::fs::read_to_string(&lock).unwrap().contains(&img.index));
    // The layout's arm64 manifest changes under the same digest name: supply-chain drift.
    let cache = gap.path("cache");
    let _ = std::fs::remove_dir_all(&cache);
    let victim = gap.path("layout/blobs/sha256").join(&img.manifests["arm64"][7..]);
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes.push(b' ');
    std::fs::write(&victim, bytes).unwrap();
    let r = gap.bundler(&["create", &ms, "--key", &k, "--out", &out, "--lock", &lock, "--locked"]).fails();
    assert!(r.stderr.contains(&img.manifests["arm64"]) && r.stderr.contains("damaged"), "{}", r.stderr);
    assert!(!gap.path("x.bundle").exists(), "no bundle written on failure");
}
