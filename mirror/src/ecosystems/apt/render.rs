//! One suite's indexes, rendered from the store: a Packages file per component and
//! architecture (plain, gzip, xz), and the Release file listing their sizes and hashes.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use axum::body::Bytes;
use feas_format::Digest;

use super::{DebRecord, SuiteInfo};

/// Everything under `dists/<suite>/`, keyed by path below it.
pub struct Rendered {
    /// `Bytes`: every response shares the rendered index instead of copying it.
    pub files: BTreeMap<String, Bytes>,
    /// `<component>/binary-<arch>/by-hash/SHA256/<hex>` → the index file of that hash, as
    /// `Acquire-By-Hash` clients fetch what the Release they read lists.
    pub by_hash: HashMap<String, Bytes>,
}

/// Size and SHA-256 of each index file, by path below `dists/<suite>/`: what Release lists.
pub type Hashes = BTreeMap<String, (usize, Digest)>;

/// The index files' sizes and hashes, and their by-hash paths.
pub fn hashes(files: &BTreeMap<String, Bytes>) -> (Hashes, HashMap<String, Bytes>) {
    let (mut hashes, mut by_hash) = (Hashes::new(), HashMap::new());
    for (path, data) in files {
        let d = Digest::sha256_of(data);
        let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
        by_hash.insert(format!("{dir}/by-hash/SHA256/{}", d.hex()), data.clone());
        hashes.insert(path.clone(), (data.len(), d));
    }
    (hashes, by_hash)
}

/// Packages text: stanzas separated by blank lines, each ending in a newline.
pub fn packages(debs: &[DebRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(debs.iter().map(|d| d.stanza.len() + 2).sum());
    for d in debs {
        out.extend_from_slice(d.stanza.trim_end_matches('\n').as_bytes());
        out.extend_from_slice(b"\n\n");
    }
    out
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("in-memory write");
    e.finish().expect("in-memory write")
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    // Preset 1: a 50,000-package index (30 MB) took ~8 s at preset 6, on the first request after
    // each import; at 1 it is a fraction of that and still several times smaller than gzip.
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
    e.write_all(data).expect("in-memory write");
    e.finish().expect("in-memory write")
}

/// The Release file. `Suite` is the directory clients name in sources.list, so apt never
/// sees a conflicting distribution; `Codename`/`Origin`/`Label` are the upstream's. No
/// `Valid-Until`: an air-gapped mirror is refreshed by hand, and apt would refuse an expired
/// Release long before the next bundle arrives.
/// `Acquire-By-Hash: yes`: apt fetches each index by its hash from `by-hash/SHA256/`, where the
/// previous rendering's files stay served, so a client that read the Release just before a
/// new rendering replaced it still gets the files it lists.
pub fn release(id: &str, suite: &str, info: &SuiteInfo, date: &str, files: &Hashes) -> String {
    let mut r = String::new();
    r.push_str(&format!("Origin: {}\n", info.origin.as_deref().unwrap_or(id)));
    r.push_str(&format!("Label: {}\n", info.label.as_deref().unwrap_or(id)));
    r.push_str(&format!("Suite: {suite}\n"));
    r.push_str(&format!("Codename: {}\n", info.codename.as_deref().unwrap_or(suite)));
    r.push_str(&format!("Date: {date}\n"));
    r.push_str(&format!("Architectures: {}\n", info.architectures.iter().cloned().collect::<Vec<_>>().join(" ")));
    r.push_str(&format!("Components: {}\n", info.components.iter().cloned().collect::<Vec<_>>().join(" ")));
    r.push_str(&format!("Description: {id} {suite}, served by an air-gap mirror from signed bundles\n"));
    r.push_str("Acquire-By-Hash: yes\n");
    r.push_str("SHA256:\n");
    for (path, (size, d)) in files {
        r.push_str(&format!(" {} {size:>16} {path}\n", d.hex()));
    }
    r
}

/// RFC 2822 in UTC, as Debian writes Release dates.
pub fn debian_date(rfc3339: Option<&str>) -> String {
    let t = rfc3339.and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&chrono::Utc)).unwrap_or_else(chrono::Utc::now);
    t.format("%a, %d %b %Y %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_lists_every_index_with_its_hash() {
        let d = DebRecord { stanza: "Package: a\nVersion: 1\n".into(), digest: Digest::sha256_of(b"x"), size: 1, codename: Some("bookworm".into()), origin: None, label: None };
        let p = packages(&[d.clone(), d]);
        assert_eq!(p, b"Package: a\nVersion: 1\n\nPackage: a\nVersion: 1\n\n");
        let mut files = BTreeMap::new();
        files.insert("main/binary-amd64/Packages".to_string(), Bytes::from(p.clone()));
        files.insert("main/binary-amd64/Packages.gz".to_string(), Bytes::from(gzip(&p)));
        let mut info = SuiteInfo { codename: Some("bookworm".into()), ..Default::default() };
        info.components.insert("main".into());
        info.architectures.insert("amd64".into());
        let (hashes, by_hash) = hashes(&files);
        let r = release("debian", "bookworm", &info, &debian_date(Some("2026-11-23T10:00:00Z")), &hashes);
        assert!(r.contains("Date: Mon, 23 Nov 2026 10:00:00 UTC\n"), "{r}");
        assert!(r.contains(&format!(" {} ", Digest::sha256_of(&p).hex())), "{r}");
        assert!(r.contains("Components: main\nDescription"), "{r}");
        assert!(r.contains("\nAcquire-By-Hash: yes\n"), "{r}");
        let at = format!("main/binary-amd64/by-hash/SHA256/{}", Digest::sha256_of(&p).hex());
        assert_eq!(by_hash.get(&at).map(|b| &b[..]), Some(&p[..]), "{at}");
    }
}
