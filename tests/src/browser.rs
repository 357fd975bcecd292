//! A real browser over the mirror's web pages: Debian's `chromium` driven through its
//! `chromedriver` by Selenium (`browser.py`, run with FEAS_PYTHON, where `scripts/test.sh`
//! installs a pinned Selenium). Bounded: the run is stopped after `WITHIN`.

use std::process::Command;
use std::time::Duration;

const SCRIPT: &str = include_str!("browser.py");
const WITHIN: Duration = Duration::from_secs(180);

/// Run `plan` (see `browser.py`) and return what the browser saw.
pub fn run(plan: &serde_json::Value) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("browser.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let plan_file = dir.path().join("plan.json");
    std::fs::write(&plan_file, serde_json::to_vec(plan).unwrap()).unwrap();
    let mut cmd = Command::new(crate::pypi::python());
    // Chromium's profile and crash files stay in the temporary directory.
    cmd.arg(&script).arg(&plan_file).env("HOME", dir.path());
    let r = crate::run_within(&mut cmd, WITHIN);
    assert!(r.status == 0, "the browser run failed (chromium, chromium-driver and selenium come from scripts/test.sh):\n{}", r.stderr);
    serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("browser.py printed no JSON ({e}):\n{}\n{}", r.stdout, r.stderr))
}
