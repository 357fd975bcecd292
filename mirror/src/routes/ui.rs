//! The operator's web pages, beside `/` (`routes::home`): `/ui/search?q=` (by name across every
//! ecosystem), `/ui/artifact?name=` (one artifact: digests, platforms, the bundles that brought
//! it, the commands that pull or install it from this mirror), `/ui/history` (the audit trail)
//! and `/ui/clients` (client-config snippets). Server-rendered HTML with one inline stylesheet
//! and no script: the mirror runs in an air gap (no CDN fonts or scripts), the pages work
//! without JavaScript, and a narrow screen gets one column. Every page is built off the async
//! workers, and reads a bounded amount of the store.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use feas_format::oci::AnyManifest;

use super::home::esc;
use super::AppState;
use crate::commands::status::Status;
use crate::ecosystems::Described;
use crate::store::{Action, Event, Store, StoreError};

/// Results a search shows: the page costs this, not the store.
const HITS: usize = 200;
/// Tags per repository a search lists.
const TAGS_PER_REPO: usize = 20;
/// Events `/ui/history` shows, newest first.
const EVENTS: usize = 200;

pub fn router() -> Router<AppState> {
    Router::new().route("/ui/search", get(search)).route("/ui/artifact", get(artifact)).route("/ui/history", get(history)).route("/ui/clients", get(clients))
}

/// Inline, so nothing is fetched from anywhere: system fonts, one column under 40em.
const STYLE: &str = "
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#57606a;--line:#d0d7de;--card:#f6f8fa;--accent:#0b5cad}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#8d96a0;--line:#30363d;--card:#161b22;--accent:#58a6ff}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;flex-wrap:wrap;gap:.5em 1.5em;align-items:center;padding:.75em 1em;border-bottom:1px solid var(--line);background:var(--card)}
header a.brand{font-weight:700;color:var(--fg);text-decoration:none}
nav{display:flex;flex-wrap:wrap;gap:1em}
form.search{display:flex;gap:.5em;flex:1 1 16em;max-width:32em}
form.search input{flex:1;min-width:0;padding:.4em .6em;font:inherit;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg)}
form.search button{padding:.4em .9em;font:inherit;border:1px solid var(--line);border-radius:6px;background:var(--accent);color:#fff}
main{max-width:72em;margin:0 auto;padding:1em}
a{color:var(--accent)}
h1{font-size:1.5em;margin:.2em 0 .6em}
h2{font-size:1.2em;margin:1.4em 0 .5em;border-bottom:1px solid var(--line);padding-bottom:.2em}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
code{overflow-wrap:anywhere}
pre{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.6em .8em;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere;user-select:all}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:.3em .6em .3em 0;border-bottom:1px solid var(--line);overflow-wrap:anywhere}
th{color:var(--muted);font-weight:600}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(11em,1fr));gap:.75em}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.6em .8em}
.card b{display:block;font-size:1.4em}
.muted{color:var(--muted)}
.ok{color:#1a7f37}.bad{color:#cf222e}
@media (max-width:40em){th,td{display:block;padding:.1em 0;border:0}tr{display:block;border-bottom:1px solid var(--line);padding:.4em 0}}
";

/// A whole page: the header (home, search, history, clients) and `body`.
pub fn layout(title: &str, query: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} — air-gap mirror</title><style>{STYLE}</style></head><body>\n<header><a class=\"brand\" href=\"/\">Air-gap mirror</a>\
         <form class=\"search\" action=\"/ui/search\" method=\"get\" role=\"search\"><input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"Search images, debs, wheels, charts, files…\" aria-label=\"Search by name\">\
         <button type=\"submit\">Search</button></form>\
         <nav><a href=\"/ui/history\">History</a><a href=\"/ui/clients\">Client setup</a><a href=\"/metrics\">Metrics</a></nav></header>\n<main>\n{body}</main></body></html>\n",
        esc(title),
        esc(query)
    )
}

/// The policy of the web pages: no script, nothing from elsewhere, the one inline stylesheet
/// (by its hash), forms to this origin only.
static CSP: std::sync::LazyLock<HeaderValue> = std::sync::LazyLock::new(|| {
    use base64::Engine;
    let hash = base64::engine::general_purpose::STANDARD.encode(feas_format::Digest::sha256_of(STYLE.as_bytes()).bytes());
    HeaderValue::from_str(&format!("default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")).expect("ascii")
});

/// A web page answer, with its policy.
pub fn page(status: StatusCode, html: String) -> Response {
    let mut r = (status, Html(html)).into_response();
    r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, CSP.clone());
    r
}

