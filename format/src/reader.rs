//! Streaming bundle reader shared by `bundler verify` and `mirror import`.
//!
//! The order in the tar is fixed so the signature is checked before any blob is read: a
//! bundle from an untrusted or modified source is refused having consumed only `bundle.json`.
//! Blobs are hashed while they stream to the sink; nothing is unpacked whole.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path};

use super::bundle::{self, BlobRef, BundleJson};
use super::digest::Digest;
use super::hash::HashReader;
use super::sign::{self, KeyId, PublicKey, SignError};

/// bundle.json is read whole before its signature can be checked, so this cap is what an unsigned
/// file may cost. It lists every blob carried or assumed, about 140 bytes each pretty-printed:
/// 32 MiB holds over 200,000 blobs, far more than a real bundle lists.
const MAX_BUNDLE_JSON: u64 = 32 << 20;
const MAX_SIGNATURE: u64 = 64 << 10;
const MAX_INDEX_JSON: u64 = 256 << 20;
const MAX_OCI_LAYOUT: u64 = 4 << 10;
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("reading the bundle failed: {0}")]
    Io(#[from] io::Error),
    #[error("the bundle ends early ({0}): the file is truncated or a split part is missing; copy it again")]
    Truncated(String),
    #[error("not a bundle: {0}")]
    NotABundle(String),
    #[error("tar entry {path:?} escapes the bundle (absolute path or `..`); the bundle is malformed or malicious and was refused")]
    UnsafePath { path: String },
    #[error("tar entry {path:?} is a {kind}; bundles contain regular files only, refused")]
    NotAFile { path: String, kind: String },
    #[error("unexpected tar entry {path:?} {context}; refused")]
    Unexpected { path: String, context: String },
    #[error("bundle.json has no signature entry (bundle.json.minisig must follow it); unsigned bundles are refused")]
    MissingSignature,
    #[error("signature check failed: {0}")]
    Signature(#[from] SignError),
    #[error("bundle.json is not valid: {0}")]
    BadBundleJson(String),
    #[error("bundle.json is {size} bytes, over the {} MiB a bundle.json may have (room for over 200,000 blobs); refused unread: the file is damaged or not a bundle. If it is genuine, ask its publisher to split the manifest into several smaller bundles", MAX_BUNDLE_JSON >> 20)]
    BundleJsonTooLarge { size: u64 },
    #[error("index.json does not match the digest signed in bundle.json (expected {expected}, got {actual}); the bundle was modified")]
    IndexMismatch { expected: Digest, actual: Digest },
    #[error("blob {0} is not listed in the signed bundle.json; refused")]
    UnlistedBlob(Digest),
    #[error("blob {0} appears twice in the bundle; refused")]
    DuplicateBlob(Digest),
    #[error("blob {digest}: its tar header says {header} bytes, the signed bundle.json lists {signed}; the bundle was modified and was refused before any of the blob was written; copy the bundle again from its publisher")]
    BlobHeaderSize { digest: Digest, signed: u64, header: u64 },
    #[error("blob {digest} is damaged: bundle.json lists {expected_size} bytes with that digest, the bundle holds {actual_size} bytes hashing to {actual}; copy the bundle again")]
    BlobMismatch { digest: Digest, expected_size: u64, actual: Digest, actual_size: u64 },
    #[error("{count} blob(s) listed in bundle.json are missing from the bundle (first: {first}); the file is truncated or a part is missing")]
    MissingBlobs { count: usize, first: Digest },
    /// The importer's own rule said no (its error, with its source).
    #[error("refused: {0}")]
    Refused(Box<dyn std::error::Error + Send + Sync>),
}

/// What a reader of a bundle does with its parts. Each call happens only after everything
/// before it verified.
pub trait Sink {
    /// The signature is valid; the sink may still refuse (sequence, expiry, already imported).
    fn on_verified(&mut self, bundle: &BundleJson, bundle_json: &[u8], signer: KeyId) -> Result<(), BundleError>;
    /// index.json, already checked against the digest in bundle.json.
    fn on_index(&mut self, _index: &[u8]) -> Result<(), BundleError> {
        Ok(())
    }
    /// One listed blob. Must read `data` to its end: exactly `blob.size` bytes, the signed size
    /// (a tar header saying otherwise is refused before this is called). The reader checks the
    /// digest after this returns, so what the sink wrote is unverified until `read_bundle` returns Ok.
    fn on_blob(&mut self, blob: &BlobRef, data: &mut dyn Read) -> Result<(), BundleError>;
}

/// Summary of a bundle that read and verified whole.
#[derive(Debug)]
pub struct Verified {
    pub bundle: BundleJson,
    pub bundle_json: Vec<u8>,
    pub signer: KeyId,
    pub index: Vec<u8>,
}

/// Open a bundle stream, transparently decompressing zstd.
pub fn open(r: impl Read + 'static) -> io::Result<Box<dyn Read>> {
    let mut buf = BufReader::with_capacity(256 << 10, r);
    let head = buf.fill_buf()?;
    if head.len() >= 4 && head[..4] == ZSTD_MAGIC {
        Ok(Box::new(zstd::stream::read::Decoder::with_buffer(buf)?))
    } else {
        Ok(Box::new(buf))
    }
}

fn truncated_or(e: io::Error, what: &str) -> BundleError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        BundleError::Truncated(format!("while reading {what}"))
    } else {
        BundleError::Io(e)
    }
}

