//! Hugging Face fixtures: a stand-in hub (`hf_hub.py`: model info, paginated tree, resolve
//! with LFS files redirected to a CDN on another port, hub error codes) on loopback, the real
//! huggingface_hub client from the suite's venv, and peak-RSS measurement of a command.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::procs::Server;
use crate::{free_port, http_status, run_within, Run};

const SCRIPT: &str = include_str!("hf_hub.py");

/// One file of a stand-in repository, read from `local`.
pub struct HubFile {
    pub path: String,
    pub local: PathBuf,
    pub lfs: bool,
    /// Known sha256 hex of an LFS file (saves the stand-in hashing gigabytes at start-up).
    pub sha256: Option<String>,
}

pub struct HubRepo {
    pub id: String,
    pub commit: String,
    pub files: Vec<HubFile>,
}

#[derive(Default)]
pub struct HubOptions {
    /// Tree entries per page (the hub's is 1000).
    pub page_size: Option<usize>,
    /// Paths served with other bytes than the tree claims.
    pub bad_bytes: Vec<String>,
    /// Paths whose first full download is cut off halfway.
    pub drop_once: Vec<String>,
    /// Gate every repo behind this bearer token.
    pub token: Option<String>,
}

/// The stand-in hub and its CDN port; stopped on drop.
pub struct StandinHub {
    pub server: Server,
    pub port: u16,
    pub cdn_port: u16,
    _dir: tempfile::TempDir,
}

impl StandinHub {
    pub fn start(repos: &[HubRepo], opts: &HubOptions) -> StandinHub {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("hf_hub.py");
        std::fs::write(&script, SCRIPT).unwrap();
        let mut cfg = serde_json::json!({ "repos": {}, "bad_bytes": opts.bad_bytes, "drop_once": opts.drop_once, "token": opts.token });
        if let Some(n) = opts.page_size {
            cfg["page_size"] = n.into();
        }
        for r in repos {
            let files: Vec<serde_json::Value> = r.files.iter().map(|f| serde_json::json!({ "path": f.path, "local": f.local, "lfs": f.lfs, "sha256": f.sha256 })).collect();
            cfg["repos"][&r.id] = serde_json::json!({ "commit": r.commit, "files": files });
        }
        let cfg_path = dir.path().join("hub.json");
        std::fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
        let python = if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
        let mut last = String::new();
        for _ in 0..3 {
            let (port, cdn_port) = (free_port(), free_port());
            let mut cmd = Command::new(python);
            cmd.arg("-u").arg(&script).arg(&cfg_path).args([port.to_string(), cdn_port.to_string()]);
            let mut server = Server::start("stand-in hub", &mut cmd, dir.path().join(format!("hub-{port}.log")));
            match server.try_wait_until("ready", || http_status(&format!("http://127.0.0.1:{port}/")) == 200 && http_status(&format!("http://127.0.0.1:{cdn_port}/")) == 404) {
                Ok(()) => return StandinHub { server, port, cdn_port, _dir: dir },
                Err(e) if e.to_lowercase().contains("address already in use") => last = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("stand-in hub: no free ports after 3 attempts: {last}");
    }

    /// The hub's base URL (what `HF_ENDPOINT` or a manifest's `endpoint:` takes).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Request lines logged: `METHOD PATH range=… auth=yes|no port=…`.
    pub fn requests(&self) -> Vec<String> {
        self.server.log_text().lines().filter(|l| l.starts_with("GET ") || l.starts_with("HEAD ")).map(String::from).collect()
    }
}

/// Run `script` in the suite's Python with huggingface_hub pointed at `endpoint`, a fresh cache
/// in `hf_home`, no token and no offline mode inherited from the caller.
pub fn hf_python(script: &str, args: &[&str], endpoint: &str, hf_home: &Path) -> Run {
    let mut cmd = Command::new(crate::pypi::python());
    cmd.args(["-c", script])
        .args(args)
        .env("HF_ENDPOINT", endpoint)
        .env("HF_HOME", hf_home)
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("HF_HUB_CACHE");
    run_within(&mut cmd, Duration::from_secs(180))
}

/// Python's `resource` reports the peak RSS of the child it waited for.
const RSS_WRAPPER: &str = include_str!("peak_rss.py");

/// Run `cmd` (program + args, with `env`, in `dir`) and return its result and peak RSS in KiB.
pub fn with_peak_rss(program: &Path, args: &[&str], env: &[(&str, &Path)], dir: &Path) -> (Run, u64) {
    let python = if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
    let mut cmd = Command::new(python);
    cmd.args(["-c", RSS_WRAPPER]).arg(program).args(args).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let r = run_within(&mut cmd, Duration::from_secs(600));
    let kib = r.stderr.lines().rev().find_map(|l| l.strip_prefix("peak-rss-kib ")).and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    (r, kib)
}

/// Peak RSS (VmHWM, KiB) of a running process, e.g. `mirror serve` after serving a file.
pub fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}
