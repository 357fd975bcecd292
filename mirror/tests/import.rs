//! Import refusals leave the store byte-for-byte unchanged; good bundles land whole.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use bundler::format::bundle::{annotations, kinds, BlobRef, BundleJson, FORMAT_VERSION};
use bundler::format::oci::{Descriptor, ImageIndex, Platform, ANNOTATION_REF_NAME, OCI_INDEX, OCI_MANIFEST};
use bundler::format::sign::{keygen, PublicKey, SecretKey};
use bundler::format::writer::{BundleWriter, Compression};
use bundler::format::Digest;
use mirror::import::{import, ImportOptions};
use mirror::store::Store;

struct Fixture {
    dir: tempfile::TempDir,
    key: SecretKey,
    public: PublicKey,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (sk, pk, _) = keygen(&dir.path().join("keys")).unwrap();
        Fixture { key: SecretKey::load(&sk).unwrap(), public: PublicKey::load(&pk).unwrap(), dir }
    }
    fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }
    fn opts(&self) -> ImportOptions {
        ImportOptions { trust: vec![self.public.clone()], allow_downgrade: false }
    }
}

/// A two-platform image whose manifests share one layer.
fn image_blobs(tag: &str) -> (Vec<u8>, BTreeMap<Digest, Vec<u8>>) {
    let mut blobs = BTreeMap::new();
    let mut put = |b: Vec<u8>| {
        let d = Digest::sha256_of(&b);
        blobs.insert(d.clone(), b.clone());
        (d, b.len() as u64)
    };
    let shared = put(b"shared layer bytes".repeat(100));
    let mut manifests = Vec::new();
    for arch in ["amd64", "arm64"] {
        let own = put(format!("layer for {arch}").into_bytes());
        let cfg = put(format!(r#"{{"architecture":"{arch}","os":"linux"}}"#).into_bytes());
        let m = serde_json::json!({"schemaVersion":2,"mediaType":OCI_MANIFEST,
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":cfg.0,"size":cfg.1},
            "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":shared.0,"size":shared.1},
                      {"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":own.0,"size":own.1}]});
        let (d, n) = put(serde_json::to_vec(&m).unwrap());
        let mut desc = Descriptor::new(OCI_MANIFEST, d, n);
        desc.platform = Some(Platform { architecture: arch.into(), os: "linux".into(), variant: None, os_version: None });
        manifests.push(desc);
    }
    let idx = ImageIndex::new(manifests).to_bytes();
    let (d, n) = put(idx);
    let mut top = Descriptor::new(OCI_INDEX, d, n);
    top.annotations.insert(annotations::KIND.into(), kinds::IMAGE.into());
    top.annotations.insert(annotations::REPOSITORY.into(), "docker.io/library/hello".into());
    top.annotations.insert(annotations::TAG.into(), tag.into());
    top.annotations.insert(ANNOTATION_REF_NAME.into(), format!("docker.io/library/hello:{tag}"));
    (ImageIndex::new(vec![top]).to_bytes(), blobs)
}

fn bundle_json(seq: u64, index: &[u8], blobs: &BTreeMap<Digest, Vec<u8>>) -> BundleJson {
    BundleJson {
        format: FORMAT_VERSION,
        name: "t".into(),
        sequence: seq,
        created: "2026-11-22T00:00:00Z".into(),
        expires: None,
        index: BlobRef { digest: Digest::sha256_of(index), size: index.len() as u64 },
        blobs: blobs.iter().map(|(d, b)| BlobRef { digest: d.clone(), size: b.len() as u64 }).collect(),
        assumed: vec![],
        sbom: None,
        generator: "test".into(),
    }
}

fn write_bundle(path: &Path, key: &SecretKey, seq: u64, tag: &str, tamper: impl Fn(&Digest, &mut Vec<u8>)) {
    let (index, blobs) = image_blobs(tag);
    let b = bundle_json(seq, &index, &blobs);
    let sig = key.sign(&b.to_bytes(), &b.trusted_comment());
    let mut w = BundleWriter::new(std::fs::File::create(path).unwrap(), Compression::Zstd, 0).unwrap();
    w.write_head(&b, &sig, &index).unwrap();
    for (d, bytes) in &blobs {
        let mut bytes = bytes.clone();
        tamper(d, &mut bytes);
        w.write_blob(d, bytes.len() as u64, &bytes[..]).unwrap();
    }
    w.finish().unwrap();
}

/// Every file under the store with its content hash (sled's files included).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Digest> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), Digest::sha256_of(&std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

