//! The bundle's SBOM: an SPDX 2.3 JSON document listing every artifact of the lock (images by
//! digest, debs, wheels, charts, NLTK packages, model files, files) with its sha256 and a package URL. It is
//! a blob like any other, named by `bundle.json`'s `sbom`, so the signature covers it. Built
//! from the lock and the bundle's creation time only, so rebuilding gives the same bytes.

use serde_json::{json, Value};

use super::lock::LockFile;
use super::Digest;

/// purl components are percent-encoded (`:` in a digest, `+` in a version, …).
fn enc(s: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    percent_encoding::utf8_percent_encode(s, KEEP).to_string()
}

struct Package {
    name: String,
    version: Option<String>,
    source: String,
    sha256: Digest,
    purl: String,
    purpose: &'static str,
}

fn packages(lock: &LockFile) -> Vec<Package> {
    let mut out = Vec::new();
    for i in &lock.images {
        // `registry/repo:tag` (or @digest): the purl names the last path segment, the full
        // repository goes in `repository_url`.
        let (repo, tag) = match i.name.rsplit_once(':').filter(|(r, t)| !t.contains('/') && !r.is_empty()) {
            Some((r, t)) => (r.to_string(), Some(t.to_string())),
            None => (i.name.split('@').next().unwrap_or(&i.name).to_string(), None),
        };
        let last = repo.rsplit('/').next().unwrap_or(&repo).to_string();
        let mut purl = format!("pkg:oci/{}@{}?repository_url={}", enc(&last), enc(&i.sha256.to_string()), enc(&repo));
        if let Some(t) = &tag {
            purl.push_str(&format!("&tag={}", enc(t)));
        }
        out.push(Package { name: i.name.clone(), version: Some(i.sha256.to_string()), source: i.source.clone(), sha256: i.sha256.clone(), purl, purpose: "CONTAINER" });
    }
    for d in &lock.debs {
        let purl = format!("pkg:deb/{}/{}@{}?arch={}", enc(&d.id), enc(&d.package), enc(&d.version), enc(&d.architecture));
        out.push(Package {
            name: d.package.clone(),
            version: Some(d.version.clone()),
            source: format!("{}/{}", d.source.trim_end_matches('/'), d.filename),
            sha256: d.sha256.clone(),
            purl,
            purpose: "LIBRARY",
        });
    }
    for w in &lock.wheels {
        let purl = format!("pkg:pypi/{}@{}?file_name={}", enc(&w.project), enc(&w.version), enc(&w.filename));
        out.push(Package { name: w.project.clone(), version: Some(w.version.clone()), source: w.source.clone(), sha256: w.sha256.clone(), purl, purpose: "LIBRARY" });
    }
    for c in &lock.charts {
        let purl = format!("pkg:helm/{}@{}?download_url={}", enc(&c.name), enc(&c.version), enc(&c.source));
        out.push(Package { name: c.name.clone(), version: Some(c.version.clone()), source: c.source.clone(), sha256: c.sha256.clone(), purl, purpose: "APPLICATION" });
    }
    for n in &lock.nltk {
        let purl = format!("pkg:generic/nltk_data/{}?download_url={}&checksum={}", enc(&n.name), enc(&n.source), enc(&n.sha256.to_string()));
        out.push(Package { name: n.name.clone(), version: None, source: n.source.clone(), sha256: n.sha256.clone(), purl, purpose: "DATA" });
    }
    for m in &lock.models {
        // purl subpath: the file inside the repository at that commit.
        let (owner, name) = m.repo.split_once('/').unwrap_or(("", m.repo.as_str()));
        let sub: Vec<String> = m.path.split('/').map(enc).collect();
        let purl = format!("pkg:huggingface/{}/{}@{}#{}", enc(owner), enc(name), enc(&m.commit), sub.join("/"));
        out.push(Package { name: format!("{}/{}", m.repo, m.path), version: Some(m.commit.clone()), source: m.source.clone(), sha256: m.sha256.clone(), purl, purpose: "DATA" });
    }
    for f in &lock.files {
        let purl = format!("pkg:generic/{}?download_url={}&checksum={}", enc(&f.name), enc(&f.source), enc(&f.sha256.to_string()));
        out.push(Package { name: f.name.clone(), version: None, source: f.source.clone(), sha256: f.sha256.clone(), purl, purpose: "FILE" });
    }
    out
}

/// The SPDX document for a bundle built from `lock`.
pub fn spdx(lock: &LockFile, name: &str, sequence: u64, created: &str, generator: &str) -> Vec<u8> {
    let pkgs = packages(lock);
    // Unique per bundle content, yet reproducible.
    let identity = Digest::sha256_of(lock.to_toml().as_bytes());
    let mut spdx_packages = Vec::with_capacity(pkgs.len());
    let mut relationships = Vec::with_capacity(pkgs.len());
    for (n, p) in pkgs.iter().enumerate() {
        let id = format!("SPDXRef-Package-{}", n + 1);
        let mut v = json!({
            "SPDXID": id,
            "name": p.name,
            "downloadLocation": if p.source.starts_with("http") { p.source.clone() } else { "NOASSERTION".to_string() },
            "filesAnalyzed": false,
            "checksums": [{"algorithm": "SHA256", "checksumValue": p.sha256.hex()}],
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p.purl}],
            "primaryPackagePurpose": p.purpose,
        });
        if let Some(ver) = &p.version {
            v["versionInfo"] = Value::String(ver.clone());
        }
        spdx_packages.push(v);
        relationships.push(json!({"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": id}));
    }
    let doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{name} sequence {sequence}"),
        "documentNamespace": format!("https://spdx.org/spdxdocs/feas-bundle-{}-{sequence}-{}", enc(name), identity.hex()),
        "creationInfo": {"created": created, "creators": [format!("Tool: {generator}")]},
        "packages": spdx_packages,
        "relationships": relationships,
    });
    let mut v = serde_json::to_vec_pretty(&doc).expect("sbom serializes");
    v.push(b'\n');
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::{FileLock, ImageLock};

    #[test]
    fn purls_and_determinism() {
        let d = Digest::sha256_of(b"x");
        let lock = LockFile {
            version: 1,
            images: vec![ImageLock {
                kind: "image".into(),
                name: "docker.io/library/postgres:13".into(),
                source: "https://registry-1.docker.io/library/postgres".into(),
                sha256: d.clone(),
                size: 1,
                media_type: "m".into(),
                platforms: vec![],
                accessories: vec![],
            }],
            files: vec![FileLock { kind: "file".into(), name: "install.sh".into(), source: "https://get.rke2.io/install.sh".into(), sha256: d.clone(), size: 1 }],
            ..Default::default()
        };
        let a = spdx(&lock, "n", 1, "2026-01-01T00:00:00Z", "bundler t");
        assert_eq!(a, spdx(&lock, "n", 1, "2026-01-01T00:00:00Z", "bundler t"));
        let v: Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(v["spdxVersion"], "SPDX-2.3");
        let purl = v["packages"][0]["externalRefs"][0]["referenceLocator"].as_str().unwrap();
        assert_eq!(purl, format!("pkg:oci/postgres@sha256%3A{}?repository_url=docker.io%2Flibrary%2Fpostgres&tag=13", d.hex()));
        assert_eq!(v["packages"][1]["checksums"][0]["checksumValue"], d.hex());
    }
}
