//! The apt suite `bench/stable` of a store from `apt_store`, rendered in this process: the first
//! `Packages.gz` (a full render), then after a one-package import the stale answer and the
//! background re-render, and this process's peak RSS. For bench/apt-index.sh.
//! Usage: cargo run --release -p mirror --example apt_render -- STORE

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use mirror::ecosystems::apt::DebKey;
use mirror::routes::AppState;
use mirror::store::{Changes, Store};
use tower::ServiceExt;

const PACKAGES: &str = "/apt/bench/dists/stable/main/binary-amd64/Packages.gz";
const IN_RELEASE: &str = "/apt/bench/dists/stable/InRelease";

async fn get(app: &axum::Router, path: &str) -> anyhow::Result<axum::body::Bytes> {
    let resp = app.clone().oneshot(axum::http::Request::get(path).body(Body::empty())?).await?;
    anyhow::ensure!(resp.status().is_success(), "{path}: {}", resp.status());
    Ok(axum::body::to_bytes(resp.into_body(), usize::MAX).await?)
}

fn peak_rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok()).unwrap_or(0) / 1024
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(dir) = std::env::args().nth(1) else { anyhow::bail!("usage: apt_render STORE") };
    let store = Arc::new(Store::open(std::path::Path::new(&dir))?);
    let app = mirror::routes::router(AppState { store: store.clone(), eco: Default::default(), uploads: Default::default(), origin: Default::default() });
    let t = Instant::now();
    let gz = get(&app, PACKAGES).await?;
    println!("first Packages.gz: {:.3} s, {} bytes; peak RSS {} MB", t.elapsed().as_secs_f64(), gz.len(), peak_rss_mb());
    let release = get(&app, IN_RELEASE).await?;

    // One package changed, as an import of its new record would.
    let mut first = None;
    store.apt_packages_each("bench", "stable", "main", "amd64", &mut |f, r| {
        if first.is_none() {
            first = Some((f.to_string(), r));
        }
    })?;
    let Some((filename, mut rec)) = first else { anyhow::bail!("{dir} holds no bench/stable suite: fill it with the apt_store example") };
    rec.stanza.push_str(&format!("X-Touched: {}\n", std::process::id()));
    let key = DebKey { id: "bench".into(), suite: "stable".into(), component: "main".into(), arch: "amd64".into(), filename };
    let mut changes = Changes::default();
    changes.eco.apt.push((key, rec));
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.commit(&changes)).await??;

    let t = Instant::now();
    get(&app, PACKAGES).await?;
    println!("Packages.gz after the import (the previous rendering): {:.4} s", t.elapsed().as_secs_f64());
    // The background render ends when InRelease changes (polled; bounded at 10 minutes).
    for _ in 0..60_000 {
        if get(&app, IN_RELEASE).await? != release {
            println!("re-render after a one-package import: {:.3} s", t.elapsed().as_secs_f64());
            println!("peak RSS: {} MB", peak_rss_mb());
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    anyhow::bail!("no new rendering within 10 minutes")
}
