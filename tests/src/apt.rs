//! Debian archives written by code and a real apt-get against them: a stand-in upstream (debs
//! built with dpkg-deb, indexed with dpkg-scanpackages, Release signed with gpg in its own
//! GNUPGHOME), served by `python3 -m http.server`, and an apt client whose whole state lives in
//! a temp dir (the system's apt configuration, keyrings and dpkg status are never read).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::procs::Server;
use crate::{free_port, http_status, Run};

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
// Signing

/// An ed25519 OpenPGP signing key in its own GNUPGHOME; its gpg-agent is stopped on drop.
pub struct Signer {
    home: tempfile::TempDir,
    pub fingerprint: String,
    /// The signing subkey's fingerprint, for a key made by `with_signing_subkey`.
    pub subkey: Option<String>,
    /// gpg's `--faked-system-time` for signing (`20200601T000000`), for keys made in the past.
    sign_at: Option<String>,
}

impl Signer {
    pub fn new(name: &str) -> Signer {
        Self::generate(name, &[], "sign", "never")
    }

    /// A key made at `created` (gpg's time form, `20200101T000000`) that expires `expire`
    /// later (`1y`); it signs at `sign_at`. A past `created` and `expire` make a key that signed
    /// while valid and has expired since.
    pub fn made_at(name: &str, created: &str, expire: &str, sign_at: &str) -> Signer {
        let mut s = Self::generate(name, &["--faked-system-time", created], "sign", expire);
        s.sign_at = Some(sign_at.into());
        s
    }

    /// A certify-only primary key (never expiring) made at `created`, with a signing subkey
    /// that expires `expire` later and signs at `sign_at`.
    pub fn with_signing_subkey(name: &str, created: &str, expire: &str, sign_at: &str) -> Signer {
        let mut s = Self::generate(name, &["--faked-system-time", created], "cert", "never");
        s.gpg(&["--faked-system-time", created, "--quick-add-key", &s.fingerprint.clone(), "ed25519", "sign", expire]).ok();
        let list = s.gpg(&["--with-colons", "--list-keys"]).ok();
        s.subkey = list.stdout.lines().filter_map(|l| l.strip_prefix("fpr:")).nth(1).map(|l| l.trim_matches(':').to_string());
        assert!(s.subkey.is_some(), "no subkey in {}", list.stdout);
        s.sign_at = Some(sign_at.into());
        s
    }

    fn generate(name: &str, time: &[&str], usage: &str, expire: &str) -> Signer {
        let home = tempfile::Builder::new().prefix("gpg").tempdir().unwrap();
        let mut s = Signer { home, fingerprint: String::new(), subkey: None, sign_at: None };
        let uid = format!("{name} <{}@example.invalid>", name.to_lowercase().replace(' ', "-"));
        s.gpg(&[time, &["--quick-gen-key", &uid, "ed25519", usage, expire]].concat()).ok();
        let list = s.gpg(&["--with-colons", "--list-secret-keys"]).ok();
        let fingerprint = list.stdout.lines().find_map(|l| l.strip_prefix("fpr:")).map(|l| l.trim_matches(':').to_string()).expect("fingerprint");
        s.fingerprint = fingerprint;
        s
    }

    /// Revoke the key with the certificate gpg wrote when it made it (then export again).
    pub fn revoke(&self) {
        let cert = self.home.path().join("openpgp-revocs.d").join(format!("{}.rev", self.fingerprint));
        // gpg writes it with the armor line escaped so it is not imported by accident.
        let text = std::fs::read_to_string(&cert).unwrap().replace(":-----BEGIN PGP PUBLIC KEY BLOCK", "-----BEGIN PGP PUBLIC KEY BLOCK");
        let armored = self.home.path().join("revocation.asc");
        std::fs::write(&armored, text).unwrap();
        self.gpg(&["--import", armored.to_str().unwrap()]).ok();
    }

    pub fn gnupghome(&self) -> &Path {
        self.home.path()
    }

