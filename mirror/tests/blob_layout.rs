//! The blob directory fans out (`blobs/<alg>/<first two hex>/<hex>`) and still reads the flat
//! layout earlier releases wrote (`blobs/<alg>/<hex>`); gc and verify name the artifacts of
//! what they report exactly as before.

mod common;

use std::path::Path;

use common::*;
use feas_format::Digest;
use mirror::store::Store;

const REPO: &str = "docker.io/library/hello";

fn good_store(f: &Fixture) -> (Store, Image) {
    let img = image(REPO, "1", "a");
    Spec::new(10, &[&img]).write(&f.path("good.bundle"), &f.key);
    let store = f.open();
    f.import(&store, &f.path("good.bundle")).unwrap();
    (store, img)
}

/// Lay every blob file out as an earlier release did: straight under `blobs/<alg>/`.
fn flatten(store: &Path) {
    for alg in ["sha256", "sha512"] {
        let dir = store.join("blobs").join(alg);
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                for f in std::fs::read_dir(e.path()).unwrap().flatten() {
                    std::fs::rename(f.path(), dir.join(f.file_name())).unwrap();
                }
                std::fs::remove_dir(e.path()).unwrap();
            }
        }
    }
}

fn fanned(store: &Path, d: &Digest) -> std::path::PathBuf {
    store.join("blobs").join(d.algorithm().as_str()).join(&d.hex()[..2]).join(d.hex())
}
fn flat(store: &Path, d: &Digest) -> std::path::PathBuf {
    store.join("blobs").join(d.algorithm().as_str()).join(d.hex())
}

#[test]
fn an_import_fans_blobs_out() {
    let f = Fixture::new();
    let (store, img) = good_store(&f);
    for (d, bytes) in &img.blobs.0 {
        assert_eq!(&std::fs::read(fanned(&f.store_dir(), d)).unwrap(), bytes, "{d} lands in its fan directory");
        assert!(!flat(&f.store_dir(), d).exists());
    }
    assert!(mirror::commands::verify::verify(&store).unwrap().ok());
}

#[test]
fn an_earlier_releases_flat_blobs_are_served_verified_quarantined_and_collected() {
    let f = Fixture::new();
    let (store, img) = good_store(&f);
    drop(store);
    flatten(&f.store_dir());
    let store = f.open();
    for (d, bytes) in &img.blobs.0 {
        assert!(flat(&f.store_dir(), d).is_file());
        assert!(store.blobs.exists(d) && store.blobs.size(d) == Some(bytes.len() as u64), "{d}");
        assert_eq!(&std::fs::read(store.blobs.path(d)).unwrap(), bytes, "{d} served from the flat layout");
        assert!(store.blobs.open(d).unwrap().is_some());
    }
    // Read-only commands leave the old layout as it is.
    let before = snapshot(&f.store_dir());
    let r = mirror::commands::verify::verify(&store).unwrap();
    assert!(r.ok() && r.stray.is_empty() && r.checked == img.blobs.0.len(), "{r:?}");
    let gc = mirror::gc::gc(&store, true, 0, &Default::default(), &feas_format::progress::Progress::hidden()).unwrap();
    assert!(gc.removed.is_empty() && gc.kept == img.blobs.0.len(), "{gc:?}");
    assert_eq!(before, snapshot(&f.store_dir()), "verify and gc --dry-run changed the store");

    // A damaged flat blob is found, named and moved aside.
    let victim = img.own_layers["amd64"].clone();
    std::fs::write(flat(&f.store_dir(), &victim), b"rot").unwrap();
    let r = mirror::commands::verify::verify(&store).unwrap();
    assert_eq!(r.damaged.len(), 1, "{r:?}");
    assert!(r.damaged[0].starts_with(&victim.to_string()) && r.damaged[0].contains(&flat(&f.store_dir(), &victim).display().to_string()), "{:?}", r.damaged);
    let _lock = mirror::store::ImportLock::acquire(&store.paths).unwrap();
    let q = mirror::gc::quarantine(&store, std::slice::from_ref(&victim), &Default::default()).unwrap();
    drop(_lock);
    let (index, amd64) = (&img.top.digest, &img.manifests["amd64"]);
    assert_eq!(q[0].artifacts, vec![format!("{REPO}:1"), format!("{REPO}@{amd64}"), format!("{REPO}@{index}")]);
    assert!(!flat(&f.store_dir(), &victim).exists() && store.paths.quarantined(&victim).is_file());

    // `rm` then gc deletes the flat files.
    mirror::remove::remove(&store, &[format!("{REPO}:1")], false, &Default::default()).unwrap();
    let gc = mirror::gc::gc(&store, false, 0, &Default::default(), &feas_format::progress::Progress::hidden()).unwrap();
    assert_eq!(gc.removed.len(), img.blobs.0.len() - 1, "all but the quarantined one: {gc:?}");
    for d in img.blobs.0.keys() {
        assert!(!flat(&f.store_dir(), d).exists() && !fanned(&f.store_dir(), d).exists(), "{d} collected");
    }
}

/// What verify finds missing and the manifests gc cannot read are named with the artifacts
/// that reference them; stray files are reported.
#[test]
fn verify_and_gc_name_artifacts_as_before() {
    let f = Fixture::new();
    let (store, img) = good_store(&f);
    let (index, amd64) = (&img.top.digest, &img.manifests["amd64"]);
    let victim = img.own_layers["amd64"].clone();
    std::fs::remove_file(store.blobs.path(&victim)).unwrap();
    let r = mirror::commands::verify::verify(&store).unwrap();
    assert_eq!(r.missing, vec![format!("{victim} (referenced by {REPO}:1, {REPO}@{amd64}, {REPO}@{index})")]);
    // A missing manifest: gc refuses, naming it and who names it.
    std::fs::remove_file(store.blobs.path(index)).unwrap();
    let err = mirror::gc::gc(&store, true, 0, &Default::default(), &feas_format::progress::Progress::hidden()).unwrap_err().to_string();
    assert!(err.contains(&format!("{index} ({REPO}:1, {REPO}@{index})")), "{err}");
    // A stray file is reported, not taken for a blob.
    let stray = f.store_dir().join("blobs/sha256/notablob");
    std::fs::write(&stray, b"x").unwrap();
    let r = mirror::commands::verify::verify(&store).unwrap();
    assert_eq!(r.stray, vec![stray.display().to_string()]);
}
