//! Long-running processes a test starts: each waits (bounded) until ready and is killed and
//! reaped on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{bin, free_port, run};

const READY_WITHIN: Duration = Duration::from_secs(30);

pub struct Server {
    child: Child,
    pub log: PathBuf,
    pub name: String,
}

impl Server {
    pub fn start(name: &str, cmd: &mut Command, log: PathBuf) -> Server {
        let out = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Server { child, log, name: name.into() }
    }

    /// Poll `ready` until it holds; panic with the server's log after the deadline.
    pub fn wait_until(&mut self, what: &str, ready: impl Fn() -> bool) {
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if ready() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}) before {what}; log:\n{}", self.name, std::fs::read_to_string(&self.log).unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{} not {what} within {READY_WITHIN:?}; log:\n{}", self.name, std::fs::read_to_string(&self.log).unwrap_or_default());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait (bounded) for a clean exit; returns whether it exited by itself.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_ok(url: &str) -> bool {
    Command::new("curl").args(["-sf", "-o", "/dev/null", "--max-time", "2", url]).status().is_ok_and(|s| s.success())
}

/// Debian's docker-registry (distribution 2.8) with its own storage.
pub struct Registry {
    pub server: Server,
    pub host: String,
    _dir: tempfile::TempDir,
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
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let cfg = dir.path().join("config.yml");
        let mut text = format!(
            "version: 0.1\nlog: {{level: info}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: true}}\nhttp: {{addr: {host}}}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = auth {
            let hash = run(Command::new("python3").args(["-c", "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))", password])).ok();
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{}\n", hash.stdout.trim())).unwrap();
            text.push_str(&format!("auth:\n  htpasswd: {{realm: e2e, path: {}}}\n", htpasswd.display()));
        }
        std::fs::write(&cfg, text).unwrap();
        let mut server = Server::start("docker-registry", Command::new("docker-registry").arg("serve").arg(&cfg), dir.path().join("registry.log"));
        let url = format!("http://{host}/v2/");
        // With auth /v2/ answers 401, which still means the registry is up.
        server.wait_until("answering /v2/", || {
            Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", &url]).output().is_ok_and(|o| matches!(&o.stdout[..], b"200" | b"401"))
        });
        Registry { server, host, _dir: dir }
    }
}

/// `mirror serve` on a free port.
pub struct Mirror {
    pub server: Server,
    pub host: String,
}

impl Mirror {
    pub fn start(store: &Path) -> Mirror {
        let host = format!("127.0.0.1:{}", free_port());
        let log = store.with_extension("serve.log");
        let mut server = Server::start("mirror", Command::new(bin("mirror")).args(["serve", "--store", store.to_str().unwrap(), "--listen", &host]), log);
        let url = format!("http://{host}/healthz");
        server.wait_until("healthy", || http_ok(&url));
        Mirror { server, host }
    }
}

/// containerd with its own root, state and sockets, CRI disabled.
pub struct Containerd {
    pub server: Server,
    pub dir: tempfile::TempDir,
    pub address: PathBuf,
}

impl Containerd {
    pub fn start() -> Containerd {
        // Short path: unix socket paths are limited to 108 bytes.
        let dir = tempfile::Builder::new().prefix("ctrd").tempdir_in("/tmp").unwrap();
        let d = dir.path();
        let address = d.join("c.sock");
        let config = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{ttrpc}\"\n[debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n",
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = address.display(),
            ttrpc = d.join("t.sock").display(),
        );
        std::fs::write(d.join("config.toml"), config).unwrap();
        let mut server = Server::start("containerd", Command::new("containerd").arg("--config").arg(d.join("config.toml")), d.join("containerd.log"));
        let addr = address.clone();
        server.wait_until("answering", move || Command::new("ctr").arg("--address").arg(&addr).arg("version").output().is_ok_and(|o| o.status.success()));
        Containerd { server, dir, address }
    }

    /// `certs.d/<registry>/hosts.toml` sending `registry` to `mirror_host` over plain HTTP.
    pub fn mirror_hosts(&self, registry: &str, mirror_host: &str) -> PathBuf {
        let certs = self.dir.path().join("certs.d");
        std::fs::create_dir_all(certs.join(registry)).unwrap();
        std::fs::write(
            certs.join(registry).join("hosts.toml"),
            format!("server = \"http://{mirror_host}\"\n[host.\"http://{mirror_host}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"),
        )
        .unwrap();
        certs
    }

    pub fn ctr(&self, args: &[&str]) -> crate::Run {
        run(Command::new("ctr").arg("--address").arg(&self.address).args(args))
    }
}
