//! Plain HTTP(S) for every ecosystem that is not read through an OCI registry: small documents
//! into memory with a size cap, large files streamed into the blob cache while hashing, resumed
//! with `Range` after a dropped connection.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::cache::{BlobCache, CacheError};
use crate::format::{Digest, HashWriter};
use crate::progress::Progress;

const MAX_RESUMES: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{url}: {detail}")]
    Failed { url: String, detail: String },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: larger than the {limit} bytes allowed for it")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: {source}")]
    Cache { url: String, source: CacheError },
}

impl HttpError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, HttpError::Status { status: 404 | 410, .. })
    }
}

#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

/// The innermost cause of a reqwest error, which is what tells an operator what went wrong.
fn cause(e: &reqwest::Error) -> String {
    let mut s: &dyn std::error::Error = e;
    while let Some(inner) = s.source() {
        s = inner;
    }
    s.to_string()
}

/// A response body, whole, refusing more than `limit` bytes (announced or streamed).
async fn read_limited(resp: reqwest::Response, url: &str, limit: u64) -> Result<Vec<u8>, HttpError> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(HttpError::TooLarge { url: url.into(), limit });
    }
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| HttpError::Failed { url: url.into(), detail: cause(&e) })?;
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(HttpError::TooLarge { url: url.into(), limit });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A response whatever its status, for APIs that explain errors in headers (the Hugging Face hub's
/// `X-Error-Code`) or paginate with them (`Link`).
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Http {
    pub fn new() -> Http {
        Self::with_bearer(None)
    }

    /// A client that sends `Authorization: Bearer TOKEN` (reqwest drops it on redirects to
    /// another host, e.g. a CDN holding the bytes).
    pub fn with_bearer(token: Option<&str>) -> Http {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(v) = token.and_then(|t| reqwest::header::HeaderValue::from_str(&format!("Bearer {t}")).ok()) {
            let mut v = v;
            v.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(120))
            .user_agent(concat!("feas-bundler/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .build()
            .expect("HTTP client builds");
        Http { client }
    }

    /// A small document with its status and headers, not failing on a non-2xx status.
    pub async fn get_reply(&self, url: &str, limit: u64) -> Result<Reply, HttpError> {
        let resp = self.client.get(url).send().await.map_err(|e| HttpError::Failed { url: url.into(), detail: cause(&e) })?;
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        Ok(Reply { status, headers, body: read_limited(resp, url, limit).await? })
    }

    /// GET `url` (from byte `from`, with `accept` if given); any non-2xx status is an error.
    async fn send(&self, url: &str, from: u64, accept: Option<&str>) -> Result<reqwest::Response, HttpError> {
        let mut req = self.client.get(url);
        if let Some(a) = accept {
            req = req.header(reqwest::header::ACCEPT, a);
        }
        if from > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={from}-"));
        }
        let resp = req.send().await.map_err(|e| HttpError::Failed { url: url.into(), detail: cause(&e) })?;
        if !resp.status().is_success() {
            return Err(HttpError::Status { url: url.into(), status: resp.status().as_u16() });
        }
        Ok(resp)
    }

    /// A small document, whole, refusing more than `limit` bytes.
    pub async fn get_small(&self, url: &str, limit: u64) -> Result<Vec<u8>, HttpError> {
        read_limited(self.send(url, 0, None).await?, url, limit).await
    }

    /// Stream `url` into the cache when its digest is not known beforehand (indexes that give
    /// only MD5): returns the sha256 and size it hashed to; `size`, if given, is enforced.
    pub async fn to_cache_new(&self, cache: &BlobCache, url: &str, size: Option<u64>) -> Result<(Digest, u64), HttpError> {
        let cache_err = |source| HttpError::Cache { url: url.into(), source };
        let tmp = cache.temp().map_err(cache_err)?;
        let tmp_path = tmp.path().to_path_buf();
        let io_err = |e: std::io::Error| HttpError::Cache { url: url.into(), source: CacheError::Io { path: tmp_path.clone(), source: e } };
        let file = tokio::fs::File::from_std(tmp.reopen().map_err(io_err)?);
        let mut out = HashWriter::new(tokio::io::BufWriter::with_capacity(1 << 20, file), crate::format::Algorithm::Sha256);
        let mut stream = self.send(url, 0, None).await?.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| HttpError::Failed { url: url.into(), detail: cause(&e) })?;
            if size.is_some_and(|s| out.size() + chunk.len() as u64 > s) {
                return Err(HttpError::TooLarge { url: url.into(), limit: size.unwrap_or_default() });
            }
            out.write_all(&chunk).await.map_err(io_err)?;
        }
        out.flush().await.map_err(io_err)?;
        let (_, d, n) = out.into_parts();
        if size.is_some_and(|s| s != n) {
            return Err(HttpError::Failed { url: url.into(), detail: format!("{n} bytes, the index says {}", size.unwrap_or_default()) });
        }
        cache.commit(tmp, url, &d, Some(n), (d.clone(), n)).map_err(cache_err)?;
        Ok((d, n))
    }

    /// A page fetched with an `Accept` header: (body, content type, URL after redirects).
    pub async fn get_page(&self, url: &str, accept: &str, limit: u64) -> Result<(Vec<u8>, String, String), HttpError> {
        let resp = self.send(url, 0, Some(accept)).await?;
        let content_type = resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let final_url = resp.url().to_string();
        Ok((read_limited(resp, url, limit).await?, content_type, final_url))
    }

    /// Stream `url` into the cache as `expected` (digest and size checked before it lands).
    /// A file already cached is not fetched again.
    pub async fn to_cache(&self, cache: &BlobCache, url: &str, what: &str, expected: &Digest, size: Option<u64>, progress: &Progress) -> Result<(), HttpError> {
        if cache.has(expected, size) {
            return Ok(());
        }
        let cache_err = |source| HttpError::Cache { url: url.into(), source };
        let tmp = cache.temp().map_err(cache_err)?;
        let tmp_path = tmp.path().to_path_buf();
        let io_err = |e: std::io::Error| HttpError::Cache { url: url.into(), source: CacheError::Io { path: tmp_path.clone(), source: e } };
        let file = tokio::fs::File::from_std(tmp.reopen().map_err(io_err)?);
        let mut out = HashWriter::new(tokio::io::BufWriter::with_capacity(1 << 20, file), expected.algorithm());
        let mut resumes = 0;
        loop {
            let offset = out.size();
            let resp = self.send(url, offset, None).await?;
            if offset > 0 && resp.status() != reqwest::StatusCode::PARTIAL_CONTENT {
                // The server ignored Range: start over with a fresh hash.
                let file = tokio::fs::File::create(&tmp_path).await.map_err(io_err)?;
                out = HashWriter::new(tokio::io::BufWriter::with_capacity(1 << 20, file), expected.algorithm());
            }
            let mut stream = resp.bytes_stream();
            let mut failed = None;
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(bytes) => {
                        if size.is_some_and(|s| out.size() + bytes.len() as u64 > s) {
                            return Err(HttpError::TooLarge { url: url.into(), limit: size.unwrap_or_default() });
                        }
                        out.write_all(&bytes).await.map_err(io_err)?;
                        progress.inc(bytes.len() as u64);
                    }
                    Err(e) => {
                        failed = Some(cause(&e));
                        break;
                    }
                }
            }
            match failed {
                None => break,
                Some(e) if resumes < MAX_RESUMES && size.is_none_or(|s| out.size() < s) => {
                    resumes += 1;
                    tracing::warn!("{what}: connection dropped after {} bytes ({e}); resuming", out.size());
                }
                Some(detail) => return Err(HttpError::Failed { url: url.into(), detail }),
            }
        }
        out.flush().await.map_err(io_err)?;
        let (_, d, n) = out.into_parts();
        cache.commit(tmp, what, expected, size, (d, n)).map_err(cache_err)
    }
}
