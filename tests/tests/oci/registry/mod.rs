//! Issue 9: the mirror as a writable registry for what is built inside the gap. buildah builds
//! and pushes, podman pushes and pulls back, skopeo copies both ways between the mirror and
//! Debian's docker-registry, ctr pushes; the distribution-spec cases (push, pull, referrers,
//! delete, sha512, tag listing, errors) one by one over curl; imported tags protected.
//!
//! The upstream conformance suite (distribution-spec `conformance/`) needs Go modules from
//! proxy.golang.org, which this machine cannot reach, so its cases are reproduced in
//! `distribution_spec_cases`, in its categories:
//! - push: monolithic POST ?digest=; POST then PUT; chunked PATCH with Content-Range and the
//!   Range reply; upload status GET; an out-of-order chunk → 416; a session resumed after a
//!   restart; cancel (DELETE) then BLOB_UPLOAD_UNKNOWN; a session untouched for a day expired whole; digest mismatch → DIGEST_INVALID with
//!   nothing stored; cross-repository mount → 201, of an unknown blob → 202; manifest PUT by tag
//!   and by digest (Location, Docker-Content-Digest); MANIFEST_BLOB_UNKNOWN, MANIFEST_INVALID,
//!   DIGEST_INVALID on manifests, 413, NAME_INVALID and path tricks; sha512 blobs.
//! - pull: HEAD/GET of blobs and manifests by tag and digest, with Content-Type.
//! - content discovery: tags/list with `n`/`last` and `Link`; referrers of a subject with
//!   artifactType and annotations, `OCI-Subject` on PUT, the `artifactType` filter.
//! - content management: tag DELETE, manifest DELETE (tags and referrer entries go), blob
//!   DELETE → 405, a second DELETE → 404.

use std::collections::BTreeMap;
use std::process::Command;

use e2e::{run, sha256, Gap, Mirror, Run};

mod clients;
mod distribution_spec;
mod writers;

const WRITER: (&str, &str) = ("builder", "b8ild-s3cret");
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A mirror holding the imported `docker.io/library/hello:1`, accepting pushes from WRITER.
fn writable_mirror(gap: &Gap, extra: &[&str]) -> (Mirror, e2e::BuiltImage) {
    let hello = e2e::imported_image_wheel_deb(gap, "base", "pushbase", "push-base");
    let writers = gap.write("writers.htpasswd", &e2e::htpasswd_line(WRITER.0, WRITER.1));
    let mut args = vec!["--push-htpasswd", writers.to_str().unwrap()];
    args.extend_from_slice(extra);
    (Mirror::start_with_serve_args(&gap.store(), &args), hello)
}

/// One HTTP exchange through curl: status, lowercase headers, body.
struct Resp {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    fn code(&self) -> String {
        self.json()["errors"][0]["code"].as_str().unwrap_or("").to_string()
    }
}

fn http(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>, creds: Option<(&str, &str)>) -> Resp {
    let tmp = tempfile::tempdir().unwrap();
    let (h, b) = (tmp.path().join("h"), tmp.path().join("b"));
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--path-as-is", "--max-time", "60", "-X", method, "-D"]).arg(&h).arg("-o").arg(&b).args(["-w", "%{http_code}"]);
    if method == "HEAD" {
        cmd.arg("-I");
    }
    for (k, v) in headers {
        cmd.args(["-H", &format!("{k}: {v}")]);
    }
    if let Some(data) = body {
        let f = tmp.path().join("in");
        std::fs::write(&f, data).unwrap();
        cmd.arg("--data-binary").arg(format!("@{}", f.display()));
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            cmd.args(["-H", "Content-Type: application/octet-stream"]);
        }
    }
    if let Some((u, p)) = creds {
        cmd.args(["-u", &format!("{u}:{p}")]);
    }
    cmd.arg(url);
    let r = run(&mut cmd);
    let status = r.stdout.trim().parse().unwrap_or(0);
    let mut headers = BTreeMap::new();
    for line in std::fs::read_to_string(&h).unwrap_or_default().lines() {
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    Resp { status, headers, body: std::fs::read(&b).unwrap_or_default() }
}

fn w() -> Option<(&'static str, &'static str)> {
    Some(WRITER)
}

/// Upload a blob monolithically (POST ?digest=); returns its digest.
fn put_blob(m: &Mirror, repo: &str, data: &[u8]) -> String {
    let d = sha256(data);
    let r = http("POST", &m.url(&format!("/v2/{repo}/blobs/uploads/?digest={d}")), &[], Some(data), w());
    assert_eq!(r.status, 201, "monolithic upload: {}", String::from_utf8_lossy(&r.body));
    d
}

fn image_manifest(config: (&str, usize), layers: &[(&str, usize)], extra: serde_json::Value) -> Vec<u8> {
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1},
        "layers": layers.iter().map(|(d, n)| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n})).collect::<Vec<_>>(),
    });
    if let serde_json::Value::Object(e) = extra {
        m.as_object_mut().unwrap().extend(e);
    }
    serde_json::to_vec(&m).unwrap()
}

fn put_manifest(m: &Mirror, repo: &str, reference: &str, bytes: &[u8]) -> Resp {
    http("PUT", &m.url(&format!("/v2/{repo}/manifests/{reference}")), &[("Content-Type", OCI_MANIFEST)], Some(bytes), w())
}
