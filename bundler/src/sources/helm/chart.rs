//! What the bundler reads out of a chart archive: Chart.yaml, the dependencies to pull, and
//! the images the values and templates (the chart's and its vendored subcharts') reference.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use serde_json::{Map, Value};

use super::{HelmError, MAX_DEPTH, MAX_FILE, MAX_UNPACKED, METADATA_FIELDS};
use crate::reference::ImageRef;

/// What the bundler reads out of a chart archive.
#[derive(Debug, Default)]
pub(super) struct ChartContents {
    /// Chart.yaml of the chart itself, as JSON.
    pub metadata: Map<String, Value>,
    /// Dependencies to pull: (name, repository, version or constraint).
    pub dependencies: Vec<(String, String, String)>,
    /// Image references found in values and templates (the chart's and vendored subcharts').
    pub images: BTreeSet<String>,
}

fn yaml_value(bytes: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_saphyr::from_str::<Value>(text).map_err(|e| e.to_string())
}

/// Images a values tree references: `image: "repo:tag"` strings, and `image:`-like maps with
/// `repository` (+ `registry`, `tag`, `digest`; an empty tag means the chart's appVersion).
fn images_in_values(v: &Value, app_version: Option<&str>, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if k.to_ascii_lowercase().ends_with("image") {
                    match child {
                        Value::String(s) => push_image(s, out),
                        Value::Object(im) => {
                            if let Some(repo) = im.get("repository").and_then(Value::as_str).filter(|r| !r.is_empty()) {
                                let scalar = |k: &str| {
                                    im.get(k)
                                        .and_then(|x| match x {
                                            Value::String(s) => Some(s.clone()),
                                            Value::Number(n) => Some(n.to_string()),
                                            _ => None,
                                        })
                                        .filter(|s| !s.is_empty())
                                };
                                let mut r = match scalar("registry") {
                                    Some(reg) => format!("{}/{repo}", reg.trim_end_matches('/')),
                                    None => repo.to_string(),
                                };
                                match (scalar("digest"), scalar("tag").or_else(|| app_version.map(str::to_string))) {
                                    (Some(d), _) if d.starts_with("sha256:") => r = format!("{r}@{d}"),
                                    (_, Some(t)) => r = format!("{r}:{t}"),
                                    _ => {}
                                }
                                push_image(&r, out);
                            }
                        }
                        _ => {}
                    }
                }
                images_in_values(child, app_version, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| images_in_values(x, app_version, out)),
        _ => {}
    }
}

fn push_image(s: &str, out: &mut BTreeSet<String>) {
    let s = s.trim().trim_matches(|c| c == '"' || c == '\'');
    if s.is_empty() || s.contains("{{") || s.contains(char::is_whitespace) {
        return;
    }
    if let Ok(r) = ImageRef::parse(s) {
        out.insert(match (&r.tag, &r.digest) {
            (_, Some(d)) => format!("{}@{d}", r.repository_name()),
            (Some(t), None) => format!("{}:{t}", r.repository_name()),
            (None, None) => r.repository_name(),
        });
    }
}

/// `image: literal` lines in templates (templated ones are the values' business).
fn images_in_template(text: &str, out: &mut BTreeSet<String>) {
    for line in text.lines() {
        let t = line.trim_start().trim_start_matches("- ");
        if let Some(rest) = t.strip_prefix("image:") {
            push_image(rest, out);
        }
    }
}

