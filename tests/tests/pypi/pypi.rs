//! Python packages end to end: a stand-in PEP 503/691 index holding wheels the harness builds
//! (several versions, markers, extras, abi3 and manylinux wheels, cp312-only and musllinux
//! wheels, a yanked version, Requires-Python, an sdist, a conflict; pre-releases and local
//! versions in a fixture of their own), resolved by the bundler,
//! bundled, imported and served by the mirror, and installed from it by real pip and uv into
//! fresh venvs. The bundler's choice is compared with what `pip download --platform …
//! --python-version … --implementation cp --only-binary=:all:` picks from the same index.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use e2e::html::html_links;
use e2e::pypi::{fetch, files_in, hashed_requirements, lock_files_for, lock_wheels, normalize, pip_download, pip_download_ok, LockedWheel};
use e2e::{DistSpec, Gap, Mirror, Pages, PyIndex, PyIndexBuilder, Target, Venv};

/// `<py>-<py>-manylinux_2_17_<arch>.manylinux2014_<arch>`
fn ml2014(py: &str, arch: &str) -> String {
    format!("{py}-{py}-manylinux_2_17_{arch}.manylinux2014_{arch}")
}

/// The stand-in universe every resolution test draws from.
fn universe() -> Vec<DistSpec> {
    let mut v = vec![
        DistSpec::pure("app", "1.0").requires("lib>=1.0"),
        DistSpec::pure("app", "1.1")
            .requires_python(">=3.9")
            .requires("lib>=1.0")
            .requires("fastlib>=2")
            .requires("abilib")
            .requires("oldpy; python_version < \"3.12\"")
            .requires("newpy; python_version >= \"3.12\"")
            .requires("armonly; platform_machine == \"aarch64\"")
            .extra("cli")
            .requires("extra-dep>=1; extra == \"cli\""),
        // The newest app needs a Python no target has.
        DistSpec::pure("app", "2.0").requires_python(">=3.13").requires("lib>=1.0"),
        DistSpec::pure("lib", "1.0"),
        DistSpec::wheel("lib", "1.2", "py2.py3-none-any"),
        // The newest lib is yanked: taken only when pinned with ==.
        DistSpec::pure("lib", "1.3").yanked("broken build"),
        DistSpec::pure("oldpy", "1.0"),
        DistSpec::pure("armonly", "1.0"),
        DistSpec::pure("extra-dep", "1.0"),
        DistSpec::pure("extra-dep", "1.5"),
        // A non-normalized project name; `<` in Requires-Python is HTML-escaped on the page.
        DistSpec::pure("Foo.Bar", "1.0").requires_python(">=3.8, <4"),
        // Only an sdist; and a project whose newest version is only an sdist.
        DistSpec::sdist("srconly", "1.0"),
        DistSpec::pure("both", "1.0"),
        DistSpec::sdist("both", "1.0"),
        DistSpec::sdist("both", "1.1"),
        // cx-a and cx-b cannot be installed together.
        DistSpec::pure("cx-a", "1.0").requires("shared<2"),
        DistSpec::pure("cx-b", "1.0").requires("shared>=2"),
        DistSpec::pure("shared", "1.0"),
        DistSpec::pure("shared", "2.0"),
    ];
    // A compiled library: 2.0 for the manylinux2014 baseline (and musl), 2.1 only for glibc 2.28.
    for tag in [ml2014("cp311", "x86_64"), ml2014("cp311", "aarch64"), ml2014("cp312", "x86_64"), ml2014("cp312", "aarch64"), "cp311-cp311-musllinux_1_2_x86_64".into()] {
        v.push(DistSpec::wheel("fastlib", "2.0", &tag));
    }
    for tag in ["cp311-cp311-manylinux_2_28_x86_64", "cp312-cp312-manylinux_2_28_x86_64", "cp312-cp312-manylinux_2_28_aarch64"] {
        v.push(DistSpec::wheel("fastlib", "2.1", tag));
    }
    // abi3: 1.0 runs on any CPython ≥ 3.9; 1.1 only on ≥ 3.13.
    for arch in ["x86_64", "aarch64"] {
        v.push(DistSpec::wheel("abilib", "1.0", &format!("cp39-abi3-manylinux_2_17_{arch}.manylinux2014_{arch}")));
        v.push(DistSpec::wheel("abilib", "1.1", &format!("cp313-abi3-manylinux_2_17_{arch}.manylinux2014_{arch}")));
    }
    // Only for CPython 3.12.
    for arch in ["x86_64", "aarch64"] {
        v.push(DistSpec::wheel("newpy", "1.0", &ml2014("cp312", arch)));
    }
    v
}

fn standin(dir: &Path) -> PyIndex {
    PyIndexBuilder::new(dir).dists(universe()).build()
}

fn x86_311() -> Target {
    Target::glibc("3.11", "x86_64", "2.17")
}

