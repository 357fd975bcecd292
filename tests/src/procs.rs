//! Long-running processes a test starts: each waits (bounded) until ready and is stopped and
//! reaped on drop, so no test leaves a server behind even when it panics.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{bin, free_port};

/// How long a server may take to become ready before the test fails with its log.
pub const READY_WITHIN: Duration = Duration::from_secs(20);

/// Poll `ready` every 100 ms until it holds or `within` passes; `Err` says how long was waited.
pub fn poll(within: Duration, mut ready: impl FnMut() -> bool) -> Result<(), Duration> {
    let deadline = Instant::now() + within;
    loop {
        if ready() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(within);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A child process with its output in a log file; stopped (TERM, then KILL) and reaped on drop.
pub struct Server {
    child: Child,
    pub log: PathBuf,
    pub name: String,
}

impl Server {
    pub fn start(name: &str, cmd: &mut Command, log: PathBuf) -> Server {
        let out = std::fs::File::create(&log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let child = cmd
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Server { child, log, name: name.into() }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Poll `ready` until it holds. `Err` carries a message with the server's log when the
    /// server exited first or the deadline passed.
    pub fn try_wait_until(&mut self, what: &str, ready: impl Fn() -> bool) -> Result<(), String> {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if ready() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{} exited ({status}) before {what}; log {}:\n{}", self.name, self.log.display(), self.log_text()));
            }
            if Instant::now() >= deadline {
                return Err(format!("{} not {what} within {READY_WITHIN:?}; log {}:\n{}", self.name, self.log.display(), self.log_text()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Like `try_wait_until`, panicking with the server's log.
    pub fn wait_until(&mut self, what: &str, ready: impl Fn() -> bool) {
        if let Err(e) = self.try_wait_until(what, ready) {
            panic!("{e}");
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL and reap: a crash, nothing flushed or cleaned up on the way out.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait (bounded) for the process to exit; true if it exited by itself.
    pub fn terminate(&mut self) -> bool {
        if let Ok(Some(_)) = self.child.try_wait() {
            return true;
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        poll(Duration::from_secs(10), || matches!(self.child.try_wait(), Ok(Some(_)))).is_ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A short grace period lets containerd and the mirror close their databases.
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
            let _ = poll(Duration::from_secs(3), || matches!(self.child.try_wait(), Ok(Some(_))));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// HTTP status of a GET (0 when nothing answered).
pub fn http_status(url: &str) -> u16 {
    Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", url])
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(0)
}

/// Start a server on a fresh free port until it comes up: another process may take the port
/// between picking and binding, so a start that fails with "address already in use" is retried.
fn start_on_free_port<T>(name: &str, mut attempt: impl FnMut(u16) -> (Server, T), ready: impl Fn(u16) -> bool) -> (Server, u16, T) {
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port();
        let (mut server, extra) = attempt(port);
        match server.try_wait_until("ready", || ready(port)) {
            Ok(()) => return (server, port, extra),
            Err(e) if e.to_lowercase().contains("address already in use") => last = e,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("{name}: no free port after 3 attempts: {last}");
}

/// Debian's docker-registry (distribution 2.8) with its own config and storage in a temp dir.
pub struct Registry {
    pub server: Server,
    /// `127.0.0.1:PORT`
    pub host: String,
    pub dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        Self::start_with(None)
    }

    /// A registry that requires basic auth (htpasswd, bcrypt) for everything.
    pub fn start_with_htpasswd(user: &str, password: &str) -> Registry {
        Self::start_with(Some((user, password)))
    }

    fn start_with(auth: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let mut auth_conf = String::new();
        if let Some((user, password)) = auth {
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, crate::htpasswd_line(user, password)).unwrap();
            auth_conf = format!("auth:\n  htpasswd: {{realm: e2e, path: {}}}\n", htpasswd.display());
        }
        let d = dir.path().to_path_buf();
        let (server, port, ()) = start_on_free_port(
            "docker-registry",
            |port| {
                let cfg = d.join("config.yml");
                let text = format!(
                    "version: 0.1\nlog: {{level: info}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: true}}\nhttp: {{addr: 127.0.0.1:{port}}}\n{auth_conf}",
                    d.join("data").display()
                );
                std::fs::write(&cfg, text).unwrap();
                (Server::start("docker-registry", Command::new("docker-registry").arg("serve").arg(&cfg), d.join("registry.log")), ())
            },
            // With auth, /v2/ answers 401, which still means the registry is up.
            |port| matches!(http_status(&format!("http://127.0.0.1:{port}/v2/")), 200 | 401),
        );
        Registry { server, host: format!("127.0.0.1:{port}"), dir }
    }

    /// Request URIs the registry logged (`http.request.uri="..."`), to assert what clients asked.
    pub fn requested_uris(&self) -> Vec<String> {
        self.server.log_text().lines().filter_map(|l| l.split("http.request.uri=\"").nth(1)?.split('"').next().map(String::from)).collect()
    }
}

/// `mirror serve --store DIR --listen 127.0.0.1:PORT`, ready once `/healthz` answers 200.
pub struct Mirror {
    pub server: Server,
    /// `127.0.0.1:PORT`
    pub host: String,
}

impl Mirror {
    pub fn start(store: &Path) -> Mirror {
        Self::start_with(store, &[])
    }

    /// With extra `mirror serve` arguments (e.g. `-vv` to log every request).
    pub fn start_with(store: &Path, extra: &[&str]) -> Mirror {
        Self::start_with_env(store, extra, &[])
    }

    /// With arguments of `serve` itself (e.g. `--push-htpasswd FILE`).
    pub fn start_with_serve_args(store: &Path, serve_args: &[&str]) -> Mirror {
        Self::start_full(store, &[], serve_args, &[])
    }

    /// With extra arguments and environment variables.
    pub fn start_with_env(store: &Path, extra: &[&str], env: &[(&str, &str)]) -> Mirror {
        Self::start_full(store, extra, &[], env)
    }

    fn start_full(store: &Path, extra: &[&str], serve_args: &[&str], env: &[(&str, &str)]) -> Mirror {
        let log = store.with_extension("serve.log");
        let (server, port, ()) = start_on_free_port(
            "mirror",
            |port| {
                let listen = format!("127.0.0.1:{port}");
                let mut cmd = Command::new(bin("mirror"));
                cmd.args(extra).args(["serve", "--store", store.to_str().unwrap(), "--listen", &listen]).args(serve_args).envs(env.iter().copied());
                (Server::start("mirror serve", &mut cmd, log.clone()), ())
            },
            |port| http_status(&format!("http://127.0.0.1:{port}/healthz")) == 200,
        );
        Mirror { server, host: format!("127.0.0.1:{port}") }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.host)
    }
}
