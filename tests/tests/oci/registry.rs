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

#[test]
fn distribution_spec_cases() {
    let gap = Gap::new();
    let (mut m, hello) = writable_mirror(&gap, &[]);
    let repo = "site/conformance";

    // --- push: monolithic POST ?digest= -------------------------------------------------
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let cd = put_blob(&m, repo, config);
    let r = http("HEAD", &m.url(&format!("/v2/{repo}/blobs/{cd}")), &[], None, None);
    assert_eq!((r.status, r.header("docker-content-digest")), (200, cd.as_str()), "HEAD of a pushed blob");

    // --- push: POST then PUT with the body ---------------------------------------------
    let layer1 = e2e::payload(300_000, 1);
    let l1 = sha256(&layer1);
    let post = http("POST", &m.url(&format!("/v2/{repo}/blobs/uploads/")), &[], None, w());
    assert_eq!(post.status, 202);
    let loc = post.header("location").to_string();
    assert!(loc.starts_with(&format!("/v2/{repo}/blobs/uploads/")), "Location {loc}");
    let r = http("PUT", &m.url(&format!("{loc}?digest={l1}")), &[], Some(&layer1), w());
    assert_eq!((r.status, r.header("location")), (201, format!("/v2/{repo}/blobs/{l1}").as_str()));
    assert_eq!(r.header("docker-content-digest"), l1);

    // --- push: chunked PATCH with Content-Range, status GET, out-of-order chunk 416 -----
    let layer2 = e2e::payload(1_000_000, 2);
    let l2 = sha256(&layer2);
    let loc = http("POST", &m.url(&format!("/v2/{repo}/blobs/uploads/")), &[], None, w()).header("location").to_string();
    let (a, b) = layer2.split_at(400_000);
    let r = http("PATCH", &m.url(&loc), &[("Content-Range", "0-399999"), ("Content-Type", "application/octet-stream")], Some(a), w());
    assert_eq!((r.status, r.header("range")), (202, "0-399999"));
    let loc = r.header("location").to_string();
    let r = http("GET", &m.url(&loc), &[], None, w());
    assert_eq!((r.status, r.header("range")), (204, "0-399999"), "upload status");
    let r = http("PATCH", &m.url(&loc), &[("Content-Range", "500000-599999")], Some(&b[..100_000]), w());
    assert_eq!(r.status, 416, "a chunk that skips bytes");
    assert_eq!(r.header("range"), "0-399999");
    // ... the upload survives a restart of the mirror.
    assert!(m.server.terminate());
    let writers = gap.path("writers.htpasswd");
    m = Mirror::start_with_serve_args(&gap.store(), &["--push-htpasswd", writers.to_str().unwrap()]);
    let r = http("PATCH", &m.url(&loc), &[("Content-Range", &format!("400000-{}", layer2.len() - 1))], Some(b), w());
    assert_eq!((r.status, r.header("range")), (202, format!("0-{}", layer2.len() - 1).as_str()), "resumed after a restart");
    let r = http("PUT", &m.url(&format!("{loc}?digest={l2}")), &[], None, w());
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let got = http("GET", &m.url(&format!("/v2/{repo}/blobs/{l2}")), &[], None, None);
    assert_eq!(sha256(&got.body), l2, "the chunked blob reads back byte for byte");

    // --- push: digest mismatch refused, nothing stored; cancel; unknown session ----------
    let bogus = sha256(b"something else");
    let r = http("POST", &m.url(&format!("/v2/{repo}/blobs/uploads/?digest={bogus}")), &[], Some(b"these bytes"), w());
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    assert!(!gap.store().join("blobs/sha256").join(&bogus[7..]).exists() && !gap.store().join("blobs/sha256").join(&sha256(b"these bytes")[7..]).exists());
    let loc = http("POST", &m.url(&format!("/v2/{repo}/blobs/uploads/")), &[], None, w()).header("location").to_string();
    assert_eq!(http("DELETE", &m.url(&loc), &[], None, w()).status, 204);
    let r = http("GET", &m.url(&loc), &[], None, w());
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UPLOAD_UNKNOWN"));
    assert_eq!(std::fs::read_dir(gap.store().join("uploads")).unwrap().count(), 0, "no session left");
    // ... a session untouched for over a day is swept, whole, when the next upload starts.
    let stale = http("POST", &m.url(&format!("/v2/{repo}/blobs/uploads/")), &[], None, w()).header("location").to_string();
    let r = http("PATCH", &m.url(&stale), &[("Content-Range", "0-9")], Some(b"0123456789"), w());
    assert_eq!(r.status, 202);
    let uploads = || std::fs::read_dir(gap.store().join("uploads")).unwrap().flatten().map(|e| e.path()).collect::<Vec<_>>();
    assert_eq!(uploads().len(), 2, "a session is its bytes and its info");
    run(Command::new("touch").args(["-d", "2 days ago"]).args(uploads())).ok();
    let fresh = http("POST", &m.url(&format!("/v2/{repo}/blobs/uploads/")), &[], None, w()).header("location").to_string();
    let r = http("GET", &m.url(&stale), &[], None, w());
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UPLOAD_UNKNOWN"), "expired after a day");
    assert_eq!(uploads().len(), 2, "only the fresh session's files are left");
    assert_eq!(http("GET", &m.url(&fresh), &[], None, w()).status, 204, "the fresh session is untouched");
    assert_eq!(http("DELETE", &m.url(&fresh), &[], None, w()).status, 204);

    // --- push: cross-repository mount ----------------------------------------------------
    let r = http("POST", &m.url(&format!("/v2/site/other/blobs/uploads/?mount={l1}&from={repo}")), &[], None, w());
    assert_eq!((r.status, r.header("location")), (201, format!("/v2/site/other/blobs/{l1}").as_str()), "mounted");
    // The imported image's layer mounts too: one store, deduplicated.
    let r = http("POST", &m.url(&format!("/v2/site/other/blobs/uploads/?mount={}&from=docker.io/library/hello", hello.shared_layer)), &[], None, w());
    assert_eq!(r.status, 201);
    let r = http("POST", &m.url(&format!("/v2/site/other/blobs/uploads/?mount={bogus}&from={repo}")), &[], None, w());
    assert_eq!(r.status, 202, "an unknown blob starts an upload instead");

    // --- push: manifests by tag and by digest ------------------------------------------
    let manifest = image_manifest((&cd, config.len()), &[(&l1, layer1.len()), (&l2, layer2.len())], serde_json::json!({}));
    let md = sha256(&manifest);
    let r = put_manifest(&m, repo, "v1", &manifest);
    assert_eq!((r.status, r.header("docker-content-digest"), r.header("location")), (201, md.as_str(), format!("/v2/{repo}/manifests/{md}").as_str()));
    let by_digest = image_manifest((&cd, config.len()), &[(&l1, layer1.len())], serde_json::json!({}));
    let bd = sha256(&by_digest);
    assert_eq!(put_manifest(&m, repo, &bd, &by_digest).status, 201, "PUT by digest");
    for (reference, want) in [("v1", &md), (md.as_str(), &md), (bd.as_str(), &bd)] {
        let r = http("GET", &m.url(&format!("/v2/{repo}/manifests/{reference}")), &[("Accept", OCI_MANIFEST)], None, None);
        assert_eq!((r.status, sha256(&r.body)), (200, want.clone()), "GET manifest {reference}");
        assert_eq!(r.header("content-type"), OCI_MANIFEST);
    }
    // skopeo reads it like any registry.
    let raw = e2e::skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{}/{repo}:v1", m.host)]).ok();
    assert_eq!(sha256(raw.stdout.as_bytes()), md);

    // --- errors on manifest PUT: nothing stored -----------------------------------------
    let missing = image_manifest((&cd, config.len()), &[(&bogus, 5)], serde_json::json!({}));
    let r = put_manifest(&m, repo, "broken", &missing);
    assert_eq!((r.status, r.code().as_str()), (400, "MANIFEST_BLOB_UNKNOWN"));
    let r = put_manifest(&m, repo, &sha256(b"not this"), &manifest);
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    let r = put_manifest(&m, repo, "junk", b"{not json");
    assert_eq!((r.status, r.code().as_str()), (400, "MANIFEST_INVALID"));
    let huge = image_manifest((&cd, config.len()), &[], serde_json::json!({"annotations": {"x": "a".repeat(5 << 20)}}));
    let r = put_manifest(&m, repo, "huge", &huge);
    assert_eq!(r.status, 413, "an oversized manifest");
    let r = put_manifest(&m, "Site/UPPER", "v1", &manifest);
    assert_eq!((r.status, r.code().as_str()), (400, "NAME_INVALID"));
    for bad in ["site/%2e%2e/x", "site/../x", "site/a%00b"] {
        let r = put_manifest(&m, bad, "v1", &manifest);
        assert!((400..500).contains(&r.status), "{bad}: {}", r.status);
    }
    let tags = http("GET", &m.url(&format!("/v2/{repo}/tags/list")), &[], None, None).json();
    assert_eq!(tags["tags"], serde_json::json!(["v1"]), "no tag from a refused PUT");
    for refused in [&missing[..], b"{not json", &huge[..]] {
        assert!(!gap.store().join("blobs/sha256").join(&sha256(refused)[7..]).exists(), "a refused manifest's bytes were stored");
    }

    // --- sha512 ---------------------------------------------------------------------------
    let data512 = b"a blob named by sha512";
    let d512 = format!("sha512:{}", {
        use sha2::Digest as _;
        hex::encode(sha2::Sha512::digest(data512))
    });
    let r = http("POST", &m.url(&format!("/v2/{repo}/blobs/uploads/?digest={d512}")), &[], Some(data512), w());
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = http("GET", &m.url(&format!("/v2/{repo}/blobs/{d512}")), &[], None, None);
    assert_eq!((r.status, r.body.as_slice(), r.header("docker-content-digest")), (200, &data512[..], d512.as_str()));

    // --- referrers: an artifact with a subject -------------------------------------------
    let empty = put_blob(&m, repo, b"{}");
    let sig = put_blob(&m, repo, b"signature bytes");
    let artifact = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": sig, "size": 15}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": md, "size": manifest.len()},
        "annotations": {"org.example.signer": "site-ci"}
    }))
    .unwrap();
    let ad = sha256(&artifact);
    let r = put_manifest(&m, repo, &ad, &artifact);
    assert_eq!((r.status, r.header("oci-subject")), (201, md.as_str()));
    let r = http("GET", &m.url(&format!("/v2/{repo}/referrers/{md}")), &[], None, None);
    let list = r.json();
    assert_eq!(list["manifests"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["manifests"][0]["digest"], ad.as_str());
    assert_eq!(list["manifests"][0]["artifactType"], "application/vnd.example.signature");
    assert_eq!(list["manifests"][0]["annotations"]["org.example.signer"], "site-ci");
    let r = http("GET", &m.url(&format!("/v2/{repo}/referrers/{md}?artifactType=application/other")), &[], None, None);
    assert_eq!((r.json()["manifests"].as_array().map(Vec::len), r.header("oci-filters-applied")), (Some(0), "artifactType"));

    // --- tag listing with pagination ------------------------------------------------------
    for t in ["v2", "v3", "latest"] {
        assert_eq!(put_manifest(&m, repo, t, &manifest).status, 201);
    }
    let all = http("GET", &m.url(&format!("/v2/{repo}/tags/list")), &[], None, None).json();
    assert_eq!(all["tags"], serde_json::json!(["latest", "v1", "v2", "v3"]));
    let page = http("GET", &m.url(&format!("/v2/{repo}/tags/list?n=2")), &[], None, None);
    assert_eq!(page.json()["tags"], serde_json::json!(["latest", "v1"]));
    assert!(page.header("link").contains("last=v1"), "{}", page.header("link"));
    let page = http("GET", &m.url(&format!("/v2/{repo}/tags/list?n=2&last=v1")), &[], None, None);
    assert_eq!(page.json()["tags"], serde_json::json!(["v2", "v3"]));

    // --- delete: a tag, a manifest (with its tags and referrer entry); blobs 405 ----------
    assert_eq!(http("DELETE", &m.url(&format!("/v2/{repo}/manifests/latest")), &[], None, w()).status, 202);
    assert_eq!(http("GET", &m.url(&format!("/v2/{repo}/manifests/latest")), &[], None, None).status, 404);
    assert_eq!(http("GET", &m.url(&format!("/v2/{repo}/manifests/v1")), &[], None, None).status, 200, "other tags stay");
    assert_eq!(http("DELETE", &m.url(&format!("/v2/{repo}/manifests/{ad}")), &[], None, w()).status, 202);
    assert_eq!(http("GET", &m.url(&format!("/v2/{repo}/manifests/{ad}")), &[], None, None).status, 404);
    assert_eq!(http("GET", &m.url(&format!("/v2/{repo}/referrers/{md}")), &[], None, None).json()["manifests"], serde_json::json!([]));
    assert_eq!(http("DELETE", &m.url(&format!("/v2/{repo}/manifests/{md}")), &[], None, w()).status, 202);
    let tags = http("GET", &m.url(&format!("/v2/{repo}/tags/list")), &[], None, None).json();
    assert_eq!(tags["tags"], serde_json::json!([]), "a manifest's tags go with it");
    let r = http("DELETE", &m.url(&format!("/v2/{repo}/blobs/{l1}")), &[], None, w());
    assert_eq!((r.status, r.code().as_str()), (405, "UNSUPPORTED"));
    assert_eq!(http("DELETE", &m.url(&format!("/v2/{repo}/manifests/{md}")), &[], None, w()).status, 404, "deleted twice");

    // --- a gc between a push's blobs and its manifest keeps the blobs ---------------------
    let inflight = "site/inflight";
    let early = e2e::payload(4096, 7);
    let ed = put_blob(&m, inflight, &early);
    let gc = gap.mirror(&["gc", "--store", gap.store().to_str().unwrap()]).ok();
    assert!(gc.stderr.contains("no manifest names them yet"), "gc says why it keeps pushed blobs:\n{}", gc.stderr);
    let r = put_manifest(&m, inflight, "1", &image_manifest((&cd, config.len()), &[(&ed, early.len())], serde_json::json!({})));
    assert_eq!(r.status, 201, "the manifest after a gc finds its blobs: {}", String::from_utf8_lossy(&r.body));
    assert_eq!(sha256(&http("GET", &m.url(&format!("/v2/{inflight}/blobs/{ed}")), &[], None, None).body), ed);

    // --- the store: verify passes, gc takes what only deleted manifests used -------------
    assert!(m.server.terminate());
    gap.mirror(&["verify", "--store", gap.store().to_str().unwrap()]).ok();
    let inv = gap.mirror(&["inventory", "--store", gap.store().to_str().unwrap()]).ok();
    assert!(inv.stdout.contains(&bd[7..]) || inv.stdout.contains(&bd), "pushed manifest in the inventory");
    gap.mirror(&["gc", "--store", gap.store().to_str().unwrap()]).ok();
    assert!(gap.store().join("blobs/sha256").join(&l2[7..]).exists(), "pushed within the grace: kept in case its manifest comes back");
    gap.mirror(&["gc", "--store", gap.store().to_str().unwrap(), "--push-grace", "0"]).ok();
    assert!(!gap.store().join("blobs/sha256").join(&l2[7..]).exists(), "a layer only the deleted manifest used is collected");
    assert!(gap.store().join("blobs/sha256").join(&ed[7..]).exists(), "a layer a manifest names stays whatever the grace");
    assert!(gap.store().join("blobs/sha256").join(&l1[7..]).exists(), "a layer the remaining manifest uses stays");
    assert!(gap.store().join("blobs/sha256").join(&hello.shared_layer[7..]).exists(), "imported content stays");
}

