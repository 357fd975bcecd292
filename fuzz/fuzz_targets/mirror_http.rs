#![no_main]
use std::sync::OnceLock;

static FUZZ: OnceLock<mirror::fuzz::RouterFuzz> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| FUZZ.get_or_init(mirror::fuzz::RouterFuzz::new).request(data));
