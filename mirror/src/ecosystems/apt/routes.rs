//! apt repositories under `/apt/<id>/`: `dists/<suite>/{InRelease,Release,Release.gpg}`,
//! `dists/<suite>/<component>/binary-<arch>/Packages.gz` (and `by-hash/SHA256/<hex>`; the
//! plain `Packages` is listed in Release, not served, see `render`)
//! and the debs at their upstream `Filename`, signed with the mirror's own key
//! (`/apt/key.gpg`, `/apt/key.asc`). Several bundles carrying the same suite merge: a suite's
//! indexes are rendered from everything stored, once per suite generation (the store
//! generation that last changed that suite's records: another suite's import, a blob push or
//! another ecosystem's leaves them as rendered). After a change the earlier rendering is served
//! while one background thread renders the next (`Renders`); its files stay served by hash.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

use super::render::{self, Rendered};
use super::signer::{self, Signer};
use crate::routes::home::esc;
use crate::routes::range::{self, FileError};
use crate::routes::renders::Renders;
use crate::routes::AppState;
use crate::store::{Store, StoreError};

/// Renderings kept per suite besides the current one: what a client that read the Release
/// before the last re-render fetches by hash.
const KEEP_PREVIOUS: usize = 1;

/// (id, suite)
type SuiteKey = (String, String);

/// Per-server apt state: the signing key (loaded once) and rendered suites.
pub struct AptState {
    signer: OnceLock<Result<Arc<Signer>, String>>,
    /// Each suite's indexes, keyed to its generation. After an import the nodes that all run
    /// `apt-get update` at once get the earlier rendering, or wait for one render when there
    /// is none (about a second at 50,000 packages) instead of each doing it.
    rendered: Renders<SuiteKey, Arc<Rendered>>,
    /// Renders done, for the log and the tests that count them.
    renders: AtomicU64,
    /// gzip members compressed, likewise: a re-render compresses only the chunks that changed.
    compressed: AtomicU64,
    /// Held by a test to keep a render from finishing.
    #[cfg(test)]
    gate: std::sync::Mutex<()>,
}

impl Default for AptState {
    fn default() -> Self {
        AptState {
            signer: OnceLock::new(),
            // Suites are few and each keeps its indexes for the life of the server.
            rendered: Renders::new("apt", KEEP_PREVIOUS, usize::MAX, |_| 0),
            renders: AtomicU64::new(0),
            compressed: AtomicU64::new(0),
            #[cfg(test)]
            gate: std::sync::Mutex::new(()),
        }
    }
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

impl std::fmt::Display for AptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AptError::NotFound(m) | AptError::Internal(m) => f.write_str(m),
            AptError::Method => f.write_str("the apt repository is read-only"),
        }
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