#[test]
fn writers_need_credentials_and_imported_tags_are_protected() {
    let gap = Gap::new();
    let (m, hello) = writable_mirror(&gap, &[]);
    let url = m.url("/v2/site/app/blobs/uploads/");

    // Anonymous: 401 with a Bearer challenge asking for push scope; wrong password: 401.
    let r = http("POST", &url, &[], None, None);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), format!("Bearer realm=\"http://{}/token\",service=\"feas-mirror\",scope=\"repository:site/app:pull,push\"", m.host));
    assert_eq!(http("POST", &url, &[], None, Some((WRITER.0, "wrong"))).status, 401);
    assert_eq!(http("POST", &url, &[("Authorization", "Bearer not-a-token")], None, None).status, 401, "a made-up token");
    // The Docker token flow: a writer's token pushes.
    let tok = http("GET", &m.url("/token?service=feas-mirror&scope=repository:site/app:pull,push"), &[], None, w()).json();
    let token = tok["token"].as_str().expect("a token").to_string();
    assert_eq!(http("POST", &url, &[("Authorization", &format!("Bearer {token}"))], None, None).status, 202);
    // Reads stay anonymous.
    assert_eq!(http("GET", &m.url("/v2/docker.io/library/hello/manifests/1"), &[("Accept", "application/vnd.oci.image.index.v1+json")], None, None).status, 200);

    // An imported tag: PUT over it and DELETE of it refused with DENIED, the bytes unchanged.
    let before = http("GET", &m.url("/v2/docker.io/library/hello/manifests/1"), &[("Accept", "application/vnd.oci.image.index.v1+json")], None, None);
    let cfg = put_blob(&m, "docker.io/library/hello", b"{}");
    let mine = image_manifest((&cfg, 2), &[], serde_json::json!({}));
    let r = put_manifest(&m, "docker.io/library/hello", "1", &mine);
    assert_eq!((r.status, r.code().as_str()), (403, "DENIED"), "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["errors"][0]["message"].as_str().unwrap_or("").contains("--allow-overwrite-imported"));
    let r = http("DELETE", &m.url("/v2/docker.io/library/hello/manifests/1"), &[], None, w());
    assert_eq!((r.status, r.code().as_str()), (403, "DENIED"));
    let r = http("DELETE", &m.url(&format!("/v2/docker.io/library/hello/manifests/{}", hello.index)), &[], None, w());
    assert_eq!((r.status, r.code().as_str()), (403, "DENIED"));
    let after = http("GET", &m.url("/v2/docker.io/library/hello/manifests/1"), &[("Accept", "application/vnd.oci.image.index.v1+json")], None, None);
    assert_eq!(sha256(&after.body), sha256(&before.body));
    // Issue 15, item 3: a writer pushing an imported child manifest's own bytes by digest does
    // not take it over: DELETE stays refused and the index's child keeps serving.
    let child = &hello.manifests["arm64"];
    let child_url = m.url(&format!("/v2/docker.io/library/hello/manifests/{child}"));
    let bytes = http("GET", &child_url, &[("Accept", OCI_MANIFEST)], None, None);
    assert_eq!((bytes.status, sha256(&bytes.body).as_str()), (200, child.as_str()));
    let r = put_manifest(&m, "docker.io/library/hello", child, &bytes.body);
    assert_eq!(r.status, 201, "a push of bytes already held is accepted: {}", String::from_utf8_lossy(&r.body));
    let r = http("DELETE", &child_url, &[], None, w());
    assert_eq!((r.status, r.code().as_str()), (403, "DENIED"), "an imported manifest pushed again is still imported");
    assert!(r.json()["errors"][0]["message"].as_str().unwrap_or("").contains("mirror rm"));
    assert_eq!(http("GET", &child_url, &[("Accept", OCI_MANIFEST)], None, None).status, 200);
    gap.mirror(&["verify", "--store", gap.store().to_str().unwrap()]).ok();
    // A new tag in the same repository is fine, and the pusher may move it again.
    assert_eq!(put_manifest(&m, "docker.io/library/hello", "site-build", &mine).status, 201);
    assert_eq!(put_manifest(&m, "docker.io/library/hello", "site-build", &mine).status, 201);
    drop(m);

    // The operator allows it: the same PUT succeeds.
    let gap2 = Gap::new();
    let (m2, hello) = writable_mirror(&gap2, &["--allow-overwrite-imported"]);
    let cfg = put_blob(&m2, "docker.io/library/hello", b"{}");
    let mine = image_manifest((&cfg, 2), &[], serde_json::json!({}));
    assert_eq!(put_manifest(&m2, "docker.io/library/hello", "1", &mine).status, 201);
    // Moving imported tags is allowed there, deleting signed manifests is not.
    let r = http("DELETE", &m2.url(&format!("/v2/docker.io/library/hello/manifests/{}", hello.manifests["amd64"])), &[], None, w());
    assert_eq!((r.status, r.code().as_str()), (403, "DENIED"), "an imported manifest is removed with `mirror rm`, not over HTTP");

    // Without --push-htpasswd the registry stays read-only: 405 UNSUPPORTED.
    let gap3 = Gap::new();
    e2e::imported_image_wheel_deb(&gap3, "ro", "rodemo", "ro-deb");
    let ro = Mirror::start(&gap3.store());
    let r = http("POST", &ro.url("/v2/site/app/blobs/uploads/"), &[], None, w());
    assert_eq!((r.status, r.code().as_str()), (405, "UNSUPPORTED"));
    assert!(r.json()["errors"][0]["message"].as_str().unwrap_or("").contains("--push-htpasswd"));
}

