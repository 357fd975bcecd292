//! The HTTP server: one listener for every protocol, the control socket beside it, graceful
//! shutdown on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::connect_info::Connected;
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::serve::IncomingStream;
use axum::Router;

use crate::control;
use crate::routes::origin::Origin;
use crate::routes::{self, AppState};
use crate::store::Store;

/// The full application, as tests mount it in-process.
pub fn app(store: Arc<Store>) -> Router {
    app_with(store, None, Default::default(), Origin::default())
}

/// With `--htpasswd`: every read needs credentials (or a token from `/token`); with
/// `--push-htpasswd`: OCI writes need a writer's.
pub fn app_with(store: Arc<Store>, auth: Option<Arc<crate::auth::Auth>>, uploads: Arc<routes::oci::push::Uploads>, origin: Origin) -> Router {
    let r = routes::router(AppState { store, eco: Default::default(), uploads, origin: Arc::new(origin) });
    let r = match auth {
        Some(a) => r.layer(middleware::from_fn_with_state(a, crate::auth::require)),
        None => r,
    };
    // Outermost, so that refusals by auth are counted too.
    r.layer(middleware::from_fn(log_request)).layer(middleware::from_fn(sandbox)).layer(middleware::from_fn(crate::metrics::track))
}

/// Sent with every response: the mirror serves bytes anyone could push or bundle (a file, a
/// wheel, a manifest) from one origin, so browsers must neither guess a type we did not send
/// nor run anything a response holds. Only the mirror's own web pages say otherwise (their one
/// stylesheet, by hash, and their search form: `routes::ui::CSP`); nothing else sets one.
const CSP: &str = "default-src 'none'; sandbox; frame-ancestors 'none'";

async fn sandbox(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(CSP));
    resp
}

/// One debug line per request: enough to see what a client asked for without a trace stack.
async fn log_request(req: Request, next: Next) -> Response {
    let (method, uri, start) = (req.method().clone(), req.uri().clone(), Instant::now());
    let resp = next.run(req).await;
    tracing::debug!("{method} {uri} {} {}ms", resp.status().as_u16(), start.elapsed().as_millis());
    resp
}

/// The client's address (`ConnectInfo<Peer>` in a request's extensions), over TCP or our TLS:
/// the failed-login limit counts per address as well as per user name.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for Peer {
    fn connect_info(s: IncomingStream<'_, tokio::net::TcpListener>) -> Peer {
        Peer(*s.remote_addr())
    }
}

impl Connected<IncomingStream<'_, crate::tls::TlsListener>> for Peer {
    fn connect_info(s: IncomingStream<'_, crate::tls::TlsListener>) -> Peer {
        Peer(*s.remote_addr())
    }
}

/// Serve until SIGTERM or SIGINT; in-flight requests finish, then the socket is removed.
/// `trust_files` (`--trust-file`) apply to every import handed to this server; `origin` is where clients reach it.
pub async fn run(
    store: Store,
    listener: tokio::net::TcpListener,
    tls: Option<rustls::ServerConfig>,
    auth: Option<Arc<crate::auth::Auth>>,
    uploads: routes::oci::push::Uploads,
    trust_files: Vec<std::path::PathBuf>,
    origin: Origin,
) -> anyhow::Result<()> {
    let uploads = Arc::new(uploads);
    let store = Arc::new(store);
    // A store written before the ecosystems kept summaries gets them once, here, so the routes
    // read summaries instead of scanning records (they scan, slower but right, until then).
    let s = store.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || s.upgrade()).await? {
        tracing::warn!("building the store's summaries: {e}; suite and project lists scan the records meanwhile");
    }
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let running = Arc::new(crate::commands::status::Running {
        url: format!("{scheme}://{addr}"),
        pid: std::process::id(),
        since: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        version: env!("CARGO_PKG_VERSION").to_string(),
        pushes: uploads.enabled,
    });
    // Without the socket the mirror still serves; only imports must wait for a stop.
    let admin = match control::bind(&store.paths) {
        Ok(sock) => Some(tokio::spawn(control::accept(sock, store.clone(), Arc::new(trust_files), running))),
        Err(e) => {
            tracing::warn!("{e}; `mirror import` will not reach this server (stop it to import)");
            None
        }
    };
    // Abandoned uploads are swept hourly, not only when the next upload starts.
    let sweeper = uploads.enabled.then(|| {
        let (store, uploads) = (store.clone(), uploads.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(routes::oci::push::UPLOAD_SWEEP);
            loop {
                every.tick().await;
                let (store, uploads) = (store.clone(), uploads.clone());
                let _ = tokio::task::spawn_blocking(move || routes::oci::push::expire_sessions(&store.paths, &uploads)).await;
            }
        })
    });
    let mode = if uploads.enabled { "OCI pushes accepted from --push-htpasswd users" } else { "read-only" };
    tracing::info!("mirror serving {} on {scheme}://{addr} ({mode}; imports through {})", store.paths.root().display(), store.paths.socket().display());
    let app = app_with(store.clone(), auth, uploads, origin);
    let served = match tls {
        Some(cfg) => axum::serve(crate::tls::TlsListener::new(listener, cfg)?, app.into_make_service_with_connect_info::<Peer>()).with_graceful_shutdown(shutdown_signal()).await,
        None => axum::serve(listener, app.into_make_service_with_connect_info::<Peer>()).with_graceful_shutdown(shutdown_signal()).await,
    };
    for task in admin.into_iter().chain(sweeper) {
        task.abort();
        let _ = task.await;
    }
    let _ = std::fs::remove_file(store.paths.socket());
    served?;
    tracing::info!("mirror stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
    }
}
