//! Plain HTTP(S) for every ecosystem that is not read through an OCI registry: small documents
//! into memory with a size cap, large files streamed into the blob cache while hashing, resumed
//! with `Range` after a dropped connection. Transient failures (no connection, a timeout,
//! 408/429/5xx) are tried again with exponential backoff and jitter, honouring `Retry-After`,
//! bounded in tries and total wait (`Retry`, from `--retries`/`--retry-for`).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::cache::{BlobCache, CacheError, Drained};
use crate::format::{Digest, HashWriter};
use crate::progress::Progress;

const MAX_RESUMES: usize = 5;

/// How transient failures are retried, for the whole process (set once from the command line).
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Tries in all, the first included.
    pub tries: u32,
    /// The most time spent waiting between tries of one request.
    pub wait_for: Duration,
}

impl Retry {
    pub const DEFAULT: Retry = Retry { tries: 6, wait_for: Duration::from_secs(300) };
    /// The first backoff; each next one doubles, up to `MAX_BACKOFF`, with ±25% jitter.
    const FIRST: Duration = Duration::from_millis(500);
    const MAX_BACKOFF: Duration = Duration::from_secs(60);

    fn backoff(attempt: u32) -> Duration {
        let base = Self::FIRST.saturating_mul(1 << attempt.min(16)).min(Self::MAX_BACKOFF);
        base.mul_f64(rand::Rng::gen_range(&mut rand::thread_rng(), 0.75..1.25))
    }
}

static RETRY: OnceLock<Retry> = OnceLock::new();

/// Sets the retry policy of every `Http` in this process (the first call wins).
pub fn set_retry(r: Retry) {
    let _ = RETRY.set(r);
}

fn retry() -> Retry {
    *RETRY.get().unwrap_or(&Retry::DEFAULT)
}

/// Downloads at once from one upstream (host and port) unless `--per-upstream` says otherwise:
/// skopeo's default for layers, and few enough that a CDN does not see a flood.
pub const PER_UPSTREAM: usize = 6;
static PER_UPSTREAM_SET: OnceLock<usize> = OnceLock::new();
static UPSTREAMS: OnceLock<std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Semaphore>>>> = OnceLock::new();

/// Sets how many downloads run at once against one upstream (the first call wins).
pub fn set_per_upstream(n: usize) {
    let _ = PER_UPSTREAM_SET.set(n.max(1));
}

/// A turn to download from `url`'s upstream, waited for while `--per-upstream` others run;
/// held until dropped.
pub async fn upstream_slot(url: &str) -> tokio::sync::OwnedSemaphorePermit {
    let host = reqwest::Url::parse(url).ok().map(|u| format!("{}:{}", u.host_str().unwrap_or_default(), u.port_or_known_default().unwrap_or(0))).unwrap_or_default();
    let n = *PER_UPSTREAM_SET.get().unwrap_or(&PER_UPSTREAM);
    let sem = UPSTREAMS.get_or_init(Default::default).lock().expect("upstreams").entry(host).or_insert_with(|| std::sync::Arc::new(tokio::sync::Semaphore::new(n))).clone();
    sem.acquire_owned().await.expect("never closed")
}

/// The wait before the try after `attempt` (0 = the first), or `None` when the process's
/// `Retry` is spent: upstream's `after` if it said, else the backoff.
fn next_wait(policy: Retry, attempt: u32, waited: Duration, after: Option<Duration>) -> Option<Duration> {
    let wait = after.unwrap_or_else(|| Retry::backoff(attempt));
    (attempt + 1 < policy.tries && waited + wait <= policy.wait_for).then_some(wait)
}

/// `op` tried again while `may_pass` says its error may pass (no connection, 429, 5xx:
/// `Some`, holding the wait the upstream asked for if it did; `None` fails for good), within
/// the process's `Retry`, each wait logged as for `what`; else its last error, with the tries.
pub async fn retried<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
    what: &str,
    mut op: impl FnMut() -> F,
    may_pass: impl Fn(&E) -> Option<Option<Duration>>,
) -> Result<T, (E, u32)> {
    let policy = retry();
    let mut waited = Duration::ZERO;
    for attempt in 0.. {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) => match may_pass(&e).and_then(|after| next_wait(policy, attempt, waited, after)) {
                Some(wait) => {
                    tracing::warn!("{what}: {e}; trying again in {:.1}s ({} of {} tries)", wait.as_secs_f64(), attempt + 2, policy.tries);
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
                None => return Err((e, attempt + 1)),
            },
        }
    }
    unreachable!("the loop returns")
}

/// One try of a plain GET that did not give a usable answer.
enum Attempt {
    /// A status that says "not now" (`transient`).
    Busy(reqwest::Response),
    Failed(reqwest::Error),
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Attempt::Busy(r) => write!(f, "HTTP {}", r.status().as_u16()),
            Attempt::Failed(e) => f.write_str(&cause(e)),
        }
    }
}

