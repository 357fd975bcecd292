//! `mirror rm`: take a bundle name's artifacts, or single artifacts, out of the metadata in
//! one transaction. Blob files stay: once nothing references them, `mirror gc` deletes them.
//!
//! A bundle name stands for every artifact its imports added (the import history), except
//! those another held bundle name also imported: they stay, and are reported as kept. An
//! artifact is named as `mirror import` prints it. Images are pruned per repository: what
//! goes is what the named tags and digests alone reach (with the referrers of what goes); a
//! manifest stays while a remaining tag, an untagged artifact another bundle imported, or a
//! manifest pushed by digest reaches it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use feas_format::oci::AnyManifest;
use feas_format::Digest;

use crate::import::validate_repo;
use crate::store::{Action, Actor, Audit, BlobStore, ImportLock, Removal, Store, StoreError};

/// What `mirror rm` accepts, for error messages: the registry's forms and each ecosystem's.
pub fn syntax() -> String {
    let forms = ["REPO:TAG", "REPO@sha256:HEX"].into_iter().chain(crate::ecosystems::rm_syntax()).collect::<Vec<_>>();
    format!("a bundle name (`mirror history` lists them) or an artifact as `mirror import` prints it: {}", forms.join(", "))
}

const MAX_MANIFEST: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("nothing removed: not held by this store: {}. Name {}", .0.join(", "), syntax())]
    Unknown(Vec<String>),
    #[error("nothing removed: manifest {0} is missing or unreadable, so what it keeps cannot be known; re-import the bundle that carried it (`mirror verify` names the damage), then retry")]
    Unreadable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RemoveSummary {
    /// Nothing was removed: this is what would be.
    #[serde(default)]
    pub dry_run: bool,
    /// Store generation afterwards.
    pub generation: u64,
    /// Bundle names forgotten (their sequence record too: they may be imported afresh).
    pub bundles: Vec<String>,
    /// Artifacts removed, as `mirror import` names them.
    pub removed: Vec<String>,
    /// Artifacts of a removed bundle kept because other bundle names imported them too.
    pub kept: Vec<(String, Vec<String>)>,
    /// Image manifests dropped from their repositories.
    pub manifests_removed: usize,
}

/// One artifact the store holds.
#[derive(Debug, Clone)]
enum Target {
    Tag {
        repo: String,
        tag: String,
    },
    Manifest {
        repo: String,
        digest: Digest,
    },
    /// An ecosystem's own: `apply` adds `key` to the removal (`Ecosystem::rm_target`).
    Owned {
        key: String,
        apply: fn(&Store, &mut Removal, &str) -> Result<(), StoreError>,
    },
}

/// Whether the store holds an artifact of that name (as `mirror import` prints it).
pub fn holds(store: &Store, name: &str) -> Result<bool, StoreError> {
    Ok(resolve(store, name)?.is_some())
}

/// An artifact name → what it is in this store; `None` when the store does not hold it.
fn resolve(store: &Store, name: &str) -> Result<Option<Target>, StoreError> {
    if let Some((key, apply)) = crate::ecosystems::rm_target(store, name)? {
        return Ok(Some(Target::Owned { key, apply }));
    }
    if let Some((repo, digest)) = name.split_once('@') {
        if let (Ok(()), Ok(digest)) = (validate_repo(repo), digest.parse::<Digest>()) {
            if store.manifest(repo, &digest)?.is_some() {
                return Ok(Some(Target::Manifest { repo: repo.to_string(), digest }));
            }
        }
        return Ok(None);
    }
    // The tag is after the last `:` that is not part of a `host:port/`.
    if let Some((repo, tag)) = name.rsplit_once(':').filter(|(r, t)| !t.contains('/') && r.contains('/')) {
        if validate_repo(repo).is_ok() {
            // An ecosystem's artifact may be named with a tag OCI spells otherwise.
            for tag in crate::ecosystems::oci_tags(tag) {
                if store.tag(repo, &tag)?.is_some() {
                    return Ok(Some(Target::Tag { repo: repo.to_string(), tag }));
                }
            }
        }
        return Ok(None);
    }
    Ok(None)
}

