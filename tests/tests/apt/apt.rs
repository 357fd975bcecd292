//! Debian packages end to end: a signed stand-in archive (dpkg-deb, dpkg-scanpackages, gpg),
//! bundled, imported and served by the mirror, and read back by a real apt-get whose whole
//! state lives in a temp dir. The bundler's closure is compared with the one apt-get itself
//! downloads from the same upstream.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::apt::{bare_sha256, installed, lock_debs, source_line, FetchedDeb};
use e2e::{run, snapshot, AptClient, AptRepo, AptRepoBuilder, DebSpec, Gap, Mirror, Signer};

type Id = (String, String, String);

fn ids(debs: &[FetchedDeb]) -> BTreeSet<Id> {
    debs.iter().map(FetchedDeb::id).collect()
}

fn id(p: &str, v: &str, a: &str) -> Id {
    (p.into(), v.into(), a.into())
}

/// Both architectures of an arch-specific package (contents differ per arch).
fn both(spec: DebSpec) -> [DebSpec; 2] {
    let mut arm = spec.clone();
    arm.arch = "arm64".into();
    arm.payload = format!("{} {} arm64\n", spec.package, spec.version);
    [spec, arm]
}

/// The dependency universe the closure tests resolve: every relation kind apt knows.
fn universe() -> Vec<DebSpec> {
    let mut v = Vec::new();
    // app: Depends with versions and epochs, alternatives, virtuals, :any, an `all` package;
    // Pre-Depends; Recommends that must not be followed.
    v.extend(both(
        DebSpec::new("app", "1.0-1", "amd64")
            .pre_depends("pre")
            .depends("libfoo (>= 1:0.5), alt-a | alt-b, nothere | alt-c, mail-transport, virt (>= 2.0), helper:any, tool, data (= 1.0), libbar (>= 2.0~)")
            .recommends("rec"),
    ));
    v.extend(both(DebSpec::new("pre", "1.0", "amd64")));
    // Epochs: 1:0.9-1 is newer than 1.0-1 (epoch 0), and the only one satisfying `>= 1:0.5`.
    v.extend(both(DebSpec::new("libfoo", "1.0-1", "amd64")));
    v.extend(both(DebSpec::new("libfoo", "1:0.9-1", "amd64").depends("libbase")));
    v.extend(both(DebSpec::new("libbase", "3.0", "amd64")));
    v.extend(both(DebSpec::new("alt-a", "1.0", "amd64")));
    v.extend(both(DebSpec::new("alt-b", "1.0", "amd64")));
    v.extend(both(DebSpec::new("alt-c", "1.0", "amd64")));
    // A virtual package with one provider.
    v.extend(both(DebSpec::new("mailer", "4.0", "amd64").provides("mail-transport")));
    // Versioned Provides: only virt-new satisfies `virt (>= 2.0)`.
    v.extend(both(DebSpec::new("virt-old", "1.0", "amd64").provides("virt")));
    v.extend(both(DebSpec::new("virt-new", "1.0", "amd64").provides("virt (= 2.0)")));
    // Multi-Arch.
    v.extend(both(DebSpec::new("helper", "1.0", "amd64").multi_arch("allowed")));
    v.extend(both(DebSpec::new("tool", "1.0", "amd64").multi_arch("foreign")));
    v.push(DebSpec::new("data", "1.0", "all").multi_arch("foreign"));
    // `~` sorts before everything: 2.0~rc1 << 2.0, so `<< 2.0` selects the older one (legacy)
    // and `>= 2.0~` takes the newest (app).
    v.extend(both(DebSpec::new("legacy", "1.0", "amd64").depends("libbar (<< 2.0)")));
    v.extend(both(DebSpec::new("libbar", "2.0~rc1-1", "amd64")));
    v.extend(both(DebSpec::new("libbar", "2.0-1", "amd64")));
    v.extend(both(DebSpec::new("rec", "1.0", "amd64")));
    // Not asked for by anything.
    v.extend(both(DebSpec::new("unrelated", "1.0", "amd64")));
    v
}

fn standin(dir: &Path, specs: Vec<DebSpec>) -> AptRepo {
    AptRepoBuilder::new(dir).origin("Distro").debs(specs).build()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| !s.contains("State:\tZ"))
}

/// gpg-agents still running for a GNUPGHOME.
fn agents_for(home: &Path) -> usize {
    let needle = home.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("gpg-agent") && c.contains(&needle))
        .count()
}

/// What apt-get downloads for `app` from the universe (recommends off).
fn universe_closure(arch: &str) -> BTreeSet<Id> {
    let mut s: BTreeSet<Id> = [
        ("app", "1.0-1"),
        ("pre", "1.0"),
        ("libfoo", "1:0.9-1"),
        ("libbase", "3.0"),
        ("alt-a", "1.0"),
        ("alt-c", "1.0"),
        ("mailer", "4.0"),
        ("virt-new", "1.0"),
        ("helper", "1.0"),
        ("tool", "1.0"),
        ("libbar", "2.0-1"),
    ]
    .into_iter()
    .map(|(p, v)| id(p, v, arch))
    .collect();
    s.insert(id("data", "1.0", "all"));
    s
}

#[test]
fn standin_repo_serves_apt_get() {
    let t = tempfile::tempdir().unwrap();
    let repo = standin(&t.path().join("up"), universe());
    let http = repo.serve();
    let apt = AptClient::new();
    apt.set_source(&repo.keyring(), &http.url(), "stable", &["main"]);
    apt.update().clean();
    assert!(http.requests().iter().any(|r| r == "/dists/stable/InRelease"), "{:?}", http.requests());

    // The closure, byte for byte as upstream's.
    let got = apt.install_download_only(&["app"]);
    assert_eq!(ids(&got), universe_closure("amd64"));
    for d in &got {
        assert_eq!(d.sha256, repo.deb(&d.package, &d.version, &d.arch).sha256, "{} as upstream", d.file);
    }
    // Recommends are what the flag says.
    let with_rec = apt.install_download_only_with(&["app"], &["-o", "APT::Install-Recommends=true"]);
    assert!(ids(&with_rec).contains(&id("rec", "1.0", "amd64")), "{:?}", ids(&with_rec));
    // apt's resolver never picks a non-candidate version itself: `legacy` needs the pin.
    let r = apt.apt_get(&["install", "-s", "legacy"]).fails();
    assert!(r.stdout.contains("libbar"), "{}", r.stdout);
    assert_eq!(ids(&apt.install_download_only(&["legacy", "libbar=2.0~rc1-1"])), [id("legacy", "1.0", "amd64"), id("libbar", "2.0~rc1-1", "amd64")].into_iter().collect());
    // apt-get download, another architecture, a deb822 source.
    let dl = apt.download(&["libfoo=1.0-1", "data"], &t.path().join("dl"));
    assert_eq!(ids(&dl), [id("data", "1.0", "all"), id("libfoo", "1.0-1", "amd64")].into_iter().collect());
    let arm = AptClient::for_arch("arm64");
    let sources = t.path().join("standin.sources");
    std::fs::write(&sources, format!("Types: deb\nURIs: {}\nSuites: stable\nComponents: main\nSigned-By: {}\n", http.url(), repo.armored_key().display())).unwrap();
    arm.set_deb822(&sources);
    arm.update().clean();
    assert_eq!(ids(&arm.install_download_only(&["app"])), universe_closure("arm64"));

    // Another repo's key: apt warns and uses nothing.
    let other = standin(&t.path().join("other"), vec![DebSpec::new("x", "1", "all")]);
    let stranger = AptClient::new();
    stranger.set_source(&other.keyring(), &http.url(), "stable", &["main"]);
    let u = stranger.update();
    assert!(u.problem_text().contains("NO_PUBKEY") && u.problem_text().contains(repo.signer.key_id()), "{u:?}");
    stranger.apt_get(&["install", "-s", "app"]).fails();

    // A Release signed by a key nobody trusts.
    let rogue = e2e::Signer::new("Rogue");
    repo.resign_with(&rogue);
    let u = AptClient::new();
    u.set_source(&repo.keyring(), &http.url(), "stable", &["main"]);
    let up = u.update();
    assert!(up.problem_text().contains(rogue.key_id()), "{up:?}");
    repo.publish();

    // A Packages index changed after signing.
    repo.tamper_packages("main", "amd64");
    let fresh = AptClient::new();
    fresh.set_source(&repo.keyring(), &http.url(), "stable", &["main"]);
    let up = fresh.update();
    assert!(up.problem_text().to_lowercase().contains("hash sum mismatch") || up.problem_text().contains("File has unexpected size"), "{up:?}");
    repo.publish();

    // A deb changed after indexing.
    let new_sha = repo.tamper_deb("alt-a", "1.0", "amd64");
    let fresh = AptClient::new();
    fresh.set_source(&repo.keyring(), &http.url(), "stable", &["main"]);
    fresh.update().clean();
    let r = fresh.apt_get_in(t.path(), &["download", "alt-a"]).fails();
    assert!(format!("{}{}", r.stdout, r.stderr).to_lowercase().contains("hash sum mismatch"), "{r:?}");
    assert_eq!(std::fs::metadata(repo.root.join(&repo.deb("alt-a", "1.0", "amd64").filename)).unwrap().len(), repo.deb("alt-a", "1.0", "amd64").size, "same size");
    assert_ne!(new_sha, repo.deb("alt-a", "1.0", "amd64").sha256);

    // Everything started is stopped on drop.
    let (pid, home) = (http.server.pid(), repo.signer.gnupghome().to_path_buf());
    assert!(agents_for(&home) <= 1);
    drop(http);
    drop(repo);
    assert!(!alive(pid), "http.server {pid} still running");
    assert_eq!(agents_for(&home), 0, "gpg-agent for {} still running", home.display());
    drop(rogue);
}

