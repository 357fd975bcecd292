//! The Helm HTTP repository at `/helm/`: `index.yaml` rendered from the imported charts (JSON,
//! which helm reads as YAML; URLs relative to the repository, so any host name works) and the
//! archives at `/helm/charts/<name>-<version>.tgz`. The same charts are OCI artifacts under
//! `/v2/charts/<name>` (see `routes/oci.rs`), for `helm pull oci://`.

use std::collections::BTreeMap;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use serde_json::{json, Value};

use super::HelmRecord;
use crate::routes::range::{self, FileError};
use crate::routes::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/helm/index.yaml", any(index)).route("/helm/charts/{file}", any(chart))
}

fn plain(status: StatusCode, msg: String) -> Response {
    (status, format!("{msg}\n")).into_response()
}

fn read_only(method: &Method) -> Option<Response> {
    (method != Method::GET && method != Method::HEAD).then(|| plain(StatusCode::METHOD_NOT_ALLOWED, "the Helm repository is read-only".into()))
}

pub fn archive_name(c: &HelmRecord) -> String {
    format!("{}-{}.tgz", c.name, c.version)
}

/// index.yaml: every chart version with its Chart.yaml fields, archive URL and sha256.
pub fn render(charts: &[HelmRecord], generated: &str) -> String {
    let mut entries: BTreeMap<&str, Vec<(Option<semver::Version>, Value)>> = BTreeMap::new();
    for c in charts {
        let mut v = c.metadata.clone();
        v.insert("urls".into(), json!([format!("charts/{}", archive_name(c))]));
        v.insert("digest".into(), json!(c.digest.hex()));
        if !c.created.is_empty() {
            v.insert("created".into(), json!(c.created));
        }
        let sv = semver::Version::parse(c.version.trim_start_matches('v')).ok();
        entries.entry(c.name.as_str()).or_default().push((sv, Value::Object(v)));
    }
    let entries: serde_json::Map<String, Value> = entries
        .into_iter()
        .map(|(name, mut vs)| {
            // Newest first, as `helm repo index` writes it.
            vs.sort_by(|a, b| b.0.cmp(&a.0));
            (name.to_string(), Value::Array(vs.into_iter().map(|(_, v)| v).collect()))
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&json!({"apiVersion": "v1", "entries": entries, "generated": generated})).expect("index serializes");
    out.push('\n');
    out
}

async fn index(State(st): State<AppState>, req: Request) -> Response {
    if let Some(r) = read_only(req.method()) {
        return r;
    }
    let store = st.store.clone();
    let found = tokio::task::spawn_blocking(move || Ok::<_, crate::store::StoreError>((store.charts()?, store.last_import_time()?))).await;
    let (charts, when) = match found {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let mut r = render(&charts, when.as_deref().unwrap_or("1970-01-01T00:00:00Z")).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/yaml"));
    r
}

async fn chart(State(st): State<AppState>, Path(file): Path<String>, req: Request) -> Response {
    if let Some(r) = read_only(req.method()) {
        return r;
    }
    let head = req.method() == Method::HEAD;
    let store = st.store.clone();
    let found = match tokio::task::spawn_blocking(move || store.charts()).await {
        Ok(Ok(cs)) => cs.into_iter().find(|c| archive_name(c) == file),
        Ok(Err(e)) => return plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let Some(c) = found else {
        return plain(StatusCode::NOT_FOUND, format!("/helm/charts/{file}: the mirror holds no such chart (see /helm/index.yaml)"));
    };
    match range::file_response(&st.store.blobs.path(&c.digest), head, req.headers(), "application/gzip").await {
        Ok(r) => r,
        Err(FileError::NotFound) => {
            plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{} for chart {} {} is missing from the store; run `mirror verify`", c.digest, c.name, c.version))
        }
        Err(FileError::Io(e)) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("reading {}: {e}", c.digest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use feas_format::Digest;

    #[test]
    fn index_lists_versions_newest_first_with_relative_urls() {
        let rec = |v: &str| {
            let mut metadata = serde_json::Map::new();
            metadata.insert("apiVersion".into(), json!("v2"));
            metadata.insert("name".into(), json!("web"));
            metadata.insert("version".into(), json!(v));
            HelmRecord {
                name: "web".into(),
                version: v.into(),
                metadata,
                digest: Digest::sha256_of(v.as_bytes()),
                size: 1,
                manifest: Digest::sha256_of(b"m"),
                created: "2026-01-01T00:00:00Z".into(),
            }
        };
        let out = render(&[rec("1.10.0"), rec("1.9.0")], "2026-01-02T00:00:00Z");
        let v: Value = serde_json::from_str(&out).unwrap();
        let web = v["entries"]["web"].as_array().unwrap();
        assert_eq!(web[0]["version"], "1.10.0");
        assert_eq!(web[1]["urls"][0], "charts/web-1.9.0.tgz");
        assert_eq!(web[1]["digest"], Digest::sha256_of(b"1.9.0").hex());
        assert_eq!(v["apiVersion"], "v1");
    }
}
