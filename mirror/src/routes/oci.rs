//! OCI distribution-spec pull API under `/v2/`. Repository names contain slashes, so one
//! handler splits the path on the last `/manifests/`, `/blobs/`, `/referrers/` or `/tags/list`.
//! Names are canonical (`docker.io/library/x`), reachable path-style or, as containerd's
//! mirror mode asks, as `library/x?ns=docker.io`.

use std::collections::HashMap;
use std::io::SeekFrom;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use bundler::format::oci::{ImageIndex, OCI_INDEX};
use bundler::format::Digest;

use super::AppState;
use crate::import::{validate_repo, validate_tag};

pub fn router() -> Router<AppState> {
    Router::new().route("/v2", get(base)).route("/v2/", get(base)).route("/v2/{*rest}", any(dispatch))
}

const API_VERSION: (header::HeaderName, &str) = (header::HeaderName::from_static("docker-distribution-api-version"), "registry/2.0");
/// Page size when a client does not ask for one.
const DEFAULT_PAGE: usize = 1000;

/// Registered OCI error codes with their HTTP status.
#[derive(Debug, Clone, Copy)]
enum Code {
    BlobUnknown,
    ManifestUnknown,
    NameUnknown,
    NameInvalid,
    DigestInvalid,
    TagInvalid,
    RangeInvalid,
    Unsupported,
    Internal,
}

impl Code {
    fn parts(self) -> (StatusCode, &'static str) {
        match self {
            Code::BlobUnknown => (StatusCode::NOT_FOUND, "BLOB_UNKNOWN"),
            Code::ManifestUnknown => (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN"),
            Code::NameUnknown => (StatusCode::NOT_FOUND, "NAME_UNKNOWN"),
            Code::NameInvalid => (StatusCode::BAD_REQUEST, "NAME_INVALID"),
            Code::DigestInvalid => (StatusCode::BAD_REQUEST, "DIGEST_INVALID"),
            Code::TagInvalid => (StatusCode::BAD_REQUEST, "TAG_INVALID"),
            Code::RangeInvalid => (StatusCode::RANGE_NOT_SATISFIABLE, "BLOB_UPLOAD_INVALID"),
            Code::Unsupported => (StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED"),
            Code::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN"),
        }
    }
}

struct OciError(Code, String);

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        let (status, code) = self.0.parts();
        let body = serde_json::json!({"errors": [{"code": code, "message": self.1, "detail": null}]});
        (status, [(header::CONTENT_TYPE, "application/json"), API_VERSION], body.to_string()).into_response()
    }
}

impl From<crate::store::StoreError> for OciError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!("store: {e}");
        OciError(Code::Internal, "internal store error; see the mirror's log".into())
    }
}

type R = Result<Response, OciError>;

async fn base() -> Response {
    ([(header::CONTENT_TYPE, "application/json"), API_VERSION], "{}").into_response()
}

fn canonical_ns(ns: &str) -> &str {
    match ns {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        other => other,
    }
}

async fn dispatch(State(st): State<AppState>, Query(q): Query<HashMap<String, String>>, req: Request) -> R {
    let method = req.method().clone();
    let path = req.uri().path().trim_start_matches("/v2/").to_string();
    let headers = req.headers().clone();
    if path == "_catalog" {
        return catalog(&st, &q);
    }
    let split = |marker: &str| path.rfind(marker).map(|i| (path[..i].to_string(), path[i + marker.len()..].to_string()));
    let (name, kind, rest) = if let Some(name) = path.strip_suffix("/tags/list") {
        (name.to_string(), "tags", String::new())
    } else if let Some((n, r)) = split("/manifests/") {
        (n, "manifests", r)
    } else if let Some((n, r)) = split("/blobs/") {
        (n, "blobs", r)
    } else if let Some((n, r)) = split("/referrers/") {
        (n, "referrers", r)
    } else {
        return Err(OciError(Code::NameUnknown, format!("no such endpoint /v2/{path}")));
    };
    if method != Method::GET && method != Method::HEAD {
        return Err(OciError(
            Code::Unsupported,
            format!("{method} is not supported: this mirror is read-only; content arrives with `mirror import`"),
        ));
    }
    let name = match q.get("ns").map(|s| canonical_ns(s)) {
        Some(ns) if !ns.is_empty() && !name.starts_with(&format!("{ns}/")) => format!("{ns}/{name}"),
        _ => name,
    };
    validate_repo(&name).map_err(|e| OciError(Code::NameInvalid, e))?;
    if !st.store.repo_exists(&name)? {
        return Err(OciError(Code::NameUnknown, format!("repository {name} is not held by this mirror")));
    }
    let head = method == Method::HEAD;
    match kind {
        "tags" => tags(&st, &name, &q),
        "manifests" => manifest(&st, &name, &rest, head).await,
        "blobs" => blob(&st, &name, &rest, head, &headers).await,
        _ => referrers(&st, &name, &rest, q.get("artifactType")),
    }
}

