//! `bundler create`: resolve (or honour the lock), fetch into the cache, write a signed bundle.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use futures_util::StreamExt;
use serde::Serialize;

use super::report::{self, Phase, Report, Style};
use crate::cache::BlobCache;
use crate::ecosystems::Registry;
use crate::format::bundle::{annotations, BlobRef, BundleJson, FORMAT_VERSION};
use crate::format::lock::LockFile;
use crate::format::oci::{Descriptor, ImageIndex};
use crate::format::sign::SecretKey;
use crate::format::writer::{BundleWriter, Compression};
use crate::format::Digest;
use crate::manifest::Manifest;
use crate::plan;
use crate::progress::Progress;
use crate::sources::Fetched;

pub struct CreateArgs {
    pub manifests: Vec<PathBuf>,
    pub key: PathBuf,
    /// Where the key's password is, if it has one (else `BUNDLER_KEY_PASSWORD` or the terminal).
    pub password_file: Option<PathBuf>,
    pub out: PathBuf,
    pub lock: PathBuf,
    pub locked: bool,
    pub compression: Compression,
    pub sequence: Option<u64>,
    pub cache: PathBuf,
    pub have: Option<PathBuf>,
    pub split_size: Option<u64>,
    pub expires: Option<String>,
    pub allow_expired: bool,
    pub quiet: bool,
    /// Print the plan (what is new, cached, left out by `--have`) and fetch nothing.
    pub dry_run: bool,
    /// Refuse up front when the disks lack room for what the plan downloads and writes.
    pub space_check: bool,
}

/// What `create` did: wrote a bundle, or (`--dry-run`) only planned one.
pub enum Outcome {
    Created(CreateSummary),
    Planned(super::budget::Plan),
}

/// The part of a `mirror inventory` the bundler needs.
#[derive(serde::Deserialize)]
struct Have {
    blobs: Vec<BlobRef>,
    #[serde(default)]
    sequences: BTreeMap<String, u64>,
}

fn load_have(path: &Path) -> anyhow::Result<Have> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the inventory {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not a `mirror inventory` output", path.display()))
}

/// `30d`, `12h`, `2w`, `90m` after `created`, or an RFC 3339 time.
fn expiry(spec: &str, created: u64) -> anyhow::Result<String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(spec) {
        return Ok(t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    let (n, unit) = spec.split_at(spec.find(|c: char| !c.is_ascii_digit()).unwrap_or(spec.len()));
    let n: u64 = n.parse().map_err(|_| anyhow::anyhow!("--expires {spec:?}: give a duration (30d, 12h, 2w, 90m) or an RFC 3339 time"))?;
    let secs = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => anyhow::bail!("--expires {spec:?}: unknown unit {unit:?} (m, h, d or w)"),
    };
    Ok(super::rfc3339(created.saturating_add(n.saturating_mul(secs))))
}

/// An expiry at or before now (the wall clock: a mirror checks against its own) makes a bundle
/// no mirror imports.
fn refuse_past(expires: &str, created: String) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let at = chrono::DateTime::parse_from_rfc3339(expires).map_err(|e| anyhow::anyhow!("--expires gave {expires}: {e}"))?;
    if at <= now {
        anyhow::bail!(
            "--expires: the bundle would expire at {expires}, before now ({}; created {created}), and every mirror would refuse it; give a later time or a duration (30d), or --allow-expired to make one on purpose",
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
    }
    Ok(())
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
    /// Blobs left out because the far side has them (`--have`).
    pub assumed: usize,
    /// Part files written (`--split-size`), in order.
    pub parts: Vec<String>,
}

