#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bundler::fuzz::apt_packages(data));