fn read_small(entry: &mut impl Read, size: u64, max: u64, name: &str) -> Result<Vec<u8>, BundleError> {
    if size > max {
        return Err(BundleError::NotABundle(format!("{name} is {size} bytes, more than the {max} allowed")));
    }
    let mut v = Vec::with_capacity(size as usize);
    entry.take(max + 1).read_to_end(&mut v).map_err(|e| truncated_or(e, name))?;
    if v.len() as u64 != size {
        return Err(BundleError::Truncated(format!("{name} is short")));
    }
    Ok(v)
}

fn check_path(raw: &[u8]) -> Result<String, BundleError> {
    let path = String::from_utf8_lossy(raw).into_owned();
    let p = Path::new(&path);
    if p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir | Component::RootDir | Component::Prefix(_))) {
        return Err(BundleError::UnsafePath { path });
    }
    Ok(path.trim_start_matches("./").to_string())
}

/// Read, verify and hand a whole bundle to `sink`.
pub fn read_bundle(stream: impl Read, trusted: &[PublicKey], sink: &mut dyn Sink) -> Result<Verified, BundleError> {
    let mut archive = tar::Archive::new(stream);
    let mut entries = archive.entries().map_err(|e| truncated_or(e, "the tar stream"))?;

    #[derive(PartialEq)]
    enum Stage {
        Start,
        Signed,
        Layout,
        Index,
    }
    let mut stage = Stage::Start;
    // Raw bytes until the signature over them verifies; only then parsed.
    let mut bundle_json: Option<Vec<u8>> = None;
    let mut signed: Option<(BundleJson, KeyId)> = None;
    let mut index = Vec::new();
    let mut listed: BTreeMap<Digest, u64> = BTreeMap::new();
    let mut seen: BTreeSet<Digest> = BTreeSet::new();

    for entry in entries.by_ref() {
        let mut entry = entry.map_err(|e| truncated_or(e, "a tar header"))?;
        let path = check_path(&entry.path_bytes())?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            // Tolerated only for the blobs directories tools like `tar -c` add.
            if matches!(path.trim_end_matches('/'), "blobs" | "blobs/sha256" | "blobs/sha512") && stage == Stage::Index {
                continue;
            }
            return Err(BundleError::Unexpected { path, context: "(directory)".into() });
        }
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            let kind = format!("{kind:?}").to_lowercase();
            return Err(BundleError::NotAFile { path, kind });
        }
        let size = entry.size();
        match (&stage, path.as_str()) {
            (Stage::Start, bundle::BUNDLE_JSON) if bundle_json.is_none() => {
                if size > MAX_BUNDLE_JSON {
                    return Err(BundleError::BundleJsonTooLarge { size });
                }
                bundle_json = Some(read_small(&mut entry, size, MAX_BUNDLE_JSON, "bundle.json")?);
            }
            (Stage::Start, bundle::SIGNATURE) if bundle_json.is_some() => {
                let sig = read_small(&mut entry, size, MAX_SIGNATURE, "bundle.json.minisig")?;
                let sig = String::from_utf8(sig).map_err(|_| SignError::BadSignature("not UTF-8".into()))?;
                let bytes = bundle_json.as_deref().expect("checked");
                let id = sign::verify(trusted, bytes, &sig)?;
                let parsed: BundleJson = serde_json::from_slice(bytes).map_err(|e| BundleError::BadBundleJson(e.to_string()))?;
                if parsed.format != bundle::FORMAT_VERSION {
                    return Err(BundleError::BadBundleJson(format!(
                        "format {} is not supported by this version (reads {}); upgrade the mirror",
                        parsed.format,
                        bundle::FORMAT_VERSION
                    )));
                }
                for b in &parsed.blobs {
                    listed.insert(b.digest.clone(), b.size);
                }
                sink.on_verified(&parsed, bytes, id)?;
                signed = Some((parsed, id));
                stage = Stage::Signed;
            }
            (Stage::Start, _) if bundle_json.is_some() => return Err(BundleError::MissingSignature),
            (Stage::Start, _) => return Err(BundleError::NotABundle(format!("first entry is {path:?}, expected bundle.json"))),
            (Stage::Signed, bundle::OCI_LAYOUT) => {
                let bytes = read_small(&mut entry, size, MAX_OCI_LAYOUT, "oci-layout")?;
                let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| BundleError::NotABundle(format!("oci-layout is not JSON: {e}")))?;
                if v.get("imageLayoutVersion").and_then(|x| x.as_str()) != Some("1.0.0") {
                    return Err(BundleError::NotABundle("oci-layout lacks imageLayoutVersion 1.0.0".into()));
                }
                stage = Stage::Layout;
            }
            (Stage::Layout, bundle::INDEX_JSON) => {
                let bytes = read_small(&mut entry, size, MAX_INDEX_JSON, "index.json")?;
                let expected = &signed.as_ref().expect("signed").0.index;
                let actual = Digest::of(expected.digest.algorithm(), &bytes);
                if actual != expected.digest || bytes.len() as u64 != expected.size {
                    return Err(BundleError::IndexMismatch { expected: expected.digest.clone(), actual });
                }
                sink.on_index(&bytes)?;
                index = bytes;
                stage = Stage::Index;
            }
            (Stage::Index, p) if p.starts_with(bundle::BLOBS_PREFIX) => {
                let digest = p[bundle::BLOBS_PREFIX.len()..]
                    .replacen('/', ":", 1)
                    .parse::<Digest>()
                    .map_err(|_| BundleError::Unexpected { path: path.clone(), context: "(not a blob name)".into() })?;
                let Some(&expected_size) = listed.get(&digest) else {
                    return Err(BundleError::UnlistedBlob(digest));
                };
                if !seen.insert(digest.clone()) {
                    return Err(BundleError::DuplicateBlob(digest));
                }
                // The header's size is how much the tar stream hands out: a forged one would have
                // the sink write (and fsync) gigabytes before the digest check could refuse them.
                if size != expected_size {
                    return Err(BundleError::BlobHeaderSize { digest, signed: expected_size, header: size });
                }
                let blob = BlobRef { digest: digest.clone(), size: expected_size };
                let mut hr = HashReader::new((&mut entry).take(expected_size), digest.algorithm());
                sink.on_blob(&blob, &mut hr)?;
                let (actual, actual_size) = hr.finish().map_err(|e| truncated_or(e, &path))?;
                if actual_size != expected_size {
                    return Err(BundleError::Truncated(format!("inside {path}")));
                }
                if actual != digest {
                    return Err(BundleError::BlobMismatch { digest, expected_size, actual, actual_size });
                }
            }
            (_, _) => {
                let context = match stage {
                    Stage::Signed => "where oci-layout was expected",
                    Stage::Layout => "where index.json was expected",
                    _ => "after the blobs",
                };
                return Err(BundleError::Unexpected { path, context: context.into() });
            }
        }
    }

    let Some(bundle_json) = bundle_json else {
        return Err(BundleError::NotABundle("empty stream: no bundle.json".into()));
    };
    let Some((bundle, signer)) = signed else {
        return Err(BundleError::MissingSignature);
    };
    if stage != Stage::Index {
        return Err(BundleError::Truncated("index.json never arrived".into()));
    }
    let missing: Vec<&Digest> = listed.keys().filter(|d| !seen.contains(*d)).collect();
    if let Some(first) = missing.first() {
        return Err(BundleError::MissingBlobs { count: missing.len(), first: (*first).clone() });
    }
    Ok(Verified { bundle, bundle_json, signer, index })
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::oci::ImageIndex;
    use crate::sign::{keygen, SecretKey};
    use crate::writer::{BundleWriter, Compression};

    const BLOB: &[u8] = b"ten bytes!";

    /// A trusted key pair; the directory holding it lives as long as the test.
    fn keys() -> (SecretKey, PublicKey, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let (sk, pk, _) = keygen(dir.path(), None).unwrap();
        (SecretKey::load(&sk).unwrap(), PublicKey::load(&pk).unwrap(), dir)
    }

    /// What reached the sink.
    #[derive(Default)]
    struct Seen {
        verified: bool,
        blobs: usize,
        bytes: u64,
    }

    impl Sink for Seen {
        fn on_verified(&mut self, _: &BundleJson, _: &[u8], _: KeyId) -> Result<(), BundleError> {
            self.verified = true;
            Ok(())
        }
        fn on_blob(&mut self, _: &BlobRef, data: &mut dyn Read) -> Result<(), BundleError> {
            self.blobs += 1;
            self.bytes += io::copy(data, &mut io::sink())?;
            Ok(())
        }
    }

    /// A signed bundle carrying BLOB (signed as 10 bytes) whose tar header claims
    /// `header_size` bytes: BLOB then zeros, or BLOB cut short.
    fn bundle_with_blob_header(key: &SecretKey, header_size: u64) -> Vec<u8> {
        let index = ImageIndex::new(vec![]).to_bytes();
        let b = BundleJson {
            format: bundle::FORMAT_VERSION,
            name: "t".into(),
            sequence: 1,
            created: "2026-01-01T00:00:00Z".into(),
            expires: None,
            index: BlobRef { digest: Digest::sha256_of(&index), size: index.len() as u64 },
            blobs: vec![BlobRef { digest: Digest::sha256_of(BLOB), size: BLOB.len() as u64 }],
            assumed: vec![],
            sbom: None,
            generator: "test".into(),
        };
        let sig = key.sign(&b.to_bytes(), &b.trusted_comment());
        let mut w = BundleWriter::new(Vec::new(), Compression::None, 0).unwrap();
        w.write_head(&b, &sig, &index).unwrap();
        w.write_blob(&b.blobs[0].digest, header_size, BLOB.chain(io::repeat(0)).take(header_size)).unwrap();
        w.finish().unwrap()
    }

    /// A tar of `bundle.json` = `json`, then `bundle.json.minisig` = `sig` if given.
    fn head(json: &[u8], sig: Option<&str>) -> Vec<u8> {
        let mut t = tar::Builder::new(Vec::new());
        for (name, data) in [(bundle::BUNDLE_JSON, Some(json)), (bundle::SIGNATURE, sig.map(str::as_bytes))] {
            let Some(data) = data else { continue };
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            t.append_data(&mut h, name, data).unwrap();
        }
        t.into_inner().unwrap()
    }

    #[test]
    fn honest_bundle_reads_whole() {
        let (sk, pk, _dir) = keys();
        let mut seen = Seen::default();
        read_bundle(Cursor::new(bundle_with_blob_header(&sk, BLOB.len() as u64)), &[pk], &mut seen).unwrap();
        assert_eq!((seen.blobs, seen.bytes), (1, BLOB.len() as u64));
    }

    /// A forged header size would make the sink write (and fsync) that many bytes before the
    /// digest check: refused before the sink sees the blob.
    #[test]
    fn blob_header_size_other_than_signed_is_refused_before_the_sink_reads() {
        let (sk, pk, _dir) = keys();
        for header_size in [1 << 20, 5] {
            let mut seen = Seen::default();
            let err = read_bundle(Cursor::new(bundle_with_blob_header(&sk, header_size)), std::slice::from_ref(&pk), &mut seen).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(&Digest::sha256_of(BLOB).to_string()) && msg.contains("tar header") && msg.contains(&header_size.to_string()), "{msg}");
            assert!(seen.verified, "the signature verified first");
            assert_eq!((seen.blobs, seen.bytes), (0, 0), "header of {header_size} bytes: the sink got the blob before the refusal");
        }
    }

    #[test]
    fn bundle_json_is_not_parsed_before_its_signature_verifies() {
        let (sk, pk, _dir) = keys();
        let junk = b"{ not JSON, and not what was signed";
        type Expected = fn(&BundleError) -> bool;
        let cases: [(&str, Vec<u8>, Expected); 3] = [
            ("signature over other bytes", head(junk, Some(&sk.sign(b"other bytes", "c"))), |e| matches!(e, BundleError::Signature(SignError::Invalid(_)))),
            ("no signature entry", head(junk, None), |e| matches!(e, BundleError::MissingSignature)),
            ("malformed signature", head(junk, Some("not a signature")), |e| matches!(e, BundleError::Signature(SignError::BadSignature(_)))),
        ];
        for (what, tar, expected) in cases {
            let mut seen = Seen::default();
            let err = read_bundle(Cursor::new(tar), std::slice::from_ref(&pk), &mut seen).unwrap_err();
            assert!(expected(&err), "{what}: got {err:?}");
            assert!(!seen.verified, "{what}");
        }
        // Signed junk passes the signature and is then refused as JSON.
        let err = read_bundle(Cursor::new(head(junk, Some(&sk.sign(junk, "c")))), &[pk], &mut Seen::default()).unwrap_err();
        assert!(matches!(err, BundleError::BadBundleJson(_)), "{err:?}");
    }

    #[test]
    fn oversized_bundle_json_is_refused_unread() {
        let (_, pk, _dir) = keys();
        // The header alone: the size is refused before a byte of the body is read.
        let mut h = tar::Header::new_ustar();
        h.set_path(bundle::BUNDLE_JSON).unwrap();
        h.set_size((32 << 20) + 1);
        h.set_mode(0o644);
        h.set_cksum();
        let err = read_bundle(Cursor::new(h.as_bytes().to_vec()), &[pk], &mut Seen::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("32 MiB") && msg.contains(&((32u64 << 20) + 1).to_string()) && msg.contains("split"), "{msg}");
    }
}
