//! Local content-addressed cache of fetched blobs, so a bundle is written from verified files
//! and a second `create` fetches only what changed upstream. A download in progress lives at
//! `tmp/<algorithm>-<hex>.partial`, so a run killed halfway leaves its bytes to the next run,
//! which hashes them again (nothing is trusted) and asks the upstream only for the rest.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;

use crate::format::{Digest, HashReader, HashWriter, Hasher};
use crate::progress::Progress;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{what}: expected {expected} ({expected_size:?} bytes) but received {actual} ({actual_size} bytes); the upstream served different bytes than its index promised")]
    Mismatch { what: String, expected: Digest, expected_size: Option<u64>, actual: Digest, actual_size: u64 },
}

pub struct BlobCache {
    root: PathBuf,
    /// One download per blob at a time in this process: images sharing a layer fetch it once.
    turns: Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>,
    /// Blobs this process wrote after checking their digest: not hashed again when bundled.
    fresh: Mutex<std::collections::HashSet<Digest>>,
}

/// A blob being written into the cache: `offset` bytes are already there (from an earlier try
/// or run), hashed; `finish` checks the whole and moves it in place.
pub struct Download {
    path: PathBuf,
    out: HashWriter<tokio::io::BufWriter<tokio::fs::File>>,
    algorithm: crate::format::Algorithm,
    /// A private temp file when another process holds this blob's partial file.
    private: Option<tempfile::NamedTempFile>,
    /// Holds the partial file's lock (released on drop, or by the kernel on kill -9).
    _lock: Option<std::fs::File>,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

/// How a response body streamed into a `Download` ended.
pub enum Drained<E> {
    Whole,
    /// The connection broke (a resume may follow).
    Broke(E),
    /// A chunk that would pass the expected size.
    Over(bytes::Bytes),
}

impl Download {
    /// Bytes held so far: where a resumed request starts.
    pub fn offset(&self) -> u64 {
        self.out.size()
    }

    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), CacheError> {
        self.out.write_all(bytes).await.map_err(|source| CacheError::Io { path: self.path.clone(), source })
    }

    /// Writes `body`'s chunks on, counting them into `progress`, until it ends, breaks, or a
    /// chunk would take it past `limit` (that chunk is handed back unwritten).
    pub async fn drain<E>(
        &mut self,
        mut body: impl futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        limit: Option<u64>,
        progress: &Progress,
    ) -> Result<Drained<E>, CacheError> {
        use futures_util::StreamExt;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) if limit.is_some_and(|l| self.offset() + bytes.len() as u64 > l) => return Ok(Drained::Over(bytes)),
                Ok(bytes) => {
                    self.write(&bytes).await?;
                    progress.inc(bytes.len() as u64);
                }
                Err(e) => return Ok(Drained::Broke(e)),
            }
        }
        Ok(Drained::Whole)
    }

    /// The upstream ignored `Range` and sends the whole: drop what is held.
    pub async fn restart(&mut self) -> Result<(), CacheError> {
        let io = |source| CacheError::Io { path: self.path.clone(), source };
        let file = tokio::fs::OpenOptions::new().write(true).truncate(true).open(&self.path).await.map_err(io)?;
        self.out = HashWriter::new(tokio::io::BufWriter::with_capacity(1 << 20, file), self.algorithm);
        Ok(())
    }

    /// Flush, check digest and size, move into the cache. Bytes that hash wrong are deleted,
    /// so the next run does not resume them.
    pub async fn finish(self, cache: &BlobCache, what: &str, expected: &Digest, expected_size: Option<u64>) -> Result<(), CacheError> {
        let Download { path, mut out, private, .. } = self;
        out.flush().await.map_err(|source| CacheError::Io { path: path.clone(), source })?;
        let (file, actual, n) = out.into_parts();
        // No fsync: a blob torn by a power cut is caught when a later run bundles it, which
        // hashes every blob an earlier run cached (and removes one that no longer matches).
        drop(file.into_inner().into_std().await);
        if let Some(tmp) = private {
            return cache.commit(tmp, what, expected, expected_size, (actual, n));
        }
        if let Err(e) = verified(what, expected, expected_size, (actual, n)) {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        let dest = cache.path(expected);
        std::fs::rename(&path, &dest).map_err(|source| CacheError::Io { path: dest, source })?;
        cache.landed(expected);
        Ok(())
    }
}

