//! `bundle.json`: the only signed document. Everything else in a bundle is reached from it by
//! digest, so verifying its signature and then each blob's hash verifies the whole bundle.

use serde::{Deserialize, Serialize};

use super::digest::Digest;

pub const FORMAT_VERSION: u32 = 1;

/// Entry names, in the order they must appear in the tar stream.
pub const BUNDLE_JSON: &str = "bundle.json";
pub const SIGNATURE: &str = "bundle.json.minisig";
pub const OCI_LAYOUT: &str = "oci-layout";
pub const INDEX_JSON: &str = "index.json";
pub const BLOBS_PREFIX: &str = "blobs/";
pub const OCI_LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Annotations on index.json descriptors that tell the mirror what an artifact is and where
/// to serve it.
pub mod annotations {
    pub const KIND: &str = "dev.feas.kind";
    pub const REPOSITORY: &str = "dev.feas.repository";
    pub const TAG: &str = "dev.feas.tag";
    pub const SOURCE: &str = "dev.feas.source";
    /// On an image index carried as upstream wrote it: the child manifests (platforms) the
    /// bundle leaves out, comma-separated digests. The index keeps its upstream digest, so a
    /// pull by that digest works; the mirror answers for the left-out children with the
    /// platform they are for. Any other absent child is a hole the import refuses.
    pub const OMITTED: &str = "dev.feas.omitted";

    use std::collections::BTreeSet;

    use crate::digest::{Digest, InvalidDigest};
    use crate::oci::Descriptor;

    /// The children `d` says the bundle leaves out (empty when it carries all of them).
    pub fn omitted(d: &Descriptor) -> Result<BTreeSet<Digest>, InvalidDigest> {
        d.annotations.get(OMITTED).map(|v| v.split(',').filter(|s| !s.is_empty()).map(str::parse).collect()).unwrap_or_else(|| Ok(BTreeSet::new()))
    }

    pub fn set_omitted(d: &mut Descriptor, omitted: &BTreeSet<Digest>) {
        if !omitted.is_empty() {
            d.annotations.insert(OMITTED.into(), omitted.iter().map(Digest::to_string).collect::<Vec<_>>().join(","));
        }
    }
}

/// Artifact kinds carried in index.json (`dev.feas.kind`).
pub mod kinds {
    pub const IMAGE: &str = "image";
    /// A cosign signature/attestation/SBOM tag, or an OCI referrer of an image.
    pub const IMAGE_ACCESSORY: &str = "image-accessory";
    /// A Debian package (see `format::deb`).
    pub const DEB: &str = "deb";
    /// A Python wheel or sdist (see `format::pypi`).
    pub const WHEEL: &str = "wheel";
    /// A raw file served at `/files/<name>` (its title annotation).
    pub const FILE: &str = "file";
    /// An NLTK data package (zip + its index attributes).
    pub const NLTK: &str = "nltk";
    /// A Helm chart: its OCI manifest as `helm push` writes it (config = Chart.yaml as JSON).
    pub const HELM: &str = "helm";
    /// A Hugging Face model repository at one commit (see `format::hf`).
    pub const HF: &str = "hf";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
pub struct BlobRef {
    pub digest: Digest,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleJson {
    pub format: u32,
    pub name: String,
    pub sequence: u64,
    /// RFC 3339, UTC.
    pub created: String,
    /// Optional RFC 3339 expiry; imports after it are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    pub index: BlobRef,
    /// Blobs carried in this bundle, sorted by digest.
    pub blobs: Vec<BlobRef>,
    /// Blobs referenced but not carried: the far side must already have them (delta).
    #[serde(default)]
    pub assumed: Vec<BlobRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<BlobRef>,
    /// Producer, for people reading it.
    pub generator: String,
}

impl BundleJson {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("bundle.json serializes");
        v.push(b'\n');
        v
    }
    /// The trusted comment signed along with the file: lets `minisign -V` show what it is.
    pub fn trusted_comment(&self) -> String {
        format!("bundle:{} sequence:{} created:{}", self.name, self.sequence, self.created)
    }
}

/// The tar path of a blob.
pub fn blob_path(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().as_str(), d.hex())
}
