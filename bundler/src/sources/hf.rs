//! Hugging Face model repositories: a revision resolved to its commit with the hub's API
//! (`/api/models/<repo>/revision/<rev>`), the files listed by the tree API at that commit
//! (recursive, following `Link: rel="next"` pages) and filtered by include/exclude as
//! huggingface_hub filters `allow_patterns`/`ignore_patterns`. LFS files are pinned by the
//! sha256 and size the tree gives (checked while streaming); git-stored files are fetched at
//! lock time, checked against their git blob id and pinned by sha256. Files come from
//! `/<repo>/resolve/<commit>/<path>` (redirects followed: the hub sends LFS files to a CDN).
//! One OCI artifact per repo and commit, one layer per file.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::Arc;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use super::http::{Http, HttpError, Reply};
use super::{each, titled_layer, Artifact, Fetched};
use crate::cache::{BlobCache, CacheError};
use crate::format::bundle::kinds;
use crate::format::hf::{self as fmt, GitBlobHasher, HfConfig, HfFile};
use crate::format::lock::{HfLock, LockFile};
use crate::format::Digest;
use crate::manifest::{HfSpec, Manifest};
use crate::progress::Progress;

const MAX_API: u64 = 64 << 20;
/// Tree pages followed at most (the hub gives 1000 entries a page).
const MAX_PAGES: usize = 10_000;
/// What Python's `urllib.parse.quote` leaves alone (huggingface_hub builds its URLs with it).
#[derive(Debug, thiserror::Error)]
pub enum HfError {
    #[error("hf model {repo}: {endpoint} has no such repository, or it is private or gated (then set HF_TOKEN to a token that may read it); check `hf:` and `endpoint:`; nothing was bundled")]
    RepoNotFound { repo: String, endpoint: String },
    #[error("hf model {repo}: revision {revision:?} does not exist at {endpoint}; check `revision:` (a branch, tag or commit); nothing was bundled")]
    RevisionNotFound { repo: String, revision: String, endpoint: String },
    #[error("hf model {repo}: {url}: {detail}; check `endpoint:`, HF_TOKEN and the network")]
    Api { repo: String, url: String, detail: String },
    #[error("hf model {repo} ({file} line {line}): {detail}; fix `include:`/`exclude:`")]
    Patterns { repo: String, file: String, line: u64, detail: String },
    #[error("hf model {repo} revision {revision}: none of its {total} files matches include {include:?} / exclude {exclude:?}; fix the patterns")]
    NothingSelected { repo: String, revision: String, total: usize, include: Vec<String>, exclude: Vec<String> },
    #[error("hf model {repo} file {path}: cannot fetch {url}: {detail}; check HF_TOKEN and the network, then retry (downloads resume)")]
    Fetch { repo: String, path: String, url: String, detail: String },
    #[error("hf model {repo} file {path}: the bytes at {url} do not match the {what} the hub lists for it (expected {expected}, got {actual}); nothing was bundled — retry, and if the repository changed since the lock was written, run `bundler lock`")]
    Hash { repo: String, path: String, url: String, what: &'static str, expected: String, actual: String },
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// What the revision API says that we need.
#[derive(Deserialize)]
struct RepoInfo {
    sha: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct TreeEntry {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    oid: String,
    #[serde(default)]
    lfs: Option<TreeLfs>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TreeLfs {
    oid: String,
    size: u64,
    pointer_size: u64,
}

use feas_format::hf::enc;
pub use feas_format::hf::enc_path;

/// Patterns as huggingface_hub's `filter_repo_objects` reads them (fnmatch): `*` and `?` also
/// match `/`, `\` is a separator, not an escape, and a pattern ending in `/` means the folder.
pub fn patterns(list: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for raw in list {
        let mut p = raw.replace('\\', "/");
        if p.ends_with('/') {
            p.push('*');
        }
        b.add(GlobBuilder::new(&p).literal_separator(false).backslash_escape(false).build().map_err(|e| format!("pattern {raw:?} is not a valid glob: {e}"))?);
    }
    b.build().map_err(|e| e.to_string())
}

/// `rel="next"` of a `Link` header, resolved against the page's URL.
fn next_link(reply: &Reply, url: &str) -> Option<String> {
    let link = reply.headers.get_all(reqwest::header::LINK).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    let target = link.split(',').find(|part| part.split(';').skip(1).any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next")))?;
    let raw = target.split(';').next()?.trim().strip_prefix('<')?.strip_suffix('>')?;
    reqwest::Url::parse(url).and_then(|b| b.join(raw)).ok().map(|u| u.to_string())
}

fn git_oid_of(cache: &BlobCache, d: &Digest, size: u64) -> Result<String, CacheError> {
    let mut f = cache.open_blob(d)?;
    let mut h = GitBlobHasher::new(size);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|source| CacheError::Io { path: cache.path(d), source })?;
        if n == 0 {
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
    }
}

pub struct HfSource {
    http: Http,
    cache: Arc<BlobCache>,
}

impl HfSource {
    /// `HF_TOKEN`, when set, is sent to the hub as huggingface_hub sends it (gated models).
    pub fn new(cache: Arc<BlobCache>) -> HfSource {
        let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.trim().is_empty());
        HfSource { http: Http::with_bearer(token.as_deref().map(str::trim)), cache }
    }

    /// An API document; the hub's `X-Error-Code` turns into the matching error.
    async fn api(&self, s: &HfSpec, url: &str) -> Result<Reply, HfError> {
        let reply = self.http.get_reply(url, MAX_API).await.map_err(|e| HfError::Api { repo: s.repo.clone(), url: url.into(), detail: e.to_string() })?;
        if (200..300).contains(&reply.status) {
            return Ok(reply);
        }
        let header = |n: &str| reply.headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        Err(match (reply.status, header("x-error-code").as_str()) {
            (_, "RevisionNotFound") => HfError::RevisionNotFound { repo: s.repo.clone(), revision: s.revision.clone(), endpoint: s.endpoint.clone() },
            (_, "GatedRepo") => HfError::Api {
                repo: s.repo.clone(),
                url: url.into(),
                detail: "the repository is gated: accept its conditions on the hub and set HF_TOKEN to a token of that account".into(),
            },
            (_, "RepoNotFound") | (401, _) => HfError::RepoNotFound { repo: s.repo.clone(), endpoint: s.endpoint.clone() },
            (status, _) => {
                let msg = header("x-error-message");
                HfError::Api { repo: s.repo.clone(), url: url.into(), detail: if msg.is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {msg}") } }
            }
        })
    }

    async fn commit(&self, s: &HfSpec) -> Result<String, HfError> {
        let url = format!("{}/api/models/{}/revision/{}", s.endpoint, s.repo, enc(&s.revision));
        let reply = self.api(s, &url).await?;
        let info: RepoInfo =
            serde_json::from_slice(&reply.body).map_err(|e| HfError::Api { repo: s.repo.clone(), url: url.clone(), detail: format!("not the hub's repository info: {e}") })?;
        match info.sha {
            Some(c) if fmt::is_commit(&c) => Ok(c),
            other => Err(HfError::Api { repo: s.repo.clone(), url, detail: format!("no 40-hex commit in `sha` (got {other:?})") }),
        }
    }

    /// Every file of the repository at `commit`.
    async fn tree(&self, s: &HfSpec, commit: &str) -> Result<Vec<TreeEntry>, HfError> {
        let mut url = format!("{}/api/models/{}/tree/{commit}?recursive=true&expand=false", s.endpoint, s.repo);
        let mut files = Vec::new();
        for _ in 0..MAX_PAGES {
            let reply = self.api(s, &url).await?;
            let bad = |detail: String| HfError::Api { repo: s.repo.clone(), url: url.clone(), detail };
            let page: Vec<TreeEntry> = serde_json::from_slice(&reply.body).map_err(|e| bad(format!("not a tree listing: {e}")))?;
            for e in page.into_iter().filter(|e| e.kind == "file") {
                if !fmt::valid_path(&e.path) {
                    return Err(bad(format!("file path {:?} cannot be carried safely", e.path)));
                }
                files.push(e);
            }
            match next_link(&reply, &url) {
                Some(next) => url = next,
                None => return Ok(files),
            }
        }
        Err(HfError::Api { repo: s.repo.clone(), url, detail: format!("more than {MAX_PAGES} pages of files") })
    }

    /// Resolve each entry to its commit and files; git-stored files are fetched (checked
    /// against their git blob id) to learn their sha256.
    pub async fn lock(&self, specs: &[HfSpec], progress: &Progress) -> Result<Vec<HfLock>, HfError> {
        let mut out = Vec::new();
        for s in specs {
            // The manifest checked the patterns already; this only keeps a bad one from panicking.
            let bad = |detail: String| HfError::Patterns { repo: s.repo.clone(), file: s.file.clone(), line: s.line, detail };
            let (include, exclude) = (patterns(&s.include).map_err(bad)?, patterns(&s.exclude).map_err(bad)?);
            let commit = self.commit(s).await?;
            tracing::info!("hf model {} revision {} is commit {commit}", s.repo, s.revision);
            let files = self.tree(s, &commit).await?;
            let total = files.len();
            let chosen: Vec<TreeEntry> = files.into_iter().filter(|e| (s.include.is_empty() || include.is_match(&e.path)) && !exclude.is_match(&e.path)).collect();
            if chosen.is_empty() {
                return Err(HfError::NothingSelected { repo: s.repo.clone(), revision: s.revision.clone(), total, include: s.include.clone(), exclude: s.exclude.clone() });
            }
            for e in chosen {
                let source = format!("{}/{}/resolve/{commit}/{}", s.endpoint, s.repo, enc_path(&e.path));
                let (sha256, size) = match &e.lfs {
                    Some(l) => {
                        let d = format!("sha256:{}", l.oid).parse().map_err(|_| HfError::Api {
                            repo: s.repo.clone(),
                            url: source.clone(),
                            detail: format!("the tree gives {} an LFS oid {:?} that is not a sha256", e.path, l.oid),
                        })?;
                        (d, l.size)
                    }
                    None => self.git_file(s, &e, &source, progress).await?,
                };
                out.push(HfLock {
                    kind: kinds::HF.into(),
                    name: format!("{}/{}", s.repo, e.path),
                    source,
                    repo: s.repo.clone(),
                    revision: s.revision.clone(),
                    commit: commit.clone(),
                    path: e.path.clone(),
                    sha256,
                    size,
                    oid: e.oid.clone(),
                    lfs: e.lfs.is_some(),
                    lfs_pointer_size: e.lfs.as_ref().map(|l| l.pointer_size),
                });
            }
        }
        out.sort();
        Ok(out)
    }

    async fn git_file(&self, s: &HfSpec, e: &TreeEntry, url: &str, progress: &Progress) -> Result<(Digest, u64), HfError> {
        let (d, n) = self.http.to_cache_new(&self.cache, url, Some(e.size)).await.map_err(|err| match err {
            HttpError::TooLarge { .. } => {
                HfError::Hash { repo: s.repo.clone(), path: e.path.clone(), url: url.into(), what: "size", expected: e.size.to_string(), actual: "more bytes".into() }
            }
            err => HfError::Fetch { repo: s.repo.clone(), path: e.path.clone(), url: url.into(), detail: err.to_string() },
        })?;
        progress.inc(n);
        let oid = git_oid_of(&self.cache, &d, n)?;
        if oid != e.oid {
            return Err(HfError::Hash { repo: s.repo.clone(), path: e.path.clone(), url: url.into(), what: "git blob id", expected: e.oid.clone(), actual: oid });
        }
        Ok((d, n))
    }

    async fn fetch_one(&self, l: &HfLock, progress: &Progress) -> Result<(), HfError> {
        let what = format!("hf model {} file {}", l.repo, l.path);
        self.http.to_cache(&self.cache, &l.source, &what, &l.sha256, Some(l.size), progress).await.map_err(|e| {
            let hash = |what, expected: String, actual: String| HfError::Hash { repo: l.repo.clone(), path: l.path.clone(), url: l.source.clone(), what, expected, actual };
            match e {
                HttpError::Cache { source: CacheError::Mismatch { actual, actual_size, .. }, .. } => {
                    hash("sha256", format!("{} ({} bytes)", l.sha256.hex(), l.size), format!("{} ({actual_size} bytes)", actual.hex()))
                }
                HttpError::TooLarge { .. } => hash("size", l.size.to_string(), "more bytes".into()),
                e => HfError::Fetch { repo: l.repo.clone(), path: l.path.clone(), url: l.source.clone(), detail: e.to_string() },
            }
        })
    }

    /// Fetch exactly the locked files, then one artifact per repo and commit (revisions that
    /// resolved to the same commit share it).
    pub async fn fetch(&self, locks: &[HfLock], progress: &Progress) -> Result<Fetched, Vec<HfError>> {
        progress.add_total(locks.iter().filter(|l| !self.cache.has(&l.sha256, Some(l.size))).map(|l| l.size).sum());
        each(locks.iter().map(|l| self.fetch_one(l, progress))).await?;
        type Group<'a> = (BTreeSet<&'a str>, BTreeMap<&'a str, &'a HfLock>);
        let mut groups: BTreeMap<(&str, &str), Group> = BTreeMap::new();
        for l in locks {
            let g = groups.entry((l.repo.as_str(), l.commit.as_str())).or_default();
            g.0.insert(&l.revision);
            g.1.entry(&l.path).or_insert(l);
        }
        let mut fetched = Fetched::default();
        for ((repo, commit), (revisions, files)) in groups {
            let first = files.values().next().map(|l| l.source.as_str()).unwrap_or_default();
            let endpoint = first.split(&format!("/{repo}/resolve/")).next().unwrap_or_default().to_string();
            let config = HfConfig {
                repo: repo.into(),
                commit: commit.into(),
                revisions: revisions.into_iter().map(String::from).collect(),
                endpoint: endpoint.clone(),
                files: files
                    .values()
                    .map(|l| HfFile { path: l.path.clone(), size: l.size, sha256: l.sha256.clone(), oid: l.oid.clone(), lfs_pointer_size: l.lfs_pointer_size.filter(|_| l.lfs) })
                    .collect(),
            };
            let layers = files.values().map(|l| titled_layer(fmt::FILE_MEDIA_TYPE, l.sha256.clone(), l.size, l.path.clone())).collect();
            fetched.merge(
                Artifact {
                    artifact_type: fmt::ARTIFACT_TYPE,
                    config_media_type: fmt::CONFIG_MEDIA_TYPE,
                    config: config.to_bytes(),
                    layers,
                    kind: kinds::HF,
                    source: format!("{endpoint}/{repo}"),
                    ref_name: format!("hf/{repo}@{commit}"),
                }
                .into_fetched(&self.cache)
                .map_err(|e| vec![e.into()])?,
            );
        }
        Ok(fetched)
    }
}

impl crate::ecosystems::Ecosystem for HfSource {
    const SECTION: &'static str = "hf";
    const NOT_LOCKED: &'static str = "the manifest's Hugging Face models (`models: - hf:`) changed since the lock was written";
    type Spec = HfSpec;
    type Lock = HfLock;
    type Loaded = ();
    type Error = HfError;

    fn new(ctx: &crate::ecosystems::Context) -> Self {
        HfSource::new(ctx.cache.clone())
    }

    fn specs(m: &Manifest) -> &[HfSpec] {
        &m.hf
    }

    fn locked(lock: &LockFile) -> (Option<&Digest>, &[HfLock]) {
        (lock.hf_request.as_ref(), &lock.models)
    }

    fn store(lock: &mut LockFile, request: Option<Digest>, entries: Vec<HfLock>) {
        (lock.hf_request, lock.models) = (request, entries);
    }

    // One answer (commits and files) to all `hf:` entries: the lock holds all the bundle needs,
    // so nothing upstream is read while it still matches.
    async fn load(&self, _m: &Manifest) -> Result<(), HfError> {
        Ok(())
    }

    async fn resolve(&self, m: &Manifest, _loaded: &()) -> Result<Vec<HfLock>, HfError> {
        self.lock(&m.hf, &Progress::hidden()).await
    }

    async fn fetch(&self, _m: &Manifest, _loaded: &(), entries: &[HfLock], progress: &Progress) -> Result<Fetched, Vec<HfError>> {
        HfSource::fetch(self, entries, progress).await
    }

    fn pinned(e: &HfLock) -> (&Digest, u64) {
        (&e.sha256, e.size)
    }

    fn describe(entries: &[HfLock]) -> Vec<String> {
        entries
            .iter()
            .map(|m| format!("locked hf {}@{} ({}) {} -> {} ({} bytes{})", m.repo, m.revision, m.commit, m.path, m.sha256, m.size, if m.lfs { ", lfs" } else { "" }))
            .collect()
    }

    fn check(m: &Manifest, out: &mut crate::ecosystems::Checked) -> Result<(), String> {
        out.counts.push(("hf_repos", m.hf.len()));
        out.contents.push(("hf", m.hf.iter().map(|h| format!("{}@{}", h.repo, h.revision)).collect()));
        out.summary.push(format!("{} hf repo(s)", m.hf.len()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_fnmatch() {
        let p = patterns(&["*.json".into(), "onnx/".into(), "w?.bin".into()]).unwrap();
        for yes in ["config.json", "1_Pooling/config.json", "onnx/model.onnx", "w1.bin"] {
            assert!(p.is_match(yes), "{yes}");
        }
        for no in ["model.safetensors", "onnxx/model.onnx", "w12.bin"] {
            assert!(!p.is_match(no), "{no}");
        }
        assert!(patterns(&["[".into()]).is_err());
    }

    #[test]
    fn paths_and_links() {
        assert_eq!(enc_path("sub dir/a+b#.json"), "sub%20dir/a%2Bb%23.json");
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::LINK, "</api/models/a/b/tree/x?cursor=2>; rel=\"next\"".parse().unwrap());
        let reply = Reply { status: 200, headers, body: Vec::new() };
        assert_eq!(next_link(&reply, "http://h:1/api/models/a/b/tree/x?recursive=true").as_deref(), Some("http://h:1/api/models/a/b/tree/x?cursor=2"));
        let none = Reply { status: 200, headers: Default::default(), body: Vec::new() };
        assert_eq!(next_link(&none, "http://h:1/"), None);
    }
}
