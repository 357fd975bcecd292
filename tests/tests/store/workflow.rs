//! Issue 6, the weekly transfer: `mirror inventory` carried back, `bundler create --have` leaves
//! out what the far side holds (a second transfer with one changed image carries only the
//! changed blobs), a delta is refused where its base is missing, `--split-size` parts import
//! from the first part, their directory or concatenated on stdin, and a damaged or missing part is named, and
//! `--expires` is honoured — with the store unchanged by every refusal.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use e2e::{raw_manifest, sha256, snapshot, Gap, ImageBuilder, Mirror, Registry, StaticServer};

fn image_manifest(gap: &Gap, reg: &str) -> PathBuf {
    gap.write(
        "weekly.yaml",
        &format!("name: weekly\nplatforms: [linux/amd64, linux/arm64]\nregistries:\n  docker.io: {{url: \"http://{reg}\", insecure: true}}\nimages:\n  - docker.io/library/hello:1\n  - docker.io/library/web:1\n"),
    )
}

fn bundle_json(gap: &Gap, bundle: &Path) -> serde_json::Value {
    let info = gap.inspect(bundle);
    assert!(info["blobs"].is_array(), "{info}");
    info
}

fn digests(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_array().unwrap().iter().map(|b| b["digest"].as_str().unwrap().to_string()).collect()
}

/// docker-registry holding `library/hello:1` and `library/web:1` (whose own layer says `web`).
fn hello_and_web(gap: &Gap, web: &str) -> Registry {
    let reg = Registry::start();
    for (dir, repo, own) in [("l1", "library/hello", "hello"), ("l2", "library/web", web)] {
        let mut b = ImageBuilder::new(&gap.path(dir));
        b.multi_arch("1", "base", own);
        b.push("1", &reg.host, repo);
    }
    reg
}

#[test]
fn second_transfer_carries_only_what_changed() {
    let gap = Gap::new();
    let reg = hello_and_web(&gap, "web week 1");
    let m = image_manifest(&gap, &reg.host);
    gap.lock(&m).ok();
    let week1 = gap.create(&m, "week1.bundle", &["--sequence", "1"]);
    gap.import(&week1).ok();
    let inv = gap.mirror(&["inventory", "--store", gap.store().to_str().unwrap()]).ok().stdout;
    let have = gap.write("have.json", &inv);
    let held: BTreeSet<String> = digests(&serde_json::from_str::<serde_json::Value>(&inv).unwrap()["blobs"]);

    // Week 2: web changes (new own layers, configs, manifests, index); hello does not.
    let mut web2 = ImageBuilder::new(&gap.path("l3"));
    let changed = web2.multi_arch("1", "base", "web week 2");
    web2.push("1", &reg.host, "library/web");
    gap.lock(&m).ok();
    let week2 = gap.create(&m, "week2.bundle", &["--have", have.to_str().unwrap()]);
    let info = bundle_json(&gap, &week2);
    let carried = digests(&info["blobs"]);
    let mut expected: BTreeSet<String> = changed.blobs().into_iter().collect();
    expected.retain(|d| !held.contains(d));
    // Plus this bundle's own SBOM.
    let doc = gap.bundler(&["inspect", week2.to_str().unwrap(), "--sbom"]).ok().stdout;
    expected.insert(sha256(doc.as_bytes()));
    assert_eq!(carried, expected, "only the changed image's new blobs (and the SBOM) travel");
    assert!(info["assumed_count"].as_u64().unwrap() > 0);
    assert!(info["sequence"].as_u64().unwrap() > 1, "the sequence follows the inventory's");
    // inspect says what the delta leaves to the mirror, instead of "(0 layers, 0 bytes)".
    let plain = gap.bundler(&["inspect", week2.to_str().unwrap()]).ok().stdout;
    let hello_at = plain.find("docker.io/library/hello:1").unwrap();
    assert!(plain[hello_at..].lines().nth(1).unwrap().contains("assumed present on the mirror"), "{plain}");
    assert!(!plain.contains("(0 layers, 0 bytes)"), "{plain}");
    let listed = gap.inspect(&week2);
    let hello = listed["artifacts"].as_array().unwrap().iter().find(|a| a["ref"] == "docker.io/library/hello:1").unwrap();
    assert_eq!(hello["carried"], false, "{hello}");
    let full = gap.create(&m, "week2-full.bundle", &[]);
    let (delta_size, full_size) = (std::fs::metadata(&week2).unwrap().len(), std::fs::metadata(&full).unwrap().len());
    assert!(delta_size < full_size, "delta {delta_size} bytes < full {full_size}");

    // A delta where its base is missing: refused, naming the blobs, nothing changed.
    let other = Gap::new();
    other.mirror(&["inventory", "--store", other.store().to_str().unwrap()]).ok();
    let before = snapshot(&other.store());
    let r = other.mirror(&["import", week2.to_str().unwrap(), "--store", other.store().to_str().unwrap(), "--trust", gap.public().to_str().unwrap()]).fails();
    assert!(r.stderr.contains("neither carried nor in this store") && r.stderr.contains(&changed.shared_layer), "{}", r.stderr);
    assert_eq!(snapshot(&other.store()), before, "a refused delta leaves the store as it was");

    drop(reg);
    gap.import(&week2).ok();
    // Week 1's web blobs are unreferenced now; the SBOM of the current import is not.
    gap.mirror(&["gc", "--store", gap.store().to_str().unwrap()]).ok();
    let mirror = Mirror::start(&gap.store());
    assert_eq!(sha256(&raw_manifest(&mirror.host, "docker.io/library/web:1")), changed.index, "week 2's web is served");
    assert!(!raw_manifest(&mirror.host, "docker.io/library/hello:1").is_empty());

    // The SBOM: in the bundle (`bundler inspect --sbom`) and served by the mirror, the same bytes.
    let served = e2e::run(std::process::Command::new("curl").args(["-sSf", &mirror.url("/sbom/weekly")])).ok().stdout;
    assert_eq!(doc, served);
    let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(v["spdxVersion"], "SPDX-2.3");
    let purls: Vec<&str> = v["packages"].as_array().unwrap().iter().map(|p| p["externalRefs"][0]["referenceLocator"].as_str().unwrap()).collect();
    let web_purl = format!("pkg:oci/web@sha256%3A{}?repository_url=docker.io%2Flibrary%2Fweb&tag=1", changed.index.trim_start_matches("sha256:"));
    assert!(purls.contains(&web_purl.as_str()), "{purls:?}");
    assert_eq!(purls.len(), 2, "{purls:?}");
}

