//! Through the gap and back: apt-get installs from the mirror, sources form one universe,
//! bundles of one source merge.

use super::*;

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
    for f in ["InRelease", "Release", "Release.gpg", "main/binary-amd64/Packages.gz", "main/binary-arm64/Packages.gz"] {
        assert_eq!(e2e::http_status(&format!("{base}/dists/stable/{f}")), 200, "{base}/dists/stable/{f}");
    }
    // Release lists the plain Packages (apt looks indexes up by it) but, as Debian's archive,
    // the mirror serves only the compressed one; no .xz (see the mirror's apt render).
    for f in ["main/binary-amd64/Packages", "main/binary-amd64/Packages.xz"] {
        assert_eq!(e2e::http_status(&format!("{base}/dists/stable/{f}")), 404, "{base}/dists/stable/{f}");
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
