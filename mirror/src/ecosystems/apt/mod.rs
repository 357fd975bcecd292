//! Debian packages: the signed apt repositories at `/apt/<id>/`.

mod store;

pub(crate) use store::RULES;
pub use store::{AptRemoval, Trees};

use std::convert::Infallible;

use sled::transaction::{ConflictableTransactionResult, TransactionalTree};

use super::{Ecosystem, Prepared};
use crate::store::meta::{json, key, Trees as AllTrees};
use crate::store::{Changes, DebKey, DebRecord, Meta, Removal, StoreError};

pub struct Apt;

impl Ecosystem for Apt {
    type Changes = Vec<(DebKey, DebRecord)>;
    type Removal = AptRemoval;

    fn write(t: &AllTrees<&TransactionalTree>, c: &Changes) -> ConflictableTransactionResult<(), Infallible> {
        let t = &t.eco.apt;
        for (k, rec) in &c.eco.apt {
            t.debs.insert(k.bytes(), json(rec))?;
            t.pool.insert(key(&[&k.id, &k.filename]), json(&(&rec.digest, rec.size)))?;
        }
        Ok(())
    }

    fn remove(t: &AllTrees<&TransactionalTree>, r: &Removal, _: &Prepared) -> ConflictableTransactionResult<(), Infallible> {
        let (t, r) = (&t.eco.apt, &r.eco.apt);
        for k in &r.debs {
            t.debs.remove(k.bytes())?;
        }
        for (id, f) in &r.pool {
            t.pool.remove(key(&[id, f]))?;
        }
        Ok(())
    }

    fn missing_records(m: &Meta, c: &Changes, need: &mut dyn FnMut(bool, String)) -> Result<(), StoreError> {
        let t = &m.t.eco.apt;
        for (k, _) in &c.eco.apt {
            need(t.debs.contains_key(k.bytes())?, format!("deb {} in {}/{}", k.filename, k.id, k.suite));
            need(t.pool.contains_key(key(&[&k.id, &k.filename]))?, format!("pool file {} of {}", k.filename, k.id));
        }
        Ok(())
    }
}
