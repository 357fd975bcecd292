//! Issue 7, registry client configs: `mirror client-config containerd|podman|rke2|docker`
//! name every registry the mirror holds; the generated containerd `hosts.toml` files and podman
//! `registries.conf.d` entry are handed unchanged to the real clients, which pull upstream's
//! digests for two registries (docker.io and nvcr.io) — over plain HTTP, and over HTTPS with
//! the CA `mirror init` made (`--ca`).

use std::path::Path;
use std::process::Command;

use e2e::{run, Containerd, Gap, ImageBuilder, Mirror, Podman, Server};

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

#[test]
fn generated_configs_drive_containerd_and_podman() {
    let gap = Gap::new();
    let (reg, hello, _other) = e2e::image::shared_pair(gap.dir.path());
    let mut cuda = ImageBuilder::new(&gap.path("layout-cuda"));
    let cuda_img = cuda.multi_arch("11.8", "cuda base", "cuda runtime");
    cuda.push("11.8", &reg.host, "nvidia/cuda");
    let m = gap.write(
        "cc.yaml",
        &format!(
            "name: cc\nplatforms: [linux/amd64, linux/arm64]\nregistries:\n  docker.io: {{url: \"http://{r}\", insecure: true}}\n  nvcr.io: {{url: \"http://{r}\", insecure: true}}\nimages:\n  - docker.io/library/hello:1\n  - nvcr.io/nvidia/cuda:11.8\n",
            r = reg.host
        ),
    );
    gap.lock(&m).ok();
    let bundle = gap.create(&m, "cc.bundle", &["--locked"]);
    drop(reg);
    gap.import(&bundle).ok();
    let mirror = Mirror::start(&gap.store());
    let url = mirror.url("");
    let out = gap.path("cfg");
    let cc = |kind: &str, extra: &[&str]| {
        let mut args = vec!["client-config", kind, "--url", url.as_str(), "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        gap.mirror(&args).ok()
    };

    // containerd: the generated certs.d tree, as is.
    cc("containerd", &[]);
    for r in ["docker.io", "nvcr.io"] {
        assert!(out.join(format!("containerd/certs.d/{r}/hosts.toml")).exists(), "hosts.toml for {r}");
    }
    let ctrd = Containerd::start();
    copy_tree(&out.join("containerd/certs.d"), &ctrd.hosts_dir());
    ctrd.pull("cc", "docker.io/library/hello:1", &["--platform", "linux/arm64"]).ok();
    ctrd.pull("cc", "nvcr.io/nvidia/cuda:11.8", &["--platform", "linux/amd64"]).ok();
    assert_eq!(ctrd.image_digest("cc", "docker.io/library/hello:1").as_deref(), Some(hello.index.as_str()));
    assert_eq!(ctrd.image_digest("cc", "nvcr.io/nvidia/cuda:11.8").as_deref(), Some(cuda_img.index.as_str()));

    // podman: the generated registries.conf.d entry.
    cc("podman", &[]);
    let conf = std::fs::read_to_string(out.join("containers/registries.conf.d/50-mirror.conf")).unwrap();
    let podman = Podman::new();
    let mut base = std::fs::read_to_string(&podman.registries_conf).unwrap();
    base.push_str(&conf);
    std::fs::write(&podman.registries_conf, base).unwrap();
    podman.pull("nvcr.io/nvidia/cuda:11.8", &[]).ok();
    assert_eq!(podman.image_digest("nvcr.io/nvidia/cuda:11.8"), cuda_img.index);

    // RKE2 / K3s registries.yaml: a mirror entry per registry.
    cc("rke2", &[]);
    let y = std::fs::read_to_string(out.join("rke2/registries.yaml")).unwrap();
    for r in ["docker.io", "nvcr.io"] {
        assert!(y.contains(&format!("  {r}:\n    endpoint:\n      - \"{url}\"")), "{y}");
    }
    assert!(y.contains(&format!("system-default-registry: {}", mirror.host)), "{y}");

    // With the embedded peer-to-peer registry (Spegel), for RKE2 and K3s: every file parses as
    // YAML, every registry held is listed (which is what makes it shared between nodes) with
    // the mirror as endpoint, the servers turn the embedded registry on, every node stops
    // waiting on unreachable upstreams.
    let yaml = |rel: &str| -> serde_json::Value { serde_saphyr::from_str(&std::fs::read_to_string(out.join(rel)).unwrap()).unwrap_or_else(|e| panic!("{rel}: {e}")) };
    for (kind, dir) in [("rke2", "rke2"), ("k3s", "k3s")] {
        cc(kind, &["--embedded-registry"]);
        let reg = yaml(&format!("{dir}/registries.yaml"));
        let mirrors = reg["mirrors"].as_object().unwrap();
        assert_eq!(mirrors.keys().collect::<Vec<_>>(), ["docker.io", "nvcr.io"], "{reg}");
        for m in mirrors.values() {
            assert_eq!(m["endpoint"], serde_json::json!([url]), "{reg}");
        }
        assert_eq!(yaml(&format!("{dir}/config.yaml.d/50-embedded-registry.yaml")), serde_json::json!({"embedded-registry": true}));
        assert_eq!(yaml(&format!("{dir}/config.yaml.d/60-mirror-only.yaml")), serde_json::json!({"disable-default-registry-endpoint": true}));
        let text = std::fs::read_to_string(out.join(format!("{dir}/config.yaml.d/50-embedded-registry.yaml"))).unwrap();
        assert!(text.contains(&format!("/etc/rancher/{dir}/")) && text.contains("SERVER"), "{text}");
    }
    gap.mirror(&["client-config", "containerd", "--url", &url, "--embedded-registry"]).fails_with(&["--embedded-registry", "rke2", "k3s"]);

    // Docker: daemon.json, and the bare docker.io names its registry-mirrors sends.
    cc("docker", &[]);
    let d: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("docker/daemon.json")).unwrap()).unwrap();
    assert_eq!(d["registry-mirrors"][0], url.as_str());
    let r = run(Command::new("curl").args([
        "-sSf",
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-H",
        "Accept: application/vnd.oci.image.index.v1+json",
        &mirror.url("/v2/library/hello/manifests/1"),
    ]))
    .ok();
    assert!(r.stdout.to_ascii_lowercase().contains(&format!("docker-content-digest: {}", hello.index)), "{}", r.stdout);

    // Over HTTPS: the CA made by `mirror init`, handed out with --ca, trusted through hosts.toml.
    let mut mirror = mirror;
    assert!(mirror.server.terminate());
    gap.mirror(&["init", "--store", gap.store().to_str().unwrap(), "--name", "127.0.0.1"]).ok();
    let ca = gap.store().join("tls/ca.crt");
    let port = e2e::free_port();
    let host = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(e2e::bin("mirror"));
    cmd.args(["serve", "--store", gap.store().to_str().unwrap(), "--listen", &host]);
    let mut tls = Server::start("mirror serve (TLS)", &mut cmd, gap.path("tls.log"));
    let health = format!("https://{host}/healthz");
    let ca2 = ca.clone();
    tls.wait_until("HTTPS /healthz", move || run(Command::new("curl").args(["-sf", "--max-time", "2", "--cacert", ca2.to_str().unwrap(), &health])).status == 0);
    let out2 = gap.path("cfg-tls");
    gap.mirror(&["client-config", "containerd", "--url", &format!("https://{host}"), "--ca", ca.to_str().unwrap(), "--out", out2.to_str().unwrap()]).ok();
    assert!(out2.join("containerd/certs.d/nvcr.io/mirror-ca.crt").exists());
    let ctrd2 = Containerd::start();
    copy_tree(&out2.join("containerd/certs.d"), &ctrd2.hosts_dir());
    ctrd2.pull("tls", "nvcr.io/nvidia/cuda:11.8", &["--platform", "linux/arm64"]).ok();
    assert_eq!(ctrd2.image_digest("tls", "nvcr.io/nvidia/cuda:11.8").as_deref(), Some(cuda_img.index.as_str()));
    assert!(tls.terminate());
}
