//! `mirror push --oci URL`: copy every tagged image and chart the store holds into another
//! registry (Harbor, Nexus docker-hosted, Debian's docker-registry) through the distribution
//! API — blobs streamed from the store's files, skipped when the target has them, mounted
//! from a repository pushed earlier in the run, manifests put byte for byte (digests unchanged).
//! An index carried for some of its platforms goes as it is (a sparse index); for a registry
//! that refuses one, `--sparse-index rewrite` puts an index of the carried platforms instead.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde::Serialize;

use feas_format::oci::AnyManifest;
use feas_format::Digest;

use crate::store::Paths;

const MAX_MANIFEST: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("{what} at {url}: {detail}")]
    Http { what: String, url: String, detail: String },
    #[error("{url} refused the credentials (HTTP 401); check --username and the password variable")]
    Unauthorized { url: String },
    #[error("the store's {0} is missing or unreadable; run `mirror verify`")]
    Store(String),
    #[error("{0}")]
    Usage(String),
    #[error(
        "{image}: {url} refused its index ({detail}). The index lists {platforms}, which the bundle left out, and this registry refuses an index whose child \
         manifests are absent. Push with `--sparse-index rewrite`: the tag then names a new index of the carried platforms (pulls by the upstream index digest \
         will not work on that registry)"
    )]
    SparseRefused { image: String, url: String, platforms: String, detail: String },
}

/// What `mirror push` does with an index whose left-out platforms the store does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SparseIndex {
    /// Put it byte for byte: its digest stays the upstream one (the target must accept an index
    /// whose children are absent, as Harbor, Zot and distribution v3 do).
    #[default]
    Keep,
    /// Put a new index listing only the held children, annotated `dev.feas.filtered-from`
    /// with the upstream digest: for registries that check every child.
    Rewrite,
}

/// The index `bytes` with only the children in `held`, every other field as it was.
fn rewrite_index(bytes: &[u8], held: &BTreeSet<Digest>, upstream: &Digest) -> Result<Vec<u8>, PushError> {
    let bad = || PushError::Store(format!("manifest {upstream}"));
    let mut v: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| bad())?;
    let list = v.get_mut("manifests").and_then(serde_json::Value::as_array_mut).ok_or_else(bad)?;
    list.retain(|c| c.get("digest").and_then(serde_json::Value::as_str).and_then(|d| d.parse::<Digest>().ok()).is_some_and(|d| held.contains(&d)));
    let obj = v.as_object_mut().ok_or_else(bad)?;
    let notes = obj.entry("annotations").or_insert_with(|| serde_json::json!({}));
    notes.as_object_mut().ok_or_else(bad)?.insert("dev.feas.filtered-from".into(), upstream.to_string().into());
    serde_json::to_vec(&v).map_err(|_| bad())
}

#[derive(Debug, Default, Serialize)]
pub struct PushSummary {
    pub images: Vec<String>,
    pub blobs_uploaded: usize,
    pub bytes_uploaded: u64,
    pub blobs_skipped: usize,
    pub blobs_mounted: usize,
    pub manifests: usize,
}

pub struct Target {
    base: String,
    prefix: String,
    client: reqwest::Client,
    creds: Option<(String, String)>,
    /// The `Authorization` value that answered each repository's challenge (`Bearer …` from
    /// the Docker token flow, or `Basic …`).
    auth: BTreeMap<String, HeaderValue>,
}

impl Target {
    pub fn new(url: &str, prefix: &str, creds: Option<(String, String)>) -> Result<Target, PushError> {
        let client = client(url)?;
        let prefix = prefix.trim_matches('/');
        Ok(Target {
            base: url.trim_end_matches('/').to_string(),
            prefix: if prefix.is_empty() { String::new() } else { format!("{prefix}/") },
            client,
            creds,
            auth: BTreeMap::new(),
        })
    }

    fn name(&self, repo: &str) -> String {
        format!("{}{repo}", self.prefix)
    }

