//! Imports through a running server. sled lets one process open a store, and a running
//! `mirror serve` is that process; so `mirror import` first offers the bundle to the server on
//! STORE/mirror.sock, and the server runs the same library import in-process — its routes read
//! the same database, so new content is served at once, without a restart.
//!
//! The same socket answers `mirror inventory`, `mirror rm`, `mirror gc` and `mirror verify`,
//! which also need the database.
//!
//! Protocol: one JSON line each way. The socket is mode 0600 and the server also checks the
//! peer's uid, because whoever talks to it chooses the trusted keys.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use feas_format::sign::PublicKey;

use crate::commands::status::{status, Running, Status};
use crate::commands::verify::{verify_store, VerifyReport};
use crate::gc::GcSummary;
use crate::import::{self, ImportOptions, ImportSummary, TrustFile};
use crate::inventory::{inventory, Held, Inventory};
use crate::remove::RemoveSummary;
use crate::store::{Actor, Event, Paths, Store};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot listen on {path}: {source}")]
    Bind { path: PathBuf, source: std::io::Error },
    #[error("talking to the running mirror at {path}: {detail}")]
    Talk { path: PathBuf, detail: String },
    /// The server ran the import and it failed; the message is the import's own.
    #[error("{0}")]
    Failed(String),
}

