//! Optional read authentication for `mirror serve --htpasswd FILE`, and the writers of
//! `--push-htpasswd FILE` (bcrypt entries, as `htpasswd -B` and Docker's registry use). Every
//! protocol takes HTTP Basic; the OCI API also answers with the Docker token flow
//! (`WWW-Authenticate: Bearer realm=…/token`), which is what containerd, podman, buildah and
//! skopeo expect from a registry. Without `--htpasswd` reads are open, as on an air-gapped LAN;
//! an OCI write (push, delete) always needs a writer; imports go through the store's socket.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use bundler::format::Digest;

use crate::routes::origin::Origin;

const TOKEN_PATH: &str = "/token";
const TOKEN_TTL: Duration = Duration::from_secs(300);
/// Tokens and remembered credentials held at once; older ones are dropped first.
const MAX_ENTRIES: usize = 10_000;
const SERVICE: &str = "feas-mirror";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("--htpasswd {path}: {detail}")]
    File { path: PathBuf, detail: String },
}

pub struct Auth {
    /// Readers, user → bcrypt hash; `None`: reads are anonymous.
    readers: Option<HashMap<String, String>>,
    /// Writers (who may also read), user → bcrypt hash.
    writers: HashMap<String, String>,
    /// Issued bearer tokens → (user, expiry).
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    /// sha256 of `user:password` pairs already checked: bcrypt is slow by design, and pip and
    /// apt send Basic credentials with every request.
    verified: Mutex<HashMap<Digest, Instant>>,
    /// Where clients reach the mirror: the token realm they are sent to.
    origin: Origin,
}

impl Auth {
    fn read_file(path: &Path) -> Result<HashMap<String, String>, AuthError> {
        let bad = |detail: String| AuthError::File { path: path.to_path_buf(), detail };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let mut users = HashMap::new();
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#')) {
            let (user, hash) = line.trim().split_once(':').ok_or_else(|| bad(format!("line {}: expected user:hash", n + 1)))?;
            if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
                return Err(bad(format!("line {}: user {user} has no bcrypt hash; create entries with `htpasswd -B`", n + 1)));
            }
            users.insert(user.to_string(), hash.to_string());
        }
        if users.is_empty() {
            return Err(bad("no users".into()));
        }
        Ok(users)
    }

    /// Readers from `--htpasswd` (every read needs credentials), writers from `--push-htpasswd`.
    pub fn load(readers: Option<&Path>, writers: Option<&Path>, origin: Origin) -> Result<Auth, AuthError> {
        let readers = readers.map(Auth::read_file).transpose()?;
        let writers = writers.map(Auth::read_file).transpose()?.unwrap_or_default();
        Ok(Auth { readers, writers, tokens: Mutex::default(), verified: Mutex::default(), origin })
    }

    pub fn has_writers(&self) -> bool {
        !self.writers.is_empty()
    }

    /// The user a `Basic` header proves, if it does.
    fn basic(&self, value: &str) -> Option<String> {
        let raw = base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()?;
        let pair = String::from_utf8(raw).ok()?;
        let (user, password) = pair.split_once(':')?;
        self.password(user, password)
    }

    /// The user, if `password` is theirs.
    fn password(&self, user: &str, password: &str) -> Option<String> {
        let hash = self.writers.get(user).or_else(|| self.readers.as_ref()?.get(user))?;
        let key = Digest::sha256_of(format!("{user}:{password}:{hash}").as_bytes());
        let now = Instant::now();
        if self.verified.lock().unwrap_or_else(|e| e.into_inner()).get(&key).is_some_and(|t| *t > now) {
            return Some(user.to_string());
        }
        if !bcrypt::verify(password, hash).unwrap_or(false) {
            return None;
        }
        let mut v = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        prune(&mut v, now, |t| *t);
        v.insert(key, now + TOKEN_TTL);
        Some(user.to_string())
    }

    /// The user a token we issued was issued to.
    fn bearer(&self, token: &str) -> Option<String> {
        let now = Instant::now();
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).get(token.trim()).filter(|(_, exp)| *exp > now).map(|(u, _)| u.clone())
    }

    fn issue(&self, user: String) -> String {
        let token: String = {
            use rand::Rng;
            let bytes: [u8; 32] = rand::thread_rng().gen();
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        };
        let now = Instant::now();
        let mut t = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        prune(&mut t, now, |(_, exp)| *exp);
        t.insert(token.clone(), (user, now + TOKEN_TTL));
        token
    }

    fn authorized(&self, headers: &HeaderMap) -> Option<Caller> {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, rest) = value.split_once(' ')?;
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => self.basic(rest).map(Caller::User),
            "bearer" => self.bearer(rest).map(Caller::Token),
            _ => None,
        }
    }
}

