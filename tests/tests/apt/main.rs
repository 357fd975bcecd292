//! Test binary `apt`. Debian packages: signed stand-in archives, flat repositories, a real apt-get.
//!
//! The end-to-end suites are grouped into a few binaries so that `cargo test -p e2e` links
//! seven executables rather than one per suite. Each module here is one suite, named as its
//! file was when it was a binary of its own: `cargo test -p e2e --test apt MODULE::` runs one.
//! They drive the `bundler` and `mirror` that `cargo build --workspace --bins` built (`e2e::bin`).

mod apt;
mod apt_flat;