    /// `gpg --batch ARGS` with this key's GNUPGHOME.
    pub fn gpg(&self, args: &[&str]) -> Run {
        run(Command::new("gpg").args(["--batch", "--yes", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""]).args(args).env("GNUPGHOME", self.home.path()))
    }

    /// The long key id apt names in `NO_PUBKEY` (last 16 hex digits of the fingerprint).
    pub fn key_id(&self) -> &str {
        &self.fingerprint[self.fingerprint.len() - 16..]
    }

    /// Write the binary public key (`gpg --export`) to `path`.
    pub fn export_binary(&self, path: &Path) {
        let key = run_bytes(Command::new("gpg").args(["--batch", "--export", &self.fingerprint]).env("GNUPGHOME", self.home.path()));
        assert!(!key.is_empty(), "gpg --export wrote nothing");
        std::fs::write(path, key).unwrap();
    }

    /// Write the armored public key (`gpg --armor --export`) to `path`.
    pub fn export_armored(&self, path: &Path) {
        let r = self.gpg(&["--armor", "--export", &self.fingerprint]).ok();
        assert!(r.stdout.contains("BEGIN PGP PUBLIC KEY BLOCK"), "{}", r.stdout);
        std::fs::write(path, r.stdout).unwrap();
    }

    /// `InRelease` (clearsigned) and `Release.gpg` (detached, armored) next to `release`.
    pub fn sign_release(&self, release: &Path) {
        let dir = release.parent().unwrap();
        let (r, inr, det) = (release.display().to_string(), dir.join("InRelease").display().to_string(), dir.join("Release.gpg").display().to_string());
        // `!`: exactly this (sub)key, not whichever signing key gpg prefers.
        let user = match &self.subkey {
            Some(sub) => format!("{sub}!"),
            None => self.fingerprint.clone(),
        };
        let time: Vec<&str> = self.sign_at.as_deref().map(|t| vec!["--faked-system-time", t]).unwrap_or_default();
        self.gpg(&[&time[..], &["--local-user", &user, "--digest-algo", "SHA512", "--clearsign", "-o", &inr, &r]].concat()).ok();
        self.gpg(&[&time[..], &["--local-user", &user, "--digest-algo", "SHA512", "--armor", "--detach-sign", "-o", &det, &r]].concat()).ok();
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf").args(["--kill", "all"]).env("GNUPGHOME", self.home.path()).output();
    }
}

// ---------------------------------------------------------------------------------------------
// The archive

/// Builder of a stand-in Debian archive.
pub struct AptRepoBuilder {
    dir: PathBuf,
    suite: String,
    codename: String,
    origin: String,
    label: String,
    archs: Vec<String>,
    debs: Vec<DebSpec>,
    signer: Option<Signer>,
}

impl AptRepoBuilder {
    /// An archive under `dir` (`dir/archive` is the root holding `dists/` and `pool/`; keys go
    /// to `dir/key.gpg` and `dir/key.asc`). Defaults: suite and codename `stable`, amd64 + arm64.
    pub fn new(dir: &Path) -> AptRepoBuilder {
        AptRepoBuilder {
            dir: dir.to_path_buf(),
            suite: "stable".into(),
            codename: "stable".into(),
            origin: "Stand-in".into(),
            label: "Stand-in".into(),
            archs: vec!["amd64".into(), "arm64".into()],
            debs: Vec::new(),
            signer: None,
        }
    }
    pub fn suite(mut self, suite: &str) -> Self {
        self.suite = suite.into();
        self.codename = suite.into();
        self
    }
    pub fn codename(mut self, codename: &str) -> Self {
        self.codename = codename.into();
        self
    }
    pub fn origin(mut self, origin: &str) -> Self {
        self.origin = origin.into();
        self.label = origin.into();
        self
    }
    pub fn archs(mut self, archs: &[&str]) -> Self {
        self.archs = archs.iter().map(|a| a.to_string()).collect();
        self
    }
    pub fn deb(mut self, spec: DebSpec) -> Self {
        self.debs.push(spec);
        self
    }
    pub fn debs(mut self, specs: impl IntoIterator<Item = DebSpec>) -> Self {
        self.debs.extend(specs);
        self
    }
    /// Sign with this key instead of a fresh one.
    pub fn signer(mut self, s: Signer) -> Self {
        self.signer = Some(s);
        self
    }
    /// Build every deb, index, write Release, sign.
    pub fn build(self) -> AptRepo {
        let root = self.dir.join("archive");
        std::fs::create_dir_all(&root).unwrap();
        let signer = self.signer.unwrap_or_else(|| Signer::new(&format!("{} Archive", self.origin)));
        let mut repo =
            AptRepo { dir: self.dir, root, suite: self.suite, codename: self.codename, origin: self.origin, label: self.label, archs: self.archs, signer, debs: Vec::new() };
        for spec in self.debs {
            repo.add(spec);
        }
        repo.publish();
        repo
    }
}

