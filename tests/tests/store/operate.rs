//! Issue 19, operating the mirror as the README walks a new operator through it: `mirror ls`
//! and `mirror status` with and without a running server; `mirror init --owner` so the
//! service's unprivileged user can start the server over what root initialised; `init
//! --add-name` keeping the CA clients already trust; client-config naming an untrusted
//! certificate and a mirror that asks for credentials, and reading with a reader's.

use std::process::Command;

use e2e::{run, Gap, Mirror, Server};

fn mirror_json(gap: &Gap, args: &[&str]) -> serde_json::Value {
    gap.mirror(args).ok().json()
}

#[test]
fn ls_and_status_beside_a_running_server() {
    let gap = Gap::new();
    e2e::imported_image_wheel_deb(&gap, "op", "opwheel", "op-deb");
    let store = gap.store();
    let s = store.to_str().unwrap();
    let (img, wheel, deb) = ("docker.io/library/hello:1", "pypi/opwheel/opwheel-1.0-py3-none-any.whl", "apt/standin/op-deb_1.0_all.deb");
    let names = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();

    // Without a server: read from the store.
    let st = mirror_json(&gap, &["status", "--store", s, "--json"]);
    assert!(st["running"].is_null(), "{st}");
    assert_eq!((st["artifacts"]["image"].as_u64(), st["artifacts"]["pypi"].as_u64(), st["artifacts"]["apt"].as_u64()), (Some(1), Some(1), Some(1)), "{st}");
    assert!(st["last_gc"].is_null() && st["last_verify"].is_null(), "{st}");
    assert_eq!(names(&mirror_json(&gap, &["ls", "--store", s, "--json"])), [deb, img, wheel]);

    let m = Mirror::start(&store);
    let st = mirror_json(&gap, &["status", "--store", s, "--json"]);
    assert_eq!(st["running"]["url"], format!("http://{}", m.host), "{st}");
    assert_eq!(st["running"]["pid"].as_u64(), Some(m.server.pid() as u64));
    assert_eq!(st["blobs"].as_u64(), Some(e2e::store_blob_files(&store).len() as u64), "{st}");
    // Every form `ls` takes, through the server.
    assert_eq!(names(&mirror_json(&gap, &["ls", "--store", s, "--json"])), [deb, img, wheel]);
    assert_eq!(names(&mirror_json(&gap, &["ls", "--store", s, "--json", "pypi"])), [wheel]);
    assert_eq!(names(&mirror_json(&gap, &["ls", "--store", s, "--json", "oci"])), [img]);
    assert_eq!(names(&mirror_json(&gap, &["ls", "--store", s, "--json", "OPWHEEL"])), [wheel], "a bare word is a case-insensitive substring");
    assert_eq!(names(&mirror_json(&gap, &["ls", "--store", s, "--json", "image", "docker.io/*:1"])), [img], "a glob over the whole name");
    assert!(names(&mirror_json(&gap, &["ls", "--store", s, "--json", "apt", "docker.io/*"])).is_empty());
    gap.mirror(&["ls", "--store", s, "debs", "x"]).fails_with(&["no artifact kind \"debs\"", "apt", "pypi", "image"]);
    let text = gap.mirror(&["ls", "--store", s]).ok().stdout;
    assert!(text.contains(&format!("image  {img}")) && text.lines().count() == 3, "{text}");

    // After rm, gc and verify: ls drops what rm took, status shows the last gc and verify.
    gap.mirror(&["rm", "--store", s, wheel]).ok();
    gap.mirror(&["gc", "--store", s]).ok();
    gap.mirror(&["verify", "--store", s]).ok();
    assert_eq!(names(&mirror_json(&gap, &["ls", "--store", s, "--json"])), [deb, img]);
    let st = mirror_json(&gap, &["status", "--store", s, "--json"]);
    assert_eq!(st["last_gc"]["action"], "gc", "{st}");
    assert!(st["last_gc"]["blobs"].as_u64().unwrap() >= 1, "the wheel's blobs went: {st}");
    assert_eq!((st["last_verify"]["damaged"].as_u64(), st["last_verify"]["missing"].as_u64()), (Some(0), Some(0)), "{st}");
    assert_eq!(st["last_verify"]["checked"], st["blobs"], "{st}");
    let text = gap.mirror(&["status", "--store", s]).ok().stdout;
    assert!(text.contains(&format!("serving    http://{}", m.host)) && text.contains("last verify") && text.contains(": OK, "), "{text}");

    // The bundle streamed on stdin (how the chart's pod takes one: no tar in the image for
    // `kubectl cp`), handed to the running server: what rm took comes back, nothing is left
    // in STORE/incoming/.
    let out = Command::new(e2e::bin("mirror"))
        .args(["import", "-", "--store", s, "--trust", gap.public().to_str().unwrap(), "--json"])
        .stdin(std::fs::File::open(gap.path("op.bundle")).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["already_imported"], false, "{summary}");
    assert_eq!(summary["restored"], serde_json::json!([wheel]), "the import says it brings back what rm took out: {summary}");
    assert_eq!(names(&mirror_json(&gap, &["ls", "--store", s, "--json"])), [deb, img, wheel]);
    assert_eq!(std::fs::read_dir(store.join("incoming")).unwrap().count(), 0, "the received copy is removed");
    let body = e2e::http::get(&m.host, "/pypi/simple/opwheel/", &[]).unwrap();
    assert_eq!(body.status, 200, "served again");
    let empty =
        Command::new(e2e::bin("mirror")).args(["import", "-", "--store", s, "--trust", gap.public().to_str().unwrap()]).stdin(std::process::Stdio::null()).output().unwrap();
    assert!(!empty.status.success() && String::from_utf8_lossy(&empty.stderr).contains("read nothing on stdin"), "{}", String::from_utf8_lossy(&empty.stderr));
}

