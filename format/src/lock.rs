//! `bundles.lock`: every resolved artifact pinned to exact bytes.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::digest::Digest;
pub use crate::deb::DebLock;
pub use crate::helm::ChartLock;
pub use crate::hf::HfLock;
pub use crate::nltk::NltkLock;
pub use crate::pypi::WheelLock;
use crate::sbom::{purl_enc, SbomPackage};

pub const LOCK_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    pub version: u32,
    /// Digest of the manifest's `apt:` section the debs were resolved for: the closure is
    /// one answer to the whole section, so any change there re-resolves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apt_request: Option<Digest>,
    #[serde(default, rename = "image", skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageLock>,
    #[serde(default, rename = "deb", skip_serializing_if = "Vec::is_empty")]
    pub debs: Vec<DebLock>,
    /// Digest of the manifest's `pypi:` section the wheels were resolved for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pypi_request: Option<Digest>,
    #[serde(default, rename = "wheel", skip_serializing_if = "Vec::is_empty")]
    pub wheels: Vec<WheelLock>,
    #[serde(default, rename = "file", skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileLock>,
    /// Digest of the manifest's `nltk:` section the packages were resolved for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nltk_request: Option<Digest>,
    #[serde(default, rename = "nltk", skip_serializing_if = "Vec::is_empty")]
    pub nltk: Vec<NltkLock>,
    /// Digest of the manifest's `charts:` section the charts were resolved for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm_request: Option<Digest>,
    #[serde(default, rename = "chart", skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<ChartLock>,
    /// Digest of the manifest's `models: - hf:` entries the files were resolved for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hf_request: Option<Digest>,
    #[serde(default, rename = "model", skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<HfLock>,
}

/// A raw file: the manifest gives its sha256; the lock adds its size.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLock {
    pub kind: String,
    /// Served at `/files/<name>`.
    pub name: crate::names::FileName,
    pub source: String,
    pub sha256: Digest,
    pub size: u64,
}

/// One image: the upstream manifest or index it resolved to and the platform manifests kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageLock {
    pub kind: String,
    /// Canonical reference served by the mirror, e.g. `docker.io/library/postgres:13`.
    pub name: String,
    /// Where the bytes came from: a registry URL or a local `oci-layout:`/`docker-archive:` path.
    pub source: String,
    /// Digest of the upstream manifest or index the reference resolved to.
    pub sha256: Digest,
    pub size: u64,
    pub media_type: String,
    /// Platforms requested; empty for a single-platform manifest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<PlatformLock>,
    /// Cosign signature/attestation/SBOM tags and OCI referrers carried with the image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accessories: Vec<AccessoryLock>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessoryLock {
    /// `sha256-<hex>.sig` style tag, or absent for an OCI referrer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformLock {
    pub platform: String,
    pub digest: Digest,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot read lock file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("lock file {path} is not valid: {detail}")]
    Parse { path: String, detail: String },
    #[error("cannot write lock file {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

/// A pinned artifact, as every section's entries are: what the bundle's SBOM lists of it.
pub trait Locked {
    fn sbom(&self) -> SbomPackage;
}

impl Locked for ImageLock {
    fn sbom(&self) -> SbomPackage {
        // `registry/repo:tag` (or @digest): the purl names the last path segment, the full
        // repository goes in `repository_url`.
        let (repo, tag) = match self.name.rsplit_once(':').filter(|(r, t)| !t.contains('/') && !r.is_empty()) {
            Some((r, t)) => (r.to_string(), Some(t.to_string())),
            None => (self.name.split('@').next().unwrap_or(&self.name).to_string(), None),
        };
        let last = repo.rsplit('/').next().unwrap_or(&repo).to_string();
        let mut purl = format!("pkg:oci/{}@{}?repository_url={}", purl_enc(&last), purl_enc(&self.sha256.to_string()), purl_enc(&repo));
        if let Some(t) = &tag {
            purl.push_str(&format!("&tag={}", purl_enc(t)));
        }
        SbomPackage { name: self.name.clone(), version: Some(self.sha256.to_string()), source: self.source.clone(), sha256: self.sha256.clone(), purl, purpose: "CONTAINER" }
    }
}

impl Locked for FileLock {
    fn sbom(&self) -> SbomPackage {
        let purl = format!("pkg:generic/{}?download_url={}&checksum={}", purl_enc(&self.name), purl_enc(&self.source), purl_enc(&self.sha256.to_string()));
        SbomPackage { name: self.name.to_string(), version: None, source: self.source.clone(), sha256: self.sha256.clone(), purl, purpose: "FILE" }
    }
}

