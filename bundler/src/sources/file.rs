//! Raw files (RKE2 air-gap tarballs, install scripts, GGUF models by URL): an URL and the
//! sha256 the manifest requires, streamed into the cache (resumed after a dropped
//! connection), bundled as a one-layer OCI artifact, served at `/files/<name>`.

use std::sync::Arc;

use serde::Serialize;

use super::http::{Http, HttpError};
use super::{each, titled_layer, Artifact, Fetched};
use crate::cache::{BlobCache, CacheError};
use crate::ecosystems::Mode;
use crate::format::bundle::kinds;
use crate::format::lock::{FileLock, LockFile};
use crate::format::names::FileName;
use crate::format::Digest;
use crate::manifest::{FilePin, FileSpec, Manifest};
use crate::plan::PlanError;
use crate::progress::Progress;

pub const ARTIFACT_TYPE: &str = "application/vnd.feas.file.v1";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.feas.file.config.v1+json";

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("file {name}: cannot fetch {url}: {detail}; check the `url:` and the network")]
    Fetch { name: String, url: String, detail: String },
    #[error("file {name}: the bytes at {url} do not match the manifest's sha256 (expected {expected}, got {actual}); nothing was bundled — check the sha256 in the manifest or the upstream")]
    Hash { name: String, url: String, expected: String, actual: String },
    #[error("file {name}: the checksum list {checksums} has no sha256 line for {file}; check `checksums:` (it must be the list published with that release)")]
    NotListed { name: String, checksums: String, file: String },
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// Upper bound on a checksum list: RKE2's are a few KiB.
const CHECKSUMS_LIMIT: u64 = 1 << 20;

/// What the mirror reads from a file artifact's config.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct FileConfig {
    pub name: FileName,
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
        let sha256 = match &spec.pin {
            FilePin::Sha256(d) => d.clone(),
            FilePin::Checksums(list) => self.listed(spec, list).await?,
            FilePin::FirstUse => {
                let (d, _) = self.http.to_cache_new(&self.cache, &spec.url, None).await.map_err(|e| FileError::Fetch {
                    name: spec.name.to_string(),
                    url: spec.url.clone(),
                    detail: e.to_string(),
                })?;
                tracing::warn!("file {}: no checksum to check against; pinned {d} as downloaded from {} (trust_on_first_use)", spec.name, spec.url);
                d
            }
        };
        self.fetch_one(&spec.name, &spec.url, &sha256, None, progress).await?;
        let size = std::fs::metadata(self.cache.path(&sha256)).map_err(|source| CacheError::Io { path: self.cache.path(&sha256), source })?.len();
        Ok(FileLock { kind: kinds::FILE.into(), name: spec.name.clone(), source: spec.url.clone(), sha256, size })
    }

    /// The sha256 a published `sha256sum` list gives for the URL's file name.
    async fn listed(&self, spec: &FileSpec, list: &str) -> Result<Digest, FileError> {
        let body = self.http.get_small(list, CHECKSUMS_LIMIT).await.map_err(|e| FileError::Fetch { name: spec.name.to_string(), url: list.into(), detail: e.to_string() })?;
        let file = url_file_name(&spec.url);
        checksum_for(&String::from_utf8_lossy(&body), &file).ok_or_else(|| FileError::NotListed { name: spec.name.to_string(), checksums: list.into(), file })
    }

    async fn fetch_one(&self, name: &str, url: &str, sha256: &Digest, size: Option<u64>, progress: &Progress) -> Result<(), FileError> {
        self.http.to_cache(&self.cache, url, &format!("file {name}"), sha256, size, progress).await.map_err(|e| match e {
            HttpError::Cache { source: CacheError::Mismatch { actual, .. }, .. } => {
                FileError::Hash { name: name.into(), url: url.into(), expected: sha256.hex().into(), actual: actual.hex().into() }
            }
            HttpError::TooLarge { .. } => FileError::Hash { name: name.into(), url: url.into(), expected: sha256.hex().into(), actual: "(more bytes than locked)".into() },
            e => FileError::Fetch { name: name.into(), url: url.into(), detail: e.to_string() },
        })
    }

    pub async fn fetch(&self, files: &[FileLock], progress: &Progress) -> Result<Fetched, Vec<FileError>> {
        progress.add_total(files.iter().filter(|f| !self.cache.has(&f.sha256, Some(f.size))).map(|f| f.size).sum());
        let fetched = each(files.iter().map(|f| async move {
            self.fetch_one(&f.name, &f.source, &f.sha256, Some(f.size), progress).await?;
            self.artifact(f)
        }))
        .await?;
        Ok(Fetched::all(fetched))
    }

    fn artifact(&self, f: &FileLock) -> Result<Fetched, FileError> {
        Ok(Artifact {
            artifact_type: ARTIFACT_TYPE,
            config_media_type: CONFIG_MEDIA_TYPE,
            config: serde_json::to_vec(&FileConfig { name: f.name.clone(), source: f.source.clone() }).expect("config serializes"),
            layers: vec![titled_layer("application/octet-stream", f.sha256.clone(), f.size, f.name.to_string())],
            kind: kinds::FILE,
            source: f.source.clone(),
            ref_name: format!("files/{}", f.name),
        }
        .into_fetched(&self.cache)?)
    }
}

