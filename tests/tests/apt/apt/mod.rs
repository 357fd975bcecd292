//! Debian packages end to end: a signed stand-in archive (dpkg-deb, dpkg-scanpackages, gpg),
//! bundled, imported and served by the mirror, and read back by a real apt-get whose whole
//! state lives in a temp dir. The bundler's closure is compared with the one apt-get itself
//! downloads from the same upstream.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::apt::{bare_sha256, installed, lock_debs, source_line, FetchedDeb};
use e2e::{run, snapshot, AptClient, AptRepo, AptRepoBuilder, DebSpec, Gap, Mirror, Signer};

mod refusals;
mod serving;
mod ubuntu_shaped;

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