/// Who a request proved to be: a user (Basic), or the holder of a token we issued to a user.
enum Caller {
    User(String),
    Token(String),
}

impl Caller {
    fn user(&self) -> &str {
        match self {
            Caller::User(u) | Caller::Token(u) => u,
        }
    }
}

/// Drop expired entries; if still full, the ones expiring soonest.
fn prune<K: Clone + Eq + std::hash::Hash, V>(m: &mut HashMap<K, V>, now: Instant, exp: impl Fn(&V) -> Instant) {
    m.retain(|_, v| exp(v) > now);
    if m.len() >= MAX_ENTRIES {
        let mut by_exp: Vec<(K, Instant)> = m.iter().map(|(k, v)| (k.clone(), exp(v))).collect();
        by_exp.sort_by_key(|(_, e)| *e);
        for (k, _) in by_exp.into_iter().take(MAX_ENTRIES / 10) {
            m.remove(&k);
        }
    }
}

/// The repository an OCI path names, for the challenge's `scope`.
fn oci_scope(path: &str, write: bool) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    let name = ["/manifests/", "/blobs/", "/tags/", "/referrers/"].iter().find_map(|m| rest.split_once(m).map(|(n, _)| n))?;
    Some(format!("repository:{name}:{}", if write { "pull,push" } else { "pull" }))
}

