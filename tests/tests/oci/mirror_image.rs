//! Issue 7, the mirror as an image built without Docker: `scripts/mirror-image.sh` writes an
//! OCI layout (one layer: the binary, the libraries it links, a non-root user) that is
//! reproducible, runs on its own (unpacked by umoci, executed in a chroot as uid 65532), and
//! travels like any image (bundled from the layout, served by a mirror with the same digest).

use std::path::Path;
use std::process::Command;

use e2e::{raw_manifest, run, sha256, Gap, Mirror};

fn build(out: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/mirror-image.sh");
    let r = run(Command::new("bash").arg(&script).arg(out).arg("0.1.0").env("MIRROR_BIN", e2e::bin("mirror"))).ok();
    assert!(r.stdout.contains("wrote"), "{r:?}");
    let idx: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    idx["manifests"][0]["digest"].as_str().unwrap().to_string()
}

#[test]
fn mirror_image_runs_alone_and_travels_as_an_image() {
    let gap = Gap::new();
    let layout = gap.path("mirror-image");
    let digest = build(&layout);
    assert_eq!(build(&gap.path("again")), digest, "same binary, same image");

    // Unpacked, the layer alone runs the mirror (no shell, no distro), as the image's user.
    let unpacked = gap.path("unpacked");
    run(Command::new("umoci").args(["unpack", "--image", &format!("{}:0.1.0", layout.display()), unpacked.to_str().unwrap()])).ok();
    let rootfs = unpacked.join("rootfs");
    let v = run(Command::new("chroot").arg(&rootfs).args(["/usr/local/bin/mirror", "--version"])).ok();
    assert!(v.stdout.starts_with("mirror "), "{v:?}");
    let inv = run(Command::new("chroot").args(["--userspec=65532:65532"]).arg(&rootfs).args(["/usr/local/bin/mirror", "inventory", "--store", "/var/lib/feas/store"])).ok();
    assert!(inv.stdout.contains("\"generation\": 0"), "{inv:?}");
    assert!(!rootfs.join("bin/sh").exists() && !rootfs.join("usr/bin").exists(), "nothing but the mirror and its libraries");

    // Carried like any image: from the layout into a bundle, served with the same digest.
    let m =
        gap.write("img.yaml", &format!("name: img\nimages:\n  - {{ref: docker.io/feas/mirror:0.1.0, oci_layout: {:?}, layout_ref: \"0.1.0\"}}\n", layout.display().to_string()));
    gap.lock(&m).ok();
    let bundle = gap.create(&m, "img.bundle", &["--locked"]);
    gap.import(&bundle).ok();
    let mirror = Mirror::start(&gap.store());
    assert_eq!(sha256(&raw_manifest(&mirror.host, "docker.io/feas/mirror:0.1.0")), digest);
}
