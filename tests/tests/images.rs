//! Issue 2 end to end: images from a real registry (Debian's docker-registry), bundled,
//! imported, and pulled back by skopeo, ctr (containerd) and podman; bad input refused with
//! the store unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::image::{push_artifact, push_index, MANIFEST};
use e2e::{run, sha256, snapshot, BuiltImage, Containerd, Gap, ImageBuilder, Mirror, Registry};

fn manifest(gap: &Gap, name: &str, registry: &str, platforms: &str, images: &str) -> PathBuf {
    gap.write(
        &format!("{name}.yaml"),
        &format!("name: {name}\nplatforms: {platforms}\nregistries:\n  docker.io: {{url: \"http://{registry}\", insecure: true}}\nimages:\n{images}"),
    )
}

/// Upstream with two multi-arch images sharing a layer: library/hello:1 and library/other:1.
fn upstream(dir: &Path) -> (Registry, BuiltImage, BuiltImage) {
    let reg = Registry::start();
    let mut b = ImageBuilder::new(&dir.join("layout"));
    let hello = b.multi_arch("1", "shared base layer", "hello");
    b.push("1", &reg.host, "library/hello");
    let mut b2 = ImageBuilder::new(&dir.join("layout2"));
    let other = b2.multi_arch("1", "shared base layer", "other");
    b2.push("1", &reg.host, "library/other");
    assert_eq!(hello.shared_layer, other.shared_layer);
    (reg, hello, other)
}