pub async fn run(args: CreateArgs) -> anyhow::Result<Outcome> {
    // Before any fetching: a bundle every mirror would refuse, or one with nowhere to go.
    let secs = super::build_time()?;
    let expires = args.expires.as_deref().map(|e| expiry(e, secs)).transpose()?;
    if let Some(e) = expires.as_deref().filter(|_| !args.allow_expired) {
        refuse_past(e, super::rfc3339(secs))?;
    }
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty() && !args.dry_run) {
        std::fs::create_dir_all(dir).with_context(|| format!("--out {}: cannot create its directory {}", args.out.display(), dir.display()))?;
    }
    let mut manifest = Manifest::load(&args.manifests)?;
    // Fail on a bad key or password before fetching gigabytes.
    let key = match args.dry_run {
        true => None,
        false => Some(SecretKey::load_with(&args.key, || super::password::unlock(args.password_file.as_deref(), &args.key))?),
    };
    let have = args.have.as_deref().map(load_have).transpose()?;
    let cache = Arc::new(BlobCache::open(&args.cache)?);
    let registry = Registry::new(&manifest, cache.clone());
    let source = &registry.images;
    let existing = LockFile::load(&args.lock)?;
    let lock = plan::resolve(&mut manifest, existing.as_ref(), args.locked, false, &registry).await?;
    // What the lock file holds after this: these manifests' pins, and the other manifests'
    // sections as they were (the file may be shared).
    let mut shared = lock.clone();
    if let Some(old) = &existing {
        shared.keep_sections_of(old);
    }
    let changed = existing.as_ref() != Some(&shared);
    if changed && !args.locked && !args.dry_run {
        shared.save(&args.lock)?;
    }

    let held: std::collections::BTreeSet<Digest> = have.as_ref().map(|h| h.blobs.iter().map(|b| b.digest.clone()).collect()).unwrap_or_default();
    let budget = super::budget::plan(&manifest, &lock, &registry, &cache, &held, &args.out).await?;
    if args.dry_run {
        return Ok(Outcome::Planned(budget));
    }
    let style = Style::pick(args.quiet);
    match style {
        Style::Events => report::event(serde_json::json!({"event": "plan", "plan": &budget})),
        _ => eprintln!("{}", budget.headline()),
    }
    if args.space_check {
        budget.check_space()?;
    }
    let key = key.expect("loaded unless --dry-run");

    // One artifact that fails does not stop the others: everything fetchable lands in the
    // cache, then one report names every failure, so a re-run fetches only those.
    let started = std::time::Instant::now();
    let shown = Report::start(Phase::Fetch, budget.kinds.iter().map(|k| (k.kind, k.download_bytes + k.resume_bytes)).collect(), style);
    let progress = shown.progress("images");
    // Images and the other sections side by side (each upstream keeps its own limit).
    let images = futures_util::stream::iter(lock.images.iter().map(|l| {
        let spec = plan::spec_for(&manifest, l).expect("lock built from this manifest");
        let (source, progress) = (&source, &progress);
        async move { source.fetch(spec, l, progress).await }
    }))
    .buffered(4)
    .collect::<Vec<Result<Fetched, _>>>();
    let (images, (more, sections)) = futures_util::future::join(images, registry.fetch(&manifest, &lock, &|kind| shown.progress(kind))).await;
    let (mut fetched, mut failed) = (Vec::new(), Vec::new());
    for r in images {
        match r {
            Ok(f) => fetched.push(f),
            Err(e) => failed.push(("images", e.to_string())),
        }
    }
    fetched.extend(more);
    failed.extend(sections.into_iter().map(|(section, e)| (section, format!("{section}: {e}"))));
    shown.finish(started.elapsed()).await;
    if style == Style::Events {
        for (kind, error) in &failed {
            report::event(serde_json::json!({"event": "failed", "kind": kind, "error": error}));
        }
    }
    let failed: Vec<String> = failed.into_iter().map(|(_, e)| e).collect();
    if !failed.is_empty() {
        anyhow::bail!(
            "{} could not be fetched, so no bundle was written; what was fetched is in the cache ({}), and a run once these are fixed fetches only what is missing:\n  - {}",
            if failed.len() == 1 { "1 artifact".to_string() } else { format!("{} artifacts", failed.len()) },
            args.cache.display(),
            failed.join("\n  - ")
        );
    }

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
    let artifacts = descriptors.iter().filter_map(|d| d.annotations.get(crate::format::oci::ANNOTATION_REF_NAME).cloned()).collect();
    let index = ImageIndex::new(descriptors).to_bytes();

    let created = super::rfc3339(secs);
    // After a delta's base the sequence must still grow, whatever the clocks say.
    let floor = have.as_ref().and_then(|h| h.sequences.get(&manifest.name)).map(|s| s + 1).unwrap_or(0);
    let sequence = args.sequence.unwrap_or(secs.max(floor));
    let generator = format!("bundler {}", env!("CARGO_PKG_VERSION"));
    let sbom = crate::format::sbom::spdx(&lock, &manifest.name, sequence, &created, &generator);
    let sbom = BlobRef { digest: cache.put_new(&sbom)?, size: sbom.len() as u64 };
    all.blobs.insert(sbom.digest.clone(), sbom.size);
    let (assumed, blobs): (Vec<BlobRef>, Vec<BlobRef>) = all.blobs.iter().map(|(d, s)| BlobRef { digest: d.clone(), size: *s }).partition(|b| held.contains(&b.digest));
    let carried_bytes = blobs.iter().map(|b| b.size).sum();
    let bundle = BundleJson {
        format: FORMAT_VERSION,
        name: manifest.name.clone(),
        sequence,
        created: created.clone(),
        expires,
        index: BlobRef { digest: Digest::sha256_of(&index), size: index.len() as u64 },
        blobs,
        assumed,
        sbom: Some(sbom),
        generator,
    };
    let signature = key.sign(&bundle.to_bytes(), &bundle.trusted_comment());

    let target = match args.split_size {
        Some(part_size) => Target::Split { part_size, key: &key },
        None => Target::Whole,
    };
    let started = std::time::Instant::now();
    let shown = Report::start(Phase::Write, vec![("bundle", carried_bytes)], style);
    // Off the async workers, so the progress lines keep coming while it writes.
    let written = tokio::task::block_in_place(|| write_bundle(&args.out, &bundle, &signature, &index, &cache, args.compression, secs, &shown.progress("bundle"), target));
    shown.finish(started.elapsed()).await;
    let (sha256, size, parts) = written.with_context(|| format!("writing bundle {}", args.out.display()))?;
    Ok(Outcome::Created(CreateSummary {
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
        assumed: bundle.assumed.len(),
        parts,
    }))
}

