//! Opt-in (needs pypi.org; not in CI): a realistic requirement set resolved against the real
//! PyPI for a target unlike this machine (CPython 3.12, manylinux_2_17 aarch64) equals the
//! files `pip download --platform … --python-version 3.12 --only-binary=:all:` takes and the
//! versions `uv pip compile --only-binary :all: --python-platform aarch64-manylinux_2_17 --python-version 3.12` picks;
//! the ML set of manifests/mage.yaml takes final releases where they fit, as uv does.
//! Run: `cargo build --workspace --bins && cargo test -p e2e --test optin -- --ignored pypi_pypi_org::`.

use std::collections::{BTreeMap, BTreeSet};

use e2e::pypi::{normalize, pip_download_ok, uv_run, Target};
use e2e::Gap;

const REQS: &[&str] = &["requests", "fastapi", "pydantic", "numpy", "pandas"];

#[test]
#[ignore = "needs pypi.org; run with --ignored"]
fn resolution_equals_pips_and_uvs_for_python_312_aarch64() {
    let gap = Gap::new();
    let list: Vec<String> = REQS.iter().map(|r| format!("{r:?}")).collect();
    let m = gap.write("m.yaml", &format!("name: real\nplatforms: [linux/arm64]\npypi:\n  - python: [\"3.12\"]\n    requirements: [{}]\n", list.join(", ")));
    gap.lock(&m).ok();
    let lock: toml::Table = toml::from_str(&std::fs::read_to_string(gap.lock_file()).unwrap()).unwrap_or_else(|e| panic!("the lock is not TOML: {e}"));
    let wheels = lock["wheel"].as_array().expect("[[wheel]] entries");
    let ours: BTreeSet<String> = wheels.iter().map(|w| format!("{}=={}", w["project"].as_str().unwrap(), w["version"].as_str().unwrap())).collect();
    for w in wheels {
        let f = w["filename"].as_str().unwrap();
        assert!(f.ends_with("-any.whl") || f.contains("aarch64"), "{f} does not fit aarch64");
        assert!(!f.contains("-cp311-") && !f.contains("-cp313-"), "{f} does not fit CPython 3.12");
    }

    let req_in = gap.write("req.in", &(REQS.join("\n") + "\n"));
    let out = gap.path("uv.txt");
    let args = [
        "pip",
        "compile",
        "-q",
        "--no-header",
        "--only-binary",
        ":all:",
        "--python-version",
        "3.12",
        "--python-platform",
        "aarch64-manylinux_2_17",
        "--index-url",
        "https://pypi.org/simple/",
        req_in.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    let r = uv_run(&args, &[]);
    assert_eq!(r.status, 0, "uv pip compile failed: {}", r.stderr);
    let theirs: BTreeSet<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|pin| pin.split_once("==").map(|(n, v)| format!("{}=={v}", normalize(n))))
        .collect();
    assert!(theirs.len() >= REQS.len(), "uv chose too little: {theirs:?}");
    assert_eq!(ours, theirs, "bundler (left) vs uv (right)");

    let files: BTreeSet<String> = wheels.iter().map(|w| w["filename"].as_str().unwrap().to_string()).collect();
    let pips = pip_download_ok("https://pypi.org/simple/", &Target::glibc("3.12", "aarch64", "2.17"), REQS, &gap.path("pip"));
    assert_eq!(files, pips, "bundler (left) vs pip download (right)");
}

/// A pre-release, by its normalized version: a/b/rc or dev segment (local label and post ignored).
fn is_pre(version: &str) -> bool {
    let public = version.split('+').next().unwrap_or(version);
    public.split('.').filter(|s| !s.starts_with("post")).any(|s| s.bytes().any(|b| b.is_ascii_alphabetic()))
}

/// Issue 16: the mage document and transcription set (manifests/mage.yaml's first `pypi:` entry:
/// unstructured and whisperX) for CPython 3.11, glibc 2.36, x86_64 pinned httpx==1.0.dev6,
/// protobuf==7.37.0rc1, lxml==7.0.0b1, safetensors==0.9.0rc1, einops==0.9.0.dev0 and
/// omegaconf==2.4.1rc1 where final releases fit. Now those are final releases and the set is
/// what `uv pip compile` picks for the same target, except where uv's pick has no wheel at all
/// (the bundler takes the newest version that has one).
#[test]
#[ignore = "needs pypi.org; run with --ignored"]
fn ml_set_takes_final_releases_where_they_fit() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let mage = std::fs::read_to_string(repo.join("manifests/mage.yaml")).unwrap();
    let entry = mage.split("\npypi:").nth(1).unwrap().split("\n  # CPU torch").next().unwrap();
    let reqs: Vec<String> = entry.lines().filter_map(|l| l.strip_prefix("      - ")).map(|l| l.split(" #").next().unwrap().trim().to_string()).collect();
    assert!(reqs.iter().any(|r| r.starts_with("whisperx")) && reqs.iter().any(|r| r.starts_with("unstructured[")), "{reqs:?}");

    let gap = Gap::new();
    let list: Vec<String> = reqs.iter().map(|r| format!("{r:?}")).collect();
    let m = gap.write("m.yaml", &format!("name: ml\nplatforms: [linux/amd64]\npypi:\n  - python: [\"3.11\"]\n    glibc: \"2.36\"\n    requirements: [{}]\n", list.join(", ")));
    gap.lock(&m).ok();
    let lock: toml::Table = toml::from_str(&std::fs::read_to_string(gap.lock_file()).unwrap()).unwrap();
    let ours: BTreeMap<String, String> =
        lock["wheel"].as_array().unwrap().iter().map(|w| (w["project"].as_str().unwrap().to_string(), w["version"].as_str().unwrap().to_string())).collect();
    for p in ["httpx", "protobuf", "lxml", "safetensors", "einops", "omegaconf"] {
        let v = ours.get(p).unwrap_or_else(|| panic!("{p} is in the set: {ours:?}"));
        assert!(!is_pre(v), "{p}=={v} is a pre-release");
    }

    let req_in = gap.write("req.in", &(reqs.join("\n") + "\n"));
    let out = gap.path("uv.txt");
    let python = e2e::pypi::python().display().to_string();
    let args = [
        "pip",
        "compile",
        "-q",
        "--no-header",
        "--python",
        &python,
        "--python-version",
        "3.11",
        "--python-platform",
        "x86_64-manylinux_2_36",
        "--index-url",
        "https://pypi.org/simple/",
        req_in.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    let r = uv_run(&args, &[]);
    assert_eq!(r.status, 0, "uv pip compile failed: {}", r.stderr);
    let theirs: BTreeMap<String, String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_whitespace().next()?.split_once("==").map(|(n, v)| (normalize(n), v.to_string())))
        .collect();
    assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>(), "bundler (left) and uv (right) carry other projects");
    for (p, v) in &ours {
        let uv = &theirs[p];
        if v != uv {
            let page = e2e::pypi::fetch("GET", &format!("https://pypi.org/simple/{p}/"), Some("text/html"), None).text();
            let wheel = format!("{}-{uv}-", p.replace('-', "_"));
            assert!(!page.to_lowercase().contains(&wheel.to_lowercase()), "{p}: bundler {v}, uv {uv}, which has a wheel");
        }
    }
}
