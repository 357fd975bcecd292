//! Debian packages end to end: a signed stand-in archive (dpkg-deb, dpkg-scanpackages, gpg),
//! bundled, imported and served by the mirror, and read back by a real apt-get whose whole
//! state lives in a temp dir. The bundler's closure is compared with the one apt-get itself
//! downloads from the same upstream.

use std::collections::BTreeSet;
use std::path::Path;

use e2e::apt::FetchedDeb;
use e2e::{AptClient, AptRepo, AptRepoBuilder, DebSpec};

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
            .depends("libfoo (>= 1:0.5), alt-a | alt-b, nothere | alt-c, mail-transport, virt (>= 2.0), helper:any, tool, data (= 1.0), libbar (<< 2.0)")
            .recommends("rec"),
    ));
    v.extend(both(DebSpec::new("pre", "1.0", "amd64")));
    // Epoch: 1:0.9 is newer than 1.0-1; both satisfy `>= 1:0.5`? No: 1.0-1 has epoch 0 < 1.
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
    // `~` sorts before everything: 2.0~rc1 << 2.0, so `<< 2.0` selects the older one.
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

/// What apt-get downloads for `app` from the universe (recommends off), `libbar` pinned to the
/// version `libbar (<< 2.0)` needs: apt's resolver never picks a non-candidate version itself.
fn universe_closure(arch: &str) -> BTreeSet<Id> {
    let mut s: BTreeSet<Id> = [("app", "1.0-1"), ("pre", "1.0"), ("libfoo", "1:0.9-1"), ("libbase", "3.0"), ("alt-a", "1.0"), ("alt-c", "1.0"), ("mailer", "4.0"), ("virt-new", "1.0"), ("helper", "1.0"), ("tool", "1.0"), ("libbar", "2.0~rc1-1")]
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
    let got = apt.install_download_only(&["app", "libbar=2.0~rc1-1"]);
    assert_eq!(ids(&got), universe_closure("amd64"));
    for d in &got {
        assert_eq!(d.sha256, repo.deb(&d.package, &d.version).sha256, "{} as upstream", d.file);
    }
    // Recommends are what the flag says.
    let with_rec = apt.install_download_only_with(&["app", "libbar=2.0~rc1-1"], &["-o", "APT::Install-Recommends=true"]);
    assert!(ids(&with_rec).contains(&id("rec", "1.0", "amd64")), "{:?}", ids(&with_rec));
    // Without the pin apt cannot use the older libbar.
    let r = apt.apt_get(&["install", "-s", "app"]).fails();
    assert!(r.stdout.contains("libbar"), "{}", r.stdout);
    // apt-get download, another architecture, a deb822 source.
    let dl = apt.download(&["libfoo=1.0-1", "data"], &t.path().join("dl"));
    assert_eq!(ids(&dl), [id("data", "1.0", "all"), id("libfoo", "1.0-1", "amd64")].into_iter().collect());
    let arm = AptClient::for_arch("arm64");
    let sources = t.path().join("standin.sources");
    std::fs::write(&sources, format!("Types: deb\nURIs: {}\nSuites: stable\nComponents: main\nSigned-By: {}\n", http.url(), repo.armored_key().display())).unwrap();
    arm.set_deb822(&sources);
    arm.update().clean();
    assert_eq!(ids(&arm.install_download_only(&["app", "libbar=2.0~rc1-1"])), universe_closure("arm64"));

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
    let new_sha = repo.tamper_deb("alt-a", "1.0");
    let fresh = AptClient::new();
    fresh.set_source(&repo.keyring(), &http.url(), "stable", &["main"]);
    fresh.update().clean();
    let r = fresh.apt_get_in(t.path(), &["download", "alt-a"]).fails();
    assert!(format!("{}{}", r.stdout, r.stderr).to_lowercase().contains("hash sum mismatch"), "{r:?}");
    assert_eq!(std::fs::metadata(repo.root.join(&repo.deb("alt-a", "1.0").filename)).unwrap().len(), repo.deb("alt-a", "1.0").size, "same size");
    assert_ne!(new_sha, repo.deb("alt-a", "1.0").sha256);

    // Everything started is stopped on drop.
    let (pid, home) = (http.server.pid(), repo.signer.gnupghome().to_path_buf());
    assert!(agents_for(&home) <= 1);
    drop(http);
    drop(repo);
    assert!(!alive(pid), "http.server {pid} still running");
    assert_eq!(agents_for(&home), 0, "gpg-agent for {} still running", home.display());
    drop(rogue);
}
