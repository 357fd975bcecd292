//! Load, then graceful shutdown: 500 keep-alive clients with every body checked, RSS flat;
//! then SIGTERM lets a slow in-flight download finish and exits 0.

use super::*;

/// The bytes every load client checks its answers against.
struct Expected {
    manifest: String,
    manifest_digest: String,
    layer_path: String,
    layer: Vec<u8>,
    big: Vec<u8>,
    simple: Vec<(String, Vec<u8>)>,
    packages_path: String,
    packages_digest: String,
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// One request of kind `k`, checked byte for byte.
fn load_request(conn: &mut http::Conn, k: u64, rng: &mut u64, e: &Expected) -> Result<(), String> {
    let err = |what: &str, r: &http::Resp| format!("{what}: {} {:?}", r.status, String::from_utf8_lossy(&r.body[..r.body.len().min(200)]));
    let range = |conn: &mut http::Conn, path: &str, data: &[u8], rng: &mut u64| -> Result<(), String> {
        let size = data.len() as u64;
        let start = xorshift(rng) % size;
        let end = (start + xorshift(rng) % (256 << 10)).min(size - 1);
        let spec = format!("bytes={start}-{end}");
        let r = conn.get(path, &[("Range", &spec)]).map_err(|x| format!("GET {path} {spec}: {x}"))?;
        let want = format!("bytes {start}-{end}/{size}");
        if r.status != 206 || r.body != data[start as usize..=end as usize] || r.header("content-range") != Some(want.as_str()) {
            return Err(err(&format!("GET {path} {spec}"), &r));
        }
        Ok(())
    };
    match k % 5 {
        0 => {
            let r = conn.get(&e.manifest, &[("Accept", ACCEPT_MANIFESTS)]).map_err(|x| format!("GET {}: {x}", e.manifest))?;
            if r.status != 200 || sha256(&r.body) != e.manifest_digest || r.header("docker-content-digest") != Some(e.manifest_digest.as_str()) {
                return Err(err(&e.manifest, &r));
            }
        }
        1 => range(conn, &e.layer_path, &e.layer, rng)?,
        2 => range(conn, "/files/big.bin", &e.big, rng)?,
        3 => {
            let (path, body) = &e.simple[(xorshift(rng) % e.simple.len() as u64) as usize];
            let r = conn.get(path, &[]).map_err(|x| format!("GET {path}: {x}"))?;
            if r.status != 200 || &r.body != body {
                return Err(err(path, &r));
            }
        }
        _ => {
            let r = conn.get(&e.packages_path, &[]).map_err(|x| format!("GET {}: {x}", e.packages_path))?;
            if r.status != 200 || sha256(&r.body) != e.packages_digest {
                return Err(err(&e.packages_path, &r));
            }
        }
    }
    Ok(())
}

#[test]
fn load_500_clients_then_graceful_shutdown() {
    const CLIENTS: u64 = 500;
    const FOR: Duration = Duration::from_secs(10);
    let gap = Gap::new();
    let hello = e2e::imported_image_wheel_deb(&gap, "stack", "loadwheel", "load-tool");
    let up = gap.path("up");
    std::fs::create_dir_all(&up).unwrap();
    let big = payload(48 << 20, 9);
    std::fs::write(up.join("big.bin"), &big).unwrap();
    let http_up = StaticServer::start(&up);
    let m = gap.write("big.yaml", &format!("name: big\nfiles:\n  - {{url: {}, sha256: {}}}\n", q(&format!("{}big.bin", http_up.url())), q(&sha256(&big)[7..])));
    let bundle = gap.create(&m, "big.bundle", &["--compression", "none"]);
    drop(http_up);
    gap.import(&bundle).ok();
    let mut serve = Serve::start(&gap.store());
    let host = serve.host.clone();

    // The expected bytes, fetched once and checked against the digests that name them.
    let get = |path: &str, h: &[(&str, &str)]| {
        let r = http::get(&host, path, h).unwrap();
        assert_eq!(r.status, 200, "GET {path}: {}", String::from_utf8_lossy(&r.body));
        r.body
    };
    let manifest = "/v2/docker.io/library/hello/manifests/1".to_string();
    assert_eq!(sha256(&get(&manifest, &[("Accept", ACCEPT_MANIFESTS)])), hello.index);
    let layer_digest = &hello.own_layers["amd64"];
    let layer_path = format!("/v2/docker.io/library/hello/blobs/{layer_digest}");
    let layer = get(&layer_path, &[]);
    assert_eq!(&sha256(&layer), layer_digest);
    assert_eq!(get("/files/big.bin", &[]), big);
    let simple: Vec<(String, Vec<u8>)> = ["/pypi/simple/", "/pypi/simple/loadwheel/"].iter().map(|p| (p.to_string(), get(p, &[]))).collect();
    assert!(String::from_utf8_lossy(&simple[1].1).contains("loadwheel-1.0"), "{}", String::from_utf8_lossy(&simple[1].1));
    let listing: serde_json::Value = serde_json::from_slice(&get("/apt/", &[])).unwrap();
    let source = listing["sources"].as_array().unwrap().iter().find(|s| s["id"] == "standin").unwrap_or_else(|| panic!("{listing}"));
    let arch = source["suites"][0]["architectures"][0].as_str().unwrap().to_string();
    // The mirror serves Packages.gz (gzip members); Release lists it and the plain text.
    let packages_path = format!("/apt/standin/dists/stable/main/binary-{arch}/Packages.gz");
    let packages = get(&packages_path, &[]);
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&packages[..]), &mut text).unwrap();
    assert!(String::from_utf8_lossy(&text).contains("Package: load-tool"));
    let release = String::from_utf8(get("/apt/standin/dists/stable/Release", &[])).unwrap();
    let packages_digest = sha256(&packages);
    let want = [packages_digest[7..].to_string(), packages.len().to_string(), format!("main/binary-{arch}/Packages.gz")];
    let listed = release.split("SHA256:").nth(1).unwrap().lines().any(|l| l.split_whitespace().eq(want.iter().map(String::as_str)));
    assert!(listed, "Release lists Packages with another hash:\n{release}");
    let expected = Arc::new(Expected { manifest, manifest_digest: hello.index.clone(), layer_path, layer, big: big.clone(), simple, packages_path, packages_digest });

    let idle_rss = serve.rss_kib();
    let errors = Arc::new(Mutex::new((0u64, Vec::<String>::new())));
    let start = Instant::now();
    let stop_at = start + FOR;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (host, e, errors) = (host.clone(), expected.clone(), errors.clone());
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    let mut conn = http::Conn::new(&host);
                    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (c + 1).wrapping_mul(0x2545_f491_4f6c_dd1d);
                    let (mut done, mut k) = (0u64, c);
                    while Instant::now() < stop_at {
                        match load_request(&mut conn, k, &mut rng, &e) {
                            Ok(()) => done += 1,
                            Err(x) => {
                                let mut g = errors.lock().unwrap();
                                g.0 += 1;
                                if g.1.len() < 20 {
                                    g.1.push(format!("client {c}: {x}"));
                                }
                            }
                        }
                        k += 1;
                    }
                    done
                })
                .expect("spawn a client thread")
        })
        .collect();
    let sample_at = |at: Duration| {
        let t = start + at;
        if let Some(d) = t.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        serve.rss_kib()
    };
    let rss = [sample_at(Duration::from_millis(1500)), sample_at(FOR / 2), sample_at(FOR - Duration::from_millis(300))];
    let per_client: Vec<u64> = clients.into_iter().map(|t| t.join().expect("client thread")).collect();
    let total: u64 = per_client.iter().sum();
    let elapsed = start.elapsed();
    let (n_err, sample) = errors.lock().unwrap().clone();
    eprintln!(
        "load: {CLIENTS} clients, {total} requests in {elapsed:?} ({:.0}/s), {n_err} errors; RSS idle {idle_rss} KiB, start {} KiB, middle {} KiB, end {} KiB",
        total as f64 / elapsed.as_secs_f64(),
        rss[0],
        rss[1],
        rss[2]
    );
    assert_eq!(n_err, 0, "errors under load:\n{}", sample.join("\n"));
    assert!(per_client.iter().all(|n| *n > 0), "a client completed no request: {:?}", per_client.iter().filter(|n| **n == 0).count());
    let bound = 2 * rss[0] + 50 * 1024;
    assert!(rss[1] < bound && rss[2] < bound, "RSS grew under steady load: {rss:?} KiB (bound {bound} KiB)");

    // Graceful shutdown: a slow download in flight when SIGTERM comes completes byte for byte;
    // new connections are refused; the server exits 0.
    let conn = http::connect(&host, Duration::from_secs(30)).unwrap();
    (&conn).write_all(&http::request("/files/big.bin", &host, &[], false)).unwrap();
    let mut r = BufReader::with_capacity(64 << 10, conn);
    let (status, headers) = http::read_head(&mut r).unwrap();
    assert_eq!(status, 200);
    let len: usize = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")).unwrap().1.parse().unwrap();
    assert_eq!(len, big.len());
    let mut got = vec![0u8; 1 << 20];
    r.read_exact(&mut got).unwrap();
    // The server now waits on a full socket.
    std::thread::sleep(Duration::from_millis(300));
    serve.signal("TERM");
    let refused = e2e::poll(Duration::from_secs(5), || matches!(std::net::TcpStream::connect(&host), Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused));
    assert!(refused.is_ok(), "new connections still accepted 5 s after SIGTERM");
    assert!(serve.wait_exit(Duration::ZERO).is_none(), "mirror serve exited with a download in flight:\n{}", serve.log_text());
    let t = Instant::now();
    let mut chunk = vec![0u8; 1 << 20];
    while got.len() < len {
        let n = r.read(&mut chunk).unwrap_or_else(|e| panic!("the in-flight download broke at {} of {len} bytes: {e}", got.len()));
        assert!(n > 0, "the in-flight download ended at {} of {len} bytes", got.len());
        got.extend_from_slice(&chunk[..n]);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(sha256(&got), sha256(&big), "the in-flight download completed with other bytes");
    drop(r);
    let st = serve.wait_exit(Duration::from_secs(10));
    assert!(st.is_some_and(|s| s.success()), "mirror serve did not exit 0 within 10 s of its last download ({st:?}):\n{}", serve.log_text());
    eprintln!("shutdown: the in-flight download finished {:?} after SIGTERM; exit {st:?}", t.elapsed());
}
