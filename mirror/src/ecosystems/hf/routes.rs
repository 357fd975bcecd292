//! The subset of the Hugging Face hub that huggingface_hub and transformers use, under `/hf/`
//! (clients set `HF_ENDPOINT=http://mirror:5000/hf`): model info at a revision, the tree
//! listing (recursive or not, paginated with `Link: <…>; rel="next"` as the hub does), and
//! files at `/hf/<repo>/resolve/<rev>/<path>` with the hub's headers (`X-Repo-Commit`, a
//! quoted `ETag`, `X-Linked-Etag`/`X-Linked-Size` for LFS files) and Range. Errors carry the
//! hub's `X-Error-Code`, so the client raises RepositoryNotFoundError, RevisionNotFoundError
//! or EntryNotFoundError rather than a generic HTTP error.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use feas_format::hf::enc_path;
use feas_format::hf::{self as fmt, HfFile};
use serde::Deserialize;
use serde_json::{json, Value};

use super::HfRecord;
use crate::routes::range::{self, FileError};
use crate::routes::AppState;
use crate::store::{Store, StoreError};

/// Entries per tree page, as the hub pages them (50 when `expand=true`).
const PAGE: usize = 1000;
const PAGE_EXPANDED: usize = 50;
/// Overrides both page sizes (tests exercise pagination with it).
const PAGE_ENV: &str = "MIRROR_HF_TREE_PAGE_SIZE";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hf/api/models/{owner}/{name}", any(info_main))
        .route("/hf/api/models/{owner}/{name}/revision/{rev}", any(info))
        .route("/hf/api/models/{owner}/{name}/tree/{rev}", any(tree_root))
        .route("/hf/api/models/{owner}/{name}/tree/{rev}/{*path}", any(tree_path))
        .route("/hf/{owner}/{name}/resolve/{rev}/{*path}", any(resolve))
}

/// An error as the hub words it: JSON body, `X-Error-Code` and `X-Error-Message`.
fn hub_error(status: StatusCode, code: &'static str, message: String, commit: Option<&str>) -> Response {
    let mut r = (status, axum::Json(json!({ "error": message }))).into_response();
    let h = r.headers_mut();
    h.insert(HeaderName::from_static("x-error-code"), HeaderValue::from_static(code));
    if let Ok(v) = HeaderValue::from_str(&message) {
        h.insert(HeaderName::from_static("x-error-message"), v);
    }
    if let Some(v) = commit.and_then(|c| HeaderValue::from_str(c).ok()) {
        h.insert(HeaderName::from_static("x-repo-commit"), v);
    }
    r
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!("hf: {e}");
    (StatusCode::INTERNAL_SERVER_ERROR, "store error; see the mirror's log\n").into_response()
}

fn read_only() -> Response {
    (StatusCode::METHOD_NOT_ALLOWED, "the Hugging Face mirror is read-only\n").into_response()
}

enum Found {
    Model(HfRecord),
    NoRepo(String),
    NoRevision(String, String),
}

/// A revision (a name imported for the repo, or one of its commits) to its record.
fn lookup(store: &Store, repo: &str, rev: &str) -> Result<Found, StoreError> {
    if !fmt::valid_repo_id(repo) || !store.hf_repo_exists(repo)? {
        return Ok(Found::NoRepo(repo.into()));
    }
    let commit = match store.hf_model(repo, rev)? {
        Some(rec) if fmt::is_commit(rev) => return Ok(Found::Model(rec)),
        _ => store.hf_ref(repo, rev)?,
    };
    match commit {
        Some(c) => Ok(store.hf_model(repo, &c)?.map(Found::Model).unwrap_or_else(|| Found::NoRevision(repo.into(), rev.into()))),
        None => Ok(Found::NoRevision(repo.into(), rev.into())),
    }
}

