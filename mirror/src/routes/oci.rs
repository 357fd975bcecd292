//! OCI distribution-spec API under `/v2/`: manifests, blobs (with Range), tags/list, _catalog
//! and referrers; the push side (uploads, manifest PUT, DELETE) is in `push` and answers 405
//! UNSUPPORTED unless the mirror was started with writers.

mod cache;
mod errors;
mod path;
pub mod push;

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::routing::any;
use axum::Router;

use feas_format::oci::{is_manifest_type, ImageIndex, OCI_INDEX};
use feas_format::Digest;

use self::errors::{Code, OciError};
use self::path::Endpoint;
use super::range::{self, FileError};
use super::AppState;
use crate::import::{validate_repo, validate_tag};
use crate::serve::Peer;
use crate::store::Actor;

pub const API_VERSION: HeaderName = HeaderName::from_static("docker-distribution-api-version");
const DIGEST_HEADER: HeaderName = HeaderName::from_static("docker-content-digest");
const FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");

pub fn router() -> Router<AppState> {
    Router::new().route("/v2", any(base)).route("/v2/", any(base)).route("/v2/{*rest}", any(dispatch))
}

pub(crate) type R = Result<Response, OciError>;

fn read_only(method: &Method) -> Result<(), OciError> {
    if method == Method::GET || method == Method::HEAD {
        return Ok(());
    }
    Err(OciError::new(Code::Unsupported, format!("{method} is not supported: this mirror is read-only and content arrives via `mirror import`")))
}

fn json_response(body: Vec<u8>, content_type: &'static str) -> Response {
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut().insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    resp
}

async fn base(method: Method) -> R {
    read_only(&method)?;
    Ok(json_response(b"{}".to_vec(), "application/json"))
}

async fn dispatch(State(st): State<AppState>, Query(q): Query<HashMap<String, String>>, req: Request) -> R {
    let method = req.method().clone();
    let path = req.uri().path().strip_prefix("/v2/").unwrap_or_default().to_string();
    let Some(endpoint) = path::parse(&path) else {
        return Err(OciError::new(Code::NameUnknown, format!("/v2/{path} is not an endpoint of the OCI distribution API")));
    };
    let ns = q.get("ns").map(String::as_str);
    let write = !(method == Method::GET || method == Method::HEAD);
    // A name being pushed need not exist yet; it must only be valid.
    let new_name = |name: &str| -> Result<String, OciError> {
        let name = path::canonical_name(name, ns);
        validate_repo(&name).map_err(|e| OciError::new(Code::NameInvalid, e.to_string()))?;
        Ok(name)
    };
    let repo = |name: &str| -> Result<String, OciError> {
        let mut name = new_name(name)?;
        // Docker Engine's `registry-mirrors` asks for docker.io names bare (`library/x`).
        if ns.is_none() && !st.store.repo_exists(&name)? && st.store.repo_exists(&format!("docker.io/{name}"))? {
            name = format!("docker.io/{name}");
        }
        if !st.store.repo_exists(&name)? {
            return Err(OciError::new(Code::NameUnknown, format!("repository {name} is not held by this mirror; import a bundle that carries it"))
                .with_detail(serde_json::json!({"name": name})));
        }
        Ok(name)
    };
    let head = method == Method::HEAD;
    let (parts, body) = req.into_parts();
    // The writer the auth layer let through; upload limits are per writer.
    let user = parts.extensions.get::<crate::auth::User>().map(|u| u.0.as_str()).unwrap_or("");
    // Who writes, for the audit trail: the writer and the address it came from.
    let by = || Actor::Client { user: user.to_string(), addr: parts.extensions.get::<ConnectInfo<Peer>>().map(|c| c.0 .0) };
    match endpoint {
        Endpoint::UploadStart { name } if method == Method::POST => push::start(&st, user, &by(), &new_name(&name)?, &q, body).await,
        Endpoint::Upload { name, id } => push::session(&st, user, &by(), &method, &new_name(&name)?, &id, &q, &parts.headers, body).await,
        Endpoint::Manifest { name, reference } if method == Method::PUT => push::put_manifest(&st, &by(), &new_name(&name)?, &reference, &parts.headers, body).await,
        Endpoint::Manifest { name, reference } if method == Method::DELETE => push::delete_manifest(&st, &by(), &repo(&name)?, &reference).await,
        _ if write => Err(OciError::new(
            Code::Unsupported,
            format!("{method} /v2/{path} is not supported{}", if st.uploads.enabled { "" } else { ": this mirror is read-only and content arrives via `mirror import`" }),
        )),
        Endpoint::UploadStart { .. } => Err(OciError::new(Code::Unsupported, "start an upload with POST")),
        Endpoint::Catalog => catalog(&st, &q).await,
        Endpoint::Tags { name } => tags(&st, &repo(&name)?, &q, parts.uri.path()).await,
        Endpoint::Manifest { name, reference } => manifest(&st, &repo(&name)?, &reference, head, &parts.headers).await,
        Endpoint::Blob { name, digest } => blob(&st, &repo(&name)?, &digest, head, &parts.headers).await,
        Endpoint::Referrers { name, digest } => referrers(&st, &repo(&name)?, &digest, q.get("artifactType")).await,
    }
}

