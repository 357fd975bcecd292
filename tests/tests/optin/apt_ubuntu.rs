//! Opt-in (needs archive.ubuntu.com; not in CI): closures `bundler lock` resolves against the
//! real Ubuntu 24.04 archive (suites noble + noble-updates; main, restricted, universe; amd64;
//! the shipped keyring) equal what apt-get picks for the same request in an isolated apt state
//! (no Recommends), package for package — name, version, architecture — and deb for deb: the
//! lock's pool path, size and sha256 are those apt-get would fetch (`--print-uris`).
//!
//! - a GPU node's runtime (NVIDIA's server driver user space from `restricted`, containerd,
//!   runc, the kube-proxy/CNI tools), from an empty dpkg status;
//! - the headers of the newest `-generic` kernel in noble-updates and of the GA kernel
//!   (`linux-headers-generic`'s), both picked from the index at test time, each with dkms —
//!   what building an out-of-tree driver for that kernel needs — from an empty dpkg status;
//! - build tools, from an empty dpkg status;
//! - a real noble minbase made by mmdebstrap from the same archive and keyring: its installed
//!   packages are exactly the closure of Essential + Priority: required (the bytes of
//!   every deb mmdebstrap installed match the lock), and against its dpkg status apt-get picks
//!   exactly what `exclude_installed: required` leaves in the GPU node and build-tools closures.
//!
//! Phased updates (`Phased-Update-Percentage` in noble-updates): apt-get holds a phased version
//! back only as an upgrade of a package already installed, never on a first install (nor when
//! what it installs needs that version); each comparison runs apt-get with and without
//! `APT::Get::Always-Include-Phased-Updates` and asserts both pick the same.
//!
//! Run: `cargo build --workspace --bins && cargo test -p e2e --test optin -- --ignored apt_ubuntu::`
//! (the mmdebstrap test installs `mmdebstrap` with apt-get when it is missing and it runs as
//! root; otherwise install it first).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::apt::{debs_in, source_line, AptClient};
use e2e::{run_within, Gap};

const ARCHIVE: &str = "http://archive.ubuntu.com/ubuntu";
const SUITES: &[&str] = &["noble", "noble-updates"];
const COMPONENTS: &[&str] = &["main", "restricted", "universe"];

/// What a Kubernetes (RKE2/kubeadm) GPU node installs from Ubuntu's own archive. Ubuntu carries
/// no nvidia-container-toolkit (that comes from NVIDIA's repository, `manifests/gpu-runtime.yaml`);
/// the R580 server driver's user space (restricted; the kernel modules come with the node's
/// kernel) and the node runtime do come from here.
const GPU_NODE: &[&str] = &[
    "nvidia-headless-no-dkms-580-server",
    "nvidia-utils-580-server",
    "containerd",
    "runc",
    "iptables",
    "conntrack",
    "socat",
    "ebtables",
    "ethtool",
    "ipset",
    "nfs-common",
    "open-iscsi",
    "curl",
    "ca-certificates",
];

const BUILD_TOOLS: &[&str] = &["build-essential", "git", "pkg-config", "cmake", "python3-dev", "python3-venv", "libssl-dev", "curl"];

/// (package, version, architecture)
type Id = (String, String, String);

/// What identifies a deb's bytes: (pool path, size, sha256).
type Bytes = (String, u64, String);

fn keyring() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/keys/ubuntu-archive-keyring.gpg")
}

/// The manifest's `apt:` entries for both suites, all requests on the first.
fn manifest(packages: &[String], exclude_installed: &str) -> String {
    let list: Vec<String> = packages.iter().map(|p| format!("{p:?}")).collect();
    let mut m = String::from("name: ubuntu\nplatforms: [linux/amd64]\napt:\n");
    for (n, suite) in SUITES.iter().enumerate() {
        m.push_str(&format!(
            "  - source: {ARCHIVE}\n    id: ubuntu\n    suite: {suite}\n    components: [{}]\n    keyring: {:?}\n    exclude_installed: {exclude_installed}\n",
            COMPONENTS.join(", "),
            keyring().display().to_string()
        ));
        if n == 0 {
            m.push_str(&format!("    packages: [{}]\n", list.join(", ")));
        }
    }
    m
}

