//! `mirror client-config KIND --url URL [--out DIR]`: how to point an unmodified client at a
//! running mirror, from what that mirror says it holds.

use std::path::Path;

use anyhow::{bail, Context};

use crate::cli::{ClientConfigArgs, ClientKind};

/// An HTTP client that trusts `--ca` besides the system roots.
fn client(ca: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60));
    if let Some(p) = ca {
        let pem = std::fs::read(p).with_context(|| format!("reading --ca {}", p.display()))?;
        b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).with_context(|| format!("--ca {} is not a PEM certificate", p.display()))?);
    }
    Ok(b.build()?)
}

pub async fn run(args: &ClientConfigArgs) -> anyhow::Result<()> {
    use super::registry_config as reg;
    let url = args.url.trim_end_matches('/');
    let (out, ca) = (args.out.as_deref(), args.ca.as_deref());
    let http = client(ca)?;
    if let Some(done) = crate::ecosystems::client_config(args.kind, &http, url, out).await {
        return done;
    }
    match args.kind {
        ClientKind::Apt => apt(&http, url, out).await,
        ClientKind::Containerd => {
            let files = reg::containerd(url, &reg::registries(&http, url).await?, ca);
            reg::write(out, &files, ca, "on each node: copy containerd/certs.d/* to /etc/containerd/certs.d/ (RKE2: /var/lib/rancher/rke2/agent/etc/containerd/certs.d/ is generated from registries.yaml instead)")
        }
        ClientKind::Rke2 => {
            let f = reg::rke2(url, &reg::registries(&http, url).await?, ca)?;
            reg::write(out, &[f], ca, "on each RKE2 node: copy rke2/registries.yaml (and mirror-ca.crt) to /etc/rancher/rke2/, then restart rke2-server or rke2-agent")
        }
        ClientKind::Podman => {
            let files = reg::podman(url, &reg::registries(&http, url).await?, ca)?;
            reg::write(out, &files, ca, "on each client: copy containers/registries.conf.d/50-mirror.conf to /etc/containers/registries.conf.d/ (and containers/certs.d/* to /etc/containers/certs.d/)")
        }
        ClientKind::Push => {
            let password = match (&args.username, &args.password_env) {
                (Some(_), Some(var)) => Some(std::env::var(var).map_err(|_| anyhow::anyhow!("--password-env {var}: the variable is not set"))?),
                (Some(_), None) => bail!("--username needs --password-env VAR (the writer's password, from the environment)"),
                _ => None,
            };
            let creds = args.username.as_deref().zip(password.as_deref());
            let files = reg::push(url, ca, creds)?;
            reg::write(out, &files, ca, "containerd: copy containerd/certs.d/* to /etc/containerd/certs.d/ and push with `ctr images push --hosts-dir /etc/containerd/certs.d --user USER …`; podman/buildah/skopeo: copy containers/registries.conf.d/60-mirror-push.conf to /etc/containers/registries.conf.d/ and containers/auth.json to $XDG_RUNTIME_DIR/containers/auth.json (or run `podman login`)")
        }
        ClientKind::Docker => reg::write(out, &[reg::docker(url)?], ca, "on each Docker host: merge docker/daemon.json into /etc/docker/daemon.json (with a private CA: mirror-ca.crt to /etc/docker/certs.d/<host:port>/ca.crt), restart dockerd"),
        ClientKind::Pip => write_or_print(args.out.as_deref(), "pip/pip.conf", &pip_conf(url), "on each client: /etc/pip.conf (or PIP_CONFIG_FILE=…)"),
        ClientKind::Uv => write_or_print(args.out.as_deref(), "uv/uv.toml", &uv_toml(url), "on each client: ~/.config/uv/uv.toml or /etc/uv/uv.toml (or UV_CONFIG_FILE=…)"),
        _ => unreachable!("an ecosystem's own client config answered above"),
    }
}

/// pip reads `index-url` from `[global]`; no extra index, so nothing can leak past the gap.
pub fn pip_conf(url: &str) -> String {
    format!("# pip.conf: /etc/pip.conf, ~/.config/pip/pip.conf, or PIP_CONFIG_FILE. Env alternative: PIP_INDEX_URL={url}/pypi/simple/\n[global]\nindex-url = {url}/pypi/simple/\n")
}

