//! Python packages from PEP 503/691 simple indexes: requirements resolved with PubGrub for
//! every target (python versions × architectures × libc), each chosen file's sha256 checked
//! against the index, and bundled as an OCI artifact with its core metadata (PEP 658).

mod ecosystem;
pub mod index;
mod pep440;
mod requirement;
mod resolve;
pub mod tags;

pub use requirement::parse_requirement;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::rc::Rc;
use std::sync::Arc;

use pep508_rs::Requirement;

use super::http::{Http, HttpError};
use super::{each, titled_layer, Artifact, Fetched};
use crate::cache::{BlobCache, CacheError};
use crate::format::bundle::kinds;
use crate::format::lock::WheelLock;
use crate::format::pypi::{self as fmt, normalize, WheelConfig};
use crate::format::Digest;
use crate::manifest::PypiSpec;
use crate::progress::Progress;
use index::FileEntry;
use resolve::{Cand, Pkg, Policy, Provider};
use tags::Target;

const MAX_METADATA: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum PypiError {
    #[error("pypi index {url}: {detail}; check `index:` and the network")]
    Index { url: String, detail: String },
    #[error("pypi: {what}: {detail}")]
    Metadata { what: String, detail: String },
    #[error("pypi: the requirements cannot be resolved for {target}:\n{report}")]
    NoSolution { target: String, report: String },
    #[error("pypi: {file}: the bytes at {url} do not match the index's sha256 (expected {expected}, got {actual}); nothing was bundled — retry, or report the index")]
    Hash { file: String, url: String, expected: String, actual: String },
    #[error("pypi: {file} on {url} has no sha256 in the index; only indexes that publish hashes (PEP 503 #sha256=) can be carried")]
    NoHash { file: String, url: String },
    #[error("pypi: {project}: the file chosen ({file}, sha256 {actual}) is not among the --hash values the requirements file gives ({allowed}); fix the hashes or the pin")]
    HashNotAllowed { project: String, file: String, actual: String, allowed: String },
    #[error("wheel {name}: {detail}; run `bundler lock` to resolve again")]
    Drift { name: String, detail: String },
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// Internal: a resolution attempt learned that `0` is to be decided earlier and stops, for
    /// `Provider::resolve` to start another (never returned from it).
    #[error("pypi: resolving again with {0} decided earlier")]
    Reorder(String),
}

