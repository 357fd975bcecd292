//! What keeps a blob alive: one rule per metadata tree. `gc` deletes a blob only when no rule
//! reaches it, so every tree `Meta` opens has a rule here, even if the rule is "names no blob".
//! `RULES` has a field per tree (a tree without a rule does not compile); a tree on disk that
//! `Trees` does not name makes `references` fail (gc refuses) and the test below fail, so a new
//! record type cannot be forgotten.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use feas_format::oci::AnyManifest;
use feas_format::Digest;

use super::{decode, unix_now, BundleRecord, Meta, Trees, PUSH_GRACE, SEP};
use crate::store::digests::{DigestSet, DigestSetBuilder, SeenDigests};
use crate::store::{BlobStore, Paths, StoreError};

/// The import refuses manifests larger than this, so none in the store is.
const MAX_MANIFEST: u64 = 4 << 20;

/// sled's own tree, which `Meta` never writes.
const SLED_DEFAULT_TREE: &[u8] = b"__sled__default";

/// Every blob the metadata references, as digests only: a million artifact names would cost a
/// gigabyte, so `Meta::artifacts_referencing` finds the names of the few blobs reported.
#[derive(Debug, Default)]
pub struct References {
    /// Every blob a rule keeps, blobs pushed within the grace included.
    pub blobs: DigestSet,
    /// Manifests the metadata names whose file is missing or unparseable: what they reference
    /// is unknown, so nothing may be collected until they are restored or removed. Named
    /// (with the artifacts naming them), as they are few and always reported.
    pub unreadable: BTreeMap<Digest, BTreeSet<String>>,
    /// Blobs pushed at or after `since` (referenced by a manifest or not yet).
    pub pushed_recently: DigestSet,
    /// Of those, the ones nothing but their push keeps: awaiting their manifest.
    pub awaiting_manifest: DigestSet,
    /// Unix seconds: pushes from then on are kept.
    pub since: u64,
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
    // Names and digests of what changed, some long gone: a record, not a reference.
    audit: names_no_blob,
    removed: names_no_blob,
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
        let mut w = Walker::new(paths, since, Collect::Digests { reached: DigestSetBuilder::default(), pushed: DigestSetBuilder::default() });
        self.walk_rules(&mut w)?;
        let Collect::Digests { reached, pushed } = w.collect else { unreachable!("collecting digests") };
        let (reached, pushed_recently) = (reached.build(), pushed.build());
        let awaiting_manifest = pushed_recently.iter().filter(|d| !reached.contains(d)).collect();
        Ok(References { blobs: reached.union(&pushed_recently), unreadable: w.unreadable, pushed_recently, awaiting_manifest, since })
    }

    /// The artifacts (as `mirror history` names them) that reference each of `digests`: the
    /// same walk as `references_pushed_since` (pass its `since`), keeping names only for these.
    pub fn artifacts_referencing(&self, paths: &Paths, since: u64, digests: &BTreeSet<Digest>) -> Result<BTreeMap<Digest, BTreeSet<String>>, StoreError> {
        if digests.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut w = Walker::new(paths, since, Collect::NamesOf { digests, names: BTreeMap::new() });
        self.walk_rules(&mut w)?;
        let Collect::NamesOf { names, .. } = w.collect else { unreachable!("collecting names") };
        Ok(names)
    }

    fn walk_rules(&self, w: &mut Walker) -> Result<(), StoreError> {
        for name in self.db.tree_names() {
            if name.as_ref() == SLED_DEFAULT_TREE {
                continue;
            }
            let name = String::from_utf8_lossy(&name).into_owned();
            let rule = RULES.get(name.as_bytes()).ok_or(StoreError::NoReachRule(name))?;
            rule(self, w)?;
        }
        Ok(())
    }
}

/// What a walk keeps.
enum Collect<'a> {
    /// Every digest reached; those pushed within the grace apart.
    Digests { reached: DigestSetBuilder, pushed: DigestSetBuilder },
    /// The artifacts reaching each of `digests`.
    NamesOf { digests: &'a BTreeSet<Digest>, names: BTreeMap<Digest, BTreeSet<String>> },
}

