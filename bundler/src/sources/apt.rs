//! Debian/Ubuntu archives: the signed `InRelease` (or `Release` + `Release.gpg`) checked
//! against the manifest's keyring, every Packages index checked against the Release hashes,
//! the dependency closure resolved (`resolve.rs`), and each deb fetched, checked against the
//! sha256 of its signed index entry, and bundled as an OCI artifact carrying its stanza.

mod ecosystem;
mod openpgp;
pub mod resolve;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use debian_control::lossy::{Relation, Relations};

use super::http::{Http, HttpError};
use super::{each, titled_layer, Artifact, Fetched};
use crate::cache::{BlobCache, CacheError};
use crate::format::bundle::kinds;
use crate::format::deb::{self, DebConfig};
use crate::format::lock::DebLock;
use crate::format::Digest;
use crate::manifest::{AptSpec, Baseline};
use crate::progress::Progress;
use openpgp::{Keyring, PgpError};
use resolve::{Pkg, Request, Universe};

/// Release files are small (Debian's is ~150 KiB); refuse anything absurd.
const MAX_RELEASE: u64 = 32 << 20;

#[derive(Debug, thiserror::Error)]
pub enum AptError {
    #[error("apt source {id}: cannot fetch {url}: {detail}; check `source:`/`suite:` in the manifest and the network")]
    Fetch { id: String, url: String, detail: String },
    #[error("apt source {id}: signature check of {url} failed: {detail}; the archive is not signed by a usable key in `keyring:` — fix the keyring (or, only for an archive trusted by other means, set `trusted: true`)")]
    Signature { id: String, url: String, detail: String },
    #[error("apt source {id}: {url}: {detail}")]
    Release { id: String, url: String, detail: String },
    #[error("apt source {id}: Packages index {url} does not match the signed Release file (expected sha256 {expected}, {expected_size} bytes; got {actual}, {actual_size} bytes); the archive is inconsistent or tampered with — retry later or use another mirror")]
    IndexHash { id: String, url: String, expected: String, expected_size: u64, actual: String, actual_size: u64 },
    #[error("apt source {id}: {url}: {detail}")]
    Index { id: String, url: String, detail: String },
    #[error("deb {file}: the bytes at {url} do not match the signed Packages index (expected sha256 {expected}, {expected_size} bytes; got {actual}, {actual_size} bytes); nothing was bundled — retry, or report the archive")]
    DebHash { file: String, url: String, expected: String, expected_size: u64, actual: String, actual_size: u64 },
    // Not `#[from]`: that would make it the source too, and the chain would print it twice.
    #[error("apt: {0}; add the missing package's archive to `apt:` or change the request")]
    Unsatisfiable(resolve::Unsatisfiable),
    #[error("apt: requested package {package:?} ({file} line {line}) is not in any source for {arch}; check the name and `components:`")]
    NotFound { package: String, file: String, line: u64, arch: String },
    #[error("deb {name}: {detail}; run `bundler lock` to resolve again")]
    Drift { name: String, detail: String },
    #[error("apt keyring: {0}")]
    Keyring(String),
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// One archive's Release, verified.
#[derive(Debug, Clone)]
pub struct ArchiveInfo {
    pub codename: Option<String>,
    pub origin: Option<String>,
    pub label: Option<String>,
    /// Fingerprint of the key that signed it, or `None` under `trusted: true`.
    pub signer: Option<String>,
}

/// Every source of a manifest, loaded and checked.
pub struct Loaded {
    pub universe: Universe,
    pub archives: Vec<ArchiveInfo>,
}

pub struct AptSource {
    http: Http,
    cache: Arc<BlobCache>,
}

/// Where a Release and the indexes it lists live: `dists/<suite>/`, or a flat repository's
/// directory with `$(ARCH)` substituted as apt does.
fn release_base(spec: &AptSpec, arch: &str) -> String {
    match &spec.flat {
        None => format!("{}/dists/{}", spec.source, spec.suite),
        Some(dir) => {
            let base = spec.source.replace("$(ARCH)", arch);
            if dir.is_empty() {
                base
            } else {
                format!("{base}/{dir}")
            }
        }
    }
}

/// The repository bases one source reads: one per target architecture when a flat source
/// names `$(ARCH)`, else one. Each comes with the architectures read from it.
fn bases(spec: &AptSpec) -> Vec<(String, Vec<String>)> {
    if spec.flat.is_some() && spec.source.contains("$(ARCH)") {
        spec.architectures.iter().map(|a| (release_base(spec, a), vec![a.clone()])).collect()
    } else {
        vec![(release_base(spec, spec.architectures.first().map(String::as_str).unwrap_or_default()), spec.architectures.clone())]
    }
}

/// One line of a Release checksum field: `hash size path`.
struct IndexFile {
    sha256: String,
    size: u64,
    path: String,
}

impl AptSource {
    pub fn new(cache: Arc<BlobCache>) -> AptSource {
        AptSource { http: Http::new(), cache }
    }

