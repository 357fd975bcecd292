use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cache::BlobCache;
use crate::ecosystems::{self, Registry};
use crate::format::lock::LockFile;
use crate::manifest::Manifest;
use crate::plan;

pub async fn run(manifests: &[PathBuf], lock_path: &Path, cache_dir: &Path, prune: bool) -> anyhow::Result<LockFile> {
    let mut manifest = Manifest::load(manifests)?;
    let cache = Arc::new(BlobCache::open(cache_dir)?);
    let registry = Registry::new(&manifest, cache);
    let existing = LockFile::load(lock_path)?;
    let lock = plan::resolve(&mut manifest, existing.as_ref(), false, true, &registry).await?;
    for i in &lock.images {
        let platforms = if i.platforms.is_empty() { "a single-platform manifest".to_string() } else { format!("{} platform(s)", i.platforms.len()) };
        eprintln!("locked {} -> {} ({platforms}, {} accessories)", i.name, i.sha256, i.accessories.len());
    }
    for line in ecosystems::describe(&lock) {
        eprintln!("{line}");
    }
    let mut shared = lock.clone();
    if let (Some(old), false) = (&existing, prune) {
        for (section, n) in shared.keep_sections_of(old) {
            eprintln!("kept {n} {section} pin(s) of {} that these manifests do not name (`bundler lock --prune` drops them)", lock_path.display());
        }
    }
    shared.save(lock_path)?;
    Ok(lock)
}
