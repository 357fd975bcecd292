//! `/` (what the mirror holds, for people), `/healthz` (for probes) and `/metrics` (for
//! Prometheus, see `crate::metrics`). `/` is rendered off the async workers from the store's
//! counters and bounded lists, and kept until the store generation moves: its cost does not
//! grow with the store.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::AppState;
use crate::store::{Store, StoreError};

pub fn router() -> Router<AppState> {
    let cache = Arc::new(Cache::default());
    Router::new()
        .route("/", get(move |st: State<AppState>| index(st, cache.clone())))
        .route("/healthz", get(healthz))
        .route("/metrics", get(crate::metrics::scrape))
        .route("/sbom/{name}", get(sbom))
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

/// How many names a list on `/` shows before "and N more": the page costs this, not the store.
pub const LISTED: usize = 50;
/// Tags shown per repository on `/`.
const TAGS_LISTED: usize = 10;

/// `/` as last rendered, and the store generation it was rendered at.
#[derive(Default)]
struct Cache(Mutex<Option<(u64, Bytes)>>);

async fn index(State(st): State<AppState>, cache: Arc<Cache>) -> Response {
    let store = st.store.clone();
    let built = tokio::task::spawn_blocking(move || -> Result<String, StoreError> {
        // A few gets: the status; the holdings stand while the generation does.
        let status = crate::commands::status::status(&store, None)?;
        let cached = cache.0.lock().unwrap_or_else(|e| e.into_inner()).as_ref().filter(|(at, _)| *at == status.generation).map(|(_, b)| b.clone());
        let holdings = match cached {
            Some(b) => b,
            None => {
                let (generation, body) = page(&store)?;
                let body = Bytes::from(body);
                *cache.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((generation, body.clone()));
                body
            }
        };
        let mut body = String::from("<h1>What this mirror holds</h1>\n");
        body.push_str(&String::from_utf8_lossy(&holdings));
        body.push_str(&super::ui::status(&status));
        Ok(super::ui::layout("Overview", "", &body))
    })
    .await;
    match built {
        Ok(Ok(html)) => super::ui::page(StatusCode::OK, html),
        Ok(Err(e)) => render_failed(&e),
        Err(e) => render_failed(&e),
    }
}

fn render_failed(e: &dyn std::fmt::Display) -> Response {
    tracing::error!("rendering /: {e}");
    (StatusCode::INTERNAL_SERVER_ERROR, "store error; see the mirror's log\n").into_response()
}

/// `<li>… and N more</li>` when `shown` of `total` were listed.
pub fn and_more(out: &mut String, total: u64, shown: usize, what: &str) {
    if total > shown as u64 {
        out.push_str(&format!("<li>… and {} more {what}</li>\n", total - shown as u64));
    }
}

/// The page and the store generation it shows: counts from the counters, bounded lists.
fn page(store: &Store) -> Result<(u64, String), StoreError> {
    let (generation, counts) = store.counts()?;
    let k = &counts.keys;
    let mut body = String::from("<div class=\"cards\">\n");
    body.push_str(&format!("<div class=\"card\"><span class=\"muted\">oci</span><b>{}</b>tags</div>\n", k.tags));
    for (eco, n) in crate::ecosystems::artifacts(&counts) {
        body.push_str(&format!("<div class=\"card\"><span class=\"muted\">{eco}</span><b>{n}</b>artifacts</div>\n"));
    }
    body.push_str("</div>\n<h2>Container images</h2>\n<p>Pull path-style (<code>HOST/docker.io/library/x:tag</code>) or configure this host as a registry mirror.</p>\n");
    body.push_str(&format!(
        "<p>{} repositories, {} tags, {} manifests; {} blobs ({}) in the store.</p>\n<ul>\n",
        k.repos,
        k.tags,
        k.manifests,
        k.blobs,
        feas_format::term::bytes(counts.blob_bytes)
    ));
    let repos = store.repositories_page(None, Some(LISTED))?;
    for repo in &repos.items {
        let tags = store.tags_page(repo, None, Some(TAGS_LISTED))?;
        let mut shown = if tags.items.is_empty() {
            "(by digest only)".to_string()
        } else {
            tags.items
                .iter()
                .map(|t| {
                    format!(
                        "<a href=\"/ui/artifact?name={}\">{}</a>",
                        esc(&percent_encoding::utf8_percent_encode(&format!("{repo}:{t}"), percent_encoding::NON_ALPHANUMERIC).to_string()),
                        esc(t)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        if tags.more {
            shown.push_str(&format!(", … (<a href=\"/v2/{}/tags/list\">all tags</a>)", esc(repo)));
        }
        body.push_str(&format!("<li><code>{}</code>: {shown}</li>\n", esc(repo)));
    }
    and_more(&mut body, k.repos, repos.items.len(), "repositories (<a href=\"/v2/_catalog\">/v2/_catalog</a>)");
    crate::ecosystems::home(store, &counts, &mut body)?;
    body.push_str(&format!("</ul>\n<h2>Bundles imported</h2>\n<p>{} bundle names.</p>\n<ul>\n", k.bundles));
    let names = store.bundle_names(LISTED)?;
    for name in &names {
        let Some(b) = store.bundle(name)? else { continue };
        let sbom = if b.sbom.is_some() { format!(" — <a href=\"/sbom/{0}\">SBOM</a>", esc(name)) } else { String::new() };
        body.push_str(&format!("<li>{} sequence {} imported {}{sbom}</li>\n", esc(name), b.sequence, esc(&b.imported_at)));
    }
    and_more(&mut body, k.bundles, names.len(), "bundles");
    body.push_str("</ul>\n");
    Ok((generation, body))
}

#[cfg(test)]
mod tests {
    use feas_format::Digest;

    use super::*;
    use crate::ecosystems::EcoChanges;
    use crate::store::Changes;

    /// `/` shows counts of everything and names only up to `LISTED`, whatever the store holds.
    #[test]
    fn the_page_counts_and_lists_a_bounded_few() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = Digest::sha256_of(b"m");
        let repos: Vec<String> = (0..LISTED + 10).map(|i| format!("r/{i:03}")).collect();
        let mut tags: Vec<(String, String, Digest)> = repos.iter().map(|r| (r.clone(), "1".into(), d.clone())).collect();
        tags.extend((0..TAGS_LISTED + 5).map(|i| ("r/000".to_string(), format!("t{i:02}"), d.clone())));
        let files = (0..LISTED + 1).map(|i| (format!("f{i:03}"), d.clone(), 1)).collect();
        store.commit(&Changes { repos: repos.clone(), tags, blobs: vec![(d.clone(), 2048)], eco: EcoChanges { files, ..Default::default() }, ..Changes::default() }).unwrap();
        let (generation, page) = page(&store).unwrap();
        assert_eq!(generation, 1);
        assert!(page.contains("60 repositories, 75 tags, 0 manifests; 1 blobs (2.0 KiB)"), "{page}");
        assert!(page.contains("<code>r/049</code>") && !page.contains("r/050"), "only the first {LISTED} repositories: {page}");
        assert!(page.contains("and 10 more repositories"), "{page}");
        assert!(
            page.contains(">1</a>, <a href=\"/ui/artifact?name=r%2F000%3At00\">t00</a>") && page.contains("t08") && !page.contains("t09") && page.contains("/v2/r/000/tags/list"),
            "a repository's first tags, then a link: {page}"
        );
        assert!(page.contains("51 files") && page.contains("and 1 more files") && !page.contains("f050"), "{page}");
    }
}
