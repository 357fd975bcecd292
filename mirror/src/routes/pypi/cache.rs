//! Rendered simple pages, kept per store until its generation changes. A project with 5,000
//! files costs ~10 ms of sled reads, JSON decoding and formatting per page (bench/serve.sh:
//! 68 req/s against nginx's 777 for the same bytes); a kept page costs a lookup.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use axum::body::Bytes;

use crate::store::Store;

/// Past this many bytes of pages for one store the cache starts over, rather than keep every
/// page of a large index for the life of the server.
const MAX_BYTES: usize = 64 << 20;

/// (project, or "" for the root listing; JSON rather than HTML).
pub type Key = (String, bool);

struct Pages {
    /// The store these were rendered from. A `Weak` keeps its allocation, so no later store can
    /// take the same address while this entry lives.
    store: Weak<Store>,
    generation: u64,
    bytes: usize,
    pages: HashMap<Key, Bytes>,
}

/// Process-wide because `AppState` is built outside the routes; one entry per live store, so
/// tests that mount many stores in one process never see each other's pages.
static PAGES: Mutex<Vec<Pages>> = Mutex::new(Vec::new());

fn same(p: &Pages, store: &Arc<Store>) -> bool {
    std::ptr::eq(p.store.as_ptr(), Arc::as_ptr(store))
}

pub fn get(store: &Arc<Store>, generation: u64, key: &Key) -> Option<Bytes> {
    let all = PAGES.lock().unwrap_or_else(|e| e.into_inner());
    let p = all.iter().find(|p| same(p, store))?;
    if p.generation != generation {
        return None;
    }
    p.pages.get(key).cloned()
}

/// Keep `page`, rendered after reading `generation`. A render can only be newer than the
/// generation it read (the generation is bumped in the same transaction as the records), so a
/// page kept under an old generation is simply never served once the store moved on.
pub fn put(store: &Arc<Store>, generation: u64, key: Key, page: Bytes) {
    let mut all = PAGES.lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|p| p.store.strong_count() > 0);
    let i = match all.iter().position(|p| same(p, store)) {
        Some(i) => i,
        None => {
            all.push(Pages { store: Arc::downgrade(store), generation, bytes: 0, pages: HashMap::new() });
            all.len() - 1
        }
    };
    let p = &mut all[i];
    if generation < p.generation {
        return;
    }
    if generation > p.generation || p.bytes + page.len() > MAX_BYTES {
        p.generation = generation;
        p.pages.clear();
        p.bytes = 0;
    }
    p.bytes += page.len();
    if let Some(old) = p.pages.insert(key, page) {
        p.bytes -= old.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_the_generation_and_the_store() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let sa = Arc::new(Store::open(a.path()).unwrap());
        let sb = Arc::new(Store::open(b.path()).unwrap());
        let k = ("six".to_string(), false);
        put(&sa, 3, k.clone(), Bytes::from_static(b"a3"));
        assert_eq!(get(&sa, 3, &k).as_deref(), Some(&b"a3"[..]));
        assert_eq!(get(&sa, 4, &k), None, "another generation is another store state");
        assert_eq!(get(&sb, 3, &k), None, "another store");
        put(&sa, 2, k.clone(), Bytes::from_static(b"a2"));
        assert_eq!(get(&sa, 3, &k).as_deref(), Some(&b"a3"[..]), "an older render does not replace a newer one");
        put(&sa, 4, k.clone(), Bytes::from_static(b"a4"));
        assert_eq!(get(&sa, 3, &k), None);
        assert_eq!(get(&sa, 4, &k).as_deref(), Some(&b"a4"[..]));
        // Holding a Weak keeps the address unique, so no other test's store can match it.
        let wa = Arc::downgrade(&sa);
        drop(sa);
        put(&sb, 1, k.clone(), Bytes::from_static(b"b1"));
        assert!(!PAGES.lock().unwrap().iter().any(|p| p.store.ptr_eq(&wa)), "a dropped store's pages go");
        assert_eq!(get(&sb, 1, &k).as_deref(), Some(&b"b1"[..]));
    }
}
