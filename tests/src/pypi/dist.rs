//! Distributions written by code: wheels (a stored zip with METADATA, WHEEL and RECORD) and sdists.

use super::{b64url, file_stem_name, normalize};
use crate::zip::zip_stored;

/// One distribution file to build: a wheel for one (compressed) tag set, or an sdist.
#[derive(Clone, Debug)]
pub struct DistSpec {
    /// As written in METADATA (`Foo.Bar`); file names and the index use its normalized forms.
    pub name: String,
    pub version: String,
    /// `py3-none-any`, `cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64`; `None`: sdist.
    pub tag: Option<String>,
    pub requires_dist: Vec<String>,
    pub provides_extra: Vec<String>,
    pub requires_python: Option<String>,
    /// `Some(reason)` (may be empty): listed as yanked (PEP 592).
    pub yanked: Option<String>,
    /// Eight characters written into `__init__.py` (`tamper` swaps them, keeping the size).
    pub payload: String,
}

impl DistSpec {
    pub fn wheel(name: &str, version: &str, tag: &str) -> DistSpec {
        DistSpec {
            name: name.into(),
            version: version.into(),
            tag: Some(tag.into()),
            requires_dist: Vec::new(),
            provides_extra: Vec::new(),
            requires_python: None,
            yanked: None,
            payload: "original".into(),
        }
    }
    pub fn sdist(name: &str, version: &str) -> DistSpec {
        DistSpec { tag: None, ..DistSpec::wheel(name, version, "") }
    }
    /// A pure wheel `py3-none-any`.
    pub fn pure(name: &str, version: &str) -> DistSpec {
        DistSpec::wheel(name, version, "py3-none-any")
    }
    /// `Requires-Dist:` (PEP 508, markers and extras as written).
    pub fn requires(mut self, req: &str) -> DistSpec {
        self.requires_dist.push(req.into());
        self
    }
    pub fn extra(mut self, extra: &str) -> DistSpec {
        self.provides_extra.push(extra.into());
        self
    }
    pub fn requires_python(mut self, spec: &str) -> DistSpec {
        self.requires_python = Some(spec.into());
        self
    }
    pub fn yanked(mut self, reason: &str) -> DistSpec {
        self.yanked = Some(reason.into());
        self
    }
    pub fn is_wheel(&self) -> bool {
        self.tag.is_some()
    }
    pub fn project(&self) -> String {
        normalize(&self.name)
    }
    /// The import name of its one module.
    pub fn module(&self) -> String {
        file_stem_name(&self.name)
    }
    /// `foo_bar-1.0-py3-none-any.whl`, `srconly-1.0.tar.gz`
    pub fn filename(&self) -> String {
        match &self.tag {
            Some(t) => format!("{}-{}-{t}.whl", file_stem_name(&self.name), self.version),
            None => format!("{}-{}.tar.gz", file_stem_name(&self.name), self.version),
        }
    }
    /// Core metadata: METADATA of a wheel, PKG-INFO of an sdist.
    pub fn metadata(&self) -> String {
        let mv = if self.is_wheel() { "2.1" } else { "2.2" };
        let mut m = format!("Metadata-Version: {mv}\nName: {}\nVersion: {}\nSummary: stand-in {} built by the e2e harness\n", self.name, self.version, self.name);
        if let Some(rp) = &self.requires_python {
            m.push_str(&format!("Requires-Python: {rp}\n"));
        }
        for e in &self.provides_extra {
            m.push_str(&format!("Provides-Extra: {e}\n"));
        }
        for r in &self.requires_dist {
            m.push_str(&format!("Requires-Dist: {r}\n"));
        }
        m
    }
    /// Every tag of a compressed tag set (`py2.py3-none-any` → py2-none-any, py3-none-any).
    pub fn tags(&self) -> Vec<String> {
        let Some(t) = &self.tag else { return Vec::new() };
        let parts: Vec<&str> = t.splitn(3, '-').collect();
        assert_eq!(parts.len(), 3, "tag {t} is not python-abi-platform");
        let mut v = Vec::new();
        for py in parts[0].split('.') {
            for abi in parts[1].split('.') {
                for plat in parts[2].split('.') {
                    v.push(format!("{py}-{abi}-{plat}"));
                }
            }
        }
        v
    }
    fn init_py(&self) -> String {
        format!("VERSION = {:?}\nTAG = {:?}\nPAYLOAD = {:?}\n", self.version, self.tag.clone().unwrap_or_else(|| "sdist".into()), self.payload)
    }
    /// The file's bytes (deterministic: fixed times, fixed order).
    pub fn build(&self) -> Vec<u8> {
        assert_eq!(self.payload.len(), 8, "payload is eight characters");
        if self.is_wheel() {
            self.build_wheel()
        } else {
            self.build_sdist()
        }
    }
    fn build_wheel(&self) -> Vec<u8> {
        let di = format!("{}-{}.dist-info", file_stem_name(&self.name), self.version);
        let pure = self.tags().iter().all(|t| t.ends_with("-none-any"));
        let mut wheel = format!("Wheel-Version: 1.0\nGenerator: feas-e2e (1.0)\nRoot-Is-Purelib: {pure}\n");
        for t in self.tags() {
            wheel.push_str(&format!("Tag: {t}\n"));
        }
        let files: Vec<(String, Vec<u8>)> = vec![
            (format!("{}/__init__.py", self.module()), self.init_py().into_bytes()),
            (format!("{di}/METADATA"), self.metadata().into_bytes()),
            (format!("{di}/WHEEL"), wheel.into_bytes()),
        ];
        let mut record = String::new();
        for (n, b) in &files {
            record.push_str(&format!("{n},sha256={},{}\n", b64url(&sha2_raw(b)), b.len()));
        }
        record.push_str(&format!("{di}/RECORD,,\n"));
        let mut all = files;
        all.push((format!("{di}/RECORD"), record.into_bytes()));
        zip_stored(&all)
    }
    fn build_sdist(&self) -> Vec<u8> {
        let top = format!("{}-{}", file_stem_name(&self.name), self.version);
        let pyproject =
            format!("[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = {:?}\nversion = {:?}\n", self.name, self.version);
        let files = [(format!("{top}/PKG-INFO"), self.metadata()), (format!("{top}/pyproject.toml"), pyproject), (format!("{top}/{}/__init__.py", self.module()), self.init_py())];
        let gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        tar.mode(tar::HeaderMode::Deterministic);
        for (path, text) in &files {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(1_700_000_000);
            h.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut h, path, text.as_bytes()).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }
}

fn sha2_raw(b: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(b).to_vec()
}

/// A distribution as it lies in the stand-in index.
#[derive(Clone, Debug)]
pub struct BuiltDist {
    pub spec: DistSpec,
    pub filename: String,
    /// Lower-case hex, as the index gives it.
    pub sha256: String,
    pub size: u64,
    /// The core metadata text and its sha256 (hex); `.metadata` files hold exactly it.
    pub metadata: String,
    pub metadata_sha256: String,
}
