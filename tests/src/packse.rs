//! packse (astral-sh/packse on PyPI), the resolver scenarios uv is tested against: each scenario
//! names the packages of a small index, the root requirements, the target interpreter and the
//! expected outcome. They are built once with packse's own build code (`packse_build.py`) into a
//! static PEP 503 index cached under `target/` by packse version, served on loopback by the
//! stand-in index server, and each scenario is mapped onto a `pypi:` manifest entry (or the
//! reason it cannot be). uv resolves the same scenarios against the same index for comparison.
//!
//! packse needs CPython ≥ 3.12 and ships its scenarios only in its sdist: scripts/test.sh makes
//! `target/packse` (a venv with the pinned packse, and the sdist beside it); `FEAS_PACKSE` points
//! elsewhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::pypi::{lock_wheels, normalize, pip_download, uv_run};
use crate::{bin, run_within, Run};

/// The packse release whose scenarios the suite runs (scripts/test.sh pins the same).
pub const VERSION: &str = "0.3.59";
const DRIVER: &str = include_str!("packse_build.py");

/// Building every scenario takes a few minutes on two busy cores; it happens once per version.
const BUILD_WITHIN: std::time::Duration = std::time::Duration::from_secs(1200);
/// One `bundler lock` or `uv pip compile` of a scenario.
const RESOLVE_WITHIN: std::time::Duration = std::time::Duration::from_secs(120);

/// The venv packse is installed in: `$FEAS_PACKSE`, else `<workspace>/target/packse`.
pub fn venv() -> PathBuf {
    match std::env::var_os("FEAS_PACKSE").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("target/packse"),
    }
}

fn setup_hint() -> String {
    format!(
        "run scripts/test.sh (it makes target/packse: a CPython ≥ 3.12 venv with packse=={VERSION} and packse's sdist beside it), or by hand: \
         python3.12 -m venv target/packse && target/packse/bin/pip install packse=={VERSION} && target/packse/bin/pip download --no-deps --no-binary :all: -d target/packse packse=={VERSION}"
    )
}

/// The scenarios, built into an index under `dir`.
pub struct Built {
    pub dir: PathBuf,
    pub scenarios: Vec<Scenario>,
}

impl Built {
    /// Holds `simple/` and `files/` (what `PyServer::start` serves).
    pub fn index_root(&self) -> PathBuf {
        self.dir.join("index")
    }
    /// packse's vendored build backends (hatchling…): a find-links directory for sdist builds.
    pub fn vendor(&self) -> PathBuf {
        self.dir.join("vendor")
    }
}

/// The built scenarios under `cache/packse-<VERSION>`, building them first when missing (into a
/// temp dir renamed into place, so an interrupted build is never taken for a finished one).
pub fn built(cache: &Path) -> Built {
    let dir = cache.join(format!("packse-{VERSION}"));
    if !dir.join("scenarios.json").exists() {
        build(&dir);
    }
    let text = std::fs::read_to_string(dir.join("scenarios.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}/scenarios.json: {e}", dir.display()));
    let scenarios = v["scenarios"].as_array().expect("scenarios.json lists scenarios").iter().map(Scenario::from_json).collect();
    Built { dir, scenarios }
}