pub fn targets(spec: &PypiSpec) -> Vec<Target> {
    let v = |s: &str| {
        let (a, b) = s.split_once('.').unwrap_or((s, "0"));
        (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
    };
    let mut out = Vec::new();
    for py in &spec.python {
        for arch in &spec.archs {
            out.push(Target { python: v(py), arch: arch.clone(), libc: spec.libc.clone(), libc_version: v(&spec.libc_version) });
        }
    }
    out
}

pub struct PypiSource {
    http: Http,
    cache: Arc<BlobCache>,
}

/// Pages and dependency lists, fetched once for every target of a run. Runs on the one
/// blocking thread the resolver uses, driving the async client with `block_on`.
struct Fetcher {
    http: Http,
    cache: Arc<BlobCache>,
    rt: tokio::runtime::Handle,
    indexes: Vec<String>,
    pages: RefCell<HashMap<String, resolve::Page>>,
    requires: RefCell<HashMap<String, Rc<Vec<String>>>>,
}

impl resolve::Source for Fetcher {
    fn page(&self, project: &str) -> Result<resolve::Page, PypiError> {
        if let Some(p) = self.pages.borrow().get(project) {
            return Ok(p.clone());
        }
        let mut found = None;
        // The first index that has the project wins: an extra index never shadows it.
        for idx in &self.indexes {
            let files = self.rt.block_on(index::project_files(&self.http, idx, project)).map_err(|e| PypiError::Index { url: idx.clone(), detail: e.to_string() })?;
            if let Some(files) = files {
                found = Some((idx.clone(), Rc::new(files)));
                break;
            }
        }
        self.pages.borrow_mut().insert(project.to_string(), found.clone());
        Ok(found)
    }

    fn requires_dist(&self, project: &str, cand: &Cand) -> Result<Rc<Vec<String>>, PypiError> {
        let key = cand.file.url.clone();
        if let Some(r) = self.requires.borrow().get(&key) {
            return Ok(r.clone());
        }
        let what = format!("{project} {}", cand.file.filename);
        let bad = |detail: String| PypiError::Metadata { what: what.clone(), detail };
        let meta = match &cand.file.metadata {
            Some(hash) => {
                let url = format!("{}.metadata", cand.file.url);
                let bytes = self.rt.block_on(self.http.get_small(&url, MAX_METADATA)).map_err(|e| PypiError::Index { url: url.clone(), detail: e.to_string() })?;
                if let Some(h) = hash {
                    if Digest::sha256_of(&bytes).hex() != h.to_ascii_lowercase() {
                        return Err(PypiError::Hash { file: format!("{}.metadata", cand.file.filename), url, expected: h.clone(), actual: Digest::sha256_of(&bytes).hex().into() });
                    }
                }
                bytes
            }
            None => {
                let digest = self.download(&cand.file)?;
                core_metadata(&self.cache, &digest, &cand.file.filename).map_err(bad)?
            }
        };
        let parsed = python_pkginfo::Metadata::parse(&meta).map_err(|e| bad(format!("METADATA: {e}")))?;
        let r = Rc::new(parsed.requires_dist);
        self.requires.borrow_mut().insert(key, r.clone());
        Ok(r)
    }
}

impl Fetcher {
    fn download(&self, f: &FileEntry) -> Result<Digest, PypiError> {
        let hex = f.sha256.as_ref().ok_or_else(|| PypiError::NoHash { file: f.filename.clone(), url: f.url.clone() })?;
        let digest: Digest = format!("sha256:{}", hex.to_ascii_lowercase()).parse().map_err(|_| PypiError::NoHash { file: f.filename.clone(), url: f.url.clone() })?;
        self.rt.block_on(fetch_file(&self.http, &self.cache, &f.url, &f.filename, &digest, f.size, &Progress::hidden()))?;
        Ok(digest)
    }
}

async fn fetch_file(http: &Http, cache: &BlobCache, url: &str, filename: &str, digest: &Digest, size: Option<u64>, progress: &Progress) -> Result<(), PypiError> {
    http.to_cache(cache, url, &format!("pypi file {filename}"), digest, size, progress).await.map_err(|e| match e {
        HttpError::Cache { source: CacheError::Mismatch { actual, .. }, .. } => {
            PypiError::Hash { file: filename.into(), url: url.into(), expected: digest.hex().into(), actual: actual.hex().into() }
        }
        HttpError::TooLarge { .. } => PypiError::Hash { file: filename.into(), url: url.into(), expected: digest.hex().into(), actual: "(more bytes than listed)".into() },
        e => PypiError::Index { url: url.into(), detail: e.to_string() },
    })
}

/// The core metadata of a cached distribution: a wheel's `*.dist-info/METADATA`, an sdist's
/// `PKG-INFO`.
fn core_metadata(cache: &BlobCache, digest: &Digest, filename: &str) -> Result<Vec<u8>, String> {
    let file = cache.open_blob(digest).map_err(|e| e.to_string())?;
    if filename.ends_with(".whl") {
        let mut z = zip::ZipArchive::new(file).map_err(|e| format!("not a wheel: {e}"))?;
        let name = z
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.to_string()))
            .find(|n| n.split('/').count() == 2 && n.ends_with(".dist-info/METADATA"))
            .ok_or("the wheel has no .dist-info/METADATA")?;
        let mut out = Vec::new();
        z.by_name(&name).map_err(|e| e.to_string())?.take(MAX_METADATA).read_to_end(&mut out).map_err(|e| e.to_string())?;
        return Ok(out);
    }
    // python-pkginfo tells sdist kinds by extension: give it a named link to the cached file.
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let link = dir.path().join(filename);
    std::fs::hard_link(cache.path(digest), &link).or_else(|_| std::fs::copy(cache.path(digest), &link).map(|_| ())).map_err(|e| e.to_string())?;
    let d = python_pkginfo::Distribution::new(&link).map_err(|e| e.to_string())?;
    let m = d.metadata();
    // Only the fields resolution reads; sdists are not served with .metadata files.
    let mut text = format!("Metadata-Version: {}\nName: {}\nVersion: {}\n", m.metadata_version, m.name, m.version);
    if let Some(rp) = &m.requires_python {
        text.push_str(&format!("Requires-Python: {rp}\n"));
    }
    for r in &m.requires_dist {
        text.push_str(&format!("Requires-Dist: {r}\n"));
    }
    Ok(text.into_bytes())
}

impl PypiSource {
    pub fn new(cache: Arc<BlobCache>) -> PypiSource {
        PypiSource { http: Http::new(), cache }
    }