/// A rendered file, its parts streamed as they are (a 30 MB `Packages.gz` is not copied into one).
fn file_response(file: render::File, content_type: &'static str, head: bool) -> Response {
    let len: usize = file.iter().map(|p| p.len()).sum();
    let body = if head { Body::empty() } else { Body::from_stream(futures_util::stream::iter((0..file.len()).map(move |i| Ok::<_, std::convert::Infallible>(file[i].clone())))) };
    let mut resp = Response::new(body);
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

    /// The suite's kept indexes, at once: current, or the earlier rendering while one
    /// background thread renders the suite's new generation. `None` when none was rendered.
    /// Reads the suite's summary (a sled get): cheap enough for an async thread.
    fn kept(self: &Arc<Self>, store: &Arc<Store>, id: &str, suite: &str) -> Result<Option<Arc<Rendered>>, AptError> {
        let key = (id.to_string(), suite.to_string());
        let Some(held) = store.apt_suite(id, suite)? else {
            self.rendered.forget(&key);
            return Err(no_suite(id, suite));
        };
        let (apt, store) = (self.clone(), store.clone());
        Ok(self.rendered.kept(&key.clone(), held.generation, move || apt.render(&store, &key.0, &key.1)))
    }

    /// The suite's indexes: kept ones at once, else rendered here (concurrent first requests
    /// wait for one render). Blocking.
    fn suite(self: &Arc<Self>, store: &Arc<Store>, id: &str, suite: &str) -> Result<Arc<Rendered>, AptError> {
        if let Some(r) = self.kept(store, id, suite)? {
            return Ok(r);
        }
        self.rendered.wait(&(id.to_string(), suite.to_string()), || self.render(store, id, suite))
    }

    /// Renders the suite from the store: the suite's generation read before its records, and
    /// its indexes.
    fn render(&self, store: &Store, id: &str, suite: &str) -> Result<(u64, Arc<Rendered>), AptError> {
        #[cfg(test)]
        drop(self.gate.lock());
        let started = std::time::Instant::now();
        let held = store.apt_suite(id, suite)?.ok_or_else(|| no_suite(id, suite))?;
        let info = &held.info;
        // The members of the rendering served now: a chunk whose text is unchanged keeps its.
        let previous = self.rendered.recent(&(id.to_string(), suite.to_string())).into_iter().next();
        let no_members = std::collections::HashMap::new();
        let reuse = previous.as_ref().map_or(&no_members, |p| &p.members);
        let compressed_before = self.compressed.load(Ordering::Relaxed);
        let (mut files, mut hashes, mut by_hash, mut members) = (BTreeMap::new(), render::Hashes::new(), HashMap::new(), HashMap::new());
        for component in &info.components {
            for arch in &info.architectures {
                let ix = render::index(|each| store.apt_packages_each(id, suite, component, arch, each), reuse, &render::CHUNKING, &self.compressed)?;
                let base = format!("{component}/binary-{arch}/Packages");
                let gz = render::hash(&ix.gz);
                by_hash.insert(format!("{component}/binary-{arch}/by-hash/SHA256/{}", gz.1.hex()), ix.gz.clone());
                members.extend(ix.ids.into_iter().zip(ix.gz.iter().cloned()));
                hashes.insert(format!("{base}.gz"), gz);
                hashes.insert(base.clone(), ix.plain);
                files.insert(format!("{base}.gz"), ix.gz);
            }
        }
        let release = render::release(id, suite, info, &render::debian_date(store.last_import_time()?.as_deref()), &hashes);
        let signer = self.signer(store)?;
        let sign_err = |e: signer::SignerError| AptError::Internal(e.to_string());
        let in_release = signer.clearsign(&release).map_err(sign_err)?;
        let release_gpg = signer.detached(release.as_bytes()).map_err(sign_err)?;
        let one = |b: Vec<u8>| -> render::File { Arc::new([b.into()]) };
        files.insert("Release".into(), one(release.into_bytes()));
        files.insert("InRelease".into(), one(in_release.into_bytes()));
        files.insert("Release.gpg".into(), one(release_gpg.into_bytes()));
        let n = self.renders.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(
            "apt {id}/{suite} rendered for its generation {} in {} ms (render {n}; {} of {} gzip members compressed, the others kept)",
            held.generation,
            started.elapsed().as_millis(),
            self.compressed.load(Ordering::Relaxed) - compressed_before,
            members.len()
        );
        Ok((held.generation, Arc::new(Rendered { files, by_hash, members })))
    }

    /// An index file named by its hash (`<component>/binary-<arch>/by-hash/SHA256/<hex>`), from
    /// the current rendering or a kept earlier one. Blocking when nothing is rendered yet.
    fn by_hash(self: &Arc<Self>, store: &Arc<Store>, id: &str, suite: &str, file: &str) -> Result<Option<render::File>, AptError> {
        let current = self.suite(store, id, suite)?;
        let key = (id.to_string(), suite.to_string());
        Ok(std::iter::once(current).chain(self.rendered.recent(&key)).find_map(|r| r.by_hash.get(file).cloned()))
    }
}

fn no_suite(id: &str, suite: &str) -> AptError {
    AptError::NotFound(format!("the mirror holds no apt suite {id}/{suite}; see /apt/ for what it has"))
}

