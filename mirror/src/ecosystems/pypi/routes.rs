//! A PyPI simple repository under `/pypi/`: `/pypi/simple/` and `/pypi/simple/<project>/` in
//! PEP 691 JSON or PEP 503 HTML by `Accept` (pip and uv ask for JSON first), with `#sha256=`,
//! `data-requires-python` and PEP 658/714 core metadata; files and their `.metadata` at
//! `/pypi/files/<filename>` with HEAD and Range. Non-normalized names redirect (PEP 503).
//! A project's page is rendered once per project generation, the root once per PyPI generation
//! (`cache`, `Meta::pypi_project`, `Meta::eco_generation`).

mod cache;

pub use cache::PageCache;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

use feas_format::pypi::normalize;

use std::sync::Arc;

use super::WheelRecord;
use crate::routes::home::esc;
use crate::routes::range::{self, FileError};
use crate::routes::AppState;
use crate::store::{Store, StoreError};

const JSON: &str = "application/vnd.pypi.simple.v1+json";
const HTML: &str = "application/vnd.pypi.simple.v1+html";

pub fn router() -> Router<AppState> {
    Router::new().route("/pypi/{*rest}", any(dispatch))
}

fn plain(status: StatusCode, msg: String) -> Response {
    (status, format!("{msg}\n")).into_response()
}

fn redirect(to: String) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
    r.headers_mut().insert(header::LOCATION, HeaderValue::from_str(&to).unwrap_or(HeaderValue::from_static("/pypi/simple/")));
    r
}

/// PEP 691 content negotiation: JSON when the client weighs it at least as high as HTML.
fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let (mut json, mut html) = (0.0f32, 0.0f32);
    for part in accept.split(',') {
        let mut it = part.split(';');
        let ty = it.next().unwrap_or("").trim();
        let q = it.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse().ok())).unwrap_or(1.0);
        match ty {
            "application/vnd.pypi.simple.v1+json" | "application/vnd.pypi.simple.latest+json" => json = json.max(q),
            "application/vnd.pypi.simple.v1+html" | "application/vnd.pypi.simple.latest+html" | "text/html" | "*/*" => html = html.max(q),
            _ => {}
        }
    }
    json > 0.0 && json >= html
}

fn page(body: Bytes, content_type: &'static str, head: bool) -> Response {
    let len = body.len();
    let mut r = Response::new(if head { Body::empty() } else { Body::from(body) });
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept"));
    r
}

async fn dispatch(State(st): State<AppState>, req: Request) -> Response {
    let head = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => return plain(StatusCode::METHOD_NOT_ALLOWED, "the PyPI index is read-only".into()),
    };
    let path = req.uri().path().to_string();
    let rest = path.strip_prefix("/pypi/").unwrap_or_default().to_string();
    let json = wants_json(req.headers());
    let store = st.store.clone();
    if rest == "simple" {
        return redirect("/pypi/simple/".into());
    }
    if rest == "simple/" {
        return match cached_page(&st, String::new(), json).await {
            Ok(Some(b)) => page(b, if json { JSON } else { HTML }, head),
            Ok(None) => plain(StatusCode::INTERNAL_SERVER_ERROR, "the project list did not render".into()),
            Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, e),
        };
    }
    if let Some(name) = rest.strip_prefix("simple/") {
        let name = name.trim_end_matches('/');
        let canonical = normalize(name);
        if name.is_empty() || name.contains('/') {
            return plain(StatusCode::NOT_FOUND, format!("{path}: not a project page"));
        }
        if name != canonical || !rest.ends_with('/') {
            return redirect(format!("/pypi/simple/{canonical}/"));
        }
        return match cached_page(&st, canonical.clone(), json).await {
            Ok(Some(b)) => page(b, if json { JSON } else { HTML }, head),
            Ok(None) => plain(StatusCode::NOT_FOUND, format!("the mirror holds no files of project {canonical}; import a bundle that carries it")),
            Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, e),
        };
    }
    if let Some(file) = rest.strip_prefix("files/") {
        let (name, is_meta) = match file.strip_suffix(".metadata") {
            Some(n) => (n.to_string(), true),
            None => (file.to_string(), false),
        };
        let rec = match tokio::task::spawn_blocking(move || store.pypi_file(&name)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
        let digest = match (rec, is_meta) {
            (Some(r), false) => r.digest,
            (Some(WheelRecord { metadata: Some((d, _)), .. }), true) => d,
            _ => return plain(StatusCode::NOT_FOUND, format!("{path}: the mirror holds no such file")),
        };
        let ct = if is_meta { "text/plain; charset=utf-8" } else { "application/octet-stream" };
        return match range::file_response(&st.store.blobs.path(&digest), head, req.headers(), ct).await {
            Ok(r) => r,
            Err(FileError::NotFound) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{digest} for {path} is missing from the store; run `mirror verify`")),
            Err(FileError::Io(e)) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("reading {digest}: {e}")),
        };
    }
    plain(StatusCode::NOT_FOUND, format!("{path}: not part of the PyPI index (see /pypi/simple/)"))
}