impl LockFile {
    /// Every pinned artifact, section by section (the SBOM's order).
    pub fn entries(&self) -> Vec<&dyn Locked> {
        let mut out: Vec<&dyn Locked> = Vec::new();
        out.extend(self.images.iter().map(|e| e as &dyn Locked));
        out.extend(self.debs.iter().map(|e| e as &dyn Locked));
        out.extend(self.wheels.iter().map(|e| e as &dyn Locked));
        out.extend(self.charts.iter().map(|e| e as &dyn Locked));
        out.extend(self.nltk.iter().map(|e| e as &dyn Locked));
        out.extend(self.models.iter().map(|e| e as &dyn Locked));
        out.extend(self.files.iter().map(|e| e as &dyn Locked));
        out
    }

    /// The sections `self` (locked from some manifests) holds nothing of, taken whole from
    /// `old`: a lock shared by several manifests keeps the pins of those not locked this time.
    /// A section the manifests name is theirs alone (an apt or PyPI closure answers its whole
    /// section). Returns each section kept, with its entry count.
    pub fn keep_sections_of(&mut self, old: &LockFile) -> Vec<(&'static str, usize)> {
        fn keep<T: Clone>(section: &'static str, new: (&mut Vec<T>, Option<&mut Option<Digest>>), old: (&[T], Option<&Digest>), kept: &mut Vec<(&'static str, usize)>) {
            let (entries, request) = new;
            let named = !entries.is_empty() || request.as_ref().is_some_and(|r| r.is_some());
            if named || (old.0.is_empty() && old.1.is_none()) {
                return;
            }
            *entries = old.0.to_vec();
            if let Some(r) = request {
                *r = old.1.cloned();
            }
            kept.push((section, old.0.len()));
        }
        let mut kept = Vec::new();
        keep("image", (&mut self.images, None), (&old.images, None), &mut kept);
        keep("deb", (&mut self.debs, Some(&mut self.apt_request)), (&old.debs, old.apt_request.as_ref()), &mut kept);
        keep("wheel", (&mut self.wheels, Some(&mut self.pypi_request)), (&old.wheels, old.pypi_request.as_ref()), &mut kept);
        keep("file", (&mut self.files, None), (&old.files, None), &mut kept);
        keep("nltk", (&mut self.nltk, Some(&mut self.nltk_request)), (&old.nltk, old.nltk_request.as_ref()), &mut kept);
        keep("chart", (&mut self.charts, Some(&mut self.helm_request)), (&old.charts, old.helm_request.as_ref()), &mut kept);
        keep("model", (&mut self.models, Some(&mut self.hf_request)), (&old.models, old.hf_request.as_ref()), &mut kept);
        kept
    }

    pub fn load(path: &Path) -> Result<Option<LockFile>, LockError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(LockError::Read { path: path.display().to_string(), source }),
        };
        let lock: LockFile = toml::from_str(&text).map_err(|e| LockError::Parse { path: path.display().to_string(), detail: e.to_string() })?;
        if lock.version != LOCK_VERSION {
            return Err(LockError::Parse { path: path.display().to_string(), detail: format!("version {} is not supported (this bundler writes {LOCK_VERSION})", lock.version) });
        }
        Ok(Some(lock))
    }

    pub fn to_toml(&self) -> String {
        let mut s = String::from("# Written by `bundler lock`. Every artifact pinned to exact bytes; edit the manifest, not this file.\n");
        s.push_str(&toml::to_string_pretty(self).expect("lock serializes"));
        s
    }

    pub fn save(&self, path: &Path) -> Result<(), LockError> {
        let tmp = path.with_extension("lock.tmp");
        let w = |source| LockError::Write { path: path.display().to_string(), source };
        std::fs::write(&tmp, self.to_toml()).map_err(w)?;
        std::fs::rename(&tmp, path).map_err(w)
    }

    pub fn image(&self, name: &str) -> Option<&ImageLock> {
        self.images.iter().find(|i| i.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> FileLock {
        FileLock { kind: "file".into(), name: name.parse().unwrap(), source: format!("http://up/{name}"), sha256: Digest::sha256_of(name.as_bytes()), size: 1 }
    }

    /// A section the new lock names is its own; one it does not is taken whole from the old,
    /// request digest and all (an empty closure is still a named section).
    #[test]
    fn sections_not_named_are_kept_whole() {
        let old = LockFile {
            version: LOCK_VERSION,
            apt_request: Some(Digest::sha256_of(b"apt")),
            files: vec![file("a"), file("b")],
            pypi_request: Some(Digest::sha256_of(b"py")),
            ..LockFile::default()
        };
        let mut new = LockFile { version: LOCK_VERSION, files: vec![file("c")], ..LockFile::default() };
        let kept = new.keep_sections_of(&old);
        assert_eq!(kept, [("deb", 0), ("wheel", 0)]);
        assert_eq!(new.files, [file("c")], "the files section is the new lock's");
        assert_eq!((new.apt_request, new.pypi_request), (old.apt_request.clone(), old.pypi_request.clone()));
        let mut named = LockFile { version: LOCK_VERSION, apt_request: Some(Digest::sha256_of(b"other")), ..LockFile::default() };
        named.keep_sections_of(&old);
        assert_eq!(named.apt_request, Some(Digest::sha256_of(b"other")));
        assert_eq!(named.files, old.files);
    }
}
