//! The distribution-spec push side, on when `mirror serve --push-htpasswd` names writers (the
//! auth middleware has already checked the caller is one): upload sessions (monolithic,
//! chunked, streamed; kept in STORE/uploads/ so they survive a restart, expired after a day),
//! cross-repository mount, manifest PUT by tag or digest (with `subject` → referrers), and
//! manifest/tag DELETE. Bytes are hashed on the way in and land in the same content-addressed
//! store as imports. Tags that came from a signed bundle are not changed unless the operator
//! allows it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use feas_format::oci::{self, AnyManifest, Descriptor};
use feas_format::{Algorithm, Digest, Hasher};

use super::errors::{Code, OciError};
use super::{insert_digest_headers, parse_digest, R};
use crate::import::validate_tag;
use crate::routes::AppState;
use crate::store::{unix_now, Action, Actor, Audit, Changes, ManifestRecord, Paths, Removal};

/// Manifests larger than this are refused, as the import refuses them.
pub const MAX_MANIFEST: usize = 4 << 20;
/// An upload session untouched this long is removed.
const UPLOAD_TTL: Duration = Duration::from_secs(24 * 3600);
const UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");
const OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");

/// Push configuration and the sessions being written.
#[derive(Default)]
pub struct Uploads {
    /// Writers exist (`--push-htpasswd`); without them the registry is read-only.
    pub enabled: bool,
    /// `--allow-overwrite-imported`: pushes and deletes may change tags imported from bundles.
    pub overwrite_imported: bool,
    /// Running sha256 of each session written since start, to skip re-reading it at the end.
    live: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Live>>>>,
    limits: UploadLimits,
}

/// What one writer's open upload sessions may hold, so that one writer (or a stolen password)
/// cannot fill STORE/uploads: `--max-upload-sessions`, `--max-upload-bytes`.
#[derive(Clone, Copy, Debug)]
pub struct UploadLimits {
    pub sessions: usize,
    pub bytes: u64,
}

impl Default for UploadLimits {
    fn default() -> Self {
        UploadLimits { sessions: 256, bytes: 64 << 30 }
    }
}

/// While an upload streams, its writer's total is checked again after this many bytes, so
/// concurrent uploads overshoot the byte limit by at most this much each.
const RECHECK_BYTES: u64 = 16 << 20;

#[derive(Default)]
struct Live {
    /// sha256 of the session's bytes so far; `None` after a restart (re-hashed at the end).
    hasher: Option<Hasher>,
}