    /// Fetch and verify every source's Release and Packages indexes.
    pub async fn load(&self, specs: &[AptSpec]) -> Result<Loaded, AptError> {
        let mut loaded = Loaded { universe: Universe::default(), archives: Vec::new() };
        for (n, spec) in specs.iter().enumerate() {
            let mut info = None;
            let mut read_any = false;
            for (base, archs) in bases(spec) {
                let (release, i) = self.release(spec, &base).await?;
                info.get_or_insert(i);
                let files = checksums(&release);
                for component in &spec.components {
                    for arch in archs.iter().map(String::as_str).chain(["all"]) {
                        let Some(f) = pick_index(&files, spec.flat.is_some(), component, arch) else {
                            tracing::debug!("{}: no Packages index for {component}/{arch}", spec.id);
                            continue;
                        };
                        read_any = true;
                        self.read_index(spec, n, component, &base, &archs, f, &mut loaded.universe).await?;
                        if spec.flat.is_some() {
                            break; // one Packages holds every architecture
                        }
                    }
                }
            }
            if !read_any {
                return Err(AptError::Release {
                    id: spec.id.clone(),
                    url: format!("{}/Release", release_base(spec, spec.architectures.first().map(String::as_str).unwrap_or_default())),
                    detail: format!(
                        "lists no Packages index for components {:?} and architectures {:?}; check `components:` and `architectures:`",
                        spec.components, spec.architectures
                    ),
                });
            }
            loaded.archives.push(info.expect("every source has a base"));
        }
        Ok(loaded)
    }

    /// The Release text, verified: InRelease if the archive has it, else Release + Release.gpg.
    async fn release(&self, spec: &AptSpec, base: &str) -> Result<(String, ArchiveInfo), AptError> {
        let keyring = match (&spec.keyring, spec.trusted) {
            (_, true) => None,
            (Some(k), false) => Some(Keyring::load(k).map_err(|e| AptError::Keyring(e.to_string()))?),
            (None, false) => return Err(AptError::Keyring(format!("apt source {} has no keyring", spec.id))),
        };
        let fetch_err = |url: &str, e: HttpError| AptError::Fetch { id: spec.id.clone(), url: url.into(), detail: e.to_string() };
        let sig_err = |url: &str, e: PgpError| AptError::Signature { id: spec.id.clone(), url: url.into(), detail: e.to_string() };
        let in_release = format!("{base}/InRelease");
        let (text, signer, url) = match self.http.get_small(&in_release, MAX_RELEASE).await {
            Ok(bytes) => {
                let armored = String::from_utf8(bytes).map_err(|_| sig_err(&in_release, PgpError::Bad("not text".into())))?;
                match &keyring {
                    Some(k) => {
                        let (text, signer) = k.verify_cleartext(&armored).map_err(|e| sig_err(&in_release, e))?;
                        (text, Some(signer), in_release)
                    }
                    None => (openpgp::cleartext_unverified(&armored).map_err(|e| sig_err(&in_release, e))?, None, in_release),
                }
            }
            Err(e) if e.is_not_found() => {
                let url = format!("{base}/Release");
                let data = self.http.get_small(&url, MAX_RELEASE).await.map_err(|e| fetch_err(&url, e))?;
                let signer = match &keyring {
                    Some(k) => {
                        let sig_url = format!("{base}/Release.gpg");
                        let sig = self.http.get_small(&sig_url, 1 << 20).await.map_err(|e| match e {
                            e if e.is_not_found() => sig_err(&sig_url, PgpError::Bad("the archive has neither InRelease nor Release.gpg: it is unsigned".into())),
                            e => fetch_err(&sig_url, e),
                        })?;
                        Some(k.verify_detached(&data, &sig).map_err(|e| sig_err(&url, e))?)
                    }
                    None => None,
                };
                let text = String::from_utf8(data).map_err(|_| AptError::Release { id: spec.id.clone(), url: url.clone(), detail: "is not UTF-8 text".into() })?;
                (text, signer, url)
            }
            Err(e) => return Err(fetch_err(&in_release, e)),
        };
        let bad = |detail: String| AptError::Release { id: spec.id.clone(), url: url.clone(), detail };
        let p: deb822_fast::Paragraph = text.parse().map_err(|e| bad(format!("is not a Release file: {e:?}")))?;
        if let Some(until) = p.get("Valid-Until") {
            let t = parse_date(until).ok_or_else(|| bad(format!("Valid-Until {until:?} is not a date")))?;
            if t < chrono::Utc::now() {
                return Err(bad(format!("expired at {until} (Valid-Until); the archive or its mirror is stale — use a current mirror")));
            }
        }
        if let Some(s) = p.get("Suite").or(p.get("Codename")).filter(|_| spec.flat.is_none()) {
            if s != spec.suite && p.get("Codename") != Some(spec.suite.as_str()) {
                tracing::warn!("{}: Release says suite {s:?}, the manifest asked for {:?}", spec.id, spec.suite);
            }
        }
        let info = ArchiveInfo { codename: p.get("Codename").map(str::to_string), origin: p.get("Origin").map(str::to_string), label: p.get("Label").map(str::to_string), signer };
        Ok((text, info))
    }

