//! Importing a raw file from a bundle.

use feas_format::oci::{AnyManifest, Descriptor};

use crate::import::graph::{check_layer, json, read_doc, rule, GraphError, Lookup, Plan, MAX_MANIFEST};

/// A raw file: manifest → one layer, served under its title.
pub fn walk(top: &Descriptor, lookup: Lookup, plan: &mut Plan) -> Result<(), GraphError> {
    let Some(bytes) = read_doc(top, MAX_MANIFEST, "file", lookup, plan)? else { return Ok(()) };
    let m = AnyManifest::parse(&bytes).map_err(|e| json("file manifest is not an OCI manifest".into(), e))?;
    let [layer] = &m.layers[..] else { return Err(rule("a file artifact has exactly one layer")) };
    let name = layer.annotations.get(feas_format::oci::ANNOTATION_TITLE).ok_or_else(|| rule("the file layer has no title"))?;
    if !feas_format::names::valid_file_name(name) {
        return Err(rule(format!("file name {name:?} cannot be served")));
    }
    for d in [Some(layer), m.config.as_ref()].into_iter().flatten() {
        check_layer(d, "file", lookup, plan)?;
    }
    plan.changes.eco.files.push((name.clone(), layer.digest.clone(), layer.size));
    plan.changes.envelopes.push((format!("files/{name}"), top.digest.clone()));
    plan.artifacts.push(format!("files/{name}"));
    Ok(())
}