/// A built, signed stand-in archive.
pub struct AptRepo {
    pub dir: PathBuf,
    /// The archive root (`dists/`, `pool/`): what a manifest's `source:` points at.
    pub root: PathBuf,
    pub suite: String,
    pub codename: String,
    pub origin: String,
    pub label: String,
    pub archs: Vec<String>,
    pub signer: Signer,
    debs: Vec<BuiltDeb>,
}

impl AptRepo {
    pub fn keyring(&self) -> PathBuf {
        self.dir.join("key.gpg")
    }
    pub fn armored_key(&self) -> PathBuf {
        self.dir.join("key.asc")
    }
    pub fn debs(&self) -> &[BuiltDeb] {
        &self.debs
    }
    /// The deb `package` `version` for `arch` (`all` packages are found under any arch).
    pub fn deb(&self, package: &str, version: &str, arch: &str) -> &BuiltDeb {
        self.debs
            .iter()
            .find(|d| d.spec.package == package && d.spec.version == version && (d.spec.arch == arch || d.spec.arch == "all"))
            .unwrap_or_else(|| panic!("no deb {package} {version} {arch} in the stand-in"))
    }
    pub fn components(&self) -> Vec<String> {
        let mut c: Vec<String> = self.debs.iter().map(|d| d.spec.component.clone()).collect();
        c.push("main".into());
        c.sort();
        c.dedup();
        c
    }
    pub fn dists(&self) -> PathBuf {
        self.root.join("dists").join(&self.suite)
    }
    /// `dists/<suite>/<component>/binary-<arch>/Packages`
    pub fn packages_path(&self, component: &str, arch: &str) -> PathBuf {
        self.dists().join(component).join(format!("binary-{arch}")).join("Packages")
    }

    /// Build a deb into the pool (replacing one with the same file name); `publish` indexes it.
    pub fn add(&mut self, spec: DebSpec) -> &BuiltDeb {
        let filename = spec.pool_path();
        let path = self.root.join(&filename);
        build_deb(&spec, &path);
        let bytes = std::fs::read(&path).unwrap();
        self.debs.retain(|d| d.filename != filename);
        self.debs.push(BuiltDeb { spec, filename, sha256: hex_sha256(&bytes), size: bytes.len() as u64 });
        self.debs.last().unwrap()
    }

    /// Take a deb out of the pool; `publish` drops it from the indexes.
    pub fn remove(&mut self, package: &str, version: &str, arch: &str) {
        let d = self.deb(package, version, arch).clone();
        std::fs::remove_file(self.root.join(&d.filename)).unwrap();
        self.debs.retain(|x| x.filename != d.filename);
    }

    /// Regenerate every `Packages{,.gz,.xz}` (dpkg-scanpackages --multiversion; `all` debs in
    /// every binary-<arch> index), `Release`, `InRelease` and `Release.gpg`, and export the key.
    pub fn publish(&self) {
        let _ = std::fs::remove_dir_all(self.root.join("dists"));
        for comp in self.components() {
            std::fs::create_dir_all(self.root.join("pool").join(&comp)).unwrap();
            for arch in &self.archs {
                let r = run(Command::new("dpkg-scanpackages").args(["--multiversion", "--arch", arch, &format!("pool/{comp}"), "/dev/null"]).current_dir(&self.root)).ok();
                self.write_packages(&comp, arch, r.stdout.as_bytes());
            }
        }
        self.write_release();
        self.signer.sign_release(&self.dists().join("Release"));
        self.signer.export_binary(&self.keyring());
        self.signer.export_armored(&self.armored_key());
    }

