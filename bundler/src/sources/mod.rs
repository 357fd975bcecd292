//! One file or folder per ecosystem, and the registry listing them. Each resolves manifest
//! entries to locked entries, then fetches exactly the locked bytes into the cache and says which
//! index.json descriptors and blobs the bundle carries.

pub mod apt;
pub mod archive;
pub mod file;
pub mod helm;
pub mod hf;
pub mod http;
pub mod nltk;
pub mod oci;
pub mod pypi;

use std::collections::BTreeMap;
use std::future::Future;

use futures_util::StreamExt;

use crate::ecosystems::{slot, Context, Section};
use crate::format::oci::Descriptor;
use crate::format::Digest;

/// The registry: every ecosystem besides images, in the order sections are resolved, fetched
/// and reported. `ctx` is `None` where no source is needed (`check`, `inspect`).
pub(crate) fn list(ctx: Option<&Context>) -> Vec<Box<dyn Section>> {
    vec![
        slot::<helm::HelmSource>(ctx),
        slot::<apt::AptSource>(ctx),
        slot::<pypi::PypiSource>(ctx),
        slot::<nltk::NltkSource>(ctx),
        slot::<hf::HfSource>(ctx),
        slot::<file::FileSource>(ctx),
    ]
}

/// Downloads a section keeps going at once; `--per-upstream` bounds each upstream's share.
pub const CONCURRENCY: usize = 16;

/// Every artifact's fetch, `CONCURRENCY` at a time and each run to its end whatever the others
/// did (one bad artifact does not stop the rest): every result in order, or every error.
pub async fn each<T, E, F: Future<Output = Result<T, E>>>(work: impl IntoIterator<Item = F>) -> Result<Vec<T>, Vec<E>> {
    let results: Vec<Result<T, E>> = futures_util::stream::iter(work).buffered(CONCURRENCY).collect().await;
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    for r in results {
        match r {
            Ok(v) => ok.push(v),
            Err(e) => failed.push(e),
        }
    }
    if failed.is_empty() {
        Ok(ok)
    } else {
        Err(failed)
    }
}

/// What one artifact contributes to a bundle.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Entries for the bundle's index.json.
    pub descriptors: Vec<Descriptor>,
    /// Every blob (manifests included) to carry, with its size.
    pub blobs: BTreeMap<Digest, u64>,
}

impl Fetched {
    pub fn all(parts: impl IntoIterator<Item = Fetched>) -> Fetched {
        let mut out = Fetched::default();
        parts.into_iter().for_each(|p| out.merge(p));
        out
    }

    pub fn merge(&mut self, other: Fetched) {
        self.descriptors.extend(other.descriptors);
        self.blobs.extend(other.blobs);
    }
}

/// A non-image artifact (deb, wheel, raw file, NLTK package) as every ecosystem bundles it: an
/// OCI 1.1 image manifest with `artifactType`, a config blob the mirror indexes, and layers that
/// are already in the cache; index.json describes it by kind, upstream source and a ref name.
pub struct Artifact<'a> {
    pub artifact_type: &'a str,
    pub config_media_type: &'a str,
    pub config: Vec<u8>,
    pub layers: Vec<Descriptor>,
    pub kind: &'a str,
    pub source: String,
    pub ref_name: String,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactManifest<'a> {
    schema_version: u32,
    media_type: &'static str,
    artifact_type: &'a str,
    config: Descriptor,
    layers: &'a [Descriptor],
}

impl Artifact<'_> {
    /// Write the config and manifest into the cache; the result lists every blob it needs.
    pub fn into_fetched(self, cache: &crate::cache::BlobCache) -> Result<Fetched, crate::cache::CacheError> {
        use crate::format::bundle::annotations;
        use crate::format::oci::{ANNOTATION_REF_NAME, OCI_MANIFEST};
        let config_digest = cache.put_new(&self.config)?;
        let manifest = ArtifactManifest {
            schema_version: 2,
            media_type: OCI_MANIFEST,
            artifact_type: self.artifact_type,
            config: Descriptor::new(self.config_media_type, config_digest.clone(), self.config.len() as u64),
            layers: &self.layers,
        };
        let bytes = serde_json::to_vec(&manifest).expect("manifest serializes");
        let digest = cache.put_new(&bytes)?;
        let mut desc = Descriptor::new(OCI_MANIFEST, digest.clone(), bytes.len() as u64);
        desc.artifact_type = Some(self.artifact_type.into());
        desc.annotations.insert(annotations::KIND.into(), self.kind.into());
        desc.annotations.insert(annotations::SOURCE.into(), self.source);
        desc.annotations.insert(ANNOTATION_REF_NAME.into(), self.ref_name);
        let mut blobs = BTreeMap::new();
        blobs.insert(digest, bytes.len() as u64);
        blobs.insert(config_digest, self.config.len() as u64);
        for l in &self.layers {
            blobs.insert(l.digest.clone(), l.size);
        }
        Ok(Fetched { descriptors: vec![desc], blobs })
    }
}

/// A layer titled with the file name it is served under.
pub fn titled_layer(media_type: &str, digest: Digest, size: u64, title: String) -> Descriptor {
    let mut d = Descriptor::new(media_type, digest, size);
    d.annotations.insert(crate::format::oci::ANNOTATION_TITLE.into(), title);
    d
}