/// Remove `targets` (bundle names or artifact names). Nothing changes unless every one is known.
pub fn remove(store: &Store, targets: &[String], dry_run: bool, by: &Actor) -> Result<RemoveSummary, RemoveError> {
    let _lock = ImportLock::acquire(&store.paths)?;
    // A push between reading the repositories and removing would be undone.
    let _collecting = store.collecting();
    let held: BTreeSet<String> = store.bundles()?.into_iter().map(|(n, _)| n).collect();
    let mut bundles = BTreeSet::new();
    let mut named: BTreeMap<String, Target> = BTreeMap::new();
    let mut unknown = Vec::new();
    for t in targets {
        if held.contains(t) {
            bundles.insert(t.clone());
        } else {
            match resolve(store, t)? {
                Some(x) => {
                    named.insert(t.clone(), x);
                }
                None => unknown.push(t.clone()),
            }
        }
    }
    if !unknown.is_empty() {
        return Err(RemoveError::Unknown(unknown));
    }

    // Who imported what, among the bundle names that stay.
    let history = store.history()?;
    let mut claims: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for h in history.iter().filter(|h| held.contains(&h.name) && !bundles.contains(&h.name)) {
        for a in &h.artifacts {
            claims.entry(a).or_default().insert(&h.name);
        }
    }
    let mut summary = RemoveSummary { bundles: bundles.iter().cloned().collect(), ..RemoveSummary::default() };
    let of_removed: BTreeSet<&String> = history.iter().filter(|h| bundles.contains(&h.name)).flat_map(|h| &h.artifacts).collect();
    for a in of_removed {
        if named.contains_key(a) {
            continue;
        }
        if let Some(others) = claims.get(a.as_str()) {
            summary.kept.push((a.clone(), others.iter().map(|s| s.to_string()).collect()));
        } else if let Some(t) = resolve(store, a)? {
            // Absent means an earlier `mirror rm` took it already.
            named.insert(a.clone(), t);
        }
    }

    let mut r = Removal { bundles: summary.bundles.clone(), ..Removal::default() };
    let mut repos: BTreeMap<String, (BTreeSet<String>, BTreeSet<Digest>)> = BTreeMap::new();
    for (name, t) in &named {
        match t {
            Target::Tag { repo, tag } => {
                repos.entry(repo.clone()).or_default().0.insert(tag.clone());
            }
            Target::Manifest { repo, digest } => {
                repos.entry(repo.clone()).or_default().1.insert(digest.clone());
            }
            Target::Owned { key, apply } => apply(store, &mut r, key)?,
        }
        r.envelopes.extend(store.envelopes_of(name)?.into_iter().map(|d| (name.clone(), d)));
        summary.removed.push(name.clone());
    }
    for (repo, (tags, digests)) in &repos {
        prune_repo(store, repo, tags, digests, &claims, &mut r, &mut summary)?;
    }
    summary.dry_run = dry_run;
    if dry_run {
        summary.generation = store.generation()?;
        return Ok(summary);
    }
    r.artifacts = summary.removed.clone();
    r.audit = Some(Audit { by: by.clone(), action: Action::Remove { targets: targets.to_vec(), artifacts: summary.removed.clone(), bundles: summary.bundles.clone() } });
    summary.generation = store.remove(&r)?;
    tracing::info!("removed {} artifact(s) and bundle name(s) {:?}; generation {}", summary.removed.len(), summary.bundles, summary.generation);
    Ok(summary)
}

