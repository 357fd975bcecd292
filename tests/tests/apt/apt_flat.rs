//! Flat apt repositories (Debian repository format, "Flat Repository Format"), the way NVIDIA
//! publishes the container toolkit: `deb [signed-by=…] …/stable/deb/$(ARCH) /`, one directory
//! per architecture with Packages, a signed InRelease and the debs beside them (`Filename:
//! ./x.deb`). A stand-in built with dpkg-deb, apt-ftparchive and gpg is served statically; the
//! bundler reads it per architecture, and apt-get installs from the mirror byte for byte.

use std::path::Path;
use std::process::Command;

use e2e::apt::{build_deb, debs_in};
use e2e::{run, AptClient, DebSpec, Gap, Mirror, Signer, StaticServer};

/// `root/<arch>/` for each arch: the debs, Packages(.gz), Release, InRelease, Release.gpg.
fn flat_repo(root: &Path, signer: &Signer) -> Vec<(String, String)> {
    let mut sums = Vec::new();
    for arch in ["amd64", "arm64"] {
        let dir = root.join(arch);
        std::fs::create_dir_all(&dir).unwrap();
        let specs = [
            DebSpec::new("toolkit", "1.17.8-1", arch).depends("toolkit-base (= 1.17.8-1), libtk1 (>= 1.17)"),
            DebSpec::new("toolkit-base", "1.17.8-1", arch),
            DebSpec::new("libtk1", "1.17.8-1", arch),
            DebSpec::new("toolkit-docs", "1.0", "all"),
            DebSpec::new("unrelated", "1.0", arch),
        ];
        for s in &specs {
            let out = dir.join(s.file_name());
            build_deb(s, &out);
            sums.push((s.file_name(), e2e::sha256(&std::fs::read(&out).unwrap())));
        }
        // As NVIDIA's: Filename is `./name.deb`, relative to the directory.
        let pk = run(Command::new("apt-ftparchive").args(["packages", "."]).current_dir(&dir)).ok();
        std::fs::write(dir.join("Packages"), &pk.stdout).unwrap();
        run(Command::new("sh").args(["-c", "gzip -9nc Packages > Packages.gz"]).current_dir(&dir)).ok();
        let rel = run(Command::new("apt-ftparchive").args(["-o", "APT::FTPArchive::Release::Origin=Vendor", "release", "."]).current_dir(&dir)).ok();
        std::fs::write(dir.join("Release"), &rel.stdout).unwrap();
        signer.sign_release(&dir.join("Release"));
    }
    sums
}

fn manifest(gap: &Gap, url: &str, keyring: &Path, extra: &str) -> std::path::PathBuf {
    gap.write(
        "flat.yaml",
        &format!(
            "name: flat\nplatforms: [linux/amd64, linux/arm64]\napt:\n  - source: {url}$(ARCH)\n    id: vendor\n    suite: /\n    keyring: {}\n    packages: [toolkit]\n{extra}",
            keyring.display()
        ),
    )
}

#[test]
fn flat_repository_per_arch_through_the_gap() {
    let gap = Gap::new();
    let signer = Signer::new("Vendor Repo");
    let up = gap.path("up");
    let sums = flat_repo(&up, &signer);
    let keyring = gap.path("vendor.gpg");
    signer.export_binary(&keyring);
    let http = StaticServer::start(&up);
    let m = manifest(&gap, &http.url(), &keyring, "");
    gap.lock(&m).ok();
    let lock = std::fs::read_to_string(gap.lock_file()).unwrap();
    for want in ["toolkit_1.17.8-1_amd64", "toolkit-base_1.17.8-1_arm64", "libtk1_1.17.8-1_arm64"] {
        assert!(lock.contains(want), "{want} locked:\n{lock}");
    }
    assert!(!lock.contains("unrelated") && !lock.contains("toolkit-docs"), "only the closure:\n{lock}");
    // Each architecture's Release came from its own directory.
    let reqs = http.requests();
    assert!(reqs.iter().any(|r| r == "/amd64/InRelease") && reqs.iter().any(|r| r == "/arm64/InRelease"), "{reqs:?}");
    let bundle = gap.create(&m, "flat.bundle", &["--locked"]);
    drop(http);
    gap.import(&bundle).ok();
    let mirror = Mirror::start(&gap.store());

    // Served in the usual dists/ form as suite `stable`, component `main`.
    let key = gap.path("mirror.gpg");
    run(Command::new("curl").args(["-sSf", "--max-time", "20", "-o", key.to_str().unwrap(), &mirror.url("/apt/key.gpg")])).ok();
    for arch in ["amd64", "arm64"] {
        let apt = AptClient::for_arch(arch);
        apt.set_source(&key, &mirror.url("/apt/vendor"), "stable", &["main"]);
        apt.update().clean();
        let got = apt.install_download_only(&["toolkit"]);
        let mut names: Vec<String> = got.iter().map(|d| d.file.clone()).collect();
        names.sort();
        assert_eq!(names, [format!("libtk1_1.17.8-1_{arch}.deb"), format!("toolkit-base_1.17.8-1_{arch}.deb"), format!("toolkit_1.17.8-1_{arch}.deb")]);
        for d in &got {
            let want = &sums.iter().find(|(f, _)| *f == d.file).unwrap().1;
            assert_eq!(&format!("sha256:{}", d.sha256), want, "{} byte for byte", d.file);
        }
        assert!(debs_in(&apt.path("cache/archives")).len() == 3);
    }
    // client-config prints the stanza that worked.
    let cfg = gap.mirror(&["client-config", "apt", "--url", &mirror.url("")]).ok();
    assert!(cfg.stdout.contains("/apt/vendor") && cfg.stdout.contains("stable"), "{}", cfg.stdout);
}

#[test]
fn flat_repository_refusals() {
    let gap = Gap::new();
    let signer = Signer::new("Vendor Repo");
    let up = gap.path("up");
    flat_repo(&up, &signer);
    let keyring = gap.path("vendor.gpg");
    signer.export_binary(&keyring);
    let http = StaticServer::start(&up);

    // Signed by another key: refused, naming the source.
    let other = gap.path("other.gpg");
    Signer::new("Someone Else").export_binary(&other);
    let m = manifest(&gap, &http.url(), &other, "");
    let r = gap.lock(&m).fails();
    assert!(r.stderr.contains("vendor") && r.stderr.contains("/amd64/InRelease"), "{}", r.stderr);

    // A Packages that does not match the signed Release.
    let mut p = std::fs::read(up.join("arm64/Packages.gz")).unwrap();
    p.extend_from_slice(b"junk");
    std::fs::write(up.join("arm64/Packages.gz"), p).unwrap();
    let m = manifest(&gap, &http.url(), &keyring, "");
    let r = gap.lock(&m).fails();
    assert!(r.stderr.contains("vendor") && r.stderr.contains("arm64/Packages"), "{}", r.stderr);
    assert!(!gap.lock_file().exists());

    // Components make no sense for a flat repository.
    let m = manifest(&gap, &http.url(), &keyring, "    components: [main]\n");
    let r = gap.lock(&m).fails();
    assert!(r.stderr.contains("flat.yaml") && r.stderr.contains("line 4") && r.stderr.contains("components"), "{}", r.stderr);
    // $(ARCH) only for flat repositories.
    let m = gap.write("dists.yaml", &format!("apt:\n  - {{source: '{}$(ARCH)', id: v, suite: stable, trusted: true, packages: [toolkit]}}\n", http.url()));
    let r = gap.lock(&m).fails();
    assert!(r.stderr.contains("$(ARCH)"), "{}", r.stderr);
}