/// `/apt/`: what the mirror holds, for people and `mirror client-config apt`.
async fn listing(State(st): State<AppState>, method: Method) -> R {
    let head = check_method(&method)?;
    let suites = tokio::task::spawn_blocking(move || st.store.apt_suites()).await.map_err(|e| AptError::Internal(e.to_string()))??;
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
        let (store, apt) = (st.store.clone(), st.eco.apt.clone());
        let data = if file.contains("/by-hash/") {
            tokio::task::spawn_blocking(move || apt.by_hash(&store, &id, &suite, &file)).await.map_err(|e| AptError::Internal(e.to_string()))??
        } else {
            // A kept rendering is answered here; a suite never rendered is rendered (or waited
            // for) on the blocking pool, as is every read of a store whose summaries are not built.
            let kept = if store.apt_summarized()? { apt.kept(&store, &id, &suite)? } else { None };
            let rendered = match kept {
                Some(r) => r,
                None => {
                    let (a, s, i, su) = (apt.clone(), store.clone(), id.clone(), suite.clone());
                    tokio::task::spawn_blocking(move || a.suite(&s, &i, &su)).await.map_err(|e| AptError::Internal(e.to_string()))??
                }
            };
            rendered.files.get(&file).cloned()
        };
        let data = data.ok_or_else(|| AptError::NotFound(format!("/apt/{path}: no such index")))?;
        let content_type = match path.rsplit('.').next() {
            Some("gz") => "application/gzip",
            Some("xz") => "application/x-xz",
            Some("gpg") => "application/pgp-signature",
            _ if path.contains("/by-hash/") => "application/octet-stream",
            _ => "text/plain; charset=utf-8",
        };
        return Ok(file_response(data, content_type, head));
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

    /// Packages `<prefix><i>` for `i` in `range`, of apt source `t`, suite `suite`.
    fn debs_in(suite: &str, prefix: &str, range: std::ops::Range<usize>) -> crate::ecosystems::EcoChanges {
        let mut eco = crate::ecosystems::EcoChanges::default();
        for i in range {
            let name = format!("{prefix}{i}");
            let filename = format!("pool/main/p/{name}/{name}_1.0_amd64.deb");
            let digest = Digest::sha256_of(name.as_bytes());
            let stanza = format!("Package: {name}\nVersion: 1.0\nArchitecture: amd64\nFilename: {filename}\nSize: 1\nSHA256: {}\nDescription: p\n", digest.hex());
            let key = DebKey { id: "t".into(), suite: suite.into(), component: "main".into(), arch: "amd64".into(), filename };
            eco.apt.push((key, DebRecord { stanza, digest, size: 1, codename: Some(suite.into()), origin: None, label: None }));
        }
        eco
    }

    /// `n` packages of apt source `t`, suite `stable`.
    fn deb_changes(n: usize) -> crate::ecosystems::EcoChanges {
        debs_in("stable", "pkg", 0..n)
    }

    fn import(store: &Store, eco: crate::ecosystems::EcoChanges) {
        store.commit(&Changes { eco, ..Changes::default() }).unwrap();
    }

    /// A store holding apt source `t`, suite `stable`, with `n` packages.
    fn store_with_suite(dir: &std::path::Path, n: usize) -> Arc<Store> {
        let store = Store::open(dir).unwrap();
        import(&store, deb_changes(n));
        Arc::new(store)
    }

    fn key(suite: &str) -> SuiteKey {
        ("t".into(), suite.into())
    }

    fn renders(apt: &AptState) -> u64 {
        apt.renders.load(Ordering::Relaxed)
    }

    fn compressed(apt: &AptState) -> u64 {
        apt.compressed.load(Ordering::Relaxed)
    }

    /// The text of a rendering's amd64 `Packages.gz`, every member read.
    fn packages(r: &Rendered) -> String {
        use std::io::Read;
        let gz: Vec<u8> = r.files["main/binary-amd64/Packages.gz"].iter().flat_map(|p| p.to_vec()).collect();
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&gz[..]).read_to_string(&mut text).unwrap();
        text
    }

    fn app(store: &Arc<Store>, apt: &Arc<AptState>) -> axum::Router {
        crate::routes::router(AppState {
            store: store.clone(),
            eco: Arc::new(crate::ecosystems::EcoState { apt: apt.clone(), ..Default::default() }),
            uploads: Default::default(),
            origin: Default::default(),
        })
    }

    async fn get(app: &axum::Router, path: &str) -> (StatusCode, axum::body::Bytes) {
        use tower::ServiceExt;
        let req = axum::http::Request::get(path).body(Body::empty()).unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        (resp.status(), axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap())
    }

    async fn status(app: &axum::Router, path: &str) -> StatusCode {
        get(app, path).await.0
    }

    /// Concurrent first requests after an import get one render between them.
    #[test]
    fn concurrent_first_requests_render_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_suite(dir.path(), 2000);
        let apt = Arc::new(AptState::default());
        let got: Vec<Arc<Rendered>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8).map(|_| s.spawn(|| apt.suite(&store, "t", "stable").unwrap())).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(renders(&apt), 1, "one render for 8 concurrent requests");
        assert!(got.iter().all(|r| Arc::ptr_eq(r, &got[0])));
        assert!(got[0].files.keys().any(|k| k == "main/binary-amd64/Packages.gz"));
        // A write that is not apt's (a blob push, a files import) keeps the rendering.
        store.commit(&Changes { blobs: vec![(Digest::sha256_of(b"x"), 1)], ..Changes::default() }).unwrap();
        import(&store, crate::ecosystems::EcoChanges { files: vec![("f".into(), Digest::sha256_of(b"f"), 1)], ..Default::default() });
        assert!(Arc::ptr_eq(&apt.suite(&store, "t", "stable").unwrap(), &got[0]));
        assert_eq!(renders(&apt), 1, "no render for writes elsewhere");
        // An apt write renders again, once, in the background.
        let mut changed = deb_changes(1);
        changed.apt[0].1.stanza.push_str("X-Changed: yes\n");
        import(&store, changed);
        apt.suite(&store, "t", "stable").unwrap();
        apt.rendered.settle(&key("stable"));
        assert_eq!(renders(&apt), 2);
    }

    /// (a) Each suite is keyed to its own generation: an import into `testing` leaves the
    /// rendering of `stable` served as it was.
    #[test]
    fn an_import_into_one_suite_leaves_the_others_rendered() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_suite(dir.path(), 5);
        import(&store, debs_in("testing", "tpkg", 0..5));
        let apt = Arc::new(AptState::default());
        let stable = apt.suite(&store, "t", "stable").unwrap();
        let testing = apt.suite(&store, "t", "testing").unwrap();
        assert_eq!(renders(&apt), 2);
        import(&store, debs_in("testing", "tpkg", 5..6));
        assert!(Arc::ptr_eq(&apt.suite(&store, "t", "stable").unwrap(), &stable), "stable did not change");
        assert_eq!(renders(&apt), 2, "no render of stable");
        // testing moved: the earlier rendering at once, the new one from one background render.
        assert!(Arc::ptr_eq(&apt.suite(&store, "t", "testing").unwrap(), &testing));
        apt.rendered.settle(&key("testing"));
        assert_eq!(renders(&apt), 3);
        let now = apt.suite(&store, "t", "testing").unwrap();
        assert!(packages(&now).contains("Package: tpkg5\n"));
        assert!(Arc::ptr_eq(&apt.suite(&store, "t", "stable").unwrap(), &stable));
    }

    /// (c) While a moved suite renders, requests get the earlier rendering at once, and no
    /// second render starts.
    #[test]
    fn requests_during_a_render_get_the_earlier_rendering() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_suite(dir.path(), 5);
        let apt = Arc::new(AptState::default());
        let before = apt.suite(&store, "t", "stable").unwrap();
        import(&store, debs_in("stable", "pkg", 5..6));
        let held = apt.gate.lock().unwrap();
        for _ in 0..5 {
            assert!(Arc::ptr_eq(&apt.suite(&store, "t", "stable").unwrap(), &before), "the earlier rendering while the new one is held");
        }
        assert_eq!(renders(&apt), 1, "the held render has not finished");
        drop(held);
        apt.rendered.settle(&key("stable"));
        assert_eq!(renders(&apt), 2, "one render for the five requests");
        let after = apt.suite(&store, "t", "stable").unwrap();
        assert!(!Arc::ptr_eq(&after, &before));
        assert!(packages(&after).contains("Package: pkg5\n"));
    }

    /// The SHA-256 the Release inside `in_release` lists for `path`.
    fn listed_hash(in_release: &[u8], path: &str) -> String {
        let text = String::from_utf8_lossy(in_release);
        let line = text.lines().find(|l| l.split_whitespace().nth(2) == Some(path)).unwrap_or_else(|| panic!("{path} in {text}"));
        line.split_whitespace().next().unwrap().to_string()
    }

    /// (d) A client that read InRelease just before the suite re-rendered still gets the files
    /// it lists, by hash; the new rendering's files are served by hash too.
    #[tokio::test]
    async fn files_of_the_previous_release_are_served_by_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_suite(dir.path(), 5);
        let apt = Arc::new(AptState::default());
        let app = app(&store, &apt);
        let (ok, in_release) = get(&app, "/apt/t/dists/stable/InRelease").await;
        assert_eq!(ok, StatusCode::OK);
        assert!(String::from_utf8_lossy(&in_release).contains("\nAcquire-By-Hash: yes\n"));
        let (_, old_gz) = get(&app, "/apt/t/dists/stable/main/binary-amd64/Packages.gz").await;
        let old = listed_hash(&in_release, "main/binary-amd64/Packages.gz");
        import(&store, debs_in("stable", "pkg", 5..6));
        let (a, s) = (apt.clone(), store.clone());
        tokio::task::spawn_blocking(move || {
            a.suite(&s, "t", "stable").unwrap();
            a.rendered.settle(&key("stable"));
        })
        .await
        .unwrap();
        assert_eq!(renders(&apt), 2);
        let (_, new_release) = get(&app, "/apt/t/dists/stable/InRelease").await;
        let new = listed_hash(&new_release, "main/binary-amd64/Packages.gz");
        assert_ne!(old, new);
        let by_hash = |h: &str| format!("/apt/t/dists/stable/main/binary-amd64/by-hash/SHA256/{h}");
        assert_eq!(get(&app, &by_hash(&old)).await, (StatusCode::OK, old_gz), "the previous rendering's file");
        let (ok, new_gz) = get(&app, &by_hash(&new)).await;
        assert_eq!((ok, Digest::sha256_of(&new_gz).hex().to_string()), (StatusCode::OK, new));
        assert_eq!(status(&app, &by_hash(Digest::sha256_of(b"other").hex())).await, StatusCode::NOT_FOUND);
        assert_eq!(status(&app, &format!("/apt/t/dists/stable/contrib/binary-amd64/by-hash/SHA256/{old}")).await, StatusCode::NOT_FOUND, "another index's directory");
    }

    /// (e) `rm` of the last deb of a suite takes the suite out of `/apt/` and its indexes.
    #[tokio::test]
    async fn removing_the_last_deb_of_a_suite_unlists_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_suite(dir.path(), 1);
        import(&store, debs_in("testing", "tpkg", 0..1));
        let apt = Arc::new(AptState::default());
        let app = app(&store, &apt);
        let suites = |body: &[u8]| -> Vec<String> {
            let v: serde_json::Value = serde_json::from_slice(body).unwrap();
            v["sources"].as_array().unwrap().iter().flat_map(|s| s["suites"].as_array().unwrap().iter().map(|s| s["suite"].as_str().unwrap().to_string())).collect()
        };
        assert_eq!(suites(&get(&app, "/apt/").await.1), ["stable", "testing"]);
        assert_eq!(status(&app, "/apt/t/dists/stable/InRelease").await, StatusCode::OK);
        let s = store.clone();
        tokio::task::spawn_blocking(move || crate::remove::remove(&s, &["apt/t/pkg0_1.0_amd64.deb".into()], false, &Default::default()).unwrap()).await.unwrap();
        assert_eq!(suites(&get(&app, "/apt/").await.1), ["testing"]);
        assert_eq!(status(&app, "/apt/t/dists/stable/InRelease").await, StatusCode::NOT_FOUND);
        assert_eq!(status(&app, "/apt/t/dists/testing/InRelease").await, StatusCode::OK);
    }

    /// Anyone can ask for suites the mirror does not hold; each is a 404 from the suite's
    /// summary (a get), with no render.
    #[tokio::test]
    async fn unknown_suites_are_answered_without_renders() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_suite(dir.path(), 50);
        let apt = Arc::new(AptState::default());
        let app = app(&store, &apt);
        for i in 0..40 {
            assert_eq!(status(&app, &format!("/apt/t/dists/nope{i}/InRelease")).await, StatusCode::NOT_FOUND);
            assert_eq!(status(&app, &format!("/apt/other{i}/dists/stable/Release")).await, StatusCode::NOT_FOUND);
            assert_eq!(status(&app, &format!("/apt/t/dists/nope{i}/main/binary-amd64/by-hash/SHA256/00")).await, StatusCode::NOT_FOUND);
        }
        assert_eq!(renders(&apt), 0, "nothing rendered for unknown suites");
        assert_eq!(status(&app, "/apt/t/dists/stable/InRelease").await, StatusCode::OK);
        assert_eq!(status(&app, "/apt/").await, StatusCode::OK);
        assert_eq!(renders(&apt), 1);
    }

    /// Served: `Packages.gz` (whose members read back as the stanzas) with the size and hash
    /// Release lists for it and for the plain text, which is listed but not served; no `.xz`.
    /// A re-render after one package changed compresses that package's chunk only.
    #[tokio::test]
    async fn packages_gz_is_listed_and_a_change_recompresses_one_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_suite(dir.path(), 6000);
        let apt = Arc::new(AptState::default());
        let app = app(&store, &apt);
        let (_, in_release) = get(&app, "/apt/t/dists/stable/InRelease").await;
        let (ok, gz) = get(&app, "/apt/t/dists/stable/main/binary-amd64/Packages.gz").await;
        assert_eq!(ok, StatusCode::OK);
        assert_eq!(listed_hash(&in_release, "main/binary-amd64/Packages.gz"), Digest::sha256_of(&gz).hex());
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&gz[..]), &mut text).unwrap();
        assert_eq!(listed_hash(&in_release, "main/binary-amd64/Packages"), Digest::sha256_of(&text).hex());
        assert_eq!(String::from_utf8_lossy(&text).matches("Package: pkg").count(), 6000);
        assert_eq!(status(&app, "/apt/t/dists/stable/main/binary-amd64/Packages").await, StatusCode::NOT_FOUND);
        assert_eq!(status(&app, "/apt/t/dists/stable/main/binary-amd64/Packages.xz").await, StatusCode::NOT_FOUND);
        let first = compressed(&apt);
        assert!(first > 2, "several chunks: {first}");
        let mut changed = deb_changes(3001);
        changed.apt.drain(..3000);
        changed.apt[0].1.stanza.push_str("X-Changed: yes\n");
        import(&store, changed);
        let (a, s) = (apt.clone(), store.clone());
        tokio::task::spawn_blocking(move || {
            a.suite(&s, "t", "stable").unwrap();
            a.rendered.settle(&key("stable"));
        })
        .await
        .unwrap();
        assert_eq!((renders(&apt), compressed(&apt) - first), (2, 1), "one render, one chunk compressed again");
        let (_, gz) = get(&app, "/apt/t/dists/stable/main/binary-amd64/Packages.gz").await;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(&gz[..]), &mut text).unwrap();
        assert!(text.contains("Package: pkg3000\n") && text.contains("X-Changed: yes\n"));
        assert_eq!(text.matches("Package: pkg").count(), 6000);
    }
}