/// Drop `tags` and `digests` from `repo`, and the manifests only they reach: what they reach
/// (child manifests, and referrers of anything removed, transitively) minus what the
/// remaining roots reach. Roots are the remaining tags, the untagged artifacts other bundles
/// imported, and pushed manifests nothing tags, lists or refers to; a referrer whose subject
/// stays, stays.
fn prune_repo(
    store: &Store,
    repo: &str,
    tags: &BTreeSet<String>,
    digests: &BTreeSet<Digest>,
    claims: &BTreeMap<&str, BTreeSet<&str>>,
    r: &mut Removal,
    summary: &mut RemoveSummary,
) -> Result<(), RemoveError> {
    let held: BTreeSet<Digest> = store.manifest_digests(repo)?.into_iter().collect();
    let (mut removed_roots, mut roots): (Vec<Digest>, Vec<Digest>) = (digests.iter().cloned().collect(), Vec::new());
    let mut tags_left = false;
    for tag in store.tags(repo)? {
        let Some(d) = store.tag(repo, &tag)? else { continue };
        if tags.contains(&tag) {
            r.tags.push((repo.to_string(), tag));
            removed_roots.push(d);
        } else {
            tags_left = true;
            roots.push(d);
        }
    }
    let prefix = format!("{repo}@");
    for a in claims.keys() {
        if let Some(d) = a.strip_prefix(&prefix).and_then(|d| d.parse::<Digest>().ok()) {
            if held.contains(&d) && !digests.contains(&d) {
                roots.push(d);
            }
        }
    }
    let referrers = store.referrer_entries(repo)?;
    // A manifest a writer pushed by digest is nobody's child: `mirror rm` of a tag must not
    // take it. Children and referrers hang off what lists or names them.
    // Each manifest read once; `None`: unreadable.
    let listed: BTreeMap<Digest, Option<Vec<Digest>>> = held.iter().map(|d| (d.clone(), children(store, d))).collect();
    let mut attached: BTreeSet<Digest> = referrers.iter().map(|(_, desc)| desc.digest.clone()).collect();
    attached.extend(removed_roots.iter().chain(&roots).cloned());
    // Unreadable: its children are unknown, so they may turn out roots; keeping is safe.
    attached.extend(listed.values().flatten().flatten().cloned());
    for d in &held {
        if !attached.contains(d) && store.manifest_pushed(repo, d)? {
            roots.push(d.clone());
        }
    }
    let kept = closure(&listed, repo, roots, true)?;
    // What the named roots reach, then the referrers of what goes, until nothing is added.
    let mut gone = BTreeSet::new();
    let mut next = removed_roots;
    while !next.is_empty() {
        let reached = closure(&listed, repo, std::mem::take(&mut next), false)?;
        let new: Vec<Digest> = reached.into_iter().filter(|d| !kept.contains(d) && !gone.contains(d)).collect();
        gone.extend(new.iter().cloned());
        next = referrers.iter().filter(|(subject, desc)| new.contains(subject) && !gone.contains(&desc.digest)).map(|(_, desc)| desc.digest.clone()).collect();
    }
    summary.manifests_removed += gone.len();
    r.manifests.extend(gone.iter().map(|d| (repo.to_string(), d.clone())));
    for (subject, desc) in referrers {
        if gone.contains(&desc.digest) {
            r.referrers.push((repo.to_string(), subject, desc.digest));
        }
    }
    if !tags_left && held.iter().all(|d| gone.contains(d)) {
        r.repos.push(repo.to_string());
    }
    crate::ecosystems::remove_with_manifests(store, repo, &gone, r, &mut summary.removed)?;
    Ok(())
}

/// The manifests of `repo` that `roots` reach through index children. With `strict` (what
/// stays), what is reached must be readable: a manifest we cannot read may need any of the
/// others, and deleting one of those would break what is still served. Otherwise (what goes)
/// an unreadable manifest goes alone, so a damaged one can still be removed.
fn closure(listed: &BTreeMap<Digest, Option<Vec<Digest>>>, repo: &str, mut roots: Vec<Digest>, strict: bool) -> Result<BTreeSet<Digest>, RemoveError> {
    let mut reached = BTreeSet::new();
    while let Some(d) = roots.pop() {
        let Some(children) = listed.get(&d) else { continue };
        if !reached.insert(d.clone()) {
            continue;
        }
        match children {
            Some(c) => roots.extend(c.iter().cloned()),
            None if strict => return Err(RemoveError::Unreadable(format!("{repo}@{d}"))),
            None => {}
        }
    }
    Ok(reached)
}

