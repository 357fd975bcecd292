//! NLTK data: an NLTK downloader `index.xml` read, collections expanded, each package's zip
//! fetched and checked against the index's size and MD5 checksum (what nltk checks), pinned
//! by sha256 in the lock, and bundled with the index attributes the downloader needs.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::Arc;

use md5::Digest as _;

use md5::Md5;

use super::http::{Http, HttpError};
use super::{titled_layer, Artifact, Fetched};
use crate::cache::{BlobCache, CacheError};
use crate::format::bundle::kinds;
use crate::format::lock::{LockFile, NltkLock};
use crate::format::Digest;
use crate::manifest::{Manifest, NltkSpec};
use crate::progress::Progress;

pub use feas_format::nltk::{parse_index, Collection, Index, NltkConfig, ARTIFACT_TYPE, CONFIG_MEDIA_TYPE};
const MAX_INDEX: u64 = 32 << 20;
/// Collections nest; real ones are two levels deep.
const MAX_DEPTH: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum NltkError {
    #[error("nltk index {url}: {detail}; check `index:` and the network")]
    Index { url: String, detail: String },
    #[error("nltk: {id} is neither a package nor a collection in {url}; check `packages:`")]
    NotFound { id: String, url: String },
    #[error("nltk package {id}: {url}: {detail}; nothing was bundled")]
    Package { id: String, url: String, detail: String },
    #[error("nltk package {id}: the zip at {url} does not match the index's checksum (md5 {expected}, got {actual}); nothing was bundled — retry, or report the index")]
    Checksum { id: String, url: String, expected: String, actual: String },
    #[error("nltk package {id}: {detail}; run `bundler lock` to resolve again")]
    Drift { id: String, detail: String },
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// Packages an id stands for, with the collections met on the way.
fn expand(idx: &Index, id: &str, depth: usize, pkgs: &mut BTreeSet<String>, colls: &mut BTreeSet<String>) -> bool {
    if idx.packages.contains_key(id) {
        pkgs.insert(id.to_string());
        return true;
    }
    let Some(c) = idx.collections.get(id) else { return false };
    if depth > MAX_DEPTH || !colls.insert(id.to_string()) {
        return true;
    }
    for item in &c.items {
        expand(idx, item, depth + 1, pkgs, colls);
    }
    true
}

pub struct NltkSource {
    http: Http,
    cache: Arc<BlobCache>,
}

/// The verified index of every spec, with what each asked for.
pub struct Loaded {
    indexes: Vec<(Index, BTreeSet<String>, BTreeSet<String>)>,
}

fn md5_of(cache: &BlobCache, d: &crate::format::Digest) -> Result<String, CacheError> {
    let mut f = cache.open_blob(d)?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|source| CacheError::Io { path: cache.path(d), source })?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn package_url(index: &str, attrs: &BTreeMap<String, String>) -> Result<String, String> {
    let raw = attrs.get("url").ok_or("no url attribute")?;
    reqwest::Url::parse(index).and_then(|b| b.join(raw)).map(|u| u.to_string()).map_err(|e| format!("bad url {raw:?}: {e}"))
}

impl NltkSource {
    pub fn new(cache: Arc<BlobCache>) -> NltkSource {
        NltkSource { http: Http::new(), cache }
    }

    pub async fn load(&self, specs: &[NltkSpec]) -> Result<Loaded, NltkError> {
        let mut indexes = Vec::new();
        for s in specs {
            let bad = |detail: String| NltkError::Index { url: s.index.clone(), detail };
            let bytes = self.http.get_small(&s.index, MAX_INDEX).await.map_err(|e| bad(e.to_string()))?;
            let idx = parse_index(&String::from_utf8_lossy(&bytes)).map_err(|e| bad(e.to_string()))?;
            let (mut pkgs, mut colls) = (BTreeSet::new(), BTreeSet::new());
            for id in &s.packages {
                if !expand(&idx, id, 0, &mut pkgs, &mut colls) {
                    return Err(NltkError::NotFound { id: id.clone(), url: s.index.clone() });
                }
            }
            indexes.push((idx, pkgs, colls));
        }
        Ok(Loaded { indexes })
    }

    /// Fetch each package (size and MD5 checked against the index) and pin its sha256.
    pub async fn lock(&self, specs: &[NltkSpec], loaded: &Loaded) -> Result<Vec<NltkLock>, NltkError> {
        let mut out = BTreeMap::new();
        for (s, (idx, pkgs, _)) in specs.iter().zip(&loaded.indexes) {
            for id in pkgs {
                let attrs = &idx.packages[id];
                let url = package_url(&s.index, attrs).map_err(|detail| NltkError::Package { id: id.clone(), url: s.index.clone(), detail })?;
                let size = attrs.get("size").and_then(|v| v.parse().ok());
                let (sha256, n) = self.http.to_cache_new(&self.cache, &url, size).await.map_err(|e| match e {
                    HttpError::TooLarge { .. } => {
                        NltkError::Package { id: id.clone(), url: url.clone(), detail: format!("larger than the index's size {}", size.unwrap_or_default()) }
                    }
                    e => NltkError::Package { id: id.clone(), url: url.clone(), detail: e.to_string() },
                })?;
                let expected = attrs.get("checksum").map(|c| c.to_ascii_lowercase()).unwrap_or_default();
                let actual = md5_of(&self.cache, &sha256)?;
                if expected != actual {
                    return Err(NltkError::Checksum { id: id.clone(), url, expected, actual });
                }
                let subdir = attrs.get("subdir").cloned().unwrap_or_default();
                out.insert(id.clone(), NltkLock { kind: kinds::NLTK.into(), name: id.clone(), source: url, subdir, checksum: expected, sha256, size: n });
            }
        }
        Ok(out.into_values().collect())
    }

    pub async fn fetch(&self, specs: &[NltkSpec], loaded: &Loaded, locks: &[NltkLock], progress: &Progress) -> Result<Fetched, Vec<NltkError>> {
        progress.add_total(locks.iter().filter(|l| !self.cache.has(&l.sha256, Some(l.size))).map(|l| l.size).sum());
        let fetched = crate::sources::each(locks.iter().map(|l| async move {
            let found = specs.iter().zip(&loaded.indexes).find_map(|(s, (idx, pkgs, colls))| pkgs.contains(&l.name).then_some((s, idx, colls)));
            let Some((spec, idx, colls)) = found else {
                return Err(NltkError::Drift { id: l.name.clone(), detail: "the manifest no longer asks for it".into() });
            };
            let attrs = &idx.packages[&l.name];
            if attrs.get("checksum").map(|c| c.to_ascii_lowercase()).as_deref() != Some(l.checksum.as_str()) {
                return Err(NltkError::Drift { id: l.name.clone(), detail: format!("{} now lists another checksum for it", spec.index) });
            }
            self.http.to_cache(&self.cache, &l.source, &format!("nltk package {}", l.name), &l.sha256, Some(l.size), progress).await.map_err(|e| NltkError::Package {
                id: l.name.clone(),
                url: l.source.clone(),
                detail: e.to_string(),
            })?;
            // Every requested collection travels with each package, so the mirror can list a
            // collection from whichever of its packages it holds.
            let collections: Vec<Collection> = colls.iter().filter_map(|c| idx.collections.get(c)).cloned().collect();
            self.artifact(l, attrs, collections)
        }))
        .await?;
        Ok(Fetched::all(fetched))
    }

    fn artifact(&self, l: &NltkLock, attrs: &BTreeMap<String, String>, collections: Vec<Collection>) -> Result<Fetched, NltkError> {
        Ok(Artifact {
            artifact_type: ARTIFACT_TYPE,
            config_media_type: CONFIG_MEDIA_TYPE,
            config: serde_json::to_vec(&NltkConfig { attrs: attrs.clone(), collections }).expect("config serializes"),
            layers: vec![titled_layer("application/zip", l.sha256.clone(), l.size, format!("{}.zip", l.name))],
            kind: kinds::NLTK,
            source: l.source.clone(),
            ref_name: format!("nltk/{}/{}", l.subdir, l.name),
        }
        .into_fetched(&self.cache)?)
    }
}

impl crate::ecosystems::Ecosystem for NltkSource {
    const SECTION: &'static str = "nltk";
    const NOT_LOCKED: &'static str = "the manifest's nltk: section changed since the lock was written";
    type Spec = NltkSpec;
    type Lock = NltkLock;
    type Loaded = Loaded;
    type Error = NltkError;

    fn new(ctx: &crate::ecosystems::Context) -> Self {
        NltkSource::new(ctx.cache.clone())
    }

    fn specs(m: &Manifest) -> &[NltkSpec] {
        &m.nltk
    }

    fn locked(lock: &LockFile) -> (Option<&Digest>, &[NltkLock]) {
        (lock.nltk_request.as_ref(), &lock.nltk)
    }

    fn store(lock: &mut LockFile, request: Option<Digest>, entries: Vec<NltkLock>) {
        (lock.nltk_request, lock.nltk) = (request, entries);
    }

    // The index is read on every run: its attributes travel in the bundle.
    async fn load(&self, m: &Manifest) -> Result<Loaded, NltkError> {
        NltkSource::load(self, &m.nltk).await
    }

    async fn resolve(&self, m: &Manifest, loaded: &Loaded) -> Result<Vec<NltkLock>, NltkError> {
        self.lock(&m.nltk, loaded).await
    }

    fn carried(m: &Manifest, _entries: &[NltkLock]) -> bool {
        !m.nltk.is_empty()
    }

    async fn fetch(&self, m: &Manifest, loaded: &Loaded, entries: &[NltkLock], progress: &Progress) -> Result<Fetched, Vec<NltkError>> {
        NltkSource::fetch(self, &m.nltk, loaded, entries, progress).await
    }

    fn pinned(e: &NltkLock) -> (&Digest, u64) {
        (&e.sha256, e.size)
    }

    fn describe(entries: &[NltkLock]) -> Vec<String> {
        entries.iter().map(|n| format!("locked nltk {}/{} -> {} ({} bytes)", n.subdir, n.name, n.sha256, n.size)).collect()
    }

    fn check(m: &Manifest, out: &mut crate::ecosystems::Checked) -> Result<(), String> {
        let packages: Vec<String> = m.nltk.iter().flat_map(|n| n.packages.clone()).collect();
        out.counts.push(("nltk_packages", packages.len()));
        out.summary.push(format!("{} nltk package(s)", packages.len()));
        out.contents.push(("nltk", packages));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_collections() {
        let xml = r#"<?xml version="1.0"?><nltk_data><packages>
<package id="punkt" name="Punkt" subdir="tokenizers" url="https://x/packages/tokenizers/punkt.zip" size="10" checksum="ABC" unzip="1" />
<package id="words" name="Words &amp; more" subdir="corpora" url="packages/corpora/words.zip" size="5" checksum="def" />
</packages><collections>
<collection id="book" name="Book"><item ref="punkt" /><item ref="inner" /></collection>
<collection id="inner" name="Inner"><item ref="words" /></collection>
</collections></nltk_data>"#;
        let idx = parse_index(xml).unwrap();
        assert_eq!(idx.packages["words"]["name"], "Words & more");
        let (mut p, mut c) = (BTreeSet::new(), BTreeSet::new());
        assert!(expand(&idx, "book", 0, &mut p, &mut c));
        assert_eq!(p.into_iter().collect::<Vec<_>>(), vec!["punkt", "words"]);
        assert_eq!(c.into_iter().collect::<Vec<_>>(), vec!["book", "inner"]);
        assert!(!expand(&idx, "nope", 0, &mut BTreeSet::new(), &mut BTreeSet::new()));
        assert_eq!(package_url("https://host/data/index.xml", &idx.packages["words"]).unwrap(), "https://host/data/packages/corpora/words.zip");
    }
}
