//! Requirements as pip reads them (extra indexes, requirements files, pre-releases, sdists) and
//! what is refused: hash mismatches, conflicts, a wheel unlike the index, an index down, a stale lock.

use super::*;

#[test]
fn extra_index_never_overrides_the_main_one() {
    let gap = Gap::new();
    let idx = standin(&gap.path("up"));
    // A second index (static HTML, no .metadata files): a project of its own, and a `lib` whose
    // higher version must not win over the main index's (dependency confusion).
    let extra = PyIndexBuilder::new(&gap.path("extra"))
        .pages(Pages::Html)
        .without_metadata_files()
        .dists([DistSpec::pure("torchlike", "1.0").requires("lib>=1.0").requires("oldpy"), DistSpec::pure("lib", "9.0")])
        .build();
    let (h1, h2) = (idx.serve(), extra.serve());
    let (u1, u2) = (h1.url(), h2.url());
    let m = manifest(&gap, "extra", "[linux/amd64]", &[entry(Some(&u1), &["3.11"], &["torchlike", "lib"], &[&format!("extra_indexes: [{}]", q(&u2))])]);
    gap.lock(&m).ok();
    let wheels = locked(&gap.lock_file());
    let files: BTreeSet<String> = wheels.iter().map(|w| w.filename.clone()).collect();
    assert_eq!(files, set(&["torchlike-1.0-py3-none-any.whl", "lib-1.2-py2.py3-none-any.whl", "oldpy-1.0-py3-none-any.whl"]));
    for w in &wheels {
        let (ix, up) = if w.project == "torchlike" { (&u2, &extra) } else { (&u1, &idx) };
        same_as_upstream(std::slice::from_ref(w), up, ix, &files_url(ix));
    }
    // Both arrive on the mirror as one index.
    let bundle = gap.create(&m, "extra.bundle", &["--locked"]);
    gap.import(&bundle).ok();
    drop((h1, h2));
    let mirror = Mirror::start(&gap.store());
    let v = Venv::new();
    v.pip_install(&["--index-url", &simple(&mirror), "torchlike"]).ok();
    assert_eq!(v.installed(), versions(&[("torchlike", "1.0"), ("lib", "1.2"), ("oldpy", "1.0")]));
}

#[test]
fn requirements_file_as_pip_reads_it() {
    let gap = Gap::new();
    let idx = standin(&gap.path("up"));
    let http = idx.serve();
    let url = http.url();
    gap.write("reqs/base.txt", "app[cli]   # the application\n");
    gap.write("reqs/constraints.txt", "lib==1.0\nextra-dep<1.5\n");
    let file = gap.write(
        "reqs/requirements.txt",
        &format!("# what the nodes run\n--index-url {url}\n-r base.txt\n-c constraints.txt\nFoo.Bar>=1.0 ; python_version >= \"3.8\"  # a marker\narmonly ; platform_machine == \"aarch64\"\n\n"),
    );
    // No `index:` in the manifest: the file's --index-url is the index.
    let m = gap.write("reqfile.yaml", "name: reqfile\nplatforms: [linux/amd64]\npypi:\n  - python: [\"3.11\"]\n    requirements_file: reqs/requirements.txt\n");
    let wheels = lock(&gap, &m, "reqfile.lock");
    same_as_upstream(&wheels, &idx, &url, &files_url(&url));
    let theirs = pip_download(&url, &x86_311(), &[], &["-r", &s(&file)], &gap.path("pip")).unwrap_or_else(|r| panic!("pip download -r: {}", r.stderr));
    assert_eq!(lock_files_for(&wheels, &x86_311()), theirs, "bundler (left) vs pip download -r (right)");
    assert!(theirs.contains("lib-1.0-py3-none-any.whl") && theirs.contains("extra_dep-1.0-py3-none-any.whl"), "constraints applied: {theirs:?}");
}

