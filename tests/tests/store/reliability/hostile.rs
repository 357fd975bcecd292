//! Hostile HTTP: raw requests with path tricks, NULs and huge headers get a 4xx and nothing
//! outside the store.

use super::*;

#[test]
fn hostile_requests_get_4xx_and_nothing_outside_the_store() {
    let gap = Gap::new();
    let hello = e2e::imported_image_wheel_deb(&gap, "stack", "hostwheel", "host-tool");
    let marker = "SECRET-OUTSIDE-THE-STORE-7f3c";
    std::fs::write(gap.path("secret.txt"), marker).unwrap();
    std::fs::write(gap.store().join("secret.txt"), marker).unwrap();
    let serve = Serve::start(&gap.store());
    let host = serve.host.clone();

    // Path tricks, as raw bytes on the request line: nothing normalises them on the way.
    let tricks = [
        "..",
        "%2e%2e",
        "%2E%2E",
        ".%2e",
        "%2e.",
        "..%2f..%2f..%2fsecret.txt",
        "%2e%2e%2f%2e%2e%2fsecret.txt",
        "..%2F..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "%2F",
        "a%2Fb",
        "%2Fetc%2Fpasswd",
        "%00",
        "x%00",
        "..%00",
        "secret.txt%00.whl",
        "%252e%252e",
        "..%5c..%5csecret.txt",
        "%c0%ae%c0%ae",
        "%ff%fe",
        "....",
        "..;",
        "../../../../../../etc/passwd",
        "..%2f..%2fsecret.txt",
    ];
    let layer = &hello.own_layers["amd64"];
    let repo = "docker.io/library/hello";
    // Every name parameter of every route, `{}` where the trick goes.
    let templates = vec![
        "/v2/{}/manifests/1".to_string(),
        "/v2/docker.io/library/{}/manifests/1".into(),
        format!("/v2/{repo}/manifests/{{}}"),
        format!("/v2/{{}}/blobs/{layer}"),
        format!("/v2/{repo}/blobs/{{}}"),
        format!("/v2/{repo}/blobs/sha256:{{}}"),
        "/v2/{}/tags/list".into(),
        format!("/v2/{{}}/referrers/{}", hello.index),
        format!("/v2/{repo}/referrers/{{}}"),
        "/v2/library/hello/manifests/1?ns={}".into(),
        "/pypi/simple/{}/".into(),
        "/pypi/simple/{}".into(),
        "/pypi/files/{}".into(),
        "/pypi/files/{}.metadata".into(),
        "/pypi/{}".into(),
        "/apt/{}".into(),
        "/apt/{}/dists/stable/InRelease".into(),
        "/apt/standin/dists/{}/InRelease".into(),
        "/apt/standin/dists/stable/{}".into(),
        "/apt/standin/dists/stable/main/{}/Packages".into(),
        "/apt/standin/pool/{}".into(),
        "/apt/standin/pool/main/h/host-tool/{}".into(),
        "/files/{}".into(),
        "/helm/charts/{}".into(),
        "/nltk/packages/{}/x.zip".into(),
        "/nltk/packages/corpora/{}".into(),
        "/hf/api/models/{}/x/revision/main".into(),
        "/hf/api/models/o/{}/revision/main".into(),
        "/hf/api/models/o/n/revision/{}".into(),
        "/hf/api/models/o/n/tree/{}".into(),
        "/hf/api/models/o/n/tree/main/{}".into(),
        "/hf/{}/n/resolve/main/config.json".into(),
        "/hf/o/{}/resolve/main/config.json".into(),
        "/hf/o/n/resolve/{}/config.json".into(),
        "/hf/o/n/resolve/main/{}".into(),
        "/sbom/{}".into(),
    ];
    let mut requests: Vec<(String, Vec<u8>)> = Vec::new();
    for t in &templates {
        for trick in &tricks {
            let path = t.replace("{}", trick);
            requests.push((path.clone(), http::request(&path, &host, &[], true)));
        }
    }
    // A raw NUL and raw `..` segments on the request line.
    for path in ["/files/a\0b", "/v2/docker.io/library/hello\0/manifests/1", "/apt/standin/pool/\0", "/pypi/files/x\0.whl"] {
        requests.push((path.escape_debug().to_string(), http::request(path, &host, &[], true)));
    }
    // Oversized: a 1 MiB header, a 1 MiB request line, 500 headers, huge digests and tags.
    let mib = "a".repeat(1 << 20);
    requests.push(("1 MiB header".into(), http::request("/v2/", &host, &[("X-Big", &mib)], true)));
    requests.push(("1 MiB request line".into(), http::request(&format!("/v2/{mib}/manifests/1"), &host, &[], true)));
    let many: Vec<(String, String)> = (0..500).map(|i| (format!("X-H{i}"), "v".into())).collect();
    let many_refs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    requests.push(("500 headers".into(), http::request("/v2/", &host, &many_refs, true)));
    for n in [100, 4096, 60_000] {
        let hex = "a".repeat(n);
        for path in [
            format!("/v2/{repo}/blobs/sha256:{hex}"),
            format!("/v2/{repo}/manifests/sha256:{hex}"),
            format!("/v2/{repo}/manifests/{hex}"),
            format!("/v2/{repo}/referrers/sha256:{hex}"),
        ] {
            requests.push((format!("{}… ({} bytes)", &path[..60], path.len()), http::request(&path, &host, &[], true)));
        }
    }
    requests.push(("huge Range".into(), http::request(&format!("/v2/{repo}/blobs/{layer}"), &host, &[("Range", &format!("bytes={}-", "9".repeat(5000)))], true)));

    let mut bad = Vec::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let started = Instant::now();
    for (what, bytes) in &requests {
        let t = Instant::now();
        match http::raw(&host, bytes.clone(), Duration::from_secs(10)) {
            Ok(mut r) => {
                // PEP 503: a project name that is not normalized redirects to its normalized
                // form first (pip follows); where that leads must be a 4xx too.
                let mut hops = 0;
                while r.status == 301 && hops < 3 {
                    match r.header("location").filter(|l| l.starts_with("/pypi/simple/")).map(String::from) {
                        Some(next) => r = http::get(&host, &next, &[]).unwrap_or_else(|e| panic!("{what} → {next}: {e}")),
                        None => break,
                    }
                    hops += 1;
                }
                *statuses.entry(r.status).or_default() += 1;
                if what.contains("MiB") || what.contains("headers") {
                    eprintln!("{what}: {}", r.status);
                }
                let body = String::from_utf8_lossy(&r.body);
                // A Range the server ignores is a whole-blob 200, which is fine; nothing else is.
                let ok_status = (400..500).contains(&r.status) || (what == "huge Range" && r.status == 200);
                if !ok_status || body.contains(marker) || body.contains("root:x:0:0") {
                    bad.push(format!("{what}: {} {}", r.status, body.chars().take(200).collect::<String>()));
                }
            }
            Err(e) => bad.push(format!("{what}: no answer ({e}) after {:?}", t.elapsed())),
        }
    }
    assert!(bad.is_empty(), "{} of {} hostile requests not answered with a 4xx:\n{}", bad.len(), requests.len(), bad.join("\n"));
    // Still healthy, still serving, nothing panicked.
    assert_eq!(http::get(&host, "/healthz", &[]).unwrap().status, 200);
    let m = http::get(&host, &format!("/v2/{repo}/manifests/1"), &[("Accept", ACCEPT_MANIFESTS)]).unwrap();
    assert_eq!(sha256(&m.body), hello.index);
    assert!(!serve.log_text().contains("panicked"), "{}", serve.log_text());
    eprintln!("{} hostile requests answered 4xx in {:?}: {statuses:?}", requests.len(), started.elapsed());
    serve.stop();
}
