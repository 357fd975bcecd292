//! Issue 7, TLS: `mirror init` makes a CA and a server certificate for the names clients use;
//! `mirror serve` then speaks HTTPS only, and real clients that trust that CA — skopeo, ctr,
//! pip, apt-get, curl — pull over it with the same bytes as upstream, while a client that does
//! not trust it is refused. `--tls-cert/--tls-key` serve a certificate the operator brings.

use std::path::Path;
use std::process::Command;

use e2e::pypi::Venv;
use e2e::{run, sha256, AptClient, Containerd, Gap, Server};

/// `mirror serve` over HTTPS, ready once `/healthz` answers through the CA.
struct TlsMirror {
    server: Server,
    host: String,
}

impl TlsMirror {
    fn start(gap: &Gap, ca: &Path, extra: &[&str]) -> TlsMirror {
        let port = e2e::free_port();
        let host = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(e2e::bin("mirror"));
        cmd.args(["serve", "--store", gap.store().to_str().unwrap(), "--listen", &host]).args(extra);
        let mut server = Server::start("mirror serve (TLS)", &mut cmd, gap.path("tls-serve.log"));
        let url = format!("https://{host}/healthz");
        let ca = ca.to_path_buf();
        server.wait_until("HTTPS /healthz", move || run(Command::new("curl").args(["-sf", "--max-time", "2", "--cacert", ca.to_str().unwrap(), &url])).status == 0);
        TlsMirror { server, host }
    }
    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.host)
    }
}

#[test]
fn clients_pull_over_https_trusting_the_mirrors_ca() {
    let gap = Gap::new();
    let hello = e2e::imported_image_wheel_deb(&gap, "tls", "tlsdemo", "hello-tls");
    let q = |s: &str| serde_json::to_string(s).unwrap();

    let r = gap.mirror(&["init", "--store", gap.store().to_str().unwrap(), "--name", "localhost", "--name", "127.0.0.1"]).ok();
    assert!(r.stderr.contains("ca.crt"), "{}", r.stderr);
    let ca = gap.store().join("tls/ca.crt");
    let mirror = TlsMirror::start(&gap, &ca, &[]);

    // Without the CA: refused by the client; plain HTTP to the port gets no answer.
    assert_ne!(run(Command::new("curl").args(["-sf", "--max-time", "5", &mirror.url("/healthz")])).status, 0);
    assert_ne!(run(Command::new("curl").args(["-sf", "--max-time", "5", &format!("http://{}/healthz", mirror.host)])).status, 0);

    // skopeo, trusting the CA through --src-cert-dir.
    let certs = gap.path("certs.d");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(&ca, certs.join("ca.crt")).unwrap();
    let out = run(Command::new("skopeo").args(["inspect", "--raw", "--cert-dir", certs.to_str().unwrap(), &format!("docker://{}/docker.io/library/hello:1", mirror.host)])).ok();
    assert_eq!(sha256(out.stdout.as_bytes()), hello.index);
    let untrusted = run(Command::new("skopeo").args(["inspect", "--raw", &format!("docker://{}/docker.io/library/hello:1", mirror.host)]));
    assert_ne!(untrusted.status, 0, "skopeo without the CA must refuse");

    // containerd: hosts.toml naming the CA.
    let ctrd = Containerd::start();
    let hosts = ctrd.hosts_dir().join("docker.io");
    std::fs::create_dir_all(&hosts).unwrap();
    std::fs::write(
        hosts.join("hosts.toml"),
        format!("server = \"https://{h}\"\n[host.\"https://{h}\"]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = {}\n", q(&ca.display().to_string()), h = mirror.host),
    )
    .unwrap();
    ctrd.pull("tls", "docker.io/library/hello:1", &["--platform", "linux/amd64"]).ok();
    assert_eq!(ctrd.image_digest("tls", "docker.io/library/hello:1").as_deref(), Some(hello.index.as_str()));

    // pip with --cert. (requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE, when set as on many
    // hosts, override --cert; a site pointing them at the mirror's CA is the robust setup.)
    let venv = Venv::new();
    let cas = ca.to_str().unwrap();
    venv.pip_install_env(&["--index-url", &mirror.url("/pypi/simple/"), "--cert", cas, "tlsdemo==1.0"], &[("REQUESTS_CA_BUNDLE", cas), ("CURL_CA_BUNDLE", cas)]).ok();
    assert_eq!(venv.installed().get("tlsdemo").map(String::as_str), Some("1.0"));

    // apt-get with Acquire::https::CaInfo.
    let key = gap.path("mirror-key.gpg");
    run(Command::new("curl").args(["-sSf", "--cacert", ca.to_str().unwrap(), "-o", key.to_str().unwrap(), &mirror.url("/apt/key.gpg")])).ok();
    let client = AptClient::new();
    std::fs::write(client.path("etc/apt/apt.conf.d/90mirror-ca"), format!("Acquire::https::CaInfo {};\n", q(&ca.display().to_string()))).unwrap();
    client.set_source(&key, &mirror.url("/apt/standin/"), "stable", &["main"]);
    let u = client.update();
    assert!(u.problems.is_empty() && u.run.status == 0, "apt-get update over HTTPS: {:?}", u.problems);
    let got = client.install_download_only(&["hello-tls"]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].id().0, "hello-tls");

    let mut mirror = mirror;
    assert!(mirror.server.terminate());
}

#[test]
fn serve_uses_a_certificate_the_operator_brings() {
    let gap = Gap::new();
    // The operator's own PKI, here made with openssl: a self-signed certificate for 127.0.0.1.
    let (cert, key) = (gap.path("own.crt"), gap.path("own.key"));
    run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]))
    .ok();
    gap.mirror(&["inventory", "--store", gap.store().to_str().unwrap()]).ok();
    let mirror = TlsMirror::start(&gap, &cert, &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    let v2 = run(Command::new("curl").args(["-sS", "--cacert", cert.to_str().unwrap(), "-o", "/dev/null", "-w", "%{http_code}", &mirror.url("/v2/")])).ok();
    assert_eq!(v2.stdout, "200");
    // A key that does not match the certificate is refused at start, naming both files.
    let other_key = gap.path("other.key");
    run(Command::new("openssl").args(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", other_key.to_str().unwrap()])).ok();
    let r = gap
        .mirror(&[
            "serve",
            "--store",
            gap.path("store2").to_str().unwrap(),
            "--listen",
            "127.0.0.1:1",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            other_key.to_str().unwrap(),
        ])
        .fails();
    assert!(r.stderr.contains("own.crt") && r.stderr.contains("other.key"), "{}", r.stderr);
}
