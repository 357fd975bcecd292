//! What a `create` run will download and write, worked out from the lock (every size is pinned),
//! the image manifests and the cache before anything large is fetched: `--dry-run` prints it,
//! and a run refuses up front when the cache's or the bundle's filesystem lacks the room.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;

use crate::cache::BlobCache;
use crate::ecosystems::Registry;
use crate::format::lock::LockFile;
use crate::format::Digest;
use crate::manifest::Manifest;
use crate::term::bytes;

/// One kind of artifact (a manifest section) in the plan.
#[derive(Debug, Default, Serialize)]
pub struct KindPlan {
    pub kind: &'static str,
    /// Files it pins (layers, debs, wheels, …), each counted once across kinds.
    pub files: usize,
    pub bytes: u64,
    /// Already in the cache (checked again by digest when bundled).
    pub cached: usize,
    /// To download: the files not cached, less what a killed run left to resume.
    pub download_bytes: u64,
    /// Held in partial files from an earlier run; only the rest is asked for.
    pub resume_bytes: u64,
    /// Files the far side already holds (`--have`): not carried in the bundle.
    pub left_out: usize,
    pub left_out_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct Plan {
    pub name: String,
    pub kinds: Vec<KindPlan>,
    pub download_bytes: u64,
    /// At most this many bytes written to the bundle (the carried files, tar headers and all,
    /// before compression).
    pub write_bytes: u64,
    pub cache: String,
    pub cache_free: Option<u64>,
    pub out: String,
    pub out_free: Option<u64>,
    /// The cache and the bundle share a filesystem: both figures come out of one free space.
    pub same_filesystem: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SpaceError {
    #[error("not enough disk space: this run downloads {} into the cache {cache} and writes up to {} to {out}, {} in all, but their filesystem has {} free; free some space, or point --cache or --out at a larger disk (--no-space-check to try anyway)", bytes(*download), bytes(*write), bytes(download + write), bytes(*free))]
    Shared { download: u64, cache: String, write: u64, out: String, free: u64 },
    #[error("not enough disk space on {path}: {what} needs {} but its filesystem has {} free; free some space or point {flag} at a larger disk (--no-space-check to try anyway)", bytes(*need), bytes(*free))]
    One { path: String, what: &'static str, need: u64, free: u64, flag: &'static str },
}

/// Per-file overhead of the bundle's tar: a header block and padding.
const TAR_OVERHEAD: u64 = 1024;

/// Work the plan out: image manifests are read from the cache or fetched (small documents);
/// no layer or package is downloaded.
pub async fn plan(manifest: &Manifest, lock: &LockFile, registry: &Registry, cache: &BlobCache, have: &BTreeSet<Digest>, out: &Path) -> anyhow::Result<Plan> {
    let mut sections: Vec<(&'static str, Vec<(Digest, u64)>)> = Vec::new();
    let mut images = Vec::new();
    for l in &lock.images {
        let spec = crate::plan::spec_for(manifest, l).expect("lock built from this manifest");
        // An image whose manifests cannot be read now fails in the fetch, named with the rest.
        match registry.images.payload(spec, l).await {
            Ok(files) => images.extend(files),
            Err(e) => tracing::debug!("planning {}: {e}", l.name),
        }
    }
    if !images.is_empty() {
        sections.push(("images", images));
    }
    sections.extend(registry.payload(manifest, lock));
    let mut seen = BTreeSet::new();
    let mut kinds = Vec::new();
    for (kind, files) in sections {
        let mut k = KindPlan { kind, ..Default::default() };
        for (d, size) in files {
            if !seen.insert(d.clone()) {
                continue;
            }
            k.files += 1;
            k.bytes += size;
            if cache.has(&d, Some(size)) {
                k.cached += 1;
            } else {
                let held = cache.partial_len(&d, size);
                k.resume_bytes += held;
                k.download_bytes += size - held;
            }
            if have.contains(&d) {
                k.left_out += 1;
                k.left_out_bytes += size;
            }
        }
        kinds.push(k);
    }
    let download_bytes = kinds.iter().map(|k| k.download_bytes).sum();
    let write_bytes = kinds.iter().map(|k| k.bytes - k.left_out_bytes + (k.files - k.left_out) as u64 * TAR_OVERHEAD).sum();
    let out_dir = out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Ok(Plan {
        name: manifest.name.clone(),
        kinds,
        download_bytes,
        write_bytes,
        cache: cache.root().display().to_string(),
        cache_free: fs2::available_space(cache.root()).ok(),
        out: out.display().to_string(),
        out_free: fs2::available_space(out_dir).ok(),
        same_filesystem: same_filesystem(cache.root(), out_dir),
    })
}

fn same_filesystem(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        _ => false,
    }
}

impl Plan {
    /// Refuse when the filesystems cannot hold what this run downloads and writes.
    pub fn check_space(&self) -> Result<(), SpaceError> {
        let (Some(cache_free), Some(out_free)) = (self.cache_free, self.out_free) else { return Ok(()) };
        if self.same_filesystem {
            if self.download_bytes + self.write_bytes > cache_free {
                return Err(SpaceError::Shared { download: self.download_bytes, cache: self.cache.clone(), write: self.write_bytes, out: self.out.clone(), free: cache_free });
            }
            return Ok(());
        }
        if self.download_bytes > cache_free {
            return Err(SpaceError::One { path: self.cache.clone(), what: "downloading into the cache", need: self.download_bytes, free: cache_free, flag: "--cache" });
        }
        if self.write_bytes > out_free {
            return Err(SpaceError::One { path: self.out.clone(), what: "writing the bundle", need: self.write_bytes, free: out_free, flag: "--out" });
        }
        Ok(())
    }

    /// The one line said before fetching.
    pub fn headline(&self) -> String {
        let files: usize = self.kinds.iter().map(|k| k.files).sum();
        let cached: usize = self.kinds.iter().map(|k| k.cached).sum();
        format!(
            "{files} files, {}: {cached} cached, {} to download into {}; up to {} to write to {}",
            bytes(self.kinds.iter().map(|k| k.bytes).sum()),
            bytes(self.download_bytes),
            self.cache,
            bytes(self.write_bytes),
            self.out
        )
    }

    /// `create --dry-run`'s report.
    pub fn report(&self) -> String {
        let mut out = format!("plan for bundle {} (nothing fetched):\n", self.name);
        for k in &self.kinds {
            out.push_str(&format!("  {:<7} {:>6} files {:>11}: {} cached, {} to download", k.kind, k.files, bytes(k.bytes), k.cached, bytes(k.download_bytes)));
            if k.resume_bytes > 0 {
                out.push_str(&format!(" ({} kept from an interrupted run)", bytes(k.resume_bytes)));
            }
            if k.left_out > 0 {
                out.push_str(&format!("; {} ({}) left out, the far side has them (--have)", k.left_out, bytes(k.left_out_bytes)));
            }
            out.push('\n');
        }
        let free = |f: Option<u64>| f.map(|f| format!("{} free", bytes(f))).unwrap_or_else(|| "free space unknown".into());
        out.push_str(&format!("  download {} into {} ({})\n", bytes(self.download_bytes), self.cache, free(self.cache_free)));
        out.push_str(&format!(
            "  write up to {} to {} ({}{})\n",
            bytes(self.write_bytes),
            self.out,
            free(self.out_free),
            if self.same_filesystem { ", the same filesystem" } else { "" }
        ));
        out.push_str(match self.check_space() {
            Ok(()) => "  disk space: enough\n",
            Err(_) => "  disk space: NOT enough (a real run refuses)\n",
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(download: u64, write: u64, cache_free: u64, out_free: u64, same: bool) -> Plan {
        Plan {
            name: "t".into(),
            kinds: Vec::new(),
            download_bytes: download,
            write_bytes: write,
            cache: "/c".into(),
            cache_free: Some(cache_free),
            out: "/o/x.bundle".into(),
            out_free: Some(out_free),
            same_filesystem: same,
        }
    }

    #[test]
    fn room_is_counted_once_per_filesystem() {
        assert!(plan(10, 10, 20, 20, true).check_space().is_ok());
        let e = plan(10, 11, 20, 20, true).check_space().unwrap_err().to_string();
        assert!(e.contains("21 bytes in all") && e.contains("20 bytes free") && e.contains("/c") && e.contains("/o/x.bundle"), "{e}");
        assert!(plan(10, 11, 10, 11, false).check_space().is_ok());
        let e = plan(11, 1, 10, 100, false).check_space().unwrap_err().to_string();
        assert!(e.contains("/c") && e.contains("--cache") && e.contains("11 bytes"), "{e}");
        let e = plan(1, 101, 10, 100, false).check_space().unwrap_err().to_string();
        assert!(e.contains("/o/x.bundle") && e.contains("--out") && e.contains("101 bytes"), "{e}");
    }
}
