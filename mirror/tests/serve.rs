//! The OCI pull API against an in-process server, and imports while a server runs.

mod common;

use std::sync::Arc;

use common::*;
use feas_format::Digest;
use reqwest::header::{HeaderMap, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, LINK, RANGE};
use reqwest::StatusCode;

const REPO: &str = "docker.io/library/hello";
const SBOM: &str = "application/spdx+json";

struct Served {
    f: Fixture,
    url: String,
    img: Image,
    sbom: Digest,
    http: reqwest::Client,
}

/// hello:1, :2 and :3 (one image), other:1, and an SBOM referring to hello's index.
async fn served() -> Served {
    let f = Fixture::new();
    let img = image(REPO, "1", "a");
    let (sbom_top, sbom_blobs) = referrer(&img, SBOM);
    let sbom = sbom_top.digest.clone();
    let mut spec = Spec::new(1, &[&img, &image(REPO, "2", "a"), &image(REPO, "3", "a"), &image("docker.io/library/other", "1", "o")]).add(sbom_top, sbom_blobs);
    spec.tops.sort_by(|a, b| a.digest.cmp(&b.digest));
    spec.write(&f.path("b.bundle"), &f.key);
    let store = f.open();
    f.import(&store, &f.path("b.bundle")).unwrap();
    let url = serve(Arc::new(store)).await;
    Served { f, url, img, sbom, http: reqwest::Client::new() }
}

impl Served {
    async fn get(&self, path: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
        self.req(reqwest::Method::GET, path, None).await
    }
    async fn req(&self, method: reqwest::Method, path: &str, range: Option<&str>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut r = self.http.request(method, format!("{}{path}", self.url));
        if let Some(v) = range {
            r = r.header(RANGE, v);
        }
        let resp = r.send().await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        (status, headers, resp.bytes().await.unwrap().to_vec())
    }
}

fn h<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or_default()
}

