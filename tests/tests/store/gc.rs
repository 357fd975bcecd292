//! Removing and collecting: `mirror rm` of a bundle name or single artifacts, `mirror gc`
//! (also while `mirror serve` runs), `--dry-run`, and `mirror verify --quarantine` with the
//! re-import that heals it. Real skopeo, pip and apt-get read what stays.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::{http_status, raw_manifest, run, sha256, skopeo, snapshot, AptClient, AptRepoBuilder, BuiltImage, DebSpec, DistSpec, Gap, Mirror, PyIndexBuilder, Registry, Venv};

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Digests of the blobs a bundle carries (`bundler inspect --json`).
fn carried(gap: &Gap, bundle: &Path) -> BTreeSet<String> {
    let info = gap.inspect(bundle);
    info["blobs"].as_array().unwrap_or_else(|| panic!("no blobs in {info}")).iter().map(|b| b["digest"].as_str().unwrap().to_string()).collect()
}

/// Every blob file in the store, as `sha256:<hex>`.
fn blob_files(store: &Path) -> BTreeSet<String> {
    e2e::store_blob_files(store)
}

fn inventory(gap: &Gap) -> serde_json::Value {
    gap.mirror(&["inventory", "--store", &s(&gap.store())]).ok().json()
}

fn inventory_blobs(inv: &serde_json::Value) -> BTreeSet<String> {
    inv["blobs"].as_array().unwrap().iter().map(|b| b["digest"].as_str().unwrap().to_string()).collect()
}

fn blob_url(mirror: &Mirror, repo: &str, digest: &str) -> String {
    mirror.url(&format!("/v2/{repo}/blobs/{digest}"))
}

