//! A store written by an earlier mirror opens with this one and serves what it holds:
//! `fixtures/store-v1.tar.zst` holds one artifact of every kind, imported by the `mirror`
//! binary of the commit its README names (`make_store_fixture`, ignored, wrote it).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::*;
use feas_format::bundle::{annotations, kinds};
use feas_format::hf::{HfConfig, HfFile};
use feas_format::oci::{Descriptor, ANNOTATION_TITLE, OCI_MANIFEST};
use feas_format::{deb, helm, nltk, pypi, Digest};
use mirror::store::Store;

const FIXTURE: &str = "tests/fixtures/store-v1.tar.zst";
const INVENTORY: &str = "tests/fixtures/store-v1.inventory.json";
const HF_COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// An OCI 1.1 artifact of `kind`: a manifest over `config` (media type, bytes) and `layers`
/// (media type, bytes, title).
fn artifact(kind: &str, config: Option<(&str, Vec<u8>)>, layers: Vec<(&str, Vec<u8>, Option<&str>)>) -> (Descriptor, Blobs) {
    let mut blobs = Blobs::default();
    let empty = ("application/vnd.oci.empty.v1+json", b"{}".to_vec());
    let (cmt, cbytes) = config.unwrap_or(empty);
    let c = blobs.put(cbytes);
    let layers: Vec<serde_json::Value> = layers
        .into_iter()
        .map(|(mt, bytes, title)| {
            let (d, n) = blobs.put(bytes);
            let mut l = serde_json::json!({"mediaType": mt, "digest": d, "size": n});
            if let Some(t) = title {
                l["annotations"] = serde_json::json!({ ANNOTATION_TITLE: t });
            }
            l
        })
        .collect();
    let m = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"mediaType": cmt, "digest": c.0, "size": c.1}, "layers": layers});
    let (d, n) = blobs.put(serde_json::to_vec(&m).unwrap());
    let mut top = Descriptor::new(OCI_MANIFEST, d, n);
    top.annotations.insert(annotations::KIND.into(), kind.into());
    (top, blobs)
}

