//! Container images: from a registry (oci-client), a local OCI layout directory, or a
//! `docker save` tarball. Resolves tags to digests, keeps only the requested platforms,
//! carries cosign signature tags and OCI referrers, and fetches every blob once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::{http, Fetched};
use crate::cache::{BlobCache, CacheError, Drained};
use crate::format::bundle::{annotations, kinds};
use crate::format::lock::{AccessoryLock, ImageLock, PlatformLock};
use crate::format::oci::{self as oci_types, AnyManifest, Descriptor, ANNOTATION_REF_NAME};
use crate::format::Digest;
use crate::manifest::{ImageOrigin, ImageSpec, RegistryConfig};
use crate::reference::ImageRef;

/// Resumes of one blob download after a dropped connection.
const MAX_RESUMES: usize = 5;
/// Largest manifest we accept (the distribution spec suggests registries cap at 4 MiB).
const MAX_MANIFEST: usize = 4 << 20;
const ACCESSORY_SUFFIXES: &[&str] = &["sig", "att", "sbom"];
const ATTESTATION_REF: &str = "vnd.docker.reference.digest";

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image {image}: {what} not found at {url}; check the tag or digest exists upstream")]
    NotFound { image: String, what: String, url: String },
    #[error("image {image}: registry {url} is unreachable ({detail}); check the registries: entry and the network")]
    Unreachable { image: String, url: String, detail: String },
    #[error("image {image}: registry {url} refused access ({detail}); set username/password_env in registries: or log in with `docker login` (~/.docker/config.json)")]
    Unauthorized { image: String, url: String, detail: String },
    #[error("image {image}: fetching {what} from {url} failed: {detail}")]
    Registry { image: String, what: String, url: String, detail: String },
    #[error("image {image}: upstream bytes changed: the lock pins {locked} but {url} now serves {actual}; run `bundler lock` to accept the new content")]
    Drift { image: String, locked: String, actual: String, url: String },
    #[error("image {image}: none of the requested platforms {wanted:?} exist upstream (it has {available:?}); set `platforms:` on the image")]
    NoPlatform { image: String, wanted: Vec<String>, available: Vec<String> },
    #[error("image {image}: {detail}")]
    Invalid { image: String, detail: String },
    #[error("image {image}: local source {path}: {detail}")]
    Local { image: String, path: PathBuf, detail: String },
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// Where and how to reach one image's upstream.
struct Upstream {
    reference: Reference,
    auth: RegistryAuth,
    /// Base URL for messages.
    url: String,
}

pub struct ImageSource {
    registries: BTreeMap<String, RegistryConfig>,
    client: Client,
    cache: Arc<BlobCache>,
}