    /// Resolve every spec for every target; files needed by several targets are locked once.
    pub async fn resolve(&self, specs: &[PypiSpec]) -> Result<Vec<WheelLock>, PypiError> {
        let (http, cache, specs) = (self.http.clone(), self.cache.clone(), specs.to_vec());
        let rt = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || resolve_all(http, cache, rt, &specs)).await.expect("resolver thread")
    }

    /// Fetch every locked file (checked against the lock's sha256, which came from the index)
    /// and describe it as a bundle artifact.
    pub async fn fetch(&self, wheels: &[WheelLock], progress: &Progress) -> Result<Fetched, Vec<PypiError>> {
        progress.add_total(wheels.iter().filter(|w| !self.cache.has(&w.sha256, Some(w.size))).map(|w| w.size).sum());
        let fetched = each(wheels.iter().map(|w| async move {
            fetch_file(&self.http, &self.cache, &w.source, &w.filename, &w.sha256, Some(w.size), progress).await?;
            self.artifact(w)
        }))
        .await?;
        Ok(Fetched::all(fetched))
    }

    fn artifact(&self, w: &WheelLock) -> Result<Fetched, PypiError> {
        let config = WheelConfig {
            project: w.project.clone(),
            version: w.version.clone(),
            filename: w.filename.clone(),
            requires_python: w.requires_python.clone(),
            source: w.source.clone(),
        }
        .to_bytes();
        let mut layers = vec![titled_layer(fmt::FILE_MEDIA_TYPE, w.sha256.clone(), w.size, w.filename.clone())];
        if w.filename.ends_with(".whl") {
            let meta = core_metadata(&self.cache, &w.sha256, &w.filename).map_err(|detail| PypiError::Metadata { what: w.filename.clone(), detail })?;
            let d = self.cache.put_new(&meta)?;
            layers.push(titled_layer(fmt::METADATA_MEDIA_TYPE, d, meta.len() as u64, format!("{}.metadata", w.filename)));
        }
        Ok(Artifact {
            artifact_type: fmt::ARTIFACT_TYPE,
            config_media_type: fmt::CONFIG_MEDIA_TYPE,
            config,
            layers,
            kind: kinds::WHEEL,
            source: w.source.clone(),
            ref_name: format!("pypi/{}/{}", w.project, w.filename),
        }
        .into_fetched(&self.cache)?)
    }
}

fn resolve_all(http: Http, cache: Arc<BlobCache>, rt: tokio::runtime::Handle, specs: &[PypiSpec]) -> Result<Vec<WheelLock>, PypiError> {
    let mut locks: BTreeMap<String, WheelLock> = BTreeMap::new();
    for spec in specs {
        let fetcher = Fetcher {
            http: http.clone(),
            cache: cache.clone(),
            rt: rt.clone(),
            indexes: std::iter::once(spec.index.clone()).chain(spec.extra_indexes.iter().cloned()).collect(),
            pages: RefCell::new(HashMap::new()),
            requires: RefCell::new(HashMap::new()),
        };
        let parse = |list: &[String]| -> Result<Vec<Requirement>, PypiError> {
            list.iter()
                .map(|s| {
                    crate::sources::pypi::parse_requirement(s)
                        .map_err(|e| PypiError::Metadata { what: format!("{} line {}", spec.file, spec.line), detail: format!("requirement {s:?}: {e}") })
                })
                .collect()
        };
        let (roots, constraints) = (parse(&spec.requirements)?, parse(&spec.constraints)?);
        let policy = Policy { only_binary: spec.only_binary, wheels_only: spec.wheels_only, releases: spec.releases.clone() };
        for target in targets(spec) {
            let provider = Provider::new(&fetcher, &target, roots.clone(), &constraints, &policy);
            let solution = provider.resolve()?;
            for (pkg, version) in solution {
                let Pkg::Project(project) = pkg else { continue };
                let versions = provider.versions(&project)?;
                let cand = versions.get(&version).expect("solution versions come from these");
                let f = &cand.file;
                let hex = f.sha256.clone().ok_or_else(|| PypiError::NoHash { file: f.filename.clone(), url: f.url.clone() })?;
                let sha256: Digest = format!("sha256:{}", hex.to_ascii_lowercase()).parse().map_err(|_| PypiError::NoHash { file: f.filename.clone(), url: f.url.clone() })?;
                let size = match f.size {
                    Some(n) => n,
                    // The lock pins the size too; without one in the page, the bytes tell.
                    None => {
                        fetcher.download(f)?;
                        std::fs::metadata(cache.path(&sha256)).map(|m| m.len()).map_err(|e| PypiError::Cache(CacheError::Io { path: cache.path(&sha256), source: e }))?
                    }
                };
                if let Some(allowed) = spec.hashes.get(&normalize(&project)) {
                    if !allowed.iter().any(|h| *h == sha256.hex()) {
                        return Err(PypiError::HashNotAllowed { project: project.clone(), file: f.filename.clone(), actual: sha256.hex().into(), allowed: allowed.join(", ") });
                    }
                }
                let entry = locks.entry(f.url.clone()).or_insert_with(|| WheelLock {
                    kind: kinds::WHEEL.into(),
                    name: format!("{project}/{}", f.filename),
                    source: f.url.clone(),
                    index: cand.index.clone(),
                    project: normalize(&project),
                    version: version.to_string(),
                    filename: f.filename.clone(),
                    sha256,
                    size,
                    requires_python: f.requires_python.clone(),
                    targets: Vec::new(),
                });
                if !entry.targets.contains(&target.name()) {
                    entry.targets.push(target.name());
                }
            }
        }
    }
    let mut out: Vec<WheelLock> = locks.into_values().collect();
    out.sort();
    Ok(out)
}
