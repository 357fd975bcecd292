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

mod requirements;
mod serving;

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