/// Two bundles (images, wheels, debs) sharing a layer, a wheel and a deb; `mirror rm` of one
/// name, then gc deletes exactly what only it carried, while a mirror serves the rest.
#[test]
fn rm_bundle_then_gc_keeps_what_the_other_uses() {
    let gap = Gap::new();
    let (reg, hello, other) = e2e::image::shared_pair(gap.dir.path());
    let py = PyIndexBuilder::new(&gap.path("pyup")).dists([DistSpec::pure("alphaonly", "1.0"), DistSpec::pure("betaonly", "1.0"), DistSpec::pure("sharedlib", "1.0")]).build();
    let py_http = py.serve();
    let apt = AptRepoBuilder::new(&gap.path("aptup"))
        .debs([DebSpec::new("alpha-tool", "1.0", "all"), DebSpec::new("beta-tool", "1.0", "all"), DebSpec::new("common", "1.0", "all")])
        .build();
    let apt_http = apt.serve();
    let manifest = |name: &str, image: &str, wheels: &[&str], debs: &[&str]| {
        let list = |v: &[&str]| v.iter().map(|x| q(x)).collect::<Vec<_>>().join(", ");
        gap.write(
            &format!("{name}.yaml"),
            &format!(
                "name: {name}\nplatforms: [linux/amd64, linux/arm64]\nregistries:\n  docker.io: {{url: \"http://{}\", insecure: true}}\nimages:\n  - {image}\n\
                 pypi:\n  - index: {}\n    python: [\"3.11\"]\n    requirements: [{}]\n\
                 apt:\n  - source: {}\n    id: standin\n    suite: stable\n    components: [main]\n    keyring: {}\n    packages: [{}]\n",
                reg.host,
                q(&py_http.url()),
                list(wheels),
                q(&apt_http.url()),
                q(&s(&apt.keyring())),
                list(debs)
            ),
        )
    };
    let ma = manifest("alpha", "docker.io/library/hello:1", &["alphaonly", "sharedlib"], &["alpha-tool", "common"]);
    let mb = manifest("beta", "docker.io/library/other:1", &["betaonly", "sharedlib"], &["beta-tool", "common"]);
    let (ba, bb) = (gap.create(&ma, "alpha.bundle", &[]), gap.create(&mb, "beta.bundle", &[]));
    drop((reg, py_http, apt_http));
    gap.import(&ba).ok();
    gap.import(&bb).ok();
    let (ca, cb) = (carried(&gap, &ba), carried(&gap, &bb));
    let alpha_only: BTreeSet<String> = ca.difference(&cb).cloned().collect();
    assert!(cb.contains(&hello.shared_layer) && alpha_only.contains(&hello.own_layers["amd64"]), "the fixture shares a layer and keeps its own");
    let before = blob_files(&gap.store());
    assert_eq!(before, ca.union(&cb).cloned().collect(), "the store holds what the two bundles carry");

    // rm the bundle name: its own artifacts go, shared ones stay.
    let rm = gap.mirror(&["rm", "--store", &s(&gap.store()), "alpha"]).ok();
    for a in ["docker.io/library/hello:1", "pypi/alphaonly/alphaonly-1.0-py3-none-any.whl", "apt/standin/alpha-tool_1.0_all.deb"] {
        assert!(rm.stderr.contains(&format!("removed {a}")), "rm names {a}:\n{}", rm.stderr);
    }
    for a in ["pypi/sharedlib/sharedlib-1.0-py3-none-any.whl", "apt/standin/common_1.0_all.deb"] {
        assert!(rm.stderr.contains(&format!("kept {a} (also imported by beta)")), "rm keeps {a}:\n{}", rm.stderr);
    }
    assert_eq!(blob_files(&gap.store()), before, "rm deletes no blob file");

    // --dry-run names exactly what gc will delete and changes no byte.
    let snap = snapshot(&gap.store());
    let dry = gap.mirror(&["gc", "--store", &s(&gap.store()), "--dry-run", "--json"]).ok().json();
    let would: BTreeSet<String> = dry["removed"].as_array().unwrap().iter().map(|b| b["digest"].as_str().unwrap().to_string()).collect();
    assert_eq!(would, alpha_only, "dry run lists the blobs only alpha carried");
    let now = snapshot(&gap.store());
    let changed: Vec<_> = now.iter().filter(|(k, v)| snap.get(*k) != Some(*v)).map(|(k, _)| k.clone()).chain(snap.keys().filter(|k| !now.contains_key(*k)).cloned()).collect();
    assert!(changed.is_empty(), "--dry-run changed the store: {changed:?}");

    // gc while serving: through the running server, which keeps serving what stays.
    let mut mirror = Mirror::start(&gap.store());
    let gone_layer = blob_url(&mirror, "docker.io/library/other", &hello.own_layers["amd64"]);
    assert_eq!(http_status(&gone_layer), 200, "not yet collected");
    let gc = gap.mirror(&["gc", "--store", &s(&gap.store()), "--json"]).ok().json();
    assert_eq!(gc["removed"].as_array().unwrap().len(), alpha_only.len(), "{gc}");
    let after = blob_files(&gap.store());
    assert_eq!(after, before.difference(&alpha_only).cloned().collect(), "gc deletes exactly the blobs only alpha used");
    assert_eq!(http_status(&gone_layer), 404);
    for d in [&other.shared_layer, &other.own_layers["arm64"], &other.index] {
        assert_eq!(http_status(&blob_url(&mirror, "docker.io/library/other", d)), 200, "{d} kept");
    }
    assert_eq!(gap.mirror(&["gc", "--store", &s(&gap.store()), "--json"]).ok().json()["removed"].as_array().unwrap().len(), 0, "a second gc finds nothing");

    // skopeo: the remaining image, digests equal upstream's; the removed one is unknown.
    assert_eq!(sha256(&raw_manifest(&mirror.host, "docker.io/library/other:1")), other.index);
    let oci = gap.path("pulled");
    skopeo(&["copy", "--all", "--quiet", "--src-tls-verify=false", &format!("docker://{}/docker.io/library/other:1", mirror.host), &format!("oci:{}:1", s(&oci))]).ok();
    for d in other.blobs() {
        assert_eq!(sha256(&std::fs::read(oci.join("blobs/sha256").join(&d[7..])).unwrap()), d, "pulled {d}");
    }
    skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{}/docker.io/library/hello:1", mirror.host)]).fails();

    // pip: the remaining wheels install; the removed one is gone from the index.
    let simple = mirror.url("/pypi/simple/");
    let v = Venv::new();
    v.pip_install(&["--index-url", &simple, "betaonly", "sharedlib"]).ok();
    let installed: BTreeSet<String> = v.installed().into_keys().collect();
    assert!(installed.contains("betaonly") && installed.contains("sharedlib"), "{installed:?}");
    Venv::new().pip_install(&["--index-url", &simple, "alphaonly"]).fails();

    // apt-get: the remaining debs download byte for byte; the removed one is not offered.
    let key = gap.path("mirror.gpg");
    run(Command::new("curl").args(["-sSf", "--max-time", "20", "-o", &s(&key), &mirror.url("/apt/key.gpg")])).ok();
    let client = AptClient::new();
    client.set_source(&key, &mirror.url("/apt/standin/"), "stable", &["main"]);
    client.update().clean();
    let got = client.download(&["beta-tool", "common"], &gap.path("dl"));
    assert_eq!(got.len(), 2, "{got:?}");
    for d in &got {
        assert_eq!(d.sha256, apt.deb(&d.package, &d.version, &d.arch).sha256, "{} as upstream", d.file);
    }
    client.apt_get_in(&gap.path("dl"), &["download", "alpha-tool"]).fails();

    // The inventory no longer claims alpha's blobs nor its sequence: a delta would re-send them.
    let inv = inventory(&gap);
    assert!(inventory_blobs(&inv).is_disjoint(&alpha_only), "{inv}");
    assert!(inv["sequences"].get("alpha").is_none() && inv["sequences"].get("beta").is_some(), "{inv}");
    assert!(mirror.server.terminate(), "mirror should stop on SIGTERM");
}

