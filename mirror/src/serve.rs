//! `mirror serve`: one HTTP listener for every protocol, plus a unix socket in the store
//! through which `mirror import` hands bundles to the running server (sled allows one process
//! per database, and the server must pick up new content without a restart).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::import::{self, ImportOptions, ImportSummary};
use crate::routes::{self, AppState};
use crate::store::Store;

/// One request on the store socket, one JSON line each way.
#[derive(Debug, Serialize, Deserialize)]
pub struct ImportRequest {
    pub file: PathBuf,
    pub trust: Vec<PathBuf>,
    pub allow_downgrade: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum ImportReply {
    Ok(serde_json::Value),
    Err(String),
}

pub async fn serve(store: Store, listen: SocketAddr) -> anyhow::Result<()> {
    let store = Arc::new(store);
    let socket = store.paths.socket();
    let _ = std::fs::remove_file(&socket);
    let unix = tokio::net::UnixListener::bind(&socket)?;
    let admin = tokio::spawn(accept_imports(unix, store.clone()));

    let app = routes::router(AppState { store: store.clone() }).layer(tower_http::trace::TraceLayer::new_for_http());
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    tracing::info!("serving {} on http://{}", store.paths.root().display(), listener.local_addr()?);
    eprintln!("mirror serving {} on http://{}", store.paths.root().display(), listener.local_addr()?);
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    admin.abort();
    let _ = std::fs::remove_file(&socket);
    eprintln!("mirror stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

async fn accept_imports(listener: tokio::net::UnixListener, store: Arc<Store>) {
    loop {
        let Ok((conn, _)) = listener.accept().await else { continue };
        let store = store.clone();
        tokio::spawn(async move {
            let (rd, mut wr) = conn.into_split();
            let mut line = String::new();
            if BufReader::new(rd).read_line(&mut line).await.is_err() {
                return;
            }
            let reply = match serde_json::from_str::<ImportRequest>(&line) {
                Err(e) => ImportReply::Err(format!("bad request: {e}")),
                Ok(req) => tokio::task::spawn_blocking(move || run_import(&store, &req))
                    .await
                    .unwrap_or_else(|e| ImportReply::Err(format!("import task failed: {e}"))),
            };
            let mut out = serde_json::to_vec(&reply).unwrap_or_default();
            out.push(b'\n');
            let _ = wr.write_all(&out).await;
        });
    }
}

fn run_import(store: &Store, req: &ImportRequest) -> ImportReply {
    let trust = match req.trust.iter().map(|p| bundler::format::sign::PublicKey::load(p)).collect::<Result<Vec<_>, _>>() {
        Ok(t) => t,
        Err(e) => return ImportReply::Err(e.to_string()),
    };
    let opts = ImportOptions { trust, allow_downgrade: req.allow_downgrade };
    match import::import(store, &req.file, &opts, false) {
        Ok(s) => {
            tracing::info!("imported {} sequence {} ({} blobs added)", s.name, s.sequence, s.blobs_added);
            ImportReply::Ok(serde_json::to_value(s).unwrap_or_default())
        }
        Err(e) => ImportReply::Err(e.to_string()),
    }
}

/// Ask a running server to import; `None` when no server listens on this store.
pub fn import_via_server(store_dir: &std::path::Path, req: &ImportRequest) -> Option<Result<ImportSummary, String>> {
    use std::io::{BufRead, Write};
    let socket = crate::store::Paths::new(store_dir).socket();
    let mut conn = std::os::unix::net::UnixStream::connect(&socket).ok()?;
    let mut line = serde_json::to_vec(req).ok()?;
    line.push(b'\n');
    if let Err(e) = conn.write_all(&line) {
        return Some(Err(format!("talking to the running mirror at {}: {e}", socket.display())));
    }
    let mut reply = String::new();
    if let Err(e) = std::io::BufReader::new(conn).read_line(&mut reply) {
        return Some(Err(format!("talking to the running mirror at {}: {e}", socket.display())));
    }
    Some(match serde_json::from_str::<ImportReply>(&reply) {
        Ok(ImportReply::Ok(v)) => serde_json::from_value(v).map_err(|e| e.to_string()),
        Ok(ImportReply::Err(e)) => Err(e),
        Err(e) => Err(format!("the running mirror answered {reply:?}: {e}")),
    })
}
