//! Raw files at `/files/<name>` (GET/HEAD with Range, so curl/wget can resume), and `/files/`
//! listing what is held with sizes and sha256.

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

use crate::routes::range::{self, FileError};
use crate::routes::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/files", any(listing)).route("/files/", any(listing)).route("/files/{name}", any(file))
}

fn plain(status: StatusCode, msg: String) -> Response {
    (status, format!("{msg}\n")).into_response()
}

async fn listing(State(st): State<AppState>, method: Method) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "files are read-only".into());
    }
    let store = st.store.clone();
    match tokio::task::spawn_blocking(move || store.raw_files()).await {
        Ok(Ok(files)) => {
            let list: Vec<serde_json::Value> = files.iter().map(|(n, d, s)| serde_json::json!({"name": n, "url": format!("/files/{n}"), "sha256": d.hex(), "size": s})).collect();
            let mut r = serde_json::to_string_pretty(&serde_json::json!({"files": list})).expect("json").into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        Ok(Err(e)) => plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn file(State(st): State<AppState>, Path(name): Path<String>, req: Request) -> Response {
    let head = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => return plain(StatusCode::METHOD_NOT_ALLOWED, "files are read-only".into()),
    };
    let store = st.store.clone();
    let n2 = name.clone();
    let found = match tokio::task::spawn_blocking(move || store.raw_file(&n2)).await {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => return plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let Some((digest, _)) = found else {
        return plain(StatusCode::NOT_FOUND, format!("/files/{name}: the mirror holds no such file (see /files/)"));
    };
    match range::file_response(&st.store.blobs.path(&digest), head, req.headers(), "application/octet-stream").await {
        Ok(mut r) => {
            // The sha256 lets a client check what it got without a second request.
            if let Ok(v) = HeaderValue::from_str(&format!("\"sha256:{}\"", digest.hex())) {
                r.headers_mut().insert(header::ETAG, v);
            }
            r
        }
        Err(FileError::NotFound) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{digest} for /files/{name} is missing from the store; run `mirror verify`")),
        Err(FileError::Io(e)) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("reading {digest}: {e}")),
    }
}
