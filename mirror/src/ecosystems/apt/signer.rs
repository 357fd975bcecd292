//! The mirror's own OpenPGP key for its apt repositories: created on first use in the store,
//! never changed after, exported at `/apt/key.gpg` and `/apt/key.asc`. apt trusts the mirror,
//! not the upstream archives: their signatures were checked on the connected side and the
//! bundle signature carried that trust across.

use std::io::Write;
use std::path::Path;

use pgp::composed::{ArmorOptions, CleartextSignedMessage, Deserializable, DetachedSignature, KeyType, SecretKeyParamsBuilder, SignedPublicKey, SignedSecretKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::ser::Serialize;
use pgp::types::{KeyDetails, Password};

#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("apt signing key {path}: {detail}")]
    Key { path: String, detail: String },
    #[error("signing: {0}")]
    Sign(String),
}

pub struct Signer {
    secret: SignedSecretKey,
    pub public_binary: Vec<u8>,
    pub public_armored: String,
    pub fingerprint: String,
}

impl Signer {
    /// Load the key at `path`, or create it there (atomically: a concurrent creator's key wins).
    pub fn load_or_create(path: &Path) -> Result<Signer, SignerError> {
        let bad = |detail: String| SignerError::Key { path: path.display().to_string(), detail };
        if !path.exists() {
            let key = generate().map_err(|e| bad(format!("cannot generate: {e}")))?;
            let text = key.to_armored_string(ArmorOptions::default()).map_err(|e| bad(e.to_string()))?;
            let dir = path.parent().expect("key path has a parent");
            std::fs::create_dir_all(dir).map_err(|e| bad(e.to_string()))?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| bad(e.to_string()))?;
            tmp.write_all(text.as_bytes()).and_then(|_| tmp.as_file().sync_all()).map_err(|e| bad(e.to_string()))?;
            // persist_noclobber: if another process created it meanwhile, use theirs.
            if let Err(e) = tmp.persist_noclobber(path) {
                if e.error.kind() != std::io::ErrorKind::AlreadyExists {
                    return Err(bad(e.error.to_string()));
                }
            } else {
                tracing::info!("created the mirror's apt signing key {}", path.display());
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let (secret, _) = SignedSecretKey::from_string(&text).map_err(|e| bad(e.to_string()))?;
        let public = SignedPublicKey::from(secret.clone());
        let public_binary = public.to_bytes().map_err(|e| bad(e.to_string()))?;
        let public_armored = public.to_armored_string(ArmorOptions::default()).map_err(|e| bad(e.to_string()))?;
        let fingerprint = public.fingerprint().to_string().to_uppercase();
        Ok(Signer { secret, public_binary, public_armored, fingerprint })
    }

    /// `InRelease`: the Release text clearsigned.
    pub fn clearsign(&self, text: &str) -> Result<String, SignerError> {
        let msg = CleartextSignedMessage::sign(rand::thread_rng(), text, &self.secret.primary_key, &Password::empty()).map_err(|e| SignerError::Sign(e.to_string()))?;
        msg.to_armored_string(ArmorOptions::default()).map_err(|e| SignerError::Sign(e.to_string()))
    }

    /// `Release.gpg`: an armored detached signature.
    pub fn detached(&self, data: &[u8]) -> Result<String, SignerError> {
        let sig = DetachedSignature::sign_binary_data(rand::thread_rng(), &self.secret.primary_key, &Password::empty(), HashAlgorithm::Sha256, data)
            .map_err(|e| SignerError::Sign(e.to_string()))?;
        sig.to_armored_string(ArmorOptions::default()).map_err(|e| SignerError::Sign(e.to_string()))
    }
}

/// An Ed25519 signing key in the v4 "legacy" encoding, which gpgv in every supported Debian
/// and Ubuntu release verifies.
fn generate() -> Result<SignedSecretKey, String> {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let uid = if host.is_empty() { "feas mirror apt signing key".to_string() } else { format!("feas mirror apt signing key ({host})") };
    let params = SecretKeyParamsBuilder::default().key_type(KeyType::Ed25519Legacy).can_certify(true).can_sign(true).primary_user_id(uid).build().map_err(|e| e.to_string())?;
    params.generate(rand::thread_rng()).map_err(|e| e.to_string())
}
