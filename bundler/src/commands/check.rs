//! `bundler check`: read and validate manifests without touching the network, and with
//! `--pinned` require every top-level artifact to be pinned (what a reviewed seed manifest
//! promises), so a typo or a floating tag fails in seconds, not an hour into `lock`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::ecosystems::{self, Checked};
use crate::manifest::{ImageOrigin, Manifest};

#[derive(Debug, Serialize)]
pub struct Report {
    pub name: String,
    pub files: Vec<String>,
    pub platforms: Vec<String>,
    pub images: usize,
    /// Each section's counts (`apt_packages`, `charts`, `files_by_url`, …).
    #[serde(flatten)]
    pub counts: BTreeMap<&'static str, usize>,
    /// What the manifests name, as written (references, chart names, repos, file names), by kind.
    pub contents: BTreeMap<&'static str, Vec<String>>,
    /// Entries that float: what `lock` would resolve differently tomorrow.
    pub unpinned: Vec<String>,
    /// Files whose digest `lock` learns from the download itself (`trust_on_first_use`).
    pub first_use: Vec<String>,
    /// The one-line summary `check` prints.
    #[serde(skip)]
    pub summary: String,
}

pub fn run(manifests: &[PathBuf], pinned: bool) -> anyhow::Result<Report> {
    let m = Manifest::load(manifests)?;
    let mut checked = Checked { contents: vec![("images", m.images.iter().map(|i| i.reference.to_string()).collect())], ..Checked::default() };
    checked.summary.push(format!("{} image(s)", m.images.len()));
    for i in &m.images {
        let floating = i.reference.digest.is_none() && i.reference.tag.as_deref().is_none_or(|t| t == "latest");
        if floating && matches!(i.origin, ImageOrigin::Registry) {
            checked.unpinned.push(format!("{} line {}: image {} has no version tag or digest", i.file, i.line, i.reference));
        }
    }
    ecosystems::check(&m, &mut checked).map_err(anyhow::Error::msg)?;
    let report = Report {
        name: m.name.clone(),
        files: m.files.clone(),
        platforms: m.platforms.clone(),
        images: m.images.len(),
        counts: checked.counts.into_iter().collect(),
        contents: checked.contents.into_iter().collect(),
        unpinned: checked.unpinned,
        first_use: checked.first_use,
        summary: format!("{}: {}", m.name, checked.summary.join(", ")),
    };
    if pinned && !report.unpinned.is_empty() {
        anyhow::bail!("{} unpinned entr{}:\n  {}", report.unpinned.len(), if report.unpinned.len() == 1 { "y" } else { "ies" }, report.unpinned.join("\n  "));
    }
    Ok(report)
}