fn paginate(all: Vec<String>, q: &HashMap<String, String>) -> Result<(Vec<String>, bool), OciError> {
    let n = match q.get("n") {
        Some(v) => v.parse::<usize>().map_err(|_| OciError(Code::Unsupported, format!("n={v} is not a number")))?,
        None => DEFAULT_PAGE,
    };
    let start: Vec<String> = match q.get("last") {
        Some(last) => all.into_iter().filter(|t| t.as_str() > last.as_str()).collect(),
        None => all,
    };
    let more = start.len() > n;
    Ok((start.into_iter().take(n).collect(), more))
}

fn link(path: &str, n: usize, last: Option<&String>) -> Option<(header::HeaderName, HeaderValue)> {
    let last = last?;
    HeaderValue::from_str(&format!("<{path}?n={n}&last={last}>; rel=\"next\"")).ok().map(|v| (header::LINK, v))
}

fn tags(st: &AppState, name: &str, q: &HashMap<String, String>) -> R {
    let (page, more) = paginate(st.store.tags(name)?, q)?;
    let body = serde_json::json!({"name": name, "tags": page});
    let mut resp = ([(header::CONTENT_TYPE, "application/json"), API_VERSION], body.to_string()).into_response();
    if more {
        let n = page.len();
        if let Some((k, v)) = link(&format!("/v2/{name}/tags/list"), n, page.last()) {
            resp.headers_mut().insert(k, v);
        }
    }
    Ok(resp)
}

fn catalog(st: &AppState, q: &HashMap<String, String>) -> R {
    let (page, more) = paginate(st.store.repositories()?, q)?;
    let body = serde_json::json!({"repositories": page});
    let mut resp = ([(header::CONTENT_TYPE, "application/json"), API_VERSION], body.to_string()).into_response();
    if more {
        if let Some((k, v)) = link("/v2/_catalog", page.len(), page.last()) {
            resp.headers_mut().insert(k, v);
        }
    }
    Ok(resp)
}

fn parse_digest(s: &str) -> Result<Digest, OciError> {
    s.parse().map_err(|e: bundler::format::digest::InvalidDigest| OciError(Code::DigestInvalid, e.to_string()))
}

async fn manifest(st: &AppState, name: &str, reference: &str, head: bool) -> R {
    let digest = if reference.contains(':') {
        parse_digest(reference)?
    } else {
        validate_tag(reference).map_err(|e| OciError(Code::TagInvalid, e))?;
        st.store
            .tag(name, reference)?
            .ok_or_else(|| OciError(Code::ManifestUnknown, format!("{name}:{reference} is not held by this mirror")))?
    };
    let rec = st
        .store
        .manifest(name, &digest)?
        .ok_or_else(|| OciError(Code::ManifestUnknown, format!("{name}@{digest} is not held by this mirror")))?;
    let bytes = if head { Vec::new() } else { read_small(st, &digest).await? };
    let mut resp = Response::new(Body::from(bytes));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(&rec.media_type).unwrap_or(HeaderValue::from_static("application/json")));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(rec.size));
    insert_digest_headers(h, &digest);
    Ok(resp)
}

