//! What keeps a blob alive: one rule per metadata tree. `gc` deletes a blob only when no rule
//! reaches it, so every tree `Meta` opens has a rule here, even if the rule is "names no blob".
//! `RULES` has a field per tree (a tree without a rule does not compile); a tree on disk that
//! `Trees` does not name makes `references` fail (gc refuses) and the test below fail, so a new
//! record type cannot be forgotten.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use feas_format::oci::AnyManifest;
use feas_format::Digest;

use super::{decode, unix_now, BundleRecord, Meta, Trees, PUSH_GRACE, SEP};
use crate::store::{BlobStore, Paths, StoreError};

/// The import refuses manifests larger than this, so none in the store is.
const MAX_MANIFEST: u64 = 4 << 20;

/// sled's own tree, which `Meta` never writes.
const SLED_DEFAULT_TREE: &[u8] = b"__sled__default";

/// Every blob the metadata references, each with the artifacts (as `mirror history` names
/// them) that reference it.
#[derive(Debug, Default)]
pub struct References {
    pub blobs: BTreeMap<Digest, BTreeSet<String>>,
    /// Manifests the metadata names whose file is missing or unparseable: what they reference
    /// is unknown, so nothing may be collected until they are restored or removed.
    pub unreadable: BTreeMap<Digest, BTreeSet<String>>,
    /// Blobs pushed within `PUSH_GRACE` (referenced by a manifest or not yet).
    pub pushed_recently: BTreeSet<Digest>,
}

pub(crate) type Rule = fn(&Meta, &mut Walker) -> Result<(), StoreError>;

/// Every tree with what it keeps alive: a field per tree, so a tree without a rule does not
/// compile.
const RULES: Trees<Rule> = Trees {
    repos: names_no_blob,
    tags,
    manifests,
    referrers,
    // The record of what is held: what gc prunes, not a reason to keep.
    blobs: names_no_blob,
    // bundle.json itself is not stored, but the SBOM it names is served.
    bundles,
    history: names_no_blob,
    state: names_no_blob,
    envelopes,
    // Markers beside `tags` and `manifests`, and blobs pushed within `PUSH_GRACE`.
    pushed,
    // Each ecosystem's, from its folder.
    eco: crate::ecosystems::RULES,
};

impl Meta {
    /// Walk every tree's rule. Manifests are read from `paths` to follow config, layers and
    /// child manifests, as the import's graph walk does.
    pub fn references(&self, paths: &Paths) -> Result<References, StoreError> {
        self.references_pushed_since(paths, unix_now().saturating_sub(PUSH_GRACE.as_secs()))
    }

    /// Keeping blobs pushed at or after `since` (unix seconds) whether a manifest names them
    /// or not.
    pub fn references_pushed_since(&self, paths: &Paths, since: u64) -> Result<References, StoreError> {
        let mut w = Walker { paths, since, refs: References::default(), cache: HashMap::new() };
        for name in self.db.tree_names() {
            if name.as_ref() == SLED_DEFAULT_TREE {
                continue;
            }
            let name = String::from_utf8_lossy(&name).into_owned();
            let rule = RULES.get(name.as_bytes()).ok_or(StoreError::NoReachRule(name))?;
            rule(self, &mut w)?;
        }
        Ok(w.refs)
    }
}

/// What one manifest references directly.
#[derive(Clone)]
struct Children {
    blobs: Vec<Digest>,
    manifests: Vec<Digest>,
}

pub(crate) struct Walker<'a> {
    paths: &'a Paths,
    /// Pushed blobs younger than this are kept.
    since: u64,
    refs: References,
    /// Parsed once per run: many tags share platform manifests. `Err` = present but unreadable.
    cache: HashMap<Digest, Result<Option<Children>, ()>>,
}

