//! The PyPI trees and what they keep alive.

use crate::store::meta::{decode, trees, Rule, Walker};
use crate::store::{Meta, StoreError, WheelRecord};

trees! {
    pub struct Trees {
        /// `project \0 filename` → WheelRecord.
        projects = "pypi",
        /// `filename` → WheelRecord, for `/pypi/files/…`.
        files = "pypi_files",
    }
}

pub(crate) const RULES: Trees<Rule> = Trees { projects, files };

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
