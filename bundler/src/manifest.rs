//! YAML manifests: what an operator wants carried across the gap. Several files and `---`
//! documents merge into one `Manifest`. Unknown keys and bad references are errors naming the
//! file, the key and the line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

use crate::reference::ImageRef;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("manifest {path}: {detail}")]
    Yaml { path: String, detail: String },
    #[error("manifest {path} line {line}: {detail}")]
    Invalid { path: String, line: u64, detail: String },
    #[error("manifests disagree on `{key}`: {a:?} in {a_file} but {b:?} in {b_file}")]
    Conflict { key: &'static str, a: String, a_file: String, b: String, b_file: String },
    #[error("no manifest given")]
    Empty,
}

/// A registry endpoint override: canonical name (e.g. `docker.io`) → where to fetch it from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    pub url: String,
    #[serde(default)]
    pub insecure: bool,
    /// Basic-auth user name; the password is read from the environment variable `password_env`.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
}

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

#[derive(Debug, Clone, Default)]
pub struct Manifest {
    pub name: String,
    pub platforms: Vec<String>,
    pub registries: BTreeMap<String, RegistryConfig>,
    pub images: Vec<ImageSpec>,
    pub files: Vec<String>,
}

pub const DEFAULT_PLATFORMS: &[&str] = &["linux/amd64"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    name: Option<Spanned<String>>,
    platforms: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    registries: BTreeMap<String, RegistryConfig>,
    #[serde(default)]
    images: Vec<Spanned<RawImage>>,
    // Ecosystems that later versions carry; named here so they get a clear message.
    apt: Option<Spanned<IgnoredAny>>,
    pypi: Option<Spanned<IgnoredAny>>,
    charts: Option<Spanned<IgnoredAny>>,
    nltk: Option<Spanned<IgnoredAny>>,
    models: Option<Spanned<IgnoredAny>>,
    files: Option<Spanned<IgnoredAny>>,
}

