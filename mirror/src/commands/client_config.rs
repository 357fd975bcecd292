//! `mirror client-config KIND --url URL [--out DIR]`: how to point an unmodified client at a
//! running mirror, from what that mirror says it holds.

use std::path::{Path, PathBuf};

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
    let out = args.out.as_deref();
    let password = match (&args.username, &args.password_env) {
        (Some(_), Some(var)) => Some(std::env::var(var).map_err(|_| anyhow::anyhow!("--password-env {var}: the variable is not set"))?),
        (Some(_), None) => bail!("--username needs --password-env VAR (the password, from the environment)"),
        _ => None,
    };
    let creds = args.username.as_deref().zip(password.as_deref());
    let pem = match &args.ca {
        Some(p) => {
            let pem = std::fs::read_to_string(p).with_context(|| format!("reading --ca {}", p.display()))?;
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                bail!("--ca {} is not a PEM certificate (STORE/tls/ca.crt on the mirror host, made by `mirror init`)", p.display());
            }
            Some(pem)
        }
        None => None,
    };
    if pem.is_some() && url.starts_with("http://") {
        bail!("--ca is for a mirror that serves HTTPS; --url is {url}");
    }
    let access = Access { ca: pem.as_deref(), ca_path: &args.ca_path, creds };
    let http = client(args.ca.as_deref(), creds)?;
    if args.embedded_registry && !matches!(args.kind, ClientKind::Rke2 | ClientKind::K3s) {
        bail!("--embedded-registry is for `client-config rke2` and `client-config k3s` (their embedded peer-to-peer registry)");
    }
    if let Some(done) = crate::ecosystems::client_config(args.kind, &http, url, out, access).await {
        return done;
    }
    let ca = access.ca;
    let login = if creds.is_some() { "" } else { " (a mirror with --htpasswd: add --username/--password-env for the login lines)" };
    match args.kind {
        ClientKind::Containerd => {
            let files = reg::containerd(url, &reg::registries(&http, url).await?, ca);
            let user = if creds.is_some() { "; pull with `ctr images pull --hosts-dir /etc/containerd/certs.d --user USER:PASSWORD …` (the CRI plugin takes credentials from the kubelet's image pull secrets)" } else { "" };
            emit(out, &files, &format!("on each node: copy containerd/certs.d/* to /etc/containerd/certs.d/ (RKE2: /var/lib/rancher/rke2/agent/etc/containerd/certs.d/ is generated from registries.yaml instead){user}"))
        }
        ClientKind::Rke2 | ClientKind::K3s => {
            let k8s = if args.kind == ClientKind::Rke2 { reg::Kube::Rke2 } else { reg::Kube::K3s };
            let files = reg::rke2(k8s, url, &reg::registries(&http, url).await?, access, args.embedded_registry)?;
            let (d, svc) = (k8s.dir(), k8s.service());
            let hint = if args.embedded_registry {
                format!("on every node: copy {d}/registries.yaml (and mirror-ca.crt) to /etc/rancher/{d}/ and {d}/config.yaml.d/60-mirror-only.yaml to /etc/rancher/{d}/config.yaml.d/; on server nodes also {d}/config.yaml.d/50-embedded-registry.yaml; then restart {svc}-server or {svc}-agent (servers first)")
            } else {
                format!("on each node: copy {d}/registries.yaml (and mirror-ca.crt) to /etc/rancher/{d}/, then restart {svc}-server or {svc}-agent")
            };
            emit(out, &files, &format!("{hint}{login}"))
        }
        ClientKind::Podman => {
            let files = reg::podman(url, &reg::registries(&http, url).await?, access)?;
            emit(out, &files, &format!("on each client: copy containers/registries.conf.d/50-mirror.conf to /etc/containers/registries.conf.d/ (and containers/certs.d/* to /etc/containers/certs.d/; containers/auth.json to /etc/containers/auth.json or $XDG_RUNTIME_DIR/containers/auth.json){login}"))
        }
        ClientKind::Push => {
            let files = reg::push(url, ca, creds)?;
            emit(out, &files, "containerd: copy containerd/certs.d/* to /etc/containerd/certs.d/ and push with `ctr images push --hosts-dir /etc/containerd/certs.d --user USER …`; podman/buildah/skopeo: copy containers/registries.conf.d/60-mirror-push.conf to /etc/containers/registries.conf.d/, containers/certs.d/* to /etc/containers/certs.d/ and containers/auth.json to $XDG_RUNTIME_DIR/containers/auth.json (or run `podman login`)")
        }
        ClientKind::Docker => emit(out, &reg::docker(url, ca)?, "on each Docker host: merge docker/daemon.json into /etc/docker/daemon.json (and docker/certs.d/* to /etc/docker/certs.d/), `docker login` when the mirror asks for credentials, restart dockerd"),
        _ => unreachable!("an ecosystem's own client config answered above"),
    }
}

