//! apt repositories under `/apt/<id>/`: `dists/<suite>/{InRelease,Release,Release.gpg}`,
//! `dists/<suite>/<component>/binary-<arch>/Packages{,.gz,.xz}` and the debs at their upstream
//! `Filename`, signed with the mirror's own key (`/apt/key.gpg`, `/apt/key.asc`). Several
//! bundles carrying the same suite merge: the indexes are rendered from everything stored,
//! once per apt generation (the store generation that last changed an apt record: a blob push
//! or another ecosystem's import leaves them as rendered).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

use super::render::{self, Rendered};
use super::signer::{self, Signer};
use super::SuiteInfo;
use crate::routes::home::esc;
use crate::routes::range::{self, FileError};
use crate::routes::AppState;
use crate::store::{Store, StoreError};

/// The generation the renders are keyed to (`Meta::eco_generation`).
const GENERATION_OF: &str = "apt";

/// (id, suite) → (the apt generation it was rendered at, its indexes).
type RenderCache = HashMap<(String, String), (u64, Arc<Rendered>)>;
/// id → suite → what it holds.
type Suites = BTreeMap<String, BTreeMap<String, SuiteInfo>>;

/// Per-server apt state: the signing key (loaded once) and rendered suites.
#[derive(Default)]
pub struct AptState {
    signer: OnceLock<Result<Arc<Signer>, String>>,
    rendered: Mutex<RenderCache>,
    /// Held while rendering: after an import, the nodes that all run `apt-get update` at once
    /// wait for one render (about a second at 50,000 packages) instead of each doing it.
    rendering: Mutex<()>,
    /// Renders done, for the log and the test that there is one per generation.
    renders: AtomicU64,
    /// The suites held, listed at a store generation. Listing reads every deb record, so an
    /// unknown suite (anyone can ask for one) is answered from here, never by a scan or a render.
    suites: Mutex<Option<(u64, Arc<Suites>)>>,
    /// Full scans of the apt tree for that list, for the test that there is one per generation.
    suite_scans: AtomicU64,
}

pub fn router() -> Router<AppState> {
    Router::new().route("/apt", any(listing)).route("/apt/", any(listing)).route("/apt/{*rest}", any(dispatch))
}

#[derive(Debug)]
enum AptError {
    NotFound(String),
    Method,
    Internal(String),
}

impl From<StoreError> for AptError {
    fn from(e: StoreError) -> Self {
        AptError::Internal(e.to_string())
    }
}

impl IntoResponse for AptError {
    fn into_response(self) -> Response {
        let (status, msg) = match self {
            AptError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            AptError::Method => (StatusCode::METHOD_NOT_ALLOWED, "the apt repository is read-only".to_string()),
            AptError::Internal(m) => {
                tracing::error!("apt: {m}");
                (StatusCode::INTERNAL_SERVER_ERROR, format!("{m}\n"))
            }
        };
        (status, format!("{msg}\n")).into_response()
    }
}

type R = Result<Response, AptError>;

fn bytes_response(data: impl Into<axum::body::Bytes>, content_type: &'static str, head: bool) -> Response {
    let data: axum::body::Bytes = data.into();
    let len = data.len();
    let mut resp = Response::new(if head { Body::empty() } else { Body::from(data) });
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    resp
}

fn check_method(m: &Method) -> Result<bool, AptError> {
    match *m {
        Method::GET => Ok(false),
        Method::HEAD => Ok(true),
        _ => Err(AptError::Method),
    }
}

impl AptState {
    fn signer(&self, store: &Store) -> Result<Arc<Signer>, AptError> {
        self.signer.get_or_init(|| Signer::load_or_create(&store.paths.apt_key()).map(Arc::new).map_err(|e| e.to_string())).clone().map_err(AptError::Internal)
    }

    /// The suite's indexes if rendered at the current generation: a sled get and a map lookup,
    /// cheap enough for the async thread (the blocking pool's handoff cost more than the read).
    fn cached(&self, store: &Store, id: &str, suite: &str) -> Result<Option<Arc<Rendered>>, AptError> {
        Ok(self.kept(&(id.to_string(), suite.to_string()), store.eco_generation(GENERATION_OF)?))
    }

    fn kept(&self, key: &(String, String), generation: u64) -> Option<Arc<Rendered>> {
        self.rendered.lock().expect("not poisoned").get(key).filter(|(g, _)| *g == generation).map(|(_, r)| r.clone())
    }

