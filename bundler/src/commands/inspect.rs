//! `bundler inspect`: what a bundle holds, without needing its key (the signature is not
//! checked here; `bundler verify` does that).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context};
use serde::Serialize;

use crate::format::bundle::{self, annotations, BundleJson};
use crate::format::oci::{self, AnyManifest, ANNOTATION_REF_NAME};
use crate::format::Digest;

#[derive(Debug, Serialize)]
pub struct LayerInfo {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub carried: bool,
}

#[derive(Debug, Serialize)]
pub struct PlatformInfo {
    pub platform: String,
    pub digest: Digest,
    /// Whether its manifest travels in this bundle (not: a delta assumes the mirror has it).
    pub carried: bool,
    pub config: Option<Digest>,
    pub layers: Vec<LayerInfo>,
}

#[derive(Debug, Serialize)]
pub struct ArtifactInfo {
    pub kind: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Digest,
    /// Whether its top manifest or index travels in this bundle (not: assumed present).
    pub carried: bool,
    pub media_type: String,
    pub source: Option<String>,
    /// For an index: each platform manifest; for a single manifest: one entry.
    pub platforms: Vec<PlatformInfo>,
    /// A chart: the images its values and templates reference (add them under `images:`, or
    /// set `add_images: true` on the chart).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct InspectSummary {
    pub name: String,
    pub format: u32,
    pub sequence: u64,
    pub created: String,
    /// When imports start refusing it (`--expires`), RFC 3339; none when it never expires.
    pub expires: Option<String>,
    pub signer_key_id: Option<String>,
    pub index_digest: Digest,
    pub blob_count: usize,
    pub carried_bytes: u64,
    pub assumed_count: usize,
    pub artifacts: Vec<ArtifactInfo>,
    pub blobs: Vec<bundle::BlobRef>,
}

pub fn run(file: &Path) -> anyhow::Result<InspectSummary> {
    let opened = crate::format::split::open_input(file, None).with_context(|| format!("cannot open bundle {}", file.display()))?;
    let mut ar = tar::Archive::new(crate::format::reader::open(opened.stream)?);
    let mut bundle_json: Option<BundleJson> = None;
    let mut signer = None;
    let mut index: Option<Vec<u8>> = None;
    let mut docs: BTreeMap<Digest, Vec<u8>> = BTreeMap::new();
    for entry in ar.entries()? {
        let mut entry = entry.context("the bundle's tar stream is damaged or truncated")?;
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        match path.as_str() {
            bundle::BUNDLE_JSON => {
                let mut v = Vec::new();
                entry.read_to_end(&mut v)?;
                bundle_json = Some(serde_json::from_slice(&v).context("bundle.json is not valid")?);
            }
            bundle::SIGNATURE => {
                let mut s = String::new();
                entry.read_to_string(&mut s)?;
                signer = key_id_of(&s);
            }
            bundle::INDEX_JSON => {
                let mut v = Vec::new();
                entry.read_to_end(&mut v)?;
                index = Some(v);
            }
            p if p.starts_with(bundle::BLOBS_PREFIX) && entry.size() <= 4 << 20 => {
                let Ok(d) = p[bundle::BLOBS_PREFIX.len()..].replacen('/', ":", 1).parse::<Digest>() else { continue };
                let mut v = Vec::new();
                entry.read_to_end(&mut v)?;
                if v.first() == Some(&b'{') {
                    docs.insert(d, v);
                }
            }
            _ => {}
        }
    }
    let Some(b) = bundle_json else { bail!("{} is not a bundle: no bundle.json", file.display()) };
    let Some(index) = index else { bail!("{} is truncated: no index.json", file.display()) };
    let idx = AnyManifest::parse(&index).context("index.json is not valid")?;
    let carried: std::collections::BTreeSet<&Digest> = b.blobs.iter().map(|x| &x.digest).collect();
    let platform_info = |platform: String, digest: &Digest| -> PlatformInfo {
        let m = docs.get(digest).and_then(|v| AnyManifest::parse(v).ok()).unwrap_or_default();
        PlatformInfo {
            platform,
            digest: digest.clone(),
            carried: carried.contains(digest),
            config: m.config.as_ref().map(|c| c.digest.clone()),
            layers: m.layers.iter().map(|l| LayerInfo { digest: l.digest.clone(), size: l.size, media_type: l.media_type.clone(), carried: carried.contains(&l.digest) }).collect(),
        }
    };
    let mut artifacts = Vec::new();
    for d in &idx.manifests {
        let a = |k: &str| d.annotations.get(k).cloned();
        let platforms = if oci::is_index(&d.media_type) {
            let m = docs.get(&d.digest).and_then(|v| AnyManifest::parse(v).ok()).unwrap_or_default();
            // A carried upstream index still lists the platforms the bundle leaves out.
            let omitted = annotations::omitted(d).with_context(|| format!("index.json entry {}", d.digest))?;
            m.manifests
                .iter()
                .filter(|c| !omitted.contains(&c.digest))
                .map(|c| platform_info(c.platform.as_ref().map(|p| p.key()).unwrap_or_else(|| "unknown/unknown".into()), &c.digest))
                .collect()
        } else {
            vec![platform_info(String::new(), &d.digest)]
        };
        artifacts.push(ArtifactInfo {
            kind: a(annotations::KIND).unwrap_or_else(|| "unknown".into()),
            reference: a(ANNOTATION_REF_NAME).unwrap_or_default(),
            repository: a(annotations::REPOSITORY).unwrap_or_default(),
            tag: a(annotations::TAG),
            digest: d.digest.clone(),
            carried: carried.contains(&d.digest),
            media_type: d.media_type.clone(),
            source: a(annotations::SOURCE),
            platforms,
            images: crate::ecosystems::referenced_images(d),
        });
    }
    Ok(InspectSummary {
        name: b.name.clone(),
        format: b.format,
        sequence: b.sequence,
        created: b.created.clone(),
        expires: b.expires.clone(),
        signer_key_id: signer,
        index_digest: b.index.digest.clone(),
        blob_count: b.blobs.len(),
        carried_bytes: b.blobs.iter().map(|x| x.size).sum(),
        assumed_count: b.assumed.len(),
        artifacts,
        blobs: b.blobs,
    })
}

