//! What the store keeps of a deb (where it is listed, its stanza), the apt trees, what they
//! keep alive, and how the routes, `rm` and `push` read them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use feas_format::{deb, Digest};

use crate::store::meta::{decode, distinct, key, names_no_blob, parts, trees, Rule, Walker};
use crate::store::{Meta, StoreError};

trees! {
    pub struct Trees {
        /// `id \0 suite \0 component \0 arch \0 filename` → DebRecord.
        debs = "apt",
        /// `id \0 filename` → deb digest, for `/apt/<id>/pool/…`.
        pool = "apt_pool",
        /// `id \0 deb name \0 suite \0 component \0 arch \0 filename` → nothing: where each
        /// deb `mirror rm` may name is listed, so removing one costs its entries, not a scan.
        names = "apt_names",
    }
}

/// Where a deb is listed: one Packages index of one suite of one apt source.
#[derive(Debug, Clone, PartialEq)]
pub struct DebKey {
    pub id: String,
    pub suite: String,
    pub component: String,
    /// The index's architecture (an `all` package is listed under each target architecture).
    pub arch: String,
    /// Path below `/apt/<id>/`, as the stanza's Filename says.
    pub filename: String,
}

impl DebKey {
    pub(crate) fn bytes(&self) -> Vec<u8> {
        key(&[&self.id, &self.suite, &self.component, &self.arch, &self.filename])
    }

    /// Its key in the `names` index, under the deb's name.
    pub(crate) fn name_key(&self, name: &str) -> Vec<u8> {
        key(&[&self.id, name, &self.suite, &self.component, &self.arch, &self.filename])
    }
}

/// A deb as its Packages index lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DebRecord {
    /// The upstream's stanza, verbatim (it carries Filename, Size and SHA256).
    pub stanza: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default)]
    pub codename: Option<String>,
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
}

/// One suite of one apt source, as the stored debs describe it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SuiteInfo {
    pub codename: Option<String>,
    pub origin: Option<String>,
    pub label: Option<String>,
    pub components: BTreeSet<String>,
    pub architectures: BTreeSet<String>,
}

/// A suite as a sources line lists it (`/`).
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteLine {
    pub id: String,
    pub suite: String,
    pub components: Vec<String>,
    pub architectures: Vec<String>,
}

/// What `rm` deletes from the apt trees.
#[derive(Debug, Default, PartialEq)]
pub struct AptRemoval {
    pub debs: Vec<DebKey>,
    /// (source id, pool filename)
    pub pool: Vec<(String, String)>,
}

pub(crate) const RULES: Trees<Rule> = Trees { debs, pool, names: names_no_blob };

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