/// `bundler lock` of `packages`: every `[[deb]]` entry, by id.
fn bundler_closure(packages: &[String], exclude_installed: &str) -> BTreeMap<Id, Bytes> {
    let gap = Gap::new();
    let m = gap.write("ubuntu.yaml", &manifest(packages, exclude_installed));
    gap.lock(&m).ok();
    let lock: toml::Table = toml::from_str(&std::fs::read_to_string(gap.lock_file()).unwrap()).unwrap_or_else(|e| panic!("the lock is not TOML: {e}"));
    let field = |d: &toml::Value, k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or_else(|| panic!("[[deb]] without {k}: {d}")).to_string();
    let mut out = BTreeMap::new();
    for d in lock.get("deb").and_then(|v| v.as_array()).expect("[[deb]] entries") {
        let id = (field(d, "package"), field(d, "version"), field(d, "architecture"));
        let size = d.get("size").and_then(|v| v.as_integer()).unwrap_or_else(|| panic!("[[deb]] without size: {d}")) as u64;
        let bytes = (field(d, "filename"), size, field(d, "sha256").trim_start_matches("sha256:").to_string());
        if let Some(other) = out.insert(id.clone(), bytes.clone()) {
            assert_eq!(other, bytes, "{id:?} locked twice with different bytes");
        }
    }
    out
}

/// An isolated apt-get with both suites as its sources and `status` as its dpkg status, updated.
fn apt_client(status: &str) -> AptClient {
    let apt = AptClient::new();
    apt.set_sources_list(&SUITES.iter().map(|s| source_line(&keyring(), ARCHIVE, s, COMPONENTS)).collect::<Vec<_>>());
    apt.set_status(status);
    // Fetching ~25 MB of indexes can outlast the harness's 60 s apt-get bound on a slow link.
    let u = run_within(
        Command::new("apt-get").arg("update").env("APT_CONFIG", apt.path("apt.conf")).env("LC_ALL", "C").current_dir(apt.dir.path()),
        std::time::Duration::from_secs(300),
    );
    let problems: Vec<&str> = u.stdout.lines().chain(u.stderr.lines()).filter(|l| l.starts_with("W:") || l.starts_with("E:")).collect();
    assert!(u.status == 0 && problems.is_empty(), "apt-get update against {ARCHIVE} (exit {}): {problems:?}\n{}", u.status, u.stderr);
    apt
}

/// `%7e` → `~` in apt's URLs.
fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// What apt-get installs for `packages` (no Recommends): ids from `--simulate`'s `Inst` lines,
/// bytes from `--print-uris` (sha256 forced).
fn apt_get_picks(apt: &AptClient, packages: &[String], extra: &[&str]) -> BTreeMap<Id, Bytes> {
    let mut base = vec!["install", "-o", "APT::Install-Recommends=false"];
    base.extend_from_slice(extra);
    let pkgs: Vec<&str> = packages.iter().map(String::as_str).collect();
    let sim = apt.apt_get(&[&base[..], &["--simulate"], &pkgs[..]].concat()).ok();
    let ids: Vec<Id> = sim
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Inst "))
        .map(|l| {
            // `name (version release… [arch])` or, for an upgrade, `name [old] (version …)`
            let (name, rest) = l.split_once(' ').unwrap_or_else(|| panic!("unexpected Inst line {l:?}"));
            let rest = &rest[rest.find('(').unwrap_or_else(|| panic!("unexpected Inst line {l:?}")) + 1..];
            let version = rest.split_whitespace().next().unwrap().to_string();
            let arch = rest.split('[').nth(1).and_then(|a| a.split(']').next()).unwrap_or_else(|| panic!("no [arch] in {l:?}")).to_string();
            (name.to_string(), version, arch)
        })
        .collect();
    let uris = apt.apt_get(&[&base[..], &["--print-uris", "-qq", "-o", "Acquire::ForceHash=SHA256"], &pkgs[..]].concat()).ok();
    let mut bytes: BTreeMap<String, Bytes> = BTreeMap::new();
    for l in uris.stdout.lines().filter(|l| l.starts_with('\'')) {
        let mut w = l.split_whitespace();
        let (url, _file, size, hash) = (w.next().unwrap().trim_matches('\''), w.next().unwrap(), w.next().unwrap(), w.next().unwrap());
        let path = url_decode(url.strip_prefix(ARCHIVE).and_then(|p| p.strip_prefix('/')).unwrap_or_else(|| panic!("{url} is not under {ARCHIVE}")));
        let sha = hash.strip_prefix("SHA256:").unwrap_or_else(|| panic!("no SHA256 in {l:?}")).to_string();
        let name = path.rsplit('/').next().unwrap().split('_').next().unwrap().to_string();
        bytes.insert(name, (path, size.parse().unwrap(), sha));
    }
    assert_eq!(bytes.len(), ids.len(), "apt-get --print-uris lists {} debs, --simulate installs {}:\n{}\n{}", bytes.len(), ids.len(), uris.stdout, sim.stdout);
    ids.into_iter()
        .map(|id| {
            let b = bytes.get(&id.0).unwrap_or_else(|| panic!("apt-get --print-uris has no deb for {id:?}:\n{}", uris.stdout)).clone();
            (id, b)
        })
        .collect()
}

