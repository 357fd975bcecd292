//! Test binary `pypi`. Python packages: a stand-in PEP 503/691 index read by real pip and uv, and the packse
//! resolver scenarios.
//!
//! The end-to-end suites are grouped into a few binaries so that `cargo test -p e2e` links
//! seven executables rather than one per suite. Each module here is one suite, named as its
//! file was when it was a binary of its own: `cargo test -p e2e --test pypi MODULE::` runs one.
//! They drive the `bundler` and `mirror` that `cargo build --workspace --bins` built (`e2e::bin`).

mod packse;
mod pypi;
