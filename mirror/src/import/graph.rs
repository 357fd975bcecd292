//! Walk every artifact in index.json (index → child manifests → config/layers, and `subject`
//! → referrer) and turn it into the metadata one import adds. Anything the graph references
//! that is neither staged nor stored is collected, so the refusal can name all of it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use feas_format::bundle::annotations;
use feas_format::digest::InvalidDigest;
use feas_format::kind::UnknownKind;
use feas_format::oci::{AnyManifest, Descriptor};
use feas_format::{Digest, Kind};

use crate::ecosystems::Next;
use crate::store::{BlobStore, Changes, ManifestRecord, StoreError};

/// Why index.json cannot be imported. Each names the artifact and what is wrong with it; the
/// import puts the bundle's path in front.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Any of the others, for one entry of index.json.
    #[error("index.json entry {digest}: {source}")]
    Entry { digest: Digest, source: Box<GraphError> },
    #[error(transparent)]
    Kind(#[from] UnknownKind),
    #[error("{what}: descriptor of {digest} says {said} bytes, the blob has {actual}; the bundle is inconsistent")]
    Size { what: String, digest: Digest, said: u64, actual: u64 },
    #[error("{context}: {source}")]
    Read { context: String, source: StoreError },
    /// A manifest, config or index.json that does not parse.
    #[error("{context}: {source}")]
    Json { context: String, source: serde_json::Error },
    #[error("{repo}: {} annotation: {source}", annotations::OMITTED)]
    Omitted { repo: String, source: InvalidDigest },
    #[error("invalid repository name {0:?}")]
    RepoName(String),
    #[error("invalid tag {0:?}")]
    Tag(String),
    /// An artifact that breaks a rule of its kind (the message says which and how).
    #[error("{0}")]
    Rule(String),
}

pub(crate) fn rule(detail: impl Into<String>) -> GraphError {
    GraphError::Rule(detail.into())
}

pub(crate) fn json(context: String, source: serde_json::Error) -> GraphError {
    GraphError::Json { context, source }
}

/// The distribution spec's limit clients and registries agree on; also bounds our memory.
pub(crate) const MAX_MANIFEST: u64 = 4 << 20;

pub struct Plan {
    pub changes: Changes,
    /// `repo:tag` or `repo@digest`, for people.
    pub artifacts: Vec<String>,
    pub missing: BTreeSet<Digest>,
}

/// Where a blob's bytes are (staging or store) and how big it is.
pub(crate) type Lookup<'a> = &'a dyn Fn(&Digest) -> Option<(PathBuf, u64)>;

/// `lookup` says where a blob's bytes are (staging or store) and how big it is.
pub fn walk(index: &[u8], lookup: Lookup) -> Result<Plan, GraphError> {
    let index = AnyManifest::parse(index).map_err(|e| json("index.json is not an OCI image index".into(), e))?;
    let mut plan = Plan { changes: Changes::default(), artifacts: Vec::new(), missing: BTreeSet::new() };
    for top in &index.manifests {
        let entry = |e: GraphError| GraphError::Entry { digest: top.digest.clone(), source: Box::new(e) };
        // No kind annotation: an image, as the first bundles wrote them.
        let kind = top.annotations.get(annotations::KIND).map(|k| k.parse::<Kind>()).transpose().map_err(|e| entry(e.into()))?;
        match kind.unwrap_or(Kind::Image) {
            Kind::Image | Kind::ImageAccessory => {}
            // The ecosystems of the registry walk their own.
            other => match crate::ecosystems::walk(other, top, lookup, &mut plan).map_err(entry)? {
                Next::Done => continue,
                Next::AlsoOci => {}
            },
        }
        let repo = top
            .annotations
            .get(annotations::REPOSITORY)
            .ok_or_else(|| entry(rule(format!("no {} annotation; was the bundle made by `bundler create`?", annotations::REPOSITORY))))?;
        validate_repo(repo).map_err(entry)?;
        if !plan.changes.repos.contains(repo) {
            plan.changes.repos.push(repo.clone());
        }
        match top.annotations.get(annotations::TAG) {
            Some(tag) => {
                validate_tag(tag).map_err(entry)?;
                plan.changes.tags.push((repo.clone(), tag.clone(), top.digest.clone()));
                plan.artifacts.push(format!("{repo}:{tag}"));
            }
            None => plan.artifacts.push(format!("{repo}@{}", top.digest)),
        }
        walk_artifact(repo, top, lookup, &mut plan)?;
    }
    Ok(plan)
}