    /// Answer a 401: Basic with the credentials, or a token from the challenge's realm.
    async fn authenticate(&mut self, name: &str, challenge: &str, url: &str) -> Result<(), PushError> {
        let Some((user, pass)) = self.creds.clone() else { return Err(PushError::Unauthorized { url: url.into() }) };
        if let Some(rest) = challenge.strip_prefix("Bearer ") {
            let param = |k: &str| rest.split(',').filter_map(|p| p.trim().split_once('=')).find(|(kk, _)| *kk == k).map(|(_, v)| v.trim_matches('"').to_string());
            let realm = param("realm").ok_or_else(|| PushError::Http { what: "token challenge".into(), url: url.into(), detail: format!("no realm in {challenge}") })?;
            let mut q: Vec<(String, String)> = vec![("scope".into(), format!("repository:{name}:pull,push"))];
            if let Some(s) = param("service") {
                q.push(("service".into(), s));
            }
            let resp = self.client.get(&realm).query(&q).basic_auth(&user, Some(&pass)).send().await.map_err(|e| PushError::Http {
                what: "token".into(),
                url: realm.clone(),
                detail: e.to_string(),
            })?;
            if resp.status() == StatusCode::UNAUTHORIZED {
                return Err(PushError::Unauthorized { url: realm });
            }
            let v: serde_json::Value = resp.json().await.map_err(|e| PushError::Http { what: "token".into(), url: realm.clone(), detail: e.to_string() })?;
            let t = v["token"].as_str().or(v["access_token"].as_str()).ok_or_else(|| PushError::Http {
                what: "token".into(),
                url: realm.clone(),
                detail: "no token in the answer".into(),
            })?;
            let v = HeaderValue::from_str(&format!("Bearer {t}")).map_err(|e| PushError::Http { what: "token".into(), url: realm.clone(), detail: e.to_string() })?;
            self.auth.insert(name.to_string(), v);
        } else {
            use base64::Engine;
            let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            let v = HeaderValue::from_str(&format!("Basic {b}")).map_err(|e| PushError::Http { what: "credentials".into(), url: url.into(), detail: e.to_string() })?;
            self.auth.insert(name.to_string(), v);
        }
        Ok(())
    }

    /// One request, retried once after answering an authentication challenge.
    async fn send(&mut self, name: &str, method: Method, url: &str, headers: HeaderMap, body: Option<Body>) -> Result<reqwest::Response, PushError> {
        for attempt in 0..2 {
            let mut req = self.client.request(method.clone(), url).headers(headers.clone());
            if let Some(h) = self.auth.get(name) {
                req = req.header(AUTHORIZATION, h.clone());
            }
            if let Some(b) = &body {
                req = req.body(b.open().await?);
            }
            let resp = req.send().await.map_err(|e| PushError::Http { what: format!("{method}"), url: url.into(), detail: e.to_string() })?;
            if resp.status() == StatusCode::UNAUTHORIZED && attempt == 0 {
                let challenge = resp.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                self.authenticate(name, &challenge, url).await?;
                continue;
            }
            if resp.status() == StatusCode::UNAUTHORIZED {
                return Err(PushError::Unauthorized { url: url.into() });
            }
            return Ok(resp);
        }
        unreachable!("the loop returns on its second pass")
    }
}

/// A request body: bytes, or a blob file streamed (re-opened on a retry).
enum Body {
    Bytes(Vec<u8>),
    File(PathBuf),
}

impl Body {
    async fn open(&self) -> Result<reqwest::Body, PushError> {
        Ok(match self {
            Body::Bytes(b) => reqwest::Body::from(b.clone()),
            Body::File(p) => file_body(p, || p.display().to_string()).await?.0,
        })
    }
}

/// The HTTP client every push uses: long enough a timeout for multi-GiB blobs.
pub(crate) fn client(url: &str) -> Result<reqwest::Client, PushError> {
    reqwest::Client::builder().timeout(std::time::Duration::from_secs(3600)).build().map_err(|e| PushError::Http { what: "client".into(), url: url.into(), detail: e.to_string() })
}

/// A file streamed as a request body, with its length; `what` names it when it cannot be read.
pub(crate) async fn file_body(path: &std::path::Path, what: impl FnOnce() -> String) -> Result<(reqwest::Body, u64), PushError> {
    let f = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(_) => return Err(PushError::Store(what())),
    };
    let size = match f.metadata().await {
        Ok(m) => m.len(),
        Err(_) => return Err(PushError::Store(what())),
    };
    Ok((reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(f, 1 << 20)), size))
}

pub(crate) fn check(resp: reqwest::Response, what: &str, url: &str, ok: &[StatusCode]) -> Result<reqwest::Response, PushError> {
    if ok.contains(&resp.status()) {
        Ok(resp)
    } else {
        Err(PushError::Http { what: what.into(), url: url.into(), detail: format!("HTTP {}", resp.status()) })
    }
}

fn read_manifest(paths: &Paths, d: &Digest) -> Result<(Vec<u8>, AnyManifest), PushError> {
    let p = paths.blob(d);
    let bytes = crate::store::BlobStore::read_small(&p, MAX_MANIFEST).map_err(|_| PushError::Store(format!("manifest {d}")))?;
    let m = AnyManifest::parse(&bytes).map_err(|_| PushError::Store(format!("manifest {d}")))?;
    Ok((bytes, m))
}