impl ImageSource {
    pub fn new(registries: BTreeMap<String, RegistryConfig>, cache: Arc<BlobCache>) -> ImageSource {
        let insecure: Vec<String> = registries.values().filter(|r| r.url.starts_with("http://")).filter_map(|r| host_of(&r.url)).collect();
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(insecure),
            connect_timeout: Some(std::time::Duration::from_secs(15)),
            read_timeout: Some(std::time::Duration::from_secs(120)),
            ..Default::default()
        };
        ImageSource { registries, client: Client::new(config), cache }
    }

    fn upstream(&self, image: &ImageRef, reference: &str) -> Upstream {
        let (host, url) = match self.registries.get(&image.registry) {
            Some(cfg) => (host_of(&cfg.url).unwrap_or_else(|| image.registry.clone()), cfg.url.trim_end_matches('/').to_string()),
            None => {
                let host = if image.registry == "docker.io" { "registry-1.docker.io".to_string() } else { image.registry.clone() };
                (image.registry.clone(), format!("https://{host}"))
            }
        };
        let reference = if let Some(d) = reference.strip_prefix("sha256:").map(|_| reference) {
            Reference::with_digest(host, image.repository.clone(), d.to_string())
        } else {
            Reference::with_tag(host, image.repository.clone(), reference.to_string())
        };
        Upstream { reference, auth: self.auth_for(&image.registry), url }
    }

    fn auth_for(&self, registry: &str) -> RegistryAuth {
        if let Some(cfg) = self.registries.get(registry) {
            if let (Some(user), Some(var)) = (&cfg.username, &cfg.password_env) {
                if let Ok(pass) = std::env::var(var) {
                    return RegistryAuth::Basic(user.clone(), pass);
                }
            }
        }
        docker_config_auth(registry).unwrap_or(RegistryAuth::Anonymous)
    }

    fn classify(&self, image: &ImageRef, what: &str, up: &Upstream, e: OciDistributionError) -> ImageError {
        let detail = e.to_string();
        let (img, url) = (image.to_string(), up.url.clone());
        match e {
            OciDistributionError::ImageManifestNotFoundError(_) => ImageError::NotFound { image: img, what: what.into(), url },
            OciDistributionError::RegistryError { ref envelope, .. }
                if envelope.errors.iter().any(|er| matches!(format!("{:?}", er.code).as_str(), "ManifestUnknown" | "NameUnknown" | "BlobUnknown")) =>
            {
                ImageError::NotFound { image: img, what: what.into(), url }
            }
            OciDistributionError::ServerError { code: 404, .. } => ImageError::NotFound { image: img, what: what.into(), url },
            OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => ImageError::Unauthorized { image: img, url, detail },
            OciDistributionError::RequestError(ref r) if r.is_connect() || r.is_timeout() => ImageError::Unreachable { image: img, url, detail: root_cause(&e) },
            _ => ImageError::Registry { image: img, what: what.into(), url, detail: root_cause(&e) },
        }
    }

    /// `classify`, saying how many tries a transient failure was given.
    fn classify_tried(&self, image: &ImageRef, what: &str, up: &Upstream, (e, tries): (OciDistributionError, u32)) -> ImageError {
        let mut err = self.classify(image, what, up, e);
        if let (ImageError::Unreachable { detail, .. } | ImageError::Registry { detail, .. }, 2..) = (&mut err, tries) {
            detail.push_str(&format!(" (on each of {tries} tries; more with --retries N and --retry-for SECONDS)"));
        }
        err
    }

    /// Fetch a manifest by tag or digest; returns (bytes, digest). Digest pins are verified.
    async fn pull_manifest(&self, image: &ImageRef, reference: &str) -> Result<(Vec<u8>, Digest), ImageError> {
        if let Ok(d) = reference.parse::<Digest>() {
            if self.cache.has(&d, None) {
                return Ok((self.cache.read(&d)?, d));
            }
        }
        let up = self.upstream(image, reference);
        let what = if reference.contains(':') { format!("manifest {reference}") } else { format!("tag {reference:?}") };
        let (bytes, _) =
            http::retried(&format!("{image}: {what} from {}", up.url), || self.client.pull_manifest_raw(&up.reference, &up.auth, oci_types::MANIFEST_ACCEPT), may_pass)
                .await
                .map_err(|f| self.classify_tried(image, &what, &up, f))?;
        if bytes.len() > MAX_MANIFEST {
            return Err(ImageError::Invalid { image: image.to_string(), detail: format!("{what} is {} bytes, over the 4 MiB limit", bytes.len()) });
        }
        let actual = Digest::sha256_of(&bytes);
        if let Ok(pinned) = reference.parse::<Digest>() {
            if pinned != Digest::of(pinned.algorithm(), &bytes) {
                return Err(ImageError::Drift { image: image.to_string(), locked: pinned.to_string(), actual: actual.to_string(), url: up.url });
            }
            self.cache.put_bytes(&what, &pinned, &bytes)?;
            return Ok((bytes.to_vec(), pinned));
        }
        self.cache.put_bytes(&what, &actual, &bytes)?;
        Ok((bytes.to_vec(), actual))
    }

    /// Like `pull_manifest`, but a missing manifest is `None` (optional accessories).
    async fn try_pull_manifest(&self, image: &ImageRef, reference: &str) -> Result<Option<(Vec<u8>, Digest)>, ImageError> {
        match self.pull_manifest(image, reference).await {
            Ok(v) => Ok(Some(v)),
            Err(ImageError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every tag of a repository (paged with `last`, bounded), e.g. to resolve a chart version.
    pub async fn list_tags(&self, image: &ImageRef) -> Result<Vec<String>, ImageError> {
        const PAGE: usize = 1000;
        let up = self.upstream(image, "latest");
        let mut tags: Vec<String> = Vec::new();
        for _ in 0..100 {
            let last = tags.last().cloned();
            let page = http::retried(&format!("{image}: tag list from {}", up.url), || self.client.list_tags(&up.reference, &up.auth, Some(PAGE), last.as_deref()), may_pass)
                .await
                .map_err(|f| self.classify_tried(image, "tag list", &up, f))?;
            let n = page.tags.len();
            tags.extend(page.tags.into_iter().filter(|t| Some(t) != last.as_ref()));
            if n < PAGE {
                break;
            }
        }
        Ok(tags)
    }

    /// Resolve one manifest entry to a lock entry.
    pub async fn resolve(&self, spec: &ImageSpec) -> Result<ImageLock, ImageError> {
        let local = match &spec.origin {
            ImageOrigin::Registry => None,
            ImageOrigin::OciLayout(dir) => Some(LocalLayout::open_dir(dir, spec)?),
            ImageOrigin::DockerArchive(file) => Some(LocalLayout::open_archive(file, spec, &self.cache)?),
        };
        let lock = match &local {
            None => self.resolve_registry(spec).await?,
            Some(layout) => self.resolve_local(spec, layout)?,
        };
        if !oci_types::is_index(&lock.media_type) && !spec.platforms.is_empty() {
            self.warn_single_platform(spec, &lock, local.as_ref()).await?;
        }
        Ok(lock)
    }

    /// A single-platform manifest (no index) is carried whole whatever `platforms:` asks: its
    /// config says which platform it is, and the platforms it is not are named, so that a
    /// lock of "linux/amd64 and linux/arm64" holding one amd64 image does not pass unnoticed.
    async fn warn_single_platform(&self, spec: &ImageSpec, lock: &ImageLock, local: Option<&LocalLayout>) -> Result<(), ImageError> {
        let hidden = crate::progress::Progress::hidden();
        let getter = Getter { src: self, image: &spec.reference, local, progress: &hidden };
        let top = AnyManifest::parse(&getter.manifest(&lock.sha256).await?).map_err(|e| ImageError::Invalid { image: spec.reference.to_string(), detail: e.to_string() })?;
        let Some(config) = top.config.filter(|c| oci_types::IMAGE_CONFIG_TYPES.contains(&c.media_type.as_str()) && c.size <= 1 << 20) else {
            return Ok(());
        };
        getter.blob(&config).await?;
        let Ok(platform) = serde_json::from_slice::<oci_types::Platform>(&self.cache.read(&config.digest)?) else {
            return Ok(());
        };
        let missing: Vec<&String> = spec.platforms.iter().filter(|w| !platform.matches(w)).collect();
        if !missing.is_empty() {
            tracing::warn!(
                "image {} is one {} image upstream, not a multi-platform index: {} not carried (`platforms:` cannot add what upstream does not publish; pull it on {} hosts only, or pick a multi-platform tag)",
                spec.reference,
                platform.key(),
                missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                platform.key()
            );
        }
        Ok(())
    }

    async fn resolve_registry(&self, spec: &ImageSpec) -> Result<ImageLock, ImageError> {
        let image = &spec.reference;
        let (bytes, digest) = self.pull_manifest(image, &image.reference()).await?;
        let mut lock = self.lock_from_top(spec, &bytes, digest, self.upstream(image, &image.reference()).url + "/" + &image.repository)?;
        if spec.signatures {
            lock.accessories = self.resolve_accessories(image, &lock).await?;
        }
        Ok(lock)
    }

    fn lock_from_top(&self, spec: &ImageSpec, bytes: &[u8], digest: Digest, source: String) -> Result<ImageLock, ImageError> {
        let image = spec.reference.to_string();
        let m = AnyManifest::parse(bytes).map_err(|e| ImageError::Invalid { image: image.clone(), detail: format!("manifest {digest} is not valid JSON: {e}") })?;
        let media_type = m.effective_media_type(None);
        let platforms = if oci_types::is_index(&media_type) {
            select_platforms(&image, &m.manifests, &spec.platforms)?
                .into_iter()
                .map(|d| PlatformLock { platform: d.platform.as_ref().map(|p| p.key()).unwrap_or_else(|| "unknown/unknown".into()), digest: d.digest.clone() })
                .collect()
        } else {
            Vec::new()
        };
        Ok(ImageLock { kind: "image".into(), name: image, source, sha256: digest, size: bytes.len() as u64, media_type, platforms, accessories: Vec::new() })
    }

    /// Cosign tags of the top digest, and OCI referrers of the top and each kept platform.
    async fn resolve_accessories(&self, image: &ImageRef, lock: &ImageLock) -> Result<Vec<AccessoryLock>, ImageError> {
        let mut out: Vec<AccessoryLock> = Vec::new();
        for suffix in ACCESSORY_SUFFIXES {
            let tag = format!("{}.{suffix}", lock.sha256.tag_form());
            if let Some((bytes, digest)) = self.try_pull_manifest(image, &tag).await? {
                let media_type = AnyManifest::parse(&bytes).map(|m| m.effective_media_type(None)).unwrap_or_else(|_| oci_types::OCI_MANIFEST.into());
                out.push(AccessoryLock { tag: Some(tag), digest, size: bytes.len() as u64, media_type });
            }
        }
        let subjects = std::iter::once(&lock.sha256).chain(lock.platforms.iter().map(|p| &p.digest));
        for subject in subjects {
            let up = self.upstream(image, &subject.to_string());
            // Registries without the referrers API answer 404; oci-client then tries the tag
            // schema and returns an empty index, so errors here are real failures.
            let what = format!("referrers of {subject}");
            let referrers = match http::retried(&format!("{image}: {what} from {}", up.url), || self.client.pull_referrers(&up.reference, None), may_pass).await {
                Ok(idx) => idx.manifests,
                Err((OciDistributionError::ImageManifestNotFoundError(_), _)) => Vec::new(),
                Err((OciDistributionError::ServerError { code: 404 | 405 | 400, .. }, _)) => Vec::new(),
                Err(f) => return Err(self.classify_tried(image, &what, &up, f)),
            };
            for r in referrers {
                let digest: Digest = r.digest.parse().map_err(|e: crate::format::digest::InvalidDigest| ImageError::Invalid { image: image.to_string(), detail: e.to_string() })?;
                if out.iter().any(|a| a.digest == digest) {
                    continue;
                }
                let (bytes, digest) = self.pull_manifest(image, &digest.to_string()).await?;
                out.push(AccessoryLock { tag: None, digest, size: bytes.len() as u64, media_type: r.media_type.clone() });
            }
        }
        Ok(out)
    }

    fn resolve_local(&self, spec: &ImageSpec, layout: &LocalLayout) -> Result<ImageLock, ImageError> {
        let top = layout.top.clone();
        let bytes = layout.read_small(&top.digest, &spec.reference)?;
        self.cache.put_bytes(&format!("{} manifest", spec.reference), &top.digest, &bytes)?;
        self.lock_from_top(spec, &bytes, top.digest, layout.source.clone())
    }

    fn local(&self, spec: &ImageSpec) -> Result<Option<LocalLayout>, ImageError> {
        Ok(match &spec.origin {
            ImageOrigin::Registry => None,
            ImageOrigin::OciLayout(dir) => Some(LocalLayout::open_dir(dir, spec)?),
            ImageOrigin::DockerArchive(file) => Some(LocalLayout::open_archive(file, spec, &self.cache)?),
        })
    }

    /// The layers and configs `lock` pins (digest, size), read from its manifests (cached, else
    /// fetched: small documents); nothing else is downloaded.
    pub async fn payload(&self, spec: &ImageSpec, lock: &ImageLock) -> Result<Vec<(Digest, u64)>, ImageError> {
        let local = self.local(spec)?;
        let progress = crate::progress::Progress::hidden();
        let getter = Getter { src: self, image: &spec.reference, local: local.as_ref(), progress: &progress };
        let (_, blobs) = self.walk(&getter, lock).await?;
        Ok(blobs.into_values().map(|b| (b.digest, b.size)).collect())
    }

    /// Fetch exactly what `lock` pins into the cache.
    pub async fn fetch(&self, spec: &ImageSpec, lock: &ImageLock, progress: &crate::progress::Progress) -> Result<Fetched, ImageError> {
        let local = self.local(spec)?;
        let getter = Getter { src: self, image: &spec.reference, local: local.as_ref(), progress };
        let (mut fetched, blobs) = self.walk(&getter, lock).await?;
        progress.add_total(blobs.values().filter(|b| !self.cache.has(&b.digest, Some(b.size))).map(|b| b.size).sum());
        futures_util::stream::iter(blobs.values().map(|b| getter.blob(b))).buffer_unordered(super::CONCURRENCY).try_collect::<Vec<()>>().await?;
        for b in blobs.into_values() {
            fetched.blobs.insert(b.digest, b.size);
        }
        Ok(fetched)
    }

    /// The image's manifests (what the bundle carries for it, described) and the blobs they
    /// name, by digest.
    async fn walk(&self, getter: &Getter<'_>, lock: &ImageLock) -> Result<(Fetched, BTreeMap<Digest, Descriptor>), ImageError> {
        let image = getter.image;
        let top_bytes = getter.manifest(&lock.sha256).await?;
        let top = AnyManifest::parse(&top_bytes).map_err(|e| ImageError::Invalid { image: image.to_string(), detail: e.to_string() })?;
        let mut fetched = Fetched::default();
        let mut manifests: Vec<Digest> = Vec::new();
        // The index travels as upstream wrote it, so its digest (what sites pin) still pulls;
        // children outside the chosen platforms are named as omitted and left out.
        let mut omitted = BTreeSet::new();
        if oci_types::is_index(&lock.media_type) {
            let keep: BTreeSet<&Digest> = lock.platforms.iter().map(|p| &p.digest).collect();
            let listed: BTreeSet<&Digest> = top.manifests.iter().map(|d| &d.digest).collect();
            if !keep.is_subset(&listed) {
                let held = keep.intersection(&listed).count();
                return Err(ImageError::Drift {
                    image: image.to_string(),
                    locked: format!("{} platform manifests", keep.len()),
                    actual: format!("{held} of them in {}", lock.sha256),
                    url: lock.source.clone(),
                });
            }
            manifests.extend(keep.iter().map(|d| (*d).clone()));
            omitted = listed.difference(&keep).map(|d| (*d).clone()).collect();
        } else {
            manifests.push(lock.sha256.clone());
        }
        fetched.blobs.insert(lock.sha256.clone(), top_bytes.len() as u64);

        let repo = image.repository_name();
        let mut top_desc = artifact_descriptor(&lock.media_type, lock.sha256.clone(), top_bytes.len() as u64, kinds::IMAGE, &repo, &lock.source, image.tag.as_deref());
        annotations::set_omitted(&mut top_desc, &omitted);
        fetched.descriptors.push(top_desc);

        for acc in &lock.accessories {
            let d = artifact_descriptor(&acc.media_type, acc.digest.clone(), acc.size, kinds::IMAGE_ACCESSORY, &repo, &lock.source, acc.tag.as_deref());
            fetched.descriptors.push(d);
            manifests.push(acc.digest.clone());
        }

        // Walk manifests (nested indexes included), collecting blobs to fetch.
        let mut blobs: BTreeMap<Digest, Descriptor> = BTreeMap::new();
        let mut seen = BTreeSet::new();
        while let Some(d) = manifests.pop() {
            if !seen.insert(d.clone()) {
                continue;
            }
            let bytes = getter.manifest(&d).await?;
            fetched.blobs.insert(d.clone(), bytes.len() as u64);
            let m = AnyManifest::parse(&bytes).map_err(|e| ImageError::Invalid { image: image.to_string(), detail: format!("manifest {d}: {e}") })?;
            manifests.extend(m.manifests.iter().map(|c| c.digest.clone()));
            for b in m.blob_children() {
                blobs.entry(b.digest.clone()).or_insert_with(|| b.clone());
            }
        }
        Ok((fetched, blobs))
    }
}

/// Fetches manifests and blobs for one image from its registry or local source.
struct Getter<'a> {
    src: &'a ImageSource,
    image: &'a ImageRef,
    local: Option<&'a LocalLayout>,
    progress: &'a crate::progress::Progress,
}

impl Getter<'_> {
    async fn manifest(&self, d: &Digest) -> Result<Vec<u8>, ImageError> {
        if self.src.cache.has(d, None) {
            return Ok(self.src.cache.read(d)?);
        }
        match self.local {
            Some(l) => {
                let bytes = l.read_small(d, self.image)?;
                self.src.cache.put_bytes(&format!("{} manifest {d}", self.image), d, &bytes)?;
                Ok(bytes)
            }
            None => Ok(self.src.pull_manifest(self.image, &d.to_string()).await?.0),
        }
    }

    async fn blob(&self, b: &Descriptor) -> Result<(), ImageError> {
        if self.src.cache.has(&b.digest, Some(b.size)) {
            return Ok(());
        }
        let what = format!("{} blob {}", self.image, b.digest);
        if let Some(l) = self.local {
            let mut r = l.open_blob(&b.digest, self.image)?;
            self.src.cache.put_reader(&what, &b.digest, Some(b.size), &mut r)?;
            self.progress.inc(b.size);
            return Ok(());
        }
        let up = self.src.upstream(self.image, &b.digest.to_string());
        let desc = OciDescriptor { media_type: b.media_type.clone(), digest: b.digest.to_string(), size: b.size as i64, ..Default::default() };
        let Some(mut out) = self.src.cache.download(&b.digest, Some(b.size)).await? else { return Ok(()) };
        let _slot = http::upstream_slot(&up.url).await;
        self.progress.inc(out.offset());
        let what = format!("blob {}", b.digest);
        let mut resumes = 0;
        while out.offset() < b.size {
            let offset = out.offset();
            let stream = http::retried(
                &format!("{}: {what} from {}", self.image, up.url),
                || async {
                    if offset == 0 {
                        self.src.client.pull_blob_stream(&up.reference, &desc).await.map(|s| (s, false))
                    } else {
                        match self.src.client.pull_blob_stream_partial(&up.reference, &desc, offset, None).await? {
                            oci_client::client::BlobResponse::Partial(s) => Ok((s, false)),
                            oci_client::client::BlobResponse::Full(s) => Ok((s, true)),
                        }
                    }
                },
                may_pass,
            )
            .await;
            let (sized, restart) = stream.map_err(|f| self.src.classify_tried(self.image, &what, &up, f))?;
            if restart {
                // The server ignored Range: start over with a fresh hash.
                out.restart().await?;
            }
            match out.drain(sized.stream, Some(b.size), self.progress).await? {
                Drained::Whole => break,
                Drained::Over(bytes) => {
                    // More than the descriptor says: the size check below names it.
                    out.write(&bytes).await?;
                    break;
                }
                Drained::Broke(e) if resumes < MAX_RESUMES && out.offset() < b.size => {
                    resumes += 1;
                    tracing::warn!("{what}: connection dropped at {} of {} bytes ({e}); resuming", out.offset(), b.size);
                }
                Drained::Broke(e) => {
                    return Err(ImageError::Registry { image: self.image.to_string(), what: format!("blob {}", b.digest), url: up.url.clone(), detail: e.to_string() })
                }
            }
        }
        out.finish(&self.src.cache, &format!("{} {what} from {}", self.image, up.url), &b.digest, Some(b.size)).await?;
        Ok(())
    }
}

