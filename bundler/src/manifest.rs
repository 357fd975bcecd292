//! YAML manifests: what an operator wants carried across the gap. Several files and `---`
//! documents merge into one `Manifest`. Unknown keys and bad references are errors naming the
//! file, the key and the line.

pub use feas_format::names::{safe_segment, valid_chart_name, valid_file_name};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, MapAccess, Visitor};
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

/// What a target system already has; the apt closure leaves it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Baseline {
    /// Nothing assumed installed: the full closure.
    #[default]
    None,
    /// `Essential: yes` and `Priority: required` packages.
    Required,
    /// Also `Priority: important`.
    Important,
}

/// One apt archive (a `sources.list` line) and the packages wanted from it. All apt entries
/// of a manifest form one universe, as several sources.list lines do for apt.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AptSpec {
    /// Archive root: the URL holding `dists/` and `pool/`.
    pub source: String,
    /// Served at `/apt/<id>/`.
    pub id: String,
    pub suite: String,
    /// A flat repository (`suite: /` or `suite: dir/` in the manifest, as apt writes it): the
    /// directory below `source` holding Release and Packages. Served as suite `stable`,
    /// component `main`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flat: Option<String>,
    pub components: Vec<String>,
    /// Debian architectures (amd64, arm64, …); `all` is always read too.
    pub architectures: Vec<String>,
    #[serde(skip)]
    pub keyring: Option<PathBuf>,
    /// The keyring as written in the manifest (locks must not depend on absolute paths).
    pub keyring_label: Option<String>,
    pub trusted: bool,
    pub recommends: bool,
    /// Relations as written: `name`, `name (>= 1.0)`, `name (= 1.2-3)`.
    pub packages: Vec<String>,
    pub exclude_installed: Baseline,
    #[serde(skip)]
    pub file: String,
    #[serde(skip)]
    pub line: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApt {
    source: String,
    id: Option<String>,
    suite: String,
    components: Option<Vec<String>>,
    architectures: Option<Vec<String>>,
    keyring: Option<String>,
    #[serde(default)]
    trusted: bool,
    #[serde(default)]
    recommends: bool,
    #[serde(default)]
    packages: Vec<String>,
    #[serde(default)]
    exclude_installed: Baseline,
}

/// One PyPI-style index and the requirements resolved against it, for every target.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PypiSpec {
    /// PEP 503/691 simple index URL, ending in `/`.
    pub index: String,
    /// Consulted only for projects `index` does not have (no dependency confusion).
    pub extra_indexes: Vec<String>,
    /// Target interpreters, `3.11`.
    pub python: Vec<String>,
    /// Wheel architectures (x86_64, aarch64), from `platforms:`.
    pub archs: Vec<String>,
    /// `glibc` (manylinux) or `musl` (musllinux), and its version.
    pub libc: String,
    pub libc_version: String,
    /// PEP 508 requirement strings, after reading any requirements file.
    pub requirements: Vec<String>,
    /// Requirements that only constrain (`-c` files).
    pub constraints: Vec<String>,
    /// `--hash=sha256:…` values of requirements-file lines, by normalized project: the file
    /// chosen for that project must have one of them (pip's hash-checking mode).
    pub hashes: BTreeMap<String, Vec<String>>,
    pub only_binary: bool,
    /// No sdist even for a project with no wheel for a target (a requirements file's
    /// `--only-binary :all:`, as pip reads it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub wheels_only: bool,
    /// Which projects may take pre-releases beyond PEP 440's default.
    #[serde(skip_serializing_if = "Releases::is_default")]
    pub releases: Releases,
    #[serde(skip)]
    pub file: String,
    #[serde(skip)]
    pub line: u64,
}

/// Pre-release choices beyond PEP 440's default (a pre-release only where a specifier names one
/// or no final release fits): pip's release control. `pre: true` and `--pre` are
/// `--all-releases :all:`; `--all-releases`/`--only-final` take `:all:`, `:none:` or names.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Releases {
    /// For every project not named in `projects`: `true` any release, `false` finals only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
    /// By normalized project name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub projects: BTreeMap<String, bool>,
}

impl Releases {
    /// `Some(true)`: pre-releases allowed; `Some(false)`: finals only; `None`: PEP 440's default.
    pub fn allows(&self, project: &str) -> Option<bool> {
        self.projects.get(project).copied().or(self.all)
    }

    fn is_default(&self) -> bool {
        *self == Releases::default()
    }

