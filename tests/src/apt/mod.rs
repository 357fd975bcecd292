//! Debian archives written by code and a real apt-get against them: a stand-in upstream (debs
//! built with dpkg-deb, indexed with dpkg-scanpackages, Release signed with gpg in its own
//! GNUPGHOME), served by `python3 -m http.server`, and an apt client whose whole state lives in
//! a temp dir (the system's apt configuration, keyrings and dpkg status are never read).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::Run;

mod archive;
mod client;
mod sign;

pub use archive::{AptRepo, AptRepoBuilder};
pub use client::{debs_in, installed, source_line, AptClient, FetchedDeb, Update};
pub use sign::Signer;

/// apt-get/apt-cache calls are bounded well below a test's budget.
pub const APT_WITHIN: Duration = Duration::from_secs(60);

/// A fixed, past `Date:` (apt refuses a Release dated in the future).
const RELEASE_DATE: &str = "Tue, 14 Nov 2023 22:13:20 UTC";

fn hex_sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Run a command to completion, killing it if it outlives `within`: (exit code, stdout bytes,
/// stderr bytes, command line). Polls every few milliseconds (a stand-in archive takes many short
/// dpkg-deb/gpg calls; `crate::run`'s 100 ms poll would dominate).
fn exec(cmd: &mut Command, within: Duration) -> (i32, Vec<u8>, Vec<u8>, String) {
    use std::io::Read;
    use std::process::Stdio;
    let cmdline = format!("{cmd:?}");
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("cannot start {cmdline}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = r.read_to_end(&mut b);
            b
        })
    };
    let (out, err) = (drain(Box::new(child.stdout.take().unwrap())), drain(Box::new(child.stderr.take().unwrap())));
    let deadline = std::time::Instant::now() + within;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break Some(st);
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(3));
    };
    let (stdout, stderr) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
    assert!(status.is_some(), "`{cmdline}` did not finish within {within:?}; killed.\nstdout: {}\nstderr: {}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
    (status.and_then(|s| s.code()).unwrap_or(-1), stdout, stderr, cmdline)
}

/// Run a command (bounded by `APT_WITHIN`), capturing its output as text.
pub fn run(cmd: &mut Command) -> Run {
    let (status, stdout, stderr, cmdline) = exec(cmd, APT_WITHIN);
    Run { status, stdout: String::from_utf8_lossy(&stdout).into(), stderr: String::from_utf8_lossy(&stderr).into(), cmdline }
}

/// Run a command that must succeed, returning its stdout bytes (binary output).
fn run_bytes(cmd: &mut Command) -> Vec<u8> {
    let (status, stdout, stderr, cmdline) = exec(cmd, APT_WITHIN);
    assert!(status == 0, "`{cmdline}` failed ({status}): {}", String::from_utf8_lossy(&stderr));
    stdout
}

/// Debian's file name for a version: the epoch is not part of it.
pub fn version_in_filename(version: &str) -> &str {
    version.split_once(':').map_or(version, |(_, v)| v)
}