fn arm_312() -> Target {
    Target::glibc("3.12", "aarch64", "2.17")
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// What `app[cli]` and `Foo.Bar` come to on CPython 3.11, x86_64, glibc 2.17.
fn app_x86_311() -> BTreeSet<String> {
    set(&[
        "app-1.1-py3-none-any.whl",
        "lib-1.2-py2.py3-none-any.whl",
        "fastlib-2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "abilib-1.0-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "oldpy-1.0-py3-none-any.whl",
        "extra_dep-1.5-py3-none-any.whl",
        "foo_bar-1.0-py3-none-any.whl",
    ])
}

/// The same on CPython 3.12, aarch64, glibc 2.17.
fn app_arm_312() -> BTreeSet<String> {
    set(&[
        "app-1.1-py3-none-any.whl",
        "lib-1.2-py2.py3-none-any.whl",
        "fastlib-2.0-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        "abilib-1.0-cp39-abi3-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        "newpy-1.0-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        "armonly-1.0-py3-none-any.whl",
        "extra_dep-1.5-py3-none-any.whl",
        "foo_bar-1.0-py3-none-any.whl",
    ])
}

fn versions(v: &[(&str, &str)]) -> BTreeMap<String, String> {
    v.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

fn lower(r: &e2e::Run) -> String {
    format!("{}\n{}", r.stdout, r.stderr).to_lowercase()
}

#[test]
fn standin_index_serves_pip_and_uv() {
    let t = tempfile::tempdir().unwrap();
    let idx = standin(&t.path().join("up"));
    let mut http = idx.serve();
    let url = http.url();
    eprintln!("clients: {}", e2e::pypi::client_versions());

    // pip download for this machine's kind of target and for a foreign one picks the expected
    // wheels, byte for byte as the index holds them.
    let got = pip_download_ok(&url, &x86_311(), &["app[cli]", "Foo.Bar"], &t.path().join("dl-x86"));
    assert_eq!(got, app_x86_311(), "pip download, cp311 x86_64");
    for f in &got {
        assert_eq!(e2e::sha256(&std::fs::read(t.path().join("dl-x86").join(f)).unwrap()), format!("sha256:{}", idx.dist(f).sha256), "{f}");
    }
    assert_eq!(pip_download_ok(&url, &arm_312(), &["app[cli]", "Foo.Bar"], &t.path().join("dl-arm")), app_arm_312(), "pip download, cp312 aarch64");
    // The glibc baseline decides between fastlib 2.0 and 2.1; musl has its own wheel.
    assert_eq!(
        pip_download_ok(&url, &Target::glibc("3.11", "x86_64", "2.28"), &["fastlib"], &t.path().join("dl-228")),
        set(&["fastlib-2.1-cp311-cp311-manylinux_2_28_x86_64.whl"])
    );
    assert_eq!(pip_download_ok(&url, &Target::musl("3.11", "x86_64", "1.2"), &["fastlib"], &t.path().join("dl-musl")), set(&["fastlib-2.0-cp311-cp311-musllinux_1_2_x86_64.whl"]));
    // Yanked: only when pinned with ==.
    assert_eq!(pip_download_ok(&url, &x86_311(), &["lib==1.3"], &t.path().join("dl-yanked")), set(&["lib-1.3-py3-none-any.whl"]));
    pip_download(&url, &x86_311(), &["lib>1.2"], &[], &t.path().join("dl-yanked2")).expect_err("a yanked version is not chosen unless pinned");
    // Requires-Python: the newest app is for 3.13 only.
    assert_eq!(
        pip_download_ok(&url, &Target::glibc("3.13", "x86_64", "2.17"), &["app==2.0"], &t.path().join("dl-313")),
        set(&["app-2.0-py3-none-any.whl", "lib-1.2-py2.py3-none-any.whl"])
    );
    // The conflict and the sdist-only project are refused with --only-binary.
    let r = pip_download(&url, &x86_311(), &["cx-a", "cx-b"], &[], &t.path().join("dl-cx")).expect_err("cx-a and cx-b conflict");
    assert!(lower(&r).contains("shared"), "{}", r.stderr);
    pip_download(&url, &x86_311(), &["srconly"], &[], &t.path().join("dl-src")).expect_err("no wheel for srconly");

    // pip asked for JSON first and read PEP 658 metadata instead of downloading every wheel.
    let seen = http.requests();
    let app_page = seen.iter().find(|s| s.path == "/simple/app/").unwrap_or_else(|| panic!("{seen:?}"));
    assert!(app_page.accept.starts_with("application/vnd.pypi.simple.v1+json"), "{app_page:?}");
    assert!(seen.iter().any(|s| s.path == "/files/app-1.1-py3-none-any.whl.metadata"), "{seen:?}");
    assert!(!seen.iter().any(|s| s.path == "/files/app-1.0-py3-none-any.whl"), "{seen:?}");

    // Both page formats, as the Accept header says.
    let page = fetch("GET", &format!("{url}app/"), Some("application/vnd.pypi.simple.v1+json"), None);
    assert_eq!(page.header("content-type"), Some("application/vnd.pypi.simple.v1+json"));
    let j = page.json();
    let f = j["files"].as_array().unwrap().iter().find(|f| f["filename"] == "app-1.1-py3-none-any.whl").unwrap();
    assert_eq!(f["hashes"]["sha256"], idx.dist("app-1.1-py3-none-any.whl").sha256.as_str());
    assert_eq!(f["requires-python"], ">=3.9");
    let page = fetch("GET", &format!("{url}foo-bar/"), Some("text/html"), None);
    let links = html_links(&page.text());
    assert_eq!(links.len(), 1, "{}", page.text());
    assert_eq!(links[0].2["data-requires-python"], ">=3.8, <4", "{}", page.text());
    assert!(page.text().contains("&lt;4"), "{}", page.text());
    let redirect = fetch("GET", &format!("{url}Foo.Bar/"), None, None);
    assert_eq!((redirect.status, redirect.header("location")), (301, Some("/simple/foo-bar/")));

    // pip and uv install from it into fresh venvs (this machine's glibc takes fastlib 2.1).
    let expect = |fastlib: &str| versions(&[("app", "1.1"), ("lib", "1.2"), ("fastlib", fastlib), ("abilib", "1.0"), ("oldpy", "1.0"), ("extra-dep", "1.5"), ("foo-bar", "1.0")]);
    let v = Venv::new();
    v.pip_install(&["--index-url", &url, "app[cli]", "Foo.Bar"]).ok();
    let fastlib = v.installed()["fastlib"].clone();
    assert_eq!(v.installed(), expect(&fastlib));
    assert!(v.module_info("foo_bar").starts_with("1.0 py3-none-any original"), "{}", v.module_info("foo_bar"));
    let u = Venv::new();
    u.uv_install(&["--no-config", "--index-url", &url, "app[cli]", "Foo.Bar"], &[]).ok();
    assert_eq!(u.installed(), expect(&fastlib));
    assert!(http.requests().iter().any(|s| s.method == "HEAD" || s.path.ends_with(".metadata")), "{:?}", http.requests());

    // A wheel whose bytes differ from the index's sha256 is refused by both.
    let victim = "oldpy-1.0-py3-none-any.whl";
    let bad = idx.tamper(victim);
    let r = Venv::new().pip_install(&["--index-url", &url, "oldpy"]).fails();
    assert!(lower(&r).contains("hash") && lower(&r).contains(&bad), "pip names the hash mismatch:\n{}", r.stderr);
    let r = Venv::new().uv_install(&["--no-config", "--index-url", &url, "oldpy"], &[]).fails();
    assert!(lower(&r).contains("hash"), "uv names the hash mismatch:\n{}", r.stderr);
    idx.restore(victim);
    Venv::new().pip_install(&["--index-url", &url, "oldpy"]).ok();

    // A static HTML-only index without .metadata files serves pip too.
    let plain = PyIndexBuilder::new(&t.path().join("plain"))
        .pages(Pages::Html)
        .without_metadata_files()
        .dists([DistSpec::pure("solo", "3.0").requires("dep"), DistSpec::pure("dep", "1.0")])
        .build();
    let ph = plain.serve();
    assert_eq!(pip_download_ok(&ph.url(), &x86_311(), &["solo"], &t.path().join("dl-plain")), set(&["solo-3.0-py3-none-any.whl", "dep-1.0-py3-none-any.whl"]));
    assert!(ph.requests().iter().all(|s| !s.path.ends_with(".metadata")));
    assert!(!plain.file_path("solo-3.0-py3-none-any.whl.metadata").exists());

    // Down: nothing answers, the server is gone.
    let pid = http.server.pid();
    http.stop();
    assert!(pip_download(&url, &x86_311(), &["lib"], &[], &t.path().join("dl-down")).is_err());
    drop(http);
    drop(ph);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists() || std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| s.contains("State:\tZ")),
        "stand-in {pid} still running"
    );
}

