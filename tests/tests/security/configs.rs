//! Issue 19, client configs over HTTPS with read authentication: against a mirror serving TLS
//! from `mirror init` with `--htpasswd` and `--push-htpasswd`, `mirror client-config KIND --ca
//! --ca-path --username --password-env --out DIR` writes files that the real clients use
//! unchanged — pip, uv, apt-get, containerd, skopeo (podman's registries.conf and auth.json, and
//! the push config), helm, the NLTK script and huggingface_hub — each getting the mirror's bytes.
//! The CA path in every file is where the test keeps the written CA (`--ca-path`), and the
//! password (with characters that need quoting) is in the files that hold it, mode 0600.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::helm::Helm;
use e2e::hf::{HubFile, HubOptions, HubRepo, StandinHub};
use e2e::pypi::{python, Venv};
use e2e::zip::zip_stored;
use e2e::{run, run_within, sha256, AptClient, Containerd, Gap, Server, StaticServer};

const READER: (&str, &str) = ("reader", "r3@d:pw%'x");
const WRITER: (&str, &str) = ("writer", "wr1te$'");

/// A chart repository, an NLTK index and a hub repo, bundled and imported; returns the chart
/// archive's sha256, the NLTK file's text and the model file's bytes.
fn imported_chart_nltk_model(gap: &Gap) -> (String, &'static str, Vec<u8>) {
    // Helm: `helm create` + `helm package` + `helm repo index` on a static server.
    let helm = Helm::new(&gap.path("helm-up"));
    let repo_dir = gap.path("charts");
    let chart = helm.create_chart(&gap.path("chart-src"), "web", "0.1.0", None);
    let tgz = helm.package(&chart, &repo_dir);
    let chart_sha = sha256(&std::fs::read(&tgz).unwrap());
    helm.run(&["repo", "index", repo_dir.to_str().unwrap()]).ok();
    let charts = StaticServer::start(&repo_dir);

    // NLTK: one package in a downloader index.
    let words = "alpha\nbeta\n";
    let nltk_dir = gap.path("nltk-up");
    let zip = zip_stored(&[("cfg_words/".to_string(), Vec::new()), ("cfg_words/words.txt".to_string(), words.as_bytes().to_vec())]);
    std::fs::create_dir_all(nltk_dir.join("packages/corpora")).unwrap();
    std::fs::write(nltk_dir.join("packages/corpora/cfg_words.zip"), &zip).unwrap();
    let nltk = StaticServer::start(&nltk_dir);
    let md5 = run(Command::new("md5sum").arg(nltk_dir.join("packages/corpora/cfg_words.zip"))).ok().stdout.split_whitespace().next().unwrap().to_string();
    std::fs::write(
        nltk_dir.join("index.xml"),
        format!(
            "<?xml version=\"1.0\"?>\n<nltk_data>\n<packages>\n<package id=\"cfg_words\" name=\"words\" subdir=\"corpora\" url=\"{}packages/corpora/cfg_words.zip\" size=\"{}\" unzipped_size=\"{}\" checksum=\"{md5}\" unzip=\"1\" />\n</packages>\n<collections>\n</collections>\n</nltk_data>\n",
            nltk.url(),
            zip.len(),
            words.len()
        ),
    )
    .unwrap();

    // Hugging Face: one LFS file and one plain one on the stand-in hub.
    let model = e2e::payload(64 << 10, 7);
    let hub_dir = gap.path("hub-up");
    std::fs::create_dir_all(&hub_dir).unwrap();
    std::fs::write(hub_dir.join("model.safetensors"), &model).unwrap();
    std::fs::write(hub_dir.join("config.json"), b"{\"model_type\": \"bert\"}").unwrap();
    let files = ["model.safetensors", "config.json"].map(|p| HubFile { path: p.into(), local: hub_dir.join(p), lfs: p.ends_with(".safetensors"), sha256: None });
    let hub = StandinHub::start(&[HubRepo { id: "demo/cfg-model".into(), commit: "5d41402abc4b2a76b9719d911017c592aaaabbbb".into(), files: files.into() }], &HubOptions::default());

    let m = gap.write(
        "extra.yaml",
        &format!(
            "name: extra\ncharts:\n  - {{repo: {:?}, name: web, version: 0.1.0}}\nnltk:\n  - {{index: {:?}, packages: [cfg_words]}}\nmodels:\n  - {{hf: demo/cfg-model, revision: main, endpoint: {:?}}}\n",
            charts.url(),
            format!("{}index.xml", nltk.url()),
            hub.url()
        ),
    );
    gap.lock(&m).ok();
    let bundle = gap.create(&m, "extra.bundle", &["--locked"]);
    drop((charts, nltk, hub));
    gap.import(&bundle).ok();
    (chart_sha, words, model)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

#[test]
fn every_client_config_works_against_an_https_mirror_with_read_auth() {
    let gap = Gap::new();
    let hello = e2e::imported_image_wheel_deb(&gap, "cfg", "cfgdemo", "hello-cfg");
    let (chart_sha, words, model) = imported_chart_nltk_model(&gap);
    let store = gap.store();
    gap.mirror(&["init", "--store", store.to_str().unwrap(), "--name", "127.0.0.1"]).ok();
    let ca = store.join("tls/ca.crt");
    let readers = gap.write("htpasswd", &e2e::htpasswd_line(READER.0, READER.1));
    let writers = gap.write("push-htpasswd", &e2e::htpasswd_line(WRITER.0, WRITER.1));
    let host = format!("127.0.0.1:{}", e2e::free_port());
    let url = format!("https://{host}");
    let mut cmd = Command::new(e2e::bin("mirror"));
    cmd.args(["serve", "--store", store.to_str().unwrap(), "--listen", &host, "--htpasswd", readers.to_str().unwrap(), "--push-htpasswd", writers.to_str().unwrap()]);
    let mut server = Server::start("mirror serve (TLS, htpasswd)", &mut cmd, gap.path("serve.log"));
    let (health, cas) = (format!("{url}/healthz"), ca.display().to_string());
    server.wait_until("HTTPS /healthz", move || run(Command::new("curl").args(["-sf", "--max-time", "2", "--cacert", &cas, &health])).status == 0);

    let out = gap.path("cfg");
    // `client-config KIND` as a reader (or the writer for `push`), the CA named where `--out` puts
    // it: `DIR/mirror-ca.crt`, or certs.d's own name for podman and skopeo.
    let certs_d = format!("certs.d/{host}/ca.crt");
    let config = |kind: &str, dir: &str, (user, password): (&str, &str)| -> PathBuf {
        let ca_path = out.join(dir).join(if dir == "containers" { certs_d.as_str() } else { "mirror-ca.crt" });
        let args = [
            "client-config",
            kind,
            "--url",
            &url,
            "--ca",
            ca.to_str().unwrap(),
            "--ca-path",
            ca_path.to_str().unwrap(),
            "--username",
            user,
            "--password-env",
            "MIRROR_PW",
            "--out",
            out.to_str().unwrap(),
        ];
        let r = run(Command::new(e2e::bin("mirror")).args(args).env("MIRROR_PW", password)).ok();
        let written = std::fs::read(&ca_path).unwrap_or_else(|e| panic!("{kind}: {}: {e}\n{}", ca_path.display(), r.stderr));
        assert_eq!(written, std::fs::read(&ca).unwrap(), "{kind}: the CA is written where the configs name it");
        assert!(r.stderr.contains("holds the password") || kind == "containerd", "{kind}: {}", r.stderr);
        out.join(dir)
    };

    // pip: pip.conf alone, with REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE unset (they would override `cert`).
    let pip = config("pip", "pip", READER);
    assert_eq!(mode(&pip.join("pip.conf")), 0o600);
    let venv = Venv::new();
    let pip_conf = pip.join("pip.conf").display().to_string();
    venv.pip_install_env(&["cfgdemo==1.0"], &[("PIP_CONFIG_FILE", &pip_conf), ("REQUESTS_CA_BUNDLE", ""), ("CURL_CA_BUNDLE", "")]).ok();
    assert_eq!(venv.installed().get("cfgdemo").map(String::as_str), Some("1.0"));

    // uv: uv.toml and uv.env's SSL_CERT_FILE.
    let uv = config("uv", "uv", READER);
    assert_eq!(mode(&uv.join("uv.toml")), 0o600);
    let uv_env = std::fs::read_to_string(uv.join("uv.env")).unwrap();
    let cert_file = uv_env.lines().find_map(|l| l.strip_prefix("export SSL_CERT_FILE=")).expect("uv.env sets SSL_CERT_FILE").to_string();
    let venv = Venv::new();
    let uv_toml = uv.join("uv.toml").display().to_string();
    venv.uv_install(&["--config-file", &uv_toml, "cfgdemo==1.0"], &[("SSL_CERT_FILE", &cert_file)]).ok();
    assert_eq!(venv.installed().get("cfgdemo").map(String::as_str), Some("1.0"));

    // apt-get: the sources file, the CAInfo line and the auth.conf.d entry, copied where apt reads them.
    let apt = config("apt", "apt", READER);
    assert_eq!(mode(&apt.join("auth.conf.d/feas-mirror.conf")), 0o600);
    let client = AptClient::new();
    std::fs::copy(apt.join("apt.conf.d/60feas-mirror-ca"), client.path("etc/apt/apt.conf.d/60feas-mirror-ca")).unwrap();
    let netrc = client.path("etc/apt/auth.conf.d");
    std::fs::create_dir_all(&netrc).unwrap();
    std::fs::copy(apt.join("auth.conf.d/feas-mirror.conf"), netrc.join("feas-mirror.conf")).unwrap();
    // The test's apt has its own /etc: where auth.conf.d is, as /etc/apt/auth.conf.d is on a host.
    std::fs::write(client.path("etc/apt/apt.conf.d/10test-netrc"), format!("Dir::Etc::netrcparts {:?};\n", netrc.display().to_string())).unwrap();
    client.set_deb822(&apt.join("mirror.sources"));
    let u = client.update();
    assert!(u.problems.is_empty() && u.run.status == 0, "apt-get update over HTTPS with auth: {:?}\n{}", u.problems, u.run.stderr);
    let got = client.install_download_only(&["hello-cfg"]);
    assert_eq!(got.iter().map(|d| d.id().0).collect::<Vec<_>>(), ["hello-cfg"]);

    // containerd: hosts.toml and the CA beside it, copied to certs.d; ctr logs in as the reader.
    let cd = config("containerd", "containerd/certs.d/docker.io", READER);
    let ctrd = Containerd::start();
    std::fs::create_dir_all(ctrd.hosts_dir().join("docker.io")).unwrap();
    for f in ["hosts.toml", "mirror-ca.crt"] {
        std::fs::copy(cd.join(f), ctrd.hosts_dir().join("docker.io").join(f)).unwrap();
    }
    ctrd.pull("cfg", "docker.io/library/hello:1", &["--user", &format!("{}:{}", READER.0, READER.1), "--platform", "linux/amd64"]).ok();
    assert_eq!(ctrd.image_digest("cfg", "docker.io/library/hello:1").as_deref(), Some(hello.index.as_str()));

    // podman/skopeo: the registries.conf entry, the CA in certs.d and auth.json.
    let containers = config("podman", "containers", READER);
    assert_eq!(mode(&containers.join("auth.json")), 0o600);
    let (conf, authfile) = (containers.join("registries.conf.d/50-mirror.conf"), containers.join("auth.json"));
    let inspect = run(Command::new("skopeo").args([
        "--registries-conf",
        conf.to_str().unwrap(),
        "inspect",
        "--raw",
        "--authfile",
        authfile.to_str().unwrap(),
        "--cert-dir",
        containers.join(format!("certs.d/{host}")).to_str().unwrap(),
        "docker://docker.io/library/hello:1",
    ]))
    .ok();
    assert_eq!(sha256(inspect.stdout.as_bytes()), hello.index, "skopeo through the generated registries.conf reaches the mirror");

    // push: the writer's auth.json and the CA in certs.d; the pushed manifest comes back byte for byte.
    let push = config("push", "containers", WRITER);
    let authfile = push.join("auth.json").display().to_string();
    let certs = push.join(format!("certs.d/{host}")).display().to_string();
    let src = format!("docker://{host}/docker.io/library/hello:1");
    run(Command::new("skopeo").args([
        "copy",
        "--all",
        "--src-creds",
        &format!("{}:{}", READER.0, READER.1),
        "--src-cert-dir",
        &certs,
        "--dest-authfile",
        &authfile,
        "--dest-cert-dir",
        &certs,
        &src,
        &format!("docker://{host}/site/pushed:1"),
    ]))
    .ok();
    let back = run(Command::new("skopeo").args(["inspect", "--raw", "--authfile", &authfile, "--cert-dir", &certs, &format!("docker://{host}/site/pushed:1")])).ok();
    assert_eq!(sha256(back.stdout.as_bytes()), hello.index);

    // helm: the script adds the repository and logs in to the OCI registry; the chart pulled is upstream's.
    let helm_dir = config("helm", "helm", READER);
    let script = helm_dir.join("helm-mirror.sh");
    assert_eq!(mode(&script), 0o700);
    let helm = Helm::new(&gap.path("helm-client"));
    let r = run_within(&mut helm.script(&script), std::time::Duration::from_secs(120)).ok();
    assert!(r.stdout.contains("mirror/web"), "helm search repo lists the chart: {r:?}");
    let pulled = gap.path("pulled");
    std::fs::create_dir_all(&pulled).unwrap();
    helm.run(&["pull", "mirror/web", "--version", "0.1.0", "-d", pulled.to_str().unwrap()]).ok();
    assert_eq!(sha256(&std::fs::read(pulled.join("web-0.1.0.tgz")).unwrap()), chart_sha);

    // NLTK: the pre-seed script, with curl trusting the CA and logging in.
    let nltk = config("nltk", "nltk", READER);
    assert_eq!(mode(&nltk.join("nltk-mirror.sh")), 0o700);
    assert!(!std::fs::read_to_string(nltk.join("nltk-mirror.sh")).unwrap().contains("-u "), "the password is not on curl's command line");
    let data = gap.path("nltk_data");
    run(Command::new("sh").arg(nltk.join("nltk-mirror.sh")).env("NLTK_DATA", &data)).ok();
    assert_eq!(std::fs::read_to_string(data.join("corpora/cfg_words/words.txt")).unwrap(), words);

    // huggingface_hub: hf.env (HF_ENDPOINT, the CA, the reader's login as HF_TOKEN) sourced as is.
    let hf = config("hf", "hf", READER);
    assert_eq!(mode(&hf.join("hf.env")), 0o600);
    let code = "import sys, huggingface_hub as h; print(h.hf_hub_download('demo/cfg-model', 'model.safetensors', cache_dir=sys.argv[1]))";
    let r = run_within(
        Command::new("sh")
            .args(["-c", &format!(". {} && exec \"$0\" -c \"$1\" \"$2\"", hf.join("hf.env").display()), python().to_str().unwrap(), code, gap.path("hf-cache").to_str().unwrap()])
            .env_remove("HF_TOKEN")
            .env_remove("HF_HUB_OFFLINE")
            .env_remove("REQUESTS_CA_BUNDLE")
            .env_remove("SSL_CERT_FILE")
            .env("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
        std::time::Duration::from_secs(120),
    )
    .ok();
    assert_eq!(std::fs::read(r.stdout.trim()).unwrap(), model, "huggingface_hub got the hub's bytes");

    assert!(server.terminate());
}