#[test]
fn init_owner_add_name_and_client_config_errors() {
    let gap = Gap::new();
    e2e::imported_image_wheel_deb(&gap, "own", "ownwheel", "own-deb");
    let store = gap.store();
    let s = store.to_str().unwrap();
    // As root, then handed to `nobody`, which then runs the server: it must read the TLS key
    // and write the store. The test's temp dir must be reachable by that user.
    let r = gap.mirror(&["init", "--store", s, "--name", "127.0.0.1", "--owner", "nobody"]).ok();
    assert!(r.stderr.contains("now belong to nobody"), "{}", r.stderr);
    let mut dir = store.clone();
    while let Some(p) = dir.parent() {
        let _ = std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755));
        if p == std::env::temp_dir() || p.as_os_str().len() <= 1 {
            break;
        }
        dir = p.to_path_buf();
    }
    let meta = |p: &str| std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(store.join(p)).unwrap());
    let nobody = 65534;
    for p in ["", "tls/server.key", "tls/ca.key", "meta", "blobs/sha256"] {
        assert_eq!(meta(p), nobody, "{p}");
    }
    let ca = store.join("tls/ca.crt");
    let port = e2e::free_port();
    let host = format!("127.0.0.1:{port}");
    let serve = |gap: &Gap, log: &str| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", e2e::bin("mirror").to_str().unwrap(), "serve", "--store", s, "--listen", &host]);
        let mut server = Server::start("mirror serve as nobody", &mut cmd, gap.path(log));
        let url = format!("https://{host}/healthz");
        let ca = ca.clone();
        server.wait_until("HTTPS /healthz as nobody", move || run(Command::new("curl").args(["-sf", "--max-time", "2", "--cacert", ca.to_str().unwrap(), &url])).status == 0);
        server
    };
    let mut server = serve(&gap, "serve-nobody.log");

    // client-config without the CA names the certificate; with it, it works.
    let url = format!("https://{host}");
    gap.mirror(&["client-config", "containerd", "--url", &url]).fails_with(&["does not trust the mirror's TLS certificate", "--ca"]);
    gap.mirror(&["client-config", "containerd", "--url", &url, "--ca", ca.to_str().unwrap()]).ok();
    // A name the certificate lacks: added with the same CA; the running server says to restart.
    let by_name = |name: &str| {
        run(Command::new("curl").args([
            "-sf",
            "--max-time",
            "5",
            "--cacert",
            ca.to_str().unwrap(),
            "--resolve",
            &format!("{name}:{port}:127.0.0.1"),
            &format!("https://{name}:{port}/healthz"),
        ]))
    };
    assert_ne!(by_name("mirror.test").status, 0, "the certificate does not name mirror.test yet");
    let ca_before = std::fs::read(&ca).unwrap();
    let r = gap.mirror(&["init", "--store", s, "--add-name", "mirror.test"]).ok();
    assert!(r.stderr.contains("restart it") && r.stderr.contains("127.0.0.1, mirror.test"), "{}", r.stderr);
    assert_eq!(std::fs::read(&ca).unwrap(), ca_before, "the CA stays");
    gap.mirror(&["init", "--store", s, "--owner", "nobody"]).ok();
    server.terminate();
    drop(server);
    let server = serve(&gap, "serve-nobody-2.log");
    assert_eq!(by_name("mirror.test").status, 0, "after the restart the new name is served with the same CA");
    assert_eq!(by_name("127.0.0.1").status, 0, "and the old name still");
    drop(server);

    // A mirror that asks readers for credentials: client-config says so, and reads with them.
    let readers = gap.write("readers.htpasswd", &e2e::htpasswd_line("reader", "r3ad"));
    let m = Mirror::start_with_serve_args(&store, &["--htpasswd", readers.to_str().unwrap(), "--no-tls"]);
    let plain = m.url("");
    gap.mirror(&["client-config", "containerd", "--url", &plain]).fails_with(&["HTTP 401", "--username"]);
    let ok = e2e::run(
        Command::new(e2e::bin("mirror")).args(["client-config", "containerd", "--url", &plain, "--username", "reader", "--password-env", "READER_PW"]).env("READER_PW", "r3ad"),
    );
    assert_eq!(ok.status, 0, "{}", ok.stderr);
}
