//! containerd started by the test: config from `containerd config default` with every host path
//! moved into a temp dir (root, state, sockets, the `opt` plugin) and CRI disabled.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::procs::Server;
use crate::{run, Run};

pub struct Containerd {
    pub server: Server,
    pub dir: tempfile::TempDir,
    /// The gRPC socket, for `ctr --address`.
    pub address: PathBuf,
    /// `overlayfs` where its plugin loaded (the kernel and the temp dir's filesystem allow it),
    /// else `native`; every `pull` unpacks with it.
    pub snapshotter: String,
}

/// Replace `from` (which must occur) in containerd's default config.
fn edit(config: &mut String, from: &str, to: &str) {
    assert!(config.contains(from), "`containerd config default` no longer contains {from:?}; update the e2e harness:\n{config}");
    *config = config.replacen(from, to, 1);
}

impl Containerd {
    pub fn start() -> Containerd {
        // Short path: unix socket paths are limited to 108 bytes.
        let dir = tempfile::Builder::new().prefix("ctrd").tempdir_in("/tmp").unwrap();
        let d = dir.path();
        let address = d.join("c.sock");
        let mut config = run(Command::new("containerd").args(["config", "default"])).ok().stdout;
        let q = |p: &Path| format!("\"{}\"", p.display());
        edit(&mut config, "disabled_plugins = []", "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]");
        edit(&mut config, "root = \"/var/lib/containerd\"", &format!("root = {}", q(&d.join("root"))));
        edit(&mut config, "state = \"/run/containerd\"", &format!("state = {}", q(&d.join("state"))));
        edit(&mut config, "address = \"/run/containerd/containerd.sock\"", &format!("address = {}", q(&address)));
        // The `opt` plugin would create /opt/containerd.
        edit(&mut config, "path = \"/opt/containerd\"", &format!("path = {}", q(&d.join("opt"))));
        edit(&mut config, "[ttrpc]\n  address = \"\"", &format!("[ttrpc]\n  address = {}", q(&d.join("t.sock"))));
        std::fs::write(d.join("config.toml"), &config).unwrap();
        let mut server = Server::start("containerd", Command::new("containerd").arg("--config").arg(d.join("config.toml")), d.join("containerd.log"));
        let addr = address.clone();
        server.wait_until("answering `ctr version`", move || Command::new("ctr").arg("--address").arg(&addr).arg("version").output().is_ok_and(|o| o.status.success()));
        let mut c = Containerd { server, dir, address, snapshotter: "native".into() };
        let plugins = c.ctr(&["plugins", "ls"]).ok().stdout;
        if plugins.lines().any(|l| l.contains("io.containerd.snapshotter.v1") && l.split_whitespace().nth(1) == Some("overlayfs") && l.trim_end().ends_with("ok")) {
            c.snapshotter = "overlayfs".into();
        }
        c
    }

    /// The `--hosts-dir` directory (`certs.d`).
    pub fn hosts_dir(&self) -> PathBuf {
        self.dir.path().join("certs.d")
    }

    /// Write `certs.d/<registry>/hosts.toml` sending pulls of `registry` (e.g. `docker.io`, or
    /// `127.0.0.1:5000` itself) to `http://<target_host>`, with no fallback anywhere else.
    pub fn hosts_toml(&self, registry: &str, target_host: &str) -> PathBuf {
        let d = self.hosts_dir().join(registry);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("hosts.toml"), format!("server = \"http://{target_host}\"\n[host.\"http://{target_host}\"]\n  capabilities = [\"pull\", \"resolve\"]\n")).unwrap();
        self.hosts_dir()
    }

    /// Old name of `hosts_toml`.
    pub fn mirror_hosts(&self, registry: &str, mirror_host: &str) -> PathBuf {
        self.hosts_toml(registry, mirror_host)
    }

    /// `ctr --address … ARGS`.
    pub fn ctr(&self, args: &[&str]) -> Run {
        run(Command::new("ctr").arg("--address").arg(&self.address).args(args))
    }

    /// `ctr -n NS images pull --hosts-dir certs.d REFERENCE` (all platforms with `--all-platforms`
    /// in `extra`); the hosts.toml files decide where it goes.
    pub fn pull(&self, ns: &str, reference: &str, extra: &[&str]) -> Run {
        let hosts = self.hosts_dir().display().to_string();
        let mut args = vec!["-n", ns, "images", "pull", "--snapshotter", &self.snapshotter, "--hosts-dir", &hosts];
        args.extend_from_slice(extra);
        args.push(reference);
        self.ctr(&args)
    }

    /// `ctr -n NS images check`, asserting every listed image is complete; returns its output.
    pub fn check(&self, ns: &str) -> Run {
        let r = self.ctr(&["-n", ns, "images", "check"]).ok();
        let rows: Vec<&str> = r.stdout.lines().skip(1).filter(|l| !l.trim().is_empty()).collect();
        assert!(!rows.is_empty(), "`ctr images check` lists no image in namespace {ns}");
        for row in &rows {
            assert!(row.contains("complete") && !row.contains("incomplete"), "`ctr images check` in {ns}: not complete: {row}\n{}", r.stdout);
        }
        r
    }

    /// Target digest of an image in `ns` (`ctr images ls`), if listed.
    pub fn image_digest(&self, ns: &str, reference: &str) -> Option<String> {
        let ls = self.ctr(&["-n", ns, "images", "ls"]).ok();
        ls.stdout.lines().find(|l| l.split_whitespace().next() == Some(reference)).and_then(|l| l.split_whitespace().find(|w| w.starts_with("sha256:")).map(String::from))
    }
}