fn files_bundle(gap: &Gap, extra: &[&str]) -> (PathBuf, Vec<u8>, StaticServer) {
    files_bundle_at(gap, "media/f.bundle", extra)
}

/// The files bundle written at `out` under the gap's dir (its directory left to `create`).
fn files_bundle_at(gap: &Gap, out: &str, extra: &[&str]) -> (PathBuf, Vec<u8>, StaticServer) {
    let up = gap.path("up");
    std::fs::create_dir_all(&up).unwrap();
    let data = e2e::payload(3 << 20, 7);
    std::fs::write(up.join("big.bin"), &data).unwrap();
    let srv = StaticServer::start(&up);
    let m = gap.write("f.yaml", &format!("name: filesweekly\nfiles:\n  - {{url: \"{}big.bin\", sha256: \"{}\"}}\n", srv.url(), sha256(&data)));
    gap.lock(&m).ok();
    let out = gap.path(out);
    let mut args = vec!["--compression", "none"];
    args.extend_from_slice(extra);
    gap.try_create(&m, &out, &gap.key(), &args).ok();
    (out, data, srv)
}

#[test]
fn split_parts_import_and_damage_is_named() {
    let gap = Gap::new();
    let (out, data, _srv) = files_bundle(&gap, &["--split-size", "1MiB"]);
    assert!(!out.exists(), "a split bundle is parts only");
    let part = |n: usize| PathBuf::from(format!("{}.part{n:04}", out.display()));
    assert!(part(1).exists() && part(4).exists() && !part(5).exists(), "3 MiB + head in 1 MiB parts");
    let index = PathBuf::from(format!("{}.parts.json", out.display()));
    let idx: serde_json::Value = serde_json::from_slice(&std::fs::read(&index).unwrap()).unwrap();
    let mut whole = Vec::new();
    for (i, p) in idx["parts"].as_array().unwrap().iter().enumerate() {
        let b = std::fs::read(part(i + 1)).unwrap();
        assert_eq!(sha256(&b), format!("sha256:{}", p["sha256"].as_str().unwrap().trim_start_matches("sha256:")));
        whole.extend(b);
    }
    assert_eq!(sha256(&whole), format!("sha256:{}", idx["sha256"].as_str().unwrap().trim_start_matches("sha256:")), "parts concatenate to the bundle");
    gap.verify(&part(1)).ok();
    let joined = gap.path("joined.bundle");
    std::fs::write(&joined, &whole).unwrap();
    gap.verify(&joined).ok();

    // Damaged part 2: refused, naming it, store untouched.
    gap.mirror(&["inventory", "--store", gap.store().to_str().unwrap()]).ok();
    let before = snapshot(&gap.store());
    let good = std::fs::read(part(2)).unwrap();
    let mut bad = good.clone();
    bad[good.len() / 2] ^= 0x40;
    std::fs::write(part(2), &bad).unwrap();
    let r = gap.import(&part(1)).fails();
    assert!(r.stderr.contains("part 2 of 4") && r.stderr.contains("damaged"), "{}", r.stderr);
    assert_eq!(snapshot(&gap.store()), before);
    std::fs::write(part(2), &good).unwrap();
    // Missing part 3: named before anything is read.
    std::fs::rename(part(3), gap.path("p3")).unwrap();
    let r = gap.import(&part(1)).fails();
    assert!(r.stderr.contains("part 3 of 4") && r.stderr.contains("missing"), "{}", r.stderr);
    assert_eq!(snapshot(&gap.store()), before);
    std::fs::rename(gap.path("p3"), part(3)).unwrap();
    // An index signed by another key is refused.
    let stranger = Gap::new();
    let r = gap.mirror(&["import", part(1).to_str().unwrap(), "--store", gap.store().to_str().unwrap(), "--trust", stranger.public().to_str().unwrap()]).fails();
    assert!(r.stderr.contains("not signed by a trusted key"), "{}", r.stderr);

    // The parts concatenated on stdin (`cat OUT.part* | kubectl exec -i … mirror import -`, into
    // the chart's pod): the bundle's own signature is checked as for one file; it imports.
    let store2 = gap.path("store2");
    let mut child = std::process::Command::new(e2e::bin("mirror"))
        .args(["import", "-", "--store", store2.to_str().unwrap(), "--trust", gap.public().to_str().unwrap(), "--json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for i in 1..=4 {
        std::io::Write::write_all(&mut stdin, &std::fs::read(part(i)).unwrap()).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let held = gap.mirror(&["ls", "--store", store2.to_str().unwrap(), "--json"]).ok().stdout;
    assert!(held.contains("big.bin"), "{held}");

    // The directory the parts were carried in imports.
    gap.import(&gap.path("media")).ok();
    let mirror = Mirror::start(&gap.store());
    let got = e2e::run(std::process::Command::new("curl").args(["-sSf", "-o", gap.path("got").to_str().unwrap(), &mirror.url("/files/big.bin")])).ok();
    drop(got);
    assert_eq!(std::fs::read(gap.path("got")).unwrap(), data);
}

/// Issue 20's walk-through: an expiry already past is refused at create, before anything is
/// fetched or written (made on purpose with --allow-expired, the mirror refuses it); `--out`
/// in a directory that does not exist yet gets it; `inspect` shows the expiry.
#[test]
fn expired_bundle_is_refused_at_create_and_import() {
    let gap = Gap::new();
    let manifest = gap.write("f.yaml", "name: filesweekly\nfiles:\n  - {url: \"http://127.0.0.1:9/big.bin\", sha256: \"00\"}\n");
    let out = gap.path("media/f.bundle");
    let r = gap.try_create(&manifest, &out, &gap.key(), &["--expires", "2001-01-01T00:00:00Z"]).fails();
    assert!(r.stderr.contains("would expire at 2001-01-01T00:00:00Z, before now") && r.stderr.contains("--allow-expired"), "{}", r.stderr);
    assert!(!gap.path("media").exists(), "refused before anything was written");
    let (out, _, _srv) = files_bundle(&gap, &["--expires", "2001-01-01T00:00:00Z", "--allow-expired"]);
    let r = gap.import(&out).fails();
    assert!(r.stderr.contains("expired at 2001-01-01T00:00:00Z"), "{}", r.stderr);

    let gap2 = Gap::new();
    let (out2, _, _srv2) = files_bundle_at(&gap2, "new/media/dir/f.bundle", &["--expires", "30d"]);
    assert!(out2.is_file(), "the output's directories were created");
    let info = gap2.inspect(&out2);
    let expires = chrono::DateTime::parse_from_rfc3339(info["expires"].as_str().unwrap()).unwrap();
    let created = chrono::DateTime::parse_from_rfc3339(info["created"].as_str().unwrap()).unwrap();
    assert_eq!(expires - created, chrono::Duration::days(30), "{info}");
    let plain = gap2.bundler(&["inspect", out2.to_str().unwrap()]).ok().stdout;
    assert!(plain.contains(&format!("expires {}", info["expires"].as_str().unwrap())), "{plain}");
    gap2.import(&out2).ok();
}

#[test]
fn import_stages_in_tmpdir_on_the_store_filesystem_only() {
    let gap = Gap::new();
    let (out, _, _srv) = files_bundle(&gap, &[]);
    gap.mirror(&["inventory", "--store", gap.store().to_str().unwrap()]).ok();
    let before = snapshot(&gap.store());
    let import = |tmp: &Path| {
        gap.mirror(&["import", out.to_str().unwrap(), "--store", gap.store().to_str().unwrap(), "--trust", gap.public().to_str().unwrap(), "--tmpdir", tmp.to_str().unwrap()])
    };
    // tmpfs is another filesystem: refused up front, nothing changed.
    let shm = tempfile::tempdir_in("/dev/shm").unwrap();
    let r = import(shm.path()).fails();
    assert!(r.stderr.contains("another filesystem"), "{}", r.stderr);
    assert_eq!(snapshot(&gap.store()), before);
    let stage = gap.path("stage");
    std::fs::create_dir_all(&stage).unwrap();
    import(&stage).ok();
    assert_eq!(std::fs::read_dir(&stage).unwrap().count(), 0, "staging is cleaned up");
    assert!(gap.mirror(&["inventory", "--store", gap.store().to_str().unwrap()]).ok().stdout.contains("sha256:"));
}

/// Issue 20's walk-through: one `bundles.lock` shared by an image manifest and a files
/// manifest. Locking the files manifest alone keeps the image pins (and says so), so the image
/// manifest still creates `--locked`; `--prune` drops what the manifests locked do not name.
#[test]
fn a_shared_lock_keeps_the_pins_of_manifests_not_locked() {
    let gap = Gap::new();
    let reg = hello_and_web(&gap, "web");
    let images = image_manifest(&gap, &reg.host);
    gap.lock(&images).ok();
    let lock = || std::fs::read_to_string(gap.lock_file()).unwrap();
    let pinned = lock();
    assert_eq!(pinned.matches("[[image]]").count(), 2, "{pinned}");

    let up = gap.path("up");
    std::fs::create_dir_all(&up).unwrap();
    std::fs::write(up.join("a.txt"), b"alpha\n").unwrap();
    let srv = StaticServer::start(&up);
    let files = gap.write("files.yaml", &format!("name: fileset\nfiles:\n  - {{url: \"{}a.txt\", sha256: \"{}\"}}\n", srv.url(), sha256(b"alpha\n")));
    let r = gap.lock(&files).ok();
    assert!(r.stderr.contains("kept 2 image pin(s)") && r.stderr.contains("--prune"), "{}", r.stderr);
    let both = lock();
    assert_eq!(both.matches("[[image]]").count(), 2, "{both}");
    assert!(both.contains(&pinned[pinned.find("[[image]]").unwrap()..]), "the image pins are kept byte for byte:\n{both}");
    assert_eq!(both.matches("[[file]]").count(), 1, "{both}");

    // The image manifest creates from the shared lock as it is, and leaves the file unchanged.
    let bundle = gap.create(&images, "images.bundle", &["--locked"]);
    gap.import(&bundle).ok();
    let bundle = gap.create(&files, "files.bundle", &[]);
    gap.import(&bundle).ok();
    assert_eq!(lock(), both, "create of either manifest leaves the other's pins");

    gap.bundler(&["lock", files.to_str().unwrap(), "--lock", gap.lock_file().to_str().unwrap(), "--prune"]).ok();
    let pruned = lock();
    assert_eq!((pruned.matches("[[image]]").count(), pruned.matches("[[file]]").count()), (0, 1), "{pruned}");
    drop(srv);
}

/// Issue 20's walk-through: a single-platform upstream image (a plain manifest, no index)
/// locked under `platforms: [linux/amd64, linux/arm64]` is locked as the one manifest it is,
/// with a warning naming the platform it lacks; it is carried and served with its digest.
#[test]
fn a_single_platform_image_names_the_platforms_it_lacks() {
    let gap = Gap::new();
    let reg = Registry::start();
    let mut b = ImageBuilder::new(&gap.path("l1"));
    let built = b.multi_arch("1", "base", "single");
    b.push("1", &reg.host, "library/multi");
    e2e::run(std::process::Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--preserve-digests",
        "--override-arch",
        "amd64",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{}/library/multi:1", reg.host),
        &format!("docker://{}/library/single:1", reg.host),
    ]))
    .ok();
    let m = gap.write(
        "single.yaml",
        &format!(
            "name: single\nplatforms: [linux/amd64, linux/arm64]\nregistries:\n  docker.io: {{url: \"http://{}\", insecure: true}}\nimages:\n  - docker.io/library/single:1\n",
            reg.host
        ),
    );
    let r = gap.lock(&m).ok();
    assert!(r.stderr.contains("is one linux/amd64 image upstream") && r.stderr.contains("linux/arm64 not carried"), "{}", r.stderr);
    assert!(r.stderr.contains("(a single-platform manifest,"), "{}", r.stderr);
    let lock = std::fs::read_to_string(gap.lock_file()).unwrap();
    assert!(lock.contains(&built.manifests["amd64"]), "the amd64 manifest is what is pinned:\n{lock}");
    let bundle = gap.create(&m, "single.bundle", &["--locked"]);
    gap.import(&bundle).ok();
    let mirror = Mirror::start(&gap.store());
    let got = e2e::skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{}/docker.io/library/single:1", mirror.host)]).ok().stdout;
    assert_eq!(sha256(got.as_bytes()), built.manifests["amd64"]);
}
