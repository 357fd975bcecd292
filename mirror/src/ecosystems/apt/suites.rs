//! One summary per apt suite, kept in the `state` tree and written in the transaction that
//! changes the suite's records: how many records each Packages index lists, the upstream's
//! names, and the store generation that last changed the suite. The suite list (`/apt/`, `/`,
//! an unknown suite's 404) reads these, O(suites); each suite's rendering is keyed to its own
//! generation, so an import into one suite leaves every other suite's indexes as rendered.

use std::collections::BTreeMap;
use std::convert::Infallible;

use serde::{Deserialize, Serialize};
use sled::transaction::ConflictableTransactionResult;

use super::{DebKey, DebRecord, SuiteInfo};
use crate::store::meta::{decode, eco_generation_key, json, key, parts, tx_generation, Counted};
use crate::store::{Meta, StoreError};

/// `state` keys `apt/suite \0 id \0 suite` → `Summary`.
const PREFIX: &str = "apt/suite";
/// `state` key written with the first complete set of summaries: stores written before
/// summaries were kept lack it, and read by scanning until `upgrade` builds them.
const BUILT: &[u8] = b"apt/suites-built";
/// Tries at building the summaries while other writes move the apt generation under the scan.
const UPGRADE_ATTEMPTS: u32 = 3;

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Summary {
    /// The store generation that last changed the suite's records.
    generation: u64,
    codename: Option<String>,
    origin: Option<String>,
    label: Option<String>,
    /// component → architecture → records its Packages index lists (never 0: an index with
    /// none left goes, and the suite with its last one).
    indexes: BTreeMap<String, BTreeMap<String, u64>>,
}

/// A suite the store holds: what it has, and the generation its rendering is keyed to.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    pub generation: u64,
    pub info: SuiteInfo,
}

impl Summary {
    fn info(&self) -> SuiteInfo {
        SuiteInfo {
            codename: self.codename.clone(),
            origin: self.origin.clone(),
            label: self.label.clone(),
            components: self.indexes.keys().cloned().collect(),
            architectures: self.indexes.values().flat_map(|a| a.keys().cloned()).collect(),
        }
    }

    /// The first record's names stand for the suite (they are the same in every record of a
    /// suite bundled from one upstream).
    fn name_from(&mut self, r: &DebRecord) {
        if self.codename.is_none() && self.origin.is_none() && self.label.is_none() {
            (self.codename, self.origin, self.label) = (r.codename.clone(), r.origin.clone(), r.label.clone());
        }
    }
}

fn summary_key(id: &str, suite: &str) -> Vec<u8> {
    key(&[PREFIX, id, suite])
}

/// What one transaction changes in the summaries: per suite, the change in each index's record
/// count, and a written record for the names.
#[derive(Default)]
pub(super) struct Deltas(BTreeMap<(String, String), Delta>);

#[derive(Default)]
struct Delta {
    counts: BTreeMap<(String, String), i64>,
    named_by: Option<DebRecord>,
}

impl Deltas {
    fn of(&mut self, k: &DebKey) -> &mut Delta {
        self.0.entry((k.id.clone(), k.suite.clone())).or_default()
    }

    /// `k` written as `now`; `was` is what its key held before. The same bytes again change nothing.
    pub(super) fn written(&mut self, k: &DebKey, r: &DebRecord, was: Option<&[u8]>, now: &[u8]) {
        if was == Some(now) {
            return;
        }
        let d = self.of(k);
        *d.counts.entry((k.component.clone(), k.arch.clone())).or_default() += i64::from(was.is_none());
        d.named_by.get_or_insert_with(|| r.clone());
    }

    /// `k` deleted; `held` whether its key held a record.
    pub(super) fn removed(&mut self, k: &DebKey, held: bool) {
        if held {
            *self.of(k).counts.entry((k.component.clone(), k.arch.clone())).or_default() -= 1;
        }
    }

    /// Writes the changed suites' summaries, stamped with the transaction's generation.
    pub(super) fn apply(self, state: &Counted<'_>) -> ConflictableTransactionResult<(), Infallible> {
        let generation = tx_generation(state)?;
        for ((id, suite), d) in self.0 {
            let k = summary_key(&id, &suite);
            let mut s: Summary = match state.get(&k)?.map(|v| serde_json::from_slice(&v)) {
                None => Summary::default(),
                Some(Ok(s)) => s,
                Some(Err(_)) => {
                    // A damaged summary: the next `upgrade` counts every suite afresh.
                    state.remove(BUILT)?;
                    Summary::default()
                }
            };
            for ((component, arch), n) in d.counts {
                let c = s.indexes.entry(component).or_default().entry(arch).or_default();
                *c = c.saturating_add_signed(n);
            }
            s.indexes.retain(|_, archs| {
                archs.retain(|_, n| *n > 0);
                !archs.is_empty()
            });
            if let Some(r) = &d.named_by {
                s.name_from(r);
            }
            s.generation = generation;
            if s.indexes.is_empty() {
                state.remove(k)?;
            } else {
                state.insert(k, json(&s))?;
            }
        }
        Ok(())
    }
}

