//! Issue 2 end to end: images from a real registry (Debian's docker-registry), bundled,
//! imported, and pulled back by skopeo, ctr (containerd) and podman; bad input refused with
//! the store unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::image::{push_artifact, push_index, MANIFEST};
use e2e::{raw_manifest, run, sha256, skopeo, snapshot, BuiltImage, Containerd, Gap, ImageBuilder, Mirror, Podman, Registry};

mod refusals;
mod upstream;

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
    // but not held (the pinned suite pulls by that digest with ctr, podman and skopeo).
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
