//! The NLTK downloader index at `/nltk/index.xml`, its package URLs rewritten to this mirror
//! (`/nltk/packages/<subdir>/<id>.zip`), so `nltk.download(…, server_index_url=…)` works; the
//! collections carried list only the packages held.

use std::collections::BTreeMap;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use quick_xml::escape::escape;

use super::NltkRecord;
use crate::routes::range::{self, FileError};
use crate::routes::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/nltk/index.xml", any(index)).route("/nltk/packages/{subdir}/{file}", any(package))
}

fn plain(status: StatusCode, msg: String) -> Response {
    (status, format!("{msg}\n")).into_response()
}

async fn index(State(st): State<AppState>, req: Request) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "the NLTK index is read-only".into());
    }
    // nltk opens package URLs as given: they must be absolute, and this mirror's.
    let base = st.origin.base(req.uri(), req.headers());
    let store = st.store.clone();
    let pkgs = match tokio::task::spawn_blocking(move || store.nltk_packages()).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let mut r = render(&base, &pkgs).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
    r
}

pub fn render(base: &str, pkgs: &[(String, NltkRecord)]) -> String {
    let mut x = String::from("<?xml version=\"1.0\"?>\n<?xml-stylesheet href=\"index.xsl\" type=\"text/xsl\"?>\n<nltk_data>\n  <packages>\n");
    let held: std::collections::BTreeSet<&str> = pkgs.iter().map(|(id, _)| id.as_str()).collect();
    let mut collections: BTreeMap<String, (BTreeMap<String, String>, Vec<String>)> = BTreeMap::new();
    for (id, p) in pkgs {
        let subdir = p.attrs.get("subdir").cloned().unwrap_or_default();
        let mut attrs = p.attrs.clone();
        attrs.insert("url".into(), format!("{base}/nltk/packages/{subdir}/{id}.zip"));
        attrs.insert("size".into(), p.size.to_string());
        x.push_str("    <package");
        for (k, v) in &attrs {
            x.push_str(&format!(" {}=\"{}\"", escape(k.as_str()), escape(v.as_str())));
        }
        x.push_str(" />\n");
        for c in &p.collections {
            let Some(cid) = c.attrs.get("id") else { continue };
            let e = collections.entry(cid.clone()).or_insert_with(|| (c.attrs.clone(), Vec::new()));
            for i in &c.items {
                if !e.1.contains(i) {
                    e.1.push(i.clone());
                }
            }
        }
    }
    x.push_str("  </packages>\n  <collections>\n");
    let cids: std::collections::BTreeSet<String> = collections.keys().cloned().collect();
    for (attrs, items) in collections.values() {
        x.push_str("    <collection");
        for (k, v) in attrs {
            x.push_str(&format!(" {}=\"{}\"", escape(k.as_str()), escape(v.as_str())));
        }
        x.push_str(">\n");
        // Only what the mirror can serve: held packages and carried collections.
        for i in items.iter().filter(|i| held.contains(i.as_str()) || cids.contains(*i)) {
            x.push_str(&format!("      <item ref=\"{}\" />\n", escape(i.as_str())));
        }
        x.push_str("    </collection>\n");
    }
    x.push_str("  </collections>\n</nltk_data>\n");
    x
}

async fn package(State(st): State<AppState>, Path((subdir, file)): Path<(String, String)>, req: Request) -> Response {
    let head = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => return plain(StatusCode::METHOD_NOT_ALLOWED, "the NLTK index is read-only".into()),
    };
    let Some(id) = file.strip_suffix(".zip").map(str::to_string) else {
        return plain(StatusCode::NOT_FOUND, format!("/nltk/packages/{subdir}/{file}: not a package zip"));
    };
    let store = st.store.clone();
    let rec = match tokio::task::spawn_blocking(move || store.nltk_package(&id)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let Some(rec) = rec.filter(|r| r.attrs.get("subdir").map(String::as_str).unwrap_or("") == subdir) else {
        return plain(StatusCode::NOT_FOUND, format!("/nltk/packages/{subdir}/{file}: the mirror holds no such package (see /nltk/index.xml)"));
    };
    match range::file_response(&st.store.blobs.path(&rec.digest), head, req.headers(), "application/zip").await {
        Ok(r) => r,
        Err(FileError::NotFound) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{} is missing from the store; run `mirror verify`", rec.digest)),
        Err(FileError::Io(e)) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("reading {}: {e}", rec.digest)),
    }
}
