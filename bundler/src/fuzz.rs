//! Entry points for the fuzz targets in `fuzz/` and the corpus replay test: each takes
//! arbitrary bytes and feeds them to a parser that reads upstream or bundle input. Errors are
//! the expected outcome; a panic, a hang or unbounded memory is the bug being looked for.

use std::io::Cursor;

use crate::format::reader::{read_bundle, Sink};

/// Manifest YAML (`bundler lock`'s input), through the whole validation.
pub fn manifest(bytes: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("m.yaml");
    if std::fs::write(&path, bytes).is_ok() {
        let _ = crate::manifest::Manifest::load(&[path]);
    }
}

/// An OCI/Docker manifest or index as a registry or bundle holds it.
pub fn oci_manifest(bytes: &[u8]) {
    if let Ok(m) = crate::format::oci::AnyManifest::parse(bytes) {
        let _ = m.effective_media_type(None);
    }
}

/// The fuzz seed key (fuzz/seed/): the seed bundle's signature verifies, so mutated layouts,
/// indexes and blobs get past the signature check.
pub const SEED_KEY: &str = "untrusted comment: minisign public key: 4784C102D557735E\nRWRec1fVAsGERz3oCFgto0i9tr6UsCmTjPGaLfqSrH2n1uhlzyY5tdfn\n";

/// A whole uncompressed bundle stream (tar with bundle.json, signature, layout, blobs): the
/// reader must refuse what is wrong without panicking or reading past its limits.
pub fn bundle(bytes: &[u8]) {
    struct Discard;
    impl Sink for Discard {
        fn on_verified(&mut self, _: &crate::format::bundle::BundleJson, _: &[u8], _: crate::format::sign::KeyId) -> Result<(), crate::format::reader::BundleError> {
            Ok(())
        }
        fn on_blob(&mut self, _: &crate::format::bundle::BlobRef, data: &mut dyn std::io::Read) -> Result<(), crate::format::reader::BundleError> {
            std::io::copy(data, &mut std::io::sink()).map(|_| ()).map_err(crate::format::reader::BundleError::Io)
        }
    }
    let key = crate::format::sign::PublicKey::parse(SEED_KEY, "fuzz seed key").expect("seed key parses");
    let _ = read_bundle(Cursor::new(bytes), &[key], &mut Discard);
}

/// A PEP 503 HTML or PEP 691 JSON simple page (the first byte picks which).
pub fn pypi_simple(bytes: &[u8]) {
    let Some((first, body)) = bytes.split_first() else { return };
    let ct = if first % 2 == 0 { "application/vnd.pypi.simple.v1+json" } else { "text/html" };
    let _ = crate::sources::pypi::index::parse_page(body, ct, "https://pypi.example/simple/p/");
}

/// NLTK's downloader index.xml.
pub fn nltk_index(bytes: &[u8]) {
    let _ = crate::sources::nltk::parse_index(&String::from_utf8_lossy(bytes));
}

pub use crate::sources::apt::fuzz::{packages as apt_packages, release as apt_release};
pub use crate::sources::helm::fuzz::{archive as helm_archive, index as helm_index};