fn check_size(d: &Descriptor, actual: u64, repo: &str) -> Result<(), GraphError> {
    if d.size != actual {
        return Err(GraphError::Size { what: repo.to_string(), digest: d.digest.clone(), said: d.size, actual });
    }
    Ok(())
}

fn walk_artifact(repo: &str, top: &Descriptor, lookup: Lookup, plan: &mut Plan) -> Result<(), GraphError> {
    // Platforms the bundle says it leaves out of an index carried as upstream wrote it.
    let omitted = annotations::omitted(top).map_err(|source| GraphError::Omitted { repo: repo.to_string(), source })?;
    let mut stack = vec![top.clone()];
    let mut seen = BTreeSet::new();
    while let Some(d) = stack.pop() {
        if !seen.insert(d.digest.clone()) {
            continue;
        }
        let Some((path, size)) = lookup(&d.digest) else {
            plan.missing.insert(d.digest.clone());
            continue;
        };
        check_size(&d, size, repo)?;
        let bytes = BlobStore::read_small(&path, MAX_MANIFEST).map_err(|source| GraphError::Read { context: format!("{repo}: manifest {}", d.digest), source })?;
        let m = AnyManifest::parse(&bytes).map_err(|e| json(format!("{repo}: manifest {} is not a valid OCI/Docker manifest", d.digest), e))?;
        let media_type = m.effective_media_type(Some(&d.media_type));
        let mut record = ManifestRecord::new(media_type.clone(), size);
        for c in &m.manifests {
            // Left out and not held from before: noted, so a request for it says which
            // platform it is; held (another bundle carried it): walked like any child.
            if omitted.contains(&c.digest) && lookup(&c.digest).is_none() {
                record.omitted.insert(c.digest.clone(), c.platform.as_ref().map(|p| p.key()).unwrap_or_else(|| "unknown/unknown".into()));
            } else {
                stack.push(c.clone());
            }
        }
        plan.changes.manifests.push((repo.to_string(), d.digest.clone(), record));
        if let Some(subject) = &m.subject {
            // The referrers API lists descriptors of the referring manifests, with their
            // artifactType and annotations, in the subject's repository.
            let mut r = Descriptor::new(media_type, d.digest.clone(), size);
            r.artifact_type = m.effective_artifact_type();
            r.annotations = m.annotations.clone();
            plan.changes.referrers.push((repo.to_string(), subject.digest.clone(), r));
        }
        for b in m.blob_children() {
            check_layer(b, repo, lookup, plan)?;
        }
    }
    Ok(())
}

/// A small referenced document (manifest, config), size-checked; `None` when it is neither
/// staged nor stored (then noted missing, so the refusal can name every hole).
pub(crate) fn read_doc(d: &Descriptor, max: u64, what: &str, lookup: Lookup, plan: &mut Plan) -> Result<Option<Vec<u8>>, GraphError> {
    let Some((path, size)) = lookup(&d.digest) else {
        plan.missing.insert(d.digest.clone());
        return Ok(None);
    };
    check_size(d, size, what)?;
    BlobStore::read_small(&path, max).map(Some).map_err(|source| GraphError::Read { context: d.digest.to_string(), source })
}

/// A layer must be staged or stored with the size its descriptor says.
pub(crate) fn check_layer(d: &Descriptor, what: &str, lookup: Lookup, plan: &mut Plan) -> Result<(), GraphError> {
    match lookup(&d.digest) {
        Some((_, n)) => check_size(d, n, what),
        None => {
            plan.missing.insert(d.digest.clone());
            Ok(())
        }
    }
}

