//! Test binary `optin`. The opt-in suites, against the real upstreams (deb.debian.org,
//! archive.ubuntu.com, pypi.org): every test is `#[ignore]`d, so none runs in CI or in a plain
//! `cargo test`. All of them, or one suite:
//!
//! ```text
//! cargo build --workspace --bins && cargo test -p e2e --test optin -- --ignored
//! cargo build --workspace --bins && cargo test -p e2e --test optin -- --ignored apt_ubuntu::
//! ```
//!
//! The end-to-end suites are grouped into a few binaries so that `cargo test -p e2e` links
//! seven executables rather than one per suite. Each module here is one suite, named as its
//! file was when it was a binary of its own: `cargo test -p e2e --test optin MODULE::` runs one.
//! They drive the `bundler` and `mirror` that `cargo build --workspace --bins` built (`e2e::bin`).

mod apt_debian;
mod apt_ubuntu;
mod pypi_matrix;
mod pypi_pypi_org;
