//! Harness for the end-to-end suites: real servers (docker-registry, containerd, the mirror)
//! on free loopback ports, real clients (skopeo, ctr, podman), each fixture in its own temp
//! dir and stopped on drop.

pub mod image;
pub mod procs;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use image::{BuiltImage, ImageBuilder};
pub use procs::{Containerd, Mirror, Registry, Server};

/// A free loopback port (bound then released; good enough with retries on bind failure).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Built workspace binaries live next to the test executable's `deps/` directory.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let p = dir.join(name);
    assert!(p.exists(), "{} not found: run `cargo build --workspace --bins` first", p.display());
    p
}

/// Result of a command, with everything needed for a useful assertion message.
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub cmdline: String,
}

impl Run {
    pub fn ok(self) -> Run {
        assert!(self.status == 0, "`{}` failed ({}):\nstdout: {}\nstderr: {}", self.cmdline, self.status, self.stdout, self.stderr);
        self
    }
    pub fn fails(self) -> Run {
        assert!(self.status != 0, "`{}` should have failed:\nstdout: {}\nstderr: {}", self.cmdline, self.stdout, self.stderr);
        self
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("`{}` printed no JSON ({e}): {}", self.cmdline, self.stdout))
    }
}

pub fn run(cmd: &mut Command) -> Run {
    let cmdline = format!("{cmd:?}");
    let Output { status, stdout, stderr } = cmd.output().unwrap_or_else(|e| panic!("cannot start {cmdline}: {e}"));
    Run { status: status.code().unwrap_or(-1), stdout: String::from_utf8_lossy(&stdout).into(), stderr: String::from_utf8_lossy(&stderr).into(), cmdline }
}

/// `sha256:<hex>` of bytes.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// Every file under `dir` with its hash: compares a store before and after a refused import.
pub fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.insert(p, sha256(&b));
            }
        }
    }
    out
}

/// The connected side and air-gapped side of one test: keys, cache and store in a temp dir.
pub struct Gap {
    pub dir: tempfile::TempDir,
}

impl Default for Gap {
    fn default() -> Self {
        Self::new()
    }
}

impl Gap {
    pub fn new() -> Gap {
        let g = Gap { dir: tempfile::tempdir().unwrap() };
        g.bundler(&["keygen", "--out", g.path("keys").to_str().unwrap()]).ok();
        g
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    pub fn key(&self) -> PathBuf {
        self.path("keys/bundle.key")
    }
    pub fn public(&self) -> PathBuf {
        self.path("keys/bundle.pub")
    }
    pub fn store(&self) -> PathBuf {
        self.path("store")
    }
    pub fn bundler(&self, args: &[&str]) -> Run {
        run(Command::new(bin("bundler")).args(args).env("BUNDLER_CACHE", self.path("cache")).current_dir(self.dir.path()))
    }
    pub fn mirror(&self, args: &[&str]) -> Run {
        run(Command::new(bin("mirror")).args(args).current_dir(self.dir.path()))
    }
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
    /// `bundler create` with this gap's key and lock; returns the bundle path.
    pub fn create(&self, manifest: &Path, out: &str, extra: &[&str]) -> PathBuf {
        let out = self.path(out);
        let (m, k, o, l) = (manifest.display().to_string(), self.key().display().to_string(), out.display().to_string(), self.path("bundles.lock").display().to_string());
        let mut args = vec!["create", &m, "--key", &k, "--out", &o, "--lock", &l];
        args.extend_from_slice(extra);
        self.bundler(&args).ok();
        out
    }
    pub fn import(&self, bundle: &Path) -> Run {
        self.mirror(&["import", bundle.to_str().unwrap(), "--store", self.store().to_str().unwrap(), "--trust", self.public().to_str().unwrap()])
    }
}