fn good_store(f: &Fixture) -> Store {
    let good = f.dir.path().join("good.bundle");
    write_bundle(&good, &f.key, 10, "1", |_, _| {});
    let store = Store::open(&f.store_dir()).unwrap();
    let s = import(&store, &good, &f.opts(), false).unwrap();
    assert_eq!(s.blobs_added, 8, "index + 2 manifests + 2 configs + shared + 2 own layers, shared once");
    store
}

fn assert_refused_unchanged(f: &Fixture, store: &Store, bundle: &Path, opts: &ImportOptions, needle: &str) {
    let before = snapshot(&f.store_dir());
    let err = import(store, bundle, opts, false).unwrap_err().to_string();
    assert!(err.contains(needle), "error {err:?} should mention {needle:?}");
    assert_eq!(before, snapshot(&f.store_dir()), "store changed after a refused import: {err}");
}

#[test]
fn good_import_lands_whole_and_reimport_is_noop() {
    let f = Fixture::new();
    let store = good_store(&f);
    let top = store.tag("docker.io/library/hello", "1").unwrap().expect("tag served");
    assert!(store.manifest("docker.io/library/hello", &top).unwrap().is_some());
    let again = import(&store, &f.dir.path().join("good.bundle"), &f.opts(), false).unwrap();
    assert!(again.already_imported);
    assert_eq!(again.name, "t");
}

#[test]
fn flipped_layer_byte_is_refused() {
    let f = Fixture::new();
    let store = good_store(&f);
    let bad = f.dir.path().join("bad.bundle");
    // Damage is caught whether the blob is new to the store or already held (still hashed).
    write_bundle(&bad, &f.key, 11, "2", |_, b| {
        if b.starts_with(b"layer for arm64") {
            b[0] ^= 1;
        }
    });
    let fresh = Fixture::new();
    let fresh_store = Store::open(&fresh.store_dir()).unwrap();
    write_bundle(&fresh.dir.path().join("bad.bundle"), &fresh.key, 1, "1", |_, b| {
        if b.starts_with(b"layer for arm64") {
            b[0] ^= 1;
        }
    });
    assert_refused_unchanged(&fresh, &fresh_store, &fresh.dir.path().join("bad.bundle"), &fresh.opts(), "damaged");
    assert_refused_unchanged(&f, &store, &bad, &f.opts(), "damaged");
}

#[test]
fn untrusted_key_and_downgrade_are_refused() {
    let f = Fixture::new();
    let store = good_store(&f);
    let other = Fixture::new();
    let foreign = f.dir.path().join("foreign.bundle");
    write_bundle(&foreign, &other.key, 20, "1", |_, _| {});
    assert_refused_unchanged(&f, &store, &foreign, &f.opts(), "not among the trusted keys");
    let old = f.dir.path().join("old.bundle");
    write_bundle(&old, &f.key, 5, "old", |_, _| {});
    assert_refused_unchanged(&f, &store, &old, &f.opts(), "--allow-downgrade");
    let mut allow = f.opts();
    allow.allow_downgrade = true;
    import(&store, &old, &allow, false).unwrap();
    assert!(store.tag("docker.io/library/hello", "old").unwrap().is_some());
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
    let store = good_store(&f);
    let (index, blobs) = image_blobs("x");
    let b = bundle_json(30, &index, &blobs);
    let bj = b.to_bytes();
    let sig = f.key.sign(&bj, &b.trusted_comment());
    let layout = bundler::format::bundle::OCI_LAYOUT_CONTENT;
    let reg = tar::EntryType::Regular;
    let cases: Vec<(&str, Vec<Entry>, &str)> = vec![
        ("traversal", vec![("bundle.json", reg, &bj), ("bundle.json.minisig", reg, sig.as_bytes()), ("oci-layout", reg, layout), ("index.json", reg, &index), ("../../etc/x", reg, b"x")], "escapes"),
        ("symlink", vec![("bundle.json", reg, &bj), ("bundle.json.minisig", reg, sig.as_bytes()), ("oci-layout", reg, layout), ("index.json", reg, &index), ("blobs/sha256/link", tar::EntryType::Symlink, b"")], "symlink"),
        ("unsigned", vec![("bundle.json", reg, &bj), ("oci-layout", reg, layout)], "no signature"),
        ("truncated", vec![("bundle.json", reg, &bj), ("bundle.json.minisig", reg, sig.as_bytes()), ("oci-layout", reg, layout), ("index.json", reg, &index)], "missing from the bundle"),
    ];
    for (name, entries, needle) in cases {
        let p = f.dir.path().join(format!("{name}.tar"));
        raw_tar(&p, &entries);
        assert_refused_unchanged(&f, &store, &p, &f.opts(), needle);
    }
}
