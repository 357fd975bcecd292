//! The mirror's ecosystems, each named once here (`registry!`). An ecosystem owns its metadata
//! trees, what an import writes to them and `rm` deletes from them, gc's reach rule per tree,
//! its import walk, its `rm` targets, its routes and its client-config; the generic code loops
//! over the registry instead of naming them.

pub mod apt;
pub mod files;
pub mod helm;
pub mod hf;
pub mod nltk;
pub mod pypi;

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::fmt::Debug;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use axum::Router;
use feas_format::oci::Descriptor;
use feas_format::{Digest, Kind};
use sled::transaction::ConflictableTransactionResult;

use crate::cli::{ClientKind, PushArgs};
use crate::commands::client_config::Access;
use crate::import::graph::{GraphError, Lookup, Plan};
use crate::routes::AppState;
use crate::store::meta::{Counted, Counts, Rule, Trees};
use crate::store::{Changes, Meta, Paths, Removal, Store, StoreError};

/// What `mirror client-config` needs to ask the running mirror.
pub struct ClientCtx<'a> {
    pub http: &'a reqwest::Client,
    /// The mirror's URL, without a trailing `/`.
    pub url: &'a str,
    pub out: Option<&'a Path>,
    /// The CA and credentials the configs must carry.
    pub access: Access<'a>,
}

/// An artifact `mirror rm` names: its key, and how the removal drops it (`apply(store, removal,
/// key)`, called once per named artifact, in name order).
pub type RmTarget = (String, fn(&Store, &mut Removal, &str) -> Result<(), StoreError>);

pub type ClientFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + 'a>>;

/// What `mirror push` gives an ecosystem's push.
pub struct PushCtx<'a> {
    pub args: &'a PushArgs,
    pub paths: &'a Paths,
    /// `--username`, and the password `--password-env` names.
    pub creds: Option<(String, String)>,
}

