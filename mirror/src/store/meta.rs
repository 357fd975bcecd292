//! Metadata in sled. Keys are `repo \0 tag`, `repo \0 digest`, `repo \0 subject \0 digest`, so
//! a tag list or referrer list is one prefix scan and a manifest lookup is one get.

use serde::{Deserialize, Serialize};

use bundler::format::oci::Descriptor;
use bundler::format::Digest;

pub const SEP: u8 = 0;

pub fn key(parts: &[&str]) -> Vec<u8> {
    let mut k = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(SEP);
        }
        k.extend_from_slice(p.as_bytes());
    }
    k
}

/// A manifest held in a repository.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestRecord {
    pub media_type: String,
    pub size: u64,
}

/// Last import of a bundle name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleRecord {
    pub sequence: u64,
    pub bundle_json: Digest,
    pub imported_at: String,
}

/// One line of `mirror history`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryRecord {
    pub imported_at: String,
    pub name: String,
    pub sequence: u64,
    pub bundle_json: Digest,
    pub signer: String,
    pub file: String,
    pub blobs_added: usize,
    pub bytes_added: u64,
    pub artifacts: Vec<String>,
}

/// What one import writes, applied in a single transaction.
#[derive(Debug, Default)]
pub struct Changes {
    pub repos: Vec<String>,
    pub tags: Vec<(String, String, Digest)>,
    pub manifests: Vec<(String, Digest, ManifestRecord)>,
    pub referrers: Vec<(String, Digest, Descriptor)>,
    pub blobs: Vec<(Digest, u64)>,
    pub bundle: Option<(String, BundleRecord)>,
    pub history: Option<HistoryRecord>,
}