/// Its section of the home page `/`: how many files, and the first projects.
pub(super) fn home(store: &Store, counts: &crate::store::meta::Counts, out: &mut String) -> Result<(), StoreError> {
    out.push_str("</ul>\n<h2>Python packages</h2>\n<p><code>pip install --index-url http://THIS-HOST/pypi/simple/ …</code> — <a href=\"/pypi/simple/\">/pypi/simple/</a></p>\n");
    out.push_str(&format!("<p>{} distribution files.</p>\n<ul>\n", counts.keys.eco.pypi.files));
    let projects = store.pypi_projects_first(crate::routes::home::LISTED)?;
    for project in &projects {
        out.push_str(&format!("<li><a href=\"/pypi/simple/{0}/\">{0}</a></li>\n", esc(project)));
    }
    if projects.len() == crate::routes::home::LISTED {
        out.push_str("<li>… and more projects (<a href=\"/pypi/simple/\">/pypi/simple/</a>)</li>\n");
    }
    Ok(())
}

/// Why a page was not rendered.
#[derive(Debug)]
enum PageError {
    /// The mirror holds no file of the project.
    Gone,
    Store(String),
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PageError::Gone => f.write_str("the project is no longer held"),
            PageError::Store(e) => f.write_str(e),
        }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError::Store(e.to_string())
    }
}