/// A manifest met in one artifact's walk, with the manifests it was reached from.
struct Visit {
    digest: Digest,
    parents: Vec<usize>,
    /// Something below it has its names kept (set once per walk).
    named: bool,
}

pub(crate) struct Walker<'a> {
    paths: &'a Paths,
    /// Pushed blobs younger than this are kept.
    since: u64,
    collect: Collect<'a>,
    unreadable: BTreeMap<Digest, BTreeSet<String>>,
    /// Manifests read and followed: many tags share platform manifests, and the `manifests`
    /// tree names every manifest a tag reaches, so each is read once per run...
    walked: SeenDigests,
    /// ...unless something below it has its names kept (an unreadable manifest, or one of
    /// the digests named): then each artifact reaching it walks it again to be named.
    named_below: SeenDigests,
}

impl<'a> Walker<'a> {
    fn new(paths: &'a Paths, since: u64, collect: Collect<'a>) -> Walker<'a> {
        Walker { paths, since, collect, unreadable: BTreeMap::new(), walked: SeenDigests::default(), named_below: SeenDigests::default() }
    }

    pub(crate) fn blob(&mut self, d: &Digest, artifact: &str) {
        self.reach(d, artifact);
    }

    /// `true` when `d`'s names are kept.
    fn reach(&mut self, d: &Digest, artifact: &str) -> bool {
        match &mut self.collect {
            Collect::Digests { reached, .. } => {
                reached.insert(d);
                false
            }
            Collect::NamesOf { digests, names } => {
                let wanted = digests.contains(d);
                if wanted {
                    names.entry(d.clone()).or_default().insert(artifact.to_string());
                }
                wanted
            }
        }
    }

    fn pushed(&mut self, d: &Digest, artifact: impl FnOnce() -> String) {
        match &mut self.collect {
            Collect::Digests { pushed, .. } => pushed.insert(d),
            Collect::NamesOf { .. } => {
                self.reach(d, &artifact());
            }
        }
    }

    /// What manifest `d` references directly. `None`: no such file. `Err`: a file that is not
    /// a manifest we can read.
    fn children(&self, d: &Digest) -> Result<Option<AnyManifest>, ()> {
        let path = self.paths.blob(d);
        if !path.is_file() {
            return Ok(None);
        }
        BlobStore::read_small(&path, MAX_MANIFEST).ok().and_then(|b| AnyManifest::parse(&b).ok()).map(Some).ok_or(())
    }

    /// A manifest the metadata names: itself, its config and layers, and the child manifests
    /// of an index that the store holds (a platform filter leaves some out; that is fine).
    pub(crate) fn manifest(&mut self, top: &Digest, artifact: &str) {
        let mut visits: Vec<Visit> = Vec::new();
        let mut index: HashMap<Digest, usize> = HashMap::new();
        // (manifest, named by the metadata itself, the visit it was reached from)
        let mut stack = vec![(top.clone(), true, None::<usize>)];
        while let Some((d, named, parent)) = stack.pop() {
            if let Some(&i) = index.get(&d) {
                // Met again by another path: that path is named if this one is, now or later.
                visits[i].parents.extend(parent);
                if visits[i].named {
                    mark(&mut visits, parent, &mut self.named_below);
                }
                continue;
            }
            if self.walked.contains(&d) && !self.named_below.contains(&d) {
                continue;
            }
            let i = visits.len();
            visits.push(Visit { digest: d.clone(), parents: parent.into_iter().collect(), named: false });
            index.insert(d.clone(), i);
            match self.children(&d) {
                Ok(Some(m)) => {
                    self.walked.insert(&d);
                    let mut kept = self.reach(&d, artifact);
                    for b in m.blob_children() {
                        kept |= self.reach(&b.digest, artifact);
                    }
                    if kept {
                        mark(&mut visits, Some(i), &mut self.named_below);
                    }
                    stack.extend(m.manifests.iter().map(|c| (c.digest.clone(), false, Some(i))));
                }
                Ok(None) if !named => {}
                Ok(None) | Err(()) => {
                    self.reach(&d, artifact);
                    self.unreadable.entry(d.clone()).or_default().insert(artifact.to_string());
                    mark(&mut visits, Some(i), &mut self.named_below);
                }
            }
        }
    }
}