/// `n` and `last` of a paginated listing (distribution-spec "Listing Tags"): at most `n`
/// entries (all without `n`; none for `n=0`), starting after `last`, which need not be one.
fn pagination(q: &HashMap<String, String>) -> Result<(Option<String>, Option<usize>), OciError> {
    let n = match q.get("n") {
        Some(v) => Some(v.parse::<usize>().map_err(|_| OciError::new(Code::PaginationNumberInvalid, format!("n={v} is not a number")))?),
        None => None,
    };
    Ok((q.get("last").cloned(), n))
}

/// Runs a store read off the async workers: whatever scans must not hold up `/healthz` and
/// every other request on the same worker.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static) -> Result<T, OciError> {
    Ok(tokio::task::spawn_blocking(f).await.map_err(|e| OciError::new(Code::Unknown, e.to_string()))??)
}

fn with_next_link(mut resp: Response, path: &str, q: &HashMap<String, String>, page: &[String], more: bool) -> Response {
    let (true, Some(last)) = (more, page.last()) else { return resp };
    let ns = q.get("ns").map(|ns| format!("&ns={ns}")).unwrap_or_default();
    if let Ok(v) = HeaderValue::from_str(&format!("<{path}?n={}&last={last}{ns}>; rel=\"next\"", page.len())) {
        resp.headers_mut().insert(header::LINK, v);
    }
    resp
}

/// A page costs its length: a range scan from `last`, however many tags the repository has.
async fn tags(st: &AppState, name: &str, q: &HashMap<String, String>, path: &str) -> R {
    let (last, n) = pagination(q)?;
    let (store, repo) = (st.store.clone(), name.to_string());
    let page = blocking(move || store.tags_page(&repo, last.as_deref(), n)).await?;
    let body = serde_json::to_vec(&serde_json::json!({"name": name, "tags": page.items})).expect("json");
    Ok(with_next_link(json_response(body, "application/json"), path, q, &page.items, page.more))
}

async fn catalog(st: &AppState, q: &HashMap<String, String>) -> R {
    let (last, n) = pagination(q)?;
    let store = st.store.clone();
    let page = blocking(move || store.repositories_page(last.as_deref(), n)).await?;
    let body = serde_json::to_vec(&serde_json::json!({"repositories": page.items})).expect("json");
    Ok(with_next_link(json_response(body, "application/json"), "/v2/_catalog", q, &page.items, page.more))
}

pub(crate) fn parse_digest(s: &str) -> Result<Digest, OciError> {
    s.parse().map_err(|e: feas_format::digest::InvalidDigest| OciError::new(Code::DigestInvalid, e.to_string()))
}

pub(crate) fn insert_digest_headers(h: &mut HeaderMap, digest: &Digest) {
    let d = digest.to_string();
    h.insert(header::ETAG, HeaderValue::from_str(&format!("\"{d}\"")).expect("digest is ascii"));
    h.insert(DIGEST_HEADER, HeaderValue::from_str(&d).expect("digest is ascii"));
    h.insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
}

