//! The audit trail: who changed the store, what, when and from where. Each push, delete, `rm`,
//! gc and quarantine is written to the `audit` tree by the same transaction as the change
//! itself (keyed by the generation it produced and a number within it), so the log and the
//! store cannot disagree, even after a kill -9. Imports keep their fuller record in the `history` tree (with who ran them);
//! `Meta::events` reads both, in generation order, as `mirror history` shows them.

use std::net::SocketAddr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use feas_format::Digest;

use std::convert::Infallible;

use sled::transaction::ConflictableTransactionResult;

use super::{decode, json, Counted, HistoryRecord, Meta};
use crate::store::StoreError;

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Actor {
    /// A `mirror` command on this host, run directly or over the control socket (whose peer
    /// the kernel names).
    Local {
        uid: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
    },
    /// An HTTP client: the writer it logged in as ("" when pushes need no login) and its
    /// address.
    Client {
        user: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        addr: Option<SocketAddr>,
    },
}

impl Actor {
    /// The user running this process.
    pub fn this_process() -> Actor {
        Actor::local(nix::unistd::getuid().as_raw())
    }

    /// A local user by uid, with the name the password database gives it.
    pub fn local(uid: u32) -> Actor {
        let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)).ok().flatten().map(|u| u.name);
        Actor::Local { uid, user }
    }
}