/// The SBOM a bundle carries (`bundle.json`'s `sbom`), read from the stream.
pub fn sbom(file: &Path) -> anyhow::Result<Vec<u8>> {
    let opened = crate::format::split::open_input(file, None).with_context(|| format!("cannot open bundle {}", file.display()))?;
    let mut ar = tar::Archive::new(crate::format::reader::open(opened.stream)?);
    let mut want: Option<String> = None;
    for entry in ar.entries()? {
        let mut entry = entry.context("the bundle's tar stream is damaged or truncated")?;
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if path == bundle::BUNDLE_JSON {
            let mut v = Vec::new();
            entry.read_to_end(&mut v)?;
            let b: BundleJson = serde_json::from_slice(&v).context("bundle.json is not valid")?;
            match b.sbom {
                Some(s) => want = Some(bundle::blob_path(&s.digest)),
                None => bail!("bundle {} carries no SBOM (made by an older bundler)", file.display()),
            }
        } else if want.as_deref() == Some(path.as_str()) {
            let mut v = Vec::new();
            entry.take(64 << 20).read_to_end(&mut v)?;
            return Ok(v);
        }
    }
    bail!("bundle {} names an SBOM it does not carry (a delta: the far side's mirror serves it)", file.display())
}

fn key_id_of(sig: &str) -> Option<String> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD.decode(sig.lines().nth(1)?.trim()).ok()?;
    let id: [u8; 8] = raw.get(2..10)?.try_into().ok()?;
    Some(crate::format::sign::KeyId(id).to_string())
}

/// Human-readable rendering.
pub fn render(s: &InspectSummary) -> String {
    let mut out = format!(
        "bundle {} sequence {} created {}, {}\n  signed by key {} (not checked: use `bundler verify`)\n  {} blobs, {} bytes carried, {} assumed present\n",
        s.name,
        s.sequence,
        s.created,
        s.expires.as_deref().map_or("never expires".to_string(), |e| format!("expires {e}")),
        s.signer_key_id.as_deref().unwrap_or("?"),
        s.blob_count,
        s.carried_bytes,
        s.assumed_count
    );
    for a in &s.artifacts {
        out.push_str(&format!("  {} {} {}\n", a.kind, a.reference, a.digest));
        if !a.carried {
            out.push_str("    assumed present on the mirror (a delta: not in this bundle)\n");
            continue;
        }
        for p in &a.platforms {
            if !p.carried {
                let label = if p.platform.is_empty() { "manifest" } else { p.platform.as_str() };
                out.push_str(&format!("    {label} {} assumed present on the mirror\n", p.digest));
                continue;
            }
            let bytes: u64 = p.layers.iter().map(|l| l.size).sum();
            let label = if p.platform.is_empty() { "manifest".to_string() } else { p.platform.clone() };
            out.push_str(&format!("    {label} {} ({} layers, {} bytes)\n", p.digest, p.layers.len(), bytes));
        }
        if !a.images.is_empty() {
            out.push_str(&format!("    images referenced: {}\n", a.images.join(" ")));
        }
    }
    out
}
