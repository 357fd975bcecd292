//! TLS for `mirror serve`: a certificate the operator gives, or one `mirror init` issues from a
//! CA it generates in the store (clients trust the CA: `client-config` hands it out). Handshakes
//! run in their own tasks, so a slow or hostile client never holds up the accept loop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::store::Paths;

/// A handshake that has not finished by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// Connections finished their handshake but not yet taken by the server.
const BACKLOG: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {detail}")]
    File { path: PathBuf, detail: String },
    #[error("TLS certificate {cert} and key {key} do not make a server configuration: {detail}")]
    Config { cert: PathBuf, key: PathBuf, detail: String },
    #[error("{0} already exists; remove STORE/tls to issue new certificates (clients will need the new CA)")]
    Exists(PathBuf),
    #[error("generating certificates: {0}")]
    Generate(String),
}

/// What `mirror init` wrote.
#[derive(Debug, serde::Serialize)]
pub struct Issued {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub names: Vec<String>,
}

fn write_private(path: &Path, text: &str) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let bad = |e: std::io::Error| TlsError::File { path: path.to_path_buf(), detail: e.to_string() };
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(bad)?;
    f.write_all(text.as_bytes()).map_err(bad)?;
    f.sync_all().map_err(bad)
}

/// Generate a CA and a server certificate for `names` (DNS names or IP addresses) in
/// `STORE/tls/`. The CA key stays there, readable by its owner only, to issue later
/// certificates (`add_names`).
pub fn init(paths: &Paths, names: &[String]) -> Result<Issued, TlsError> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let dir = paths.tls_dir();
    let (ca_path, cert_path, key_path, ca_key_path) = (paths.tls_ca(), paths.tls_cert(), paths.tls_key(), dir.join("ca.key"));
    for p in [&ca_path, &cert_path, &key_path, &ca_key_path] {
        if p.exists() {
            return Err(TlsError::Exists(p.clone()));
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| TlsError::File { path: dir.clone(), detail: e.to_string() })?;
    let gen = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let (from, until) = validity();

    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(gen)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("feas mirror CA ({})", paths.root().display()));
    ca.distinguished_name = dn;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    (ca.not_before, ca.not_after) = (from, until);
    let ca_key = KeyPair::generate().map_err(gen)?;
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = CertifiedIssuer::self_signed(ca, ca_key).map_err(gen)?;
    let (srv_pem, srv_key_pem) = server_cert(names, &issuer)?;

    write_private(&ca_key_path, &ca_key_pem)?;
    write_private(&key_path, &srv_key_pem)?;
    std::fs::write(&cert_path, srv_pem + &issuer.pem()).map_err(|e| TlsError::File { path: cert_path.clone(), detail: e.to_string() })?;
    std::fs::write(&ca_path, issuer.pem()).map_err(|e| TlsError::File { path: ca_path.clone(), detail: e.to_string() })?;
    Ok(Issued { ca: ca_path, cert: cert_path, key: key_path, names: names.to_vec() })
}

/// From the start of last year to ten years on: clocks in a gap drift, and the CA is renewed
/// by hand.
fn validity() -> (time::OffsetDateTime, time::OffsetDateTime) {
    let year = chrono::Datelike::year(&chrono::Utc::now());
    (rcgen::date_time_ymd(year - 1, 1, 1), rcgen::date_time_ymd(year + 10, 1, 1))
}

/// A server certificate for `names`, signed by `issuer`: (its PEM, its key's PEM).
fn server_cert<S: rcgen::SigningKey>(names: &[String], issuer: &rcgen::Issuer<'_, S>) -> Result<(String, String), TlsError> {
    use rcgen::{CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose};
    let gen = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let mut srv = CertificateParams::new(names.to_vec()).map_err(gen)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, names.first().cloned().unwrap_or_else(|| "mirror".into()));
    srv.distinguished_name = dn;
    srv.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    srv.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    (srv.not_before, srv.not_after) = validity();
    let srv_key = KeyPair::generate().map_err(gen)?;
    let cert = srv.signed_by(&srv_key, issuer).map_err(gen)?;
    Ok((cert.pem(), srv_key.serialize_pem()))
}

/// The DNS names and IP addresses the server certificate in `cert` (PEM, leaf first) names.
fn names_in(cert: &Path) -> Result<Vec<String>, TlsError> {
    let bad = |detail: String| TlsError::File { path: cert.to_path_buf(), detail };
    let pem = std::fs::read(cert).map_err(|e| bad(e.to_string()))?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).map_err(|e| bad(format!("not a PEM certificate: {e}")))?;
    let x509 = pem.parse_x509().map_err(|e| bad(format!("not an X.509 certificate: {e}")))?;
    let mut out = Vec::new();
    if let Ok(Some(san)) = x509.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => out.push(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(b) => match b.len() {
                    4 => out.push(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*b).expect("4 bytes")).to_string()),
                    16 => out.push(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).expect("16 bytes")).to_string()),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok(out)
}

