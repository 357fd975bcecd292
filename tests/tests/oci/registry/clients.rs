//! Real clients against the writable mirror: buildah builds and pushes, podman and skopeo pull
//! back, skopeo copies both ways, ctr pushes.

use super::*;

/// `buildah`/`podman` with the suite's isolated storage.
fn buildah(p: &e2e::Podman, args: &[&str]) -> Run {
    let d = p.dir.path();
    let s = |x: &str| d.join(x).display().to_string();
    run(Command::new("buildah")
        .args(["--root", &s("root"), "--runroot", &s("run"), "--storage-driver", &p.driver])
        .args(args)
        .env("CONTAINERS_REGISTRIES_CONF", &p.registries_conf)
        .env("REGISTRY_AUTH_FILE", d.join("auth.json"))
        .env("TMPDIR", d))
}

#[test]
fn buildah_builds_and_pushes_podman_and_skopeo_pull_back() {
    let gap = Gap::new();
    let (m, _) = writable_mirror(&gap, &[]);
    let p = e2e::Podman::new();
    let creds = format!("{}:{}", WRITER.0, WRITER.1);

    // buildah: from scratch, copy a file, commit, push to the mirror.
    let app = gap.write("ctx/app.txt", "built inside the gap\n");
    let ctr = buildah(&p, &["from", "scratch"]).ok().stdout.trim().to_string();
    buildah(&p, &["copy", &ctr, app.to_str().unwrap(), "/app.txt"]).ok();
    buildah(&p, &["config", "--label", "site=gap", &ctr]).ok();
    buildah(&p, &["commit", "--format", "oci", &ctr, "localhost/site/app:1.0"]).ok();
    let digestfile = gap.path("pushed.digest");
    let target = format!("docker://{}/site/app:1.0", m.host);
    // Anonymous push refused...
    buildah(&p, &["push", "--tls-verify=false", "localhost/site/app:1.0", &target]).fails();
    // ...with credentials accepted.
    buildah(&p, &["push", "--tls-verify=false", "--creds", &creds, "--digestfile", digestfile.to_str().unwrap(), "localhost/site/app:1.0", &target]).ok();
    let pushed = std::fs::read_to_string(&digestfile).unwrap().trim().to_string();
    let raw = e2e::raw_manifest(&m.host, "site/app:1.0");
    assert_eq!(sha256(&raw), pushed, "the mirror serves the manifest buildah pushed");

    // podman pulls it back (anonymous read) and gets the same digest and file.
    let p2 = e2e::Podman::new();
    p2.pull(&format!("{}/site/app:1.0", m.host), &["--tls-verify=false"]).ok();
    assert_eq!(p2.image_digest(&format!("{}/site/app:1.0", m.host)), pushed);
    let out = gap.path("unpacked");
    e2e::skopeo(&["copy", "--src-tls-verify=false", &format!("docker://{}/site/app:1.0", m.host), &format!("dir:{}", out.display())]).ok();
    let layer_file = std::fs::read_dir(&out).unwrap().flatten().map(|e| e.path()).filter(|p| p.file_name().unwrap().len() == 64).find(|f| {
        let t = run(Command::new("tar").args(["-tzf", f.to_str().unwrap()]));
        let u = run(Command::new("tar").args(["-tf", f.to_str().unwrap()]));
        t.stdout.contains("app.txt") || u.stdout.contains("app.txt")
    });
    let layer_file = layer_file.expect("a layer holding app.txt");
    let x = run(Command::new("sh").arg("-c").arg(format!("tar -xOf {0} app.txt 2>/dev/null || tar -xzOf {0} app.txt", layer_file.display()))).ok();
    assert_eq!(x.stdout, "built inside the gap\n");

    // podman pushes it again under another name: blobs are already there.
    p2.run(&["tag", &format!("{}/site/app:1.0", m.host), &format!("{}/site/app2:podman", m.host)]).ok();
    p2.run(&["push", "--tls-verify=false", "--creds", &creds, &format!("{}/site/app2:podman", m.host)]).ok();
    let r = http("GET", &m.url("/v2/site/app2/tags/list"), &[], None, None).json();
    assert_eq!(r["tags"], serde_json::json!(["podman"]));
}

