//! Optional read authentication for `mirror serve --htpasswd FILE` (bcrypt entries, as
//! `htpasswd -B` and Docker's registry use). Every protocol takes HTTP Basic; the OCI API also
//! answers with the Docker token flow (`WWW-Authenticate: Bearer realm=…/token`), which is what
//! containerd, podman and skopeo expect from a registry. Without `--htpasswd` reads are open,
//! as on an air-gapped LAN; writes never happen over HTTP (imports go through the store's socket).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use bundler::format::Digest;

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
    /// user → bcrypt hash
    users: HashMap<String, String>,
    /// Issued bearer tokens → (user, expiry).
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    /// sha256 of `user:password` pairs already checked: bcrypt is slow by design, and pip and
    /// apt send Basic credentials with every request.
    verified: Mutex<HashMap<Digest, Instant>>,
    /// `https` when serving TLS: the token realm clients are sent to.
    scheme: &'static str,
}

impl Auth {
    pub fn load(path: &Path, tls: bool) -> Result<Auth, AuthError> {
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
        Ok(Auth { users, tokens: Mutex::default(), verified: Mutex::default(), scheme: if tls { "https" } else { "http" } })
    }

    /// The user a `Basic` header proves, if it does.
    fn basic(&self, value: &str) -> Option<String> {
        let raw = base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()?;
        let pair = String::from_utf8(raw).ok()?;
        let (user, password) = pair.split_once(':')?;
        let hash = self.users.get(user)?;
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

    fn bearer(&self, token: &str) -> bool {
        let now = Instant::now();
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).get(token.trim()).is_some_and(|(_, exp)| *exp > now)
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
            "bearer" => self.bearer(rest).then_some(Caller::Token),
            _ => None,
        }
    }
}

/// Who a request proved to be: a user (Basic), or the holder of a token we issued.
enum Caller {
    User(String),
    Token,
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
fn oci_scope(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    let name = ["/manifests/", "/blobs/", "/tags/", "/referrers/"].iter().find_map(|m| rest.split_once(m).map(|(n, _)| n))?;
    Some(format!("repository:{name}:pull"))
}

fn unauthorized(auth: &Auth, headers: &HeaderMap, path: &str) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let (challenge, body, ctype) = if path == "/v2" || path.starts_with("/v2/") {
        let scope = oci_scope(path).map(|s| format!(",scope=\"{s}\"")).unwrap_or_default();
        (
            format!("Bearer realm=\"{}://{host}{TOKEN_PATH}\",service=\"{SERVICE}\"{scope}", auth.scheme),
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
/// everything else needs one or the other.
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
    if path == TOKEN_PATH {
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
    match user {
        Some(_) => next.run(req).await,
        None => unauthorized(&auth, req.headers(), &path),
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
        let a = Auth::load(&f, false).unwrap();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(a.basic(&b64("alice:s3cret")).as_deref(), Some("alice"));
        assert_eq!(a.basic(&b64("alice:s3cret")).as_deref(), Some("alice"), "remembered");
        assert_eq!(a.basic(&b64("alice:wrong")), None);
        assert_eq!(a.basic(&b64("bob:s3cret")), None);
        let t = a.issue("alice".into());
        assert!(a.bearer(&t) && !a.bearer("nope"));
        assert_eq!(oci_scope("/v2/docker.io/library/x/manifests/1").as_deref(), Some("repository:docker.io/library/x:pull"));
        std::fs::write(&f, "alice:plaintext\n").unwrap();
        assert!(Auth::load(&f, false).is_err());
    }
}