/// Summaries counted from the records under `prefix` of the apt tree, stamped `generation`.
fn scan(m: &Meta, prefix: &[u8], generation: u64) -> Result<BTreeMap<(String, String), Summary>, StoreError> {
    let mut out: BTreeMap<(String, String), Summary> = BTreeMap::new();
    for kv in m.t.eco.apt.debs.scan_prefix(prefix) {
        let (k, v) = kv?;
        let p = parts(&k);
        let [id, suite, component, arch, _] = &p[..] else { return Err(StoreError::Corrupt("apt key".into())) };
        let s = out.entry((id.clone(), suite.clone())).or_insert_with(|| Summary { generation, ..Summary::default() });
        *s.indexes.entry(component.clone()).or_default().entry(arch.clone()).or_default() += 1;
        if s.codename.is_none() && s.origin.is_none() && s.label.is_none() {
            s.name_from(&decode("apt", &v)?);
        }
    }
    Ok(out)
}

/// `Ecosystem::upgrade`: every suite's summary from one scan of the records, stamped with the
/// apt generation (what every suite's rendering was keyed to before), written in one
/// transaction with `BUILT` unless an apt write landed during the scan (then scanned again).
pub(super) fn upgrade(m: &Meta) -> Result<(), StoreError> {
    for _ in 0..UPGRADE_ATTEMPTS {
        if m.t.state.contains_key(BUILT)? {
            return Ok(());
        }
        let generation = m.eco_generation("apt")?;
        let scanned = scan(m, &[], generation)?;
        let old: Vec<sled::IVec> = m.t.state.scan_prefix(key(&[PREFIX, ""])).keys().collect::<Result<_, _>>()?;
        let built = m.t.transaction(|t| {
            let moved = t.state.get(eco_generation_key("apt"))?.map(|v| u64::from_be_bytes(v.as_ref().try_into().unwrap_or_default())).unwrap_or(0) != generation;
            if moved || t.state.get(BUILT)?.is_some() {
                return Ok(false);
            }
            for k in &old {
                t.state.remove(k.as_ref())?;
            }
            for ((id, suite), s) in &scanned {
                t.state.insert(summary_key(id, suite), json(s))?;
            }
            t.state.insert(BUILT, &[][..])?;
            Ok(true)
        })?;
        if built {
            tracing::info!("apt: summarized {} suite(s) for the suite list", scanned.len());
            return Ok(());
        }
    }
    // Writes kept landing: the next write tries again; reads scan meanwhile.
    Ok(())
}

impl Meta {
    pub(crate) fn apt_summarized(&self) -> Result<bool, StoreError> {
        Ok(self.t.state.contains_key(BUILT)?)
    }

    /// One suite, if the store holds it: a get (a scan of that suite's records in a store
    /// whose summaries are not built yet, keyed to the apt generation).
    pub fn apt_suite(&self, id: &str, suite: &str) -> Result<Option<Suite>, StoreError> {
        let summary = if self.apt_summarized()? {
            self.t.state.get(summary_key(id, suite))?.map(|v| decode::<Summary>("state", &v)).transpose()?
        } else {
            scan(self, &key(&[id, suite, ""]), self.eco_generation("apt")?)?.into_values().next()
        };
        Ok(summary.map(|s| Suite { generation: s.generation, info: s.info() }))
    }

