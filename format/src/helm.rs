//! Helm wire types and rules both sides apply.

use serde::{Deserialize, Serialize};

use crate::lock::Locked;
use crate::sbom::{purl_enc, SbomPackage};
use crate::Digest;

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
pub const CHART_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// index.json annotation listing the images a chart references (for `bundler inspect`).
pub const IMAGES_ANNOTATION: &str = "dev.feas.helm.images";

/// OCI tags cannot hold `+`; helm writes `_` instead.
pub fn oci_tag(version: &str) -> String {
    version.replace('+', "_")
}

/// One Helm chart version: the chart archive, and for charts from an OCI registry the
/// upstream manifest, carried unchanged so `helm pull oci://` gets the upstream digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartLock {
    pub kind: String,
    pub name: crate::names::ChartName,
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

impl Locked for ChartLock {
    fn sbom(&self) -> SbomPackage {
        let purl = format!("pkg:helm/{}@{}?download_url={}", purl_enc(&self.name), purl_enc(&self.version), purl_enc(&self.source));
        SbomPackage { name: self.name.to_string(), version: Some(self.version.clone()), source: self.source.clone(), sha256: self.sha256.clone(), purl, purpose: "APPLICATION" }
    }
}
