//! Import: good bundles land whole; every refusal names the problem and leaves the store
//! byte-for-byte unchanged (every file under STORE hashed before and after).

mod common;

use std::io::Write;
use std::path::Path;

use common::*;
use feas_format::writer::Compression;
use mirror::import::ImportOptions;
use mirror::store::Store;

const REPO: &str = "docker.io/library/hello";

/// A store holding `hello:1` from bundle `t` sequence 10.
fn good_store(f: &Fixture) -> (Store, Image) {
    let img = image(REPO, "1", "a");
    Spec::new(10, &[&img]).write(&f.path("good.bundle"), &f.key);
    let store = f.open();
    let s = f.import(&store, &f.path("good.bundle")).unwrap();
    assert_eq!(s.blobs_added, 8, "index + 2 manifests + 2 configs + shared + 2 own layers, shared once");
    assert!(!s.already_imported);
    assert_eq!(s.generation, 1);
    (store, img)
}

fn refused(f: &Fixture, store: &Store, bundle: &Path, opts: &ImportOptions, needle: &str) -> String {
    let before = snapshot(&f.store_dir());
    let err = mirror::import::import(store, bundle, opts).unwrap_err().to_string();
    assert!(err.contains(needle), "error {err:?} should mention {needle:?}");
    assert_eq!(before, snapshot(&f.store_dir()), "store changed after a refused import: {err}");
    assert_eq!(std::fs::read_dir(f.store_dir().join("tmp")).unwrap().count(), 0, "staging left behind");
    err
}

#[test]
fn good_import_lands_whole_and_reimport_is_noop() {
    let f = Fixture::new();
    let (store, img) = good_store(&f);
    assert_eq!(store.tag(REPO, "1").unwrap(), Some(img.top.digest.clone()));
    for d in img.manifests.values().chain([&img.top.digest]) {
        assert!(store.manifest(REPO, d).unwrap().is_some(), "{d}");
    }
    for (d, bytes) in &img.blobs.0 {
        assert_eq!(&std::fs::read(store.blobs.path(d)).unwrap(), bytes);
    }
    let before = snapshot(&f.store_dir());
    let again = f.import(&store, &f.path("good.bundle")).unwrap();
    assert!(again.already_imported);
    assert_eq!((again.name.as_str(), again.sequence, again.generation), ("t", 10, 1));
    assert_eq!(before, snapshot(&f.store_dir()), "a re-import must not write");
    // Reopening keeps everything (metadata was flushed).
    drop(store);
    let store = f.open();
    assert_eq!(store.tag(REPO, "1").unwrap(), Some(img.top.digest));
    assert_eq!(store.generation().unwrap(), 1);
}

#[test]
fn uncompressed_bundles_and_shared_blobs_across_bundles() {
    let f = Fixture::new();
    let (store, img) = good_store(&f);
    // Same image under a new tag in a plain tar: nothing new to write but the metadata.
    let mut spec = Spec::new(11, &[&image(REPO, "2", "a")]);
    spec.compression = Compression::None;
    spec.write(&f.path("plain.bundle"), &f.key);
    let s = f.import(&store, &f.path("plain.bundle")).unwrap();
    assert_eq!((s.blobs_added, s.blobs_present), (0, 8));
    assert_eq!(store.tags(REPO).unwrap(), vec!["1", "2"]);
    assert_eq!(store.tag(REPO, "2").unwrap(), Some(img.top.digest));
}

#[test]
fn flipped_layer_byte_is_refused_new_or_already_held() {
    let f = Fixture::new();
    let flip = |_: &feas_format::Digest, b: &mut Vec<u8>| {
        if b.starts_with(b"layer for arm64") {
            b[0] ^= 1;
        }
    };
    // Into an empty store...
    let fresh = f.open();
    let img = image(REPO, "1", "a");
    Spec::new(1, &[&img]).write_with(&f.path("bad1.bundle"), &f.key, |_| {}, flip);
    refused(&f, &fresh, &f.path("bad1.bundle"), &f.opts(), "damaged");
    drop(fresh);
    // ...and where the blob is already held (still hashed, never trusted).
    let (store, _) = good_store(&f);
    Spec::new(11, &[&image(REPO, "2", "a")]).write_with(&f.path("bad2.bundle"), &f.key, |_| {}, flip);
    let err = refused(&f, &store, &f.path("bad2.bundle"), &f.opts(), "damaged");
    assert!(err.contains(img.own_layers["arm64"].hex()), "names the blob: {err}");
}