impl Meta {
    /// The first `limit` suites held: found by
    /// seeking from one to the next, not by reading their debs. At most `PARTS_LISTED`
    /// components and architectures each.
    pub fn apt_suites_first(&self, limit: usize) -> Result<Vec<SuiteLine>, StoreError> {
        const PARTS_LISTED: usize = 16;
        let debs = &self.t.eco.apt.debs;
        let mut out = Vec::new();
        for id in distinct(debs, b"", limit)? {
            for suite in distinct(debs, &key(&[&id, ""]), limit - out.len())? {
                let comps = distinct(debs, &key(&[&id, &suite, ""]), PARTS_LISTED)?;
                let mut archs = BTreeSet::new();
                for c in &comps {
                    archs.extend(distinct(debs, &key(&[&id, &suite, c, ""]), PARTS_LISTED)?);
                }
                out.push(SuiteLine { id: id.clone(), suite, components: comps, architectures: archs.into_iter().take(PARTS_LISTED).collect() });
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// The debs of one Packages index, sorted by Filename.
    pub fn apt_packages(&self, id: &str, suite: &str, component: &str, arch: &str) -> Result<Vec<DebRecord>, StoreError> {
        let mut out = Vec::new();
        self.apt_packages_each(id, suite, component, arch, &mut |_, r| out.push(r))?;
        Ok(out)
    }

    /// Each deb of one Packages index with its Filename, sorted by Filename, one at a time: a
    /// render holds one chunk of a 500,000-package index, not all of it.
    pub fn apt_packages_each(&self, id: &str, suite: &str, component: &str, arch: &str, each: &mut dyn FnMut(&str, DebRecord)) -> Result<(), StoreError> {
        let prefix = key(&[id, suite, component, arch, ""]);
        for kv in self.t.eco.apt.debs.scan_prefix(&prefix) {
            let (k, v) = kv?;
            let filename = std::str::from_utf8(&k[prefix.len()..]).map_err(|_| StoreError::Corrupt("apt key".into()))?;
            each(filename, decode("apt", &v)?);
        }
        Ok(())
    }

    /// The deb at `/apt/<id>/<filename>`.
    pub fn apt_pool(&self, id: &str, filename: &str) -> Result<Option<(Digest, u64)>, StoreError> {
        self.t.eco.apt.pool.get(key(&[id, filename]))?.map(|v| decode("apt_pool", &v)).transpose()
    }

    /// Every deb of one apt source with its key and its name as the import gives it
    /// (`apt/<id>/<package>_<version>_<arch>.deb`).
    pub fn apt_entries(&self, id: &str) -> Result<Vec<(DebKey, DebRecord, String)>, StoreError> {
        self.t
            .eco
            .apt
            .debs
            .scan_prefix(key(&[id, ""]))
            .map(|kv| {
                let (k, v) = kv?;
                let p = parts(&k);
                let [id, suite, component, arch, filename] = &p[..] else { return Err(StoreError::Corrupt("apt key".into())) };
                let rec: DebRecord = decode("apt", &v)?;
                let name = deb_name(id, &rec, filename);
                Ok((DebKey { id: id.clone(), suite: suite.clone(), component: component.clone(), arch: arch.clone(), filename: filename.clone() }, rec, name))
            })
            .collect()
    }
}

impl Meta {
    /// Where the deb `name` (`apt/<id>/…`, as the import names it) is listed. From the `names`
    /// index; a store older than the index is scanned too, as its debs may not be in it.
    pub fn apt_named(&self, id: &str, name: &str) -> Result<Vec<DebKey>, StoreError> {
        let prefix = key(&[id, name, ""]);
        let mut out = Vec::new();
        for k in self.t.eco.apt.names.scan_prefix(&prefix).keys() {
            let k = k?;
            let [suite, component, arch, filename] = &parts(&k[prefix.len()..])[..] else { return Err(StoreError::Corrupt("apt_names key".into())) };
            out.push(DebKey { id: id.into(), suite: suite.clone(), component: component.clone(), arch: arch.clone(), filename: filename.clone() });
        }
        if !self.indexed_since_creation()? {
            for (k, _, n) in self.apt_entries(id)? {
                if n == name && !out.contains(&k) {
                    out.push(k);
                }
            }
        }
        Ok(out)
    }
}

/// `apt/<id>/<package>_<version>_<arch>.deb`, as the import names a deb.
pub(crate) fn deb_name(id: &str, r: &DebRecord, filename: &str) -> String {
    let f = |k: &str| deb::field(&r.stanza, k);
    match (f("Package"), f("Version"), f("Architecture")) {
        (Some(p), Some(v), Some(a)) => format!("apt/{id}/{}", deb::deb_file_name(p, v, a)),
        _ => format!("apt/{id}/{}", filename.rsplit('/').next().unwrap_or(filename)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecosystems::EcoChanges;
    use crate::store::Changes;

    /// The suites `/` lists are found by seeking, each with its components and architectures.
    #[test]
    fn first_suites_with_their_components_and_architectures() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(sled::Config::new().path(dir.path()).open().unwrap()).unwrap();
        let rec = DebRecord { stanza: String::new(), digest: Digest::sha256_of(b"d"), size: 1, codename: None, origin: None, label: None };
        let entry = |id: &str, suite: &str, component: &str, arch: &str, f: &str| {
            (DebKey { id: id.into(), suite: suite.into(), component: component.into(), arch: arch.into(), filename: f.into() }, rec.clone())
        };
        let apt = vec![
            entry("deb", "stable", "main", "amd64", "a.deb"),
            entry("deb", "stable", "main", "arm64", "a.deb"),
            entry("deb", "stable", "contrib", "amd64", "b.deb"),
            entry("deb", "testing", "main", "amd64", "c.deb"),
            entry("deb2", "stable", "main", "i386", "d.deb"),
        ];
        meta.commit(&Changes { eco: EcoChanges { apt, ..Default::default() }, ..Changes::default() }).unwrap();
        let line = |id: &str, suite: &str, c: &[&str], a: &[&str]| SuiteLine {
            id: id.into(),
            suite: suite.into(),
            components: c.iter().map(|s| s.to_string()).collect(),
            architectures: a.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(
            meta.apt_suites_first(10).unwrap(),
            vec![line("deb", "stable", &["contrib", "main"], &["amd64", "arm64"]), line("deb", "testing", &["main"], &["amd64"]), line("deb2", "stable", &["main"], &["i386"])]
        );
        assert_eq!(meta.apt_suites_first(2).unwrap().len(), 2);
    }
}
