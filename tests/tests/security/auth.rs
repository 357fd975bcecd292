//! Issue 7, read authentication: `mirror serve --htpasswd FILE` answers 401 with the right
//! `WWW-Authenticate` (the Docker token flow for the OCI API, Basic elsewhere); real clients
//! with the credentials — skopeo, ctr, pip, apt-get, curl — get upstream's bytes, and wrong or
//! missing credentials are refused.

use std::process::Command;

use e2e::pypi::Venv;
use e2e::{run, sha256, AptClient, Containerd, Gap, Server};

struct AuthMirror {
    server: Server,
    host: String,
}

impl AuthMirror {
    fn start(gap: &Gap, htpasswd: &std::path::Path) -> AuthMirror {
        Self::start_with(gap, htpasswd, &[])
    }
    fn start_with(gap: &Gap, htpasswd: &std::path::Path, extra: &[&str]) -> AuthMirror {
        let host = format!("127.0.0.1:{}", e2e::free_port());
        let mut cmd = Command::new(e2e::bin("mirror"));
        cmd.args(["serve", "--store", gap.store().to_str().unwrap(), "--listen", &host, "--htpasswd", htpasswd.to_str().unwrap()]).args(extra);
        let mut server = Server::start("mirror serve --htpasswd", &mut cmd, gap.path("auth-serve.log"));
        let health = format!("http://{host}/healthz");
        server.wait_until("/healthz (open without credentials)", move || e2e::http_status(&health) == 200);
        AuthMirror { server, host }
    }
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.host)
    }
}

/// Status and `WWW-Authenticate` of an unauthenticated (or `-u`) GET.
fn challenge(url: &str, user: Option<&str>) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-sS", "-o", "/dev/null", "-D", "-", "--max-time", "10"]);
    if let Some(u) = user {
        c.args(["-u", u]);
    }
    let r = run(c.arg(url)).ok();
    let status = r.stdout.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let www = r.stdout.lines().find_map(|l| l.strip_prefix("www-authenticate: ").or_else(|| l.strip_prefix("WWW-Authenticate: "))).unwrap_or("").trim().to_string();
    (status, www)
}

