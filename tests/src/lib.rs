//! Harness for the end-to-end suites: real servers (docker-registry, containerd, the mirror)
//! on free loopback ports, real clients (skopeo, ctr, podman), each fixture in its own temp
//! dir and stopped on drop.

pub mod apt;
pub mod browser;
pub mod containerd;
pub mod fault;
pub mod helm;
pub mod hf;
pub mod html;
pub mod http;
pub mod image;
pub mod nexus;
pub mod packse;
pub mod podman;
pub mod procs;
pub mod pypi;
pub mod static_server;
pub mod zip;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use apt::{AptClient, AptRepo, AptRepoBuilder, DebSpec, FetchedDeb, Signer};
pub use containerd::Containerd;
pub use image::{BuiltImage, ImageBuilder};
pub use podman::Podman;
pub use procs::{http_status, poll, Mirror, Registry, Server, READY_WITHIN};
pub use pypi::{DistSpec, Pages, PyIndex, PyIndexBuilder, PyServer, Target, Venv};
pub use static_server::StaticServer;

/// A free loopback port: bound, then released for the server to take. Never hands out the same
/// port twice in one test process; servers retry with another port if one was taken meanwhile.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().unwrap().port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Deterministic, incompressible-looking bytes (xorshift), for payloads of a given size.
pub fn payload(n: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ seed as u32;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// The names `bundler inspect --json` gives its artifacts (strings, or objects' string fields).
pub fn artifact_names(info: &serde_json::Value) -> Vec<String> {
    let list = info["artifacts"].as_array().unwrap_or_else(|| panic!("`bundler inspect --json` has no `artifacts` array: {info}"));
    let mut names = Vec::new();
    for a in list {
        match a {
            serde_json::Value::String(s) => names.push(s.clone()),
            serde_json::Value::Object(o) => names.extend(o.values().filter_map(|v| v.as_str().map(String::from))),
            _ => {}
        }
    }
    names
}

/// One bundle of three kinds, imported into `gap`'s store with every upstream stopped: the
/// image `docker.io/library/hello:1` (both platforms; returned), the pure wheel `<wheel>==1.0`
/// and the `all` deb `<deb>` 1.0 from apt source `standin` (suite `stable`, component `main`).
pub fn imported_image_wheel_deb(gap: &Gap, name: &str, wheel: &str, deb: &str) -> BuiltImage {
    let (reg, hello, _) = image::shared_pair(gap.dir.path());
    let py = PyIndexBuilder::new(&gap.path("py")).dists([DistSpec::pure(wheel, "1.0")]).build();
    let py_http = py.serve();
    let apt = AptRepoBuilder::new(&gap.path("apt")).debs([DebSpec::new(deb, "1.0", "all")]).build();
    let apt_http = apt.serve();
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let m = gap.write(
        &format!("{name}.yaml"),
        &format!(
            "name: {name}\nplatforms: [linux/amd64, linux/arm64]\nregistries:\n  docker.io: {{url: {}, insecure: true}}\nimages: [docker.io/library/hello:1]\napt:\n  - {{source: {}, id: standin, suite: stable, components: [main], keyring: {}, packages: [{deb}]}}\npypi:\n  - {{index: {}, python: [\"3.11\"], requirements: [{wheel}]}}\n",
            q(&format!("http://{}", reg.host)),
            q(&apt_http.url()),
            q(&apt.keyring().display().to_string()),
            q(&py_http.url())
        ),
    );
    gap.lock(&m).ok();
    let bundle = gap.create(&m, &format!("{name}.bundle"), &["--locked"]);
    drop((reg, py_http, apt_http));
    gap.import(&bundle).ok();
    hello
}

/// An OCI image manifest naming the pushed config `{}` (`config`) and one layer, as JSON text.
pub fn empty_config_manifest(config: &str, layer: &str, layer_size: usize) -> String {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size}],
    })
    .to_string()
}

/// `user:<bcrypt hash>`, an htpasswd line as `htpasswd -B` writes it (Debian's python3, 3.11,
/// still has `crypt`; a newer one first on PATH may not).
pub fn htpasswd_line(user: &str, password: &str) -> String {
    let python = if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
    let hash = run(Command::new(python).args(["-c", "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))", password])).ok();
    format!("{user}:{}\n", hash.stdout.trim())
}

/// Built workspace binaries live next to the test executable's `deps/` directory.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let p = dir.join(name);
    assert!(p.exists(), "{} not found: run `cargo build --workspace --bins` first", p.display());
    p
}

/// Result of a command, with everything needed for a useful assertion message.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub cmdline: String,
}

