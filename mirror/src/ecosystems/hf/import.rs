//! Importing a Hugging Face model repository at one commit from a bundle.

use std::collections::BTreeSet;

use feas_format::hf::{self as hf, HfConfig};
use feas_format::oci::{AnyManifest, Descriptor};

use super::HfRecord;
use crate::import::graph::{check_layer, json, read_doc, rule, GraphError, Lookup, Plan, MAX_MANIFEST};

/// A Hugging Face repo at one commit: manifest → config (`HfConfig`) + one layer per file, in
/// the config's order, each titled with its path and carrying the bytes the config describes.
pub fn walk(top: &Descriptor, lookup: Lookup, plan: &mut Plan) -> Result<(), GraphError> {
    let Some(bytes) = read_doc(top, MAX_MANIFEST, "hf", lookup, plan)? else { return Ok(()) };
    let m = AnyManifest::parse(&bytes).map_err(|e| json("hf manifest is not an OCI manifest".into(), e))?;
    let Some(config) = &m.config else { return Err(rule("an hf artifact needs a config")) };
    if config.media_type != hf::CONFIG_MEDIA_TYPE {
        return Err(rule(format!("hf config has media type {}, expected {}", config.media_type, hf::CONFIG_MEDIA_TYPE)));
    }
    let Some(cfg) = read_doc(config, 64 << 20, "hf", lookup, plan)? else { return Ok(()) };
    let cfg: HfConfig = serde_json::from_slice(&cfg).map_err(|e| json("hf config".into(), e))?;
    let name = format!("hf/{}@{}", cfg.repo, cfg.commit);
    let bad = |e: String| rule(format!("{name}: {e}"));
    if !hf::valid_repo_id(&cfg.repo) || !hf::is_commit(&cfg.commit) {
        return Err(bad("not a valid repository id and commit".into()));
    }
    if let Some(r) = cfg.revisions.iter().find(|r| !hf::valid_revision(r)) {
        return Err(bad(format!("revision {r:?} cannot be served")));
    }
    if cfg.files.len() != m.layers.len() {
        return Err(bad(format!("the config lists {} files but the manifest has {} layers", cfg.files.len(), m.layers.len())));
    }
    let mut seen = BTreeSet::new();
    for (f, layer) in cfg.files.iter().zip(&m.layers) {
        if !hf::valid_path(&f.path) || !seen.insert(f.path.as_str()) {
            return Err(bad(format!("file path {:?} is unsafe or listed twice", f.path)));
        }
        let title = layer.annotations.get(feas_format::oci::ANNOTATION_TITLE);
        if title != Some(&f.path) || layer.digest != f.sha256 || layer.size != f.size {
            return Err(bad(format!("layer {} does not carry {} as the config describes it", layer.digest, f.path)));
        }
        check_layer(layer, "hf", lookup, plan)?;
    }
    plan.changes.eco.hf.push(HfRecord { repo: cfg.repo, commit: cfg.commit, revisions: cfg.revisions, files: cfg.files, imported_at: String::new() });
    plan.changes.envelopes.push((name.clone(), top.digest.clone()));
    plan.artifacts.push(name);
    Ok(())
}
