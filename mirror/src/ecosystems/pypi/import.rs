//! Importing a Python distribution from a bundle.

use feas_format::oci::{AnyManifest, Descriptor};
use feas_format::pypi::{self as pyfmt, WheelConfig};

use super::WheelRecord;
use crate::import::graph::{check_layer, json, read_doc, rule, GraphError, Lookup, Plan, MAX_MANIFEST};

/// A Python distribution: manifest → config (`WheelConfig`) + the file (+ its METADATA).
pub fn walk(top: &Descriptor, lookup: Lookup, plan: &mut Plan) -> Result<(), GraphError> {
    let Some(bytes) = read_doc(top, MAX_MANIFEST, "pypi", lookup, plan)? else { return Ok(()) };
    let m = AnyManifest::parse(&bytes).map_err(|e| json("pypi manifest is not an OCI manifest".into(), e))?;
    let Some(config) = &m.config else { return Err(rule("a pypi artifact needs a config")) };
    if config.media_type != pyfmt::CONFIG_MEDIA_TYPE {
        return Err(rule(format!("pypi config has media type {}, expected {}", config.media_type, pyfmt::CONFIG_MEDIA_TYPE)));
    }
    let Some(cfg) = read_doc(config, 1 << 20, "pypi", lookup, plan)? else { return Ok(()) };
    let cfg: WheelConfig = serde_json::from_slice(&cfg).map_err(|e| json("pypi config".into(), e))?;
    let name = format!("pypi/{}/{}", cfg.project, cfg.filename);
    let bad = |e: String| rule(format!("{name}: {e}"));
    if cfg.project.is_empty() || pyfmt::normalize(&cfg.project) != cfg.project {
        return Err(bad("project name is not normalized".into()));
    }
    if cfg.filename.is_empty() || cfg.filename.contains(['/', '\\']) || cfg.filename.starts_with('.') {
        return Err(bad("unsafe file name".into()));
    }
    let file = m.layers.iter().find(|l| l.media_type == pyfmt::FILE_MEDIA_TYPE).ok_or_else(|| bad("no file layer".into()))?;
    let meta = m.layers.iter().find(|l| l.media_type == pyfmt::METADATA_MEDIA_TYPE);
    for l in std::iter::once(file).chain(meta) {
        check_layer(l, "pypi", lookup, plan)?;
    }
    plan.changes.eco.pypi.push(WheelRecord {
        project: cfg.project.clone(),
        version: cfg.version.clone(),
        filename: cfg.filename.clone(),
        digest: file.digest.clone(),
        size: file.size,
        requires_python: cfg.requires_python.clone(),
        metadata: meta.map(|l| (l.digest.clone(), l.size)),
    });
    plan.changes.envelopes.push((name.clone(), top.digest.clone()));
    plan.artifacts.push(name);
    Ok(())
}