impl Uploads {
    pub fn new(enabled: bool, overwrite_imported: bool) -> Uploads {
        Uploads { enabled, overwrite_imported, live: Mutex::default(), limits: UploadLimits::default() }
    }
    pub fn with_limits(mut self, limits: UploadLimits) -> Uploads {
        self.limits = limits;
        self
    }
    fn session(&self, id: &str) -> Arc<tokio::sync::Mutex<Live>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).entry(id.to_string()).or_default().clone()
    }
    fn forget(&self, id: &str) {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SessionInfo {
    repo: String,
    started: u64,
    /// The writer who started it ("" when pushes need no login, and for sessions from before).
    #[serde(default)]
    user: String,
}

/// The upload sessions `user` holds open and the bytes they hold, read from STORE/uploads
/// (bounded as the sweep is): nothing to keep in step when sessions finish or expire.
fn usage(paths: &Paths, user: &str) -> (usize, u64) {
    let Ok(rd) = std::fs::read_dir(paths.uploads()) else { return (0, 0) };
    let (mut sessions, mut bytes) = (0, 0);
    for e in rd.flatten().take(100_000) {
        let name = e.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")).filter(|id| valid_id(id)) else { continue };
        let Some(info) = std::fs::read(e.path()).ok().and_then(|b| serde_json::from_slice::<SessionInfo>(&b).ok()) else { continue };
        if info.user == user {
            sessions += 1;
            bytes += std::fs::metadata(paths.upload(id)).map(|m| m.len()).unwrap_or(0);
        }
    }
    (sessions, bytes)
}

async fn usage_of(st: &AppState, user: &str) -> Result<(usize, u64), OciError> {
    let (store, user) = (st.store.clone(), user.to_string());
    tokio::task::spawn_blocking(move || usage(&store.paths, &user)).await.map_err(|e| internal("reading STORE/uploads", e))
}

fn who(user: &str) -> String {
    if user.is_empty() {
        "anonymous writers".into()
    } else {
        format!("user {user}")
    }
}

fn too_many_sessions(user: &str, open: usize, limit: usize) -> OciError {
    OciError::new(Code::TooManyRequests, format!("{} has {open} upload sessions open, the most `mirror serve --max-upload-sessions` allows ({limit}); finish or cancel (DELETE) some — abandoned ones expire after a day", who(user)))
}

fn too_many_bytes(user: &str, limit: u64) -> OciError {
    OciError::new(Code::TooManyRequests, format!("{}'s open upload sessions would hold more than {limit} bytes, the most `mirror serve --max-upload-bytes` allows; this chunk was not kept — finish or cancel other uploads first", who(user)))
}

fn internal(what: &str, e: impl std::fmt::Display) -> OciError {
    tracing::error!("{what}: {e}");
    OciError::new(Code::Unknown, format!("{what} failed on the mirror; see its log"))
}

fn read_only() -> OciError {
    OciError::new(
        Code::Unsupported,
        "pushing is not enabled on this mirror: content arrives via `mirror import`; an operator can start `mirror serve --push-htpasswd FILE` to accept pushes",
    )
}

fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn location(resp: &mut Response, url: &str) {
    if let Ok(v) = HeaderValue::from_str(url) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
}

fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    r.headers_mut().insert(super::API_VERSION, HeaderValue::from_static("registry/2.0"));
    r
}

/// 202 for a session holding `size` bytes.
fn session_response(status: StatusCode, name: &str, id: &str, size: u64) -> Response {
    let mut r = empty(status);
    location(&mut r, &format!("/v2/{name}/blobs/uploads/{id}"));
    r.headers_mut().insert(UPLOAD_UUID, HeaderValue::from_str(id).expect("hex id"));
    // The spec's inclusive range of bytes received; `0-0` before any.
    r.headers_mut().insert(header::RANGE, HeaderValue::from_str(&format!("0-{}", size.saturating_sub(1))).expect("ascii"));
    r
}

/// Every stored blob (an upload finished, or a mount) ends here: counted as a push.
fn blob_created(name: &str, d: &Digest) -> Response {
    crate::metrics::metrics().pushed("blob");
    let mut r = empty(StatusCode::CREATED);
    location(&mut r, &format!("/v2/{name}/blobs/{d}"));
    insert_digest_headers(r.headers_mut(), d);
    r
}

/// How often a serving mirror with writers sweeps expired upload sessions (a new upload also
/// sweeps).
pub const UPLOAD_SWEEP: Duration = Duration::from_secs(3600);

/// Remove the sessions whose bytes were last written more than `UPLOAD_TTL` ago (a client that
/// gave up): data file, info file and running hash together, so a session is whole or gone.
/// Bounded per call.
pub fn expire_sessions(paths: &Paths, uploads: &Uploads) {
    let Ok(rd) = std::fs::read_dir(paths.uploads()) else { return };
    let age = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
    let ids: std::collections::BTreeSet<String> =
        rd.flatten().take(100_000).filter_map(|e| e.file_name().to_str().map(|n| n.trim_end_matches(".json").to_string())).filter(|id| valid_id(id)).collect();
    for id in ids {
        // A session whose data file is gone is judged by its info file.
        let (data, info) = (paths.upload(&id), paths.upload_info(&id));
        if age(&data).or_else(|| age(&info)).is_some_and(|a| a > UPLOAD_TTL) {
            let _ = std::fs::remove_file(&data);
            let _ = std::fs::remove_file(&info);
            uploads.forget(&id);
            tracing::info!("removed upload {id} (untouched for {} h)", UPLOAD_TTL.as_secs() / 3600);
        }
    }
}

