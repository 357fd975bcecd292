//! Reading a project's page from a simple repository: PEP 691 JSON when the index offers it,
//! else PEP 503 HTML (with PEP 592 yanking, PEP 658/714 core metadata). URLs are resolved
//! against the page URL.

use serde::Deserialize;

use crate::sources::http::{Http, HttpError};

/// Largest project page we read (PyPI's biggest are a few MiB).
const MAX_PAGE: u64 = 64 << 20;
const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// One file a project page lists.
#[derive(Debug, Clone, PartialEq)]
pub struct FileEntry {
    pub filename: String,
    pub url: String,
    pub sha256: Option<String>,
    pub requires_python: Option<String>,
    pub yanked: bool,
    /// PEP 658/714: the index serves `<url>.metadata`; `Some(Some(hash))` when it gives its sha256.
    pub metadata: Option<Option<String>>,
    pub size: Option<u64>,
}

#[derive(Deserialize)]
struct JsonPage {
    files: Vec<JsonFile>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum BoolOr<T> {
    Bool(bool),
    Value(T),
}

#[derive(Deserialize)]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
    #[serde(rename = "requires-python", default)]
    requires_python: Option<String>,
    #[serde(default)]
    yanked: Option<BoolOr<String>>,
    #[serde(rename = "core-metadata", default)]
    core_metadata: Option<BoolOr<std::collections::BTreeMap<String, String>>>,
    #[serde(rename = "dist-info-metadata", default)]
    dist_info_metadata: Option<BoolOr<std::collections::BTreeMap<String, String>>>,
    #[serde(default)]
    size: Option<u64>,
}

fn metadata_of(v: Option<BoolOr<std::collections::BTreeMap<String, String>>>) -> Option<Option<String>> {
    match v? {
        BoolOr::Bool(false) => None,
        BoolOr::Bool(true) => Some(None),
        BoolOr::Value(h) => Some(h.get("sha256").cloned()),
    }
}

/// The files of `project` on `index` (a simple index URL ending in `/`), or `None` if the
/// index does not have the project.
pub async fn project_files(http: &Http, index: &str, project: &str) -> Result<Option<Vec<FileEntry>>, HttpError> {
    let page = format!("{index}{project}/");
    let (body, content_type, final_url) = match http.get_page(&page, ACCEPT, MAX_PAGE).await {
        Ok(r) => r,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    parse_page(&body, &content_type, &final_url).map(Some).map_err(|detail| HttpError::Failed { url: page.clone(), detail })
}

/// The files a simple page lists: PEP 691 JSON when `content_type` says so, else PEP 503
/// HTML; links are resolved against `final_url` (the page's URL after redirects).
pub fn parse_page(body: &[u8], content_type: &str, final_url: &str) -> Result<Vec<FileEntry>, String> {
    let base = reqwest::Url::parse(final_url).map_err(|e| e.to_string())?;
    let join = |href: &str| base.join(href).map(|u| u.to_string()).map_err(|e| format!("bad link {href:?}: {e}"));
    if content_type.starts_with("application/vnd.pypi.simple.v1+json") {
        let p: JsonPage = serde_json::from_slice(body).map_err(|e| format!("not a PEP 691 page: {e}"))?;
        let mut out = Vec::with_capacity(p.files.len());
        for f in p.files {
            let url = join(&f.url)?;
            out.push(FileEntry {
                filename: f.filename,
                sha256: f.hashes.get("sha256").cloned(),
                requires_python: f.requires_python.filter(|s| !s.trim().is_empty()),
                yanked: matches!(f.yanked, Some(BoolOr::Bool(true)) | Some(BoolOr::Value(_))),
                metadata: metadata_of(f.core_metadata).or(metadata_of(f.dist_info_metadata)),
                size: f.size,
                url,
            });
        }
        return Ok(out);
    }
    let text = String::from_utf8_lossy(body);
    let dom = tl::parse(&text, tl::ParserOptions::default()).map_err(|e| format!("not an HTML page: {e}"))?;
    let parser = dom.parser();
    let mut out = Vec::new();
    for a in dom.query_selector("a").into_iter().flatten() {
        let Some(tag) = a.get(parser).and_then(|n| n.as_tag()) else { continue };
        let attrs = tag.attributes();
        let attr = |k: &str| attrs.get(k).flatten().map(|v| unescape(&v.as_utf8_str()));
        let Some(href) = attr("href") else { continue };
        let (link, fragment) = href.split_once('#').map(|(l, f)| (l.to_string(), Some(f.to_string()))).unwrap_or((href.clone(), None));
        let url = join(&link)?;
        let filename = unescape(&tag.inner_text(parser)).trim().to_string();
        let sha256 = fragment.and_then(|f| f.strip_prefix("sha256=").map(str::to_string));
        let meta = attr("data-core-metadata").or(attr("data-dist-info-metadata"));
        let metadata = match meta.as_deref() {
            None | Some("false") => None,
            Some(v) => Some(v.strip_prefix("sha256=").map(str::to_string)),
        };
        out.push(FileEntry {
            filename,
            url,
            sha256,
            requires_python: attr("data-requires-python").filter(|s| !s.trim().is_empty()),
            yanked: attrs.get("data-yanked").is_some(),
            metadata,
            size: None,
        });
    }
    Ok(out)
}

/// HTML attribute and text entities that simple pages use (`&gt;=3.8`, `&lt;4`, `&amp;`).
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&#x27;", "'").replace("&amp;", "&")
}
