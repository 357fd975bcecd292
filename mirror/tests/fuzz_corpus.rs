//! Replays the kept `mirror_http` fuzz corpus through the in-process router: no input may
//! panic or get a 5xx.

use std::path::Path;

#[test]
fn http_corpus_replays_below_500() {
    let fuzz = mirror::fuzz::RouterFuzz::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/mirror_http");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fuzz.request(&bytes))).is_err() {
            panic!("{} panics or answers 5xx", p.display());
        }
        n += 1;
    }
    assert!(n >= 10, "corpus has {n} inputs");
}
