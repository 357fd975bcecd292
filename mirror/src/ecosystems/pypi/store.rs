//! What the store keeps of a Python distribution, the PyPI trees, what they keep alive, and
//! how the routes read them.

use serde::{Deserialize, Serialize};

use feas_format::Digest;

use crate::store::meta::{decode, distinct, key, trees, Rule, Walker};
use crate::store::{Meta, StoreError};

trees! {
    pub struct Trees {
        /// `project \0 filename` → WheelRecord.
        projects = "pypi",
        /// `filename` → WheelRecord, for `/pypi/files/…`.
        files = "pypi_files",
    }
}

pub(crate) const RULES: Trees<Rule> = Trees { projects, files };

/// A Python distribution file as the simple index lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WheelRecord {
    pub project: String,
    pub version: String,
    pub filename: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default)]
    pub requires_python: Option<String>,
    /// Its core metadata file (PEP 658), for wheels.
    #[serde(default)]
    pub metadata: Option<(Digest, u64)>,
}

impl Meta {
    /// The first `limit` projects, sorted: one seek per project, not a read of its files.
    pub fn pypi_projects_first(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        distinct(&self.t.eco.pypi.projects, b"", limit)
    }

    /// A project's files, sorted by file name.
    pub fn pypi_files(&self, project: &str) -> Result<Vec<WheelRecord>, StoreError> {
        self.t.eco.pypi.projects.scan_prefix(key(&[project, ""])).values().map(|v| decode("pypi", &v?)).collect()
    }

    pub fn pypi_file(&self, filename: &str) -> Result<Option<WheelRecord>, StoreError> {
        self.t.eco.pypi.files.get(filename.as_bytes())?.map(|v| decode("pypi_files", &v)).transpose()
    }
}

fn wheel(w: &mut Walker, r: &WheelRecord) {
    let name = format!("pypi/{}/{}", r.project, r.filename);
    w.blob(&r.digest, &name);
    if let Some((d, _)) = &r.metadata {
        w.blob(d, &name);
    }
}

fn projects(m: &Meta, w: &mut Walker) -> Result<(), StoreError> {
    for v in m.t.eco.pypi.projects.iter().values() {
        wheel(w, &decode("pypi", &v?)?);
    }
    Ok(())
}

fn files(m: &Meta, w: &mut Walker) -> Result<(), StoreError> {
    for v in m.t.eco.pypi.files.iter().values() {
        wheel(w, &decode("pypi_files", &v?)?);
    }
    Ok(())
}