/// Issue 15, stored XSS: a pushed manifest's own `mediaType` became the Content-Type of every
/// GET, so `text/html` with a script ran in anonymous readers' browsers. Only manifest types are
/// taken (nothing stored otherwise), and every response, stored bytes or not, carries `nosniff`
/// and a CSP that sandboxes it.
#[test]
fn stored_bytes_are_never_served_as_active_content() {
    const NOSNIFF: &str = "nosniff";
    const CSP: &str = "default-src 'none'; sandbox; frame-ancestors 'none'";
    let gap = Gap::new();
    e2e::imported_image_wheel_deb(&gap, "base", "pushbase", "push-base");
    // A raw file that is HTML: served to curl as bytes, never rendered as a page.
    let page = b"<html><script>alert(document.domain)</script></html>".to_vec();
    std::fs::create_dir_all(gap.path("files-upstream")).unwrap();
    std::fs::write(gap.path("files-upstream/page.html"), &page).unwrap();
    let srv = e2e::StaticServer::start(&gap.path("files-upstream"));
    let mf = gap.write("files.yaml", &format!("name: files\nfiles:\n  - {{url: {:?}, sha256: {:?}}}\n", format!("{}page.html", srv.url()), sha256(&page)));
    let bundle = gap.create(&mf, "files.bundle", &[]);
    drop(srv);
    gap.import(&bundle).ok();
    let writers = gap.write("writers.htpasswd", &e2e::htpasswd_line(WRITER.0, WRITER.1));
    let m = Mirror::start_with_serve_args(&gap.store(), &["--push-htpasswd", writers.to_str().unwrap()]);
    let repo = "site/xss";
    let cfg = put_blob(&m, repo, b"{}");
    let layer = put_blob(&m, repo, &page);

    // Refused whether the type is in the body, the header or both; nothing stored.
    let script = serde_json::json!({"annotations": {"x": "<script>alert(document.domain)</script>"}});
    let html_body = {
        let mut v: serde_json::Value = serde_json::from_slice(&image_manifest((&cfg, 2), &[(&layer, page.len())], script.clone())).unwrap();
        v["mediaType"] = "text/html".into();
        serde_json::to_vec(&v).unwrap()
    };
    let untyped_body = {
        let mut v: serde_json::Value = serde_json::from_slice(&image_manifest((&cfg, 2), &[(&layer, page.len())], script)).unwrap();
        v.as_object_mut().unwrap().remove("mediaType");
        serde_json::to_vec(&v).unwrap()
    };
    for (tag, body, content_type) in [("html", &html_body, "text/html"), ("html-untyped", &untyped_body, "text/html"), ("html-body", &html_body, "application/json")] {
        let r = http("PUT", &m.url(&format!("/v2/{repo}/manifests/{tag}")), &[("Content-Type", content_type)], Some(body), w());
        assert_eq!((r.status, r.code().as_str()), (400, "MANIFEST_INVALID"), "{tag}: {}", String::from_utf8_lossy(&r.body));
        let msg = r.json()["errors"][0]["message"].as_str().unwrap_or("").to_string();
        assert!(msg.contains("text/html") && msg.contains(OCI_MANIFEST), "{tag}: the refusal names the type and what is accepted: {msg}");
        assert!(!gap.store().join("blobs/sha256").join(&sha256(body)[7..]).exists(), "{tag}: a refused manifest's bytes were stored");
        assert_eq!(http("GET", &m.url(&format!("/v2/{repo}/manifests/{tag}")), &[], None, None).status, 404, "{tag}");
    }
    // Every manifest type of the image and distribution specs is still taken.
    let docker = {
        let mut v: serde_json::Value = serde_json::from_slice(&image_manifest((&cfg, 2), &[(&layer, page.len())], serde_json::json!({}))).unwrap();
        v["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json".into();
        serde_json::to_vec(&v).unwrap()
    };
    let r = http("PUT", &m.url(&format!("/v2/{repo}/manifests/docker")), &[("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")], Some(&docker), w());
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let oci = image_manifest((&cfg, 2), &[(&layer, page.len())], serde_json::json!({}));
    assert_eq!(put_manifest(&m, repo, "oci", &oci).status, 201);
    let index = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha256(&oci), "size": oci.len()}]}))
    .unwrap();
    let r = http("PUT", &m.url(&format!("/v2/{repo}/manifests/index")), &[("Content-Type", "application/vnd.oci.image.index.v1+json")], Some(&index), w());
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(http("GET", &m.url(&format!("/v2/{repo}/manifests/index")), &[], None, None).header("content-type"), "application/vnd.oci.image.index.v1+json");

    // Every response carries nosniff and the sandboxing CSP: stored bytes of every kind, pages,
    // errors, the challenge of the push API. The wheel and deb are `imported_image_wheel_deb`'s.
    let deb = e2e::DebSpec::new("push-base", "1.0", "all").pool_path();
    let wheel = e2e::DistSpec::pure("pushbase", "1.0").filename();
    let reads = [
        (format!("/v2/{repo}/blobs/{layer}"), 200, Some(sha256(&page))),
        (format!("/v2/{repo}/manifests/oci"), 200, Some(sha256(&oci))),
        ("/v2/docker.io/library/hello/manifests/1".into(), 200, None),
        ("/files/page.html".into(), 200, Some(sha256(&page))),
        (format!("/pypi/files/{wheel}"), 200, None),
        (format!("/apt/standin/{deb}"), 200, None),
        ("/pypi/simple/pushbase/".into(), 200, None),
        ("/sbom/base".into(), 200, None),
        ("/".into(), 200, None),
        ("/v2/".into(), 401, None),
        ("/v2/site/nothere/manifests/1".into(), 404, None),
    ];
    for (path, status, digest) in &reads {
        for method in ["GET", "HEAD"] {
            let r = http(method, &m.url(path), &[], None, None);
            assert_eq!(r.status, *status, "{method} {path}");
            if let (Some(d), "GET") = (digest, method) {
                assert_eq!(&sha256(&r.body), d, "{path} serves its bytes");
            }
            assert_eq!((r.header("x-content-type-options"), r.header("content-security-policy")), (NOSNIFF, CSP), "{method} {path}");
        }
    }
    assert_eq!(http("GET", &m.url("/files/page.html"), &[], None, None).header("content-type"), "application/octet-stream");
}