    /// Fetch one Packages index (through the cache: it is named by its signed sha256),
    /// then parse it into the universe.
    #[allow(clippy::too_many_arguments)]
    async fn read_index(&self, spec: &AptSpec, n: usize, component: &str, base: &str, archs: &[String], f: &IndexFile, u: &mut Universe) -> Result<(), AptError> {
        let url = format!("{base}/{}", f.path);
        let digest: Digest =
            format!("sha256:{}", f.sha256).parse().map_err(|_| AptError::Index { id: spec.id.clone(), url: url.clone(), detail: "bad sha256 in Release".into() })?;
        let what = format!("apt index {url}");
        self.http.to_cache(&self.cache, &url, &what, &digest, Some(f.size), &Progress::hidden()).await.map_err(|e| match e {
            HttpError::Cache { source: CacheError::Mismatch { actual, actual_size, .. }, .. } => {
                AptError::IndexHash { id: spec.id.clone(), url: url.clone(), expected: f.sha256.clone(), expected_size: f.size, actual: actual.hex().to_string(), actual_size }
            }
            HttpError::TooLarge { .. } => AptError::IndexHash {
                id: spec.id.clone(),
                url: url.clone(),
                expected: f.sha256.clone(),
                expected_size: f.size,
                actual: "(more bytes than listed)".into(),
                actual_size: f.size + 1,
            },
            e => AptError::Fetch { id: spec.id.clone(), url: url.clone(), detail: e.to_string() },
        })?;
        let file = self.cache.open_blob(&digest)?;
        let bad = |detail: String| AptError::Index { id: spec.id.clone(), url: url.clone(), detail };
        let reader: Box<dyn Read> = if f.path.ends_with(".xz") {
            Box::new(liblzma::read::XzDecoder::new(file))
        } else if f.path.ends_with(".gz") {
            Box::new(flate2::read::GzDecoder::new(file))
        } else {
            Box::new(file)
        };
        let reader: Box<dyn BufRead> = Box::new(BufReader::with_capacity(1 << 16, reader));
        for para in deb822_fast::Deb822::iter_paragraphs_from_reader(reader) {
            let mut para = para.map_err(|e| bad(format!("cannot read: {e}")))?;
            if para.is_empty() {
                continue;
            }
            let mut url = None;
            if spec.flat.is_some() {
                // One Packages lists every architecture; `Filename` is relative to the base
                // and may start with `./`. The mirror serves it under pool/, so the stanza
                // gets that path and the upstream URL is kept beside it.
                if !para.get("Architecture").is_some_and(|a| a == "all" || archs.iter().any(|x| x == a)) {
                    continue;
                }
                let original = para.get("Filename").unwrap_or_default().trim_start_matches("./").to_string();
                let file = original.rsplit('/').next().unwrap_or_default().to_string();
                url = Some(format!("{base}/{original}"));
                para.set("Filename", &format!("pool/{file}"));
            }
            let mut pkg = to_pkg(&para, n, component).map_err(bad)?;
            pkg.url = url;
            // Debian lists arch:all packages in binary-all and in every binary-<arch>.
            if !u.contains(n, &pkg.name, &pkg.version, &pkg.arch) {
                u.add(pkg, &mentioned(&para));
            }
        }
        Ok(())
    }