/// An index.json entry: what the mirror needs to serve the artifact under `repo[:tag]`.
fn artifact_descriptor(media_type: &str, digest: Digest, size: u64, kind: &str, repo: &str, source: &str, tag: Option<&str>) -> Descriptor {
    let mut d = Descriptor::new(media_type, digest, size);
    let ref_name = match tag {
        Some(t) => format!("{repo}:{t}"),
        None => format!("{repo}@{}", d.digest),
    };
    d.annotations.insert(annotations::KIND.into(), kind.into());
    d.annotations.insert(annotations::REPOSITORY.into(), repo.into());
    d.annotations.insert(annotations::SOURCE.into(), source.into());
    if let Some(t) = tag {
        d.annotations.insert(annotations::TAG.into(), t.into());
    }
    d.annotations.insert(ANNOTATION_REF_NAME.into(), ref_name);
    d
}

/// Whether a registry's answer may pass if asked again (`http::retried`): no connection, a
/// timeout or a connection dropped mid-answer, 408, 429 (`TOOMANYREQUESTS` or a bare status),
/// 5xx. The registry client does not hand over `Retry-After`, so the backoff decides the wait.
fn may_pass(e: &OciDistributionError) -> Option<Option<std::time::Duration>> {
    let transient = match e {
        OciDistributionError::ServerError { code, .. } => http::transient(*code),
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|er| er.code == oci_client::errors::OciErrorCode::Toomanyrequests),
        OciDistributionError::RequestError(r) => r.is_connect() || r.is_timeout() || r.is_request() || r.is_body(),
        _ => false,
    };
    transient.then_some(None)
}