#[test]
fn skopeo_copies_both_ways_and_ctr_pushes() {
    let gap = Gap::new();
    let (m, hello) = writable_mirror(&gap, &[]);
    let creds = format!("{}:{}", WRITER.0, WRITER.1);

    // docker-registry → mirror: a multi-arch image with all platforms.
    let (reg, _built, other) = e2e::image::shared_pair(&gap.path("up"));
    e2e::skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("docker://{}/library/other:1", reg.host),
        &format!("docker://{}/site/other:1", m.host),
    ])
    .ok();
    assert_eq!(sha256(&e2e::raw_manifest(&m.host, "site/other:1")), other.index, "same index digest");
    // mirror → another docker-registry: the imported image and the pushed one.
    let reg2 = e2e::Registry::start();
    for (from, to) in [("docker.io/library/hello:1", "copied/hello:1"), ("site/other:1", "copied/other:1")] {
        e2e::skopeo(&["copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false", &format!("docker://{}/{from}", m.host), &format!("docker://{}/{to}", reg2.host)]).ok();
    }
    assert_eq!(sha256(&e2e::raw_manifest(&reg2.host, "copied/hello:1")), hello.index);
    assert_eq!(sha256(&e2e::raw_manifest(&reg2.host, "copied/other:1")), other.index);

    // ctr: pull from docker-registry into containerd, push to the mirror with the hosts.toml
    // `mirror client-config push` writes.
    let cfg = gap.path("push-config");
    let mut cmd = Command::new(e2e::bin("mirror"));
    cmd.args(["client-config", "push", "--url", &m.url(""), "--username", WRITER.0, "--password-env", "PUSH_PASSWORD", "--out", cfg.to_str().unwrap()])
        .env("PUSH_PASSWORD", WRITER.1);
    run(&mut cmd).ok();
    let c = e2e::Containerd::start();
    c.hosts_toml(&reg.host, &reg.host);
    c.pull("e2e", &format!("{}/library/other:1", reg.host), &["--all-platforms"]).ok();
    c.ctr(&["-n", "e2e", "images", "tag", &format!("{}/library/other:1", reg.host), &format!("{}/site/ctr:1", m.host)]).ok();
    let hosts = cfg.join("containerd/certs.d");
    c.ctr(&["-n", "e2e", "images", "push", "--hosts-dir", hosts.to_str().unwrap(), "--user", &creds, &format!("{}/site/ctr:1", m.host)]).ok();
    assert_eq!(sha256(&e2e::raw_manifest(&m.host, "site/ctr:1")), other.index, "ctr pushed the same index");

    // podman with the generated registries.conf.d entry and auth.json: no flags needed.
    let p = e2e::Podman::new();
    let conf = std::fs::read_to_string(cfg.join("containers/registries.conf.d/60-mirror-push.conf")).unwrap();
    std::fs::write(&p.registries_conf, format!("{}\n{conf}", std::fs::read_to_string(&p.registries_conf).unwrap())).unwrap();
    std::fs::copy(cfg.join("containers/auth.json"), p.dir.path().join("auth.json")).unwrap();
    p.pull(&format!("{}/site/ctr:1", m.host), &[]).ok();
    p.run(&["tag", &format!("{}/site/ctr:1", m.host), &format!("{}/site/podman:2", m.host)]).ok();
    p.run(&["push", &format!("{}/site/podman:2", m.host)]).ok();
    let pushed = e2e::raw_manifest(&m.host, "site/podman:2");
    assert_eq!(http("GET", &m.url(&format!("/v2/site/podman/manifests/{}", sha256(&pushed))), &[], None, None).status, 200);
    drop(reg);
}
