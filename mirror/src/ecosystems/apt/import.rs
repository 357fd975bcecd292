//! Importing a deb from a bundle.

use feas_format::deb::{self, DebConfig};
use feas_format::names::safe_segment;
use feas_format::oci::{AnyManifest, Descriptor};

use super::{DebKey, DebRecord};
use crate::import::graph::{check_layer, json, read_doc, rule, GraphError, Lookup, Plan, MAX_MANIFEST};

/// A deb artifact: manifest → config (`DebConfig`) + one layer (the .deb). Its stanza must
/// describe exactly the carried file, since apt checks the file against it.
pub fn walk(top: &Descriptor, lookup: Lookup, plan: &mut Plan) -> Result<(), GraphError> {
    let Some(bytes) = read_doc(top, MAX_MANIFEST, "deb", lookup, plan)? else { return Ok(()) };
    let m = AnyManifest::parse(&bytes).map_err(|e| json("deb manifest is not an OCI manifest".into(), e))?;
    let (Some(config), [layer]) = (&m.config, &m.layers[..]) else {
        return Err(rule("a deb artifact needs a config and exactly one layer"));
    };
    if config.media_type != deb::CONFIG_MEDIA_TYPE {
        return Err(rule(format!("deb config has media type {}, expected {}", config.media_type, deb::CONFIG_MEDIA_TYPE)));
    }
    let Some(cfg) = read_doc(config, 1 << 20, "deb", lookup, plan)? else { return Ok(()) };
    let cfg: DebConfig = serde_json::from_slice(&cfg).map_err(|e| json("deb config".into(), e))?;
    check_layer(layer, "deb", lookup, plan)?;
    let field = |k: &str| deb::field(&cfg.control, k).ok_or_else(|| rule(format!("deb stanza has no {k} field")));
    let (package, version, filename) = (field("Package")?, field("Version")?, field("Filename")?);
    let name = format!("apt/{}/{}", cfg.id, deb::deb_file_name(package, version, field("Architecture")?));
    let bad = |e: String| rule(format!("{name}: {e}"));
    for seg in [&cfg.id, &cfg.suite, &cfg.component].into_iter().chain(&cfg.architectures) {
        if !safe_segment(seg) {
            return Err(bad(format!("{seg:?} cannot be a path segment")));
        }
    }
    if cfg.architectures.is_empty() {
        return Err(bad("no target architecture".into()));
    }
    if filename.starts_with('/') || filename.starts_with("dists/") || filename.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(bad(format!("unsafe Filename {filename:?}")));
    }
    if !field("SHA256")?.eq_ignore_ascii_case(layer.digest.hex()) || field("Size")? != layer.size.to_string() {
        return Err(bad("the stanza's SHA256/Size do not describe the carried file".into()));
    }
    let arch = field("Architecture")?;
    let record = DebRecord {
        stanza: cfg.control.clone(),
        digest: layer.digest.clone(),
        size: layer.size,
        codename: cfg.codename.clone(),
        origin: cfg.origin.clone(),
        label: cfg.label.clone(),
    };
    let index_archs: Vec<&String> = if arch == "all" { cfg.architectures.iter().collect() } else { cfg.architectures.iter().filter(|a| *a == arch).collect() };
    if index_archs.is_empty() {
        return Err(bad(format!("architecture {arch} is none of the targets {:?}", cfg.architectures)));
    }
    for a in index_archs {
        let key = DebKey { id: cfg.id.clone(), suite: cfg.suite.clone(), component: cfg.component.clone(), arch: a.clone(), filename: filename.to_string() };
        plan.changes.eco.apt.push((key, record.clone()));
    }
    plan.changes.envelopes.push((name.clone(), top.digest.clone()));
    plan.artifacts.push(name);
    Ok(())
}
