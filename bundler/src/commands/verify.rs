//! `bundler verify`: signature, every blob's digest, and that every manifest's references are
//! carried or assumed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::format::bundle::{annotations, BlobRef, BundleJson};
use crate::format::oci::AnyManifest;
use crate::format::reader::{self, BundleError, Sink};
use crate::format::sign::{KeyId, PublicKey};
use crate::format::Digest;

/// Manifests and configs are small JSON; keep those to walk the graph, stream the rest.
const KEEP_JSON_UP_TO: u64 = 4 << 20;

#[derive(Default)]
pub struct JsonBlobs {
    pub docs: BTreeMap<Digest, Vec<u8>>,
    pub bytes: u64,
}

impl Sink for JsonBlobs {
    fn on_verified(&mut self, _: &BundleJson, _: &[u8], _: KeyId) -> Result<(), BundleError> {
        Ok(())
    }
    fn on_blob(&mut self, blob: &BlobRef, data: &mut dyn Read) -> Result<(), BundleError> {
        self.bytes += blob.size;
        if blob.size <= KEEP_JSON_UP_TO {
            let mut v = Vec::with_capacity(blob.size as usize);
            data.read_to_end(&mut v)?;
            if v.first() == Some(&b'{') {
                self.docs.insert(blob.digest.clone(), v);
            }
        } else {
            std::io::copy(data, &mut std::io::sink())?;
        }
        Ok(())
    }
}

/// Every blob a manifest reachable from index.json references must be carried or assumed.
pub fn check_graph(index: &[u8], bundle: &BundleJson, docs: &BTreeMap<Digest, Vec<u8>>) -> Result<usize, String> {
    let present: BTreeSet<&Digest> = bundle.blobs.iter().chain(bundle.assumed.iter()).map(|b| &b.digest).collect();
    let idx = AnyManifest::parse(index).map_err(|e| format!("index.json: {e}"))?;
    let mut seen = BTreeSet::new();
    for top in &idx.manifests {
        // Platforms an image index names but the bundle leaves out, by its own annotation.
        let omitted = annotations::omitted(top).map_err(|e| format!("index.json entry {}: {e}", top.digest))?;
        let mut stack = vec![top.digest.clone()];
        while let Some(d) = stack.pop() {
            if seen.contains(&d) {
                continue;
            }
            if !present.contains(&d) {
                if omitted.contains(&d) {
                    continue;
                }
                return Err(format!("manifest {d} is referenced but neither carried nor assumed"));
            }
            seen.insert(d.clone());
            let Some(bytes) = docs.get(&d) else {
                // Assumed manifests live on the far side; nothing to walk here.
                continue;
            };
            let m = AnyManifest::parse(bytes).map_err(|e| format!("manifest {d}: {e}"))?;
            stack.extend(m.manifests.iter().map(|c| c.digest.clone()));
            for b in m.blob_children() {
                if !present.contains(&b.digest) {
                    return Err(format!("blob {} referenced by manifest {d} is neither carried nor assumed", b.digest));
                }
            }
        }
    }
    Ok(seen.len())
}

#[derive(Debug, Serialize)]
pub struct VerifySummary {
    pub bundle: String,
    pub name: String,
    pub sequence: u64,
    pub signer: String,
    pub blobs: usize,
    pub bytes: u64,
    pub manifests: usize,
}

pub fn run(file: &Path, keys: &[PathBuf]) -> anyhow::Result<VerifySummary> {
    let trusted = keys.iter().map(|k| PublicKey::load(k)).collect::<Result<Vec<_>, _>>()?;
    let opened = crate::format::split::open_input(file, Some(&trusted)).with_context(|| format!("cannot open bundle {}", file.display()))?;
    let crate::format::split::Opened { stream, parts } = opened;
    // Long bundles show how far the check is (on a terminal; silent otherwise).
    let progress = crate::progress::Progress::bytes("verify", true);
    progress.add_total(parts.as_ref().map(|(p, _)| p.index.size).or_else(|| std::fs::metadata(file).ok().filter(|m| m.is_file()).map(|m| m.len())).unwrap_or(0));
    let stream = reader::open(crate::progress::Reading { inner: stream, progress: progress.clone() })?;
    let mut sink = JsonBlobs::default();
    let v = match reader::read_bundle(stream, &trusted, &mut sink) {
        Ok(v) => v,
        Err(e) => {
            // Inside a split bundle, a damaged part is the cause worth naming.
            let part = parts.as_ref().and_then(|(p, pos)| p.damaged(pos));
            return Err(match part {
                Some(p) => anyhow::anyhow!("bundle {} failed verification: {p}", file.display()),
                None => anyhow::Error::new(e).context(format!("bundle {} failed verification", file.display())),
            });
        }
    };
    progress.finish();
    let manifests = check_graph(&v.index, &v.bundle, &sink.docs).map_err(|e| anyhow::anyhow!("bundle {} is incomplete: {e}", file.display()))?;
    Ok(VerifySummary {
        bundle: file.display().to_string(),
        name: v.bundle.name.clone(),
        sequence: v.bundle.sequence,
        signer: v.signer.to_string(),
        blobs: v.bundle.blobs.len(),
        bytes: sink.bytes,
        manifests,
    })
}