fn pair(gap: &Gap) -> (Registry, BuiltImage, BuiltImage, PathBuf) {
    let (reg, hello, other) = e2e::image::shared_pair(gap.dir.path());
    let m = gap.write(
        "pair.yaml",
        &format!("name: pair\nplatforms: [linux/amd64, linux/arm64]\nregistries:\n  docker.io: {{url: \"http://{}\", insecure: true}}\nimages:\n  - docker.io/library/hello:1\n  - docker.io/library/other:1\n", reg.host),
    );
    let bundle = gap.create(&m, "pair.bundle", &[]);
    gap.import(&bundle).ok();
    (reg, hello, other, bundle)
}

/// Unknown refs are refused with nothing changed; a single image goes by its tag, gc frees its
/// own blobs, and importing the same bundle again brings it back.
#[test]
fn rm_single_artifact_and_unknown_refs() {
    let gap = Gap::new();
    let (reg, hello, other, bundle) = pair(&gap);
    drop(reg);
    let store = s(&gap.store());
    let snap = snapshot(&gap.store());
    gap.mirror(&["rm", "--store", &store, "nosuch"]).fails_with(&["nosuch", "nothing removed"]);
    gap.mirror(&["rm", "--store", &store, "docker.io/library/hello:1", "docker.io/library/nosuch:1"]).fails_with(&["docker.io/library/nosuch:1", "nothing removed"]);
    gap.mirror(&["rm", "--store", &store, "files/nosuch.bin", "apt/x/y_1_all.deb"]).fails_with(&["files/nosuch.bin", "apt/x/y_1_all.deb"]);
    assert_eq!(snapshot(&gap.store()), snap, "a refused rm changed the store");

    gap.mirror(&["rm", "--store", &store, "docker.io/library/hello:1"]).ok();
    let before = blob_files(&gap.store());
    gap.mirror(&["gc", "--store", &store]).ok();
    let hello_only: BTreeSet<String> = hello.blobs().into_iter().filter(|d| !other.blobs().contains(d)).collect();
    assert_eq!(blob_files(&gap.store()), before.difference(&hello_only).cloned().collect());
    let mirror = Mirror::start(&gap.store());
    assert_eq!(sha256(&raw_manifest(&mirror.host, "docker.io/library/other:1")), other.index);
    skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{}/docker.io/library/hello:1", mirror.host)]).fails();
    // The same bundle again: the store lacks some of its blobs, so it imports (through the server).
    gap.import(&bundle).ok();
    assert_eq!(sha256(&raw_manifest(&mirror.host, "docker.io/library/hello:1")), hello.index);
    assert_eq!(blob_files(&gap.store()), before);
    drop(mirror);
}

