use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cache::BlobCache;
use crate::format::lock::LockFile;
use crate::manifest::Manifest;
use crate::plan;

pub async fn run(manifests: &[PathBuf], lock_path: &Path, cache_dir: &Path) -> anyhow::Result<LockFile> {
    let mut manifest = Manifest::load(manifests)?;
    let cache = Arc::new(BlobCache::open(cache_dir)?);
    let sources = plan::Sources::new(&manifest, cache);
    let existing = LockFile::load(lock_path)?;
    let (lock, _, _) = plan::resolve(&mut manifest, existing.as_ref(), false, true, &sources).await?;
    lock.save(lock_path)?;
    for i in &lock.images {
        eprintln!("locked {} -> {} ({} platform(s), {} accessories)", i.name, i.sha256, i.platforms.len(), i.accessories.len());
    }
    if !lock.debs.is_empty() {
        let bytes: u64 = lock.debs.iter().map(|d| d.size).sum();
        eprintln!("locked {} debs ({bytes} bytes) for the apt closure", lock.debs.len());
    }
    if !lock.wheels.is_empty() {
        let bytes: u64 = lock.wheels.iter().map(|w| w.size).sum();
        eprintln!("locked {} python files ({bytes} bytes) for the pypi requirements", lock.wheels.len());
    }
    for n in &lock.nltk {
        eprintln!("locked nltk {}/{} -> {} ({} bytes)", n.subdir, n.name, n.sha256, n.size);
    }
    for c in &lock.charts {
        let from = c.dependency_of.as_ref().map(|p| format!(", dependency of {p}")).unwrap_or_default();
        eprintln!("locked chart {} {} -> {} ({} bytes{from})", c.name, c.version, c.sha256, c.size);
        if !c.images.is_empty() {
            eprintln!("  images it references: {}", c.images.join(" "));
        }
    }
    for m in &lock.models {
        eprintln!("locked hf {}@{} ({}) {} -> {} ({} bytes{})", m.repo, m.revision, m.commit, m.path, m.sha256, m.size, if m.lfs { ", lfs" } else { "" });
    }
    for f in &lock.files {
        eprintln!("locked file {} -> {} ({} bytes)", f.name, f.sha256, f.size);
    }
    Ok(lock)
}
