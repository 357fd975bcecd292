//! Opt-in (needs deb.debian.org; not in CI): the closure of the MAGE base-image request
//! against the real Debian bookworm main archive equals what apt-get picks for it in an
//! isolated apt state (empty dpkg status, no Recommends).
//! Run: `cargo build --workspace --bins && cargo test -p e2e --test optin -- --ignored apt_debian::`.

use std::collections::BTreeSet;
use std::path::Path;

use e2e::apt::AptClient;
use e2e::Gap;

const ARCHIVE: &str = "http://deb.debian.org/debian";
const MAGE: &[&str] =
    &["build-essential", "libpq-dev", "postgresql-client", "libmagic1", "libreoffice", "python3-uno", "tesseract-ocr", "libtesseract-dev", "poppler-utils", "pkg-config", "curl"];

fn keyring() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/keys/debian-archive-keyring.gpg")
}

#[test]
#[ignore = "needs the Debian archive; run with --ignored"]
fn mage_closure_equals_apt_gets_on_debian_bookworm() {
    let gap = Gap::new();
    let list: Vec<String> = MAGE.iter().map(|p| format!("{p:?}")).collect();
    let m = gap.write(
        "mage.yaml",
        &format!(
            "name: mage\nplatforms: [linux/amd64]\napt:\n  - source: {ARCHIVE}\n    id: debian\n    suite: bookworm\n    keyring: {:?}\n    packages: [{}]\n",
            keyring().display().to_string(),
            list.join(", ")
        ),
    );
    gap.lock(&m).ok();
    let lock: toml::Table = toml::from_str(&std::fs::read_to_string(gap.lock_file()).unwrap()).unwrap_or_else(|e| panic!("the lock is not TOML: {e}"));
    let field = |d: &toml::Value, k: &str| d[k].as_str().unwrap_or_else(|| panic!("[[deb]] without {k}: {d}")).to_string();
    let ours: BTreeSet<(String, String)> = lock["deb"].as_array().expect("[[deb]] entries").iter().map(|d| (field(d, "package"), field(d, "version"))).collect();

    let apt = AptClient::new();
    apt.set_source(&keyring(), ARCHIVE, "bookworm", &["main"]);
    let u = apt.update();
    assert!(u.problem_text().is_empty(), "apt-get update against {ARCHIVE}: {}", u.problem_text());
    let mut args = vec!["install", "--simulate", "-o", "APT::Install-Recommends=false"];
    args.extend_from_slice(MAGE);
    let sim = apt.apt_get(&args).ok();
    let theirs: BTreeSet<(String, String)> = sim
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Inst "))
        .filter_map(|l| {
            let (name, rest) = l.split_once(" (")?;
            Some((name.to_string(), rest.split_whitespace().next()?.to_string()))
        })
        .collect();
    assert!(theirs.len() > 100, "apt-get --simulate chose only {} packages:\n{}", theirs.len(), sim.stdout);
    let only_ours: Vec<_> = ours.difference(&theirs).collect();
    let only_apt: Vec<_> = theirs.difference(&ours).collect();
    assert!(
        only_ours.is_empty() && only_apt.is_empty(),
        "closure differs from apt-get's ({} vs {} packages)\nonly ours: {only_ours:?}\nonly apt-get: {only_apt:?}",
        ours.len(),
        theirs.len()
    );
}
