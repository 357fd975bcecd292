//! OCI image layouts written by code: deterministic multi-arch images with a layer shared
//! across platforms and images, pushed upstream with skopeo.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{run, sha256};

pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";

pub struct ImageBuilder {
    pub dir: PathBuf,
    refs: Vec<serde_json::Value>,
}

/// Digests of one built image.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub tag: String,
    pub index: String,
    /// arch → platform manifest digest
    pub manifests: BTreeMap<String, String>,
    pub shared_layer: String,
    /// arch → platform-specific layer digest
    pub own_layers: BTreeMap<String, String>,
    /// arch → config digest
    pub configs: BTreeMap<String, String>,
}

impl BuiltImage {
    /// Every blob of the image: index, manifests, configs, layers (shared one once).
    pub fn blobs(&self) -> Vec<String> {
        let mut v = vec![self.index.clone(), self.shared_layer.clone()];
        v.extend(self.manifests.values().cloned());
        v.extend(self.configs.values().cloned());
        v.extend(self.own_layers.values().cloned());
        v
    }
}

fn gz_tar(files: &[(&str, &[u8])]) -> (Vec<u8>, String) {
    gz_tar_with(files, flate2::Compression::default())
}

fn gz_tar_with(files: &[(&str, &[u8])], level: flate2::Compression) -> (Vec<u8>, String) {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        tar.append_data(&mut h, name, *data).unwrap();
    }
    let raw = tar.into_inner().unwrap();
    let diff_id = sha256(&raw);
    let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), level);
    gz.write_all(&raw).unwrap();
    (gz.finish().unwrap(), diff_id)
}

impl ImageBuilder {
    pub fn new(dir: &Path) -> ImageBuilder {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let b = ImageBuilder { dir: dir.to_path_buf(), refs: Vec::new() };
        b.write_index();
        b
    }

    pub fn put(&self, data: &[u8]) -> (String, u64) {
        let d = sha256(data);
        std::fs::write(self.dir.join("blobs/sha256").join(&d[7..]), data).unwrap();
        (d, data.len() as u64)
    }

    fn write_index(&self) {
        let idx = serde_json::json!({"schemaVersion": 2, "manifests": self.refs});
        std::fs::write(self.dir.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
    }

    /// A linux/amd64 + linux/arm64 image tagged `tag` in the layout. Every image built with
    /// the same `shared` text shares that layer.
    pub fn multi_arch(&mut self, tag: &str, shared: &str, own: &str) -> BuiltImage {
        let (shared_gz, shared_diff) = gz_tar(&[("shared.txt", shared.as_bytes())]);
        let (shared_digest, shared_size) = self.put(&shared_gz);
        let mut manifests = BTreeMap::new();
        let mut own_layers = BTreeMap::new();
        let mut configs = BTreeMap::new();
        let mut entries = Vec::new();
        for arch in ["amd64", "arm64"] {
            let text = format!("{own} for {arch}");
            let (own_gz, own_diff) = gz_tar(&[("own.txt", text.as_bytes())]);
            let (od, os) = self.put(&own_gz);
            let cfg = serde_json::json!({"architecture": arch, "os": "linux", "config": {"Cmd": ["/own.txt"]},
                "rootfs": {"type": "layers", "diff_ids": [shared_diff, own_diff]}});
            let (cd, cs) = self.put(&serde_json::to_vec(&cfg).unwrap());
            let m = serde_json::json!({"schemaVersion": 2, "mediaType": MANIFEST,
                "config": {"mediaType": CONFIG, "digest": cd, "size": cs},
                "layers": [{"mediaType": LAYER, "digest": shared_digest, "size": shared_size},
                           {"mediaType": LAYER, "digest": od, "size": os}]});
            let (md, ms) = self.put(&serde_json::to_vec(&m).unwrap());
            entries.push(serde_json::json!({"mediaType": MANIFEST, "digest": md, "size": ms, "platform": {"architecture": arch, "os": "linux"}}));
            manifests.insert(arch.to_string(), md);
            own_layers.insert(arch.to_string(), od);
            configs.insert(arch.to_string(), cd);
        }
        let idx = serde_json::json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries});
        let (id, is) = self.put(&serde_json::to_vec(&idx).unwrap());
        self.refs.retain(|r| r["annotations"]["org.opencontainers.image.ref.name"] != tag);
        self.refs.push(serde_json::json!({"mediaType": INDEX, "digest": id, "size": is, "annotations": {"org.opencontainers.image.ref.name": tag}}));
        self.write_index();
        BuiltImage { tag: tag.into(), index: id, manifests, shared_layer: shared_digest, own_layers, configs }
    }

    /// A linux/amd64 image tagged `tag` with one layer holding `data` as a file (stored, not
    /// compressed, so a large layer costs no gzip time): (manifest digest, layer digest, layer
    /// size, the sizes of every blob: manifest, config, layer).
    pub fn single(&mut self, tag: &str, data: &[u8]) -> (String, String, u64, u64) {
        let (gz, diff) = gz_tar_with(&[("big.bin", data)], flate2::Compression::none());
        let (ld, ls) = self.put(&gz);
        let cfg = serde_json::json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff]}});
        let (cd, cs) = self.put(&serde_json::to_vec(&cfg).unwrap());
        let m = serde_json::json!({"schemaVersion": 2, "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG, "digest": cd, "size": cs},
            "layers": [{"mediaType": LAYER, "digest": ld, "size": ls}]});
        let (md, ms) = self.put(&serde_json::to_vec(&m).unwrap());
        self.refs.retain(|r| r["annotations"]["org.opencontainers.image.ref.name"] != tag);
        self.refs.push(serde_json::json!({"mediaType": MANIFEST, "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": tag}}));
        self.write_index();
        (md, ld, ls, ms + cs + ls)
    }

    /// `skopeo copy --all` the layout's `tag` to `docker://host/repo:tag`.
    pub fn push(&self, tag: &str, host: &str, repo: &str) {
        self.push_with_creds(tag, host, repo, "");
    }

    /// Like `push`, with `user:password` for a registry that requires them ("" for none).
    pub fn push_with_creds(&self, tag: &str, host: &str, repo: &str, creds: &str) {
        let mut cmd = std::process::Command::new("skopeo");
        cmd.args(["copy", "--all", "--quiet", "--dest-tls-verify=false"]);
        if !creds.is_empty() {
            cmd.arg(format!("--dest-creds={creds}"));
        }
        cmd.arg(format!("oci:{}:{tag}", self.dir.display())).arg(format!("docker://{host}/{repo}:{tag}"));
        run(&mut cmd).ok();
    }
}