// ---- Part B: the bundler and the mirror against the stand-in.

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// One `pypi:` entry: `index:` (when given), `python:`, `requirements:` and more YAML lines.
fn entry(index: Option<&str>, python: &[&str], reqs: &[&str], more: &[&str]) -> String {
    let mut y = String::from("  - ");
    let mut lines = Vec::new();
    if let Some(i) = index {
        lines.push(format!("index: {}", q(i)));
    }
    lines.push(format!("python: [{}]", python.iter().map(|p| q(p)).collect::<Vec<_>>().join(", ")));
    if !reqs.is_empty() {
        lines.push(format!("requirements: [{}]", reqs.iter().map(|r| q(r)).collect::<Vec<_>>().join(", ")));
    }
    lines.extend(more.iter().map(|l| l.to_string()));
    y.push_str(&lines.join("\n    "));
    y.push('\n');
    y
}

fn manifest(gap: &Gap, name: &str, platforms: &str, entries: &[String]) -> PathBuf {
    gap.write(&format!("{name}.yaml"), &format!("name: {name}\nplatforms: {platforms}\npypi:\n{}", entries.concat()))
}

/// The `[[wheel]]` entries of a lock file, each checked for the contract's fields.
fn locked(lock: &Path) -> Vec<LockedWheel> {
    let text = std::fs::read_to_string(lock).unwrap_or_else(|e| panic!("{}: {e}", lock.display()));
    let wheels = lock_wheels(&text);
    let mut seen = BTreeSet::new();
    for w in &wheels {
        assert!(seen.insert(w.filename.clone()), "{} locked twice:\n{text}", w.filename);
        assert_eq!(w.name, format!("{}/{}", w.project, w.filename), "name is <project>/<filename>: {}", w.raw);
        assert_eq!(w.project, normalize(&w.project), "project is normalized: {}", w.raw);
        assert!(w.sha256.starts_with("sha256:") && w.hex().len() == 64, "sha256 is sha256:<hex>: {}", w.raw);
        assert!(w.source.ends_with(&format!("/{}", w.filename)), "source is the file's URL: {}", w.raw);
        assert!(!w.targets.is_empty(), "every file is needed by some target: {}", w.raw);
    }
    wheels
}