fn failed(e: &dyn std::fmt::Display) -> Response {
    tracing::error!("rendering a web page: {e}");
    page(StatusCode::INTERNAL_SERVER_ERROR, layout("Error", "", "<h1>Store error</h1><p>See the mirror's log.</p>\n"))
}

/// Run `f` on the blocking pool and answer with its page.
async fn blocking(f: impl FnOnce() -> Result<(StatusCode, String), StoreError> + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok((status, html))) => page(status, html),
        Ok(Err(e)) => failed(&e),
        Err(e) => failed(&e),
    }
}

/// `/ui/artifact?name=…`
pub fn artifact_link(name: &str) -> String {
    let q: String = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).collect();
    format!("<a href=\"/ui/artifact?name={q}\"><code>{}</code></a>", esc(name))
}

#[derive(serde::Deserialize)]
struct Q {
    #[serde(default)]
    q: String,
}

async fn search(State(st): State<AppState>, Query(Q { q }): Query<Q>) -> Response {
    let store = st.store.clone();
    blocking(move || {
        let hits = find(&store, q.trim())?;
        let mut body =
            format!("<h1>Search</h1>\n<p>{} result(s) for <code>{}</code>{}.</p>\n", hits.len(), esc(q.trim()), if hits.len() >= HITS { " (the first ones)" } else { "" });
        if !hits.is_empty() {
            body.push_str("<table><thead><tr><th>kind</th><th>artifact</th></tr></thead><tbody>\n");
            for (name, kind) in &hits {
                body.push_str(&format!("<tr><td>{kind}</td><td>{}</td></tr>\n", artifact_link(name)));
            }
            body.push_str("</tbody></table>\n");
        }
        Ok((StatusCode::OK, layout(&format!("Search {}", q.trim()), q.trim(), &body)))
    })
    .await
}

/// Held artifacts whose name contains `q` (case-insensitive), at most `HITS`.
pub fn find(store: &Store, q: &str) -> Result<Vec<(String, String)>, StoreError> {
    let needle = q.to_lowercase();
    if needle.is_empty() {
        return Ok(Vec::new());
    }
    let found = crate::inventory::held(store, &mut |name, _| name.to_lowercase().contains(&needle), HITS, Some(TAGS_PER_REPO))?;
    Ok(found.into_iter().map(|h| (h.name, h.kind)).collect())
}

#[derive(serde::Deserialize)]
struct NameQ {
    #[serde(default)]
    name: String,
}

async fn artifact(State(st): State<AppState>, Query(NameQ { name }): Query<NameQ>, uri: Uri, headers: HeaderMap) -> Response {
    let (store, base) = (st.store.clone(), st.origin.base(&uri, &headers));
    blocking(move || describe_page(&store, &name, &base)).await
}

fn describe_page(store: &Store, name: &str, base: &str) -> Result<(StatusCode, String), StoreError> {
    let described = match crate::ecosystems::describe(store, name, base)? {
        Some((eco, d)) => Some((eco, d)),
        None => describe_image(store, name, base)?.map(|d| ("image", d)),
    };
    let Some((kind, d)) = described else {
        let body = format!(
            "<h1>Not held</h1><p>This mirror holds no artifact named <code>{}</code>. <a href=\"/ui/search?q={}\">Search for it</a>, or see the <a href=\"/ui/history\">history</a> (a removed artifact is listed there).</p>\n",
            esc(name),
            percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
        );
        return Ok((StatusCode::NOT_FOUND, layout("Not held", "", &body)));
    };
    let mut body = format!("<h1><code>{}</code></h1>\n<p class=\"muted\">{kind}</p>\n<table><tbody>\n", esc(name));
    for (label, value) in &d.facts {
        body.push_str(&format!("<tr><th>{}</th><td><code>{}</code></td></tr>\n", esc(label), esc(value)));
    }
    for e in store.envelopes_of(name)? {
        body.push_str(&format!("<tr><th>bundle manifest</th><td><code>{e}</code></td></tr>\n"));
    }
    body.push_str("</tbody></table>\n");
    if !d.commands.is_empty() {
        body.push_str("<h2>Use it</h2>\n");
        for (what, cmd) in &d.commands {
            body.push_str(&format!("<p>{}</p><pre>{}</pre>\n", esc(what), esc(cmd)));
        }
    }
    body.push_str("<h2>Brought by</h2>\n");
    let mut brought = Vec::new();
    for h in store.history_newest_first() {
        let h = h?;
        if h.artifacts.iter().any(|a| a == name) {
            brought.push(h);
        }
    }
    if brought.is_empty() {
        body.push_str("<p>No import carried it under this name: it was pushed (see the <a href=\"/ui/history\">history</a>).</p>\n");
    } else {
        body.push_str("<table><thead><tr><th>bundle</th><th>sequence</th><th>signed by</th><th>imported</th></tr></thead><tbody>\n");
        for h in &brought {
            body.push_str(&format!("<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>\n", esc(&h.name), h.sequence, esc(&h.signer), esc(&h.imported_at)));
        }
        body.push_str("</tbody></table>\n");
    }
    Ok((StatusCode::OK, layout(name, "", &body)))
}

