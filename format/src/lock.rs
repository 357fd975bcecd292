//! `bundles.lock`: every resolved artifact pinned to exact bytes.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::digest::Digest;

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

/// One Helm chart version: the chart archive, and for charts from an OCI registry the
/// upstream manifest, carried unchanged so `helm pull oci://` gets the upstream digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartLock {
    pub kind: String,
    pub name: String,
    pub version: String,
    /// The archive's URL, or `oci://host/path/name:tag`.
    pub source: String,
    /// sha256 of the chart archive (`.tgz`).
    pub sha256: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_manifest: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_manifest_size: Option<u64>,
    /// Chart that pulled this one in as a dependency (`name-version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependency_of: Option<String>,
    /// Images referenced by the chart's values and templates (see `bundler inspect`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
}

/// One file of a Hugging Face model repository at the commit its revision resolved to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HfLock {
    /// `hf`.
    pub kind: String,
    /// `<repo>/<path>`.
    pub name: String,
    /// The file's `/resolve/<commit>/` URL on the hub.
    pub source: String,
    /// `owner/name`.
    pub repo: String,
    /// As the manifest asks for it (branch, tag or commit).
    pub revision: String,
    /// The 40-hex commit the revision resolved to.
    pub commit: String,
    /// Path in the repository.
    pub path: String,
    pub sha256: Digest,
    pub size: u64,
    /// Git blob id from the hub's tree (for an LFS file, its pointer's).
    pub oid: String,
    /// Stored with LFS: the hub's tree gave its sha256 and size.
    pub lfs: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lfs_pointer_size: Option<u64>,
}

/// One NLTK data package (a zip) with the index attributes the downloader needs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NltkLock {
    pub kind: String,
    /// The package id, e.g. `punkt`.
    pub name: String,
    pub source: String,
    pub subdir: String,
    /// MD5 the index gives (what nltk itself checks).
    pub checksum: String,
    pub sha256: Digest,
    pub size: u64,
}

/// A raw file: the manifest gives its sha256; the lock adds its size.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLock {
    pub kind: String,
    /// Served at `/files/<name>`.
    pub name: String,
    pub source: String,
    pub sha256: Digest,
    pub size: u64,
}

/// One distribution file (wheel, or sdist where allowed) of a resolved PyPI requirement set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WheelLock {
    pub kind: String,
    /// `<project>/<filename>`.
    pub name: String,
    /// The file's URL.
    pub source: String,
    /// The index page it was listed on.
    pub index: String,
    /// Normalized project name (PEP 503).
    pub project: String,
    pub version: String,
    pub filename: String,
    pub sha256: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_python: Option<String>,
    /// Targets that need it, e.g. `cp311-manylinux_2_17_x86_64`.
    pub targets: Vec<String>,
}

/// One Debian package file of the resolved apt closure.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebLock {
    pub kind: String,
    /// `<id>/<package>_<version>_<arch>`.
    pub name: String,
    /// Archive root URL.
    pub source: String,
    pub id: String,
    pub suite: String,
    pub component: String,
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// Path below the archive root, as the Packages index gives it.
    pub filename: String,
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

impl LockFile {
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