/// One ecosystem on the mirror side. Its module `<name>` (as `registry!` lists it) also
/// declares `Trees` (its sled trees, with `store::meta::trees!`) and `RULES: Trees<Rule>` (what
/// each of them keeps alive for gc); the registry does not compile without them.
pub trait Ecosystem {
    /// Its part of what one import writes (`Changes::eco`, one field of `EcoChanges`).
    type Changes: Debug + Default + PartialEq;
    /// What its routes keep between requests (rendered indexes, caches): `AppState::eco`.
    type State: Default + Send + Sync + 'static;
    /// Its part of what one removal deletes (`Removal::eco`, one field of `EcoRemoval`); the default is "nothing".
    type Removal: Debug + Default + PartialEq;
    /// The bundle kinds it imports.
    const KINDS: &'static [Kind] = &[];
    /// Reads one of its artifacts (`top`, of one of `KINDS`) from the bundle into `plan`.
    fn walk(_top: &Descriptor, _lookup: Lookup, _plan: &mut Plan) -> Result<Next, GraphError> {
        unreachable!("an ecosystem with KINDS walks them")
    }
    /// Gives its records of an import `c` the time their bundle was made (`created`, RFC 3339).
    fn set_bundle_created(_c: &mut Changes, _created: &str) {}
    /// An import's writes to its trees, in the import's one transaction.
    fn write(t: &Trees<Counted<'_>>, c: &Changes) -> ConflictableTransactionResult<(), Infallible>;
    /// `rm`'s deletes from its trees, in the removal's one transaction. `pre` is what
    /// `prepare_removal` found before it.
    fn remove(t: &Trees<Counted<'_>>, r: &Removal, pre: &Prepared) -> ConflictableTransactionResult<(), Infallible>;
    /// Reads done before the removal's transaction (keys found by a scan), kept in `Prepared`.
    fn prepare_removal(_m: &Meta, _r: &Removal, _pre: &mut Prepared) -> Result<(), StoreError> {
        Ok(())
    }
    /// Builds what its `write` and `remove` derive from its records (summaries, per-key
    /// generations) in a store written before it kept them: once, in one transaction
    /// (`Meta::upgrade`). Until then its reads fall back to scanning the records.
    fn upgrade(_m: &Meta) -> Result<(), StoreError> {
        Ok(())
    }
    /// `need(held, what)` for each of its records in an import's `c`, whether the store still holds it.
    fn missing_records(m: &Meta, c: &Changes, need: &mut dyn FnMut(bool, String)) -> Result<(), StoreError>;
    /// `mirror rm NAME`: when `name` is one of its artifacts the store holds, a key and how the
    /// removal drops it.
    fn rm_target(_store: &Store, _name: &str) -> Result<Option<RmTarget>, StoreError> {
        Ok(None)
    }
    /// How `mirror rm` names its artifacts (as `mirror import` prints them), for help and errors.
    const RM_SYNTAX: &'static [&'static str] = &[];
    /// `mirror rm REPO:TAG`: the OCI tag its artifacts named with `tag` carry, when it is
    /// spelled otherwise (a chart's version: OCI tags spell `+` as `_`).
    fn oci_tag_alias(_tag: &str) -> Option<String> {
        None
    }
    /// `mirror rm`: the manifests `gone` leave the OCI repository `repo`. Drops its records
    /// served from them, and adds their names to `removed` (the summary's) unless named there.
    fn remove_with_manifests(_store: &Store, _repo: &str, _gone: &BTreeSet<Digest>, _r: &mut Removal, _removed: &mut Vec<String>) -> Result<(), StoreError> {
        Ok(())
    }
    /// Its routes, merged on the one listener.
    fn router() -> Router<AppState> {
        Router::new()
    }
    /// How many artifacts it holds (debs, distribution files, charts, …), from the store's
    /// counters: `/metrics`' `mirror_artifacts{ecosystem="<name>"}`.
    fn artifacts(counts: &Counts) -> u64;
    /// Its section of the home page `/` (HTML, names escaped with `routes::home::esc`). Like
    /// every section after the first, it starts by closing the list the one before left open
    /// (`</ul>`) and leaves its own open. What it holds comes from `counts` (kept by every
    /// write); a list of names is bounded (`routes::home::LISTED`), read without a scan.
    fn home(_store: &Store, _counts: &Counts, _out: &mut String) -> Result<(), StoreError> {
        Ok(())
    }
    /// The web page of one of its artifacts, `name` as `mirror import` prints it, when the
    /// store holds it: facts (digests, versions, sizes) and the commands that fetch or install
    /// it from this mirror (`base`: its URL, no trailing `/`). `None`: not one of its own.
    fn describe(_store: &Store, _name: &str, _base: &str) -> Result<Option<Described>, StoreError> {
        Ok(None)
    }
    /// The `mirror client-config` kinds it answers.
    const CLIENTS: &'static [ClientKind] = &[];
    /// Writes (or prints) the client configuration for `kind`, one of `CLIENTS`.
    fn client_config<'a>(_kind: ClientKind, _ctx: ClientCtx<'a>) -> ClientFuture<'a> {
        Box::pin(async { unreachable!("an ecosystem with CLIENTS writes their config") })
    }
    /// What its `push` reads of the store, as JSON: answered by the running server when one
    /// holds the store (`listed` asks for it either way).
    fn listing(_store: &Store) -> Result<serde_json::Value, StoreError> {
        Ok(serde_json::Value::Null)
    }
    /// `mirror push`: pushes its artifacts where its own flags in `ctx.args` say, when given.
    fn push<'a>(_ctx: PushCtx<'a>) -> ClientFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}

/// One artifact as the operator's web page shows it (`Ecosystem::describe`).
#[derive(Debug, Default)]
pub struct Described {
    /// `(label, value)`: digests, versions, sizes, where it is served.
    pub facts: Vec<(String, String)>,
    /// `(what it does, command)`, with this mirror's URL in them, ready to copy.
    pub commands: Vec<(String, String)>,
}

impl Described {
    pub fn fact(mut self, label: &str, value: impl Into<String>) -> Described {
        self.facts.push((label.to_string(), value.into()));
        self
    }
    pub fn command(mut self, what: &str, command: impl Into<String>) -> Described {
        self.commands.push((what.to_string(), command.into()));
        self
    }
}

/// What the import walk does after an ecosystem walked its artifact.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Done,
    /// The artifact is also an OCI artifact in its repository (a chart): on to the generic walk.
    AlsoOci,
}

/// Keys an ecosystem's `prepare_removal` found, for its `remove` in the transaction.
#[derive(Debug, Default)]
pub struct Prepared {
    pub keys: Vec<Vec<u8>>,
}

/// The one list of ecosystems, `module: Type`: calls `$m! { ... }` with all of them, and every
/// struct and loop below expands it.
macro_rules! registry {
    ($m:ident) => {
        $m! {
            apt: Apt,
            pypi: Pypi,
            files: Files,
            nltk: Nltk,
            helm: Helm,
            hf: Hf,
        }
    };
}

