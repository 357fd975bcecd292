//! The real helm client (3.17, from the npm package that ships it; `scripts/test.sh` installs
//! it and exports `FEAS_HELM`), each instance with its own config/cache/data homes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{run, Run};

/// The helm binary: `$FEAS_HELM`, else `helm` on PATH.
pub fn helm_bin() -> PathBuf {
    match std::env::var_os("FEAS_HELM") {
        Some(p) => PathBuf::from(p),
        None => {
            let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).map(|d| d.join("helm")).find(|p| p.exists());
            found.expect("helm not found: run scripts/test.sh (it installs helm 3.17 and exports FEAS_HELM), or put helm on PATH")
        }
    }
}

pub struct Helm {
    home: PathBuf,
}

impl Helm {
    /// A helm with its own homes under `dir` (no state shared with other tests or the host).
    pub fn new(dir: &Path) -> Helm {
        let home = dir.join("helmhome");
        std::fs::create_dir_all(&home).unwrap();
        Helm { home }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(helm_bin());
        c.args(args);
        self.homes(c)
    }

    /// `sh SCRIPT` with this helm first on PATH and its homes, as a script calling `helm` runs.
    pub fn script(&self, script: &Path) -> Command {
        let mut c = Command::new("sh");
        let path = format!("{}:{}", helm_bin().parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
        c.arg(script).env("PATH", path);
        self.homes(c)
    }

    fn homes(&self, mut c: Command) -> Command {
        c.env("HELM_CONFIG_HOME", self.home.join("config"))
            .env("HELM_CACHE_HOME", self.home.join("cache"))
            .env("HELM_DATA_HOME", self.home.join("data"))
            .env("HELM_REGISTRY_CONFIG", self.home.join("config/registry.json"))
            .env_remove("KUBECONFIG");
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        run(&mut self.cmd(args))
    }

    /// `helm create NAME` in `dir` (without its test hook), `values.yaml` replaced when given.
    pub fn create_chart(&self, dir: &Path, name: &str, version: &str, values: Option<&str>) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        run(self.cmd(&["create", name]).current_dir(dir)).ok();
        let chart = dir.join(name);
        let cy = chart.join("Chart.yaml");
        let text = std::fs::read_to_string(&cy).unwrap();
        let text: String = text.lines().map(|l| if l.starts_with("version:") { format!("version: {version}") } else { l.to_string() }).collect::<Vec<_>>().join("\n");
        std::fs::write(&cy, text + "\n").unwrap();
        // helm create's test hook runs docker.io/library/busybox, which loopback-only tests
        // cannot fetch with `add_images`.
        std::fs::remove_dir_all(chart.join("templates/tests")).unwrap();
        if let Some(v) = values {
            std::fs::write(chart.join("values.yaml"), v).unwrap();
        }
        chart
    }

    /// `helm package CHART -d OUT`; returns the archive path.
    pub fn package(&self, chart: &Path, out: &Path) -> PathBuf {
        std::fs::create_dir_all(out).unwrap();
        let r = self.run(&["package", chart.to_str().unwrap(), "-d", out.to_str().unwrap()]).ok();
        let p = r.stdout.trim().rsplit(": ").next().unwrap().trim().to_string();
        PathBuf::from(p)
    }
}
