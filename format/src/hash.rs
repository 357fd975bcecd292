//! The one streaming hasher: wraps a reader or writer and yields (digest, size) at the end,
//! so nothing is ever hashed in a second pass or held in memory.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use sha2::Digest as _;
use tokio::io::AsyncWrite;

use super::digest::{Algorithm, Digest};

#[derive(Clone)]
enum State {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

/// Incremental hasher for one algorithm.
#[derive(Clone)]
pub struct Hasher {
    state: State,
    size: u64,
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Self {
        let state = match algorithm {
            Algorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => State::Sha512(sha2::Sha512::new()),
        };
        Hasher { state, size: 0 }
    }
    pub fn update(&mut self, data: &[u8]) {
        self.size += data.len() as u64;
        match &mut self.state {
            State::Sha256(h) => h.update(data),
            State::Sha512(h) => h.update(data),
        }
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn finish(self) -> (Digest, u64) {
        let d = match self.state {
            State::Sha256(h) => Digest::from_parts(Algorithm::Sha256, hex::encode(h.finalize())),
            State::Sha512(h) => Digest::from_parts(Algorithm::Sha512, hex::encode(h.finalize())),
        };
        (d, self.size)
    }
}

/// A `Read` that hashes what passes through it.
pub struct HashReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashReader<R> {
    pub fn new(inner: R, algorithm: Algorithm) -> Self {
        HashReader { inner, hasher: Hasher::new(algorithm) }
    }
    pub fn size(&self) -> u64 {
        self.hasher.size()
    }
    /// Reads whatever is left (so the digest covers the whole stream) and returns it.
    pub fn finish(self) -> io::Result<(Digest, u64)> {
        Ok(self.into_hasher()?.finish())
    }
    /// Reads whatever is left and gives back the hasher, to carry on from (a resumed file).
    pub fn into_hasher(mut self) -> io::Result<Hasher> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.hasher)
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A `Write` (and `AsyncWrite`) that hashes what passes through it.
pub struct HashWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W> HashWriter<W> {
    pub fn new(inner: W, algorithm: Algorithm) -> Self {
        HashWriter { inner, hasher: Hasher::new(algorithm) }
    }
    /// Carries on from `hasher`, which has hashed what `inner` already holds (a resumed file).
    pub fn with_hasher(inner: W, hasher: Hasher) -> Self {
        HashWriter { inner, hasher }
    }
    pub fn size(&self) -> u64 {
        self.hasher.size()
    }
    pub fn get_ref(&self) -> &W {
        &self.inner
    }
    pub fn into_parts(self) -> (W, Digest, u64) {
        let (d, n) = self.hasher.finish();
        (self.inner, d, n)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for HashWriter<W> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.hasher.update(&buf[..n]);
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Hash a byte slice already in memory (small documents: manifests, bundle.json).
pub fn digest_bytes(data: &[u8]) -> Digest {
    Digest::sha256_of(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_and_writer_agree() {
        let data = vec![7u8; 100_000];
        let r = HashReader::new(&data[..], Algorithm::Sha256);
        let (d, n) = r.finish().unwrap();
        assert_eq!(n, 100_000);
        assert_eq!(d, Digest::sha256_of(&data));
        let mut w = HashWriter::new(Vec::new(), Algorithm::Sha256);
        w.write_all(&data).unwrap();
        let (out, d2, n2) = w.into_parts();
        assert_eq!((d2, n2), (d, 100_000));
        assert_eq!(out, data);
    }
}