/// The child manifests an index lists; `None` when the manifest cannot be read.
fn children(store: &Store, d: &Digest) -> Option<Vec<Digest>> {
    let bytes = BlobStore::read_small(&store.blobs.path(d), MAX_MANIFEST).ok()?;
    Some(AnyManifest::parse(&bytes).ok()?.manifests.into_iter().map(|c| c.digest).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Changes, HistoryRecord, ManifestRecord};

    fn put(store: &Store, b: &[u8]) -> Digest {
        let d = Digest::sha256_of(b);
        store.blobs.write(&d, &mut &b[..]).unwrap();
        d
    }

    fn manifest(store: &Store, layer: &[u8]) -> Digest {
        let l = put(store, layer);
        put(store, format!(r#"{{"schemaVersion":2,"layers":[{{"mediaType":"x","digest":"{l}","size":{}}}]}}"#, layer.len()).as_bytes())
    }

    fn history(name: &str, artifacts: &[&str]) -> HistoryRecord {
        HistoryRecord {
            generation: 0,
            imported_at: "t".into(),
            name: name.into(),
            sequence: 1,
            bundle_json: Digest::sha256_of(name.as_bytes()),
            signer: "k".into(),
            file: "f".into(),
            blobs_added: 0,
            bytes_added: 0,
            artifacts: artifacts.iter().map(|s| s.to_string()).collect(),
            by: None,
        }
    }

    #[test]
    fn tags_prune_what_only_they_reach_and_unknown_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (m1, m2) = (manifest(&store, b"one"), manifest(&store, b"two"));
        let index = put(&store, format!(r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"x","digest":"{m1}","size":1}}]}}"#).as_bytes());
        let rec = |d: &Digest| ("r/a".to_string(), d.clone(), ManifestRecord::new("x", 1));
        store
            .commit(&Changes {
                repos: vec!["r/a".into()],
                tags: vec![("r/a".into(), "1".into(), index.clone()), ("r/a".into(), "2".into(), m2.clone())],
                manifests: vec![rec(&index), rec(&m1), rec(&m2)],
                bundle: Some(("b".into(), crate::store::BundleRecord { sequence: 1, bundle_json: Digest::sha256_of(b"b"), imported_at: "t".into(), sbom: None, signer: None })),
                history: Some(history("b", &["r/a:1", "r/a:2"])),
                ..Changes::default()
            })
            .unwrap();
        let g = store.generation().unwrap();
        assert!(matches!(remove(&store, &["r/a:1".into(), "r/a:9".into()], false, &Actor::this_process()), Err(RemoveError::Unknown(u)) if u == ["r/a:9"]));
        assert_eq!(store.generation().unwrap(), g, "a refused rm changes nothing");

        let s = remove(&store, &["r/a:1".into()], false, &Actor::this_process()).unwrap();
        assert_eq!((s.removed.clone(), s.manifests_removed), (vec!["r/a:1".to_string()], 2));
        assert_eq!(store.manifest_digests("r/a").unwrap(), vec![m2.clone()]);
        assert!(store.repo_exists("r/a").unwrap());
        // The bundle name takes the rest, and the repository with it.
        let s = remove(&store, &["b".into()], false, &Actor::this_process()).unwrap();
        assert_eq!((s.bundles, s.removed), (vec!["b".to_string()], vec!["r/a:2".to_string()]));
        assert!(!store.repo_exists("r/a").unwrap() && store.bundle("b").unwrap().is_none());
        assert!(store.references(&store.paths).unwrap().blobs.is_empty());
    }

    /// Issue 15, item 4: `rm REPO:TAG` takes what that tag alone reaches and the referrers of
    /// what goes; a referrer of another tag and a manifest pushed by digest stay.
    #[test]
    fn rm_of_a_tag_keeps_other_tags_referrers_and_pushed_manifests() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let repo = "site/app";
        let (m1, m2, untagged) = (manifest(&store, b"v1"), manifest(&store, b"v2"), manifest(&store, b"by digest"));
        let (r1, r2) = (manifest(&store, b"signature of v1"), manifest(&store, b"signature of v2"));
        let rec = |d: &Digest| (repo.to_string(), d.clone(), ManifestRecord::new("application/vnd.oci.image.manifest.v1+json", 1));
        let referrer = |d: &Digest| feas_format::oci::Descriptor::new("application/vnd.oci.image.manifest.v1+json", d.clone(), 1);
        // As the registry's pushes record them: tags, manifests by digest, referrers.
        store
            .commit(&Changes {
                repos: vec![repo.into()],
                tags: vec![(repo.into(), "v1".into(), m1.clone()), (repo.into(), "v2".into(), m2.clone())],
                manifests: [&m1, &m2, &untagged, &r1, &r2].into_iter().map(rec).collect(),
                referrers: vec![(repo.into(), m1.clone(), referrer(&r1)), (repo.into(), m2.clone(), referrer(&r2))],
                pushed: true,
                ..Changes::default()
            })
            .unwrap();
        let s = remove(&store, &[format!("{repo}:v1")], false, &Actor::this_process()).unwrap();
        assert_eq!(s.manifests_removed, 2, "v1's manifest and its referrer");
        let held: BTreeSet<Digest> = store.manifest_digests(repo).unwrap().into_iter().collect();
        assert_eq!(held, [&m2, &untagged, &r2].into_iter().cloned().collect(), "v2, its referrer and the manifest pushed by digest stay");
        assert_eq!(store.referrers(repo, &m2).unwrap(), vec![referrer(&r2)]);
        assert!(store.referrers(repo, &m1).unwrap().is_empty());
        remove(&store, &[format!("{repo}:v2")], false, &Actor::this_process()).unwrap();
        assert_eq!(store.manifest_digests(repo).unwrap(), vec![untagged], "what a writer pushed by digest is not any tag's to take");
        assert!(store.repo_exists(repo).unwrap());
    }
}
