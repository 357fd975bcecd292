//! Optional read authentication for `mirror serve --htpasswd FILE`, and the writers of
//! `--push-htpasswd FILE` (bcrypt entries, as `htpasswd -B` and Docker's registry use). Every
//! protocol takes HTTP Basic; the OCI API also answers with the Docker token flow
//! (`WWW-Authenticate: Bearer realm=…/token`), which is what containerd, podman, buildah and
//! skopeo expect from a registry. Without `--htpasswd` reads are open, as on an air-gapped LAN;
//! an OCI write (push, delete) always needs a writer; imports go through the store's socket.
//! An unknown user name costs the same bcrypt work as a wrong password (no probing names by
//! timing), and failed logins are limited (`limit`).

mod limit;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use feas_format::Digest;
pub use limit::LoginLimit;
use limit::{Failures, Who};

use crate::routes::origin::Origin;
use crate::serve::Peer;

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
    /// sha256 of `user:password` pairs already checked: bcrypt is slow by design, and package
    /// managers send Basic credentials with every request.
    verified: Mutex<HashMap<Digest, Instant>>,
    /// Where clients reach the mirror: the token realm they are sent to.
    origin: Origin,
    /// Checked for unknown user names: a hash at the highest cost of the file's, so a name
    /// that is not there takes as long to refuse as a wrong password.
    dummy: String,
    failures: Failures,
    /// bcrypt verifications run, for the test that unknown users cost one too.
    bcrypt_runs: AtomicU64,
}

/// The outcome of a password check.
#[derive(Debug, PartialEq)]
enum Login {
    User(String),
    Refused,
    /// Too many failed logins for the user name or from the address: try again after this.
    Locked(Duration),
}

/// The user a request proved to be, in its extensions for the handlers (the push side's
/// per-user limits). Absent for anonymous requests.
#[derive(Clone, Debug)]
pub struct User(pub String);

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
    pub fn load(readers: Option<&Path>, writers: Option<&Path>, origin: Origin, limit: LoginLimit) -> Result<Auth, AuthError> {
        let readers = readers.map(Auth::read_file).transpose()?;
        let writers = writers.map(Auth::read_file).transpose()?.unwrap_or_default();
        let cost = writers.values().chain(readers.iter().flat_map(|r| r.values())).filter_map(|h| h.get(4..6)?.parse::<u32>().ok()).max().unwrap_or(bcrypt::DEFAULT_COST);
        let dummy = bcrypt::hash_with_salt("no such user", cost, [0x5a; 16]).map(|h| h.to_string()).unwrap_or_default();
        Ok(Auth { readers, writers, tokens: Mutex::default(), verified: Mutex::default(), origin, dummy, failures: Failures::new(limit), bcrypt_runs: AtomicU64::new(0) })
    }

    pub fn has_writers(&self) -> bool {
        !self.writers.is_empty()
    }

    /// The user a `Basic` header proves, if it does.
    fn basic(&self, value: &str, client: Option<IpAddr>) -> Login {
        let Some(pair) = base64::engine::general_purpose::STANDARD.decode(value.trim()).ok().and_then(|raw| String::from_utf8(raw).ok()) else {
            return Login::Refused;
        };
        let Some((user, password)) = pair.split_once(':') else { return Login::Refused };
        self.password(user, password, client)
    }

    fn bcrypt(&self, password: &str, hash: &str) -> bool {
        self.bcrypt_runs.fetch_add(1, Ordering::Relaxed);
        bcrypt::verify(password, hash).unwrap_or(false)
    }

    /// Whether `password` is `user`'s; `client` is the address it came from, when known.
    fn password(&self, user: &str, password: &str, client: Option<IpAddr>) -> Login {
        let hash = self.writers.get(user).or_else(|| self.readers.as_ref()?.get(user));
        let now = Instant::now();
        // Credentials proven before pass even during a lockout: only a guesser's new logins stop.
        let key = hash.map(|h| Digest::sha256_of(format!("{user}:{password}:{h}").as_bytes()));
        if key.as_ref().is_some_and(|k| self.verified.lock().unwrap_or_else(|e| e.into_inner()).get(k).is_some_and(|t| *t > now)) {
            return Login::User(user.to_string());
        }
        let who: Vec<Who> = std::iter::once(Who::User(user.to_string())).chain(client.map(Who::Client)).collect();
        if let Some(wait) = self.failures.locked(&who, now) {
            return Login::Locked(wait);
        }
        let ok = match hash {
            Some(h) => self.bcrypt(password, h),
            None => {
                self.bcrypt(password, &self.dummy);
                false
            }
        };
        let (Some(key), true) = (key, ok) else {
            self.failures.failed(&who, now);
            return Login::Refused;
        };
        self.failures.succeeded(user);
        let mut v = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        prune(&mut v, now, |t| *t);
        v.insert(key, now + TOKEN_TTL);
        Login::User(user.to_string())
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

    /// Who the request's credentials prove, if anyone; Err(wait) while logins are locked out.
    fn authorized(&self, headers: &HeaderMap, client: Option<IpAddr>) -> Result<Option<Caller>, Duration> {
        let Some((scheme, rest)) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.split_once(' ')) else {
            return Ok(None);
        };
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => match self.basic(rest, client) {
                Login::User(u) => Ok(Some(Caller::User(u))),
                Login::Refused => Ok(None),
                Login::Locked(wait) => Err(wait),
            },
            "bearer" => match self.bearer(rest) {
                Some(user) => Ok(Some(Caller::Token(user))),
                // huggingface_hub sends HF_TOKEN as a bearer token and knows no other login: a
                // reader's `USER:PASSWORD` there is checked as Basic credentials are.
                None => match rest.trim().split_once(':') {
                    Some((user, password)) => match self.password(user, password, client) {
                        Login::User(u) => Ok(Some(Caller::User(u))),
                        Login::Refused => Ok(None),
                        Login::Locked(wait) => Err(wait),
                    },
                    None => Ok(None),
                },
            },
            _ => Ok(None),
        }
    }
}