#[test]
fn edited_bundle_json_and_untrusted_key_are_refused() {
    let f = Fixture::new();
    let (store, _) = good_store(&f);
    let spec = Spec::new(20, &[&image(REPO, "2", "b")]);
    spec.write_with(&f.path("edited.bundle"), &f.key, |b| b.generator = "evil".into(), |_, _| {});
    refused(&f, &store, &f.path("edited.bundle"), &f.opts(), "does not match bundle.json");
    let other = Fixture::new();
    spec.write(&f.path("foreign.bundle"), &other.key);
    let err = refused(&f, &store, &f.path("foreign.bundle"), &f.opts(), "not among the trusted keys");
    assert!(err.contains("--trust"), "says what to do: {err}");
}

#[test]
fn sequence_rules() {
    let f = Fixture::new();
    let (store, _) = good_store(&f);
    let old = image(REPO, "old", "c");
    Spec::new(5, &[&old]).write(&f.path("old.bundle"), &f.key);
    refused(&f, &store, &f.path("old.bundle"), &f.opts(), "--allow-downgrade");
    Spec::new(10, &[&old]).write(&f.path("same-seq.bundle"), &f.key);
    refused(&f, &store, &f.path("same-seq.bundle"), &f.opts(), "different content");
    let allow = ImportOptions { allow_downgrade: true, ..f.opts() };
    refused(&f, &store, &f.path("same-seq.bundle"), &allow, "different content");
    let s = mirror::import::import(&store, &f.path("old.bundle"), &allow).unwrap();
    assert_eq!(s.generation, 2);
    assert_eq!(store.tag(REPO, "old").unwrap(), Some(old.top.digest));
    // Another name has its own sequence line.
    let mut other = Spec::new(1, &[&image("docker.io/library/other", "1", "d")]);
    other.name = "other".into();
    other.write(&f.path("other.bundle"), &f.key);
    f.import(&store, &f.path("other.bundle")).unwrap();
    let inv = mirror::inventory::inventory(&store).unwrap();
    assert_eq!(inv.sequences.get("t"), Some(&5));
    assert_eq!(inv.sequences.get("other"), Some(&1));
    assert_eq!(inv.generation, 3);
}

#[test]
fn expired_bundle_is_refused() {
    let f = Fixture::new();
    let (store, _) = good_store(&f);
    let mut spec = Spec::new(30, &[&image(REPO, "2", "e")]);
    spec.expires = Some("2001-01-01T00:00:00Z".into());
    spec.write(&f.path("expired.bundle"), &f.key);
    refused(&f, &store, &f.path("expired.bundle"), &f.opts(), "expired");
}

/// A kind from a newer bundler is refused by name, not taken for an image.
#[test]
fn unknown_kind_needs_a_newer_mirror() {
    let f = Fixture::new();
    let (store, _) = good_store(&f);
    let mut conda = image(REPO, "conda", "c");
    conda.top.annotations.insert(feas_format::bundle::annotations::KIND.into(), "conda".into());
    Spec::new(20, &[&image(REPO, "2", "b"), &conda]).write(&f.path("newer.bundle"), &f.key);
    let err = refused(&f, &store, &f.path("newer.bundle"), &f.opts(), "needs a newer mirror");
    assert!(err.contains("\"conda\"") && err.contains(&conda.top.digest.to_string()), "{err}");
}

#[test]
fn deltas_need_their_assumed_blobs() {
    let f = Fixture::new();
    let (store, img) = good_store(&f);
    // A delta over what the store has imports fine...
    let next = image(REPO, "2", "a");
    Spec::new(11, &[&next]).assume(&img.shared_layer).write(&f.path("delta.bundle"), &f.key);
    f.import(&store, &f.path("delta.bundle")).unwrap();
    // ...one assuming a blob this store never saw is refused, naming it.
    let fresh = Fixture::new();
    let fresh_store = fresh.open();
    let other = image("docker.io/library/other", "1", "z");
    Spec::new(1, &[&other]).assume(&other.shared_layer).write(&fresh.path("delta.bundle"), &fresh.key);
    let err = refused(&fresh, &fresh_store, &fresh.path("delta.bundle"), &fresh.opts(), "neither carried nor in this store");
    assert!(err.contains(&other.shared_layer.to_string()), "{err}");
}

