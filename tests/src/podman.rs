//! podman with isolated storage (`--root/--runroot/--tmpdir` in a temp dir) and its own
//! `registries.conf`; as root without systemd: cgroupfs and file events. Only pulls, no containers.

use std::path::PathBuf;
use std::process::Command;

use crate::{run, Run};

pub struct Podman {
    pub dir: tempfile::TempDir,
    /// `overlay` where the kernel allows it here, else `vfs`.
    pub driver: String,
    pub registries_conf: PathBuf,
}

impl Default for Podman {
    fn default() -> Self {
        Self::new()
    }
}

impl Podman {
    pub fn new() -> Podman {
        let dir = tempfile::Builder::new().prefix("podman").tempdir().unwrap();
        let registries_conf = dir.path().join("registries.conf");
        std::fs::write(&registries_conf, "unqualified-search-registries = []\n").unwrap();
        // Credentials of the host (/run/containers/0/auth.json) stay out of the test.
        std::fs::write(dir.path().join("auth.json"), "{\"auths\": {}}\n").unwrap();
        let mut p = Podman { dir, driver: "overlay".into(), registries_conf };
        if p.run(&["info", "--format", "{{.Store.GraphDriverName}}"]).status != 0 {
            p.driver = "vfs".into();
            p.run(&["info"]).ok();
        }
        p
    }

    /// Send every pull of `prefix` (e.g. `docker.io`) to `location` (e.g.
    /// `127.0.0.1:5000/docker.io`) over plain HTTP, with no fallback.
    pub fn remap(&self, prefix: &str, location: &str) {
        let mut text = std::fs::read_to_string(&self.registries_conf).unwrap();
        text.push_str(&format!("\n[[registry]]\nprefix = \"{prefix}\"\nlocation = \"{location}\"\ninsecure = true\n"));
        std::fs::write(&self.registries_conf, text).unwrap();
    }

    /// `podman --root … ARGS` with this instance's storage and registries.conf.
    pub fn run(&self, args: &[&str]) -> Run {
        let d = self.dir.path();
        let s = |p: &str| d.join(p).display().to_string();
        run(Command::new("podman")
            .args(["--root", &s("root"), "--runroot", &s("run"), "--tmpdir", &s("tmp"), "--network-config-dir", &s("net")])
            .args(["--storage-driver", &self.driver, "--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(args)
            .env("CONTAINERS_REGISTRIES_CONF", &self.registries_conf)
            .env("REGISTRY_AUTH_FILE", d.join("auth.json")))
    }

    /// `podman pull --quiet REFERENCE` (plus `extra`, e.g. `--tls-verify=false`, `--arch arm64`).
    pub fn pull(&self, reference: &str, extra: &[&str]) -> Run {
        let mut args = vec!["pull", "--quiet"];
        args.extend_from_slice(extra);
        args.push(reference);
        self.run(&args)
    }

    /// The manifest digest podman recorded for a pulled image (`{{.Digest}}`).
    pub fn image_digest(&self, reference: &str) -> String {
        self.run(&["image", "inspect", "--format", "{{.Digest}}", reference]).ok().stdout.trim().to_string()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // The overlay driver may leave mounts under its root; unmount them before the temp dir goes.
        let root = self.dir.path().display().to_string();
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut ours: Vec<&str> = mounts.lines().filter_map(|l| l.split_whitespace().nth(1)).filter(|m| m.starts_with(&root)).collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
    }
}
