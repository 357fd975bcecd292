//! How a Python distribution file travels in a bundle: an OCI 1.1 artifact whose layers are
//! the file and its core metadata (METADATA), and whose config blob is a `WheelConfig` — what
//! the mirror needs for its PEP 503/691 pages.

use crate::lock::Locked;
use crate::sbom::{purl_enc, SbomPackage};
use crate::Digest;
use serde::{Deserialize, Serialize};

pub const ARTIFACT_TYPE: &str = "application/vnd.feas.pypi.distribution.v1";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.feas.pypi.config.v1+json";
pub const FILE_MEDIA_TYPE: &str = "application/octet-stream";
/// The core metadata file (PEP 658 `.metadata`).
pub const METADATA_MEDIA_TYPE: &str = "text/x-python-metadata";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WheelConfig {
    /// Normalized project name (PEP 503).
    pub project: String,
    pub version: String,
    pub filename: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_python: Option<String>,
    /// Where it came from, for people.
    pub source: String,
}

impl WheelConfig {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("wheel config serializes")
    }
}

/// PEP 503 normalization: lowercase, runs of `-_.` become `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
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

impl Locked for WheelLock {
    fn sbom(&self) -> SbomPackage {
        let purl = format!("pkg:pypi/{}@{}?file_name={}", purl_enc(&self.project), purl_enc(&self.version), purl_enc(&self.filename));
        SbomPackage { name: self.project.clone(), version: Some(self.version.clone()), source: self.source.clone(), sha256: self.sha256.clone(), purl, purpose: "LIBRARY" }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn normalizes() {
        assert_eq!(super::normalize("Friendly-Bard"), "friendly-bard");
        assert_eq!(super::normalize("FRIENDLY__bard"), "friendly-bard");
        assert_eq!(super::normalize("friendly.bard_x"), "friendly-bard-x");
    }
}
