//! The apt trees and what they keep alive.

use feas_format::Digest;

use crate::store::meta::{deb_name, decode, parts, trees, Rule, Walker};
use crate::store::{DebKey, DebRecord, Meta, StoreError};

trees! {
    pub struct Trees {
        /// `id \0 suite \0 component \0 arch \0 filename` → DebRecord.
        debs = "apt",
        /// `id \0 filename` → deb digest, for `/apt/<id>/pool/…`.
        pool = "apt_pool",
    }
}

/// What `rm` deletes from the apt trees.
#[derive(Debug, Default, PartialEq)]
pub struct AptRemoval {
    pub debs: Vec<DebKey>,
    /// (source id, pool filename)
    pub pool: Vec<(String, String)>,
}

pub(crate) const RULES: Trees<Rule> = Trees { debs, pool };

fn debs(m: &Meta, w: &mut Walker) -> Result<(), StoreError> {
    for kv in m.t.eco.apt.debs.iter() {
        let (k, v) = kv?;
        let p = parts(&k);
        let r: DebRecord = decode("apt", &v)?;
        w.blob(&r.digest, &deb_name(&p[0], &r, p.last().map(String::as_str).unwrap_or_default()));
    }
    Ok(())
}

fn pool(m: &Meta, w: &mut Walker) -> Result<(), StoreError> {
    for kv in m.t.eco.apt.pool.iter() {
        let (k, v) = kv?;
        let [id, filename] = &parts(&k)[..] else { return Err(StoreError::Corrupt("apt_pool key".into())) };
        let (d, _): (Digest, u64) = decode("apt_pool", &v)?;
        w.blob(&d, &format!("apt/{id}/{}", filename.rsplit('/').next().unwrap_or(filename)));
    }
    Ok(())
}