/// The user running this process: who runs a command directly on the store.
impl Default for Actor {
    fn default() -> Actor {
        Actor::this_process()
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::Local { uid, user: Some(u) } => write!(f, "{u} (uid {uid}) on this host"),
            Actor::Local { uid, user: None } => write!(f, "uid {uid} on this host"),
            Actor::Client { user, addr } => {
                match user.as_str() {
                    "" => f.write_str("an anonymous writer")?,
                    u => write!(f, "{u}")?,
                }
                match addr {
                    Some(a) => write!(f, " from {a}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// What was done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// A bundle imported (from the `history` tree; see `HistoryRecord`).
    Import { name: String, sequence: u64, bundle_json: Digest, signer: String, file: String, blobs_added: usize, bytes_added: u64, artifacts: Vec<String> },
    /// A blob uploaded or mounted into `repo`.
    PushBlob { repo: String, digest: Digest, size: u64 },
    /// A manifest put by tag or by digest (`reference`).
    PushManifest { repo: String, reference: String, digest: Digest, size: u64 },
    /// A tag or manifest deleted over HTTP: the tags and manifests that went.
    Delete { repo: String, reference: String, tags: Vec<String>, manifests: Vec<Digest> },
    /// `mirror rm`: what was asked, and the artifacts and bundle names that went.
    Remove { targets: Vec<String>, artifacts: Vec<String>, bundles: Vec<String> },
    /// `mirror gc`: blobs and bytes deleted, blobs kept.
    Gc { blobs: usize, bytes: u64, kept: usize },
    /// `mirror verify --quarantine`: damaged blobs moved aside, and who referenced them.
    Quarantine { blobs: Vec<Digest>, artifacts: Vec<String> },
}

impl Action {
    /// The action's name as `--json` writes it (`push-blob`, `gc`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Import { .. } => "import",
            Action::PushBlob { .. } => "push-blob",
            Action::PushManifest { .. } => "push-manifest",
            Action::Delete { .. } => "delete",
            Action::Remove { .. } => "remove",
            Action::Gc { .. } => "gc",
            Action::Quarantine { .. } => "quarantine",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Import { name, sequence, signer, file, blobs_added, bytes_added, .. } => {
                write!(f, "import {name} sequence {sequence} signed by {signer}: +{blobs_added} blobs ({}) from {file}", feas_format::term::bytes(*bytes_added))
            }
            Action::PushBlob { repo, digest, size } => write!(f, "push blob {repo}@{digest} ({})", feas_format::term::bytes(*size)),
            Action::PushManifest { repo, reference, digest, .. } if reference.contains(':') => write!(f, "push manifest {repo}@{digest}"),
            Action::PushManifest { repo, reference, digest, .. } => write!(f, "push {repo}:{reference} -> {digest}"),
            Action::Delete { repo, reference, tags, manifests } => {
                write!(f, "delete {repo} {reference}: {} tag(s), {} manifest(s)", tags.len(), manifests.len())
            }
            Action::Remove { targets, artifacts, bundles } => {
                write!(f, "rm {}: {} artifact(s), {} bundle name(s)", targets.join(" "), artifacts.len(), bundles.len())
            }
            Action::Gc { blobs, bytes, kept } => write!(f, "gc: {blobs} blob(s) deleted ({}), {kept} kept", feas_format::term::bytes(*bytes)),
            Action::Quarantine { blobs, artifacts } => write!(f, "quarantine {} damaged blob(s), referenced by {}", blobs.len(), artifacts.join(", ")),
        }
    }
}

/// An audited change, as a commit or removal carries it.
#[derive(Debug, Clone)]
pub struct Audit {
    pub by: Actor,
    pub action: Action,
}

/// One entry of the trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The store generation the change produced.
    pub generation: u64,
    /// RFC 3339, UTC.
    pub at: String,
    /// Absent for imports recorded before the trail named who ran them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Actor>,
    #[serde(flatten)]
    pub action: Action,
}

impl Event {
    pub(crate) fn new(generation: u64, a: &Audit) -> Event {
        Event { generation, at: now_rfc3339(), by: Some(a.by.clone()), action: a.action.clone() }
    }
}

impl From<HistoryRecord> for Event {
    fn from(h: HistoryRecord) -> Event {
        Event {
            generation: h.generation,
            at: h.imported_at,
            by: h.by,
            action: Action::Import {
                name: h.name,
                sequence: h.sequence,
                bundle_json: h.bundle_json,
                signer: h.signer,
                file: h.file,
                blobs_added: h.blobs_added,
                bytes_added: h.bytes_added,
                artifacts: h.artifacts,
            },
        }
    }
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Meta {
    /// Every import and audited change, oldest first. Both trees are keyed by generation; an
    /// import is the first event of the generation it produced, audited events follow in the
    /// order of their keys (a stable sort keeps it).
    pub fn events(&self) -> Result<Vec<Event>, StoreError> {
        let imports = self.t.history.iter().values().map(|v| Ok(Event::from(decode::<HistoryRecord>("history", &v?)?)));
        let audited = self.t.audit.iter().values().map(|v| decode::<Event>("audit", &v?));
        in_order(imports.chain(audited))
    }

    /// The newest `limit` events, newest first: two reverse scans, bounded.
    pub fn recent_events(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        let imports = self.t.history.iter().values().rev().take(limit).map(|v| Ok(Event::from(decode::<HistoryRecord>("history", &v?)?)));
        let audited = self.t.audit.iter().values().rev().take(limit).map(|v| decode::<Event>("audit", &v?));
        // Each scan turned back to key order, so `in_order` sees what `events` sees.
        let (mut imports, mut audited): (Vec<_>, Vec<_>) = (imports.collect::<Result<_, StoreError>>()?, audited.collect::<Result<_, StoreError>>()?);
        imports.reverse();
        audited.reverse();
        let mut all = in_order(imports.into_iter().chain(audited).map(Ok))?;
        all.reverse();
        all.truncate(limit);
        Ok(all)
    }

    /// The last audited change of the kind `action` names (`Action::name`): one lookup, for
    /// status pages (a busy registry logs many pushes between two gcs).
    pub fn last_event(&self, action: &str) -> Result<Option<Event>, StoreError> {
        let Some(g) = self.t.state.get(last_key(action))? else { return Ok(None) };
        self.t.audit.get(&g)?.map(|v| decode("audit", &v)).transpose()
    }

    /// The `state` record of the last `verify`: `mirror verify` changes nothing, so it is no
    /// event, but status pages show when it last ran and what it found.
    pub fn last_verify<T: DeserializeOwned>(&self) -> Result<Option<T>, StoreError> {
        self.t.state.get(LAST_VERIFY)?.map(|v| decode("state", &v)).transpose()
    }

    pub fn set_last_verify<T: Serialize>(&self, report: &T) -> Result<(), StoreError> {
        self.t.state.insert(LAST_VERIFY, json(report))?;
        self.db.flush()?;
        Ok(())
    }
}

const LAST_VERIFY: &[u8] = b"last/verify";
/// The `state` key holding the audit key written last.
const LAST_KEY: &[u8] = b"last/audit";

/// Imports, then audited events, each in key order, merged oldest first: an import is the
/// first event of the generation it produced (a stable sort keeps the audit keys' order).
fn in_order(events: impl Iterator<Item = Result<Event, StoreError>>) -> Result<Vec<Event>, StoreError> {
    let mut all: Vec<Event> = events.collect::<Result<_, StoreError>>()?;
    all.sort_by_key(|e| (e.generation, !matches!(e.action, Action::Import { .. })));
    Ok(all)
}

/// The `state` key holding the generation of the last event of a kind.
fn last_key(action: &str) -> Vec<u8> {
    format!("last/{action}").into_bytes()
}

/// Write `a` as the event of `generation`, inside the commit's or removal's transaction.
pub(super) fn append(audit: &Counted<'_>, state: &Counted<'_>, generation: u64, a: &Audit) -> ConflictableTransactionResult<(), Infallible> {
    // `generation, n`: the n-th event at that generation. A change bumps the generation, so
    // its n is 0; a gc that deleted nothing changes none, and is numbered after what is there.
    let n = match state.get(LAST_KEY)? {
        Some(last) if last.len() == 16 && last[..8] == generation.to_be_bytes() => u64::from_be_bytes(last[8..].try_into().expect("8 bytes")) + 1,
        _ => 0,
    };
    let k = [generation.to_be_bytes(), n.to_be_bytes()].concat();
    audit.insert(&k[..], json(&Event::new(generation, a)))?;
    state.insert(LAST_KEY, &k[..])?;
    state.insert(last_key(a.action.name()), &k[..])?;
    Ok(())
}
