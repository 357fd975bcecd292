//! Plain files: `/files/<name>`.

mod import;
pub mod routes;
mod store;

pub use store::Trees;
pub(crate) use store::RULES;

use std::convert::Infallible;

use axum::Router;
use sled::transaction::ConflictableTransactionResult;

use feas_format::oci::Descriptor;
use feas_format::{Digest, Kind};

use super::{Described, Ecosystem, Next, Prepared, RmTarget};
use crate::import::graph::{GraphError, Lookup, Plan};
use crate::routes::home::{and_more, esc, LISTED};
use crate::routes::AppState;
use crate::store::meta::{json, Counted, Counts, Trees as AllTrees};
use crate::store::{Changes, Meta, Removal, Store, StoreError};

pub struct Files;

impl Ecosystem for Files {
    fn artifacts(counts: &Counts) -> u64 {
        counts.keys.eco.files.files
    }

    type State = ();
    /// name, digest, size
    type Changes = Vec<(String, Digest, u64)>;
    /// names
    type Removal = Vec<String>;

    const KINDS: &'static [Kind] = &[Kind::File];

    fn walk(top: &Descriptor, lookup: Lookup, plan: &mut Plan) -> Result<Next, GraphError> {
        import::walk(top, lookup, plan)?;
        Ok(Next::Done)
    }

    fn write(t: &AllTrees<Counted<'_>>, c: &Changes) -> ConflictableTransactionResult<(), Infallible> {
        for (name, d, n) in &c.eco.files {
            t.eco.files.files.insert(name.as_bytes(), json(&(d, n)))?;
        }
        Ok(())
    }

    fn remove(t: &AllTrees<Counted<'_>>, r: &Removal, _: &Prepared) -> ConflictableTransactionResult<(), Infallible> {
        for name in &r.eco.files {
            t.eco.files.files.remove(name.as_bytes())?;
        }
        Ok(())
    }

    fn missing_records(m: &Meta, c: &Changes, need: &mut dyn FnMut(bool, String)) -> Result<(), StoreError> {
        for (name, _, _) in &c.eco.files {
            need(m.t.eco.files.files.contains_key(name.as_bytes())?, format!("file {name}"));
        }
        Ok(())
    }

    fn rm_target(store: &Store, name: &str) -> Result<Option<RmTarget>, StoreError> {
        let Some(f) = name.strip_prefix("files/") else { return Ok(None) };
        match store.raw_file(f)? {
            Some(_) => Ok(Some((f.to_string(), |_, r, f| {
                r.eco.files.push(f.to_string());
                Ok(())
            }))),
            None => Ok(None),
        }
    }

    const RM_SYNTAX: &'static [&'static str] = &["files/<name>"];

    fn router() -> Router<AppState> {
        routes::router()
    }

    fn describe(store: &Store, name: &str, base: &str) -> Result<Option<Described>, StoreError> {
        let Some(f) = name.strip_prefix("files/") else { return Ok(None) };
        let Some((digest, size)) = store.raw_file(f)? else { return Ok(None) };
        Ok(Some(Described::default().fact("sha256", digest.to_string()).fact("size", feas_format::term::bytes(size)).command("download", format!("curl -fO {base}/files/{f}"))))
    }

    fn home(store: &Store, counts: &Counts, out: &mut String) -> Result<(), StoreError> {
        let total = counts.keys.eco.files.files;
        out.push_str(&format!("</ul>\n<h2>Files</h2>\n<p>{total} files at <a href=\"/files/\">/files/</a>.</p>\n<ul>\n"));
        let names = store.raw_file_names(LISTED)?;
        for n in &names {
            out.push_str(&format!("<li><a href=\"/files/{0}\">{0}</a></li>\n", esc(n)));
        }
        and_more(out, total, names.len(), "files");
        Ok(())
    }
}
