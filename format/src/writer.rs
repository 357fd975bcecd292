//! Deterministic bundle writer: fixed metadata on every tar entry, entries in the fixed order,
//! so the same inputs give byte-identical bundles.

use std::io::{self, Read, Write};

use super::bundle::{self, BundleJson};
use super::digest::Digest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Zstd,
    None,
}

/// zstd level: a good ratio at speeds well above disk; fixed so output is reproducible.
const ZSTD_LEVEL: i32 = 3;

pub struct BundleWriter<W: Write> {
    tar: tar::Builder<Box<dyn FinishWrite<W>>>,
    mtime: u64,
}

/// A writer that can be finished (zstd frames need a final flush) and give back its inner.
pub trait FinishWrite<W>: Write {
    fn finish_into(self: Box<Self>) -> io::Result<W>;
}

struct Plain<W>(W);
impl<W: Write> Write for Plain<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.write(b)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
impl<W: Write> FinishWrite<W> for Plain<W> {
    fn finish_into(self: Box<Self>) -> io::Result<W> {
        Ok(self.0)
    }
}
impl<W: Write> FinishWrite<W> for zstd::stream::write::Encoder<'static, W> {
    fn finish_into(self: Box<Self>) -> io::Result<W> {
        (*self).finish()
    }
}

impl<W: Write + 'static> BundleWriter<W> {
    /// `mtime` is stamped on every entry (SOURCE_DATE_EPOCH or the bundle's creation time).
    pub fn new(out: W, compression: Compression, mtime: u64) -> io::Result<Self> {
        let inner: Box<dyn FinishWrite<W>> = match compression {
            Compression::None => Box::new(Plain(out)),
            Compression::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?;
                enc.include_checksum(true)?;
                Box::new(enc)
            }
        };
        let mut tar = tar::Builder::new(inner);
        tar.mode(tar::HeaderMode::Deterministic);
        Ok(BundleWriter { tar, mtime })
    }

    fn append(&mut self, path: &str, size: u64, data: impl Read) -> io::Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(self.mtime);
        self.tar.append_data(&mut h, path, data)
    }

    /// The four head entries, in the order readers verify them.
    pub fn write_head(&mut self, bundle: &BundleJson, signature: &str, index: &[u8]) -> io::Result<()> {
        let bj = bundle.to_bytes();
        self.append(bundle::BUNDLE_JSON, bj.len() as u64, &bj[..])?;
        self.append(bundle::SIGNATURE, signature.len() as u64, signature.as_bytes())?;
        self.append(bundle::OCI_LAYOUT, bundle::OCI_LAYOUT_CONTENT.len() as u64, bundle::OCI_LAYOUT_CONTENT)?;
        self.append(bundle::INDEX_JSON, index.len() as u64, index)
    }

    pub fn write_blob(&mut self, digest: &Digest, size: u64, data: impl Read) -> io::Result<()> {
        self.append(&bundle::blob_path(digest), size, data)
    }

    pub fn finish(self) -> io::Result<W> {
        let inner = self.tar.into_inner()?;
        inner.finish_into()
    }
}