impl Walker<'_> {
    pub(crate) fn blob(&mut self, d: &Digest, artifact: &str) {
        self.refs.blobs.entry(d.clone()).or_default().insert(artifact.to_string());
    }

    /// `None`: no such file. `Err`: a file that is not a manifest we can read.
    fn children(&mut self, d: &Digest) -> Result<Option<Children>, ()> {
        if let Some(c) = self.cache.get(d) {
            return c.clone();
        }
        let path = self.paths.blob(d);
        let c = if !path.is_file() {
            Ok(None)
        } else {
            match BlobStore::read_small(&path, MAX_MANIFEST).ok().and_then(|b| AnyManifest::parse(&b).ok()) {
                Some(m) => Ok(Some(Children { blobs: m.blob_children().map(|x| x.digest.clone()).collect(), manifests: m.manifests.iter().map(|x| x.digest.clone()).collect() })),
                None => Err(()),
            }
        };
        self.cache.insert(d.clone(), c.clone());
        c
    }

    /// A manifest the metadata names: itself, its config and layers, and the child manifests
    /// of an index that the store holds (a platform filter leaves some out; that is fine).
    pub(crate) fn manifest(&mut self, top: &Digest, artifact: &str) {
        let mut stack = vec![(top.clone(), true)];
        let mut seen = BTreeSet::new();
        while let Some((d, named)) = stack.pop() {
            if !seen.insert(d.clone()) {
                continue;
            }
            match self.children(&d) {
                Ok(Some(c)) => {
                    self.blob(&d, artifact);
                    for b in &c.blobs {
                        self.blob(b, artifact);
                    }
                    stack.extend(c.manifests.into_iter().map(|m| (m, false)));
                }
                Ok(None) if !named => {}
                Ok(None) | Err(()) => {
                    self.blob(&d, artifact);
                    self.refs.unreadable.entry(d.clone()).or_default().insert(artifact.to_string());
                }
            }
        }
    }
}

pub(crate) fn parts(k: &[u8]) -> Vec<String> {
    k.split(|b| *b == SEP).map(|p| String::from_utf8_lossy(p).into_owned()).collect()
}

fn digest_of(tree: &str, s: &str) -> Result<Digest, StoreError> {
    s.parse().map_err(|_| StoreError::Corrupt(format!("{tree}: {s:?} is not a digest")))
}

pub(crate) fn names_no_blob(_: &Meta, _: &mut Walker) -> Result<(), StoreError> {
    Ok(())
}

/// A pushed blob waits for its manifest: kept for a grace (`PUSH_GRACE` by default).
fn pushed(m: &Meta, w: &mut Walker) -> Result<(), StoreError> {
    for kv in m.t.pushed.scan_prefix([SEP]) {
        let (k, v) = kv?;
        let [_, d] = &parts(&k)[..] else { return Err(StoreError::Corrupt("pushed key".into())) };
        let at = u64::from_be_bytes(v.as_ref().try_into().map_err(|_| StoreError::Corrupt("pushed time".into()))?);
        if at >= w.since {
            let d = digest_of("pushed", d)?;
            w.blob(&d, &format!("a push at {at} (unix time), kept a while for its manifest"));
            w.refs.pushed_recently.insert(d);
        }
    }
    Ok(())
}

fn tags(m: &Meta, w: &mut Walker) -> Result<(), StoreError> {
    for kv in m.t.tags.iter() {
        let (k, v) = kv?;
        let [repo, tag] = &parts(&k)[..] else { return Err(StoreError::Corrupt("tags key".into())) };
        let d = digest_of("tags", &String::from_utf8_lossy(&v))?;
        w.manifest(&d, &format!("{repo}:{tag}"));
    }
    Ok(())
}

fn manifests(m: &Meta, w: &mut Walker) -> Result<(), StoreError> {
    for k in m.t.manifests.iter().keys() {
        let [repo, d] = &parts(&k?)[..] else { return Err(StoreError::Corrupt("manifests key".into())) };
        w.manifest(&digest_of("manifests", d)?, &format!("{repo}@{d}"));
    }
    Ok(())
}

fn referrers(m: &Meta, w: &mut Walker) -> Result<(), StoreError> {
    for kv in m.t.referrers.iter() {
        let (k, v) = kv?;
        let repo = parts(&k).into_iter().next().unwrap_or_default();
        let desc: feas_format::oci::Descriptor = decode("referrers", &v)?;
        w.manifest(&desc.digest, &format!("{repo}@{}", desc.digest));
    }
    Ok(())
}

