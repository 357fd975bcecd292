//! The bundler: reads manifests, resolves every artifact to exact digests, and packs signed,
//! content-addressed bundles. `format` is shared with the mirror.

pub mod cache;
pub mod cli;
pub mod commands;
pub mod ecosystems;
#[doc(hidden)]
pub mod fuzz;
pub use feas_format as format;
pub mod manifest;
pub mod plan;
/// Shared with the mirror: bars on a terminal, nothing otherwise.
pub use feas_format::progress;
pub mod reference;
pub mod sources;
pub use feas_format::term;