    /// One `--all-releases` (`any`) or `--only-final` value: `:all:`, `:none:` or names, comma
    /// separated; a later one overrides an earlier one, as pip applies them.
    fn apply(&mut self, any: bool, value: &str) {
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match item {
                ":all:" => {
                    self.all = Some(any);
                    self.projects.clear();
                }
                ":none:" => {
                    self.all = self.all.filter(|a| *a != any);
                    self.projects.retain(|_, a| *a != any);
                }
                name => {
                    self.projects.insert(crate::format::pypi::normalize(name), any);
                }
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPypi {
    index: Option<String>,
    #[serde(default)]
    extra_indexes: Vec<String>,
    python: Option<Vec<String>>,
    glibc: Option<String>,
    libc: Option<String>,
    musl: Option<String>,
    #[serde(default)]
    requirements: Vec<String>,
    requirements_file: Option<String>,
    only_binary: Option<bool>,
    /// Pre-releases for every project (pip's `--pre`).
    #[serde(default)]
    pre: bool,
}

pub const PYPI_DEFAULT_INDEX: &str = "https://pypi.org/simple/";

/// A raw file: an URL and how its sha256 is pinned, served at `/files/<name>`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FileSpec {
    pub url: String,
    pub pin: FilePin,
    pub name: String,
    #[serde(skip)]
    pub file: String,
    #[serde(skip)]
    pub line: u64,
}

/// Where a file's sha256 comes from. Whatever the source, `bundles.lock` then holds the
/// digest and `--locked` refuses any change.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum FilePin {
    /// Written in the manifest.
    Sha256(crate::format::Digest),
    /// Read at `bundler lock` from the project's published `sha256sum`-format list (RKE2's
    /// `sha256sum-amd64.txt`), looked up by the URL's file name.
    Checksums(String),
    /// Learnt from the bytes at `bundler lock` (`trust_on_first_use: true`): for files whose
    /// project publishes no checksum, such as an install script at a tag.
    FirstUse,
}

impl FilePin {
    /// The digest the manifest itself requires, if it names one.
    pub fn sha256(&self) -> Option<&crate::format::Digest> {
        match self {
            FilePin::Sha256(d) => Some(d),
            _ => None,
        }
    }
}

/// NLTK data packages (or collections) from a downloader index.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NltkSpec {
    pub index: String,
    pub packages: Vec<String>,
    #[serde(skip)]
    pub file: String,
    #[serde(skip)]
    pub line: u64,
}

/// Where a chart comes from: an HTTP chart repository (`index.yaml`) or an OCI registry.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum ChartOrigin {
    /// Repository URL (without `index.yaml`).
    Repo(String),
    /// `oci://host/path/name` as the canonical `host/path/name`.
    Oci(String),
}

/// A Helm chart: one version (a constraint resolved to the highest match; none = the newest
/// stable), with its dependencies unless `dependencies: false`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChartSpec {
    pub origin: ChartOrigin,
    pub name: String,
    pub version: Option<String>,
    pub dependencies: bool,
    /// Bundle the images found in the chart's values and templates.
    pub add_images: bool,
    #[serde(skip)]
    pub file: String,
    #[serde(skip)]
    pub line: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChart {
    repo: Option<String>,
    name: Option<String>,
    r#ref: Option<String>,
    version: Option<String>,
    dependencies: Option<bool>,
    add_images: Option<bool>,
}

fn chart_spec(raw: RawChart, file: &str, line: u64) -> Result<ChartSpec, String> {
    let (origin, name) = match (raw.repo, raw.r#ref, raw.name) {
        (Some(repo), None, Some(name)) => {
            if !(repo.starts_with("http://") || repo.starts_with("https://")) {
                return Err(format!("charts: repo {repo:?} must be an http(s) chart repository URL (for OCI use `ref: oci://…`)"));
            }
            (ChartOrigin::Repo(repo.trim_end_matches('/').to_string()), name)
        }
        (None, Some(r), name) => {
            let Some(rest) = r.strip_prefix("oci://") else { return Err(format!("charts: ref {r:?} must start with oci://")) };
            let image = ImageRef::parse(rest).map_err(|e| e.to_string())?;
            if rest.contains('@') || rest.rsplit('/').next().is_some_and(|l| l.contains(':')) {
                return Err(format!("charts: give the version of {r} as `version:`, not in the reference"));
            }
            let last = image.repository.rsplit('/').next().unwrap_or_default().to_string();
            if name.as_ref().is_some_and(|n| *n != last) {
                return Err(format!("charts: name {:?} differs from the last path segment of {r}", name.unwrap_or_default()));
            }
            (ChartOrigin::Oci(image.repository_name()), last)
        }
        _ => return Err("a charts: entry needs `repo:` and `name:` (HTTP repository) or `ref: oci://…`".into()),
    };
    if !valid_chart_name(&name) {
        return Err(format!("chart name {name:?} must be lowercase letters, digits, `-`, `_` or `.`"));
    }
    if raw.version.as_ref().is_some_and(|v| v.trim().is_empty()) {
        return Err(format!("chart {name}: `version:` is empty; omit it for the newest stable version"));
    }
    Ok(ChartSpec {
        origin,
        name,
        version: raw.version.map(|v| v.trim().to_string()),
        dependencies: raw.dependencies.unwrap_or(true),
        add_images: raw.add_images.unwrap_or(false),
        file: file.into(),
        line,
    })
}

