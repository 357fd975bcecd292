//! What the store keeps of a Hugging Face model repository at one commit, and how the routes
//! read it.

use serde::{Deserialize, Serialize};

use crate::store::meta::{decode, key, names_no_blob, trees, Rule, Walker, SEP};
use crate::store::{Meta, StoreError};

trees! {
    pub struct Trees {
        /// `repo \0 commit` → HfRecord.
        commits = "hf",
        /// `repo \0 revision` → commit: a revision name answers with the commit imported last for it.
        refs = "hf_refs",
    }
}

pub(crate) const RULES: Trees<Rule> = Trees {
    commits: reach,
    // Revision names → commits: the commits' records keep the files.
    refs: names_no_blob,
};

/// A Hugging Face model repository at one commit: its files as the hub's tree lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HfRecord {
    pub repo: String,
    pub commit: String,
    /// Revision names imported for this commit (later imports add theirs).
    pub revisions: Vec<String>,
    /// Sorted by path.
    pub files: Vec<feas_format::hf::HfFile>,
    /// When it was first imported (RFC 3339): the mirror's `lastModified` for it.
    #[serde(default)]
    pub imported_at: String,
}

impl Meta {
    /// Hugging Face repositories held, each commit with its record, sorted by repo and commit.
    pub fn hf_models(&self) -> Result<Vec<HfRecord>, StoreError> {
        self.t.eco.hf.commits.iter().values().map(|v| decode("hf", &v?)).collect()
    }

    /// The first `limit` records, as `hf_models` sorts them.
    pub fn hf_models_first(&self, limit: usize) -> Result<Vec<HfRecord>, StoreError> {
        self.t.eco.hf.commits.iter().values().take(limit).map(|v| decode("hf", &v?)).collect()
    }

    pub fn hf_model(&self, repo: &str, commit: &str) -> Result<Option<HfRecord>, StoreError> {
        self.t.eco.hf.commits.get(key(&[repo, commit]))?.map(|v| decode("hf", &v)).transpose()
    }

    pub fn hf_repo_exists(&self, repo: &str) -> Result<bool, StoreError> {
        Ok(self.t.eco.hf.commits.scan_prefix(key(&[repo, ""])).next().transpose()?.is_some())
    }

    /// The commit a revision name stands for (the one imported last under that name).
    pub fn hf_ref(&self, repo: &str, revision: &str) -> Result<Option<String>, StoreError> {
        Ok(self.t.eco.hf.refs.get(key(&[repo, revision]))?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// `(repo, revision, commit)` for every revision name held.
    pub fn hf_refs(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        self.t
            .eco
            .hf
            .refs
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                let mut parts = k.splitn(2, |b| *b == SEP).map(|p| String::from_utf8_lossy(p).into_owned());
                let (Some(repo), Some(rev)) = (parts.next(), parts.next()) else { return Err(StoreError::Corrupt("hf_refs key".into())) };
                Ok((repo, rev, String::from_utf8_lossy(&v).into_owned()))
            })
            .collect()
    }
}

/// Each commit keeps its files.
fn reach(m: &Meta, w: &mut Walker) -> Result<(), StoreError> {
    for v in m.t.eco.hf.commits.iter().values() {
        let r: HfRecord = decode("hf", &v?)?;
        let name = format!("hf/{}@{}", r.repo, r.commit);
        for f in &r.files {
            w.blob(&f.sha256, &name);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use feas_format::Digest;

    use super::*;
    use crate::store::{Changes, HistoryRecord};

    #[test]
    fn hf_revisions_point_at_the_commit_imported_last() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(sled::Config::new().path(dir.path()).open().unwrap()).unwrap();
        let (c1, c2) = ("1".repeat(40), "2".repeat(40));
        let rec = |commit: &str, rev: &str| HfRecord { repo: "a/b".into(), commit: commit.into(), revisions: vec![rev.into()], files: Vec::new(), imported_at: String::new() };
        let import = |r: HfRecord, at: &str| {
            let history = HistoryRecord {
                generation: 0,
                imported_at: at.into(),
                name: "x".into(),
                sequence: 1,
                bundle_json: Digest::sha256_of(b"b"),
                signer: String::new(),
                file: String::new(),
                blobs_added: 0,
                bytes_added: 0,
                artifacts: Vec::new(),
                by: None,
            };
            meta.commit(&Changes { eco: crate::ecosystems::EcoChanges { hf: vec![r], ..Default::default() }, history: Some(history), ..Changes::default() }).unwrap();
        };
        import(rec(&c1, "main"), "t1");
        import(rec(&c2, "main"), "t2");
        import(rec(&c1, "v1"), "t3");
        assert_eq!(meta.hf_ref("a/b", "main").unwrap(), Some(c2.clone()), "main moved to the newer import");
        assert_eq!(meta.hf_ref("a/b", "v1").unwrap(), Some(c1.clone()));
        let r1 = meta.hf_model("a/b", &c1).unwrap().unwrap();
        assert_eq!((r1.revisions, r1.imported_at.as_str()), (vec!["main".to_string(), "v1".to_string()], "t1"));
        assert!(meta.hf_repo_exists("a/b").unwrap() && !meta.hf_repo_exists("a").unwrap());
        assert_eq!(meta.hf_refs().unwrap().len(), 2);
    }
}
