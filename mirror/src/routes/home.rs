//! `/` (what the mirror holds, for people) and `/healthz` (for probes).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(index)).route("/healthz", get(healthz))
}

async fn healthz() -> &'static str {
    "ok\n"
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

async fn index(State(st): State<AppState>) -> impl IntoResponse {
    let repos = match st.store.repositories() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("listing repositories: {e}");
            return (StatusCode::INTERNAL_SERVER_ERROR, Html("store error\n".to_string()));
        }
    };
    let mut body = String::from("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>mirror</title></head><body><h1>Air-gap mirror</h1>");
    body.push_str("<h2>Container images</h2><p>Pull path-style (<code>HOST/docker.io/library/x:tag</code>) or configure a containerd mirror for the registry.</p><ul>");
    for r in &repos {
        let tags = st.store.tags(r).unwrap_or_default();
        body.push_str(&format!("<li><code>{}</code>: {}</li>", esc(r), tags.iter().map(|t| esc(t)).collect::<Vec<_>>().join(", ")));
    }
    body.push_str("</ul><h2>Imports</h2><ul>");
    for (name, b) in st.store.bundles().unwrap_or_default() {
        body.push_str(&format!("<li>{} sequence {} imported {}</li>", esc(&name), b.sequence, esc(&b.imported_at)));
    }
    body.push_str("</ul></body></html>\n");
    (StatusCode::OK, Html(body))
}