/// One file, or parts plus their signed index.
enum Target<'a> {
    Whole,
    Split { part_size: u64, key: &'a SecretKey },
}

/// Where the bytes go: `OUT.partial` renamed at the end, or parts.
enum Sink {
    File(std::fs::File),
    Parts(Box<crate::format::split::SplitWriter>),
}

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::File(f) => f.write(b),
            Sink::Parts(p) => p.write(b),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::File(f) => f.flush(),
            Sink::Parts(p) => p.flush(),
        }
    }
}

/// The bundle's bytes hashed and written on a thread of their own, so reading the cache,
/// zstd, sha256 and the disk keep both cores busy. Hands over 1 MiB at a time.
struct Offloaded {
    buf: Vec<u8>,
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<(Sink, Digest, u64)>>>,
}

const HANDOVER: usize = 1 << 20;

impl Offloaded {
    fn new(sink: Sink) -> Offloaded {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let thread = std::thread::spawn(move || {
            let mut w = crate::format::HashWriter::new(BufWriter::with_capacity(HANDOVER, sink), crate::format::Algorithm::Sha256);
            for chunk in rx {
                w.write_all(&chunk)?;
            }
            let (mut buf, digest, size) = w.into_parts();
            buf.flush()?;
            Ok((buf.into_inner().map_err(|e| e.into_error())?, digest, size))
        });
        Offloaded { buf: Vec::with_capacity(HANDOVER), tx: Some(tx), thread: Some(thread) }
    }

