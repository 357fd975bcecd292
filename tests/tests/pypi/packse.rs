//! The packse scenarios (the resolver scenarios uv is tested against, e2e::packse): every
//! scenario a one-target `pypi:` entry can express is locked by `bundler lock` against the
//! scenarios' index on loopback and compared with its expected outcome; uv resolves the same
//! scenarios in the same run. Prints per-category pass counts for both and the scenarios a
//! manifest cannot express, with the reason. Holds bundler to at least uv's count and to every
//! expectation pip meets: the scenarios bundler may fail are listed below, and for each of them
//! pip (run on it here too) must decide as bundler does. A scenario outside the list that fails
//! is a regression; one inside it that passes is stale. The index is built once per packse
//! version under target/ (a few minutes); after that the suite takes seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use e2e::packse::{self, Outcome, Scenario};
use e2e::{Pages, PyServer};

/// Scenarios bundler fails, and why: each expectation is uv's own policy where pip decides
/// otherwise, and bundler follows pip (checked in the run: pip's outcome must equal bundler's).
const ALLOWED: &[(&str, &str)] = &[
    ("python-less-than-current", "the expectation ignores Requires-Python upper bounds (uv's policy); pip refuses a file whose Requires-Python <=3.8 excludes the target 3.9"),
    ("package-only-prereleases-in-range", "no final release satisfies `>0.1.0`, so PEP 440 and pip take the pre-release 1.0.0a1"),
    ("transitive-package-only-prereleases-in-range", "no final release satisfies the dependency's `b>0.1`, so PEP 440 and pip take b 1.0.0a1"),
    ("transitive-prerelease-and-stable-dependency", "a dependency's `c==2.0.0b1` names a pre-release, which opts c in as pip combines c's specifiers; pip takes c 2.0.0b1"),
    (
        "transitive-prerelease-and-stable-dependency-many-versions",
        "a dependency's `c>=2.0.0b1` names a pre-release, which opts c in as pip combines c's specifiers; pip takes c 2.0.0b9",
    ),
    (
        "transitive-prerelease-and-stable-dependency-many-versions-holes",
        "a dependency's specifier names pre-releases of c, which opts c in as pip combines c's specifiers; pip takes c 2.0.0b4",
    ),
];

const WORKERS: usize = 4;

struct Row {
    ours: Outcome,
    uv: Outcome,
    /// For the scenarios in ALLOWED.
    pip: Option<Outcome>,
    /// Time spent in `bundler lock` and in `uv pip compile`.
    took: (Duration, Duration),
}

