//! Opt-in (needs pypi.org; not in CI): a realistic requirement set resolved against the real
//! PyPI for a target unlike this machine (CPython 3.12, manylinux_2_17 aarch64) equals the
//! files `pip download --platform … --python-version 3.12 --only-binary=:all:` takes and the
//! versions `uv pip compile --only-binary :all: --python-platform aarch64-manylinux_2_17 --python-version 3.12` picks.
//! Run: `cargo build --workspace --bins && cargo test -p e2e --test pypi_pypi_org -- --ignored`.

use std::collections::BTreeSet;

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
    let args = ["pip", "compile", "-q", "--no-header", "--only-binary", ":all:", "--python-version", "3.12", "--python-platform", "aarch64-manylinux_2_17", "--index-url", "https://pypi.org/simple/", req_in.to_str().unwrap(), "-o", out.to_str().unwrap()];
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