async fn find(st: &AppState, repo: String, rev: String) -> Result<HfRecord, Response> {
    let store = st.store.clone();
    match tokio::task::spawn_blocking(move || lookup(&store, &repo, &rev)).await {
        Ok(Ok(Found::Model(rec))) => Ok(rec),
        Ok(Ok(Found::NoRepo(repo))) => Err(hub_error(StatusCode::NOT_FOUND, "RepoNotFound", format!("Repository not found: {repo} is not on this mirror (see /)"), None)),
        Ok(Ok(Found::NoRevision(repo, rev))) => {
            Err(hub_error(StatusCode::NOT_FOUND, "RevisionNotFound", format!("Invalid rev id: {rev} (this mirror holds other revisions of {repo}; see /)"), None))
        }
        Ok(Err(e)) => Err(internal(e)),
        Err(e) => Err(internal(e)),
    }
}

/// The hub writes dates as `2024-01-01T00:00:00.000Z`, which is what huggingface_hub parses.
fn hub_date(rfc3339: &str) -> Option<String> {
    let base = rfc3339.strip_suffix('Z')?;
    Some(if base.contains('.') { rfc3339.to_string() } else { format!("{base}.000Z") })
}

fn flag(v: Option<&str>) -> bool {
    matches!(v.map(str::to_ascii_lowercase).as_deref(), Some("true" | "1"))
}

#[derive(Deserialize)]
struct InfoQuery {
    blobs: Option<String>,
}

async fn info_main(st: State<AppState>, Path((owner, name)): Path<(String, String)>, q: Query<InfoQuery>, method: Method) -> Response {
    info(st, Path((owner, name, "main".into())), q, method).await
}

/// `GET /api/models/<repo>/revision/<rev>`: what `model_info`/`repo_info` parse; `siblings`
/// carry sizes, blob ids and LFS data with `?blobs=true`, as on the hub.
async fn info(State(st): State<AppState>, Path((owner, name, rev)): Path<(String, String, String)>, Query(q): Query<InfoQuery>, method: Method) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return read_only();
    }
    let repo = format!("{owner}/{name}");
    let rec = match find(&st, repo.clone(), rev).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let blobs = flag(q.blobs.as_deref());
    let siblings: Vec<Value> = rec
        .files
        .iter()
        .map(|f| {
            let mut s = json!({ "rfilename": f.path });
            if blobs {
                s["size"] = json!(f.size);
                s["blobId"] = json!(f.oid);
                if let Some(p) = f.lfs_pointer_size {
                    s["lfs"] = json!({ "sha256": f.sha256.hex(), "size": f.size, "pointerSize": p });
                }
            }
            s
        })
        .collect();
    let mut v = json!({
        "_id": rec.commit,
        "id": repo,
        "modelId": repo,
        "author": owner,
        "sha": rec.commit,
        "private": false,
        "gated": false,
        "disabled": false,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "siblings": siblings,
        "spaces": [],
        "usedStorage": rec.files.iter().map(|f| f.size).sum::<u64>(),
    });
    if let Some(d) = hub_date(&rec.imported_at) {
        v["lastModified"] = json!(d);
        v["createdAt"] = json!(d);
    }
    axum::Json(v).into_response()
}

/// Git tree ids of every folder of the held files, computed as git does from their blob ids.
fn folder_oids(files: &[HfFile]) -> BTreeMap<String, String> {
    let split = |p: &str| match p.rsplit_once('/') {
        Some((parent, name)) => (parent.to_string(), name.to_string()),
        None => (String::new(), p.to_string()),
    };
    let mut children: BTreeMap<String, Vec<(String, bool, String)>> = BTreeMap::new();
    let mut folders = BTreeSet::new();
    for f in files {
        let (parent, name) = split(&f.path);
        children.entry(parent.clone()).or_default().push((name, false, f.oid.clone()));
        let mut p = parent;
        while !p.is_empty() {
            let up = split(&p).0;
            folders.insert(p);
            p = up;
        }
    }
    // Deepest first, so each folder's subfolders already have their ids.
    let mut order: Vec<String> = folders.into_iter().collect();
    order.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    let mut oids = BTreeMap::new();
    for d in order {
        let oid = fmt::git_tree_oid(children.get(&d).map(Vec::as_slice).unwrap_or_default());
        let (parent, name) = split(&d);
        children.entry(parent).or_default().push((name, true, oid.clone()));
        oids.insert(d, oid);
    }
    oids
}