    /// The suites held at `generation`, listed once per generation (the lock is held while
    /// listing, so concurrent first requests wait for one scan).
    fn suites(&self, store: &Store, generation: u64) -> Result<Arc<Suites>, AptError> {
        let mut held = self.suites.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, list)) = held.as_ref().filter(|(g, _)| *g == generation) {
            return Ok(list.clone());
        }
        let list = Arc::new(store.apt_suites()?);
        self.suite_scans.fetch_add(1, Ordering::Relaxed);
        *held = Some((generation, list.clone()));
        Ok(list)
    }

    /// The suite's indexes at the current generation, rendered if needed.
    fn suite(&self, store: &Store, id: &str, suite: &str) -> Result<Arc<Rendered>, AptError> {
        let generation = store.eco_generation(GENERATION_OF)?;
        let key = (id.to_string(), suite.to_string());
        if let Some(r) = self.kept(&key, generation) {
            return Ok(r);
        }
        // Before the render lock: a request for a suite that is not held must not queue behind
        // (or cause) a render.
        let suites = self.suites(store, generation)?;
        let info = suites.get(id).and_then(|s| s.get(suite)).ok_or_else(|| AptError::NotFound(format!("the mirror holds no apt suite {id}/{suite}; see /apt/ for what it has")))?;
        let _one_at_a_time = self.rendering.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = self.kept(&key, generation) {
            return Ok(r);
        }
        let started = std::time::Instant::now();
        let mut files = std::collections::BTreeMap::new();
        for component in &info.components {
            for arch in &info.architectures {
                let debs = store.apt_packages(id, suite, component, arch)?;
                let plain = render::packages(&debs);
                let base = format!("{component}/binary-{arch}/Packages");
                files.insert(format!("{base}.gz"), render::gzip(&plain));
                files.insert(format!("{base}.xz"), render::xz(&plain));
                files.insert(base, plain);
            }
        }
        let release = render::release(id, suite, info, &render::debian_date(store.last_import_time()?.as_deref()), &files);
        let signer = self.signer(store)?;
        let sign_err = |e: signer::SignerError| AptError::Internal(e.to_string());
        let in_release = signer.clearsign(&release).map_err(sign_err)?;
        let release_gpg = signer.detached(release.as_bytes()).map_err(sign_err)?;
        files.insert("Release".into(), release.into_bytes());
        files.insert("InRelease".into(), in_release.into_bytes());
        files.insert("Release.gpg".into(), release_gpg.into_bytes());
        let rendered = Arc::new(Rendered { files: files.into_iter().map(|(k, v)| (k, v.into())).collect() });
        self.rendered.lock().expect("not poisoned").insert(key, (generation, rendered.clone()));
        let n = self.renders.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!("apt {id}/{suite} rendered for store generation {generation} in {} ms (render {n})", started.elapsed().as_millis());
        Ok(rendered)
    }
}

/// `/apt/`: what the mirror holds, for people and `mirror client-config apt`.
async fn listing(State(st): State<AppState>, method: Method) -> R {
    let head = check_method(&method)?;
    let suites =
        tokio::task::spawn_blocking(move || st.eco.apt.suites(&st.store, st.store.eco_generation(GENERATION_OF)?)).await.map_err(|e| AptError::Internal(e.to_string()))??;
    let sources: Vec<serde_json::Value> = suites
        .iter()
        .map(|(id, suites)| {
            let suites: Vec<serde_json::Value> =
                suites.iter().map(|(suite, i)| serde_json::json!({"suite": suite, "codename": i.codename, "components": i.components, "architectures": i.architectures})).collect();
            serde_json::json!({"id": id, "suites": suites})
        })
        .collect();
    let body = serde_json::to_vec_pretty(&serde_json::json!({"key": "/apt/key.gpg", "key_armored": "/apt/key.asc", "sources": sources})).expect("json");
    Ok(bytes_response(body, "application/json", head))
}