/// An image by `repo:tag` or `repo@digest`: its manifest, platforms and pull commands.
fn describe_image(store: &Store, name: &str, base: &str) -> Result<Option<Described>, StoreError> {
    let (repo, digest, reference) = match name.split_once('@') {
        Some((repo, d)) => match d.parse::<feas_format::Digest>() {
            Ok(d) => (repo, d.clone(), format!("@{d}")),
            Err(_) => return Ok(None),
        },
        None => {
            let Some((repo, tag)) = name.rsplit_once(':').filter(|(r, t)| !t.contains('/') && r.contains('/')) else { return Ok(None) };
            match store.tag(repo, tag)? {
                Some(d) => (repo, d, format!(":{tag}")),
                None => return Ok(None),
            }
        }
    };
    let Some(rec) = store.manifest(repo, &digest)? else { return Ok(None) };
    let mut d = Described::default().fact("digest", digest.to_string()).fact("media type", &rec.media_type);
    let manifest = std::fs::read(store.blobs.path(&digest)).ok().and_then(|b| AnyManifest::parse(&b).ok());
    if let Some(m) = &manifest {
        for child in &m.manifests {
            let platform = child.platform.as_ref().map(|p| p.key()).unwrap_or_else(|| "(no platform)".into());
            d = d.fact("platform", format!("{platform}: {}", child.digest));
        }
        if !m.layers.is_empty() {
            d = d.fact("layers", format!("{} ({})", m.layers.len(), feas_format::term::bytes(m.layers.iter().map(|l| l.size).sum())));
        }
    }
    for (platform, child) in rec.omitted.iter().map(|(c, p)| (p, c)) {
        d = d.fact("left out", format!("{platform}: {child} (not carried by its bundle)"));
    }
    let host = super::origin::authority(base);
    let tls = if base.starts_with("http://") { " --tls-verify=false" } else { "" };
    let at = format!("{host}/{repo}{reference}");
    // Upstream's name, which nodes whose containerd/RKE2 config points at this mirror pull.
    let upstream = format!("{repo}{reference}");
    Ok(Some(
        d.command("pull with podman", format!("podman pull{tls} {at}"))
            .command("copy with skopeo", format!("skopeo copy{} docker://{at} oci:./image:latest", if tls.is_empty() { "" } else { " --src-tls-verify=false" }))
            .command("on a node configured by `mirror client-config containerd|rke2` (upstream's name)", format!("crictl pull {upstream}")),
    ))
}

async fn history(State(st): State<AppState>) -> Response {
    let store = st.store.clone();
    blocking(move || {
        let events = store.recent_events(EVENTS)?;
        let mut body = format!("<h1>History</h1>\n<p>The last {} change(s), newest first: imports, pushes, deletes, <code>rm</code>, gc and quarantine, with who did them. <code>mirror history --json</code> prints all of them.</p>\n", events.len());
        body.push_str("<table><thead><tr><th>#</th><th>when</th><th>what</th><th>who</th></tr></thead><tbody>\n");
        for e in &events {
            body.push_str(&event_row(e));
        }
        body.push_str("</tbody></table>\n");
        Ok((StatusCode::OK, layout("History", "", &body)))
    })
    .await
}

fn event_row(e: &Event) -> String {
    let who = e.by.as_ref().map(|b| esc(&b.to_string())).unwrap_or_default();
    let what = match &e.action {
        Action::Import { name, sequence, signer, blobs_added, bytes_added, artifacts, .. } => {
            let mut s = format!(
                "import <b>{}</b> sequence {sequence}, signed by <code>{}</code>: {blobs_added} new blob(s), {}",
                esc(name),
                esc(signer),
                feas_format::term::bytes(*bytes_added)
            );
            s.push_str("<br>");
            s.push_str(&artifacts.iter().take(20).map(|a| artifact_link(a)).collect::<Vec<_>>().join(" "));
            if artifacts.len() > 20 {
                s.push_str(&format!(" … and {} more", artifacts.len() - 20));
            }
            s
        }
        other => esc(&other.to_string()),
    };
    format!("<tr><td>{}</td><td>{}</td><td>{what}</td><td>{who}</td></tr>\n", e.generation, esc(&e.at))
}