macro_rules! parts {
    ($($e:ident: $t:ident,)*) => {
        crate::store::meta::trees! {
            /// Each ecosystem's group of trees.
            pub struct EcoTrees { ; $( $e: $e::Trees, )* }
        }

        /// Each ecosystem's part of what one import writes.
        #[derive(Debug, Default)]
        pub struct EcoChanges {
            $( pub $e: <$e::$t as Ecosystem>::Changes, )*
        }

        /// Each ecosystem's part of what one removal deletes.
        #[derive(Debug, Default, PartialEq)]
        pub struct EcoRemoval {
            $( pub $e: <$e::$t as Ecosystem>::Removal, )*
        }

        /// Each ecosystem's state for its routes.
        #[derive(Default)]
        pub struct EcoState {
            $( pub $e: <$e::$t as Ecosystem>::State, )*
        }

        /// Each ecosystem's reach rules.
        pub(crate) const RULES: EcoTrees<Rule> = EcoTrees { $( $e: $e::RULES, )* };

        /// The removal's reads before its transaction, per ecosystem.
        #[derive(Debug, Default)]
        pub struct PreparedAll {
            $( pub $e: Prepared, )*
        }

        /// Every ecosystem's name, in registry order; its routes serve under `/<name>/`.
        pub const NAMES: &[&str] = &[$( stringify!($e), )*];

        /// What each ecosystem holds (`Ecosystem::artifacts`), by name.
        pub fn artifacts(counts: &Counts) -> Vec<(&'static str, u64)> {
            vec![$( (stringify!($e), <$e::$t as Ecosystem>::artifacts(counts)), )*]
        }

        /// Every ecosystem's routes, merged.
        pub fn router() -> Router<AppState> {
            Router::new() $( .merge(<$e::$t as Ecosystem>::router()) )*
        }

        /// The client config of the ecosystem that answers `kind`, `None` when none does (a kind
        /// the generic code answers: registries, pip, …).
        pub async fn client_config(kind: ClientKind, http: &reqwest::Client, url: &str, out: Option<&Path>, access: Access<'_>) -> Option<anyhow::Result<()>> {
            $(
                if <$e::$t as Ecosystem>::CLIENTS.contains(&kind) {
                    return Some(<$e::$t as Ecosystem>::client_config(kind, ClientCtx { http, url, out, access }).await);
                }
            )*
            None
        }

        /// Every ecosystem's `mirror push`, in registry order.
        pub async fn push(args: &PushArgs, paths: &Paths, creds: Option<(String, String)>) -> anyhow::Result<()> {
            $( <$e::$t as Ecosystem>::push(PushCtx { args, paths, creds: creds.clone() }).await?; )*
            Ok(())
        }

        /// The ecosystem that imports `kind`, if one does (images are the generic walk's).
        pub fn imports(kind: Kind) -> bool {
            false $( || <$e::$t as Ecosystem>::KINDS.contains(&kind) )*
        }

        /// The import walk of the ecosystem that imports `kind`.
        pub fn walk(kind: Kind, top: &Descriptor, lookup: Lookup, plan: &mut Plan) -> Result<Next, GraphError> {
            $(
                if <$e::$t as Ecosystem>::KINDS.contains(&kind) {
                    return <$e::$t as Ecosystem>::walk(top, lookup, plan);
                }
            )*
            unreachable!("no ecosystem imports kind {kind}")
        }

        /// The `listing` of the ecosystem called `name`, `None` when there is none of that name.
        pub fn listing(store: &Store, name: &str) -> Result<Option<serde_json::Value>, StoreError> {
            $(
                if name == stringify!($e) {
                    return <$e::$t as Ecosystem>::listing(store).map(Some);
                }
            )*
            Ok(None)
        }

        /// Every ecosystem's `mirror rm` forms.
        pub fn rm_syntax() -> Vec<&'static str> {
            let mut out = Vec::new();
            $( out.extend_from_slice(<$e::$t as Ecosystem>::RM_SYNTAX); )*
            out
        }

        /// Every ecosystem's section of the home page, in registry order.
        pub fn home(store: &Store, counts: &Counts, out: &mut String) -> Result<(), StoreError> {
            $( <$e::$t as Ecosystem>::home(store, counts, out)?; )*
            Ok(())
        }

        /// Every ecosystem's `set_bundle_created`.
        pub fn set_bundle_created(c: &mut Changes, created: &str) {
            $( <$e::$t as Ecosystem>::set_bundle_created(c, created); )*
        }

        /// `tag`, and every ecosystem's other spelling of it in OCI, in that order.
        pub(crate) fn oci_tags(tag: &str) -> Vec<String> {
            let mut out = vec![tag.to_string()];
            $( out.extend(<$e::$t as Ecosystem>::oci_tag_alias(tag)); )*
            out
        }

        /// Every ecosystem's `remove_with_manifests`.
        pub(crate) fn remove_with_manifests(store: &Store, repo: &str, gone: &BTreeSet<Digest>, r: &mut Removal, removed: &mut Vec<String>) -> Result<(), StoreError> {
            $( <$e::$t as Ecosystem>::remove_with_manifests(store, repo, gone, r, removed)?; )*
            Ok(())
        }

        /// Every ecosystem's `missing_records`.
        pub fn missing_records(m: &Meta, c: &Changes, need: &mut dyn FnMut(bool, String)) -> Result<(), StoreError> {
            $( <$e::$t as Ecosystem>::missing_records(m, c, need)?; )*
            Ok(())
        }

        /// The ecosystem `name` is an artifact of, with its page (`Ecosystem::describe`).
        pub fn describe(store: &Store, name: &str, base: &str) -> Result<Option<(&'static str, Described)>, StoreError> {
            $(
                if let Some(d) = <$e::$t as Ecosystem>::describe(store, name, base)? {
                    return Ok(Some((stringify!($e), d)));
                }
            )*
            Ok(None)
        }

        /// The ecosystem artifact `name` is, for `mirror rm`, if the store holds it.
        pub(crate) fn rm_target(store: &Store, name: &str) -> Result<Option<RmTarget>, StoreError> {
            $(
                if let Some(t) = <$e::$t as Ecosystem>::rm_target(store, name)? {
                    return Ok(Some(t));
                }
            )*
            Ok(None)
        }

        /// Records `generation` as the last that changed each ecosystem that `c` (an import's
        /// changes) or `r` (a removal) touches: what its rendered indexes are keyed to, so a
        /// write elsewhere (a blob push, another ecosystem's import) leaves them valid.
        pub(crate) fn mark_generations(state: &Counted<'_>, c: Option<&Changes>, r: Option<&Removal>, generation: u64) -> ConflictableTransactionResult<(), Infallible> {
            $(
                let touched = c.is_some_and(|c| c.eco.$e != <<$e::$t as Ecosystem>::Changes>::default())
                    || r.is_some_and(|r| r.eco.$e != <<$e::$t as Ecosystem>::Removal>::default());
                if touched {
                    state.insert(crate::store::meta::eco_generation_key(stringify!($e)), &generation.to_be_bytes()[..])?;
                }
            )*
            Ok(())
        }

        /// Every ecosystem's writes of an import.
        pub(crate) fn write(t: &Trees<Counted<'_>>, c: &Changes) -> ConflictableTransactionResult<(), Infallible> {
            $( <$e::$t as Ecosystem>::write(t, c)?; )*
            Ok(())
        }

        /// Every ecosystem's `upgrade`.
        pub(crate) fn upgrade(m: &Meta) -> Result<(), StoreError> {
            $( <$e::$t as Ecosystem>::upgrade(m)?; )*
            Ok(())
        }

        /// Every ecosystem's reads before a removal.
        pub(crate) fn prepare_removal(m: &Meta, r: &Removal) -> Result<PreparedAll, StoreError> {
            let mut pre = PreparedAll::default();
            $( <$e::$t as Ecosystem>::prepare_removal(m, r, &mut pre.$e)?; )*
            Ok(pre)
        }

        /// Every ecosystem's deletes of a removal.
        pub(crate) fn remove(t: &Trees<Counted<'_>>, r: &Removal, pre: &PreparedAll) -> ConflictableTransactionResult<(), Infallible> {
            $( <$e::$t as Ecosystem>::remove(t, r, &pre.$e)?; )*
            Ok(())
        }
    };
}

registry!(parts);

/// An ecosystem's `listing` (named as in `registry!`), from the running server when one holds
/// the store, else read from the store directly.
pub(crate) async fn listed<T: serde::de::DeserializeOwned>(store_dir: &Path, ecosystem: &'static str) -> anyhow::Result<T> {
    use crate::control::{request, Reply, Request};
    let dir = store_dir.to_path_buf();
    let v = tokio::task::spawn_blocking(move || -> anyhow::Result<serde_json::Value> {
        match request(&dir, Request::Listing { ecosystem: ecosystem.to_string() }) {
            Some(Ok(Reply::Listing(v))) => Ok(v),
            Some(Ok(Reply::Err(e))) => anyhow::bail!("the running mirror: {e}"),
            Some(Ok(_)) => anyhow::bail!("unexpected reply from the running mirror"),
            Some(Err(e)) => Err(e.into()),
            None => listing(&Store::open(&dir)?, ecosystem)?.ok_or_else(|| anyhow::anyhow!("no ecosystem {ecosystem:?} lists records")),
        }
    })
    .await??;
    Ok(serde_json::from_value(v)?)
}
