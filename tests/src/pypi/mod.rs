//! Python packages written by code and real pip/uv against them: wheels and sdists built in
//! Rust (a wheel is a zip with `<pkg>/__init__.py` and a `.dist-info` holding METADATA, WHEEL and
//! a RECORD of sha256s), a stand-in PEP 503/691 index (HTML and JSON by `Accept`, `#sha256=`,
//! `data-requires-python`, `data-yanked`, PEP 658/714 `.metadata` files) served by a small
//! stdlib Python server on a free loopback port, and clients that read nothing but what a test
//! hands them: pip with `PIP_CONFIG_FILE=/dev/null` and no `PIP_*` from the environment, uv with
//! `--no-config`, no caches, fresh venvs in temp dirs.
//!
//! The clients come from `FEAS_PYTHON` (scripts/test.sh makes a venv with pinned pip and uv and
//! exports it): pip is `$FEAS_PYTHON -m pip`, uv the `uv` beside it. Without `FEAS_PYTHON` the
//! workspace's `target/pyclients/bin/python` is used when it exists, else `python3`/`uv` on PATH.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::{run_within, Run};

mod dist;
mod index;
mod lock;

pub use dist::{BuiltDist, DistSpec};
pub use index::{Pages, PyIndex, PyIndexBuilder, PyServer, Seen};
pub use lock::{hashed_requirements, lock_files_for, lock_pins_for, lock_wheels, LockedWheel};

/// A pip or uv call is bounded well below a test's budget.
pub const PIP_WITHIN: Duration = Duration::from_secs(90);

fn hex_sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Unpadded URL-safe base64 (RECORD's hash encoding).
fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// PEP 503 normalization: lower case, runs of `-`, `_`, `.` become one `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The name part of a wheel or sdist file name (`Foo.Bar` → `foo_bar`).
pub fn file_stem_name(name: &str) -> String {
    normalize(name).replace('-', "_")
}

// ---------------------------------------------------------------------------------------------
// Clients

/// The interpreter whose pip (and the uv beside it) the suite drives.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("FEAS_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("target/pyclients/bin/python");
    if ws.exists() {
        return ws;
    }
    PathBuf::from("python3")
}

/// `uv` next to `python()` when it is there, else `uv` on PATH.
pub fn uv() -> PathBuf {
    let py = python();
    if let Some(dir) = py.parent().filter(|d| !d.as_os_str().is_empty()) {
        let u = dir.join("uv");
        if u.exists() {
            return u;
        }
    }
    PathBuf::from("uv")
}

/// Run bounded by `PIP_WITHIN`.
pub fn run(cmd: &mut Command) -> Run {
    run_within(cmd, PIP_WITHIN)
}

/// A command with no pip/uv configuration from this machine: no `PIP_*`/`UV_*` variables (CI
/// images set `PIP_FIND_LINKS` and the like), no config files, no proxy for loopback.
fn isolated(program: &Path) -> Command {
    let mut c = Command::new(program);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("PIP_") || k.starts_with("UV_") || k == "VIRTUAL_ENV" || k == "PYTHONPATH" || k == "PYTHONHOME" {
            c.env_remove(&k);
        }
    }
    c.env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1")
        .env("UV_NO_CONFIG", "1")
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env("LC_ALL", "C.UTF-8");
    c
}

/// `$PYTHON -m pip ARGS` with nothing from this machine's pip configuration (not asserting).
pub fn pip(args: &[&str]) -> Run {
    run(isolated(&python()).args(["-m", "pip"]).args(args))
}

/// The same with extra environment (e.g. `PIP_CONFIG_FILE` of a generated pip.conf).
pub fn pip_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = isolated(&python());
    c.args(["-m", "pip"]).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    run(&mut c)
}

/// `uv ARGS` with no configuration, cache or interpreter downloads (not asserting).
pub fn uv_run(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = isolated(&uv());
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    run(&mut c)
}

/// pip's and uv's versions, for messages.
pub fn client_versions() -> String {
    let p = pip(&["--version"]);
    let u = uv_run(&["--version"], &[]);
    format!("{} / {}", p.stdout.trim(), u.stdout.trim())
}

/// What a target interpreter is: Python version, CPU and C library (glibc or musl) with its
/// version. It gives pip's `--platform` list, the marker environment and the lock's target name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `3.11`
    pub python: String,
    /// `x86_64`, `aarch64`
    pub arch: String,
    /// `glibc` or `musl`
    pub libc: String,
    /// `2.17` (glibc) or `1.2` (musl)
    pub libc_version: String,
}

