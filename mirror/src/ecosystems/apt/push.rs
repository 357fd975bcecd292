//! `mirror push --apt URL`: every deb into an aptly API server — one local repository per
//! source, suite and component, then published under the source's id.
//! `mirror push --apt-nexus URL`: every deb into a Nexus apt (hosted) repository through the
//! components API (`apt.asset`); files the repository already lists are skipped.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::StatusCode;
use serde::Serialize;

use feas_format::Digest;

use crate::cli::PushArgs;
use crate::ecosystems::listed;
use crate::push::{check, client, file_body, PushError};
use crate::store::{Paths, Store, StoreError};

/// The `--apt` and `--apt-nexus` targets `args` names, each sent every deb the store holds.
pub(super) async fn run(args: &PushArgs, paths: &Paths, creds: Option<&(String, String)>) -> anyhow::Result<()> {
    if let Some(url) = &args.apt {
        let files = listed::<Vec<AptFile>>(&args.store, "apt").await?;
        if files.is_empty() {
            anyhow::bail!("the store at {} holds no Debian packages to push", args.store.display());
        }
        let s = push_apt(paths, &files, url, args.apt_gpg_key.as_deref()).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&s)?);
        } else {
            eprintln!("{} deb(s) ({} bytes) published as {}", s.debs, s.bytes_uploaded, s.published.join(", "));
        }
    }
    if let Some(url) = &args.apt_nexus {
        let files = listed::<Vec<AptFile>>(&args.store, "apt").await?;
        if files.is_empty() {
            anyhow::bail!("the store at {} holds no Debian packages to push", args.store.display());
        }
        let s = push_apt_nexus(paths, &files, url, creds.cloned()).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&s)?);
        } else {
            eprintln!("{} deb(s) uploaded ({} bytes) to Nexus repository {}, {} already there", s.uploaded.len(), s.bytes_uploaded, s.repository, s.skipped.len());
        }
    }
    Ok(())
}

/// A deb as the store lists it (one per suite/component; `all` debs once per component).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AptFile {
    pub id: String,
    pub suite: String,
    pub component: String,
    pub arch: String,
    pub filename: String,
    pub digest: Digest,
}

pub fn files(store: &Store) -> Result<Vec<AptFile>, StoreError> {
    let mut out = Vec::new();
    for id in store.apt_suites()?.into_keys() {
        for (k, r, _) in store.apt_entries(&id)? {
            out.push(AptFile { id: k.id, suite: k.suite, component: k.component, arch: k.arch, filename: k.filename, digest: r.digest });
        }
    }
    Ok(out)
}

#[derive(Debug, Default, Serialize)]
pub struct AptPushSummary {
    /// `<prefix>/<suite>` published.
    pub published: Vec<String>,
    pub debs: usize,
    pub bytes_uploaded: u64,
}

/// aptly's API writes `/` in a publish prefix as `_` (and `_` as `__`).
fn aptly_prefix(p: &str) -> String {
    p.replace('_', "__").replace('/', "_")
}

