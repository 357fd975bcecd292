//! YAML manifests: what an operator wants carried across the gap. Several files and `---`
//! documents merge into one `Manifest`. Unknown keys and bad references are errors naming the
//! file, the key and the line.

pub use feas_format::names::{safe_segment, valid_chart_name, valid_file_name};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

mod apt;
mod files;
mod helm;
mod hf;
mod images;
mod nltk;
mod pypi;

use apt::RawApt;
pub use apt::{debian_arch, AptSpec, Baseline};
use files::RawFile;
pub use files::{FilePin, FileSpec};
use helm::RawChart;
pub use helm::{ChartOrigin, ChartSpec};
use hf::RawModel;
pub use hf::{HfSpec, HF_DEFAULT_ENDPOINT};
use images::RawImage;
pub use images::{ImageOrigin, ImageSpec};
use nltk::RawNltk;
pub use nltk::{NltkSpec, NLTK_DEFAULT_INDEX};
use pypi::RawPypi;
pub use pypi::{wheel_arch, PypiSpec, Releases, PYPI_DEFAULT_INDEX};

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

#[derive(Debug, Clone, Default)]
pub struct Manifest {
    pub name: String,
    pub platforms: Vec<String>,
    pub registries: BTreeMap<String, RegistryConfig>,
    pub images: Vec<ImageSpec>,
    pub apt: Vec<AptSpec>,
    pub pypi: Vec<PypiSpec>,
    /// `files:` entries.
    pub raw_files: Vec<FileSpec>,
    pub nltk: Vec<NltkSpec>,
    pub charts: Vec<ChartSpec>,
    /// `models:` entries with `hf:`.
    pub hf: Vec<HfSpec>,
    /// The manifest files read.
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
    #[serde(default)]
    apt: Vec<Spanned<RawApt>>,
    #[serde(default)]
    pypi: Vec<Spanned<RawPypi>>,
    #[serde(default)]
    charts: Vec<Spanned<RawChart>>,
    #[serde(default)]
    nltk: Vec<Spanned<RawNltk>>,
    #[serde(default)]
    models: Vec<Spanned<RawModel>>,
    #[serde(default)]
    files: Vec<Spanned<RawFile>>,
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
        let mut pending_apt: Vec<(RawApt, String, u64, PathBuf)> = Vec::new();
        let mut pending_pypi: Vec<(RawPypi, String, u64, PathBuf)> = Vec::new();
        let mut registry_from: BTreeMap<String, String> = BTreeMap::new();
        for path in paths {
            let file = path.display().to_string();
            m.files.push(file.clone());
            let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read { path: file.clone(), source })?;
            let docs: Vec<Option<Doc>> = serde_saphyr::from_multiple(&text).map_err(|e| ManifestError::Yaml { path: file.clone(), detail: e.to_string() })?;
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            for doc in docs.into_iter().flatten() {
                for c in doc.charts {
                    helm::add(&mut m.charts, c.value, &file, c.referenced.line())?;
                }
                if let Some(n) = doc.name {
                    if n.value.is_empty() || !n.value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                        return Err(ManifestError::Invalid {
                            path: file.clone(),
                            line: n.referenced.line(),
                            detail: format!("name {:?} must be letters, digits, `-`, `_` or `.`", n.value),
                        });
                    }
                    match &name_from {
                        Some((a, af)) if *a != n.value => return Err(ManifestError::Conflict { key: "name", a: a.clone(), a_file: af.clone(), b: n.value, b_file: file.clone() }),
                        _ => name_from = Some((n.value, file.clone())),
                    }
                }
                if let Some(p) = doc.platforms {
                    if let Some(bad) = p.value.iter().find(|p| !valid_platform(p)) {
                        return Err(ManifestError::Invalid {
                            path: file.clone(),
                            line: p.referenced.line(),
                            detail: format!("platform {bad:?} is not of the form os/arch[/variant], e.g. linux/amd64"),
                        });
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
                            return Err(ManifestError::Conflict {
                                key: "registries",
                                a: format!("{host}: {}", prev.url),
                                a_file: registry_from[&host].clone(),
                                b: format!("{host}: {}", cfg.url),
                                b_file: file.clone(),
                            });
                        }
                    }
                    if !(cfg.url.starts_with("http://") || cfg.url.starts_with("https://")) {
                        return Err(ManifestError::Invalid {
                            path: file.clone(),
                            line: 0,
                            detail: format!("registries.{host}.url {:?} must start with http:// or https://", cfg.url),
                        });
                    }
                    if cfg.url.starts_with("http://") && !cfg.insecure {
                        return Err(ManifestError::Invalid {
                            path: file.clone(),
                            line: 0,
                            detail: format!("registries.{host}.url is plain http; add `insecure: true` to allow it"),
                        });
                    }
                    registry_from.insert(host.clone(), file.clone());
                    m.registries.insert(host, cfg);
                }
                for img in doc.images {
                    pending.push((img.value, file.clone(), img.referenced.line(), base.clone()));
                }
                let mut raw_files: Vec<(RawFile, u64)> = doc.files.into_iter().map(|f| (f.value, f.referenced.line())).collect();
                for mdl in doc.models {
                    let line = mdl.referenced.line();
                    if let Some(f) = hf::add_model(&mut m.hf, mdl.value, &file, line)? {
                        raw_files.push((f, line));
                    }
                }
                for (f, line) in raw_files {
                    files::add(&mut m.raw_files, f, &file, line)?;
                }
                for n in doc.nltk {
                    nltk::add(&mut m.nltk, n.value, &file, n.referenced.line())?;
                }
                for p in doc.pypi {
                    pending_pypi.push((p.value, file.clone(), p.referenced.line(), base.clone()));
                }
                for a in doc.apt {
                    pending_apt.push((a.value, file.clone(), a.referenced.line(), base.clone()));
                }
            }
        }
        m.name = match name_from {
            Some((n, _)) => n,
            None => paths[0].file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "bundle".into()),
        };
        m.platforms = platforms_from.map(|(p, _)| p).unwrap_or_else(|| DEFAULT_PLATFORMS.iter().map(|s| s.to_string()).collect());
        for (raw, file, line, base) in pending {
            images::add(&mut m, raw, file, line, &base)?;
        }
        for (raw, file, line, base) in pending_apt {
            apt::add(&mut m.apt, raw, &m.platforms, &base, file, line)?;
        }
        for (raw, file, line, base) in pending_pypi {
            pypi::add(&mut m.pypi, raw, &m.platforms, &base, file, line)?;
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
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