pub fn uv_toml(url: &str) -> String {
    format!("# uv.toml: ~/.config/uv/uv.toml or /etc/uv/uv.toml, or UV_CONFIG_FILE. Env alternative: UV_DEFAULT_INDEX={url}/pypi/simple/ (older uv: UV_INDEX_URL)\n[[index]]\nname = \"mirror\"\nurl = \"{url}/pypi/simple/\"\ndefault = true\n")
}

pub(crate) fn write_or_print(out: Option<&Path>, rel: &str, text: &str, hint: &str) -> anyhow::Result<()> {
    match out {
        Some(dir) => {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().expect("has a parent")).with_context(|| format!("creating {}", p.display()))?;
            std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
            eprintln!("wrote {}; {hint}", p.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

pub(crate) async fn get(client: &reqwest::Client, url: &str) -> anyhow::Result<Vec<u8>> {
    let resp = client.get(url).send().await.with_context(|| format!("cannot reach the mirror at {url}; is `mirror serve` running there?"))?;
    if !resp.status().is_success() {
        bail!("{url}: HTTP {}", resp.status());
    }
    Ok(resp.bytes().await.with_context(|| format!("reading {url}"))?.to_vec())
}

/// deb822 `.sources` stanzas with the mirror's key inline (`Signed-By:` accepts an armored
/// block since apt 2.3, i.e. Debian 12 and Ubuntu 22.04), so one file is the whole setup.
pub fn apt_sources(url: &str, listing: &serde_json::Value, armored_key: &str) -> anyhow::Result<String> {
    let sources = listing["sources"].as_array().context("the mirror's /apt/ listing has no `sources`")?;
    if sources.is_empty() {
        bail!("the mirror at {url} holds no apt repository yet; import a bundle with an `apt:` section first");
    }
    let key: Vec<String> = armored_key.trim_end().lines().map(|l| if l.trim().is_empty() { " .".to_string() } else { format!(" {l}") }).collect();
    let mut out = String::new();
    for s in sources {
        let id = s["id"].as_str().context("source without id")?;
        for suite in s["suites"].as_array().into_iter().flatten() {
            let components: Vec<&str> = suite["components"].as_array().into_iter().flatten().filter_map(|c| c.as_str()).collect();
            let archs: Vec<&str> = suite["architectures"].as_array().into_iter().flatten().filter_map(|c| c.as_str()).collect();
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!(
                "Types: deb\nURIs: {url}/apt/{id}\nSuites: {}\nComponents: {}\nArchitectures: {}\nSigned-By:\n{}\n",
                suite["suite"].as_str().context("suite without name")?,
                components.join(" "),
                archs.join(" "),
                key.join("\n")
            ));
        }
    }
    Ok(out)
}

async fn apt(client: &reqwest::Client, url: &str, out: Option<&Path>) -> anyhow::Result<()> {
    let listing: serde_json::Value = serde_json::from_slice(&get(client, &format!("{url}/apt/")).await?).context("the mirror's /apt/ listing is not JSON")?;
    let armored = String::from_utf8(get(client, &format!("{url}/apt/key.asc")).await?).context("the mirror's key is not text")?;
    let sources = apt_sources(url, &listing, &armored)?;
    match out {
        Some(dir) => {
            let dir = dir.join("apt");
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            std::fs::write(dir.join("mirror.sources"), &sources)?;
            std::fs::write(dir.join("mirror.gpg"), get(client, &format!("{url}/apt/key.gpg")).await?)?;
            eprintln!("wrote {0}/mirror.sources and {0}/mirror.gpg; on each client: copy mirror.sources to /etc/apt/sources.list.d/, then `apt-get update`", dir.display());
        }
        None => {
            println!("# /etc/apt/sources.list.d/mirror.sources — the mirror's signing key is inline; then run `apt-get update`.");
            println!("# One-line alternative: curl -fsSL {url}/apt/key.gpg -o /etc/apt/keyrings/mirror.gpg and");
            println!("#   deb [signed-by=/etc/apt/keyrings/mirror.gpg] {url}/apt/<id> <suite> <components>");
            print!("{sources}");
        }
    }
    Ok(())
}