fn build(dir: &Path) {
    let venv = venv();
    let python = venv.join("bin/python");
    let sdist = venv.join(format!("packse-{VERSION}.tar.gz"));
    let probe = Command::new(&python).args(["-c", "import importlib.metadata as m; print(m.version('packse'))"]).output();
    let have = probe.ok().filter(|o| o.status.success()).map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    assert_eq!(have.as_deref(), Some(VERSION), "{} has no packse {VERSION}: {}", python.display(), setup_hint());
    assert!(sdist.exists(), "{} is missing (packse's scenarios ship only in its sdist): {}", sdist.display(), setup_hint());

    let tmp = dir.with_file_name(format!("packse-{VERSION}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    // Only the scenarios and the vendored build backends come out of the sdist.
    let top = format!("packse-{VERSION}/");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(&sdist).unwrap()));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let Some(rel) = path.strip_prefix(&top) else { continue };
        let dest = match rel.strip_prefix("vendor/build/") {
            Some(f) if !f.is_empty() => tmp.join("vendor").join(f),
            _ if rel.starts_with("scenarios/") => tmp.join(rel),
            _ => continue,
        };
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        if entry.header().entry_type().is_file() {
            entry.unpack(&dest).unwrap();
        }
    }
    let script = tmp.join("packse_build.py");
    std::fs::write(&script, DRIVER).unwrap();
    // packse runs `hatchling build` from PATH.
    let path = std::env::join_paths(std::iter::once(venv.join("bin")).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()))).unwrap();
    eprintln!("packse: building the scenarios into {} (once per packse version; a few minutes)", dir.display());
    let r = run_within(Command::new(&python).arg(&script).arg(tmp.join("scenarios")).arg(&tmp).env("PATH", path).env_remove("PYTHONPATH"), BUILD_WITHIN);
    assert_eq!(r.status, 0, "building the packse scenarios failed:\n{}\n{}", r.stdout, r.stderr);
    let _ = std::fs::remove_dir_all(tmp.join("build"));
    let _ = std::fs::remove_dir_all(tmp.join("dist"));
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&tmp, dir).unwrap();
}

/// One scenario, as `packse inspect --no-hash` describes it (package names carry the scenario
/// name: `<scenario>-<package>`).
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    /// The scenario file's directory: `prereleases`, `local`, `yanked`…
    pub category: String,
    /// Root requirements (PEP 508).
    pub root: Vec<String>,
    pub satisfiable: bool,
    /// Expected versions by normalized project name (only checked when satisfiable).
    pub packages: BTreeMap<String, String>,
    pub explanation: String,
    /// The interpreter the scenario runs on, and the one resolution targets when different.
    pub env_python: String,
    pub python: Option<String>,
    pub prereleases: bool,
    pub no_build: Vec<String>,
    pub no_binary: Vec<String>,
    pub universal: bool,
    pub python_platform: Option<String>,
}

impl Scenario {
    fn from_json(v: &serde_json::Value) -> Scenario {
        let s = |x: &serde_json::Value| x.as_str().map(String::from);
        let list = |x: &serde_json::Value| x.as_array().map(|a| a.iter().filter_map(|e| e.as_str().map(String::from)).collect()).unwrap_or_default();
        let source = s(&v["source"]).unwrap_or_default();
        let parts: Vec<&str> = source.split('/').collect();
        let category = parts.iter().position(|p| *p == "scenarios").and_then(|i| parts.get(i + 1)).filter(|c| !c.contains('.')).unwrap_or(&"scenarios").to_string();
        let o = &v["resolver_options"];
        Scenario {
            name: s(&v["name"]).expect("scenario name"),
            category,
            root: v["root"]["requires"].as_array().unwrap().iter().map(|r| s(&r["requirement"]).unwrap()).collect(),
            satisfiable: v["expected"]["satisfiable"].as_bool().unwrap(),
            packages: v["expected"]["packages"].as_array().unwrap().iter().map(|p| (normalize(p["name"].as_str().unwrap()), s(&p["version"]).unwrap())).collect(),
            explanation: s(&v["expected"]["explanation"]).unwrap_or_default(),
            env_python: s(&v["environment"]["python"]).unwrap_or_else(|| "3.12".into()),
            python: s(&o["python"]),
            prereleases: o["prereleases"].as_bool().unwrap_or(false),
            no_build: list(&o["no_build"]),
            no_binary: list(&o["no_binary"]),
            universal: o["universal"].as_bool().unwrap_or(false),
            python_platform: s(&o["python_platform"]),
        }
    }