async fn clients(State(st): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let base = st.origin.base(&uri, &headers);
    let host = super::origin::authority(&base).to_string();
    let ca = if base.starts_with("https://") { " --ca ca.crt" } else { "" };
    let mut body = String::from("<h1>Client setup</h1>\n<p>Each client pointed at this mirror. <code>mirror client-config KIND --url URL</code> writes the files (with <code>--out DIR</code>); the lines below are what it writes.</p>\n");
    let snippets: [(&str, String); 8] = [
        ("containerd (certs.d/&lt;registry&gt;/hosts.toml for every registry held)", format!("mirror client-config containerd --url {base}{ca} --out /etc/containerd/certs.d")),
        ("RKE2 / K3s (registries.yaml)", format!("mirror client-config rke2 --url {base}{ca} --out /etc/rancher/rke2")),
        ("podman, skopeo, buildah (registries.conf.d)", format!("mirror client-config podman --url {base}{ca}")),
        ("apt (deb822 .sources with the mirror's key)", format!("mirror client-config apt --url {base}{ca} --out /etc/apt")),
        ("pip (pip.conf)", format!("[global]\nindex-url = {base}/pypi/simple/\n# or: pip install --index-url {base}/pypi/simple/ PACKAGE")),
        ("uv", format!("export UV_INDEX_URL={base}/pypi/simple/\n# or in uv.toml: [[index]] url = \"{base}/pypi/simple/\" default = true")),
        ("Helm", format!("helm repo add mirror {base}/helm\n# or OCI: helm pull oci://{host}/charts/NAME --version VERSION")),
        ("Hugging Face (huggingface_hub, transformers)", format!("export HF_ENDPOINT={base}/hf")),
    ];
    for (what, text) in &snippets {
        body.push_str(&format!("<h2>{what}</h2>\n<pre>{}</pre>\n", esc(text)));
    }
    body.push_str(&format!(
        "<h2>NLTK</h2>\n<pre>{}</pre>\n",
        esc(&format!("python3 -c \"import nltk, nltk.pathsec; nltk.pathsec.ENFORCE = False; nltk.download('ID', server_index_url='{base}/nltk/index.xml')\""))
    ));
    page(StatusCode::OK, layout("Client setup", "", &body))
}

/// The store section of `/`: usage, and the last import, gc and verify, as `mirror status`
/// reads them (a few gets: gc and verify change no generation, so this part is not cached).
pub fn status(s: &Status) -> String {
    let bytes = feas_format::term::bytes;
    let cards = [
        ("store size", bytes(s.blob_bytes)),
        ("blobs", s.blobs.to_string()),
        ("free on its filesystem", s.free_bytes.map(bytes).unwrap_or_else(|| "?".into())),
        ("generation", s.generation.to_string()),
        ("last import", s.last_import.clone().unwrap_or_else(|| "never".into())),
    ];
    let mut out = String::from("<h2>Store</h2>\n<div class=\"cards\">\n");
    for (label, value) in cards {
        out.push_str(&format!("<div class=\"card\"><span class=\"muted\">{label}</span><b>{}</b></div>\n", esc(&value)));
    }
    out.push_str("</div>\n<p>");
    match &s.last_gc {
        Some(e) => out.push_str(&format!("Last gc {}: {}. ", esc(&e.at), esc(&e.action.to_string()))),
        None => out.push_str("No gc recorded (<code>mirror gc</code>). "),
    }
    match &s.last_verify {
        Some(v) if v.ok() => out.push_str(&format!("Last verify {}: <span class=\"ok\">OK</span>, {} blobs ({}) re-hashed.", esc(&v.at), v.checked, bytes(v.bytes))),
        Some(v) => out.push_str(&format!(
            "Last verify {}: <span class=\"bad\">{} damaged, {} missing, {} dangling</span> (<code>mirror verify</code> names them).",
            esc(&v.at),
            v.damaged,
            v.missing,
            v.dangling
        )),
        None => out.push_str("No verify recorded (<code>mirror verify</code>)."),
    }
    out.push_str("</p>\n");
    out
}
