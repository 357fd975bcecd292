//! Issue 16, pinned digests: hardened sites pin images by digest (`image: x@sha256:…`, charts
//! that pin digests). An image carried for some of its platforms keeps its upstream index, byte
//! for byte, so a pull by the upstream index digest works through the mirror with ctr, podman
//! and skopeo for every carried platform, and a request for a left-out platform answers
//! MANIFEST_UNKNOWN naming that platform. A chart that pins a digest renders from the mirror
//! and its image pulls. `mirror push` keeps the index as it is; into a registry that refuses
//! an index with absent children, `--sparse-index rewrite` pushes one listing only what is
//! carried (a new digest, under the same tag).

use std::path::Path;
use std::process::Command;

use e2e::helm::Helm;
use e2e::{raw_manifest, run, sha256, skopeo, BuiltImage, Containerd, Gap, ImageBuilder, Mirror, Podman, Registry, StaticServer};

/// A chart whose only template pins `image.repository@image.digest` from its values.
fn pinned_chart(helm: &Helm, dir: &Path, repo_dir: &Path, repository: &str, digest: &str) -> std::path::PathBuf {
    let c = dir.join("pinned");
    std::fs::create_dir_all(c.join("templates")).unwrap();
    std::fs::write(c.join("Chart.yaml"), "apiVersion: v2\nname: pinned\nversion: 1.0.0\nappVersion: \"1\"\n").unwrap();
    std::fs::write(c.join("values.yaml"), format!("image:\n  repository: {repository}\n  digest: \"{digest}\"\n")).unwrap();
    std::fs::write(
        c.join("templates/pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  containers:\n    - name: app\n      image: \"{{ .Values.image.repository }}@{{ .Values.image.digest }}\"\n",
    )
    .unwrap();
    helm.package(&c, repo_dir)
}

/// The images a rendered manifest runs (`image: "…"` lines).
fn rendered_images(yaml: &str) -> Vec<String> {
    yaml.lines().filter_map(|l| l.trim().strip_prefix("image:")).map(|v| v.trim().trim_matches('"').to_string()).collect()
}

struct Site {
    gap: Gap,
    app: BuiltImage,
    bundle: std::path::PathBuf,
}

/// Upstream: `apps/pinned:1` (amd64 + arm64) and a chart pinning its index digest; the bundle
/// carries the chart and linux/amd64 of the image only, under its tag and its digest.
fn site() -> Site {
    let gap = Gap::new();
    let helm = Helm::new(gap.dir.path());
    let reg = Registry::start();
    let mut images = ImageBuilder::new(&gap.path("layout"));
    let app = images.multi_arch("1", "pinned base", "pinned app");
    images.push("1", &reg.host, "apps/pinned");
    let repo_dir = gap.path("charts");
    std::fs::create_dir_all(&repo_dir).unwrap();
    pinned_chart(&helm, &gap.path("src"), &repo_dir, "docker.io/apps/pinned", &app.index);
    helm.run(&["repo", "index", repo_dir.to_str().unwrap()]).ok();
    let srv = StaticServer::start(&repo_dir);
    let m = gap.write(
        "pinned.yaml",
        &format!(
            "name: pinned\nplatforms: [linux/amd64]\nregistries:\n  docker.io: {{url: \"http://{}\", insecure: true}}\nimages: [docker.io/apps/pinned:1]\ncharts:\n  - {{repo: \"{}\", name: pinned, version: \"1.0.0\", add_images: true}}\n",
            reg.host,
            srv.url().trim_end_matches('/')
        ),
    );
    gap.lock(&m).ok();
    let lock = std::fs::read_to_string(gap.lock_file()).unwrap();
    assert!(lock.contains(&format!("docker.io/apps/pinned@{}", app.index)), "the chart's pinned image is locked by its digest:\n{lock}");
    let bundle = gap.create(&m, "pinned.bundle", &["--locked"]);
    drop(srv);
    drop(reg);
    Site { gap, app, bundle }
}

#[test]
fn a_pinned_index_digest_pulls_for_carried_platforms_and_names_the_others() {
    let Site { gap, app, bundle } = site();
    let carried: Vec<String> = gap.inspect(&bundle)["blobs"].as_array().unwrap().iter().map(|b| b["digest"].as_str().unwrap().to_string()).collect();
    assert!(carried.contains(&app.index), "the upstream index itself is carried");
    for d in [&app.manifests["amd64"], &app.configs["amd64"], &app.own_layers["amd64"], &app.shared_layer] {
        assert!(carried.contains(d), "amd64 blob {d} is carried");
    }
    for d in [&app.manifests["arm64"], &app.configs["arm64"], &app.own_layers["arm64"]] {
        assert!(!carried.contains(d), "arm64 blob {d} is left out");
    }
    gap.verify(&bundle).ok();
    let info = gap.inspect(&bundle);
    let image = info["artifacts"].as_array().unwrap().iter().find(|a| a["kind"] == "image").unwrap_or_else(|| panic!("{info:#}"));
    assert_eq!(image["digest"], app.index.as_str(), "{image}");
    let platforms: Vec<&str> = image["platforms"].as_array().unwrap().iter().map(|p| p["platform"].as_str().unwrap()).collect();
    assert_eq!(platforms, ["linux/amd64"], "inspect lists what is carried: {image}");

    gap.import(&bundle).ok();
    gap.mirror(&["verify", "--store", gap.store().to_str().unwrap()]).ok();
    let mirror = Mirror::start(&gap.store());
    let by_digest = format!("docker.io/apps/pinned@{}", app.index);
    assert_eq!(sha256(&raw_manifest(&mirror.host, "docker.io/apps/pinned:1")), app.index, "the tag serves the upstream index");
    assert_eq!(sha256(&raw_manifest(&mirror.host, &by_digest)), app.index);

    // The chart renders from the mirror's chart repository; what it names pulls.
    let client = Helm::new(&gap.path("client"));
    client.run(&["repo", "add", "m", &mirror.url("/helm")]).ok();
    let rendered = client.run(&["template", "x", "m/pinned", "--version", "1.0.0"]).ok().stdout;
    assert_eq!(rendered_images(&rendered), std::slice::from_ref(&by_digest), "{rendered}");

    // containerd (hosts.toml mirror for docker.io; the node is amd64).
    let ctrd = Containerd::start();
    ctrd.hosts_toml("docker.io", &mirror.host);
    ctrd.pull("e2e", &by_digest, &["--platform", "linux/amd64"]).ok();
    assert_eq!(ctrd.image_digest("e2e", &by_digest).as_deref(), Some(app.index.as_str()));
    ctrd.check("e2e");
    let r = ctrd.pull("e2e", &by_digest, &["--platform", "linux/arm64"]).fails();
    assert!(format!("{}{}", r.stdout, r.stderr).contains("not found"), "{r:?}");

    // podman through a registries.conf remap.
    let podman = Podman::new();
    podman.remap("docker.io", &format!("{}/docker.io", mirror.host));
    podman.pull(&by_digest, &["--arch", "amd64"]).ok();
    assert_eq!(podman.image_digest(&by_digest), app.index);

    // skopeo: the amd64 image byte for byte; arm64 refused, naming the platform and the fix.
    let dir = gap.path("pulled");
    skopeo(&["copy", "--quiet", "--override-arch", "amd64", "--src-tls-verify=false", &format!("docker://{}/{by_digest}", mirror.host), &format!("dir:{}", dir.display())]).ok();
    assert_eq!(sha256(&std::fs::read(dir.join("manifest.json")).unwrap()), app.manifests["amd64"]);
    for d in [&app.configs["amd64"], &app.own_layers["amd64"], &app.shared_layer] {
        assert_eq!(&sha256(&std::fs::read(dir.join(&d[7..])).unwrap()), d);
    }
    let r = skopeo(&["inspect", "--override-arch", "arm64", "--tls-verify=false", &format!("docker://{}/{by_digest}", mirror.host)]).fails();
    assert!(r.stderr.contains("linux/arm64") && r.stderr.contains("platforms"), "the refusal names the platform and the fix: {}", r.stderr);
    let body = run(Command::new("curl").args(["-s", &mirror.url(&format!("/v2/docker.io/apps/pinned/manifests/{}", app.manifests["arm64"]))])).ok().json();
    assert_eq!(body["errors"][0]["code"], "MANIFEST_UNKNOWN", "{body}");
    assert_eq!(body["errors"][0]["detail"]["platform"], "linux/arm64", "{body}");
    assert_eq!(body["errors"][0]["detail"]["index"], app.index.as_str(), "{body}");
    // A digest nothing names is still a plain unknown manifest.
    let other = sha256(b"nothing");
    let body = run(Command::new("curl").args(["-s", &mirror.url(&format!("/v2/docker.io/apps/pinned/manifests/{other}"))])).ok().json();
    assert!(body["errors"][0]["detail"].get("platform").is_none() && body["errors"][0]["code"] == "MANIFEST_UNKNOWN", "{body}");

    let mut mirror = mirror;
    assert!(mirror.server.terminate());
}

/// The left-out platform arrives later in another bundle (pinned by the same digest): the same
/// index now serves both.
#[test]
fn a_later_bundle_fills_in_a_left_out_platform() {
    let Site { gap, app, bundle } = site();
    gap.import(&bundle).ok();
    let reg = Registry::start();
    let mut images = ImageBuilder::new(&gap.path("layout2"));
    assert_eq!(images.multi_arch("1", "pinned base", "pinned app").index, app.index, "the builder is deterministic");
    images.push("1", &reg.host, "apps/pinned");
    let m = gap.write(
        "arm.yaml",
        &format!(
            "name: arm\nplatforms: [linux/arm64]\nregistries:\n  docker.io: {{url: \"http://{}\", insecure: true}}\nimages: [\"docker.io/apps/pinned@{}\"]\n",
            reg.host, app.index
        ),
    );
    let arm = gap.create(&m, "arm.bundle", &[]);
    drop(reg);
    gap.import(&arm).ok();
    gap.mirror(&["verify", "--store", gap.store().to_str().unwrap()]).ok();
    let mirror = Mirror::start(&gap.store());
    for arch in ["amd64", "arm64"] {
        let dir = gap.path(&format!("pulled-{arch}"));
        skopeo(&[
            "copy",
            "--quiet",
            "--override-arch",
            arch,
            "--src-tls-verify=false",
            &format!("docker://{}/docker.io/apps/pinned@{}", mirror.host, app.index),
            &format!("dir:{}", dir.display()),
        ])
        .ok();
        assert_eq!(sha256(&std::fs::read(dir.join("manifest.json")).unwrap()), app.manifests[arch]);
    }
    let mut mirror = mirror;
    assert!(mirror.server.terminate());
}

#[test]
fn push_keeps_the_index_and_rewrites_it_only_when_asked() {
    let Site { gap, app, bundle } = site();
    gap.import(&bundle).ok();
    let target = Registry::start();
    let store = gap.store().display().to_string();
    let url = format!("http://{}", target.host);
    let push = |extra: &[&str]| {
        let mut args = vec!["push", "--store", store.as_str(), "--oci", url.as_str(), "--json"];
        args.extend_from_slice(extra);
        gap.mirror(&args)
    };
    // Debian's docker-registry checks every child an index names: the sparse index is refused
    // and the error says what to do.
    let r = push(&[]).fails();
    for needle in ["docker.io/apps/pinned:1", "MANIFEST_BLOB_UNKNOWN", "linux/arm64", "--sparse-index rewrite"] {
        assert!(r.stderr.contains(needle), "the refusal names {needle:?}: {}", r.stderr);
    }
    let s = push(&["--sparse-index", "rewrite"]).ok().json();
    assert!(s["manifests"].as_u64().unwrap() >= 2, "{s}");
    let served: serde_json::Value = serde_json::from_slice(&raw_manifest(&target.host, "docker.io/apps/pinned:1")).unwrap();
    let listed: Vec<&str> = served["manifests"].as_array().unwrap().iter().map(|d| d["digest"].as_str().unwrap()).collect();
    assert_eq!(listed, [app.manifests["amd64"].as_str()], "{served}");
    assert_eq!(served["annotations"]["dev.feas.filtered-from"], app.index.as_str(), "{served}");
    let dir = gap.path("from-target");
    skopeo(&[
        "copy",
        "--quiet",
        "--override-arch",
        "amd64",
        "--src-tls-verify=false",
        &format!("docker://{}/docker.io/apps/pinned:1", target.host),
        &format!("dir:{}", dir.display()),
    ])
    .ok();
    assert_eq!(sha256(&std::fs::read(dir.join("manifest.json")).unwrap()), app.manifests["amd64"]);
}