/// `bundler lock M --lock DIR/LOCK`, asserting success; the locked wheels.
fn lock(gap: &Gap, m: &Path, lock: &str) -> Vec<LockedWheel> {
    let l = gap.path(lock);
    gap.bundler(&["lock", &s(m), "--lock", &s(&l)]).ok();
    locked(&l)
}

/// Every locked file is the stand-in's, byte for byte, as listed (index, source, size, hash,
/// version, Requires-Python).
fn same_as_upstream(wheels: &[LockedWheel], idx: &PyIndex, index_url: &str, files_url: &str) {
    for w in wheels {
        let up = idx.dist(&w.filename);
        assert_eq!(w.hex(), up.sha256, "{}", w.raw);
        assert_eq!(w.size, up.size, "{}", w.raw);
        assert_eq!((w.project.as_str(), w.version.as_str()), (up.spec.project().as_str(), up.spec.version.as_str()), "{}", w.raw);
        assert_eq!(w.requires_python, up.spec.requires_python, "{}", w.raw);
        assert_eq!(w.index, index_url, "{}", w.raw);
        assert_eq!(w.source, format!("{files_url}{}", w.filename), "{}", w.raw);
    }
}

/// `http://127.0.0.1:PORT/files/` of a stand-in whose pages are at `…/simple/`.
fn files_url(index_url: &str) -> String {
    index_url.replace("/simple/", "/files/")
}

/// For each target: the files the lock holds for it equal pip download's choice.
fn assert_as_pip(wheels: &[LockedWheel], index_url: &str, targets: &[Target], reqs: &[&str], dir: &Path) {
    let mut union = BTreeSet::new();
    for (i, t) in targets.iter().enumerate() {
        let theirs = pip_download_ok(index_url, t, reqs, &dir.join(format!("pip-{i}")));
        let ours = lock_files_for(wheels, t);
        assert_eq!(
            ours,
            theirs,
            "{t}: bundler's files (left) differ from pip download's (right); lock targets: {:?}",
            wheels.iter().map(|w| (&w.filename, &w.targets)).collect::<Vec<_>>()
        );
        union.extend(theirs);
    }
    let all: BTreeSet<String> = wheels.iter().map(|w| w.filename.clone()).collect();
    assert_eq!(all, union, "the lock holds exactly what some target needs");
}

fn stderr_has(r: &e2e::Run, words: &[&str]) {
    let low = r.stderr.to_lowercase();
    for w in words {
        assert!(low.contains(&w.to_lowercase()), "`{}`: error should mention {w:?}:\nstderr: {}\nstdout: {}", r.cmdline, r.stderr, r.stdout);
    }
}

/// `bundler lock` and `bundler create` both fail on `m`; nothing is written.
fn refused(gap: &Gap, m: &Path) -> [e2e::Run; 2] {
    let lock = gap.path("refused.lock");
    let l = gap.bundler(&["lock", &s(m), "--lock", &s(&lock)]).fails();
    assert!(!lock.exists(), "no lock written on error: {}", l.stderr);
    let out = gap.path("refused.bundle");
    let c = gap.bundler(&["create", &s(m), "--key", &s(&gap.key()), "--out", &s(&out), "--lock", &s(&lock)]).fails();
    assert!(!out.exists(), "no bundle written on error: {}", c.stderr);
    [l, c]
}

/// Resolve a link of a page at `page` (absolute, absolute-path or relative).
fn join(page: &str, href: &str) -> String {
    if href.starts_with("http://") || href.starts_with("https://") {
        return href.to_string();
    }
    let scheme_host_end = page.find("://").map(|i| i + 3 + page[i + 3..].find('/').unwrap_or(page.len() - i - 3)).unwrap();
    if href.starts_with('/') {
        return format!("{}{href}", &page[..scheme_host_end]);
    }
    let mut segs: Vec<&str> = page[scheme_host_end..].split('/').collect();
    segs.pop();
    for part in href.split('/') {
        match part {
            ".." => {
                segs.pop();
            }
            "." => {}
            p => segs.push(p),
        }
    }
    format!("{}{}", &page[..scheme_host_end], segs.join("/"))
}

fn without_fragment(u: &str) -> &str {
    u.split('#').next().unwrap()
}

/// The mirror's `/pypi/simple/` URL.
fn simple(mirror: &Mirror) -> String {
    mirror.url("/pypi/simple/")
}

/// Lock, create `--locked`, verify and import; returns the locked wheels and the bundle.
fn carry(gap: &Gap, m: &Path, name: &str) -> (Vec<LockedWheel>, PathBuf) {
    let lockf = gap.path(&format!("{name}.lock"));
    gap.bundler(&["lock", &s(m), "--lock", &s(&lockf)]).ok();
    let wheels = locked(&lockf);
    let out = gap.path(&format!("{name}.bundle"));
    gap.bundler(&["create", &s(m), "--key", &s(&gap.key()), "--out", &s(&out), "--lock", &s(&lockf), "--locked"]).ok();
    gap.verify(&out).ok();
    gap.import(&out).ok();
    (wheels, out)
}

