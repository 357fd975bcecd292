//! Test binary `charts_models`. Helm charts (the mirror's own chart too), Hugging Face models, NLTK data
//! and raw files.
//!
//! The end-to-end suites are grouped into a few binaries so that `cargo test -p e2e` links
//! seven executables rather than one per suite. Each module here is one suite, named as its
//! file was when it was a binary of its own: `cargo test -p e2e --test charts_models MODULE::` runs one.
//! They drive the `bundler` and `mirror` that `cargo build --workspace --bins` built (`e2e::bin`).

mod chart;
mod files;
mod helm;
mod helm_constraints;
mod hf;
mod nltk;
