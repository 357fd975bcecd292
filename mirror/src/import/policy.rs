//! Whether a signed bundle may be imported at all: expiry and the per-name sequence rule.
//! Decided from bundle.json alone, before a single blob is read.

use bundler::format::bundle::BundleJson;
use bundler::format::Digest;

use crate::store::BundleRecord;

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Import,
    /// Byte-identical bundle.json to the last import of this name: succeed without work.
    AlreadyImported,
}

pub fn check_expiry(b: &BundleJson, now: chrono::DateTime<chrono::Utc>) -> Result<(), String> {
    let Some(exp) = &b.expires else { return Ok(()) };
    let t = chrono::DateTime::parse_from_rfc3339(exp).map_err(|e| format!("bundle {} has an unreadable `expires` {exp:?} ({e}); ask the publisher for a new bundle", b.name))?;
    if t < now {
        return Err(format!("bundle {} sequence {} expired at {exp}; ask the publisher for a fresh bundle", b.name, b.sequence));
    }
    Ok(())
}

/// The sequence rule: newer sequences import; the identical bundle again is a no-op; the same
/// sequence with other content is always refused (two different bundles cannot both be
/// "sequence N"); an older sequence only with `--allow-downgrade`.
pub fn check_sequence(b: &BundleJson, this: &Digest, prev: Option<&BundleRecord>, allow_downgrade: bool) -> Result<Decision, String> {
    let Some(prev) = prev else { return Ok(Decision::Import) };
    if &prev.bundle_json == this {
        return Ok(Decision::AlreadyImported);
    }
    if b.sequence == prev.sequence {
        return Err(format!(
            "bundle {} sequence {} was already imported (at {}) with different content (bundle.json {} there, {this} here); a changed bundle needs a new sequence: ask the publisher to rebuild it",
            b.name, b.sequence, prev.imported_at, prev.bundle_json
        ));
    }
    if b.sequence < prev.sequence && !allow_downgrade {
        return Err(format!(
            "bundle {} sequence {} is older than sequence {} imported at {}; a stale or replayed bundle is refused: pass --allow-downgrade to roll back on purpose",
            b.name, b.sequence, prev.sequence, prev.imported_at
        ));
    }
    Ok(Decision::Import)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bundler::format::bundle::BlobRef;

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
        let prev = BundleRecord { sequence: 10, bundle_json: a.clone(), imported_at: "t".into(), sbom: None };
        assert_eq!(check_sequence(&bundle(5, None), &a, None, false), Ok(Decision::Import));
        assert_eq!(check_sequence(&bundle(10, None), &a, Some(&prev), false), Ok(Decision::AlreadyImported));
        assert_eq!(check_sequence(&bundle(11, None), &b, Some(&prev), false), Ok(Decision::Import));
        assert!(check_sequence(&bundle(10, None), &b, Some(&prev), true).unwrap_err().contains("different content"));
        assert!(check_sequence(&bundle(9, None), &b, Some(&prev), false).unwrap_err().contains("--allow-downgrade"));
        assert_eq!(check_sequence(&bundle(9, None), &b, Some(&prev), true), Ok(Decision::Import));
    }

    #[test]
    fn expiry() {
        let now = chrono::Utc::now();
        assert!(check_expiry(&bundle(1, None), now).is_ok());
        assert!(check_expiry(&bundle(1, Some("2999-01-01T00:00:00Z")), now).is_ok());
        assert!(check_expiry(&bundle(1, Some("2000-01-01T00:00:00Z")), now).unwrap_err().contains("expired"));
        assert!(check_expiry(&bundle(1, Some("soon")), now).is_err());
    }
}
