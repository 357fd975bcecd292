//! Rendered simple pages, kept until the PyPI generation changes (a PyPI import or removal;
//! a blob push or another ecosystem's import keeps them). A project with 5,000
//! files costs ~10 ms of sled reads, JSON decoding and formatting per page (bench/serve.sh:
//! 68 req/s against nginx's 777 for the same bytes); a kept page costs a lookup. Per server,
//! in `AppState`.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;

/// Past this many bytes of pages the cache starts over, rather than keep every page of a
/// large index for the life of the server.
const MAX_BYTES: usize = 64 << 20;

/// (project, or "" for the root listing; JSON rather than HTML).
pub type Key = (String, bool);

#[derive(Default)]
struct Pages {
    generation: u64,
    bytes: usize,
    pages: HashMap<Key, Bytes>,
}

#[derive(Default)]
pub struct PageCache(Mutex<Pages>);

impl PageCache {
    pub fn get(&self, generation: u64, key: &Key) -> Option<Bytes> {
        let p = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if p.generation != generation {
            return None;
        }
        p.pages.get(key).cloned()
    }

    /// Keep `page`, rendered after reading `generation`. A render can only be newer than the
    /// generation it read (the generation is bumped in the same transaction as the records), so
    /// a page kept under an old generation is simply never served once the store moved on.
    pub fn put(&self, generation: u64, key: Key, page: Bytes) {
        let mut p = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if generation < p.generation {
            return;
        }
        if generation > p.generation || p.bytes + page.len() > MAX_BYTES {
            *p = Pages { generation, ..Pages::default() };
        }
        p.bytes += page.len();
        if let Some(old) = p.pages.insert(key, page) {
            p.bytes -= old.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_the_generation() {
        let (c, other) = (PageCache::default(), PageCache::default());
        let k = ("six".to_string(), false);
        c.put(3, k.clone(), Bytes::from_static(b"a3"));
        assert_eq!(c.get(3, &k).as_deref(), Some(&b"a3"[..]));
        assert_eq!(c.get(4, &k), None, "another generation is another store state");
        assert_eq!(other.get(3, &k), None, "another server's cache");
        c.put(2, k.clone(), Bytes::from_static(b"a2"));
        assert_eq!(c.get(3, &k).as_deref(), Some(&b"a3"[..]), "an older render does not replace a newer one");
        c.put(4, k.clone(), Bytes::from_static(b"a4"));
        assert_eq!(c.get(3, &k), None);
        assert_eq!(c.get(4, &k).as_deref(), Some(&b"a4"[..]));
    }
}
