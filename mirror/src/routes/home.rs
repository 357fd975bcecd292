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
    body.push_str("</ul>\n<h2>apt repositories</h2>\n<p>Signed with the key at <a href=\"/apt/key.gpg\">/apt/key.gpg</a>; <code>mirror client-config apt --url URL</code> prints a sources file.</p>\n<ul>\n");
    for (id, suites) in st.store.apt_suites()? {
        for (suite, info) in suites {
            let comps: Vec<&str> = info.components.iter().map(String::as_str).collect();
            let archs: Vec<&str> = info.architectures.iter().map(String::as_str).collect();
            body.push_str(&format!(
                "<li><code>deb /apt/{0}/ {1} {2}</code> ({3}) — <a href=\"/apt/{0}/dists/{1}/Release\">Release</a></li>\n",
                esc(&id),
                esc(&suite),
                esc(&comps.join(" ")),
                esc(&archs.join(", "))
            ));
        }
    }
    body.push_str(
        "</ul>\n<h2>Python packages</h2>\n<p><code>pip install --index-url http://THIS-HOST/pypi/simple/ …</code> — <a href=\"/pypi/simple/\">/pypi/simple/</a></p>\n<ul>\n",
    );
    for project in st.store.pypi_projects()? {
        let mut versions: Vec<String> = st.store.pypi_files(&project)?.into_iter().map(|f| f.version).collect();
        versions.dedup();
        body.push_str(&format!("<li><a href=\"/pypi/simple/{0}/\">{0}</a>: {1}</li>\n", esc(&project), esc(&versions.join(", "))));
    }
    body.push_str("</ul>\n");
    crate::ecosystems::home(st, &mut body)?;
    body.push_str("<h2>Bundles imported</h2>\n<ul>\n");
    for (name, b) in st.store.bundles()? {
        let sbom = if b.sbom.is_some() { format!(" — <a href=\"/sbom/{0}\">SBOM</a>", esc(&name)) } else { String::new() };
        body.push_str(&format!("<li>{} sequence {} imported {}{sbom}</li>\n", esc(&name), b.sequence, esc(&b.imported_at)));
    }
    body.push_str(&format!("</ul>\n<p>Store generation {}.</p>\n</body></html>\n", st.store.generation()?));
    Ok(body)
}
