//! How a Debian package travels in a bundle: an OCI 1.1 artifact whose one layer is the .deb
//! and whose config blob is a `DebConfig` — everything the mirror needs to list it in a
//! Packages index of the right archive, suite, component and architecture.

use crate::lock::Locked;
use crate::sbom::{purl_enc, SbomPackage};
use crate::Digest;
use serde::{Deserialize, Serialize};

/// `artifactType` of a deb's manifest and media type of its layer.
pub const ARTIFACT_TYPE: &str = "application/vnd.debian.binary-package";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.feas.apt.deb.config.v1+json";

/// The config blob of a deb artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebConfig {
    /// Served at `/apt/<id>/`.
    pub id: String,
    /// Archive root it came from, for people.
    pub source: String,
    pub suite: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub component: String,
    /// Target architectures the bundle was resolved for; the mirror serves a Packages index
    /// for each (an `all` package appears in every one, as in Debian's archive).
    pub architectures: Vec<String>,
    /// The package's stanza from the upstream's signed Packages index, verbatim.
    pub control: String,
}

impl DebConfig {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("deb config serializes")
    }
}

/// Field value of a stanza (first match, single-line fields only).
pub fn field<'a>(stanza: &'a str, name: &str) -> Option<&'a str> {
    stanza.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (!l.starts_with([' ', '\t']) && k.eq_ignore_ascii_case(name)).then(|| v.trim())
    })
}

/// `package_version_arch.deb` as Debian names files (epoch dropped, `:` is not portable).
pub fn deb_file_name(package: &str, version: &str, arch: &str) -> String {
    let v = version.split_once(':').map_or(version, |(_, v)| v);
    format!("{package}_{v}_{arch}.deb")
}

/// One Debian package file of the resolved apt closure.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebLock {
    pub kind: String,
    /// `<id>/<package>_<version>_<arch>`.
    pub name: String,
    /// Archive root URL.
    pub source: String,
    pub id: String,
    pub suite: String,
    pub component: String,
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// Path below the archive root, as the Packages index gives it.
    pub filename: String,
    pub sha256: Digest,
    pub size: u64,
}

impl Locked for DebLock {
    fn sbom(&self) -> SbomPackage {
        SbomPackage {
            name: self.package.clone(),
            version: Some(self.version.clone()),
            source: format!("{}/{}", self.source.trim_end_matches('/'), self.filename),
            sha256: self.sha256.clone(),
            purl: format!("pkg:deb/{}/{}@{}?arch={}", purl_enc(&self.id), purl_enc(&self.package), purl_enc(&self.version), purl_enc(&self.architecture)),
            purpose: "LIBRARY",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_names() {
        let s = "Package: hello\nVersion: 1:2.10-3\nDescription: hi\n there: not a field\nArchitecture: amd64\n";
        assert_eq!(field(s, "package"), Some("hello"));
        assert_eq!(field(s, "Architecture"), Some("amd64"));
        assert_eq!(field(s, "there"), None);
        assert_eq!(deb_file_name("hello", "1:2.10-3", "amd64"), "hello_2.10-3_amd64.deb");
    }
}
