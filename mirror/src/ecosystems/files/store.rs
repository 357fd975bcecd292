//! The files tree, what it keeps alive, and how the routes read it.

use feas_format::Digest;

use crate::store::meta::{decode, trees, Rule, Walker};
use crate::store::{Meta, StoreError};

trees! {
    pub struct Trees {
        /// `name` → (digest, size), for `/files/<name>`.
        files,
    }
}

pub(crate) const RULES: Trees<Rule> = Trees { files: reach };

impl Meta {
    /// Raw files held, sorted by name.
    pub fn raw_files(&self) -> Result<Vec<(String, Digest, u64)>, StoreError> {
        self.t
            .eco
            .files
            .files
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                let (d, n): (Digest, u64) = decode("files", &v)?;
                Ok((String::from_utf8_lossy(&k).into_owned(), d, n))
            })
            .collect()
    }

    /// The first `limit` file names, sorted.
    pub fn raw_file_names(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        self.t.eco.files.files.iter().keys().take(limit).map(|k| Ok(String::from_utf8_lossy(&k?).into_owned())).collect()
    }

    pub fn raw_file(&self, name: &str) -> Result<Option<(Digest, u64)>, StoreError> {
        self.t.eco.files.files.get(name.as_bytes())?.map(|v| decode("files", &v)).transpose()
    }
}

/// One record at a time: a store of a million files must not be held whole.
fn reach(m: &Meta, w: &mut Walker) -> Result<(), StoreError> {
    for kv in m.t.eco.files.files.iter() {
        let (k, v) = kv?;
        let (d, _): (Digest, u64) = decode("files", &v)?;
        w.blob(&d, &format!("files/{}", String::from_utf8_lossy(&k)));
    }
    Ok(())
}
