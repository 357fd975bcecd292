//! The `[[wheel]]` entries of a `bundles.lock`, and what pip would be handed from them.

use std::collections::{BTreeMap, BTreeSet};

use super::Target;

/// One `[[wheel]]` entry of a `bundles.lock`.
#[derive(Clone, Debug)]
pub struct LockedWheel {
    pub name: String,
    pub source: String,
    pub index: String,
    pub project: String,
    pub version: String,
    pub filename: String,
    /// `sha256:<hex>` as written.
    pub sha256: String,
    pub size: u64,
    pub requires_python: Option<String>,
    pub targets: Vec<String>,
    /// The whole table, for messages.
    pub raw: toml::Value,
}

impl LockedWheel {
    /// Lower-case hex, without `sha256:`.
    pub fn hex(&self) -> String {
        self.sha256.trim_start_matches("sha256:").to_lowercase()
    }
}

/// The `[[wheel]]` entries of a lock file's text; panics (with the text) on a missing field.
pub fn lock_wheels(text: &str) -> Vec<LockedWheel> {
    let v: toml::Value = toml::from_str(text).unwrap_or_else(|e| panic!("bundles.lock is not TOML ({e}):\n{text}"));
    let Some(list) = v.get("wheel") else { return Vec::new() };
    let list = list.as_array().unwrap_or_else(|| panic!("`wheel` is not an array of tables:\n{text}"));
    list.iter()
        .map(|w| {
            let s = |k: &str| w.get(k).and_then(|x| x.as_str()).map(String::from).unwrap_or_else(|| panic!("[[wheel]] without string `{k}`: {w}\n{text}"));
            assert_eq!(s("kind"), "wheel", "{w}");
            LockedWheel {
                name: s("name"),
                source: s("source"),
                index: s("index"),
                project: s("project"),
                version: s("version"),
                filename: s("filename"),
                sha256: s("sha256"),
                size: w.get("size").and_then(|x| x.as_integer()).unwrap_or_else(|| panic!("[[wheel]] without integer `size`: {w}")) as u64,
                requires_python: w.get("requires_python").and_then(|x| x.as_str()).map(String::from),
                targets: w
                    .get("targets")
                    .and_then(|x| x.as_array())
                    .unwrap_or_else(|| panic!("[[wheel]] without `targets` list: {w}"))
                    .iter()
                    .map(|t| t.as_str().unwrap_or_else(|| panic!("targets holds strings: {w}")).to_string())
                    .collect(),
                raw: w.clone(),
            }
        })
        .collect()
}

/// The versions a lock pins for one target: project → version.
pub fn lock_pins_for(wheels: &[LockedWheel], target: &Target) -> BTreeMap<String, String> {
    wheels.iter().filter(|w| w.targets.iter().any(|t| target.named_by(t))).map(|w| (w.project.clone(), w.version.clone())).collect()
}

/// The file names a lock carries for one target.
pub fn lock_files_for(wheels: &[LockedWheel], target: &Target) -> BTreeSet<String> {
    wheels.iter().filter(|w| w.targets.iter().any(|t| target.named_by(t))).map(|w| w.filename.clone()).collect()
}

/// A `--require-hashes` requirements file from locked entries: `project==version
/// --hash=sha256:…` (every locked file of that version).
pub fn hashed_requirements(wheels: &[LockedWheel]) -> String {
    let mut by: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for w in wheels {
        by.entry((w.project.clone(), w.version.clone())).or_default().insert(w.hex());
    }
    let mut out = String::new();
    for ((p, v), hashes) in by {
        out.push_str(&format!("{p}=={v}"));
        for h in hashes {
            out.push_str(&format!(" \\\n    --hash=sha256:{h}"));
        }
        out.push('\n');
    }
    out
}
