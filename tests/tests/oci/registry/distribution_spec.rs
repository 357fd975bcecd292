//! The distribution-spec conformance cases, reproduced one by one over curl (the suite's doc
//! lists them by category).

use super::*;

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
    assert!(!e2e::store_blob(&gap.store(), &bogus).exists() && !e2e::store_blob(&gap.store(), &sha256(b"these bytes")).exists());
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
        assert!(!e2e::store_blob(&gap.store(), &sha256(refused)).exists(), "a refused manifest's bytes were stored");
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
    assert!(e2e::store_blob(&gap.store(), &l2).exists(), "pushed within the grace: kept in case its manifest comes back");
    gap.mirror(&["gc", "--store", gap.store().to_str().unwrap(), "--push-grace", "0"]).ok();
    assert!(!e2e::store_blob(&gap.store(), &l2).exists(), "a layer only the deleted manifest used is collected");
    assert!(e2e::store_blob(&gap.store(), &ed).exists(), "a layer a manifest names stays whatever the grace");
    assert!(e2e::store_blob(&gap.store(), &l1).exists(), "a layer the remaining manifest uses stays");
    assert!(e2e::store_blob(&gap.store(), &hello.shared_layer).exists(), "imported content stays");
}
