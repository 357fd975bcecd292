//! Issue 5, Helm charts: a stand-in HTTP chart repository (`helm package` + `helm repo index`
//! on a static server) and charts pushed with `helm push` to Debian's docker-registry are
//! bundled (version constraints, a dependency pinned by Chart.lock, the images a chart
//! references) and imported; the real helm then uses the mirror as a chart repository
//! (`repo add/update`, `search`, `pull`, `template`) and as an OCI registry (`pull oci://`),
//! and gets the upstream archives byte for byte. A digest mismatch is refused.

use std::path::Path;
use std::process::Command;

use e2e::helm::Helm;
use e2e::{run, sha256, Gap, ImageBuilder, Mirror, Registry, StaticServer};

fn file_sha(p: &Path) -> String {
    sha256(&std::fs::read(p).unwrap())
}

/// The only .tgz in `dir`.
fn pulled(dir: &Path) -> std::path::PathBuf {
    let tgz: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "tgz")).collect();
    assert_eq!(tgz.len(), 1, "one archive in {}: {tgz:?}", dir.display());
    tgz[0].clone()
}

/// `helm create`'s values with the image pointed at `image` (repository) and `tag`.
fn values_with_image(helm: &Helm, scratch: &Path, repository: &str, tag: &str) -> String {
    let probe = helm.create_chart(&scratch.join("probe"), "probe", "0.0.1", None);
    let v = std::fs::read_to_string(probe.join("values.yaml")).unwrap();
    assert!(v.contains("repository: nginx") && v.contains("tag: \"\""), "helm create's values changed shape:\n{v}");
    v.replacen("repository: nginx", &format!("repository: {repository}"), 1).replacen("tag: \"\"", &format!("tag: \"{tag}\""), 1)
}

