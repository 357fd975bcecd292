//! What is refused, naming why: unknown or expired signing keys, hash mismatches, damaged debs,
//! missing dependencies, a lock without the debs.

use super::*;

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
    assert_eq!(before, snapshot(&gap.store()), "a refused import leaves every record and blob as it was");
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
