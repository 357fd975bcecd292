//! The one module that knows where things live in a store directory.
//!
//! ```text
//! STORE/blobs/<alg>/<hex>     content-addressed blobs (immutable once renamed in)
//! STORE/quarantine/<alg>/<hex>  damaged blobs `mirror verify --quarantine` moved aside
//! STORE/meta/                 sled database: refs, referrers, sequences, history, generation
//! STORE/tmp/                  temp files and import-*/ staging dirs (leftovers wiped at open)
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
        [Algorithm::Sha256, Algorithm::Sha512].map(|a| self.blobs().join(a.as_str()))
    }
    pub fn blob(&self, d: &Digest) -> PathBuf {
        // `Digest` validates its hex on parse, so this can never escape the store.
        self.blobs().join(d.algorithm().as_str()).join(d.hex())
    }
    /// Where `mirror verify --quarantine` moves a blob that no longer hashes to its name.
    pub fn quarantined(&self, d: &Digest) -> PathBuf {
        self.root.join("quarantine").join(d.algorithm().as_str()).join(d.hex())
    }
    pub fn meta(&self) -> PathBuf {
        self.root.join("meta")
    }
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
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