impl Target {
    pub fn glibc(python: &str, arch: &str, glibc: &str) -> Target {
        Target { python: python.into(), arch: arch.into(), libc: "glibc".into(), libc_version: glibc.into() }
    }
    pub fn musl(python: &str, arch: &str, musl: &str) -> Target {
        Target { python: python.into(), arch: arch.into(), libc: "musl".into(), libc_version: musl.into() }
    }
    /// `cp311`
    pub fn cp(&self) -> String {
        format!("cp{}", self.python.replace('.', ""))
    }
    fn libc_minor(&self) -> (u32, u32) {
        let (a, b) = self.libc_version.split_once('.').expect("libc version MAJOR.MINOR");
        (a.parse().unwrap(), b.parse().unwrap())
    }
    /// Every platform tag such an interpreter accepts for binary wheels, most preferred first, as
    /// `packaging.tags` lists them (manylinux_2_N down to the oldest for the CPU with the legacy
    /// aliases manylinux2014/2010/1 beside 2_17/2_12/2_5; musllinux_1_N down to 1_0). `linux_*`
    /// is left out: it promises no baseline (PyPI refuses such uploads).
    pub fn platforms(&self) -> Vec<String> {
        let (major, minor) = self.libc_minor();
        let a = &self.arch;
        let mut v = Vec::new();
        if self.libc == "musl" {
            for m in (0..=minor).rev() {
                v.push(format!("musllinux_{major}_{m}_{a}"));
            }
            return v;
        }
        let oldest = if matches!(a.as_str(), "x86_64" | "i686") { 5 } else { 17 };
        for m in (oldest..=minor).rev() {
            v.push(format!("manylinux_{major}_{m}_{a}"));
            let legacy = match m {
                17 if matches!(a.as_str(), "x86_64" | "i686" | "aarch64" | "armv7l" | "ppc64" | "ppc64le" | "s390x") => Some("manylinux2014"),
                12 if matches!(a.as_str(), "x86_64" | "i686") => Some("manylinux2010"),
                5 if matches!(a.as_str(), "x86_64" | "i686") => Some("manylinux1"),
                _ => None,
            };
            if let Some(l) = legacy {
                v.push(format!("{l}_{a}"));
            }
        }
        v
    }
    /// The PEP 508 marker values that differ from one target to another.
    pub fn marker_env(&self) -> serde_json::Value {
        serde_json::json!({
            "python_version": self.python,
            "python_full_version": format!("{}.0", self.python),
            "implementation_version": format!("{}.0", self.python),
            "platform_machine": self.arch,
            "sys_platform": "linux",
            "platform_system": "Linux",
            "os_name": "posix",
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
        })
    }
    /// Whether a lock's `targets` string names this target: it carries the interpreter (`cp311`)
    /// and the CPU, and says musllinux exactly when the target is musl
    /// (`cp311-manylinux_2_17_x86_64`).
    pub fn named_by(&self, s: &str) -> bool {
        let l = s.to_lowercase();
        let words: Vec<&str> = l.split(|c: char| !c.is_ascii_alphanumeric()).collect();
        words.contains(&self.cp().as_str()) && l.contains(&self.arch) && (l.contains("musl") == (self.libc == "musl"))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{} {} {} {}", self.cp(), self.arch, self.libc, self.libc_version)
    }
}

/// pip's resolver evaluates environment markers against the interpreter it runs in, even with
/// `--python-version`/`--platform` (only tags and Requires-Python follow those). To learn what pip
/// chooses on another target this runs pip with packaging's marker environment set to the
/// target's values; everything else is unmodified pip.
const PIP_FOR_TARGET: &str = include_str!("pip_for_target.py");

/// pip's options that make it choose for `target` rather than for the interpreter it runs in:
/// wheels only, CPython, the target's Python version and every platform tag it accepts.
fn pip_target_args(index_url: &str, target: &Target) -> Vec<String> {
    let mut args: Vec<String> =
        ["--disable-pip-version-check", "--retries", "0", "--timeout", "15", "--index-url", index_url, "--only-binary=:all:"].iter().map(|s| s.to_string()).collect();
    args.extend(["--implementation", "cp", "--python-version", &target.python].iter().map(|s| s.to_string()));
    for p in target.platforms() {
        args.push("--platform".into());
        args.push(p);
    }
    args
}

