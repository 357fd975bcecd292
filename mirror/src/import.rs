//! `mirror import`: verify a bundle while streaming it into a staging directory, then promote
//! the blobs and commit all metadata in one transaction. Until that commit nothing the mirror
//! serves changes; a refused bundle leaves the store byte-for-byte as it was.

pub(crate) mod graph;
mod policy;
mod sink;
mod trust;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use feas_format::reader::{self, BundleError};
use feas_format::sign::{PublicKey, SignError};
use feas_format::split;
use feas_format::Digest;

use crate::store::paths::STAGING_PREFIX;
use crate::store::{Actor, BundleRecord, Changes, HistoryRecord, ImportLock, Paths, Store, StoreError};

pub use graph::{validate_repo, validate_tag, GraphError};
pub use policy::{Decision, MAX_SEQUENCE_AHEAD};
pub use trust::{parse_key_id, Grant, Trust, TrustError, TrustFile};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot open bundle {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("bundle {path}: {source}")]
    Bundle { path: PathBuf, source: BundleError },
    #[error("bundle {path} refers to {} blob(s) that are neither carried nor in this store: {}; import the bundle(s) it was built against first, or ask for a full bundle (built without --have)", missing.len(), missing.join(", "))]
    Incomplete { path: PathBuf, missing: Vec<String> },
    #[error("bundle {path} refused: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error("bundle {path} refused: {source}")]
    Graph { path: PathBuf, source: graph::GraphError },
    #[error("bundle {path} needs {needed} bytes ({}) free on the store's filesystem ({}) for its new blobs and metadata, but only {free} bytes ({}) are free; nothing was imported and the store is as it was. Free space (`mirror gc` deletes blobs nothing references) or move the store to a larger filesystem, then import again", feas_format::term::bytes(*.needed), .store.display(), feas_format::term::bytes(*.free))]
    NoSpace { path: PathBuf, store: PathBuf, needed: u64, free: u64 },
    #[error("bundle {path} refused: it is signed by a revoked key: {detail}. Bundles signed by a revoked key are refused whatever their name; ask the publisher for one signed by a current key")]
    Revoked { path: PathBuf, detail: String },
    #[error("no trusted key to check bundle {0} against: pass --trust KEY.pub (repeat for several) or --trust-file FILE, or import through a `mirror serve --trust-file FILE`")]
    NoTrust(PathBuf),
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ImportError {
    /// Why the import was refused, in a word from a fixed set (`/metrics`' `reason` label).
    pub fn reason(&self) -> &'static str {
        use policy::PolicyError as P;
        match self {
            ImportError::Open { .. } => "unreadable",
            ImportError::Bundle { source, .. } => match source {
                BundleError::Io(_) => "unreadable",
                BundleError::Truncated(_) => "truncated",
                BundleError::MissingSignature => "signature",
                BundleError::Signature(SignError::Untrusted { .. }) => "untrusted-key",
                BundleError::Signature(_) => "signature",
                BundleError::IndexMismatch { .. }
                | BundleError::UnlistedBlob(_)
                | BundleError::DuplicateBlob(_)
                | BundleError::BlobHeaderSize { .. }
                | BundleError::BlobMismatch { .. }
                | BundleError::MissingBlobs { .. } => "digest",
                BundleError::Refused(e) => match e.downcast_ref::<P>() {
                    Some(P::Expired { .. } | P::UnreadableExpiry { .. }) => "expired",
                    Some(P::Downgrade { .. } | P::SequenceReused { .. } | P::TooFarAhead { .. }) => "sequence",
                    Some(P::SignerChanged { .. }) => "signer",
                    None if e.downcast_ref::<StoreError>().is_some() => "store",
                    None => "policy",
                },
                _ => "format",
            },
            ImportError::Incomplete { .. } => "incomplete",
            ImportError::Invalid { .. } | ImportError::Graph { .. } => "invalid",
            ImportError::NoSpace { .. } => "no-space",
            ImportError::Revoked { .. } => "revoked",
            ImportError::NoTrust(_) | ImportError::Trust(_) => "trust",
            ImportError::Store(_) => "store",
        }
    }
}

