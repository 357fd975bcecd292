//! Shared test helpers: bundles built in memory with the format's own writer and signer, a
//! whole-store snapshot for "nothing changed" assertions, and an in-process server.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use feas_format::bundle::{annotations, kinds, BlobRef, BundleJson, FORMAT_VERSION};
use feas_format::oci::{Descriptor, ImageIndex, Platform, ANNOTATION_REF_NAME, OCI_INDEX, OCI_MANIFEST};
use feas_format::sign::{keygen, PublicKey, SecretKey};
use feas_format::writer::{BundleWriter, Compression};
use feas_format::Digest;
use mirror::import::{self, ImportOptions, ImportSummary};
use mirror::store::Store;

pub const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub key: SecretKey,
    pub public: PublicKey,
    pub public_path: PathBuf,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (sk, pk, _) = keygen(&dir.path().join("keys"), None).unwrap();
        Fixture { key: SecretKey::load(&sk).unwrap(), public: PublicKey::load(&pk).unwrap(), public_path: pk, dir }
    }
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn opts(&self) -> ImportOptions {
        ImportOptions { trust: vec![self.public.clone()], ..ImportOptions::default() }
    }
    pub fn open(&self) -> Store {
        Store::open(&self.store_dir()).unwrap()
    }
    pub fn import(&self, store: &Store, bundle: &Path) -> Result<ImportSummary, String> {
        import::import(store, bundle, &self.opts()).map_err(|e| e.to_string())
    }
}

/// Blobs by digest, as a bundle carries them.
#[derive(Default, Clone)]
pub struct Blobs(pub BTreeMap<Digest, Vec<u8>>);

impl Blobs {
    pub fn put(&mut self, bytes: Vec<u8>) -> (Digest, u64) {
        let d = Digest::sha256_of(&bytes);
        let n = bytes.len() as u64;
        self.0.insert(d.clone(), bytes);
        (d, n)
    }
}

/// A two-platform image: an index over two manifests that share one layer, each with its
/// own config and layer.
pub struct Image {
    pub repo: String,
    pub tag: String,
    pub top: Descriptor,
    pub manifests: BTreeMap<String, Digest>,
    pub shared_layer: Digest,
    pub own_layers: BTreeMap<String, Digest>,
    pub blobs: Blobs,
}

pub fn image(repo: &str, tag: &str, salt: &str) -> Image {
    let mut blobs = Blobs::default();
    let shared = blobs.put(format!("shared layer {salt} ").repeat(200).into_bytes());
    let (mut manifests, mut own_layers, mut descs) = (BTreeMap::new(), BTreeMap::new(), Vec::new());
    for arch in ["amd64", "arm64"] {
        let own = blobs.put(format!("layer for {arch} {salt}").into_bytes());
        let cfg = blobs.put(format!(r#"{{"architecture":"{arch}","os":"linux","salt":"{salt}"}}"#).into_bytes());
        let m = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": CONFIG, "digest": cfg.0, "size": cfg.1},
            "layers": [{"mediaType": LAYER, "digest": shared.0, "size": shared.1},
                       {"mediaType": LAYER, "digest": own.0, "size": own.1}]});
        let (d, n) = blobs.put(serde_json::to_vec(&m).unwrap());
        let mut desc = Descriptor::new(OCI_MANIFEST, d.clone(), n);
        desc.platform = Some(Platform { architecture: arch.into(), os: "linux".into(), variant: None, os_version: None });
        descs.push(desc);
        manifests.insert(arch.to_string(), d);
        own_layers.insert(arch.to_string(), own.0);
    }
    let (d, n) = blobs.put(ImageIndex::new(descs).to_bytes());
    let mut top = Descriptor::new(OCI_INDEX, d, n);
    top.annotations.insert(annotations::KIND.into(), kinds::IMAGE.into());
    top.annotations.insert(annotations::REPOSITORY.into(), repo.into());
    top.annotations.insert(annotations::TAG.into(), tag.into());
    top.annotations.insert(ANNOTATION_REF_NAME.into(), format!("{repo}:{tag}"));
    Image { repo: repo.into(), tag: tag.into(), top, manifests, shared_layer: shared.0, own_layers, blobs }
}

