//! `models:` entries with `hf:`: Hugging Face model repositories at a revision.

use serde::Deserialize;

use super::files::RawFile;
use super::ManifestError;

/// A `models:` entry: a plain URL with its sha256 (served like `files:`), or a Hugging Face
/// repository (`hf:`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModel {
    url: Option<String>,
    sha256: Option<String>,
    name: Option<String>,
    hf: Option<String>,
    revision: Option<String>,
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    endpoint: Option<String>,
}

pub const HF_DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// A Hugging Face model repository at a revision, with the files wanted from it
/// (`include`/`exclude` as huggingface_hub's `allow_patterns`/`ignore_patterns`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HfSpec {
    pub repo: String,
    pub revision: String,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// The hub's base URL, without a trailing slash.
    pub endpoint: String,
    #[serde(skip)]
    pub file: String,
    #[serde(skip)]
    pub line: u64,
}

fn hf_spec(repo: String, revision: Option<String>, include: Option<Vec<String>>, exclude: Option<Vec<String>>, endpoint: Option<String>) -> Result<HfSpec, String> {
    use crate::format::hf;
    if !hf::valid_repo_id(&repo) {
        return Err(format!("models: hf: {repo:?} is not a Hugging Face repository id: give `owner/name` (letters, digits, `-_.`), e.g. BAAI/bge-small-en-v1.5"));
    }
    let revision = revision.unwrap_or_else(|| "main".into());
    if !hf::valid_revision(&revision) {
        return Err(format!("models: hf: {repo} revision {revision:?} is not a branch, tag or commit name (letters, digits, `-_./+`)"));
    }
    let endpoint = endpoint.unwrap_or_else(|| HF_DEFAULT_ENDPOINT.into()).trim_end_matches('/').to_string();
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(format!("models: hf: {repo} endpoint {endpoint:?} must be an http:// or https:// URL"));
    }
    let (include, exclude) = (include.unwrap_or_default(), exclude.unwrap_or_default());
    for p in include.iter().chain(&exclude) {
        crate::sources::hf::patterns(std::slice::from_ref(p)).map_err(|e| format!("models: hf: {repo}: {e}"))?;
    }
    Ok(HfSpec { repo, revision, include, exclude, endpoint, file: String::new(), line: 0 })
}

/// One `models:` entry: a Hugging Face repository is added to `hf`; a plain URL comes back as a
/// file entry.
pub(super) fn add_model(hf: &mut Vec<HfSpec>, raw: RawModel, file: &str, line: u64) -> Result<Option<RawFile>, ManifestError> {
    let invalid = |detail: String| ManifestError::Invalid { path: file.to_string(), line, detail };
    match raw {
        RawModel { hf: Some(repo), url: None, sha256: None, name: None, revision, include, exclude, endpoint } => {
            let spec = hf_spec(repo, revision, include, exclude, endpoint).map_err(invalid)?;
            if let Some(prev) = hf.iter().find(|p| p.repo == spec.repo && p.revision == spec.revision && p.endpoint == spec.endpoint) {
                return Err(invalid(format!(
                    "models: hf: {} revision {} is already listed ({} line {}); merge the include/exclude lists into one entry",
                    spec.repo, spec.revision, prev.file, prev.line
                )));
            }
            hf.push(HfSpec { file: file.to_string(), line, ..spec });
            Ok(None)
        }
        RawModel { hf: Some(repo), .. } => Err(invalid(format!("models: hf: {repo} takes `revision`, `include`, `exclude` and `endpoint`, not `url`, `sha256` or `name`"))),
        RawModel { url: Some(url), sha256: Some(sha256), name, revision: None, include: None, exclude: None, endpoint: None, .. } => {
            Ok(Some(RawFile { url, sha256: Some(sha256), checksums: None, trust_on_first_use: None, name }))
        }
        _ => Err(invalid(
            "a models: entry needs `url:` and `sha256:` (a file), or `hf:` with optional `revision`, `include`, `exclude`, `endpoint` (a Hugging Face repository)".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{tests::write, Manifest};
    use super::*;

    #[test]
    fn hf_models() {
        let d = tempfile::tempdir().unwrap();
        let a = write(
            d.path(),
            "m.yaml",
            "models:\n  - {hf: BAAI/bge-small-en-v1.5, include: ['*.json'], endpoint: 'http://127.0.0.1:1/'}\n  - hf: demo/tiny\n    revision: refs/pr/1\n",
        );
        let m = Manifest::load(&[a]).unwrap();
        assert_eq!(m.hf.len(), 2);
        assert_eq!((m.hf[0].revision.as_str(), m.hf[0].endpoint.as_str(), m.hf[0].line), ("main", "http://127.0.0.1:1", 2));
        assert_eq!((m.hf[1].revision.as_str(), m.hf[1].endpoint.as_str()), ("refs/pr/1", HF_DEFAULT_ENDPOINT));
        for (text, needle) in [
            ("models:\n  - {hf: gpt2}\n", "owner/name"),
            ("models:\n  - {hf: a/b, revision: '../x'}\n", "revision"),
            ("models:\n  - {hf: a/b, include: ['[']}\n", "["),
            ("models:\n  - {hf: a/b, sha256: x}\n", "not `url`"),
            ("models:\n  - {hf: a/b}\n  - {hf: a/b}\n", "already listed"),
        ] {
            let p = write(d.path(), "bad.yaml", text);
            let e = Manifest::load(&[p]).unwrap_err().to_string();
            assert!(e.contains("bad.yaml line") && e.contains(needle), "{text}: {e}");
        }
    }
}
