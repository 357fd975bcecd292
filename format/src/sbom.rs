//! The bundle's SBOM: an SPDX 2.3 JSON document listing every artifact of the lock (each entry
//! type says its name, sha256 and package URL: `lock::Locked`). It is
//! a blob like any other, named by `bundle.json`'s `sbom`, so the signature covers it. Built
//! from the lock and the bundle's creation time only, so rebuilding gives the same bytes.

use serde_json::{json, Value};

use super::lock::LockFile;
use super::Digest;

/// purl components are percent-encoded (`:` in a digest, `+` in a version, …).
pub fn purl_enc(s: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    percent_encoding::utf8_percent_encode(s, KEEP).to_string()
}

/// What the SBOM says of one artifact; each lock entry type builds its own (`lock::Locked`).
pub struct SbomPackage {
    pub name: String,
    pub version: Option<String>,
    pub source: String,
    pub sha256: Digest,
    pub purl: String,
    /// SPDX `primaryPackagePurpose`.
    pub purpose: &'static str,
}

/// The SPDX document for a bundle built from `lock`.
pub fn spdx(lock: &LockFile, name: &str, sequence: u64, created: &str, generator: &str) -> Vec<u8> {
    let pkgs: Vec<SbomPackage> = lock.entries().into_iter().map(|e| e.sbom()).collect();
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
        "documentNamespace": format!("https://spdx.org/spdxdocs/feas-bundle-{}-{sequence}-{}", purl_enc(name), identity.hex()),
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
            files: vec![FileLock { kind: "file".into(), name: "install.sh".parse().unwrap(), source: "https://get.rke2.io/install.sh".into(), sha256: d.clone(), size: 1 }],
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

    /// Every section's entries are listed, in the lock's order, each with its own purl.
    #[test]
    fn every_section_is_listed_with_its_purl() {
        use crate::lock::{ChartLock, DebLock, HfLock, NltkLock, WheelLock};
        let d = Digest::sha256_of(b"x");
        let s = |v: &str| v.to_string();
        let lock = LockFile {
            version: 1,
            debs: vec![DebLock {
                kind: s("deb"),
                name: s("debian/libc6_2.36-9+deb12u4_amd64"),
                source: s("http://deb.debian.org/debian/"),
                id: s("debian"),
                suite: s("bookworm"),
                component: s("main"),
                package: s("libc6"),
                version: s("2.36-9+deb12u4"),
                architecture: s("amd64"),
                filename: s("pool/main/g/glibc/libc6.deb"),
                sha256: d.clone(),
                size: 1,
            }],
            wheels: vec![WheelLock {
                kind: s("wheel"),
                name: s("numpy/numpy-2.1.0-py3-none-any.whl"),
                source: s("https://files.example/numpy-2.1.0-py3-none-any.whl"),
                index: s("https://pypi.org/simple/numpy/"),
                project: s("numpy"),
                version: s("2.1.0"),
                filename: s("numpy-2.1.0-py3-none-any.whl"),
                sha256: d.clone(),
                size: 1,
                requires_python: None,
                targets: vec![],
            }],
            charts: vec![ChartLock {
                kind: s("chart"),
                name: "ingress-nginx".parse().unwrap(),
                version: s("4.11.0"),
                source: s("https://x/ingress-nginx-4.11.0.tgz"),
                sha256: d.clone(),
                size: 1,
                oci_manifest: None,
                oci_manifest_size: None,
                dependency_of: None,
                images: vec![],
            }],
            nltk: vec![NltkLock { kind: s("nltk"), name: s("punkt"), source: s("https://x/punkt.zip"), subdir: s("tokenizers"), checksum: s("0"), sha256: d.clone(), size: 1 }],
            models: vec![HfLock {
                kind: s("hf"),
                name: s("org/model/sub/a b.json"),
                source: s("https://huggingface.co/org/model/resolve/abc/sub/a%20b.json"),
                repo: s("org/model"),
                revision: s("main"),
                commit: s("abc"),
                path: s("sub/a b.json"),
                sha256: d.clone(),
                size: 1,
                oid: s("o"),
                lfs: false,
                lfs_pointer_size: None,
            }],
            ..Default::default()
        };
        let v: Value = serde_json::from_slice(&spdx(&lock, "n", 1, "2026-01-01T00:00:00Z", "bundler t")).unwrap();
        let got: Vec<(String, String, String)> = v["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["externalRefs"][0]["referenceLocator"].as_str().unwrap().to_string(),
                    p["downloadLocation"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let h = d.hex();
        let want = [
            ("libc6", "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64".to_string(), "http://deb.debian.org/debian/pool/main/g/glibc/libc6.deb"),
            ("numpy", "pkg:pypi/numpy@2.1.0?file_name=numpy-2.1.0-py3-none-any.whl".to_string(), "https://files.example/numpy-2.1.0-py3-none-any.whl"),
            ("ingress-nginx", "pkg:helm/ingress-nginx@4.11.0?download_url=https%3A%2F%2Fx%2Fingress-nginx-4.11.0.tgz".to_string(), "https://x/ingress-nginx-4.11.0.tgz"),
            ("punkt", format!("pkg:generic/nltk_data/punkt?download_url=https%3A%2F%2Fx%2Fpunkt.zip&checksum=sha256%3A{h}"), "https://x/punkt.zip"),
            ("org/model/sub/a b.json", "pkg:huggingface/org/model@abc#sub/a%20b.json".to_string(), "https://huggingface.co/org/model/resolve/abc/sub/a%20b.json"),
        ];
        let want: Vec<(String, String, String)> = want.into_iter().map(|(a, b, c)| (a.to_string(), b, c.to_string())).collect();
        assert_eq!(got, want);
        assert_eq!(v["packages"][4]["versionInfo"], "abc");
        assert!(v["packages"][3].get("versionInfo").is_none(), "an NLTK package has no version");
    }
}