#[test]
fn resolution_equals_pip_download() {
    let gap = Gap::new();
    let idx = standin(&gap.path("up"));
    let http = idx.serve();
    let url = http.url();
    let reqs = ["app[cli]", "Foo.Bar"];
    let m = manifest(&gap, "resolve", "[linux/amd64, linux/arm64]", &[entry(Some(&url), &["3.11", "3.12"], &reqs, &[])]);
    let wheels = lock(&gap, &m, "resolve.lock");
    same_as_upstream(&wheels, &idx, &url, &files_url(&url));
    let targets = [x86_311(), Target::glibc("3.11", "aarch64", "2.17"), Target::glibc("3.12", "x86_64", "2.17"), arm_312()];
    assert_as_pip(&wheels, &url, &targets, &reqs, &gap.path("pip"));
    assert_eq!(lock_files_for(&wheels, &x86_311()), app_x86_311());
    assert_eq!(lock_files_for(&wheels, &arm_312()), app_arm_312());
    // A pure wheel every target needs is listed once, for all four.
    let lib = wheels.iter().find(|w| w.filename == "lib-1.2-py2.py3-none-any.whl").unwrap();
    assert_eq!(lib.targets.len(), 4, "{}", lib.raw);
    assert!(lib.targets.iter().any(|t| t == "cp311-manylinux_2_17_x86_64"), "targets are named like cp311-manylinux_2_17_x86_64: {}", lib.raw);
}

#[test]
fn yanked_and_requires_python_as_pip() {
    let gap = Gap::new();
    let idx = standin(&gap.path("up"));
    let http = idx.serve();
    let url = http.url();
    // A yanked version pinned with == is taken (pip does too).
    let reqs = ["app", "lib==1.3"];
    let m = manifest(&gap, "yanked", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &reqs, &[])]);
    let wheels = lock(&gap, &m, "yanked.lock");
    assert_as_pip(&wheels, &url, &[x86_311()], &reqs, &gap.path("pip"));
    assert!(lock_files_for(&wheels, &x86_311()).contains("lib-1.3-py3-none-any.whl"));
    // Not pinned: the yanked one is never chosen, and nothing else fits.
    let m = manifest(&gap, "yanked2", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["lib>1.2"], &[])]);
    for r in refused(&gap, &m) {
        stderr_has(&r, &["lib"]);
    }
    // Requires-Python: app 2.0 is for 3.13; a 3.13 target gets it.
    let m = manifest(&gap, "py313", "[linux/amd64]", &[entry(Some(&url), &["3.13"], &["app"], &[])]);
    let wheels = lock(&gap, &m, "py313.lock");
    let t313 = Target::glibc("3.13", "x86_64", "2.17");
    assert_eq!(lock_files_for(&wheels, &t313), set(&["app-2.0-py3-none-any.whl", "lib-1.2-py2.py3-none-any.whl"]));
    assert_as_pip(&wheels, &url, &[t313], &["app"], &gap.path("pip313"));
    assert_eq!(wheels.iter().find(|w| w.project == "app").unwrap().requires_python.as_deref(), Some(">=3.13"));
}

#[test]
fn glibc_and_musl_baselines_as_pip() {
    let gap = Gap::new();
    let idx = standin(&gap.path("up"));
    let http = idx.serve();
    let url = http.url();
    let m = manifest(&gap, "glibc228", "[linux/amd64, linux/arm64]", &[entry(Some(&url), &["3.11", "3.12"], &["fastlib"], &["glibc: \"2.28\""])]);
    let wheels = lock(&gap, &m, "glibc.lock");
    let targets: Vec<Target> = [("3.11", "x86_64"), ("3.11", "aarch64"), ("3.12", "x86_64"), ("3.12", "aarch64")].iter().map(|(p, a)| Target::glibc(p, a, "2.28")).collect();
    assert_as_pip(&wheels, &url, &targets, &["fastlib"], &gap.path("pip"));
    assert!(lock_files_for(&wheels, &targets[0]).contains("fastlib-2.1-cp311-cp311-manylinux_2_28_x86_64.whl"));
    // The default baseline (2.17) keeps to manylinux2014.
    let m = manifest(&gap, "glibc217", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["fastlib"], &[])]);
    assert_eq!(lock_files_for(&lock(&gap, &m, "217.lock"), &x86_311()), set(&["fastlib-2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"]));
    // musl.
    let m = manifest(&gap, "musl", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["fastlib"], &["libc: musl", "musl: \"1.2\""])]);
    let wheels = lock(&gap, &m, "musl.lock");
    let musl = Target::musl("3.11", "x86_64", "1.2");
    assert_as_pip(&wheels, &url, &[musl], &["fastlib"], &gap.path("pip-musl"));
    assert_eq!(wheels.len(), 1, "{wheels:?}");
}

