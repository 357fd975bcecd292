//! Opt-in (needs pypi.org; not in CI): three real requirement sets — an ML serving stack without
//! torch, a data stack and a Django web stack — locked by `bundler lock` for CPython 3.10, 3.11,
//! 3.12 and 3.13 on x86_64 and aarch64 (manylinux_2_28), and compared pin for pin, target by
//! target, with what `uv pip compile --only-binary :all: --python-version … --python-platform …`
//! and `pip install --dry-run --ignore-installed --report … --only-binary=:all: --platform …
//! --python-version … --implementation cp` choose for the same target. Prints a table (equal /
//! total pins per cell and client) and every difference; fails on a difference not in
//! `EXPLAINED` (each of which README's PyPI section explains).
//! Run: `cargo build --workspace --bins && cargo test -p e2e --test optin -- --ignored pypi_matrix::`
//! (about 2 minutes here; the caches, 2.4 GiB of wheels where the index has no PEP 658 metadata,
//! live in the test's temp dir under `$TMPDIR` and go with it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use e2e::pypi::{lock_pins_for, lock_wheels, pip_report, uv_compile, Target};
use e2e::{bin, run_within, Gap, KEY_PASSWORD};

const INDEX: &str = "https://pypi.org/simple/";
const PYTHONS: &[&str] = &["3.10", "3.11", "3.12", "3.13"];
/// (CPU, the manifest's platform for it).
const ARCHS: &[(&str, &str)] = &[("x86_64", "linux/amd64"), ("aarch64", "linux/arm64")];
const GLIBC: &str = "2.28";
/// One client run (uv or pip, one target) and one `bundler lock` (one set, eight targets).
const CLIENT_WITHIN: Duration = Duration::from_secs(900);
const LOCK_WITHIN: Duration = Duration::from_secs(900);
/// Client runs at once (they wait on the network more than on the CPU).
const WORKERS: usize = 4;

const SETS: &[(&str, &[&str])] = &[
    (
        "ml",
        &[
            "fastapi",
            "uvicorn[standard]",
            "transformers",
            "tokenizers",
            "onnxruntime",
            "numpy",
            "pydantic",
            "huggingface-hub",
            "safetensors",
            "sentencepiece",
            "pillow",
            "httpx",
            "orjson",
            "python-multipart",
            "prometheus-client",
        ],
    ),
    ("data", &["pandas", "pyarrow", "polars", "scikit-learn", "scipy", "matplotlib", "seaborn", "statsmodels", "sqlalchemy", "duckdb", "numba", "openpyxl"]),
    (
        "web",
        &[
            "django",
            "djangorestframework",
            "celery",
            "django-celery-beat",
            "redis",
            "gunicorn",
            "psycopg[binary]",
            "boto3",
            "django-storages",
            "requests",
            "sentry-sdk",
            "whitenoise",
        ],
    ),
];

/// Understood differences: (set, client — "uv", "pip" or "*", project, why). A difference in
/// that project, on any target, is accepted and printed as explained; README's PyPI section
/// gives the same reasons.
const EXPLAINED: &[(&str, &str, &str, &str)] = &[];

/// One set on one target: what each side pinned (`Err` is the client's failure).
struct Cell {
    set: &'static str,
    target: Target,
    ours: BTreeMap<String, String>,
    uv: Result<BTreeMap<String, String>, String>,
    pip: Result<BTreeMap<String, String>, String>,
}

/// `(project, ours, theirs)` where they differ; `-` where a side has no such project.
fn differences(ours: &BTreeMap<String, String>, theirs: &BTreeMap<String, String>) -> Vec<(String, String, String)> {
    let names: BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
    let get = |m: &BTreeMap<String, String>, n: &String| m.get(n).cloned().unwrap_or_else(|| "-".into());
    names.into_iter().filter(|n| ours.get(*n) != theirs.get(*n)).map(|n| (n.clone(), get(ours, n), get(theirs, n))).collect()
}

fn explained(set: &str, client: &str, project: &str) -> Option<&'static str> {
    EXPLAINED.iter().find(|(s, c, p, _)| *s == set && (*c == client || *c == "*") && *p == project).map(|e| e.3)
}

