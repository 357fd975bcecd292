//! `charts:` entries: Helm charts from an HTTP chart repository or an OCI registry.

use serde::Deserialize;

use super::ManifestError;
use crate::format::names::ChartName;
use crate::reference::ImageRef;

/// Where a chart comes from: an HTTP chart repository (`index.yaml`) or an OCI registry.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum ChartOrigin {
    /// Repository URL (without `index.yaml`).
    Repo(String),
    /// `oci://host/path/name` as the canonical `host/path/name`.
    Oci(String),
}

/// A Helm chart: one version (a constraint resolved to the highest match; none = the newest
/// stable), with its dependencies unless `dependencies: false`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChartSpec {
    pub origin: ChartOrigin,
    pub name: ChartName,
    pub version: Option<String>,
    pub dependencies: bool,
    /// Bundle the images found in the chart's values and templates.
    pub add_images: bool,
    #[serde(skip)]
    pub file: String,
    #[serde(skip)]
    pub line: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChart {
    repo: Option<String>,
    name: Option<String>,
    r#ref: Option<String>,
    version: Option<String>,
    dependencies: Option<bool>,
    add_images: Option<bool>,
}

fn chart_spec(raw: RawChart, file: &str, line: u64) -> Result<ChartSpec, String> {
    let (origin, name) = match (raw.repo, raw.r#ref, raw.name) {
        (Some(repo), None, Some(name)) => {
            if !(repo.starts_with("http://") || repo.starts_with("https://")) {
                return Err(format!("charts: repo {repo:?} must be an http(s) chart repository URL (for OCI use `ref: oci://…`)"));
            }
            (ChartOrigin::Repo(repo.trim_end_matches('/').to_string()), name)
        }
        (None, Some(r), name) => {
            let Some(rest) = r.strip_prefix("oci://") else { return Err(format!("charts: ref {r:?} must start with oci://")) };
            let image = ImageRef::parse(rest).map_err(|e| e.to_string())?;
            if rest.contains('@') || rest.rsplit('/').next().is_some_and(|l| l.contains(':')) {
                return Err(format!("charts: give the version of {r} as `version:`, not in the reference"));
            }
            let last = image.repository.rsplit('/').next().unwrap_or_default().to_string();
            if name.as_ref().is_some_and(|n| *n != last) {
                return Err(format!("charts: name {:?} differs from the last path segment of {r}", name.unwrap_or_default()));
            }
            (ChartOrigin::Oci(image.repository_name()), last)
        }
        _ => return Err("a charts: entry needs `repo:` and `name:` (HTTP repository) or `ref: oci://…`".into()),
    };
    let name: ChartName = name.parse().map_err(|_| format!("chart name {name:?} must be lowercase letters, digits, `-`, `_` or `.`"))?;
    if raw.version.as_ref().is_some_and(|v| v.trim().is_empty()) {
        return Err(format!("chart {name}: `version:` is empty; omit it for the newest stable version"));
    }
    Ok(ChartSpec {
        origin,
        name,
        version: raw.version.map(|v| v.trim().to_string()),
        dependencies: raw.dependencies.unwrap_or(true),
        add_images: raw.add_images.unwrap_or(false),
        file: file.into(),
        line,
    })
}

/// One `charts:` entry; a chart name has one source, as the mirror serves one chart repository.
pub(super) fn add(charts: &mut Vec<ChartSpec>, raw: RawChart, file: &str, line: u64) -> Result<(), ManifestError> {
    let spec = chart_spec(raw, file, line).map_err(|detail| ManifestError::Invalid { path: file.to_string(), line, detail })?;
    if let Some(prev) = charts.iter().find(|p| p.name == spec.name && p.origin != spec.origin) {
        return Err(ManifestError::Invalid {
            path: file.to_string(),
            line,
            detail: format!(
                "chart {} also comes from another source ({} line {}); the mirror serves one chart repository, so a name has one source",
                spec.name, prev.file, prev.line
            ),
        });
    }
    charts.push(spec);
    Ok(())
}
