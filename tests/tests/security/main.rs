//! Test binary `security`. Who may read and who may publish: read authentication, TLS, signing keys and
//! trust files.
//!
//! The end-to-end suites are grouped into a few binaries so that `cargo test -p e2e` links
//! seven executables rather than one per suite. Each module here is one suite, named as its
//! file was when it was a binary of its own: `cargo test -p e2e --test security MODULE::` runs one.
//! They drive the `bundler` and `mirror` that `cargo build --workspace --bins` built (`e2e::bin`).

mod auth;
mod configs;
mod signing;
mod tls;
mod trust;
