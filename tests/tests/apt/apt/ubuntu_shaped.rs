//! An Ubuntu-shaped stand-in (noble + noble-updates, several components): the bundler's closure
//! equals apt-get's.

use super::*;

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
