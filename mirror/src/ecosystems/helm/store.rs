//! What the store keeps of a Helm chart version, and how the routes read it.

use serde::{Deserialize, Serialize};

use feas_format::Digest;

use crate::store::meta::{decode, key, trees, Rule, Walker};
use crate::store::{Meta, StoreError};

trees! {
    pub struct Trees {
        /// `name \0 version` → HelmRecord.
        charts = "helm",
    }
}

pub(crate) const RULES: Trees<Rule> = Trees { charts: reach };

/// A Helm chart version: Chart.yaml's fields (from the chart's OCI config), the archive, and
/// the OCI manifest it is also served as (`/v2/charts/<name>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HelmRecord {
    pub name: String,
    pub version: String,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub digest: Digest,
    pub size: u64,
    pub manifest: Digest,
    /// When it was imported (RFC 3339): index.yaml's `created`.
    pub created: String,
}

impl Meta {
    /// Helm charts held, sorted by name then version (string order).
    pub fn charts(&self) -> Result<Vec<HelmRecord>, StoreError> {
        self.t.eco.helm.charts.iter().values().map(|v| decode("helm", &v?)).collect()
    }

    /// The first `limit` chart versions, as `charts` sorts them.
    pub fn charts_first(&self, limit: usize) -> Result<Vec<HelmRecord>, StoreError> {
        self.t.eco.helm.charts.iter().values().take(limit).map(|v| decode("helm", &v?)).collect()
    }

    pub fn chart(&self, name: &str, version: &str) -> Result<Option<HelmRecord>, StoreError> {
        self.t.eco.helm.charts.get(key(&[name, version]))?.map(|v| decode("helm", &v)).transpose()
    }
}

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
