//! Helm charts from HTTP chart repositories (`index.yaml`, the archive checked against the
//! index's digest) and OCI registries (the upstream manifest carried unchanged). A version
//! constraint resolves to the highest match, as helm does; dependencies are followed; images
//! the chart's values and templates reference are listed (and bundled with `add_images`).
//! Every chart travels as an OCI manifest shaped like `helm push` writes it, so the mirror
//! serves it both in `/helm/index.yaml` and under `/v2/charts/<name>`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::http::{Http, HttpError};
use super::oci::{ImageError, ImageSource};
use super::Fetched;
use crate::cache::{BlobCache, CacheError};
use crate::format::bundle::{annotations, kinds};
use crate::format::lock::{ChartLock, ImageLock};
use crate::format::names::ChartName;
use crate::format::oci::{AnyManifest, Descriptor, ANNOTATION_REF_NAME, OCI_MANIFEST};
use crate::format::Digest;
use crate::manifest::{ChartOrigin, ChartSpec, ImageOrigin, ImageSpec};
use crate::progress::Progress;
use crate::reference::ImageRef;

mod chart;
mod constraint;
mod ecosystem;

use chart::{read_chart, ChartContents};

pub use feas_format::helm::{oci_tag, CHART_MEDIA_TYPE, CONFIG_MEDIA_TYPE, IMAGES_ANNOTATION};
/// Charts pushed by Helm before 3.7 (still served by some registries).
const LEGACY_CHART_MEDIA_TYPE: &str = "application/tar+gzip";
/// Public repositories' indexes run to tens of MiB.
const MAX_INDEX: u64 = 256 << 20;
const MAX_CHART: u64 = 64 << 20;
/// What is read out of one archive (values, templates, Chart.yaml of every subchart).
const MAX_UNPACKED: u64 = 128 << 20;
const MAX_FILE: u64 = 8 << 20;
/// Dependency chains in practice are two or three deep; bounds a cyclic repository too.
const MAX_DEPTH: usize = 6;
const MAX_CHARTS: usize = 500;

/// Chart.yaml fields helm's `chart.Metadata` knows: what goes into the OCI config and the
/// mirror's index.yaml (helm reads both strictly).
const METADATA_FIELDS: &[&str] = &[
    "name",
    "home",
    "sources",
    "version",
    "description",
    "keywords",
    "maintainers",
    "icon",
    "apiVersion",
    "condition",
    "tags",
    "appVersion",
    "deprecated",
    "annotations",
    "kubeVersion",
    "dependencies",
    "type",
];

#[derive(Debug, thiserror::Error)]
pub enum HelmError {
    #[error("chart repository {url}: {detail}; check `repo:` and the network")]
    Index { url: String, detail: String },
    #[error("chart {name}: {repo} has no version matching {wanted:?} (it has: {available}); check `version:`")]
    NoVersion { name: String, repo: String, wanted: String, available: String },
    #[error("chart {name}: {repo} has no chart of that name; check `name:` and `repo:`")]
    NoChart { name: String, repo: String },
    #[error("chart {name} {version}: {url}: {detail}; nothing was bundled")]
    Fetch { name: String, version: String, url: String, detail: String },
    #[error("chart {name} {version}: the archive at {url} does not match the repository index's digest (expected sha256 {expected}, got {actual}); nothing was bundled — the repository is inconsistent or tampered with")]
    Digest { name: String, version: String, url: String, expected: String, actual: String },
    #[error("chart {name} {version}: {detail}")]
    Archive { name: String, version: String, detail: String },
    #[error("chart {name}: version constraint {constraint:?} is not valid semver ({detail})")]
    Constraint { name: String, constraint: String, detail: String },
    #[error("charts: more than {MAX_CHARTS} charts with dependencies; split the manifest")]
    TooMany,
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Cache(#[from] CacheError),
}

#[derive(Deserialize)]
struct RepoIndex {
    #[serde(default)]
    entries: BTreeMap<String, Vec<IndexEntry>>,
}

#[derive(Deserialize, Clone)]
struct IndexEntry {
    version: String,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    digest: Option<String>,
}

/// A chart repository's `index.yaml` (at most `MAX_INDEX` bytes, as fetched).
fn parse_index(bytes: &[u8]) -> Result<RepoIndex, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    // Big public indexes exceed the parser's default budget; the size limit bounds it.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 100_000_000;
    budget.max_nodes = 50_000_000;
    budget.max_total_scalar_bytes = MAX_INDEX as usize;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    serde_saphyr::from_str_with_options(text, options).map_err(|e| format!("not a chart repository index: {e}"))
}

