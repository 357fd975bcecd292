//! `bundler create`: resolve (or honour the lock), fetch into the cache, write a signed bundle.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::cache::BlobCache;
use crate::format::bundle::{annotations, BlobRef, BundleJson, FORMAT_VERSION};
use crate::format::lock::LockFile;
use crate::format::oci::{Descriptor, ImageIndex};
use crate::format::sign::SecretKey;
use crate::format::writer::{BundleWriter, Compression};
use crate::format::Digest;
use crate::manifest::Manifest;
use crate::plan;
use crate::progress::Progress;
use crate::sources::apt::AptSource;
use crate::sources::oci::ImageSource;
use crate::sources::file::FileSource;
use crate::sources::hf::HfSource;
use crate::sources::nltk::NltkSource;
use crate::sources::pypi::PypiSource;
use crate::sources::Fetched;

pub struct CreateArgs {
    pub manifests: Vec<PathBuf>,
    pub key: PathBuf,
    pub out: PathBuf,
    pub lock: PathBuf,
    pub locked: bool,
    pub compression: Compression,
    pub sequence: Option<u64>,
    pub cache: PathBuf,
    pub quiet: bool,
}

#[derive(Debug, Serialize)]
pub struct CreateSummary {
    pub bundle: String,
    pub name: String,
    pub sequence: u64,
    pub created: String,
    pub sha256: Digest,
    pub size: u64,
    pub blobs: usize,
    pub carried_bytes: u64,
    pub artifacts: Vec<String>,
    pub lock: String,
    pub lock_updated: bool,
}

pub async fn run(args: CreateArgs) -> anyhow::Result<CreateSummary> {
    let manifest = Manifest::load(&args.manifests)?;
    // Fail on a bad key before fetching gigabytes.
    let key = SecretKey::load(&args.key)?;
    let cache = Arc::new(BlobCache::open(&args.cache)?);
    let sources = plan::Sources { images: Arc::new(ImageSource::new(manifest.registries.clone(), cache.clone())), apt: AptSource::new(cache.clone()), pypi: PypiSource::new(cache.clone()), files: FileSource::new(cache.clone()), nltk: NltkSource::new(cache.clone()), hf: HfSource::new(cache.clone()) };
    let source = &sources.images;
    let existing = LockFile::load(&args.lock)?;
    let (lock, changed, loaded2) = plan::resolve(&manifest, existing.as_ref(), args.locked, false, &sources).await?;
    if changed && !args.locked {
        lock.save(&args.lock)?;
    }

    let progress = Progress::bytes("fetching", !args.quiet);
    let fetched: Vec<Fetched> = futures_util::stream::iter(lock.images.iter().map(|l| {
        let spec = plan::spec_for(&manifest, l).expect("lock built from this manifest");
        let (source, progress) = (&source, &progress);
        async move { source.fetch(spec, l, progress).await }
    }))
    .buffered(2)
    .try_collect()
    .await?;
    let mut fetched = fetched;
    if let Some(loaded) = &loaded2.apt {
        fetched.push(sources.apt.fetch(loaded, &manifest.apt, &lock.debs, &progress).await?);
    }
    if !lock.wheels.is_empty() {
        fetched.push(sources.pypi.fetch(&lock.wheels, &progress).await?);
    }
    if let Some(loaded) = &loaded2.nltk {
        fetched.push(sources.nltk.fetch(&manifest.nltk, loaded, &lock.nltk, &progress).await?);
    }
    if !lock.files.is_empty() {
        fetched.push(sources.files.fetch(&lock.files, &progress).await?);
    }
    if !lock.models.is_empty() {
        fetched.push(sources.hf.fetch(&lock.models, &progress).await?);
    }
    progress.finish();

    let mut all = Fetched::default();
    for f in fetched {
        all.merge(f);
    }
    let mut descriptors: Vec<Descriptor> = all.descriptors;
    let sort_key = |d: &Descriptor| {
        (
            d.annotations.get(annotations::REPOSITORY).cloned().unwrap_or_default(),
            d.annotations.get(annotations::TAG).cloned().unwrap_or_default(),
            d.annotations.get(crate::format::oci::ANNOTATION_REF_NAME).cloned().unwrap_or_default(),
            d.digest.clone(),
        )
    };
    descriptors.sort_by_key(sort_key);
    descriptors.dedup();
    let artifacts = descriptors
        .iter()
        .filter_map(|d| d.annotations.get(crate::format::oci::ANNOTATION_REF_NAME).cloned())
        .collect();
    let index = ImageIndex::new(descriptors).to_bytes();

    let secs = super::build_time()?;
    let created = super::rfc3339(secs);
    let sequence = args.sequence.unwrap_or(secs);
    let blobs: Vec<BlobRef> = all.blobs.iter().map(|(d, s)| BlobRef { digest: d.clone(), size: *s }).collect();
    let carried_bytes = blobs.iter().map(|b| b.size).sum();
    let bundle = BundleJson {
        format: FORMAT_VERSION,
        name: manifest.name.clone(),
        sequence,
        created: created.clone(),
        expires: None,
        index: BlobRef { digest: Digest::sha256_of(&index), size: index.len() as u64 },
        blobs,
        assumed: Vec::new(),
        sbom: None,
        generator: format!("bundler {}", env!("CARGO_PKG_VERSION")),
    };
    let signature = key.sign(&bundle.to_bytes(), &bundle.trusted_comment());

    let (sha256, size) = write_bundle(&args.out, &bundle, &signature, &index, &cache, args.compression, secs, !args.quiet)
        .with_context(|| format!("writing bundle {}", args.out.display()))?;
    Ok(CreateSummary {
        bundle: args.out.display().to_string(),
        name: bundle.name,
        sequence,
        created,
        sha256,
        size,
        blobs: bundle.blobs.len(),
        carried_bytes,
        artifacts,
        lock: args.lock.display().to_string(),
        lock_updated: changed && !args.locked,
    })
}

/// Stream head and blobs into `OUT.partial`, fsync, rename: a crash never leaves a file that
/// looks like a finished bundle.
#[allow(clippy::too_many_arguments)]
fn write_bundle(
    out: &Path,
    bundle: &BundleJson,
    signature: &str,
    index: &[u8],
    cache: &BlobCache,
    compression: Compression,
    mtime: u64,
    show_progress: bool,
) -> anyhow::Result<(Digest, u64)> {
    let partial = out.with_extension("partial");
    let file = std::fs::File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let hashing = crate::format::HashWriter::new(BufWriter::with_capacity(1 << 20, file), crate::format::Algorithm::Sha256);
    let mut w = BundleWriter::new(hashing, compression, mtime)?;
    w.write_head(bundle, signature, index)?;
    let progress = Progress::bytes("writing", show_progress);
    progress.add_total(bundle.blobs.iter().map(|b| b.size).sum());
    let mut sizes = BTreeMap::new();
    for b in &bundle.blobs {
        let f = cache.open_blob(&b.digest)?;
        w.write_blob(&b.digest, b.size, std::io::BufReader::with_capacity(1 << 20, f))?;
        progress.inc(b.size);
        sizes.insert(b.digest.clone(), b.size);
    }
    progress.finish();
    let hashing = w.finish()?;
    let (mut buf, digest, size) = hashing.into_parts();
    buf.flush()?;
    let file = buf.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&partial, out)?;
    Ok((digest, size))
}