/// `mirror init --add-name`: a new server certificate for the names the current one has plus
/// `more`, from the CA `init` made (clients keep trusting it: nothing to hand out again). The
/// new certificate and key replace the old ones by rename, so a crash leaves one pair whole.
pub fn add_names(paths: &Paths, more: &[String]) -> Result<Issued, TlsError> {
    let dir = paths.tls_dir();
    let (ca_path, cert_path, key_path, ca_key_path) = (paths.tls_ca(), paths.tls_cert(), paths.tls_key(), dir.join("ca.key"));
    for p in [&ca_path, &ca_key_path, &cert_path] {
        if !p.exists() {
            return Err(TlsError::File { path: p.clone(), detail: "missing: `--add-name` extends what `mirror init --name …` made; run that first".into() });
        }
    }
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| TlsError::File { path: p.to_path_buf(), detail: e.to_string() });
    let gen = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let ca_key = rcgen::KeyPair::from_pem(&read(&ca_key_path)?).map_err(gen)?;
    let ca_pem = read(&ca_path)?;
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(gen)?;
    let mut names = names_in(&cert_path)?;
    for n in more {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    let (srv_pem, srv_key_pem) = server_cert(&names, &issuer)?;
    let (key_tmp, cert_tmp) = (dir.join("server.key.new"), dir.join("server.crt.new"));
    let _ = std::fs::remove_file(&key_tmp);
    write_private(&key_tmp, &srv_key_pem)?;
    std::fs::write(&cert_tmp, srv_pem + &ca_pem).map_err(|e| TlsError::File { path: cert_tmp.clone(), detail: e.to_string() })?;
    // The key first: a server restarting in between reads the old certificate with a key that
    // does not match it, and refuses to start naming both, rather than serving a wrong pair.
    std::fs::rename(&key_tmp, &key_path).map_err(|e| TlsError::File { path: key_path.clone(), detail: e.to_string() })?;
    std::fs::rename(&cert_tmp, &cert_path).map_err(|e| TlsError::File { path: cert_path.clone(), detail: e.to_string() })?;
    Ok(Issued { ca: ca_path, cert: cert_path, key: key_path, names })
}

/// `mirror init --owner USER`: the store, and everything in it, belongs to the user the
/// service runs as (`deploy/feas-mirror.service`: `feas`), who must read the TLS key and write
/// the store; files keep their modes (the keys stay 0600). Returns the uid and gid.
pub fn chown_store(root: &Path, user: &str) -> Result<(u32, u32), TlsError> {
    let u = nix::unistd::User::from_name(user)
        .map_err(|e| TlsError::File { path: root.to_path_buf(), detail: format!("looking up user {user}: {e}") })?
        .ok_or_else(|| TlsError::File { path: root.to_path_buf(), detail: format!("no user {user:?} on this host (create it first: useradd --system … {user})") })?;
    let (uid, gid) = (u.uid.as_raw(), u.gid.as_raw());
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        std::os::unix::fs::lchown(&p, Some(uid), Some(gid)).map_err(|e| TlsError::File { path: p.clone(), detail: format!("chown to {user}: {e}") })?;
        if p.is_dir() && !p.is_symlink() {
            for e in std::fs::read_dir(&p).map_err(|e| TlsError::File { path: p.clone(), detail: e.to_string() })? {
                stack.push(e.map_err(|e| TlsError::File { path: p.clone(), detail: e.to_string() })?.path());
            }
        }
    }
    Ok((uid, gid))
}

/// A rustls server configuration from PEM files (the certificate file may hold the chain).
pub fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let file_err = |path: &Path, e: rustls_pki_types::pem::Error| TlsError::File { path: path.to_path_buf(), detail: format!("not a PEM file: {e}") };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert).map_err(|e| file_err(cert, e))?.collect::<Result<_, _>>().map_err(|e| file_err(cert, e))?;
    if certs.is_empty() {
        return Err(TlsError::File { path: cert.to_path_buf(), detail: "no CERTIFICATE block".into() });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key_der))
        .map_err(|e| TlsError::Config { cert: cert.to_path_buf(), key: key.to_path_buf(), detail: e.to_string() })?;
    // axum serves HTTP/1.1 here (no http2 feature); offering h2 would break clients that take it.
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// A listener yielding TLS streams: TCP accepts here, handshakes in spawned tasks.
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<tokio::net::TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, cfg: rustls::ServerConfig) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(Arc::new(cfg));
        let (tx, rx) = mpsc::channel(BACKLOG);
        tokio::spawn(async move {
            loop {
                let (sock, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of descriptors and the like: back off instead of spinning.
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    break;
                }
                let (acceptor, conn_tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(sock)).await {
                        Ok(Ok(stream)) => {
                            let _ = conn_tx.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!("TLS handshake with {peer}: {e}"),
                        Err(_) => tracing::debug!("TLS handshake with {peer} timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept task only ends when this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