/// Parsers fed by upstream bytes, for the fuzz targets.
#[doc(hidden)]
pub mod fuzz {
    /// index.yaml, then every entry's version through the constraint matcher.
    pub fn index(bytes: &[u8]) {
        if let Ok(idx) = super::parse_index(bytes) {
            for e in idx.entries.values().flatten() {
                let _ = super::constraint::parse_version(&e.version);
                let _ = super::constraint::Constraint::parse(&e.version);
            }
        }
    }
    /// A chart archive (gzip tar): Chart.yaml, dependencies, values and templates.
    pub fn archive(bytes: &[u8]) {
        let _ = super::read_chart(bytes, "fuzz", "0.1.0");
    }
}

/// One chart to resolve: from the manifest, or a dependency of one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Want {
    origin: OriginKey,
    name: ChartName,
    version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum OriginKey {
    Repo(String),
    Oci(String),
}

/// The highest version satisfying the constraint as helm reads it (none: the highest stable one).
fn pick<'a>(name: &str, constraint: Option<&str>, versions: impl Iterator<Item = &'a str> + Clone) -> Result<Option<String>, HelmError> {
    constraint::pick(constraint, versions).map(|v| v.map(str::to_string)).map_err(|detail| HelmError::Constraint {
        name: name.into(),
        constraint: constraint.unwrap_or_default().into(),
        detail,
    })
}

/// The OCI manifest `helm push` writes for a chart (OCI image manifest, Helm config).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HelmManifest<'a> {
    schema_version: u32,
    media_type: &'static str,
    config: Descriptor,
    layers: [Descriptor; 1],
    annotations: &'a BTreeMap<String, String>,
}

pub struct HelmSource {
    http: Http,
    cache: Arc<BlobCache>,
    images: Arc<ImageSource>,
}

impl HelmSource {
    pub fn new(cache: Arc<BlobCache>, images: Arc<ImageSource>) -> HelmSource {
        HelmSource { http: Http::new(), cache, images }
    }

    async fn index(&self, repo: &str, seen: &mut HashMap<String, Arc<RepoIndex>>) -> Result<Arc<RepoIndex>, HelmError> {
        if let Some(i) = seen.get(repo) {
            return Ok(i.clone());
        }
        let url = format!("{repo}/index.yaml");
        let bad = |detail: String| HelmError::Index { url: url.clone(), detail };
        let bytes = self.http.get_small(&url, MAX_INDEX).await.map_err(|e| bad(e.to_string()))?;
        let idx = Arc::new(parse_index(&bytes).map_err(bad)?);
        seen.insert(repo.to_string(), idx.clone());
        Ok(idx)
    }