#[test]
fn helm_uses_the_mirror_as_chart_repository_and_oci_registry() {
    let gap = Gap::new();
    let helm = Helm::new(gap.dir.path());
    let reg = Registry::start();
    let repo_dir = gap.path("upstream-repo");
    std::fs::create_dir_all(&repo_dir).unwrap();
    let srv = StaticServer::start(&repo_dir);
    let repo_url = srv.url().trim_end_matches('/').to_string();
    let src = gap.path("src");

    // An image the chart references, in the registry.
    let mut images = ImageBuilder::new(&gap.path("layout"));
    images.multi_arch("v1", "shared", "web app");
    images.push("v1", &reg.host, "apps/web");

    // `common` 1.0.0 and 1.0.1 published; `web` depends on ~1.0.0, vendored by `helm
    // dependency update` (Chart.lock pins 1.0.1); 1.0.2 appears later and must not be taken.
    // Every chart's values point at that image (helm create's default is docker.io's nginx,
    // which a loopback-only test cannot fetch with `add_images`).
    // The image is named docker.io/apps/web; the manifest's registries: maps docker.io to the
    // stand-in registry.
    let values = values_with_image(&helm, &src, "docker.io/apps/web", "v1");
    for v in ["1.0.0", "1.0.1"] {
        let c = helm.create_chart(&src.join(format!("common-{v}")), "common", v, Some(&values));
        helm.package(&c, &repo_dir);
    }
    helm.run(&["repo", "index", repo_dir.to_str().unwrap()]).ok();
    let web = helm.create_chart(&src.join("web"), "web", "0.1.0", Some(&values));
    let cy = web.join("Chart.yaml");
    let text = std::fs::read_to_string(&cy).unwrap() + &format!("dependencies:\n  - name: common\n    version: \"~1.0.0\"\n    repository: \"{repo_url}\"\n");
    std::fs::write(&cy, text).unwrap();
    helm.run(&["dependency", "update", web.to_str().unwrap()]).ok();
    assert!(web.join("charts/common-1.0.1.tgz").exists(), "helm vendored common 1.0.1");
    let web_tgz = helm.package(&web, &repo_dir);
    let c = helm.create_chart(&src.join("common-1.0.2"), "common", "1.0.2", Some(&values));
    helm.package(&c, &repo_dir);
    // Relative URLs, as `helm repo index` writes them without --url.
    helm.run(&["repo", "index", repo_dir.to_str().unwrap()]).ok();

    // An OCI chart: 0.2.0 and a 0.3.0 prerelease pushed; `>=0.1.0` takes 0.2.0.
    let mut oci_digest = String::new();
    let mut oci_tgz = std::path::PathBuf::new();
    for v in ["0.2.0", "0.3.0-rc.1"] {
        let c = helm.create_chart(&src.join(format!("oci-{v}")), "ocichart", v, None);
        let t = helm.package(&c, &gap.path("oci-pkgs"));
        let r = helm.run(&["push", t.to_str().unwrap(), &format!("oci://{}/charts", reg.host), "--plain-http"]).ok();
        if v == "0.2.0" {
            let out = format!("{}{}", r.stdout, r.stderr);
            oci_digest = out.split("Digest: ").nth(1).and_then(|s| s.split_whitespace().next()).expect("helm push prints the digest").to_string();
            oci_tgz = t;
        }
    }

    let m = gap.write(
        "charts.yaml",
        &format!(
            "name: charts\nregistries:\n  \"{r}\": {{url: \"http://{r}\", insecure: true}}\n  docker.io: {{url: \"http://{r}\", insecure: true}}\ncharts:\n  - {{repo: \"{repo_url}\", name: web, version: \"^0.1.0\", add_images: true}}\n  - {{ref: \"oci://{r}/charts/ocichart\", version: \">=0.1.0\"}}\n",
            r = reg.host
        ),
    );
    let r = gap.lock(&m).ok();
    let lock: toml::Value = toml::from_str(&std::fs::read_to_string(gap.lock_file()).unwrap()).unwrap();
    let charts = lock["chart"].as_array().unwrap_or_else(|| panic!("no [[chart]] in the lock: {r:?}"));
    let got: Vec<(String, String)> = charts.iter().map(|c| (c["name"].as_str().unwrap().to_string(), c["version"].as_str().unwrap().to_string())).collect();
    assert_eq!(
        got,
        [("common".to_string(), "1.0.1".to_string()), ("ocichart".into(), "0.2.0".into()), ("web".into(), "0.1.0".into())],
        "Chart.lock pins the dependency; prereleases skipped"
    );
    let web_lock = charts.iter().find(|c| c["name"].as_str() == Some("web")).unwrap();
    assert_eq!(web_lock["sha256"].as_str().unwrap(), file_sha(&web_tgz));
    let app = "docker.io/apps/web:v1".to_string();
    assert_eq!(web_lock["images"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>(), [app.as_str()], "the image in values.yaml is found");
    assert!(lock["image"].as_array().unwrap().iter().any(|i| i["name"].as_str() == Some(&app)), "add_images locks the image too");

    let bundle = gap.create(&m, "charts.bundle", &["--locked"]);
    gap.verify(&bundle).ok();
    let inspect = gap.inspect(&bundle);
    let arts = inspect["artifacts"].as_array().unwrap();
    let web_art = arts.iter().find(|a| a["ref"] == "charts/web:0.1.0").unwrap_or_else(|| panic!("{inspect:#}"));
    assert_eq!(web_art["kind"], "helm");
    assert_eq!(web_art["images"][0].as_str().unwrap(), app, "`bundler inspect` lists the images a chart references");
    // Offline from here on.
    drop(srv);
    drop(reg);
    gap.import(&bundle).ok();
    let mirror = Mirror::start(&gap.store());

    // As a chart repository.
    let client = Helm::new(&gap.path("client"));
    client.run(&["repo", "add", "m", &mirror.url("/helm")]).ok();
    client.run(&["repo", "update", "m"]).ok();
    let found = client.run(&["search", "repo", "m/", "--versions", "-o", "json"]).ok().json();
    let mut listed: Vec<String> = found.as_array().unwrap().iter().map(|e| format!("{} {}", e["name"].as_str().unwrap(), e["version"].as_str().unwrap())).collect();
    listed.sort();
    assert_eq!(listed, ["m/common 1.0.1", "m/ocichart 0.2.0", "m/web 0.1.0"]);
    let p1 = gap.path("pull-http");
    std::fs::create_dir_all(&p1).unwrap();
    client.run(&["pull", "m/web", "--version", "0.1.0", "-d", p1.to_str().unwrap()]).ok();
    assert_eq!(file_sha(&pulled(&p1)), file_sha(&web_tgz), "helm pull over HTTP gets the upstream archive");
    let t = client.run(&["template", "x", "m/web", "--version", "0.1.0"]).ok();
    assert!(t.stdout.contains(&format!("image: \"{app}\"")), "helm template renders from the mirror's chart:\n{}", t.stdout);

    // As an OCI registry: the OCI chart keeps its upstream digest; the HTTP one is there too.
    let p2 = gap.path("pull-oci");
    std::fs::create_dir_all(&p2).unwrap();
    let r = client.run(&["pull", &format!("oci://{}/charts/ocichart", mirror.host), "--version", "0.2.0", "--plain-http", "-d", p2.to_str().unwrap()]).ok();
    assert!(format!("{}{}", r.stdout, r.stderr).contains(&oci_digest), "same manifest digest as upstream {oci_digest}: {r:?}");
    assert_eq!(file_sha(&pulled(&p2)), file_sha(&oci_tgz));
    let p3 = gap.path("pull-oci-web");
    std::fs::create_dir_all(&p3).unwrap();
    client.run(&["pull", &format!("oci://{}/charts/web", mirror.host), "--version", "0.1.0", "--plain-http", "-d", p3.to_str().unwrap()]).ok();
    assert_eq!(file_sha(&pulled(&p3)), file_sha(&web_tgz));

    // The referenced image came along (add_images) and is served.
    let insp = run(Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{}/{app}", mirror.host)])).ok();
    assert!(insp.stdout.contains("manifests"), "{insp:?}");

    let cfg = gap.mirror(&["client-config", "helm", "--url", &mirror.url("")]).ok();
    assert!(cfg.stdout.contains(&format!("helm repo add mirror {}", mirror.url("/helm"))), "{}", cfg.stdout);
}

#[test]
fn bad_charts_are_refused_with_nothing_bundled() {
    let gap = Gap::new();
    let helm = Helm::new(gap.dir.path());
    let repo_dir = gap.path("upstream-repo");
    std::fs::create_dir_all(&repo_dir).unwrap();
    let srv = StaticServer::start(&repo_dir);
    let repo_url = srv.url().trim_end_matches('/').to_string();
    let c = helm.create_chart(&gap.path("src"), "web", "0.1.0", None);
    helm.package(&c, &repo_dir);
    helm.run(&["repo", "index", repo_dir.to_str().unwrap()]).ok();
    let index = repo_dir.join("index.yaml");
    let good = std::fs::read_to_string(&index).unwrap();
    let digest = good.split("digest: ").nth(1).unwrap().lines().next().unwrap().trim().to_string();
    std::fs::write(&index, good.replace(&digest, &"0".repeat(64))).unwrap();

    let m = gap.write("c.yaml", &format!("name: c\ncharts:\n  - {{repo: \"{repo_url}\", name: web, version: 0.1.0}}\n"));
    let r = gap.lock(&m).fails();
    assert!(r.stderr.contains("chart web 0.1.0") && r.stderr.contains("digest"), "{}", r.stderr);
    assert!(!gap.lock_file().exists(), "nothing locked");
    let out = gap.path("c.bundle");
    gap.try_create(&m, &out, &gap.key(), &[]).fails();
    assert!(!out.exists(), "nothing bundled");

    std::fs::write(&index, &good).unwrap();
    let m2 = gap.write("c2.yaml", &format!("name: c\ncharts:\n  - {{repo: \"{repo_url}\", name: web, version: \"9.x\"}}\n"));
    gap.lock(&m2).fails_with(&["chart web", "9.x", "0.1.0"]);
    let m3 = gap.write("c3.yaml", &format!("name: c\ncharts:\n  - {{repo: \"{repo_url}\", name: nope}}\n"));
    gap.lock(&m3).fails_with(&["chart nope", "no chart of that name"]);
    let m4 = gap.write("c4.yaml", "name: c\ncharts:\n  - {ref: \"https://example.org/x\"}\n");
    gap.lock(&m4).fails_with(&["oci://"]);
}
