//! `mirror import`: verify a bundle while streaming it into a staging directory, then promote
//! the blobs and commit all metadata in one transaction. Until that commit nothing the mirror
//! serves changes; a refused bundle leaves the store as it was.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use bundler::format::bundle::{annotations, BlobRef, BundleJson};
use bundler::format::oci::{AnyManifest, Descriptor};
use bundler::format::reader::{self, BundleError, Sink};
use bundler::format::sign::{KeyId, PublicKey};
use bundler::format::Digest;

use crate::store::{BundleRecord, Changes, HistoryRecord, ManifestRecord, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot open bundle {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("bundle {path}: {source}")]
    Bundle { path: PathBuf, source: BundleError },
    #[error("bundle {path} refused: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("another import is running on this store ({0}); wait for it to finish")]
    Busy(PathBuf),
}

#[derive(Clone, Default)]
pub struct ImportOptions {
    pub trust: Vec<PublicKey>,
    pub allow_downgrade: bool,
}

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct ImportSummary {
    pub bundle: String,
    pub name: String,
    pub sequence: u64,
    pub signer: String,
    /// The exact same bundle was imported before; nothing changed.
    pub already_imported: bool,
    pub blobs_added: usize,
    pub bytes_added: u64,
    pub blobs_present: usize,
    pub artifacts: Vec<String>,
}

/// Streams listed blobs into staging; blobs already in the store are only hashed.
struct Staging<'a> {
    store: &'a Store,
    dir: PathBuf,
    opts: &'a ImportOptions,
    staged: BTreeMap<Digest, u64>,
    present: usize,
    already: bool,
    header: Option<(String, u64, String)>,
    progress: Option<indicatif::ProgressBar>,
}

impl Sink for Staging<'_> {
    fn on_verified(&mut self, b: &BundleJson, bundle_json: &[u8], signer: KeyId) -> Result<(), BundleError> {
        if let Some(exp) = &b.expires {
            let t = chrono::DateTime::parse_from_rfc3339(exp).map_err(|e| BundleError::Refused(format!("bad expires {exp:?}: {e}")))?;
            if t < chrono::Utc::now() {
                return Err(BundleError::Refused(format!("bundle {} sequence {} expired at {exp}; ask for a fresh bundle", b.name, b.sequence)));
            }
        }
        self.header = Some((b.name.clone(), b.sequence, signer.to_string()));
        let this = Digest::sha256_of(bundle_json);
        let prev = self.store.bundle(&b.name).map_err(|e| BundleError::Refused(e.to_string()))?;
        if let Some(prev) = prev {
            if prev.bundle_json == this {
                self.already = true;
                return Err(BundleError::Refused("already imported".into()));
            }
            if b.sequence <= prev.sequence && !self.opts.allow_downgrade {
                let what = if b.sequence == prev.sequence { "the same sequence as" } else { "older than" };
                return Err(BundleError::Refused(format!(
                    "bundle {} sequence {} is {what} the imported sequence {} (imported {}); a replayed or stale bundle is refused: pass --allow-downgrade to roll back on purpose",
                    b.name, b.sequence, prev.sequence, prev.imported_at
                )));
            }
        }
        if let Some(p) = &self.progress {
            p.set_length(b.blobs.iter().map(|x| x.size).sum());
        }
        Ok(())
    }

    fn on_blob(&mut self, blob: &BlobRef, data: &mut dyn Read) -> Result<(), BundleError> {
        if self.store.has_blob(&blob.digest) {
            io::copy(data, &mut io::sink())?;
            self.present += 1;
        } else {
            let path = self.dir.join(blob.digest.hex());
            let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
            io::copy(data, &mut w)?;
            w.flush()?;
            self.staged.insert(blob.digest.clone(), blob.size);
        }
        if let Some(p) = &self.progress {
            p.inc(blob.size);
        }
        Ok(())
    }
}

