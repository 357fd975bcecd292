//! Blobs as files named by digest. Files only ever appear by rename of a complete, fsynced
//! temp file, so a reader sees either nothing or the whole blob. New blobs go to their fan
//! directory; those an earlier release left flat are read where they are (see `Paths`).

use std::collections::BTreeSet;
use std::fs::{DirEntry, File, ReadDir};
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};

use feas_format::{Algorithm, Digest, HashWriter};

use super::paths::{Paths, ALGORITHMS};
use super::StoreError;

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// fsync a directory so a rename into it survives a power cut.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(io_at(dir))
}

/// A file `BlobStore::walk` finds under blobs/.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A file where the store puts (or an earlier release put) the blob of this digest.
    Blob { digest: Digest, path: PathBuf },
    /// Anything else: a name that is not a digest, a file in the wrong fan directory, a link.
    Stray(PathBuf),
}

/// Create `d` (a fan directory) unless it exists; a new one is made durable in its parent
/// before anything is renamed into it. `Store::open` fsyncs the parents too, for a directory
/// a crashed process created but did not sync.
fn ensure_dir(dir: &Path) -> Result<(), StoreError> {
    match std::fs::create_dir(dir) {
        Ok(()) => sync_dir(dir.parent().expect("fan dir has a parent")).inspect_err(|_| {
            // Unsynced, it must not be taken for durable by the next write.
            let _ = std::fs::remove_dir(dir);
        }),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_at(dir)(e)),
    }
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

    /// Move verified, fsynced staged files into place, then fsync each directory that gained
    /// one, once.
    pub fn promote_all<'d>(&self, staged: impl IntoIterator<Item = (PathBuf, &'d Digest)>) -> Result<(), StoreError> {
        let mut dirs = BTreeSet::new();
        for (from, d) in staged {
            let dir = self.paths.fan_dir(d);
            if !dirs.contains(&dir) {
                ensure_dir(&dir)?;
                dirs.insert(dir);
            }
            let dest = self.paths.new_blob(d);
            std::fs::rename(&from, &dest).map_err(io_at(&dest))?;
        }
        dirs.iter().try_for_each(|d| sync_dir(d))
    }

    /// fsync the directories `digests` were deleted from or moved out of: their fan
    /// directories and, for flat blobs of earlier releases, the algorithm directories.
    pub fn sync_dirs_of<'d>(&self, digests: impl IntoIterator<Item = &'d Digest>) -> Result<(), StoreError> {
        let fans: BTreeSet<PathBuf> = digests.into_iter().map(|d| self.paths.fan_dir(d)).filter(|d| d.is_dir()).collect();
        fans.iter().chain(&self.paths.blob_dirs()).try_for_each(|d| sync_dir(d))
    }

    /// Atomic write of one blob from a stream: temp file in STORE/tmp → hash while writing →
    /// fsync → check digest → rename → fsync dir. The temp file is removed on any error.
    pub fn write(&self, d: &Digest, data: &mut dyn Read) -> Result<u64, StoreError> {
        let tmp_dir = self.paths.tmp();
        let tmp = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(io_at(&tmp_dir))?;
        let dest = self.paths.new_blob(d);
        let mut w = HashWriter::new(BufWriter::with_capacity(1 << 20, tmp), d.algorithm());
        io::copy(data, &mut w).map_err(io_at(&dest))?;
        let (buf, actual, n) = w.into_parts();
        let tmp = buf.into_inner().map_err(|e| io_at(&dest)(e.into_error()))?;
        if &actual != d {
            return Err(StoreError::DigestMismatch { expected: d.clone(), actual });
        }
        tmp.as_file().sync_all().map_err(io_at(&dest))?;
        let dir = self.paths.fan_dir(d);
        ensure_dir(&dir)?;
        tmp.persist(&dest).map_err(|e| io_at(&dest)(e.error))?;
        sync_dir(&dir)?;
        Ok(n)
    }

    /// Every file under blobs/, one directory entry at a time (a million blobs are never in
    /// memory at once): blobs in both layouts, and stray names reported rather than skipped.
    pub fn walk(&self) -> Walk {
        let dirs = ALGORITHMS.into_iter().map(|a| (a, self.paths.blob_dir(a))).collect::<Vec<_>>();
        Walk { paths: self.paths.clone(), dirs: dirs.into_iter(), top: None, fan: None }
    }
}

/// The iterator `BlobStore::walk` returns.
pub struct Walk {
    paths: Paths,
    dirs: std::vec::IntoIter<(Algorithm, PathBuf)>,
    /// The algorithm directory being read.
    top: Option<(Algorithm, PathBuf, ReadDir)>,
    /// The fan directory being read, inside it.
    fan: Option<(PathBuf, ReadDir)>,
}

impl Walk {
    /// A blob if the file sits exactly where the store puts its digest (fanned or flat).
    fn classify(&self, alg: Algorithm, e: &DirEntry) -> Result<Found, StoreError> {
        let path = e.path();
        let is_file = e.file_type().map_err(io_at(&path))?.is_file();
        let name = e.file_name();
        match format!("{}:{}", alg.as_str(), name.to_string_lossy()).parse::<Digest>() {
            Ok(digest) if is_file && (path == self.paths.new_blob(&digest) || path == self.paths.flat_blob(&digest)) => Ok(Found::Blob { digest, path }),
            _ => Ok(Found::Stray(path)),
        }
    }
}