/// Its section of `/`: what it holds, and the first suites as sources lines. Like every
/// section of the page, it starts by closing the list before it, and leaves its own open.
pub(super) fn home(store: &Store, counts: &crate::store::meta::Counts, out: &mut String) -> Result<(), StoreError> {
    out.push_str("</ul>\n<h2>apt repositories</h2>\n<p>Signed with the key at <a href=\"/apt/key.gpg\">/apt/key.gpg</a>; <code>mirror client-config apt --url URL</code> prints a sources file.</p>\n");
    let a = &counts.keys.eco.apt;
    out.push_str(&format!("<p>{} debs in the pools, {} index entries (<a href=\"/apt/\">/apt/</a>).</p>\n<ul>\n", a.pool, a.debs));
    let suites = store.apt_suites_first(crate::routes::home::LISTED)?;
    for l in &suites {
        out.push_str(&format!(
            "<li><code>deb /apt/{0}/ {1} {2}</code> ({3}) — <a href=\"/apt/{0}/dists/{1}/Release\">Release</a></li>\n",
            esc(&l.id),
            esc(&l.suite),
            esc(&l.components.join(" ")),
            esc(&l.architectures.join(", "))
        ));
    }
    if suites.len() == crate::routes::home::LISTED {
        out.push_str("<li>… and more suites (<a href=\"/apt/\">/apt/</a>)</li>\n");
    }
    Ok(())
}

