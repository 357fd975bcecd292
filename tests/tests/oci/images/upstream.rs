//! The bundler and its upstream registry, the mirror's registry API: reproducible bundles, errors
//! that name the key, image or registry, credentials from the environment, tag listing, Docker
//! schema 2 lists, a stale lock refused.

use super::*;

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
    let lock = gap.lock_file().display().to_string();
    let r =
        gap.bundler(&["lock", m.to_str().unwrap(), "--lock", &lock, "--retries", "2"]).fails_with(&[&format!("http://{down_host}"), "docker.io/library/hello:1", "unreachable"]);
    assert!(r.stderr.contains("on each of 2 tries") && r.stderr.contains("trying again"), "{}", r.stderr);
}

/// Issue 20, retries: behind a proxy that answers the first manifest request 503 (with
/// `Retry-After: 1`), the next 429 and the first blob request 502, `lock` and `create` try
/// again (saying so) and the mirror serves the upstream's index digest and layers.
#[test]
fn registry_hiccups_are_tried_again() {
    use e2e::fault::{Fault, FaultProxy};
    let gap = Gap::new();
    let (reg, hello, _) = upstream(gap.dir.path());
    let proxy = FaultProxy::start(&reg.host);
    proxy.then("/manifests/", Fault::Status(503, Some(1))).then("/manifests/", Fault::Status(429, None)).then("/blobs/", Fault::Status(502, None));
    let host = format!("127.0.0.1:{}", proxy.port);
    let m = manifest(
        &gap,
        "hiccup",
        &host,
        "[linux/amd64, linux/arm64]",
        "  - docker.io/library/hello:1
",
    );
    let lock = gap.lock(&m).ok();
    let bundle = gap.path("hiccup.bundle");
    let created = gap.try_create(&m, &bundle, &gap.key(), &["--locked"]).ok();
    let said = format!("{}{}", lock.stderr, created.stderr);
    assert_eq!(said.matches("trying again").count(), 3, "each injected failure tried again once: {said}");
    assert!(said.contains("503") && said.contains("429") && said.contains("502"), "{said}");
    gap.import(&bundle).ok();
    let mirror = Mirror::start(&gap.store());
    assert_eq!(sha256(&raw_manifest(&mirror.host, "docker.io/library/hello:1")), hello.index);
    let layer = e2e::http::get(&mirror.host, &format!("/v2/docker.io/library/hello/blobs/{}", hello.own_layers["arm64"]), &[]).unwrap();
    assert_eq!(sha256(&layer.body), hello.own_layers["arm64"]);
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

/// Issue 20, continue on error: one image's layer answers 404 (gone upstream after the lock);
/// the other image is still fetched into the cache, and the run ends non-zero naming the
/// failed image and its blob, with no bundle. Once upstream serves it again, the next run asks
/// the registry only for what the first did not get: none of the other image's own blobs.
#[test]
fn one_failed_image_does_not_stop_the_others() {
    use e2e::fault::{Fault, FaultProxy};
    let gap = Gap::new();
    let (reg, hello, other) = upstream(gap.dir.path());
    let proxy = FaultProxy::start(&reg.host);
    let host = format!("127.0.0.1:{}", proxy.port);
    let m = manifest(&gap, "partial", &host, "[linux/amd64, linux/arm64]", "  - docker.io/library/hello:1\n  - docker.io/library/other:1\n");
    gap.lock(&m).ok();
    let gone = hello.own_layers["arm64"].clone();
    proxy.then(&gone, Fault::Status(404, None));
    let bundle = gap.path("partial.bundle");
    let cache = gap.path("cache").display().to_string();
    let r = gap.try_create(&m, &bundle, &gap.key(), &["--locked", "--cache", &cache]).fails();
    assert!(r.stderr.contains("1 artifact could not be fetched") && r.stderr.contains("docker.io/library/hello:1") && r.stderr.contains(&gone), "{}", r.stderr);
    assert!(!r.stderr.contains("docker.io/library/other:1"), "{}", r.stderr);
    assert!(!bundle.exists());
    let before = proxy.requests().len();
    gap.try_create(&m, &bundle, &gap.key(), &["--locked", "--cache", &cache]).ok();
    let second: Vec<String> = proxy.requests()[before..].iter().filter(|p| p.contains("/blobs/")).cloned().collect();
    assert!(second.iter().any(|p| p.contains(&gone)), "{second:?}");
    for own in other.own_layers.values().chain(other.configs.values()) {
        assert!(!second.iter().any(|p| p.contains(own.as_str())), "{own} of the image that was fetched is asked for again: {second:?}");
    }
    gap.import(&bundle).ok();
}

/// Issue 20, resume: `create` is killed -9 while the registry hangs 10 MiB into a 24 MiB
/// layer. Run again, it hashes the bytes it kept, asks for the rest with `Range`, and writes
/// the same bytes as an uninterrupted run from an empty cache (`SOURCE_DATE_EPOCH`); across both
/// runs the registry served at most the image plus the one chunk not yet written at the kill.
#[test]
fn a_killed_create_resumes_where_it_stopped() {
    use e2e::fault::{Fault, FaultProxy};
    let gap = Gap::new();
    let reg = Registry::start();
    let mut b = ImageBuilder::new(&gap.path("layout"));
    let (_, layer, layer_size, total) = b.single("1", &e2e::payload(24 << 20, 7));
    b.push("1", &reg.host, "library/big");
    let proxy = FaultProxy::start(&reg.host);
    let m = manifest(&gap, "big", &format!("127.0.0.1:{}", proxy.port), "[linux/amd64]", "  - docker.io/library/big:1\n");
    gap.lock(&m).ok();
    let create = |cache: &str, out: &str| {
        let mut cmd = Command::new(e2e::bin("bundler"));
        cmd.args(["create", m.to_str().unwrap(), "--locked", "--key", gap.key().to_str().unwrap(), "--lock", gap.lock_file().to_str().unwrap()])
            .args(["--cache", gap.path(cache).to_str().unwrap(), "--out", gap.path(out).to_str().unwrap()])
            .env("BUNDLER_KEY_PASSWORD", e2e::KEY_PASSWORD)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .current_dir(gap.dir.path());
        cmd
    };
    let start = proxy.relayed();
    let stall = 10 << 20;
    proxy.then(&layer, Fault::StallAfter(stall));
    let mut child = create("cache", "a.bundle").stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while proxy.relayed() - start < stall as u64 {
        assert!(std::time::Instant::now() < deadline, "the layer never reached {stall} bytes");
        assert!(child.try_wait().unwrap().is_none(), "create ended before it was killed");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Let it read what the proxy sent; what it has not written yet is the chunk lost.
    std::thread::sleep(std::time::Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!gap.path("a.bundle").exists());
    let partial = gap.path(&format!("cache/tmp/sha256-{}.partial", &layer[7..]));
    let kept = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
    assert!(kept > 0 && kept <= stall as u64, "the killed run left {kept} bytes in {}", partial.display());

    let r = run(&mut create("cache", "a.bundle")).ok();
    let served = proxy.relayed() - start;
    let chunk = 1 << 20;
    assert!(served <= total + chunk + 16 * 1024, "the registry served {served} bytes for a {total}-byte image (layer {layer_size}) over both runs: {}", r.stderr);
    assert!(proxy.ranged().iter().any(|p| p.contains(&layer) && p.contains(&format!("bytes={kept}-"))), "resumed with Range from {kept}: {:?}", proxy.ranged());
    assert!(!partial.exists(), "the finished layer left the partial file behind");

    run(&mut create("fresh", "b.bundle")).ok();
    let (a, b) = (std::fs::read(gap.path("a.bundle")).unwrap(), std::fs::read(gap.path("b.bundle")).unwrap());
    assert!(a == b, "a resumed run and an uninterrupted one differ: {} vs {}", sha256(&a), sha256(&b));
    gap.import(&gap.path("a.bundle")).ok();
    let mirror = Mirror::start(&gap.store());
    let got = e2e::http::get(&mirror.host, &format!("/v2/docker.io/library/big/blobs/{layer}"), &[]).unwrap();
    assert_eq!(sha256(&got.body), layer);
}

/// Issue 20, fetched once: two images sharing a base layer are fetched side by side; while the
/// registry is slow to answer the first request for that layer, the other image waits for it
/// instead of asking again, so the layer is requested once.
#[test]
fn a_layer_shared_by_two_images_is_fetched_once() {
    use e2e::fault::{Fault, FaultProxy};
    let gap = Gap::new();
    let (reg, hello, other) = upstream(gap.dir.path());
    let proxy = FaultProxy::start(&reg.host);
    let m = manifest(&gap, "shared", &format!("127.0.0.1:{}", proxy.port), "[linux/amd64, linux/arm64]", "  - docker.io/library/hello:1\n  - docker.io/library/other:1\n");
    gap.lock(&m).ok();
    proxy.then(&hello.shared_layer, Fault::Delay(800));
    let bundle = gap.create(&m, "shared.bundle", &["--locked"]);
    let asked: Vec<String> = proxy.requests().into_iter().filter(|p| p.contains(&hello.shared_layer)).collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    for own in hello.own_layers.values().chain(other.own_layers.values()) {
        assert_eq!(proxy.requests().iter().filter(|p| p.contains(own.as_str())).count(), 1, "{own}");
    }
    let carried = carried(&gap.inspect(&bundle));
    assert!(carried.contains(&hello.shared_layer), "{carried:?}");
}
