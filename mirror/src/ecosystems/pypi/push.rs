//! `mirror push --pypi URL`: every wheel and sdist through the upload API twine uses (Nexus
//! pypi-hosted, pypiserver), a file the target already has counted as skipped.

use reqwest::StatusCode;
use serde::Serialize;

use super::WheelRecord;
use crate::ecosystems::{listed, PushCtx};
use crate::push::{client, file_body, PushError};
use crate::store::{Paths, Store, StoreError};

/// `mirror push --pypi URL`, when given: what to push from the running server or the store.
pub(super) async fn run(PushCtx { args, paths, creds }: PushCtx<'_>) -> anyhow::Result<()> {
    let Some(url) = &args.pypi else { return Ok(()) };
    let files = listed::<Vec<WheelRecord>>(&args.store, "pypi").await?;
    if files.is_empty() {
        anyhow::bail!("the store at {} holds no Python packages to push", args.store.display());
    }
    let s = push_pypi(paths, &files, url, creds).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        eprintln!("{} file(s) uploaded ({} bytes), {} already there", s.uploaded.len(), s.bytes_uploaded, s.skipped.len());
    }
    Ok(())
}

/// Every wheel and sdist the store holds.
pub fn all_wheels(store: &Store) -> Result<Vec<WheelRecord>, StoreError> {
    let mut out = Vec::new();
    for p in store.pypi_projects()? {
        out.extend(store.pypi_files(&p)?);
    }
    Ok(out)
}

#[derive(Debug, Default, Serialize)]
pub struct PypiPushSummary {
    pub uploaded: Vec<String>,
    pub skipped: Vec<String>,
    pub bytes_uploaded: u64,
}

/// The `pyversion` field twine sends: the wheel's python tag, `source` for an sdist.
fn pyversion(filename: &str) -> String {
    match filename.strip_suffix(".whl") {
        Some(stem) => stem.rsplit('-').nth(2).unwrap_or("py3").to_string(),
        None => "source".into(),
    }
}

/// Upload every file to a legacy-upload endpoint (`POST URL` with `:action=file_upload`).
pub async fn push_pypi(paths: &Paths, files: &[WheelRecord], url: &str, creds: Option<(String, String)>) -> Result<PypiPushSummary, PushError> {
    let client = client(url)?;
    let mut s = PypiPushSummary::default();
    for w in files {
        let (body, _) = file_body(&paths.blob(&w.digest), || format!("{} ({})", w.filename, w.digest)).await?;
        let part = reqwest::multipart::Part::stream_with_length(body, w.size).file_name(w.filename.clone()).mime_str("application/octet-stream").map_err(|e| PushError::Http {
            what: "upload".into(),
            url: url.into(),
            detail: e.to_string(),
        })?;
        let form = reqwest::multipart::Form::new()
            .text(":action", "file_upload")
            .text("protocol_version", "1")
            .text("metadata_version", "2.1")
            .text("name", w.project.clone())
            .text("version", w.version.clone())
            .text("filetype", if w.filename.ends_with(".whl") { "bdist_wheel" } else { "sdist" })
            .text("pyversion", pyversion(&w.filename))
            .text("sha256_digest", w.digest.hex().to_string())
            .part("content", part);
        let mut req = client.post(url).multipart(form);
        if let Some((u, p)) = &creds {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().await.map_err(|e| PushError::Http { what: format!("uploading {}", w.filename), url: url.into(), detail: e.to_string() })?;
        match resp.status() {
            st if st.is_success() => {
                s.bytes_uploaded += w.size;
                s.uploaded.push(w.filename.clone());
            }
            // pypiserver says 409, Warehouse-like servers 400 "File already exists".
            StatusCode::CONFLICT => s.skipped.push(w.filename.clone()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Err(PushError::Unauthorized { url: url.into() }),
            st => {
                let text = resp.text().await.unwrap_or_default();
                if st == StatusCode::BAD_REQUEST && text.to_ascii_lowercase().contains("already exist") {
                    s.skipped.push(w.filename.clone());
                } else {
                    return Err(PushError::Http { what: format!("uploading {}", w.filename), url: url.into(), detail: format!("HTTP {st}: {}", text.trim()) });
                }
            }
        }
    }
    Ok(s)
}
