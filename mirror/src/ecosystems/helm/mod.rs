//! Helm charts: the chart repository at `/helm/` (each chart also an OCI artifact in
//! `charts/<name>`).

mod import;
pub mod routes;
mod store;

pub(crate) use store::RULES;
pub use store::{HelmRecord, Trees};

use std::collections::BTreeSet;
use std::convert::Infallible;

use anyhow::Context;
use axum::Router;
use sled::transaction::ConflictableTransactionResult;

use feas_format::oci::Descriptor;
use feas_format::{helm, Digest, Kind};

use super::{ClientCtx, ClientFuture, Described, Ecosystem, Next, Prepared};
use crate::cli::ClientKind;
use crate::commands::client_config::{emit, sh_quote, Access, Generated};
use crate::import::graph::{GraphError, Lookup, Plan};
use crate::routes::home::{and_more, esc, LISTED};
use crate::routes::AppState;
use crate::store::meta::{json, key, Counted, Counts, Trees as AllTrees};
use crate::store::{Changes, Meta, Removal, Store, StoreError};

pub struct Helm;

impl Ecosystem for Helm {
    fn artifacts(counts: &Counts) -> u64 {
        counts.keys.eco.helm.charts
    }

    type State = ();
    type Changes = Vec<HelmRecord>;
    /// (chart name, version)
    type Removal = Vec<(String, String)>;

    const KINDS: &'static [Kind] = &[Kind::Helm];

    /// A chart is also an OCI artifact in its repository: on to the generic walk.
    fn walk(top: &Descriptor, lookup: Lookup, plan: &mut Plan) -> Result<Next, GraphError> {
        import::walk(top, lookup, plan)?;
        Ok(Next::AlsoOci)
    }

    /// A chart's index.yaml `created` is when its bundle was made.
    fn set_bundle_created(c: &mut Changes, created: &str) {
        for rec in &mut c.eco.helm {
            rec.created = created.to_string();
        }
    }

    fn write(t: &AllTrees<Counted<'_>>, c: &Changes) -> ConflictableTransactionResult<(), Infallible> {
        for rec in &c.eco.helm {
            t.eco.helm.charts.insert(key(&[&rec.name, &rec.version]), json(rec))?;
        }
        Ok(())
    }

    fn remove(t: &AllTrees<Counted<'_>>, r: &Removal, _: &Prepared) -> ConflictableTransactionResult<(), Infallible> {
        for (name, version) in &r.eco.helm {
            t.eco.helm.charts.remove(key(&[name, version]))?;
        }
        Ok(())
    }

    fn missing_records(m: &Meta, c: &Changes, need: &mut dyn FnMut(bool, String)) -> Result<(), StoreError> {
        for rec in &c.eco.helm {
            need(m.t.eco.helm.charts.contains_key(key(&[&rec.name, &rec.version]))?, format!("chart {}:{}", rec.name, rec.version));
        }
        Ok(())
    }

