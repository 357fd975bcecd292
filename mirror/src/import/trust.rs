//! Who may sign what. Keys come from `--trust` (any bundle name) and from trust files (TOML,
//! `docs/trust.md`), which scope each key to bundle-name patterns and revoke keys by id.
//! Rules, strictest first: a key revoked in any trust file signs nothing; a key a trust file
//! names signs only the names its patterns match there (even when also given with `--trust`),
//! and such a grant includes taking the name over from another key; a key only given with
//! `--trust` signs any name but may not take one over without `--allow-signer-change`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};

use feas_format::sign::{KeyId, PublicKey};

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read trust file {path}: {source}; check the path given to --trust-file")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("trust file {path}: {detail}")]
    Invalid { path: String, detail: String },
}

/// A trust file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default, rename = "key")]
    keys: Vec<KeySpec>,
    #[serde(default)]
    revoked: Vec<Revocation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySpec {
    /// A minisign .pub file, relative to the trust file's directory.
    public: Option<PathBuf>,
    /// Or the public key's base64 line.
    key: Option<String>,
    /// Bundle names the key may sign: glob patterns (`*`, `?`, `[a-z]`, `{a,b}`).
    names: Vec<String>,
    /// Free text (who holds the key).
    #[serde(default)]
    #[allow(dead_code)]
    comment: Option<String>,
}

/// A revoked key: its id as minisign prints it (16 hex digits).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    pub id: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A trust file read and checked, its keys inline: it travels to a running server as is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrustFile {
    /// Where it was read from, for messages.
    pub path: String,
    pub keys: Vec<ScopedKey>,
    pub revoked: Vec<Revocation>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScopedKey {
    /// The public key file's text, or its base64 line.
    pub text: String,
    /// Where the key came from, for messages.
    pub source: String,
    pub names: Vec<String>,
}

impl TrustFile {
    pub fn load(path: &Path) -> Result<TrustFile, TrustError> {
        let text = std::fs::read_to_string(path).map_err(|source| TrustError::Io { path: path.into(), source })?;
        let shown = path.display().to_string();
        let invalid = |detail: String| TrustError::Invalid { path: shown.clone(), detail };
        let spec: FileSpec = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut keys = Vec::new();
        for (i, k) in spec.keys.into_iter().enumerate() {
            let n = i + 1;
            let (text, source) = match (k.public, k.key) {
                (Some(p), None) => {
                    let file = dir.join(&p);
                    let text = std::fs::read_to_string(&file).map_err(|e| invalid(format!("key {n}: cannot read public key {}: {e}", file.display())))?;
                    (text, file.display().to_string())
                }
                (None, Some(line)) => (line, format!("{shown} (key {n})")),
                _ => return Err(invalid(format!("key {n}: give exactly one of `public` (a .pub file) or `key` (its base64 line)"))),
            };
            keys.push(ScopedKey { text, source, names: k.names });
        }
        let file = TrustFile { path: shown, keys, revoked: spec.revoked };
        file.check()?;
        Ok(file)
    }

    /// Everything `Trust::new` relies on; also run on a file received over the control socket.
    fn check(&self) -> Result<(), TrustError> {
        self.compile().map(|_| ())
    }

    #[allow(clippy::type_complexity)]
    fn compile(&self) -> Result<(Vec<(PublicKey, Vec<(String, GlobMatcher)>)>, Vec<(KeyId, Option<String>)>), TrustError> {
        let invalid = |detail: String| TrustError::Invalid { path: self.path.clone(), detail };
        let mut keys = Vec::new();
        for (i, k) in self.keys.iter().enumerate() {
            let n = i + 1;
            let key = PublicKey::parse(&k.text, &k.source).map_err(|e| invalid(format!("key {n} ({}): not a minisign public key: {e}", k.source)))?;
            if k.names.is_empty() {
                return Err(invalid(format!("key {n} ({}) has no `names`: list the bundle names it may sign, e.g. names = [\"*\"]", k.source)));
            }
            let mut patterns = Vec::new();
            for p in &k.names {
                let g = Glob::new(p).map_err(|e| invalid(format!("key {n}: name pattern {p:?}: {e}")))?;
                patterns.push((p.clone(), g.compile_matcher()));
            }
            keys.push((key, patterns));
        }
        let mut revoked = Vec::new();
        for r in &self.revoked {
            let id = parse_key_id(&r.id).ok_or_else(|| invalid(format!("revoked id {:?} is not a key id (16 hex digits, as minisign prints it)", r.id)))?;
            revoked.push((id, r.reason.clone()));
        }
        Ok((keys, revoked))
    }
}