    /// The one target a `pypi:` entry resolves this scenario for, or why it cannot.
    pub fn target(&self) -> Result<Target, String> {
        if self.universal {
            return Err("universal resolution (one lock for every environment, forking on markers); a pypi: entry resolves each target on its own".into());
        }
        if !self.no_build.is_empty() {
            return Err("per-package --only-binary (no_build); `only_binary:` covers the whole entry and takes an sdist where a project has no wheel at all".into());
        }
        if !self.no_binary.is_empty() {
            return Err("per-package --no-binary; the bundler takes an sdist only where no wheel fits".into());
        }
        let python = self.python.as_deref().unwrap_or(&self.env_python);
        let parts: Vec<&str> = python.split('.').collect();
        if parts.len() > 2 && parts[2..].iter().any(|p| *p != "0") {
            return Err(format!("target python {python}: `python:` names MAJOR.MINOR (taken as X.Y.0)"));
        }
        let (arch, glibc, uv_platform) = match &self.python_platform {
            None => ("x86_64".to_string(), "2.36".to_string(), "x86_64-manylinux_2_36".to_string()),
            Some(p) => {
                let (arch, libc) = p.split_once('-').unwrap_or((p, ""));
                let glibc = match libc {
                    "manylinux2014" => "2.17".to_string(),
                    l => match l.strip_prefix("manylinux_").and_then(|v| v.split_once('_')) {
                        Some((a, b)) => format!("{a}.{b}"),
                        None => return Err(format!("python_platform {p}: a pypi: entry targets Linux (manylinux/musllinux) only")),
                    },
                };
                (arch.to_string(), glibc, p.clone())
            }
        };
        Ok(Target { python: parts[..2].join("."), arch, glibc, uv_platform, pre: self.prereleases })
    }
}

/// Where one scenario resolves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `3.12`
    pub python: String,
    /// `x86_64`
    pub arch: String,
    /// `2.36`
    pub glibc: String,
    /// uv's `--python-platform` for the same target.
    pub uv_platform: String,
    /// Pre-releases for every package (`pre: true`, uv `--prerelease=allow`).
    pub pre: bool,
}

/// What a resolver made of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Chosen versions by normalized project name.
    Resolved(BTreeMap<String, String>),
    /// It reported that no solution exists.
    Unsatisfiable(String),
    /// It failed for another reason.
    Error(String),
}

impl Outcome {
    /// Whether this is what the scenario expects: no solution, or a solution with (at least)
    /// the expected versions.
    pub fn meets(&self, s: &Scenario) -> bool {
        match self {
            Outcome::Resolved(got) => s.satisfiable && s.packages.iter().all(|(p, v)| got.get(p).is_some_and(|g| same_version(g, v))),
            Outcome::Unsatisfiable(_) => !s.satisfiable,
            Outcome::Error(_) => false,
        }
    }

    /// One line for a report.
    pub fn summary(&self) -> String {
        match self {
            Outcome::Resolved(got) => got.iter().map(|(p, v)| format!("{p}=={v}")).collect::<Vec<_>>().join(" "),
            Outcome::Unsatisfiable(_) => "no solution".into(),
            Outcome::Error(e) => format!("error: {}", e.lines().find(|l| !l.trim().is_empty()).unwrap_or("")),
        }
    }
}

