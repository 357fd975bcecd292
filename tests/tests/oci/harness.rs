//! The harness itself, with no bundler or mirror involved: images written by code are pushed
//! to docker-registry with skopeo and pulled back straight from it by skopeo, ctr (containerd)
//! and podman, digests compared. If this fails the other suites cannot be trusted.

use std::path::Path;
use std::time::Duration;

use e2e::{raw_manifest, run_within, sha256, skopeo, Containerd, ImageBuilder, Podman, Registry};

fn alive(pid: u32) -> bool {
    // A reaped child has no /proc entry; a zombie would still show `State: Z`.
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| !s.contains("State:\tZ"))
}

#[test]
fn image_builder_is_deterministic_and_shares_one_layer() {
    let t = tempfile::tempdir().unwrap();
    let a = ImageBuilder::new(&t.path().join("a")).multi_arch("1", "base", "hello");
    let b = ImageBuilder::new(&t.path().join("b")).multi_arch("1", "base", "hello");
    assert_eq!(a.blobs(), b.blobs(), "same input, same bytes");
    let other = ImageBuilder::new(&t.path().join("c")).multi_arch("1", "base", "other");
    assert_eq!(a.shared_layer, other.shared_layer, "shared across images");
    assert_ne!(a.own_layers["amd64"], a.own_layers["arm64"], "one layer per platform");
    assert_ne!(a.own_layers["amd64"], other.own_layers["amd64"]);
    // Every blob is in the layout under its digest, and the index lists both platforms.
    for d in a.blobs() {
        assert_eq!(sha256(&std::fs::read(t.path().join("a/blobs/sha256").join(&d[7..])).unwrap()), d);
    }
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(t.path().join("a/blobs/sha256").join(&a.index[7..])).unwrap()).unwrap();
    let archs: Vec<&str> = index["manifests"].as_array().unwrap().iter().map(|m| m["platform"]["architecture"].as_str().unwrap()).collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    for arch in ["amd64", "arm64"] {
        let m: serde_json::Value = serde_json::from_slice(&std::fs::read(t.path().join("a/blobs/sha256").join(&a.manifests[arch][7..])).unwrap()).unwrap();
        let layers: Vec<&str> = m["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap()).collect();
        assert_eq!(layers, [a.shared_layer.as_str(), a.own_layers[arch].as_str()]);
        assert_eq!(m["config"]["digest"], a.configs[arch].as_str());
    }
}

#[test]
fn commands_are_bounded() {
    let r = std::panic::catch_unwind(|| run_within(std::process::Command::new("sleep").arg("30"), Duration::from_millis(300)));
    let msg = r.expect_err("a command past its deadline must fail the test");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("did not finish within"), "{msg}");
}

#[test]
fn registry_images_reach_skopeo_ctr_and_podman() {
    let t = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let mut b = ImageBuilder::new(&t.path().join("layout"));
    let hello = b.multi_arch("1", "shared base layer", "hello");
    b.push("1", &reg.host, "library/hello");
    let mut b2 = ImageBuilder::new(&t.path().join("layout2"));
    let other = b2.multi_arch("1", "shared base layer", "other");
    b2.push("1", &reg.host, "library/other");

    // The registry holds exactly the bytes written.
    assert_eq!(sha256(&raw_manifest(&reg.host, "library/hello:1")), hello.index);
    assert_eq!(sha256(&raw_manifest(&reg.host, "library/other:1")), other.index);
    assert_eq!(sha256(&raw_manifest(&reg.host, &format!("library/hello@{}", hello.manifests["arm64"]))), hello.manifests["arm64"]);

    // skopeo to oci: (every platform) and dir: (one platform).
    let oci = t.path().join("pulled-oci");
    skopeo(&["copy", "--all", "--quiet", "--src-tls-verify=false", &format!("docker://{}/library/hello:1", reg.host), &format!("oci:{}:1", oci.display())]).ok();
    let idx: serde_json::Value = serde_json::from_slice(&std::fs::read(oci.join("index.json")).unwrap()).unwrap();
    assert_eq!(idx["manifests"][0]["digest"], hello.index.as_str());
    for d in hello.blobs() {
        assert_eq!(sha256(&std::fs::read(oci.join("blobs/sha256").join(&d[7..])).unwrap()), d, "oci: blob {d}");
    }
    let dir = t.path().join("pulled-dir");
    skopeo(&["copy", "--quiet", "--override-arch", "arm64", "--src-tls-verify=false", &format!("docker://{}/library/other:1", reg.host), &format!("dir:{}", dir.display())]).ok();
    assert_eq!(sha256(&std::fs::read(dir.join("manifest.json")).unwrap()), other.manifests["arm64"]);
    for d in [&other.shared_layer, &other.own_layers["arm64"], &other.configs["arm64"]] {
        assert_eq!(&sha256(&std::fs::read(dir.join(&d[7..])).unwrap()), d, "dir: blob {d}");
    }

    // containerd: straight from the registry's own name, then docker.io mirrored to it (?ns=).
    let ctrd = Containerd::start();
    ctrd.hosts_toml(&reg.host, &reg.host);
    let direct = format!("{}/library/hello:1", reg.host);
    ctrd.pull("direct", &direct, &["--all-platforms"]).ok();
    assert_eq!(ctrd.image_digest("direct", &direct).as_deref(), Some(hello.index.as_str()));
    let check = ctrd.check("direct");
    assert!(check.stdout.contains(&direct), "{}", check.stdout);
    ctrd.hosts_toml("docker.io", &reg.host);
    ctrd.pull("mirrored", "docker.io/library/other:1", &[]).ok();
    assert_eq!(ctrd.image_digest("mirrored", "docker.io/library/other:1").as_deref(), Some(other.index.as_str()));
    ctrd.check("mirrored");
    let uris = reg.requested_uris();
    assert!(uris.iter().any(|u| u == "/v2/library/other/manifests/1?ns=docker.io"), "containerd mirror mode sends ?ns=docker.io: {uris:?}");

    // podman: straight, and docker.io remapped through registries.conf.
    let podman = Podman::new();
    podman.pull(&format!("{}/library/hello:1", reg.host), &["--tls-verify=false"]).ok();
    assert_eq!(podman.image_digest(&format!("{}/library/hello:1", reg.host)), hello.index);
    podman.remap("docker.io", &reg.host);
    podman.pull("docker.io/library/other:1", &["--arch", "arm64"]).ok();
    assert_eq!(podman.image_digest("docker.io/library/other:1"), other.index);
    let podman_dir = podman.dir.path().to_path_buf();
    eprintln!("containerd snapshotter: {}; podman storage driver: {}", ctrd.snapshotter, podman.driver);

    // Every server stops with its fixture, and nothing stays mounted.
    let pids = [reg.server.pid(), ctrd.server.pid()];
    let ctrd_dir = ctrd.dir.path().to_path_buf();
    drop((reg, ctrd, podman));
    for pid in pids {
        assert!(!alive(pid), "process {pid} still running after drop");
    }
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    for d in [&ctrd_dir, &podman_dir] {
        assert!(!mounts.contains(&d.display().to_string()), "{} still mounted:\n{mounts}", d.display());
        assert!(!Path::new(d).exists(), "{} not removed", d.display());
    }
}