    /// Resolve every chart (and its dependencies) and fetch its archive: the lock entries.
    pub async fn lock(&self, specs: &[ChartSpec], platforms: &[String]) -> Result<Vec<ChartLock>, HelmError> {
        let mut queue: Vec<(Want, Option<String>, usize, bool)> = specs
            .iter()
            .rev()
            .map(|s| {
                let origin = match &s.origin {
                    ChartOrigin::Repo(u) => OriginKey::Repo(u.clone()),
                    ChartOrigin::Oci(r) => OriginKey::Oci(r.clone()),
                };
                (Want { origin, name: s.name.clone(), version: s.version.clone() }, None, 0, s.dependencies)
            })
            .collect();
        let mut done: BTreeSet<Want> = BTreeSet::new();
        let mut out: BTreeMap<(String, String), ChartLock> = BTreeMap::new();
        let mut indexes = HashMap::new();
        while let Some((want, parent, depth, follow)) = queue.pop() {
            if !done.insert(want.clone()) {
                continue;
            }
            if done.len() > MAX_CHARTS {
                return Err(HelmError::TooMany);
            }
            let (lock, contents) = match &want.origin {
                OriginKey::Repo(repo) => self.lock_http(repo, &want, &mut indexes).await?,
                OriginKey::Oci(r) => self.lock_oci(r, &want, platforms).await?,
            };
            let lock = ChartLock { dependency_of: parent.clone(), images: contents.images.iter().cloned().collect(), ..lock };
            if follow && depth < MAX_DEPTH {
                for (name, repo, version) in &contents.dependencies {
                    let origin = if let Some(r) = repo.strip_prefix("oci://") {
                        // `repository: oci://host/path` names the registry path holding the chart.
                        match ImageRef::parse(&format!("{}/{name}", r.trim_end_matches('/'))) {
                            Ok(i) => OriginKey::Oci(i.repository_name()),
                            Err(_) => continue,
                        }
                    } else if repo.starts_with("http://") || repo.starts_with("https://") {
                        OriginKey::Repo(repo.trim_end_matches('/').to_string())
                    } else {
                        // `file://` subcharts are inside the archive; `@alias` repositories
                        // are named in the helm client's config, which the bundler cannot see.
                        if !repo.is_empty() && !repo.starts_with("file://") {
                            tracing::warn!(
                                "chart {} {}: dependency {name} from {repo:?} is not fetched (give its repository URL in the manifest to carry it)",
                                lock.name,
                                lock.version
                            );
                        }
                        continue;
                    };
                    let Ok(name) = name.parse::<ChartName>() else { continue };
                    let version = Some(version.clone()).filter(|v| !v.is_empty());
                    queue.push((Want { origin, name, version }, Some(format!("{}-{}", lock.name, lock.version)), depth + 1, true));
                }
            }
            // The first parent recorded wins; a chart asked for directly has none.
            out.entry((lock.name.to_string(), lock.version.clone())).or_insert(lock);
        }
        Ok(out.into_values().collect())
    }

    async fn lock_http(&self, repo: &str, want: &Want, indexes: &mut HashMap<String, Arc<RepoIndex>>) -> Result<(ChartLock, ChartContents), HelmError> {
        let idx = self.index(repo, indexes).await?;
        let entries = idx.entries.get(want.name.as_str()).ok_or_else(|| HelmError::NoChart { name: want.name.to_string(), repo: repo.into() })?;
        let version = pick(&want.name, want.version.as_deref(), entries.iter().map(|e| e.version.as_str()))?.ok_or_else(|| HelmError::NoVersion {
            name: want.name.to_string(),
            repo: repo.into(),
            wanted: want.version.clone().unwrap_or_else(|| "newest stable".into()),
            available: entries.iter().take(12).map(|e| e.version.as_str()).collect::<Vec<_>>().join(", "),
        })?;
        let entry = entries.iter().find(|e| e.version == version).cloned().expect("picked from these");
        let raw = entry.urls.first().ok_or_else(|| HelmError::Fetch {
            name: want.name.to_string(),
            version: version.clone(),
            url: repo.into(),
            detail: "the index lists no URL for it".into(),
        })?;
        let url = reqwest::Url::parse(&format!("{repo}/"))
            .and_then(|b| b.join(raw))
            .map_err(|e| HelmError::Fetch { name: want.name.to_string(), version: version.clone(), url: raw.clone(), detail: e.to_string() })?
            .to_string();
        let fetch_err = |detail: String| HelmError::Fetch { name: want.name.to_string(), version: version.clone(), url: url.clone(), detail };
        let (sha256, size) = self.http.to_cache_new(&self.cache, &url, None).await.map_err(|e| fetch_err(e.to_string()))?;
        if size > MAX_CHART {
            return Err(fetch_err(format!("{size} bytes; charts over {MAX_CHART} are refused")));
        }
        if let Some(expected) = entry.digest.as_deref().map(|d| d.trim_start_matches("sha256:").to_ascii_lowercase()).filter(|d| !d.is_empty()) {
            if expected != sha256.hex() {
                return Err(HelmError::Digest { name: want.name.to_string(), version, url, expected, actual: sha256.hex().into() });
            }
        }
        let contents = read_chart(&self.cache.read(&sha256)?, &want.name, &version)?;
        let lock = ChartLock {
            kind: kinds::HELM.into(),
            name: want.name.clone(),
            version,
            source: url,
            sha256,
            size,
            oci_manifest: None,
            oci_manifest_size: None,
            dependency_of: None,
            images: Vec::new(),
        };
        Ok((lock, contents))
    }