fn insert_digest_headers(h: &mut HeaderMap, digest: &Digest) {
    if let Ok(v) = HeaderValue::from_str(&digest.to_string()) {
        h.insert("docker-content-digest", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{digest}\"")) {
        h.insert(header::ETAG, v);
    }
    h.insert(API_VERSION.0.clone(), HeaderValue::from_static(API_VERSION.1));
}

async fn read_small(st: &AppState, d: &Digest) -> Result<Vec<u8>, OciError> {
    tokio::fs::read(st.store.blob_path(d)).await.map_err(|e| {
        tracing::error!("manifest {d} is in metadata but unreadable: {e}");
        OciError(Code::Internal, format!("manifest {d} is unreadable; run `mirror verify`"))
    })
}

/// A single `bytes=` range, resolved against the blob size.
fn parse_range(h: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(v) = h.get(header::RANGE) else { return Ok(None) };
    let v = v.to_str().map_err(|_| ())?.trim();
    let spec = v.strip_prefix("bytes=").ok_or(())?;
    if spec.contains(',') {
        return Err(());
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size.checked_sub(1).ok_or(())?)
        }
        (s, "") => (s.parse().map_err(|_| ())?, size.checked_sub(1).ok_or(())?),
        (s, e) => (s.parse().map_err(|_| ())?, e.parse::<u64>().map_err(|_| ())?.min(size.saturating_sub(1))),
    };
    if start > end || start >= size {
        return Err(());
    }
    Ok(Some((start, end)))
}

async fn blob(st: &AppState, name: &str, digest: &str, head: bool, headers: &HeaderMap) -> R {
    let digest = parse_digest(digest)?;
    let path = st.store.blob_path(&digest);
    let unknown = || OciError(Code::BlobUnknown, format!("blob {digest} is not held by this mirror (repository {name})"));
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(unknown()),
        Err(e) => {
            tracing::error!("opening {}: {e}", path.display());
            return Err(OciError(Code::Internal, "blob unreadable".into()));
        }
    };
    let size = file.metadata().await.map_err(|_| unknown())?.len();
    let range = parse_range(headers, size).map_err(|_| {
        let mut r = OciError(Code::RangeInvalid, format!("unsatisfiable range for a {size}-byte blob")).into_response();
        r.headers_mut().insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii"));
        r
    });
    let range = match range {
        Ok(r) => r,
        Err(resp) => return Ok(resp),
    };
    let (status, start, len) = match range {
        Some((s, e)) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
        None => (StatusCode::OK, 0, size),
    };
    let body = if head {
        Body::empty()
    } else {
        if start > 0 {
            file.seek(SeekFrom::Start(start)).await.map_err(|_| unknown())?;
        }
        Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file.take(len), 256 << 10))
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes {}-{}/{size}", start, start + len - 1)).expect("ascii"));
    }
    insert_digest_headers(h, &digest);
    Ok(resp)
}

fn referrers(st: &AppState, name: &str, digest: &str, artifact_type: Option<&String>) -> R {
    let digest = parse_digest(digest)?;
    let mut list = st.store.referrers(name, &digest)?;
    if let Some(t) = artifact_type {
        list.retain(|d| d.artifact_type.as_deref() == Some(t.as_str()));
    }
    let body = ImageIndex::new(list).to_bytes();
    let mut resp = ([(header::CONTENT_TYPE, OCI_INDEX), API_VERSION], body).into_response();
    if artifact_type.is_some() {
        resp.headers_mut().insert("oci-filters-applied", HeaderValue::from_static("artifactType"));
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let mut h = HeaderMap::new();
        assert_eq!(parse_range(&h, 10), Ok(None));
        for (v, want) in [("bytes=0-3", Ok(Some((0, 3)))), ("bytes=5-", Ok(Some((5, 9)))), ("bytes=-4", Ok(Some((6, 9)))), ("bytes=8-100", Ok(Some((8, 9)))), ("bytes=10-", Err(())), ("bytes=4-2", Err(())), ("bytes=0-1,3-4", Err(()))] {
            h.insert(header::RANGE, HeaderValue::from_static(v));
            assert_eq!(parse_range(&h, 10), want, "{v}");
        }
    }
}
