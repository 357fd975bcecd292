//! apt-get and apt-cache with their whole state in a temp dir: the system's configuration,
//! keyrings and dpkg status are never read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{hex_sha256, run};
use crate::Run;

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
