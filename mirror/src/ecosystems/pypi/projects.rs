//! One summary per PyPI project, kept in the `state` tree and written in the transaction that
//! changes the project's files: its versions (with how many files each) and the store
//! generation that last changed it. The root `/pypi/simple/` and `/` read these, O(projects);
//! each project's page is keyed to its own generation, so an import of one project leaves every
//! other project's page as rendered.

use std::collections::BTreeMap;
use std::convert::Infallible;

use serde::{Deserialize, Serialize};
use sled::transaction::ConflictableTransactionResult;

use super::WheelRecord;
use crate::store::meta::{decode, eco_generation_key, json, key, tx_generation, u64_of, Counted, SEP};
use crate::store::{Meta, StoreError};

/// `state` keys `pypi/project \0 project` → `Summary`.
const PREFIX: &str = "pypi/project";
/// `state` keys `pypi/project-generation \0 project` → the summary's generation (8 bytes, big
/// endian): what a page request reads, where decoding the summary of a project with 5,000
/// versions cost more than serving its kept page.
const GENERATION_PREFIX: &str = "pypi/project-generation";
/// `state` key written with the first complete set of summaries and generations (see apt's
/// `suites`); `pypi/projects-built` marked summaries without the generation keys.
const BUILT: &[u8] = b"pypi/projects-built-2";
const BUILT_BEFORE: &[u8] = b"pypi/projects-built";
/// Tries at building the summaries while other writes move the PyPI generation under the scan.
const UPGRADE_ATTEMPTS: u32 = 3;

/// A project the store holds.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// The store generation that last changed its files: what its page is keyed to.
    pub generation: u64,
    /// version → files of it (never 0: a version with none left goes, the project with its last).
    pub versions: BTreeMap<String, u64>,
}

fn summary_key(project: &str) -> Vec<u8> {
    key(&[PREFIX, project])
}

fn generation_key(project: &str) -> Vec<u8> {
    key(&[GENERATION_PREFIX, project])
}

/// What one transaction changes in the summaries: per project, per version, the change in files.
#[derive(Default)]
pub(super) struct Deltas(BTreeMap<String, BTreeMap<String, i64>>);

impl Deltas {
    /// `w` written as `now` over `was` (what its key held). The same bytes again change nothing.
    pub(super) fn written(&mut self, w: &WheelRecord, was: Option<&[u8]>, now: &[u8]) {
        if was == Some(now) {
            return;
        }
        if let Some(old) = was {
            self.removed(&w.project, Some(old));
        }
        *self.0.entry(w.project.clone()).or_default().entry(w.version.clone()).or_default() += 1;
    }

    /// A file of `project` deleted; `was` what its key held.
    pub(super) fn removed(&mut self, project: &str, was: Option<&[u8]>) {
        let Some(was) = was else { return };
        // An undecodable record counts as no version: the project is still marked changed.
        let version = serde_json::from_slice::<WheelRecord>(was).map(|w| w.version).unwrap_or_default();
        *self.0.entry(project.to_string()).or_default().entry(version).or_default() -= 1;
    }

    /// Writes the changed projects' summaries, stamped with the transaction's generation.
    pub(super) fn apply(self, state: &Counted<'_>) -> ConflictableTransactionResult<(), Infallible> {
        let generation = tx_generation(state)?;
        for (project, versions) in self.0 {
            let k = summary_key(&project);
            let mut p: Project = match state.get(&k)?.map(|v| serde_json::from_slice(&v)) {
                None => Project::default(),
                Some(Ok(p)) => p,
                Some(Err(_)) => {
                    // A damaged summary: the next `upgrade` counts every project afresh.
                    state.remove(BUILT)?;
                    Project::default()
                }
            };
            for (version, n) in versions {
                let c = p.versions.entry(version).or_default();
                *c = c.saturating_add_signed(n);
            }
            p.versions.retain(|_, n| *n > 0);
            p.generation = generation;
            if p.versions.is_empty() {
                state.remove(k)?;
                state.remove(generation_key(&project))?;
            } else {
                state.insert(k, json(&p))?;
                state.insert(generation_key(&project), &generation.to_be_bytes()[..])?;
            }
        }
        Ok(())
    }
}