impl Run {
    /// Panics (with stdout and stderr) unless the command exited 0.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert!(self.status == 0, "`{}` failed ({}):\nstdout: {}\nstderr: {}", self.cmdline, self.status, self.stdout, self.stderr);
        self
    }
    /// Panics (with stdout and stderr) if the command exited 0.
    #[track_caller]
    pub fn fails(self) -> Run {
        assert!(self.status != 0, "`{}` should have failed:\nstdout: {}\nstderr: {}", self.cmdline, self.stdout, self.stderr);
        self
    }
    /// Panics unless the command failed and its stderr contains every one of `needles`.
    #[track_caller]
    pub fn fails_with(self, needles: &[&str]) -> Run {
        let r = self.fails();
        for n in needles {
            assert!(r.stderr.contains(n), "`{}`: error should mention {n:?}:\nstderr: {}\nstdout: {}", r.cmdline, r.stderr, r.stdout);
        }
        r
    }
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("`{}` printed no JSON ({e}): {}\nstderr: {}", self.cmdline, self.stdout, self.stderr))
    }
}

/// No client command a test runs may take longer than this.
pub const COMMAND_WITHIN: std::time::Duration = std::time::Duration::from_secs(300);

/// Run a command to completion (bounded by `COMMAND_WITHIN`), capturing its output.
pub fn run(cmd: &mut Command) -> Run {
    run_within(cmd, COMMAND_WITHIN)
}

/// Run a command, killing it and panicking with its output so far if it outlives `within`.
pub fn run_within(cmd: &mut Command, within: std::time::Duration) -> Run {
    use std::io::Read;
    use std::process::Stdio;
    let cmdline = format!("{cmd:?}");
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("cannot start {cmdline}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = r.read_to_end(&mut b);
            b
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let mut status = None;
    let _ = poll(within, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let timed_out = status.is_none();
    if timed_out {
        let _ = child.kill();
        status = child.wait().ok();
    }
    let Output { status, stdout, stderr } = Output { status: status.unwrap(), stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default() };
    let r = Run { status: status.code().unwrap_or(-1), stdout: String::from_utf8_lossy(&stdout).into(), stderr: String::from_utf8_lossy(&stderr).into(), cmdline };
    assert!(!timed_out, "`{}` did not finish within {within:?}; killed.\nstdout: {}\nstderr: {}", r.cmdline, r.stdout, r.stderr);
    r
}

/// `skopeo ARGS`.
pub fn skopeo(args: &[&str]) -> Run {
    run(Command::new("skopeo").args(args))
}

/// The raw manifest (or index) bytes `docker://HOST/REFERENCE` serves, over plain HTTP.
pub fn raw_manifest(host: &str, reference: &str) -> Vec<u8> {
    let out = Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{host}/{reference}")]).output().expect("skopeo");
    assert!(out.status.success(), "skopeo inspect --raw docker://{host}/{reference}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// `sha256:<hex>` of bytes.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// The file of blob `digest` (`sha256:<hex>`) in a mirror store: fanned
/// (`blobs/sha256/<hh>/<hex>`), or flat as a store from an earlier release holds it; absent
/// from both, the fanned path (where the mirror would write it).
pub fn store_blob(store: &Path, digest: &str) -> PathBuf {
    let (alg, hex) = digest.split_once(':').unwrap_or_else(|| panic!("not a digest: {digest}"));
    let fanned = store.join("blobs").join(alg).join(&hex[..2]).join(hex);
    let flat = store.join("blobs").join(alg).join(hex);
    if !fanned.exists() && flat.exists() {
        flat
    } else {
        fanned
    }
}

/// Every sha256 blob file in a mirror store, either layout, as `sha256:<hex>`.
pub fn store_blob_files(store: &Path) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(store.join("blobs/sha256")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            out.extend(std::fs::read_dir(e.path()).unwrap().flatten().map(|f| format!("sha256:{}", f.file_name().to_string_lossy())));
        } else {
            out.insert(format!("sha256:{name}"));
        }
    }
    out
}

/// Every file under `dir` with its hash: compares a store before and after a refused import.
/// A store's metadata (sled, under `meta/`) stands as the records it holds, one entry per key:
/// sled rewrites its own files when it is opened and read (a fresh snapshot, merging nodes a
/// removal left underfull), which changes no record. While a running mirror holds it, it
/// cannot be read here and stands as one entry; such tests also compare what is served.
pub fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if d.file_name().is_some_and(|n| n == "meta") && d.join("conf").is_file() {
            records(&d, &mut out);
            continue;
        }
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.insert(p, sha256(&b));
            }
        }
    }
    out
}