/// The root listing (`project` empty) or a project's page, kept until its own records change;
/// `None` when the mirror holds no file of the project. A kept page is answered here (its
/// generation is a sled get), else rendered, or waited for, on the blocking pool.
async fn cached_page(st: &AppState, project: String, json: bool) -> Result<Option<Bytes>, String> {
    let (store, eco) = (st.store.clone(), st.eco.clone());
    let key = (project, json);
    // Where the summaries are not built yet, finding a project's generation scans its files.
    if key.0.is_empty() || store.pypi_summarized().map_err(|e| e.to_string())? {
        match kept(&store, &eco.pypi, &key) {
            Ok(Some(b)) => return Ok(Some(b)),
            Ok(None) => {}
            Err(PageError::Gone) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        }
    }
    let got = tokio::task::spawn_blocking(move || match kept(&store, &eco.pypi, &key)? {
        Some(b) => Ok(b),
        None => eco.pypi.pages.wait(&key, || render(&eco.pypi, &store, &key.0, key.1)),
    })
    .await
    .map_err(|e| e.to_string())?;
    match got {
        Ok(b) => Ok(Some(b)),
        Err(PageError::Gone) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// The kept page of `key`, at once (a page whose records moved on is rendered again in the
/// background); `None` when none was rendered.
fn kept(store: &Arc<Store>, cache: &Arc<PageCache>, key: &cache::Key) -> Result<Option<Bytes>, PageError> {
    let generation = if key.0.is_empty() {
        store.eco_generation("pypi")?
    } else {
        let Some(g) = store.pypi_project_generation(&key.0)? else {
            cache.pages.forget(key);
            return Err(PageError::Gone);
        };
        g
    };
    let (c, s, k) = (cache.clone(), store.clone(), key.clone());
    Ok(cache.pages.kept(key, generation, move || render(&c, &s, &k.0, k.1)))
}

/// A page from the store: the generation it is keyed to, read before the records, and the page.
fn render(cache: &PageCache, store: &Store, project: &str, json: bool) -> Result<(u64, Bytes), PageError> {
    cache.renders.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if project.is_empty() {
        let generation = store.eco_generation("pypi")?;
        let projects = store.pypi_projects()?;
        return Ok((generation, Bytes::from(if json { root_json(&projects) } else { root_html(&projects) })));
    }
    let generation = store.pypi_project_generation(project)?.ok_or(PageError::Gone)?;
    let files = store.pypi_files(project)?;
    if files.is_empty() {
        return Err(PageError::Gone);
    }
    Ok((generation, Bytes::from(if json { project_json(project, &files) } else { project_html(project, &files) })))
}

fn root_json(projects: &[String]) -> String {
    let list: Vec<serde_json::Value> = projects.iter().map(|p| serde_json::json!({"name": p})).collect();
    serde_json::json!({"meta": {"api-version": "1.1"}, "projects": list}).to_string()
}

fn root_html(projects: &[String]) -> String {
    let mut b = String::from("<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Simple index</title></head><body>\n");
    for p in projects {
        b.push_str(&format!("<a href=\"{0}/\">{0}</a><br/>\n", esc(p)));
    }
    b.push_str("</body></html>\n");
    b
}

/// PEP 691 (API 1.1: `versions` and `size` included).
fn project_json(project: &str, files: &[WheelRecord]) -> String {
    let mut versions: Vec<&str> = files.iter().map(|f| f.version.as_str()).collect();
    versions.sort_unstable();
    versions.dedup();
    let list: Vec<serde_json::Value> = files
        .iter()
        .map(|f| {
            let meta = match &f.metadata {
                Some((d, _)) => serde_json::json!({"sha256": d.hex()}),
                None => serde_json::json!(false),
            };
            let mut v = serde_json::json!({
                "filename": f.filename,
                "url": format!("../../files/{}", f.filename),
                "hashes": {"sha256": f.digest.hex()},
                "size": f.size,
                "core-metadata": meta.clone(),
                "dist-info-metadata": meta,
            });
            if let Some(rp) = &f.requires_python {
                v["requires-python"] = serde_json::json!(rp);
            }
            v
        })
        .collect();
    serde_json::json!({"meta": {"api-version": "1.1"}, "name": project, "versions": versions, "files": list}).to_string()
}

fn project_html(project: &str, files: &[WheelRecord]) -> String {
    let mut b = format!(
        "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Links for {0}</title></head><body>\n<h1>Links for {0}</h1>\n",
        esc(project)
    );
    for f in files {
        let mut attrs = String::new();
        if let Some(rp) = &f.requires_python {
            attrs.push_str(&format!(" data-requires-python=\"{}\"", esc(rp)));
        }
        if let Some((d, _)) = &f.metadata {
            attrs.push_str(&format!(" data-dist-info-metadata=\"sha256={0}\" data-core-metadata=\"sha256={0}\"", d.hex()));
        }
        b.push_str(&format!("<a href=\"../../files/{0}#sha256={1}\"{attrs}>{0}</a><br/>\n", esc(&f.filename), f.digest.hex()));
    }
    b.push_str("</body></html>\n");
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wheel(project: &str, version: &str) -> WheelRecord {
        let filename = format!("{project}-{version}-py3-none-any.whl");
        WheelRecord {
            project: project.into(),
            version: version.into(),
            digest: feas_format::Digest::sha256_of(filename.as_bytes()),
            filename,
            size: 1,
            requires_python: None,
            metadata: None,
        }
    }

    fn import(store: &Store, pypi: Vec<WheelRecord>) {
        let eco = crate::ecosystems::EcoChanges { pypi, ..Default::default() };
        store.commit(&crate::store::Changes { eco, ..Default::default() }).unwrap();
    }

    /// (b) A project's page is keyed to its own generation: an import of `x` leaves the page of
    /// `y` served as rendered (the same bytes, not a copy); `x`'s page is served as it was
    /// while one background render makes the new one.
    #[tokio::test]
    async fn an_import_of_one_project_leaves_the_others_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        import(&store, vec![wheel("x", "1.0"), wheel("y", "1.0")]);
        let st = AppState { store: store.clone(), eco: Default::default(), uploads: Default::default(), origin: Default::default() };
        let page = |p: &str| {
            let (st, p) = (st.clone(), p.to_string());
            async move { cached_page(&st, p, true).await.unwrap().unwrap() }
        };
        let (x1, y1) = (page("x").await, page("y").await);
        assert_eq!(page("y").await.as_ptr(), y1.as_ptr(), "kept");
        import(&store, vec![wheel("x", "2.0")]);
        assert_eq!(page("y").await.as_ptr(), y1.as_ptr(), "y's records did not change");
        assert_eq!(page("x").await.as_ptr(), x1.as_ptr(), "the earlier page while x renders again");
        st.eco.pypi.pages.settle(&("x".to_string(), true));
        assert!(String::from_utf8_lossy(&page("x").await).contains("x-2.0-py3-none-any.whl"));
        // Nor was y rendered again behind the scenes: two renders before the import, one after.
        st.eco.pypi.pages.settle(&("y".to_string(), true));
        assert_eq!(page("y").await.as_ptr(), y1.as_ptr());
        assert_eq!(st.eco.pypi.renders.load(std::sync::atomic::Ordering::Relaxed), 3);
        assert_eq!(cached_page(&st, "z".into(), true).await.unwrap(), None, "a project not held");
        assert!(String::from_utf8_lossy(&page("").await).contains("\"y\""));
    }

    #[test]
    fn negotiation() {
        let h = |v: &'static str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT, HeaderValue::from_static(v));
            m
        };
        assert!(wants_json(&h("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01")));
        assert!(!wants_json(&h("text/html")));
        assert!(!wants_json(&HeaderMap::new()));
        assert!(!wants_json(&h("application/vnd.pypi.simple.v1+json;q=0.1, text/html")));
    }
}
