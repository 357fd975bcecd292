//! Turning a manifest into a lock: reuse lock entries that still match the manifest, resolve
//! the rest (or refuse under `--locked`).

use std::sync::Arc;

use crate::format::lock::{ImageLock, LockFile, LOCK_VERSION};
use crate::manifest::{ImageOrigin, ImageSpec, Manifest};
use crate::sources::apt::{AptError, AptSource, Loaded};
use crate::sources::file::{FileError, FileSource};
use crate::sources::helm::{HelmError, HelmSource};
use crate::sources::hf::{HfError, HfSource};
use crate::sources::nltk::{self, NltkError, NltkSource};
use crate::sources::oci::{ImageError, ImageSource};
use crate::sources::pypi::{PypiError, PypiSource};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("--locked: {image} ({file} line {line}) is not in the lock file or its entry is stale ({why}); run `bundler lock` and commit the lock")]
    NotLocked { image: String, file: String, line: u64, why: String },
    #[error("--locked: the manifest's apt: section changed since the lock was written (or the lock has no debs); run `bundler lock` and commit the lock")]
    AptNotLocked,
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Apt(#[from] AptError),
    #[error("--locked: the manifest's pypi: section changed since the lock was written (or the lock has no wheels); run `bundler lock` and commit the lock")]
    PypiNotLocked,
    #[error(transparent)]
    Pypi(#[from] PypiError),
    #[error("--locked: file {name} is not in the lock file or its url/sha256 changed; run `bundler lock` and commit the lock")]
    FileNotLocked { name: String },
    #[error(transparent)]
    File(#[from] FileError),
    #[error("--locked: the manifest's nltk: section changed since the lock was written; run `bundler lock` and commit the lock")]
    NltkNotLocked,
    #[error(transparent)]
    Nltk(#[from] NltkError),
    #[error("--locked: the manifest's charts: section changed since the lock was written; run `bundler lock` and commit the lock")]
    ChartsNotLocked,
    #[error(transparent)]
    Helm(#[from] HelmError),
    #[error("--locked: the manifest's Hugging Face models (`models: - hf:`) changed since the lock was written; run `bundler lock` and commit the lock")]
    HfNotLocked,
    #[error(transparent)]
    Hf(#[from] HfError),
}

/// A section's identity in the lock (`apt_request`, `pypi_request`, …): the sha256 of its specs
/// as JSON, `None` for an empty section. A lock keeps its entries while this is unchanged, so the
/// serialization must not change for the same manifest (new fields skip their default).
pub fn request_digest<S: serde::Serialize>(specs: &[S]) -> Option<crate::format::Digest> {
    (!specs.is_empty()).then(|| crate::format::Digest::sha256_of(&serde_json::to_vec(specs).expect("manifest specs serialize")))
}

/// Whether a lock entry still describes what the manifest asks for.
fn stale(spec: &ImageSpec, lock: &ImageLock) -> Option<String> {
    let origin_ok = match &spec.origin {
        ImageOrigin::Registry => !lock.source.starts_with("oci-layout:") && !lock.source.starts_with("docker-archive:"),
        ImageOrigin::OciLayout(_) => lock.source.starts_with("oci-layout:"),
        ImageOrigin::DockerArchive(_) => lock.source.starts_with("docker-archive:"),
    };
    if !origin_ok {
        return Some(format!("source changed from {}", lock.source));
    }
    if let Some(d) = &spec.reference.digest {
        if *d != lock.sha256 {
            return Some(format!("manifest pins {d}, lock has {}", lock.sha256));
        }
    }
    if !lock.platforms.is_empty() {
        let key_matches = |key: &str, w: &str| key == w || key.starts_with(&format!("{w}/"));
        let real: Vec<&str> = lock.platforms.iter().map(|p| p.platform.as_str()).filter(|k| *k != "unknown/unknown").collect();
        if let Some(w) = spec.platforms.iter().find(|w| !real.iter().any(|k| key_matches(k, w))) {
            return Some(format!("platform {w} is not locked"));
        }
        if let Some(k) = real.iter().find(|k| !spec.platforms.iter().any(|w| key_matches(k, w))) {
            return Some(format!("locked platform {k} is no longer requested"));
        }
    }
    if !spec.signatures && !lock.accessories.is_empty() {
        return Some("signatures: false but the lock carries signatures".into());
    }
    None
}

/// What resolving read that fetching needs again: verified apt and NLTK indexes.
pub struct Loaded2 {
    pub apt: Option<Loaded>,
    pub nltk: Option<nltk::Loaded>,
}

/// The sources one run needs.
pub struct Sources {
    pub images: Arc<ImageSource>,
    pub apt: AptSource,
    pub pypi: PypiSource,
    pub files: FileSource,
    pub nltk: NltkSource,
    pub helm: HelmSource,
    pub hf: HfSource,
}

impl Sources {
    pub fn new(manifest: &Manifest, cache: Arc<crate::cache::BlobCache>) -> Sources {
        let images = Arc::new(ImageSource::new(manifest.registries.clone(), cache.clone()));
        Sources {
            helm: HelmSource::new(cache.clone(), images.clone()),
            images,
            apt: AptSource::new(cache.clone()),
            pypi: PypiSource::new(cache.clone()),
            files: FileSource::new(cache.clone()),
            nltk: NltkSource::new(cache.clone()),
            hf: HfSource::new(cache),
        }
    }
}

/// Images found in charts whose manifest entry says `add_images: true` (dependencies count
/// as part of the chart that pulled them in), as image specs with the manifest's platforms.
pub fn chart_images(manifest: &Manifest, charts: &[crate::format::lock::ChartLock]) -> Vec<ImageSpec> {
    let root = |c: &crate::format::lock::ChartLock| {
        let mut cur = c;
        for _ in 0..16 {
            match cur.dependency_of.as_ref().and_then(|p| charts.iter().find(|x| format!("{}-{}", x.name, x.version) == *p)) {
                Some(parent) => cur = parent,
                None => break,
            }
        }
        cur.name.clone()
    };
    let mut out: Vec<ImageSpec> = Vec::new();
    for c in charts {
        let root = root(c);
        if !manifest.charts.iter().any(|s| s.name == root && s.add_images) {
            continue;
        }
        for i in &c.images {
            let Ok(reference) = crate::reference::ImageRef::parse(i) else { continue };
            let name = reference.to_string();
            if manifest.images.iter().chain(&out).any(|s| s.reference.to_string() == name) {
                continue;
            }
            out.push(ImageSpec {
                reference,
                platforms: manifest.platforms.clone(),
                signatures: false,
                origin: ImageOrigin::Registry,
                layout_ref: None,
                origin_label: None,
                file: format!("chart {}-{}", c.name, c.version),
                line: 0,
            });
        }
    }
    out
}

/// Resolve every artifact. `existing` entries are reused when they still match, unless
/// `refresh` (what `bundler lock` does). Returns the lock, whether it changed, and the apt
/// archives' verified indexes (needed again to bundle the debs).
pub async fn resolve(manifest: &mut Manifest, existing: Option<&LockFile>, locked: bool, refresh: bool, sources: &Sources) -> Result<(LockFile, bool, Loaded2), PlanError> {
    // Charts first: with `add_images` the images they reference join the manifest's.
    let helm_request = request_digest(&manifest.charts);
    let charts = match &helm_request {
        None => Vec::new(),
        Some(want) => match existing.filter(|l| l.helm_request.as_ref() == Some(want) && !l.charts.is_empty() && !refresh) {
            Some(l) => l.charts.clone(),
            None if locked => return Err(PlanError::ChartsNotLocked),
            None => {
                tracing::info!("resolving {} chart(s)", manifest.charts.len());
                sources.helm.lock(&manifest.charts, &manifest.platforms).await?
            }
        },
    };
    let extra = chart_images(manifest, &charts);
    manifest.images.extend(extra);
    let manifest = &*manifest;
    let source = &sources.images;
    let mut images = Vec::with_capacity(manifest.images.len());
    for spec in &manifest.images {
        let name = spec.reference.to_string();
        let prior = existing.and_then(|l| l.image(&name));
        let why = match prior {
            None => Some("not in the lock".to_string()),
            Some(p) => stale(spec, p),
        };
        match (prior, why) {
            (Some(p), None) if !refresh => images.push(p.clone()),
            (_, why) if locked => {
                return Err(PlanError::NotLocked { image: name, file: spec.file.clone(), line: spec.line, why: why.unwrap_or_else(|| "refresh requested".into()) })
            }
            _ => {
                tracing::info!("resolving {name}");
                images.push(source.resolve(spec).await?);
            }
        }
    }
    images.sort_by(|a, b| a.name.cmp(&b.name));

    // The closure is one answer to the whole apt: section; reuse it while that is unchanged.
    let apt_request = request_digest(&manifest.apt);
    let (debs, loaded) = match (&apt_request, existing) {
        (None, _) => (Vec::new(), None),
        (Some(want), prior) => {
            tracing::info!("reading {} apt source(s)", manifest.apt.len());
            let loaded = sources.apt.load(&manifest.apt).await?;
            let wants_debs = manifest.apt.iter().any(|s| !s.packages.is_empty());
            let fresh = prior.filter(|l| l.apt_request.as_ref() == Some(want) && (!l.debs.is_empty() || !wants_debs) && !refresh);
            let debs = match fresh {
                Some(l) => match sources.apt.drifted(&loaded, &manifest.apt, &l.debs) {
                    // Without --locked the lock is a starting point: an archive that moved on
                    // (a point release replaced a version) is resolved again.
                    Some(e) if !locked => {
                        tracing::warn!("{e}: resolving the apt closure again");
                        sources.apt.resolve(&loaded, &manifest.apt)?
                    }
                    _ => l.debs.clone(),
                },
                None if locked => return Err(PlanError::AptNotLocked),
                None => sources.apt.resolve(&loaded, &manifest.apt)?,
            };
            (debs, Some(loaded))
        }
    };
    // Same rule for the wheel set: one answer to the whole pypi: section.
    let pypi_request = request_digest(&manifest.pypi);
    let wheels = match (&pypi_request, existing) {
        (None, _) => Vec::new(),
        (Some(want), prior) => match prior.filter(|l| l.pypi_request.as_ref() == Some(want) && !l.wheels.is_empty() && !refresh) {
            Some(l) => l.wheels.clone(),
            None if locked => return Err(PlanError::PypiNotLocked),
            None => {
                tracing::info!("resolving {} pypi requirement set(s)", manifest.pypi.len());
                sources.pypi.resolve(&manifest.pypi).await?
            }
        },
    };
    // Files: a lock entry with the same name and url (and the manifest's sha256, if it gives one)
    // is reused; a sha256 learnt from a checksum list or on first use stays pinned by the lock.
    let mut files = Vec::with_capacity(manifest.raw_files.len());
    for spec in &manifest.raw_files {
        let prior = existing.and_then(|l| l.files.iter().find(|f| f.name == spec.name && f.source == spec.url && spec.pin.sha256().is_none_or(|d| *d == f.sha256)));
        match prior {
            Some(p) if !refresh => files.push(p.clone()),
            None if locked => return Err(PlanError::FileNotLocked { name: spec.name.clone() }),
            _ => files.push(sources.files.lock(spec, &crate::progress::Progress::hidden()).await?),
        }
    }
    files.sort();
    // NLTK: the index is read on every run (its attributes travel in the bundle).
    let nltk_request = request_digest(&manifest.nltk);
    let (nltk, nltk_loaded) = match &nltk_request {
        None => (Vec::new(), None),
        Some(want) => {
            let loaded = sources.nltk.load(&manifest.nltk).await?;
            let locks = match existing.filter(|l| l.nltk_request.as_ref() == Some(want) && !l.nltk.is_empty() && !refresh) {
                Some(l) => l.nltk.clone(),
                None if locked => return Err(PlanError::NltkNotLocked),
                None => sources.nltk.lock(&manifest.nltk, &loaded).await?,
            };
            (locks, Some(loaded))
        }
    };
    // Hugging Face: one answer (commits and files) to all `hf:` entries; the lock holds all
    // the bundle needs, so nothing upstream is read while it still matches.
    let hf_request = request_digest(&manifest.hf);
    let models = match &hf_request {
        None => Vec::new(),
        Some(want) => match existing.filter(|l| l.hf_request.as_ref() == Some(want) && !l.models.is_empty() && !refresh) {
            Some(l) => l.models.clone(),
            None if locked => return Err(PlanError::HfNotLocked),
            None => sources.hf.lock(&manifest.hf, &crate::progress::Progress::hidden()).await?,
        },
    };
    let lock = LockFile { version: LOCK_VERSION, apt_request, images, debs, pypi_request, wheels, files, nltk_request, nltk, helm_request, charts, hf_request, models };
    let changed = existing != Some(&lock);
    Ok((lock, changed, Loaded2 { apt: loaded, nltk: nltk_loaded }))
}

/// The spec for a lock entry's image.
pub fn spec_for<'a>(manifest: &'a Manifest, lock: &ImageLock) -> Option<&'a ImageSpec> {
    manifest.images.iter().find(|s| s.reference.to_string() == lock.name)
}
