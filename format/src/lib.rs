//! The bundle format, shared by the bundler (writes it) and the mirror (reads it).

pub mod bundle;
pub mod deb;
pub mod digest;
pub mod hash;
pub mod helm;
pub mod hf;
pub mod kind;
pub mod lock;
pub mod names;
pub mod nltk;
pub mod oci;
pub mod progress;
pub mod pypi;
pub mod reader;
pub mod sbom;
pub mod sign;
pub mod split;
pub mod term;
pub mod writer;

pub use digest::{Algorithm, Digest};
pub use hash::{HashReader, HashWriter, Hasher};
pub use kind::Kind;