    /// The closure of every source's requested packages, for every target architecture.
    pub fn resolve(&self, loaded: &Loaded, specs: &[AptSpec]) -> Result<Vec<DebLock>, AptError> {
        let parsed: Vec<Vec<(Relation, String)>> = specs
            .iter()
            .map(|s| s.packages.iter().map(|p| (p.parse::<Relation>().expect("checked when the manifest loaded"), format!("requested in {} line {}", s.file, s.line))).collect())
            .collect();
        // One target system: the least it is assumed to have is what every entry can rely on.
        let baseline = specs.iter().map(|s| s.exclude_installed).min_by_key(|b| match b {
            Baseline::None => 0,
            Baseline::Required => 1,
            Baseline::Important => 2,
        });
        let archs: BTreeSet<&String> = specs.iter().flat_map(|s| &s.architectures).collect();
        let mut chosen = BTreeSet::new();
        for arch in archs {
            let mut requests = Vec::new();
            for (s, rels) in specs.iter().zip(&parsed) {
                if !s.architectures.contains(arch) {
                    continue;
                }
                for (rel, origin) in rels {
                    if !loaded.universe.pkgs.iter().any(|p| p.name == rel.name || p.provides.iter().any(|(n, _)| *n == rel.name)) {
                        return Err(AptError::NotFound { package: rel.name.clone(), file: s.file.clone(), line: s.line, arch: arch.clone() });
                    }
                    requests.push(Request { relation: rel, origin: origin.clone(), recommends: s.recommends });
                }
            }
            chosen.extend(resolve::closure(&loaded.universe, arch, &requests, baseline.unwrap_or_default()).map_err(AptError::Unsatisfiable)?);
        }
        let mut locks: Vec<DebLock> = chosen
            .into_iter()
            .map(|i| {
                let p = &loaded.universe.pkgs[i];
                let s = &specs[p.source];
                DebLock {
                    kind: kinds::DEB.into(),
                    name: format!("{}/{}_{}_{}", s.id, p.name, p.version, p.arch),
                    source: s.source.clone(),
                    id: s.id.clone(),
                    suite: s.suite.clone(),
                    component: p.component.clone(),
                    package: p.name.clone(),
                    version: p.version.to_string(),
                    architecture: p.arch.clone(),
                    filename: p.filename.clone(),
                    sha256: format!("sha256:{}", p.sha256).parse().expect("checked when the index was read"),
                    size: p.size,
                }
            })
            .collect();
        locks.sort();
        locks.dedup_by(|a, b| a.id == b.id && a.filename == b.filename);
        Ok(locks)
    }

    /// Fetch every locked deb (checked against its signed index entry) and describe it as a
    /// bundle artifact.
    /// The signed index entry a lock entry pins, or why it no longer matches upstream.
    fn locate<'a>(&self, loaded: &'a Loaded, specs: &[AptSpec], d: &DebLock) -> Result<(usize, &'a Pkg), AptError> {
        let n = specs
            .iter()
            .position(|s| s.id == d.id && s.suite == d.suite && s.source == d.source)
            .ok_or_else(|| AptError::Drift { name: d.name.clone(), detail: format!("the manifest no longer has apt source {} suite {}", d.id, d.suite) })?;
        let version: debversion::Version = d.version.parse().map_err(|e| AptError::Drift { name: d.name.clone(), detail: format!("bad version in the lock: {e}") })?;
        let p = loaded.universe.pkgs.iter().find(|p| p.source == n && p.name == d.package && p.arch == d.architecture && p.version == version).ok_or_else(|| AptError::Drift {
            name: d.name.clone(),
            detail: format!("{} {} is no longer in {}'s signed index (the archive moved on)", d.package, d.version, d.source),
        })?;
        if format!("sha256:{}", p.sha256) != d.sha256.to_string() || p.size != d.size || p.filename != d.filename {
            return Err(AptError::Drift {
                name: d.name.clone(),
                detail: format!(
                    "upstream bytes changed: the lock pins {} ({} bytes) but the signed index now lists sha256:{} ({} bytes) — supply-chain drift",
                    d.sha256, d.size, p.sha256, p.size
                ),
            });
        }
        Ok((n, p))
    }

