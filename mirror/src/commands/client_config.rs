//! `mirror client-config KIND --url URL [--out DIR]`: how to point an unmodified client at a
//! running mirror, from what that mirror says it holds.

use std::path::Path;

use anyhow::{bail, Context};

use crate::cli::{ClientConfigArgs, ClientKind};

/// An HTTP client that trusts `--ca` besides the system roots, and logs in as `creds` (a
/// mirror started with `--htpasswd` answers readers only).
fn client(ca: Option<&Path>, creds: Option<(&str, &str)>) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60));
    if let Some(p) = ca {
        let pem = std::fs::read(p).with_context(|| format!("reading --ca {}", p.display()))?;
        b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).with_context(|| format!("--ca {} is not a PEM certificate", p.display()))?);
    }
    if let Some((user, password)) = creds {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let mut v = reqwest::header::HeaderValue::from_str(&format!("Basic {token}")).context("--username: not a valid header value")?;
        v.set_sensitive(true);
        b = b.default_headers([(reqwest::header::AUTHORIZATION, v)].into_iter().collect());
    }
    Ok(b.build()?)
}

/// GET `url` from the mirror, naming what went wrong the way an operator fixes it: an
/// untrusted certificate (`--ca`), credentials asked for (`--username`), no server.
pub(crate) async fn fetch(client: &reqwest::Client, url: &str) -> anyhow::Result<reqwest::Response> {
    let resp = match client.get(url).send().await {
        Ok(r) => r,
        Err(e) => {
            let chain = feas_format::term::chain(&anyhow::Error::new(e));
            if ["certificate", "UnknownIssuer", "CaUsedAsEndEntity", "NotValidForName"].iter().any(|n| chain.contains(n)) {
                bail!("{url}: this host does not trust the mirror's TLS certificate ({chain}); pass its CA with --ca (STORE/tls/ca.crt on the mirror host, made by `mirror init`), and use a name the certificate has (`mirror init --add-name` adds one)");
            }
            bail!("cannot reach the mirror at {url} ({chain}); is `mirror serve` running there, on that address and scheme?");
        }
    };
    match resp.status() {
        s if s.is_success() => Ok(resp),
        reqwest::StatusCode::UNAUTHORIZED => {
            bail!("{url}: HTTP 401, the mirror asks for credentials (it runs with --htpasswd): pass --username USER --password-env VAR (a reader's)")
        }
        s => bail!("{url}: HTTP {s}"),
    }
}

pub async fn run(args: &ClientConfigArgs) -> anyhow::Result<()> {
    use super::registry_config as reg;
    let url = args.url.trim_end_matches('/');
    let (out, ca) = (args.out.as_deref(), args.ca.as_deref());
    let password = match (&args.username, &args.password_env) {
        (Some(_), Some(var)) => Some(std::env::var(var).map_err(|_| anyhow::anyhow!("--password-env {var}: the variable is not set"))?),
        (Some(_), None) => bail!("--username needs --password-env VAR (the password, from the environment)"),
        _ => None,
    };
    let creds = args.username.as_deref().zip(password.as_deref());
    let http = client(ca, creds)?;
    if args.embedded_registry && !matches!(args.kind, ClientKind::Rke2 | ClientKind::K3s) {
        bail!("--embedded-registry is for `client-config rke2` and `client-config k3s` (their embedded peer-to-peer registry)");
    }
    if let Some(done) = crate::ecosystems::client_config(args.kind, &http, url, out).await {
        return done;
    }
    match args.kind {
        ClientKind::Containerd => {
            let files = reg::containerd(url, &reg::registries(&http, url).await?, ca);
            reg::write(out, &files, ca, "on each node: copy containerd/certs.d/* to /etc/containerd/certs.d/ (RKE2: /var/lib/rancher/rke2/agent/etc/containerd/certs.d/ is generated from registries.yaml instead)")
        }
        ClientKind::Rke2 | ClientKind::K3s => {
            let k8s = if args.kind == ClientKind::Rke2 { reg::Kube::Rke2 } else { reg::Kube::K3s };
            let files = reg::rke2(k8s, url, &reg::registries(&http, url).await?, ca, args.embedded_registry)?;
            let (d, svc) = (k8s.dir(), k8s.service());
            let hint = if args.embedded_registry {
                format!("on every node: copy {d}/registries.yaml (and mirror-ca.crt) to /etc/rancher/{d}/ and {d}/config.yaml.d/60-mirror-only.yaml to /etc/rancher/{d}/config.yaml.d/; on server nodes also {d}/config.yaml.d/50-embedded-registry.yaml; then restart {svc}-server or {svc}-agent (servers first)")
            } else {
                format!("on each node: copy {d}/registries.yaml (and mirror-ca.crt) to /etc/rancher/{d}/, then restart {svc}-server or {svc}-agent")
            };
            reg::write(out, &files, ca, &hint)
        }
        ClientKind::Podman => {
            let files = reg::podman(url, &reg::registries(&http, url).await?, ca)?;
            reg::write(out, &files, ca, "on each client: copy containers/registries.conf.d/50-mirror.conf to /etc/containers/registries.conf.d/ (and containers/certs.d/* to /etc/containers/certs.d/)")
        }
        ClientKind::Push => {
            let files = reg::push(url, ca, creds)?;
            reg::write(out, &files, ca, "containerd: copy containerd/certs.d/* to /etc/containerd/certs.d/ and push with `ctr images push --hosts-dir /etc/containerd/certs.d --user USER …`; podman/buildah/skopeo: copy containers/registries.conf.d/60-mirror-push.conf to /etc/containers/registries.conf.d/ and containers/auth.json to $XDG_RUNTIME_DIR/containers/auth.json (or run `podman login`)")
        }
        ClientKind::Docker => reg::write(out, &[reg::docker(url)?], ca, "on each Docker host: merge docker/daemon.json into /etc/docker/daemon.json (with a private CA: mirror-ca.crt to /etc/docker/certs.d/<host:port>/ca.crt), restart dockerd"),
        _ => unreachable!("an ecosystem's own client config answered above"),
    }
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
    let resp = fetch(client, url).await?;
    Ok(resp.bytes().await.with_context(|| format!("reading {url}"))?.to_vec())
}
