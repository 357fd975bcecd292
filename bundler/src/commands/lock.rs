use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cache::BlobCache;
use crate::ecosystems::{self, Registry};
use crate::format::lock::LockFile;
use crate::manifest::Manifest;
use crate::plan;

pub async fn run(manifests: &[PathBuf], lock_path: &Path, cache_dir: &Path) -> anyhow::Result<LockFile> {
    let mut manifest = Manifest::load(manifests)?;
    let cache = Arc::new(BlobCache::open(cache_dir)?);
    let registry = Registry::new(&manifest, cache);
    let existing = LockFile::load(lock_path)?;
    let (lock, _) = plan::resolve(&mut manifest, existing.as_ref(), false, true, &registry).await?;
    lock.save(lock_path)?;
    for i in &lock.images {
        eprintln!("locked {} -> {} ({} platform(s), {} accessories)", i.name, i.sha256, i.platforms.len(), i.accessories.len());
    }
    for line in ecosystems::describe(&lock) {
        eprintln!("{line}");
    }
    Ok(lock)
}