/// `pip ARGS` (through `PIP_FOR_TARGET`, so markers are the target's) with extra environment.
fn pip_for_target(target: &Target, args: &[String], env: &[(&str, &str)], within: Duration) -> Run {
    let mut c = isolated(&python());
    c.args(["-c", PIP_FOR_TARGET]).args(args).env("FEAS_MARKER_ENV", target.marker_env().to_string());
    for (k, v) in env {
        c.env(k, v);
    }
    run_within(&mut c, within)
}

/// What `pip download` chose (file names) or why it failed.
pub fn pip_download(index_url: &str, target: &Target, reqs: &[&str], extra: &[&str], dir: &Path) -> Result<BTreeSet<String>, Run> {
    std::fs::create_dir_all(dir).unwrap();
    let mut args: Vec<String> = vec!["download".into(), "--no-cache-dir".into(), "-d".into(), dir.display().to_string()];
    args.extend(pip_target_args(index_url, target));
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(reqs.iter().map(|s| s.to_string()));
    let r = pip_for_target(target, &args, &[], PIP_WITHIN);
    if r.status != 0 {
        return Err(r);
    }
    Ok(files_in(dir))
}

/// What `pip install --dry-run --ignore-installed --report` would install on `target`
/// (normalized project → version), reading only metadata, or why pip failed. `report` is where
/// pip writes its JSON report; `env` may add e.g. `PIP_CACHE_DIR`. Bounded by `within`: a large
/// set on a cold cache takes pip minutes.
pub fn pip_report(index_url: &str, target: &Target, reqs: &[&str], report: &Path, env: &[(&str, &str)], within: Duration) -> Result<BTreeMap<String, String>, Run> {
    let mut args: Vec<String> = ["install", "--dry-run", "--ignore-installed", "--quiet", "--report"].iter().map(|s| s.to_string()).collect();
    args.push(report.display().to_string());
    args.extend(pip_target_args(index_url, target));
    args.extend(reqs.iter().map(|s| s.to_string()));
    let r = pip_for_target(target, &args, env, within);
    if r.status != 0 {
        return Err(r);
    }
    let text = std::fs::read_to_string(report).unwrap_or_else(|e| panic!("pip wrote no report at {}: {e}", report.display()));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("pip's report is not JSON ({e}): {text}"));
    let install = v["install"].as_array().unwrap_or_else(|| panic!("pip's report has no `install` list: {text}"));
    Ok(install
        .iter()
        .map(|i| {
            let m = &i["metadata"];
            let field = |k: &str| m[k].as_str().unwrap_or_else(|| panic!("pip's report entry without metadata.{k}: {i}")).to_string();
            (normalize(&field("name")), field("version"))
        })
        .collect())
}

/// The pins of a `uv pip compile` (or pip-compile) output: normalized project → version from its
/// `name==version` lines; comments, `--hash` continuations, options and blank lines skipped.
pub fn compiled_pins(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty() && !l.starts_with('-'))
        .filter_map(|l| {
            let pin = l.split(|c: char| c.is_whitespace() || c == ';' || c == '\\').next()?;
            let (name, version) = pin.split_once("==")?;
            Some((normalize(name.split('[').next().unwrap_or(name)), version.to_string()))
        })
        .collect()
}

/// `uv pip compile` of the requirements file `req_in` for `target` (wheels only, the target's
/// Python version and `ARCH-manylinux_2_N` / `ARCH-musllinux_1_N` platform), its pins or why
/// it failed. `env` may add e.g. `UV_CACHE_DIR`.
pub fn uv_compile(index_url: &str, target: &Target, req_in: &Path, out: &Path, env: &[(&str, &str)], within: Duration) -> Result<BTreeMap<String, String>, Run> {
    let libc = if target.libc == "musl" { "musllinux" } else { "manylinux" };
    let platform = format!("{}-{libc}_{}", target.arch, target.libc_version.replace('.', "_"));
    let py = python().display().to_string();
    let mut c = isolated(&uv());
    c.args(["pip", "compile", "-q", "--no-header", "--only-binary", ":all:", "--python", &py, "--index-url", index_url])
        .args(["--python-version", &target.python, "--python-platform", &platform])
        .arg(req_in)
        .arg("-o")
        .arg(out);
    for (k, v) in env {
        c.env(k, v);
    }
    let r = run_within(&mut c, within);
    if r.status != 0 {
        return Err(r);
    }
    Ok(compiled_pins(&std::fs::read_to_string(out).unwrap_or_else(|e| panic!("uv wrote no {}: {e}", out.display()))))
}