    fn chart_spec(&self, repo: &str, tag: &str, platforms: &[String]) -> Result<ImageSpec, HelmError> {
        let reference = ImageRef::parse(&format!("{repo}:{tag}")).map_err(|e| ImageError::Invalid { image: repo.into(), detail: e.to_string() })?;
        Ok(ImageSpec {
            reference,
            platforms: platforms.to_vec(),
            signatures: false,
            origin: ImageOrigin::Registry,
            layout_ref: None,
            origin_label: None,
            file: String::new(),
            line: 0,
        })
    }

    async fn lock_oci(&self, repo: &str, want: &Want, platforms: &[String]) -> Result<(ChartLock, ChartContents), HelmError> {
        let image = ImageRef::parse(repo).map_err(|e| ImageError::Invalid { image: repo.into(), detail: e.to_string() })?;
        let exact = want.version.as_deref().filter(|v| semver::Version::parse(v.strip_prefix('v').unwrap_or(v)).is_ok() && !v.contains([' ', ',', '<', '>', '~', '^', '*', '|']));
        let version = match exact {
            Some(v) => v.to_string(),
            None => {
                let tags = self.images.list_tags(&image).await?;
                let versions: Vec<String> = tags.iter().map(|t| t.replace('_', "+")).collect();
                pick(&want.name, want.version.as_deref(), versions.iter().map(String::as_str))?.ok_or_else(|| HelmError::NoVersion {
                    name: want.name.to_string(),
                    repo: format!("oci://{repo}"),
                    wanted: want.version.clone().unwrap_or_else(|| "newest stable".into()),
                    available: versions.iter().take(12).cloned().collect::<Vec<_>>().join(", "),
                })?
            }
        };
        let spec = self.chart_spec(repo, &oci_tag(&version), platforms)?;
        let il = self.images.resolve(&spec).await?;
        let (layer, _) = self.oci_chart(&spec, &il, &want.name, &version, &Progress::hidden()).await?;
        let contents = read_chart(&self.cache.read(&layer.digest)?, &want.name, &version)?;
        let lock = ChartLock {
            kind: kinds::HELM.into(),
            name: want.name.clone(),
            version: version.clone(),
            source: format!("oci://{repo}:{}", oci_tag(&version)),
            sha256: layer.digest,
            size: layer.size,
            oci_manifest: Some(il.sha256),
            oci_manifest_size: Some(il.size),
            dependency_of: None,
            images: Vec::new(),
        };
        Ok((lock, contents))
    }