#[test]
fn reads_need_credentials_when_configured() {
    let gap = Gap::new();
    let hello = e2e::imported_image_wheel_deb(&gap, "auth", "authdemo", "hello-auth");
    let q = |s: &str| serde_json::to_string(s).unwrap();

    let htpasswd = gap.write("htpasswd", &e2e::htpasswd_line("alice", "s3cret"));
    let mirror = AuthMirror::start(&gap, &htpasswd);

    // The challenges: Bearer with a token realm for the OCI API, Basic for the rest.
    let (s, www) = challenge(&mirror.url("/v2/docker.io/library/hello/manifests/1"), None);
    assert_eq!(s, 401);
    assert_eq!(www, format!("Bearer realm=\"http://{}/token\",service=\"feas-mirror\",scope=\"repository:docker.io/library/hello:pull\"", mirror.host));
    let (s, www) = challenge(&mirror.url("/pypi/simple/authdemo/"), None);
    assert_eq!((s, www.as_str()), (401, "Basic realm=\"feas mirror\", charset=\"UTF-8\""));
    assert_eq!(challenge(&mirror.url("/pypi/simple/authdemo/"), Some("alice:wrong")).0, 401);
    assert_eq!(challenge(&mirror.url("/token"), Some("alice:wrong")).0, 401);
    assert_eq!(challenge(&mirror.url("/pypi/simple/authdemo/"), Some("alice:s3cret")).0, 200);

    // skopeo: the token flow with --creds; refused without them.
    let image = format!("docker://{}/docker.io/library/hello:1", mirror.host);
    let ok = run(Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", "--creds", "alice:s3cret", &image])).ok();
    assert_eq!(sha256(ok.stdout.as_bytes()), hello.index);
    assert_ne!(run(Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", "--no-creds", &image])).status, 0);
    assert_ne!(run(Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", "--creds", "alice:wrong", &image])).status, 0);

    // containerd: ctr --user through a hosts.toml mirror.
    let ctrd = Containerd::start();
    ctrd.hosts_toml("docker.io", &mirror.host);
    ctrd.pull("auth", "docker.io/library/hello:1", &["--user", "alice:s3cret", "--platform", "linux/amd64"]).ok();
    assert_eq!(ctrd.image_digest("auth", "docker.io/library/hello:1").as_deref(), Some(hello.index.as_str()));

    // pip: credentials in the index URL.
    let venv = Venv::new();
    assert_ne!(venv.pip_install(&["--index-url", &mirror.url("/pypi/simple/"), "authdemo==1.0"]).status, 0, "pip without credentials must fail");
    venv.pip_install(&["--index-url", &format!("http://alice:s3cret@{}/pypi/simple/", mirror.host), "authdemo==1.0"]).ok();
    assert_eq!(venv.installed().get("authdemo").map(String::as_str), Some("1.0"));

    // apt-get: an auth.conf.d entry.
    let key = gap.path("mirror-key.gpg");
    run(Command::new("curl").args(["-sSf", "-u", "alice:s3cret", "-o", key.to_str().unwrap(), &mirror.url("/apt/key.gpg")])).ok();
    let client = AptClient::new();
    let netrc = client.path("etc/apt/auth.conf.d");
    std::fs::create_dir_all(&netrc).unwrap();
    std::fs::write(netrc.join("mirror.conf"), format!("machine http://{} login alice password s3cret\n", mirror.host)).unwrap();
    std::fs::write(client.path("etc/apt/apt.conf.d/90auth"), format!("Dir::Etc::netrcparts {};\n", q(&netrc.display().to_string()))).unwrap();
    client.set_source(&key, &mirror.url("/apt/standin/"), "stable", &["main"]);
    let u = client.update();
    assert!(u.problems.is_empty() && u.run.status == 0, "apt-get update with auth.conf.d: {:?}", u.problems);
    let got = client.install_download_only(&["hello-auth"]);
    assert_eq!(got.len(), 1, "{got:?}");

    let mut mirror = mirror;
    assert!(mirror.server.terminate());
}

/// A GET with Basic credentials from a loopback address of its own (`curl --interface`: the
/// mirror counts failed logins per address too): status, `Retry-After`, body.
fn login_from(from: &str, url: &str, creds: &str) -> (u16, String, String) {
    let r = run(Command::new("curl").args(["-sS", "-D", "-", "--max-time", "30", "--interface", from, "-u", creds, url])).ok();
    let (head, body) = r.stdout.split_once("\r\n\r\n").unwrap_or((&r.stdout, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let retry = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("retry-after: ").map(str::to_string)).unwrap_or_default();
    (status, retry.trim().to_string(), body.to_string())
}

/// Failed logins are limited: past `--login-failures` within `--login-window`, logins for that
/// user name (from anywhere) and from that address (for any name) get 429 with Retry-After
/// without a password check, even the right password, on every protocol; credentials proven
/// before keep working. Once the window has passed the right password works again.
#[test]
fn failed_logins_are_limited_per_user_and_address() {
    let gap = Gap::new();
    gap.mirror(&["inventory", "--store", gap.store().to_str().unwrap()]).ok();
    let users = [("alice", "s3cret"), ("bob", "b0b-pass"), ("carol", "c4rol")].map(|(u, p)| e2e::htpasswd_line(u, p)).concat();
    let htpasswd = gap.write("htpasswd", &users);
    // A window no test run outlasts: everything below happens inside it.
    let mirror = AuthMirror::start_with(&gap, &htpasswd, &["--login-failures", "3", "--login-window", "3600"]);
    let simple = mirror.url("/pypi/simple/");
    assert_eq!(login_from("127.0.0.3", &simple, "bob:b0b-pass").0, 200, "bob logs in before");
    for _ in 0..3 {
        assert_eq!(login_from("127.0.0.2", &simple, "alice:wrong").0, 401);
    }
    let (status, retry, body) = login_from("127.0.0.2", &simple, "alice:wrong");
    assert_eq!(status, 429, "{body}");
    assert!(retry.parse::<u64>().is_ok_and(|s| s > 0 && s <= 3600), "Retry-After: {retry:?}");
    assert!(body.contains("too many failed logins") && body.contains("--login-failures"), "{body}");
    // The user name from another address, with the right password (never proven before).
    assert_eq!(login_from("127.0.0.4", &simple, "alice:s3cret").0, 429);
    // The address, for another name; the OCI API answers in its error format.
    assert_eq!(login_from("127.0.0.2", &simple, "carol:c4rol").0, 429);
    let (status, _, body) = login_from("127.0.0.2", &mirror.url("/v2/"), "carol:c4rol");
    assert!(status == 429 && body.contains("TOOMANYREQUESTS"), "{status} {body}");
    // The token endpoint (skopeo's and containerd's way in) is limited the same way.
    assert_eq!(login_from("127.0.0.4", &mirror.url("/token"), "alice:s3cret").0, 429);
    // Not locked: carol from elsewhere; bob's proven credentials even from the locked address.
    assert_eq!(login_from("127.0.0.5", &simple, "carol:c4rol").0, 200);
    assert_eq!(login_from("127.0.0.2", &simple, "bob:b0b-pass").0, 200);
    let mut mirror = mirror;
    assert!(mirror.server.terminate());

    // A short window passes: the right password works again (polled, not timed).
    let mut mirror = AuthMirror::start_with(&gap, &htpasswd, &["--login-failures", "2", "--login-window", "1"]);
    let simple = mirror.url("/pypi/simple/");
    let mut statuses: Vec<u16> = (0..3).map(|_| login_from("127.0.0.2", &simple, "alice:wrong").0).collect();
    // Two failures lock; unless the machine stalled past the window between them.
    assert!(statuses[..2] == [401, 401] && (statuses[2] == 429 || statuses[2] == 401), "{statuses:?}");
    e2e::poll(std::time::Duration::from_secs(60), || {
        statuses.push(login_from("127.0.0.2", &simple, "alice:s3cret").0);
        statuses.last() != Some(&429)
    })
    .unwrap_or_else(|_| panic!("still locked a minute after a 1 s window: {statuses:?}"));
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
    assert!(mirror.server.terminate());
}
