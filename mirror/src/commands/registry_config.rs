//! Registry client configurations: containerd `certs.d/<registry>/hosts.toml`, RKE2/K3s
//! `registries.yaml`, podman/CRI-O `registries.conf.d`, Docker `daemon.json` — one mirror entry
//! for every upstream registry the mirror holds images of (from `/v2/_catalog`), with the CA
//! when the mirror speaks HTTPS with a private one.

use std::collections::BTreeSet;

use anyhow::{bail, Context};

use super::client_config::{Access, Generated};

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

/// containerd (and RKE2/K3s's embedded containerd) `hosts.toml` per registry; it asks the
/// mirror with `?ns=<registry>`, which the mirror maps to its path-style names.
pub fn containerd(url: &str, regs: &BTreeSet<String>, ca: Option<&str>) -> Vec<Generated> {
    regs.iter()
        .flat_map(|r| {
            // Relative: containerd resolves it against this hosts.toml's directory.
            let ca_line = ca.map(|_| "  ca = \"mirror-ca.crt\"\n".to_string()).unwrap_or_default();
            let text = format!(
                "# /etc/containerd/certs.d/{r}/hosts.toml — pulls of {r} images go to the mirror.\n# containerd 1.x: set config_path = \"/etc/containerd/certs.d\" under the CRI registry section.\nserver = \"{}\"\n\n[host.\"{url}\"]\n  capabilities = [\"pull\", \"resolve\"]\n{ca_line}",
                upstream(r)
            );
            let mut files = vec![Generated::config(format!("containerd/certs.d/{r}/hosts.toml"), text)];
            files.extend(ca.map(|pem| Generated::ca(format!("containerd/certs.d/{r}/mirror-ca.crt"), pem)));
            files
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
pub fn rke2(k: Kube, url: &str, regs: &BTreeSet<String>, access: Access, embedded: bool) -> anyhow::Result<Vec<Generated>> {
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
    if access.ca.is_some() || access.creds.is_some() {
        y.push_str(&format!("configs:\n  \"{host}\":\n"));
        if let Some((user, password)) = access.creds {
            let q = |s: &str| serde_json::to_string(s).expect("a string");
            y.push_str(&format!("    auth:\n      username: {}\n      password: {}\n", q(user), q(password)));
        }
        if access.ca.is_some() {
            y.push_str(&format!("    tls:\n      ca_file: /etc/rancher/{d}/mirror-ca.crt\n"));
        }
    }
    let mut out = vec![Generated::holding(format!("{d}/registries.yaml"), y, access.creds.is_some())];
    out.extend(access.ca.map(|pem| Generated::ca(format!("{d}/mirror-ca.crt"), pem)));
    if embedded {
        out.push(Generated::config(
            format!("{d}/config.yaml.d/50-embedded-registry.yaml"),
            format!(
                "# /etc/rancher/{d}/config.yaml.d/50-embedded-registry.yaml on every SERVER node (a server option: it turns the\n# embedded registry on for the whole cluster; agents refuse it). Nodes must reach each other on TCP 5001 and {}.\nembedded-registry: true\n",
                k.supervisor_port()
            ),
        ));
        out.push(Generated::config(
            format!("{d}/config.yaml.d/60-mirror-only.yaml"),
            format!(
                "# /etc/rancher/{d}/config.yaml.d/60-mirror-only.yaml on every node: behind an air gap the upstream registries\n# are unreachable, so containerd tries only the other nodes and the mirror instead of waiting on upstream.\ndisable-default-registry-endpoint: true\n"
            ),
        ));
    }
    Ok(out)
}

/// podman, buildah, skopeo and CRI-O: each registry remapped to the mirror's path-style name.
pub fn podman(url: &str, regs: &BTreeSet<String>, access: Access) -> anyhow::Result<Vec<Generated>> {
    let host = host_of(url)?;
    let insecure = url.starts_with("http://");
    let mut t = String::from("# /etc/containers/registries.conf.d/50-mirror.conf — pulls go to the mirror.\n");
    for r in regs {
        t.push_str(&format!("\n[[registry]]\nprefix = \"{r}\"\nlocation = \"{host}/{r}\"\n"));
        if insecure {
            t.push_str("insecure = true\n");
        }
    }
    let mut out = vec![Generated::config("containers/registries.conf.d/50-mirror.conf", t)];
    out.extend(access.ca.map(|pem| Generated::ca(format!("containers/certs.d/{host}/ca.crt"), pem)));
    out.extend(access.creds.map(|c| auth_json(host, c)));
    Ok(out)
}

/// Docker Engine mirrors docker.io only (`registry-mirrors`); other registries are reached by
/// their path-style names on the mirror.
pub fn docker(url: &str, ca: Option<&str>) -> anyhow::Result<Vec<Generated>> {
    let host = host_of(url)?;
    let mut v = serde_json::json!({"registry-mirrors": [url]});
    if url.starts_with("http://") {
        v["insecure-registries"] = serde_json::json!([host]);
    }
    let mut text = serde_json::to_string_pretty(&v).expect("json");
    text.push('\n');
    let mut files = vec![Generated::config("docker/daemon.json", text)];
    files.extend(ca.map(|pem| Generated::ca(format!("docker/certs.d/{host}/ca.crt"), pem)));
    Ok(files)
}

/// `auth.json` for podman, buildah, skopeo and CRI-O: `user`'s login to the mirror.
fn auth_json(host: &str, (user, password): (&str, &str)) -> Generated {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let text = serde_json::to_string_pretty(&serde_json::json!({"auths": {host: {"auth": auth}}})).expect("json") + "\n";
    Generated::holding("containers/auth.json", text, true)
}

/// Pushing clients (issue 9): containerd's `certs.d/<mirror>/hosts.toml` with the push
/// capability, a `registries.conf.d` entry for the mirror itself (insecure over plain HTTP) for
/// podman, buildah and skopeo, and their `auth.json` when credentials are given.
pub fn push(url: &str, ca: Option<&str>, creds: Option<(&str, &str)>) -> anyhow::Result<Vec<Generated>> {
    let host = host_of(url)?;
    let ca_line = ca.map(|_| "  ca = \"mirror-ca.crt\"\n".to_string()).unwrap_or_default();
    let mut files = vec![
        Generated::config(
            format!("containerd/certs.d/{host}/hosts.toml"),
            format!("# /etc/containerd/certs.d/{host}/hosts.toml — push to and pull from the mirror itself\n# (`ctr images push --hosts-dir /etc/containerd/certs.d --user USER {host}/site/app:1`).\nserver = \"{url}\"\n\n[host.\"{url}\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n{ca_line}"),
        ),
        Generated::config(
            "containers/registries.conf.d/60-mirror-push.conf",
            format!("# /etc/containers/registries.conf.d/60-mirror-push.conf — podman, buildah and skopeo push to {host}/<name>:<tag>.\n[[registry]]\nlocation = \"{host}\"\ninsecure = {}\n", url.starts_with("http://")),
        ),
    ];
    if let Some(pem) = ca {
        files.push(Generated::ca(format!("containerd/certs.d/{host}/mirror-ca.crt"), pem));
        files.push(Generated::ca(format!("containers/certs.d/{host}/ca.crt"), pem));
    }
    files.extend(creds.map(|c| auth_json(host, c)));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

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
        let c = containerd("https://m:5000", &regs, Some("PEM"));
        assert_eq!(c[0].rel, PathBuf::from("containerd/certs.d/docker.io/hosts.toml"));
        assert!(c[0].text().contains("server = \"https://registry-1.docker.io\"") && c[0].text().contains("[host.\"https://m:5000\"]") && c[0].text().contains("mirror-ca.crt"));
        let access = Access { ca: Some("PEM"), ca_path: "/ca.crt", creds: Some(("r", "p\"w")) };
        assert_eq!(c[1].rel, PathBuf::from("containerd/certs.d/docker.io/mirror-ca.crt"));
        let r = rke2(Kube::Rke2, "https://m:5000", &regs, access, false).unwrap().remove(0).text().into_owned();
        assert!(r.contains("    auth:\n      username: \"r\"\n      password: \"p\\\"w\"\n"), "{r}");
        assert!(r.contains("  nvcr.io:\n    endpoint:\n      - \"https://m:5000\"") && r.contains("ca_file"));
        let p = podman("http://m:5000", &regs, Access { ca: None, ca_path: "", creds: None }).unwrap();
        assert!(p[0].text().contains("prefix = \"nvcr.io\"\nlocation = \"m:5000/nvcr.io\"\ninsecure = true"));
    }
}