/// apt-get's picks, asserted the same with phased updates always included; returns them.
fn apt_get_closure(apt: &AptClient, packages: &[String]) -> BTreeMap<Id, Bytes> {
    let plain = apt_get_picks(apt, packages, &[]);
    let phased = apt_get_picks(apt, packages, &["-o", "APT::Get::Always-Include-Phased-Updates=true"]);
    assert!(plain == phased, "phased updates change apt-get's picks:\n{}", differences("default", &plain, "Always-Include-Phased-Updates", &phased));
    plain
}

fn differences(a_name: &str, a: &BTreeMap<Id, Bytes>, b_name: &str, b: &BTreeMap<Id, Bytes>) -> String {
    let mut s = String::new();
    for (id, bytes) in a {
        match b.get(id) {
            None => s.push_str(&format!("  only {a_name}: {} {} {} ({})\n", id.0, id.1, id.2, bytes.0)),
            Some(other) if other != bytes => s.push_str(&format!("  bytes differ for {} {} {}: {a_name} {bytes:?}, {b_name} {other:?}\n", id.0, id.1, id.2)),
            Some(_) => {}
        }
    }
    for (id, bytes) in b {
        if !a.contains_key(id) {
            s.push_str(&format!("  only {b_name}: {} {} {} ({})\n", id.0, id.1, id.2, bytes.0));
        }
    }
    s
}

#[track_caller]
fn assert_same(what: &str, ours: &BTreeMap<Id, Bytes>, theirs: &BTreeMap<Id, Bytes>) {
    assert!(ours == theirs, "{what}: the closure differs from apt-get's ({} vs {} debs)\n{}", ours.len(), theirs.len(), differences("bundler", ours, "apt-get", theirs));
    println!("{what}: {} debs, equal to apt-get's (name, version, arch, pool path, size, sha256)", ours.len());
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Stanzas of a Packages or dpkg status file, each as field → first-line value.
fn stanzas(text: &str) -> Vec<BTreeMap<String, String>> {
    text.split("\n\n")
        .map(|s| {
            s.lines()
                .filter(|l| !l.starts_with(' ') && !l.starts_with('\t'))
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.to_string(), v.trim().to_string()))
                .collect::<BTreeMap<_, _>>()
        })
        .filter(|m| m.contains_key("Package"))
        .collect()
}

