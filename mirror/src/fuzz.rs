//! The fuzz target for the mirror's HTTP surface (and its corpus replay test): arbitrary
//! request lines and headers through the whole router, in-process, over an empty store.
//! Whatever comes in, the answer is a response below 500 — a panic or a 5xx is the bug.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request};
use tower::ServiceExt;

use crate::store::Store;

pub struct RouterFuzz {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    _dir: tempfile::TempDir,
}

impl RouterFuzz {
    pub fn new() -> RouterFuzz {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("store")).expect("empty store");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        RouterFuzz { rt, app: crate::serve::app(Arc::new(store)), _dir: dir }
    }

    /// Byte 0 picks the method; up to the first newline is the request target; the rest is
    /// `name: value` header lines.
    pub fn request(&self, bytes: &[u8]) {
        let Some((m, rest)) = bytes.split_first() else { return };
        let method = [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS][*m as usize % 7].clone();
        let text = String::from_utf8_lossy(rest);
        let (target, headers) = text.split_once('\n').unwrap_or((&text, ""));
        let mut req = Request::builder().method(method).uri(target);
        for line in headers.lines().take(32) {
            if let Some((k, v)) = line.split_once(':') {
                req = req.header(k.trim(), v.trim());
            }
        }
        let Ok(req) = req.body(Body::empty()) else { return };
        let uri = req.uri().clone();
        let status = self.rt.block_on(async {
            let resp = self.app.clone().oneshot(req).await.expect("infallible");
            let status = resp.status();
            // Drain the body too: errors while streaming count.
            let _ = axum::body::to_bytes(resp.into_body(), 1 << 20).await;
            status
        });
        assert!(status.as_u16() < 500, "{uri} answered {status}");
    }
}

impl Default for RouterFuzz {
    fn default() -> Self {
        Self::new()
    }
}