fn error_code(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    v["errors"][0]["code"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn base_health_and_home() {
    let s = served().await;
    let (st, hd, body) = s.get("/v2/").await;
    assert_eq!((st, body.as_slice()), (StatusCode::OK, &b"{}"[..]));
    assert_eq!(h(&hd, "docker-distribution-api-version"), "registry/2.0");
    assert_eq!(s.req(reqwest::Method::HEAD, "/v2/", None).await.0, StatusCode::OK);
    assert_eq!(s.get("/healthz").await.0, StatusCode::OK);
    let home = String::from_utf8(s.get("/").await.2).unwrap();
    assert!(home.contains(REPO) && home.contains(">1</a>, <a") && home.contains(">3</a>"), "each tag links to its page: {home}");
}

#[tokio::test]
async fn manifests_by_tag_and_digest_get_and_head() {
    let s = served().await;
    let top = &s.img.top;
    let (st, hd, body) = s.get(&format!("/v2/{REPO}/manifests/1")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(Digest::sha256_of(&body), top.digest);
    assert_eq!(h(&hd, "content-type"), feas_format::oci::OCI_INDEX);
    assert_eq!(h(&hd, "docker-content-digest"), top.digest.to_string());
    assert_eq!(h(&hd, ETAG.as_str()), format!("\"{}\"", top.digest));
    assert_eq!(h(&hd, CONTENT_LENGTH.as_str()), top.size.to_string());

    let (st, hd, body) = s.req(reqwest::Method::HEAD, &format!("/v2/{REPO}/manifests/1"), None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.is_empty());
    assert_eq!(h(&hd, CONTENT_LENGTH.as_str()), top.size.to_string());
    assert_eq!(h(&hd, "docker-content-digest"), top.digest.to_string());

    let child = &s.img.manifests["arm64"];
    let (st, hd, body) = s.get(&format!("/v2/{REPO}/manifests/{child}")).await;
    assert_eq!((st, Digest::sha256_of(&body)), (StatusCode::OK, child.clone()));
    assert_eq!(h(&hd, CONTENT_TYPE.as_str()), feas_format::oci::OCI_MANIFEST);

    // containerd mirror style: ?ns= names the registry.
    let (st, _, body) = s.get("/v2/library/hello/manifests/1?ns=docker.io").await;
    assert_eq!((st, Digest::sha256_of(&body)), (StatusCode::OK, top.digest.clone()));

    // A manifest exists only in the repositories that imported it.
    let (st, _, body) = s.get(&format!("/v2/docker.io/library/other/manifests/{child}")).await;
    assert_eq!((st, error_code(&body).as_str()), (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN"));
    let (st, _, body) = s.get(&format!("/v2/{REPO}/manifests/nope")).await;
    assert_eq!((st, error_code(&body).as_str()), (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN"));
    let (st, _, body) = s.get(&format!("/v2/{REPO}/manifests/sha256:xyz")).await;
    assert_eq!((st, error_code(&body).as_str()), (StatusCode::BAD_REQUEST, "DIGEST_INVALID"));
    let (st, _, body) = s.get("/v2/docker.io/library/nothere/manifests/1").await;
    assert_eq!((st, error_code(&body).as_str()), (StatusCode::NOT_FOUND, "NAME_UNKNOWN"));
    let (st, _, body) = s.get("/v2/Docker.io/UPPER/manifests/1").await;
    assert_eq!((st, error_code(&body).as_str()), (StatusCode::BAD_REQUEST, "NAME_INVALID"));
}

#[tokio::test]
async fn blobs_with_ranges() {
    let s = served().await;
    let d = &s.img.shared_layer;
    let whole = s.img.blobs.0[d].clone();
    let path = format!("/v2/{REPO}/blobs/{d}");
    let (st, hd, body) = s.get(&path).await;
    assert_eq!((st, &body), (StatusCode::OK, &whole));
    assert_eq!(h(&hd, "docker-content-digest"), d.to_string());
    assert_eq!(h(&hd, "accept-ranges"), "bytes");

    let (st, hd, body) = s.req(reqwest::Method::GET, &path, Some("bytes=5-14")).await;
    assert_eq!((st, body.as_slice()), (StatusCode::PARTIAL_CONTENT, &whole[5..15]));
    assert_eq!(h(&hd, CONTENT_RANGE.as_str()), format!("bytes 5-14/{}", whole.len()));
    let (st, _, body) = s.req(reqwest::Method::GET, &path, Some("bytes=-3")).await;
    assert_eq!((st, body.as_slice()), (StatusCode::PARTIAL_CONTENT, &whole[whole.len() - 3..]));
    let (st, hd, _) = s.req(reqwest::Method::GET, &path, Some(&format!("bytes={}-", whole.len() + 10))).await;
    assert_eq!(st, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(h(&hd, CONTENT_RANGE.as_str()), format!("bytes */{}", whole.len()));

    let (st, hd, body) = s.req(reqwest::Method::HEAD, &path, None).await;
    assert_eq!((st, body.len()), (StatusCode::OK, 0));
    assert_eq!(h(&hd, CONTENT_LENGTH.as_str()), whole.len().to_string());

    let (st, _, body) = s.get(&format!("/v2/library/hello/blobs/{d}?ns=docker.io")).await;
    assert_eq!((st, &body), (StatusCode::OK, &whole));
    let (st, _, body) = s.get(&format!("/v2/{REPO}/blobs/sha256:{}", "0".repeat(64))).await;
    assert_eq!((st, error_code(&body).as_str()), (StatusCode::NOT_FOUND, "BLOB_UNKNOWN"));
    let (st, _, body) = s.get(&format!("/v2/docker.io/library/nothere/blobs/{d}")).await;
    assert_eq!((st, error_code(&body).as_str()), (StatusCode::NOT_FOUND, "NAME_UNKNOWN"));
}

#[tokio::test]
async fn tags_and_catalog_paginate() {
    let s = served().await;
    let (st, _, body) = s.get(&format!("/v2/{REPO}/tags/list")).await;
    assert_eq!(st, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v, serde_json::json!({"name": REPO, "tags": ["1", "2", "3"]}));

    let (_, hd, body) = s.get(&format!("/v2/{REPO}/tags/list?n=2")).await;
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["tags"], serde_json::json!(["1", "2"]));
    assert_eq!(h(&hd, LINK.as_str()), format!("</v2/{REPO}/tags/list?n=2&last=2>; rel=\"next\""));
    let (_, hd, body) = s.get(&format!("/v2/{REPO}/tags/list?n=2&last=2")).await;
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["tags"], serde_json::json!(["3"]));
    assert!(hd.get(LINK).is_none());
    let (_, hd, body) = s.get(&format!("/v2/{REPO}/tags/list?n=0")).await;
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["tags"], serde_json::json!([]));
    assert!(hd.get(LINK).is_none());
    let (_, _, body) = s.get("/v2/library/hello/tags/list?ns=docker.io").await;
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["name"], REPO);

    let (_, hd, body) = s.get("/v2/_catalog?n=1").await;
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["repositories"], serde_json::json!([REPO]));
    assert_eq!(h(&hd, LINK.as_str()), format!("</v2/_catalog?n=1&last={REPO}>; rel=\"next\""));
    let (_, _, body) = s.get(&format!("/v2/_catalog?last={REPO}")).await;
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["repositories"], serde_json::json!(["docker.io/library/other"]));
}

#[tokio::test]
async fn referrers_with_and_without_filter() {
    let s = served().await;
    let path = format!("/v2/{REPO}/referrers/{}", s.img.top.digest);
    let (st, hd, body) = s.get(&path).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h(&hd, CONTENT_TYPE.as_str()), feas_format::oci::OCI_INDEX);
    assert!(hd.get("oci-filters-applied").is_none());
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(v["manifests"][0]["digest"], s.sbom.to_string());
    assert_eq!(v["manifests"][0]["artifactType"], SBOM);
    assert_eq!(v["manifests"][0]["annotations"]["org.example.kind"], "sbom");

    let (_, hd, body) = s.get(&format!("{path}?artifactType=application/spdx%2Bjson")).await;
    assert_eq!(h(&hd, "oci-filters-applied"), "artifactType");
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["manifests"].as_array().unwrap().len(), 1);
    let (_, _, body) = s.get(&format!("{path}?artifactType=application/other")).await;
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["manifests"], serde_json::json!([]));
    // No referrers is an empty index, never a 404.
    let (st, _, body) = s.get(&format!("/v2/{REPO}/referrers/{}", s.img.manifests["amd64"])).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["manifests"], serde_json::json!([]));
}