    /// The chart layer of a cached OCI manifest, which must be a Helm chart's.
    fn chart_layer(&self, spec: &ImageSpec, il: &ImageLock, name: &str, version: &str) -> Result<Descriptor, HelmError> {
        let bad = |detail: String| HelmError::Archive { name: name.into(), version: version.into(), detail };
        let m = AnyManifest::parse(&self.cache.read(&il.sha256)?).map_err(|e| bad(e.to_string()))?;
        if m.config.as_ref().map(|c| c.media_type.as_str()) != Some(CONFIG_MEDIA_TYPE) {
            return Err(bad(format!("{} is not a Helm chart (config media type {:?})", spec.reference, m.config.as_ref().map(|c| c.media_type.clone()))));
        }
        m.layers.iter().find(|l| l.media_type == CHART_MEDIA_TYPE || l.media_type == LEGACY_CHART_MEDIA_TYPE).cloned().ok_or_else(|| bad("the manifest has no chart layer".into()))
    }

    /// Fetch an OCI chart's blobs; returns its chart layer and what the bundle carries. A
    /// manifest already cached is checked first, so a non-chart's layers are never downloaded.
    async fn oci_chart(&self, spec: &ImageSpec, il: &ImageLock, name: &str, version: &str, progress: &Progress) -> Result<(Descriptor, Fetched), HelmError> {
        if self.cache.has(&il.sha256, Some(il.size)) {
            self.chart_layer(spec, il, name, version)?;
        }
        let fetched = self.images.fetch(spec, il, progress).await?;
        Ok((self.chart_layer(spec, il, name, version)?, fetched))
    }

    /// Fetch exactly the locked charts; each becomes a Helm OCI manifest in the bundle.
    pub async fn fetch(&self, locks: &[ChartLock], platforms: &[String], progress: &Progress) -> Result<Fetched, Vec<HelmError>> {
        progress.add_total(locks.iter().filter(|c| !self.cache.has(&c.sha256, Some(c.size))).map(|c| c.size).sum());
        Ok(Fetched::all(crate::sources::each(locks.iter().map(|c| self.fetch_chart(c, platforms, progress))).await?))
    }

    async fn fetch_chart(&self, c: &ChartLock, platforms: &[String], progress: &Progress) -> Result<Fetched, HelmError> {
        let mut fetched = Fetched::default();
        {
            let (manifest, size, mut blobs) = match (&c.oci_manifest, c.oci_manifest_size) {
                (Some(md), Some(ms)) => {
                    let repo = c.source.strip_prefix("oci://").and_then(|s| s.rsplit_once(':')).map(|(r, _)| r).unwrap_or(&c.source);
                    let spec = self.chart_spec(repo, &oci_tag(&c.version), platforms)?;
                    let il = ImageLock {
                        kind: "image".into(),
                        name: spec.reference.to_string(),
                        source: c.source.clone(),
                        sha256: md.clone(),
                        size: ms,
                        media_type: OCI_MANIFEST.into(),
                        platforms: Vec::new(),
                        accessories: Vec::new(),
                    };
                    let (layer, f) = self.oci_chart(&spec, &il, &c.name, &c.version, progress).await?;
                    if layer.digest != c.sha256 {
                        return Err(HelmError::Digest {
                            name: c.name.to_string(),
                            version: c.version.clone(),
                            url: c.source.clone(),
                            expected: c.sha256.hex().into(),
                            actual: layer.digest.hex().into(),
                        });
                    }
                    (md.clone(), ms, f.blobs)
                }
                _ => {
                    self.http.to_cache(&self.cache, &c.source, &format!("chart {} {}", c.name, c.version), &c.sha256, Some(c.size), progress).await.map_err(|e| match e {
                        HttpError::Cache { source: CacheError::Mismatch { actual, .. }, .. } => HelmError::Digest {
                            name: c.name.to_string(),
                            version: c.version.clone(),
                            url: c.source.clone(),
                            expected: c.sha256.hex().into(),
                            actual: actual.hex().into(),
                        },
                        e => HelmError::Fetch { name: c.name.to_string(), version: c.version.clone(), url: c.source.clone(), detail: e.to_string() },
                    })?;
                    self.synthesize(c)?
                }
            };
            blobs.insert(c.sha256.clone(), c.size);
            let mut d = Descriptor::new(OCI_MANIFEST, manifest.clone(), size);
            let repo = format!("charts/{}", c.name);
            let tag = oci_tag(&c.version);
            d.annotations.insert(annotations::KIND.into(), kinds::HELM.into());
            d.annotations.insert(annotations::REPOSITORY.into(), repo.clone());
            d.annotations.insert(annotations::TAG.into(), tag.clone());
            d.annotations.insert(annotations::SOURCE.into(), c.source.clone());
            d.annotations.insert(ANNOTATION_REF_NAME.into(), format!("{repo}:{tag}"));
            if !c.images.is_empty() {
                d.annotations.insert(IMAGES_ANNOTATION.into(), c.images.join(","));
            }
            fetched.descriptors.push(d);
            fetched.blobs.append(&mut blobs);
        }
        Ok(fetched)
    }

