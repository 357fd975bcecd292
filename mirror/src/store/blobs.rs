//! Blobs as files named by digest. Files only ever appear by rename of a complete, fsynced
//! temp file, so a reader sees either nothing or the whole blob.

use std::fs::File;
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};

use feas_format::{Digest, HashWriter};

use super::paths::Paths;
use super::StoreError;

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// fsync a directory so a rename into it survives a power cut.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(io_at(dir))
}

/// What `BlobStore::list` finds on disk.
#[derive(Debug, Default)]
pub struct Listing {
    pub blobs: Vec<(Digest, u64)>,
    /// Entries under blobs/ not named by a digest.
    pub stray: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct BlobStore {
    paths: Paths,
}

impl BlobStore {
    pub fn new(paths: Paths) -> BlobStore {
        BlobStore { paths }
    }

    /// The blob's file, for streaming it out (the server opens it with tokio).
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.paths.blob(d)
    }

    pub fn exists(&self, d: &Digest) -> bool {
        self.paths.blob(d).is_file()
    }

    pub fn size(&self, d: &Digest) -> Option<u64> {
        std::fs::metadata(self.paths.blob(d)).ok().filter(|m| m.is_file()).map(|m| m.len())
    }

    /// `None` when the store does not hold it.
    pub fn open(&self, d: &Digest) -> Result<Option<File>, StoreError> {
        let p = self.paths.blob(d);
        match File::open(&p) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_at(&p)(e)),
        }
    }

    /// Read a small document (a manifest) whole, refusing anything over `max` bytes so a
    /// hostile graph cannot make us buffer a layer.
    pub fn read_small(path: &Path, max: u64) -> Result<Vec<u8>, StoreError> {
        let f = File::open(path).map_err(io_at(path))?;
        let mut v = Vec::new();
        f.take(max + 1).read_to_end(&mut v).map_err(io_at(path))?;
        if v.len() as u64 > max {
            return Err(StoreError::TooLarge { path: path.to_path_buf(), max });
        }
        Ok(v)
    }

    /// Move a verified staged file into place. Callers sync the blob dirs once afterwards.
    pub fn promote(&self, staged: &Path, d: &Digest) -> Result<(), StoreError> {
        let dest = self.paths.blob(d);
        std::fs::rename(staged, &dest).map_err(io_at(&dest))
    }

    pub fn sync_dirs(&self) -> Result<(), StoreError> {
        self.paths.blob_dirs().iter().try_for_each(|d| sync_dir(d))
    }

    /// Atomic write of one blob from a stream: temp file in STORE/tmp → hash while writing →
    /// fsync → check digest → rename → fsync dir. The temp file is removed on any error.
    pub fn write(&self, d: &Digest, data: &mut dyn Read) -> Result<u64, StoreError> {
        let tmp_dir = self.paths.tmp();
        let tmp = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(io_at(&tmp_dir))?;
        let dest = self.paths.blob(d);
        let mut w = HashWriter::new(BufWriter::with_capacity(1 << 20, tmp), d.algorithm());
        io::copy(data, &mut w).map_err(io_at(&dest))?;
        let (buf, actual, n) = w.into_parts();
        let tmp = buf.into_inner().map_err(|e| io_at(&dest)(e.into_error()))?;
        if &actual != d {
            return Err(StoreError::DigestMismatch { expected: d.clone(), actual });
        }
        tmp.as_file().sync_all().map_err(io_at(&dest))?;
        tmp.persist(&dest).map_err(|e| io_at(&dest)(e.error))?;
        sync_dir(dest.parent().expect("blob path has a parent"))?;
        Ok(n)
    }

    /// Every blob file on disk with its size (what `verify` re-hashes). Stray names that are
    /// not digests are reported as such rather than skipped silently.
    pub fn list(&self) -> Result<Listing, StoreError> {
        let (mut found, mut stray) = (Vec::new(), Vec::new());
        for dir in self.paths.blob_dirs() {
            let alg = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            for e in std::fs::read_dir(&dir).map_err(io_at(&dir))? {
                let e = e.map_err(io_at(&dir))?;
                let name = e.file_name().to_string_lossy().into_owned();
                let meta = e.metadata().map_err(io_at(&e.path()))?;
                match format!("{alg}:{name}").parse::<Digest>() {
                    Ok(d) if meta.is_file() => found.push((d, meta.len())),
                    _ => stray.push(e.path()),
                }
            }
        }
        found.sort();
        Ok(Listing { blobs: found, stray })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_checks_digest_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let d = Digest::sha256_of(b"hello");
        assert!(!store.blobs.exists(&d));
        assert_eq!(store.blobs.write(&d, &mut &b"hello"[..]).unwrap(), 5);
        assert_eq!(store.blobs.size(&d), Some(5));
        let wrong = Digest::sha256_of(b"other");
        assert!(matches!(store.blobs.write(&wrong, &mut &b"hello"[..]), Err(StoreError::DigestMismatch { .. })));
        assert!(!store.blobs.exists(&wrong));
        assert_eq!(std::fs::read_dir(store.paths.tmp()).unwrap().count(), 0, "temp file left behind");
        let listing = store.blobs.list().unwrap();
        assert_eq!(listing.blobs, vec![(d, 5)]);
        assert!(listing.stray.is_empty());
    }
}
