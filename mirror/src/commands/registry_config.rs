//! Registry client configurations: containerd `certs.d/<registry>/hosts.toml`, RKE2/K3s
//! `registries.yaml`, podman/CRI-O `registries.conf.d`, Docker `daemon.json` — one mirror entry
//! for every upstream registry the mirror holds images of (from `/v2/_catalog`), with the CA
//! when the mirror speaks HTTPS with a private one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// A registry host as the first path segment of a repository name (`docker.io/library/x`);
/// `charts/x` and other plain names are the mirror's own.
fn registry_of(repo: &str) -> Option<&str> {
    let first = repo.split('/').next()?;
    (repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost")).then_some(first)
}

/// Upstream registries the mirror holds, from its catalog (every page).
pub async fn registries(client: &reqwest::Client, url: &str) -> anyhow::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut next = Some(format!("{url}/v2/_catalog?n=1000"));
    for _ in 0..1000 {
        let Some(page) = next.take() else { break };
        let resp = super::client_config::fetch(client, &page).await?;
        // `Link: </v2/_catalog?last=…&n=…>; rel="next"`
        next = resp
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| l.split_once('<'))
            .and_then(|(_, r)| r.split_once('>'))
            .map(|(p, _)| format!("{url}{p}"));
        let body: serde_json::Value = resp.json().await.with_context(|| format!("{page} is not a catalog"))?;
        for r in body["repositories"].as_array().into_iter().flatten().filter_map(|r| r.as_str()) {
            if let Some(reg) = registry_of(r) {
                out.insert(reg.to_string());
            }
        }
    }
    if out.is_empty() {
        bail!("the mirror at {url} holds no images yet; import a bundle with `images:` first");
    }
    Ok(out)
}

/// Where a registry's own API lives (containerd's `server`, used only if the mirror fails).
fn upstream(reg: &str) -> String {
    match reg {
        "docker.io" => "https://registry-1.docker.io".into(),
        r => format!("https://{r}"),
    }
}

fn host_of(url: &str) -> anyhow::Result<&str> {
    url.split_once("://").map(|(_, h)| h.trim_end_matches('/')).context("--url must be http://HOST[:PORT] or https://HOST[:PORT]")
}

/// A file to write, relative to `--out`.
pub struct Generated {
    pub rel: PathBuf,
    pub text: String,
}

/// containerd (and RKE2/K3s's embedded containerd) `hosts.toml` per registry; it asks the
/// mirror with `?ns=<registry>`, which the mirror maps to its path-style names.
pub fn containerd(url: &str, regs: &BTreeSet<String>, ca: Option<&Path>) -> Vec<Generated> {
    regs.iter()
        .map(|r| {
            // Relative: containerd resolves it against this hosts.toml's directory.
            let ca_line = ca.map(|_| "  ca = \"mirror-ca.crt\"\n".to_string()).unwrap_or_default();
            let text = format!(
                "# /etc/containerd/certs.d/{r}/hosts.toml — pulls of {r} images go to the mirror.\n# containerd 1.x: set config_path = \"/etc/containerd/certs.d\" under the CRI registry section.\nserver = \"{}\"\n\n[host.\"{url}\"]\n  capabilities = [\"pull\", \"resolve\"]\n{ca_line}",
                upstream(r)
            );
            Generated { rel: PathBuf::from(format!("containerd/certs.d/{r}/hosts.toml")), text }
        })
        .collect()
}

/// Which Rancher distribution a `registries.yaml` is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kube {
    Rke2,
    K3s,
}

impl Kube {
    /// Its directory under /etc/rancher/.
    pub fn dir(self) -> &'static str {
        match self {
            Kube::Rke2 => "rke2",
            Kube::K3s => "k3s",
        }
    }
    /// Its systemd units' prefix.
    pub fn service(self) -> &'static str {
        self.dir()
    }
    /// The port of the embedded registry's API besides 5001 (peer-to-peer): the supervisor's.
    fn supervisor_port(self) -> u16 {
        match self {
            Kube::Rke2 => 9345,
            Kube::K3s => 6443,
        }
    }
}