/// The session's repository, or BLOB_UPLOAD_UNKNOWN.
fn open_session(st: &AppState, name: &str, id: &str) -> Result<u64, OciError> {
    let unknown = || OciError::new(Code::BlobUploadUnknown, format!("upload {id} is not in progress in {name} (finished, cancelled, or expired after a day)"));
    if !valid_id(id) {
        return Err(unknown());
    }
    let info: SessionInfo = std::fs::read(st.store.paths.upload_info(id)).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(unknown)?;
    if info.repo != name {
        return Err(unknown());
    }
    std::fs::metadata(st.store.paths.upload(id)).map(|m| m.len()).map_err(|_| unknown())
}

/// Append a request body to the session file, hashing as it goes, within `user`'s byte limit.
async fn append(st: &AppState, user: &str, id: &str, body: Body) -> Result<u64, OciError> {
    let live = st.uploads.session(id);
    let mut live = live.lock().await;
    let path = st.store.paths.upload(id);
    let mut f = tokio::fs::OpenOptions::new().append(true).open(&path).await.map_err(|e| internal("opening the upload", e))?;
    let len = f.metadata().await.map_err(|e| internal("reading the upload", e))?.len();
    // A session first touched since a restart has no running hash; it is re-hashed at the end.
    if live.hasher.is_none() && len == 0 {
        live.hasher = Some(Hasher::new(Algorithm::Sha256));
    }
    let limit = st.uploads.limits.bytes;
    // What the writer's sessions held when last checked (this one included), and at what `n`.
    let (mut held, mut checked_at) = (usage_of(st, user).await?.1, len);
    let mut stream = body.into_data_stream();
    let mut n = len;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| OciError::new(Code::BlobUploadInvalid, format!("the upload body was cut off: {e}")))?;
        if n + chunk.len() as u64 - checked_at >= RECHECK_BYTES {
            (held, checked_at) = (usage_of(st, user).await?.1, n);
        }
        if held + (n - checked_at) + chunk.len() as u64 > limit {
            // The session keeps what it held before this request; its running hash is dropped
            // (the bytes are re-hashed when it finishes).
            let _ = f.flush().await;
            let _ = f.set_len(len).await;
            live.hasher = None;
            return Err(too_many_bytes(user, limit));
        }
        f.write_all(&chunk).await.map_err(|e| internal("writing the upload", e))?;
        if let Some(h) = live.hasher.as_mut() {
            h.update(&chunk);
        }
        n += chunk.len() as u64;
    }
    f.flush().await.map_err(|e| internal("writing the upload", e))?;
    Ok(n)
}

/// Check the session's bytes against `digest`, move them into the store and record them.
async fn finish(st: &AppState, by: &Actor, name: &str, id: &str, digest: &Digest) -> Result<u64, OciError> {
    let live = st.uploads.session(id);
    let mut live = live.lock().await;
    let path = st.store.paths.upload(id);
    let running = live.hasher.take().filter(|h| h.size() == std::fs::metadata(&path).map(|m| m.len()).unwrap_or(u64::MAX));
    let (store, digest2, path2, name2, by) = (st.store.clone(), digest.clone(), path.clone(), name.to_string(), by.clone());
    let result = tokio::task::spawn_blocking(move || -> Result<(Digest, u64), Failed> {
        let (actual, n) = match running {
            Some(h) if digest2.algorithm() == Algorithm::Sha256 => h.finish(),
            _ => {
                let mut r = feas_format::HashReader::new(std::fs::File::open(&path2)?, digest2.algorithm());
                std::io::copy(&mut r, &mut std::io::sink())?;
                r.finish()?
            }
        };
        if actual != digest2 {
            return Ok((actual, n));
        }
        // From the file landing to its record committing, gc must not run.
        let _adding = store.adding();
        if !store.blobs.exists(&digest2) {
            std::fs::File::open(&path2)?.sync_all()?;
            store.blobs.promote_all([(path2.clone(), &digest2)])?;
        }
        commit_blob(&store, &by, name2, &digest2, n)?;
        Ok((actual, n))
    })
    .await
    .map_err(|e| internal("hashing the upload", e))?;
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(st.store.paths.upload_info(id));
    st.uploads.forget(id);
    let (actual, n) = result.map_err(|e| internal("finishing the upload", e))?;
    if &actual != digest {
        return Err(OciError::new(Code::DigestInvalid, format!("the uploaded bytes hash to {actual}, not {digest}; nothing was stored"))
            .with_detail(serde_json::json!({"expected": digest.to_string(), "actual": actual.to_string()})));
    }
    Ok(n)
}