/// A key travels as its text, so the server needs no access to the operator's files but the bundle.
#[derive(Debug, Serialize, Deserialize)]
pub struct TrustedKey {
    pub source: String,
    pub text: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ImportRequest {
    /// Absolute: the server's working directory is not the client's.
    pub file: PathBuf,
    pub trust: Vec<TrustedKey>,
    /// `--trust-file`s, read by the client (keys inline); the server adds its own.
    #[serde(default)]
    pub trust_files: Vec<TrustFile>,
    pub allow_downgrade: bool,
    #[serde(default)]
    pub allow_signer_change: bool,
    #[serde(default)]
    pub tmpdir: Option<PathBuf>,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Import(ImportRequest),
    /// Reads that need the store's database, which the server holds.
    Inventory,
    Remove {
        targets: Vec<String>,
        #[serde(default)]
        dry_run: bool,
    },
    Gc {
        dry_run: bool,
        push_grace: u64,
    },
    Verify {
        quarantine: bool,
    },
    /// Every (repository, tag, digest), for `mirror push`.
    Tags,
    /// The import history and the audit trail, for `mirror history`.
    History,
    /// What an ecosystem's part of `mirror push` reads of the store (`Ecosystem::listing`).
    Listing {
        ecosystem: String,
    },
    /// `mirror status`.
    Status,
    /// `mirror ls`.
    Ls {
        kind: Option<String>,
        pattern: Option<String>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    Imported(ImportSummary),
    Inventory(Inventory),
    Removed(RemoveSummary),
    Collected(GcSummary),
    Verified(VerifyReport),
    Tags(Vec<(String, String, feas_format::Digest)>),
    Listing(serde_json::Value),
    History(Vec<Event>),
    Status(Box<Status>),
    Ls(Vec<Held>),
    Err(String),
}

impl Reply {
    pub fn into_removed(self) -> Result<RemoveSummary, ControlError> {
        match self {
            Reply::Removed(s) => Ok(s),
            other => Err(ControlError::Failed(format!("unexpected reply from the running mirror: {other:?}"))),
        }
    }
    pub fn into_collected(self) -> Result<GcSummary, ControlError> {
        match self {
            Reply::Collected(s) => Ok(s),
            other => Err(ControlError::Failed(format!("unexpected reply from the running mirror: {other:?}"))),
        }
    }
    pub fn into_history(self) -> Result<Vec<Event>, ControlError> {
        match self {
            Reply::History(h) => Ok(h),
            other => Err(ControlError::Failed(format!("unexpected reply from the running mirror: {other:?}"))),
        }
    }
    pub fn into_status(self) -> Result<Status, ControlError> {
        match self {
            Reply::Status(s) => Ok(*s),
            other => Err(ControlError::Failed(format!("unexpected reply from the running mirror: {other:?}"))),
        }
    }
    pub fn into_ls(self) -> Result<Vec<Held>, ControlError> {
        match self {
            Reply::Ls(l) => Ok(l),
            other => Err(ControlError::Failed(format!("unexpected reply from the running mirror: {other:?}"))),
        }
    }
    pub fn into_verified(self) -> Result<VerifyReport, ControlError> {
        match self {
            Reply::Verified(s) => Ok(s),
            other => Err(ControlError::Failed(format!("unexpected reply from the running mirror: {other:?}"))),
        }
    }
}

/// Bind STORE/mirror.sock (replacing a stale one) for the server's lifetime.
pub fn bind(paths: &Paths) -> Result<tokio::net::UnixListener, ControlError> {
    let path = paths.socket();
    let err = |source| ControlError::Bind { path: path.clone(), source };
    match std::fs::remove_file(&path) {
        Ok(()) => tracing::debug!("removed stale {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let listener = tokio::net::UnixListener::bind(&path).map_err(err)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    Ok(listener)
}

/// Serve import requests until the task is dropped. `trust_files` (`serve --trust-file`) are
/// read again for every import, so an edit (a revocation) counts from the next one on.
pub async fn accept(listener: tokio::net::UnixListener, store: Arc<Store>, trust_files: Arc<Vec<PathBuf>>, running: Arc<Running>) {
    let owner = std::fs::metadata(store.paths.socket()).map(|m| m.uid()).ok();
    loop {
        let conn = match listener.accept().await {
            Ok((c, _)) => c,
            Err(e) => {
                tracing::warn!("control socket: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let peer = conn.peer_cred().ok().map(|c| c.uid());
        let Some(uid) = peer.filter(|p| Some(*p) == owner || *p == 0) else {
            tracing::warn!("control socket: refused a connection from uid {peer:?}");
            continue;
        };
        tokio::spawn(handle(conn, store.clone(), trust_files.clone(), running.clone(), Actor::local(uid)));
    }
}

/// One request from `by` (the peer the kernel names), answered on the blocking pool.
async fn handle(conn: tokio::net::UnixStream, store: Arc<Store>, trust_files: Arc<Vec<PathBuf>>, running: Arc<Running>, by: Actor) {
    let (rd, mut wr) = conn.into_split();
    let mut line = String::new();
    if tokio::io::BufReader::new(rd).read_line(&mut line).await.is_err() {
        return;
    }
    let reply = match serde_json::from_str::<Request>(&line) {
        Err(e) => Reply::Err(format!("bad request on the control socket: {e}")),
        Ok(req) => tokio::task::spawn_blocking(move || answer(&store, &trust_files, &running, req, &by)).await.unwrap_or_else(|e| Reply::Err(format!("request failed: {e}"))),
    };
    let mut out = serde_json::to_vec(&reply).expect("reply serializes");
    out.push(b'\n');
    let _ = wr.write_all(&out).await;
}

fn answer(store: &Store, trust_files: &[PathBuf], running: &Running, req: Request, by: &Actor) -> Reply {
    match req {
        Request::Import(req) => {
            tracing::info!("import of {} requested by {by} on the control socket", req.file.display());
            run_import(store, trust_files, req, by)
        }
        Request::Inventory => inventory(store).map(Reply::Inventory).unwrap_or_else(|e| Reply::Err(e.to_string())),
        Request::Remove { targets, dry_run } => {
            tracing::info!("removal of {targets:?} (dry run: {dry_run}) requested by {by} on the control socket");
            crate::remove::remove(store, &targets, dry_run, by).map(Reply::Removed).unwrap_or_else(|e| Reply::Err(e.to_string()))
        }
        Request::Gc { dry_run, push_grace } => {
            tracing::info!("gc (dry run: {dry_run}) requested by {by} on the control socket");
            let collected = crate::gc::gc(store, dry_run, push_grace, by, &feas_format::progress::Progress::hidden());
            if let Ok(s) = &collected {
                crate::metrics::metrics().gc(if s.dry_run { 0 } else { s.bytes });
            }
            collected.map(Reply::Collected).unwrap_or_else(|e| Reply::Err(e.to_string()))
        }
        Request::Tags => store.all_tags().map(Reply::Tags).unwrap_or_else(|e| Reply::Err(e.to_string())),
        Request::History => store.events().map(Reply::History).unwrap_or_else(|e| Reply::Err(e.to_string())),
        Request::Listing { ecosystem } => match crate::ecosystems::listing(store, &ecosystem) {
            Ok(Some(v)) => Reply::Listing(v),
            Ok(None) => Reply::Err(format!("no ecosystem {ecosystem:?} lists records for `mirror push`")),
            Err(e) => Reply::Err(e.to_string()),
        },
        Request::Status => status(store, Some(running.clone())).map(|s| Reply::Status(Box::new(s))).unwrap_or_else(|e| Reply::Err(e.to_string())),
        Request::Ls { kind, pattern } => crate::commands::ls::ls(store, kind.as_deref(), pattern.as_deref()).map(Reply::Ls).unwrap_or_else(|e| Reply::Err(e.to_string())),
        Request::Verify { quarantine } => {
            verify_store(store, quarantine, by, &feas_format::progress::Progress::hidden()).map(Reply::Verified).unwrap_or_else(|e| Reply::Err(format!("{e:#}")))
        }
    }
}

fn run_import(store: &Store, server_trust: &[PathBuf], req: ImportRequest, by: &Actor) -> Reply {
    let trust = match req.trust.iter().map(|k| PublicKey::parse(&k.text, &k.source).map_err(|e| format!("trusted key {}: {e}", k.source))).collect::<Result<Vec<_>, _>>() {
        Ok(t) => t,
        Err(e) => return Reply::Err(e),
    };
    let mut trust_files = req.trust_files;
    for path in server_trust {
        match TrustFile::load(path) {
            Ok(f) => trust_files.push(f),
            Err(e) => return Reply::Err(format!("{e}; the import was refused (fix the trust file of this `mirror serve`, then import again)")),
        }
    }
    let opts = ImportOptions {
        trust,
        trust_files,
        allow_downgrade: req.allow_downgrade,
        allow_signer_change: req.allow_signer_change,
        progress: false,
        tmpdir: req.tmpdir.clone(),
        by: by.clone(),
    };
    let start = std::time::Instant::now();
    let done = import::import(store, &req.file, &opts);
    let m = crate::metrics::metrics();
    match done {
        Ok(s) => {
            m.import(Ok(!s.already_imported), s.bytes_added, start.elapsed());
            Reply::Imported(s)
        }
        Err(e) => {
            m.import(Err(e.reason()), 0, start.elapsed());
            tracing::warn!("import of {} failed: {e}", req.file.display());
            Reply::Err(e.to_string())
        }
    }
}

/// Offer an import to a server running on this store. `None` when no server answers (no
/// socket, or a stale one): then the caller opens the store itself.
pub fn request_import(store_dir: &Path, req: ImportRequest) -> Option<Result<ImportSummary, ControlError>> {
    Some(match exchange(store_dir, &Request::Import(req))? {
        Ok(Reply::Imported(s)) => Ok(s),
        Ok(other) => Err(unexpected(store_dir, &other)),
        Err(e) => Err(e),
    })
}

/// The inventory from a server running on this store; `None` when none answers.
pub fn request_inventory(store_dir: &Path) -> Option<Result<Inventory, ControlError>> {
    Some(match exchange(store_dir, &Request::Inventory)? {
        Ok(Reply::Inventory(i)) => Ok(i),
        Ok(other) => Err(unexpected(store_dir, &other)),
        Err(e) => Err(e),
    })
}

/// Any request to a server running on this store; `None` when none answers.
pub fn request(store_dir: &Path, req: Request) -> Option<Result<Reply, ControlError>> {
    exchange(store_dir, &req)
}

fn unexpected(store_dir: &Path, reply: &Reply) -> ControlError {
    ControlError::Talk { path: Paths::new(store_dir).socket(), detail: format!("unexpected reply {reply:?}") }
}

fn exchange(store_dir: &Path, req: &Request) -> Option<Result<Reply, ControlError>> {
    let path = Paths::new(store_dir).socket();
    let conn = std::os::unix::net::UnixStream::connect(&path).ok()?;
    let talk = |detail: String| ControlError::Talk { path: path.clone(), detail };
    let run = || -> Result<Reply, ControlError> {
        let mut line = serde_json::to_vec(req).expect("request serializes");
        line.push(b'\n');
        (&conn).write_all(&line).map_err(|e| talk(e.to_string()))?;
        let mut reply = String::new();
        BufReader::new(&conn).read_line(&mut reply).map_err(|e| talk(e.to_string()))?;
        match serde_json::from_str::<Reply>(&reply) {
            Ok(Reply::Err(e)) => Err(ControlError::Failed(e)),
            Ok(r) => Ok(r),
            Err(_) if reply.is_empty() => Err(talk("the server closed the connection (refused our uid, or stopped)".into())),
            Err(e) => Err(talk(format!("unreadable reply {reply:?}: {e}"))),
        }
    };
    Some(run())
}
