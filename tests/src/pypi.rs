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

use crate::procs::Server;
use crate::{free_port, http_status, run_within, Run};

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
const PIP_FOR_TARGET: &str = r#"
import json, os, sys
import pip._vendor.packaging.markers as markers
target = json.loads(os.environ["FEAS_MARKER_ENV"])
host = markers.default_environment
def for_target():
    env = host()
    env.update(target)
    return env
markers.default_environment = for_target
from pip._internal.cli.main import main
sys.exit(main(sys.argv[1:]))
"#;

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
// Distributions

/// One distribution file to build: a wheel for one (compressed) tag set, or an sdist.
#[derive(Clone, Debug)]
pub struct DistSpec {
    /// As written in METADATA (`Foo.Bar`); file names and the index use its normalized forms.
    pub name: String,
    pub version: String,
    /// `py3-none-any`, `cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64`; `None`: sdist.
    pub tag: Option<String>,
    pub requires_dist: Vec<String>,
    pub provides_extra: Vec<String>,
    pub requires_python: Option<String>,
    /// `Some(reason)` (may be empty): listed as yanked (PEP 592).
    pub yanked: Option<String>,
    /// Eight characters written into `__init__.py` (`tamper` swaps them, keeping the size).
    pub payload: String,
}

impl DistSpec {
    pub fn wheel(name: &str, version: &str, tag: &str) -> DistSpec {
        DistSpec {
            name: name.into(),
            version: version.into(),
            tag: Some(tag.into()),
            requires_dist: Vec::new(),
            provides_extra: Vec::new(),
            requires_python: None,
            yanked: None,
            payload: "original".into(),
        }
    }
    pub fn sdist(name: &str, version: &str) -> DistSpec {
        DistSpec { tag: None, ..DistSpec::wheel(name, version, "") }
    }
    /// A pure wheel `py3-none-any`.
    pub fn pure(name: &str, version: &str) -> DistSpec {
        DistSpec::wheel(name, version, "py3-none-any")
    }
    /// `Requires-Dist:` (PEP 508, markers and extras as written).
    pub fn requires(mut self, req: &str) -> DistSpec {
        self.requires_dist.push(req.into());
        self
    }
    pub fn extra(mut self, extra: &str) -> DistSpec {
        self.provides_extra.push(extra.into());
        self
    }
    pub fn requires_python(mut self, spec: &str) -> DistSpec {
        self.requires_python = Some(spec.into());
        self
    }
    pub fn yanked(mut self, reason: &str) -> DistSpec {
        self.yanked = Some(reason.into());
        self
    }
    pub fn is_wheel(&self) -> bool {
        self.tag.is_some()
    }
    pub fn project(&self) -> String {
        normalize(&self.name)
    }
    /// The import name of its one module.
    pub fn module(&self) -> String {
        file_stem_name(&self.name)
    }
    /// `foo_bar-1.0-py3-none-any.whl`, `srconly-1.0.tar.gz`
    pub fn filename(&self) -> String {
        match &self.tag {
            Some(t) => format!("{}-{}-{t}.whl", file_stem_name(&self.name), self.version),
            None => format!("{}-{}.tar.gz", file_stem_name(&self.name), self.version),
        }
    }
    /// Core metadata: METADATA of a wheel, PKG-INFO of an sdist.
    pub fn metadata(&self) -> String {
        let mv = if self.is_wheel() { "2.1" } else { "2.2" };
        let mut m = format!("Metadata-Version: {mv}\nName: {}\nVersion: {}\nSummary: stand-in {} built by the e2e harness\n", self.name, self.version, self.name);
        if let Some(rp) = &self.requires_python {
            m.push_str(&format!("Requires-Python: {rp}\n"));
        }
        for e in &self.provides_extra {
            m.push_str(&format!("Provides-Extra: {e}\n"));
        }
        for r in &self.requires_dist {
            m.push_str(&format!("Requires-Dist: {r}\n"));
        }
        m
    }
    /// Every tag of a compressed tag set (`py2.py3-none-any` → py2-none-any, py3-none-any).
    pub fn tags(&self) -> Vec<String> {
        let Some(t) = &self.tag else { return Vec::new() };
        let parts: Vec<&str> = t.splitn(3, '-').collect();
        assert_eq!(parts.len(), 3, "tag {t} is not python-abi-platform");
        let mut v = Vec::new();
        for py in parts[0].split('.') {
            for abi in parts[1].split('.') {
                for plat in parts[2].split('.') {
                    v.push(format!("{py}-{abi}-{plat}"));
                }
            }
        }
        v
    }
    fn init_py(&self) -> String {
        format!("VERSION = {:?}\nTAG = {:?}\nPAYLOAD = {:?}\n", self.version, self.tag.clone().unwrap_or_else(|| "sdist".into()), self.payload)
    }
    /// The file's bytes (deterministic: fixed times, fixed order).
    pub fn build(&self) -> Vec<u8> {
        assert_eq!(self.payload.len(), 8, "payload is eight characters");
        if self.is_wheel() {
            self.build_wheel()
        } else {
            self.build_sdist()
        }
    }
    fn build_wheel(&self) -> Vec<u8> {
        let di = format!("{}-{}.dist-info", file_stem_name(&self.name), self.version);
        let pure = self.tags().iter().all(|t| t.ends_with("-none-any"));
        let mut wheel = format!("Wheel-Version: 1.0\nGenerator: feas-e2e (1.0)\nRoot-Is-Purelib: {pure}\n");
        for t in self.tags() {
            wheel.push_str(&format!("Tag: {t}\n"));
        }
        let files: Vec<(String, Vec<u8>)> = vec![
            (format!("{}/__init__.py", self.module()), self.init_py().into_bytes()),
            (format!("{di}/METADATA"), self.metadata().into_bytes()),
            (format!("{di}/WHEEL"), wheel.into_bytes()),
        ];
        let mut record = String::new();
        for (n, b) in &files {
            record.push_str(&format!("{n},sha256={},{}\n", b64url(&sha2_raw(b)), b.len()));
        }
        record.push_str(&format!("{di}/RECORD,,\n"));
        let mut all = files;
        all.push((format!("{di}/RECORD"), record.into_bytes()));
        zip_stored(&all)
    }
    fn build_sdist(&self) -> Vec<u8> {
        let top = format!("{}-{}", file_stem_name(&self.name), self.version);
        let pyproject =
            format!("[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = {:?}\nversion = {:?}\n", self.name, self.version);
        let files = [(format!("{top}/PKG-INFO"), self.metadata()), (format!("{top}/pyproject.toml"), pyproject), (format!("{top}/{}/__init__.py", self.module()), self.init_py())];
        let gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        tar.mode(tar::HeaderMode::Deterministic);
        for (path, text) in &files {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(1_700_000_000);
            h.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut h, path, text.as_bytes()).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }
}

