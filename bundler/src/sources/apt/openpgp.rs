//! Checking an archive's `InRelease` / `Release.gpg` against the keyring the manifest names
//! (rpgp). Only the text inside a valid signature is ever parsed: anything an attacker adds
//! around a clearsigned block is dropped with the armor.

use std::path::Path;

use pgp::composed::{CleartextSignedMessage, Deserializable, DetachedSignature, SignedPublicKey};
use pgp::packet::Signature;
use pgp::types::KeyDetails;

#[derive(Debug, thiserror::Error)]
pub enum PgpError {
    #[error("cannot read keyring {path}: {detail}")]
    Keyring { path: String, detail: String },
    #[error("{0}")]
    Bad(String),
}

/// The public keys of a keyring file (binary `.gpg` or ASCII-armored `.asc`, one or many keys).
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
    pub path: String,
}

impl Keyring {
    pub fn load(path: &Path) -> Result<Keyring, PgpError> {
        let shown = path.display().to_string();
        let bad = |detail: String| PgpError::Keyring { path: shown.clone(), detail };
        let data = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let keys: Vec<SignedPublicKey> = SignedPublicKey::from_reader_many(&data[..])
            .map_err(|e| bad(e.to_string()))?
            .0
            .filter_map(|k| k.ok())
            .collect();
        if keys.is_empty() {
            return Err(bad("no OpenPGP public key in it".into()));
        }
        Ok(Keyring { keys, path: shown })
    }

    /// The fingerprint of the (primary) key whose primary or subkey made one of `sigs` over `data`.
    fn signer(&self, sigs: &[Signature], data: &[u8]) -> Option<String> {
        let ok = |s: &Signature| {
            self.keys.iter().find(|k| s.verify(&k.primary_key, data).is_ok() || k.public_subkeys.iter().any(|sub| s.verify(&sub.key, data).is_ok()))
        };
        sigs.iter().find_map(ok).map(|k| k.fingerprint().to_string())
    }

    /// Verify a clearsigned document; returns the signed text (LF line ends) and the signer.
    pub fn verify_cleartext(&self, armored: &str) -> Result<(String, String), PgpError> {
        let (msg, _) = CleartextSignedMessage::from_string(armored).map_err(|e| PgpError::Bad(format!("not a clearsigned OpenPGP message: {e}")))?;
        let signer = self
            .signer(msg.signatures(), msg.signed_text().as_bytes())
            .ok_or_else(|| PgpError::Bad(format!("no valid signature by a key in {} (signed by {})", self.path, issuers(msg.signatures()))))?;
        Ok((msg.signed_text().replace("\r\n", "\n"), signer))
    }

    /// Verify a detached signature (binary or armored) over `data`; returns the signer.
    pub fn verify_detached(&self, data: &[u8], signature: &[u8]) -> Result<String, PgpError> {
        let sigs: Vec<DetachedSignature> = DetachedSignature::from_reader_many(signature)
            .map_err(|e| PgpError::Bad(format!("not an OpenPGP signature: {e}")))?
            .0
            .filter_map(|s| s.ok())
            .collect();
        let plain: Vec<_> = sigs.iter().map(|s| s.signature.clone()).collect();
        self.signer(&plain, data)
            .ok_or_else(|| PgpError::Bad(format!("no valid signature by a key in {} (signed by {})", self.path, issuers(&plain))))
    }
}

/// Text of an unverified clearsigned document (`trusted: true`).
pub fn cleartext_unverified(armored: &str) -> Result<String, PgpError> {
    let (msg, _) = CleartextSignedMessage::from_string(armored).map_err(|e| PgpError::Bad(format!("not a clearsigned OpenPGP message: {e}")))?;
    Ok(msg.signed_text().replace("\r\n", "\n"))
}

fn issuers(sigs: &[Signature]) -> String {
    let ids: Vec<String> = sigs
        .iter()
        .flat_map(|s| {
            let fps: Vec<String> = s.issuer_fingerprint().iter().map(|f| f.to_string()).collect();
            if fps.is_empty() {
                s.issuer_key_id().iter().map(|k| format!("key id {k}")).collect()
            } else {
                fps
            }
        })
        .collect();
    if ids.is_empty() {
        "an unnamed key".into()
    } else {
        ids.join(", ")
    }
}