/// A flipped byte: verify names it, --quarantine moves it aside and out of the inventory,
/// naming the image that used it; re-importing the bundle restores it.
#[test]
fn verify_quarantine_and_reimport() {
    let gap = Gap::new();
    let (reg, hello, _, bundle) = pair(&gap);
    drop(reg);
    let store = s(&gap.store());
    let victim = hello.own_layers["amd64"].clone();
    let file = e2e::store_blob(&gap.store(), &victim);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();

    gap.mirror(&["verify", "--store", &store]).fails_with(&["DAMAGED", &victim]);
    assert!(inventory_blobs(&inventory(&gap)).contains(&victim), "plain verify changes nothing");
    let q = gap.mirror(&["verify", "--store", &store, "--quarantine"]).fails_with(&["QUARANTINED", &victim, "docker.io/library/hello:1"]);
    let moved = gap.store().join("quarantine/sha256").join(&victim[7..]);
    assert!(moved.is_file() && !file.exists(), "{}", q.stderr);
    assert_eq!(std::fs::read(&moved).unwrap(), bytes, "moved as it was");
    assert!(!inventory_blobs(&inventory(&gap)).contains(&victim), "the inventory no longer claims it");
    // Still referenced, so verify keeps failing until it is back.
    gap.mirror(&["verify", "--store", &store]).fails_with(&["MISSING", &victim, "docker.io/library/hello:1"]);

    gap.import(&bundle).ok();
    assert_eq!(sha256(&std::fs::read(&file).unwrap()), victim, "re-import restored the blob");
    assert!(inventory_blobs(&inventory(&gap)).contains(&victim));
    gap.mirror(&["verify", "--store", &store]).ok();
    let mirror = Mirror::start(&gap.store());
    assert_eq!(http_status(&blob_url(&mirror, "docker.io/library/hello", &victim)), 200);
    drop(mirror);
}

/// A raw file goes by `files/<name>`: gc frees its bytes and its artifact's manifest and
/// config (three blobs), the other file stays served.
#[test]
fn rm_a_file_by_name() {
    let gap = Gap::new();
    let up = gap.path("files-up");
    std::fs::create_dir_all(&up).unwrap();
    let (a, b) = (b"first file\n".to_vec(), b"second file\n".to_vec());
    std::fs::write(up.join("a.bin"), &a).unwrap();
    std::fs::write(up.join("b.bin"), &b).unwrap();
    let http = e2e::StaticServer::start(&up);
    let entry = |f: &str, data: &[u8]| format!("  - {{url: {}, sha256: {}}}\n", q(&format!("{}{f}", http.url())), q(&sha256(data)[7..]));
    let m = gap.write("files.yaml", &format!("name: files\nfiles:\n{}{}", entry("a.bin", &a), entry("b.bin", &b)));
    let bundle = gap.create(&m, "files.bundle", &[]);
    drop(http);
    gap.import(&bundle).ok();
    let store = s(&gap.store());
    let before = blob_files(&gap.store());
    let rm = gap.mirror(&["rm", "--store", &store, "files/a.bin"]).ok();
    assert!(rm.stderr.contains("removed files/a.bin"), "{}", rm.stderr);
    let gc = gap.mirror(&["gc", "--store", &store, "--json"]).ok().json();
    let removed: BTreeSet<String> = gc["removed"].as_array().unwrap().iter().map(|b| b["digest"].as_str().unwrap().to_string()).collect();
    assert!(removed.len() == 3 && removed.contains(&sha256(&a)) && !removed.contains(&sha256(&b)), "{gc}");
    assert_eq!(blob_files(&gap.store()), before.difference(&removed).cloned().collect());
    let mirror = Mirror::start(&gap.store());
    assert_eq!(http_status(&mirror.url("/files/a.bin")), 404);
    let got = run(Command::new("curl").args(["-sSf", "--max-time", "20", &mirror.url("/files/b.bin")])).ok();
    assert_eq!(got.stdout.as_bytes(), &b[..]);
    drop(mirror);
}