/// `actual` (digest, size) is what was expected, else the mismatch naming both.
fn verified(what: &str, expected: &Digest, expected_size: Option<u64>, actual: (Digest, u64)) -> Result<(), CacheError> {
    if actual.0 != *expected || expected_size.is_some_and(|s| s != actual.1) {
        return Err(CacheError::Mismatch { what: what.into(), expected: expected.clone(), expected_size, actual: actual.0, actual_size: actual.1 });
    }
    Ok(())
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
        Ok(BlobCache { root: root.to_path_buf(), turns: Mutex::default(), fresh: Mutex::default() })
    }

    /// Start (or resume) downloading `d`; `None` when it is cached, perhaps by another task of
    /// this process that held the turn meanwhile. A partial file left by an earlier run is
    /// hashed again and kept (when shorter than `size`), so only the rest is asked for.
    pub async fn download(&self, d: &Digest, size: Option<u64>) -> Result<Option<Download>, CacheError> {
        let turn = self.turns.lock().expect("turns").entry(d.clone()).or_default().clone();
        let turn = turn.lock_owned().await;
        if self.has(d, size) {
            return Ok(None);
        }
        let path = self.partial_path(d);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CacheError::Io { path, source }
        };
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io(&path))?;
        if file.try_lock().is_err() {
            // Another bundler on this cache is fetching it: fetch privately, no resume.
            let tmp = self.temp()?;
            let out = tokio::fs::File::from_std(tmp.reopen().map_err(io(tmp.path()))?);
            let out = HashWriter::new(tokio::io::BufWriter::with_capacity(1 << 20, out), d.algorithm());
            return Ok(Some(Download { path: tmp.path().to_path_buf(), out, algorithm: d.algorithm(), private: Some(tmp), _lock: None, _turn: turn }));
        }
        let held = file.metadata().map_err(io(&path))?.len();
        let algorithm = d.algorithm();
        let (file, hasher) = if held > 0 && size.is_none_or(|s| held <= s) {
            let p = path.clone();
            tokio::task::spawn_blocking(move || -> io::Result<(std::fs::File, Hasher)> {
                let hasher = HashReader::new(io::BufReader::with_capacity(1 << 20, &file), algorithm).into_hasher()?;
                tracing::info!("{}: resuming after the {} bytes an earlier run fetched", p.display(), hasher.size());
                Ok((file, hasher))
            })
            .await
            .expect("hashing task")
            .map_err(io(&path))?
        } else {
            file.set_len(0).map_err(io(&path))?;
            (file, Hasher::new(algorithm))
        };
        let lock = file.try_clone().map_err(io(&path))?;
        let mut out = tokio::fs::File::from_std(file);
        tokio::io::AsyncSeekExt::seek(&mut out, io::SeekFrom::End(0)).await.map_err(io(&path))?;
        let out = HashWriter::with_hasher(tokio::io::BufWriter::with_capacity(1 << 20, out), hasher);
        Ok(Some(Download { path, out, algorithm, private: None, _lock: Some(lock), _turn: turn }))
    }

    /// Where a download of `d` in progress (or left by a killed run) is kept.
    fn partial_path(&self, d: &Digest) -> PathBuf {
        self.root.join("tmp").join(format!("{}-{}.partial", d.algorithm().as_str(), d.hex()))
    }

    /// Bytes of `d` a killed run left to resume (at most `size`).
    pub fn partial_len(&self, d: &Digest, size: u64) -> u64 {
        std::fs::metadata(self.partial_path(d)).map(|m| m.len()).unwrap_or(0).min(size)
    }

    /// The directory holding the cache (for disk space checks).
    pub fn root(&self) -> &Path {
        &self.root
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

    /// Whether this process wrote `d` after checking it (else it came from an earlier run and
    /// is hashed again before use).
    pub fn fresh(&self, d: &Digest) -> bool {
        self.fresh.lock().expect("fresh").contains(d)
    }

    /// A cached blob found to hash to something else (a disk fault, a power cut before the
    /// kernel wrote it): removed, so the next run fetches it again.
    pub fn discard(&self, d: &Digest) {
        let _ = std::fs::remove_file(self.path(d));
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
        verified(what, expected, expected_size, actual)?;
        let dest = self.path(expected);
        tmp.persist(&dest).map_err(|e| CacheError::Io { path: dest, source: e.error })?;
        self.landed(expected);
        Ok(())
    }

    /// `d` was checked and moved in by this process.
    fn landed(&self, d: &Digest) {
        self.fresh.lock().expect("fresh").insert(d.clone());
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