fn is_write(method: &axum::http::Method) -> bool {
    use axum::http::Method;
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn unauthorized(auth: &Auth, uri: &Uri, headers: &HeaderMap, path: &str, write: bool) -> Response {
    let (challenge, body, ctype) = if path == "/v2" || path.starts_with("/v2/") {
        let scope = oci_scope(path, write).map(|s| format!(",scope=\"{s}\"")).unwrap_or_default();
        (
            format!("Bearer realm=\"{}{TOKEN_PATH}\",service=\"{SERVICE}\"{scope}", auth.origin.base(uri, headers)),
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required: log in with the mirror's credentials"}]}"#.to_string(),
            "application/json",
        )
    } else {
        ("Basic realm=\"feas mirror\", charset=\"UTF-8\"".to_string(), "authentication required: this mirror is configured with --htpasswd\n".to_string(), "text/plain; charset=utf-8")
    };
    let mut r = (StatusCode::UNAUTHORIZED, body).into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

/// The middleware: health checks pass, `/token` trades Basic credentials for a bearer token,
/// OCI writes need a writer, reads need a user when `--htpasswd` is given.
pub async fn require(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path == "/healthz" {
        return next.run(req).await;
    }
    let user = {
        let auth = auth.clone();
        let headers = req.headers().clone();
        // bcrypt takes tens of milliseconds: off the async threads.
        tokio::task::spawn_blocking(move || auth.authorized(&headers)).await.unwrap_or(None)
    };
    if path == TOKEN_PATH && req.method() == axum::http::Method::POST {
        return oauth_token(auth, req).await;
    }
    if path == TOKEN_PATH {
        // Anonymous reads get an anonymous token (user ""), as a registry with open pulls
        // gives one; it carries no right to push.
        let anonymous = auth.readers.is_none() && !req.headers().contains_key(header::AUTHORIZATION);
        let user = match user {
            None if anonymous => Some(Caller::User(String::new())),
            u => u,
        };
        return match user {
            Some(Caller::User(u)) => {
                let token = auth.issue(u);
                let issued = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                let body = serde_json::json!({"token": token, "access_token": token, "expires_in": TOKEN_TTL.as_secs(), "issued_at": issued});
                ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
            }
            _ => {
                let mut r = (StatusCode::UNAUTHORIZED, "give the mirror's user name and password (Basic) to get a token\n").into_response();
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"feas mirror\", charset=\"UTF-8\""));
                r
            }
        };
    }
    let write = is_write(req.method()) && (path == "/v2" || path.starts_with("/v2/"));
    let user = user.filter(|c| !c.user().is_empty() || !write);
    if write && auth.has_writers() {
        return match user {
            Some(c) if auth.writers.contains_key(c.user()) => next.run(req).await,
            Some(c) => {
                let body = serde_json::json!({"errors": [{"code": "DENIED", "message": format!("user {} may read but not push; writers are listed in --push-htpasswd", c.user())}]});
                (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
            }
            None => unauthorized(&auth, req.uri(), req.headers(), &path, true),
        };
    }
    // Clients learn from the `/v2/` ping that this registry has a token service; without a
    // challenge there, podman, buildah and skopeo never send their credentials to push.
    let ping = path == "/v2" || path == "/v2/";
    match user {
        Some(_) => next.run(req).await,
        None if ping && auth.has_writers() => unauthorized(&auth, req.uri(), req.headers(), &path, false),
        // Without writers a write is answered by the handler (405: read-only).
        None if auth.readers.is_none() => next.run(req).await,
        None => unauthorized(&auth, req.uri(), req.headers(), &path, write),
    }
}

/// The token spec's OAuth2 password grant (`POST /token`, form `grant_type=password`,
/// `username`, `password`): what containerd asks first when it holds credentials.
async fn oauth_token(auth: Arc<Auth>, req: Request) -> Response {
    use axum::extract::FromRequest;
    let form = axum::extract::Form::<HashMap<String, String>>::from_request(req, &()).await;
    let Ok(axum::extract::Form(f)) = form else {
        return (StatusCode::BAD_REQUEST, "expected a form: grant_type=password&username=…&password=…\n").into_response();
    };
    if f.get("grant_type").map(String::as_str) != Some("password") {
        return (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "application/json")], r#"{"error":"unsupported_grant_type"}"#).into_response();
    }
    let (user, password) = (f.get("username").cloned().unwrap_or_default(), f.get("password").cloned().unwrap_or_default());
    let a = auth.clone();
    let who = tokio::task::spawn_blocking(move || a.password(&user, &password)).await.unwrap_or(None);
    match who {
        Some(u) => {
            let token = auth.issue(u);
            let body = serde_json::json!({"access_token": token, "token": token, "expires_in": TOKEN_TTL.as_secs(), "scope": f.get("scope").cloned().unwrap_or_default()});
            ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
        }
        None => (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "application/json")], r#"{"error":"invalid_grant"}"#).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htpasswd_basic_and_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("htpasswd");
        std::fs::write(&f, format!("# users\nalice:{}\n", bcrypt::hash("s3cret", 4).unwrap())).unwrap();
        let a = Auth::load(Some(&f), None, Origin::default()).unwrap();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(a.basic(&b64("alice:s3cret")).as_deref(), Some("alice"));
        assert_eq!(a.basic(&b64("alice:s3cret")).as_deref(), Some("alice"), "remembered");
        assert_eq!(a.basic(&b64("alice:wrong")), None);
        assert_eq!(a.basic(&b64("bob:s3cret")), None);
        let t = a.issue("alice".into());
        assert!(a.bearer(&t).as_deref() == Some("alice") && a.bearer("nope").is_none());
        assert_eq!(oci_scope("/v2/docker.io/library/x/manifests/1", false).as_deref(), Some("repository:docker.io/library/x:pull"));
        assert_eq!(oci_scope("/v2/site/app/blobs/uploads/", true).as_deref(), Some("repository:site/app:pull,push"));
        assert!(!a.has_writers());
        std::fs::write(&f, "alice:plaintext\n").unwrap();
        assert!(Auth::load(Some(&f), None, Origin::default()).is_err());
    }
}
