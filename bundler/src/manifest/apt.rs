//! `apt:` entries: archives (a `sources.list` line each) and the packages wanted from them.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{safe_segment, ManifestError};

/// What a target system already has; the apt closure leaves it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Baseline {
    /// Nothing assumed installed: the full closure.
    #[default]
    None,
    /// `Essential: yes` and `Priority: required` packages.
    Required,
    /// Also `Priority: important`.
    Important,
}

/// One apt archive (a `sources.list` line) and the packages wanted from it. All apt entries
/// of a manifest form one universe, as several sources.list lines do for apt.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AptSpec {
    /// Archive root: the URL holding `dists/` and `pool/`.
    pub source: String,
    /// Served at `/apt/<id>/`.
    pub id: String,
    pub suite: String,
    /// A flat repository (`suite: /` or `suite: dir/` in the manifest, as apt writes it): the
    /// directory below `source` holding Release and Packages. Served as suite `stable`,
    /// component `main`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flat: Option<String>,
    pub components: Vec<String>,
    /// Debian architectures (amd64, arm64, …); `all` is always read too.
    pub architectures: Vec<String>,
    #[serde(skip)]
    pub keyring: Option<PathBuf>,
    /// The keyring as written in the manifest (locks must not depend on absolute paths).
    pub keyring_label: Option<String>,
    pub trusted: bool,
    pub recommends: bool,
    /// Relations as written: `name`, `name (>= 1.0)`, `name (= 1.2-3)`.
    pub packages: Vec<String>,
    pub exclude_installed: Baseline,
    #[serde(skip)]
    pub file: String,
    #[serde(skip)]
    pub line: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApt {
    source: String,
    id: Option<String>,
    suite: String,
    components: Option<Vec<String>>,
    architectures: Option<Vec<String>>,
    keyring: Option<String>,
    #[serde(default)]
    trusted: bool,
    #[serde(default)]
    recommends: bool,
    #[serde(default)]
    packages: Vec<String>,
    #[serde(default)]
    exclude_installed: Baseline,
}

/// Debian's name for an OCI platform's architecture (`linux/arm/v7` → `armhf`).
pub fn debian_arch(platform: &str) -> Option<String> {
    let mut p = platform.split('/');
    let (os, arch, variant) = (p.next()?, p.next()?, p.next());
    if os != "linux" {
        return None;
    }
    Some(match (arch, variant) {
        ("386", _) => "i386".into(),
        ("arm", Some("v5")) => "armel".into(),
        ("arm", _) => "armhf".into(),
        ("ppc64le", _) => "ppc64el".into(),
        (a, _) => a.into(),
    })
}

fn apt_spec(raw: RawApt, platforms: &[String], base: &Path) -> Result<AptSpec, String> {
    let source = raw.source.trim_end_matches('/').to_string();
    if !(source.starts_with("http://") || source.starts_with("https://")) {
        return Err(format!("apt source {:?} must be an http:// or https:// archive root", raw.source));
    }
    let id = match raw.id {
        Some(id) => id,
        None => source.rsplit('/').next().unwrap_or_default().to_string(),
    };
    if !safe_segment(&id) {
        return Err(format!("apt id {id:?} (served at /apt/<id>/) must be letters, digits, `-_.+~`; set `id:`"));
    }
    // apt's flat-repository spelling: the suite is a directory ending in `/`, no components.
    let flat = raw.suite.ends_with('/').then(|| raw.suite.trim_matches('/').to_string());
    if let Some(dir) = &flat {
        if dir.split('/').any(|c| c == ".." || c == ".") || !dir.split('/').all(|c| c.is_empty() || safe_segment(c)) {
            return Err(format!("apt flat directory {:?} must be a relative path of letters, digits, `-_.+~`", raw.suite));
        }
        if raw.components.is_some() {
            return Err(format!("apt source {id}: suite {:?} is a flat repository (a directory), which has no components; remove `components:`", raw.suite));
        }
    } else if !safe_segment(&raw.suite) {
        return Err(format!("apt suite {:?} must be one path segment of letters, digits, `-_.+~`, or a flat repository's directory ending in `/`", raw.suite));
    } else if source.contains("$(ARCH)") {
        return Err(format!("apt source {id}: `$(ARCH)` in `source:` is supported for flat repositories (`suite: /`) only"));
    }
    let suite = if flat.is_some() { "stable".to_string() } else { raw.suite };
    let components = raw.components.unwrap_or_else(|| vec!["main".into()]);
    let architectures = match raw.architectures {
        Some(a) => a,
        None => {
            let mut a: Vec<String> = platforms.iter().filter_map(|p| debian_arch(p)).collect();
            a.dedup();
            a
        }
    };
    for s in components.iter().chain(&architectures) {
        if !safe_segment(s) {
            return Err(format!("{s:?} is not a valid apt component or architecture"));
        }
    }
    if architectures.is_empty() {
        return Err("no apt architecture: set `architectures:` or a linux `platforms:` entry".into());
    }
    if architectures.iter().any(|a| a == "all") {
        return Err("`all` is always read; list the targets' architectures (amd64, arm64, …)".into());
    }
    if raw.keyring.is_none() && !raw.trusted {
        return Err(format!("apt source {source} has no `keyring:`; give the archive's signing key (e.g. /usr/share/keyrings/debian-archive-keyring.gpg) or, only for an archive you trust by other means, `trusted: true`"));
    }
    for p in &raw.packages {
        p.parse::<debian_control::lossy::Relation>().map_err(|e| format!("apt package {p:?} is not `name` or `name (op version)`: {e}"))?;
    }
    let keyring = raw.keyring.as_ref().map(|k| base.join(k));
    Ok(AptSpec {
        source,
        id,
        suite,
        flat,
        components,
        architectures,
        keyring,
        keyring_label: raw.keyring,
        trusted: raw.trusted,
        recommends: raw.recommends,
        packages: raw.packages,
        exclude_installed: raw.exclude_installed,
        file: String::new(),
        line: 0,
    })
}

/// One `apt:` entry, read once the manifest's platforms are known; an `id` and suite name one archive.
pub(super) fn add(apt: &mut Vec<AptSpec>, raw: RawApt, platforms: &[String], base: &Path, file: String, line: u64) -> Result<(), ManifestError> {
    let spec = apt_spec(raw, platforms, base).map_err(|detail| ManifestError::Invalid { path: file.clone(), line, detail })?;
    if let Some(prev) = apt.iter().find(|a| a.id == spec.id && a.suite == spec.suite) {
        if prev.source != spec.source {
            return Err(ManifestError::Invalid {
                path: file,
                line,
                detail: format!(
                    "apt id {:?} suite {:?} is already used for {} ({} line {}); give this source its own `id:`",
                    spec.id, spec.suite, prev.source, prev.file, prev.line
                ),
            });
        }
    }
    apt.push(AptSpec { file, line, ..spec });
    Ok(())
}
