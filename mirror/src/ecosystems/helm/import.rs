//! Importing a Helm chart from a bundle.

use feas_format::bundle::annotations;
use feas_format::helm;
use feas_format::names::safe_segment;
use feas_format::oci::{AnyManifest, Descriptor};

use super::HelmRecord;
use crate::import::graph::{check_layer, json, read_doc, rule, GraphError, Lookup, Plan, MAX_MANIFEST};

/// A Helm chart: its OCI manifest (Helm config + chart layer) gives the index.yaml entry.
pub fn walk(top: &Descriptor, lookup: Lookup, plan: &mut Plan) -> Result<(), GraphError> {
    let Some(bytes) = read_doc(top, MAX_MANIFEST, "chart", lookup, plan)? else { return Ok(()) };
    let m = AnyManifest::parse(&bytes).map_err(|e| json("chart manifest is not an OCI manifest".into(), e))?;
    let Some(config) = m.config.as_ref().filter(|c| c.media_type == helm::CONFIG_MEDIA_TYPE) else {
        return Err(rule(format!("a chart's config must have media type {}", helm::CONFIG_MEDIA_TYPE)));
    };
    let layer =
        m.layers.iter().find(|l| l.media_type == helm::CHART_MEDIA_TYPE || l.media_type == "application/tar+gzip").ok_or_else(|| rule("a chart manifest has no chart layer"))?;
    let Some(cfg) = read_doc(config, 1 << 20, "chart", lookup, plan)? else { return Ok(()) };
    let metadata: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&cfg).map_err(|e| json("chart config".into(), e))?;
    let text = |k: &str| metadata.get(k).and_then(|v| v.as_str()).map(str::to_string).ok_or_else(|| rule(format!("chart config has no {k}")));
    let (name, version) = (text("name")?, text("version")?);
    if !feas_format::names::valid_chart_name(&name) || !safe_segment(&version) {
        return Err(rule(format!("chart {name:?} {version:?} cannot be served")));
    }
    if top.annotations.get(annotations::REPOSITORY) != Some(&format!("charts/{name}")) {
        return Err(rule(format!("chart {name} is not filed under charts/{name}")));
    }
    check_layer(layer, "chart", lookup, plan)?;
    plan.changes.eco.helm.push(HelmRecord { name, version, metadata, digest: layer.digest.clone(), size: layer.size, manifest: top.digest.clone(), created: String::new() });
    Ok(())
}
