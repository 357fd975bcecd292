//! Turning a manifest into a lock: reuse lock entries that still match the manifest, resolve
//! the rest (or refuse under `--locked`).

use crate::ecosystems::{Mode, Registry};
use crate::format::lock::{ImageLock, LockFile, LOCK_VERSION};
use crate::manifest::{ImageOrigin, ImageSpec, Manifest};
use crate::sources::oci::ImageError;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// `why` says what the lock lacks, per section: an image or file by name, or a whole section.
    #[error("--locked: {why}; run `bundler lock` and commit the lock")]
    NotLocked { section: &'static str, why: String },
    #[error(transparent)]
    Image(#[from] ImageError),
    /// An ecosystem's own error, as it words it.
    #[error(transparent)]
    Source(Box<dyn std::error::Error + Send + Sync>),
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

/// Resolve every artifact. `existing` entries are reused when they still match, unless
/// `refresh` (what `bundler lock` does). Returns these manifests' lock (the caller merges it
/// into a shared lock file); `registry` keeps what its sections read that fetching needs again.
pub async fn resolve(manifest: &mut Manifest, existing: Option<&LockFile>, locked: bool, refresh: bool, registry: &Registry) -> Result<LockFile, PlanError> {
    let mode = Mode { locked, refresh };
    let mut lock = LockFile { version: LOCK_VERSION, ..LockFile::default() };
    // Charts first: with `add_images` the images they reference join the manifest's.
    registry.plan(manifest, existing, mode, &mut lock, true).await?;
    let source = &registry.images;
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
                let why = why.unwrap_or_else(|| "refresh requested".into());
                return Err(PlanError::NotLocked {
                    section: "images",
                    why: format!("{name} ({} line {}) is not in the lock file or its entry is stale ({why})", spec.file, spec.line),
                });
            }
            _ => {
                tracing::info!("resolving {name}");
                images.push(source.resolve(spec).await?);
            }
        }
    }
    images.sort_by(|a, b| a.name.cmp(&b.name));
    lock.images = images;
    registry.plan(manifest, existing, mode, &mut lock, false).await?;
    Ok(lock)
}

/// The spec for a lock entry's image.
pub fn spec_for<'a>(manifest: &'a Manifest, lock: &ImageLock) -> Option<&'a ImageSpec> {
    manifest.images.iter().find(|s| s.reference.to_string() == lock.name)
}
