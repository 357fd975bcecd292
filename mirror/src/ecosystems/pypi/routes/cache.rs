//! Rendered simple pages, each kept until its own records change: a project's page until that
//! project's generation moves (an import or removal of one of its files), the root listing
//! until the PyPI generation moves; a blob push, another ecosystem's import or another
//! project's leaves them. A project with 5,000 files costs ~10 ms of sled reads, JSON decoding
//! and formatting per page (bench/serve.sh: 68 req/s against nginx's 777 for the same bytes);
//! a kept page costs a lookup. A page whose project moved is served as it was while one
//! background thread renders it again (`Renders`). Per server, in `AppState`.

use std::sync::atomic::AtomicU64;

use axum::body::Bytes;

use crate::routes::renders::Renders;

/// Past this many bytes of pages the cache starts over, rather than keep every page of a
/// large index for the life of the server.
const MAX_BYTES: usize = 64 << 20;

/// (project, or "" for the root listing; JSON rather than HTML).
pub type Key = (String, bool);

pub struct PageCache {
    pub(super) pages: Renders<Key, Bytes>,
    /// Pages rendered, for the tests that count them.
    pub(super) renders: AtomicU64,
}

impl Default for PageCache {
    fn default() -> Self {
        PageCache { pages: Renders::new("pypi", 0, MAX_BYTES, |b| b.len()), renders: AtomicU64::new(0) }
    }
}
