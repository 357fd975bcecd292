//! Local content-addressed cache of fetched blobs, so a bundle is written from verified files
//! and a second `create` fetches only what changed upstream.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::format::{Digest, HashWriter};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{what}: expected {expected} ({expected_size:?} bytes) but received {actual} ({actual_size} bytes); the upstream served different bytes than its index promised")]
    Mismatch { what: String, expected: Digest, expected_size: Option<u64>, actual: Digest, actual_size: u64 },
}

pub struct BlobCache {
    root: PathBuf,
}

impl BlobCache {
    /// `$BUNDLER_CACHE`, else `$XDG_CACHE_HOME/feas-bundler`, else `~/.cache/feas-bundler`.
    pub fn default_dir() -> PathBuf {
        if let Some(d) = std::env::var_os("BUNDLER_CACHE") {
            return d.into();
        }
        let base =
            std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache"))).unwrap_or_else(std::env::temp_dir);
        base.join("feas-bundler")
    }

    pub fn open(root: &Path) -> Result<BlobCache, CacheError> {
        for sub in ["blobs/sha256", "blobs/sha512", "tmp"] {
            let p = root.join(sub);
            std::fs::create_dir_all(&p).map_err(|source| CacheError::Io { path: p, source })?;
        }
        Ok(BlobCache { root: root.to_path_buf() })
    }

    pub fn path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs").join(d.algorithm().as_str()).join(d.hex())
    }

    pub fn has(&self, d: &Digest, size: Option<u64>) -> bool {
        match std::fs::metadata(self.path(d)) {
            Ok(m) => size.is_none_or(|s| s == m.len()),
            Err(_) => false,
        }
    }

    pub fn read(&self, d: &Digest) -> Result<Vec<u8>, CacheError> {
        let p = self.path(d);
        std::fs::read(&p).map_err(|source| CacheError::Io { path: p, source })
    }

    pub fn open_blob(&self, d: &Digest) -> Result<std::fs::File, CacheError> {
        let p = self.path(d);
        std::fs::File::open(&p).map_err(|source| CacheError::Io { path: p, source })
    }

    /// A temp file in the cache to stream into; `commit` verifies and moves it in place.
    pub fn temp(&self) -> Result<tempfile::NamedTempFile, CacheError> {
        let dir = self.root.join("tmp");
        tempfile::NamedTempFile::new_in(&dir).map_err(|source| CacheError::Io { path: dir, source })
    }

    /// Move a fully written temp file into place after checking what it hashed to.
    pub fn commit(&self, tmp: tempfile::NamedTempFile, what: &str, expected: &Digest, expected_size: Option<u64>, actual: (Digest, u64)) -> Result<(), CacheError> {
        if actual.0 != *expected || expected_size.is_some_and(|s| s != actual.1) {
            return Err(CacheError::Mismatch { what: what.into(), expected: expected.clone(), expected_size, actual: actual.0, actual_size: actual.1 });
        }
        let dest = self.path(expected);
        tmp.as_file().sync_all().map_err(|source| CacheError::Io { path: dest.clone(), source })?;
        tmp.persist(&dest).map_err(|e| CacheError::Io { path: dest, source: e.error })?;
        Ok(())
    }

    pub fn put_bytes(&self, what: &str, expected: &Digest, data: &[u8]) -> Result<(), CacheError> {
        if self.has(expected, Some(data.len() as u64)) {
            return Ok(());
        }
        let actual = Digest::of(expected.algorithm(), data);
        let mut tmp = self.temp()?;
        tmp.write_all(data).map_err(|source| CacheError::Io { path: tmp.path().into(), source })?;
        self.commit(tmp, what, expected, Some(data.len() as u64), (actual, data.len() as u64))
    }

    /// Store a document we authored (e.g. a platform-filtered index); returns its digest.
    pub fn put_new(&self, data: &[u8]) -> Result<Digest, CacheError> {
        let d = Digest::sha256_of(data);
        self.put_bytes("authored document", &d, data)?;
        Ok(d)
    }

    /// Copy from a local reader, hashing on the way.
    pub fn put_reader(&self, what: &str, expected: &Digest, expected_size: Option<u64>, r: &mut dyn Read) -> Result<(), CacheError> {
        if self.has(expected, expected_size) {
            return Ok(());
        }
        let tmp = self.temp()?;
        let path = tmp.path().to_path_buf();
        let mut w = HashWriter::new(tmp, expected.algorithm());
        io::copy(r, &mut w).map_err(|source| CacheError::Io { path, source })?;
        let (tmp, d, n) = w.into_parts();
        self.commit(tmp, what, expected, expected_size, (d, n))
    }
}