#[test]
fn round_trip_pip_and_uv_from_the_mirror() {
    let gap = Gap::new();
    let idx = standin(&gap.path("up"));
    let mut http = idx.serve();
    let url = http.url();
    let m = manifest(&gap, "pydemo", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["app[cli]", "Foo.Bar"], &[])]);
    let (wheels, bundle) = carry(&gap, &m, "pydemo");
    assert_eq!(wheels.iter().map(|w| w.filename.clone()).collect::<BTreeSet<_>>(), app_x86_311());
    same_as_upstream(&wheels, &idx, &url, &files_url(&url));
    let artifacts = e2e::artifact_names(&gap.inspect(&bundle));
    for w in &wheels {
        let r = format!("pypi/{}/{}", w.project, w.filename);
        assert!(artifacts.contains(&r), "inspect lists {r}: {artifacts:?}");
    }
    // The upstream is gone: everything below comes from the mirror.
    http.stop();
    let mirror = Mirror::start(&gap.store());
    let index = simple(&mirror);

    // pip --require-hashes with the lock's hashes, the mirror as the only index.
    let reqs = gap.write("hashed.txt", &hashed_requirements(&wheels));
    let expect = versions(&[("app", "1.1"), ("lib", "1.2"), ("fastlib", "2.0"), ("abilib", "1.0"), ("oldpy", "1.0"), ("extra-dep", "1.5"), ("foo-bar", "1.0")]);
    let v = Venv::new();
    v.pip_install(&["--index-url", &index, "--require-hashes", "-r", &s(&reqs)]).ok();
    assert_eq!(v.installed(), expect, "pip --require-hashes from the mirror");
    assert_eq!(v.module_info("fastlib"), "2.0 cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64 original");
    // uv likewise.
    let u = Venv::new();
    u.uv_install(&["--no-config", "--index-url", &index, "--require-hashes", "-r", &s(&reqs)], &[]).ok();
    assert_eq!(u.installed(), expect, "uv pip install --require-hashes from the mirror");
    // And a plain install resolving from the mirror's pages (extras, markers, metadata).
    let p = Venv::new();
    p.pip_install(&["--index-url", &index, "app[cli]", "Foo.Bar"]).ok();
    assert_eq!(p.installed(), expect, "pip install app[cli] Foo.Bar from the mirror");
    let pu = Venv::new();
    pu.uv_install(&["--no-config", "--index-url", &index, "app[cli]", "Foo.Bar"], &[]).ok();
    assert_eq!(pu.installed(), expect, "uv pip install app[cli] Foo.Bar from the mirror");
    // What was not carried is not offered.
    Venv::new().pip_install(&["--index-url", &index, "lib==1.0"]).fails();

    // The files: upstream's bytes, HEAD and Range.
    for w in &wheels {
        let f = mirror.url(&format!("/pypi/files/{}", w.filename));
        let got = fetch("GET", &f, None, None);
        assert_eq!(got.status, 200, "{f}");
        assert_eq!(e2e::sha256(&got.body), format!("sha256:{}", idx.dist(&w.filename).sha256), "{f} is upstream's");
        let head = fetch("HEAD", &f, None, None);
        assert_eq!(head.status, 200, "HEAD {f}");
        assert_eq!(head.header("content-length"), Some(w.size.to_string().as_str()), "HEAD {f}: {:?}", head.headers);
        let part = fetch("GET", &f, None, Some("bytes=10-19"));
        assert_eq!(part.status, 206, "Range on {f}: {:?}", part.headers);
        assert_eq!(part.body, got.body[10..20], "Range on {f}");
    }
}