/// Versions as packse writes them are already normal forms; compare ignoring case only.
fn same_version(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// `bundler lock` of the scenario as a one-entry manifest against `index` (a `/simple/` URL),
/// in `work` (its own directory), with the blob cache `cache`.
pub fn bundler(s: &Scenario, t: &Target, index: &str, work: &Path, cache: &Path) -> Outcome {
    std::fs::create_dir_all(work).unwrap();
    let platform = match t.arch.as_str() {
        "x86_64" => "linux/amd64",
        "aarch64" => "linux/arm64",
        a => panic!("no OCI platform for {a}"),
    };
    let q = |x: &str| serde_json::to_string(x).unwrap();
    let reqs: Vec<String> = s.root.iter().map(|r| q(r)).collect();
    let mut m = format!(
        "name: packse\nplatforms: [{platform}]\npypi:\n  - index: {}\n    python: [{}]\n    glibc: {}\n    requirements: [{}]\n",
        q(index),
        q(&t.python),
        q(&t.glibc),
        reqs.join(", ")
    );
    if t.pre {
        m.push_str("    pre: true\n");
    }
    let manifest = work.join("packse.yaml");
    std::fs::write(&manifest, m).unwrap();
    let lock = work.join("bundles.lock");
    let mut cmd = Command::new(bin("bundler"));
    cmd.arg("lock").arg(&manifest).arg("--lock").arg(&lock).env("BUNDLER_CACHE", cache).env("NO_PROXY", "127.0.0.1").current_dir(work);
    let r = run_within(&mut cmd, RESOLVE_WITHIN);
    if r.status != 0 {
        return if r.stderr.contains("cannot be resolved") { Outcome::Unsatisfiable(r.stderr) } else { Outcome::Error(r.stderr) };
    }
    let text = std::fs::read_to_string(&lock).unwrap();
    Outcome::Resolved(lock_wheels(&text).into_iter().map(|w| (normalize(&w.project), w.version)).collect())
}

/// `uv pip compile` of the scenario against the same index, for the same target, with packse's
/// vendored build backends as find-links (as uv's own scenario tests run it) and the cache `cache`.
pub fn uv(s: &Scenario, t: &Target, index: &str, vendor: &Path, work: &Path, cache: &Path) -> Outcome {
    std::fs::create_dir_all(work).unwrap();
    let req = work.join("requirements.in");
    std::fs::write(&req, s.root.join("\n") + "\n").unwrap();
    let out = work.join("requirements.txt");
    let (req_s, out_s, vendor_s, cache_s) = (req.display().to_string(), out.display().to_string(), vendor.display().to_string(), cache.display().to_string());
    let mut args = vec!["pip", "compile", &req_s, "-o", &out_s, "--no-header", "--index-url", index, "--find-links", &vendor_s, "--cache-dir", &cache_s];
    // An explicit interpreter spares uv its discovery (a second per call); the target is
    // `--python-version`/`--python-platform`.
    let python = crate::pypi::python().display().to_string();
    args.extend(["--python", &python, "--python-version", &t.python, "--python-platform", &t.uv_platform]);
    if t.pre {
        args.push("--prerelease=allow");
    }
    let r: Run = uv_run(&args, &[]);
    if r.status != 0 {
        return if r.stderr.contains("No solution found") { Outcome::Unsatisfiable(r.stderr) } else { Outcome::Error(r.stderr) };
    }
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let pins = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|pin| pin.split_once("==").map(|(n, v)| (normalize(n), v.to_string())))
        .collect();
    Outcome::Resolved(pins)
}

/// `pip download --only-binary=:all:` of the scenario for the same target (pip's own resolver,
/// from the wheels alone), in `work`.
pub fn pip(s: &Scenario, t: &Target, index: &str, work: &Path) -> Outcome {
    let target = crate::pypi::Target::glibc(&t.python, &t.arch, &t.glibc);
    let mut extra = vec![];
    if t.pre {
        extra.push("--pre");
    }
    let reqs: Vec<&str> = s.root.iter().map(String::as_str).collect();
    match pip_download(index, &target, &reqs, &extra, work) {
        // `name-version-tags.whl`: neither part holds a `-`.
        Ok(files) => Outcome::Resolved(
            files.iter().filter_map(|f| f.strip_suffix(".whl")?.split_once('-').and_then(|(n, rest)| Some((normalize(n), rest.split('-').next()?.to_string())))).collect(),
        ),
        Err(r) if r.stderr.contains("ResolutionImpossible") || r.stderr.contains("No matching distribution found") => Outcome::Unsatisfiable(r.stderr),
        Err(r) => Outcome::Error(r.stderr),
    }
}