/// One artifact of every kind but images: a deb, a wheel, a raw file, an NLTK package, a
/// chart and a Hugging Face model.
fn packages() -> Vec<(Descriptor, Blobs)> {
    let deb_bytes = b"!<arch>\nhello deb".to_vec();
    let control = format!(
        "Package: hello\nVersion: 2.10-3\nArchitecture: amd64\nFilename: pool/main/h/hello/hello_2.10-3_amd64.deb\nSize: {}\nSHA256: {}\n",
        deb_bytes.len(),
        Digest::sha256_of(&deb_bytes).hex()
    );
    let cfg = deb::DebConfig {
        id: "debian".into(),
        source: "http://deb.example/debian".into(),
        suite: "bookworm".into(),
        codename: Some("bookworm".into()),
        origin: Some("Debian".into()),
        label: Some("Debian".into()),
        component: "main".into(),
        architectures: vec!["amd64".into()],
        control,
    };
    let deb = artifact(kinds::DEB, Some((deb::CONFIG_MEDIA_TYPE, cfg.to_bytes())), vec![(deb::ARTIFACT_TYPE, deb_bytes, None)]);

    let cfg = pypi::WheelConfig {
        project: "hello-py".into(),
        version: "1.0".into(),
        filename: "hello_py-1.0-py3-none-any.whl".into(),
        requires_python: Some(">=3.8".into()),
        source: "https://pypi.example".into(),
    };
    let wheel = artifact(
        kinds::WHEEL,
        Some((pypi::CONFIG_MEDIA_TYPE, cfg.to_bytes())),
        vec![(pypi::FILE_MEDIA_TYPE, b"PK wheel".to_vec(), None), (pypi::METADATA_MEDIA_TYPE, b"Metadata-Version: 2.1\nName: hello-py\nVersion: 1.0\n".to_vec(), None)],
    );

    let file = artifact(kinds::FILE, None, vec![("application/octet-stream", b"raw file bytes\n".to_vec(), Some("hello.txt"))]);

    let zip = b"PK nltk zip".to_vec();
    let attrs: BTreeMap<String, String> = [("id", "punkt"), ("name", "Punkt Tokenizer Models"), ("subdir", "tokenizers"), ("size", &zip.len().to_string()), ("checksum", "0")]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
    let cfg = nltk::NltkConfig { attrs, collections: vec![] };
    let nltk = artifact(kinds::NLTK, Some((nltk::CONFIG_MEDIA_TYPE, serde_json::to_vec(&cfg).unwrap())), vec![("application/zip", zip, None)]);

    let chart_cfg = serde_json::json!({"apiVersion": "v2", "name": "hello", "version": "0.1.0", "description": "a chart"});
    let mut chart = artifact(kinds::HELM, Some((helm::CONFIG_MEDIA_TYPE, serde_json::to_vec(&chart_cfg).unwrap())), vec![(helm::CHART_MEDIA_TYPE, b"chart tgz".to_vec(), None)]);
    chart.0.annotations.insert(annotations::REPOSITORY.into(), "charts/hello".into());
    chart.0.annotations.insert(annotations::TAG.into(), "0.1.0".into());

    let files: Vec<(String, Vec<u8>)> = vec![("config.json".into(), b"{\"model_type\":\"bert\"}".to_vec()), ("model.safetensors".into(), b"weights".to_vec())];
    let hf_files = files
        .iter()
        .map(|(p, b)| {
            let mut h = feas_format::hf::GitBlobHasher::new(b.len() as u64);
            h.update(b);
            HfFile { path: p.clone(), size: b.len() as u64, sha256: Digest::sha256_of(b), oid: h.finish(), lfs_pointer_size: None }
        })
        .collect();
    let cfg = HfConfig { repo: "acme/tiny".into(), commit: HF_COMMIT.into(), revisions: vec!["main".into()], endpoint: "https://huggingface.co".into(), files: hf_files };
    let hf = artifact(
        kinds::HF,
        Some((feas_format::hf::CONFIG_MEDIA_TYPE, cfg.to_bytes())),
        files.iter().map(|(p, b)| (feas_format::hf::FILE_MEDIA_TYPE, b.clone(), Some(p.as_str()))).collect(),
    );
    vec![deb, wheel, file, nltk, chart, hf]
}

/// Every file of `dir` into a zstd tar, paths relative to it.
fn pack(dir: &Path, out: &Path) {
    let enc = zstd::Encoder::new(std::fs::File::create(out).unwrap(), 19).unwrap();
    let mut tar = tar::Builder::new(enc);
    tar.append_dir_all(".", dir).unwrap();
    tar.into_inner().unwrap().finish().unwrap();
}

fn unpack(archive: &Path, dir: &Path) {
    let dec = zstd::Decoder::new(std::fs::File::open(archive).unwrap()).unwrap();
    tar::Archive::new(dec).unpack(dir).unwrap();
}