#[test]
fn simple_pages_as_pep_503_and_691() {
    let gap = Gap::new();
    let idx = standin(&gap.path("up"));
    let http = idx.serve();
    let url = http.url();
    let m = manifest(&gap, "pages", "[linux/amd64, linux/arm64]", &[entry(Some(&url), &["3.11", "3.12"], &["app[cli]", "Foo.Bar"], &[])]);
    let (wheels, _) = carry(&gap, &m, "pages");
    drop(http);
    let mirror = Mirror::start(&gap.store());
    let index = simple(&mirror);
    let projects: BTreeSet<String> = wheels.iter().map(|w| w.project.clone()).collect();
    const JSON: &str = "application/vnd.pypi.simple.v1+json";
    const PIP_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
    const UV_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

    // The project list.
    let list = fetch("GET", &index, Some(JSON), None);
    assert_eq!(list.status, 200);
    assert!(list.header("content-type").is_some_and(|c| c.starts_with(JSON)), "{:?}", list.headers);
    let j = list.json();
    let names: BTreeSet<String> = j["projects"].as_array().unwrap_or_else(|| panic!("{j}")).iter().map(|p| normalize(p["name"].as_str().unwrap())).collect();
    assert_eq!(names, projects, "{j}");
    assert!(j["meta"]["api-version"].as_str().is_some_and(|v| v.starts_with("1.")), "{j}");
    let list = fetch("GET", &index, Some("text/html"), None);
    assert!(list.header("content-type").is_some_and(|c| c.contains("html")), "{:?}", list.headers);
    let names: BTreeSet<String> = html_links(&list.text()).into_iter().map(|(t, _, _)| normalize(&t)).collect();
    assert_eq!(names, projects, "{}", list.text());
    for (_, href, _) in html_links(&list.text()) {
        assert_eq!(fetch("GET", &join(&index, &href), Some("text/html"), None).status, 200, "{href}");
    }

    for project in &projects {
        let page_url = format!("{index}{project}/");
        let mine: Vec<&LockedWheel> = wheels.iter().filter(|w| &w.project == project).collect();
        // PEP 691 JSON, for JSON and for pip's and uv's Accept headers.
        for accept in [JSON, PIP_ACCEPT, UV_ACCEPT] {
            let page = fetch("GET", &page_url, Some(accept), None);
            assert_eq!(page.status, 200, "{page_url}");
            assert!(page.header("content-type").is_some_and(|c| c.starts_with(JSON)), "{page_url} with Accept {accept}: {:?}", page.headers);
            let j = page.json();
            assert_eq!(normalize(j["name"].as_str().unwrap_or_default()), *project, "{j}");
            let files = j["files"].as_array().unwrap_or_else(|| panic!("{j}"));
            assert_eq!(files.len(), mine.len(), "{j}");
            for w in &mine {
                let up = idx.dist(&w.filename);
                let f = files.iter().find(|f| f["filename"] == w.filename.as_str()).unwrap_or_else(|| panic!("{} not on {page_url}: {j}", w.filename));
                assert_eq!(f["hashes"]["sha256"], up.sha256.as_str(), "{f}");
                match &up.spec.requires_python {
                    Some(rp) => assert_eq!(f["requires-python"], rp.as_str(), "{f}"),
                    None => assert!(f.get("requires-python").is_none_or(|v| v.is_null()), "{f}"),
                }
                let cm = &f["core-metadata"];
                assert!(cm == &serde_json::Value::Bool(true) || cm["sha256"] == up.metadata_sha256.as_str(), "core-metadata of {}: {f}", w.filename);
                assert!(f.get("yanked").is_none_or(|y| y == &serde_json::Value::Bool(false)), "{f}");
                let file_url = join(&page_url, f["url"].as_str().unwrap());
                assert_eq!(fetch("GET", &file_url, None, None).body.len() as u64, up.size, "{file_url}");
            }
        }
        // PEP 503 HTML.
        let page = fetch("GET", &page_url, Some("text/html"), None);
        assert_eq!(page.status, 200, "{page_url}");
        assert!(page.header("content-type").is_some_and(|c| c.contains("html")), "{:?}", page.headers);
        let links = html_links(&page.text());
        assert_eq!(links.len(), mine.len(), "{}", page.text());
        for w in &mine {
            let up = idx.dist(&w.filename);
            let (_, href, attrs) = links.iter().find(|(t, _, _)| t == &w.filename).unwrap_or_else(|| panic!("{} not on {page_url}:\n{}", w.filename, page.text()));
            assert!(href.ends_with(&format!("{}#sha256={}", w.filename, up.sha256)), "{href}");
            assert_eq!(attrs.get("data-requires-python"), up.spec.requires_python.as_ref(), "{attrs:?}");
            let meta = format!("sha256={}", up.metadata_sha256);
            for a in ["data-dist-info-metadata", "data-core-metadata"] {
                assert!(attrs.get(a).is_some_and(|v| v == &meta || v == "true"), "{a} of {}: {attrs:?}", w.filename);
            }
            let file_url = join(&page_url, without_fragment(href));
            assert_eq!(e2e::sha256(&fetch("GET", &file_url, None, None).body), format!("sha256:{}", up.sha256), "{file_url}");
            // PEP 658: the core metadata beside the file, exactly the wheel's METADATA.
            let md = fetch("GET", &format!("{file_url}.metadata"), None, None);
            assert_eq!(md.status, 200, "{file_url}.metadata");
            assert_eq!(md.text(), up.metadata, "{file_url}.metadata is the wheel's METADATA");
        }
    }
    // Escaping: `<` and `>` of Requires-Python are entities in the HTML.
    let foo = fetch("GET", &format!("{index}foo-bar/"), Some("text/html"), None).text();
    assert!(foo.contains("data-requires-python=\"&gt;=3.8, &lt;4\""), "{foo}");

    // Non-normalized names redirect to the normalized page; unknown projects are 404.
    for name in ["Foo.Bar", "FOO_bar", "foo__bar"] {
        let r = fetch("GET", &format!("{index}{name}/"), Some(JSON), None);
        assert_eq!(r.status, 301, "{index}{name}/: {:?}", r.headers);
        let loc = r.header("location").unwrap_or_else(|| panic!("301 without Location: {:?}", r.headers));
        assert_eq!(join(&format!("{index}{name}/"), loc), format!("{index}foo-bar/"), "Location of {name}");
    }
    assert_eq!(fetch("GET", &format!("{index}nosuchproject/"), Some(JSON), None).status, 404);
    assert_eq!(fetch("GET", &mirror.url("/pypi/files/nosuch-1.0-py3-none-any.whl"), None, None).status, 404);
    // pip follows the redirect for a name written differently.
    let v = Venv::new();
    v.pip_install(&["--index-url", &index, "FOO_bar"]).ok();
    assert_eq!(v.installed(), versions(&[("foo-bar", "1.0")]));
}