/// Mark visit `from` and every visit it was reached from as having names kept below.
fn mark(visits: &mut [Visit], from: Option<usize>, named_below: &mut SeenDigests) {
    let mut todo: Vec<usize> = from.into_iter().collect();
    while let Some(i) = todo.pop() {
        if !visits[i].named {
            visits[i].named = true;
            named_below.insert(&visits[i].digest);
            todo.extend(visits[i].parents.iter().copied());
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
            w.pushed(&digest_of("pushed", d)?, || {
                let when = chrono::DateTime::from_timestamp(at as i64, 0).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_else(|| at.to_string());
                format!("a push at {when}, kept a while for its manifest")
            });
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
            assert!(refs.blobs.contains(d), "{d} must be reachable");
        }
        assert!(!refs.blobs.contains(&orphan));
        assert_eq!(refs.unreadable.keys().collect::<Vec<_>>(), vec![&absent]);
        // Names are found for the digests asked about, and only for those.
        let names = store.artifacts_referencing(&store.paths, refs.since, &[layer.clone(), file.clone(), orphan.clone()].into()).unwrap();
        let want = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(names.keys().collect::<Vec<_>>(), [&layer, &file].into_iter().collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>());
        assert_eq!(names[&layer], want(&["r/a:1", &format!("r/a@{md}")]));
        assert_eq!(names[&file], want(&["files/f.bin"]));
    }

    /// Each manifest is read once per run, yet every artifact reaching an unreadable manifest
    /// or a blob asked about is named, however many tags share the index on the way.
    #[test]
    fn shared_manifests_are_walked_once_and_every_artifact_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let put = |b: &[u8]| {
            let d = Digest::sha256_of(b);
            store.blobs.write(&d, &mut &b[..]).unwrap();
            d
        };
        let (config, layer, junk) = (put(b"{}"), put(b"layer"), put(b"not a manifest"));
        let m = format!(r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{config}","size":2}},"layers":[{{"mediaType":"y","digest":"{layer}","size":5}}]}}"#);
        let md = put(m.as_bytes());
        let i = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"x","digest":"{md}","size":1}},{{"mediaType":"x","digest":"{junk}","size":1}}]}}"#
        );
        let id = put(i.as_bytes());
        let tags = vec![("r/a".into(), "1".into(), id.clone()), ("r/a".into(), "2".into(), id.clone()), ("r/b".into(), "1".into(), md.clone())];
        store.commit(&Changes { repos: vec!["r/a".into(), "r/b".into()], tags, ..Changes::default() }).unwrap();
        let refs = store.references(&store.paths).unwrap();
        let want = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(refs.unreadable.get(&junk), Some(&want(&["r/a:1", "r/a:2"])), "{:?}", refs.unreadable);
        assert_eq!(refs.blobs.len(), 5);
        let names = store.artifacts_referencing(&store.paths, refs.since, &[layer.clone(), md.clone()].into()).unwrap();
        assert_eq!(names[&layer], want(&["r/a:1", "r/a:2", "r/b:1"]));
        assert_eq!(names[&md], want(&["r/a:1", "r/a:2", "r/b:1"]));
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
        assert!(refs.blobs.contains(&pushed) && refs.pushed_recently.contains(&pushed), "kept within the grace");
        assert!(refs.awaiting_manifest.contains(&pushed), "nothing but its push keeps it");
        assert!(!refs.blobs.contains(&imported));
        let names = store.artifacts_referencing(&store.paths, refs.since, &[pushed.clone()].into()).unwrap();
        assert!(names[&pushed].iter().all(|n| n.starts_with("a push at ")) && names[&pushed].len() == 1, "{names:?}");
        let later = store.references_pushed_since(&store.paths, unix_now() + 1).unwrap();
        assert!(!later.blobs.contains(&pushed) && later.pushed_recently.is_empty(), "garbage after the grace");
        // Removing the blob's record (what gc does) takes its mark too.
        store.remove(&crate::store::Removal { blobs: vec![pushed.clone()], ..Default::default() }).unwrap();
        assert!(store.references(&store.paths).unwrap().pushed_recently.is_empty());
    }
}