/// RKE2 (`/etc/rancher/rke2/registries.yaml`) and K3s (`/etc/rancher/k3s/registries.yaml`):
/// a mirror entry per registry held. With `embedded`, the config that turns on the embedded
/// peer-to-peer registry (Spegel; see docs.rke2.io "Embedded Registry Mirror"): every registry
/// listed under `mirrors` is shared between nodes, so containerd asks the other nodes first,
/// then this mirror, and a layer crosses from the mirror about once per cluster.
pub fn rke2(k: Kube, url: &str, regs: &BTreeSet<String>, ca: Option<&Path>, embedded: bool) -> anyhow::Result<Vec<Generated>> {
    let host = host_of(url)?;
    let d = k.dir();
    let mut y = format!("# /etc/rancher/{d}/registries.yaml on every node; restart {d}-server/{d}-agent after changing it.\n");
    if k == Kube::Rke2 {
        y.push_str(&format!(
            "# To pull RKE2's own images from the mirror too: `system-default-registry: {host}` in /etc/rancher/rke2/config.yaml\n# (the mirror serves them under docker.io/rancher/…, so a docker.io mirror below is enough otherwise).\n"
        ));
    }
    if embedded {
        y.push_str(&format!(
            "# With embedded-registry (config.yaml.d/50-embedded-registry.yaml on the servers), each registry listed here is\n# shared between nodes: containerd asks the other nodes first (port 5001 peer-to-peer, {} registry API), then\n# the mirror. Images referred to by the `latest` tag are never taken from peers.\n",
            k.supervisor_port()
        ));
    }
    y.push_str("mirrors:\n");
    for r in regs {
        y.push_str(&format!("  {r}:\n    endpoint:\n      - \"{url}\"\n"));
    }
    if ca.is_some() {
        y.push_str(&format!("configs:\n  \"{host}\":\n    tls:\n      ca_file: /etc/rancher/{d}/mirror-ca.crt\n"));
    }
    let mut out = vec![Generated { rel: PathBuf::from(format!("{d}/registries.yaml")), text: y }];
    if embedded {
        out.push(Generated {
            rel: PathBuf::from(format!("{d}/config.yaml.d/50-embedded-registry.yaml")),
            text: format!(
                "# /etc/rancher/{d}/config.yaml.d/50-embedded-registry.yaml on every SERVER node (a server option: it turns the\n# embedded registry on for the whole cluster; agents refuse it). Nodes must reach each other on TCP 5001 and {}.\nembedded-registry: true\n",
                k.supervisor_port()
            ),
        });
        out.push(Generated {
            rel: PathBuf::from(format!("{d}/config.yaml.d/60-mirror-only.yaml")),
            text: format!(
                "# /etc/rancher/{d}/config.yaml.d/60-mirror-only.yaml on every node: behind an air gap the upstream registries\n# are unreachable, so containerd tries only the other nodes and the mirror instead of waiting on upstream.\ndisable-default-registry-endpoint: true\n"
            ),
        });
    }
    Ok(out)
}

/// podman, buildah, skopeo and CRI-O: each registry remapped to the mirror's path-style name.
pub fn podman(url: &str, regs: &BTreeSet<String>, ca: Option<&Path>) -> anyhow::Result<Vec<Generated>> {
    let host = host_of(url)?;
    let insecure = url.starts_with("http://");
    let mut t = String::from("# /etc/containers/registries.conf.d/50-mirror.conf — pulls go to the mirror.\n");
    for r in regs {
        t.push_str(&format!("\n[[registry]]\nprefix = \"{r}\"\nlocation = \"{host}/{r}\"\n"));
        if insecure {
            t.push_str("insecure = true\n");
        }
    }
    let mut out = vec![Generated { rel: PathBuf::from("containers/registries.conf.d/50-mirror.conf"), text: t }];
    if ca.is_some() {
        // The CA goes to /etc/containers/certs.d/<host:port>/ca.crt, written by `write`.
        out.push(Generated {
            rel: PathBuf::from(format!("containers/certs.d/{host}/README")),
            text: format!("ca.crt here is the mirror's CA: copy this directory to /etc/containers/certs.d/{host}/\n"),
        });
    }
    Ok(out)
}

/// Docker Engine mirrors docker.io only (`registry-mirrors`); other registries are reached by
/// their path-style names on the mirror.
pub fn docker(url: &str) -> anyhow::Result<Generated> {
    let host = host_of(url)?;
    let mut v = serde_json::json!({"registry-mirrors": [url]});
    if url.starts_with("http://") {
        v["insecure-registries"] = serde_json::json!([host]);
    }
    let mut text = serde_json::to_string_pretty(&v).expect("json");
    text.push('\n');
    Ok(Generated { rel: PathBuf::from("docker/daemon.json"), text })
}

