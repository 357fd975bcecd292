//! Importing an NLTK package from a bundle.

use feas_format::names::safe_segment;
use feas_format::oci::{AnyManifest, Descriptor};

use super::NltkRecord;
use crate::import::graph::{check_layer, json, read_doc, rule, GraphError, Lookup, Plan, MAX_MANIFEST};

/// An NLTK package: manifest → config (`NltkConfig`) + the zip.
pub fn walk(top: &Descriptor, lookup: Lookup, plan: &mut Plan) -> Result<(), GraphError> {
    let Some(bytes) = read_doc(top, MAX_MANIFEST, "nltk", lookup, plan)? else { return Ok(()) };
    let m = AnyManifest::parse(&bytes).map_err(|e| json("nltk manifest is not an OCI manifest".into(), e))?;
    let (Some(config), [layer]) = (&m.config, &m.layers[..]) else { return Err(rule("an nltk artifact has a config and one layer")) };
    let Some(cfg) = read_doc(config, 4 << 20, "nltk", lookup, plan)? else { return Ok(()) };
    let cfg: feas_format::nltk::NltkConfig = serde_json::from_slice(&cfg).map_err(|e| json("nltk config".into(), e))?;
    let id = cfg.attrs.get("id").cloned().ok_or_else(|| rule("nltk package without id"))?;
    let subdir = cfg.attrs.get("subdir").cloned().unwrap_or_default();
    if !safe_segment(&id) || !(subdir.is_empty() || safe_segment(&subdir)) {
        return Err(rule(format!("nltk package {id:?} in {subdir:?} cannot be served")));
    }
    check_layer(layer, "nltk", lookup, plan)?;
    plan.changes.envelopes.push((format!("nltk/{subdir}/{id}"), top.digest.clone()));
    plan.artifacts.push(format!("nltk/{subdir}/{id}"));
    plan.changes.eco.nltk.push((id, NltkRecord { attrs: cfg.attrs, collections: cfg.collections, digest: layer.digest.clone(), size: layer.size }));
    Ok(())
}