/// A docker-registry holding `library/hello:1` and `library/other:1`, two multi-arch images
/// that share their base layer.
pub fn shared_pair(dir: &std::path::Path) -> (crate::Registry, BuiltImage, BuiltImage) {
    let reg = crate::Registry::start();
    let mut b = ImageBuilder::new(&dir.join("layout"));
    let hello = b.multi_arch("1", "shared base layer", "hello");
    b.push("1", &reg.host, "library/hello");
    let mut b2 = ImageBuilder::new(&dir.join("layout2"));
    let other = b2.multi_arch("1", "shared base layer", "other");
    b2.push("1", &reg.host, "library/other");
    assert_eq!(hello.shared_layer, other.shared_layer);
    (reg, hello, other)
}

/// Push a small OCI artifact manifest (e.g. a cosign-style signature) straight to a registry
/// over HTTP with curl: upload its blobs, then PUT the manifest under `reference`.
pub fn push_artifact(host: &str, repo: &str, reference: &str, manifest: &[u8], blobs: &[&[u8]]) -> String {
    push_manifest_as(host, repo, reference, MANIFEST, manifest, blobs)
}

/// Like `push_artifact`, with the manifest's media type given (e.g. Docker schema 2).
pub fn push_manifest_as(host: &str, repo: &str, reference: &str, media_type: &str, manifest: &[u8], blobs: &[&[u8]]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    for b in blobs {
        let d = sha256(b);
        let post = run(std::process::Command::new("curl").args(["-sSi", "-X", "POST", &format!("http://{host}/v2/{repo}/blobs/uploads/")])).ok();
        let loc = post
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("Location: ").or_else(|| l.strip_prefix("location: ")))
            .unwrap_or_else(|| panic!("no Location in {}", post.stdout))
            .trim()
            .to_string();
        let sep = if loc.contains('?') { '&' } else { '?' };
        let url = if loc.starts_with("http") { loc.clone() } else { format!("http://{host}{loc}") };
        let f = tmp.path().join(&d[7..]);
        std::fs::write(&f, b).unwrap();
        run(std::process::Command::new("curl").args([
            "-sSf",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/octet-stream",
            "--data-binary",
            &format!("@{}", f.display()),
            &format!("{url}{sep}digest={d}"),
        ]))
        .ok();
    }
    put_manifest(host, repo, reference, media_type, manifest);
    sha256(manifest)
}

/// PUT an image index (e.g. a referrers tag-schema index) under `reference`.
pub fn push_index(host: &str, repo: &str, reference: &str, index: &[u8]) {
    put_manifest(host, repo, reference, INDEX, index);
}

fn put_manifest(host: &str, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("manifest.json");
    std::fs::write(&f, bytes).unwrap();
    run(std::process::Command::new("curl").args([
        "-sSf",
        "-X",
        "PUT",
        "-H",
        &format!("Content-Type: {media_type}"),
        "--data-binary",
        &format!("@{}", f.display()),
        &format!("http://{host}/v2/{repo}/manifests/{reference}"),
    ]))
    .ok();
}