/// `3AAE16AC5653173A` as minisign prints it (the key number, little-endian, in hex).
pub fn parse_key_id(s: &str) -> Option<KeyId> {
    let s = s.trim();
    if s.len() != 16 {
        return None;
    }
    u64::from_str_radix(s, 16).ok().map(|n| KeyId(n.to_le_bytes()))
}

/// What a signer may do with a bundle name.
#[derive(Debug, PartialEq, Eq)]
pub enum Grant {
    /// Given with `--trust`: any name, but not another key's without `--allow-signer-change`.
    Any,
    /// A trust file gives the key this name, taking it over from another key included.
    Named,
    /// A trust file names the key, not for this name: the refusal, written out.
    Refused(String),
}

/// The keys an import trusts, merged from `--trust` and every trust file.
#[derive(Default)]
pub struct Trust {
    keys: Vec<PublicKey>,
    /// Keys named by trust files: (pattern, matcher, file) for each name they may sign.
    scopes: BTreeMap<[u8; 8], Vec<(String, GlobMatcher, String)>>,
    /// Revoked keys: the file and the reason.
    revoked: BTreeMap<[u8; 8], (String, Option<String>)>,
}

impl Trust {
    pub fn new(given: &[PublicKey], files: &[TrustFile]) -> Result<Trust, TrustError> {
        let mut t = Trust::default();
        let mut all: Vec<PublicKey> = given.to_vec();
        for f in files {
            let (keys, revoked) = f.compile()?;
            for (key, patterns) in keys {
                let scope = t.scopes.entry(key.id.0).or_default();
                scope.extend(patterns.into_iter().map(|(p, m)| (p, m, f.path.clone())));
                all.push(key);
            }
            for (id, reason) in revoked {
                t.revoked.entry(id.0).or_insert((f.path.clone(), reason));
            }
        }
        // Revoked keys stay out of the verifying set: their bundles fail the signature check,
        // and `revoked` explains why.
        for k in all {
            if !t.revoked.contains_key(&k.id.0) && !t.keys.iter().any(|x| x.id == k.id) {
                t.keys.push(k);
            }
        }
        Ok(t)
    }

    /// The keys a signature may verify against (none revoked).
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// Why `id` signs nothing, if it was revoked.
    pub fn revoked(&self, id: KeyId) -> Option<String> {
        let (file, reason) = self.revoked.get(&id.0)?;
        Some(match reason {
            Some(r) => format!("key {id} is revoked in trust file {file} ({r})"),
            None => format!("key {id} is revoked in trust file {file}"),
        })
    }