#[test]
fn packse_scenarios_resolve_as_expected() {
    // scripts/test.sh sets this where no CPython >= 3.12 exists to run packse's build code.
    if let Ok(why) = std::env::var("FEAS_PACKSE_SKIP") {
        eprintln!("skipped: {why}");
        return;
    }
    let started = Instant::now();
    let built = packse::built(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let server = PyServer::start(&built.index_root(), Pages::Html);
    let index = server.url();
    let work = tempfile::tempdir().unwrap();
    let (cache, uv_cache) = (work.path().join("bundler-cache"), work.path().join("uv-cache"));
    let uv_version = e2e::pypi::uv_run(&["--version"], &[]).stdout.trim().to_string();

    let scenarios = &built.scenarios;
    let rows: Mutex<BTreeMap<usize, Row>> = Mutex::new(BTreeMap::new());
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(s) = scenarios.get(i) else { break };
                let Ok(t) = s.target() else { continue };
                let dir = work.path().join(&s.name);
                let at = Instant::now();
                let ours = packse::bundler(s, &t, &index, &dir.join("bundler"), &cache);
                let mid = Instant::now();
                let uv = packse::uv(s, &t, &index, &built.vendor(), &dir.join("uv"), &uv_cache);
                let took = (mid - at, mid.elapsed());
                let pip = ALLOWED.iter().any(|(n, _)| *n == s.name).then(|| packse::pip(s, &t, &index, &dir.join("pip")));
                rows.lock().unwrap().insert(i, Row { ours, uv, pip, took });
            });
        }
    });
    let rows = rows.into_inner().unwrap();

    // Per category: (expressible, ours, uv).
    let mut table: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    let mut skipped = Vec::new();
    let (mut ours_misses, mut uv_misses) = (Vec::new(), Vec::new());
    for (i, s) in scenarios.iter().enumerate() {
        let Some(row) = rows.get(&i) else {
            skipped.push(format!("  {}/{}: {}", s.category, s.name, s.target().unwrap_err()));
            continue;
        };
        let e = table.entry(s.category.as_str()).or_default();
        e.0 += 1;
        if row.ours.meets(s) {
            e.1 += 1;
        } else {
            ours_misses.push((s, &row.ours));
        }
        if row.uv.meets(s) {
            e.2 += 1;
        } else {
            uv_misses.push((s, &row.uv));
        }
    }
    let total = table.values().fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));

    let expected = |s: &Scenario| {
        if s.satisfiable {
            format!("expected {}", if s.packages.is_empty() { "a solution".into() } else { s.packages.iter().map(|(p, v)| format!("{p}=={v}")).collect::<Vec<_>>().join(" ") })
        } else {
            "expected no solution".into()
        }
    };
    let pip_version = e2e::pypi::pip(&["--version"]).stdout.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let mut report = format!("\npackse {}: {} scenarios, {} expressible as a pypi: entry\n", packse::VERSION, scenarios.len(), total.0);
    report.push_str(&format!("  {:<24} {:>8} {:>8}\n", "category", "bundler", "uv"));
    for (c, (n, ours, uv)) in &table {
        report.push_str(&format!("  {c:<24} {:>8} {:>8}\n", format!("{ours}/{n}"), format!("{uv}/{n}")));
    }
    report.push_str(&format!("  {:<24} {:>8} {:>8}   ({uv_version})\n", "total", format!("{}/{}", total.1, total.0), format!("{}/{}", total.2, total.0)));
    report.push_str(&format!("not expressible ({}):\n{}\n", skipped.len(), skipped.join("\n")));
    let allowed: BTreeMap<&str, &str> = ALLOWED.iter().copied().collect();
    report.push_str(&format!("bundler misses ({}):\n", ours_misses.len()));
    let mut pip_differs = Vec::new();
    for (s, o) in &ours_misses {
        let pip = rows.values().find(|r| std::ptr::eq(&r.ours, *o)).and_then(|r| r.pip.as_ref());
        let why = match (allowed.get(s.name.as_str()), pip) {
            (Some(w), Some(p)) if same(p, o) && !p.meets(s) => format!("allowed: {w}"),
            (Some(_), Some(p)) => {
                pip_differs.push(s.name.as_str());
                format!("NOT ALLOWED: {pip_version} got {}", p.summary())
            }
            _ => "NOT ALLOWED".into(),
        };
        report.push_str(&format!("  {}/{}: {}, got {} [{why}]\n", s.category, s.name, expected(s), o.summary()));
    }
    report.push_str(&format!("uv misses ({}):\n", uv_misses.len()));
    for (s, o) in &uv_misses {
        report.push_str(&format!("  {}/{}: {}, got {}\n", s.category, s.name, expected(s), o.summary()));
    }
    let (ours_took, uv_took) = rows.values().fold((Duration::ZERO, Duration::ZERO), |a, r| (a.0 + r.took.0, a.1 + r.took.1));
    report.push_str(&format!("took {:.0?} ({WORKERS} scenarios at a time; bundler lock {ours_took:.0?}, uv pip compile {uv_took:.0?} in all)\n", started.elapsed()));
    eprintln!("{report}");

    assert!(total.0 > 0 && rows.len() == total.0, "no scenario ran");
    let missed: BTreeSet<&str> = ours_misses.iter().map(|(s, _)| s.name.as_str()).collect();
    let regressions: Vec<&&str> = missed.iter().filter(|n| !allowed.contains_key(*n)).collect();
    assert!(regressions.is_empty(), "bundler fails packse scenarios it should pass: {regressions:?}{report}");
    assert!(pip_differs.is_empty(), "bundler fails packse scenarios where pip decides otherwise: {pip_differs:?}{report}");
    let stale: Vec<&&str> = allowed.keys().filter(|n| !missed.contains(*n)).collect();
    assert!(stale.is_empty(), "scenarios in ALLOWED now pass or no longer exist; take them out: {stale:?}{report}");
    assert!(total.1 >= total.2, "bundler passes {} scenarios, uv {}{report}", total.1, total.2);
}

/// Both resolved to the same versions of the scenario's packages, or both found no solution.
fn same(a: &Outcome, b: &Outcome) -> bool {
    match (a, b) {
        (Outcome::Resolved(x), Outcome::Resolved(y)) => x == y,
        (Outcome::Unsatisfiable(_), Outcome::Unsatisfiable(_)) => true,
        _ => false,
    }
}
