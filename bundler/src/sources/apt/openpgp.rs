//! Checking an archive's `InRelease` / `Release.gpg` against the keyring the manifest names
//! (rpgp). Only the text inside a valid signature is ever parsed: anything an attacker adds
//! around a clearsigned block is dropped with the armor. A signature counts only if the key
//! (and the subkey) that made it is usable now — bound, not expired, not revoked — as apt's
//! gpgv judges it (EXPKEYSIG, REVKEYSIG and EXPSIG are refused there too).

use std::path::Path;

use pgp::composed::{CleartextSignedMessage, Deserializable, DetachedSignature, SignedPublicKey, SignedPublicSubKey};
use pgp::packet::{Signature, SignatureType};
use pgp::types::{KeyDetails, Tag, Timestamp};

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
        let keys: Vec<SignedPublicKey> = SignedPublicKey::from_reader_many(&data[..]).map_err(|e| bad(e.to_string()))?.0.filter_map(|k| k.ok()).collect();
        if keys.is_empty() {
            return Err(bad("no OpenPGP public key in it".into()));
        }
        Ok(Keyring { keys, path: shown })
    }

    /// The fingerprint of the (primary) key whose primary or subkey made one of `sigs` over
    /// `data` and is usable at `now`. Signatures by keys that are not usable are named, with
    /// why, in the error when no signature counts.
    fn signer(&self, sigs: &[Signature], data: &[u8], now: Timestamp) -> Result<String, PgpError> {
        let mut unusable = Vec::new();
        for sig in sigs {
            for k in &self.keys {
                let primary = format!("{:X}", k.fingerprint());
                let made_by = if sig.verify(&k.primary_key, data).is_ok() {
                    Some(primary_usable(k, now).map_err(|why| format!("key {primary} {why}")))
                } else {
                    k.public_subkeys.iter().filter(|sub| sig.verify(&sub.key, data).is_ok()).find_map(|sub| {
                        let sub_fpr = format!("{:X}", sub.key.fingerprint());
                        // A subkey without a valid binding is not part of the key at all.
                        let state = subkey_usable(k, sub, now)?;
                        Some(
                            primary_usable(k, now)
                                .map_err(|why| format!("key {primary} {why}"))
                                .and_then(|()| state.map_err(|why| format!("subkey {sub_fpr} of key {primary} {why}"))),
                        )
                    })
                };
                match made_by.map(|state| state.and_then(|()| signature_current(sig, now).map_err(|why| format!("the signature by key {primary} {why}")))) {
                    Some(Ok(())) => return Ok(primary),
                    Some(Err(why)) => unusable.push(why),
                    None => {}
                }
            }
        }
        if unusable.is_empty() {
            return Err(PgpError::Bad(format!("no valid signature by a key in {} (signed by {})", self.path, issuers(sigs))));
        }
        Err(PgpError::Bad(format!("signed only by keys apt refuses too: {}; get the archive's current key into {}", unusable.join("; "), self.path)))
    }

    /// Verify a clearsigned document; returns the signed text (LF line ends) and the signer.
    pub fn verify_cleartext(&self, armored: &str) -> Result<(String, String), PgpError> {
        self.verify_cleartext_at(armored, Timestamp::now())
    }

    fn verify_cleartext_at(&self, armored: &str, now: Timestamp) -> Result<(String, String), PgpError> {
        let (msg, _) = CleartextSignedMessage::from_string(armored).map_err(|e| PgpError::Bad(format!("not a clearsigned OpenPGP message: {e}")))?;
        let signer = self.signer(msg.signatures(), msg.signed_text().as_bytes(), now)?;
        Ok((msg.signed_text().replace("\r\n", "\n"), signer))
    }

    /// Verify a detached signature (binary or armored) over `data`; returns the signer.
    pub fn verify_detached(&self, data: &[u8], signature: &[u8]) -> Result<String, PgpError> {
        self.verify_detached_at(data, signature, Timestamp::now())
    }

    fn verify_detached_at(&self, data: &[u8], signature: &[u8], now: Timestamp) -> Result<String, PgpError> {
        let sigs: Vec<DetachedSignature> =
            DetachedSignature::from_reader_many(signature).map_err(|e| PgpError::Bad(format!("not an OpenPGP signature: {e}")))?.0.filter_map(|s| s.ok()).collect();
        let plain: Vec<_> = sigs.iter().map(|s| s.signature.clone()).collect();
        self.signer(&plain, data, now)
    }
}

