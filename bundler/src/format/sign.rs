//! Minisign-compatible ed25519 signatures over `bundle.json`.
//!
//! Keys are minisign key files (so `minisign -G -W` keys work and `minisign -Vm` verifies our
//! signatures). Signing is done here rather than with the minisign crate because that crate
//! adds random noise to every signature, and a bundle must be byte-identical when rebuilt
//! from the same lock; plain ed25519 over the BLAKE2b-512 prehash is deterministic.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use blake2::{Blake2b512, Digest as _};
use ed25519_dalek::Signer;

const SIG_ALG_PREHASHED: &[u8; 2] = b"ED";
const KEY_ALG: &[u8; 2] = b"Ed";

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("cannot read key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a minisign {what} key: {detail}")]
    BadKey { path: PathBuf, what: &'static str, detail: String },
    #[error("secret key {0} is password-protected; create an unencrypted key with `bundler keygen` or `minisign -G -W`")]
    Encrypted(PathBuf),
    #[error("signature file is malformed: {0}")]
    BadSignature(String),
    #[error("bundle.json is signed by key {found}, which is not among the trusted keys ({trusted}); import with --trust <the publisher's .pub file>")]
    Untrusted { found: KeyId, trusted: String },
    #[error("signature by key {0} does not match bundle.json: the bundle was modified after signing")]
    Invalid(KeyId),
    #[error("refusing to overwrite existing key {0}")]
    Exists(PathBuf),
}

/// The 8-byte key number minisign prints as 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}
impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn key_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
}

pub struct SecretKey {
    id: KeyId,
    key: ed25519_dalek::SigningKey,
}

impl SecretKey {
    pub fn load(path: &Path) -> Result<Self, SignError> {
        let text = std::fs::read_to_string(path).map_err(|source| SignError::Io { path: path.into(), source })?;
        let bad = |detail: &str| SignError::BadKey { path: path.into(), what: "secret", detail: detail.into() };
        let raw = B64.decode(key_line(&text).ok_or_else(|| bad("no key line"))?).map_err(|e| bad(&e.to_string()))?;
        // sig_alg(2) kdf_alg(2) chk_alg(2) salt(32) ops(8) mem(8) keynum(8) sk(64) chk(32)
        if raw.len() != 158 || &raw[0..2] != KEY_ALG {
            return Err(bad("unexpected length or algorithm"));
        }
        if raw[2..4] != [0, 0] {
            return Err(SignError::Encrypted(path.into()));
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&raw[54..62]);
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&raw[62..94]);
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        if key.verifying_key().as_bytes() != &raw[94..126] {
            return Err(bad("public half does not match the seed"));
        }
        Ok(SecretKey { id: KeyId(id), key })
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    /// A minisign signature file for `data`; deterministic for the same key, data and comment.
    pub fn sign(&self, data: &[u8], trusted_comment: &str) -> String {
        let prehash = Blake2b512::digest(data);
        let sig = self.key.sign(&prehash);
        let mut sig_box = Vec::with_capacity(74);
        sig_box.extend_from_slice(SIG_ALG_PREHASHED);
        sig_box.extend_from_slice(&self.id.0);
        sig_box.extend_from_slice(&sig.to_bytes());
        let mut global = sig.to_bytes().to_vec();
        global.extend_from_slice(trusted_comment.as_bytes());
        let global_sig = self.key.sign(&global);
        format!(
            "untrusted comment: signature from bundler secret key\n{}\ntrusted comment: {}\n{}\n",
            B64.encode(sig_box),
            trusted_comment,
            B64.encode(global_sig.to_bytes())
        )
    }
}

#[derive(Clone)]
pub struct PublicKey {
    pub id: KeyId,
    key: minisign::PublicKey,
    pub source: String,
}

impl PublicKey {
    pub fn load(path: &Path) -> Result<Self, SignError> {
        let text = std::fs::read_to_string(path).map_err(|source| SignError::Io { path: path.into(), source })?;
        Self::parse(&text, &path.display().to_string())
            .map_err(|detail| SignError::BadKey { path: path.into(), what: "public", detail })
    }
    pub fn parse(text: &str, source: &str) -> Result<Self, String> {
        let line = key_line(text).ok_or("no key line")?;
        let key = minisign::PublicKey::from_base64(line).map_err(|e| e.to_string())?;
        let raw = B64.decode(line).map_err(|e| e.to_string())?;
        let mut id = [0u8; 8];
        id.copy_from_slice(&raw[2..10]);
        Ok(PublicKey { id: KeyId(id), key, source: source.into() })
    }
}

