//! Who may write and what: credentials, imported tags protected, stored bytes never served as
//! active content, upload sessions limited per writer.

use super::*;

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
        assert!(!e2e::store_blob(&gap.store(), &sha256(body)).exists(), "{tag}: a refused manifest's bytes were stored");
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
            let csp = r.header("content-security-policy");
            if path == "/" {
                // The mirror's own page: still no script and nothing from elsewhere; its one
                // stylesheet by hash, its search form to this origin.
                assert!(csp.starts_with("default-src 'none'; style-src 'sha256-") && csp.contains("form-action 'self'") && !csp.contains("unsafe"), "{method} {path}: {csp}");
                assert_eq!(r.header("x-content-type-options"), NOSNIFF);
                continue;
            }
            assert_eq!((r.header("x-content-type-options"), csp), (NOSNIFF, CSP), "{method} {path}");
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
