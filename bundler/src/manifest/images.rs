//! `images:` entries: references (or local OCI layouts and `docker save` tarballs) and the
//! platforms and signatures to carry with each.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{valid_platform, Manifest, ManifestError};
use crate::reference::ImageRef;

/// Where an image's bytes come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageOrigin {
    Registry,
    /// A local OCI image layout directory.
    OciLayout(PathBuf),
    /// A `docker save` tarball (or an OCI archive tarball).
    DockerArchive(PathBuf),
}

#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub reference: ImageRef,
    /// Platforms to carry (`os/arch[/variant]`); from the image or the manifest default.
    pub platforms: Vec<String>,
    /// Carry cosign `.sig/.att/.sbom` tags and OCI referrers.
    pub signatures: bool,
    pub origin: ImageOrigin,
    /// For local layouts holding several images: the `org.opencontainers.image.ref.name` to take.
    pub layout_ref: Option<String>,
    /// Local source as written in the manifest (relative to it), for the lock: absolute
    /// paths would make locks and bundles differ between machines.
    pub origin_label: Option<String>,
    pub file: String,
    pub line: u64,
}

#[derive(Debug, Default)]
pub(super) struct RawImage {
    reference: String,
    platforms: Option<Vec<String>>,
    signatures: Option<bool>,
    oci_layout: Option<String>,
    docker_archive: Option<String>,
    layout_ref: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageMap {
    r#ref: String,
    platforms: Option<Vec<String>>,
    signatures: Option<bool>,
    oci_layout: Option<String>,
    docker_archive: Option<String>,
    layout_ref: Option<String>,
}

impl<'de> Deserialize<'de> for RawImage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawImage;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an image reference, or a map with `ref:` and optional `platforms`, `signatures`, `oci_layout`, `docker_archive`, `layout_ref`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawImage, E> {
                Ok(RawImage { reference: s.to_string(), ..Default::default() })
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<RawImage, A::Error> {
                let i = ImageMap::deserialize(de::value::MapAccessDeserializer::new(m))?;
                Ok(RawImage {
                    reference: i.r#ref,
                    platforms: i.platforms,
                    signatures: i.signatures,
                    oci_layout: i.oci_layout,
                    docker_archive: i.docker_archive,
                    layout_ref: i.layout_ref,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// One `images:` entry, read once the manifest's platforms are known; a reference listed twice
/// merges its platforms.
pub(super) fn add(m: &mut Manifest, raw: RawImage, file: String, line: u64, base: &Path) -> Result<(), ManifestError> {
    let invalid = |detail: String| ManifestError::Invalid { path: file.clone(), line, detail };
    let reference = ImageRef::parse(&raw.reference).map_err(|e| invalid(e.to_string()))?;
    if let Some(bad) = raw.platforms.iter().flatten().find(|p| !valid_platform(p)) {
        return Err(invalid(format!("platform {bad:?} of {} is not of the form os/arch[/variant]", raw.reference)));
    }
    let origin_label = raw.oci_layout.clone().or(raw.docker_archive.clone());
    let origin = match (raw.oci_layout, raw.docker_archive) {
        (Some(_), Some(_)) => return Err(invalid(format!("{}: give either oci_layout or docker_archive, not both", raw.reference))),
        (Some(p), None) => ImageOrigin::OciLayout(base.join(p)),
        (None, Some(p)) => ImageOrigin::DockerArchive(base.join(p)),
        (None, None) => ImageOrigin::Registry,
    };
    if raw.layout_ref.is_some() && origin == ImageOrigin::Registry {
        return Err(invalid(format!("{}: layout_ref needs oci_layout or docker_archive", raw.reference)));
    }
    let spec = ImageSpec {
        reference,
        platforms: raw.platforms.unwrap_or_else(|| m.platforms.clone()),
        signatures: raw.signatures.unwrap_or(true),
        origin,
        layout_ref: raw.layout_ref,
        origin_label,
        file: file.clone(),
        line,
    };
    if let Some(prev) = m.images.iter_mut().find(|i| i.reference == spec.reference) {
        if prev.origin != spec.origin {
            return Err(invalid(format!("{} is listed twice with different sources (first at {} line {})", spec.reference, prev.file, prev.line)));
        }
        for p in spec.platforms {
            if !prev.platforms.contains(&p) {
                prev.platforms.push(p);
            }
        }
        return Ok(());
    }
    m.images.push(spec);
    Ok(())
}