/// Writes the fixture with the `mirror` binary built from this tree:
/// `cargo test -p mirror --test store_fixture -- --ignored make_store_fixture`.
#[test]
#[ignore = "writes tests/fixtures/store-v1.tar.zst; run by hand with the release the fixture stands for"]
fn make_store_fixture() {
    let f = Fixture::new();
    let img = image("docker.io/library/hello", "1", "a");
    let (sbom, sbom_blobs) = referrer(&img, "application/spdx+json");
    let mut images = Spec::new(1, &[&img, &image("127.0.0.1:5001/team/app", "v2", "b")]).add(sbom, sbom_blobs);
    images.name = "images".into();
    let mut rest = Spec::new(7, &[]);
    rest.name = "packages".into();
    for (top, blobs) in packages() {
        rest = rest.add(top, blobs);
    }
    let store = f.store_dir();
    for (i, spec) in [images, rest].iter().enumerate() {
        let bundle = f.path(&format!("{i}.bundle"));
        spec.write(&bundle, &f.key);
        let out = Command::new(env!("CARGO_BIN_EXE_mirror")).arg("import").arg(&bundle).arg("--store").arg(&store).arg("--trust").arg(&f.public_path).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let inv = Command::new(env!("CARGO_BIN_EXE_mirror")).args(["inventory", "--store"]).arg(&store).output().unwrap();
    assert!(inv.status.success());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(root.join("tests/fixtures")).unwrap();
    std::fs::write(root.join(INVENTORY), inv.stdout).unwrap();
    pack(&store, &root.join(FIXTURE));
}

/// The fixture store, unpacked into a fresh temp dir and opened by today's code.
fn fixture_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    unpack(&Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE), dir.path());
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn fixture_store_opens_and_holds_what_it_held() {
    let (dir, store) = fixture_store();
    let expected: serde_json::Value = serde_json::from_slice(&std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(INVENTORY)).unwrap()).unwrap();
    let inv = serde_json::to_value(mirror::inventory::inventory(&store).unwrap()).unwrap();
    assert_eq!(inv, expected, "inventory of the fixture store");
    assert_eq!(inv["generation"], 2);
    // Every blob the inventory lists reads back with its digest.
    for b in inv["blobs"].as_array().unwrap() {
        let d: Digest = b["digest"].as_str().unwrap().parse().unwrap();
        let bytes = std::fs::read(dir.path().join("blobs").join(d.algorithm().as_str()).join(d.hex())).unwrap();
        assert_eq!((Digest::sha256_of(&bytes), bytes.len() as u64), (d, b["size"].as_u64().unwrap()));
    }
    assert_eq!(store.repositories().unwrap(), vec!["127.0.0.1:5001/team/app", "charts/hello", "docker.io/library/hello"]);
    assert_eq!(store.tags("charts/hello").unwrap(), vec!["0.1.0"]);
    assert_eq!(store.apt_packages("debian", "bookworm", "main", "amd64").unwrap().len(), 1);
    assert_eq!(store.pypi_projects().unwrap(), vec!["hello-py"]);
    assert_eq!(store.raw_files().unwrap().iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), vec!["hello.txt"]);
    assert_eq!(store.nltk_packages().unwrap().iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), vec!["punkt"]);
    assert_eq!(store.charts().unwrap().iter().map(|c| (c.name.as_str(), c.version.as_str())).collect::<Vec<_>>(), vec![("hello", "0.1.0")]);
    assert_eq!(store.hf_ref("acme/tiny", "main").unwrap().as_deref(), Some(HF_COMMIT));
    // gc finds nothing to collect: every tree's records still reach their blobs.
    let refs = store.references(&store.paths).unwrap();
    assert!(refs.unreadable.is_empty(), "{:?}", refs.unreadable);
    assert_eq!(refs.blobs.len(), inv["blobs"].as_array().unwrap().len(), "every held blob is reachable");
}

/// The released store keeps its blobs flat (`blobs/<alg>/<hex>`): verify, gc and rm work on
/// them where they are, and the read-only ones leave every file as it was.
#[test]
fn fixture_store_verifies_collects_and_removes_its_flat_blobs() {
    let (dir, store) = fixture_store();
    let held = store.blobs().unwrap();
    assert!(held.iter().all(|(d, _)| store.paths.flat_blob(d).is_file() && store.blobs.path(d) == store.paths.flat_blob(d)));
    let before = common::snapshot(dir.path());
    let r = mirror::commands::verify::verify(&store).unwrap();
    assert!(r.ok() && r.stray.is_empty() && r.checked == held.len(), "{r:?}");
    let gc = mirror::gc::gc(&store, true, 0, &Default::default(), &feas_format::progress::Progress::hidden()).unwrap();
    assert!(gc.removed.is_empty() && gc.kept == held.len(), "{gc:?}");
    assert_eq!(before, common::snapshot(dir.path()), "verify and gc --dry-run changed the released store");
    mirror::remove::remove(&store, &["files/hello.txt".to_string()], false, &Default::default()).unwrap();
    let gc = mirror::gc::gc(&store, false, 0, &Default::default(), &feas_format::progress::Progress::hidden()).unwrap();
    assert!(!gc.removed.is_empty(), "{gc:?}");
    for b in &gc.removed {
        assert!(!store.paths.flat_blob(&b.digest).exists(), "{} collected", b.digest);
    }
    assert!(mirror::commands::verify::verify(&store).unwrap().ok());
}