fn sha2_raw(b: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(b).to_vec()
}

/// A zip archive of stored (uncompressed) entries, every time 1980-01-01 00:00, mode 0644.
pub fn zip_stored(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    let mut central: Vec<u8> = Vec::new();
    let (time, date) = (0u16, (1u16 << 5) | 1);
    for (name, data) in entries {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let crc = crc.sum();
        let offset = out.len() as u32;
        let size = data.len() as u32;
        let n = name.as_bytes();
        out.extend(0x0403_4b50u32.to_le_bytes());
        for v in [20u16, 0, 0, time, date] {
            out.extend(v.to_le_bytes());
        }
        for v in [crc, size, size] {
            out.extend(v.to_le_bytes());
        }
        out.extend((n.len() as u16).to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out.extend(n);
        out.extend(data);
        central.extend(0x0201_4b50u32.to_le_bytes());
        for v in [(3u16 << 8) | 20, 20, 0, 0, time, date] {
            out_extend(&mut central, v);
        }
        for v in [crc, size, size] {
            central.extend(v.to_le_bytes());
        }
        for v in [n.len() as u16, 0, 0, 0, 0] {
            out_extend(&mut central, v);
        }
        central.extend((0o100_644u32 << 16).to_le_bytes());
        central.extend(offset.to_le_bytes());
        central.extend(n);
    }
    let cd_offset = out.len() as u32;
    let cd_size = central.len() as u32;
    out.extend(central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    for v in [0u16, 0, entries.len() as u16, entries.len() as u16] {
        out.extend(v.to_le_bytes());
    }
    out.extend(cd_size.to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

fn out_extend(v: &mut Vec<u8>, x: u16) {
    v.extend(x.to_le_bytes());
}

/// A distribution as it lies in the stand-in index.
#[derive(Clone, Debug)]
pub struct BuiltDist {
    pub spec: DistSpec,
    pub filename: String,
    /// Lower-case hex, as the index gives it.
    pub sha256: String,
    pub size: u64,
    /// The core metadata text and its sha256 (hex); `.metadata` files hold exactly it.
    pub metadata: String,
    pub metadata_sha256: String,
}

// ---------------------------------------------------------------------------------------------
// The index

/// How the stand-in answers `/simple/` pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pages {
    /// PEP 691 JSON or PEP 503 HTML as the `Accept` header prefers (PyPI's behaviour).
    Negotiate,
    /// HTML whatever is asked (a static file server).
    Html,
    /// JSON whatever is asked.
    Json,
}

/// Builder of a stand-in PEP 503/691 index.
pub struct PyIndexBuilder {
    dir: PathBuf,
    dists: Vec<DistSpec>,
    metadata_files: bool,
    pages: Pages,
}

impl PyIndexBuilder {
    /// An index under `dir` (`dir/simple/…` pages, `dir/files/…` distributions).
    pub fn new(dir: &Path) -> PyIndexBuilder {
        PyIndexBuilder { dir: dir.to_path_buf(), dists: Vec::new(), metadata_files: true, pages: Pages::Negotiate }
    }
    pub fn dist(mut self, d: DistSpec) -> Self {
        self.dists.push(d);
        self
    }
    pub fn dists(mut self, d: impl IntoIterator<Item = DistSpec>) -> Self {
        self.dists.extend(d);
        self
    }
    /// Without PEP 658/714: no `.metadata` files and no `core-metadata` attributes (a client must
    /// read METADATA from the wheel).
    pub fn without_metadata_files(mut self) -> Self {
        self.metadata_files = false;
        self
    }
    pub fn pages(mut self, p: Pages) -> Self {
        self.pages = p;
        self
    }
    pub fn build(self) -> PyIndex {
        std::fs::create_dir_all(self.dir.join("files")).unwrap();
        std::fs::create_dir_all(self.dir.join("simple")).unwrap();
        let mut idx = PyIndex { root: self.dir, dists: Vec::new(), metadata_files: self.metadata_files, pages: self.pages };
        for d in self.dists {
            idx.add(d);
        }
        idx.publish();
        idx
    }
}

/// A built stand-in index.
pub struct PyIndex {
    /// Holds `simple/` and `files/`.
    pub root: PathBuf,
    dists: Vec<BuiltDist>,
    pub metadata_files: bool,
    pub pages: Pages,
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl PyIndex {
    pub fn dists(&self) -> &[BuiltDist] {
        &self.dists
    }
    /// The distribution file `filename`.
    pub fn dist(&self, filename: &str) -> &BuiltDist {
        self.dists.iter().find(|d| d.filename == filename).unwrap_or_else(|| panic!("no {filename} in the stand-in index"))
    }
    pub fn has(&self, filename: &str) -> bool {
        self.dists.iter().any(|d| d.filename == filename)
    }
    pub fn file_path(&self, filename: &str) -> PathBuf {
        self.root.join("files").join(filename)
    }
    /// Normalized project names.
    pub fn projects(&self) -> BTreeSet<String> {
        self.dists.iter().map(|d| d.spec.project()).collect()
    }

    /// Build a distribution into `files/` (replacing one with the same file name); `publish`
    /// lists it.
    pub fn add(&mut self, spec: DistSpec) -> &BuiltDist {
        let bytes = spec.build();
        let filename = spec.filename();
        std::fs::write(self.file_path(&filename), &bytes).unwrap();
        let metadata = spec.metadata();
        let metadata_sha256 = hex_sha256(metadata.as_bytes());
        if self.metadata_files && spec.is_wheel() {
            std::fs::write(self.file_path(&format!("{filename}.metadata")), &metadata).unwrap();
        }
        self.dists.retain(|d| d.filename != filename);
        self.dists.push(BuiltDist { spec, filename, sha256: hex_sha256(&bytes), size: bytes.len() as u64, metadata, metadata_sha256 });
        self.dists.last().unwrap()
    }

    /// Take a file out of the index (and its `.metadata`); `publish` to apply.
    pub fn remove(&mut self, filename: &str) {
        self.dists.retain(|d| d.filename != filename);
        let _ = std::fs::remove_file(self.file_path(filename));
        let _ = std::fs::remove_file(self.file_path(&format!("{filename}.metadata")));
    }

    /// Write every `/simple/` page (HTML and JSON) from the current files.
    pub fn publish(&self) {
        let simple = self.root.join("simple");
        let _ = std::fs::remove_dir_all(&simple);
        std::fs::create_dir_all(&simple).unwrap();
        let projects = self.projects();
        let meta = "<meta name=\"pypi:repository-version\" content=\"1.1\">";
        let mut list = format!("<!DOCTYPE html>\n<html><head>{meta}<title>Simple index</title></head><body>\n");
        for p in &projects {
            list.push_str(&format!("<a href=\"{p}/\">{p}</a><br>\n"));
        }
        list.push_str("</body></html>\n");
        std::fs::write(simple.join("index.html"), list).unwrap();
        let json = serde_json::json!({"meta": {"api-version": "1.1"}, "projects": projects.iter().map(|p| serde_json::json!({"name": p})).collect::<Vec<_>>()});
        std::fs::write(simple.join("index.json"), serde_json::to_vec_pretty(&json).unwrap()).unwrap();

        for p in &projects {
            let dir = simple.join(p);
            std::fs::create_dir_all(&dir).unwrap();
            let mut files: Vec<&BuiltDist> = self.dists.iter().filter(|d| &d.spec.project() == p).collect();
            files.sort_by(|a, b| a.filename.cmp(&b.filename));
            let mut html = format!("<!DOCTYPE html>\n<html><head>{meta}<title>Links for {p}</title></head><body><h1>Links for {p}</h1>\n");
            let mut jfiles = Vec::new();
            let mut versions = BTreeSet::new();
            for d in files {
                versions.insert(d.spec.version.clone());
                let href = format!("../../files/{}", d.filename);
                let mut attrs = String::new();
                let mut jf = serde_json::json!({"filename": d.filename, "url": href, "hashes": {"sha256": d.sha256}, "size": d.size});
                if let Some(rp) = &d.spec.requires_python {
                    attrs.push_str(&format!(" data-requires-python=\"{}\"", html_escape(rp)));
                    jf["requires-python"] = rp.clone().into();
                }
                if let Some(y) = &d.spec.yanked {
                    attrs.push_str(&format!(" data-yanked=\"{}\"", html_escape(y)));
                    jf["yanked"] = if y.is_empty() { true.into() } else { y.clone().into() };
                }
                if self.metadata_files && d.spec.is_wheel() {
                    let v = format!("sha256={}", d.metadata_sha256);
                    attrs.push_str(&format!(" data-dist-info-metadata=\"{v}\" data-core-metadata=\"{v}\""));
                    jf["core-metadata"] = serde_json::json!({"sha256": d.metadata_sha256});
                    jf["dist-info-metadata"] = serde_json::json!({"sha256": d.metadata_sha256});
                }
                html.push_str(&format!("<a href=\"{href}#sha256={}\"{attrs}>{}</a><br>\n", d.sha256, d.filename));
                jfiles.push(jf);
            }
            html.push_str("</body></html>\n");
            std::fs::write(dir.join("index.html"), html).unwrap();
            let json = serde_json::json!({"meta": {"api-version": "1.1"}, "name": p, "files": jfiles, "versions": versions});
            std::fs::write(dir.join("index.json"), serde_json::to_vec_pretty(&json).unwrap()).unwrap();
        }
    }

    /// Replace a distribution's bytes after indexing: the same size, still a valid wheel (its own
    /// RECORD matches), but not the sha256 the index gives. Returns the new sha256.
    pub fn tamper(&self, filename: &str) -> String {
        let d = self.dist(filename);
        let mut spec = d.spec.clone();
        spec.payload = "tampered".into();
        let bytes = spec.build();
        assert_eq!(bytes.len() as u64, d.size, "a tampered {filename} keeps its size");
        std::fs::write(self.file_path(filename), &bytes).unwrap();
        let sha = hex_sha256(&bytes);
        assert_ne!(sha, d.sha256);
        sha
    }

    /// Put the indexed bytes back after `tamper`.
    pub fn restore(&self, filename: &str) {
        let d = self.dist(filename);
        std::fs::write(self.file_path(filename), d.spec.build()).unwrap();
    }

    /// Serve the index on a free loopback port.
    pub fn serve(&self) -> PyServer {
        PyServer::start(&self.root, self.pages)
    }
}

// ---------------------------------------------------------------------------------------------
// The server

/// A static file server that answers `/simple/` and `/simple/<project>/` with the page's
/// `index.json` or `index.html` as `Accept` prefers (q-values honoured), redirects
/// non-normalized project names (301) like PyPI, and logs `METHOD PATH STATUS "ACCEPT"` lines.
const SERVER: &str = r##"
import http.server, io, json, os, re, sys
root, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
JSON = "application/vnd.pypi.simple.v1+json"
def wants_json(accept):
    best_q, best = -1.0, "html"
    for part in accept.split(","):
        bits = [b.strip() for b in part.split(";")]
        mt, q = bits[0].lower(), 1.0
        for b in bits[1:]:
            if b.startswith("q="):
                try:
                    q = float(b[2:])
                except ValueError:
                    q = 0.0
        kind = {JSON: "json", "application/vnd.pypi.simple.latest+json": "json",
                "application/vnd.pypi.simple.v1+html": "html", "application/vnd.pypi.simple.latest+html": "html",
                "text/html": "html", "*/*": "html"}.get(mt)
        if kind and q > best_q:
            best_q, best = q, kind
    return best == "json"
class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=root, **k)
    def log_request(self, code="-", size="-"):
        code = getattr(code, "value", code)
        sys.stdout.write("REQ %s %s %s %s\n" % (self.command, self.path, code, json.dumps(self.headers.get("Accept", ""))))
        sys.stdout.flush()
    def log_message(self, fmt, *args):
        sys.stdout.write((fmt % args) + "\n")
        sys.stdout.flush()
    def send_head(self):
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        m = re.fullmatch(r"/simple/([^/]+)/?", path)
        if m:
            norm = re.sub(r"[-_.]+", "-", m.group(1)).lower()
            if norm != m.group(1) or not path.endswith("/"):
                self.send_response(301)
                self.send_header("Location", "/simple/%s/" % norm)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
        if path == "/simple/" or m:
            j = mode == "json" or (mode == "negotiate" and wants_json(self.headers.get("Accept", "")))
            f = os.path.join(root, path.strip("/"), "index.json" if j else "index.html")
            if not os.path.isfile(f):
                self.send_error(404)
                return None
            body = open(f, "rb").read()
            self.send_response(200)
            self.send_header("Content-Type", JSON if j else "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Vary", "Accept")
            self.end_headers()
            return io.BytesIO(body)
        return super().send_head()
http.server.ThreadingHTTPServer.allow_reuse_address = False
httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
print("listening on 127.0.0.1:%d" % port, flush=True)
httpd.serve_forever()
"##;

/// One request the stand-in saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub status: String,
    pub accept: String,
}

/// The stand-in index server, stopped on drop (or by `stop`: the index is then down).
pub struct PyServer {
    pub server: Server,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl PyServer {
    pub fn start(root: &Path, pages: Pages) -> PyServer {
        let dir = tempfile::Builder::new().prefix("pyserver").tempdir().unwrap();
        let script = dir.path().join("standin_index.py");
        std::fs::write(&script, SERVER).unwrap();
        let mode = match pages {
            Pages::Negotiate => "negotiate",
            Pages::Html => "html",
            Pages::Json => "json",
        };
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = isolated(&python());
            cmd.arg("-u").arg(&script).arg(root).arg(port.to_string()).arg(mode);
            let mut server = Server::start("stand-in index", &mut cmd, dir.path().join(format!("index-{port}.log")));
            match server.try_wait_until("ready", || http_status(&format!("http://127.0.0.1:{port}/simple/")) == 200) {
                Ok(()) => return PyServer { server, port, dir },
                Err(e) if e.to_lowercase().contains("address already in use") => last = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("stand-in index: no free port after 3 attempts: {last}");
    }

    /// `http://127.0.0.1:PORT/simple/`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/simple/", self.port)
    }

    /// `http://127.0.0.1:PORT/files/FILENAME`
    pub fn file_url(&self, filename: &str) -> String {
        format!("http://127.0.0.1:{}/files/{filename}", self.port)
    }

    /// Requests seen so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.server
            .log_text()
            .lines()
            .filter_map(|l| {
                let rest = l.strip_prefix("REQ ")?;
                let mut it = rest.splitn(4, ' ');
                let (method, path, status, accept) = (it.next()?, it.next()?, it.next()?, it.next().unwrap_or("\"\""));
                Some(Seen { method: method.into(), path: path.into(), status: status.into(), accept: serde_json::from_str(accept).unwrap_or_default() })
            })
            .collect()
    }

    /// Stop serving (the index is down from now on); the port stays unanswered.
    pub fn stop(&mut self) {
        assert!(self.server.terminate(), "stand-in index did not stop");
        assert_eq!(http_status(&self.url()), 0, "{} still answers", self.url());
    }

    pub fn log_dir(&self) -> &Path {
        self.dir.path()
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

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

/// The links of a PEP 503 page: (file name or text, href, attributes), read with a small tag
/// scanner (attribute values HTML-unescaped).
pub fn html_links(html: &str) -> Vec<(String, String, BTreeMap<String, String>)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<a ") {
        rest = &rest[i + 3..];
        let Some(end) = rest.find('>') else { break };
        let attrs = parse_attrs(&rest[..end]);
        rest = &rest[end + 1..];
        let text_end = rest.find("</a>").unwrap_or(rest.len());
        let text = unescape(rest[..text_end].trim());
        let href = attrs.get("href").cloned().unwrap_or_default();
        out.push((text, href, attrs));
    }
    out
}

fn parse_attrs(s: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() && b[i] != b'/' {
            i += 1;
        }
        let name = s[start..i].to_lowercase();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            let q = b.get(i).copied();
            let v = if q == Some(b'"') || q == Some(b'\'') {
                i += 1;
                let vs = i;
                while i < b.len() && Some(b[i]) != q {
                    i += 1;
                }
                let v = &s[vs..i];
                i += 1;
                v
            } else {
                let vs = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                &s[vs..i]
            };
            m.insert(name, unescape(v));
        } else {
            if !name.is_empty() {
                m.insert(name, String::new());
            }
            i += 1;
        }
    }
    m
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&#x27;", "'").replace("&amp;", "&")
}