/// A repository name as the distribution spec allows it, with a registry host first
/// (`feas_format::names::RepoName`).
pub fn validate_repo(name: &str) -> Result<(), GraphError> {
    name.parse::<feas_format::names::RepoName>().map(drop).map_err(|_| GraphError::RepoName(name.to_string()))
}

pub fn validate_tag(tag: &str) -> Result<(), GraphError> {
    tag.parse::<feas_format::names::Tag>().map(drop).map_err(|_| GraphError::Tag(tag.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index with three platforms: amd64 carried, arm64 left out by the bundle's own
    /// annotation, s390x absent without one. Only s390x is a hole; arm64 is noted with its
    /// platform; a left-out child that is present anyway is walked like any other.
    #[test]
    fn left_out_platforms_are_noted_and_other_holes_refused() {
        let dir = tempfile::tempdir().unwrap();
        let put = |b: &[u8]| {
            let d = Digest::sha256_of(b);
            std::fs::write(dir.path().join(d.to_string()), b).unwrap();
            (d, b.len() as u64)
        };
        let platform = |m: &str, arch: &str| {
            let (d, n) = put(format!(r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[],"annotations":{{"a":"{arch}"}}}}"#).as_bytes());
            let absent = |d: &Digest| {
                if m == "absent" {
                    std::fs::remove_file(dir.path().join(d.to_string())).unwrap()
                }
            };
            absent(&d);
            (d, n, arch.to_string())
        };
        let kids = [platform("held", "amd64"), platform("absent", "arm64"), platform("absent", "s390x")];
        let entries: Vec<String> = kids
            .iter()
            .map(|(d, n, a)| format!(r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{d}","size":{n},"platform":{{"os":"linux","architecture":"{a}"}}}}"#))
            .collect();
        let (idx, idx_size) = put(format!(r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#, entries.join(",")).as_bytes());
        let index_json = |omitted: &[&Digest]| {
            let mut top = Descriptor::new("application/vnd.oci.image.index.v1+json", idx.clone(), idx_size);
            top.annotations.insert(annotations::REPOSITORY.into(), "docker.io/library/x".into());
            annotations::set_omitted(&mut top, &omitted.iter().map(|d| (*d).clone()).collect());
            serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [top]})).unwrap()
        };
        let lookup = |d: &Digest| {
            let p = dir.path().join(d.to_string());
            std::fs::metadata(&p).ok().map(|m| (p, m.len()))
        };

        let plan = walk(&index_json(&[&kids[1].0]), &lookup).unwrap();
        assert_eq!(plan.missing, [kids[2].0.clone()].into(), "s390x is a hole");
        let plan = walk(&index_json(&[&kids[1].0, &kids[2].0]), &lookup).unwrap();
        assert!(plan.missing.is_empty());
        let (_, _, rec) = plan.changes.manifests.iter().find(|(_, d, _)| *d == idx).unwrap();
        assert_eq!(rec.omitted, [(kids[1].0.clone(), "linux/arm64".to_string()), (kids[2].0.clone(), "linux/s390x".to_string())].into());
        assert!(plan.changes.manifests.iter().any(|(_, d, _)| *d == kids[0].0), "amd64 is held");

        // Left out by this bundle, but here from an earlier one: walked, not noted.
        let plan = walk(&index_json(&[&kids[0].0, &kids[1].0, &kids[2].0]), &lookup).unwrap();
        let (_, _, rec) = plan.changes.manifests.iter().find(|(_, d, _)| *d == idx).unwrap();
        assert!(!rec.omitted.contains_key(&kids[0].0) && plan.changes.manifests.iter().any(|(_, d, _)| *d == kids[0].0));
        // A malformed annotation is refused, naming it.
        let mut bad: serde_json::Value = serde_json::from_slice(&index_json(&[])).unwrap();
        bad["manifests"][0]["annotations"][annotations::OMITTED] = "sha256:nope".into();
        let e = walk(&serde_json::to_vec(&bad).unwrap(), &lookup).err().unwrap();
        assert!(e.to_string().contains(annotations::OMITTED), "{e}");
    }
}