#[test]
fn graph_holes_are_refused_naming_every_missing_blob() {
    let f = Fixture::new();
    let store = f.open();
    let img = image(REPO, "1", "h");
    // Drop two layers from the bundle without declaring them assumed: bundle.json is honest
    // about what it carries, but the graph points at blobs nobody has.
    let mut spec = Spec::new(1, &[&img]);
    spec.blobs.0.remove(&img.own_layers["amd64"]);
    spec.blobs.0.remove(&img.manifests["arm64"]);
    spec.write(&f.path("holes.bundle"), &f.key);
    let err = refused(&f, &store, &f.path("holes.bundle"), &f.opts(), "neither carried nor in this store");
    assert!(err.contains(&img.own_layers["amd64"].to_string()) && err.contains(&img.manifests["arm64"].to_string()), "{err}");
}

#[test]
fn unlisted_blob_is_refused() {
    let f = Fixture::new();
    let (store, _) = good_store(&f);
    let img = image(REPO, "2", "u");
    let spec = Spec::new(40, &[&img]);
    // Sign a bundle.json that does not list one blob, then carry it anyway.
    let mut listed = spec.clone();
    let (extra, bytes) = listed.blobs.0.pop_last().unwrap();
    let b = listed.bundle_json();
    let sig = f.key.sign(&b.to_bytes(), &b.trusted_comment());
    let mut w = feas_format::writer::BundleWriter::new(std::fs::File::create(f.path("unlisted.bundle")).unwrap(), Compression::Zstd, 0).unwrap();
    w.write_head(&b, &sig, &spec.index()).unwrap();
    for (d, data) in listed.blobs.0.iter().chain([(&extra, &bytes)]) {
        w.write_blob(d, data.len() as u64, &data[..]).unwrap();
    }
    w.finish().unwrap();
    let err = refused(&f, &store, &f.path("unlisted.bundle"), &f.opts(), "not listed");
    assert!(err.contains(&extra.to_string()), "{err}");
}

#[test]
fn truncated_bundles_are_refused() {
    let f = Fixture::new();
    let (store, _) = good_store(&f);
    for compression in [Compression::Zstd, Compression::None] {
        let mut spec = Spec::new(50, &[&image(REPO, "2", "t")]);
        spec.compression = compression;
        spec.write(&f.path("full.bundle"), &f.key);
        let bytes = std::fs::read(f.path("full.bundle")).unwrap();
        std::fs::write(f.path("cut.bundle"), &bytes[..bytes.len() / 2]).unwrap();
        refused(&f, &store, &f.path("cut.bundle"), &f.opts(), "truncated");
    }
}

type Entry<'a> = (&'a str, tar::EntryType, &'a [u8]);

/// Hand-made tars for entries no honest writer produces.
fn raw_tar(path: &Path, entries: &[Entry]) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, kind, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_size(if kind.is_symlink() { 0 } else { data.len() as u64 });
        h.set_mode(0o644);
        // Write the name bytes directly so `..` is not rejected by the builder.
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        if kind.is_symlink() {
            h.set_link_name("/etc/passwd").unwrap();
        }
        h.set_cksum();
        b.append(&h, if kind.is_symlink() { &[][..] } else { *data }).unwrap();
    }
    b.into_inner().unwrap().flush().unwrap();
}