async fn manifest(st: &AppState, name: &str, reference: &str, head: bool, req: &HeaderMap) -> R {
    let unknown = |what: String| OciError::new(Code::ManifestUnknown, format!("{what} is not held by this mirror; import a bundle that carries it"));
    let digest = if reference.contains(':') {
        parse_digest(reference)?
    } else {
        validate_tag(reference).map_err(|e| unknown(format!("{name}:{reference} ({e})")))?;
        st.store.tag(name, reference)?.ok_or_else(|| unknown(format!("{name}:{reference}")))?
    };
    // One get: a manifest is served only in the repositories that imported it.
    let Some(rec) = st.store.manifest(name, &digest)? else {
        let (store, repo, d) = (st.store.clone(), name.to_string(), digest.clone());
        let omitted = blocking(move || store.omitted_child(&repo, &d)).await?;
        return Err(match omitted {
            Some((index, platform)) => OciError::new(
                Code::ManifestUnknown,
                format!("{name}@{digest} is the {platform} image of index {index}, which the bundle carried without {platform}; add {platform} to the image's platforms in the bundler manifest and import a new bundle"),
            )
            .with_detail(serde_json::json!({"name": name, "digest": digest.to_string(), "index": index.to_string(), "platform": platform})),
            None => unknown(format!("{name}@{digest}")),
        });
    };
    let etag = format!("\"{digest}\"");
    let not_modified = req.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if head || not_modified {
        Response::new(Body::empty())
    } else {
        let bytes = match cache::kept(&digest) {
            Some(b) => b,
            None => {
                let path = st.store.blobs.path(&digest);
                cache::read(&path, &digest).await.map_err(|e| {
                    tracing::error!("manifest {digest} is in the metadata but {} is unreadable: {e}", path.display());
                    OciError::new(Code::Unknown, format!("manifest {digest} is unreadable on the mirror; run `mirror verify`"))
                })?
            }
        };
        Response::new(Body::from(bytes))
    };
    if not_modified {
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
    }
    let h = resp.headers_mut();
    // A record keeps the type its signed bundle or push gave; still, never serve one a browser
    // would render (text/html): such bytes go out as bytes.
    let content_type = if is_manifest_type(&rec.media_type) { rec.media_type.as_str() } else { "application/octet-stream" };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).expect("manifest types are header-safe"));
    if !not_modified {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(rec.size));
    }
    insert_digest_headers(h, &digest);
    Ok(resp)
}

async fn blob(st: &AppState, name: &str, digest: &str, head: bool, req: &HeaderMap) -> R {
    let digest = parse_digest(digest)?;
    let unknown = || {
        OciError::new(Code::BlobUnknown, format!("blob {digest} is not held by this mirror (repository {name})"))
            .with_detail(serde_json::json!({"name": name, "digest": digest.to_string()}))
    };
    // The file is the truth for blobs: opening it is the existence check, no metadata scan.
    let mut resp = match range::file_response(&st.store.blobs.path(&digest), head, req, "application/octet-stream").await {
        Ok(r) => r,
        Err(FileError::NotFound) => return Err(unknown()),
        Err(FileError::Io(e)) => {
            tracing::error!("reading blob {digest}: {e}");
            return Err(OciError::new(Code::Unknown, format!("blob {digest} is unreadable on the mirror; run `mirror verify`")));
        }
    };
    insert_digest_headers(resp.headers_mut(), &digest);
    Ok(resp)
}

async fn referrers(st: &AppState, name: &str, digest: &str, artifact_type: Option<&String>) -> R {
    let digest = parse_digest(digest)?;
    let (store, repo) = (st.store.clone(), name.to_string());
    let mut list = blocking(move || store.referrers(&repo, &digest)).await?;
    if let Some(t) = artifact_type {
        list.retain(|d| d.artifact_type.as_deref() == Some(t.as_str()));
    }
    // An unknown subject is not an error: the spec wants an empty index, never a 404.
    let mut resp = json_response(ImageIndex::new(list).to_bytes(), OCI_INDEX);
    if artifact_type.is_some() {
        resp.headers_mut().insert(FILTERS_APPLIED, HeaderValue::from_static("artifactType"));
    }
    Ok(resp)
}