/// PEP 440 as pip applies it, pip download -r beside each lock: a final release wherever one
/// fits (never `httpx 1.0.dev6` over 0.28.1), a pre-release where none does or a specifier
/// names one, every pre-release with the file's `--pre`; `==2.0` takes the local `2.0+cpu`.
#[test]
fn pre_releases_and_local_versions_as_pip() {
    let gap = Gap::new();
    let idx = PyIndexBuilder::new(&gap.path("up"))
        .dists([
            DistSpec::pure("httpx", "0.28.1"),
            DistSpec::pure("httpx", "1.0.dev6"),
            DistSpec::pure("client", "1.0").requires("httpx>=0.23"),
            DistSpec::pure("betaonly", "0.9b1"),
            DistSpec::pure("torchish", "2.0+cpu"),
        ])
        .build();
    let http = idx.serve();
    let url = http.url();
    let m = gap.write("pre.yaml", &format!("name: pre\nplatforms: [linux/amd64]\npypi:\n  - index: {}\n    python: [\"3.11\"]\n    requirements_file: reqs.txt\n", q(&url)));
    let common = ["client-1.0-py3-none-any.whl", "betaonly-0.9b1-py3-none-any.whl", "torchish-2.0+cpu-py3-none-any.whl"];
    for (n, (file, httpx)) in [
        ("client\nbetaonly\ntorchish==2.0\n", "0.28.1"),
        ("--pre\nclient\nbetaonly\ntorchish==2.0\n", "1.0.dev6"),
        ("client\nbetaonly\ntorchish==2.0\nhttpx>=1.0.dev1\n", "1.0.dev6"),
    ]
    .iter()
    .enumerate()
    {
        let reqs = gap.write("reqs.txt", file);
        let ours = lock_files_for(&lock(&gap, &m, &format!("pre{n}.lock")), &x86_311());
        let mut want: BTreeSet<String> = common.iter().map(|f| f.to_string()).collect();
        want.insert(format!("httpx-{httpx}-py3-none-any.whl"));
        assert_eq!(ours, want, "{file:?}");
        let pips = pip_download(&url, &x86_311(), &[], &["-r", &s(&reqs)], &gap.path(&format!("pip{n}"))).unwrap_or_else(|r| panic!("pip download -r: {}", r.stderr));
        assert_eq!(ours, pips, "bundler (left) vs pip download -r (right) for {file:?}");
    }
}

#[test]
fn requirements_file_hash_mismatch_is_refused() {
    let gap = Gap::new();
    let idx = standin(&gap.path("up"));
    let http = idx.serve();
    let url = http.url();
    let m = gap.write("hash.yaml", &format!("name: hash\nplatforms: [linux/amd64]\npypi:\n  - index: {}\n    python: [\"3.11\"]\n    requirements_file: reqs.txt\n", q(&url)));
    // The right hash (pip's `--hash` option, continued on the next line) is accepted.
    let right = idx.dist("oldpy-1.0-py3-none-any.whl").sha256.clone();
    gap.write("reqs.txt", &format!("oldpy==1.0 \\\n    --hash=sha256:{right}\n"));
    assert_eq!(lock(&gap, &m, "right.lock").len(), 1);
    // Another one is refused, as pip refuses it.
    gap.write("reqs.txt", &format!("oldpy==1.0 --hash=sha256:{}\n", "0".repeat(64)));
    let r = e2e::pypi::pip(&["download", "--no-cache-dir", "--index-url", &url, "-d", &s(&gap.path("pipdl")), "-r", &s(&gap.path("reqs.txt"))]).fails();
    assert!(lower(&r).contains("hash"), "{}", r.stderr);
    for r in refused(&gap, &m) {
        stderr_has(&r, &["oldpy", "hash"]);
    }
}

#[test]
fn sdist_only_when_allowed() {
    let gap = Gap::new();
    let idx = standin(&gap.path("up"));
    let http = idx.serve();
    let url = http.url();
    // only_binary (the default): wheels, even when a newer version is only an sdist; a project
    // with no wheel for the target at all is taken as its sdist and said so (issue 4: "sdists
    // only when `only_binary: false` or for packages that have no wheel, and said so").
    let m = manifest(&gap, "bin", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["srconly", "oldpy", "both"], &[])]);
    let l = gap.bundler(&["lock", &s(&m), "--lock", &s(&gap.path("bin.lock"))]).ok();
    stderr_has(&l, &["srconly", "sdist"]);
    let files: BTreeSet<String> = locked(&gap.path("bin.lock")).iter().map(|w| w.filename.clone()).collect();
    assert_eq!(files, set(&["srconly-1.0.tar.gz", "oldpy-1.0-py3-none-any.whl", "both-1.0-py3-none-any.whl"]));
    // only_binary: false: the newest version, sdist or not (pip's default).
    let m = manifest(&gap, "src", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["srconly", "oldpy", "both"], &["only_binary: false"])]);
    let (wheels, bundle) = carry(&gap, &m, "src");
    let files: BTreeSet<String> = wheels.iter().map(|w| w.filename.clone()).collect();
    assert_eq!(files, set(&["srconly-1.0.tar.gz", "oldpy-1.0-py3-none-any.whl", "both-1.1.tar.gz"]));
    same_as_upstream(&wheels, &idx, &url, &files_url(&url));
    assert!(e2e::artifact_names(&gap.inspect(&bundle)).contains(&"pypi/srconly/srconly-1.0.tar.gz".to_string()));
    drop(http);
    let mirror = Mirror::start(&gap.store());
    let page = fetch("GET", &format!("{}srconly/", simple(&mirror)), Some("text/html"), None);
    let links = html_links(&page.text());
    let sd = idx.dist("srconly-1.0.tar.gz");
    assert!(links.iter().any(|(t, h, _)| t == "srconly-1.0.tar.gz" && h.ends_with(&format!("#sha256={}", sd.sha256))), "{}", page.text());
    let body = fetch("GET", &mirror.url("/pypi/files/srconly-1.0.tar.gz"), None, None).body;
    assert_eq!(e2e::sha256(&body), format!("sha256:{}", sd.sha256));
}