#[tokio::test]
async fn fixture_store_serves_every_ecosystem() {
    let (_dir, store) = fixture_store();
    let url = serve(Arc::new(store)).await;
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let (http, url) = (http.clone(), format!("{url}{path}"));
        async move {
            let r = http.get(&url).send().await.unwrap();
            assert!(r.status().is_success(), "GET {url}: {}", r.status());
            r.bytes().await.unwrap().to_vec()
        }
    };
    let tags = get("/v2/docker.io/library/hello/tags/list").await;
    assert!(String::from_utf8_lossy(&tags).contains("\"1\""));
    // Only the compressed index is served (as Debian's archive does); its members read as one.
    let gz = get("/apt/debian/dists/bookworm/main/binary-amd64/Packages.gz").await;
    let mut packages = String::new();
    std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(&gz[..]), &mut packages).unwrap();
    assert!(packages.contains("Package: hello"), "{packages}");
    assert_eq!(get("/apt/debian/pool/main/h/hello/hello_2.10-3_amd64.deb").await, b"!<arch>\nhello deb");
    assert!(String::from_utf8_lossy(&get("/pypi/simple/hello-py/").await).contains("hello_py-1.0-py3-none-any.whl"));
    assert_eq!(get("/files/hello.txt").await, b"raw file bytes\n");
    assert!(String::from_utf8_lossy(&get("/nltk/index.xml").await).contains("punkt"));
    assert!(String::from_utf8_lossy(&get("/helm/index.yaml").await).contains("hello"));
    assert_eq!(get(&format!("/hf/acme/tiny/resolve/{HF_COMMIT}/model.safetensors")).await, b"weights");
    assert_eq!(get("/hf/acme/tiny/resolve/main/config.json").await, b"{\"model_type\":\"bert\"}");
}

/// The sled trees of a store, by name (sled's own default tree left out).
fn tree_names(meta: &Path) -> Vec<String> {
    let db = sled::Config::new().path(meta).open().unwrap();
    let mut names: Vec<String> = db.tree_names().iter().map(|n| String::from_utf8_lossy(n).into_owned()).filter(|n| n != "__sled__default").collect();
    names.sort();
    names
}

/// Trees today's mirror has that the released store lacks: created (empty) when such a store
/// is first opened. Every other tree keeps its released name — one renamed or split would leave
/// the old one's records behind (that needs a migration, tested here).
const ADDED_SINCE_RELEASE: &[&str] = &["apt_names", "audit", "removed"];

#[test]
fn a_fresh_store_has_the_released_stores_trees() {
    let released = tempfile::tempdir().unwrap();
    unpack(&Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE), released.path());
    let released_trees = tree_names(&mirror::store::Paths::new(released.path()).meta());
    let fresh = tempfile::tempdir().unwrap();
    drop(Store::open(fresh.path()).unwrap());
    let mut expected: Vec<String> = released_trees.iter().cloned().chain(ADDED_SINCE_RELEASE.iter().map(|s| s.to_string())).collect();
    expected.sort();
    assert_eq!(tree_names(&mirror::store::Paths::new(fresh.path()).meta()), expected);
    assert!(released_trees.len() > 10, "{released_trees:?}");
    // Opening the released store creates the new trees.
    drop(Store::open(released.path()).unwrap());
    let meta = mirror::store::Paths::new(released.path()).meta();
    assert_eq!(tree_names(&meta), expected);
}