/// Summaries counted from the records under `prefix` of the projects tree, stamped `generation`.
fn scan(m: &Meta, prefix: &[u8], generation: u64) -> Result<BTreeMap<String, Project>, StoreError> {
    let mut out: BTreeMap<String, Project> = BTreeMap::new();
    for kv in m.t.eco.pypi.projects.scan_prefix(prefix) {
        let (k, v) = kv?;
        let project = String::from_utf8_lossy(k.split(|b| *b == SEP).next().unwrap_or_default()).into_owned();
        let w: WheelRecord = decode("pypi", &v)?;
        *out.entry(project).or_insert_with(|| Project { generation, ..Project::default() }).versions.entry(w.version).or_default() += 1;
    }
    Ok(out)
}

/// `Ecosystem::upgrade`: as apt's `suites::upgrade`, for projects.
pub(super) fn upgrade(m: &Meta) -> Result<(), StoreError> {
    for _ in 0..UPGRADE_ATTEMPTS {
        if m.t.state.contains_key(BUILT)? {
            return Ok(());
        }
        let generation = m.eco_generation("pypi")?;
        let scanned = scan(m, &[], generation)?;
        let mut old: Vec<sled::IVec> = m.t.state.scan_prefix(key(&[PREFIX, ""])).keys().collect::<Result<_, _>>()?;
        old.extend(m.t.state.scan_prefix(key(&[GENERATION_PREFIX, ""])).keys().collect::<Result<Vec<_>, _>>()?);
        let built = m.t.transaction(|t| {
            let moved = t.state.get(eco_generation_key("pypi"))?.map(|v| u64::from_be_bytes(v.as_ref().try_into().unwrap_or_default())).unwrap_or(0) != generation;
            if moved || t.state.get(BUILT)?.is_some() {
                return Ok(false);
            }
            for k in &old {
                t.state.remove(k.as_ref())?;
            }
            for (project, p) in &scanned {
                t.state.insert(summary_key(project), json(p))?;
                t.state.insert(generation_key(project), &p.generation.to_be_bytes()[..])?;
            }
            t.state.remove(BUILT_BEFORE)?;
            t.state.insert(BUILT, &[][..])?;
            Ok(true)
        })?;
        if built {
            tracing::info!("pypi: summarized {} project(s) for the project list", scanned.len());
            return Ok(());
        }
    }
    Ok(())
}

impl Meta {
    pub(crate) fn pypi_summarized(&self) -> Result<bool, StoreError> {
        Ok(self.t.state.contains_key(BUILT)?)
    }

    /// One project, if the store holds a file of it: a get (a scan of its files in a store
    /// whose summaries are not built yet, keyed to the PyPI generation).
    pub fn pypi_project(&self, project: &str) -> Result<Option<Project>, StoreError> {
        if self.pypi_summarized()? {
            return self.t.state.get(summary_key(project))?.map(|v| decode("state", &v)).transpose();
        }
        Ok(scan(self, &key(&[project, ""]), self.eco_generation("pypi")?)?.into_values().next())
    }

    /// The generation a project's page is keyed to, if the store holds a file of it: one get
    /// of 8 bytes (the summary's versions are not decoded).
    pub fn pypi_project_generation(&self, project: &str) -> Result<Option<u64>, StoreError> {
        if self.pypi_summarized()? {
            return self.t.state.get(generation_key(project))?.map(|v| u64_of(&v)).transpose();
        }
        Ok(self.pypi_project(project)?.map(|p| p.generation))
    }