#[derive(Debug, Default)]
struct RawImage {
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

fn valid_platform(p: &str) -> bool {
    let parts: Vec<&str> = p.split('/').collect();
    (2..=3).contains(&parts.len()) && parts.iter().all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'))
}

impl Manifest {
    pub fn load(paths: &[PathBuf]) -> Result<Manifest, ManifestError> {
        if paths.is_empty() {
            return Err(ManifestError::Empty);
        }
        let mut m = Manifest::default();
        let mut name_from: Option<(String, String)> = None;
        let mut platforms_from: Option<(Vec<String>, String)> = None;
        let mut pending: Vec<(RawImage, String, u64, PathBuf)> = Vec::new();
        let mut registry_from: BTreeMap<String, String> = BTreeMap::new();
        for path in paths {
            let file = path.display().to_string();
            m.files.push(file.clone());
            let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read { path: file.clone(), source })?;
            let docs: Vec<Option<Doc>> = serde_saphyr::from_multiple(&text)
                .map_err(|e| ManifestError::Yaml { path: file.clone(), detail: e.to_string() })?;
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            for doc in docs.into_iter().flatten() {
                for (key, v) in [("apt", &doc.apt), ("pypi", &doc.pypi), ("charts", &doc.charts), ("nltk", &doc.nltk), ("models", &doc.models), ("files", &doc.files)] {
                    if let Some(v) = v {
                        return Err(ManifestError::Invalid {
                            path: file.clone(),
                            line: v.referenced.line(),
                            detail: format!("`{key}:` is not supported by this bundler version yet (images only); remove it or upgrade"),
                        });
                    }
                }
                if let Some(n) = doc.name {
                    if n.value.is_empty() || !n.value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                        return Err(ManifestError::Invalid { path: file.clone(), line: n.referenced.line(), detail: format!("name {:?} must be letters, digits, `-`, `_` or `.`", n.value) });
                    }
                    match &name_from {
                        Some((a, af)) if *a != n.value => {
                            return Err(ManifestError::Conflict { key: "name", a: a.clone(), a_file: af.clone(), b: n.value, b_file: file.clone() })
                        }
                        _ => name_from = Some((n.value, file.clone())),
                    }
                }
                if let Some(p) = doc.platforms {
                    if let Some(bad) = p.value.iter().find(|p| !valid_platform(p)) {
                        return Err(ManifestError::Invalid { path: file.clone(), line: p.referenced.line(), detail: format!("platform {bad:?} is not of the form os/arch[/variant], e.g. linux/amd64") });
                    }
                    match &platforms_from {
                        Some((a, af)) if *a != p.value => {
                            return Err(ManifestError::Conflict { key: "platforms", a: a.join(","), a_file: af.clone(), b: p.value.join(","), b_file: file.clone() })
                        }
                        _ => platforms_from = Some((p.value, file.clone())),
                    }
                }
                for (host, cfg) in doc.registries {
                    if let Some(prev) = m.registries.get(&host) {
                        if *prev != cfg {
                            return Err(ManifestError::Conflict { key: "registries", a: format!("{host}: {}", prev.url), a_file: registry_from[&host].clone(), b: format!("{host}: {}", cfg.url), b_file: file.clone() });
                        }
                    }
                    if !(cfg.url.starts_with("http://") || cfg.url.starts_with("https://")) {
                        return Err(ManifestError::Invalid { path: file.clone(), line: 0, detail: format!("registries.{host}.url {:?} must start with http:// or https://", cfg.url) });
                    }
                    if cfg.url.starts_with("http://") && !cfg.insecure {
                        return Err(ManifestError::Invalid { path: file.clone(), line: 0, detail: format!("registries.{host}.url is plain http; add `insecure: true` to allow it") });
                    }
                    registry_from.insert(host.clone(), file.clone());
                    m.registries.insert(host, cfg);
                }
                for img in doc.images {
                    pending.push((img.value, file.clone(), img.referenced.line(), base.clone()));
                }
            }
        }
        m.name = match name_from {
            Some((n, _)) => n,
            None => paths[0].file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "bundle".into()),
        };
        m.platforms = platforms_from.map(|(p, _)| p).unwrap_or_else(|| DEFAULT_PLATFORMS.iter().map(|s| s.to_string()).collect());
        for (raw, file, line, base) in pending {
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
                continue;
            }
            m.images.push(spec);
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn merges_documents_and_files() {
        let d = tempfile::tempdir().unwrap();
        let a = write(d.path(), "a.yaml", "name: mage\nplatforms: [linux/amd64, linux/arm64]\nregistries:\n  docker.io: {url: 'http://127.0.0.1:5001', insecure: true}\nimages:\n  - postgres:13\n---\nimages:\n  - {ref: nvcr.io/nvidia/cuda:11.8.0, platforms: [linux/amd64]}\n");
        let b = write(d.path(), "b.yaml", "images:\n  - docker.io/library/postgres:13\n  - {ref: localhost/demo/hello:1, oci_layout: layout}\n");
        let m = Manifest::load(&[a, b]).unwrap();
        assert_eq!(m.name, "mage");
        assert_eq!(m.images.len(), 3, "postgres:13 deduplicated");
        assert_eq!(m.images[0].reference.to_string(), "docker.io/library/postgres:13");
        assert_eq!(m.images[0].platforms, vec!["linux/amd64", "linux/arm64"]);
        assert_eq!(m.images[1].platforms, vec!["linux/amd64"]);
        assert_eq!(m.images[2].origin, ImageOrigin::OciLayout(d.path().join("layout")));
        assert!(m.registries["docker.io"].insecure);
    }

    #[test]
    fn unknown_key_names_file_key_and_line() {
        let d = tempfile::tempdir().unwrap();
        let a = write(d.path(), "m.yaml", "name: x\nimages:\n  - {ref: busybox:1, platfroms: [linux/amd64]}\n");
        let e = Manifest::load(&[a]).unwrap_err().to_string();
        assert!(e.contains("m.yaml") && e.contains("platfroms") && e.contains("line 3"), "{e}");
        let b = write(d.path(), "n.yaml", "name: x\nimagez: []\n");
        let e = Manifest::load(&[b]).unwrap_err().to_string();
        assert!(e.contains("n.yaml") && e.contains("imagez") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn bad_reference_names_line() {
        let d = tempfile::tempdir().unwrap();
        let a = write(d.path(), "m.yaml", "images:\n  - ok:1\n  - 'Bad Ref!'\n");
        let e = Manifest::load(&[a]).unwrap_err().to_string();
        assert!(e.contains("m.yaml line 3") && e.contains("Bad Ref!"), "{e}");
    }

    #[test]
    fn plain_http_needs_insecure() {
        let d = tempfile::tempdir().unwrap();
        let a = write(d.path(), "m.yaml", "registries:\n  docker.io: {url: 'http://127.0.0.1:1'}\n");
        assert!(Manifest::load(&[a]).unwrap_err().to_string().contains("insecure"));
    }
}