    fn write_packages(&self, comp: &str, arch: &str, text: &[u8]) {
        let p = self.packages_path(comp, arch);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
        gz.write_all(text).unwrap();
        std::fs::write(p.with_extension("gz"), gz.finish().unwrap()).unwrap();
        std::fs::write(p.with_extension("xz"), run_bytes(Command::new("xz").args(["-c", "-9", "-T1"]).arg(&p))).unwrap();
    }

    /// Release as apt-ftparchive writes it (MD5Sum + SHA256 over every index file), written to a
    /// temp name first so it never lists itself.
    fn write_release(&self) {
        let dists = self.dists();
        let mut files = Vec::new();
        let mut stack = vec![dists.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    files.push(p);
                }
            }
        }
        files.retain(|p| !matches!(p.file_name().and_then(|n| n.to_str()), Some("Release" | "InRelease" | "Release.gpg" | "Release.tmp")));
        files.sort();
        let mut md5 = String::from("MD5Sum:\n");
        let mut sha = String::from("SHA256:\n");
        for f in &files {
            let rel = f.strip_prefix(&dists).unwrap().display().to_string();
            let bytes = std::fs::read(f).unwrap();
            let m = run(Command::new("md5sum").arg(f)).ok().stdout.split_whitespace().next().unwrap().to_string();
            md5.push_str(&format!(" {m} {:>16} {rel}\n", bytes.len()));
            sha.push_str(&format!(" {} {:>16} {rel}\n", hex_sha256(&bytes), bytes.len()));
        }
        let text = format!(
            "Origin: {}\nLabel: {}\nSuite: {}\nCodename: {}\nDate: {RELEASE_DATE}\nArchitectures: {}\nComponents: {}\nDescription: stand-in archive for the e2e suites\n{md5}{sha}",
            self.origin,
            self.label,
            self.suite,
            self.codename,
            self.archs.join(" "),
            self.components().join(" ")
        );
        let tmp = dists.join("Release.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, dists.join("Release")).unwrap();
    }

    /// Sign the current Release again with another key (apt and the bundler must then refuse it
    /// against this repo's own keyring).
    pub fn resign_with(&self, other: &Signer) {
        other.sign_release(&self.dists().join("Release"));
    }

    /// Change `Packages` (and its .gz/.xz) of one index after signing, so none of them matches
    /// the hash Release gives any more. The text stays a valid index.
    pub fn tamper_packages(&self, component: &str, arch: &str) {
        let p = self.packages_path(component, arch);
        let mut text = std::fs::read_to_string(&p).unwrap();
        let at = text.find("\n\n").map_or(text.len(), |i| i + 1);
        text.insert_str(at, "X-Tampered: yes\n");
        self.write_packages(component, arch, text.as_bytes());
    }

    /// Replace a deb's bytes after indexing so its sha256 differs from its Packages entry while
    /// its size stays the same and it is still a valid deb (the mtime of its first `ar` member
    /// changes): only a hash check catches it. Returns the new sha256.
    pub fn tamper_deb(&self, package: &str, version: &str, arch: &str) -> String {
        let d = self.deb(package, version, arch);
        let path = self.root.join(&d.filename);
        let mut bytes = std::fs::read(&path).unwrap();
        // "!<arch>\n", then a 60-byte header: name[16] mtime[12] ...
        assert!(bytes.starts_with(b"!<arch>\ndebian-binary"), "{} is not a deb", path.display());
        let mtime = &mut bytes[24..36];
        let last = mtime.iter().rposition(|b| b.is_ascii_digit()).expect("ar mtime");
        mtime[last] = if mtime[last] == b'9' { b'8' } else { mtime[last] + 1 };
        std::fs::write(&path, &bytes).unwrap();
        run(Command::new("dpkg-deb").arg("--info").arg(&path)).ok();
        let sha = hex_sha256(&bytes);
        assert_ne!(sha, d.sha256);
        sha
    }

    /// Replace a deb with a rebuilt one (another payload, so another size and hash) after indexing.
    pub fn replace_deb(&self, package: &str, version: &str, arch: &str) -> String {
        let d = self.deb(package, version, arch);
        let spec = d.spec.clone().payload("replaced payload, not what Packages describes\n");
        let path = self.root.join(&d.filename);
        build_deb(&spec, &path);
        hex_sha256(&std::fs::read(&path).unwrap())
    }

    /// Serve the archive root over HTTP on a free loopback port.
    pub fn serve(&self) -> StaticServer {
        StaticServer::start(&self.root)
    }
}

