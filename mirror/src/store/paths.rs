//! The one module that knows where things live in a store directory.
//!
//! ```text
//! STORE/blobs/<alg>/<hex>     content-addressed blobs (immutable once renamed in)
//! STORE/meta/                 sled database: refs, indexes, sequences, history
//! STORE/tmp/                  temp files and import-<id>/ staging dirs (wiped at open)
//! STORE/import.lock           held while an import runs
//! STORE/mirror.sock           a running `mirror serve` takes imports here
//! ```

use std::path::{Path, PathBuf};

use bundler::format::Digest;

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
    pub fn blob(&self, d: &Digest) -> PathBuf {
        self.blobs().join(d.algorithm().as_str()).join(d.hex())
    }
    pub fn meta(&self) -> PathBuf {
        self.root.join("meta")
    }
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub fn staging(&self, id: &str) -> PathBuf {
        self.tmp().join(format!("import-{id}"))
    }
    pub fn import_lock(&self) -> PathBuf {
        self.root.join("import.lock")
    }
    pub fn socket(&self) -> PathBuf {
        self.root.join("mirror.sock")
    }
}
