//! Whether a signed bundle may be imported at all: expiry, who owns the name, how far ahead its
//! sequence is, and the per-name sequence rule. Decided from bundle.json alone, before a single
//! blob is read.

use feas_format::bundle::BundleJson;
use feas_format::sign::KeyId;
use feas_format::Digest;

use crate::store::{BundleRecord, HistoryRecord};

/// How far ahead of the mirror's clock a sequence may be. The default sequence is the creation
/// time in seconds and explicit ones are small counters, so either passes; a sequence beyond
/// this would make every later bundle of its name look "older" (up to forever at u64::MAX).
pub const MAX_SEQUENCE_AHEAD: u64 = 366 * 86400;

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Import,
    /// Byte-identical bundle.json to the last import of this name: succeed without work.
    AlreadyImported,
}

/// Why a bundle may not be imported, from bundle.json alone; each says what to do.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum PolicyError {
    #[error("bundle {name} has an unreadable `expires` {expires:?} ({source}); ask the publisher for a new bundle")]
    UnreadableExpiry { name: String, expires: String, source: chrono::ParseError },
    #[error("bundle {name} sequence {sequence} expired at {expires}; ask the publisher for a fresh bundle")]
    Expired { name: String, sequence: u64, expires: String },
    #[error(
        "bundle {name} sequence {sequence} is more than {} days ahead of this mirror's clock (now {now} seconds since 1970): it would make every later bundle of {name} look older. Sequences are the creation time in seconds (the default) or small numbers (--sequence N): ask the publisher to rebuild it with one of those, or check this mirror's clock",
        MAX_SEQUENCE_AHEAD / 86400
    )]
    TooFarAhead { name: String, sequence: u64, now: u64 },
    #[error(
        "bundle {name} belongs to key {owner}, which signed its imports so far (the last: sequence {last} at {last_at}); this one is signed by key {signer}. Another trusted key may not replace a name's content, nor push its sequence out of reach. If {signer} is the name's new publisher, import with --allow-signer-change (the name is then {signer}'s), or give that key the name in a trust file (--trust-file)"
    )]
    SignerChanged { name: String, owner: String, signer: KeyId, last: u64, last_at: String },
    #[error("bundle {name} sequence {sequence} was already imported (at {at}) with different content (bundle.json {was} there, {this} here); a changed bundle needs a new sequence: ask the publisher to rebuild it")]
    SequenceReused { name: String, sequence: u64, at: String, was: Digest, this: Digest },
    #[error(
        "bundle {name} sequence {sequence} is older than sequence {newer} imported at {at}; a stale or replayed bundle is refused: pass --allow-downgrade to roll back on purpose"
    )]
    Downgrade { name: String, sequence: u64, newer: u64, at: String },
}

pub fn check_expiry(b: &BundleJson, now: chrono::DateTime<chrono::Utc>) -> Result<(), PolicyError> {
    let Some(exp) = &b.expires else { return Ok(()) };
    let t = chrono::DateTime::parse_from_rfc3339(exp).map_err(|source| PolicyError::UnreadableExpiry { name: b.name.clone(), expires: exp.clone(), source })?;
    if t < now {
        return Err(PolicyError::Expired { name: b.name.clone(), sequence: b.sequence, expires: exp.clone() });
    }
    Ok(())
}

/// Refuse a sequence more than `MAX_SEQUENCE_AHEAD` beyond `now` (unix seconds).
pub fn check_sequence_ahead(b: &BundleJson, now: u64) -> Result<(), PolicyError> {
    if b.sequence > now.saturating_add(MAX_SEQUENCE_AHEAD) {
        return Err(PolicyError::TooFarAhead { name: b.name.clone(), sequence: b.sequence, now });
    }
    Ok(())
}

/// The key a name belongs to: the signer of its last import, which stores from before signers
/// were recorded find in the history tree. `None`: nobody yet, the next import adopts it.
pub fn owner(prev: Option<&BundleRecord>, history: impl FnOnce() -> Vec<HistoryRecord>) -> Option<String> {
    let prev = prev?;
    if let Some(s) = &prev.signer {
        return Some(s.clone());
    }
    history().into_iter().rev().find(|h| h.bundle_json == prev.bundle_json).map(|h| h.signer).filter(|s| !s.is_empty())
}

/// A name belongs to the key that first imported it: another trusted key may not replace its
/// content unless `allowed` (`--allow-signer-change`, or a trust file giving it the name).
pub fn check_signer(b: &BundleJson, signer: KeyId, owner: Option<&str>, prev: Option<&BundleRecord>, allowed: bool) -> Result<(), PolicyError> {
    let (Some(owner), Some(prev)) = (owner, prev) else { return Ok(()) };
    if owner.eq_ignore_ascii_case(&signer.to_string()) || allowed {
        return Ok(());
    }
    Err(PolicyError::SignerChanged { name: b.name.clone(), owner: owner.to_string(), signer, last: prev.sequence, last_at: prev.imported_at.clone() })
}

/// The sequence rule: newer sequences import; the identical bundle again is a no-op; the same
/// sequence with other content is always refused (two different bundles cannot both be
/// "sequence N"); an older sequence only with `--allow-downgrade`.
pub fn check_sequence(b: &BundleJson, this: &Digest, prev: Option<&BundleRecord>, allow_downgrade: bool) -> Result<Decision, PolicyError> {
    let Some(prev) = prev else { return Ok(Decision::Import) };
    if &prev.bundle_json == this {
        return Ok(Decision::AlreadyImported);
    }
    if b.sequence == prev.sequence {
        return Err(PolicyError::SequenceReused { name: b.name.clone(), sequence: b.sequence, at: prev.imported_at.clone(), was: prev.bundle_json.clone(), this: this.clone() });
    }
    if b.sequence < prev.sequence && !allow_downgrade {
        return Err(PolicyError::Downgrade { name: b.name.clone(), sequence: b.sequence, newer: prev.sequence, at: prev.imported_at.clone() });
    }
    Ok(Decision::Import)
}