    /// Every project with at least one file, sorted, with its summary. Reads the summaries,
    /// O(projects); scans every file record of a store whose summaries are not built yet.
    pub fn pypi_index(&self) -> Result<Vec<(String, Project)>, StoreError> {
        if !self.pypi_summarized()? {
            return Ok(scan(self, &[], 0)?.into_iter().collect());
        }
        let prefix = key(&[PREFIX, ""]);
        self.t
            .state
            .scan_prefix(&prefix)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((String::from_utf8_lossy(&k[prefix.len()..]).into_owned(), decode("state", &v)?))
            })
            .collect()
    }

    /// Projects with at least one file, sorted.
    pub fn pypi_projects(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.pypi_index()?.into_iter().map(|(p, _)| p).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Changes, Removal, Store};
    use feas_format::Digest;

    fn wheel(project: &str, version: &str) -> WheelRecord {
        let filename = format!("{project}-{version}-py3-none-any.whl");
        WheelRecord { project: project.into(), version: version.into(), digest: Digest::sha256_of(filename.as_bytes()), filename, size: 1, requires_python: None, metadata: None }
    }

    fn import(store: &Store, pypi: Vec<WheelRecord>) -> u64 {
        store.commit(&Changes { eco: crate::ecosystems::EcoChanges { pypi, ..Default::default() }, ..Changes::default() }).unwrap()
    }

    fn index(store: &Store) -> Vec<(String, Vec<String>, u64)> {
        store.pypi_index().unwrap().into_iter().map(|(p, s)| (p, s.versions.into_keys().collect(), s.generation)).collect()
    }

    /// The summaries follow imports and removals; each project's generation moves only with its
    /// own files; a store without them scans until `upgrade`.
    #[test]
    fn summaries_follow_writes_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let g1 = import(&store, vec![wheel("six", "1.0"), wheel("six", "1.1")]);
        let g2 = import(&store, vec![wheel("attrs", "23.1")]);
        import(&store, vec![wheel("six", "1.0")]);
        let want = vec![("attrs".to_string(), vec!["23.1".to_string()], g2), ("six".to_string(), vec!["1.0".to_string(), "1.1".to_string()], g1)];
        assert_eq!(index(&store), want);
        for (p, _, g) in &want {
            assert_eq!(store.pypi_project_generation(p).unwrap(), Some(*g), "{p}");
        }
        let r = |files: &[(&str, &str)]| Removal {
            eco: crate::ecosystems::EcoRemoval { pypi: files.iter().map(|(p, f)| (p.to_string(), f.to_string())).collect(), ..Default::default() },
            ..Removal::default()
        };
        let g4 = store.remove(&r(&[("six", "six-1.1-py3-none-any.whl")])).unwrap();
        assert_eq!(index(&store), vec![want[0].clone(), ("six".to_string(), vec!["1.0".to_string()], g4)]);
        store.remove(&r(&[("attrs", "attrs-23.1-py3-none-any.whl")])).unwrap();
        assert_eq!(store.pypi_projects().unwrap(), ["six"]);
        assert_eq!(store.pypi_project("attrs").unwrap(), None);
        assert_eq!(store.pypi_project_generation("attrs").unwrap(), None);
        // As an earlier mirror left it: no summaries, no marker.
        for k in store.t.state.scan_prefix("pypi/project").keys().map(Result::unwrap).collect::<Vec<_>>() {
            store.t.state.remove(k).unwrap();
        }
        let pypi = store.eco_generation("pypi").unwrap();
        assert_eq!(index(&store), vec![("six".to_string(), vec!["1.0".to_string()], 0)]);
        assert_eq!(store.pypi_project("six").unwrap().map(|p| p.generation), Some(pypi), "the PyPI generation stands for the project's");
        store.upgrade().unwrap();
        assert!(store.pypi_summarized().unwrap());
        assert_eq!(index(&store), vec![("six".to_string(), vec!["1.0".to_string()], pypi)]);
        assert_eq!(store.pypi_project_generation("six").unwrap(), Some(pypi));
    }

    /// A store summarized by an earlier mirror (summaries, no generation keys) is summarized
    /// again at open, generation keys and all.
    #[test]
    fn summaries_without_generation_keys_are_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let g = import(&store, vec![wheel("six", "1.0")]);
        store.t.state.remove(generation_key("six")).unwrap();
        store.t.state.remove(BUILT).unwrap();
        store.t.state.insert(BUILT_BEFORE, &[][..]).unwrap();
        assert!(!store.pypi_summarized().unwrap());
        assert_eq!(store.pypi_project_generation("six").unwrap(), Some(store.eco_generation("pypi").unwrap()));
        store.upgrade().unwrap();
        assert!(store.pypi_summarized().unwrap() && !store.t.state.contains_key(BUILT_BEFORE).unwrap());
        assert_eq!(store.pypi_project_generation("six").unwrap(), Some(store.eco_generation("pypi").unwrap()));
        assert!(store.pypi_project_generation("six").unwrap() >= Some(g));
    }
}