#[derive(Clone, Default)]
pub struct ImportOptions {
    /// Keys given one by one (`--trust`): any bundle name.
    pub trust: Vec<PublicKey>,
    /// Trust files: keys scoped to bundle names, and revocations (see `trust`).
    pub trust_files: Vec<TrustFile>,
    pub allow_downgrade: bool,
    /// Let a trusted key import a name another key imported so far (the name becomes its).
    pub allow_signer_change: bool,
    /// Draw a progress bar (only ever when stderr is a terminal).
    pub progress: bool,
    /// Where to stage blobs instead of STORE/tmp (same filesystem as the store).
    pub tmpdir: Option<PathBuf>,
    /// Who runs it, for the history.
    pub by: Actor,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportSummary {
    pub bundle: String,
    pub name: String,
    pub sequence: u64,
    pub signer: String,
    /// The exact same bundle was the last import of its name; nothing changed.
    pub already_imported: bool,
    /// Store generation after this import.
    pub generation: u64,
    pub blobs_added: usize,
    pub bytes_added: u64,
    pub blobs_present: usize,
    pub artifacts: Vec<String>,
    /// Of those, the ones an earlier `mirror rm` took out: this import brought them back.
    #[serde(default)]
    pub restored: Vec<String>,
}

/// Import one bundle file. Holds the store's import lock throughout.
pub fn import(store: &Store, file: &Path, opts: &ImportOptions) -> Result<ImportSummary, ImportError> {
    let trust = Trust::new(&opts.trust, &opts.trust_files)?;
    if trust.keys().is_empty() {
        return Err(ImportError::NoTrust(file.to_path_buf()));
    }
    let _lock = ImportLock::acquire(&store.paths)?;
    let tmp = match &opts.tmpdir {
        Some(dir) => {
            same_filesystem(dir, &store.paths.tmp()).map_err(|detail| ImportError::Invalid { path: file.to_path_buf(), detail })?;
            dir.clone()
        }
        None => store.paths.tmp(),
    };
    // A TempDir is removed on every exit path, error or panic, so a refused bundle leaves nothing.
    let staging = tempfile::Builder::new().prefix(STAGING_PREFIX).tempdir_in(&tmp).map_err(|source| StoreError::Io { path: tmp, source })?;
    let result = import_staged(store, file, opts, &trust, staging.path());
    if let Err(e) = staging.close() {
        tracing::warn!("removing the staging directory: {e}");
    }
    result
}

/// A signature by a key outside the verifying set that a trust file revoked: say so.
fn revoked(trust: &Trust, file: &Path, sign: &SignError) -> Option<ImportError> {
    let SignError::Untrusted { found, .. } = sign else { return None };
    let detail = trust.revoked(*found)?;
    Some(ImportError::Revoked { path: file.to_path_buf(), detail })
}

fn import_staged(store: &Store, file: &Path, opts: &ImportOptions, trust: &Trust, dir: &Path) -> Result<ImportSummary, ImportError> {
    let shown = file.display().to_string();
    let bad = |source: BundleError| match &source {
        BundleError::Signature(s) => revoked(trust, file, s).unwrap_or(ImportError::Bundle { path: file.to_path_buf(), source }),
        _ => ImportError::Bundle { path: file.to_path_buf(), source },
    };
    // A bundle file, or a split bundle: its signed part index checked and every part present
    // before a byte is read.
    let opened = split::open_input(file, Some(trust.keys())).map_err(|e| match e {
        split::SplitError::Io { source, .. } => ImportError::Open { path: file.to_path_buf(), source },
        split::SplitError::Verify { source, .. } if revoked(trust, file, &source).is_some() => revoked(trust, file, &source).expect("checked"),
        e => ImportError::Invalid { path: file.to_path_buf(), detail: e.to_string() },
    })?;
    let split::Opened { stream, parts } = opened;
    let (f, at_eof) = EofFlag::new(stream);
    let stream = reader::open(f).map_err(|e| bad(BundleError::Io(e)))?;
    let mut sink = sink::Staging::new(store, dir, opts, trust);
    let verified = match reader::read_bundle(stream, trust.keys(), &mut sink) {
        Ok(v) => v,
        Err(e) => {
            sink.finish_progress();
            if let Some(sink::NoSpace { needed, free }) = sink.no_space() {
                return Err(ImportError::NoSpace { path: file.to_path_buf(), store: store.paths.root().to_path_buf(), needed, free });
            }
            return match sink.already_imported() {
                Some((b, signer)) => {
                    tracing::info!("{shown}: bundle {} sequence {} already imported", b.name, b.sequence);
                    Ok(ImportSummary {
                        bundle: shown,
                        name: b.name.clone(),
                        sequence: b.sequence,
                        signer: signer.to_string(),
                        already_imported: true,
                        generation: store.generation()?,
                        blobs_added: 0,
                        bytes_added: 0,
                        blobs_present: 0,
                        artifacts: Vec::new(),
                        restored: Vec::new(),
                    })
                }
                None => match parts.as_ref().and_then(|(p, pos)| p.damaged(pos)) {
                    // Inside a split bundle, a damaged part is the cause worth naming.
                    Some(detail) => Err(ImportError::Invalid { path: file.to_path_buf(), detail }),
                    None => Err(bad(match e {
                        BundleError::Io(io) if at_eof.load(Ordering::Relaxed) => BundleError::Truncated(format!("the file ends mid-entry: {io}")),
                        e => e,
                    })),
                },
            };
        }
    };
    sink.finish_progress();
    let b = &verified.bundle;

    // Everything the bundle points at must now be in staging or already in the store.
    let lookup = |d: &Digest| -> Option<(PathBuf, u64)> {
        if let Some(&n) = sink.staged.get(d) {
            return Some((Paths::staged_blob(dir, d), n));
        }
        store.blobs.size(d).map(|n| (store.blobs.path(d), n))
    };
    let mut missing: Vec<String> = b.assumed.iter().chain(&b.sbom).filter(|a| lookup(&a.digest).is_none()).map(|a| a.digest.to_string()).collect();
    let plan = graph::walk(&verified.index, &lookup).map_err(|source| ImportError::Graph { path: file.to_path_buf(), source })?;
    missing.extend(plan.missing.iter().map(|d| d.to_string()));
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        return Err(ImportError::Incomplete { path: file.to_path_buf(), missing });
    }

