//! What the store keeps of an NLTK package, and how the routes read it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use feas_format::Digest;

use crate::store::meta::{decode, trees, Rule, Walker};
use crate::store::{Changes, Meta, StoreError};

trees! {
    pub struct Trees {
        /// NLTK package id → NltkRecord.
        packages = "nltk",
    }
}

pub(crate) const RULES: Trees<Rule> = Trees { packages: reach };

/// An NLTK data package: its index attributes, the collections it was carried in, the zip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NltkRecord {
    pub attrs: BTreeMap<String, String>,
    pub collections: Vec<feas_format::nltk::Collection>,
    pub digest: Digest,
    pub size: u64,
}

impl Meta {
    /// NLTK packages held, by id.
    pub fn nltk_packages(&self) -> Result<Vec<(String, NltkRecord)>, StoreError> {
        self.t
            .eco
            .nltk
            .packages
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((String::from_utf8_lossy(&k).into_owned(), decode("nltk", &v)?))
            })
            .collect()
    }

    /// The first `limit` package ids, sorted.
    pub fn nltk_package_ids(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        self.t.eco.nltk.packages.iter().keys().take(limit).map(|k| Ok(String::from_utf8_lossy(&k?).into_owned())).collect()
    }

    pub fn nltk_package(&self, id: &str) -> Result<Option<NltkRecord>, StoreError> {
        self.t.eco.nltk.packages.get(id.as_bytes())?.map(|v| decode("nltk", &v)).transpose()
    }
}

/// gc: each package keeps its zip.
fn reach(m: &Meta, w: &mut Walker) -> Result<(), StoreError> {
    for v in m.t.eco.nltk.packages.iter().values() {
        let r: NltkRecord = decode("nltk", &v?)?;
        let attr = |k: &str| r.attrs.get(k).cloned().unwrap_or_default();
        w.blob(&r.digest, &format!("nltk/{}/{}", attr("subdir"), attr("id")));
    }
    Ok(())
}

/// The packages of an import's `c` that the store no longer holds.
pub(super) fn missing_records(m: &Meta, c: &Changes, need: &mut dyn FnMut(bool, String)) -> Result<(), StoreError> {
    for (id, _) in &c.eco.nltk {
        need(m.t.eco.nltk.packages.contains_key(id.as_bytes())?, format!("nltk package {id}"));
    }
    Ok(())
}