/// One Packages index apt-get fetched (stored uncompressed in its lists).
fn list(apt: &AptClient, suite: &str, component: &str) -> String {
    let host = ARCHIVE.trim_start_matches("http://").replace('/', "_");
    let p = apt.path(&format!("state/lists/{host}_dists_{suite}_{component}_binary-amd64_Packages"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
#[ignore = "needs archive.ubuntu.com; run with --ignored"]
fn gpu_node_runtime_closure_equals_apt_gets_on_ubuntu_noble() {
    let req = strings(GPU_NODE);
    let ours = bundler_closure(&req, "none");
    let theirs = apt_get_closure(&apt_client(""), &req);
    assert_same("GPU node runtime", &ours, &theirs);
}

#[test]
#[ignore = "needs archive.ubuntu.com; run with --ignored"]
fn kernel_headers_closures_equal_apt_gets_on_ubuntu_noble() {
    let apt = apt_client("");
    let updates = stanzas(&list(&apt, "noble-updates", "main"));
    // linux-headers-6.8.0-151-generic, linux-headers-7.0.0-44-generic (HWE), …: the highest ABI,
    // and the GA kernel's, the one `linux-headers-generic` depends on (each read at test time).
    let abi = |name: &str| -> Option<Vec<u64>> {
        let v = name.strip_prefix("linux-headers-")?.strip_suffix("-generic")?;
        v.split(['.', '-']).map(|n| n.parse().ok()).collect()
    };
    let newest =
        updates.iter().filter_map(|s| abi(&s["Package"]).map(|a| (a, s["Package"].clone()))).max().map(|(_, n)| n).expect("no linux-headers-*-generic in noble-updates main");
    let ga = updates
        .iter()
        .find(|s| s["Package"] == "linux-headers-generic")
        .and_then(|s| s.get("Depends")?.split(',').map(|d| d.split_whitespace().next().unwrap_or_default().to_string()).find(|d| abi(d).is_some()))
        .expect("linux-headers-generic in noble-updates main depends on no linux-headers-*-generic");
    let mut kernels = vec![newest, ga];
    kernels.dedup();
    for headers in kernels {
        let req = vec![headers.clone(), "dkms".into()];
        let ours = bundler_closure(&req, "none");
        let theirs = apt_get_closure(&apt, &req);
        assert!(ours.keys().any(|id| id.0 == headers), "{headers} is not in its own closure");
        assert_same(&format!("{headers} and dkms"), &ours, &theirs);
    }
}

#[test]
#[ignore = "needs archive.ubuntu.com; run with --ignored"]
fn build_tools_closure_equals_apt_gets_on_ubuntu_noble() {
    let req = strings(BUILD_TOOLS);
    let ours = bundler_closure(&req, "none");
    let theirs = apt_get_closure(&apt_client(""), &req);
    assert_same("build tools", &ours, &theirs);
}

/// `mmdebstrap --variant=minbase` of noble from the archive with the shipped keyring, every
/// downloaded deb kept: (installed ids from its dpkg status, the status text, the kept debs).
fn mmdebstrap_minbase(dir: &Path) -> (BTreeSet<Id>, String, Vec<e2e::apt::FetchedDeb>) {
    if Command::new("mmdebstrap").arg("--version").output().is_err() {
        let root = e2e::run(Command::new("id").arg("-u")).ok().stdout.trim() == "0";
        assert!(root, "mmdebstrap is not installed: `apt-get install mmdebstrap` (Debian 12 has 1.3.5) and run again");
        e2e::run(Command::new("apt-get").args(["install", "-y", "--no-install-recommends", "mmdebstrap"]).env("DEBIAN_FRONTEND", "noninteractive")).ok();
    }
    let k = keyring();
    let mut cmd = Command::new("mmdebstrap");
    cmd.args(["--variant=minbase", "--architectures=amd64", "--skip=essential/unlink", "--skip=cleanup/apt/cache", "--format=directory", "noble"]).arg(dir);
    for s in SUITES {
        cmd.arg(source_line(&k, ARCHIVE, s, COMPONENTS));
    }
    run_within(&mut cmd, std::time::Duration::from_secs(900)).ok();
    let status = std::fs::read_to_string(dir.join("var/lib/dpkg/status")).unwrap();
    let installed = stanzas(&status)
        .into_iter()
        .filter(|s| s.get("Status").is_some_and(|st| st.ends_with(" installed")))
        .map(|s| (s["Package"].clone(), s["Version"].clone(), s["Architecture"].clone()))
        .collect();
    (installed, status, debs_in(&dir.join("var/cache/apt/archives")))
}

#[test]
#[ignore = "needs archive.ubuntu.com; run with --ignored"]
fn mmdebstrap_minbase_is_the_required_closure_and_its_status_the_baseline() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("minbase");
    let (installed, status, debs) = mmdebstrap_minbase(&root);
    assert!(installed.len() > 50, "minbase has only {} packages: {installed:?}", installed.len());

    // What mmdebstrap's minbase asks for: Essential: yes, then Priority: required, of the suite
    // it was named (noble). Its manual adds "and apt", but apt is only installed as a required
    // package, as in Debian; Ubuntu's apt is `important`.
    let apt = apt_client(&status);
    let mut roots: BTreeSet<String> = BTreeSet::new();
    for c in COMPONENTS {
        for s in stanzas(&list(&apt, "noble", c)) {
            if s.get("Essential").is_some_and(|e| e == "yes") || s.get("Priority").is_some_and(|p| p == "required") {
                roots.insert(s["Package"].clone());
            }
        }
    }
    let roots: Vec<String> = roots.into_iter().collect();
    let ours = bundler_closure(&roots, "none");
    let locked: BTreeSet<Id> = ours.keys().cloned().collect();
    let only_ours: Vec<&Id> = locked.difference(&installed).collect();
    let only_minbase: Vec<&Id> = installed.difference(&locked).collect();
    assert!(
        only_ours.is_empty() && only_minbase.is_empty(),
        "the closure of {} Essential/required roots differs from mmdebstrap's minbase ({} vs {} packages)\nonly bundler: {only_ours:?}\nonly minbase: {only_minbase:?}",
        roots.len(),
        locked.len(),
        installed.len()
    );
    // Every deb mmdebstrap downloaded and installed is byte for byte the one locked.
    assert_eq!(debs.len(), installed.len(), "mmdebstrap kept {} debs for {} installed packages", debs.len(), installed.len());
    for d in &debs {
        let (_, size, sha) = ours.get(&d.id()).unwrap_or_else(|| panic!("{} from mmdebstrap is not in the lock", d.file));
        assert_eq!((&d.sha256, std::fs::metadata(&d.path).unwrap().len()), (sha, *size), "{}: mmdebstrap's deb differs from the locked one", d.file);
    }
    println!("mmdebstrap minbase: {} packages = the closure of {} Essential/required roots; {} debs byte for byte", installed.len(), roots.len(), debs.len());

    // On such a target, apt-get installs exactly what `exclude_installed: required` leaves in.
    for (what, req) in [("GPU node runtime on minbase", strings(GPU_NODE)), ("build tools on minbase", strings(BUILD_TOOLS))] {
        let ours = bundler_closure(&req, "required");
        let theirs = apt_get_closure(&apt, &req);
        assert!(ours.keys().all(|id| !installed.contains(id)), "{what}: the closure carries packages minbase has");
        assert_same(what, &ours, &theirs);
    }
}
