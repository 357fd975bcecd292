//! `files:` entries (and `models:` entries that are a plain URL): raw files pinned by sha256.

use serde::Deserialize;

use super::ManifestError;
use crate::format::names::FileName;

/// A raw file: an URL and how its sha256 is pinned, served at `/files/<name>`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FileSpec {
    pub url: String,
    pub pin: FilePin,
    pub name: FileName,
    #[serde(skip)]
    pub file: String,
    #[serde(skip)]
    pub line: u64,
}

/// Where a file's sha256 comes from. Whatever the source, `bundles.lock` then holds the
/// digest and `--locked` refuses any change.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum FilePin {
    /// Written in the manifest.
    Sha256(crate::format::Digest),
    /// Read at `bundler lock` from the project's published `sha256sum`-format list (RKE2's
    /// `sha256sum-amd64.txt`), looked up by the URL's file name.
    Checksums(String),
    /// Learnt from the bytes at `bundler lock` (`trust_on_first_use: true`): for files whose
    /// project publishes no checksum, such as an install script at a tag.
    FirstUse,
}

impl FilePin {
    /// The digest the manifest itself requires, if it names one.
    pub fn sha256(&self) -> Option<&crate::format::Digest> {
        match self {
            FilePin::Sha256(d) => Some(d),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) url: String,
    pub(super) sha256: Option<String>,
    pub(super) checksums: Option<String>,
    pub(super) trust_on_first_use: Option<bool>,
    pub(super) name: Option<String>,
}

fn file_spec(raw: RawFile) -> Result<FileSpec, String> {
    if !(raw.url.starts_with("http://") || raw.url.starts_with("https://")) {
        return Err(format!("file url {:?} must be http:// or https://", raw.url));
    }
    let pin = match (raw.sha256, raw.checksums, raw.trust_on_first_use) {
        (Some(h), None, None | Some(false)) => FilePin::Sha256(
            format!("sha256:{}", h.trim_start_matches("sha256:").to_ascii_lowercase())
                .parse()
                .map_err(|_| format!("file {}: sha256 {h:?} is not 64 hex digits", raw.url))?,
        ),
        (None, Some(c), None | Some(false)) if c.starts_with("http://") || c.starts_with("https://") => FilePin::Checksums(c),
        (None, Some(c), None | Some(false)) => return Err(format!("file {}: checksums {c:?} must be an http:// or https:// URL", raw.url)),
        (None, None, Some(true)) => FilePin::FirstUse,
        _ => {
            return Err(format!(
                "file {}: give exactly one of `sha256:` (the digest), `checksums:` (the URL of the project's sha256sum list) or `trust_on_first_use: true` (pin what `bundler lock` downloads)",
                raw.url
            ))
        }
    };
    let name = match raw.name {
        Some(n) => n,
        None => {
            let last = raw.url.split(['?', '#']).next().unwrap_or_default().rsplit('/').next().unwrap_or_default();
            percent_encoding::percent_decode_str(last).decode_utf8_lossy().into_owned()
        }
    };
    let name: FileName = name.parse().map_err(|_| format!("file {}: name {name:?} must be one path segment of letters, digits, `-_.+~`; set `name:`", raw.url))?;
    Ok(FileSpec { url: raw.url, pin, name, file: String::new(), line: 0 })
}

/// One `files:` (or plain-URL `models:`) entry; the same name twice must be the same file.
pub(super) fn add(files: &mut Vec<FileSpec>, raw: RawFile, file: &str, line: u64) -> Result<(), ManifestError> {
    let spec = file_spec(raw).map_err(|detail| ManifestError::Invalid { path: file.to_string(), line, detail })?;
    if let Some(prev) = files.iter().find(|p| p.name == spec.name) {
        if prev.url != spec.url || prev.pin != spec.pin {
            return Err(ManifestError::Invalid {
                path: file.to_string(),
                line,
                detail: format!("file name {:?} is already used for {} ({} line {}); give this one its own `name:`", spec.name, prev.url, prev.file, prev.line),
            });
        }
        return Ok(());
    }
    files.push(FileSpec { file: file.to_string(), line, ..spec });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{tests::write, Manifest};

    #[test]
    fn model_urls_are_files() {
        let d = tempfile::tempdir().unwrap();
        let h = "a".repeat(64);
        let a = write(
            d.path(),
            "m.yaml",
            &format!(
                "models:\n  - {{url: 'https://example.org/x/nomic-embed.f32.gguf', sha256: '{h}'}}\nfiles:\n  - {{url: 'https://get.rke2.io', sha256: '{h}', name: install.sh}}\n"
            ),
        );
        let m = Manifest::load(&[a]).unwrap();
        let names: Vec<&str> = m.raw_files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["install.sh", "nomic-embed.f32.gguf"]);
    }
}
