//! OCI image-spec / Docker schema2 wire types, only as far as we need them to walk a graph
//! of blobs. Upstream manifests are always kept as their original bytes; these types are for
//! reading them, and for writing the few documents we author (filtered indexes, index.json).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::digest::Digest;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The OCI 1.1 draft's artifact manifest (withdrawn, but some registries and clients wrote it).
pub const OCI_ARTIFACT_MANIFEST: &str = "application/vnd.oci.artifact.manifest.v1+json";

/// Every type a manifest may carry, as the image and distribution specs list them: what a
/// registry takes on PUT and serves as Content-Type (anything else, e.g. text/html, would have
/// browsers render stored bytes as a page).
pub const MANIFEST_TYPES: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST, OCI_ARTIFACT_MANIFEST];

/// What we ask registries for, in preference order.
pub const MANIFEST_ACCEPT: &[&str] = &[OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";

/// Image configuration types (OCI and Docker): their JSON names the image's os/architecture.
pub const IMAGE_CONFIG_TYPES: &[&str] = &["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"];

pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

pub fn is_manifest_type(media_type: &str) -> bool {
    MANIFEST_TYPES.contains(&media_type)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Self {
        Descriptor { media_type: media_type.into(), digest, size, platform: None, artifact_type: None, annotations: BTreeMap::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(rename = "os.version", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
}

impl Platform {
    /// `os/arch[/variant]`, the form manifests and `--platform` flags use.
    pub fn key(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{}", self.os, self.architecture, v),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
    /// Whether a requested `os/arch[/variant]` selects this platform. A request without a
    /// variant takes any variant (linux/arm64 matches linux/arm64/v8).
    pub fn matches(&self, wanted: &str) -> bool {
        let mut parts = wanted.split('/');
        let (os, arch, variant) = (parts.next(), parts.next(), parts.next());
        os == Some(self.os.as_str())
            && arch == Some(self.architecture.as_str())
            && match variant {
                None => true,
                Some(v) => self.variant.as_deref() == Some(v),
            }
    }
}

/// Any manifest-like document: an index (has `manifests`) or an image/artifact manifest
/// (has `config` and `layers`, or `blobs` in the short-lived artifact manifest draft).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnyManifest {
    #[serde(default)]
    pub schema_version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl AnyManifest {
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
    /// The media type a registry should serve it with: the document's own field, else what
    /// its shape says (OCI manifests may omit `mediaType`).
    pub fn effective_media_type(&self, fallback: Option<&str>) -> String {
        if let Some(m) = &self.media_type {
            return m.clone();
        }
        if let Some(f) = fallback {
            return f.to_string();
        }
        if !self.manifests.is_empty() {
            OCI_INDEX.into()
        } else {
            OCI_MANIFEST.into()
        }
    }
    /// Artifact type as the referrers API reports it: `artifactType`, else the config's type.
    pub fn effective_artifact_type(&self) -> Option<String> {
        self.artifact_type.clone().or_else(|| self.config.as_ref().map(|c| c.media_type.clone()))
    }
    /// Blobs (not manifests) this document references directly.
    pub fn blob_children(&self) -> impl Iterator<Item = &Descriptor> {
        self.config.iter().chain(self.layers.iter())
    }
}

/// An OCI image index we author (index.json of a bundle, or a platform-filtered index).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl ImageIndex {
    pub fn new(manifests: Vec<Descriptor>) -> Self {
        ImageIndex { schema_version: 2, media_type: Some(OCI_INDEX.to_string()), manifests, annotations: BTreeMap::new() }
    }
    /// Canonical bytes: serde_json with struct field order and BTreeMaps is deterministic.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("index serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_matching() {
        let p = Platform { architecture: "arm64".into(), os: "linux".into(), variant: Some("v8".into()), os_version: None };
        assert!(p.matches("linux/arm64"));
        assert!(p.matches("linux/arm64/v8"));
        assert!(!p.matches("linux/arm64/v7"));
        assert!(!p.matches("linux/amd64"));
        assert_eq!(p.key(), "linux/arm64/v8");
    }

    #[test]
    fn manifest_types() {
        for t in [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST, OCI_ARTIFACT_MANIFEST] {
            assert!(is_manifest_type(t), "{t}");
        }
        for t in ["text/html", "image/svg+xml", "application/json", "", "application/vnd.oci.image.manifest.v1+json; charset=utf-8"] {
            assert!(!is_manifest_type(t), "{t}");
        }
    }
}
