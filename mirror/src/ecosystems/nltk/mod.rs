//! NLTK data packages: the downloader index and package zips, and the client script.

mod import;
pub mod routes;
mod store;

pub(crate) use store::RULES;
pub use store::{NltkRecord, Trees};

use std::convert::Infallible;

use axum::Router;
use sled::transaction::ConflictableTransactionResult;

use feas_format::oci::Descriptor;
use feas_format::Kind;

use super::{ClientCtx, ClientFuture, Described, Ecosystem, Next, Prepared, RmTarget};
use crate::cli::ClientKind;
use crate::commands::client_config::{emit, get, sh_quote, Access, Generated};
use crate::import::graph::{GraphError, Lookup, Plan};
use crate::routes::home::{and_more, esc, LISTED};
use crate::routes::AppState;
use crate::store::meta::{json, Counted, Counts, Trees as AllTrees};
use crate::store::{Changes, Meta, Removal, Store, StoreError};

pub struct Nltk;

impl Ecosystem for Nltk {
    fn artifacts(counts: &Counts) -> u64 {
        counts.keys.eco.nltk.packages
    }

    type State = ();
    /// Package id and record.
    type Changes = Vec<(String, NltkRecord)>;
    /// Package ids.
    type Removal = Vec<String>;

    fn router() -> Router<AppState> {
        routes::router()
    }

    fn describe(store: &Store, name: &str, base: &str) -> Result<Option<Described>, StoreError> {
        let Some(rest) = name.strip_prefix("nltk/") else { return Ok(None) };
        let (subdir, id) = rest.rsplit_once('/').unwrap_or(("", rest));
        let Some(rec) = store.nltk_package(id)?.filter(|r| r.attrs.get("subdir").map(String::as_str).unwrap_or_default() == subdir) else { return Ok(None) };
        let mut d = Described::default().fact("id", id).fact("subdir", subdir).fact("sha256", rec.digest.to_string()).fact("size", feas_format::term::bytes(rec.size));
        if let Some(n) = rec.attrs.get("name") {
            d = d.fact("name", n);
        }
        Ok(Some(
            d.command(
                "download with nltk",
                format!("python3 -c \"import nltk, nltk.pathsec; nltk.pathsec.ENFORCE = False; nltk.download('{id}', server_index_url='{base}/nltk/index.xml')\""),
            )
            .command("download the zip", format!("curl -fO {base}/nltk/packages/{subdir}/{id}.zip")),
        ))
    }

    fn home(store: &Store, counts: &Counts, out: &mut String) -> Result<(), StoreError> {
        let total = counts.keys.eco.nltk.packages;
        out.push_str(&format!("</ul>\n<h2>NLTK data</h2>\n<p>{total} packages in <a href=\"/nltk/index.xml\">/nltk/index.xml</a>.</p>\n<ul>\n"));
        let ids = store.nltk_package_ids(LISTED)?;
        for id in &ids {
            out.push_str(&format!("<li>{}</li>\n", esc(id)));
        }
        and_more(out, total, ids.len(), "packages");
        Ok(())
    }

    const KINDS: &'static [Kind] = &[Kind::Nltk];

    fn walk(top: &Descriptor, lookup: Lookup, plan: &mut Plan) -> Result<Next, GraphError> {
        import::walk(top, lookup, plan)?;
        Ok(Next::Done)
    }

    fn write(t: &AllTrees<Counted<'_>>, c: &Changes) -> ConflictableTransactionResult<(), Infallible> {
        for (id, rec) in &c.eco.nltk {
            t.eco.nltk.packages.insert(id.as_bytes(), json(rec))?;
        }
        Ok(())
    }

    fn remove(t: &AllTrees<Counted<'_>>, r: &Removal, _: &Prepared) -> ConflictableTransactionResult<(), Infallible> {
        for id in &r.eco.nltk {
            t.eco.nltk.packages.remove(id.as_bytes())?;
        }
        Ok(())
    }

    fn missing_records(m: &Meta, c: &Changes, need: &mut dyn FnMut(bool, String)) -> Result<(), StoreError> {
        store::missing_records(m, c, need)
    }