// ---- Part B: the bundler and the mirror against the stand-in.

/// One `apt:` entry of a manifest.
struct Entry<'a> {
    url: &'a str,
    id: &'a str,
    /// `None`: no keyring line (with `extra: "trusted: true"`).
    keyring: Option<&'a Path>,
    packages: &'a [&'a str],
    /// More YAML lines of the entry (`exclude_installed: required`, `trusted: true`, ...).
    extra: &'a [&'a str],
    suite: &'a str,
    components: &'a [&'a str],
}

impl<'a> Entry<'a> {
    fn new(url: &'a str, id: &'a str, keyring: &'a Path, packages: &'a [&'a str]) -> Entry<'a> {
        Entry { url, id, keyring: Some(keyring), packages, extra: &[], suite: "stable", components: &["main"] }
    }
    fn yaml(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap();
        let mut y = format!("  - source: {}\n    id: {}\n    suite: {}\n    components: [{}]\n", q(self.url), self.id, self.suite, self.components.join(", "));
        if let Some(k) = self.keyring {
            y.push_str(&format!("    keyring: {}\n", q(&k.display().to_string())));
        }
        y.push_str(&format!("    packages: [{}]\n", self.packages.iter().map(|p| q(p)).collect::<Vec<_>>().join(", ")));
        for l in self.extra {
            y.push_str(&format!("    {l}\n"));
        }
        y
    }
}

fn manifest(gap: &Gap, name: &str, platforms: &str, entries: &[Entry]) -> PathBuf {
    let body: String = entries.iter().map(Entry::yaml).collect();
    gap.write(&format!("{name}.yaml"), &format!("name: {name}\nplatforms: {platforms}\napt:\n{body}"))
}

/// The `[[deb]]` entries of a lock file.
fn locked(lock: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(lock).unwrap_or_else(|e| panic!("{}: {e}", lock.display()));
    let debs = lock_debs(&text);
    for d in &debs {
        for f in ["kind", "name", "source", "package", "version", "architecture", "filename", "sha256", "size", "suite", "component"] {
            assert!(d.contains_key(f), "[[deb]] entry without `{f}`: {d:?}\n{text}");
        }
        assert_eq!(d["kind"], "deb", "{d:?}");
    }
    debs
}

fn locked_ids(lock: &Path) -> BTreeSet<Id> {
    let debs = locked(lock);
    let set: BTreeSet<Id> = debs.iter().map(|d| id(&d["package"], &d["version"], &d["architecture"])).collect();
    assert_eq!(set.len(), debs.len(), "a deb locked twice: {debs:?}");
    set
}

/// `bundler lock` of `m` into its own lock file; returns the locked (package, version, arch).
fn lock_ids(gap: &Gap, m: &Path, lock: &str) -> BTreeSet<Id> {
    let l = gap.path(lock);
    gap.bundler(&["lock", m.to_str().unwrap(), "--lock", l.to_str().unwrap()]).ok();
    locked_ids(&l)
}

/// `bundler create M --key K --out OUT --lock LOCK` (a lock of its own), asserting success.
fn create_with_lock(gap: &Gap, m: &Path, out: &str, lock: &str) -> PathBuf {
    let (o, l) = (gap.path(out), gap.path(lock));
    gap.bundler(&["create", m.to_str().unwrap(), "--key", gap.key().to_str().unwrap(), "--out", o.to_str().unwrap(), "--lock", l.to_str().unwrap()]).ok();
    o
}

fn client(keyring: &Path, url: &str) -> AptClient {
    let apt = AptClient::new();
    apt.set_source(keyring, url, "stable", &["main"]);
    apt
}

fn curl_to(url: &str, out: &Path) {
    run(Command::new("curl").args(["-sSf", "--max-time", "20", "-o", out.to_str().unwrap(), url])).ok();
}

fn stderr_has(r: &e2e::Run, words: &[&str]) {
    let low = r.stderr.to_lowercase();
    for w in words {
        assert!(low.contains(&w.to_lowercase()), "`{}`: error should mention {w:?}:\nstderr: {}\nstdout: {}", r.cmdline, r.stderr, r.stdout);
    }
}

fn stderr_has_any(r: &e2e::Run, words: &[&str]) {
    let low = r.stderr.to_lowercase();
    assert!(words.iter().any(|w| low.contains(&w.to_lowercase())), "`{}`: error should mention one of {words:?}:\nstderr: {}\nstdout: {}", r.cmdline, r.stderr, r.stdout);
}

#[test]
fn closure_equals_apt_gets() {
    let gap = Gap::new();
    let mut specs = universe();
    specs.extend(both(DebSpec::new("pinned", "1.2-3", "amd64")));
    specs.extend(both(DebSpec::new("pinned", "1.3-1", "amd64")));
    let repo = standin(&gap.path("up"), specs);
    let http = repo.serve();
    let url = http.url();

    // amd64: app, an exact pin, a version floor on a package app's alternative did not choose.
    let pkgs = ["app", "pinned (= 1.2-3)", "alt-b (>= 1.0)"];
    let m = manifest(&gap, "closure", "[linux/amd64]", &[Entry::new(&url, "standin", &repo.keyring(), &pkgs)]);
    let ours = lock_ids(&gap, &m, "amd64.lock");
    let apt = client(&repo.keyring(), &url);
    apt.update().clean();
    let theirs = ids(&apt.install_download_only(&["app", "pinned=1.2-3", "alt-b"]));
    assert_eq!(ours, theirs, "bundler's closure (left) differs from apt-get's (right)");
    assert!(!ours.contains(&id("rec", "1.0", "amd64")), "Recommends are not followed by default");
    let lock = locked(&gap.path("amd64.lock"));
    for d in &lock {
        let up = repo.deb(&d["package"], &d["version"], &d["architecture"]);
        assert_eq!(bare_sha256(&d["sha256"]), up.sha256, "{d:?}");
        assert_eq!(d["filename"], up.filename, "{d:?}");
        assert_eq!(d["size"], up.size.to_string(), "{d:?}");
        assert_eq!((d["suite"].as_str(), d["component"].as_str()), ("stable", "main"), "{d:?}");
    }

    // Both platforms: the union of an amd64 and an arm64 apt-get, `all` once.
    let m2 = manifest(&gap, "closure2", "[linux/amd64, linux/arm64]", &[Entry::new(&url, "standin", &repo.keyring(), &["app"])]);
    let ours = lock_ids(&gap, &m2, "both.lock");
    let arm = AptClient::for_arch("arm64");
    arm.set_source(&repo.keyring(), &url, "stable", &["main"]);
    arm.update().clean();
    let mut theirs = ids(&apt.install_download_only(&["app"]));
    theirs.extend(ids(&arm.install_download_only(&["app"])));
    assert_eq!(ours, theirs, "two platforms: bundler (left) vs apt-get amd64 ∪ arm64 (right)");

    // Recommends on request.
    let m3 = manifest(&gap, "closure3", "[linux/amd64]", &[Entry { extra: &["recommends: true"], ..Entry::new(&url, "standin", &repo.keyring(), &["app"]) }]);
    let ours = lock_ids(&gap, &m3, "rec.lock");
    let theirs = ids(&apt.install_download_only_with(&["app"], &["-o", "APT::Install-Recommends=true"]));
    assert_eq!(ours, theirs, "with recommends: bundler (left) vs apt-get (right)");
}

/// `legacy` depends on `libbar (<< 2.0)`; the archive has libbar 2.0~rc1-1 and 2.0-1. The
/// bundle must carry the older one, the only one that satisfies it (the contract: a dependency
/// selecting the older version with `<<`). apt-get's resolver only ever considers a package's
/// candidate (newest) version, so it needs `libbar=2.0~rc1-1` on its command line to get there;
/// with it, both closures must be equal.
#[test]
fn dependency_selects_an_older_version() {
    let gap = Gap::new();
    let repo = standin(&gap.path("up"), universe());
    let http = repo.serve();
    let url = http.url();
    let m = manifest(&gap, "older", "[linux/amd64]", &[Entry::new(&url, "standin", &repo.keyring(), &["legacy"])]);
    let ours = lock_ids(&gap, &m, "older.lock");
    let apt = client(&repo.keyring(), &url);
    apt.update().clean();
    let theirs = ids(&apt.install_download_only(&["legacy", "libbar=2.0~rc1-1"]));
    assert_eq!(ours, theirs, "bundler (left) vs apt-get (right)");
    // Both versions wanted at once (app: `>= 2.0~` takes the newest): both carried.
    let m = manifest(&gap, "older2", "[linux/amd64]", &[Entry::new(&url, "standin", &repo.keyring(), &["legacy", "libbar (>= 2.0)"])]);
    let ours = lock_ids(&gap, &m, "older2.lock");
    assert!(ours.contains(&id("libbar", "2.0~rc1-1", "amd64")) && ours.contains(&id("libbar", "2.0-1", "amd64")), "{ours:?}");
}

#[test]
fn closure_with_a_baseline_equals_apt_gets() {
    let gap = Gap::new();
    let mut specs = Vec::new();
    specs.extend(both(DebSpec::new("svc", "1.0", "amd64").pre_depends("libc6 (>= 2.30)").depends("base-files, imp, libsvc, shell")));
    specs.extend(both(DebSpec::new("libsvc", "1.0", "amd64").depends("libc6, zlib1g (>= 1:1.2)")));
    specs.extend(both(DebSpec::new("libc6", "2.36-9", "amd64").priority("required").multi_arch("same")));
    specs.extend(both(DebSpec::new("zlib1g", "1:1.2.13-1", "amd64").priority("required").multi_arch("same")));
    specs.extend(both(DebSpec::new("base-files", "12.4", "amd64").priority("required").essential()));
    specs.extend(both(DebSpec::new("dash", "0.5.12-2", "amd64").priority("required").essential().provides("shell")));
    specs.extend(both(DebSpec::new("imp", "1.0", "amd64").priority("important")));
    specs.extend(both(DebSpec::new("extra-tool", "1.0", "amd64").priority("optional")));
    // Essential and required, but nothing asks for it.
    specs.extend(both(DebSpec::new("coreutils", "9.1-1", "amd64").priority("required").essential()));
    let repo = standin(&gap.path("up"), specs);
    let http = repo.serve();
    let url = http.url();
    let required = installed("libc6", "2.36-9", "amd64", &[("Priority", "required"), ("Multi-Arch", "same")])
        + &installed("zlib1g", "1:1.2.13-1", "amd64", &[("Priority", "required"), ("Multi-Arch", "same")])
        + &installed("base-files", "12.4", "amd64", &[("Priority", "required"), ("Essential", "yes")])
        + &installed("dash", "0.5.12-2", "amd64", &[("Priority", "required"), ("Essential", "yes"), ("Provides", "shell")]);
    let important = required.clone() + &installed("imp", "1.0", "amd64", &[("Priority", "important")]);

    for (level, status, expect) in [
        ("none", String::new(), vec!["svc", "libsvc", "libc6", "zlib1g", "base-files", "dash", "imp"]),
        ("required", required, vec!["svc", "libsvc", "imp"]),
        ("important", important, vec!["svc", "libsvc"]),
    ] {
        let line = format!("exclude_installed: {level}");
        let m = manifest(&gap, &format!("base-{level}"), "[linux/amd64]", &[Entry { extra: &[&line], ..Entry::new(&url, "standin", &repo.keyring(), &["svc"]) }]);
        let ours = lock_ids(&gap, &m, &format!("{level}.lock"));
        let apt = client(&repo.keyring(), &url);
        apt.set_status(&status);
        apt.update().clean();
        let theirs = ids(&apt.install_download_only(&["svc"]));
        assert_eq!(ours, theirs, "exclude_installed: {level}: bundler (left) vs apt-get with that dpkg status (right)");
        let names: BTreeSet<&str> = ours.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(names, expect.into_iter().collect(), "exclude_installed: {level}");
    }
}

/// A small universe for the round trips: a library in two versions (newest wins), an `all`
/// package, a virtual one.
fn simple(dir: &Path, origin: &str) -> AptRepo {
    let mut v = Vec::new();
    v.extend(both(DebSpec::new("web", "2.4-1", "amd64").depends("libweb (>= 1.0), web-data, httpd-cgi")));
    v.extend(both(DebSpec::new("libweb", "1.0-1", "amd64")));
    v.extend(both(DebSpec::new("libweb", "1.1-1", "amd64")));
    v.push(DebSpec::new("web-data", "2.4-1", "all"));
    v.extend(both(DebSpec::new("cgi-runner", "0.9", "amd64").provides("httpd-cgi")));
    v.extend(both(DebSpec::new("unrelated", "1.0", "amd64")));
    AptRepoBuilder::new(dir).origin(origin).debs(v).build()
}

fn simple_closure(arch: &str) -> BTreeSet<Id> {
    [id("web", "2.4-1", arch), id("libweb", "1.1-1", arch), id("web-data", "2.4-1", "all"), id("cgi-runner", "0.9", arch)].into_iter().collect()
}

/// The mirror's key, fetched from `/apt/key.gpg`, checked to be a binary OpenPGP key.
fn mirror_key(gap: &Gap, mirror: &Mirror, name: &str) -> PathBuf {
    let key = gap.path(name);
    curl_to(&mirror.url("/apt/key.gpg"), &key);
    let bytes = std::fs::read(&key).unwrap();
    assert!(!bytes.is_empty() && bytes[0] & 0x80 != 0 && !bytes.starts_with(b"-----"), "/apt/key.gpg is not a binary OpenPGP key: {:?}", &bytes[..bytes.len().min(40)]);
    key
}

#[test]
fn round_trip_through_the_gap() {
    let gap = Gap::new();
    let repo = simple(&gap.path("up"), "Distro");
    let http = repo.serve();
    let url = http.url();
    let m = manifest(&gap, "aptdemo", "[linux/amd64, linux/arm64]", &[Entry::new(&url, "standin", &repo.keyring(), &["web"])]);
    gap.lock(&m).ok();
    let carried = locked_ids(&gap.lock_file());
    let mut expect = simple_closure("amd64");
    expect.extend(simple_closure("arm64"));
    assert_eq!(carried, expect);
    let bundle = gap.create(&m, "apt.bundle", &["--locked"]);
    gap.verify(&bundle).ok();
    let info = gap.inspect(&bundle);
    let artifacts = e2e::artifact_names(&info);
    for (p, v, a) in &carried {
        let name = format!("apt/standin/{p}_{v}_{a}.deb");
        assert!(artifacts.contains(&name), "inspect lists {name}: {artifacts:?}");
    }
    gap.import(&bundle).ok();
    // The upstream is gone: everything below comes from the mirror.
    drop(http);
    let mirror = Mirror::start(&gap.store());
    let base = mirror.url("/apt/standin");
    let key = mirror_key(&gap, &mirror, "mirror.gpg");
    let asc = gap.path("mirror.asc");
    curl_to(&mirror.url("/apt/key.asc"), &asc);
    assert!(std::fs::read_to_string(&asc).unwrap().contains("BEGIN PGP PUBLIC KEY BLOCK"), "/apt/key.asc is armored");

    // The index files apt may ask for, and the Release signatures checked with gpgv.
    let dists = gap.path("dists");
    std::fs::create_dir_all(&dists).unwrap();
    for f in
        ["InRelease", "Release", "Release.gpg", "main/binary-amd64/Packages", "main/binary-amd64/Packages.gz", "main/binary-amd64/Packages.xz", "main/binary-arm64/Packages.xz"]
    {
        assert_eq!(e2e::http_status(&format!("{base}/dists/stable/{f}")), 200, "{base}/dists/stable/{f}");
    }
    curl_to(&format!("{base}/dists/stable/Release"), &dists.join("Release"));
    curl_to(&format!("{base}/dists/stable/Release.gpg"), &dists.join("Release.gpg"));
    run(Command::new("gpgv").arg("--keyring").arg(&key).arg(dists.join("Release.gpg")).arg(dists.join("Release"))).ok();
    let web = repo.deb("web", "2.4-1", "amd64");
    let served = gap.path("web.deb");
    curl_to(&format!("{base}/{}", web.filename), &served);
    assert_eq!(e2e::apt::FetchedDeb::read(&served).sha256, web.sha256, "{base}/{} is upstream's", web.filename);

    // apt-get with a one-line source: clean update, the closure, every carried deb.
    let apt = client(&key, &format!("{base}/"));
    apt.update().clean();
    let got = apt.install_download_only(&["web"]);
    assert_eq!(ids(&got), simple_closure("amd64"));
    for d in &got {
        assert_eq!(d.sha256, repo.deb(&d.package, &d.version, &d.arch).sha256, "{} as upstream", d.file);
    }
    let arm = AptClient::for_arch("arm64");
    arm.set_source(&key, &format!("{base}/"), "stable", &["main"]);
    arm.update().clean();
    for (c, arch, dir) in [(&apt, "amd64", "dl-amd64"), (&arm, "arm64", "dl-arm64")] {
        let want: Vec<String> = carried.iter().filter(|(_, _, a)| a == arch || (a == "all" && arch == "amd64")).map(|(p, v, _)| format!("{p}={v}")).collect();
        let want: Vec<&str> = want.iter().map(String::as_str).collect();
        let got = c.download(&want, &gap.path(dir));
        assert_eq!(got.len(), want.len(), "{arch}: {want:?} → {got:?}");
        for d in &got {
            assert_eq!(d.sha256, repo.deb(&d.package, &d.version, &d.arch).sha256, "{} as upstream", d.file);
        }
    }
    // The version not carried is not offered.
    apt.apt_get_in(&gap.path("dl-amd64"), &["download", "libweb=1.0-1"]).fails();

    // client-config apt: a deb822 file with the key inline, and the binary key.
    let cfg = gap.path("cfg");
    gap.mirror(&["client-config", "apt", "--url", &mirror.url(""), "--out", cfg.to_str().unwrap()]).ok();
    let sources = cfg.join("apt/mirror.sources");
    let text = std::fs::read_to_string(&sources).unwrap_or_else(|e| panic!("{}: {e}", sources.display()));
    for needle in ["Types: deb", &format!("URIs: {base}"), "Suites: stable", "Components: main", "Signed-By:", "BEGIN PGP PUBLIC KEY BLOCK"] {
        assert!(text.contains(needle), "mirror.sources lacks {needle:?}:\n{text}");
    }
    let printed = gap.mirror(&["client-config", "apt", "--url", &mirror.url("")]).ok();
    assert!(printed.stdout.contains(&format!("URIs: {base}")) && printed.stdout.contains("BEGIN PGP PUBLIC KEY BLOCK"), "{}", printed.stdout);
    let deb822 = AptClient::new();
    deb822.set_deb822(&sources);
    deb822.update().clean();
    assert_eq!(ids(&deb822.install_download_only(&["web"])), simple_closure("amd64"));
    let via_gpg = client(&cfg.join("apt/mirror.gpg"), &format!("{base}/"));
    via_gpg.update().clean();

    // The upstream's key is not the mirror's: apt refuses the index.
    let wrong = client(&repo.keyring(), &format!("{base}/"));
    let u = wrong.update();
    let text = u.problem_text();
    assert!(text.contains("NO_PUBKEY") || text.to_lowercase().contains("signature"), "{u:?}");
    wrong.apt_get(&["install", "-s", "web"]).fails();
}

#[test]
fn two_sources_form_one_universe() {
    let gap = Gap::new();
    let distro = AptRepoBuilder::new(&gap.path("distro"))
        .origin("Distro")
        .debs(both(DebSpec::new("libdist", "1.0", "amd64")))
        .debs(both(DebSpec::new("libshared", "1.0", "amd64")))
        .deb(DebSpec::new("common", "3", "all"))
        .build();
    let vendor = AptRepoBuilder::new(&gap.path("vendor"))
        .origin("Vendor")
        .debs(both(DebSpec::new("vendorapp", "5.0", "amd64").depends("libdist (>= 1.0), libshared (>= 1.0)")))
        .debs(both(DebSpec::new("libshared", "2.0", "amd64")))
        .build();
    assert_ne!(distro.signer.fingerprint, vendor.signer.fingerprint);
    let (dh, vh) = (distro.serve(), vendor.serve());
    let (du, vu) = (dh.url(), vh.url());
    let m = manifest(&gap, "two", "[linux/amd64]", &[Entry::new(&du, "distro", &distro.keyring(), &["common"]), Entry::new(&vu, "vendor", &vendor.keyring(), &["vendorapp"])]);
    gap.lock(&m).ok();
    let debs = locked(&gap.lock_file());
    let expect: BTreeSet<Id> = [id("common", "3", "all"), id("libdist", "1.0", "amd64"), id("libshared", "2.0", "amd64"), id("vendorapp", "5.0", "amd64")].into_iter().collect();
    assert_eq!(locked_ids(&gap.lock_file()), expect, "highest libshared wins across sources");
    // Upstream apt-get with both sources agrees.
    let up = AptClient::new();
    up.set_sources_list(&[source_line(&distro.keyring(), &du, "stable", &["main"]), source_line(&vendor.keyring(), &vu, "stable", &["main"])]);
    up.update().clean();
    assert_eq!(ids(&up.install_download_only(&["common", "vendorapp"])), expect);
    for d in &debs {
        let from_vendor = matches!(d["package"].as_str(), "vendorapp" | "libshared");
        let origin = if from_vendor { &vendor } else { &distro };
        assert_eq!(bare_sha256(&d["sha256"]), origin.deb(&d["package"], &d["version"], &d["architecture"]).sha256, "{d:?}");
    }

    let bundle = gap.create(&m, "two.bundle", &["--locked"]);
    let artifacts = e2e::artifact_names(&gap.inspect(&bundle));
    for a in ["apt/distro/common_3_all.deb", "apt/distro/libdist_1.0_amd64.deb", "apt/vendor/libshared_2.0_amd64.deb", "apt/vendor/vendorapp_5.0_amd64.deb"] {
        assert!(artifacts.iter().any(|x| x == a), "inspect lists {a}: {artifacts:?}");
    }
    gap.import(&bundle).ok();
    drop((dh, vh));
    let mirror = Mirror::start(&gap.store());
    let key = mirror_key(&gap, &mirror, "mirror.gpg");
    for (idd, f) in [("distro", &distro.deb("libdist", "1.0", "amd64").filename), ("vendor", &vendor.deb("libshared", "2.0", "amd64").filename)] {
        assert_eq!(e2e::http_status(&mirror.url(&format!("/apt/{idd}/{f}"))), 200, "/apt/{idd}/{f}");
    }
    assert_ne!(e2e::http_status(&mirror.url(&format!("/apt/distro/{}", vendor.deb("libshared", "2.0", "amd64").filename))), 200, "vendor's deb is not served under distro");
    let apt = AptClient::new();
    apt.set_sources_list(&[source_line(&key, &mirror.url("/apt/distro"), "stable", &["main"]), source_line(&key, &mirror.url("/apt/vendor"), "stable", &["main"])]);
    apt.update().clean();
    let got = apt.install_download_only(&["vendorapp", "common"]);
    assert_eq!(ids(&got), expect);
    let policy = apt.apt_cache(&["policy", "libshared", "libdist"]).ok().stdout;
    assert!(policy.contains(&mirror.url("/apt/vendor")) && policy.contains(&mirror.url("/apt/distro")), "{policy}");
}

#[test]
fn bundles_of_one_source_merge() {
    let gap = Gap::new();
    let mut repo =
        AptRepoBuilder::new(&gap.path("up")).archs(&["amd64"]).debs([DebSpec::new("alpha", "1.0", "amd64"), DebSpec::new("beta", "1.0", "amd64").depends("alpha")]).build();
    let http = repo.serve();
    let url = http.url();
    let old_alpha = repo.deb("alpha", "1.0", "amd64").clone();
    let m1 = manifest(&gap, "first", "[linux/amd64]", &[Entry::new(&url, "standin", &repo.keyring(), &["beta"])]);
    let b1 = gap.create(&m1, "first.bundle", &[]);
    // Upstream moves on: alpha 2.0 replaces 1.0, gamma appears.
    repo.add(DebSpec::new("alpha", "2.0", "amd64"));
    repo.add(DebSpec::new("gamma", "1.0", "amd64").depends("alpha (>= 2.0)"));
    repo.remove("alpha", "1.0", "amd64");
    repo.publish();
    let m2 = manifest(&gap, "second", "[linux/amd64]", &[Entry::new(&url, "standin", &repo.keyring(), &["gamma"])]);
    gap.bundler(&["lock", m2.to_str().unwrap(), "--lock", gap.path("second.lock").to_str().unwrap()]).ok();
    let b2 = gap.path("second.bundle");
    gap.bundler(&[
        "create",
        m2.to_str().unwrap(),
        "--key",
        gap.key().to_str().unwrap(),
        "--out",
        b2.to_str().unwrap(),
        "--lock",
        gap.path("second.lock").to_str().unwrap(),
        "--locked",
    ])
    .ok();
    gap.import(&b1).ok();
    let mirror = Mirror::start(&gap.store());
    // The second import goes through the running server.
    gap.import(&b2).ok();
    let key = mirror_key(&gap, &mirror, "mirror.gpg");
    let apt = client(&key, &mirror.url("/apt/standin"));
    apt.update().clean();
    let madison = apt.apt_cache(&["madison", "alpha"]).ok().stdout;
    assert!(madison.contains("1.0") && madison.contains("2.0"), "both versions of alpha offered:\n{madison}");
    let got = apt.download(&["alpha=1.0", "alpha=2.0", "beta", "gamma"], &gap.path("dl"));
    let expect: BTreeSet<Id> = [id("alpha", "1.0", "amd64"), id("alpha", "2.0", "amd64"), id("beta", "1.0", "amd64"), id("gamma", "1.0", "amd64")].into_iter().collect();
    assert_eq!(ids(&got), expect);
    for d in &got {
        let want = if d.version == "1.0" && d.package == "alpha" { old_alpha.sha256.clone() } else { repo.deb(&d.package, &d.version, &d.arch).sha256.clone() };
        assert_eq!(d.sha256, want, "{} as upstream", d.file);
    }
    // The newest wins for a fresh install.
    assert_eq!(ids(&apt.install_download_only(&["beta"])), [id("alpha", "2.0", "amd64"), id("beta", "1.0", "amd64")].into_iter().collect());
}

// ---- bad input: refused with a message naming what is wrong, and no bundle written.

/// `bundler lock` and `bundler create` both fail on `m`; nothing is written at --out.
fn refused(gap: &Gap, m: &Path) -> (e2e::Run, e2e::Run) {
    let lock = gap.path("refused.lock");
    let l = gap.bundler(&["lock", m.to_str().unwrap(), "--lock", lock.to_str().unwrap()]).fails();
    assert!(!lock.exists(), "no lock written on error: {}", l.stderr);
    let out = gap.path("refused.bundle");
    let c = gap.bundler(&["create", m.to_str().unwrap(), "--key", gap.key().to_str().unwrap(), "--out", out.to_str().unwrap(), "--lock", lock.to_str().unwrap()]).fails();
    assert!(!out.exists(), "no bundle written on error: {}", c.stderr);
    (l, c)
}

#[test]
fn release_signed_by_an_unknown_key_is_refused() {
    let gap = Gap::new();
    let repo = simple(&gap.path("up"), "Distro");
    let http = repo.serve();
    let url = http.url();
    let release_url = format!("{url}dists/stable/");
    // The right archive checked against another archive's key.
    let other = simple(&gap.path("other"), "Other");
    let m = manifest(&gap, "wrongkey", "[linux/amd64]", &[Entry::new(&url, "standin", &other.keyring(), &["web"])]);
    for r in <[e2e::Run; 2]>::from(refused(&gap, &m)) {
        stderr_has(&r, &["signature", &release_url]);
    }
    // The archive's Release signed by a key nobody gave (the keyring is the archive's own).
    let rogue = Signer::new("Rogue");
    repo.resign_with(&rogue);
    let m = manifest(&gap, "rogue", "[linux/amd64]", &[Entry::new(&url, "standin", &repo.keyring(), &["web"])]);
    for r in <[e2e::Run; 2]>::from(refused(&gap, &m)) {
        stderr_has(&r, &["signature", &release_url]);
    }
    // An armored keyring is accepted as well, and `trusted: true` is the only way past a check.
    let trusted = manifest(&gap, "trusted", "[linux/amd64]", &[Entry { keyring: None, extra: &["trusted: true"], ..Entry::new(&url, "standin", &repo.keyring(), &["web"]) }]);
    assert_eq!(lock_ids(&gap, &trusted, "trusted.lock"), simple_closure("amd64"));
    create_with_lock(&gap, &trusted, "trusted.bundle", "trusted.lock");
    repo.publish();
    let armored = manifest(&gap, "armored", "[linux/amd64]", &[Entry::new(&url, "standin", &repo.armored_key(), &["web"])]);
    assert_eq!(lock_ids(&gap, &armored, "armored.lock"), simple_closure("amd64"));
}

/// Keys apt refuses — expired, revoked, a signing subkey that expired — sign nothing for
/// `bundler lock` either, though each signed the Release while it was valid: the error names the
/// key and why, and apt-get says the same of the same archive.
#[test]
fn expired_or_revoked_signing_keys_are_refused_as_apt_refuses_them() {
    let gap = Gap::new();
    let archive = |name: &str, signer: Signer| AptRepoBuilder::new(&gap.path(name)).origin(name).signer(signer).deb(DebSpec::new("tool", "1.0", "all")).build();
    // Made in 2020, expired on 2020-12-31; the Release signed in June 2020.
    let expired = archive("expired", Signer::made_at("Expired", "20200101T000000", "1y", "20200601T000000"));
    let revoked = archive("revoked", Signer::new("Revoked"));
    revoked.signer.revoke();
    revoked.signer.export_binary(&revoked.keyring());
    let subkey = archive("subkey", Signer::with_signing_subkey("Subkey", "20200101T000000", "1y", "20200601T000000"));
    let sub_fpr = subkey.signer.subkey.clone().unwrap();
    let cases: [(&AptRepo, Vec<&str>, &str); 3] = [
        (&expired, vec![&expired.signer.fingerprint, "expired on 2020-12-31"], "EXPKEYSIG"),
        (&revoked, vec![&revoked.signer.fingerprint, "revoked"], "REVKEYSIG"),
        (&subkey, vec![&sub_fpr, &subkey.signer.fingerprint, "expired on 2020-12-31"], "EXPKEYSIG"),
    ];
    for (repo, words, apt_says) in cases {
        let http = repo.serve();
        let m = manifest(&gap, &repo.origin.to_lowercase(), "[linux/amd64]", &[Entry::new(&http.url(), "standin", &repo.keyring(), &["tool"])]);
        for r in <[e2e::Run; 2]>::from(refused(&gap, &m)) {
            stderr_has(&r, &words);
            stderr_has(&r, &["signature", &format!("{}dists/stable/InRelease", http.url())]);
        }
        let up = client(&repo.keyring(), &http.url()).update();
        assert!(up.problem_text().contains(apt_says), "apt-get refuses {} too: {up:?}", repo.origin);
    }
    // The same archive and keyring with a key that is valid are fine.
    let valid = archive("valid", Signer::made_at("Valid", "20200101T000000", "never", "20200601T000000"));
    let http = valid.serve();
    let m = manifest(&gap, "valid", "[linux/amd64]", &[Entry::new(&http.url(), "standin", &valid.keyring(), &["tool"])]);
    assert_eq!(lock_ids(&gap, &m, "valid.lock"), [id("tool", "1.0", "all")].into_iter().collect());
    client(&valid.keyring(), &http.url()).update().clean();
}

#[test]
fn packages_hash_mismatch_is_refused() {
    let gap = Gap::new();
    let repo = simple(&gap.path("up"), "Distro");
    repo.tamper_packages("main", "amd64");
    let http = repo.serve();
    let url = http.url();
    let m = manifest(&gap, "tampered", "[linux/amd64]", &[Entry::new(&url, "standin", &repo.keyring(), &["web"])]);
    for r in <[e2e::Run; 2]>::from(refused(&gap, &m)) {
        stderr_has(&r, &["Packages"]);
        stderr_has_any(&r, &["hash", "sha256"]);
    }
}

#[test]
fn deb_differing_from_its_packages_entry_is_refused() {
    let gap = Gap::new();
    let repo = simple(&gap.path("up"), "Distro");
    let http = repo.serve();
    let url = http.url();
    let m = manifest(&gap, "drift", "[linux/amd64]", &[Entry::new(&url, "standin", &repo.keyring(), &["web"])]);
    gap.lock(&m).ok();
    let victim = repo.deb("libweb", "1.1-1", "amd64");
    let file = victim.filename.rsplit('/').next().unwrap().to_string();
    repo.tamper_deb("libweb", "1.1-1", "amd64");
    let out = gap.path("drift.bundle");
    for extra in [&["--locked"][..], &[][..]] {
        let r = gap.try_create(&m, &out, &gap.key(), extra).fails();
        stderr_has(&r, &[&file, "sha256"]);
        assert!(!out.exists(), "no bundle written on error: {}", r.stderr);
    }
    // A deb rebuilt with other contents (another size too) is refused the same way.
    repo.replace_deb("libweb", "1.1-1", "amd64");
    let r = gap.try_create(&m, &out, &gap.key(), &["--locked"]).fails();
    stderr_has(&r, &[&file]);
    assert!(!out.exists(), "no bundle written on error: {}", r.stderr);
}

#[test]
fn damaged_deb_in_a_bundle_is_refused_at_import() {
    let gap = Gap::new();
    let repo = simple(&gap.path("up"), "Distro");
    let http = repo.serve();
    let url = http.url();
    // A store that already serves something a refusal must not touch.
    let base = manifest(&gap, "base", "[linux/amd64]", &[Entry::new(&url, "standin", &repo.keyring(), &["cgi-runner"])]);
    let b = create_with_lock(&gap, &base, "base.bundle", "base.lock");
    gap.import(&b).ok();
    let m = manifest(&gap, "dmg", "[linux/amd64]", &[Entry::new(&url, "standin", &repo.keyring(), &["web"])]);
    let good = gap.create(&m, "good.bundle", &["--compression", "none"]);
    let web = repo.deb("web", "2.4-1", "amd64").sha256.clone();
    let mut bytes = std::fs::read(&good).unwrap();
    let (pos, size) = tar::Archive::new(&bytes[..])
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.path().unwrap().to_string_lossy().ends_with(&web))
        .map(|e| (e.raw_file_position() as usize, e.size() as usize))
        .unwrap_or_else(|| panic!("the bundle carries no blob named by web's sha256 {web}"));
    bytes[pos + size / 2] ^= 0x01;
    let bad = gap.path("bad.bundle");
    std::fs::write(&bad, bytes).unwrap();
    let before = snapshot(&gap.store());
    let r = gap.import(&bad).fails();
    assert!(r.stderr.contains(&web), "names the damaged deb's blob: {}", r.stderr);
    assert_eq!(before, snapshot(&gap.store()), "a refused import leaves the store byte for byte");
    gap.verify(&bad).fails();
    let mirror = Mirror::start(&gap.store());
    let key = mirror_key(&gap, &mirror, "mirror.gpg");
    let apt = client(&key, &mirror.url("/apt/standin"));
    apt.update().clean();
    assert_eq!(ids(&apt.install_download_only(&["cgi-runner"])), [id("cgi-runner", "0.9", "amd64")].into_iter().collect());
    apt.apt_get(&["install", "-s", "web"]).fails();
}

#[test]
fn missing_dependency_names_the_chain() {
    let gap = Gap::new();
    let repo = AptRepoBuilder::new(&gap.path("up"))
        .archs(&["amd64"])
        .debs([
            DebSpec::new("top", "1.0", "amd64").depends("mid"),
            DebSpec::new("mid", "1.0", "amd64").depends("ghost (>= 1.0)"),
            DebSpec::new("old-user", "1.0", "amd64").depends("libold (>= 2.0)"),
            DebSpec::new("libold", "1.0", "amd64"),
        ])
        .build();
    let http = repo.serve();
    let url = http.url();
    let m = manifest(&gap, "ghost", "[linux/amd64]", &[Entry::new(&url, "standin", &repo.keyring(), &["top"])]);
    for r in <[e2e::Run; 2]>::from(refused(&gap, &m)) {
        stderr_has(&r, &["ghost", "mid", "top"]);
    }
    // Present, but too old.
    let m = manifest(&gap, "old", "[linux/amd64]", &[Entry::new(&url, "standin", &repo.keyring(), &["old-user"])]);
    for r in <[e2e::Run; 2]>::from(refused(&gap, &m)) {
        stderr_has(&r, &["libold", "old-user"]);
    }
    // A requested package that does not exist at all.
    let m = manifest(&gap, "nope", "[linux/amd64]", &[Entry::new(&url, "standin", &repo.keyring(), &["nonexistent-pkg"])]);
    for r in <[e2e::Run; 2]>::from(refused(&gap, &m)) {
        stderr_has(&r, &["nonexistent-pkg"]);
    }
}

#[test]
fn locked_create_refuses_a_lock_without_the_debs() {
    let gap = Gap::new();
    let repo = simple(&gap.path("up"), "Distro");
    let http = repo.serve();
    let url = http.url();
    let m = manifest(&gap, "locked", "[linux/amd64]", &[Entry::new(&url, "standin", &repo.keyring(), &["web"])]);
    gap.lock(&m).ok();
    let text = std::fs::read_to_string(gap.lock_file()).unwrap();
    assert!(!lock_debs(&text).is_empty());
    // The same lock with every [[deb]] table (and its sub-tables) cut out.
    let mut kept = String::new();
    let mut skip = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            skip = l.starts_with("[[deb") || l.starts_with("[deb");
        }
        if !skip {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    assert!(lock_debs(&kept).is_empty());
    std::fs::write(gap.lock_file(), kept).unwrap();
    let out = gap.path("x.bundle");
    let r = gap.try_create(&m, &out, &gap.key(), &["--locked"]).fails();
    stderr_has(&r, &["lock"]);
    assert!(!out.exists(), "no bundle written on error: {}", r.stderr);
    // A package added to the manifest after locking is refused too.
    gap.lock(&m).ok();
    let m2 = manifest(&gap, "locked", "[linux/amd64]", &[Entry::new(&url, "standin", &repo.keyring(), &["web", "unrelated"])]);
    let r = gap.try_create(&m2, &out, &gap.key(), &["--locked"]).fails();
    stderr_has(&r, &["lock"]);
    assert!(!out.exists(), "no bundle written on error: {}", r.stderr);
}

/// An archive shaped like Ubuntu 24.04's (suite `noble`, main + universe, amd64 + arm64):
/// Multi-Arch same/foreign/allowed, `:any` dependencies, virtual packages with several
/// providers (with and without a real package of that name), Pre-Depends, Breaks, Conflicts +
/// Replaces, epochs, tildes, `+` suffixes, and packages carried in two versions.
fn noble() -> Vec<DebSpec> {
    let mut v = Vec::new();
    let uni = |s: DebSpec| s.component("universe");
    v.extend(both(
        uni(DebSpec::new("hello-app", "2.1-1ubuntu1", "amd64"))
            .pre_depends("libc6 (>= 2.38), init-system-helpers (>= 1.54~)")
            .depends("python3:any (>= 3.12~), perl:any, libfoo1 (>= 1:2.0~), libzstd1 (>> 1.5.5), default-mta | mail-transport-agent, awk, mailx, java-runtime-headless, tzdata, clock-a | clock-b")
            .field("Breaks", "hello-old (<< 2.0)")
            .priority("optional"),
    ));
    // libc6 and its runtime: Multi-Arch same, a security update newer than the release version.
    v.extend(both(DebSpec::new("libc6", "2.39-0ubuntu8", "amd64").depends("libgcc-s1").multi_arch("same").priority("optional")));
    v.extend(both(
        DebSpec::new("libc6", "2.39-0ubuntu8.3", "amd64").depends("libgcc-s1").multi_arch("same").priority("optional").field("Breaks", "locales (<< 2.39), hello-old (<< 1.0)"),
    ));
    v.extend(both(DebSpec::new("libgcc-s1", "14-20240412-0ubuntu1", "amd64").depends("gcc-14-base (= 14-20240412-0ubuntu1), libc6 (>= 2.35)").multi_arch("same")));
    v.extend(both(DebSpec::new("gcc-14-base", "14-20240412-0ubuntu1", "amd64").multi_arch("same")));
    v.push(DebSpec::new("init-system-helpers", "1.66ubuntu1", "all").multi_arch("foreign").depends("perl-base (>= 5.20.1-3)"));
    // Multi-Arch: allowed, reached through `:any`.
    v.extend(both(DebSpec::new("python3", "3.12.3-0ubuntu1", "amd64").multi_arch("allowed").depends("python3.12 (>= 3.12.3-0~), libpython3-stdlib (= 3.12.3-0ubuntu1)")));
    v.extend(both(DebSpec::new("python3", "3.12.3-0ubuntu2", "amd64").multi_arch("allowed").depends("python3.12 (>= 3.12.3-0~), libpython3-stdlib (= 3.12.3-0ubuntu2)")));
    v.extend(both(DebSpec::new("libpython3-stdlib", "3.12.3-0ubuntu1", "amd64").multi_arch("same")));
    v.extend(both(DebSpec::new("libpython3-stdlib", "3.12.3-0ubuntu2", "amd64").multi_arch("same")));
    v.extend(both(DebSpec::new("python3.12", "3.12.3-1ubuntu0.1", "amd64").multi_arch("allowed")));
    v.extend(both(DebSpec::new("perl", "5.38.2-3.2build2", "amd64").multi_arch("allowed").depends("perl-base (= 5.38.2-3.2build2)")));
    v.extend(both(DebSpec::new("perl-base", "5.38.2-3.2build2", "amd64").essential().priority("required").multi_arch("foreign")));
    // Epochs and tildes: 1:2.0~rc1-1 < 1:2.0-1, and both beat 2.5-1 (epoch 0).
    v.extend(both(DebSpec::new("libfoo1", "2.5-1", "amd64").multi_arch("same")));
    v.extend(both(DebSpec::new("libfoo1", "1:2.0~rc1-1", "amd64").multi_arch("same")));
    v.extend(both(DebSpec::new("libfoo1", "1:2.0-1", "amd64").multi_arch("same").depends("libc6 (>= 2.34)")));
    // `+dfsg2` sorts after the bare upstream version: `>> 1.5.5` is met.
    v.extend(both(DebSpec::new("libzstd1", "1.5.5+dfsg2-2build1", "amd64").multi_arch("same")));
    // Virtual packages: default-mta has one provider, mail-transport-agent two that conflict
    // with (and replace) every other provider, as Ubuntu's MTAs do.
    v.extend(both(
        DebSpec::new("postfix", "3.8.6-1build2", "amd64")
            .provides("default-mta, mail-transport-agent")
            .field("Conflicts", "mail-transport-agent")
            .field("Replaces", "mail-transport-agent")
            .priority("optional"),
    ));
    v.extend(both(
        uni(DebSpec::new("exim4-daemon-light", "4.97-4ubuntu4", "amd64"))
            .provides("mail-transport-agent")
            .field("Conflicts", "mail-transport-agent")
            .field("Replaces", "mail-transport-agent")
            .priority("optional"),
    ));
    // awk: no real package, providers of different priorities (mawk is `required`).
    v.extend(both(DebSpec::new("mawk", "1.3.4.20240123-1build1", "amd64").provides("awk").multi_arch("foreign").priority("required")));
    v.extend(both(DebSpec::new("gawk", "1:5.2.1-2build3", "amd64").provides("awk").multi_arch("foreign").priority("optional")));
    // mailx: a real (transitional) package and two providers; apt takes the real one.
    v.push(uni(DebSpec::new("mailx", "1:20081101-2", "all")).depends("bsd-mailx"));
    v.extend(both(DebSpec::new("bsd-mailx", "8.1.2-0.20220412cvs-1.1", "amd64").provides("mailx")));
    v.extend(both(uni(DebSpec::new("s-nail", "14.9.24-1", "amd64")).provides("mailx")));
    // java-runtime-headless: several providers of one priority, one of them a versioned provide.
    v.extend(both(DebSpec::new("openjdk-21-jre-headless", "21.0.5+11-1ubuntu1~24.04", "amd64").provides("java-runtime-headless, java21-runtime-headless").priority("optional")));
    v.extend(both(
        uni(DebSpec::new("openjdk-17-jre-headless", "17.0.13+11-2ubuntu1~24.04", "amd64")).provides("java-runtime-headless, java17-runtime-headless").priority("optional"),
    ));
    // tzdata in two versions (`all`, Multi-Arch foreign); the manifest pins the older.
    v.push(DebSpec::new("tzdata", "2024a-3ubuntu1.1", "all").multi_arch("foreign"));
    v.push(DebSpec::new("tzdata", "2024b-0ubuntu0.24.04", "all").multi_arch("foreign"));
    // Breaks decides an alternative: clock-a breaks the libfoo1 hello-app needs.
    v.extend(both(uni(DebSpec::new("clock-a", "1.0-1", "amd64")).field("Breaks", "libfoo1 (>= 1:2.0~)")));
    v.extend(both(uni(DebSpec::new("clock-b", "1.0-1", "amd64"))));
    // Needs the older libfoo1: `<< 1:2.0` is met by 1:2.0~rc1-1 (and 2.5-1), not the candidate.
    v.extend(both(uni(DebSpec::new("legacy-tool", "0.9-2", "amd64")).depends("libfoo1 (<< 1:2.0)")));
    v.extend(both(DebSpec::new("locales", "2.39-0ubuntu8.3", "amd64")));
    v
}

/// The noble stand-in: `bundler lock` equals apt-get's closure for each architecture, and
/// the resolver's intentional differences from apt-get are what they are documented to be.
#[test]
fn ubuntu_shaped_closure_equals_apt_gets() {
    let gap = Gap::new();
    let repo = AptRepoBuilder::new(&gap.path("up")).origin("Ubuntu").suite("noble").debs(noble()).build();
    let http = repo.serve();
    let url = http.url();
    let comps = ["main", "universe"];
    let keyring = repo.keyring();
    let entry = |pkgs: &'static [&'static str]| Entry { suite: "noble", components: &comps, ..Entry::new(&url, "noble", &keyring, pkgs) };