pub const NLTK_DEFAULT_INDEX: &str = "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/index.xml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNltk {
    index: Option<String>,
    packages: Vec<String>,
}

/// A `models:` entry: a plain URL with its sha256 (served like `files:`), or a Hugging Face
/// repository (`hf:`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    url: Option<String>,
    sha256: Option<String>,
    name: Option<String>,
    hf: Option<String>,
    revision: Option<String>,
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    endpoint: Option<String>,
}

pub const HF_DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// A Hugging Face model repository at a revision, with the files wanted from it
/// (`include`/`exclude` as huggingface_hub's `allow_patterns`/`ignore_patterns`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HfSpec {
    pub repo: String,
    pub revision: String,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// The hub's base URL, without a trailing slash.
    pub endpoint: String,
    #[serde(skip)]
    pub file: String,
    #[serde(skip)]
    pub line: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    url: String,
    sha256: Option<String>,
    checksums: Option<String>,
    trust_on_first_use: Option<bool>,
    name: Option<String>,
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

/// Debian's name for an OCI platform's architecture (`linux/arm/v7` → `armhf`).
pub fn debian_arch(platform: &str) -> Option<String> {
    let mut p = platform.split('/');
    let (os, arch, variant) = (p.next()?, p.next()?, p.next());
    if os != "linux" {
        return None;
    }
    Some(match (arch, variant) {
        ("386", _) => "i386".into(),
        ("arm", Some("v5")) => "armel".into(),
        ("arm", _) => "armhf".into(),
        ("ppc64le", _) => "ppc64el".into(),
        (a, _) => a.into(),
    })
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
    // Ecosystems that later versions carry; named here so they get a clear message.
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
                    let line = c.referenced.line();
                    let spec = chart_spec(c.value, &file, line).map_err(|detail| ManifestError::Invalid { path: file.clone(), line, detail })?;
                    if let Some(prev) = m.charts.iter().find(|p| p.name == spec.name && p.origin != spec.origin) {
                        return Err(ManifestError::Invalid {
                            path: file.clone(),
                            line,
                            detail: format!(
                                "chart {} also comes from another source ({} line {}); the mirror serves one chart repository, so a name has one source",
                                spec.name, prev.file, prev.line
                            ),
                        });
                    }
                    m.charts.push(spec);
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
                    let invalid = |detail: String| ManifestError::Invalid { path: file.clone(), line, detail };
                    match mdl.value {
                        RawModel { hf: Some(repo), url: None, sha256: None, name: None, revision, include, exclude, endpoint } => {
                            let spec = hf_spec(repo, revision, include, exclude, endpoint).map_err(invalid)?;
                            if let Some(prev) = m.hf.iter().find(|p| p.repo == spec.repo && p.revision == spec.revision && p.endpoint == spec.endpoint) {
                                return Err(invalid(format!(
                                    "models: hf: {} revision {} is already listed ({} line {}); merge the include/exclude lists into one entry",
                                    spec.repo, spec.revision, prev.file, prev.line
                                )));
                            }
                            m.hf.push(HfSpec { file: file.clone(), line, ..spec });
                        }
                        RawModel { hf: Some(repo), .. } => {
                            return Err(invalid(format!("models: hf: {repo} takes `revision`, `include`, `exclude` and `endpoint`, not `url`, `sha256` or `name`")))
                        }
                        RawModel { url: Some(url), sha256: Some(sha256), name, revision: None, include: None, exclude: None, endpoint: None, .. } => {
                            raw_files.push((RawFile { url, sha256: Some(sha256), checksums: None, trust_on_first_use: None, name }, line))
                        }
                        _ => return Err(invalid(
                            "a models: entry needs `url:` and `sha256:` (a file), or `hf:` with optional `revision`, `include`, `exclude`, `endpoint` (a Hugging Face repository)"
                                .into(),
                        )),
                    }
                }
                for (f, line) in raw_files {
                    let spec = file_spec(f).map_err(|detail| ManifestError::Invalid { path: file.clone(), line, detail })?;
                    if let Some(prev) = m.raw_files.iter().find(|p| p.name == spec.name) {
                        if prev.url != spec.url || prev.pin != spec.pin {
                            return Err(ManifestError::Invalid {
                                path: file.clone(),
                                line,
                                detail: format!("file name {:?} is already used for {} ({} line {}); give this one its own `name:`", spec.name, prev.url, prev.file, prev.line),
                            });
                        }
                        continue;
                    }
                    m.raw_files.push(FileSpec { file: file.clone(), line, ..spec });
                }
                for n in doc.nltk {
                    let line = n.referenced.line();
                    let index = n.value.index.unwrap_or_else(|| NLTK_DEFAULT_INDEX.to_string());
                    if !(index.starts_with("http://") || index.starts_with("https://")) || n.value.packages.is_empty() {
                        return Err(ManifestError::Invalid {
                            path: file.clone(),
                            line,
                            detail: "an nltk: entry needs an http(s) `index:` (or the default) and `packages:`".into(),
                        });
                    }
                    m.nltk.push(NltkSpec { index, packages: n.value.packages, file: file.clone(), line });
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
        for (raw, file, line, base) in pending_apt {
            let spec = apt_spec(raw, &m.platforms, &base).map_err(|detail| ManifestError::Invalid { path: file.clone(), line, detail })?;
            if let Some(prev) = m.apt.iter().find(|a| a.id == spec.id && a.suite == spec.suite) {
                if prev.source != spec.source {
                    return Err(ManifestError::Invalid {
                        path: file,
                        line,
                        detail: format!(
                            "apt id {:?} suite {:?} is already used for {} ({} line {}); give this source its own `id:`",
                            spec.id, spec.suite, prev.source, prev.file, prev.line
                        ),
                    });
                }
            }
            m.apt.push(AptSpec { file, line, ..spec });
        }
        for (raw, file, line, base) in pending_pypi {
            let spec = pypi_spec(raw, &m.platforms, &base).map_err(|detail| ManifestError::Invalid { path: file.clone(), line, detail })?;
            m.pypi.push(PypiSpec { file, line, ..spec });
        }
        Ok(m)
    }
}