/// Tree entries below `dir` ("" for the root), sorted by path.
fn entries(rec: &HfRecord, dir: &str, recursive: bool) -> Option<Vec<Value>> {
    let folders = folder_oids(&rec.files);
    if !dir.is_empty() && !folders.contains_key(dir) {
        return None;
    }
    let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    let wanted = |p: &str| p.strip_prefix(&prefix).is_some_and(|rest| recursive || !rest.contains('/'));
    let mut out: Vec<(String, Value)> = Vec::new();
    for (d, oid) in folders.iter().filter(|(d, _)| wanted(d)) {
        out.push((d.clone(), json!({ "type": "directory", "oid": oid, "size": 0, "path": d })));
    }
    for f in rec.files.iter().filter(|f| wanted(&f.path)) {
        let mut e = json!({ "type": "file", "oid": f.oid, "size": f.size, "path": f.path });
        if let Some(p) = f.lfs_pointer_size {
            e["lfs"] = json!({ "oid": f.sha256.hex(), "size": f.size, "pointerSize": p });
        }
        out.push((f.path.clone(), e));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Some(out.into_iter().map(|(_, v)| v).collect())
}

#[derive(Deserialize)]
struct TreeQuery {
    recursive: Option<String>,
    expand: Option<String>,
    cursor: Option<String>,
}

// huggingface_hub requests the next page's URL exactly as given: an absolute URL of this mirror.
async fn tree_root(st: State<AppState>, Path((owner, name, rev)): Path<(String, String, String)>, q: Query<TreeQuery>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let base = st.origin.base(&uri, &headers);
    tree(st, owner, name, rev, String::new(), q, method, base).await
}

async fn tree_path(
    st: State<AppState>,
    Path((owner, name, rev, path)): Path<(String, String, String, String)>,
    q: Query<TreeQuery>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let base = st.origin.base(&uri, &headers);
    tree(st, owner, name, rev, path.trim_matches('/').to_string(), q, method, base).await
}

/// `GET /api/models/<repo>/tree/<rev>[/<path>]?recursive=…&expand=…`: a JSON array page; the
/// next page's absolute URL (huggingface_hub requests it as given) in `Link`.
#[allow(clippy::too_many_arguments)]
async fn tree(State(st): State<AppState>, owner: String, name: String, rev: String, path: String, Query(q): Query<TreeQuery>, method: Method, base: String) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return read_only();
    }
    let repo = format!("{owner}/{name}");
    let rec = match find(&st, repo.clone(), rev.clone()).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let (recursive, expand) = (flag(q.recursive.as_deref()), flag(q.expand.as_deref()));
    let Some(all) = entries(&rec, &path, recursive) else {
        return hub_error(StatusCode::NOT_FOUND, "EntryNotFound", format!("{path} is not a folder of {repo} at {}", rec.commit), Some(&rec.commit));
    };
    let start = match q.cursor.as_deref().map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) if n <= all.len() => n,
        Some(_) => return (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": "invalid cursor" }))).into_response(),
    };
    let page = std::env::var(PAGE_ENV).ok().and_then(|v| v.parse::<usize>().ok()).filter(|n| *n > 0).unwrap_or(if expand { PAGE_EXPANDED } else { PAGE });
    let end = (start + page).min(all.len());
    let mut r = axum::Json(&all[start..end]).into_response();
    if end < all.len() {
        let sub = if path.is_empty() { String::new() } else { format!("/{}", enc_path(&path)) };
        let rev = enc_path(&rev).replace('/', "%2F");
        let next = format!("<{base}/hf/api/models/{repo}/tree/{rev}{sub}?recursive={recursive}&expand={expand}&cursor={end}>; rel=\"next\"");
        if let Ok(v) = HeaderValue::from_str(&next) {
            r.headers_mut().insert(header::LINK, v);
        }
    }
    r
}