#[test]
fn bundles_merge_on_the_mirror() {
    let gap = Gap::new();
    let idx = standin(&gap.path("up"));
    let http = idx.serve();
    let url = http.url();
    let one = manifest(&gap, "one", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["lib==1.0"], &[])]);
    let two = manifest(&gap, "two", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["lib==1.2", "oldpy"], &[])]);
    carry(&gap, &one, "one");
    let mirror = Mirror::start(&gap.store());
    // The second import goes through the running server.
    carry(&gap, &two, "two");
    drop(http);
    let index = simple(&mirror);
    let page = fetch("GET", &format!("{index}lib/"), Some("application/vnd.pypi.simple.v1+json"), None).json();
    let files: BTreeSet<String> = page["files"].as_array().unwrap_or_else(|| panic!("{page}")).iter().map(|f| f["filename"].as_str().unwrap().to_string()).collect();
    assert_eq!(files, set(&["lib-1.0-py3-none-any.whl", "lib-1.2-py2.py3-none-any.whl"]), "{page}");
    let list = fetch("GET", &index, Some("application/vnd.pypi.simple.v1+json"), None).json();
    let names: BTreeSet<String> = list["projects"].as_array().unwrap().iter().map(|p| normalize(p["name"].as_str().unwrap())).collect();
    assert_eq!(names, set(&["lib", "oldpy"]));
    let old = Venv::new();
    old.pip_install(&["--index-url", &index, "lib==1.0"]).ok();
    assert_eq!(old.installed(), versions(&[("lib", "1.0")]));
    let new = Venv::new();
    new.uv_install(&["--no-config", "--index-url", &index, "lib", "oldpy"], &[]).ok();
    assert_eq!(new.installed(), versions(&[("lib", "1.2"), ("oldpy", "1.0")]), "the newest wins");
    // Re-importing a bundle changes nothing.
    gap.import(&gap.path("one.bundle")).ok();
    let again = fetch("GET", &format!("{index}lib/"), Some("application/vnd.pypi.simple.v1+json"), None).json();
    assert_eq!(again["files"].as_array().unwrap().len(), 2, "{again}");
}

#[test]
fn client_config_pip_and_uv() {
    let gap = Gap::new();
    let idx = standin(&gap.path("up"));
    let http = idx.serve();
    let url = http.url();
    let m = manifest(&gap, "cfg", "[linux/amd64]", &[entry(Some(&url), &["3.11"], &["oldpy", "Foo.Bar"], &[])]);
    carry(&gap, &m, "cfg");
    drop(http);
    let mirror = Mirror::start(&gap.store());
    let base = mirror.url("");
    let index = simple(&mirror);

    let pip_conf = gap.mirror(&["client-config", "pip", "--url", &base]).ok().stdout;
    assert!(pip_conf.contains("[global]") && pip_conf.lines().any(|l| l.replace(' ', "") == format!("index-url={index}")), "pip.conf:\n{pip_conf}");
    let uv_out = gap.mirror(&["client-config", "uv", "--url", &base]).ok().stdout;
    assert!(uv_out.contains("[[index]]") && uv_out.contains(&format!("url = \"{index}\"")) && uv_out.contains("default = true"), "uv.toml:\n{uv_out}");
    // The environment alternative: UV_INDEX_URL (the brief's name) or UV_DEFAULT_INDEX (uv ≥ 0.4's
    // name for it), wherever the output shows it.
    let (env_name, env_url) = ["UV_INDEX_URL", "UV_DEFAULT_INDEX"]
        .iter()
        .find_map(|n| {
            let at = uv_out.find(&format!("{n}="))?;
            let v = uv_out[at + n.len() + 1..].split_whitespace().next()?;
            Some((*n, v.trim_matches(|c| c == '"' || c == '\'').to_string()))
        })
        .unwrap_or_else(|| panic!("no UV_INDEX_URL= or UV_DEFAULT_INDEX= in:\n{uv_out}"));
    assert_eq!(env_url, index);

    let out = gap.path("cfg-out");
    gap.mirror(&["client-config", "pip", "--url", &base, "--out", &s(&out)]).ok();
    gap.mirror(&["client-config", "uv", "--url", &base, "--out", &s(&out)]).ok();
    let (pip_file, uv_file) = (out.join("pip/pip.conf"), out.join("uv/uv.toml"));
    assert!(
        pip_file.exists() && uv_file.exists(),
        "--out writes pip/pip.conf and uv/uv.toml: {:?}",
        files_in(&out.join("pip")).union(&files_in(&out.join("uv"))).collect::<Vec<_>>()
    );
    toml::from_str::<toml::Value>(&std::fs::read_to_string(&uv_file).unwrap()).unwrap_or_else(|e| panic!("uv.toml is not TOML: {e}"));

    let expect = versions(&[("oldpy", "1.0"), ("foo-bar", "1.0")]);
    // pip with nothing but the written pip.conf.
    let v = Venv::new();
    v.pip_install_env(&["oldpy", "Foo.Bar"], &[("PIP_CONFIG_FILE", pip_file.to_str().unwrap())]).ok();
    assert_eq!(v.installed(), expect, "pip with {}", pip_file.display());
    // uv with the written uv.toml, and with the printed environment line.
    let u = Venv::new();
    u.uv_install(&["--config-file", uv_file.to_str().unwrap(), "oldpy", "Foo.Bar"], &[]).ok();
    assert_eq!(u.installed(), expect, "uv with {}", uv_file.display());
    let e = Venv::new();
    e.uv_install(&["--no-config", "oldpy", "Foo.Bar"], &[(env_name, &env_url)]).ok();
    assert_eq!(e.installed(), expect, "uv with {env_name}={env_url}");
}

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