/// Read Chart.yaml, Chart.lock/requirements, values and templates of a chart archive and of
/// the subcharts vendored in it (directories or nested archives), bounded in size.
pub(super) fn read_chart(tgz: &[u8], chart: &str, version: &str) -> Result<ChartContents, HelmError> {
    let bad = |detail: String| HelmError::Archive { name: chart.into(), version: version.into(), detail };
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    unpack(tgz, "", 0, &mut files, &mut 0).map_err(|e| bad(format!("not a readable chart archive: {e}")))?;
    let root = files
        .keys()
        .find_map(|p| p.strip_suffix("/Chart.yaml").filter(|r| !r.contains('/')).map(str::to_string))
        .ok_or_else(|| bad("no Chart.yaml at the top of the archive".into()))?;
    let mut out = ChartContents::default();
    let chart_yaml = yaml_value(&files[&format!("{root}/Chart.yaml")]).map_err(|e| bad(format!("Chart.yaml: {e}")))?;
    let Value::Object(meta) = chart_yaml else { return Err(bad("Chart.yaml is not a mapping".into())) };
    if meta.get("name").and_then(Value::as_str) != Some(chart) {
        return Err(bad(format!("Chart.yaml names {:?}", meta.get("name").cloned().unwrap_or(Value::Null))));
    }
    out.metadata = meta.into_iter().filter(|(k, _)| METADATA_FIELDS.contains(&k.as_str())).collect();
    // Dependencies: Chart.yaml (apiVersion v2) or requirements.yaml (v1), pinned by the lock.
    let deps_of = |v: &Value| -> Vec<(String, String, String)> {
        v.get("dependencies")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|d| {
                        Some((
                            d.get("name")?.as_str()?.to_string(),
                            d.get("repository").and_then(Value::as_str).unwrap_or("").to_string(),
                            d.get("version").and_then(Value::as_str).unwrap_or("").to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut declared = deps_of(&Value::Object(out.metadata.clone()));
    if let Some(req) = files.get(&format!("{root}/requirements.yaml")) {
        declared.extend(deps_of(&yaml_value(req).unwrap_or(Value::Null)));
    }
    let locked: Vec<(String, String, String)> =
        ["Chart.lock", "requirements.lock"].iter().filter_map(|f| files.get(&format!("{root}/{f}"))).flat_map(|b| deps_of(&yaml_value(b).unwrap_or(Value::Null))).collect();
    for (name, repo, constraint) in declared {
        let pinned = locked.iter().find(|(n, r, _)| *n == name && *r == repo).map(|(_, _, v)| v.clone());
        out.dependencies.push((name, repo, pinned.unwrap_or(constraint)));
    }
    // Each chart directory (the top one and vendored subcharts) with its own appVersion.
    let chart_dirs: Vec<String> = files.keys().filter_map(|p| p.strip_suffix("/Chart.yaml").map(str::to_string)).collect();
    for dir in &chart_dirs {
        let app = files
            .get(&format!("{dir}/Chart.yaml"))
            .and_then(|b| yaml_value(b).ok())
            .and_then(|v| v.get("appVersion").map(|a| a.as_str().map(str::to_string).unwrap_or_else(|| a.to_string())));
        if let Some(values) = files.get(&format!("{dir}/values.yaml")) {
            if let Ok(v) = yaml_value(values) {
                images_in_values(&v, app.as_deref(), &mut out.images);
            }
        }
        let tdir = format!("{dir}/templates/");
        for (p, b) in files.range(tdir.clone()..) {
            if !p.starts_with(&tdir) {
                break;
            }
            images_in_template(&String::from_utf8_lossy(b), &mut out.images);
        }
    }
    Ok(out)
}

/// Collect the files `read_chart` looks at; nested `.tgz` subcharts are opened in place.
fn unpack(tgz: &[u8], prefix: &str, depth: usize, files: &mut BTreeMap<String, Vec<u8>>, total: &mut u64) -> std::io::Result<()> {
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    for e in ar.entries()? {
        let mut e = e?;
        if !e.header().entry_type().is_file() {
            continue;
        }
        let path = e.path()?.to_string_lossy().into_owned();
        if path.split('/').any(|c| c == "..") {
            continue;
        }
        let interesting = path.ends_with("/Chart.yaml")
            || path.ends_with("/Chart.lock")
            || path.ends_with("/requirements.yaml")
            || path.ends_with("/requirements.lock")
            || path.ends_with("/values.yaml")
            || path.contains("/templates/")
            || (path.contains("/charts/") && path.ends_with(".tgz"));
        if !interesting || e.size() > MAX_FILE {
            continue;
        }
        *total += e.size();
        if *total > MAX_UNPACKED {
            return Err(std::io::Error::other(format!("more than {MAX_UNPACKED} bytes of chart files")));
        }
        let mut b = Vec::with_capacity(e.size() as usize);
        e.read_to_end(&mut b)?;
        if path.ends_with(".tgz") {
            if depth < MAX_DEPTH {
                // A vendored subchart: its files count as <parent>/charts/<sub>/...
                let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                unpack(&b, &format!("{prefix}{dir}/"), depth + 1, files, total)?;
            }
            continue;
        }
        files.insert(format!("{prefix}{path}"), b);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_found_in_values_and_templates() {
        let values = r#"
image:
  registry: docker.io
  repository: bitnami/postgresql
  tag: 16.1.0-debian-11-r15
  digest: ""
metrics:
  image: {registry: quay.io, repository: prometheuscommunity/postgres-exporter, tag: ""}
sidecar:
  initImage: "busybox:1.36"
templated:
  image: "{{ .Values.x }}"
"#;
        let mut out = BTreeSet::new();
        images_in_values(&yaml_value(values.as_bytes()).unwrap(), Some("0.15.0"), &mut out);
        images_in_template("spec:\n  containers:\n    - image: registry.k8s.io/pause:3.9\n      image: {{ .Values.image }}\n", &mut out);
        let got: Vec<&str> = out.iter().map(String::as_str).collect();
        assert_eq!(
            got,
            [
                "docker.io/bitnami/postgresql:16.1.0-debian-11-r15",
                "docker.io/library/busybox:1.36",
                "quay.io/prometheuscommunity/postgres-exporter:0.15.0",
                "registry.k8s.io/pause:3.9"
            ]
        );
    }
}