#[cfg(test)]
mod tests {
    use super::*;
    use feas_format::bundle::BlobRef;

    fn bundle(seq: u64, expires: Option<&str>) -> BundleJson {
        BundleJson {
            format: 1,
            name: "n".into(),
            sequence: seq,
            created: "2026-01-01T00:00:00Z".into(),
            expires: expires.map(Into::into),
            index: BlobRef { digest: Digest::sha256_of(b"i"), size: 1 },
            blobs: vec![],
            assumed: vec![],
            sbom: None,
            generator: "t".into(),
        }
    }

    #[test]
    fn sequence_rule() {
        let (a, b) = (Digest::sha256_of(b"a"), Digest::sha256_of(b"b"));
        let prev = BundleRecord { sequence: 10, bundle_json: a.clone(), imported_at: "t".into(), sbom: None, signer: None };
        assert_eq!(check_sequence(&bundle(5, None), &a, None, false), Ok(Decision::Import));
        assert_eq!(check_sequence(&bundle(10, None), &a, Some(&prev), false), Ok(Decision::AlreadyImported));
        assert_eq!(check_sequence(&bundle(11, None), &b, Some(&prev), false), Ok(Decision::Import));
        assert!(check_sequence(&bundle(10, None), &b, Some(&prev), true).unwrap_err().to_string().contains("different content"));
        assert!(check_sequence(&bundle(9, None), &b, Some(&prev), false).unwrap_err().to_string().contains("--allow-downgrade"));
        assert_eq!(check_sequence(&bundle(9, None), &b, Some(&prev), true), Ok(Decision::Import));
    }

    #[test]
    fn sequences_far_ahead_are_refused() {
        let now = 1_767_225_600; // 2026-01-01
        for ok in [1, 2, 3, now, now + MAX_SEQUENCE_AHEAD] {
            assert_eq!(check_sequence_ahead(&bundle(ok, None), now), Ok(()), "{ok}");
        }
        for bad in [now + MAX_SEQUENCE_AHEAD + 1, u64::MAX] {
            let e = check_sequence_ahead(&bundle(bad, None), now).unwrap_err().to_string();
            assert!(e.contains(&bad.to_string()) && e.contains("ahead"), "{e}");
        }
        // A mirror clock near the end of time does not overflow.
        assert_eq!(check_sequence_ahead(&bundle(u64::MAX, None), u64::MAX - 1), Ok(()));
    }

    #[test]
    fn a_name_belongs_to_its_first_signer() {
        let (a, b) = (KeyId([1, 0, 0, 0, 0, 0, 0, 0]), KeyId([2, 0, 0, 0, 0, 0, 0, 0]));
        let prev = BundleRecord { sequence: 10, bundle_json: Digest::sha256_of(b"a"), imported_at: "t".into(), sbom: None, signer: Some(a.to_string()) };
        let owner = owner(Some(&prev), Vec::new);
        assert_eq!(owner.as_deref(), Some(a.to_string().as_str()));
        let n = bundle(11, None);
        assert_eq!(check_signer(&n, a, owner.as_deref(), Some(&prev), false), Ok(()));
        let e = check_signer(&n, b, owner.as_deref(), Some(&prev), false).unwrap_err().to_string();
        assert!(e.contains(&a.to_string()) && e.contains(&b.to_string()) && e.contains("--allow-signer-change") && e.contains("--trust-file"), "{e}");
        assert_eq!(check_signer(&n, b, owner.as_deref(), Some(&prev), true), Ok(()));
        // A new name: whoever signs it first.
        assert_eq!(check_signer(&n, b, None, None, false), Ok(()));
    }

    #[test]
    fn old_records_take_their_owner_from_history() {
        // A record written before signers were recorded still decodes.
        let old: BundleRecord = serde_json::from_str(&format!(r#"{{"sequence":3,"bundle_json":"{}","imported_at":"t"}}"#, Digest::sha256_of(b"x"))).unwrap();
        assert_eq!(old.signer, None);
        let h = |json: &[u8], signer: &str| HistoryRecord {
            generation: 1,
            imported_at: "t".into(),
            name: "n".into(),
            sequence: 3,
            bundle_json: Digest::sha256_of(json),
            signer: signer.into(),
            file: String::new(),
            blobs_added: 0,
            bytes_added: 0,
            artifacts: Vec::new(),
            by: None,
        };
        assert_eq!(owner(Some(&old), || vec![h(b"other", "AAAA"), h(b"x", "BBBB"), h(b"y", "CCCC")]).as_deref(), Some("BBBB"));
        // Nothing to go by: the next import adopts the name.
        assert_eq!(owner(Some(&old), Vec::new), None);
        assert_eq!(owner(None, || panic!("no history needed")), None);
    }

    #[test]
    fn expiry() {
        let now = chrono::Utc::now();
        assert!(check_expiry(&bundle(1, None), now).is_ok());
        assert!(check_expiry(&bundle(1, Some("2999-01-01T00:00:00Z")), now).is_ok());
        assert!(check_expiry(&bundle(1, Some("2000-01-01T00:00:00Z")), now).unwrap_err().to_string().contains("expired"));
        assert!(check_expiry(&bundle(1, Some("soon")), now).is_err());
    }
}