fn hf_spec(repo: String, revision: Option<String>, include: Option<Vec<String>>, exclude: Option<Vec<String>>, endpoint: Option<String>) -> Result<HfSpec, String> {
    use crate::format::hf;
    if !hf::valid_repo_id(&repo) {
        return Err(format!("models: hf: {repo:?} is not a Hugging Face repository id: give `owner/name` (letters, digits, `-_.`), e.g. BAAI/bge-small-en-v1.5"));
    }
    let revision = revision.unwrap_or_else(|| "main".into());
    if !hf::valid_revision(&revision) {
        return Err(format!("models: hf: {repo} revision {revision:?} is not a branch, tag or commit name (letters, digits, `-_./+`)"));
    }
    let endpoint = endpoint.unwrap_or_else(|| HF_DEFAULT_ENDPOINT.into()).trim_end_matches('/').to_string();
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(format!("models: hf: {repo} endpoint {endpoint:?} must be an http:// or https:// URL"));
    }
    let (include, exclude) = (include.unwrap_or_default(), exclude.unwrap_or_default());
    for p in include.iter().chain(&exclude) {
        crate::sources::hf::patterns(std::slice::from_ref(p)).map_err(|e| format!("models: hf: {repo}: {e}"))?;
    }
    Ok(HfSpec { repo, revision, include, exclude, endpoint, file: String::new(), line: 0 })
}

fn file_spec(raw: RawFile) -> Result<FileSpec, String> {
    if !(raw.url.starts_with("http://") || raw.url.starts_with("https://")) {
        return Err(format!("file url {:?} must be http:// or https://", raw.url));
    }
    let pin = match (raw.sha256, raw.checksums, raw.trust_on_first_use) {
        (Some(h), None, None | Some(false)) => FilePin::Sha256(
            format!("sha256:{}", h.trim_start_matches("sha256:").to_ascii_lowercase())
                .parse()
                .map_err(|_| format!("file {}: sha256 {h:?} is not 64 hex digits", raw.url))?,
        ),
        (None, Some(c), None | Some(false)) if c.starts_with("http://") || c.starts_with("https://") => FilePin::Checksums(c),
        (None, Some(c), None | Some(false)) => return Err(format!("file {}: checksums {c:?} must be an http:// or https:// URL", raw.url)),
        (None, None, Some(true)) => FilePin::FirstUse,
        _ => {
            return Err(format!(
                "file {}: give exactly one of `sha256:` (the digest), `checksums:` (the URL of the project's sha256sum list) or `trust_on_first_use: true` (pin what `bundler lock` downloads)",
                raw.url
            ))
        }
    };
    let name = match raw.name {
        Some(n) => n,
        None => {
            let last = raw.url.split(['?', '#']).next().unwrap_or_default().rsplit('/').next().unwrap_or_default();
            percent_encoding::percent_decode_str(last).decode_utf8_lossy().into_owned()
        }
    };
    if !valid_file_name(&name) {
        return Err(format!("file {}: name {name:?} must be one path segment of letters, digits, `-_.+~`; set `name:`", raw.url));
    }
    Ok(FileSpec { url: raw.url, pin, name, file: String::new(), line: 0 })
}