#[test]
fn escaping_paths_links_and_missing_signature_are_refused() {
    let f = Fixture::new();
    let (store, _) = good_store(&f);
    let spec = Spec::new(60, &[&image(REPO, "x", "x")]);
    let (index, b) = (spec.index(), spec.bundle_json());
    let bj = b.to_bytes();
    let sig = f.key.sign(&bj, &b.trusted_comment());
    let layout = feas_format::bundle::OCI_LAYOUT_CONTENT;
    let reg = tar::EntryType::Regular;
    let head = |extra: Vec<Entry<'static>>| -> Vec<(String, tar::EntryType, Vec<u8>)> {
        let mut v = vec![
            ("bundle.json".to_string(), reg, bj.clone()),
            ("bundle.json.minisig".to_string(), reg, sig.clone().into_bytes()),
            ("oci-layout".to_string(), reg, layout.to_vec()),
            ("index.json".to_string(), reg, index.clone()),
        ];
        v.extend(extra.into_iter().map(|(n, k, d)| (n.to_string(), k, d.to_vec())));
        v
    };
    let cases = vec![
        ("traversal", head(vec![("../../etc/x", reg, b"x")]), "escapes"),
        ("symlink", head(vec![("blobs/sha256/link", tar::EntryType::Symlink, b"")]), "symlink"),
        ("unsigned", vec![("bundle.json".to_string(), reg, bj.clone()), ("oci-layout".to_string(), reg, layout.to_vec())], "no signature"),
        ("no-blobs", head(vec![]), "missing from the bundle"),
    ];
    for (name, entries, needle) in cases {
        let p = f.path(&format!("{name}.tar"));
        let borrowed: Vec<Entry> = entries.iter().map(|(n, k, d)| (n.as_str(), *k, d.as_slice())).collect();
        raw_tar(&p, &borrowed);
        refused(&f, &store, &p, &f.opts(), needle);
    }
}

#[test]
fn leftover_staging_is_removed_at_open() {
    let f = Fixture::new();
    drop(f.open());
    let stale = f.store_dir().join("tmp/import-crashed");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("sha256-00"), b"partial").unwrap();
    drop(f.open());
    assert!(!stale.exists());
}

#[test]
fn verify_names_damaged_blobs() {
    let f = Fixture::new();
    let (store, img) = good_store(&f);
    assert!(mirror::commands::verify::verify(&store).unwrap().ok());
    std::fs::write(store.blobs.path(&img.shared_layer), b"rot").unwrap();
    std::fs::remove_file(store.blobs.path(&img.own_layers["amd64"])).unwrap();
    let r = mirror::commands::verify::verify(&store).unwrap();
    assert!(!r.ok());
    assert!(r.damaged.len() == 1 && r.damaged[0].contains(&img.shared_layer.to_string()), "{:?}", r.damaged);
    // Missing, and named with what references it.
    assert!(r.missing.len() == 1 && r.missing[0].starts_with(&img.own_layers["amd64"].to_string()) && r.missing[0].contains("referenced by"), "{:?}", r.missing);
}

/// Issue 15, item 3: an imported manifest pushed again stays imported (not deletable over
/// HTTP); a record lost anyway (as an older mirror let a DELETE take one) shows in `mirror
/// verify`, and importing the identical bundle again restores it instead of "nothing to do".
#[test]
fn pushes_keep_provenance_and_an_identical_reimport_restores_lost_records() {
    use mirror::store::{Changes, ManifestRecord, Removal};
    let f = Fixture::new();
    let (store, img) = good_store(&f);
    let child = img.manifests["arm64"].clone();
    let rec = ManifestRecord::new(feas_format::oci::OCI_MANIFEST, 1);
    store.commit(&Changes { repos: vec![REPO.into()], manifests: vec![(REPO.into(), child.clone(), rec)], pushed: true, ..Changes::default() }).unwrap();
    assert!(!store.manifest_pushed(REPO, &child).unwrap(), "a push of imported bytes must not take them over");

    store.remove(&Removal { manifests: vec![(REPO.into(), child.clone())], ..Removal::default() }).unwrap();
    let report = mirror::commands::verify::verify(&store).unwrap();
    assert!(!report.ok(), "verify must report the index's lost child");
    assert!(report.dangling.iter().any(|d| d.contains(&child.to_string()) && d.contains(&img.top.digest.to_string())), "{:?}", report.dangling);

    let again = f.import(&store, &f.path("good.bundle")).unwrap();
    assert!(!again.already_imported, "records were missing: the same bundle must import again");
    assert!(store.manifest(REPO, &child).unwrap().is_some(), "the child manifest's record is back");
    assert!(mirror::commands::verify::verify(&store).unwrap().ok());
    // Whole again: now it is a no-op.
    assert!(f.import(&store, &f.path("good.bundle")).unwrap().already_imported);
}
