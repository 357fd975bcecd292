//! The bundler: reads manifests, resolves every artifact to exact digests, and packs signed,
//! content-addressed bundles. `format` is shared with the mirror.

pub mod format;