/// Verify a minisign signature over `data` against any of `trusted`; returns the signer.
pub fn verify(trusted: &[PublicKey], data: &[u8], signature: &str) -> Result<KeyId, SignError> {
    let sig = minisign::SignatureBox::from_string(signature).map_err(|e| SignError::BadSignature(e.to_string()))?;
    let sig_line = signature
        .lines()
        .nth(1)
        .ok_or_else(|| SignError::BadSignature("missing signature line".into()))?;
    let raw = B64.decode(sig_line.trim()).map_err(|e| SignError::BadSignature(e.to_string()))?;
    if raw.len() != 74 {
        return Err(SignError::BadSignature("unexpected signature length".into()));
    }
    // minisign 0.10 slices the global signature without checking its length (a panic on a
    // short one, found by fuzzing): check it here.
    let global = signature.lines().nth(3).ok_or_else(|| SignError::BadSignature("missing global signature line".into()))?;
    if B64.decode(global.trim()).map_err(|e| SignError::BadSignature(format!("global signature: {e}")))?.len() != 64 {
        return Err(SignError::BadSignature("unexpected global signature length".into()));
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&raw[2..10]);
    let id = KeyId(id);
    let key = trusted.iter().find(|k| k.id == id).ok_or_else(|| SignError::Untrusted {
        found: id,
        trusted: if trusted.is_empty() {
            "none given".into()
        } else {
            trusted.iter().map(|k| format!("{} from {}", k.id, k.source)).collect::<Vec<_>>().join(", ")
        },
    })?;
    minisign::verify(&key.key, &sig, std::io::Cursor::new(data), true, false, false)
        .map_err(|_| SignError::Invalid(id))?;
    Ok(id)
}

/// Write `DIR/bundle.key` and `DIR/bundle.pub` (unencrypted minisign key pair).
pub fn keygen(dir: &Path) -> Result<(PathBuf, PathBuf, KeyId), SignError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SignError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let (sk_path, pk_path) = (dir.join("bundle.key"), dir.join("bundle.pub"));
    for p in [&sk_path, &pk_path] {
        if p.exists() {
            return Err(SignError::Exists(p.clone()));
        }
    }
    let kp = minisign::KeyPair::generate_unencrypted_keypair()
        .map_err(|e| SignError::BadKey { path: dir.into(), what: "new", detail: e.to_string() })?;
    let sk_box = kp.sk.to_box(None).map_err(|e| SignError::BadKey { path: sk_path.clone(), what: "secret", detail: e.to_string() })?;
    let pk_box = kp.pk.to_box().map_err(|e| SignError::BadKey { path: pk_path.clone(), what: "public", detail: e.to_string() })?;
    write_private(&sk_path, sk_box.to_string().as_bytes()).map_err(io(&sk_path))?;
    std::fs::write(&pk_path, pk_box.to_string()).map_err(io(&pk_path))?;
    let id = PublicKey::load(&pk_path)?.id;
    Ok((sk_path, pk_path, id))
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    opts.open(path)?.write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_roundtrip_and_determinism() {
        let dir = tempfile::tempdir().unwrap();
        let (sk, pk, id) = keygen(dir.path()).unwrap();
        let sk = SecretKey::load(&sk).unwrap();
        let pk = PublicKey::load(&pk).unwrap();
        assert_eq!(sk.id(), id);
        let s1 = sk.sign(b"hello", "name:x");
        assert_eq!(s1, sk.sign(b"hello", "name:x"));
        assert_eq!(verify(std::slice::from_ref(&pk), b"hello", &s1).unwrap(), id);
        assert!(matches!(verify(std::slice::from_ref(&pk), b"hellO", &s1), Err(SignError::Invalid(_))));
        let other = tempfile::tempdir().unwrap();
        let (_, opk, _) = keygen(other.path()).unwrap();
        let opk = PublicKey::load(&opk).unwrap();
        assert!(matches!(verify(&[opk], b"hello", &s1), Err(SignError::Untrusted { .. })));
        assert!(keygen(dir.path()).is_err(), "keygen must not overwrite");
    }
}
