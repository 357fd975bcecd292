//! `docker save` tarballs (legacy `manifest.json` + layer tars, or the OCI layout newer Docker
//! and `podman save --format oci-archive` write) unpacked once into the cache as an OCI layout.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::cache::BlobCache;
use crate::format::oci::{self, Descriptor, ImageIndex, ANNOTATION_REF_NAME};
use crate::format::{Algorithm, Digest, HashReader, HashWriter};
use crate::reference::ImageRef;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SaveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// Unpack `file` into `<cache>/archives/<sha256 of file>/` (reused when present); returns the dir.
pub fn unpack(file: &Path, cache: &BlobCache) -> Result<PathBuf, String> {
    let f = std::fs::File::open(file).map_err(|e| format!("cannot open: {e}"))?;
    let (key, _) = HashReader::new(f, Algorithm::Sha256).finish().map_err(|e| format!("cannot read: {e}"))?;
    let root = cache.path(&key).parent().and_then(Path::parent).and_then(Path::parent).map(|p| p.join("archives")).ok_or("bad cache path")?;
    let dest = root.join(key.hex());
    if dest.join("index.json").exists() {
        return Ok(dest);
    }
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    let work = tempfile::tempdir_in(&root).map_err(|e| e.to_string())?;
    let blobs = work.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| e.to_string())?;

    let mut small: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut by_path: BTreeMap<String, (Digest, u64)> = BTreeMap::new();
    let mut links: BTreeMap<String, String> = BTreeMap::new();
    let mut ar = tar::Archive::new(std::fs::File::open(file).map_err(|e| e.to_string())?);
    for entry in ar.entries().map_err(|e| format!("not a tar archive: {e}"))? {
        let mut entry = entry.map_err(|e| format!("damaged tar: {e}"))?;
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        if path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(format!("entry {} escapes the archive; refused", path.display()));
        }
        let name = path.to_string_lossy().trim_start_matches("./").to_string();
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            // Legacy docker save links duplicate layers to the first copy.
            if let Some(target) = entry.link_name().map_err(|e| e.to_string())? {
                let base = Path::new(&name).parent().unwrap_or(Path::new(""));
                let joined = normalize(&base.join(target.as_ref()));
                links.insert(name, if kind.is_hard_link() { target.to_string_lossy().into_owned() } else { joined });
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        if matches!(name.as_str(), "manifest.json" | "index.json" | "oci-layout" | "repositories") {
            let mut v = Vec::new();
            entry.read_to_end(&mut v).map_err(|e| e.to_string())?;
            small.insert(name, v);
            continue;
        }
        let tmp = tempfile::NamedTempFile::new_in(work.path()).map_err(|e| e.to_string())?;
        let mut w = HashWriter::new(std::io::BufWriter::new(tmp), Algorithm::Sha256);
        std::io::copy(&mut entry, &mut w).map_err(|e| e.to_string())?;
        let (buf, d, n) = w.into_parts();
        let tmp = buf.into_inner().map_err(|e| e.to_string())?;
        if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            if d.hex() != hex {
                return Err(format!("blob {name} does not hash to its name; the archive is damaged"));
            }
        }
        tmp.persist(blobs.join(d.hex())).map_err(|e| e.error.to_string())?;
        by_path.insert(name, (d, n));
    }
    let lookup = |p: &str| -> Result<(Digest, u64), String> {
        let p = p.trim_start_matches("./");
        let p = links.get(p).map(String::as_str).unwrap_or(p);
        by_path.get(p).cloned().ok_or_else(|| format!("archive refers to {p}, which it does not contain"))
    };

    let index_bytes = if let Some(index) = small.get("index.json") {
        // OCI archive: names as docker/podman wrote them; canonicalize ref names.
        let mut idx: ImageIndex = serde_json::from_slice(index).map_err(|e| format!("index.json: {e}"))?;
        for d in &mut idx.manifests {
            if let Some(n) = d.annotations.get(ANNOTATION_REF_NAME).cloned() {
                if let Some(full) = d.annotations.get("io.containerd.image.name").cloned().or(Some(n)) {
                    if let Ok(r) = ImageRef::parse(&full) {
                        d.annotations.insert(ANNOTATION_REF_NAME.into(), r.to_string());
                    }
                }
            }
        }
        idx.to_bytes()
    } else {
        let manifest = small.get("manifest.json").ok_or("neither index.json nor manifest.json found; not a docker save or OCI archive")?;
        let entries: Vec<SaveEntry> = serde_json::from_slice(manifest).map_err(|e| format!("manifest.json: {e}"))?;
        let mut descs = Vec::new();
        for e in entries {
            let (cd, cs) = lookup(&e.config)?;
            let mut layers = Vec::new();
            for l in &e.layers {
                let (ld, ls) = lookup(l)?;
                let gz = is_gzip(&blobs.join(ld.hex()));
                layers.push(Descriptor::new(if gz { LAYER_TAR_GZIP } else { LAYER_TAR }, ld, ls));
            }
            let m = oci::AnyManifest {
                schema_version: Some(2),
                media_type: Some(oci::OCI_MANIFEST.into()),
                config: Some(Descriptor::new(CONFIG, cd, cs)),
                layers,
                ..Default::default()
            };
            let bytes = serde_json::to_vec(&m).map_err(|e| e.to_string())?;
            let md = Digest::sha256_of(&bytes);
            std::fs::File::create(blobs.join(md.hex())).and_then(|mut f| f.write_all(&bytes)).map_err(|e| e.to_string())?;
            for tag in e.repo_tags.unwrap_or_default() {
                let mut d = Descriptor::new(oci::OCI_MANIFEST, md.clone(), bytes.len() as u64);
                let name = ImageRef::parse(&tag).map(|r| r.to_string()).unwrap_or(tag);
                d.annotations.insert(ANNOTATION_REF_NAME.into(), name);
                descs.push(d);
            }
            if descs.iter().all(|d| d.digest != md) {
                descs.push(Descriptor::new(oci::OCI_MANIFEST, md, bytes.len() as u64));
            }
        }
        ImageIndex::new(descs).to_bytes()
    };
    std::fs::write(work.path().join("index.json"), index_bytes).map_err(|e| e.to_string())?;
    std::fs::write(work.path().join("oci-layout"), crate::format::bundle::OCI_LAYOUT_CONTENT).map_err(|e| e.to_string())?;
    let kept = work.keep();
    if let Err(e) = std::fs::rename(&kept, &dest) {
        let _ = std::fs::remove_dir_all(&kept);
        if !dest.join("index.json").exists() {
            return Err(format!("cannot place unpacked archive: {e}"));
        }
    }
    Ok(dest)
}

fn is_gzip(p: &Path) -> bool {
    let mut b = [0u8; 2];
    std::fs::File::open(p).and_then(|mut f| f.read_exact(&mut b)).is_ok() && b == [0x1f, 0x8b]
}

fn normalize(p: &Path) -> String {
    let mut out: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    out.join("/")
}