/// Upload every deb to an aptly API server and publish each suite (signed with `gpg_key` by
/// aptly, or unsigned when none is given).
pub async fn push_apt(paths: &Paths, files: &[AptFile], url: &str, gpg_key: Option<&str>) -> Result<AptPushSummary, PushError> {
    let base = url.trim_end_matches('/');
    let client = client(url)?;
    let fail = |what: &str, u: &str, detail: String| PushError::Http { what: what.into(), url: u.into(), detail };
    let mut s = AptPushSummary::default();
    // (id, suite) → component → files (each file once per component).
    let mut groups: BTreeMap<(String, String), BTreeMap<String, BTreeMap<String, AptFile>>> = BTreeMap::new();
    let mut archs: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for f in files {
        groups.entry((f.id.clone(), f.suite.clone())).or_default().entry(f.component.clone()).or_default().insert(f.filename.clone(), f.clone());
        archs.entry((f.id.clone(), f.suite.clone())).or_default().insert(f.arch.clone());
    }
    for ((id, suite), comps) in &groups {
        let mut sources = Vec::new();
        for (component, debs) in comps {
            let repo = format!("{id}-{suite}-{component}");
            let u = format!("{base}/api/repos");
            let r = client
                .post(&u)
                .json(&serde_json::json!({"Name": repo, "DefaultDistribution": suite, "DefaultComponent": component, "Comment": "pushed by mirror push"}))
                .send()
                .await
                .map_err(|e| fail("creating a repository", &u, e.to_string()))?;
            // 409/400: it exists from an earlier push; adding files to it is what we want.
            if !(r.status().is_success() || r.status() == StatusCode::CONFLICT || r.status() == StatusCode::BAD_REQUEST) {
                return Err(fail("creating a repository", &u, format!("HTTP {}", r.status())));
            }
            let dir = format!("mirror-push-{repo}");
            let u = format!("{base}/api/files/{dir}");
            let mut form = reqwest::multipart::Form::new();
            for f in debs.values() {
                let (body, size) = file_body(&paths.blob(&f.digest), || f.filename.clone()).await?;
                let name = f.filename.rsplit('/').next().unwrap_or(&f.filename).to_string();
                form = form.part("file", reqwest::multipart::Part::stream_with_length(body, size).file_name(name));
                s.bytes_uploaded += size;
                s.debs += 1;
            }
            let r = client.post(&u).multipart(form).send().await.map_err(|e| fail("uploading debs", &u, e.to_string()))?;
            check(r, "uploading debs", &u, &[StatusCode::OK])?;
            let u = format!("{base}/api/repos/{repo}/file/{dir}");
            let r = client.post(&u).send().await.map_err(|e| fail("adding debs", &u, e.to_string()))?;
            let r = check(r, "adding debs", &u, &[StatusCode::OK])?;
            let report: serde_json::Value = r.json().await.unwrap_or_default();
            if let Some(failed) = report["FailedFiles"].as_array().filter(|a| !a.is_empty()) {
                return Err(fail("adding debs", &u, format!("aptly refused {failed:?}")));
            }
            sources.push(serde_json::json!({"Name": repo, "Component": component}));
        }
        let signing = match gpg_key {
            Some(k) => serde_json::json!({"Skip": false, "Batch": true, "GpgKey": k}),
            None => serde_json::json!({"Skip": true}),
        };
        let prefix = aptly_prefix(id);
        let archs: Vec<&String> = archs[&(id.clone(), suite.clone())].iter().collect();
        let u = format!("{base}/api/publish/{prefix}");
        let body = serde_json::json!({"SourceKind": "local", "Sources": sources, "Distribution": suite, "Architectures": archs, "Signing": signing});
        let r = client.post(&u).json(&body).send().await.map_err(|e| fail("publishing", &u, e.to_string()))?;
        if !r.status().is_success() {
            // Published before: update it in place.
            let u2 = format!("{base}/api/publish/{prefix}/{suite}");
            let r2 = client
                .put(&u2)
                .json(&serde_json::json!({"Signing": body["Signing"], "ForceOverwrite": true}))
                .send()
                .await
                .map_err(|e| fail("updating the publication", &u2, e.to_string()))?;
            check(r2, "updating the publication", &u2, &[StatusCode::OK])?;
        }
        s.published.push(format!("{id}/{suite}"));
    }
    Ok(s)
}

#[derive(Debug, Default, Serialize)]
pub struct NexusAptPushSummary {
    pub repository: String,
    pub uploaded: Vec<String>,
    pub skipped: Vec<String>,
    pub bytes_uploaded: u64,
}

/// `https://nexus.site/repository/apt-hosted/` → (`https://nexus.site`, `apt-hosted`).
fn nexus_repository(url: &str) -> Result<(String, String), PushError> {
    let bad = || PushError::Usage(format!("--apt-nexus {url}: give the repository's URL as Nexus shows it, e.g. https://nexus.site/repository/apt-hosted/"));
    let (base, rest) = url.split_once("/repository/").ok_or_else(bad)?;
    let name = rest.trim_end_matches('/');
    if base.is_empty() || name.is_empty() || name.contains('/') {
        return Err(bad());
    }
    Ok((base.to_string(), name.to_string()))
}