    fn rm_target(store: &Store, name: &str) -> Result<Option<RmTarget>, StoreError> {
        let Some(rest) = name.strip_prefix("nltk/") else { return Ok(None) };
        let (subdir, id) = rest.rsplit_once('/').unwrap_or(("", rest));
        match store.nltk_package(id)? {
            Some(rec) if rec.attrs.get("subdir").map(String::as_str).unwrap_or_default() == subdir => Ok(Some((id.to_string(), |_, r, id| {
                r.eco.nltk.push(id.to_string());
                Ok(())
            }))),
            _ => Ok(None),
        }
    }

    const RM_SYNTAX: &'static [&'static str] = &["nltk/<subdir>/<id>"];

    const CLIENTS: &'static [ClientKind] = &[ClientKind::Nltk];

    fn client_config<'a>(_kind: ClientKind, ClientCtx { http, url, out, access }: ClientCtx<'a>) -> ClientFuture<'a> {
        Box::pin(async move {
            let index = get(http, &format!("{url}/nltk/index.xml")).await?;
            let idx = feas_format::nltk::parse_index(&String::from_utf8_lossy(&index)).map_err(|e| anyhow::anyhow!("{url}/nltk/index.xml: {e}"))?;
            let pkgs: Vec<(String, String)> = idx.packages.iter().map(|(id, a)| (id.clone(), a.get("subdir").cloned().unwrap_or_default())).collect();
            let mut files = vec![Generated::script("nltk/nltk-mirror.sh", nltk_sh(url, &pkgs, access), access.creds.is_some())];
            files.extend(access.ca.map(|pem| Generated::ca("nltk/mirror-ca.crt", pem)));
            emit(out, &files, &format!("run it on the machine (or image build) that needs the data{}", access.ca_hint("nltk")))
        })
    }
}

/// NLTK: the downloader pointed at the mirror, or plain downloads into NLTK_DATA (what a
/// container build or a node without Python network access needs, and the only way through
/// read authentication: the downloader sends no credentials).
pub fn nltk_sh(url: &str, packages: &[(String, String)], access: Access) -> String {
    let ids = format!("[{}]", packages.iter().map(|(id, _)| format!("'{id}'")).collect::<Vec<_>>().join(", "));
    let cert_env = access.ca.map(|_| format!("SSL_CERT_FILE={} ", access.ca_path)).unwrap_or_default();
    let downloader = match access.creds {
        Some(_) => "# (The downloader cannot log in to a mirror that asks for credentials: use this script.)\n".to_string(),
        None => format!("# Either the downloader, pointed at the mirror's index (nltk >= 3.9 refuses private and loopback addresses\n# unless its guard is switched off, which is what a mirror on the site LAN needs):\n#   {cert_env}python3 -c \"import nltk, nltk.pathsec; nltk.pathsec.ENFORCE = False; nltk.download({ids}, server_index_url='{url}/nltk/index.xml')\"\n# or, without Python's downloader, pre-seed NLTK_DATA (this script):\n"),
    };
    let mut s = format!("#!/bin/sh\n# NLTK data from the mirror.\n{downloader}set -eu\nNLTK_DATA=${{NLTK_DATA:-/usr/local/share/nltk_data}}\n");
    let mut curl = String::from("curl -fsS");
    if access.ca.is_some() {
        curl.push_str(&format!(" --cacert {}", sh_quote(access.ca_path)));
    }
    if let Some((user, password)) = access.creds {
        // From a file descriptor, not the command line, so other users' `ps` cannot read it.
        s.push_str(&format!("auth={}\n", sh_quote(&format!("user = \"{}\"", format!("{user}:{password}").replace('\\', "\\\\").replace('"', "\\\"")))));
        curl.push_str(" -K /dev/fd/3");
    }
    for (id, subdir) in packages {
        let fd = if access.creds.is_some() { " 3<<EOF\n$auth\nEOF\n" } else { "\n" };
        s.push_str(&format!("mkdir -p \"$NLTK_DATA/{subdir}\"\n{curl} -o \"$NLTK_DATA/{subdir}/{id}.zip\" {url}/nltk/packages/{subdir}/{id}.zip{fd}(cd \"$NLTK_DATA/{subdir}\" && python3 -m zipfile -e {id}.zip .)\n"));
    }
    s.push_str("echo \"NLTK data in $NLTK_DATA; export NLTK_DATA=$NLTK_DATA where it is used\"\n");
    s
}