/// The wheel architecture of an OCI platform (`linux/arm64` → `aarch64`).
pub fn wheel_arch(platform: &str) -> Option<String> {
    let mut p = platform.split('/');
    let (os, arch) = (p.next()?, p.next()?);
    if os != "linux" {
        return None;
    }
    Some(match arch {
        "amd64" => "x86_64".into(),
        "arm64" => "aarch64".into(),
        "386" => "i686".into(),
        "arm" => "armv7l".into(),
        a => a.into(),
    })
}

fn with_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

fn pypi_spec(raw: RawPypi, platforms: &[String], base: &Path) -> Result<PypiSpec, String> {
    let mut index = with_slash(raw.index.as_deref().unwrap_or(PYPI_DEFAULT_INDEX));
    let mut extra: Vec<String> = raw.extra_indexes.iter().map(|u| with_slash(u)).collect();
    let mut requirements = raw.requirements.clone();
    let mut constraints = Vec::new();
    let mut hashes = BTreeMap::new();
    let mut opts = FileOptions::default();
    if let Some(f) = &raw.requirements_file {
        let mut seen = Vec::new();
        let mut files = ReqFiles { reqs: &mut requirements, cons: &mut constraints, extra: &mut extra, hashes: &mut hashes, seen: &mut seen, opts: &mut opts };
        let file_index = files.read(&base.join(f), 0)?;
        if let Some(i) = file_index {
            if raw.index.is_none() {
                index = with_slash(&i);
            }
        }
    }
    for u in std::iter::once(&index).chain(&extra) {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(format!("pypi index {u:?} must be an http:// or https:// URL"));
        }
        // Over plain HTTP there is nothing to trust; TLS is always verified.
        let authority = u.strip_prefix("https://").map(|r| r.split('/').next().unwrap_or_default());
        if let Some((host, at)) = opts.trusted_hosts.iter().find(|(h, _)| authority.is_some_and(|a| a == h || a.split(':').next() == Some(h.as_str()))) {
            return Err(format!("{at}: `--trusted-host {host}` would skip TLS verification for {u}; bundler always verifies it: give the index's http:// URL, or make its certificate one this machine trusts"));
        }
    }
    let mut releases = opts.releases.clone();
    if raw.pre || opts.pre {
        if opts.release_control {
            return Err("`--pre` (or `pre: true`) and --all-releases/--only-final cannot be combined (pip refuses it too); keep one".into());
        }
        releases = Releases { all: Some(true), projects: BTreeMap::new() };
    }
    if let (Some(false), Some(at)) = (raw.only_binary, &opts.binary) {
        return Err(format!("`only_binary: false` contradicts {at}; remove one"));
    }
    for r in requirements.iter().chain(&constraints) {
        crate::sources::pypi::parse_requirement(r).map_err(|e| format!("requirement {r:?} is not valid PEP 508: {e}"))?;
    }
    if requirements.is_empty() {
        return Err("pypi entry has no `requirements:` (or `requirements_file:`)".into());
    }
    let python = raw.python.unwrap_or_else(|| vec!["3.11".into()]);
    for v in &python {
        let ok = v.split('.').count() == 2 && v.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(format!("python {v:?} must be MAJOR.MINOR, e.g. \"3.11\""));
        }
    }
    let mut archs: Vec<String> = platforms.iter().filter_map(|p| wheel_arch(p)).collect();
    archs.dedup();
    if archs.is_empty() {
        return Err("no linux platform in `platforms:` to pick wheels for".into());
    }
    let libc = raw.libc.clone().unwrap_or_else(|| "glibc".into());
    let libc_version = match libc.as_str() {
        "glibc" => raw.glibc.clone().unwrap_or_else(|| "2.17".into()),
        "musl" => raw.musl.clone().unwrap_or_else(|| "1.2".into()),
        other => return Err(format!("libc {other:?} must be glibc or musl")),
    };
    let ok = libc_version.split('.').count() == 2 && libc_version.split('.').all(|p| p.parse::<u32>().is_ok());
    if !ok {
        return Err(format!("{libc} version {libc_version:?} must be MAJOR.MINOR"));
    }
    Ok(PypiSpec {
        index,
        extra_indexes: extra,
        python,
        archs,
        libc,
        libc_version,
        requirements,
        constraints,
        hashes,
        only_binary: raw.only_binary.unwrap_or(true),
        wheels_only: opts.wheels_only,
        releases,
        file: String::new(),
        line: 0,
    })
}

