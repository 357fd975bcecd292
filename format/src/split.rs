//! Split volumes: the bundle's byte stream cut into `OUT.part0001`, `OUT.part0002`, … of at
//! most `--split-size` bytes, plus `OUT.parts.json` (each part's size and sha256) signed like
//! bundle.json (`OUT.parts.json.minisig`). Parts concatenate to the whole bundle. Readers take
//! the first part, the index or a directory, check every part is there before reading, and
//! hash each part as it streams, so a damaged or missing part is named.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::digest::{Algorithm, Digest};
use super::hash::Hasher;
use super::sign::{self, KeyId, PublicKey};

pub const INDEX_SUFFIX: &str = ".parts.json";
pub const SIGNATURE_SUFFIX: &str = ".parts.json.minisig";
/// Parts small enough to fit any medium; a bundle of thousands of them is a mistake.
pub const MIN_PART: u64 = 1 << 20;
const MAX_PARTS: usize = 9999;

#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}")]
    Index(String),
    #[error("part {n} of {total} ({path}) is missing; copy it next to the others and import again")]
    Missing { n: usize, total: usize, path: PathBuf },
    #[error("part {n} of {total} ({path}) has {actual} bytes, the signed part index says {expected}; copy that part again")]
    Size { n: usize, total: usize, path: PathBuf, expected: u64, actual: u64 },
    #[error("the part index {path} is not signed by a trusted key: {detail}")]
    Signature { path: PathBuf, detail: String },
    /// The signature file is there but does not verify (the importer tells a revoked key apart).
    #[error("the part index {path} is not signed by a trusted key: {source}")]
    Verify { path: PathBuf, source: sign::SignError },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartRef {
    /// File name, next to the index.
    pub file: String,
    pub size: u64,
    pub sha256: Digest,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartIndex {
    pub format: u32,
    pub name: String,
    pub sequence: u64,
    /// The whole bundle (the parts concatenated).
    pub size: u64,
    pub sha256: Digest,
    pub part_size: u64,
    pub parts: Vec<PartRef>,
}

impl PartIndex {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("part index serializes");
        v.push(b'\n');
        v
    }
    pub fn trusted_comment(&self) -> String {
        format!("parts:{} sequence:{} count:{}", self.name, self.sequence, self.parts.len())
    }
}

/// `OUT.part0001` …
pub fn part_path(out: &Path, n: usize) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(format!(".part{n:04}"));
    PathBuf::from(s)
}

pub fn index_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(INDEX_SUFFIX);
    PathBuf::from(s)
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Writes parts as `.partNNNN.partial`, each fsynced and renamed when full; `finish` returns
/// their list. A crash leaves only `.partial` files and no index, so nothing looks finished.
pub struct SplitWriter {
    out: PathBuf,
    part_size: u64,
    current: Option<(File, Hasher, PathBuf)>,
    parts: Vec<PartRef>,
}

impl SplitWriter {
    pub fn new(out: &Path, part_size: u64) -> SplitWriter {
        SplitWriter { out: out.to_path_buf(), part_size: part_size.max(MIN_PART), current: None, parts: Vec::new() }
    }

    fn close_current(&mut self) -> io::Result<()> {
        if let Some((f, h, partial)) = self.current.take() {
            f.sync_all()?;
            let (sha256, size) = h.finish();
            let n = self.parts.len() + 1;
            let path = part_path(&self.out, n);
            std::fs::rename(&partial, &path)?;
            let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            self.parts.push(PartRef { file, size, sha256 });
        }
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<Vec<PartRef>> {
        self.close_current()?;
        Ok(std::mem::take(&mut self.parts))
    }
}

impl Write for SplitWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.current.as_ref().is_some_and(|(_, h, _)| h.size() >= self.part_size) {
            self.close_current()?;
        }
        if self.current.is_none() {
            let n = self.parts.len() + 1;
            if n > MAX_PARTS {
                return Err(io::Error::other(format!("more than {MAX_PARTS} parts; choose a larger --split-size")));
            }
            let partial = with_suffix(&part_path(&self.out, n), ".partial");
            self.current = Some((File::create(&partial)?, Hasher::new(Algorithm::Sha256), partial));
        }
        let (f, h, _) = self.current.as_mut().expect("opened above");
        let room = (self.part_size - h.size()) as usize;
        let n = f.write(&buf[..buf.len().min(room)])?;
        h.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.current.as_mut() {
            Some((f, _, _)) => f.flush(),
            None => Ok(()),
        }
    }
}

/// What a path names: a whole bundle file, or a split bundle (by its index).
pub enum Input {
    Whole(PathBuf),
    Split(PathBuf),
}

