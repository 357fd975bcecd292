//! Minisign-compatible ed25519 signatures over `bundle.json`.
//!
//! Keys are minisign key files (so `minisign -G` keys work, with or without `-W`, and
//! `minisign -Vm` verifies our signatures). Secret keys are password-protected by default, in
//! minisign's own format (scrypt, decrypted by the minisign crate). Signing is done here rather
//! than with the minisign crate because that crate adds random noise to every signature, and a
//! bundle must be byte-identical when rebuilt from the same lock; plain ed25519 over the
//! BLAKE2b-512 prehash is deterministic.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use blake2::{Blake2b512, Digest as _};
use ed25519_dalek::Signer;

const SIG_ALG_PREHASHED: &[u8; 2] = b"ED";
const KEY_ALG: &[u8; 2] = b"Ed";
const KDF_SCRYPT: &[u8] = b"Sc";

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("cannot read key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a minisign {what} key: {detail}")]
    BadKey { path: PathBuf, what: &'static str, detail: String },
    #[error("secret key {0} is password-protected and no password was given: pass --password-file FILE, set BUNDLER_KEY_PASSWORD, or run on a terminal to be asked")]
    Encrypted(PathBuf),
    #[error("wrong password for secret key {path} (from {from}); give the password the key was made with")]
    WrongPassword { path: PathBuf, from: String },
    #[error("{0}")]
    Password(String),
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

/// A password and where it came from (named when it turns out wrong).
pub struct Password {
    pub text: String,
    pub from: String,
}

impl SecretKey {
    /// An unencrypted key; a password-protected one is refused as `Encrypted`.
    pub fn load(path: &Path) -> Result<Self, SignError> {
        Self::load_with(path, || Err(SignError::Encrypted(path.into())))
    }

    /// Any minisign secret key; `password` is asked only when the key is encrypted.
    pub fn load_with(path: &Path, password: impl FnOnce() -> Result<Password, SignError>) -> Result<Self, SignError> {
        let text = std::fs::read_to_string(path).map_err(|source| SignError::Io { path: path.into(), source })?;
        let bad = |detail: &str| SignError::BadKey { path: path.into(), what: "secret", detail: detail.into() };
        let line = key_line(&text).ok_or_else(|| bad("no key line"))?;
        let mut raw = B64.decode(line).map_err(|e| bad(&e.to_string()))?;
        // sig_alg(2) kdf_alg(2) chk_alg(2) salt(32) ops(8) mem(8) keynum(8) sk(64) chk(32)
        if raw.len() != 158 || &raw[0..2] != KEY_ALG {
            return Err(bad("unexpected length or algorithm"));
        }
        match &raw[2..4] {
            [0, 0] => {}
            KDF_SCRYPT => {
                let pw = password()?;
                // The crate derives the scrypt stream, decrypts and checks the checksum.
                let sk_box = minisign::SecretKeyBox::from_string(&format!("untrusted comment: \n{line}\n")).map_err(|e| bad(&e.to_string()))?;
                let sk = minisign::SecretKey::from_box(sk_box, Some(pw.text)).map_err(|e| match e.kind() {
                    minisign::ErrorKind::Verify => SignError::WrongPassword { path: path.into(), from: pw.from },
                    _ => bad(&e.to_string()),
                })?;
                raw = sk.to_bytes();
            }
            _ => return Err(bad("unsupported key derivation (minisign knows scrypt only)")),
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
        format!("untrusted comment: signature from bundler secret key\n{}\ntrusted comment: {}\n{}\n", B64.encode(sig_box), trusted_comment, B64.encode(global_sig.to_bytes()))
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
        Self::parse(&text, &path.display().to_string()).map_err(|detail| SignError::BadKey { path: path.into(), what: "public", detail })
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
    let sig_line = signature.lines().nth(1).ok_or_else(|| SignError::BadSignature("missing signature line".into()))?;
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
        trusted: if trusted.is_empty() { "none given".into() } else { trusted.iter().map(|k| format!("{} from {}", k.id, k.source)).collect::<Vec<_>>().join(", ") },
    })?;
    minisign::verify(&key.key, &sig, std::io::Cursor::new(data), true, false, false).map_err(|_| SignError::Invalid(id))?;
    Ok(id)
}

/// `DIR/bundle.key` and `DIR/bundle.pub`, as `keygen` writes them.
pub fn key_files(dir: &Path) -> [PathBuf; 2] {
    [dir.join("bundle.key"), dir.join("bundle.pub")]
}

/// Write `DIR/bundle.key` and `DIR/bundle.pub`: a minisign key pair, the secret key encrypted
/// with `password` (minisign's scrypt format) or, given `None`, unencrypted.
pub fn keygen(dir: &Path, password: Option<&str>) -> Result<(PathBuf, PathBuf, KeyId), SignError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SignError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let [sk_path, pk_path] = key_files(dir);
    for p in [&sk_path, &pk_path] {
        if p.exists() {
            return Err(SignError::Exists(p.clone()));
        }
    }
    let generated = match password {
        Some("") => return Err(SignError::Password("refusing an empty password: it would protect nothing (use --unencrypted to mean that)".into())),
        Some(pw) => minisign::KeyPair::generate_encrypted_keypair(Some(pw.to_string())),
        None => minisign::KeyPair::generate_unencrypted_keypair(),
    };
    let kp = generated.map_err(|e| SignError::BadKey { path: dir.into(), what: "new", detail: e.to_string() })?;
    let comment = if password.is_some() { "minisign encrypted secret key" } else { "minisign unencrypted secret key" };
    let sk_box = kp.sk.to_box(Some(comment)).map_err(|e| SignError::BadKey { path: sk_path.clone(), what: "secret", detail: e.to_string() })?;
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
        let (sk, pk, id) = keygen(dir.path(), None).unwrap();
        let sk = SecretKey::load(&sk).unwrap();
        let pk = PublicKey::load(&pk).unwrap();
        assert_eq!(sk.id(), id);
        let s1 = sk.sign(b"hello", "name:x");
        assert_eq!(s1, sk.sign(b"hello", "name:x"));
        assert_eq!(verify(std::slice::from_ref(&pk), b"hello", &s1).unwrap(), id);
        assert!(matches!(verify(std::slice::from_ref(&pk), b"hellO", &s1), Err(SignError::Invalid(_))));
        let other = tempfile::tempdir().unwrap();
        let (_, opk, _) = keygen(other.path(), None).unwrap();
        let opk = PublicKey::load(&opk).unwrap();
        assert!(matches!(verify(&[opk], b"hello", &s1), Err(SignError::Untrusted { .. })));
        assert!(keygen(dir.path(), None).is_err(), "keygen must not overwrite");
    }

    fn pw(text: &str) -> Result<Password, SignError> {
        Ok(Password { text: text.into(), from: "the test".into() })
    }

    #[test]
    fn encrypted_keys_need_their_password() {
        let dir = tempfile::tempdir().unwrap();
        let (sk, pk, id) = keygen(dir.path(), Some("s3cret")).unwrap();
        let line = key_line(&std::fs::read_to_string(&sk).unwrap()).unwrap().to_string();
        assert_eq!(&B64.decode(&line).unwrap()[2..4], KDF_SCRYPT, "encrypted with scrypt");
        assert!(matches!(SecretKey::load(&sk), Err(SignError::Encrypted(_))));
        let wrong = SecretKey::load_with(&sk, || pw("guess")).err().unwrap();
        assert!(matches!(&wrong, SignError::WrongPassword { .. }), "{wrong}");
        assert!(wrong.to_string().contains(&sk.display().to_string()) && wrong.to_string().contains("the test"));
        let key = SecretKey::load_with(&sk, || pw("s3cret")).unwrap();
        assert_eq!(key.id(), id);
        let pk = PublicKey::load(&pk).unwrap();
        assert_eq!(verify(&[pk], b"data", &key.sign(b"data", "c")).unwrap(), id);
        // An unencrypted key never asks.
        let plain = tempfile::tempdir().unwrap();
        let (sk, _, _) = keygen(plain.path(), None).unwrap();
        SecretKey::load_with(&sk, || panic!("asked for a password")).unwrap();
        assert!(keygen(tempfile::tempdir().unwrap().path(), Some("")).is_err(), "an empty password is refused");
    }

    #[test]
    fn unencrypted_key_without_checksum_loads() {
        // `minisign -G -W` (0.11) leaves the checksum of an unencrypted key zeroed.
        let dir = tempfile::tempdir().unwrap();
        let (sk, _, id) = keygen(dir.path(), None).unwrap();
        let mut raw = B64.decode(key_line(&std::fs::read_to_string(&sk).unwrap()).unwrap()).unwrap();
        raw[126..158].fill(0);
        let w = dir.path().join("w.key");
        std::fs::write(&w, format!("untrusted comment: minisign encrypted secret key\n{}\n", B64.encode(&raw))).unwrap();
        assert_eq!(SecretKey::load(&w).unwrap().id(), id);
    }
}