/// What pip requirements files add up to.
struct ReqFiles<'a> {
    reqs: &'a mut Vec<String>,
    cons: &'a mut Vec<String>,
    extra: &'a mut Vec<String>,
    hashes: &'a mut BTreeMap<String, Vec<String>>,
    seen: &'a mut Vec<PathBuf>,
    opts: &'a mut FileOptions,
}

/// Requirements-file options that apply to the whole entry.
#[derive(Default)]
struct FileOptions {
    /// `--pre`.
    pre: bool,
    /// `--all-releases` / `--only-final`, applied in file order.
    releases: Releases,
    release_control: bool,
    /// `--only-binary :all:` or `--prefer-binary` (where, for a conflict with `only_binary: false`).
    binary: Option<String>,
    /// `--only-binary :all:`: not even an sdist for a project without wheels.
    wheels_only: bool,
    /// `--trusted-host` values, with where they were given.
    trusted_hosts: Vec<(String, String)>,
}

impl ReqFiles<'_> {
    /// A pip requirements file: requirement lines (with their `--hash` options), `-r`/`-c`
    /// includes, `--index-url`, `--extra-index-url`, and the options that set what may be
    /// chosen (pre-releases, binaries); comments dropped. An option bundler cannot honour is an
    /// error, never ignored. Returns the file's `--index-url`, if any.
    fn read(&mut self, path: &Path, depth: usize) -> Result<Option<String>, String> {
        if depth > 8 || self.seen.contains(&path.to_path_buf()) {
            return Err(format!("requirements file {} includes itself", path.display()));
        }
        self.seen.push(path.to_path_buf());
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read requirements file {}: {e}", path.display()))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut index = None;
        let joined = text.replace("\\\n", " ");
        for (n, line) in joined.lines().enumerate() {
            let line = line.split(" #").next().unwrap_or_default().trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = format!("{} line {}", path.display(), n + 1);
            let (opt, rest) = line.split_once([' ', '=']).map(|(a, b)| (a, b.trim())).unwrap_or((line, ""));
            match opt {
                "-r" | "--requirement" => {
                    index = index.or(self.read(&dir.join(rest), depth + 1)?);
                }
                "-c" | "--constraint" => {
                    let mut sub = Vec::new();
                    let mut files = ReqFiles { reqs: &mut sub, cons: &mut *self.cons, extra: &mut *self.extra, hashes: &mut *self.hashes, seen: &mut *self.seen, opts: &mut *self.opts };
                    files.read(&dir.join(rest), depth + 1)?;
                    self.cons.extend(sub);
                }
                "-i" | "--index-url" => index = Some(rest.to_string()),
                "--extra-index-url" => self.extra.push(with_slash(rest)),
                "--pre" => self.opts.pre = true,
                "--all-releases" | "--only-final" if !rest.is_empty() => {
                    self.opts.releases.apply(opt == "--all-releases", rest);
                    self.opts.release_control = true;
                }
                "--only-binary" if rest == ":all:" => {
                    self.opts.wheels_only = true;
                    self.opts.binary = Some(format!("{at} (`--only-binary :all:`)"));
                }
                "--prefer-binary" => self.opts.binary = Some(format!("{at} (`--prefer-binary`)")),
                "--only-binary" | "--no-binary" => {
                    return Err(format!(
                        "{at}: `{line}`: per-project binary choices are not supported; `only_binary:` on the pypi: entry covers every project (true, the default: wheels, an sdist only for a project with no wheel for a target; false: sdists too); `--only-binary :all:` is read"
                    ))
                }
                "--find-links" | "-f" | "--no-index" => {
                    return Err(format!("{at}: `{opt}`: bundler reads simple (PEP 503/691) indexes only; serve those files from one and name it with --index-url, --extra-index-url or `extra_indexes:`"))
                }
                "--trusted-host" if !rest.is_empty() => self.opts.trusted_hosts.push((rest.to_string(), at.clone())),
                o if o.starts_with('-') => {
                    return Err(format!(
                        "{at}: option {o} is not supported (read are -r, -c, --index-url, --extra-index-url, --pre, --all-releases, --only-final, --only-binary :all:, --prefer-binary, --trusted-host and --hash); remove it"
                    ))
                }
                _ => {
                    // `pkg==1.0 --hash=sha256:...`: the requirement is what precedes the options.
                    let mut parts = line.split(" --");
                    let req = parts.next().unwrap_or(line).trim();
                    for o in parts {
                        let o = o.trim();
                        let Some(h) = o.strip_prefix("hash=").or_else(|| o.strip_prefix("hash ")) else {
                            return Err(format!("{} line {}: option --{o} is not supported", path.display(), n + 1));
                        };
                        let hex = h.trim().strip_prefix("sha256:").ok_or_else(|| format!("{} line {}: only sha256 hashes are supported, got {h}", path.display(), n + 1))?;
                        let name = crate::sources::pypi::parse_requirement(req).map_err(|e| format!("{} line {}: {e}", path.display(), n + 1))?.name.to_string();
                        self.hashes.entry(crate::format::pypi::normalize(&name)).or_default().push(hex.to_ascii_lowercase());
                    }
                    self.reqs.push(req.to_string());
                }
            }
        }
        Ok(index)
    }
}