/// A bundle file, `X.partNNNN` or `X.parts.json` (the split bundle X), or a directory holding
/// one split bundle or one bundle file.
pub fn locate(path: &Path) -> Result<Input, SplitError> {
    let io_err = |source: io::Error| SplitError::Io { path: path.to_path_buf(), source };
    if path.is_dir() {
        let mut indexes = Vec::new();
        let mut bundles = Vec::new();
        for e in std::fs::read_dir(path).map_err(io_err)? {
            let p = e.map_err(io_err)?.path();
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.ends_with(INDEX_SUFFIX) {
                indexes.push(p);
            } else if name.ends_with(".bundle") {
                bundles.push(p);
            }
        }
        return match (&indexes[..], &bundles[..]) {
            ([one], _) => Ok(Input::Split(one.clone())),
            ([], [one]) => Ok(Input::Whole(one.clone())),
            _ => Err(SplitError::Index(format!(
                "{} holds {} part indexes (*{INDEX_SUFFIX}) and {} *.bundle files; name the one to use",
                path.display(),
                indexes.len(),
                bundles.len()
            ))),
        };
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if name.ends_with(INDEX_SUFFIX) {
        return Ok(Input::Split(path.to_path_buf()));
    }
    if let Some((stem, n)) = name.rsplit_once(".part") {
        if n.len() == 4 && n.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Input::Split(path.with_file_name(format!("{stem}{INDEX_SUFFIX}"))));
        }
    }
    Ok(Input::Whole(path.to_path_buf()))
}

/// A verified part index and the part files it names, all present with the right sizes.
pub struct Parts {
    pub index: PartIndex,
    pub index_path: PathBuf,
    pub files: Vec<PathBuf>,
    pub signer: Option<KeyId>,
}

/// Read the index, check its signature when keys are given, and check every part is there.
pub fn open_parts(index_path: &Path, trusted: Option<&[PublicKey]>) -> Result<Parts, SplitError> {
    let io_err = |source: io::Error| SplitError::Io { path: index_path.to_path_buf(), source };
    let meta = std::fs::metadata(index_path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => SplitError::Index(format!("{} is missing: it lists the parts and their sha256; copy it with the parts", index_path.display())),
        _ => io_err(e),
    })?;
    if meta.len() > 4 << 20 {
        return Err(SplitError::Index(format!("{} is too large for a part index", index_path.display())));
    }
    let bytes = std::fs::read(index_path).map_err(io_err)?;
    let signer = match trusted {
        Some(keys) => {
            let sig_path = index_path.with_file_name(format!("{}.minisig", index_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()));
            let sig = std::fs::read_to_string(&sig_path).map_err(|e| SplitError::Signature { path: index_path.to_path_buf(), detail: format!("{}: {e}", sig_path.display()) })?;
            Some(sign::verify(keys, &bytes, &sig).map_err(|source| SplitError::Verify { path: index_path.to_path_buf(), source })?)
        }
        None => None,
    };
    let index: PartIndex = serde_json::from_slice(&bytes).map_err(|e| SplitError::Index(format!("{} is not a part index: {e}", index_path.display())))?;
    if index.parts.is_empty() || index.parts.len() > MAX_PARTS || index.parts.iter().map(|p| p.size).sum::<u64>() != index.size {
        return Err(SplitError::Index(format!("{} is inconsistent (part sizes do not add up to the bundle size)", index_path.display())));
    }
    let total = index.parts.len();
    let mut files = Vec::with_capacity(total);
    for (i, p) in index.parts.iter().enumerate() {
        if p.file.contains('/') || p.file.contains('\\') || p.file.starts_with('.') {
            return Err(SplitError::Index(format!("{}: part name {:?} is not a plain file name", index_path.display(), p.file)));
        }
        let path = index_path.with_file_name(&p.file);
        match std::fs::metadata(&path) {
            Ok(m) if m.len() == p.size => files.push(path),
            Ok(m) => return Err(SplitError::Size { n: i + 1, total, path, expected: p.size, actual: m.len() }),
            Err(_) => return Err(SplitError::Missing { n: i + 1, total, path }),
        }
    }
    Ok(Parts { index, index_path: index_path.to_path_buf(), files, signer })
}

/// Which part a reader is in, shared with whoever reports an error.
#[derive(Clone, Default)]
pub struct Position(Arc<Mutex<usize>>);

impl Position {
    pub fn part(&self) -> usize {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The parts as one stream, each hashed as it is read; a part whose bytes differ from the
/// index fails the read naming it.
pub struct PartsReader {
    parts: Vec<(PathBuf, PartRef)>,
    next: usize,
    current: Option<(File, Hasher)>,
    position: Position,
}

impl Parts {
    pub fn reader(&self) -> (PartsReader, Position) {
        let position = Position::default();
        let parts = self.files.iter().cloned().zip(self.index.parts.iter().cloned()).collect();
        (PartsReader { parts, next: 0, current: None, position: position.clone() }, position)
    }

    /// After a failed read: is the part the reader stopped in damaged? (Re-hashes that one
    /// part; a damaged part is the likeliest cause of a failure inside it.)
    pub fn damaged(&self, position: &Position) -> Option<String> {
        let i = position.part().checked_sub(1)?;
        let (path, p) = (self.files.get(i)?, self.index.parts.get(i)?);
        let actual = hash_file(path).ok()?;
        (actual != p.sha256).then(|| damaged_message(i + 1, self.files.len(), path, &p.sha256, &actual))
    }
}

fn damaged_message(n: usize, total: usize, path: &Path, expected: &Digest, actual: &Digest) -> String {
    format!("part {n} of {total} ({}) is damaged: its sha256 is {actual}, the signed part index says {expected}; copy that part again", path.display())
}

fn hash_file(path: &Path) -> io::Result<Digest> {
    let mut f = File::open(path)?;
    let mut h = Hasher::new(Algorithm::Sha256);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finish().0);
        }
        h.update(&buf[..n]);
    }
}

