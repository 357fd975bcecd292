//! `nltk:` entries: data packages (or collections) from a downloader index.

use serde::Deserialize;

use super::ManifestError;

/// NLTK data packages (or collections) from a downloader index.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NltkSpec {
    pub index: String,
    pub packages: Vec<String>,
    #[serde(skip)]
    pub file: String,
    #[serde(skip)]
    pub line: u64,
}

pub const NLTK_DEFAULT_INDEX: &str = "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/index.xml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNltk {
    index: Option<String>,
    packages: Vec<String>,
}

/// One `nltk:` entry.
pub(super) fn add(nltk: &mut Vec<NltkSpec>, raw: RawNltk, file: &str, line: u64) -> Result<(), ManifestError> {
    let index = raw.index.unwrap_or_else(|| NLTK_DEFAULT_INDEX.to_string());
    if !(index.starts_with("http://") || index.starts_with("https://")) || raw.packages.is_empty() {
        return Err(ManifestError::Invalid { path: file.to_string(), line, detail: "an nltk: entry needs an http(s) `index:` (or the default) and `packages:`".into() });
    }
    nltk.push(NltkSpec { index, packages: raw.packages, file: file.to_string(), line });
    Ok(())
}
