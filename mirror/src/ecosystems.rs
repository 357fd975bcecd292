//! The mirror's ecosystems, each named once here. An ecosystem owns its routes and its
//! client-config (and, as they move in, its metadata trees, import writes, `rm`, gc reach rule
//! and inventory lines); the generic code loops over this list instead of naming them.

pub mod nltk;

use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use axum::Router;
use feas_format::oci::Descriptor;
use feas_format::Kind;
use sled::transaction::{ConflictableTransactionResult, TransactionalTree};

use crate::cli::ClientKind;
use crate::import::graph::{GraphError, Lookup, Plan};
use crate::routes::AppState;
use crate::store::meta::{Trees, Walker};
use crate::store::{Changes, Meta, Removal, Store, StoreError};

/// What `mirror client-config` needs to ask the running mirror.
pub struct ClientCtx<'a> {
    pub http: &'a reqwest::Client,
    /// The mirror's URL, without a trailing `/`.
    pub url: &'a str,
    pub out: Option<&'a Path>,
}

/// An artifact `mirror rm` names: its key, and how the removal drops it.
pub type RmTarget = (String, fn(&mut Removal, &str));

pub type ClientFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + 'a>>;

/// One ecosystem on the mirror side.
pub(crate) trait Ecosystem {
    /// The bundle kinds it imports.
    const KINDS: &'static [Kind];
    /// Reads one of its artifacts (`top`, of one of `KINDS`) from the bundle into `plan`.
    fn walk(top: &Descriptor, lookup: Lookup, plan: &mut Plan) -> Result<Next, GraphError>;
    /// An import's writes to its trees, in the import's one transaction.
    fn write(t: &Trees<&TransactionalTree>, c: &Changes) -> ConflictableTransactionResult<(), Infallible>;
    /// `rm`'s deletes from its trees, in the removal's one transaction.
    fn remove(t: &Trees<&TransactionalTree>, r: &Removal) -> ConflictableTransactionResult<(), Infallible>;
    /// gc's reach rule for its trees: the blobs its records keep (`RULES` in store/meta/reach.rs
    /// names it per tree).
    fn reach(m: &Meta, w: &mut Walker) -> Result<(), StoreError>;
    /// `need(held, what)` for each of its records in an import's `c`, whether the store still holds it.
    fn missing_records(m: &Meta, c: &Changes, need: &mut dyn FnMut(bool, String)) -> Result<(), StoreError>;
    /// `mirror rm NAME`: when `name` is one of its artifacts the store holds, a key and how the
    /// removal drops it.
    fn rm_target(store: &Store, name: &str) -> Result<Option<RmTarget>, StoreError>;
    /// Its routes, merged on the one listener.
    fn router() -> Router<AppState>;
    /// The `mirror client-config` kinds it answers.
    const CLIENTS: &'static [ClientKind] = &[];
    /// Writes (or prints) the client configuration for `kind`, one of `CLIENTS`.
    fn client_config<'a>(_kind: ClientKind, _ctx: ClientCtx<'a>) -> ClientFuture<'a> {
        Box::pin(async { unreachable!("an ecosystem with CLIENTS writes their config") })
    }
}

/// What the import walk does after an ecosystem walked its artifact.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Done,
    /// The artifact is also an OCI artifact in its repository (a chart): on to the generic walk.
    AlsoOci,
}

/// Calls `$m!(Type)` for each ecosystem: the one list every loop below expands.
macro_rules! each {
    ($m:ident) => {
        $m!(nltk::Nltk);
    };
}

/// Every ecosystem's routes, merged.
pub fn router() -> Router<AppState> {
    let mut r = Router::new();
    macro_rules! merge {
        ($t:ty) => {
            r = r.merge(<$t as Ecosystem>::router());
        };
    }
    each!(merge);
    r
}

/// The client config of the ecosystem that answers `kind`, `None` when none does (a kind the
/// generic code answers: registries, apt, pip, …).
pub async fn client_config(kind: ClientKind, http: &reqwest::Client, url: &str, out: Option<&Path>) -> Option<anyhow::Result<()>> {
    macro_rules! answer {
        ($t:ty) => {
            if <$t as Ecosystem>::CLIENTS.iter().any(|k| *k == kind) {
                return Some(<$t as Ecosystem>::client_config(kind, ClientCtx { http, url, out }).await);
            }
        };
    }
    each!(answer);
    None
}

/// The import walk of the ecosystem that imports `kind`.
pub fn walk(kind: Kind, top: &Descriptor, lookup: Lookup, plan: &mut Plan) -> Result<Next, GraphError> {
    macro_rules! walk {
        ($t:ty) => {
            if <$t as Ecosystem>::KINDS.contains(&kind) {
                return <$t as Ecosystem>::walk(top, lookup, plan);
            }
        };
    }
    each!(walk);
    unreachable!("no ecosystem imports kind {kind}")
}

/// Every ecosystem's `missing_records`.
pub fn missing_records(m: &Meta, c: &Changes, need: &mut dyn FnMut(bool, String)) -> Result<(), StoreError> {
    macro_rules! check {
        ($t:ty) => {
            <$t as Ecosystem>::missing_records(m, c, need)?;
        };
    }
    each!(check);
    Ok(())
}

/// The ecosystem artifact `name` is, for `mirror rm`, if the store holds it.
pub(crate) fn rm_target(store: &Store, name: &str) -> Result<Option<RmTarget>, StoreError> {
    macro_rules! target {
        ($t:ty) => {
            if let Some(t) = <$t as Ecosystem>::rm_target(store, name)? {
                return Ok(Some(t));
            }
        };
    }
    each!(target);
    Ok(None)
}

/// Every ecosystem's writes of an import.
pub(crate) fn write(t: &Trees<&TransactionalTree>, c: &Changes) -> ConflictableTransactionResult<(), Infallible> {
    macro_rules! write {
        ($t:ty) => {
            <$t as Ecosystem>::write(t, c)?;
        };
    }
    each!(write);
    Ok(())
}

/// Every ecosystem's deletes of a removal.
pub(crate) fn remove(t: &Trees<&TransactionalTree>, r: &Removal) -> ConflictableTransactionResult<(), Infallible> {
    macro_rules! remove {
        ($t:ty) => {
            <$t as Ecosystem>::remove(t, r)?;
        };
    }
    each!(remove);
    Ok(())
}
