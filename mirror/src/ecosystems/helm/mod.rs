//! Helm charts: the chart repository at `/charts/` (each chart also an OCI artifact in
//! `charts/<name>`).

use std::convert::Infallible;

use sled::transaction::{ConflictableTransactionResult, TransactionalTree};

use super::{Ecosystem, Prepared};
use crate::store::meta::{decode, json, key, trees, Rule, Trees as AllTrees, Walker};
use crate::store::{Changes, HelmRecord, Meta, Removal, StoreError};

trees! {
    pub struct Trees {
        /// `name \0 version` → HelmRecord.
        charts = "helm",
    }
}

pub(crate) const RULES: Trees<Rule> = Trees { charts: reach };

/// Each chart keeps its archive and its OCI manifest.
fn reach(m: &Meta, w: &mut Walker) -> Result<(), StoreError> {
    for v in m.t.eco.helm.charts.iter().values() {
        let r: HelmRecord = decode("helm", &v?)?;
        let name = format!("charts/{}:{}", r.name, r.version);
        w.blob(&r.digest, &name);
        w.manifest(&r.manifest, &name);
    }
    Ok(())
}

pub struct Helm;

impl Ecosystem for Helm {
    type Changes = Vec<HelmRecord>;
    /// (chart name, version)
    type Removal = Vec<(String, String)>;

    fn write(t: &AllTrees<&TransactionalTree>, c: &Changes) -> ConflictableTransactionResult<(), Infallible> {
        for rec in &c.eco.helm {
            t.eco.helm.charts.insert(key(&[&rec.name, &rec.version]), json(rec))?;
        }
        Ok(())
    }

    fn remove(t: &AllTrees<&TransactionalTree>, r: &Removal, _: &Prepared) -> ConflictableTransactionResult<(), Infallible> {
        for (name, version) in &r.eco.helm {
            t.eco.helm.charts.remove(key(&[name, version]))?;
        }
        Ok(())
    }

    fn missing_records(m: &Meta, c: &Changes, need: &mut dyn FnMut(bool, String)) -> Result<(), StoreError> {
        for rec in &c.eco.helm {
            need(m.t.eco.helm.charts.contains_key(key(&[&rec.name, &rec.version]))?, format!("chart {}:{}", rec.name, rec.version));
        }
        Ok(())
    }
}