fn date(t: u64) -> String {
    chrono::DateTime::from_timestamp(i64::try_from(t).unwrap_or(i64::MAX), 0).map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_else(|| format!("{t} s after 1970"))
}

/// Err("expired on …") when `created` plus the expiry that `sig` gives (none or 0: never) is past.
fn check_expiry(created: Timestamp, sig: Option<&Signature>, now: Timestamp) -> Result<(), String> {
    let Some(secs) = sig.and_then(Signature::key_expiration_time).map(|d| std::time::Duration::from(d).as_secs()).filter(|s| *s > 0) else {
        return Ok(());
    };
    let end = u64::from(created.as_secs()) + secs;
    if end <= u64::from(now.as_secs()) {
        return Err(format!("expired on {} (apt: EXPKEYSIG)", date(end)));
    }
    Ok(())
}

fn revoked(sig: &Signature) -> String {
    use pgp::packet::RevocationCode;
    let reason = sig.revocation_reason_string().map(|r| String::from_utf8_lossy(r).trim().to_string()).filter(|r| !r.is_empty());
    let code = sig.revocation_reason_code().and_then(|c| match c {
        RevocationCode::NoReason => None,
        RevocationCode::KeySuperseded => Some("superseded".to_string()),
        RevocationCode::KeyCompromised => Some("compromised".to_string()),
        RevocationCode::KeyRetired => Some("retired".to_string()),
        other => Some(format!("{other:?}")),
    });
    match (code, reason) {
        (Some(c), Some(r)) => format!("was revoked ({c}: {r}) (apt: REVKEYSIG)"),
        (Some(c), None) => format!("was revoked ({c}) (apt: REVKEYSIG)"),
        (None, Some(r)) => format!("was revoked ({r}) (apt: REVKEYSIG)"),
        (None, None) => "was revoked (apt: REVKEYSIG)".into(),
    }
}

/// The newest of `sigs` by creation time.
fn newest<'a>(sigs: impl Iterator<Item = &'a Signature>) -> Option<&'a Signature> {
    sigs.max_by_key(|s| s.created().map(Timestamp::as_secs).unwrap_or(0))
}

/// Whether the primary key is usable at `now`: no valid revocation, and not past the expiry its
/// newest valid self-signature (user ID certification or direct key signature) gives.
fn primary_usable(k: &SignedPublicKey, now: Timestamp) -> Result<(), String> {
    if let Some(r) = k.details.revocation_signatures.iter().find(|s| s.typ() == Some(SignatureType::KeyRevocation) && s.verify_key(&k.primary_key).is_ok()) {
        return Err(revoked(r));
    }
    let certifications = k.details.users.iter().flat_map(|u| {
        u.signatures.iter().filter(move |s| {
            matches!(s.typ(), Some(SignatureType::CertGeneric | SignatureType::CertPersona | SignatureType::CertCasual | SignatureType::CertPositive))
                && s.verify_certification(&k.primary_key, Tag::UserId, &u.id).is_ok()
        })
    });
    let direct = k.details.direct_signatures.iter().filter(|s| s.verify_key(&k.primary_key).is_ok());
    check_expiry(k.primary_key.created_at(), newest(certifications.chain(direct)), now)
}

/// `None` if `sub` has no valid binding to `k` (with the back signature a signing subkey
/// needs): it is then not part of the key. Else whether it is usable for signing at `now`.
fn subkey_usable(k: &SignedPublicKey, sub: &SignedPublicSubKey, now: Timestamp) -> Option<Result<(), String>> {
    let bindings = sub.signatures.iter().filter(|s| {
        s.typ() == Some(SignatureType::SubkeyBinding)
            && s.verify_subkey_binding(&k.primary_key, &sub.key).is_ok()
            && s.embedded_signature().is_some_and(|back| back.verify_primary_key_binding(&sub.key, &k.primary_key).is_ok())
    });
    let binding = newest(bindings)?;
    if let Some(r) = sub.signatures.iter().find(|s| s.typ() == Some(SignatureType::SubkeyRevocation) && s.verify_subkey_binding(&k.primary_key, &sub.key).is_ok()) {
        return Some(Err(revoked(r)));
    }
    if !binding.key_flags().sign() {
        return Some(Err("is not a signing subkey".into()));
    }
    Some(check_expiry(sub.key.created_at(), Some(binding), now))
}

