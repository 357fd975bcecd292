use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cache::BlobCache;
use crate::format::lock::LockFile;
use crate::manifest::Manifest;
use crate::plan;
use crate::sources::oci::ImageSource;

pub async fn run(manifests: &[PathBuf], lock_path: &Path, cache_dir: &Path) -> anyhow::Result<LockFile> {
    let manifest = Manifest::load(manifests)?;
    let cache = Arc::new(BlobCache::open(cache_dir)?);
    let source = Arc::new(ImageSource::new(manifest.registries.clone(), cache));
    let existing = LockFile::load(lock_path)?;
    let (lock, _) = plan::resolve(&manifest, existing.as_ref(), false, true, &source).await?;
    lock.save(lock_path)?;
    for i in &lock.images {
        eprintln!("locked {} -> {} ({} platform(s), {} accessories)", i.name, i.sha256, i.platforms.len(), i.accessories.len());
    }
    Ok(lock)
}