/// The decoded last path segment of an URL: the name a release's checksum list uses.
fn url_file_name(url: &str) -> String {
    let last = url.split(['?', '#']).next().unwrap_or_default().rsplit('/').next().unwrap_or_default();
    percent_encoding::percent_decode_str(last).decode_utf8_lossy().into_owned()
}

/// Look `file` up in `sha256sum` output: `<64 hex> <space or *><path>` per line, the path
/// compared by its last segment (lists are written as `name`, `./name` or `dist/name`).
fn checksum_for(list: &str, file: &str) -> Option<Digest> {
    list.lines().find_map(|line| {
        let (hex, rest) = line.trim().split_once(char::is_whitespace)?;
        let path = rest.trim_start().trim_start_matches('*');
        (path.rsplit('/').next() == Some(file)).then(|| format!("sha256:{}", hex.to_ascii_lowercase()).parse().ok())?
    })
}

impl crate::ecosystems::Ecosystem for FileSource {
    const SECTION: &'static str = "files";
    const NOT_LOCKED: &'static str = "a file is not in the lock file or its url/sha256 changed";
    type Spec = FileSpec;
    type Lock = FileLock;
    type Loaded = ();
    type Error = FileError;

    fn new(ctx: &crate::ecosystems::Context) -> Self {
        FileSource::new(ctx.cache.clone())
    }

    fn specs(m: &Manifest) -> &[FileSpec] {
        &m.raw_files
    }

    fn locked(lock: &LockFile) -> (Option<&Digest>, &[FileLock]) {
        (None, &lock.files)
    }

    fn store(lock: &mut LockFile, _request: Option<Digest>, entries: Vec<FileLock>) {
        lock.files = entries;
    }

    async fn load(&self, _m: &Manifest) -> Result<(), FileError> {
        Ok(())
    }

    async fn resolve(&self, m: &Manifest, _loaded: &()) -> Result<Vec<FileLock>, FileError> {
        let mut out = Vec::with_capacity(m.raw_files.len());
        for spec in &m.raw_files {
            out.push(self.lock(spec, &Progress::hidden()).await?);
        }
        Ok(out)
    }

    /// Per file: a lock entry with the same name and url (and the manifest's sha256, if it gives
    /// one) is reused; a sha256 learnt from a checksum list or on first use stays pinned by the lock.
    async fn plan(&self, m: &Manifest, prior: Option<&LockFile>, mode: Mode, _loaded: &()) -> Result<(Option<Digest>, Vec<FileLock>), PlanError> {
        let mut files = Vec::with_capacity(m.raw_files.len());
        for spec in &m.raw_files {
            let prior = prior.and_then(|l| l.files.iter().find(|f| f.name == spec.name && f.source == spec.url && spec.pin.sha256().is_none_or(|d| *d == f.sha256)));
            match prior {
                Some(p) if !mode.refresh => files.push(p.clone()),
                None if mode.locked => return Err(PlanError::NotLocked { section: "files", why: format!("file {} is not in the lock file or its url/sha256 changed", spec.name) }),
                _ => files.push(self.lock(spec, &Progress::hidden()).await.map_err(crate::ecosystems::boxed)?),
            }
        }
        files.sort();
        Ok((None, files))
    }

    async fn fetch(&self, _m: &Manifest, _loaded: &(), entries: &[FileLock], progress: &Progress) -> Result<Fetched, Vec<FileError>> {
        FileSource::fetch(self, entries, progress).await
    }

    fn pinned(e: &FileLock) -> (&Digest, u64) {
        (&e.sha256, e.size)
    }

    fn describe(entries: &[FileLock]) -> Vec<String> {
        entries.iter().map(|f| format!("locked file {} -> {} ({} bytes)", f.name, f.sha256, f.size)).collect()
    }

    fn check(m: &Manifest, out: &mut crate::ecosystems::Checked) -> Result<(), String> {
        out.counts.push(("files_by_url", m.raw_files.len()));
        out.contents.push(("files", m.raw_files.iter().map(|f| f.name.to_string()).collect()));
        out.summary.push(format!("{} file(s)", m.raw_files.len()));
        out.first_use.extend(m.raw_files.iter().filter(|f| matches!(f.pin, FilePin::FirstUse)).map(|f| format!("{} ({})", f.name, f.url)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_lists() {
        let a = "a".repeat(64);
        let b = "B".repeat(64);
        let list = format!("{a}  rke2.linux-amd64.tar.gz\n{b} *./dist/rke2-images.linux-amd64.tar.zst\nnot a line\n");
        assert_eq!(checksum_for(&list, "rke2.linux-amd64.tar.gz").unwrap().hex(), a);
        assert_eq!(checksum_for(&list, "rke2-images.linux-amd64.tar.zst").unwrap().hex(), "b".repeat(64));
        assert!(checksum_for(&list, "rke2.linux-amd64").is_none());
        assert!(checksum_for(&format!("{}  x\n", "z".repeat(64)), "x").is_none());
        assert_eq!(url_file_name("https://github.com/rancher/rke2/releases/download/v1.34.1%2Brke2r1/sha256sum-amd64.txt?x=1"), "sha256sum-amd64.txt");
    }
}