    /// The first lock entry upstream no longer serves as locked, if any.
    pub fn drifted(&self, loaded: &Loaded, specs: &[AptSpec], debs: &[DebLock]) -> Option<AptError> {
        debs.iter().find_map(|d| self.locate(loaded, specs, d).err())
    }

    /// Fetch every locked deb (checked against its signed index entry) and describe it as a
    /// bundle artifact.
    pub async fn fetch(&self, loaded: &Loaded, specs: &[AptSpec], debs: &[DebLock], progress: &Progress) -> Result<Fetched, Vec<AptError>> {
        let (mut work, mut failed) = (Vec::new(), Vec::new());
        for d in debs {
            match self.locate(loaded, specs, d) {
                Ok((n, p)) => work.push((d, p, &specs[n], &loaded.archives[n])),
                Err(e) => failed.push(e),
            }
        }
        progress.add_total(work.iter().filter(|(d, ..)| !self.cache.has(&d.sha256, Some(d.size))).map(|(d, ..)| d.size).sum());
        let fetched = each(work.iter().map(|(d, p, spec, info)| async move {
            self.fetch_deb(d, p.url.as_deref(), spec, progress).await?;
            self.artifact(d, p, spec, info)
        }))
        .await;
        match fetched {
            Ok(fs) if failed.is_empty() => Ok(Fetched::all(fs)),
            Ok(_) => Err(failed),
            Err(es) => Err(failed.into_iter().chain(es).collect()),
        }
    }

    async fn fetch_deb(&self, d: &DebLock, upstream: Option<&str>, spec: &AptSpec, progress: &Progress) -> Result<(), AptError> {
        let url = upstream.map(str::to_string).unwrap_or_else(|| format!("{}/{}", spec.source, d.filename));
        let what = format!("deb {}", d.filename);
        self.http.to_cache(&self.cache, &url, &what, &d.sha256, Some(d.size), progress).await.map_err(|e| match e {
            HttpError::Cache { source: CacheError::Mismatch { actual, actual_size, .. }, .. } => {
                AptError::DebHash { file: d.filename.clone(), url: url.clone(), expected: d.sha256.hex().into(), expected_size: d.size, actual: actual.hex().into(), actual_size }
            }
            HttpError::TooLarge { .. } => AptError::DebHash {
                file: d.filename.clone(),
                url: url.clone(),
                expected: d.sha256.hex().into(),
                expected_size: d.size,
                actual: "(more bytes than listed)".into(),
                actual_size: d.size + 1,
            },
            e => AptError::Fetch { id: d.id.clone(), url: url.clone(), detail: e.to_string() },
        })
    }

    /// The deb as an OCI artifact: config = what the mirror indexes, one layer = the .deb.
    fn artifact(&self, d: &DebLock, p: &Pkg, spec: &AptSpec, info: &ArchiveInfo) -> Result<Fetched, AptError> {
        let config = DebConfig {
            id: spec.id.clone(),
            source: spec.source.clone(),
            suite: spec.suite.clone(),
            codename: info.codename.clone(),
            origin: info.origin.clone(),
            label: info.label.clone(),
            component: p.component.clone(),
            architectures: spec.architectures.clone(),
            control: p.stanza.clone(),
        }
        .to_bytes();
        let file_name = d.filename.rsplit('/').next().unwrap_or(&d.filename).to_string();
        Ok(Artifact {
            artifact_type: deb::ARTIFACT_TYPE,
            config_media_type: deb::CONFIG_MEDIA_TYPE,
            config,
            layers: vec![titled_layer(deb::ARTIFACT_TYPE, d.sha256.clone(), d.size, file_name)],
            kind: kinds::DEB,
            source: p.url.clone().unwrap_or_else(|| format!("{}/{}", spec.source, d.filename)),
            ref_name: format!("apt/{}/{}", spec.id, deb::deb_file_name(&d.package, &d.version, &d.architecture)),
        }
        .into_fetched(&self.cache)?)
    }
}

/// Parsers fed by upstream bytes, for the fuzz targets.
#[doc(hidden)]
pub mod fuzz {
    use super::*;

