//! Debian packages: the signed apt repositories at `/apt/<id>/`.

mod client;
mod import;
pub mod push;
mod render;
mod routes;
mod signer;
mod store;

pub use routes::AptState;
pub use signer::Signer;
pub(crate) use store::RULES;
pub use store::{AptRemoval, DebKey, DebRecord, SuiteInfo, Trees};

use std::collections::BTreeSet;
use std::convert::Infallible;

use crate::store::meta::TxTree;
use axum::Router;
use sled::transaction::ConflictableTransactionResult;

use feas_format::oci::Descriptor;
use feas_format::Kind;

use super::{ClientCtx, ClientFuture, Ecosystem, Next, Prepared, PushCtx, RmTarget};
use crate::cli::ClientKind;
use crate::import::graph::{GraphError, Lookup, Plan};
use crate::routes::AppState;
use crate::store::meta::{json, key, Trees as AllTrees};
use crate::store::{Changes, Meta, Removal, Store, StoreError};

pub struct Apt;

impl Ecosystem for Apt {
    type State = std::sync::Arc<AptState>;
    type Changes = Vec<(DebKey, DebRecord)>;
    type Removal = AptRemoval;

    const KINDS: &'static [Kind] = &[Kind::Deb];

    fn walk(top: &Descriptor, lookup: Lookup, plan: &mut Plan) -> Result<Next, GraphError> {
        import::walk(top, lookup, plan)?;
        Ok(Next::Done)
    }

    fn write(t: &AllTrees<&TxTree>, c: &Changes) -> ConflictableTransactionResult<(), Infallible> {
        let t = &t.eco.apt;
        for (k, rec) in &c.eco.apt {
            t.debs.insert(k.bytes(), json(rec))?;
            t.pool.insert(key(&[&k.id, &k.filename]), json(&(&rec.digest, rec.size)))?;
        }
        Ok(())
    }

    fn remove(t: &AllTrees<&TxTree>, r: &Removal, _: &Prepared) -> ConflictableTransactionResult<(), Infallible> {
        let (t, r) = (&t.eco.apt, &r.eco.apt);
        for k in &r.debs {
            t.debs.remove(k.bytes())?;
        }
        for (id, f) in &r.pool {
            t.pool.remove(key(&[id, f]))?;
        }
        Ok(())
    }

    fn missing_records(m: &Meta, c: &Changes, need: &mut dyn FnMut(bool, String)) -> Result<(), StoreError> {
        let t = &m.t.eco.apt;
        for (k, _) in &c.eco.apt {
            need(t.debs.contains_key(k.bytes())?, format!("deb {} in {}/{}", k.filename, k.id, k.suite));
            need(t.pool.contains_key(key(&[&k.id, &k.filename]))?, format!("pool file {} of {}", k.filename, k.id));
        }
        Ok(())
    }

    /// A deb, named as the import names it; the store may list it in several indexes (an
    /// `all` package under each architecture), and `rm` takes it out of every one.
    fn rm_target(store: &Store, name: &str) -> Result<Option<RmTarget>, StoreError> {
        let Some((id, _)) = name.strip_prefix("apt/").and_then(|r| r.split_once('/')) else { return Ok(None) };
        Ok(store.apt_entries(id)?.iter().any(|(_, _, n)| n == name).then(|| (name.to_string(), rm_deb as _)))
    }

    const RM_SYNTAX: &'static [&'static str] = &["apt/<id>/<package>_<version>_<arch>.deb"];

    fn router() -> Router<AppState> {
        routes::router()
    }

    fn home(st: &AppState, out: &mut String) -> Result<(), StoreError> {
        routes::home(st, out)
    }

    const CLIENTS: &'static [ClientKind] = &[ClientKind::Apt];

    fn client_config<'a>(_kind: ClientKind, ClientCtx { http, url, out }: ClientCtx<'a>) -> ClientFuture<'a> {
        Box::pin(client::apt(http, url, out))
    }

    fn listing(store: &Store) -> Result<serde_json::Value, StoreError> {
        Ok(serde_json::to_value(push::files(store)?).expect("deb listing serializes"))
    }

    fn push<'a>(PushCtx { args, paths, creds }: PushCtx<'a>) -> ClientFuture<'a> {
        Box::pin(async move { push::run(args, paths, creds.as_ref()).await })
    }
}

/// `mirror rm apt/<id>/…`: the deb's index entries, and each pool file it leaves listed by no
/// other entry (the pool file goes with the last index entry that lists it).
fn rm_deb(store: &Store, r: &mut Removal, name: &str) -> Result<(), StoreError> {
    let id = name.strip_prefix("apt/").and_then(|r| r.split_once('/')).map(|(id, _)| id).unwrap_or_default();
    let entries = store.apt_entries(id)?;
    let r = &mut r.eco.apt;
    let keys: Vec<&DebKey> = entries.iter().filter(|(_, _, n)| n == name).map(|(k, _, _)| k).collect();
    r.debs.extend(keys.iter().map(|k| (*k).clone()));
    let gone: BTreeSet<&str> = keys.iter().map(|k| k.filename.as_str()).collect();
    for f in gone {
        let still = entries.iter().any(|(k, _, _)| k.filename == f && !r.debs.contains(k));
        let pool = (id.to_string(), f.to_string());
        // Two names may share a pool file: it goes once.
        if !still && !r.pool.contains(&pool) {
            r.pool.push(pool);
        }
    }
    Ok(())
}
