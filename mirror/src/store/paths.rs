//! The one module that knows where things live in a store directory.
//!
//! ```text
//! STORE/blobs/<alg>/<hh>/<hex>  content-addressed blobs (immutable once renamed in), fanned
//!                             out by the first two hex digits as distribution does, so 1M
//!                             blobs are 256 directories of ~4k, not one of 1M
//! STORE/blobs/<alg>/<hex>     the flat layout earlier releases wrote: still read, never
//!                             written (a read-only command must not move files)
//! STORE/quarantine/<alg>/<hex>  damaged blobs `mirror verify --quarantine` moved aside
//! STORE/meta/                 sled database: refs, referrers, sequences, history, generation
//! STORE/tmp/                  temp files and import-*/ staging dirs (leftovers wiped at open)
//! STORE/incoming/             bundles `mirror import -` received on stdin, while they import
//! STORE/uploads/<id>[.json]   OCI push upload sessions (bytes so far, repository and start
//!                             time); they survive a restart and expire after a day
//! STORE/lock                  flock'd for the whole of an import
//! STORE/mirror.sock           a running `mirror serve` takes imports here
//! STORE/keys/apt-signing.asc  the mirror's OpenPGP key for its apt repositories
//! STORE/tls/                  `mirror init`: ca.crt, ca.key, server.crt (with the CA), server.key
//! ```

use std::path::{Path, PathBuf};

use feas_format::{Algorithm, Digest};

/// Prefix of per-import staging directories under `tmp/`.
pub const STAGING_PREFIX: &str = "import-";

/// Every algorithm a blob may be named by, in `blob_dirs` order.
pub const ALGORITHMS: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Sha512];

/// Hex digits of a digest that name its fan directory.
const FAN: usize = 2;

#[derive(Debug, Clone)]
pub struct Paths {
    root: PathBuf,
}

impl Paths {
    pub fn new(root: &Path) -> Paths {
        Paths { root: root.to_path_buf() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn blobs(&self) -> PathBuf {
        self.root.join("blobs")
    }
    /// One directory per digest algorithm; both exist so a listing never trips on a missing one.
    pub fn blob_dirs(&self) -> [PathBuf; 2] {
        ALGORITHMS.map(|a| self.blob_dir(a))
    }
    pub fn blob_dir(&self, alg: Algorithm) -> PathBuf {
        self.blobs().join(alg.as_str())
    }
    /// The file of blob `d` to read: the fanned path, or the flat one when only a store from
    /// an earlier release holds it there. Costs a stat; absent from both, the fanned path.
    pub fn blob(&self, d: &Digest) -> PathBuf {
        let fanned = self.new_blob(d);
        if fanned.is_file() {
            return fanned;
        }
        let flat = self.flat_blob(d);
        if flat.is_file() {
            flat
        } else {
            fanned
        }
    }
    /// Where a blob is written: `blobs/<alg>/<hh>/<hex>`.
    pub fn new_blob(&self, d: &Digest) -> PathBuf {
        self.fan_dir(d).join(d.hex())
    }
    /// The directory `new_blob` puts `d` in (created on demand by the writer).
    pub fn fan_dir(&self, d: &Digest) -> PathBuf {
        // `Digest` validates its hex on parse, so this can never escape the store.
        self.blob_dir(d.algorithm()).join(&d.hex()[..FAN])
    }
    /// Where an earlier release kept `d`: `blobs/<alg>/<hex>`.
    pub fn flat_blob(&self, d: &Digest) -> PathBuf {
        self.blob_dir(d.algorithm()).join(d.hex())
    }
    /// Every place `d` may be, for deleting it: fanned and flat.
    pub fn blob_copies(&self, d: &Digest) -> [PathBuf; 2] {
        [self.new_blob(d), self.flat_blob(d)]
    }
    /// Whether a directory named `name` under `blobs/<alg>/` is a fan directory.
    pub fn is_fan_dir(name: &str) -> bool {
        name.len() == FAN && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
    /// Where `mirror verify --quarantine` moves a blob that no longer hashes to its name
    /// (flat: quarantined blobs are few).
    pub fn quarantined(&self, d: &Digest) -> PathBuf {
        self.root.join("quarantine").join(d.algorithm().as_str()).join(d.hex())
    }
    pub fn meta(&self) -> PathBuf {
        self.root.join("meta")
    }
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
    /// Not under `tmp/`: a store opened for the import would wipe it first.
    pub fn incoming(&self) -> PathBuf {
        self.root.join("incoming")
    }
    pub fn uploads(&self) -> PathBuf {
        self.root.join("uploads")
    }
    /// An upload session's bytes; `id` is validated by the caller (lowercase hex).
    pub fn upload(&self, id: &str) -> PathBuf {
        self.uploads().join(id)
    }
    pub fn upload_info(&self, id: &str) -> PathBuf {
        self.uploads().join(format!("{id}.json"))
    }
    /// Where an import stages a blob before it is verified.
    pub fn staged_blob(staging: &Path, d: &Digest) -> PathBuf {
        staging.join(format!("{}-{}", d.algorithm().as_str(), d.hex()))
    }
    pub fn lock(&self) -> PathBuf {
        self.root.join("lock")
    }
    pub fn apt_key(&self) -> PathBuf {
        self.root.join("keys").join("apt-signing.asc")
    }
    pub fn tls_dir(&self) -> PathBuf {
        self.root.join("tls")
    }
    pub fn tls_ca(&self) -> PathBuf {
        self.tls_dir().join("ca.crt")
    }
    pub fn tls_cert(&self) -> PathBuf {
        self.tls_dir().join("server.crt")
    }
    pub fn tls_key(&self) -> PathBuf {
        self.tls_dir().join("server.key")
    }
    pub fn socket(&self) -> PathBuf {
        self.root.join("mirror.sock")
    }
}