// ---------------------------------------------------------------------------------------------
// Lock file

/// One `[[wheel]]` entry of a `bundles.lock`.
#[derive(Clone, Debug)]
pub struct LockedWheel {
    pub name: String,
    pub source: String,
    pub index: String,
    pub project: String,
    pub version: String,
    pub filename: String,
    /// `sha256:<hex>` as written.
    pub sha256: String,
    pub size: u64,
    pub requires_python: Option<String>,
    pub targets: Vec<String>,
    /// The whole table, for messages.
    pub raw: toml::Value,
}

impl LockedWheel {
    /// Lower-case hex, without `sha256:`.
    pub fn hex(&self) -> String {
        self.sha256.trim_start_matches("sha256:").to_lowercase()
    }
}

/// The `[[wheel]]` entries of a lock file's text; panics (with the text) on a missing field.
pub fn lock_wheels(text: &str) -> Vec<LockedWheel> {
    let v: toml::Value = toml::from_str(text).unwrap_or_else(|e| panic!("bundles.lock is not TOML ({e}):\n{text}"));
    let Some(list) = v.get("wheel") else { return Vec::new() };
    let list = list.as_array().unwrap_or_else(|| panic!("`wheel` is not an array of tables:\n{text}"));
    list.iter()
        .map(|w| {
            let s = |k: &str| w.get(k).and_then(|x| x.as_str()).map(String::from).unwrap_or_else(|| panic!("[[wheel]] without string `{k}`: {w}\n{text}"));
            assert_eq!(s("kind"), "wheel", "{w}");
            LockedWheel {
                name: s("name"),
                source: s("source"),
                index: s("index"),
                project: s("project"),
                version: s("version"),
                filename: s("filename"),
                sha256: s("sha256"),
                size: w.get("size").and_then(|x| x.as_integer()).unwrap_or_else(|| panic!("[[wheel]] without integer `size`: {w}")) as u64,
                requires_python: w.get("requires_python").and_then(|x| x.as_str()).map(String::from),
                targets: w
                    .get("targets")
                    .and_then(|x| x.as_array())
                    .unwrap_or_else(|| panic!("[[wheel]] without `targets` list: {w}"))
                    .iter()
                    .map(|t| t.as_str().unwrap_or_else(|| panic!("targets holds strings: {w}")).to_string())
                    .collect(),
                raw: w.clone(),
            }
        })
        .collect()
}

/// The versions a lock pins for one target: project → version.
pub fn lock_pins_for(wheels: &[LockedWheel], target: &Target) -> BTreeMap<String, String> {
    wheels.iter().filter(|w| w.targets.iter().any(|t| target.named_by(t))).map(|w| (w.project.clone(), w.version.clone())).collect()
}

/// The file names a lock carries for one target.
pub fn lock_files_for(wheels: &[LockedWheel], target: &Target) -> BTreeSet<String> {
    wheels.iter().filter(|w| w.targets.iter().any(|t| target.named_by(t))).map(|w| w.filename.clone()).collect()
}

/// A `--require-hashes` requirements file from locked entries: `project==version
/// --hash=sha256:…` (every locked file of that version).
pub fn hashed_requirements(wheels: &[LockedWheel]) -> String {
    let mut by: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for w in wheels {
        by.entry((w.project.clone(), w.version.clone())).or_default().insert(w.hex());
    }
    let mut out = String::new();
    for ((p, v), hashes) in by {
        out.push_str(&format!("{p}=={v}"));
        for h in hashes {
            out.push_str(&format!(" \\\n    --hash=sha256:{h}"));
        }
        out.push('\n');
    }
    out
}