async fn dispatch(State(st): State<AppState>, req: Request) -> R {
    let head = check_method(req.method())?;
    // apt percent-encodes `+` and `~` in file names (jq_1.6-2.1%2bdeb12u2_amd64.deb).
    let raw = req.uri().path().strip_prefix("/apt/").unwrap_or_default();
    let Ok(path) = percent_encoding::percent_decode_str(raw).decode_utf8().map(|p| p.into_owned()) else {
        return Err(AptError::NotFound(format!("/apt/{raw} is not a valid path")));
    };
    match path.as_str() {
        "key.gpg" | "key.asc" => {
            let store = st.store.clone();
            let apt = st.eco.apt.clone();
            let signer = tokio::task::spawn_blocking(move || apt.signer(&store)).await.map_err(|e| AptError::Internal(e.to_string()))??;
            return Ok(if path == "key.gpg" {
                bytes_response(signer.public_binary.clone(), "application/pgp-keys", head)
            } else {
                bytes_response(signer.public_armored.clone().into_bytes(), "application/pgp-keys", head)
            });
        }
        _ => {}
    }
    let Some((id, rest)) = path.split_once('/') else {
        return Err(AptError::NotFound(format!("/apt/{path} is not an apt repository path; see /apt/")));
    };
    let (id, rest) = (id.to_string(), rest.to_string());
    if let Some(d) = rest.strip_prefix("dists/") {
        let Some((suite, file)) = d.split_once('/') else {
            return Err(AptError::NotFound(format!("/apt/{path}: no such index")));
        };
        let (suite, file) = (suite.to_string(), file.to_string());
        let store = st.store.clone();
        let apt = st.eco.apt.clone();
        let rendered = match apt.cached(&store, &id, &suite)? {
            Some(r) => r,
            None => tokio::task::spawn_blocking(move || apt.suite(&store, &id, &suite)).await.map_err(|e| AptError::Internal(e.to_string()))??,
        };
        let data = rendered.files.get(&file).ok_or_else(|| AptError::NotFound(format!("/apt/{path}: no such index")))?;
        let content_type = match file.rsplit('.').next() {
            Some("gz") => "application/gzip",
            Some("xz") => "application/x-xz",
            Some("gpg") => "application/pgp-signature",
            _ => "text/plain; charset=utf-8",
        };
        return Ok(bytes_response(data.clone(), content_type, head));
    }
    let store = st.store.clone();
    let (i2, r2) = (id.clone(), rest.clone());
    let found = tokio::task::spawn_blocking(move || store.apt_pool(&i2, &r2)).await.map_err(|e| AptError::Internal(e.to_string()))??;
    let Some((digest, _)) = found else {
        return Err(AptError::NotFound(format!("/apt/{path}: the mirror holds no such file")));
    };
    match range::file_response(&st.store.blobs.path(&digest), head, req.headers(), "application/vnd.debian.binary-package").await {
        Ok(r) => Ok(r),
        Err(FileError::NotFound) => Err(AptError::Internal(format!("{digest} for /apt/{path} is missing from the store; run `mirror verify`"))),
        Err(FileError::Io(e)) => Err(AptError::Internal(format!("reading {digest}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecosystems::apt::{DebKey, DebRecord};
    use crate::store::Changes;
    use feas_format::Digest;

    /// `n` packages of apt source `t`, suite `stable`.
    fn deb_changes(n: usize) -> crate::ecosystems::EcoChanges {
        let mut eco = crate::ecosystems::EcoChanges::default();
        for i in 0..n {
            let name = format!("pkg{i}");
            let filename = format!("pool/main/p/{name}/{name}_1.0_amd64.deb");
            let digest = Digest::sha256_of(name.as_bytes());
            let stanza = format!("Package: {name}\nVersion: 1.0\nArchitecture: amd64\nFilename: {filename}\nSize: 1\nSHA256: {}\nDescription: p\n", digest.hex());
            let key = DebKey { id: "t".into(), suite: "stable".into(), component: "main".into(), arch: "amd64".into(), filename };
            eco.apt.push((key, DebRecord { stanza, digest, size: 1, codename: Some("stable".into()), origin: None, label: None }));
        }
        eco
    }

    /// A store holding apt source `t`, suite `stable`, with `n` packages.
    fn store_with_suite(dir: &std::path::Path, n: usize) -> Store {
        let store = Store::open(dir).unwrap();
        store.commit(&Changes { eco: deb_changes(n), ..Changes::default() }).unwrap();
        store
    }

    /// Concurrent first requests after an import get one render between them.
    #[test]
    fn concurrent_first_requests_render_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_suite(dir.path(), 2000);
        let apt = AptState::default();
        let got: Vec<Arc<Rendered>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8).map(|_| s.spawn(|| apt.suite(&store, "t", "stable").unwrap())).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(apt.renders.load(Ordering::Relaxed), 1, "one render for 8 concurrent requests");
        assert!(got.iter().all(|r| Arc::ptr_eq(r, &got[0])));
        assert!(got[0].files.keys().any(|k| k == "main/binary-amd64/Packages.gz"));
        // A write that is not apt's (a blob push, a files import) keeps the rendering.
        store.commit(&Changes { blobs: vec![(Digest::sha256_of(b"x"), 1)], ..Changes::default() }).unwrap();
        let files = crate::ecosystems::EcoChanges { files: vec![("f".into(), Digest::sha256_of(b"f"), 1)], ..Default::default() };
        store.commit(&Changes { eco: files, ..Changes::default() }).unwrap();
        assert!(Arc::ptr_eq(&apt.suite(&store, "t", "stable").unwrap(), &got[0]));
        assert_eq!(apt.renders.load(Ordering::Relaxed), 1, "no render for writes elsewhere");
        // An apt write renders again.
        store.commit(&Changes { eco: deb_changes(1), ..Changes::default() }).unwrap();
        apt.suite(&store, "t", "stable").unwrap();
        assert_eq!(apt.renders.load(Ordering::Relaxed), 2);
    }

    async fn status(app: &axum::Router, path: &str) -> StatusCode {
        use tower::ServiceExt;
        let req = axum::http::Request::get(path).body(Body::empty()).unwrap();
        app.clone().oneshot(req).await.unwrap().status()
    }

    /// Anyone can ask for suites the mirror does not hold; each is a 404 from the suite list of
    /// the store generation: one scan of the apt tree however many arrive, and no render.
    #[tokio::test]
    async fn unknown_suites_are_answered_without_scans_or_renders() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(store_with_suite(dir.path(), 50));
        let apt = Arc::new(AptState::default());
        let app = crate::routes::router(AppState {
            store: store.clone(),
            eco: Arc::new(crate::ecosystems::EcoState { apt: apt.clone(), ..Default::default() }),
            uploads: Default::default(),
            origin: Default::default(),
        });
        for i in 0..40 {
            assert_eq!(status(&app, &format!("/apt/t/dists/nope{i}/InRelease")).await, StatusCode::NOT_FOUND);
            assert_eq!(status(&app, &format!("/apt/other{i}/dists/stable/Release")).await, StatusCode::NOT_FOUND);
        }
        assert_eq!(apt.suite_scans.load(Ordering::Relaxed), 1, "one listing for 80 unknown suites");
        assert_eq!(apt.renders.load(Ordering::Relaxed), 0, "nothing rendered for unknown suites");
        // The held suite still renders, from the same listing; `/apt/` reads it too.
        assert_eq!(status(&app, "/apt/t/dists/stable/InRelease").await, StatusCode::OK);
        assert_eq!(status(&app, "/apt/").await, StatusCode::OK);
        assert_eq!((apt.suite_scans.load(Ordering::Relaxed), apt.renders.load(Ordering::Relaxed)), (1, 1));
        // A new apt generation lists again (a suite imported since must be found).
        store.commit(&Changes { eco: deb_changes(1), ..Changes::default() }).unwrap();
        assert_eq!(status(&app, "/apt/t/dists/nope/InRelease").await, StatusCode::NOT_FOUND);
        assert_eq!(status(&app, "/apt/t/dists/nope2/InRelease").await, StatusCode::NOT_FOUND);
        assert_eq!(apt.suite_scans.load(Ordering::Relaxed), 2);
    }
}