impl Attempt {
    /// A busy answer waits its `Retry-After`; no connection, a timeout or a failed send may pass.
    fn may_pass(&self) -> Option<Option<Duration>> {
        match self {
            Attempt::Busy(r) => Some(retry_after(r)),
            Attempt::Failed(e) => (e.is_connect() || e.is_timeout() || e.is_request()).then_some(None),
        }
    }
}

/// Statuses that say "not now" rather than "no": tried again.
pub fn transient(status: u16) -> bool {
    matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` as seconds or an HTTP date, if the response has one.
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    httpdate::parse_http_date(v).ok().map(|t| t.duration_since(std::time::SystemTime::now()).unwrap_or_default())
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{url}: {detail}")]
    Failed { url: String, detail: String },
    #[error("{url}: {last} on each of {tries} tries over {waited}s; the upstream may be down or limiting this client (more with --retries N and --retry-for SECONDS)")]
    GaveUp { url: String, last: String, tries: u32, waited: u64 },
    #[error("{url}: HTTP {status}{}", status_hint(*status))]
    Status { url: String, status: u16 },
    #[error("{url}: larger than the {limit} bytes allowed for it")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: {source}")]
    Cache { url: String, source: CacheError },
}

/// What an operator does about a refusal that trying again does not fix.
fn status_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => " (the upstream refused access: check the credentials or token the manifest names)",
        404 | 410 => " (the upstream no longer has it: if it moved on, `bundler lock` without --locked resolves the manifest again)",
        _ => "",
    }
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

    /// Sends what `request` builds, again after a transient failure (no connection, a timeout,
    /// 408/429/5xx), waiting `Retry-After` or an exponential backoff with jitter, within the
    /// process's `Retry`. Returns the first response that is not transient, whatever its status.
    async fn retrying(&self, url: &str, request: impl Fn() -> reqwest::RequestBuilder) -> Result<reqwest::Response, HttpError> {
        let start = Instant::now();
        let send = || async {
            match request().send().await {
                Ok(resp) if transient(resp.status().as_u16()) => Err(Attempt::Busy(resp)),
                Ok(resp) => Ok(resp),
                Err(e) => Err(Attempt::Failed(e)),
            }
        };
        retried(url, send, Attempt::may_pass).await.map_err(|(last, tries)| match (last.may_pass(), last) {
            (None, Attempt::Failed(e)) => HttpError::Failed { url: url.into(), detail: cause(&e) },
            (_, last) => HttpError::GaveUp { url: url.into(), last: last.to_string(), tries, waited: start.elapsed().as_secs() },
        })
    }

    /// A small document with its status and headers, not failing on a non-2xx status.
    pub async fn get_reply(&self, url: &str, limit: u64) -> Result<Reply, HttpError> {
        let resp = self.retrying(url, || self.client.get(url)).await?;
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        Ok(Reply { status, headers, body: read_limited(resp, url, limit).await? })
    }

    /// GET `url` (from byte `from`, with `accept` if given); any non-2xx status is an error.
    async fn send(&self, url: &str, from: u64, accept: Option<&str>) -> Result<reqwest::Response, HttpError> {
        let resp = self
            .retrying(url, || {
                let mut req = self.client.get(url);
                if let Some(a) = accept {
                    req = req.header(reqwest::header::ACCEPT, a);
                }
                if from > 0 {
                    req = req.header(reqwest::header::RANGE, format!("bytes={from}-"));
                }
                req
            })
            .await?;
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
    /// A file already cached is not fetched again; one a killed run began is resumed with
    /// `Range`, as is one whose connection drops (up to `MAX_RESUMES` times).
    pub async fn to_cache(&self, cache: &BlobCache, url: &str, what: &str, expected: &Digest, size: Option<u64>, progress: &Progress) -> Result<(), HttpError> {
        let cache_err = |source| HttpError::Cache { url: url.into(), source };
        let Some(mut out) = cache.download(expected, size).await.map_err(cache_err)? else { return Ok(()) };
        let _slot = upstream_slot(url).await;
        progress.inc(out.offset());
        let mut resumes = 0;
        loop {
            let offset = out.offset();
            if size.is_some_and(|s| offset == s) {
                break;
            }
            let resp = self.send(url, offset, None).await?;
            if offset > 0 && resp.status() != reqwest::StatusCode::PARTIAL_CONTENT {
                // The server ignored Range: start over with a fresh hash.
                out.restart().await.map_err(cache_err)?;
            }
            match out.drain(resp.bytes_stream(), size, progress).await.map_err(cache_err)? {
                Drained::Whole => break,
                Drained::Over(_) => return Err(HttpError::TooLarge { url: url.into(), limit: size.unwrap_or_default() }),
                Drained::Broke(e) if resumes < MAX_RESUMES && size.is_none_or(|s| out.offset() < s) => {
                    resumes += 1;
                    tracing::warn!("{what}: connection dropped after {} bytes ({}); resuming", out.offset(), cause(&e));
                }
                Drained::Broke(e) => return Err(HttpError::Failed { url: url.into(), detail: cause(&e) }),
            }
        }
        out.finish(cache, what, expected, size).await.map_err(cache_err)
    }
}