    pub fn may_sign(&self, id: KeyId, name: &str) -> Grant {
        let Some(scope) = self.scopes.get(&id.0) else {
            return Grant::Any;
        };
        if scope.iter().any(|(_, m, _)| m.is_match(name)) {
            return Grant::Named;
        }
        let mut by_file: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (p, _, f) in scope {
            by_file.entry(f).or_default().push(p);
        }
        let allowed: Vec<String> = by_file.iter().map(|(f, ps)| format!("trust file {f} lets it sign only {}", ps.join(", "))).collect();
        Grant::Refused(format!("bundle {name} is signed by key {id}, but {}. If that key publishes {name}, add the name to its `names` there", allowed.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use feas_format::sign::keygen;

    fn key(dir: &Path, sub: &str) -> (PathBuf, PublicKey) {
        let (_, pk, _) = keygen(&dir.join(sub), None).unwrap();
        let k = PublicKey::load(&pk).unwrap();
        (pk, k)
    }

    #[test]
    fn scopes_revocations_and_plain_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (a_pub, a) = key(dir.path(), "a");
        let (b_pub, b) = key(dir.path(), "b");
        let (_, c) = key(dir.path(), "c");
        let b_line = std::fs::read_to_string(&b_pub).unwrap().lines().nth(1).unwrap().to_string();
        assert!(a_pub.starts_with(dir.path()));
        let f = dir.path().join("trust.toml");
        std::fs::write(&f, format!("[[key]]\npublic = \"a/bundle.pub\"\nnames = [\"a*\", \"shared\"]\n\n[[key]]\nkey = \"{b_line}\"\nnames = [\"b?\"]\n\n[[revoked]]\nid = \"{}\"\nreason = \"lost\"\n", c.id)).unwrap();
        let file = TrustFile::load(&f).unwrap();
        // C is given with --trust too, but revoked: it stays out of the verifying set.
        let t = Trust::new(&[c.clone(), a.clone()], &[file]).unwrap();
        let ids: Vec<KeyId> = t.keys().iter().map(|k| k.id).collect();
        assert_eq!(ids, vec![a.id, b.id]);
        assert!(t.revoked(c.id).unwrap().contains("lost") && t.revoked(c.id).unwrap().contains("trust.toml"));
        assert!(t.revoked(a.id).is_none());
        assert_eq!(t.may_sign(a.id, "alpha"), Grant::Named);
        assert_eq!(t.may_sign(a.id, "shared"), Grant::Named);
        assert_eq!(t.may_sign(b.id, "b1"), Grant::Named);
        let Grant::Refused(why) = t.may_sign(b.id, "b12") else { panic!() };
        assert!(why.contains("b12") && why.contains(&b.id.to_string()) && why.contains("b?") && why.contains("trust.toml"), "{why}");
        assert!(matches!(t.may_sign(a.id, "b1"), Grant::Refused(_)));
        // A key only given with --trust: any name.
        let (_, d) = key(dir.path(), "d");
        let t = Trust::new(std::slice::from_ref(&d), &[]).unwrap();
        assert_eq!(t.may_sign(d.id, "anything"), Grant::Any);
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("[[key]]\npublic = \"missing.pub\"\nnames = [\"*\"]\n", "missing.pub"),
            ("[[key]]\nkey = \"RWQ\"\nnames = [\"*\"]\n", "not a minisign public key"),
            ("[[key]]\nnames = [\"*\"]\n", "exactly one of"),
            ("[[revoked]]\nid = \"xyz\"\n", "xyz"),
            ("[[keys]]\nnames = [\"*\"]\n", "keys"),
            ("[[key]]\nkey = \"RWQ\"\nnames = [\"*\"]\nname = \"x\"\n", "name"),
        ];
        for (text, needle) in cases {
            let f = dir.path().join("t.toml");
            std::fs::write(&f, text).unwrap();
            let e = TrustFile::load(&f).unwrap_err().to_string();
            assert!(e.contains("t.toml") && e.contains(needle), "{text}: {e}");
        }
        let (_, a) = key(dir.path(), "a");
        let line = a_line(dir.path());
        let f = dir.path().join("t.toml");
        std::fs::write(&f, format!("[[key]]\nkey = \"{line}\"\nnames = []\n")).unwrap();
        assert!(TrustFile::load(&f).unwrap_err().to_string().contains("no `names`"));
        assert_eq!(parse_key_id(&a.id.to_string()), Some(a.id));
        assert_eq!(parse_key_id(&a.id.to_string().to_lowercase()), Some(a.id));
    }

    fn a_line(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("a/bundle.pub")).unwrap().lines().nth(1).unwrap().to_string()
    }
}