fn du(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

#[test]
#[ignore = "needs pypi.org; run with --ignored"]
fn bundler_pins_equal_uvs_and_pips_for_three_sets_on_eight_targets() {
    let gap = Gap::new();
    let (uv_cache, pip_cache) = (gap.path("uv-cache").display().to_string(), gap.path("pip-cache").display().to_string());
    eprintln!("clients: {}", e2e::pypi::client_versions());
    let targets: Vec<Target> = PYTHONS.iter().flat_map(|py| ARCHS.iter().map(move |(arch, _)| Target::glibc(py, arch, GLIBC))).collect();

    // The bundler: one manifest, one lock per set (all eight targets at once, as an operator
    // would write it).
    let mut ours: BTreeMap<(&str, usize), BTreeMap<String, String>> = BTreeMap::new();
    let mut lock_times = Vec::new();
    for (set, reqs) in SETS {
        let pythons: Vec<String> = PYTHONS.iter().map(|p| format!("{p:?}")).collect();
        let platforms: Vec<&str> = ARCHS.iter().map(|a| a.1).collect();
        let list: Vec<String> = reqs.iter().map(|r| format!("{r:?}")).collect();
        let m = gap.write(
            &format!("{set}.yaml"),
            &format!(
                "name: {set}\nplatforms: [{}]\npypi:\n  - python: [{}]\n    glibc: {GLIBC:?}\n    requirements: [{}]\n",
                platforms.join(", "),
                pythons.join(", "),
                list.join(", ")
            ),
        );
        let lock = gap.path(&format!("{set}.lock"));
        let started = Instant::now();
        let mut c = Command::new(bin("bundler"));
        c.args(["lock", m.to_str().unwrap(), "--lock", lock.to_str().unwrap()])
            .env("BUNDLER_CACHE", gap.path("cache"))
            .env("BUNDLER_KEY_PASSWORD", KEY_PASSWORD)
            .current_dir(gap.dir.path());
        run_within(&mut c, LOCK_WITHIN).ok();
        lock_times.push((*set, started.elapsed()));
        let wheels = lock_wheels(&std::fs::read_to_string(&lock).unwrap());
        for (i, t) in targets.iter().enumerate() {
            let pins = lock_pins_for(&wheels, t);
            assert!(pins.len() >= reqs.len(), "{set} on {t}: the lock pins too little: {pins:?}");
            ours.insert((*set, i), pins);
        }
    }

    // uv and pip, each cell on its own, a few at a time.
    let jobs: Vec<(&str, &[&str], usize)> = SETS.iter().flat_map(|(s, r)| (0..targets.len()).map(move |i| (*s, *r, i))).collect();
    let next = AtomicUsize::new(0);
    let cells: Mutex<Vec<Cell>> = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| {
                while let Some(&(set, reqs, i)) = jobs.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let t = &targets[i];
                    let dir = gap.path(&format!("{set}-{}-{}", t.cp(), t.arch));
                    std::fs::create_dir_all(&dir).unwrap();
                    let req_in = dir.join("req.in");
                    std::fs::write(&req_in, reqs.join("\n") + "\n").unwrap();
                    let fail = |client: &str, r: e2e::Run| format!("{client} failed ({}): {}{}", r.status, r.stdout, r.stderr);
                    let uv = uv_compile(INDEX, t, &req_in, &dir.join("uv.txt"), &[("UV_CACHE_DIR", &uv_cache)], CLIENT_WITHIN).map_err(|r| fail("uv pip compile", r));
                    let pip = pip_report(INDEX, t, reqs, &dir.join("pip.json"), &[("PIP_CACHE_DIR", &pip_cache)], CLIENT_WITHIN).map_err(|r| fail("pip install --dry-run", r));
                    cells.lock().unwrap().push(Cell { set, target: t.clone(), ours: ours[&(set, i)].clone(), uv, pip });
                }
            });
        }
    });
    let clients_time = started.elapsed();
    let mut cells = cells.into_inner().unwrap();
    cells.sort_by_key(|c| (SETS.iter().position(|s| s.0 == c.set), targets.iter().position(|t| *t == c.target)));

    // The table, then every difference.
    let mut table = format!("{:<5} {:<26} {:>5} {:>9} {:>9}\n", "set", "target", "pins", "= uv", "= pip");
    let (mut equal, mut total) = ([0usize; 2], [0usize; 2]);
    let mut notes = Vec::new();
    let mut unexplained = Vec::new();
    let mut used = BTreeSet::new();
    for c in &cells {
        let mut col = Vec::new();
        for (k, (client, theirs)) in [("uv", &c.uv), ("pip", &c.pip)].into_iter().enumerate() {
            match theirs {
                Err(e) => {
                    col.push("failed".to_string());
                    unexplained.push(format!("{} {}: {e}", c.set, c.target));
                }
                Ok(theirs) => {
                    let diffs = differences(&c.ours, theirs);
                    let n = c.ours.keys().chain(theirs.keys()).collect::<BTreeSet<_>>().len();
                    equal[k] += n - diffs.len();
                    total[k] += n;
                    col.push(format!("{}/{n}", n - diffs.len()));
                    for (p, o, t) in diffs {
                        let line = format!("{} {}: {p}: bundler {o}, {client} {t}", c.set, c.target);
                        match explained(c.set, client, &p) {
                            Some(why) => {
                                used.insert((c.set, p.clone()));
                                notes.push(format!("{line} (explained: {why})"));
                            }
                            None => unexplained.push(line),
                        }
                    }
                }
            }
        }
        table.push_str(&format!("{:<5} {:<26} {:>5} {:>9} {:>9}\n", c.set, c.target.to_string(), c.ours.len(), col[0], col[1]));
    }
    table.push_str(&format!("all {} cells: bundler = uv {}/{} pins, bundler = pip {}/{} pins\n", cells.len(), equal[0], total[0], equal[1], total[1]));
    for (set, t) in &lock_times {
        table.push_str(&format!("bundler lock {set} (8 targets): {:.1} s\n", t.as_secs_f64()));
    }
    table.push_str(&format!(
        "uv and pip, {} runs each, {WORKERS} at a time: {:.0} s; bundler cache {} MiB\n",
        cells.len(),
        clients_time.as_secs_f64(),
        du(&gap.path("cache")) >> 20
    ));
    eprintln!("{table}");
    for n in &notes {
        eprintln!("{n}");
    }
    for (set, _, p, _) in EXPLAINED {
        if !used.contains(&(*set, p.to_string())) {
            eprintln!("note: the explained difference {set}/{p} did not occur");
        }
    }
    assert!(unexplained.is_empty(), "differences no entry of EXPLAINED covers:\n{}", unexplained.join("\n"));
}
