//! How a Hugging Face model repository travels in a bundle: one OCI 1.1 artifact per repo and
//! commit, one layer per file (titled with its path in the repo), and an `HfConfig` with what
//! the mirror needs to answer the hub's revision, tree and resolve APIs as the hub does (git
//! blob ids, LFS sha256 and sizes).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};
use sha1::Digest as _;

use super::Digest;
use crate::lock::Locked;
use crate::sbom::{purl_enc, SbomPackage};

pub const ARTIFACT_TYPE: &str = "application/vnd.feas.hf.model.v1";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.feas.hf.config.v1+json";
pub const FILE_MEDIA_TYPE: &str = "application/octet-stream";
/// What the hub leaves unquoted in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HfConfig {
    /// `owner/name`.
    pub repo: String,
    /// The 40-hex commit every file was read at.
    pub commit: String,
    /// Revisions (branch or tag names, or the commit itself) the manifest asked for that
    /// resolved to this commit; the mirror answers them with it.
    pub revisions: Vec<String>,
    /// The hub it came from, for people.
    pub endpoint: String,
    /// Sorted by path; layer `i` carries file `i`.
    pub files: Vec<HfFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HfFile {
    pub path: String,
    pub size: u64,
    pub sha256: Digest,
    /// Git blob id as the hub's tree gives it (for an LFS file, its pointer's).
    pub oid: String,
    /// Size of the LFS pointer, for files stored with LFS (their ETag is the sha256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lfs_pointer_size: Option<u64>,
}

impl HfConfig {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("hf config serializes")
    }
}

/// `owner/name` as the hub allows it (huggingface_hub's `validate_repo_id`): word characters,
/// `-` and `.`, no `--` or `..`, at most 96 characters per part.
pub fn valid_repo_id(id: &str) -> bool {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 96
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && p.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            && p.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    let Some((owner, name)) = id.split_once('/') else { return false };
    part_ok(owner) && part_ok(name) && !id.contains("--") && !id.contains("..") && !name.ends_with(".git")
}

/// A branch or tag name (may contain `/`, as `refs/pr/1` does) or a commit id.
pub fn valid_revision(rev: &str) -> bool {
    !rev.is_empty()
        && rev.len() <= 200
        && rev.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./+".contains(&b))
        && rev.split('/').all(|s| !s.is_empty() && s != "." && s != ".." && !s.starts_with('.'))
        && !rev.contains("..")
}

/// A 40-hex lowercase commit id.
pub fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A path inside a repository that is safe to serve and to write below a snapshot folder.
pub fn valid_path(p: &str) -> bool {
    !p.is_empty() && p.len() <= 1024 && !p.contains('\\') && !p.chars().any(char::is_control) && p.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

/// Git's blob id: sha1 of `blob <size>\0` followed by the content, fed in pieces.
pub struct GitBlobHasher(sha1::Sha1);

impl GitBlobHasher {
    pub fn new(size: u64) -> Self {
        let mut h = sha1::Sha1::new();
        h.update(format!("blob {size}\0").as_bytes());
        GitBlobHasher(h)
    }
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// The git tree id of a directory whose entries are `(name, is_dir, oid)`, as `git mktree`
/// computes it: entries ordered by name, directories compared as `name/`.
pub fn git_tree_oid(entries: &[(String, bool, String)]) -> String {
    let mut sorted: Vec<&(String, bool, String)> = entries.iter().collect();
    let key = |e: &(String, bool, String)| if e.1 { format!("{}/", e.0) } else { e.0.clone() };
    sorted.sort_by_key(|e| key(e));
    let mut body = Vec::new();
    for (name, is_dir, oid) in sorted {
        body.extend_from_slice(if *is_dir { b"40000 " } else { b"100644 " });
        body.extend_from_slice(name.as_bytes());
        body.push(0);
        body.extend_from_slice(&hex::decode(oid).unwrap_or_default());
    }
    let mut h = sha1::Sha1::new();
    h.update(format!("tree {}\0", body.len()).as_bytes());
    h.update(&body);
    hex::encode(h.finalize())
}

/// A path segment as a URL segment (the hub API quotes each one).
pub fn enc(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A repo path as a URL path: each segment quoted, `/` kept.
pub fn enc_path(p: &str) -> String {
    p.split('/').map(enc).collect::<Vec<_>>().join("/")
}

/// One file of a Hugging Face model repository at the commit its revision resolved to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HfLock {
    /// `hf`.
    pub kind: String,
    /// `<repo>/<path>`.
    pub name: String,
    /// The file's `/resolve/<commit>/` URL on the hub.
    pub source: String,
    /// `owner/name`.
    pub repo: String,
    /// As the manifest asks for it (branch, tag or commit).
    pub revision: String,
    /// The 40-hex commit the revision resolved to.
    pub commit: String,
    /// Path in the repository.
    pub path: String,
    pub sha256: Digest,
    pub size: u64,
    /// Git blob id from the hub's tree (for an LFS file, its pointer's).
    pub oid: String,
    /// Stored with LFS: the hub's tree gave its sha256 and size.
    pub lfs: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lfs_pointer_size: Option<u64>,
}

impl Locked for HfLock {
    fn sbom(&self) -> SbomPackage {
        // purl subpath: the file inside the repository at that commit.
        let (owner, name) = self.repo.split_once('/').unwrap_or(("", self.repo.as_str()));
        let sub: Vec<String> = self.path.split('/').map(purl_enc).collect();
        let purl = format!("pkg:huggingface/{}/{}@{}#{}", purl_enc(owner), purl_enc(name), purl_enc(&self.commit), sub.join("/"));
        SbomPackage {
            name: format!("{}/{}", self.repo, self.path),
            version: Some(self.commit.clone()),
            source: self.source.clone(),
            sha256: self.sha256.clone(),
            purl,
            purpose: "DATA",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_ids() {
        // `printf hello | git hash-object --stdin`
        let mut h = GitBlobHasher::new(5);
        h.update(b"hello");
        assert_eq!(h.finish(), "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0");
        // `git write-tree` of one file `a` holding "hello".
        assert_eq!(git_tree_oid(&[("a".into(), false, "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0".into())]), "8917ce3833750c0f424a16966ef3391aafe880c1");
    }

    #[test]
    fn names() {
        for ok in ["BAAI/bge-small-en-v1.5", "demo/tiny", "a_b/c.d"] {
            assert!(valid_repo_id(ok), "{ok}");
        }
        for bad in ["gpt2", "a/b/c", "a/../b", "a--b/c", "-a/b", "a/b.git", "a/b c", "/b", "a/"] {
            assert!(!valid_repo_id(bad), "{bad}");
        }
        for ok in ["main", "v1.0", "refs/pr/1", "0123456789abcdef0123456789abcdef01234567"] {
            assert!(valid_revision(ok), "{ok}");
        }
        for bad in ["", "../x", "a//b", "a b", "a/.x", "a..b", "/main"] {
            assert!(!valid_revision(bad), "{bad}");
        }
        for ok in ["config.json", "sub/dir/w.bin", "1_Pooling/config.json"] {
            assert!(valid_path(ok), "{ok}");
        }
        for bad in ["", "/etc/passwd", "a/../b", "a//b", "./a", "a\\b", "a/\n"] {
            assert!(!valid_path(bad), "{bad}");
        }
    }
}