/// An OCI 1.1 artifact whose `subject` is `image`'s index (an SBOM, say).
pub fn referrer(image: &Image, artifact_type: &str) -> (Descriptor, Blobs) {
    let mut blobs = Blobs::default();
    let empty = blobs.put(b"{}".to_vec());
    let body = blobs.put(format!("sbom of {}", image.top.digest).into_bytes());
    let m = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.0, "size": empty.1},
        "layers": [{"mediaType": artifact_type, "digest": body.0, "size": body.1}],
        "subject": {"mediaType": OCI_INDEX, "digest": image.top.digest, "size": image.top.size},
        "annotations": {"org.example.kind": "sbom"}});
    let (d, n) = blobs.put(serde_json::to_vec(&m).unwrap());
    let mut top = Descriptor::new(OCI_MANIFEST, d, n);
    top.annotations.insert(annotations::KIND.into(), kinds::IMAGE_ACCESSORY.into());
    top.annotations.insert(annotations::REPOSITORY.into(), image.repo.clone());
    (top, blobs)
}

/// What goes into one bundle.
#[derive(Clone)]
pub struct Spec {
    pub name: String,
    pub sequence: u64,
    pub tops: Vec<Descriptor>,
    pub blobs: Blobs,
    pub assumed: Vec<BlobRef>,
    pub expires: Option<String>,
    pub compression: Compression,
}

impl Spec {
    pub fn new(sequence: u64, images: &[&Image]) -> Spec {
        let mut blobs = Blobs::default();
        for i in images {
            blobs.0.extend(i.blobs.0.clone());
        }
        Spec { name: "t".into(), sequence, tops: images.iter().map(|i| i.top.clone()).collect(), blobs, assumed: vec![], expires: None, compression: Compression::Zstd }
    }
    pub fn add(mut self, top: Descriptor, blobs: Blobs) -> Spec {
        self.tops.push(top);
        self.blobs.0.extend(blobs.0);
        self
    }
    /// Leave `d` out but list it as assumed (a delta).
    pub fn assume(mut self, d: &Digest) -> Spec {
        let b = self.blobs.0.remove(d).expect("blob in the spec");
        self.assumed.push(BlobRef { digest: d.clone(), size: b.len() as u64 });
        self
    }
    pub fn index(&self) -> Vec<u8> {
        ImageIndex::new(self.tops.clone()).to_bytes()
    }
    pub fn bundle_json(&self) -> BundleJson {
        let index = self.index();
        BundleJson {
            format: FORMAT_VERSION,
            name: self.name.clone(),
            sequence: self.sequence,
            created: "2026-11-22T00:00:00Z".into(),
            expires: self.expires.clone(),
            index: BlobRef { digest: Digest::sha256_of(&index), size: index.len() as u64 },
            blobs: self.blobs.0.iter().map(|(d, b)| BlobRef { digest: d.clone(), size: b.len() as u64 }).collect(),
            assumed: self.assumed.clone(),
            sbom: None,
            generator: "test".into(),
        }
    }
    pub fn write(&self, path: &Path, key: &SecretKey) {
        self.write_with(path, key, |_| {}, |_, _| {})
    }
    /// `edit` changes bundle.json after it was signed; `tamper` changes blob bytes in flight.
    pub fn write_with(&self, path: &Path, key: &SecretKey, edit: impl Fn(&mut BundleJson), tamper: impl Fn(&Digest, &mut Vec<u8>)) {
        let mut b = self.bundle_json();
        let sig = key.sign(&b.to_bytes(), &b.trusted_comment());
        edit(&mut b);
        let mut w = BundleWriter::new(std::fs::File::create(path).unwrap(), self.compression, 0).unwrap();
        w.write_head(&b, &sig, &self.index()).unwrap();
        for (d, bytes) in &self.blobs.0 {
            let mut bytes = bytes.clone();
            tamper(d, &mut bytes);
            w.write_blob(d, bytes.len() as u64, &bytes[..]).unwrap();
        }
        w.finish().unwrap().flush().unwrap();
    }
}

/// Every file under `dir` with its content hash (sled's files included).
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Digest> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "mirror.sock") {
                out.insert(p.clone(), Digest::sha256_of(&std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// Serve `store` in-process on a free loopback port; returns the base URL.
pub async fn serve(store: Arc<Store>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, mirror::serve::app(store)).await.unwrap() });
    format!("http://{addr}")
}
