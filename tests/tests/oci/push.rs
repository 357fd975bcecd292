//! Issue 7, pushing into an existing registry: `mirror push --oci` copies every image the store
//! holds into Debian's docker-registry under a project prefix — same digests (skopeo reads them
//! back), shared layers mounted rather than uploaded twice, nothing re-sent on a second run,
//! and it works while `mirror serve` holds the store.

use std::process::Command;

use e2e::{run, sha256, Gap, Mirror, Registry};

#[test]
fn push_copies_images_into_a_registry() {
    let gap = Gap::new();
    let (up, hello, other) = e2e::image::shared_pair(gap.dir.path());
    let m = gap.write("p.yaml", &format!("name: p\nplatforms: [linux/amd64, linux/arm64]\nregistries:\n  docker.io: {{url: \"http://{}\", insecure: true}}\nimages: [docker.io/library/hello:1, docker.io/library/other:1]\n", up.host));
    gap.lock(&m).ok();
    let bundle = gap.create(&m, "p.bundle", &["--locked"]);
    drop(up);
    gap.import(&bundle).ok();
    // The mirror keeps serving while it pushes (tags come through its control socket).
    let mirror = Mirror::start(&gap.store());

    let harbor = Registry::start();
    let (store, target) = (gap.store().display().to_string(), format!("http://{}", harbor.host));
    let push = || gap.mirror(&["push", "--store", &store, "--oci", &target, "--prefix", "site", "--json"]).ok().json();
    let first = push();
    assert_eq!(first["manifests"], 6, "2 indexes + 4 platform manifests: {first}");
    assert_eq!(first["blobs_mounted"], 1, "the shared layer is mounted into the second repository: {first}");
    for (repo, img) in [("hello", &hello), ("other", &other)] {
        let r = run(Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{}/site/docker.io/library/{repo}:1", harbor.host)])).ok();
        assert_eq!(sha256(r.stdout.as_bytes()), img.index, "{repo} keeps its digest");
    }
    // Everything is there: a second push uploads nothing.
    let second = push();
    assert_eq!(second["blobs_uploaded"], 0, "{second}");
    assert_eq!(second["bytes_uploaded"], 0, "{second}");
    let copied = gap.path("copied");
    run(Command::new("skopeo").args([
        "copy",
        "--all",
        "--quiet",
        "--src-tls-verify=false",
        &format!("docker://{}/site/docker.io/library/hello:1", harbor.host),
        &format!("oci:{}:1", copied.display()),
    ]))
    .ok();
    for d in hello.blobs() {
        assert_eq!(sha256(&std::fs::read(copied.join("blobs/sha256").join(&d[7..])).unwrap()), d);
    }
    assert!(harbor.requested_uris().iter().any(|u| u.contains("mount=")), "a cross-repository mount was asked for");
    let mut mirror = mirror;
    assert!(mirror.server.terminate());
}

#[test]
fn push_uploads_python_packages_to_pypiserver() {
    let gap = Gap::new();
    let idx = e2e::PyIndexBuilder::new(&gap.path("py")).dists([e2e::DistSpec::pure("pushdemo", "1.0").requires("pushdep"), e2e::DistSpec::pure("pushdep", "2.0")]).build();
    let http = idx.serve();
    let m = gap.write("py.yaml", &format!("name: py\npypi:\n  - {{index: {:?}, python: [\"3.11\"], requirements: [pushdemo]}}\n", http.url()));
    gap.lock(&m).ok();
    let bundle = gap.create(&m, "py.bundle", &["--locked"]);
    drop(http);
    gap.import(&bundle).ok();

    // Debian has no pypiserver package; the CI venv has it from PyPI.
    let server_bin = e2e::pypi::python().parent().unwrap().join("pypi-server");
    let packages = gap.path("pypiserver-packages");
    std::fs::create_dir_all(&packages).unwrap();
    let port = e2e::free_port();
    let mut cmd = Command::new(&server_bin);
    cmd.args(["run", "-i", "127.0.0.1", "-p", &port.to_string(), "-a", ".", "-P", ".", packages.to_str().unwrap()]);
    let mut server = e2e::Server::start("pypiserver", &mut cmd, gap.path("pypiserver.log"));
    let simple = format!("http://127.0.0.1:{port}/simple/");
    let s2 = simple.clone();
    server.wait_until("pypiserver /simple/", move || e2e::http_status(&s2) == 200);

    let push = || gap.mirror(&["push", "--store", gap.store().to_str().unwrap(), "--pypi", &format!("http://127.0.0.1:{port}/"), "--json"]).ok().json();
    let first = push();
    assert_eq!(first["uploaded"].as_array().map(Vec::len), Some(2), "{first}");
    let second = push();
    assert_eq!(second["skipped"].as_array().map(Vec::len), Some(2), "nothing re-sent: {second}");
    for f in ["pushdemo-1.0-py3-none-any.whl", "pushdep-2.0-py3-none-any.whl"] {
        assert_eq!(sha256(&std::fs::read(packages.join(f)).unwrap()), sha256(&std::fs::read(idx.file_path(f)).unwrap()), "{f} byte for byte");
    }
    // pip installs from the target.
    let venv = e2e::Venv::new();
    venv.pip_install(&["--index-url", &simple, "pushdemo==1.0"]).ok();
    assert_eq!(venv.installed().get("pushdep").map(String::as_str), Some("2.0"));
    assert!(server.terminate());
}

#[test]
fn push_publishes_debs_through_aptly() {
    let gap = Gap::new();
    let apt = imported_deb_and_lib(&gap, "pushed-deb", "pushed-lib");

    // aptly's API server (Debian's aptly) with its own root.
    let root = gap.path("aptly");
    std::fs::create_dir_all(&root).unwrap();
    let conf = gap.write("aptly.conf", &format!("{{\"rootDir\": {}}}", serde_json::to_string(&root.display().to_string()).unwrap()));
    let port = e2e::free_port();
    let mut cmd = Command::new("aptly");
    cmd.args(["api", "serve", &format!("-config={}", conf.display()), &format!("-listen=127.0.0.1:{port}"), "-no-lock"]);
    let mut server = e2e::Server::start("aptly api serve", &mut cmd, gap.path("aptly.log"));
    let version = format!("http://127.0.0.1:{port}/api/version");
    server.wait_until("aptly /api/version", move || e2e::http_status(&version) == 200);

    let r = gap.mirror(&["push", "--store", gap.store().to_str().unwrap(), "--apt", &format!("http://127.0.0.1:{port}"), "--json"]).ok().json();
    assert_eq!(r["debs"], 2, "{r}");
    assert_eq!(r["published"][0], "standin/stable", "{r}");

    // apt-get reads what aptly published (unsigned here: no key was given to aptly).
    let public = e2e::StaticServer::start(&root.join("public"));
    installs_byte_for_byte(&apt, &format!("deb [trusted=yes] {}standin stable main", public.url()), "pushed-deb", "pushed-lib");
    assert!(server.terminate());
}

#[test]
fn push_uploads_debs_into_a_nexus_apt_repository() {
    let gap = Gap::new();
    let apt = imported_deb_and_lib(&gap, "nexus-deb", "nexus-lib");

    // One item per page, so the listing's continuation tokens are followed.
    let mut nexus = e2e::nexus::StandinNexus::start("apt-hosted", "stable", "deployer", "s3cret", 1);
    let store = gap.store();
    let push = |user: Option<&str>, password: &str| {
        let mut cmd = Command::new(e2e::bin("mirror"));
        cmd.args(["push", "--store", store.to_str().unwrap(), "--apt-nexus", &nexus.url(), "--json"]).env("NEXUS_PASSWORD", password);
        if let Some(u) = user {
            cmd.args(["--username", u, "--password-env", "NEXUS_PASSWORD"]);
        }
        e2e::run(&mut cmd)
    };

    // Without credentials, or with the wrong ones: refused, nothing stored.
    let anon = push(None, "").fails();
    assert!(anon.stderr.contains("401") && anon.stderr.contains("--username"), "{}", anon.stderr);
    push(Some("deployer"), "wrong").fails();
    assert!(nexus.pool().is_empty(), "{:?}", nexus.pool());
    // Not a repository URL: says what to give.
    let mut cmd = Command::new(e2e::bin("mirror"));
    cmd.args(["push", "--store", store.to_str().unwrap(), "--apt-nexus", &format!("http://127.0.0.1:{}/", nexus.port)]);
    let bad = e2e::run(&mut cmd).fails();
    assert!(bad.stderr.contains("/repository/apt-hosted/"), "{}", bad.stderr);

    let r = push(Some("deployer"), "s3cret").ok().json();
    assert_eq!(r["repository"], "apt-hosted", "{r}");
    assert_eq!(r["uploaded"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(nexus.pool(), ["nexus-deb_1.0_amd64.deb", "nexus-lib_2.0_all.deb"]);
    // Again: both listed (over two pages), nothing uploaded.
    let uploads_before = nexus.uploads().len();
    let again = push(Some("deployer"), "s3cret").ok().json();
    assert_eq!(again["skipped"].as_array().unwrap().len(), 2, "{again}");
    assert_eq!(again["uploaded"].as_array().unwrap().len(), 0, "{again}");
    assert_eq!(nexus.uploads().len(), uploads_before, "no upload the second time");

    // apt-get installs from what the Nexus repository serves, byte for byte.
    installs_byte_for_byte(&apt, &format!("deb [trusted=yes] {} stable main", nexus.url()), "nexus-deb", "nexus-lib");
    assert!(nexus.server.terminate());
}

/// A stand-in archive with `top` 1.0 (amd64) depending on `lib` 2.0 (all), bundled with `top`
/// requested (from apt source `standin`, suite `stable`, component `main`) and imported into
/// `gap`'s store with the archive stopped.
fn imported_deb_and_lib(gap: &Gap, top: &str, lib: &str) -> e2e::AptRepo {
    let apt = e2e::AptRepoBuilder::new(&gap.path("apt")).debs([e2e::DebSpec::new(top, "1.0", "amd64").depends(lib), e2e::DebSpec::new(lib, "2.0", "all")]).build();
    let http = apt.serve();
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let m = gap.write(
        "a.yaml",
        &format!(
            "name: a\napt:\n  - {{source: {}, id: standin, suite: stable, components: [main], keyring: {}, packages: [{top}]}}\n",
            q(&http.url()),
            q(&apt.keyring().display().to_string())
        ),
    );
    gap.lock(&m).ok();
    let bundle = gap.create(&m, "a.bundle", &["--locked"]);
    drop(http);
    gap.import(&bundle).ok();
    apt
}

/// apt-get with only `source` updates cleanly and installs `top` with `lib`, each with the
/// stand-in archive's bytes.
fn installs_byte_for_byte(apt: &e2e::AptRepo, source: &str, top: &str, lib: &str) {
    let client = e2e::AptClient::new();
    client.set_sources_list(&[source.to_string()]);
    let u = client.update();
    assert!(u.run.status == 0, "apt-get update from {source}: {:?}", u.problems);
    let got = client.install_download_only(&[top]);
    let mut names: Vec<String> = got.iter().map(|d| d.id().0).collect();
    names.sort();
    assert_eq!(names, [top, lib]);
    for d in &got {
        assert_eq!(d.sha256, apt.deb(&d.package, &d.version, &d.arch).sha256, "{} byte for byte", d.package);
    }
}