/// What can fail while a push lands its bytes.
#[derive(Debug, thiserror::Error)]
enum Failed {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// A blob now held for `name` (uploaded or mounted): the repository exists from here on. The
/// caller holds `Store::adding` and has checked the file is there.
fn commit_blob(store: &crate::store::Store, by: &Actor, name: String, d: &Digest, n: u64) -> Result<u64, crate::store::StoreError> {
    let audit = Audit { by: by.clone(), action: Action::PushBlob { repo: name.clone(), digest: d.clone(), size: n } };
    store.commit(&Changes { repos: vec![name], blobs: vec![(d.clone(), n)], pushed: true, audit: Some(audit), ..Changes::default() })
}

/// `POST /v2/<name>/blobs/uploads/` (with `?digest=` for a monolithic upload, `?mount=&from=`
/// for a cross-repository mount) by `user` (the writer who logged in; `by` adds its address).
pub async fn start(st: &AppState, user: &str, by: &Actor, name: &str, q: &HashMap<String, String>, body: Body) -> R {
    if !st.uploads.enabled {
        return Err(read_only());
    }
    if let Some(m) = q.get("mount") {
        let d = parse_digest(m)?;
        // One content-addressed store: a blob held for any repository can be linked here.
        let (store, name2, d2, by) = (st.store.clone(), name.to_string(), d.clone(), by.clone());
        let mounted = tokio::task::spawn_blocking(move || -> Result<bool, crate::store::StoreError> {
            let _adding = store.adding();
            match store.blobs.size(&d2) {
                Some(n) => commit_blob(&store, &by, name2, &d2, n).map(|_| true),
                None => Ok(false),
            }
        })
        .await
        .map_err(|e| internal("mounting the blob", e))??;
        if mounted {
            return Ok(blob_created(name, &d));
        }
    }
    expire_sessions(&st.store.paths, &st.uploads);
    let (open, _) = usage_of(st, user).await?;
    if open >= st.uploads.limits.sessions {
        return Err(too_many_sessions(user, open, st.uploads.limits.sessions));
    }
    let id = {
        use rand::Rng;
        let b: [u8; 16] = rand::thread_rng().gen();
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    };
    let dir = st.store.paths.uploads();
    std::fs::create_dir_all(&dir).map_err(|e| internal("creating STORE/uploads", e))?;
    std::fs::File::create(st.store.paths.upload(&id)).map_err(|e| internal("creating an upload", e))?;
    let info = serde_json::to_vec(&SessionInfo { repo: name.to_string(), started: unix_now(), user: user.to_string() }).expect("json");
    std::fs::write(st.store.paths.upload_info(&id), info).map_err(|e| internal("creating an upload", e))?;
    match q.get("digest") {
        Some(d) => {
            let d = parse_digest(d)?;
            if let Err(e) = append(st, user, &id, body).await {
                // A refused monolithic upload leaves no session behind.
                let _ = std::fs::remove_file(st.store.paths.upload(&id));
                let _ = std::fs::remove_file(st.store.paths.upload_info(&id));
                st.uploads.forget(&id);
                return Err(e);
            }
            finish(st, by, name, &id, &d).await?;
            Ok(blob_created(name, &d))
        }
        None => Ok(session_response(StatusCode::ACCEPTED, name, &id, 0)),
    }
}

/// `Content-Range: <start>-<end>` of a chunk (the spec's form; `bytes ` tolerated).
fn chunk_start(h: &HeaderMap) -> Option<u64> {
    let v = h.get(header::CONTENT_RANGE)?.to_str().ok()?;
    let v = v.trim().trim_start_matches("bytes").trim();
    v.split(['-', '/']).next()?.trim().parse().ok()
}

/// A chunk must start where the upload ends: 416 with the `Range` held, to resume from.
fn check_chunk(h: &HeaderMap, id: &str, size: u64) -> Result<(), OciError> {
    match chunk_start(h) {
        Some(start) if start != size => Err(OciError::new(Code::RangeInvalid, format!("chunk starts at {start} but upload {id} holds {size} bytes; resume from there"))
            .with_detail(serde_json::json!({"range": format!("0-{}", size.saturating_sub(1))}))),
        _ => Ok(()),
    }
}

/// PATCH (a chunk or a stream), PUT (the last bytes and the digest), GET (progress) and
/// DELETE (cancel) on an upload session, by `user`.
#[allow(clippy::too_many_arguments)]
pub async fn session(st: &AppState, user: &str, by: &Actor, method: &axum::http::Method, name: &str, id: &str, q: &HashMap<String, String>, headers: &HeaderMap, body: Body) -> R {
    if !st.uploads.enabled {
        return Err(read_only());
    }
    let size = open_session(st, name, id)?;
    match *method {
        axum::http::Method::GET | axum::http::Method::HEAD => Ok(session_response(StatusCode::NO_CONTENT, name, id, size)),
        axum::http::Method::DELETE => {
            let _ = std::fs::remove_file(st.store.paths.upload(id));
            let _ = std::fs::remove_file(st.store.paths.upload_info(id));
            st.uploads.forget(id);
            Ok(empty(StatusCode::NO_CONTENT))
        }
        axum::http::Method::PATCH => {
            check_chunk(headers, id, size)?;
            let n = append(st, user, id, body).await?;
            Ok(session_response(StatusCode::ACCEPTED, name, id, n))
        }
        axum::http::Method::PUT => {
            let d = q.get("digest").ok_or_else(|| OciError::new(Code::DigestInvalid, "PUT finishing an upload needs ?digest=<algorithm:hex>"))?;
            let d = parse_digest(d)?;
            check_chunk(headers, id, size)?;
            append(st, user, id, body).await?;
            finish(st, by, name, id, &d).await?;
            Ok(blob_created(name, &d))
        }
        _ => Err(OciError::new(Code::Unsupported, format!("{method} is not an upload operation"))),
    }
}

fn denied_imported(name: &str, tag: &str) -> OciError {
    OciError::new(Code::Denied, format!("{name}:{tag} came from a signed bundle and is not changed by pushes or deletes; push under another tag, or start `mirror serve --allow-overwrite-imported` to allow it"))
}

/// `PUT /v2/<name>/manifests/<reference>`.
pub async fn put_manifest(st: &AppState, by: &Actor, name: &str, reference: &str, headers: &HeaderMap, body: Body) -> R {
    if !st.uploads.enabled {
        return Err(read_only());
    }
    let by_digest = reference.contains(':');
    let want = if by_digest { Some(parse_digest(reference)?) } else { None };
    if !by_digest {
        validate_tag(reference).map_err(|e| OciError::new(Code::TagInvalid, e.to_string()))?;
    }
    let bytes = axum::body::to_bytes(body, MAX_MANIFEST)
        .await
        .map_err(|_| OciError::new(Code::SizeInvalid, format!("the manifest is larger than {MAX_MANIFEST} bytes (or its body was cut off); nothing was stored")))?;
    let algorithm = want.as_ref().map(Digest::algorithm).unwrap_or(Algorithm::Sha256);
    let digest = Digest::of(algorithm, &bytes);
    if let Some(w) = &want {
        if w != &digest {
            return Err(OciError::new(Code::DigestInvalid, format!("the manifest hashes to {digest}, not {w}; nothing was stored")));
        }
    }
    let m = AnyManifest::parse(&bytes).map_err(|e| OciError::new(Code::ManifestInvalid, format!("not an OCI or Docker manifest: {e}")))?;
    if m.schema_version != Some(2) {
        return Err(OciError::new(Code::ManifestInvalid, "schemaVersion must be 2"));
    }
    check_manifest_type(&m, headers)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
    if let (Some(body_type), Some(ct)) = (&m.media_type, &content_type) {
        if body_type != ct {
            return Err(OciError::new(Code::ManifestInvalid, format!("Content-Type {ct} does not match the manifest's mediaType {body_type}")));
        }
    }
    let media_type = m.effective_media_type(content_type.as_deref().filter(|c| feas_format::oci::is_manifest_type(c)));
    let size = bytes.len() as u64;
    let mut changes = Changes {
        repos: vec![name.to_string()],
        manifests: vec![(name.to_string(), digest.clone(), ManifestRecord::new(media_type.clone(), size))],
        blobs: vec![(digest.clone(), size)],
        pushed: true,
        audit: Some(Audit { by: by.clone(), action: Action::PushManifest { repo: name.to_string(), reference: reference.to_string(), digest: digest.clone(), size } }),
        ..Changes::default()
    };
    if !by_digest {
        changes.tags.push((name.to_string(), reference.to_string(), digest.clone()));
    }
    if let Some(subject) = &m.subject {
        let mut r = Descriptor::new(media_type, digest.clone(), size);
        r.artifact_type = m.effective_artifact_type();
        r.annotations = m.annotations.clone();
        changes.referrers.push((name.to_string(), subject.digest.clone(), r));
    }
    let children: Vec<Descriptor> = m.blob_children().chain(m.manifests.iter()).cloned().collect();
    let (store, d2, name2, reference2, overwrite) = (st.store.clone(), digest.clone(), name.to_string(), reference.to_string(), st.uploads.overwrite_imported);
    tokio::task::spawn_blocking(move || -> Result<u64, OciError> {
        // From checking that what it references is here to committing it, gc must not run:
        // it could collect a child the check just saw.
        let _adding = store.adding();
        // Everything it references must already be here (the subject may come later).
        for d in &children {
            match store.blobs.size(&d.digest) {
                Some(n) if n == d.size => {}
                Some(n) => return Err(OciError::new(Code::ManifestInvalid, format!("{} is {n} bytes, but the manifest says {}", d.digest, d.size))),
                None => {
                    return Err(OciError::new(
                        Code::ManifestBlobUnknown,
                        format!("the manifest references {}, which was not pushed; push blobs and child manifests first", d.digest),
                    )
                    .with_detail(serde_json::json!({"digest": d.digest.to_string()})))
                }
            }
        }
        if !by_digest && !overwrite && store.tag(&name2, &reference2)?.is_some() && !store.tag_pushed(&name2, &reference2)? {
            return Err(denied_imported(&name2, &reference2));
        }
        if !store.blobs.exists(&d2) {
            store.blobs.write(&d2, &mut &bytes[..])?;
        }
        Ok(store.commit(&changes)?)
    })
    .await
    .map_err(|e| internal("storing the manifest", e))??;
    crate::metrics::metrics().pushed("manifest");
    let mut r = empty(StatusCode::CREATED);
    location(&mut r, &format!("/v2/{name}/manifests/{digest}"));
    insert_digest_headers(r.headers_mut(), &digest);
    if let Some(s) = &m.subject {
        r.headers_mut().insert(OCI_SUBJECT, HeaderValue::from_str(&s.digest.to_string()).expect("digest is ascii"));
    }
    Ok(r)
}

/// Only manifest types are stored: the stored type is the Content-Type every GET serves, and a
/// `text/html` one would run the manifest's script in anonymous readers' browsers. The header
/// may also say `application/json`, which distribution reads as "see the body".
fn check_manifest_type(m: &AnyManifest, headers: &HeaderMap) -> Result<(), OciError> {
    let header = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(|v| v.split(';').next().unwrap_or(v).trim());
    let refused = m.media_type.as_deref().filter(|t| !oci::is_manifest_type(t)).or(header.filter(|t| !oci::is_manifest_type(t) && *t != "application/json"));
    match refused {
        Some(t) => Err(OciError::new(Code::ManifestInvalid, format!("media type {t:?} is not a manifest type (accepted: {}); nothing was stored", oci::MANIFEST_TYPES.join(", ")))),
        None => Ok(()),
    }
}

/// `DELETE /v2/<name>/manifests/<tag|digest>`: a tag alone, or a manifest with the tags and
/// referrer entries naming it. Blobs are left to `mirror gc`. A manifest that came from a
/// signed bundle is never deleted over HTTP (`mirror rm` does that); its tags only with
/// `--allow-overwrite-imported`.
pub async fn delete_manifest(st: &AppState, by: &Actor, name: &str, reference: &str) -> R {
    if !st.uploads.enabled {
        return Err(read_only());
    }
    let by_digest = if reference.contains(':') {
        Some(parse_digest(reference)?)
    } else {
        validate_tag(reference).map_err(|e| OciError::new(Code::TagInvalid, e.to_string()))?;
        None
    };
    let kind = if by_digest.is_some() { "manifest" } else { "tag" };
    let (store, name, reference, overwrite, by) = (st.store.clone(), name.to_string(), reference.to_string(), st.uploads.overwrite_imported, by.clone());
    tokio::task::spawn_blocking(move || -> Result<u64, OciError> {
        // Decided and applied with no push in between: a tag pushed meanwhile onto this
        // manifest would otherwise be left naming nothing.
        let _collecting = store.collecting();
        let mut removal = Removal::default();
        match by_digest {
            Some(d) => {
                if store.manifest(&name, &d)?.is_none() {
                    return Err(OciError::new(Code::ManifestUnknown, format!("{name}@{d} is not held by this mirror")));
                }
                if !store.manifest_pushed(&name, &d)? {
                    return Err(OciError::new(
                        Code::Denied,
                        format!("{name}@{d} came from a signed bundle and is not deleted over HTTP; an operator removes it with `mirror rm {name}@{d}`"),
                    ));
                }
                for tag in store.tags_of(&name, &d)? {
                    if !overwrite && !store.tag_pushed(&name, &tag)? {
                        return Err(denied_imported(&name, &tag));
                    }
                    removal.tags.push((name.clone(), tag));
                }
                for (subject, desc) in store.referrer_entries(&name)? {
                    if desc.digest == d {
                        removal.referrers.push((name.clone(), subject, d.clone()));
                    }
                }
                removal.manifests.push((name.clone(), d));
            }
            None => {
                if store.tag(&name, &reference)?.is_none() {
                    return Err(OciError::new(Code::ManifestUnknown, format!("{name}:{reference} is not held by this mirror")));
                }
                if !overwrite && !store.tag_pushed(&name, &reference)? {
                    return Err(denied_imported(&name, &reference));
                }
                removal.tags.push((name.clone(), reference.clone()));
            }
        }
        let action = Action::Delete {
            repo: name.clone(),
            reference: reference.clone(),
            tags: removal.tags.iter().map(|(_, t)| t.clone()).collect(),
            manifests: removal.manifests.iter().map(|(_, d)| d.clone()).collect(),
        };
        removal.audit = Some(Audit { by, action });
        Ok(store.remove(&removal)?)
    })
    .await
    .map_err(|e| internal("deleting", e))??;
    crate::metrics::metrics().deleted(kind);
    Ok(empty(StatusCode::ACCEPTED))
}