// ---------------------------------------------------------------------------------------------
// Static HTTP server

/// `python3 -m http.server --bind 127.0.0.1 PORT --directory DIR`, stopped on drop.
pub struct StaticServer {
    pub server: Server,
    pub port: u16,
    _log_dir: tempfile::TempDir,
}

impl StaticServer {
    pub fn start(dir: &Path) -> StaticServer {
        let python = if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
        let log_dir = tempfile::tempdir().unwrap();
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(python);
            cmd.args(["-u", "-m", "http.server", "--bind", "127.0.0.1", &port.to_string(), "--directory"]).arg(dir);
            let mut server = Server::start("python3 -m http.server", &mut cmd, log_dir.path().join(format!("http-{port}.log")));
            match server.try_wait_until("ready", || http_status(&format!("http://127.0.0.1:{port}/")) == 200) {
                Ok(()) => return StaticServer { server, port, _log_dir: log_dir },
                Err(e) if e.to_lowercase().contains("address already in use") => last = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("http.server: no free port after 3 attempts: {last}");
    }

    /// `http://127.0.0.1:PORT/` (with the trailing slash: the archive root).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Paths requested so far, from the server's log (`"GET /path HTTP/1.1" 200`).
    pub fn requests(&self) -> Vec<String> {
        self.server.log_text().lines().filter_map(|l| l.split("\"GET ").nth(1)?.split(' ').next().map(String::from)).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The client

/// A deb apt fetched, identified by its own control fields.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FetchedDeb {
    pub package: String,
    pub version: String,
    pub arch: String,
    /// Lower-case hex.
    pub sha256: String,
    pub file: String,
    pub path: PathBuf,
}

impl FetchedDeb {
    pub fn read(path: &Path) -> FetchedDeb {
        let f = run(Command::new("dpkg-deb").arg("-f").arg(path).args(["Package", "Version", "Architecture"])).ok();
        let mut fields = BTreeMap::new();
        for l in f.stdout.lines() {
            if let Some((k, v)) = l.split_once(':') {
                fields.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        FetchedDeb {
            package: fields.get("Package").cloned().unwrap_or_default(),
            version: fields.get("Version").cloned().unwrap_or_default(),
            arch: fields.get("Architecture").cloned().unwrap_or_default(),
            sha256: hex_sha256(&std::fs::read(path).unwrap()),
            file: path.file_name().unwrap().to_string_lossy().into_owned(),
            path: path.to_path_buf(),
        }
    }
    pub fn id(&self) -> (String, String, String) {
        (self.package.clone(), self.version.clone(), self.arch.clone())
    }
}

/// Every `*.deb` directly in `dir`.
pub fn debs_in(dir: &Path) -> Vec<FetchedDeb> {
    let mut v: Vec<FetchedDeb> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "deb")).map(|p| FetchedDeb::read(&p)).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// `apt-get update`'s output and its `W:`/`E:` lines.
#[derive(Debug)]
pub struct Update {
    pub run: Run,
    pub problems: Vec<String>,
}

impl Update {
    /// Panics unless apt-get exited 0 and printed no `W:`/`E:` line.
    #[track_caller]
    pub fn clean(self) -> Update {
        assert!(
            self.run.status == 0 && self.problems.is_empty(),
            "`apt-get update` not clean (exit {}): {:?}\nstdout: {}\nstderr: {}",
            self.run.status,
            self.problems,
            self.run.stdout,
            self.run.stderr
        );
        self
    }
    /// The `W:`/`E:` lines, joined, for matching.
    pub fn problem_text(&self) -> String {
        self.problems.join("\n")
    }
}

/// apt-get with all of its state in a temp dir: own apt.conf (`APT_CONFIG`), sources, lists,
/// cache, dpkg status, empty trusted keyrings, empty apt.conf.d; one architecture.
pub struct AptClient {
    pub dir: tempfile::TempDir,
    pub arch: String,
}

impl Default for AptClient {
    fn default() -> Self {
        Self::new()
    }
}

impl AptClient {
    pub fn new() -> AptClient {
        Self::for_arch("amd64")
    }

    pub fn for_arch(arch: &str) -> AptClient {
        let dir = tempfile::Builder::new().prefix("apt").tempdir().unwrap();
        let s = dir.path();
        for d in ["etc/apt/sources.list.d", "etc/apt/preferences.d", "etc/apt/apt.conf.d", "etc/apt/trusted.gpg.d", "state/lists/partial", "cache/archives/partial", "log"] {
            std::fs::create_dir_all(s.join(d)).unwrap();
        }
        std::fs::write(s.join("state/status"), "").unwrap();
        std::fs::write(s.join("etc/apt/sources.list"), "").unwrap();
        let p = |rel: &str| s.join(rel).display().to_string();
        let conf = format!(
            "Dir::Etc::Main \"{}\";\nDir::Etc::Parts \"{}\";\nDir::Etc::SourceList \"{}\";\nDir::Etc::SourceParts \"{}\";\n\
             Dir::Etc::Preferences \"{}\";\nDir::Etc::PreferencesParts \"{}\";\nDir::Etc::Trusted \"{}\";\nDir::Etc::TrustedParts \"{}\";\n\
             Dir::State \"{}\";\nDir::State::status \"{}\";\nDir::Cache \"{}\";\nDir::Log \"{}\";\n\
             APT::Architecture \"{arch}\";\nAPT::Architectures {{ \"{arch}\"; }};\n\
             APT::Sandbox::User \"root\";\nAcquire::Retries \"0\";\nAcquire::http::Timeout \"10\";\nAcquire::Languages \"none\";\n\
             Debug::NoLocking \"1\";\n",
            p("etc/apt/apt.conf"),
            p("etc/apt/apt.conf.d"),
            p("etc/apt/sources.list"),
            p("etc/apt/sources.list.d"),
            p("etc/apt/preferences"),
            p("etc/apt/preferences.d"),
            p("etc/apt/trusted.gpg"),
            p("etc/apt/trusted.gpg.d"),
            p("state"),
            p("state/status"),
            p("cache"),
            p("log"),
        );
        std::fs::write(s.join("apt.conf"), conf).unwrap();
        AptClient { dir, arch: arch.into() }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The dpkg status file: stanzas of packages the target already has (each needs
    /// `Status: install ok installed`, Package, Version, Architecture).
    pub fn set_status(&self, stanzas: &str) {
        std::fs::write(self.path("state/status"), stanzas).unwrap();
    }

    /// Replace every source with these one-line `deb ...` entries (sources.list.d emptied).
    pub fn set_sources_list(&self, lines: &[String]) {
        self.clear_source_parts();
        std::fs::write(self.path("etc/apt/sources.list"), lines.join("\n") + "\n").unwrap();
    }

    /// `deb [signed-by=KEYRING] URL SUITE COMPONENTS` as the only source.
    pub fn set_source(&self, keyring: &Path, url: &str, suite: &str, components: &[&str]) {
        self.set_sources_list(&[source_line(keyring, url, suite, components)]);
    }

    /// Replace every source with this deb822 `.sources` file (copied into sources.list.d).
    pub fn set_deb822(&self, file: &Path) {
        self.clear_source_parts();
        std::fs::write(self.path("etc/apt/sources.list"), "").unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.ends_with(".sources"), "apt only reads *.sources from sources.list.d: {name}");
        std::fs::copy(file, self.path("etc/apt/sources.list.d").join(name)).unwrap();
    }

    fn clear_source_parts(&self) {
        for e in std::fs::read_dir(self.path("etc/apt/sources.list.d")).unwrap().flatten() {
            std::fs::remove_file(e.path()).unwrap();
        }
    }

    fn cmd(&self, tool: &str) -> Command {
        let mut c = Command::new(tool);
        c.env("APT_CONFIG", self.path("apt.conf")).env("LC_ALL", "C").env("DEBIAN_FRONTEND", "noninteractive").current_dir(self.dir.path());
        c
    }

    /// `apt-get ARGS` (not asserting).
    pub fn apt_get(&self, args: &[&str]) -> Run {
        run(self.cmd("apt-get").args(args))
    }

    /// `apt-get ARGS` run in `cwd` (e.g. `download`).
    pub fn apt_get_in(&self, cwd: &Path, args: &[&str]) -> Run {
        run(self.cmd("apt-get").args(args).current_dir(cwd))
    }

    /// `apt-cache ARGS` (not asserting).
    pub fn apt_cache(&self, args: &[&str]) -> Run {
        run(self.cmd("apt-cache").args(args))
    }

    /// `apt-get update`, with its `W:`/`E:` lines picked out (it exits 0 on a bad signature).
    pub fn update(&self) -> Update {
        let run = self.apt_get(&["update"]);
        let problems = run.stdout.lines().chain(run.stderr.lines()).filter(|l| l.starts_with("W:") || l.starts_with("E:")).map(String::from).collect();
        Update { run, problems }
    }

    /// `apt-get install -y --download-only -o APT::Install-Recommends=false PKGS` from a clean
    /// archive cache; asserts success and returns what was fetched.
    pub fn install_download_only(&self, pkgs: &[&str]) -> Vec<FetchedDeb> {
        self.install_download_only_with(pkgs, &["-o", "APT::Install-Recommends=false"])
    }

    /// Like `install_download_only` with other extra options.
    pub fn install_download_only_with(&self, pkgs: &[&str], extra: &[&str]) -> Vec<FetchedDeb> {
        let archives = self.path("cache/archives");
        for d in debs_in(&archives) {
            std::fs::remove_file(d.path).unwrap();
        }
        let mut args = vec!["install", "-y", "--download-only"];
        args.extend_from_slice(extra);
        args.extend_from_slice(pkgs);
        self.apt_get(&args).ok();
        debs_in(&archives)
    }

    /// `apt-get download PKGS` into `dir` (created); asserts success and returns what is there.
    pub fn download(&self, pkgs: &[&str], dir: &Path) -> Vec<FetchedDeb> {
        std::fs::create_dir_all(dir).unwrap();
        let mut args = vec!["download"];
        args.extend_from_slice(pkgs);
        self.apt_get_in(dir, &args).ok();
        debs_in(dir)
    }
}

/// `deb [signed-by=KEYRING] URL SUITE COMPONENTS`
pub fn source_line(keyring: &Path, url: &str, suite: &str, components: &[&str]) -> String {
    format!("deb [signed-by={}] {url} {suite} {}", keyring.display(), components.join(" "))
}

/// A dpkg status stanza for an installed package (the target's baseline).
pub fn installed(package: &str, version: &str, arch: &str, extra: &[(&str, &str)]) -> String {
    let mut s = format!("Package: {package}\nStatus: install ok installed\nMaintainer: baseline <baseline@example.invalid>\nArchitecture: {arch}\nVersion: {version}\n");
    for (k, v) in extra {
        s.push_str(&format!("{k}: {v}\n"));
    }
    s.push_str("Description: already on the target\n\n");
    s
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