/// Push `tags` (repo, tag, digest) from the store's files to the target.
pub async fn push(paths: &Paths, tags: &[(String, String, Digest)], target: &mut Target, sparse: SparseIndex) -> Result<PushSummary, PushError> {
    let mut s = PushSummary::default();
    // Blobs already in the target, by repository; and where each was first pushed (to mount).
    let mut present: BTreeSet<(String, Digest)> = BTreeSet::new();
    let mut first_repo: BTreeMap<Digest, String> = BTreeMap::new();
    for (repo, tag, top) in tags {
        let name = target.name(repo);
        // Manifests depth first: children before the index that names them.
        let mut order: Vec<(Digest, Vec<u8>, String)> = Vec::new();
        let mut blobs: Vec<(Digest, u64)> = Vec::new();
        let mut stack = vec![(top.clone(), false)];
        let mut seen = BTreeSet::new();
        // Platforms of the top index the store does not hold (a bundle's platform filter).
        let mut left_out: Vec<String> = Vec::new();
        while let Some((d, children_done)) = stack.pop() {
            let (bytes, m) = read_manifest(paths, &d)?;
            let held: BTreeSet<Digest> = m.manifests.iter().filter(|c| paths.blob(&c.digest).is_file()).map(|c| c.digest.clone()).collect();
            if children_done {
                let media_type = m.effective_media_type(None);
                if held.len() < m.manifests.len() && sparse == SparseIndex::Rewrite {
                    let bytes = rewrite_index(&bytes, &held, &d)?;
                    order.push((Digest::sha256_of(&bytes), bytes, media_type));
                } else {
                    order.push((d, bytes, media_type));
                }
                continue;
            }
            if !seen.insert(d.clone()) {
                continue;
            }
            if d == *top {
                left_out = m.manifests.iter().filter(|c| !held.contains(&c.digest)).map(|c| c.platform.as_ref().map(|p| p.key()).unwrap_or_else(|| c.digest.to_string())).collect();
            }
            for b in m.blob_children() {
                blobs.push((b.digest.clone(), b.size));
            }
            stack.push((d.clone(), true));
            for c in m.manifests.iter().filter(|c| held.contains(&c.digest)) {
                stack.push((c.digest.clone(), false));
            }
        }
        for (d, size) in blobs {
            if !present.insert((name.clone(), d.clone())) {
                continue;
            }
            let head = format!("{}/v2/{name}/blobs/{d}", target.base);
            let r = target.send(&name, Method::HEAD, &head, HeaderMap::new(), None).await?;
            if r.status() == StatusCode::OK {
                s.blobs_skipped += 1;
                first_repo.entry(d.clone()).or_insert_with(|| name.clone());
                continue;
            }
            let mut upload = format!("{}/v2/{name}/blobs/uploads/", target.base);
            if let Some(from) = first_repo.get(&d).filter(|f| **f != name) {
                upload = format!("{upload}?mount={d}&from={from}");
            }
            let r = target.send(&name, Method::POST, &upload, HeaderMap::new(), None).await?;
            let r = check(r, "starting an upload", &upload, &[StatusCode::CREATED, StatusCode::ACCEPTED])?;
            if r.status() == StatusCode::CREATED {
                s.blobs_mounted += 1;
                continue;
            }
            let loc = r.headers().get(LOCATION).and_then(|v| v.to_str().ok()).ok_or_else(|| PushError::Http {
                what: "upload".into(),
                url: upload.clone(),
                detail: "no Location".into(),
            })?;
            let loc = if loc.starts_with("http") { loc.to_string() } else { format!("{}{loc}", target.base) };
            let put = format!("{loc}{}digest={d}", if loc.contains('?') { '&' } else { '?' });
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            h.insert(CONTENT_LENGTH, HeaderValue::from(size));
            let r = target.send(&name, Method::PUT, &put, h, Some(Body::File(paths.blob(&d)))).await?;
            check(r, &format!("uploading {d}"), &put, &[StatusCode::CREATED])?;
            s.blobs_uploaded += 1;
            s.bytes_uploaded += size;
            first_repo.entry(d).or_insert_with(|| name.clone());
        }
        let last = order.len().saturating_sub(1);
        for (i, (d, bytes, media_type)) in order.into_iter().enumerate() {
            let reference = if i == last { tag.clone() } else { d.to_string() };
            let url = format!("{}/v2/{name}/manifests/{reference}", target.base);
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_str(&media_type).unwrap_or(HeaderValue::from_static("application/vnd.oci.image.manifest.v1+json")));
            let r = target.send(&name, Method::PUT, &url, h, Some(Body::Bytes(bytes))).await?;
            if i == last && !left_out.is_empty() && sparse == SparseIndex::Keep && r.status().is_client_error() {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                let code = serde_json::from_str::<serde_json::Value>(&body).ok().and_then(|v| v["errors"][0]["code"].as_str().map(str::to_string));
                let detail = match code {
                    Some(c) => format!("HTTP {status}, {c}"),
                    None => format!("HTTP {status}"),
                };
                return Err(PushError::SparseRefused { image: format!("{repo}:{tag}"), url, platforms: left_out.join(", "), detail });
            }
            check(r, &format!("putting manifest {d}"), &url, &[StatusCode::CREATED, StatusCode::OK])?;
            s.manifests += 1;
        }
        s.images.push(format!("{name}:{tag}"));
    }
    Ok(s)
}
