//! Raw files (RKE2 air-gap tarballs, install scripts, GGUF models by URL): an URL and the
//! sha256 the manifest requires, streamed into the cache (resumed after a dropped
//! connection), bundled as a one-layer OCI artifact, served at `/files/<name>`.

use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::http::{Http, HttpError};
use super::{titled_layer, Artifact, Fetched};
use crate::cache::{BlobCache, CacheError};
use crate::format::bundle::kinds;
use crate::format::lock::FileLock;
use crate::format::Digest;
use crate::manifest::FileSpec;
use crate::progress::Progress;

pub const ARTIFACT_TYPE: &str = "application/vnd.feas.file.v1";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.feas.file.config.v1+json";
const CONCURRENCY: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("file {name}: cannot fetch {url}: {detail}; check the `url:` and the network")]
    Fetch { name: String, url: String, detail: String },
    #[error("file {name}: the bytes at {url} do not match the manifest's sha256 (expected {expected}, got {actual}); nothing was bundled — check the sha256 in the manifest or the upstream")]
    Hash { name: String, url: String, expected: String, actual: String },
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// What the mirror reads from a file artifact's config.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct FileConfig {
    pub name: String,
    pub source: String,
}

pub struct FileSource {
    http: Http,
    cache: Arc<BlobCache>,
}

impl FileSource {
    pub fn new(cache: Arc<BlobCache>) -> FileSource {
        FileSource { http: Http::new(), cache }
    }

    /// The lock entry: the size is learnt by fetching the file (its sha256 checked on the way),
    /// so a wrong sha256 in the manifest fails at `lock`, not later.
    pub async fn lock(&self, spec: &FileSpec, progress: &Progress) -> Result<FileLock, FileError> {
        self.fetch_one(&spec.name, &spec.url, &spec.sha256, None, progress).await?;
        let size = std::fs::metadata(self.cache.path(&spec.sha256)).map_err(|source| CacheError::Io { path: self.cache.path(&spec.sha256), source })?.len();
        Ok(FileLock { kind: kinds::FILE.into(), name: spec.name.clone(), source: spec.url.clone(), sha256: spec.sha256.clone(), size })
    }

    async fn fetch_one(&self, name: &str, url: &str, sha256: &Digest, size: Option<u64>, progress: &Progress) -> Result<(), FileError> {
        self.http.to_cache(&self.cache, url, &format!("file {name}"), sha256, size, progress).await.map_err(|e| match e {
            HttpError::Cache { source: CacheError::Mismatch { actual, .. }, .. } => FileError::Hash { name: name.into(), url: url.into(), expected: sha256.hex().into(), actual: actual.hex().into() },
            HttpError::TooLarge { .. } => FileError::Hash { name: name.into(), url: url.into(), expected: sha256.hex().into(), actual: "(more bytes than locked)".into() },
            e => FileError::Fetch { name: name.into(), url: url.into(), detail: e.to_string() },
        })
    }

    pub async fn fetch(&self, files: &[FileLock], progress: &Progress) -> Result<Fetched, FileError> {
        progress.add_total(files.iter().filter(|f| !self.cache.has(&f.sha256, Some(f.size))).map(|f| f.size).sum());
        futures_util::stream::iter(files.iter().map(|f| self.fetch_one(&f.name, &f.source, &f.sha256, Some(f.size), progress)))
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        let mut fetched = Fetched::default();
        for f in files {
            fetched.merge(self.artifact(f)?);
        }
        Ok(fetched)
    }

    fn artifact(&self, f: &FileLock) -> Result<Fetched, FileError> {
        Ok(Artifact {
            artifact_type: ARTIFACT_TYPE,
            config_media_type: CONFIG_MEDIA_TYPE,
            config: serde_json::to_vec(&FileConfig { name: f.name.clone(), source: f.source.clone() }).expect("config serializes"),
            layers: vec![titled_layer("application/octet-stream", f.sha256.clone(), f.size, f.name.clone())],
            kind: kinds::FILE,
            source: f.source.clone(),
            ref_name: format!("files/{}", f.name),
        }
        .into_fetched(&self.cache)?)
    }
}
