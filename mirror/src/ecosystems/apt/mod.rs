//! Debian packages: the signed apt repositories at `/apt/<id>/`.

mod client;
mod import;
pub mod push;
mod render;
mod routes;
mod signer;
mod store;
mod suites;

pub use routes::AptState;
pub use signer::Signer;
pub(crate) use store::RULES;
pub use store::{AptRemoval, DebKey, DebRecord, SuiteInfo, Trees};
pub use suites::Suite;

use std::collections::BTreeSet;
use std::convert::Infallible;

use axum::Router;
use sled::transaction::ConflictableTransactionResult;

use feas_format::oci::Descriptor;
use feas_format::Kind;

use super::{ClientCtx, ClientFuture, Described, Ecosystem, Next, Prepared, PushCtx, RmTarget};
use crate::cli::ClientKind;
use crate::import::graph::{GraphError, Lookup, Plan};
use crate::routes::AppState;
use crate::store::meta::{json, key, Counted, Counts, Trees as AllTrees};
use crate::store::{Changes, Meta, Removal, Store, StoreError};

pub struct Apt;

impl Ecosystem for Apt {
    fn artifacts(counts: &Counts) -> u64 {
        counts.keys.eco.apt.pool
    }

    type State = std::sync::Arc<AptState>;
    type Changes = Vec<(DebKey, DebRecord)>;
    type Removal = AptRemoval;

    const KINDS: &'static [Kind] = &[Kind::Deb];

    fn walk(top: &Descriptor, lookup: Lookup, plan: &mut Plan) -> Result<Next, GraphError> {
        import::walk(top, lookup, plan)?;
        Ok(Next::Done)
    }

    fn write(t: &AllTrees<Counted<'_>>, c: &Changes) -> ConflictableTransactionResult<(), Infallible> {
        let (state, t) = (&t.state, &t.eco.apt);
        let mut suites = suites::Deltas::default();
        for (k, rec) in &c.eco.apt {
            t.names.insert(k.name_key(&store::deb_name(&k.id, rec, &k.filename)), &[][..])?;
            let now = json(rec);
            let was = t.debs.insert(k.bytes(), now.clone())?;
            suites.written(k, rec, was.as_deref(), &now);
            t.pool.insert(key(&[&k.id, &k.filename]), json(&(&rec.digest, rec.size)))?;
        }
        suites.apply(state)
    }

    /// The `names` entries of the debs going: their names are in their records.
    fn prepare_removal(m: &Meta, r: &Removal, pre: &mut Prepared) -> Result<(), StoreError> {
        for k in &r.eco.apt.debs {
            if let Some(v) = m.t.eco.apt.debs.get(k.bytes())? {
                let rec: DebRecord = crate::store::meta::decode("apt", &v)?;
                pre.keys.push(k.name_key(&store::deb_name(&k.id, &rec, &k.filename)));
            }
        }
        Ok(())
    }

    fn remove(t: &AllTrees<Counted<'_>>, r: &Removal, pre: &Prepared) -> ConflictableTransactionResult<(), Infallible> {
        let (state, t, r) = (&t.state, &t.eco.apt, &r.eco.apt);
        let mut suites = suites::Deltas::default();
        for k in &r.debs {
            let held = t.debs.remove(k.bytes())?.is_some();
            suites.removed(k, held);
        }
        for k in &pre.keys {
            t.names.remove(k.as_slice())?;
        }
        for (id, f) in &r.pool {
            t.pool.remove(key(&[id, f]))?;
        }
        suites.apply(state)
    }

    fn upgrade(m: &Meta) -> Result<(), StoreError> {
        suites::upgrade(m)
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
        Ok((!store.apt_named(id, name)?.is_empty()).then(|| (name.to_string(), rm_deb as _)))
    }