struct LockGuard(PathBuf);
impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn take_lock(store: &Store) -> Result<LockGuard, ImportError> {
    let p = store.paths.import_lock();
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&p) {
        Ok(mut f) => {
            let _ = writeln!(f, "{}", std::process::id());
            Ok(LockGuard(p))
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // A lock left by a killed importer: its pid is gone.
            let stale = std::fs::read_to_string(&p)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
                .is_none_or(|pid| !Path::new(&format!("/proc/{pid}")).exists());
            if stale {
                let _ = std::fs::remove_file(&p);
                return take_lock(store);
            }
            Err(ImportError::Busy(p))
        }
        Err(source) => Err(ImportError::Store(StoreError::Io { path: p, source })),
    }
}

pub fn import(store: &Store, file: &Path, opts: &ImportOptions, show_progress: bool) -> Result<ImportSummary, ImportError> {
    let _lock = take_lock(store)?;
    let id = format!("{}-{}", std::process::id(), chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default());
    let dir = store.paths.staging(&id);
    std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io { path: dir.clone(), source })?;
    let result = import_staged(store, file, opts, &dir, show_progress);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn import_staged(store: &Store, file: &Path, opts: &ImportOptions, dir: &Path, show_progress: bool) -> Result<ImportSummary, ImportError> {
    let bad = |source: BundleError| ImportError::Bundle { path: file.to_path_buf(), source };
    let invalid = |detail: String| ImportError::Invalid { path: file.to_path_buf(), detail };
    let f = std::fs::File::open(file).map_err(|source| ImportError::Open { path: file.to_path_buf(), source })?;
    let stream = reader::open(f).map_err(|e| bad(BundleError::Io(e)))?;
    let progress = (show_progress && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let p = indicatif::ProgressBar::new(0);
        p.set_style(indicatif::ProgressStyle::with_template("importing [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}").expect("template").progress_chars("=> "));
        p
    });
    let mut sink = Staging { store, dir: dir.to_path_buf(), opts, staged: BTreeMap::new(), present: 0, already: false, header: None, progress };
    let verified = match reader::read_bundle(stream, &opts.trust, &mut sink) {
        Ok(v) => v,
        Err(BundleError::Refused(_)) if sink.already => {
            // Identical to the last import of this name: a no-op.
            let (name, sequence, signer) = sink.header.take().unwrap_or_default();
            return Ok(ImportSummary {
                bundle: file.display().to_string(),
                name,
                sequence,
                signer,
                already_imported: true,
                blobs_added: 0,
                bytes_added: 0,
                blobs_present: 0,
                artifacts: Vec::new(),
            });
        }
        Err(e) => return Err(bad(e)),
    };
    if let Some(p) = &sink.progress {
        p.finish_and_clear();
    }
    let b = &verified.bundle;

    // Delta: what the bundle assumes must already be here.
    let missing: Vec<String> = b.assumed.iter().filter(|a| !store.has_blob(&a.digest)).map(|a| a.digest.to_string()).collect();
    if !missing.is_empty() {
        return Err(invalid(format!(
            "it is a delta that assumes {} blob(s) this mirror does not have (e.g. {}); import the earlier bundles first or build a full bundle without --have",
            missing.len(),
            missing[..missing.len().min(3)].join(", ")
        )));
    }

    let staged_path = |d: &Digest| dir.join(d.hex());
    let available = |d: &Digest| sink.staged.contains_key(d) || store.has_blob(d);
    let read_doc = |d: &Digest| -> Result<Vec<u8>, ImportError> {
        let p = if sink.staged.contains_key(d) { staged_path(d) } else { store.blob_path(d) };
        std::fs::read(&p).map_err(|source| ImportError::Store(StoreError::Io { path: p, source }))
    };

    // Walk every artifact's graph and collect the metadata it adds.
    let index = AnyManifest::parse(&verified.index).map_err(|e| invalid(format!("index.json: {e}")))?;
    let mut changes = Changes::default();
    let mut artifacts = Vec::new();
    for top in &index.manifests {
        let Some(repo) = top.annotations.get(annotations::REPOSITORY) else {
            return Err(invalid(format!("index.json entry {} has no {} annotation", top.digest, annotations::REPOSITORY)));
        };
        validate_repo(repo).map_err(|e| invalid(format!("index.json entry {}: {e}", top.digest)))?;
        if !changes.repos.contains(repo) {
            changes.repos.push(repo.clone());
        }
        if let Some(tag) = top.annotations.get(annotations::TAG) {
            validate_tag(tag).map_err(|e| invalid(format!("index.json entry {}: {e}", top.digest)))?;
            changes.tags.push((repo.clone(), tag.clone(), top.digest.clone()));
            artifacts.push(format!("{repo}:{tag}"));
        } else {
            artifacts.push(format!("{repo}@{}", top.digest));
        }
        let mut stack: Vec<Descriptor> = vec![top.clone()];
        let mut seen = BTreeSet::new();
        while let Some(d) = stack.pop() {
            if !seen.insert(d.digest.clone()) {
                continue;
            }
            if !available(&d.digest) {
                return Err(invalid(format!("{repo}: manifest {} is neither in the bundle nor in the store", d.digest)));
            }
            let bytes = read_doc(&d.digest)?;
            let m = AnyManifest::parse(&bytes).map_err(|e| invalid(format!("{repo}: manifest {} is not valid JSON: {e}", d.digest)))?;
            let media_type = m.effective_media_type(Some(&d.media_type));
            changes.manifests.push((repo.clone(), d.digest.clone(), ManifestRecord { media_type: media_type.clone(), size: bytes.len() as u64 }));
            if let Some(subject) = &m.subject {
                let mut r = Descriptor::new(media_type, d.digest.clone(), bytes.len() as u64);
                r.artifact_type = m.effective_artifact_type();
                r.annotations = m.annotations.clone();
                changes.referrers.push((repo.clone(), subject.digest.clone(), r));
            }
            for b in m.blob_children() {
                if !available(&b.digest) {
                    return Err(invalid(format!("{repo}: blob {} of manifest {} is neither in the bundle nor in the store", b.digest, d.digest)));
                }
            }
            stack.extend(m.manifests.iter().cloned());
        }
    }

    // Promote, then commit: blobs land before any metadata points at them.
    let bytes_added = sink.staged.values().sum();
    for d in sink.staged.keys() {
        store.promote(&staged_path(d), d)?;
    }
    store.sync_blob_dirs()?;
    changes.blobs = b.blobs.iter().map(|x| (x.digest.clone(), x.size)).collect();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let bundle_json = Digest::sha256_of(&verified.bundle_json);
    changes.bundle = Some((b.name.clone(), BundleRecord { sequence: b.sequence, bundle_json: bundle_json.clone(), imported_at: now.clone() }));
    changes.history = Some(HistoryRecord {
        imported_at: now,
        name: b.name.clone(),
        sequence: b.sequence,
        bundle_json,
        signer: verified.signer.to_string(),
        file: file.display().to_string(),
        blobs_added: sink.staged.len(),
        bytes_added,
        artifacts: artifacts.clone(),
    });
    store.commit(&changes)?;
    Ok(ImportSummary {
        bundle: file.display().to_string(),
        name: b.name.clone(),
        sequence: b.sequence,
        signer: verified.signer.to_string(),
        already_imported: false,
        blobs_added: sink.staged.len(),
        bytes_added,
        blobs_present: sink.present,
        artifacts,
    })
}

/// Repository names as the distribution spec allows them (plus a registry host with port).
pub fn validate_repo(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|c| {
            !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-:".contains(&b)) && c != "." && c != ".."
        });
    if ok { Ok(()) } else { Err(format!("invalid repository name {name:?}")) }
}

pub fn validate_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok { Ok(()) } else { Err(format!("invalid tag {tag:?}")) }
}
