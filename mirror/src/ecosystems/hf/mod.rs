//! Hugging Face model repositories: the hub API subset `huggingface_hub` uses, at `/hf/`.

use std::convert::Infallible;

use sled::transaction::{ConflictableTransactionResult, TransactionalTree};

use super::{Ecosystem, Prepared};
use crate::store::meta::{decode, json, key, names_no_blob, trees, Rule, Trees as AllTrees, Walker};
use crate::store::{Changes, HfRecord, Meta, Removal, StoreError};

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

pub struct Hf;

impl Ecosystem for Hf {
    type Changes = Vec<HfRecord>;
    /// (repo, commit): the record, and the revision names pointing at it.
    type Removal = Vec<(String, String)>;

    fn write(t: &AllTrees<&TransactionalTree>, c: &Changes) -> ConflictableTransactionResult<(), Infallible> {
        let t = &t.eco.hf;
        for rec in &c.eco.hf {
            let k = key(&[&rec.repo, &rec.commit]);
            // A commit imported again (under another revision name) keeps its first date and
            // answers every name it was imported under.
            let prev: Option<HfRecord> = t.commits.get(&k)?.and_then(|v| serde_json::from_slice(&v).ok());
            let mut rec = rec.clone();
            // Only the names this import brings move to this commit.
            for rev in rec.revisions.iter().filter(|r| **r != rec.commit) {
                t.refs.insert(key(&[&rec.repo, rev]), rec.commit.as_bytes())?;
            }
            if let Some(p) = prev {
                rec.imported_at = p.imported_at;
                rec.revisions = p.revisions.into_iter().chain(rec.revisions).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            } else if let Some(h) = &c.history {
                rec.imported_at = h.imported_at.clone();
            }
            t.commits.insert(k, json(&rec))?;
        }
        Ok(())
    }

    /// Revision names that answer with a removed commit go with it.
    fn prepare_removal(m: &Meta, r: &Removal, pre: &mut Prepared) -> Result<(), StoreError> {
        for (repo, commit) in &r.eco.hf {
            for kv in m.t.eco.hf.refs.scan_prefix(key(&[repo, ""])) {
                let (k, v) = kv?;
                if v.as_ref() == commit.as_bytes() {
                    pre.keys.push(k.to_vec());
                }
            }
        }
        Ok(())
    }

    fn remove(t: &AllTrees<&TransactionalTree>, r: &Removal, pre: &Prepared) -> ConflictableTransactionResult<(), Infallible> {
        for (repo, commit) in &r.eco.hf {
            t.eco.hf.commits.remove(key(&[repo, commit]))?;
        }
        for k in &pre.keys {
            t.eco.hf.refs.remove(&k[..])?;
        }
        Ok(())
    }

    fn missing_records(m: &Meta, c: &Changes, need: &mut dyn FnMut(bool, String)) -> Result<(), StoreError> {
        for rec in &c.eco.hf {
            need(m.t.eco.hf.commits.contains_key(key(&[&rec.repo, &rec.commit]))?, format!("model {}@{}", rec.repo, rec.commit));
        }
        Ok(())
    }
}
