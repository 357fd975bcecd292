//! Test binary `oci`. Container images and OCI artifacts: the harness checked on its own, images through
//! the gap, the mirror as a writable registry, `mirror push`, pinned digests, models as OCI
//! artifacts, registry client configs and the mirror's own image.
//!
//! The end-to-end suites are grouped into a few binaries so that `cargo test -p e2e` links
//! seven executables rather than one per suite. Each module here is one suite, named as its
//! file was when it was a binary of its own: `cargo test -p e2e --test oci MODULE::` runs one.
//! They drive the `bundler` and `mirror` that `cargo build --workspace --bins` built (`e2e::bin`).

mod client_config;
mod harness;
mod images;
mod mirror_image;
mod models_oci;
mod pinned;
mod push;
mod registry;
