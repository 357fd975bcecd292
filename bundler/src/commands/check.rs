//! `bundler check`: read and validate manifests without touching the network, and with
//! `--pinned` require every top-level artifact to be pinned (what a reviewed seed manifest
//! promises), so a typo or a floating tag fails in seconds, not an hour into `lock`.

use std::path::PathBuf;

use serde::Serialize;

use crate::manifest::{ChartOrigin, FilePin, ImageOrigin, Manifest};

#[derive(Debug, Serialize)]
pub struct Contents {
    pub images: Vec<String>,
    pub apt_packages: Vec<String>,
    pub pypi_requirements: Vec<String>,
    pub charts: Vec<String>,
    pub nltk: Vec<String>,
    pub hf: Vec<String>,
    pub files: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub name: String,
    pub files: Vec<String>,
    pub platforms: Vec<String>,
    pub images: usize,
    pub apt_sources: usize,
    pub apt_packages: usize,
    pub pypi_sets: usize,
    pub pypi_requirements: usize,
    pub charts: usize,
    pub nltk_packages: usize,
    pub hf_repos: usize,
    pub files_by_url: usize,
    /// What the manifests name, as written (references, chart names, repos, file names).
    pub contents: Contents,
    /// Entries that float: what `lock` would resolve differently tomorrow.
    pub unpinned: Vec<String>,
    /// Files whose digest `lock` learns from the download itself (`trust_on_first_use`).
    pub first_use: Vec<String>,
}

pub fn run(manifests: &[PathBuf], pinned: bool) -> anyhow::Result<Report> {
    let m = Manifest::load(manifests)?;
    let report = Report {
        name: m.name.clone(),
        files: m.files.clone(),
        platforms: m.platforms.clone(),
        images: m.images.len(),
        apt_sources: m.apt.len(),
        apt_packages: m.apt.iter().map(|a| a.packages.len()).sum(),
        pypi_sets: m.pypi.len(),
        pypi_requirements: m.pypi.iter().map(|p| p.requirements.len()).sum(),
        charts: m.charts.len(),
        nltk_packages: m.nltk.iter().map(|n| n.packages.len()).sum(),
        hf_repos: m.hf.len(),
        files_by_url: m.raw_files.len(),
        contents: Contents {
            images: m.images.iter().map(|i| i.reference.to_string()).collect(),
            apt_packages: m.apt.iter().flat_map(|a| a.packages.iter().map(move |p| format!("{}: {p}", a.id))).collect(),
            pypi_requirements: m.pypi.iter().flat_map(|p| p.requirements.clone()).collect(),
            charts: m.charts.iter().map(|c| format!("{} {}", c.name, c.version.as_deref().unwrap_or("(newest)"))).collect(),
            nltk: m.nltk.iter().flat_map(|n| n.packages.clone()).collect(),
            hf: m.hf.iter().map(|h| format!("{}@{}", h.repo, h.revision)).collect(),
            files: m.raw_files.iter().map(|f| f.name.clone()).collect(),
        },
        unpinned: unpinned(&m),
        first_use: m.raw_files.iter().filter(|f| matches!(f.pin, FilePin::FirstUse)).map(|f| format!("{} ({})", f.name, f.url)).collect(),
    };
    for a in &m.apt {
        if let Some(k) = &a.keyring {
            if !k.is_file() {
                anyhow::bail!(
                    "{} line {}: apt source {}: keyring {} does not exist; fetch the vendor's key first (scripts/fetch-key.sh checks its fingerprint)",
                    a.file,
                    a.line,
                    a.id,
                    k.display()
                );
            }
        }
    }
    if pinned && !report.unpinned.is_empty() {
        anyhow::bail!("{} unpinned entr{}:\n  {}", report.unpinned.len(), if report.unpinned.len() == 1 { "y" } else { "ies" }, report.unpinned.join("\n  "));
    }
    Ok(report)
}

/// Top-level entries that are not pinned to one version. What they pull in (apt closures,
/// wheel dependencies, chart dependencies) is pinned by the lock, not here.
fn unpinned(m: &Manifest) -> Vec<String> {
    let mut out = Vec::new();
    for i in &m.images {
        let floating = i.reference.digest.is_none() && i.reference.tag.as_deref().is_none_or(|t| t == "latest");
        if floating && matches!(i.origin, ImageOrigin::Registry) {
            out.push(format!("{} line {}: image {} has no version tag or digest", i.file, i.line, i.reference));
        }
    }
    for c in &m.charts {
        let exact = c.version.as_deref().is_some_and(|v| !v.is_empty() && !v.contains(|ch: char| "^~*<>=|, ".contains(ch) || ch == 'x' || ch == 'X'));
        if !exact {
            let from = match &c.origin {
                ChartOrigin::Repo(r) => r.clone(),
                ChartOrigin::Oci(r) => r.clone(),
            };
            out.push(format!("{} line {}: chart {} ({from}) has no exact version", c.file, c.line, c.name));
        }
    }
    for p in &m.pypi {
        for r in &p.requirements {
            let Ok(req) = crate::sources::pypi::parse_requirement(r) else { continue };
            // `==1.2.*` floats; a hash-checked line is pinned by its hashes.
            let exact = match &req.version_or_url {
                Some(pep508_rs::VersionOrUrl::VersionSpecifier(s)) => s.iter().any(|v| matches!(v.operator(), pep440_rs::Operator::Equal | pep440_rs::Operator::ExactEqual)),
                Some(pep508_rs::VersionOrUrl::Url(_)) => true,
                None => false,
            };
            if !exact && !p.hashes.contains_key(&crate::format::pypi::normalize(req.name.as_ref())) {
                out.push(format!("{} line {}: requirement {r:?} is not pinned with ==", p.file, p.line));
            }
        }
    }
    out
}