/// The same, asserting success.
#[track_caller]
pub fn pip_download_ok(index_url: &str, target: &Target, reqs: &[&str], dir: &Path) -> BTreeSet<String> {
    pip_download(index_url, target, reqs, &[], dir).unwrap_or_else(|r| panic!("pip download for {target} failed:\n{}\n{}", r.stdout, r.stderr))
}

/// File names directly in `dir`.
pub fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir).map(|rd| rd.flatten().filter(|e| e.path().is_file()).map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
}

/// A fresh virtual environment without pip in a temp dir; pip and uv install into it from the
/// outside (`pip --python`, `uv pip install --python`).
pub struct Venv {
    pub dir: tempfile::TempDir,
    pub python: PathBuf,
}

impl Default for Venv {
    fn default() -> Self {
        Self::new()
    }
}

impl Venv {
    pub fn new() -> Venv {
        let dir = tempfile::Builder::new().prefix("venv").tempdir().unwrap();
        run(isolated(&python()).args(["-m", "venv", "--without-pip"]).arg(dir.path())).ok();
        let python = dir.path().join("bin/python");
        assert!(python.exists(), "no {}", python.display());
        Venv { dir, python }
    }

    /// `pip --python VENV install --no-cache-dir ARGS` (not asserting).
    pub fn pip_install(&self, args: &[&str]) -> Run {
        self.pip_install_env(args, &[])
    }

    pub fn pip_install_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let py = self.python.display().to_string();
        let mut a = vec!["--python", &py, "install", "--no-cache-dir", "--retries", "0", "--timeout", "15"];
        a.extend_from_slice(args);
        pip_env(&a, env)
    }

    /// `uv pip install --python VENV --no-cache ARGS` (not asserting). `--no-config` unless
    /// `env`/`args` bring a configuration (then pass `--config-file`).
    pub fn uv_install(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let py = self.python.display().to_string();
        let mut a = vec!["pip", "install", "--python", &py, "--no-cache"];
        a.extend_from_slice(args);
        let mut env = env.to_vec();
        env.push(("VIRTUAL_ENV", self.dir.path().to_str().unwrap()));
        uv_run(&a, &env)
    }

    /// Installed distributions: normalized name → version.
    pub fn installed(&self) -> BTreeMap<String, String> {
        let code = "import importlib.metadata as m, json; print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))";
        let r = run(isolated(&self.python).args(["-c", code])).ok();
        let map: BTreeMap<String, String> = serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", r.stdout));
        map.into_iter().map(|(k, v)| (normalize(&k), v)).collect()
    }

    /// `import MODULE; print(MODULE.TAG, MODULE.PAYLOAD)` in the venv: which wheel's code is in.
    pub fn module_info(&self, module: &str) -> String {
        let code = format!("import {module}; print({module}.VERSION, {module}.TAG, {module}.PAYLOAD)");
        run(isolated(&self.python).args(["-c", &code]).current_dir(self.dir.path())).ok().stdout.trim().to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP through curl

/// A response as curl saw it (the last one when redirects were followed).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == &name.to_lowercase()).map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// `curl` a URL: `method` GET or HEAD, optional `Accept` and `Range`; redirects not followed.
pub fn fetch(method: &str, url: &str, accept: Option<&str>, range: Option<&str>) -> Response {
    let t = tempfile::tempdir().unwrap();
    let (h, b) = (t.path().join("headers"), t.path().join("body"));
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "20", "-D"]).arg(&h).arg("-o").arg(&b);
    if method == "HEAD" {
        c.arg("-I");
    } else if method != "GET" {
        c.args(["-X", method]);
    }
    if let Some(a) = accept {
        c.args(["-H", &format!("Accept: {a}")]);
    }
    if let Some(r) = range {
        c.args(["-H", &format!("Range: {r}")]);
    }
    c.arg(url).env("NO_PROXY", "127.0.0.1,localhost").env("no_proxy", "127.0.0.1,localhost");
    let r = run(&mut c).ok();
    let head = std::fs::read_to_string(&h).unwrap_or_else(|e| panic!("{e}: {}", r.stderr));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string())).collect();
    Response { status, headers, body: std::fs::read(&b).unwrap_or_default() }
}
