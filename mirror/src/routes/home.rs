//! `/` (what the mirror holds, for people) and `/healthz` (for probes).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::AppState;
use crate::store::StoreError;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(index)).route("/healthz", get(healthz)).route("/sbom/{name}", get(sbom))
}

/// The SPDX SBOM of the last imported bundle of a name.
async fn sbom(State(st): State<AppState>, axum::extract::Path(name): axum::extract::Path<String>, req: axum::extract::Request) -> Response {
    let store = st.store.clone();
    let n = name.clone();
    let rec = match tokio::task::spawn_blocking(move || store.bundle(&n)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    };
    let Some(digest) = rec.and_then(|r| r.sbom) else {
        return (StatusCode::NOT_FOUND, format!("/sbom/{name}: no bundle of that name with an SBOM was imported (see /)\n")).into_response();
    };
    match super::range::file_response(&st.store.blobs.path(&digest), false, req.headers(), "application/spdx+json").await {
        Ok(r) => r,
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("SBOM {digest}: {e:?}; run `mirror verify`\n")).into_response(),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

async fn index(State(st): State<AppState>) -> Response {
    match page(&st) {
        Ok(body) => Html(body).into_response(),
        Err(e) => {
            tracing::error!("rendering /: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "store error; see the mirror's log\n").into_response()
        }
    }
}

fn page(st: &AppState) -> Result<String, StoreError> {
    let mut body = String::from("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>mirror</title></head><body>\n<h1>Air-gap mirror</h1>\n");
    body.push_str("<h2>Container images</h2>\n<p>Pull path-style (<code>HOST/docker.io/library/x:tag</code>) or configure this host as a registry mirror.</p>\n<ul>\n");
    for repo in st.store.repositories()? {
        let tags = st.store.tags(&repo)?;
        let tags = if tags.is_empty() { "(by digest only)".to_string() } else { tags.iter().map(|t| esc(t)).collect::<Vec<_>>().join(", ") };
        body.push_str(&format!("<li><code>{}</code>: {tags}</li>\n", esc(&repo)));
    }
    crate::ecosystems::home(st, &mut body)?;
    body.push_str("</ul>\n<h2>Bundles imported</h2>\n<ul>\n");
    for (name, b) in st.store.bundles()? {
        let sbom = if b.sbom.is_some() { format!(" — <a href=\"/sbom/{0}\">SBOM</a>", esc(&name)) } else { String::new() };
        body.push_str(&format!("<li>{} sequence {} imported {}{sbom}</li>\n", esc(&name), b.sequence, esc(&b.imported_at)));
    }
    body.push_str(&format!("</ul>\n<p>Store generation {}.</p>\n</body></html>\n", st.store.generation()?));
    Ok(body)
}