impl Read for PartsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.current.is_none() {
                let Some((path, _)) = self.parts.get(self.next) else { return Ok(0) };
                self.current = Some((File::open(path)?, Hasher::new(Algorithm::Sha256)));
                self.next += 1;
                *self.position.0.lock().unwrap_or_else(|e| e.into_inner()) = self.next;
            }
            let (f, h) = self.current.as_mut().expect("opened above");
            let n = f.read(buf)?;
            if n > 0 {
                h.update(&buf[..n]);
                return Ok(n);
            }
            let (_, h) = self.current.take().expect("present");
            let (actual, _) = h.finish();
            let (path, p) = &self.parts[self.next - 1];
            if actual != p.sha256 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, damaged_message(self.next, self.parts.len(), path, &p.sha256, &actual)));
            }
        }
    }
}

/// An opened bundle: its byte stream, and for a split bundle the parts (to name a damaged one).
pub struct Opened {
    pub stream: Box<dyn Read + Send>,
    pub parts: Option<(Parts, Position)>,
}

/// Open what `path` names (see `locate`); a split bundle's index is checked against
/// `trusted` when given, and every part must be present before a byte is read.
pub fn open_input(path: &Path, trusted: Option<&[PublicKey]>) -> Result<Opened, SplitError> {
    match locate(path)? {
        Input::Whole(p) => {
            let f = File::open(&p).map_err(|source| SplitError::Io { path: p.clone(), source })?;
            Ok(Opened { stream: Box::new(f), parts: None })
        }
        Input::Split(index) => {
            let parts = open_parts(&index, trusted)?;
            let (reader, pos) = parts.reader();
            Ok(Opened { stream: Box::new(reader), parts: Some((parts, pos)) })
        }
    }
}

/// Parse `4GiB`, `700MB`, `650M`, `1048576` (binary units for K/M/G/T; `MB` etc. decimal).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let v = parse_bytes(s)?;
    if v < MIN_PART {
        return Err(format!("{s:?} is below the smallest part size, 1MiB"));
    }
    Ok(v)
}

/// A size as `parse_size` reads it, without its floor (for limits other than part sizes).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a size like 4GiB, 700MB or 1048576"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tib" => 1024f64.powi(4),
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        u => return Err(format!("{s:?}: unknown unit {u:?} (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)")),
    };
    Ok((n * mult) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse_size("700MB").unwrap(), 700_000_000);
        assert_eq!(parse_size("2M").unwrap(), 2 << 20);
        assert!(parse_size("10").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }

    #[test]
    fn split_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.bundle");
        let data: Vec<u8> = (0..(2 * MIN_PART + 123)).map(|i| (i % 251) as u8).collect();
        let mut w = SplitWriter::new(&out, MIN_PART);
        for chunk in data.chunks(100_000) {
            w.write_all(chunk).unwrap();
        }
        let parts = w.finish().unwrap();
        assert_eq!(parts.iter().map(|p| p.size).collect::<Vec<_>>(), [MIN_PART, MIN_PART, 123]);
        let index = PartIndex { format: 1, name: "x".into(), sequence: 1, size: data.len() as u64, sha256: Digest::sha256_of(&data), part_size: MIN_PART, parts };
        std::fs::write(index_path(&out), index.to_bytes()).unwrap();
        let Input::Split(ip) = locate(&part_path(&out, 1)).unwrap() else { panic!("a part names its split bundle") };
        let p = open_parts(&ip, None).unwrap();
        let (mut r, _) = p.reader();
        let mut back = Vec::new();
        r.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        // A flipped byte in part 2 is named; a missing part 3 is named before reading.
        let mut b = std::fs::read(part_path(&out, 2)).unwrap();
        b[5] ^= 1;
        std::fs::write(part_path(&out, 2), &b).unwrap();
        let (mut r, pos) = p.reader();
        let e = r.read_to_end(&mut Vec::new()).unwrap_err().to_string();
        assert!(e.contains("part 2 of 3") && e.contains("damaged"), "{e}");
        assert!(p.damaged(&pos).unwrap().contains("part 2 of 3"));
        std::fs::remove_file(part_path(&out, 3)).unwrap();
        assert!(matches!(open_parts(&ip, None), Err(SplitError::Missing { n: 3, .. })));
    }
}