/// `HEAD`/`GET /<repo>/resolve/<rev>/<path>`: the file, with the metadata `hf_hub_download`
/// reads from the HEAD (commit, ETag, size) and Range for resumed downloads.
async fn resolve(State(st): State<AppState>, Path((owner, name, rev, path)): Path<(String, String, String, String)>, req: Request) -> Response {
    let head = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => return read_only(),
    };
    let repo = format!("{owner}/{name}");
    let rec = match find(&st, repo.clone(), rev).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let Some(f) = rec.files.iter().find(|f| f.path == path) else {
        return hub_error(StatusCode::NOT_FOUND, "EntryNotFound", format!("Entry not found: {path} is not in {repo} at {} on this mirror", rec.commit), Some(&rec.commit));
    };
    let mut r = match range::file_response(&st.store.blobs.path(&f.sha256), head, req.headers(), "application/octet-stream").await {
        Ok(r) => r,
        Err(FileError::NotFound) => return internal(format!("{} ({repo} {path}) is missing from the store; run `mirror verify`", f.sha256)),
        Err(FileError::Io(e)) => return internal(format!("reading {}: {e}", f.sha256)),
    };
    // As the hub: LFS files are known by their sha256, git files by their blob id.
    let etag = if f.lfs_pointer_size.is_some() { f.sha256.hex().to_string() } else { f.oid.clone() };
    let h = r.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set("x-repo-commit", rec.commit.clone());
    set("etag", format!("\"{etag}\""));
    if f.lfs_pointer_size.is_some() {
        set("x-linked-etag", format!("\"{etag}\""));
        set("x-linked-size", f.size.to_string());
    }
    r
}

/// One line of `/`.
pub struct Listed {
    pub repo: String,
    /// Revision names that answer with this commit, comma-separated.
    pub revisions: String,
    pub commit: String,
    pub files: usize,
    pub bytes: u64,
}

/// What `/` lists: the first `limit` repos and commits held, each with the revision names
/// pointing at it (of those it was imported under: a name moves to the commit imported last).
pub fn listing(store: &Store, limit: usize) -> Result<Vec<Listed>, StoreError> {
    let mut out = Vec::new();
    for rec in store.hf_models_first(limit)? {
        let mut names = Vec::new();
        for rev in &rec.revisions {
            if store.hf_ref(&rec.repo, rev)?.as_deref() == Some(rec.commit.as_str()) {
                names.push(rev.as_str());
            }
        }
        let revisions = if names.is_empty() { "(by commit only)".to_string() } else { names.join(", ") };
        out.push(Listed { revisions, files: rec.files.len(), bytes: rec.files.iter().map(|f| f.size).sum(), repo: rec.repo, commit: rec.commit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, oid: &str) -> HfFile {
        HfFile { path: path.into(), size: 1, sha256: feas_format::Digest::sha256_of(path.as_bytes()), oid: oid.into(), lfs_pointer_size: None }
    }

    #[test]
    fn tree_entries_and_folder_ids() {
        let oid = "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0";
        let rec = HfRecord {
            repo: "a/b".into(),
            commit: "c".repeat(40),
            revisions: vec!["main".into()],
            files: vec![file("config.json", oid), file("sub/a", oid), file("sub/deep/x", oid)],
            imported_at: String::new(),
        };
        let paths = |v: Vec<Value>| v.iter().map(|e| format!("{}:{}", e["type"].as_str().unwrap(), e["path"].as_str().unwrap())).collect::<Vec<_>>();
        assert_eq!(paths(entries(&rec, "", false).unwrap()), vec!["file:config.json", "directory:sub"]);
        assert_eq!(paths(entries(&rec, "", true).unwrap()), vec!["file:config.json", "directory:sub", "file:sub/a", "directory:sub/deep", "file:sub/deep/x"]);
        assert_eq!(paths(entries(&rec, "sub", false).unwrap()), vec!["file:sub/a", "directory:sub/deep"]);
        assert!(entries(&rec, "nope", false).is_none());
        // As `git write-tree` names them, each file holding "hello".
        let folders = folder_oids(&rec.files);
        assert_eq!(folders["sub/deep"], "2e4ba6a73c4476b0d49115fe8c7d60c2840e08ff");
        assert_eq!(folders["sub"], "ac1fd9b003aff0dc463aa78cefef072be68370ab");
        assert_eq!(hub_date("2026-01-02T03:04:05Z").as_deref(), Some("2026-01-02T03:04:05.000Z"));
    }
}
