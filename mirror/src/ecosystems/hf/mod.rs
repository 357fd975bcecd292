//! Hugging Face model repositories: the hub API subset `huggingface_hub` uses, at `/hf/`.

mod import;
pub mod routes;
mod store;

pub(crate) use store::RULES;
pub use store::{HfRecord, Trees};

use std::convert::Infallible;

use axum::Router;
use sled::transaction::ConflictableTransactionResult;

use feas_format::oci::Descriptor;
use feas_format::Kind;

use super::{ClientCtx, ClientFuture, Described, Ecosystem, Next, Prepared, RmTarget};
use crate::cli::ClientKind;
use crate::commands::client_config::{emit, sh_quote, Access, Generated};
use crate::import::graph::{GraphError, Lookup, Plan};
use crate::routes::home::{and_more, esc, LISTED};
use crate::routes::AppState;
use crate::store::meta::{json, key, Counted, Counts, Trees as AllTrees};
use crate::store::{Changes, Meta, Removal, Store, StoreError};

pub struct Hf;

impl Ecosystem for Hf {
    fn artifacts(counts: &Counts) -> u64 {
        counts.keys.eco.hf.commits
    }

    type State = ();
    type Changes = Vec<HfRecord>;
    /// (repo, commit): the record, and the revision names pointing at it.
    type Removal = Vec<(String, String)>;

    const KINDS: &'static [Kind] = &[Kind::Hf];

    fn walk(top: &Descriptor, lookup: Lookup, plan: &mut Plan) -> Result<Next, GraphError> {
        import::walk(top, lookup, plan)?;
        Ok(Next::Done)
    }

    fn write(t: &AllTrees<Counted<'_>>, c: &Changes) -> ConflictableTransactionResult<(), Infallible> {
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

    fn remove(t: &AllTrees<Counted<'_>>, r: &Removal, pre: &Prepared) -> ConflictableTransactionResult<(), Infallible> {
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

    fn rm_target(store: &Store, name: &str) -> Result<Option<RmTarget>, StoreError> {
        let Some((repo, commit)) = name.strip_prefix("hf/").and_then(|r| r.rsplit_once('@')) else { return Ok(None) };
        if store.hf_model(repo, commit)?.is_none() {
            return Ok(None);
        }
        Ok(Some((format!("{repo}@{commit}"), |_, r, k| {
            let (repo, commit) = k.rsplit_once('@').expect("an hf key is repo@commit");
            r.eco.hf.push((repo.to_string(), commit.to_string()));
            Ok(())
        })))
    }

    const RM_SYNTAX: &'static [&'static str] = &["hf/<owner>/<name>@<commit>"];

    fn router() -> Router<AppState> {
        routes::router()
    }

    fn describe(store: &Store, name: &str, base: &str) -> Result<Option<Described>, StoreError> {
        let Some((repo, commit)) = name.strip_prefix("hf/").and_then(|r| r.rsplit_once('@')) else { return Ok(None) };
        let Some(m) = store.hf_model(repo, commit)? else { return Ok(None) };
        let bytes = m.files.iter().map(|f| f.size).sum();
        let mut d = Described::default()
            .fact("model", &m.repo)
            .fact("commit", &m.commit)
            .fact("revisions", m.revisions.join(", "))
            .fact("files", format!("{} ({})", m.files.len(), feas_format::term::bytes(bytes)));
        for f in m.files.iter().take(crate::routes::home::LISTED) {
            d = d.fact(&f.path, format!("sha256:{} ({})", f.sha256.hex(), feas_format::term::bytes(f.size)));
        }
        Ok(Some(d.command("download", format!("HF_ENDPOINT={base}/hf hf download {} --revision {}", m.repo, m.commit)).command(
            "in Python",
            format!("HF_ENDPOINT={base}/hf python3 -c \"from huggingface_hub import snapshot_download; print(snapshot_download('{}', revision='{}'))\"", m.repo, m.commit),
        )))
    }

    fn home(store: &Store, counts: &Counts, out: &mut String) -> Result<(), StoreError> {
        out.push_str("</ul>\n<h2>Hugging Face models</h2>\n<p><code>HF_ENDPOINT=http://THIS-HOST/hf</code> for huggingface_hub and transformers; <code>mirror client-config hf --url URL</code> prints it.</p>\n");
        let total = counts.keys.eco.hf.commits;
        out.push_str(&format!("<p>{total} model commits.</p>\n<ul>\n"));
        let listed = routes::listing(store, LISTED)?;
        for m in &listed {
            out.push_str(&format!("<li><code>{}</code>: {} → <code>{}</code> ({} files, {} bytes)</li>\n", esc(&m.repo), esc(&m.revisions), esc(&m.commit), m.files, m.bytes));
        }
        and_more(out, total, listed.len(), "model commits");
        Ok(())
    }

    const CLIENTS: &'static [ClientKind] = &[ClientKind::Hf];

    fn client_config<'a>(_kind: ClientKind, ClientCtx { url, out, access, .. }: ClientCtx<'a>) -> ClientFuture<'a> {
        Box::pin(async move {
            let mut files = vec![Generated::holding("hf/hf.env", hf_env(url, access), access.creds.is_some())];
            files.extend(access.ca.map(|pem| Generated::ca("hf/mirror-ca.crt", pem)));
            emit(out, &files, &format!("on each client: `. hf.env` (or put the lines in /etc/environment or the service's environment){}", access.ca_hint("hf")))
        })
    }
}

/// huggingface_hub (and transformers, diffusers, sentence-transformers through it) reads
/// HF_ENDPOINT; offline mode would stop it asking the mirror at all. It sends HF_TOKEN as a
/// bearer token, which the mirror takes as `USER:PASSWORD` (see `auth`).
pub fn hf_env(url: &str, access: Access) -> String {
    let mut s = format!(
        "# huggingface_hub / transformers: ask the mirror instead of huggingface.co.\n\
         # Keep HF_HUB_OFFLINE unset (or 0): offline mode makes no requests, not even to the mirror.\n\
         # Once a model is in the local cache (HF_HOME), HF_HUB_OFFLINE=1 uses it with the mirror down.\n\
         export HF_ENDPOINT={url}/hf\n\
         export HF_HUB_DISABLE_TELEMETRY=1\n"
    );
    if access.ca.is_some() {
        // httpx (huggingface_hub) reads SSL_CERT_FILE; requests (older releases, other libraries) REQUESTS_CA_BUNDLE.
        s.push_str(&format!("export SSL_CERT_FILE={0}\nexport REQUESTS_CA_BUNDLE={0}\n", access.ca_path));
    }
    if let Some((user, password)) = access.creds {
        s.push_str(&format!("# The mirror's reader login, sent as the hub token.\nexport HF_TOKEN={}\n", sh_quote(&format!("{user}:{password}"))));
    }
    s
}