fn raw_manifest(host: &str, reference: &str) -> Vec<u8> {
    let out = Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{host}/{reference}")]).output().unwrap();
    assert!(out.status.success(), "skopeo inspect {reference}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn images_reach_skopeo_ctr_and_podman_through_the_gap() {
    let gap = Gap::new();
    let (reg, hello, other) = upstream(gap.dir.path());
    let m = manifest(&gap, "stack", &reg.host, "[linux/amd64, linux/arm64]", "  - docker.io/library/hello:1\n  - {ref: other:1}\n");
    gap.bundler(&["lock", m.to_str().unwrap(), "--lock", gap.path("bundles.lock").to_str().unwrap()]).ok();
    let bundle = gap.create(&m, "stack.bundle", &["--locked"]);
    gap.bundler(&["verify", bundle.to_str().unwrap(), "--pub", gap.public().to_str().unwrap()]).ok();
    let info = gap.bundler(&["inspect", bundle.to_str().unwrap(), "--json"]).ok().json();
    let blobs: Vec<&str> = info["blobs"].as_array().unwrap().iter().map(|b| b["digest"].as_str().unwrap()).collect();
    assert_eq!(blobs.iter().filter(|d| **d == hello.shared_layer).count(), 1, "shared layer carried once");
    // 2 indexes + 4 manifests + 4 configs + 4 own layers + 1 shared layer
    assert_eq!(blobs.len(), 15, "{blobs:?}");
    // The upstream index is carried unchanged when every platform is kept.
    assert!(blobs.contains(&hello.index.as_str()) && blobs.contains(&other.index.as_str()));

    gap.import(&bundle).ok();
    let mirror = Mirror::start(&gap.store());

    // skopeo, path-style: digests equal upstream's.
    assert_eq!(sha256(&raw_manifest(&mirror.host, "docker.io/library/hello:1")), hello.index);
    let oci = gap.path("pulled-oci");
    run(Command::new("skopeo").args(["copy", "--all", "--quiet", "--src-tls-verify=false", &format!("docker://{}/docker.io/library/hello:1", mirror.host), &format!("oci:{}:1", oci.display())])).ok();
    let idx: serde_json::Value = serde_json::from_slice(&std::fs::read(oci.join("index.json")).unwrap()).unwrap();
    assert_eq!(idx["manifests"][0]["digest"], hello.index.as_str());
    for layer in [&hello.shared_layer, &hello.own_layers["arm64"], &hello.own_layers["amd64"]] {
        let bytes = std::fs::read(oci.join("blobs/sha256").join(&layer[7..])).unwrap();
        assert_eq!(&sha256(&bytes), layer);
    }
    let dir = gap.path("pulled-dir");
    run(Command::new("skopeo").args(["copy", "--quiet", "--override-arch", "arm64", "--src-tls-verify=false", &format!("docker://{}/docker.io/library/other:1", mirror.host), &format!("dir:{}", dir.display())])).ok();
    assert_eq!(sha256(&std::fs::read(dir.join("manifest.json")).unwrap()), other.manifests["arm64"]);
    assert_eq!(sha256(&std::fs::read(dir.join(&other.own_layers["arm64"][7..])).unwrap()), other.own_layers["arm64"]);

    // containerd through a hosts.toml mirror for docker.io (sends ?ns=docker.io).
    let ctrd = Containerd::start();
    let certs = ctrd.mirror_hosts("docker.io", &mirror.host);
    ctrd.ctr(&["-n", "e2e", "images", "pull", "--hosts-dir", certs.to_str().unwrap(), "docker.io/library/hello:1"]).ok();
    let check = ctrd.ctr(&["-n", "e2e", "images", "check"]).ok();
    assert!(check.stdout.contains("complete"), "{}", check.stdout);
    let ls = ctrd.ctr(&["-n", "e2e", "images", "ls"]).ok();
    assert!(ls.stdout.contains(&hello.index), "ctr lists {}", ls.stdout);
    assert!(std::fs::read_to_string(&mirror.server.log).is_ok());

    // podman through a registries.conf remap of docker.io.
    let p = gap.path("podman");
    std::fs::create_dir_all(&p).unwrap();
    let conf = gap.write("podman/registries.conf", &format!("unqualified-search-registries = []\n[[registry]]\nprefix = \"docker.io\"\nlocation = \"{}/docker.io\"\ninsecure = true\n", mirror.host));
    let podman = |args: &[&str]| {
        run(Command::new("podman")
            .args(["--root", p.join("root").to_str().unwrap(), "--runroot", p.join("run").to_str().unwrap(), "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(args)
            .env("CONTAINERS_REGISTRIES_CONF", &conf))
    };
    podman(&["pull", "--quiet", "docker.io/library/other:1"]).ok();
    let digests = podman(&["images", "--digests", "--format", "{{.Digest}}"]).ok();
    assert!(digests.stdout.contains(&other.index), "podman has {}", digests.stdout);

    let mut mirror = mirror;
    assert!(mirror.server.terminate(), "mirror should stop on SIGTERM");
    drop(reg);
}

#[test]
fn platform_filter_carries_only_requested_platforms() {
    let gap = Gap::new();
    let (reg, hello, _) = upstream(gap.dir.path());
    let m = manifest(&gap, "arm", &reg.host, "[linux/amd64]", "  - {ref: docker.io/library/hello:1, platforms: [linux/arm64]}\n");
    let bundle = gap.create(&m, "arm.bundle", &["--json"]);
    let info = gap.bundler(&["inspect", bundle.to_str().unwrap(), "--json"]).ok().json();
    let blobs: Vec<String> = info["blobs"].as_array().unwrap().iter().map(|b| b["digest"].as_str().unwrap().to_string()).collect();
    assert!(blobs.contains(&hello.own_layers["arm64"]) && blobs.contains(&hello.shared_layer));
    assert!(!blobs.contains(&hello.own_layers["amd64"]), "amd64 layer must not be carried");
    assert!(!blobs.contains(&hello.manifests["amd64"]), "amd64 manifest must not be carried");
    gap.import(&bundle).ok();
    let mirror = Mirror::start(&gap.store());
    let index: serde_json::Value = serde_json::from_slice(&raw_manifest(&mirror.host, "docker.io/library/hello:1")).unwrap();
    let listed: Vec<&str> = index["manifests"].as_array().unwrap().iter().map(|d| d["digest"].as_str().unwrap()).collect();
    assert_eq!(listed, vec![hello.manifests["arm64"].as_str()], "served index lists only what is carried");
    let status = |path: String| run(Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("http://{}{path}", mirror.host)])).stdout;
    assert_eq!(status(format!("/v2/docker.io/library/hello/blobs/{}", hello.own_layers["amd64"])), "404");
    assert_eq!(status(format!("/v2/library/hello/blobs/{}?ns=docker.io", hello.own_layers["arm64"])), "200");
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
    run(Command::new("skopeo").args(["copy", "--quiet", "--override-arch", "amd64", &format!("oci:{}:1", gap.path("layout").display()), &format!("docker-archive:{}:localhost/archived:1", archive.display())])).ok();
    let images = "  - docker.io/library/hello:1\n  - {ref: localhost/fromlayout:1, oci_layout: layout, layout_ref: \"1\"}\n  - {ref: localhost/archived:1, docker_archive: hello.tar}\n";
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
    let referrers = run(Command::new("curl").args(["-sSf", &format!("http://{}/v2/docker.io/library/hello/referrers/{}?artifactType=application/spdx%2Bjson", mirror.host, hello.index)])).ok();
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

/// Rewrite a tar with `edit` deciding, per entry, what to keep or change.
fn rewrite(src: &Path, dst: &Path, edit: impl Fn(&str, Vec<u8>) -> Option<Vec<u8>>) {
    let mut ar = tar::Archive::new(std::fs::File::open(src).unwrap());
    let mut out = tar::Builder::new(std::fs::File::create(dst).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if let Some(data) = edit(&name, data) {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            out.append_data(&mut h, &name, &data[..]).unwrap();
        }
    }
    out.finish().unwrap();
}

/// Append a raw entry (name written verbatim so `..` survives) after the good entries.
fn with_extra_entry(src: &Path, dst: &Path, name: &str, kind: tar::EntryType) {
    rewrite(src, dst, |_, d| Some(d));
    let bytes = std::fs::read(dst).unwrap();
    // Drop the two zero end blocks, add the entry, end the archive again.
    let mut body = bytes[..bytes.len() - 1024].to_vec();
    while body.ends_with(&[0u8; 512]) {
        body.truncate(body.len() - 512);
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(0o644);
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

#[test]
fn bad_input_is_refused_and_the_store_is_unchanged() {
    let gap = Gap::new();
    let (reg, hello, _) = upstream(gap.dir.path());
    let m = manifest(&gap, "bad", &reg.host, "[linux/amd64, linux/arm64]", "  - docker.io/library/hello:1\n");
    let good = gap.create(&m, "good.bundle", &["--compression", "none"]);

    // minisign itself accepts our signature.
    let x = gap.path("extracted");
    std::fs::create_dir_all(&x).unwrap();
    run(Command::new("tar").args(["-x", "-f", good.to_str().unwrap(), "-C", x.to_str().unwrap(), "bundle.json", "bundle.json.minisig"])).ok();
    run(Command::new("minisign").args(["-V", "-m", x.join("bundle.json").to_str().unwrap(), "-p", gap.public().to_str().unwrap()])).ok();

    // Reproducible: same lock and SOURCE_DATE_EPOCH give the same bytes.
    let repro = |out: &str| {
        let (m, k, o, l) = (m.display().to_string(), gap.key().display().to_string(), gap.path(out).display().to_string(), gap.path("bundles.lock").display().to_string());
        run(Command::new(e2e::bin("bundler")).args(["create", &m, "--key", &k, "--out", &o, "--lock", &l, "--locked"]).env("BUNDLER_CACHE", gap.path("cache")).env("SOURCE_DATE_EPOCH", "1700000000")).ok();
        sha256(&std::fs::read(gap.path(out)).unwrap())
    };
    assert_eq!(repro("r1.bundle"), repro("r2.bundle"), "bundles must be byte-identical");

    // An earlier import the refusals must not disturb.
    let base_m = manifest(&gap, "base", &reg.host, "[linux/arm64]", "  - docker.io/library/other:1\n").display().to_string();
    let (k, base, base_lock) = (gap.key().display().to_string(), gap.path("base.bundle"), gap.path("base.lock").display().to_string());
    gap.bundler(&["create", &base_m, "--key", &k, "--out", base.to_str().unwrap(), "--lock", &base_lock]).ok();
    gap.import(&base).ok();

    let v = |name: &str| gap.path(name);
    // Flipped byte inside the amd64 layer.
    let layer_hex = hello.own_layers["amd64"][7..].to_string();
    rewrite(&good, &v("flipped.bundle"), |n, mut d| {
        if n.ends_with(&layer_hex) {
            d[10] ^= 0x40;
        }
        Some(d)
    });
    rewrite(&good, &v("edited.bundle"), |n, d| Some(if n == "bundle.json" { String::from_utf8(d).unwrap().replace("\"bad\"", "\"bax\"").into_bytes() } else { d }));
    rewrite(&good, &v("unsigned.bundle"), |n, d| (n != "bundle.json.minisig").then_some(d));
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(v("truncated.bundle"), &bytes[..bytes.len() / 2]).unwrap();
    with_extra_entry(&good, &v("traversal.bundle"), "../../etc/x", tar::EntryType::Regular);
    with_extra_entry(&good, &v("symlink.bundle"), "blobs/sha256/evil", tar::EntryType::Symlink);
    gap.bundler(&["keygen", "--out", v("other-keys").to_str().unwrap()]).ok();
    let (mm, k2, o2, l2) = (m.display().to_string(), v("other-keys/bundle.key").display().to_string(), v("foreign.bundle").display().to_string(), v("bundles.lock").display().to_string());
    gap.bundler(&["create", &mm, "--key", &k2, "--out", &o2, "--lock", &l2]).ok();

    let cases = [
        ("flipped.bundle", "damaged"),
        ("edited.bundle", "does not match bundle.json"),
        ("unsigned.bundle", "no signature"),
        ("truncated.bundle", "truncated"),
        ("traversal.bundle", "escapes"),
        ("symlink.bundle", "symlink"),
        ("foreign.bundle", "not among the trusted keys"),
    ];
    let before = snapshot(&gap.store().join("blobs"));
    let inventory = gap.mirror(&["inventory", "--store", gap.store().to_str().unwrap()]).ok().stdout;
    for (file, needle) in cases {
        let r = gap.import(&v(file)).fails();
        assert!(r.stderr.contains(needle), "{file}: import error should mention {needle:?}: {}", r.stderr);
        assert_eq!(before, snapshot(&gap.store().join("blobs")), "{file}: blobs changed");
        assert!(std::fs::read_dir(gap.store().join("tmp")).unwrap().next().is_none(), "{file}: staging left behind");
        assert_eq!(inventory, gap.mirror(&["inventory", "--store", gap.store().to_str().unwrap()]).ok().stdout, "{file}: metadata changed");
        gap.bundler(&["verify", v(file).to_str().unwrap(), "--pub", gap.public().to_str().unwrap()]).fails();
    }
    gap.bundler(&["verify", good.to_str().unwrap(), "--pub", gap.public().to_str().unwrap()]).ok();
}

#[test]
fn manifest_and_upstream_errors_name_the_culprit() {
    let gap = Gap::new();
    let lock = gap.path("x.lock").display().to_string();
    let typo = gap.write("typo.yaml", "name: t\nimages:\n  - {ref: busybox:1, platfroms: [linux/amd64]}\n");
    let r = gap.bundler(&["lock", typo.to_str().unwrap(), "--lock", &lock]).fails();
    assert!(r.stderr.contains("platfroms") && r.stderr.contains("typo.yaml") && r.stderr.contains("line 3"), "{}", r.stderr);

    let reg = Registry::start();
    let missing = manifest(&gap, "missing", &reg.host, "[linux/amd64]", "  - docker.io/library/nothere:1\n");
    let r = gap.bundler(&["lock", missing.to_str().unwrap(), "--lock", &lock]).fails();
    assert!(r.stderr.contains("docker.io/library/nothere:1") && r.stderr.contains(&reg.host) && r.stderr.contains("not found"), "{}", r.stderr);

    let down_host = format!("127.0.0.1:{}", e2e::free_port());
    let down = manifest(&gap, "down", &down_host, "[linux/amd64]", "  - docker.io/library/hello:1\n");
    let r = gap.bundler(&["lock", down.to_str().unwrap(), "--lock", &lock]).fails();
    assert!(r.stderr.contains(&down_host) && r.stderr.contains("unreachable"), "{}", r.stderr);
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
    run(Command::new("skopeo").args(["copy", "--all", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false", &format!("docker://{}/library/hello:1", reg.host), &format!("docker://{}/library/hello:2", reg.host)])).ok();
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
    let part = run(Command::new("curl").args(["-sS", "-r", "5-14", "-o", gap.path("part").to_str().unwrap(), "-w", "%{http_code}", &url(&format!("/v2/docker.io/library/hello/blobs/{}", hello.shared_layer))])).ok();
    assert_eq!(part.stdout, "206");
    assert_eq!(std::fs::read(gap.path("part")).unwrap(), layer[5..15]);
    let bad_range = curl(&["-o", "/dev/null", "-w", "%{http_code}", "-r", &format!("{}-", layer.len() + 10), &url(&format!("/v2/docker.io/library/hello/blobs/{}", hello.shared_layer))]);
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
    run(Command::new("skopeo").args(["copy", "--all", "--quiet", "--format", "v2s2", "--src-tls-verify=false", "--dest-tls-verify=false", &format!("oci:{}:1", gap.path("layout").display()), &format!("docker://{}/library/dockerfmt:1", reg.host)])).ok();
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
    assert_eq!(served["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(served["manifests"][0]["digest"], arm["digest"]);
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
