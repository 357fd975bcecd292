//! Python distributions: the PEP 503/691 simple index at `/pypi/`, `mirror push --pypi`, and
//! the pip and uv client config.

mod import;
mod projects;
mod push;
pub mod routes;
mod store;

pub use projects::Project;
pub use push::{all_wheels, PypiPushSummary};
pub use routes::PageCache;
pub(crate) use store::RULES;
pub use store::{Trees, WheelRecord};

use std::convert::Infallible;

use axum::Router;
use sled::transaction::ConflictableTransactionResult;

use feas_format::oci::Descriptor;
use feas_format::Kind;

use super::{ClientCtx, ClientFuture, Described, Ecosystem, Next, Prepared, PushCtx, RmTarget};
use crate::cli::ClientKind;
use crate::commands::client_config::{emit, Access, Generated};
use crate::import::graph::{GraphError, Lookup, Plan};
use crate::routes::AppState;
use crate::store::meta::{json, key, Counted, Counts, Trees as AllTrees};
use crate::store::{Changes, Meta, Removal, Store, StoreError};

pub struct Pypi;

impl Ecosystem for Pypi {
    fn artifacts(counts: &Counts) -> u64 {
        counts.keys.eco.pypi.files
    }

    type State = std::sync::Arc<PageCache>;
    type Changes = Vec<WheelRecord>;
    /// (project, filename)
    type Removal = Vec<(String, String)>;

    const KINDS: &'static [Kind] = &[Kind::Wheel];

    fn walk(top: &Descriptor, lookup: Lookup, plan: &mut Plan) -> Result<Next, GraphError> {
        import::walk(top, lookup, plan)?;
        Ok(Next::Done)
    }

    fn write(t: &AllTrees<Counted<'_>>, c: &Changes) -> ConflictableTransactionResult<(), Infallible> {
        let (state, t) = (&t.state, &t.eco.pypi);
        let mut projects = projects::Deltas::default();
        for w in &c.eco.pypi {
            let now = json(w);
            let was = t.projects.insert(key(&[&w.project, &w.filename]), now.clone())?;
            projects.written(w, was.as_deref(), &now);
            t.files.insert(w.filename.as_bytes(), now)?;
        }
        projects.apply(state)
    }

    fn remove(t: &AllTrees<Counted<'_>>, r: &Removal, _: &Prepared) -> ConflictableTransactionResult<(), Infallible> {
        let (state, t) = (&t.state, &t.eco.pypi);
        let mut projects = projects::Deltas::default();
        for (project, f) in &r.eco.pypi {
            let was = t.projects.remove(key(&[project, f]))?;
            projects.removed(project, was.as_deref());
            t.files.remove(f.as_bytes())?;
        }
        projects.apply(state)
    }

    fn upgrade(m: &Meta) -> Result<(), StoreError> {
        projects::upgrade(m)
    }

    fn missing_records(m: &Meta, c: &Changes, need: &mut dyn FnMut(bool, String)) -> Result<(), StoreError> {
        let t = &m.t.eco.pypi;
        for w in &c.eco.pypi {
            need(t.projects.contains_key(key(&[&w.project, &w.filename]))? && t.files.contains_key(w.filename.as_bytes())?, format!("pypi file {}", w.filename));
        }
        Ok(())
    }

    /// `pypi/<project>/<file>`, or the bare file name. A name with `/` or `@` is never a bare
    /// file name: `@` is the registry's `REPO@DIGEST`, which `rm` tried before the bare name
    /// when it resolved them itself. The key is `<project>/<file>` (neither holds a `/`).
    fn rm_target(store: &Store, name: &str) -> Result<Option<RmTarget>, StoreError> {
        let (project, filename) = match name.strip_prefix("pypi/").and_then(|r| r.split_once('/')) {
            Some((p, f)) => (Some(p), f),
            None if !name.contains(['/', '@']) => (None, name),
            None => return Ok(None),
        };
        match store.pypi_file(filename)?.filter(|w| project.is_none_or(|p| p == w.project)) {
            Some(w) => Ok(Some((format!("{}/{}", w.project, w.filename), |_, r, key| {
                let (project, filename) = key.split_once('/').expect("the key rm_target made");
                r.eco.pypi.push((project.to_string(), filename.to_string()));
                Ok(())
            }))),
            None => Ok(None),
        }
    }