    let m = manifest(&gap, "noble", "[linux/amd64, linux/arm64]", &[entry(&["hello-app", "tzdata (= 2024a-3ubuntu1.1)"])]);
    let ours = lock_ids(&gap, &m, "noble.lock");
    let mut theirs = BTreeSet::new();
    for arch in ["amd64", "arm64"] {
        let apt = AptClient::for_arch(arch);
        apt.set_source(&keyring, &url, "noble", &comps);
        apt.update().clean();
        theirs.extend(ids(&apt.install_download_only(&["hello-app", "tzdata=2024a-3ubuntu1.1"])));
    }
    assert_eq!(ours, theirs, "noble: bundler (left) vs apt-get amd64 ∪ arm64 (right)");
    // What apt-get chose, spelled out: the security update of libc6, python3's `=` pulling
    // the matching stdlib, the newest libfoo1 by epoch, the only default-mta, the `required`
    // awk, the real mailx, clock-b (clock-a Breaks libfoo1), the pinned tzdata.
    for (p, v, a) in [
        ("libc6", "2.39-0ubuntu8.3", "amd64"),
        ("libpython3-stdlib", "3.12.3-0ubuntu2", "arm64"),
        ("libfoo1", "1:2.0-1", "amd64"),
        ("postfix", "3.8.6-1build2", "amd64"),
        ("mawk", "1.3.4.20240123-1build1", "arm64"),
        ("mailx", "1:20081101-2", "all"),
        ("clock-b", "1.0-1", "amd64"),
        ("tzdata", "2024a-3ubuntu1.1", "all"),
    ] {
        assert!(ours.contains(&id(p, v, a)), "{p} {v} {a} not in {ours:?}");
    }
    for p in ["clock-a", "exim4-daemon-light", "gawk", "s-nail", "legacy-tool", "locales"] {
        assert!(!ours.iter().any(|(n, ..)| n == p), "{p} should not be in {ours:?}");
    }