#[tokio::test]
async fn writes_are_unsupported() {
    let s = served().await;
    for (method, path) in [
        (reqwest::Method::PUT, format!("/v2/{REPO}/manifests/9")),
        (reqwest::Method::POST, format!("/v2/{REPO}/blobs/uploads/")),
        (reqwest::Method::PATCH, format!("/v2/{REPO}/blobs/uploads/abc")),
        (reqwest::Method::DELETE, format!("/v2/{REPO}/manifests/1")),
        (reqwest::Method::DELETE, format!("/v2/{REPO}/blobs/{}", s.img.shared_layer)),
    ] {
        let (st, _, body) = s.req(method.clone(), &path, None).await;
        assert_eq!((st, error_code(&body).as_str()), (StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED"), "{method} {path}");
        assert!(String::from_utf8_lossy(&body).contains("mirror import"));
    }
    // And nothing changed.
    assert_eq!(s.get(&format!("/v2/{REPO}/manifests/1")).await.0, StatusCode::OK);
    drop(s.f);
}

/// Issue 15: a manifest whose own mediaType is not a manifest type (here `text/html` with a
/// script, as a signed bundle could carry it) is served as bytes, never with that type; every
/// response says `nosniff` and sandboxes what it serves.
#[tokio::test]
async fn odd_manifest_types_are_served_as_bytes_and_every_response_is_sandboxed() {
    const CSP: &str = "default-src 'none'; sandbox; frame-ancestors 'none'";
    let f = Fixture::new();
    let mut blobs = Blobs::default();
    let cfg = blobs.put(b"{}".to_vec());
    let m = serde_json::json!({"schemaVersion": 2, "mediaType": "text/html",
        "config": {"mediaType": CONFIG, "digest": cfg.0, "size": cfg.1}, "layers": [],
        "annotations": {"x": "<script>alert(document.domain)</script>"}});
    let (d, n) = blobs.put(serde_json::to_vec(&m).unwrap());
    let mut top = feas_format::oci::Descriptor::new("text/html", d.clone(), n);
    let repo = "docker.io/library/page";
    for (k, v) in [(feas_format::bundle::annotations::KIND, "image"), (feas_format::bundle::annotations::REPOSITORY, repo), (feas_format::bundle::annotations::TAG, "1")] {
        top.annotations.insert(k.into(), v.into());
    }
    top.annotations.insert(feas_format::oci::ANNOTATION_REF_NAME.into(), format!("{repo}:1"));
    Spec::new(1, &[]).add(top, blobs).write(&f.path("page.bundle"), &f.key);
    let store = f.open();
    f.import(&store, &f.path("page.bundle")).unwrap();
    let url = serve(Arc::new(store)).await;
    let http = reqwest::Client::new();
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let r = http.request(method.clone(), format!("{url}/v2/{repo}/manifests/1")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(h(r.headers(), CONTENT_TYPE.as_str()), "application/octet-stream", "{method}");
        if method == reqwest::Method::GET {
            assert_eq!(Digest::sha256_of(&r.bytes().await.unwrap()), d, "the bytes are served as they are");
        }
    }
    let page = http.get(format!("{url}/")).send().await.unwrap();
    let csp = h(page.headers(), "content-security-policy");
    assert!(csp.starts_with("default-src 'none'; style-src 'sha256-") && !csp.contains("unsafe") && !csp.contains("script"), "the web pages run nothing: {csp}");
    for path in ["/healthz", "/v2/", &format!("/v2/{repo}/manifests/1"), &format!("/v2/{repo}/blobs/{}", cfg.0), "/v2/nothere/manifests/1", "/pypi/simple/", "/nope"] {
        let r = http.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!((h(r.headers(), "x-content-type-options"), h(r.headers(), "content-security-policy")), ("nosniff", CSP), "{path} ({})", r.status());
    }
}