    /// The writing thread's own error when it stopped early (a full disk), else `e`.
    fn stopped(&mut self) -> std::io::Error {
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(Err(e))) => e,
            _ => std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the bundle writer stopped"),
        }
    }

    fn hand_over(&mut self) -> std::io::Result<()> {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(HANDOVER));
        match self.tx.as_ref().map(|tx| tx.send(chunk)) {
            Some(Ok(())) => Ok(()),
            _ => Err(self.stopped()),
        }
    }

    /// Everything written: the sink, and the digest and size of what went into it.
    fn finish(mut self) -> std::io::Result<(Sink, Digest, u64)> {
        if !self.buf.is_empty() {
            self.hand_over()?;
        }
        drop(self.tx.take());
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            _ => Err(std::io::Error::other("the bundle writer panicked")),
        }
    }
}

impl Write for Offloaded {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= HANDOVER {
            self.hand_over()?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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
    progress: &Progress,
    target: Target,
) -> anyhow::Result<(Digest, u64, Vec<String>)> {
    use crate::format::split::{self, PartIndex, SplitWriter};
    let partial = out.with_extension("partial");
    let sink = match target {
        Target::Whole => Sink::File(std::fs::File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?),
        Target::Split { part_size, .. } => {
            // Stale parts of an earlier run must not be mistaken for this one's.
            for n in 1.. {
                let p = split::part_path(out, n);
                if !p.exists() {
                    break;
                }
                std::fs::remove_file(&p).with_context(|| format!("removing the old {}", p.display()))?;
            }
            let _ = std::fs::remove_file(split::index_path(out));
            Sink::Parts(Box::new(SplitWriter::new(out, part_size)))
        }
    };
    let mut w = BundleWriter::new(Offloaded::new(sink), compression, mtime)?;
    w.write_head(bundle, signature, index)?;
    for b in &bundle.blobs {
        let f = std::io::BufReader::with_capacity(1 << 20, cache.open_blob(&b.digest)?);
        if cache.fresh(&b.digest) {
            // Checked as it was fetched, moments ago.
            w.write_blob(&b.digest, b.size, f)?;
        } else {
            // Blobs from earlier runs are hashed again as they are written: the cache is not
            // trusted.
            let mut r = crate::format::HashReader::new(f, b.digest.algorithm());
            w.write_blob(&b.digest, b.size, &mut r)?;
            let (got, n) = r.finish()?;
            if got != b.digest || n != b.size {
                cache.discard(&b.digest);
                anyhow::bail!(
                    "the cached {} ({}) is damaged: it hashes to {got} ({n} bytes, {} expected); it was removed from the cache, and the next run fetches it again",
                    b.digest,
                    cache.path(&b.digest).display(),
                    b.size
                );
            }
        }
        progress.inc(b.size);
    }
    progress.finish();
    let (sink, digest, size) = w.finish()?.finish()?;
    match (sink, target) {
        (Sink::File(file), _) => {
            file.sync_all()?;
            std::fs::rename(&partial, out)?;
            Ok((digest, size, Vec::new()))
        }
        (Sink::Parts(w), Target::Split { part_size, key }) => {
            let parts = w.finish()?;
            let names = parts.iter().map(|p| out.with_file_name(&p.file).display().to_string()).collect();
            let idx = PartIndex { format: 1, name: bundle.name.clone(), sequence: bundle.sequence, size, sha256: digest.clone(), part_size, parts };
            let bytes = idx.to_bytes();
            let sig = key.sign(&bytes, &idx.trusted_comment());
            // The signature first, the index last: an index on disk means every part is done.
            let ip = split::index_path(out);
            let sp = ip.with_file_name(format!("{}.minisig", ip.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()));
            std::fs::write(&sp, sig).with_context(|| format!("writing {}", sp.display()))?;
            std::fs::write(&ip, bytes).with_context(|| format!("writing {}", ip.display()))?;
            Ok((digest, size, names))
        }
        (Sink::Parts(_), Target::Whole) => unreachable!("parts are only written for a split target"),
    }
}