    /// The manifest and config `helm push` would write for an archive from an HTTP repository.
    fn synthesize(&self, c: &ChartLock) -> Result<(Digest, u64, BTreeMap<Digest, u64>), HelmError> {
        let contents = read_chart(&self.cache.read(&c.sha256)?, &c.name, &c.version)?;
        let config = serde_json::to_vec(&contents.metadata).expect("metadata serializes");
        let config_digest = self.cache.put_new(&config)?;
        let text = |k: &str| contents.metadata.get(k).and_then(Value::as_str).map(str::to_string);
        let mut ann = BTreeMap::new();
        ann.insert("org.opencontainers.image.title".to_string(), c.name.to_string());
        ann.insert("org.opencontainers.image.version".to_string(), c.version.clone());
        if let Some(d) = text("description") {
            ann.insert("org.opencontainers.image.description".to_string(), d);
        }
        if let Some(h) = text("home") {
            ann.insert("org.opencontainers.image.url".to_string(), h);
        }
        let m = HelmManifest {
            schema_version: 2,
            media_type: OCI_MANIFEST,
            config: Descriptor::new(CONFIG_MEDIA_TYPE, config_digest.clone(), config.len() as u64),
            layers: [Descriptor::new(CHART_MEDIA_TYPE, c.sha256.clone(), c.size)],
            annotations: &ann,
        };
        let bytes = serde_json::to_vec(&m).expect("manifest serializes");
        let digest = self.cache.put_new(&bytes)?;
        let mut blobs = BTreeMap::new();
        blobs.insert(digest.clone(), bytes.len() as u64);
        blobs.insert(config_digest, config.len() as u64);
        Ok((digest, bytes.len() as u64, blobs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_resolve_like_helm() {
        let vs = ["1.2.3", "1.2.10", "1.3.0", "2.0.0", "2.1.0-rc.1", "v2.0.5"];
        let p = |c: Option<&str>| pick("x", c, vs.iter().copied()).unwrap();
        assert_eq!(p(None).as_deref(), Some("v2.0.5"), "newest stable; prereleases skipped");
        assert_eq!(p(Some("1.2.3")).as_deref(), Some("1.2.3"), "a bare version is exact");
        assert_eq!(p(Some("~1.2.0")).as_deref(), Some("1.2.10"));
        assert_eq!(p(Some("^1.2")).as_deref(), Some("1.3.0"));
        assert_eq!(p(Some(">= 1.2.4, < 2.0.0")).as_deref(), Some("1.3.0"));
        assert_eq!(p(Some(">=1.2.4 <1.3")).as_deref(), Some("1.2.10"));
        assert_eq!(p(Some("1.2.x")).as_deref(), Some("1.2.10"));
        assert_eq!(p(Some("1.2.3 || 2.x")).as_deref(), Some("v2.0.5"));
        assert_eq!(p(Some("3.x")), None);
        assert!(pick("x", Some(">= nope"), vs.iter().copied()).is_err());
    }
}