/// Upload sessions are limited per writer: past `--max-upload-sessions` a new session gets 429
/// TOOMANYREQUESTS until one is finished or cancelled, while another writer still starts
/// one; a chunk that would take the writer's open sessions past `--max-upload-bytes` is
/// refused and not kept, and the upload carries on within the limit.
#[test]
fn upload_sessions_are_limited_per_writer() {
    let gap = Gap::new();
    gap.mirror(&["inventory", "--store", gap.store().to_str().unwrap()]).ok();
    let other = ("second", "an0ther-writer");
    let writers = gap.write("writers.htpasswd", &[e2e::htpasswd_line(WRITER.0, WRITER.1), e2e::htpasswd_line(other.0, other.1)].concat());
    let m = Mirror::start_with_serve_args(&gap.store(), &["--push-htpasswd", writers.to_str().unwrap(), "--max-upload-sessions", "3", "--max-upload-bytes", "1000"]);
    let start = |creds| http("POST", &m.url("/v2/site/app/blobs/uploads/"), &[], None, Some(creds));
    let mut open: Vec<String> = (0..3)
        .map(|_| {
            let r = start(WRITER);
            assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
            r.header("location").to_string()
        })
        .collect();
    let r = start(WRITER);
    assert_eq!((r.status, r.code().as_str()), (429, "TOOMANYREQUESTS"));
    let msg = r.json()["errors"][0]["message"].as_str().unwrap_or("").to_string();
    assert!(msg.contains("user builder") && msg.contains("--max-upload-sessions"), "{msg}");
    // A monolithic upload needs a session too.
    let small = b"0123456789".to_vec();
    assert_eq!(http("POST", &m.url(&format!("/v2/site/app/blobs/uploads/?digest={}", sha256(&small))), &[], Some(&small), w()).status, 429);
    assert_eq!(start(other).status, 202, "another writer has an allowance of its own");
    // Cancelling one frees its place.
    assert_eq!(http("DELETE", &m.url(&open.remove(0)), &[], None, w()).status, 204);
    let r = start(WRITER);
    assert_eq!(r.status, 202);
    open.push(r.header("location").to_string());

    // Bytes: 600 in one session, then 600 more in another would pass 1000.
    let a = e2e::payload(600, 1);
    assert_eq!(http("PATCH", &m.url(&open[0]), &[("Content-Range", "0-599")], Some(&a), w()).status, 202);
    let b = e2e::payload(600, 2);
    let r = http("PATCH", &m.url(&open[1]), &[("Content-Range", "0-599")], Some(&b), w());
    assert_eq!((r.status, r.code().as_str()), (429, "TOOMANYREQUESTS"));
    assert!(r.json()["errors"][0]["message"].as_str().unwrap_or("").contains("--max-upload-bytes"), "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(http("GET", &m.url(&open[1]), &[], None, w()).header("range"), "0-0", "the refused chunk was not kept");
    // Within the limit the same session carries on and finishes with the right digest.
    let c = &b[..400];
    assert_eq!(http("PATCH", &m.url(&open[1]), &[("Content-Range", "0-399")], Some(c), w()).status, 202);
    let r = http("PUT", &m.url(&format!("{}?digest={}", open[1], sha256(c))), &[], None, w());
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // Finishing freed its bytes and its place: a monolithic upload of 400 more fits.
    let d = e2e::payload(400, 3);
    assert_eq!(http("POST", &m.url(&format!("/v2/site/app/blobs/uploads/?digest={}", sha256(&d))), &[], Some(&d), w()).status, 201);
}

/// `buildah`/`podman` with the suite's isolated storage.
fn buildah(p: &e2e::Podman, args: &[&str]) -> Run {
    let d = p.dir.path();
    let s = |x: &str| d.join(x).display().to_string();
    run(Command::new("buildah")
        .args(["--root", &s("root"), "--runroot", &s("run"), "--storage-driver", &p.driver])
        .args(args)
        .env("CONTAINERS_REGISTRIES_CONF", &p.registries_conf)
        .env("REGISTRY_AUTH_FILE", d.join("auth.json"))
        .env("TMPDIR", d))
}

#[test]
fn buildah_builds_and_pushes_podman_and_skopeo_pull_back() {
    let gap = Gap::new();
    let (m, _) = writable_mirror(&gap, &[]);
    let p = e2e::Podman::new();
    let creds = format!("{}:{}", WRITER.0, WRITER.1);

    // buildah: from scratch, copy a file, commit, push to the mirror.
    let app = gap.write("ctx/app.txt", "built inside the gap\n");
    let ctr = buildah(&p, &["from", "scratch"]).ok().stdout.trim().to_string();
    buildah(&p, &["copy", &ctr, app.to_str().unwrap(), "/app.txt"]).ok();
    buildah(&p, &["config", "--label", "site=gap", &ctr]).ok();
    buildah(&p, &["commit", "--format", "oci", &ctr, "localhost/site/app:1.0"]).ok();
    let digestfile = gap.path("pushed.digest");
    let target = format!("docker://{}/site/app:1.0", m.host);
    // Anonymous push refused...
    buildah(&p, &["push", "--tls-verify=false", "localhost/site/app:1.0", &target]).fails();
    // ...with credentials accepted.
    buildah(&p, &["push", "--tls-verify=false", "--creds", &creds, "--digestfile", digestfile.to_str().unwrap(), "localhost/site/app:1.0", &target]).ok();
    let pushed = std::fs::read_to_string(&digestfile).unwrap().trim().to_string();
    let raw = e2e::raw_manifest(&m.host, "site/app:1.0");
    assert_eq!(sha256(&raw), pushed, "the mirror serves the manifest buildah pushed");

    // podman pulls it back (anonymous read) and gets the same digest and file.
    let p2 = e2e::Podman::new();
    p2.pull(&format!("{}/site/app:1.0", m.host), &["--tls-verify=false"]).ok();
    assert_eq!(p2.image_digest(&format!("{}/site/app:1.0", m.host)), pushed);
    let out = gap.path("unpacked");
    e2e::skopeo(&["copy", "--src-tls-verify=false", &format!("docker://{}/site/app:1.0", m.host), &format!("dir:{}", out.display())]).ok();
    let layer_file = std::fs::read_dir(&out).unwrap().flatten().map(|e| e.path()).filter(|p| p.file_name().unwrap().len() == 64).find(|f| {
        let t = run(Command::new("tar").args(["-tzf", f.to_str().unwrap()]));
        let u = run(Command::new("tar").args(["-tf", f.to_str().unwrap()]));
        t.stdout.contains("app.txt") || u.stdout.contains("app.txt")
    });
    let layer_file = layer_file.expect("a layer holding app.txt");
    let x = run(Command::new("sh").arg("-c").arg(format!("tar -xOf {0} app.txt 2>/dev/null || tar -xzOf {0} app.txt", layer_file.display()))).ok();
    assert_eq!(x.stdout, "built inside the gap\n");

    // podman pushes it again under another name: blobs are already there.
    p2.run(&["tag", &format!("{}/site/app:1.0", m.host), &format!("{}/site/app2:podman", m.host)]).ok();
    p2.run(&["push", "--tls-verify=false", "--creds", &creds, &format!("{}/site/app2:podman", m.host)]).ok();
    let r = http("GET", &m.url("/v2/site/app2/tags/list"), &[], None, None).json();
    assert_eq!(r["tags"], serde_json::json!(["podman"]));
}

#[test]
fn skopeo_copies_both_ways_and_ctr_pushes() {
    let gap = Gap::new();
    let (m, hello) = writable_mirror(&gap, &[]);
    let creds = format!("{}:{}", WRITER.0, WRITER.1);

    // docker-registry → mirror: a multi-arch image with all platforms.
    let (reg, _built, other) = e2e::image::shared_pair(&gap.path("up"));
    e2e::skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("docker://{}/library/other:1", reg.host),
        &format!("docker://{}/site/other:1", m.host),
    ])
    .ok();
    assert_eq!(sha256(&e2e::raw_manifest(&m.host, "site/other:1")), other.index, "same index digest");
    // mirror → another docker-registry: the imported image and the pushed one.
    let reg2 = e2e::Registry::start();
    for (from, to) in [("docker.io/library/hello:1", "copied/hello:1"), ("site/other:1", "copied/other:1")] {
        e2e::skopeo(&["copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false", &format!("docker://{}/{from}", m.host), &format!("docker://{}/{to}", reg2.host)]).ok();
    }
    assert_eq!(sha256(&e2e::raw_manifest(&reg2.host, "copied/hello:1")), hello.index);
    assert_eq!(sha256(&e2e::raw_manifest(&reg2.host, "copied/other:1")), other.index);

    // ctr: pull from docker-registry into containerd, push to the mirror with the hosts.toml
    // `mirror client-config push` writes.
    let cfg = gap.path("push-config");
    let mut cmd = Command::new(e2e::bin("mirror"));
    cmd.args(["client-config", "push", "--url", &m.url(""), "--username", WRITER.0, "--password-env", "PUSH_PASSWORD", "--out", cfg.to_str().unwrap()])
        .env("PUSH_PASSWORD", WRITER.1);
    run(&mut cmd).ok();
    let c = e2e::Containerd::start();
    c.hosts_toml(&reg.host, &reg.host);
    c.pull("e2e", &format!("{}/library/other:1", reg.host), &["--all-platforms"]).ok();
    c.ctr(&["-n", "e2e", "images", "tag", &format!("{}/library/other:1", reg.host), &format!("{}/site/ctr:1", m.host)]).ok();
    let hosts = cfg.join("containerd/certs.d");
    c.ctr(&["-n", "e2e", "images", "push", "--hosts-dir", hosts.to_str().unwrap(), "--user", &creds, &format!("{}/site/ctr:1", m.host)]).ok();
    assert_eq!(sha256(&e2e::raw_manifest(&m.host, "site/ctr:1")), other.index, "ctr pushed the same index");

    // podman with the generated registries.conf.d entry and auth.json: no flags needed.
    let p = e2e::Podman::new();
    let conf = std::fs::read_to_string(cfg.join("containers/registries.conf.d/60-mirror-push.conf")).unwrap();
    std::fs::write(&p.registries_conf, format!("{}\n{conf}", std::fs::read_to_string(&p.registries_conf).unwrap())).unwrap();
    std::fs::copy(cfg.join("containers/auth.json"), p.dir.path().join("auth.json")).unwrap();
    p.pull(&format!("{}/site/ctr:1", m.host), &[]).ok();
    p.run(&["tag", &format!("{}/site/ctr:1", m.host), &format!("{}/site/podman:2", m.host)]).ok();
    p.run(&["push", &format!("{}/site/podman:2", m.host)]).ok();
    let pushed = e2e::raw_manifest(&m.host, "site/podman:2");
    assert_eq!(http("GET", &m.url(&format!("/v2/site/podman/manifests/{}", sha256(&pushed))), &[], None, None).status, 200);
    drop(reg);
}