/// Keep the index entries for the wanted platforms, plus buildkit attestation manifests
/// attached to a kept entry.
fn select_platforms<'a>(image: &str, entries: &'a [Descriptor], wanted: &[String]) -> Result<Vec<&'a Descriptor>, ImageError> {
    let kept: Vec<&Descriptor> = entries.iter().filter(|d| d.platform.as_ref().is_some_and(|p| wanted.iter().any(|w| p.matches(w)))).collect();
    if kept.is_empty() {
        return Err(ImageError::NoPlatform {
            image: image.into(),
            wanted: wanted.to_vec(),
            available: entries.iter().filter_map(|d| d.platform.as_ref().map(|p| p.key())).collect(),
        });
    }
    for w in wanted {
        if !kept.iter().any(|d| d.platform.as_ref().is_some_and(|p| p.matches(w))) {
            tracing::warn!("image {image} has no {w} variant upstream; carrying the others");
        }
    }
    let kept_digests: BTreeSet<String> = kept.iter().map(|d| d.digest.to_string()).collect();
    let attestations = entries.iter().filter(|d| d.annotations.get(ATTESTATION_REF).is_some_and(|r| kept_digests.contains(r)));
    let mut out: Vec<&Descriptor> = kept;
    out.extend(attestations);
    Ok(out)
}

