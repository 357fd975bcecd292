//! The `mirror` binary: import while `mirror serve` runs on the same store (through the
//! control socket), new content served without a restart, clean stop on SIGTERM.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_mirror");
const REPO: &str = "docker.io/library/hello";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn mirror(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn import(f: &Fixture, bundle: &Path, extra: &[&str]) -> Output {
    let store = f.store_dir();
    let mut args = vec!["import", bundle.to_str().unwrap(), "--store", store.to_str().unwrap(), "--trust", f.public_path.to_str().unwrap()];
    args.extend_from_slice(extra);
    mirror(&args)
}

async fn status(http: &reqwest::Client, url: &str) -> u16 {
    http.get(url).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn import_while_serving_then_sigterm() {
    let f = Fixture::new();
    let first = image(REPO, "1", "a");
    Spec::new(1, &[&first]).write(&f.path("one.bundle"), &f.key);
    let out = import(&f, &f.path("one.bundle"), &["--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["blobs_added"], 8);

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(BIN).args(["serve", "--store", f.store_dir().to_str().unwrap(), "--listen", &listen, "--read-only"]).stderr(Stdio::null()).spawn().unwrap();
    let mut server = Server(child);
    let http = reqwest::Client::new();
    let base = format!("http://{listen}");
    let start = Instant::now();
    while status(&http, &format!("{base}/healthz")).await != 200 || !f.store_dir().join("mirror.sock").exists() {
        assert!(start.elapsed() < Duration::from_secs(20), "mirror serve did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status(&http, &format!("{base}/v2/{REPO}/manifests/2")).await, 404);

    // The server holds sled's lock; the import goes through its socket and shows at once.
    let second = image(REPO, "2", "b");
    Spec::new(2, &[&second]).write(&f.path("two.bundle"), &f.key);
    let f2 = &f;
    let out = tokio::task::spawn_blocking({
        let p = f2.path("two.bundle");
        let (store, key) = (f2.store_dir(), f2.public_path.clone());
        move || mirror(&["import", p.to_str().unwrap(), "--store", store.to_str().unwrap(), "--trust", key.to_str().unwrap(), "--json"])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((summary["sequence"].as_u64(), summary["generation"].as_u64()), (Some(2), Some(2)));
    assert_eq!(status(&http, &format!("{base}/v2/{REPO}/manifests/2")).await, 200);
    assert_eq!(status(&http, &format!("{base}/v2/{REPO}/blobs/{}", second.own_layers["arm64"])).await, 200);

    // Refusals come back through the socket with the import's own message and exit status.
    let out = import(&f, &f.path("one.bundle"), &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--allow-downgrade"), "{err}");
    let other = Fixture::new();
    Spec::new(3, &[&second]).write(&f.path("foreign.bundle"), &other.key);
    let out = import(&f, &f.path("foreign.bundle"), &[]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not among the trusted keys"));
    let out = import(&f, &f.path("two.bundle"), &[]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stderr).contains("already imported"));

    // Inventory is answered by the server too (it holds the database).
    let out = mirror(&["inventory", "--store", f.store_dir().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let served_inv: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(served_inv["generation"], 2);

    let pid = server.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let start = Instant::now();
    let code = loop {
        if let Some(s) = server.0.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "mirror serve ignored SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(code.success(), "exit after SIGTERM: {code:?}");
    assert!(!f.store_dir().join("mirror.sock").exists(), "socket removed on shutdown");

    // With the server gone the CLI opens the store itself again.
    let out = mirror(&["inventory", "--store", f.store_dir().to_str().unwrap()]);
    let inv: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(inv["sequences"]["t"], 2);
    assert_eq!(inv["blobs"].as_array().unwrap().len(), 16);
    assert_eq!(inv, served_inv);
    let out = mirror(&["verify", "--store", f.store_dir().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