/// One file of a client's setup, relative to `--out`.
pub struct Generated {
    pub rel: PathBuf,
    pub body: Vec<u8>,
    pub kind: FileKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Config,
    /// Holds a password: mode 0600, and said so.
    Secret,
    /// A shell script: 0755 (0700 when it holds a password).
    Script {
        secret: bool,
    },
    /// Written, and only named when printing: the CA (`--ca`), a binary key.
    Quiet,
}

impl Generated {
    pub fn config(rel: impl Into<PathBuf>, text: impl Into<String>) -> Generated {
        Generated { rel: rel.into(), body: text.into().into_bytes(), kind: FileKind::Config }
    }
    /// A config that holds a password when `secret`.
    pub fn holding(rel: impl Into<PathBuf>, text: impl Into<String>, secret: bool) -> Generated {
        Generated { rel: rel.into(), body: text.into().into_bytes(), kind: if secret { FileKind::Secret } else { FileKind::Config } }
    }
    pub fn script(rel: impl Into<PathBuf>, text: impl Into<String>, secret: bool) -> Generated {
        Generated { rel: rel.into(), body: text.into().into_bytes(), kind: FileKind::Script { secret } }
    }
    /// The mirror's CA.
    pub fn ca(rel: impl Into<PathBuf>, pem: &str) -> Generated {
        Generated { rel: rel.into(), body: pem.as_bytes().to_vec(), kind: FileKind::Quiet }
    }
    pub fn quiet(rel: impl Into<PathBuf>, body: Vec<u8>) -> Generated {
        Generated { rel: rel.into(), body, kind: FileKind::Quiet }
    }
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
    fn mode(&self) -> u32 {
        match self.kind {
            FileKind::Config | FileKind::Quiet => 0o644,
            FileKind::Secret => 0o600,
            FileKind::Script { secret: true } => 0o700,
            FileKind::Script { secret: false } => 0o755,
        }
    }
}

/// Writes the files under `out` (then says where each goes: `hint`), or prints them; the CA
/// is not printed, only named.
pub fn emit(out: Option<&Path>, files: &[Generated], hint: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match out {
        Some(dir) => {
            for f in files {
                let p = dir.join(&f.rel);
                let parent = p.parent().expect("has a parent");
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
                // Replaced, not rewritten in place: a file made earlier with a wider mode must not
                // keep it once it holds a password.
                let _ = std::fs::remove_file(&p);
                let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(f.mode()).open(&p).with_context(|| format!("creating {}", p.display()))?;
                file.write_all(&f.body).with_context(|| format!("writing {}", p.display()))?;
                let note = match f.kind {
                    FileKind::Secret | FileKind::Script { secret: true } => " (holds the password: keep it mode 0600, readable by its user only)",
                    _ => "",
                };
                eprintln!("wrote {}{note}", p.display());
            }
            eprintln!("{hint}");
        }
        None => {
            let several = files.len() > 1;
            for f in files {
                if f.kind == FileKind::Quiet {
                    println!("# ---- {} (written with --out DIR)", f.rel.display());
                    continue;
                }
                if several {
                    println!("# ---- {}", f.rel.display());
                }
                print!("{}", f.text());
            }
        }
    }
    Ok(())
}

/// What configs need to reach a mirror with a private CA and read authentication.
#[derive(Clone, Copy)]
pub struct Access<'a> {
    /// The CA's PEM (`--ca`).
    pub ca: Option<&'a str>,
    /// Where clients keep that CA (`--ca-path`), for configs that name it by path.
    pub ca_path: &'a str,
    /// A reader's user name and password, written into the configs.
    pub creds: Option<(&'a str, &'a str)>,
}

impl Access<'_> {
    /// `url` with the credentials in it (`https://user:pass@host/…`, percent-encoded), as pip
    /// and uv take them.
    pub fn url_with_creds(&self, url: &str) -> String {
        use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
        match (self.creds, url.split_once("://")) {
            (Some((u, p)), Some((scheme, rest))) => format!("{scheme}://{}:{}@{rest}", utf8_percent_encode(u, NON_ALPHANUMERIC), utf8_percent_encode(p, NON_ALPHANUMERIC)),
            _ => url.to_string(),
        }
    }
    /// The hint's line about the CA file, when there is one.
    pub fn ca_hint(&self, dir: &str) -> String {
        match self.ca {
            Some(_) => format!("; copy {dir}/mirror-ca.crt to {} on each client", self.ca_path),
            None => String::new(),
        }
    }
}

/// `s` quoted for a POSIX shell.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

pub(crate) async fn get(client: &reqwest::Client, url: &str) -> anyhow::Result<Vec<u8>> {
    let resp = fetch(client, url).await?;
    Ok(resp.bytes().await.with_context(|| format!("reading {url}"))?.to_vec())
}
