//! Plain files: `/files/<name>`.

use std::convert::Infallible;

use sled::transaction::{ConflictableTransactionResult, TransactionalTree};

use feas_format::Digest;

use super::{Ecosystem, Prepared};
use crate::store::meta::{json, trees, Rule, Trees as AllTrees, Walker};
use crate::store::{Changes, Meta, Removal, StoreError};

trees! {
    pub struct Trees {
        /// `name` → (digest, size), for `/files/<name>`.
        files,
    }
}

pub(crate) const RULES: Trees<Rule> = Trees { files: reach };

fn reach(m: &Meta, w: &mut Walker) -> Result<(), StoreError> {
    for (name, d, _) in m.raw_files()? {
        w.blob(&d, &format!("files/{name}"));
    }
    Ok(())
}

pub struct Files;

impl Ecosystem for Files {
    /// name, digest, size
    type Changes = Vec<(String, Digest, u64)>;
    /// names
    type Removal = Vec<String>;

    fn write(t: &AllTrees<&TransactionalTree>, c: &Changes) -> ConflictableTransactionResult<(), Infallible> {
        for (name, d, n) in &c.eco.files {
            t.eco.files.files.insert(name.as_bytes(), json(&(d, n)))?;
        }
        Ok(())
    }

    fn remove(t: &AllTrees<&TransactionalTree>, r: &Removal, _: &Prepared) -> ConflictableTransactionResult<(), Infallible> {
        for name in &r.eco.files {
            t.eco.files.files.remove(name.as_bytes())?;
        }
        Ok(())
    }

    fn missing_records(m: &Meta, c: &Changes, need: &mut dyn FnMut(bool, String)) -> Result<(), StoreError> {
        for (name, _, _) in &c.eco.files {
            need(m.t.eco.files.files.contains_key(name.as_bytes())?, format!("file {name}"));
        }
        Ok(())
    }
}