    /// A Release file: its fields, Valid-Until, the SHA256 list and the index choice.
    pub fn release(bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        if let Ok(p) = text.parse::<deb822_fast::Paragraph>() {
            if let Some(v) = p.get("Valid-Until") {
                let _ = parse_date(v);
            }
        }
        let files = checksums(&text);
        let _ = pick_index(&files, false, "main", "amd64");
        let _ = pick_index(&files, true, "main", "amd64");
    }

    /// A Packages index, then the closure of its first package for amd64.
    pub fn packages(bytes: &[u8]) {
        let mut u = Universe::default();
        for para in deb822_fast::Deb822::iter_paragraphs_from_reader(std::io::Cursor::new(bytes)).take(10_000) {
            let Ok(para) = para else { return };
            if let Ok(pkg) = to_pkg(&para, 0, "main") {
                if !u.contains(0, &pkg.name, &pkg.version, &pkg.arch) {
                    u.add(pkg, &mentioned(&para));
                }
            }
        }
        let Some(first) = u.pkgs.first().map(|p| p.name.clone()) else { return };
        let Ok(rel) = first.parse::<debian_control::lossy::Relation>() else { return };
        let req = resolve::Request { relation: &rel, origin: "fuzz".into(), recommends: true };
        let _ = resolve::closure(&u, "amd64", std::slice::from_ref(&req), Baseline::Required);
    }
}

/// Debian dates are RFC 2822 with `UTC` spelled out.
fn parse_date(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let s = s.trim();
    let s = s.strip_suffix(" UTC").map(|x| format!("{x} +0000")).unwrap_or_else(|| s.to_string());
    chrono::DateTime::parse_from_rfc2822(&s).ok().map(|t| t.with_timezone(&chrono::Utc))
}

/// The `SHA256:` lines of a Release file.
fn checksums(release: &str) -> Vec<IndexFile> {
    let mut out = Vec::new();
    let mut in_field = false;
    for line in release.lines() {
        if !line.starts_with([' ', '\t']) {
            in_field = line.split_once(':').is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("SHA256"));
            continue;
        }
        if in_field {
            let mut w = line.split_whitespace();
            if let (Some(h), Some(n), Some(p), None) = (w.next(), w.next(), w.next(), w.next()) {
                if let Ok(size) = n.parse() {
                    out.push(IndexFile { sha256: h.to_ascii_lowercase(), size, path: p.to_string() });
                }
            }
        }
    }
    out
}

/// The best-compressed Packages index the Release lists for a component and architecture.
fn pick_index<'a>(files: &'a [IndexFile], flat: bool, component: &str, arch: &str) -> Option<&'a IndexFile> {
    let base = if flat { "Packages".to_string() } else { format!("{component}/binary-{arch}/Packages") };
    [".xz", ".gz", ""].iter().find_map(|ext| files.iter().find(|f| f.path == format!("{base}{ext}")))
}

/// Package names a stanza's relation fields name, in the order apt's cache generator meets them.
fn mentioned(p: &deb822_fast::Paragraph) -> Vec<&str> {
    const FIELDS: [&str; 8] = ["Pre-Depends", "Depends", "Conflicts", "Breaks", "Recommends", "Suggests", "Replaces", "Enhances"];
    FIELDS.iter().filter_map(|f| p.get(f)).flat_map(|v| v.split([',', '|'])).filter_map(|r| r.trim().split([' ', '(', ':', '[', '<']).next()).filter(|n| !n.is_empty()).collect()
}

