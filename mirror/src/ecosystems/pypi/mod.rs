//! Python distributions: the PEP 503/691 simple index at `/pypi/`.

mod store;

pub use store::Trees;
pub(crate) use store::RULES;

use std::convert::Infallible;

use sled::transaction::{ConflictableTransactionResult, TransactionalTree};

use super::{Ecosystem, Prepared};
use crate::store::meta::{json, key, Trees as AllTrees};
use crate::store::{Changes, Meta, Removal, StoreError, WheelRecord};

pub struct Pypi;

impl Ecosystem for Pypi {
    type Changes = Vec<WheelRecord>;
    /// (project, filename)
    type Removal = Vec<(String, String)>;

    fn write(t: &AllTrees<&TransactionalTree>, c: &Changes) -> ConflictableTransactionResult<(), Infallible> {
        let t = &t.eco.pypi;
        for w in &c.eco.pypi {
            t.projects.insert(key(&[&w.project, &w.filename]), json(w))?;
            t.files.insert(w.filename.as_bytes(), json(w))?;
        }
        Ok(())
    }

    fn remove(t: &AllTrees<&TransactionalTree>, r: &Removal, _: &Prepared) -> ConflictableTransactionResult<(), Infallible> {
        let t = &t.eco.pypi;
        for (project, f) in &r.eco.pypi {
            t.projects.remove(key(&[project, f]))?;
            t.files.remove(f.as_bytes())?;
        }
        Ok(())
    }

    fn missing_records(m: &Meta, c: &Changes, need: &mut dyn FnMut(bool, String)) -> Result<(), StoreError> {
        let t = &m.t.eco.pypi;
        for w in &c.eco.pypi {
            need(t.projects.contains_key(key(&[&w.project, &w.filename]))? && t.files.contains_key(w.filename.as_bytes())?, format!("pypi file {}", w.filename));
        }
        Ok(())
    }
}