    // Intentional difference: a dependency no candidate meets takes the newest version that
    // does, and two requests needing different versions get both. apt-get refuses the pair
    // (it only considers the candidate, 1:2.0-1) until pinned to the one version both accept.
    let m = manifest(&gap, "noble-legacy", "[linux/amd64]", &[entry(&["hello-app", "legacy-tool"])]);
    let ours = lock_ids(&gap, &m, "noble-legacy.lock");
    let apt = AptClient::new();
    apt.set_source(&keyring, &url, "noble", &comps);
    apt.update().clean();
    let refused = apt.apt_get(&["install", "--simulate", "-o", "APT::Install-Recommends=false", "hello-app", "legacy-tool"]);
    assert_ne!(refused.status, 0, "apt-get should refuse: {refused:?}");
    assert!((refused.stdout.clone() + &refused.stderr).contains("legacy-tool : Depends: libfoo1 (< 1:2.0) but 1:2.0-1 is to be installed"), "{refused:?}");
    let pinned = ids(&apt.install_download_only(&["hello-app", "legacy-tool", "libfoo1=1:2.0~rc1-1"]));
    let extra: BTreeSet<Id> = ours.difference(&pinned).cloned().collect();
    assert!(pinned.is_subset(&ours), "apt-get pinned (right) not within the bundle (left): {ours:?} {pinned:?}");
    assert_eq!(extra, BTreeSet::from([id("libfoo1", "1:2.0-1", "amd64")]), "the bundle carries both libfoo1 versions");
}
