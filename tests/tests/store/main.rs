//! Test binary `store`. The store over time: `mirror rm`/`gc`/`verify`, the weekly transfer, pushes racing
//! gc, the reliability suite (kill -9, disk full, hostile HTTP, load) and the seed manifests.
//!
//! The end-to-end suites are grouped into a few binaries so that `cargo test -p e2e` links
//! seven executables rather than one per suite. Each module here is one suite, named as its
//! file was when it was a binary of its own: `cargo test -p e2e --test store MODULE::` runs one.
//! They drive the `bundler` and `mirror` that `cargo build --workspace --bins` built (`e2e::bin`).

mod audit;
mod concurrency;
mod gc;
mod metrics;
mod operate;
mod reliability;
mod seed_manifests;
mod web;
mod workflow;
