//! The stand-in archive: debs built with dpkg-deb, indexed with dpkg-scanpackages, Release
//! and InRelease signed, served by a `StaticServer`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{build_deb, hex_sha256, run, run_bytes, BuiltDeb, DebSpec, Signer, RELEASE_DATE};
use crate::StaticServer;

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