/// sled's records under `meta`, as `meta/<tree>/<hex key>` → hash of the value.
fn records(meta: &Path, out: &mut std::collections::BTreeMap<PathBuf, String>) {
    // A mirror that just exited may hold the lock a moment longer.
    let mut db = None;
    for _ in 0..50 {
        match sled::Config::new().path(meta).open() {
            Ok(d) => {
                db = Some(d);
                break;
            }
            Err(e) if e.to_string().contains("could not acquire lock") => std::thread::sleep(std::time::Duration::from_millis(20)),
            Err(e) => panic!("reading the store's metadata at {}: {e}", meta.display()),
        }
    }
    let Some(db) = db else {
        out.insert(meta.to_path_buf(), "held by a running mirror".into());
        return;
    };
    for name in db.tree_names() {
        let tree = db.open_tree(&name).expect("open tree");
        let tree_name = String::from_utf8_lossy(&name).into_owned();
        for kv in tree.iter() {
            let (k, v) = kv.expect("read record");
            out.insert(meta.join(&tree_name).join(hex::encode(&k)), sha256(&v));
        }
    }
}

/// The password of every `Gap`'s signing key: `bundler keygen` encrypts secret keys by default,
/// and each `bundler` command the harness runs finds it in `BUNDLER_KEY_PASSWORD`, as CI would.
pub const KEY_PASSWORD: &str = "e2e key password";

/// The connected side and the air-gapped side of one test: a signing key, the bundler's blob
/// cache and the mirror's store, all in one temp dir.
pub struct Gap {
    pub dir: tempfile::TempDir,
}

impl Default for Gap {
    fn default() -> Self {
        Self::new()
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

impl Gap {
    /// A temp dir with a fresh key pair (`bundler keygen --out DIR/keys`).
    pub fn new() -> Gap {
        let g = Gap { dir: tempfile::tempdir().unwrap() };
        g.bundler(&["keygen", "--out", &s(&g.path("keys"))]).ok();
        assert!(g.key().exists() && g.public().exists(), "`bundler keygen --out DIR` must write DIR/bundle.key and DIR/bundle.pub");
        g
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    pub fn key(&self) -> PathBuf {
        self.path("keys/bundle.key")
    }
    pub fn public(&self) -> PathBuf {
        self.path("keys/bundle.pub")
    }
    pub fn store(&self) -> PathBuf {
        self.path("store")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.path("bundles.lock")
    }
    /// `bundler ARGS` in the temp dir with its own blob cache.
    pub fn bundler(&self, args: &[&str]) -> Run {
        self.bundler_env(args, &[])
    }
    /// `bundler ARGS` with extra environment (e.g. `SOURCE_DATE_EPOCH`).
    pub fn bundler_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(bin("bundler"));
        cmd.args(args).env("BUNDLER_CACHE", self.path("cache")).env("BUNDLER_KEY_PASSWORD", KEY_PASSWORD).current_dir(self.dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(&mut cmd)
    }
    /// `mirror ARGS` in the temp dir.
    pub fn mirror(&self, args: &[&str]) -> Run {
        run(Command::new(bin("mirror")).args(args).current_dir(self.dir.path()))
    }
    /// Write a file under the temp dir (parents created); returns its path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
    /// `bundler lock MANIFEST --lock DIR/bundles.lock`.
    pub fn lock(&self, manifest: &Path) -> Run {
        self.bundler(&["lock", &s(manifest), "--lock", &s(&self.lock_file())])
    }
    /// `bundler create MANIFEST --key KEY --out DIR/OUT --lock DIR/bundles.lock EXTRA…`, asserting
    /// success; returns the bundle path.
    pub fn create(&self, manifest: &Path, out: &str, extra: &[&str]) -> PathBuf {
        let out = self.path(out);
        self.try_create(manifest, &out, &self.key(), extra).ok();
        out
    }
    /// `bundler create` with any key and output, not asserting.
    pub fn try_create(&self, manifest: &Path, out: &Path, key: &Path, extra: &[&str]) -> Run {
        let (m, k, o, l) = (s(manifest), s(key), s(out), s(&self.lock_file()));
        let mut args = vec!["create", &m, "--key", &k, "--out", &o, "--lock", &l];
        args.extend_from_slice(extra);
        self.bundler(&args)
    }
    /// `bundler verify BUNDLE --pub DIR/keys/bundle.pub`.
    pub fn verify(&self, bundle: &Path) -> Run {
        self.bundler(&["verify", &s(bundle), "--pub", &s(&self.public())])
    }
    /// `bundler inspect BUNDLE --json`, parsed.
    pub fn inspect(&self, bundle: &Path) -> serde_json::Value {
        self.bundler(&["inspect", &s(bundle), "--json"]).ok().json()
    }
    /// `mirror import BUNDLE --store DIR/store --trust DIR/keys/bundle.pub`.
    pub fn import(&self, bundle: &Path) -> Run {
        self.mirror(&["import", &s(bundle), "--store", &s(&self.store()), "--trust", &s(&self.public())])
    }
}