/// A local OCI layout: a directory, or one unpacked from a `docker save`/OCI archive into the cache.
struct LocalLayout {
    blobs_root: PathBuf,
    top: Descriptor,
    source: String,
}

impl LocalLayout {
    fn open_dir(dir: &Path, spec: &ImageSpec) -> Result<LocalLayout, ImageError> {
        let image = spec.reference.to_string();
        let local = |detail: String| ImageError::Local { image: image.clone(), path: dir.to_path_buf(), detail };
        let index_path = dir.join("index.json");
        let bytes = std::fs::read(&index_path).map_err(|e| local(format!("cannot read index.json ({e}); is this an OCI image layout directory?")))?;
        let index = AnyManifest::parse(&bytes).map_err(|e| local(format!("index.json is not valid: {e}")))?;
        let names: Vec<&str> = index.manifests.iter().filter_map(|d| d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str)).collect();
        let wanted: Vec<String> = match &spec.layout_ref {
            Some(r) => vec![r.clone()],
            None => {
                let mut w = vec![spec.reference.to_string()];
                if let Some(t) = &spec.reference.tag {
                    w.push(t.clone());
                }
                w
            }
        };
        let top = index
            .manifests
            .iter()
            .find(|d| d.annotations.get(ANNOTATION_REF_NAME).is_some_and(|n| wanted.contains(n)))
            .or_else(|| if spec.layout_ref.is_none() && index.manifests.len() == 1 { index.manifests.first() } else { None })
            .ok_or_else(|| local(format!("no image named {wanted:?} in index.json (it has {names:?}); set layout_ref")))?
            .clone();
        let label = spec.origin_label.clone().unwrap_or_else(|| dir.display().to_string());
        Ok(LocalLayout { blobs_root: dir.join("blobs"), source: format!("oci-layout:{label}"), top })
    }

    /// A docker-archive tarball: `docker save` output (manifest.json + layer tars) or an OCI
    /// archive. Unpacked once into the cache as an OCI layout keyed by the archive's sha256.
    fn open_archive(file: &Path, spec: &ImageSpec, cache: &BlobCache) -> Result<LocalLayout, ImageError> {
        let image = spec.reference.to_string();
        let dir = crate::sources::archive::unpack(file, cache).map_err(|detail| ImageError::Local { image: image.clone(), path: file.to_path_buf(), detail })?;
        let mut l = LocalLayout::open_dir(&dir, spec)?;
        l.source = format!("docker-archive:{}", spec.origin_label.clone().unwrap_or_else(|| file.display().to_string()));
        Ok(l)
    }

    fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs_root.join(d.algorithm().as_str()).join(d.hex())
    }

    fn read_small(&self, d: &Digest, image: &ImageRef) -> Result<Vec<u8>, ImageError> {
        let p = self.blob_path(d);
        let bytes = std::fs::read(&p).map_err(|e| ImageError::Local { image: image.to_string(), path: p.clone(), detail: e.to_string() })?;
        if Digest::of(d.algorithm(), &bytes) != *d {
            return Err(ImageError::Local { image: image.to_string(), path: p, detail: format!("content does not hash to {d}; the layout is damaged") });
        }
        Ok(bytes)
    }

    fn open_blob(&self, d: &Digest, image: &ImageRef) -> Result<std::fs::File, ImageError> {
        let p = self.blob_path(d);
        std::fs::File::open(&p).map_err(|e| ImageError::Local { image: image.to_string(), path: p, detail: format!("{e}; the layout is missing blob {d}") })
    }
}

fn host_of(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    let host = u.host_str()?;
    Some(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// Basic credentials from `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
fn docker_config_auth(registry: &str) -> Option<RegistryAuth> {
    use base64::Engine;
    let path = match std::env::var_os("DOCKER_CONFIG") {
        Some(d) => PathBuf::from(d).join("config.json"),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".docker/config.json"),
    };
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let auths = v.get("auths")?.as_object()?;
    let keys: Vec<String> = if registry == "docker.io" {
        vec!["https://index.docker.io/v1/".into(), "docker.io".into(), "index.docker.io".into(), "registry-1.docker.io".into()]
    } else {
        vec![registry.to_string(), format!("https://{registry}"), format!("http://{registry}")]
    };
    let entry = keys.iter().find_map(|k| auths.get(k))?;
    let raw = entry.get("auth")?.as_str()?;
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(raw).ok()?).ok()?;
    let (u, p) = decoded.split_once(':')?;
    Some(RegistryAuth::Basic(u.into(), p.into()))
}