fn apt_spec(raw: RawApt, platforms: &[String], base: &Path) -> Result<AptSpec, String> {
    let source = raw.source.trim_end_matches('/').to_string();
    if !(source.starts_with("http://") || source.starts_with("https://")) {
        return Err(format!("apt source {:?} must be an http:// or https:// archive root", raw.source));
    }
    let id = match raw.id {
        Some(id) => id,
        None => source.rsplit('/').next().unwrap_or_default().to_string(),
    };
    if !safe_segment(&id) {
        return Err(format!("apt id {id:?} (served at /apt/<id>/) must be letters, digits, `-_.+~`; set `id:`"));
    }
    // apt's flat-repository spelling: the suite is a directory ending in `/`, no components.
    let flat = raw.suite.ends_with('/').then(|| raw.suite.trim_matches('/').to_string());
    if let Some(dir) = &flat {
        if dir.split('/').any(|c| c == ".." || c == ".") || !dir.split('/').all(|c| c.is_empty() || safe_segment(c)) {
            return Err(format!("apt flat directory {:?} must be a relative path of letters, digits, `-_.+~`", raw.suite));
        }
        if raw.components.is_some() {
            return Err(format!("apt source {id}: suite {:?} is a flat repository (a directory), which has no components; remove `components:`", raw.suite));
        }
    } else if !safe_segment(&raw.suite) {
        return Err(format!("apt suite {:?} must be one path segment of letters, digits, `-_.+~`, or a flat repository's directory ending in `/`", raw.suite));
    } else if source.contains("$(ARCH)") {
        return Err(format!("apt source {id}: `$(ARCH)` in `source:` is supported for flat repositories (`suite: /`) only"));
    }
    let suite = if flat.is_some() { "stable".to_string() } else { raw.suite };
    let components = raw.components.unwrap_or_else(|| vec!["main".into()]);
    let architectures = match raw.architectures {
        Some(a) => a,
        None => {
            let mut a: Vec<String> = platforms.iter().filter_map(|p| debian_arch(p)).collect();
            a.dedup();
            a
        }
    };
    for s in components.iter().chain(&architectures) {
        if !safe_segment(s) {
            return Err(format!("{s:?} is not a valid apt component or architecture"));
        }
    }
    if architectures.is_empty() {
        return Err("no apt architecture: set `architectures:` or a linux `platforms:` entry".into());
    }
    if architectures.iter().any(|a| a == "all") {
        return Err("`all` is always read; list the targets' architectures (amd64, arm64, …)".into());
    }
    if raw.keyring.is_none() && !raw.trusted {
        return Err(format!("apt source {source} has no `keyring:`; give the archive's signing key (e.g. /usr/share/keyrings/debian-archive-keyring.gpg) or, only for an archive you trust by other means, `trusted: true`"));
    }
    for p in &raw.packages {
        p.parse::<debian_control::lossy::Relation>().map_err(|e| format!("apt package {p:?} is not `name` or `name (op version)`: {e}"))?;
    }
    let keyring = raw.keyring.as_ref().map(|k| base.join(k));
    Ok(AptSpec {
        source,
        id,
        suite,
        flat,
        components,
        architectures,
        keyring,
        keyring_label: raw.keyring,
        trusted: raw.trusted,
        recommends: raw.recommends,
        packages: raw.packages,
        exclude_installed: raw.exclude_installed,
        file: String::new(),
        line: 0,
    })
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

    #[test]
    fn hf_models() {
        let d = tempfile::tempdir().unwrap();
        let a = write(
            d.path(),
            "m.yaml",
            "models:\n  - {hf: BAAI/bge-small-en-v1.5, include: ['*.json'], endpoint: 'http://127.0.0.1:1/'}\n  - hf: demo/tiny\n    revision: refs/pr/1\n",
        );
        let m = Manifest::load(&[a]).unwrap();
        assert_eq!(m.hf.len(), 2);
        assert_eq!((m.hf[0].revision.as_str(), m.hf[0].endpoint.as_str(), m.hf[0].line), ("main", "http://127.0.0.1:1", 2));
        assert_eq!((m.hf[1].revision.as_str(), m.hf[1].endpoint.as_str()), ("refs/pr/1", HF_DEFAULT_ENDPOINT));
        for (text, needle) in [
            ("models:\n  - {hf: gpt2}\n", "owner/name"),
            ("models:\n  - {hf: a/b, revision: '../x'}\n", "revision"),
            ("models:\n  - {hf: a/b, include: ['[']}\n", "["),
            ("models:\n  - {hf: a/b, sha256: x}\n", "not `url`"),
            ("models:\n  - {hf: a/b}\n  - {hf: a/b}\n", "already listed"),
        ] {
            let p = write(d.path(), "bad.yaml", text);
            let e = Manifest::load(&[p]).unwrap_err().to_string();
            assert!(e.contains("bad.yaml line") && e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn requirements_file_options_are_read_or_refused() {
        let d = tempfile::tempdir().unwrap();
        let load = |reqs: &str, entry: &str| {
            write(d.path(), "r.txt", reqs);
            let m = write(d.path(), "m.yaml", &format!("platforms: [linux/amd64]\npypi:\n  - requirements_file: r.txt\n{entry}"));
            Manifest::load(&[m]).map(|m| m.pypi[0].clone()).map_err(|e| e.to_string())
        };
        let plain = load("a\n", "").unwrap();
        assert_eq!((plain.releases.allows("a"), plain.only_binary, plain.wheels_only), (None, true, false));
        // Without the new options an entry serializes as before: bundles.lock's pypi_request holds.
        let json = serde_json::to_string(&plain).unwrap();
        assert!(!json.contains("releases") && !json.contains("wheels_only"), "{json}");
        assert_eq!(load("--pre\na\n", "").unwrap().releases.allows("a"), Some(true));
        assert_eq!(load("a\n", "    pre: true\n").unwrap().releases.allows("a"), Some(true));
        // pip's release control: `:all:` then names, a later option overriding an earlier one.
        let r = load("--only-final :all:\n--all-releases Foo_Bar,baz\n--only-final=baz\na\n", "").unwrap().releases;
        assert_eq!((r.allows("foo-bar"), r.allows("baz"), r.allows("a")), (Some(true), Some(false), Some(false)));
        assert_eq!(load("--all-releases a\n--all-releases :none:\na\n", "").unwrap().releases.allows("a"), None);
        let e = load("--pre\n--only-final x\na\n", "").unwrap_err();
        assert!(e.contains("--pre") && e.contains("--only-final"), "{e}");
        let e = load("--only-final x\na\n", "    pre: true\n").unwrap_err();
        assert!(e.contains("pre: true"), "{e}");
        // Binaries: `--only-binary :all:` refuses sdists outright; `--prefer-binary` is the default.
        let strict = load("--only-binary=:all:\na\n", "").unwrap();
        assert!(strict.only_binary && strict.wheels_only);
        let prefer = load("--prefer-binary\na\n", "").unwrap();
        assert!(prefer.only_binary && !prefer.wheels_only);
        let e = load("--only-binary :all:\na\n", "    only_binary: false\n").unwrap_err();
        assert!(e.contains("only_binary: false") && e.contains("r.txt line 1"), "{e}");
        for (line, needle) in [
            ("--no-binary :all:", "only_binary:"),
            ("--only-binary foo", "only_binary:"),
            ("--find-links /srv/wheels", "simple"),
            ("-f /srv/wheels", "simple"),
            ("--no-index", "simple"),
            ("--use-feature fast-deps", "not supported"),
            ("-e .", "not supported"),
            ("a --config-settings x=y", "not supported"),
        ] {
            let e = load(&format!("{line}\na\n"), "").unwrap_err();
            assert!(e.contains("r.txt line 1") && e.contains(needle), "{line}: {e}");
        }
        // `--trusted-host`: nothing to trust over plain HTTP; never a skipped TLS check.
        assert!(load("--trusted-host 127.0.0.1\na\n", "").is_ok());
        let e = load("--index-url https://pypi.example:8443/simple/\n--trusted-host pypi.example\na\n", "").unwrap_err();
        assert!(e.contains("--trusted-host pypi.example") && e.contains("TLS"), "{e}");
    }

    #[test]
    fn model_urls_are_files() {
        let d = tempfile::tempdir().unwrap();
        let h = "a".repeat(64);
        let a = write(
            d.path(),
            "m.yaml",
            &format!(
                "models:\n  - {{url: 'https://example.org/x/nomic-embed.f32.gguf', sha256: '{h}'}}\nfiles:\n  - {{url: 'https://get.rke2.io', sha256: '{h}', name: install.sh}}\n"
            ),
        );
        let m = Manifest::load(&[a]).unwrap();
        let names: Vec<&str> = m.raw_files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["install.sh", "nomic-embed.f32.gguf"]);
    }
}