    const RM_SYNTAX: &'static [&'static str] = &["apt/<id>/<package>_<version>_<arch>.deb"];

    fn router() -> Router<AppState> {
        routes::router()
    }

    fn describe(store: &Store, name: &str, base: &str) -> Result<Option<Described>, StoreError> {
        let Some((id, file)) = name.strip_prefix("apt/").and_then(|r| r.split_once('/')) else { return Ok(None) };
        let keys = store.apt_named(id, name)?;
        let Some(first) = keys.first() else { return Ok(None) };
        // `<package>_<version>_<arch>.deb`, as `mirror import` names a deb.
        let mut parts = file.trim_end_matches(".deb").splitn(3, '_');
        let (package, version, arch) = (parts.next().unwrap_or(file), parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        let mut d = Described::default().fact("package", package).fact("version", version).fact("architecture", arch);
        for k in &keys {
            d = d.fact("in suite", format!("{} {}/{} ({})", k.suite, k.component, k.arch, k.id));
        }
        d = d.fact("pool file", &first.filename);
        if let Some((digest, size)) = store.apt_pool(id, &first.filename)? {
            d = d.fact("sha256", digest.to_string()).fact("size", feas_format::term::bytes(size));
        }
        Ok(Some(
            d.command("install (after `mirror client-config apt`)", format!("apt-get install {package}={version}"))
                .command("download", format!("curl -fO {base}/apt/{id}/{}", first.filename))
                .command("point apt at this mirror", format!("mirror client-config apt --url {base} --out /etc/apt")),
        ))
    }

    fn home(store: &Store, counts: &Counts, out: &mut String) -> Result<(), StoreError> {
        routes::home(store, counts, out)
    }

    const CLIENTS: &'static [ClientKind] = &[ClientKind::Apt];

    fn client_config<'a>(_kind: ClientKind, ClientCtx { http, url, out, access }: ClientCtx<'a>) -> ClientFuture<'a> {
        Box::pin(client::apt(http, url, out, access))
    }

    fn listing(store: &Store) -> Result<serde_json::Value, StoreError> {
        Ok(serde_json::to_value(push::files(store)?).expect("deb listing serializes"))
    }

    fn push<'a>(PushCtx { args, paths, creds }: PushCtx<'a>) -> ClientFuture<'a> {
        Box::pin(async move { push::run(args, paths, creds.as_ref()).await })
    }
}

/// `mirror rm apt/<id>/…`: the deb's index entries, and each pool file it leaves listed by no
/// other entry. The entries of one pool file list one deb, so they share its name and go
/// together with the file; only a store older than the `names` index is scanned for others.
fn rm_deb(store: &Store, r: &mut Removal, name: &str) -> Result<(), StoreError> {
    let id = name.strip_prefix("apt/").and_then(|r| r.split_once('/')).map(|(id, _)| id).unwrap_or_default();
    let keys = store.apt_named(id, name)?;
    let others = if store.indexed_since_creation()? { Vec::new() } else { store.apt_entries(id)? };
    let r = &mut r.eco.apt;
    r.debs.extend(keys.iter().cloned());
    let gone: BTreeSet<&str> = keys.iter().map(|k| k.filename.as_str()).collect();
    for f in gone {
        let still = others.iter().any(|(k, _, _)| k.filename == f && !r.debs.contains(k));
        let pool = (id.to_string(), f.to_string());
        // Two names may share a pool file: it goes once.
        if !still && !r.pool.contains(&pool) {
            r.pool.push(pool);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deb(suite: &str, package: &str) -> (DebKey, DebRecord) {
        let filename = format!("pool/main/{package}_1.0_amd64.deb");
        let digest = feas_format::Digest::sha256_of(package.as_bytes());
        let stanza = format!("Package: {package}\nVersion: 1.0\nArchitecture: amd64\nFilename: {filename}\nSize: 1\nSHA256: {}\n", digest.hex());
        let key = DebKey { id: "debian".into(), suite: suite.into(), component: "main".into(), arch: "amd64".into(), filename };
        (key, DebRecord { stanza, digest, size: 1, codename: None, origin: None, label: None })
    }

    /// `rm` of a deb finds where it is listed through the `names` index — every suite listing
    /// it — takes its pool file with it and its index entries; in a store from before the index
    /// (no entries, no marker) it finds the same by a scan.
    #[test]
    fn rm_of_a_deb_reads_its_entries_from_the_names_index() {
        const HELLO: &str = "apt/debian/hello_1.0_amd64.deb";
        for old in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            let apt = vec![deb("bookworm", "hello"), deb("trixie", "hello"), deb("bookworm", "jq")];
            store.commit(&Changes { eco: crate::ecosystems::EcoChanges { apt, ..Default::default() }, ..Changes::default() }).unwrap();
            assert_eq!(store.t.eco.apt.names.len(), 3);
            if old {
                store.t.eco.apt.names.clear().unwrap();
                store.t.state.remove(b"index-version").unwrap();
            }
            assert_eq!(store.indexed_since_creation().unwrap(), !old);
            assert_eq!(store.apt_named("debian", HELLO).unwrap().len(), 2, "old store: {old}");
            let s = crate::remove::remove(&store, &[HELLO.to_string()], false, &Default::default()).unwrap();
            assert_eq!(s.removed, vec![HELLO.to_string()]);
            assert!(store.apt_pool("debian", "pool/main/hello_1.0_amd64.deb").unwrap().is_none(), "the pool file goes with its last entry");
            assert!(store.apt_pool("debian", "pool/main/jq_1.0_amd64.deb").unwrap().is_some());
            let left: Vec<String> = store.apt_entries("debian").unwrap().into_iter().map(|(_, _, n)| n).collect();
            assert_eq!(left, vec!["apt/debian/jq_1.0_amd64.deb".to_string()]);
            assert!(store.apt_named("debian", HELLO).unwrap().is_empty());
            assert_eq!(store.t.eco.apt.names.len(), if old { 0 } else { 1 }, "index entries go with their debs");
        }
    }
}