/// Write the files under `out` (plus the CA next to each registry's config), or print them.
/// Pushing clients (issue 9): containerd's `certs.d/<mirror>/hosts.toml` with the push
/// capability, a `registries.conf.d` entry for the mirror itself (insecure over plain HTTP) for
/// podman, buildah and skopeo, and their `auth.json` when credentials are given.
pub fn push(url: &str, ca: Option<&Path>, creds: Option<(&str, &str)>) -> anyhow::Result<Vec<Generated>> {
    use base64::Engine;
    let host = host_of(url)?;
    let ca_line = ca.map(|_| "  ca = \"mirror-ca.crt\"\n".to_string()).unwrap_or_default();
    let mut files = vec![
        Generated {
            rel: PathBuf::from(format!("containerd/certs.d/{host}/hosts.toml")),
            text: format!("# /etc/containerd/certs.d/{host}/hosts.toml — push to and pull from the mirror itself\n# (`ctr images push --hosts-dir /etc/containerd/certs.d --user USER {host}/site/app:1`).\nserver = \"{url}\"\n\n[host.\"{url}\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n{ca_line}"),
        },
        Generated {
            rel: PathBuf::from("containers/registries.conf.d/60-mirror-push.conf"),
            text: format!("# /etc/containers/registries.conf.d/60-mirror-push.conf — podman, buildah and skopeo push to {host}/<name>:<tag>.\n[[registry]]\nlocation = \"{host}\"\ninsecure = {}\n", url.starts_with("http://")),
        },
    ];
    if let Some((u, p)) = creds {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        files.push(Generated { rel: PathBuf::from("containers/auth.json"), text: serde_json::to_string_pretty(&serde_json::json!({"auths": {host: {"auth": auth}}}))? + "\n" });
    }
    Ok(files)
}

pub fn write(out: Option<&Path>, files: &[Generated], ca: Option<&Path>, hint: &str) -> anyhow::Result<()> {
    let ca_pem = ca.map(|p| std::fs::read(p).with_context(|| format!("reading --ca {}", p.display()))).transpose()?;
    match out {
        Some(dir) => {
            for f in files {
                let p = dir.join(&f.rel);
                let parent = p.parent().expect("has a parent");
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
                std::fs::write(&p, &f.text).with_context(|| format!("writing {}", p.display()))?;
                if let Some(pem) = &ca_pem {
                    let name = if f.rel.starts_with("containers") { "ca.crt" } else { "mirror-ca.crt" };
                    std::fs::write(parent.join(name), pem).with_context(|| format!("writing the CA next to {}", p.display()))?;
                }
                eprintln!("wrote {}", p.display());
            }
            eprintln!("{hint}");
        }
        None => {
            for f in files {
                println!("# ---- {}", f.rel.display());
                print!("{}", f.text);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_from_repository_names() {
        assert_eq!(registry_of("docker.io/library/postgres"), Some("docker.io"));
        assert_eq!(registry_of("127.0.0.1:5001/x/y"), Some("127.0.0.1:5001"));
        assert_eq!(registry_of("charts/web"), None);
        assert_eq!(registry_of("nvcr.io"), None);
    }

    #[test]
    fn configs_name_every_registry() {
        let regs: BTreeSet<String> = ["docker.io", "nvcr.io"].into_iter().map(String::from).collect();
        let c = containerd("https://m:5000", &regs, Some(Path::new("/x/ca.crt")));
        assert_eq!(c[0].rel, PathBuf::from("containerd/certs.d/docker.io/hosts.toml"));
        assert!(c[0].text.contains("server = \"https://registry-1.docker.io\"") && c[0].text.contains("[host.\"https://m:5000\"]") && c[0].text.contains("mirror-ca.crt"));
        let r = rke2(Kube::Rke2, "https://m:5000", &regs, Some(Path::new("/x/ca.crt")), false).unwrap().remove(0).text;
        assert!(r.contains("  nvcr.io:\n    endpoint:\n      - \"https://m:5000\"") && r.contains("ca_file"));
        let p = podman("http://m:5000", &regs, None).unwrap();
        assert!(p[0].text.contains("prefix = \"nvcr.io\"\nlocation = \"m:5000/nvcr.io\"\ninsecure = true"));
    }
}