/// Upload every deb into a Nexus apt (hosted) repository. Such a repository holds one
/// distribution, so debs from every source and suite go into it, each file once; what its
/// component listing already names is skipped.
pub async fn push_apt_nexus(paths: &Paths, files: &[AptFile], url: &str, creds: Option<(String, String)>) -> Result<NexusAptPushSummary, PushError> {
    let (base, repo) = nexus_repository(url)?;
    let client = client(url)?;
    let fail = |what: &str, u: &str, detail: String| PushError::Http { what: what.into(), url: u.into(), detail };
    let authed = |r: reqwest::RequestBuilder| match &creds {
        Some((u, p)) => r.basic_auth(u, Some(p)),
        None => r,
    };
    let api = format!("{base}/service/rest/v1/components");

    // What the repository holds: asset file names, page by page.
    let mut held = BTreeSet::new();
    let mut token: Option<String> = None;
    for _ in 0..100_000 {
        let mut q = vec![("repository", repo.clone())];
        if let Some(t) = &token {
            q.push(("continuationToken", t.clone()));
        }
        let r = authed(client.get(&api).query(&q)).send().await.map_err(|e| fail("listing components", &api, e.to_string()))?;
        match r.status() {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Err(PushError::Unauthorized { url: api }),
            StatusCode::NOT_FOUND => return Err(fail("listing components", &api, format!("Nexus has no repository named {repo}"))),
            _ => {}
        }
        let page: serde_json::Value = check(r, "listing components", &api, &[StatusCode::OK])?.json().await.map_err(|e| fail("listing components", &api, e.to_string()))?;
        for a in page["items"].as_array().into_iter().flatten().flat_map(|i| i["assets"].as_array().into_iter().flatten()) {
            if let Some(p) = a["path"].as_str() {
                held.insert(p.rsplit('/').next().unwrap_or(p).to_string());
            }
        }
        token = page["continuationToken"].as_str().map(String::from);
        if token.is_none() {
            break;
        }
    }

    // One file per name: two sources holding different bytes under one name cannot both go in.
    let mut debs: BTreeMap<String, &AptFile> = BTreeMap::new();
    for f in files {
        let name = f.filename.rsplit('/').next().unwrap_or(&f.filename).to_string();
        match debs.get(&name) {
            Some(prev) if prev.digest != f.digest => {
                return Err(PushError::Usage(format!(
                    "{name} is held twice with different contents (apt sources {} and {}); a Nexus apt repository keeps one file per name: push one source per repository",
                    prev.id, f.id
                )))
            }
            Some(_) => {}
            None => {
                debs.insert(name, f);
            }
        }
    }

    let mut s = NexusAptPushSummary { repository: repo.clone(), ..Default::default() };
    for (name, f) in debs {
        if held.contains(&name) {
            s.skipped.push(name);
            continue;
        }
        let (body, size) = file_body(&paths.blob(&f.digest), || name.clone()).await?;
        let part = reqwest::multipart::Part::stream_with_length(body, size)
            .file_name(name.clone())
            .mime_str("application/vnd.debian.binary-package")
            .map_err(|e| fail("upload", &api, e.to_string()))?;
        let form = reqwest::multipart::Form::new().part("apt.asset", part);
        let r = authed(client.post(&api).query(&[("repository", &repo)]).multipart(form)).send().await.map_err(|e| fail(&format!("uploading {name}"), &api, e.to_string()))?;
        match r.status() {
            st if st.is_success() => {
                s.bytes_uploaded += size;
                s.uploaded.push(name);
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Err(PushError::Unauthorized { url: api }),
            st => {
                let text = r.text().await.unwrap_or_default();
                // Redeploy disabled and the file there after all (listed since we looked).
                if st == StatusCode::BAD_REQUEST && text.contains("does not allow updating") {
                    s.skipped.push(name);
                } else {
                    return Err(fail(&format!("uploading {name}"), &api, format!("HTTP {st}: {}", text.trim())));
                }
            }
        }
    }
    Ok(s)
}