// ---- bad input: refused with a message naming what is wrong, and nothing written.

#[test]
fn unsatisfiable_requirement_names_the_conflict() {
    let gap = Gap::new();
    let idx = standin(&gap.path("up"));
    let http = idx.serve();
    let url = http.url();
    let m = manifest(&gap, "conflict", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["cx-a", "cx-b"], &[])]);
    for r in refused(&gap, &m) {
        stderr_has(&r, &["shared", "cx-a", "cx-b"]);
    }
    // A project no index has.
    let m = manifest(&gap, "missing", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["nosuchproject"], &[])]);
    for r in refused(&gap, &m) {
        stderr_has(&r, &["nosuchproject"]);
    }
    // A version that does not exist.
    let m = manifest(&gap, "toonew", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["oldpy>=5"], &[])]);
    for r in refused(&gap, &m) {
        stderr_has(&r, &["oldpy"]);
    }
    let _ = idx;
}

#[test]
fn wheel_differing_from_the_index_hash_is_refused() {
    let gap = Gap::new();
    let idx = standin(&gap.path("up"));
    let http = idx.serve();
    let url = http.url();
    let m = manifest(&gap, "drift", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["app"], &[])]);
    gap.lock(&m).ok();
    let victim = "oldpy-1.0-py3-none-any.whl";
    idx.tamper(victim);
    let out = gap.path("drift.bundle");
    for extra in [&["--locked"][..], &[][..]] {
        let r = gap.try_create(&m, &out, &gap.key(), extra).fails();
        stderr_has(&r, &[victim, "sha256"]);
        assert!(!out.exists(), "no bundle written on error: {}", r.stderr);
    }
    // Without .metadata files the bundler reads METADATA from the wheel: the lock is refused too.
    let plain = PyIndexBuilder::new(&gap.path("plain")).without_metadata_files().dists([DistSpec::pure("solo", "1.0").requires("dep"), DistSpec::pure("dep", "1.0")]).build();
    plain.tamper("dep-1.0-py3-none-any.whl");
    let ph = plain.serve();
    let m = manifest(&gap, "drift2", "[linux/amd64]", &[entry(Some(&ph.url()), &["3.11"], &["solo"], &[])]);
    for r in refused(&gap, &m) {
        stderr_has(&r, &["dep-1.0-py3-none-any.whl", "sha256"]);
    }
}

#[test]
fn index_down_is_named() {
    let gap = Gap::new();
    let idx = standin(&gap.path("up"));
    let mut http = idx.serve();
    let url = http.url();
    http.stop();
    let m = manifest(&gap, "down", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["app"], &[])]);
    for r in refused(&gap, &m) {
        stderr_has(&r, &[&format!("127.0.0.1:{}", http.port)]);
    }
    // An extra index that is down is named as well when a project must come from it.
    let up = idx.serve();
    let m = manifest(&gap, "down2", "[linux/amd64]", &[entry(Some(&up.url()), &["3.11"], &["app", "torchlike"], &[&format!("extra_indexes: [{}]", q(&url))])]);
    for r in refused(&gap, &m) {
        stderr_has(&r, &[&format!("127.0.0.1:{}", http.port)]);
    }
}

#[test]
fn locked_create_refuses_a_changed_pypi_section() {
    let gap = Gap::new();
    let idx = standin(&gap.path("up"));
    let http = idx.serve();
    let url = http.url();
    let m = manifest(&gap, "locked", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["oldpy"], &[])]);
    gap.lock(&m).ok();
    let m2 = manifest(&gap, "locked", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["oldpy", "armonly"], &[])]);
    let out = gap.path("x.bundle");
    let r = gap.try_create(&m2, &out, &gap.key(), &["--locked"]).fails();
    stderr_has(&r, &["lock"]);
    assert!(!out.exists(), "no bundle written on error: {}", r.stderr);
}