impl Iterator for Walk {
    type Item = Result<Found, StoreError>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((dir, rd)) = &mut self.fan {
                let alg = self.top.as_ref().map(|t| t.0).expect("a fan dir is read inside its algorithm's");
                match rd.next() {
                    None => self.fan = None,
                    Some(Err(e)) => return Some(Err(io_at(dir)(e))),
                    Some(Ok(e)) => return Some(self.classify(alg, &e)),
                }
                continue;
            }
            if let Some((alg, dir, rd)) = &mut self.top {
                let alg = *alg;
                match rd.next() {
                    None => self.top = None,
                    Some(Err(e)) => return Some(Err(io_at(dir)(e))),
                    Some(Ok(e)) => {
                        let path = e.path();
                        let is_dir = match e.file_type() {
                            Ok(t) => t.is_dir(),
                            Err(err) => return Some(Err(io_at(&path)(err))),
                        };
                        if !(is_dir && Paths::is_fan_dir(&e.file_name().to_string_lossy())) {
                            return Some(self.classify(alg, &e));
                        }
                        match std::fs::read_dir(&path) {
                            Ok(rd) => self.fan = Some((path, rd)),
                            Err(err) => return Some(Err(io_at(&path)(err))),
                        }
                    }
                }
                continue;
            }
            let (alg, dir) = self.dirs.next()?;
            match std::fs::read_dir(&dir) {
                Ok(rd) => self.top = Some((alg, dir, rd)),
                Err(e) => return Some(Err(io_at(&dir)(e))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs_of(store: &crate::store::Store) -> (Vec<(Digest, PathBuf)>, Vec<PathBuf>) {
        let (mut blobs, mut stray) = (Vec::new(), Vec::new());
        for f in store.blobs.walk() {
            match f.unwrap() {
                Found::Blob { digest, path } => blobs.push((digest, path)),
                Found::Stray(p) => stray.push(p),
            }
        }
        blobs.sort();
        stray.sort();
        (blobs, stray)
    }

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
        assert!(!store.paths.fan_dir(&wrong).exists() || store.paths.fan_dir(&wrong) == store.paths.fan_dir(&d), "a refused write creates no directory");
        assert_eq!(std::fs::read_dir(store.paths.tmp()).unwrap().count(), 0, "temp file left behind");
        assert_eq!(blobs_of(&store), (vec![(d.clone(), store.paths.new_blob(&d))], vec![]));
    }

    #[test]
    fn a_written_blob_lands_in_its_fan_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let d = Digest::sha256_of(b"hello");
        store.blobs.write(&d, &mut &b"hello"[..]).unwrap();
        let want = dir.path().join("blobs/sha256/2c").join(d.hex());
        assert_eq!(std::fs::read(&want).unwrap(), b"hello");
        assert_eq!((store.blobs.path(&d), store.blobs.size(&d)), (want.clone(), Some(5)));
        assert!(store.blobs.exists(&d) && store.blobs.open(&d).unwrap().is_some());
        assert!(!store.paths.flat_blob(&d).exists());
        // Staged files promoted in a batch land there too.
        let staged = dir.path().join("tmp/staged");
        std::fs::write(&staged, b"other").unwrap();
        let o = Digest::sha256_of(b"other");
        store.blobs.promote_all([(staged, &o)]).unwrap();
        assert_eq!(std::fs::read(dir.path().join("blobs/sha256").join(&o.hex()[..2]).join(o.hex())).unwrap(), b"other");
        assert_eq!(blobs_of(&store).0.len(), 2);
    }

    /// A store from an earlier release keeps its blobs at blobs/<alg>/<hex>: still found.
    #[test]
    fn a_flat_blob_of_an_earlier_release_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let (d, long) = (Digest::sha256_of(b"old"), Digest::of(Algorithm::Sha512, b"old"));
        let flat = dir.path().join("blobs/sha256").join(d.hex());
        std::fs::write(&flat, b"old").unwrap();
        std::fs::write(dir.path().join("blobs/sha512").join(long.hex()), b"old").unwrap();
        assert!(store.blobs.exists(&d) && store.blobs.size(&d) == Some(3) && store.blobs.open(&d).unwrap().is_some());
        assert_eq!(store.blobs.path(&d), flat);
        // Strays: a name that is no digest, a blob in the wrong fan directory, a link, a
        // directory that is no fan directory.
        let wrong_fan = dir.path().join("blobs/sha256/00").join(d.hex());
        std::fs::create_dir_all(wrong_fan.parent().unwrap()).unwrap();
        std::fs::write(&wrong_fan, b"old").unwrap();
        let junk = dir.path().join("blobs/sha256/junk");
        std::fs::write(&junk, b"x").unwrap();
        let link = dir.path().join("blobs/sha256").join(Digest::sha256_of(b"l").hex());
        std::os::unix::fs::symlink(&flat, &link).unwrap();
        let not_fan = dir.path().join("blobs/sha256/xyz");
        std::fs::create_dir(&not_fan).unwrap();
        let (blobs, stray) = blobs_of(&store);
        assert_eq!(blobs, vec![(d.clone(), flat), (long.clone(), store.paths.flat_blob(&long))]);
        let mut want = vec![wrong_fan, junk, link, not_fan];
        want.sort();
        assert_eq!(stray, want);
        // Written again, the fanned copy is read first.
        store.blobs.write(&d, &mut &b"old"[..]).unwrap();
        assert_eq!(store.blobs.path(&d), store.paths.new_blob(&d));
    }
}