    /// Charts are removed as the OCI tags they are (`remove_with_manifests` drops their records).
    const RM_SYNTAX: &'static [&'static str] = &["charts/<name>:<version>"];

    /// A chart may be named by its version; OCI tags spell `+` as `_`.
    fn oci_tag_alias(tag: &str) -> Option<String> {
        Some(helm::oci_tag(tag)).filter(|t| t != tag)
    }

    /// The chart versions whose OCI manifest goes from `charts/<name>` go with it.
    fn remove_with_manifests(store: &Store, repo: &str, gone: &BTreeSet<Digest>, r: &mut Removal, removed: &mut Vec<String>) -> Result<(), StoreError> {
        let Some(chart) = repo.strip_prefix("charts/") else { return Ok(()) };
        for c in store.charts()?.into_iter().filter(|c| c.name == chart && gone.contains(&c.manifest)) {
            let name = format!("charts/{}:{}", c.name, c.version);
            if !removed.contains(&name) && !removed.contains(&format!("charts/{}:{}", c.name, helm::oci_tag(&c.version))) {
                removed.push(name);
            }
            r.eco.helm.push((c.name, c.version));
        }
        Ok(())
    }

    fn router() -> Router<AppState> {
        routes::router()
    }

    fn describe(store: &Store, name: &str, base: &str) -> Result<Option<Described>, StoreError> {
        let Some((chart, version)) = name.strip_prefix("charts/").and_then(|r| r.rsplit_once(':')) else { return Ok(None) };
        let Some(c) = store.chart(chart, version)? else { return Ok(None) };
        let host = crate::routes::origin::authority(base);
        let plain = if base.starts_with("http://") { " --plain-http" } else { "" };
        Ok(Some(
            Described::default()
                .fact("chart", &c.name)
                .fact("version", &c.version)
                .fact("archive sha256", c.digest.to_string())
                .fact("size", feas_format::term::bytes(c.size))
                .fact("OCI manifest", c.manifest.to_string())
                .command("from the chart repository", format!("helm repo add mirror {base}/helm && helm pull mirror/{} --version {}", c.name, c.version))
                .command("from the OCI registry", format!("helm pull oci://{host}/charts/{} --version {}{plain}", c.name, c.version))
                .command("download", format!("curl -fO {base}/helm/charts/{}", routes::archive_name(&c))),
        ))
    }

    fn home(store: &Store, counts: &Counts, out: &mut String) -> Result<(), StoreError> {
        out.push_str("</ul>\n<h2>Helm charts</h2>\n<p><code>helm repo add mirror http://THIS-HOST/helm</code> (<a href=\"/helm/index.yaml\">index.yaml</a>), or <code>helm pull oci://THIS-HOST/charts/NAME --version V</code></p>\n");
        let total = counts.keys.eco.helm.charts;
        out.push_str(&format!("<p>{total} chart versions.</p>\n<ul>\n"));
        let charts = store.charts_first(LISTED)?;
        for c in &charts {
            out.push_str(&format!("<li><a href=\"/helm/charts/{0}\">{1} {2}</a></li>\n", esc(&routes::archive_name(c)), esc(&c.name), esc(&c.version)));
        }
        and_more(out, total, charts.len(), "chart versions");
        Ok(())
    }

    const CLIENTS: &'static [ClientKind] = &[ClientKind::Helm];

    fn client_config<'a>(_kind: ClientKind, ClientCtx { url, out, access, .. }: ClientCtx<'a>) -> ClientFuture<'a> {
        Box::pin(async move {
            let mut files = vec![Generated::script("helm/helm-mirror.sh", helm_sh(url, access)?, access.creds.is_some())];
            files.extend(access.ca.map(|pem| Generated::ca("helm/mirror-ca.crt", pem)));
            emit(out, &files, &format!("run it where helm runs{}", access.ca_hint("helm")))
        })
    }
}

/// Helm: the HTTP repository, and the OCI form (plain HTTP unless the mirror serves TLS), with
/// the CA and a reader's login when the mirror needs them.
pub fn helm_sh(url: &str, access: Access) -> anyhow::Result<String> {
    let host = url.split_once("://").map(|(_, h)| h).context("--url must be http://HOST[:PORT] or https://…")?;
    let ca = access.ca.map(|_| format!(" --ca-file {}", sh_quote(access.ca_path))).unwrap_or_default();
    let tls = if url.starts_with("http://") { " --plain-http".to_string() } else { ca.clone() };
    let mut s = String::from("#!/bin/sh\n# Helm against the mirror: as a chart repository ...\nset -eu\n");
    match access.creds {
        Some((user, password)) => {
            s.push_str(&format!("user={}\npassword={}\n", sh_quote(user), sh_quote(password)));
            s.push_str(&format!("printf '%s' \"$password\" | helm repo add mirror {url}/helm{ca} --username \"$user\" --password-stdin\n"));
        }
        None => s.push_str(&format!("helm repo add mirror {url}/helm{ca}\n")),
    }
    s.push_str("helm repo update mirror\nhelm search repo mirror/\n# ... or from the mirror's OCI registry:\n");
    if access.creds.is_some() {
        s.push_str(&format!("printf '%s' \"$password\" | helm registry login {host}{tls} --username \"$user\" --password-stdin\n"));
    }
    s.push_str(&format!("#   helm pull oci://{host}/charts/NAME --version VERSION{tls}\n#   helm install RELEASE oci://{host}/charts/NAME --version VERSION{tls}\n"));
    Ok(s)
}