fn bundles(m: &Meta, w: &mut Walker) -> Result<(), StoreError> {
    for kv in m.t.bundles.iter() {
        let (k, v) = kv?;
        let r: BundleRecord = decode("bundles", &v)?;
        if let Some(d) = &r.sbom {
            w.blob(d, &format!("sbom of {}", String::from_utf8_lossy(&k)));
        }
    }
    Ok(())
}

fn envelopes(m: &Meta, w: &mut Walker) -> Result<(), StoreError> {
    for k in m.t.envelopes.iter().keys() {
        let [name, d] = &parts(&k?)[..] else { return Err(StoreError::Corrupt("envelopes key".into())) };
        w.manifest(&digest_of("envelopes", d)?, name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Changes, ManifestRecord, Store};

    #[test]
    fn every_tree_has_a_rule() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for name in store.db.tree_names() {
            let name = String::from_utf8_lossy(&name).into_owned();
            assert!(name.as_bytes() == SLED_DEFAULT_TREE || RULES.get(name.as_bytes()).is_some(), "tree {name} has no reachability rule in store/meta/reach.rs");
        }
        assert!(store.references(&store.paths).unwrap().blobs.is_empty());
    }

    #[test]
    fn manifests_reach_config_and_layers_and_records_reach_payloads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let put = |b: &[u8]| {
            let d = Digest::sha256_of(b);
            store.blobs.write(&d, &mut &b[..]).unwrap();
            d
        };
        let (config, layer, file, orphan) = (put(b"{}"), put(b"layer"), put(b"file"), put(b"orphan"));
        let m = format!(r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{config}","size":2}},"layers":[{{"mediaType":"y","digest":"{layer}","size":5}}]}}"#);
        let md = put(m.as_bytes());
        let absent = Digest::sha256_of(b"absent");
        store
            .commit(&Changes {
                repos: vec!["r/a".into()],
                tags: vec![("r/a".into(), "1".into(), md.clone())],
                manifests: vec![("r/a".into(), md.clone(), ManifestRecord::new("x", m.len() as u64)), ("r/a".into(), absent.clone(), ManifestRecord::new("x", 1))],
                eco: crate::ecosystems::EcoChanges { files: vec![("f.bin".into(), file.clone(), 4)], ..Default::default() },
                ..Changes::default()
            })
            .unwrap();
        let refs = store.references(&store.paths).unwrap();
        for d in [&config, &layer, &md, &file] {
            assert!(refs.blobs.contains_key(d), "{d} must be reachable");
        }
        assert!(refs.blobs[&layer].contains("r/a:1"));
        assert!(!refs.blobs.contains_key(&orphan));
        assert_eq!(refs.unreadable.keys().collect::<Vec<_>>(), vec![&absent]);
    }

    /// A blob pushed ahead of its manifest survives a gc for `PUSH_GRACE`, then is garbage;
    /// an imported blob nothing names has no grace.
    #[test]
    fn pushed_blobs_wait_for_their_manifest_for_the_grace() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (pushed, imported) = (Digest::sha256_of(b"pushed"), Digest::sha256_of(b"imported"));
        store.commit(&Changes { repos: vec!["r/a".into()], blobs: vec![(pushed.clone(), 6)], pushed: true, ..Changes::default() }).unwrap();
        store.commit(&Changes { blobs: vec![(imported.clone(), 8)], ..Changes::default() }).unwrap();
        let refs = store.references(&store.paths).unwrap();
        assert!(refs.blobs.contains_key(&pushed) && refs.pushed_recently.contains(&pushed), "kept within the grace");
        assert!(!refs.blobs.contains_key(&imported));
        let later = store.references_pushed_since(&store.paths, unix_now() + 1).unwrap();
        assert!(!later.blobs.contains_key(&pushed) && later.pushed_recently.is_empty(), "garbage after the grace");
        // Removing the blob's record (what gc does) takes its mark too.
        store.remove(&crate::store::Removal { blobs: vec![pushed.clone()], ..Default::default() }).unwrap();
        assert!(store.references(&store.paths).unwrap().pushed_recently.is_empty());
    }
}