    // What an earlier `mirror rm` took out and this import brings back: said, not silent.
    let mut restored = Vec::new();
    for a in &plan.artifacts {
        if store.was_removed(a)? {
            restored.push(a.clone());
        }
    }
    // Blobs land (and are synced) before any metadata points at them.
    let bytes_added = sink.staged.values().sum();
    store.blobs.promote_all(sink.staged.keys().map(|d| (Paths::staged_blob(dir, d), d)))?;

    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let bundle_json = Digest::sha256_of(&verified.bundle_json);
    let mut changes = Changes {
        blobs: b.blobs.iter().map(|x| (x.digest.clone(), x.size)).collect(),
        bundle: Some((
            b.name.clone(),
            BundleRecord {
                sequence: b.sequence,
                bundle_json: bundle_json.clone(),
                imported_at: now.clone(),
                sbom: b.sbom.as_ref().map(|s| s.digest.clone()),
                signer: Some(verified.signer.to_string()),
            },
        )),
        history: Some(HistoryRecord {
            generation: 0,
            imported_at: now,
            name: b.name.clone(),
            sequence: b.sequence,
            bundle_json,
            signer: verified.signer.to_string(),
            file: shown.clone(),
            blobs_added: sink.staged.len(),
            bytes_added,
            artifacts: plan.artifacts.clone(),
            by: Some(opts.by.clone()),
        }),
        ..plan.changes
    };
    crate::ecosystems::set_bundle_created(&mut changes, &b.created);
    let generation = store.commit(&changes)?;
    tracing::info!("imported {} sequence {} from {shown}: {} blobs added ({bytes_added} bytes)", b.name, b.sequence, sink.staged.len());
    Ok(ImportSummary {
        bundle: shown,
        name: b.name.clone(),
        sequence: b.sequence,
        signer: verified.signer.to_string(),
        already_imported: false,
        generation,
        blobs_added: sink.staged.len(),
        bytes_added,
        blobs_present: sink.present,
        artifacts: plan.artifacts,
        restored,
    })
}

/// Remembers whether the underlying file reached its end, to tell truncation from damage.
/// Staged blobs are renamed into the store, so staging must be on its filesystem.
fn same_filesystem(dir: &Path, store_tmp: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).map_err(|e| format!("--tmpdir: {}: {e}", p.display()));
    if dev(dir)? != dev(store_tmp)? {
        return Err(format!(
            "--tmpdir {} is on another filesystem than the store ({}); staging there would mean copying every blob — choose a directory on the store's filesystem",
            dir.display(),
            store_tmp.display()
        ));
    }
    Ok(())
}

struct EofFlag<R> {
    inner: R,
    eof: Arc<AtomicBool>,
}

impl<R> EofFlag<R> {
    fn new(inner: R) -> (EofFlag<R>, Arc<AtomicBool>) {
        let eof = Arc::new(AtomicBool::new(false));
        (EofFlag { inner, eof: eof.clone() }, eof)
    }
}

impl<R: Read> Read for EofFlag<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.eof.store(true, Ordering::Relaxed);
        }
        Ok(n)
    }
}