    /// Every apt source and suite held: id → suite → what it has. Reads the summaries,
    /// O(suites); scans every record of a store whose summaries are not built yet.
    pub fn apt_suites(&self) -> Result<BTreeMap<String, BTreeMap<String, SuiteInfo>>, StoreError> {
        let summaries = if self.apt_summarized()? {
            let prefix = key(&[PREFIX, ""]);
            let mut out = BTreeMap::new();
            for kv in self.t.state.scan_prefix(&prefix) {
                let (k, v) = kv?;
                let p = parts(&k[prefix.len()..]);
                let [id, suite] = &p[..] else { return Err(StoreError::Corrupt("apt suite summary key".into())) };
                out.insert((id.clone(), suite.clone()), decode::<Summary>("state", &v)?);
            }
            out
        } else {
            scan(self, &[], 0)?
        };
        let mut out: BTreeMap<String, BTreeMap<String, SuiteInfo>> = BTreeMap::new();
        for ((id, suite), s) in summaries {
            out.entry(id).or_default().insert(suite, s.info());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Changes, Removal, Store};
    use feas_format::Digest;

    fn deb(suite: &str, component: &str, arch: &str, name: &str) -> (DebKey, DebRecord) {
        let filename = format!("pool/{component}/{name}_1_{arch}.deb");
        let key = DebKey { id: "t".into(), suite: suite.into(), component: component.into(), arch: arch.into(), filename };
        let stanza = format!("Package: {name}\nVersion: 1\nArchitecture: {arch}\n");
        (key, DebRecord { stanza, digest: Digest::sha256_of(name.as_bytes()), size: 1, codename: Some(format!("{suite}-code")), origin: None, label: None })
    }

    fn import(store: &Store, debs: Vec<(DebKey, DebRecord)>) -> u64 {
        store.commit(&Changes { eco: crate::ecosystems::EcoChanges { apt: debs, ..Default::default() }, ..Changes::default() }).unwrap()
    }

    fn remove(store: &Store, debs: Vec<DebKey>) -> u64 {
        store
            .remove(&Removal { eco: crate::ecosystems::EcoRemoval { apt: crate::ecosystems::apt::AptRemoval { debs, pool: vec![] }, ..Default::default() }, ..Removal::default() })
            .unwrap()
    }

    /// What a scan of every record says, without generations: what the summaries must say.
    fn scanned(store: &Store) -> BTreeMap<String, BTreeMap<String, SuiteInfo>> {
        let mut out: BTreeMap<String, BTreeMap<String, SuiteInfo>> = BTreeMap::new();
        for ((id, suite), s) in scan(store, &[], 0).unwrap() {
            out.entry(id).or_default().insert(suite, s.info());
        }
        out
    }

    fn generation(store: &Store, suite: &str) -> Option<u64> {
        store.apt_suite("t", suite).unwrap().map(|s| s.generation)
    }

    /// The summaries follow imports, re-imports and removals as a scan would see them, and each
    /// suite's generation moves only with its own records.
    #[test]
    fn summaries_follow_writes_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let g1 = import(&store, vec![deb("stable", "main", "amd64", "a"), deb("stable", "main", "amd64", "b"), deb("stable", "contrib", "arm64", "c")]);
        let g2 = import(&store, vec![deb("testing", "main", "amd64", "t")]);
        assert_eq!(store.apt_suites().unwrap(), scanned(&store));
        assert_eq!((generation(&store, "stable"), generation(&store, "testing")), (Some(g1), Some(g2)));
        let stable = &store.apt_suites().unwrap()["t"]["stable"];
        assert_eq!((stable.codename.as_deref(), stable.components.len(), stable.architectures.len()), (Some("stable-code"), 2, 2));
        // The same records again change nothing of the suite.
        import(&store, vec![deb("stable", "main", "amd64", "a")]);
        assert_eq!(generation(&store, "stable"), Some(g1));
        // The last record of an index takes the index out; the last of a suite, the suite.
        let g4 = remove(&store, vec![deb("stable", "contrib", "arm64", "c").0, deb("stable", "main", "amd64", "nope").0]);
        assert_eq!(store.apt_suites().unwrap(), scanned(&store));
        assert_eq!((generation(&store, "stable"), generation(&store, "testing")), (Some(g4), Some(g2)));
        assert_eq!(store.apt_suites().unwrap()["t"]["stable"].architectures.iter().collect::<Vec<_>>(), ["amd64"]);
        remove(&store, vec![deb("testing", "main", "amd64", "t").0]);
        assert_eq!(store.apt_suite("t", "testing").unwrap(), None);
        assert_eq!(store.apt_suites().unwrap(), scanned(&store));
        assert_eq!(store.apt_suites().unwrap()["t"].keys().collect::<Vec<_>>(), ["stable"]);
    }

    /// A store written before summaries reads by scanning, keyed to the apt generation, until
    /// `upgrade` (the next write, or the server starting) builds them once.
    #[test]
    fn a_store_without_summaries_scans_until_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        import(&store, vec![deb("stable", "main", "amd64", "a")]);
        let g = import(&store, vec![deb("testing", "main", "amd64", "t")]);
        // As an earlier mirror left it: no summaries, no marker.
        let keys: Vec<sled::IVec> = store.t.state.scan_prefix(PREFIX).keys().map(Result::unwrap).collect();
        assert_eq!(keys.len(), 3, "two summaries and the marker");
        for k in keys {
            store.t.state.remove(k).unwrap();
        }
        assert!(!store.apt_summarized().unwrap());
        assert_eq!(store.apt_suites().unwrap(), scanned(&store));
        assert_eq!(generation(&store, "stable"), Some(g), "the apt generation stands for every suite's");
        assert_eq!(store.apt_suite("t", "nope").unwrap(), None);
        store.upgrade().unwrap();
        assert!(store.apt_summarized().unwrap());
        assert_eq!(store.apt_suites().unwrap(), scanned(&store));
        assert_eq!((generation(&store, "stable"), generation(&store, "testing")), (Some(g), Some(g)));
        let g3 = import(&store, vec![deb("testing", "main", "amd64", "u")]);
        assert_eq!((generation(&store, "stable"), generation(&store, "testing")), (Some(g), Some(g3)));
    }
}