/// Debian's pool prefix: `libfoo` → `libf`, `app` → `a`.
pub fn pool_prefix(source: &str) -> String {
    if source.starts_with("lib") && source.len() > 3 {
        source[..4].to_string()
    } else {
        source[..1].to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Packages

/// One binary package to build: its control fields and a little payload so every deb differs.
#[derive(Clone, Debug)]
pub struct DebSpec {
    pub package: String,
    pub version: String,
    pub arch: String,
    /// Extra control fields, in order (Depends, Provides, Priority, ...).
    pub fields: Vec<(String, String)>,
    pub component: String,
    /// Text of `/usr/share/doc/<package>/payload.txt` inside the deb.
    pub payload: String,
}

impl DebSpec {
    pub fn new(package: &str, version: &str, arch: &str) -> DebSpec {
        DebSpec {
            package: package.into(),
            version: version.into(),
            arch: arch.into(),
            fields: Vec::new(),
            component: "main".into(),
            payload: format!("{package} {version} {arch}\n"),
        }
    }
    /// Any control field (replaces an earlier one of the same name).
    pub fn field(mut self, name: &str, value: &str) -> DebSpec {
        self.fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.fields.push((name.into(), value.into()));
        self
    }
    pub fn depends(self, v: &str) -> DebSpec {
        self.field("Depends", v)
    }
    pub fn pre_depends(self, v: &str) -> DebSpec {
        self.field("Pre-Depends", v)
    }
    pub fn recommends(self, v: &str) -> DebSpec {
        self.field("Recommends", v)
    }
    pub fn provides(self, v: &str) -> DebSpec {
        self.field("Provides", v)
    }
    pub fn priority(self, v: &str) -> DebSpec {
        self.field("Priority", v)
    }
    pub fn essential(self) -> DebSpec {
        self.field("Essential", "yes")
    }
    pub fn multi_arch(self, v: &str) -> DebSpec {
        self.field("Multi-Arch", v)
    }
    pub fn component(mut self, c: &str) -> DebSpec {
        self.component = c.into();
        self
    }
    pub fn payload(mut self, p: &str) -> DebSpec {
        self.payload = p.into();
        self
    }
    /// `name_version-without-epoch_arch.deb`
    pub fn file_name(&self) -> String {
        format!("{}_{}_{}.deb", self.package, version_in_filename(&self.version), self.arch)
    }
    /// Path under the archive root, as in Debian: `pool/main/a/app/app_1.0_amd64.deb`.
    pub fn pool_path(&self) -> String {
        format!("pool/{}/{}/{}/{}", self.component, pool_prefix(&self.package), self.package, self.file_name())
    }
    fn control(&self) -> String {
        let mut c = format!("Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: Feas Stand-in <standin@example.invalid>\n", self.package, self.version, self.arch);
        for (k, v) in &self.fields {
            c.push_str(&format!("{k}: {v}\n"));
        }
        c.push_str(&format!("Description: stand-in package {}\n test fixture built by the e2e harness\n", self.package));
        c
    }
}

/// A deb as it lies in the archive.
#[derive(Clone, Debug)]
pub struct BuiltDeb {
    pub spec: DebSpec,
    /// Relative to the archive root (the `Filename:` of its Packages stanza).
    pub filename: String,
    /// Lower-case hex.
    pub sha256: String,
    pub size: u64,
}

impl BuiltDeb {
    /// (package, version, arch)
    pub fn id(&self) -> (String, String, String) {
        (self.spec.package.clone(), self.spec.version.clone(), self.spec.arch.clone())
    }
}

/// Build `spec` with `dpkg-deb --build --root-owner-group` at `out` (reproducibly).
pub fn build_deb(spec: &DebSpec, out: &Path) {
    let stage = tempfile::tempdir().unwrap();
    let root = stage.path().join("root");
    let ctl = root.join("DEBIAN");
    let doc = root.join("usr/share/doc").join(&spec.package);
    std::fs::create_dir_all(&ctl).unwrap();
    std::fs::create_dir_all(&doc).unwrap();
    std::fs::write(ctl.join("control"), spec.control()).unwrap();
    std::fs::write(doc.join("payload.txt"), &spec.payload).unwrap();
    // dpkg-deb wants the control directory 0755 whatever the umask.
    for d in [&root, &ctl] {
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    run(Command::new("dpkg-deb").args(["--build", "--root-owner-group", "-Zxz"]).arg(&root).arg(out).env("SOURCE_DATE_EPOCH", "1700000000")).ok();
}

// ---------------------------------------------------------------------------------------------
// Lock file

/// `[[deb]]` tables of a `bundles.lock`, each as field → value (strings unquoted), read with a
/// small line parser (the lock is flat TOML: `key = "value"` or numbers).
pub fn lock_debs(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut out: Vec<BTreeMap<String, String>> = Vec::new();
    let mut in_deb = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_deb = l == "[[deb]]";
            if in_deb {
                out.push(BTreeMap::new());
            }
            continue;
        }
        if !in_deb || l.is_empty() || l.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = l.split_once('=') {
            let v = v.trim();
            let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
            out.last_mut().unwrap().insert(k.trim().trim_matches('"').to_string(), v.replace("\\\"", "\"").replace("\\\\", "\\"));
        }
    }
    out
}

/// sha256 without a `sha256:` prefix, lower case.
pub fn bare_sha256(s: &str) -> String {
    s.trim_start_matches("sha256:").to_lowercase()
}
