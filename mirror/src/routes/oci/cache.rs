//! Manifest bytes by digest. Every pull reads a few KiB of manifest; reading the file goes
//! through tokio's blocking pool (a thread handoff per request, most of the server's CPU in
//! scheduler wakeups), which held manifest GETs to about half of what nginx does with the same
//! file (bench/serve.sh). Bytes named by their digest never change, so they are kept for the
//! life of the process with no invalidation; the metadata lookup before a read still decides
//! whether a repository serves the manifest at all.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{LazyLock, Mutex};

use axum::body::Bytes;
use feas_format::Digest;

/// Larger files (big indexes) are read each time rather than pinned in memory.
const MAX_ONE: usize = 256 << 10;
/// Past this total the cache starts over.
const MAX_BYTES: usize = 32 << 20;

#[derive(Default)]
struct Kept {
    bytes: usize,
    by_digest: HashMap<Digest, Bytes>,
}

/// Process-wide: the same digest is the same bytes in every store.
static KEPT: LazyLock<Mutex<Kept>> = LazyLock::new(Mutex::default);

/// The kept bytes of the manifest `digest`, if read before: no path, so no stat (finding a
/// blob's file stats it, 7% of a manifest GET's CPU under load).
pub fn kept(digest: &Digest) -> Option<Bytes> {
    KEPT.lock().unwrap_or_else(|e| e.into_inner()).by_digest.get(digest).cloned()
}

/// The bytes of the manifest `digest`, stored at `path`.
pub async fn read(path: &Path, digest: &Digest) -> std::io::Result<Bytes> {
    if let Some(b) = kept(digest) {
        return Ok(b);
    }
    let bytes = Bytes::from(tokio::fs::read(path).await?);
    // Only bytes that hash to their name are kept: a damaged file is served as it is (and
    // `mirror verify` names it) but never pinned in memory past a repair.
    if bytes.len() <= MAX_ONE && Digest::of(digest.algorithm(), &bytes) == *digest {
        let mut k = KEPT.lock().unwrap_or_else(|e| e.into_inner());
        if k.bytes + bytes.len() > MAX_BYTES {
            *k = Kept::default();
        }
        k.bytes += bytes.len();
        if let Some(old) = k.by_digest.insert(digest.clone(), bytes.clone()) {
            k.bytes -= old.len();
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn kept_only_when_the_bytes_match_the_digest() {
        let dir = tempfile::tempdir().unwrap();
        let (good, bad) = (dir.path().join("good"), dir.path().join("bad"));
        std::fs::write(&good, b"{\"schemaVersion\":2,\"n\":1}").unwrap();
        std::fs::write(&bad, b"damaged").unwrap();
        let gd = Digest::sha256_of(b"{\"schemaVersion\":2,\"n\":1}");
        let bd = Digest::sha256_of(b"{\"schemaVersion\":2,\"n\":2}");
        assert_eq!(read(&good, &gd).await.unwrap(), &b"{\"schemaVersion\":2,\"n\":1}"[..]);
        std::fs::remove_file(&good).unwrap();
        assert_eq!(read(&good, &gd).await.unwrap(), &b"{\"schemaVersion\":2,\"n\":1}"[..], "kept: the file is not read again");
        assert_eq!(read(&bad, &bd).await.unwrap(), &b"damaged"[..]);
        std::fs::write(&bad, b"{\"schemaVersion\":2,\"n\":2}").unwrap();
        assert_eq!(read(&bad, &bd).await.unwrap(), &b"{\"schemaVersion\":2,\"n\":2}"[..], "damaged bytes were not kept");
    }
}