/// Err when the signature itself carries an expiry that is past (apt: EXPSIG).
fn signature_current(sig: &Signature, now: Timestamp) -> Result<(), String> {
    let (Some(created), Some(secs)) = (sig.created(), sig.signature_expiration_time().map(|d| std::time::Duration::from(d).as_secs()).filter(|s| *s > 0)) else {
        return Ok(());
    };
    let end = u64::from(created.as_secs()) + secs;
    if end <= u64::from(now.as_secs()) {
        return Err(format!("expired on {} (apt: EXPSIG)", date(end)));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    //! Fixtures made by `testdata/gen.sh` with gpg at faked 2020 times: each key signed
    //! `Release` (InRelease and Release.gpg) while valid; gpgv says GOODSIG, EXPKEYSIG or
    //! REVKEYSIG for them today as the names say.
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sources/apt/testdata").join(name)
    }

    /// (keyring, its primary fingerprint, its subkey fingerprints) of `<name>.key.asc`.
    fn keyring(name: &str) -> (Keyring, String, Vec<String>) {
        let k = Keyring::load(&fixture(&format!("{name}.key.asc"))).unwrap();
        let primary = format!("{:X}", k.keys[0].fingerprint());
        let subs = k.keys[0].public_subkeys.iter().map(|s| format!("{:X}", s.key.fingerprint())).collect();
        (k, primary, subs)
    }

    /// Both signature forms of `<name>` checked at `now`: the signer, or both errors (equal).
    fn check(k: &Keyring, name: &str, now: Timestamp) -> Result<String, String> {
        let inr = std::fs::read_to_string(fixture(&format!("{name}.inrelease"))).unwrap();
        let release = std::fs::read_to_string(fixture("Release")).unwrap();
        let det = std::fs::read(fixture(&format!("{name}.release.gpg"))).unwrap();
        let a = k.verify_cleartext_at(&inr, now).map(|(text, signer)| {
            // The cleartext framework's signed text has no final line end.
            assert_eq!(text.trim_end(), release.trim_end());
            signer
        });
        let b = k.verify_detached_at(release.as_bytes(), &det, now);
        match (a, b) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b);
                Ok(a)
            }
            (Err(a), Err(b)) => {
                assert_eq!(a.to_string(), b.to_string());
                Err(a.to_string())
            }
            (a, b) => panic!("InRelease and Release.gpg disagree: {a:?} / {b:?}"),
        }
    }

    /// 2020-06-02: after every fixture signature, before any expiry or revocation took effect
    /// (revocations count whenever they were made).
    fn mid_2020() -> Timestamp {
        Timestamp::from_secs(1_591_056_000)
    }

    #[test]
    fn a_valid_key_verifies() {
        let (k, fpr, _) = keyring("valid");
        assert_eq!(check(&k, "valid", Timestamp::now()), Ok(fpr));
        let (other, _, _) = keyring("expired");
        let e = check(&other, "valid", Timestamp::now()).unwrap_err();
        assert!(e.contains("no valid signature"), "{e}");
    }

    #[test]
    fn an_expired_key_is_refused_naming_it_and_when() {
        let (k, fpr, _) = keyring("expired");
        assert_eq!(check(&k, "expired", mid_2020()), Ok(fpr.clone()), "valid while it was");
        let e = check(&k, "expired", Timestamp::now()).unwrap_err();
        assert!(e.contains(&format!("key {fpr} expired on 2020-12-31")) && e.contains("EXPKEYSIG") && e.contains("expired.key.asc"), "{e}");
    }

    #[test]
    fn a_revoked_key_is_refused_naming_it_and_why() {
        let (k, fpr, _) = keyring("revoked");
        let e = check(&k, "revoked", Timestamp::now()).unwrap_err();
        assert!(e.contains(&format!("key {fpr} was revoked")) && e.contains("REVKEYSIG"), "{e}");
        assert!(check(&k, "revoked", mid_2020()).is_err(), "a revocation counts whenever it was made");
    }

    #[test]
    fn an_expired_or_revoked_signing_subkey_is_refused() {
        let (k, fpr, subs) = keyring("subexp");
        assert_eq!(check(&k, "subexp", mid_2020()), Ok(fpr.clone()), "the subkey signs for its primary");
        let e = check(&k, "subexp", Timestamp::now()).unwrap_err();
        assert!(e.contains(&format!("subkey {} of key {fpr} expired on 2020-12-31", subs[0])), "{e}");
        let (k, fpr, subs) = keyring("subrev");
        let e = check(&k, "subrev", Timestamp::now()).unwrap_err();
        assert!(e.contains(&format!("subkey {} of key {fpr} was revoked (retired: retired in a test)", subs[0])), "{e}");
    }
}