    const RM_SYNTAX: &'static [&'static str] = &["pypi/<project>/<file> (or the bare wheel/sdist file name)"];

    fn router() -> Router<AppState> {
        routes::router()
    }

    fn describe(store: &Store, name: &str, base: &str) -> Result<Option<Described>, StoreError> {
        let Some((project, filename)) = name.strip_prefix("pypi/").and_then(|r| r.split_once('/')) else { return Ok(None) };
        let Some(w) = store.pypi_file(filename)?.filter(|w| w.project == project) else { return Ok(None) };
        let mut d = Described::default()
            .fact("project", &w.project)
            .fact("version", &w.version)
            .fact("file", &w.filename)
            .fact("sha256", w.digest.to_string())
            .fact("size", feas_format::term::bytes(w.size));
        if let Some(r) = &w.requires_python {
            d = d.fact("requires-python", r);
        }
        let index = format!("{base}/pypi/simple/");
        Ok(Some(
            d.command("install with pip", format!("pip install --index-url {index} {}=={}", w.project, w.version))
                .command("install with uv", format!("uv pip install --index-url {index} {}=={}", w.project, w.version))
                .command("download", format!("curl -fO {base}/pypi/files/{}", w.filename)),
        ))
    }

    fn home(store: &Store, counts: &Counts, out: &mut String) -> Result<(), StoreError> {
        routes::home(store, counts, out)
    }

    const CLIENTS: &'static [ClientKind] = &[ClientKind::Pip, ClientKind::Uv];

    fn client_config<'a>(kind: ClientKind, ClientCtx { url, out, access, .. }: ClientCtx<'a>) -> ClientFuture<'a> {
        Box::pin(async move {
            let secret = access.creds.is_some();
            let mut files = match kind {
                ClientKind::Pip => vec![Generated::holding("pip/pip.conf", pip_conf(url, access), secret)],
                ClientKind::Uv => {
                    let mut f = vec![Generated::holding("uv/uv.toml", uv_toml(url, access), secret)];
                    // uv trusts its own bundled roots, not pip.conf's `cert`: SSL_CERT_FILE names the CA.
                    f.extend(access.ca.map(|_| {
                        Generated::config(
                            "uv/uv.env",
                            format!(
                                "# uv: trust the mirror's CA (`. uv.env`, or the lines in /etc/environment or the service's environment).\nexport SSL_CERT_FILE={}\n",
                                access.ca_path
                            ),
                        )
                    }));
                    f
                }
                _ => unreachable!("pypi answers only its CLIENTS"),
            };
            let dir = if kind == ClientKind::Pip { "pip" } else { "uv" };
            files.extend(access.ca.map(|pem| Generated::ca(format!("{dir}/mirror-ca.crt"), pem)));
            let hint = match kind {
                ClientKind::Pip => format!("on each client: /etc/pip.conf (or PIP_CONFIG_FILE=…){}", access.ca_hint(dir)),
                _ => format!(
                    "on each client: ~/.config/uv/uv.toml or /etc/uv/uv.toml (or UV_CONFIG_FILE=…){}",
                    if access.ca.is_some() { format!(", and uv.env's SSL_CERT_FILE in the environment{}", access.ca_hint(dir)) } else { String::new() }
                ),
            };
            emit(out, &files, &hint)
        })
    }

    fn listing(store: &Store) -> Result<serde_json::Value, StoreError> {
        Ok(serde_json::to_value(push::all_wheels(store)?).expect("wheel listing serializes"))
    }

    fn push<'a>(ctx: PushCtx<'a>) -> ClientFuture<'a> {
        Box::pin(push::run(ctx))
    }
}

/// pip reads `index-url` from `[global]`; no extra index, so nothing can leak past the gap.
pub fn pip_conf(url: &str, access: Access) -> String {
    let index = access.url_with_creds(&format!("{url}/pypi/simple/"));
    let mut s = format!("# pip.conf: /etc/pip.conf, ~/.config/pip/pip.conf, or PIP_CONFIG_FILE. Env alternative: PIP_INDEX_URL={index}\n");
    if access.ca.is_some() {
        // requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override `cert`: say so where it bites.
        s.push_str("# `cert` is the mirror's CA; REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE in the environment override it, so unset them or point them at the same file.\n");
    }
    s.push_str(&format!("[global]\nindex-url = {index}\n"));
    if access.ca.is_some() {
        s.push_str(&format!("cert = {}\n", access.ca_path));
    }
    s
}

pub fn uv_toml(url: &str, access: Access) -> String {
    let index = access.url_with_creds(&format!("{url}/pypi/simple/"));
    format!("# uv.toml: ~/.config/uv/uv.toml or /etc/uv/uv.toml, or UV_CONFIG_FILE. Env alternative: UV_DEFAULT_INDEX={index} (older uv: UV_INDEX_URL)\n[[index]]\nname = \"mirror\"\nurl = \"{index}\"\ndefault = true\n")
}

#[cfg(test)]
mod tests {
    use feas_format::Digest;

    use super::*;
    use crate::ecosystems::EcoChanges;
    use crate::remove::{remove, RemoveError};

    fn wheel(project: &str, filename: &str) -> WheelRecord {
        let digest = Digest::sha256_of(filename.as_bytes());
        WheelRecord { project: project.into(), version: "1.0".into(), filename: filename.into(), digest, size: 1, requires_python: None, metadata: None }
    }

    /// `rm` takes a file as `pypi/<project>/<file>` or by its bare name; a name with `@` is the
    /// registry's `REPO@DIGEST` form, never a bare file name.
    #[test]
    fn rm_names_a_file_with_its_project_or_bare() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let files = vec![wheel("six", "six-1.0-py3-none-any.whl"), wheel("odd", "odd@1.0.tar.gz")];
        store.commit(&Changes { eco: EcoChanges { pypi: files, ..Default::default() }, ..Changes::default() }).unwrap();
        for unknown in ["pypi/other/six-1.0-py3-none-any.whl", "pypi/six", "odd@1.0.tar.gz"] {
            assert!(matches!(remove(&store, &[unknown.into()], false, &Default::default()), Err(RemoveError::Unknown(_))), "{unknown}");
        }
        let s = remove(&store, &["six-1.0-py3-none-any.whl".into(), "pypi/odd/odd@1.0.tar.gz".into()], false, &Default::default()).unwrap();
        assert_eq!(s.removed, ["pypi/odd/odd@1.0.tar.gz", "six-1.0-py3-none-any.whl"]);
        assert!(store.pypi_projects().unwrap().is_empty() && store.pypi_file("six-1.0-py3-none-any.whl").unwrap().is_none());
    }
}
