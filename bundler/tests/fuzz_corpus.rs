//! Replays the kept fuzz corpus (`fuzz/corpus/<target>/`) through the same entry points the
//! fuzz targets use, so every input a fuzzing run found interesting stays panic-free in CI.

use std::path::Path;

type Target = fn(&[u8]);

fn replay(target: &str, f: Target) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        if std::panic::catch_unwind(|| f(&bytes)).is_err() {
            panic!("{target}: {} panics", p.display());
        }
        n += 1;
    }
    assert!(n > 0, "{target}: empty corpus");
    n
}

#[test]
fn corpus_replays_without_panics() {
    use bundler::fuzz::*;
    let targets: &[(&str, Target)] = &[
        ("manifest", manifest),
        ("oci_manifest", oci_manifest),
        ("bundle", bundle),
        ("pypi_simple", pypi_simple),
        ("nltk_index", nltk_index),
        ("helm_index", helm_index),
        ("helm_archive", helm_archive),
        ("apt_release", apt_release),
        ("apt_packages", apt_packages),
    ];
    for (t, f) in targets {
        eprintln!("{t}: {} inputs", replay(t, *f));
    }
}

/// The seed bundle verifies against the key the target trusts: otherwise fuzzing never gets
/// past the signature check.
#[test]
fn seed_bundle_verifies_with_the_fuzz_key() {
    struct Count(usize);
    impl bundler::format::reader::Sink for Count {
        fn on_verified(&mut self, _: &bundler::format::bundle::BundleJson, _: &[u8], _: bundler::format::sign::KeyId) -> Result<(), bundler::format::reader::BundleError> {
            Ok(())
        }
        fn on_blob(&mut self, _: &bundler::format::bundle::BlobRef, data: &mut dyn std::io::Read) -> Result<(), bundler::format::reader::BundleError> {
            self.0 += 1;
            std::io::copy(data, &mut std::io::sink()).map(|_| ()).map_err(bundler::format::reader::BundleError::Io)
        }
    }
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/bundle/demo-image.bundle")).unwrap();
    let key = bundler::format::sign::PublicKey::parse(bundler::fuzz::SEED_KEY, "seed").unwrap();
    let mut sink = Count(0);
    bundler::format::reader::read_bundle(std::io::Cursor::new(bytes), &[key], &mut sink).expect("the seed bundle verifies");
    assert!(sink.0 >= 3, "blobs read: {}", sink.0);
}