fn to_pkg(p: &deb822_fast::Paragraph, source: usize, component: &str) -> Result<Pkg, String> {
    let name = p.get("Package").ok_or("a stanza has no Package field")?;
    let need = |k: &str| p.get(k).ok_or_else(|| format!("package {name} has no {k} field"));
    let rels = |k: &str| -> Result<Relations, String> {
        match p.get(k) {
            None => Ok(Relations::new()),
            Some(v) => v.parse().map_err(|e| format!("package {name}: bad {k} {v:?}: {e}")),
        }
    };
    let version = need("Version")?;
    let depends = [p.get("Pre-Depends"), p.get("Depends")].into_iter().flatten().collect::<Vec<_>>().join(", ");
    let sha256 = need("SHA256")?.to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("package {name}: bad SHA256 {sha256:?}"));
    }
    let filename = need("Filename")?.to_string();
    if filename.starts_with('/') || filename.split('/').any(|c| c == ".." || c.is_empty()) {
        return Err(format!("package {name}: unsafe Filename {filename:?}"));
    }
    Ok(Pkg {
        name: name.to_string(),
        version: version.parse().map_err(|e| format!("package {name}: bad Version {version:?}: {e}"))?,
        arch: need("Architecture")?.to_string(),
        priority: p.get("Priority").map(str::to_string),
        essential: p.get("Essential") == Some("yes"),
        depends,
        recommends: p.get("Recommends").unwrap_or_default().to_string(),
        conflicts: [p.get("Conflicts"), p.get("Breaks")].into_iter().flatten().collect::<Vec<_>>().join(", "),
        provides: rels("Provides")?.0.into_iter().flatten().map(|r| (r.name, r.version.map(|(_, v)| v))).collect(),
        source,
        component: component.to_string(),
        filename,
        size: need("Size")?.parse().map_err(|_| format!("package {name}: bad Size"))?,
        sha256,
        stanza: p.to_string(),
        url: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_bases_substitute_arch() {
        let spec = |source: &str, flat: Option<&str>| AptSpec {
            source: source.into(),
            id: "x".into(),
            suite: "stable".into(),
            flat: flat.map(str::to_string),
            components: vec!["main".into()],
            architectures: vec!["amd64".into(), "arm64".into()],
            keyring: None,
            keyring_label: None,
            trusted: true,
            recommends: false,
            packages: vec![],
            exclude_installed: Default::default(),
            file: String::new(),
            line: 0,
        };
        let s = spec("https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH)", Some(""));
        assert_eq!(
            bases(&s),
            vec![
                ("https://nvidia.github.io/libnvidia-container/stable/deb/amd64".to_string(), vec!["amd64".to_string()]),
                ("https://nvidia.github.io/libnvidia-container/stable/deb/arm64".to_string(), vec!["arm64".to_string()]),
            ]
        );
        assert_eq!(bases(&spec("https://r.example/repo", Some("debs"))), vec![("https://r.example/repo/debs".to_string(), vec!["amd64".to_string(), "arm64".to_string()])]);
        assert_eq!(bases(&spec("https://deb.example/debian", None))[0].0, "https://deb.example/debian/dists/stable");
        assert_eq!(pick_index(&checksums("SHA256:\n 0123 10 Packages\n abcd 5 Packages.gz\n"), true, "main", "amd64").unwrap().path, "Packages.gz");
    }

    #[test]
    fn release_checksums_and_index_choice() {
        let r = "Suite: stable\nSHA256:\n 0123 10 main/binary-amd64/Packages\n abcd 5 main/binary-amd64/Packages.gz\nMD5Sum:\n ffff 5 main/binary-amd64/Packages.xz\n";
        let files = checksums(r);
        assert_eq!(files.len(), 2, "MD5Sum lines are not SHA256 lines");
        assert_eq!(pick_index(&files, false, "main", "amd64").unwrap().path, "main/binary-amd64/Packages.gz");
        assert!(pick_index(&files, false, "main", "arm64").is_none());
        assert!(parse_date("Sat, 09 Nov 2024 10:07:20 UTC").is_some());
    }

    #[test]
    fn stanza_to_pkg() {
        let text = "Package: hello\nVersion: 1:2.10-3\nArchitecture: amd64\nPre-Depends: dpkg (>= 1.15)\nDepends: libc6 (>= 2.34), a | b\nProvides: greeter (= 1)\nFilename: pool/main/h/hello/hello_2.10-3_amd64.deb\nSize: 53000\nSHA256: 5bd8b2c7bb2a9ad8a3e5e8c1b1e1c8f8cbb3f24a5d5d6c0e7bb0c6f0e4f2f9a1\nDescription: hi\n multi-line\n";
        let para: deb822_fast::Paragraph = text.parse().unwrap();
        let p = to_pkg(&para, 0, "main").unwrap();
        assert_eq!(p.depends.parse::<Relations>().unwrap().0.len(), 3, "Pre-Depends and Depends together");
        assert_eq!(p.provides[0].0, "greeter");
        assert!(p.stanza.contains("Description: hi\n multi-line"), "{}", p.stanza);
        let bad = text.replace("pool/main", "../pool");
        assert!(to_pkg(&bad.parse().unwrap(), 0, "main").is_err());
    }
}