/// The client's address, when the server recorded it (not for in-process tests).
fn client_of(req: &Request) -> Option<IpAddr> {
    req.extensions().get::<ConnectInfo<Peer>>().map(|c| c.0 .0.ip())
}

/// 429 with `Retry-After` (whole seconds, rounded up), in the OCI error format on `/v2/`.
fn too_many_logins(path: &str, wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let msg = format!(
        "too many failed logins for this user name or from this address; try again in {secs} s (the operator sets the limit with `mirror serve --login-failures/--login-window`)"
    );
    let mut r = if path == "/v2" || path.starts_with("/v2/") {
        let body = serde_json::json!({"errors": [{"code": "TOOMANYREQUESTS", "message": msg}]});
        (StatusCode::TOO_MANY_REQUESTS, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
    } else {
        (StatusCode::TOO_MANY_REQUESTS, format!("{msg}\n")).into_response()
    };
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
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
        (
            "Basic realm=\"feas mirror\", charset=\"UTF-8\"".to_string(),
            "authentication required: this mirror is configured with --htpasswd\n".to_string(),
            "text/plain; charset=utf-8",
        )
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
pub async fn require(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path == "/healthz" {
        return next.run(req).await;
    }
    let client = client_of(&req);
    let user = {
        let auth = auth.clone();
        let headers = req.headers().clone();
        // bcrypt takes tens of milliseconds: off the async threads.
        tokio::task::spawn_blocking(move || auth.authorized(&headers, client)).await.unwrap_or(Ok(None))
    };
    let user = match user {
        Ok(u) => u,
        Err(wait) => return too_many_logins(&path, wait),
    };
    if let Some(c) = &user {
        req.extensions_mut().insert(User(c.user().to_string()));
    }
    if path == TOKEN_PATH && req.method() == axum::http::Method::POST {
        return oauth_token(auth, req, client).await;
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
                let body =
                    serde_json::json!({"errors": [{"code": "DENIED", "message": format!("user {} may read but not push; writers are listed in --push-htpasswd", c.user())}]});
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
async fn oauth_token(auth: Arc<Auth>, req: Request, client: Option<IpAddr>) -> Response {
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
    let who = tokio::task::spawn_blocking(move || a.password(&user, &password, client)).await.unwrap_or(Login::Refused);
    match who {
        Login::User(u) => {
            let token = auth.issue(u);
            let body = serde_json::json!({"access_token": token, "token": token, "expires_in": TOKEN_TTL.as_secs(), "scope": f.get("scope").cloned().unwrap_or_default()});
            ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
        }
        Login::Locked(wait) => too_many_logins(TOKEN_PATH, wait),
        Login::Refused => (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "application/json")], r#"{"error":"invalid_grant"}"#).into_response(),
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
        let a = Auth::load(Some(&f), None, Origin::default(), LoginLimit::default()).unwrap();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(a.basic(&b64("alice:s3cret"), None), Login::User("alice".into()));
        assert_eq!(a.basic(&b64("alice:s3cret"), None), Login::User("alice".into()), "remembered");
        assert_eq!(a.basic(&b64("alice:wrong"), None), Login::Refused);
        assert_eq!(a.basic(&b64("bob:s3cret"), None), Login::Refused);
        let t = a.issue("alice".into());
        assert!(a.bearer(&t).as_deref() == Some("alice") && a.bearer("nope").is_none());
        let bearer = |v: &str| {
            let h: HeaderMap = [(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {v}")).unwrap())].into_iter().collect();
            a.authorized(&h, None).unwrap().map(|c| c.user().to_string())
        };
        assert_eq!(bearer(&t).as_deref(), Some("alice"));
        assert_eq!(bearer("alice:s3cret").as_deref(), Some("alice"), "a hub token of USER:PASSWORD");
        assert_eq!(bearer("alice:wrong"), None);
        assert_eq!(bearer("hf_notours"), None);
        assert_eq!(oci_scope("/v2/docker.io/library/x/manifests/1", false).as_deref(), Some("repository:docker.io/library/x:pull"));
        assert_eq!(oci_scope("/v2/site/app/blobs/uploads/", true).as_deref(), Some("repository:site/app:pull,push"));
        assert!(!a.has_writers());
        std::fs::write(&f, "alice:plaintext\n").unwrap();
        assert!(Auth::load(Some(&f), None, Origin::default(), LoginLimit::default()).is_err());
    }

    /// A user name that is not in the file costs a bcrypt verification at the file's cost, as
    /// a wrong password does: refusing it quicker would tell a prober which names exist.
    #[test]
    fn unknown_users_cost_a_bcrypt_verification() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("htpasswd");
        std::fs::write(&f, format!("alice:{}\nbob:{}\n", bcrypt::hash("s3cret", 4).unwrap(), bcrypt::hash("other", 5).unwrap())).unwrap();
        let a = Auth::load(None, Some(&f), Origin::default(), LoginLimit::default()).unwrap();
        assert!(a.dummy.starts_with("$2b$05$"), "the highest cost of the file's: {}", a.dummy);
        let runs = || a.bcrypt_runs.load(Ordering::Relaxed);
        assert_eq!(a.password("mallory", "guess", None), Login::Refused);
        assert_eq!(runs(), 1, "an unknown user runs bcrypt");
        assert_eq!(a.password("alice", "guess", None), Login::Refused);
        assert_eq!(runs(), 2, "as a wrong password does");
    }

    /// Past the limit, logins for the user name are refused without bcrypt, even with the
    /// right password; credentials proven before the lockout keep working.
    #[test]
    fn failed_logins_lock_the_user_out_without_bcrypt() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("htpasswd");
        std::fs::write(&f, format!("alice:{}\ncarol:{}\n", bcrypt::hash("s3cret", 4).unwrap(), bcrypt::hash("c4rol", 4).unwrap())).unwrap();
        let a = Auth::load(Some(&f), None, Origin::default(), LoginLimit { failures: 3, window: Duration::from_secs(600) }).unwrap();
        assert_eq!(a.password("carol", "c4rol", None), Login::User("carol".into()));
        let from: IpAddr = [10, 0, 0, 9].into();
        for _ in 0..3 {
            assert_eq!(a.password("alice", "wrong", Some(from)), Login::Refused);
        }
        let runs = a.bcrypt_runs.load(Ordering::Relaxed);
        assert!(matches!(a.password("alice", "s3cret", None), Login::Locked(w) if w <= Duration::from_secs(600)));
        assert!(matches!(a.password("dave", "x", Some(from)), Login::Locked(_)), "the address is locked for any name");
        assert_eq!(a.bcrypt_runs.load(Ordering::Relaxed), runs, "no bcrypt while locked");
        assert_eq!(a.password("carol", "c4rol", Some(from)), Login::User("carol".into()), "remembered credentials pass");
    }
}
