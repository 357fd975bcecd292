//! Issue 15: no acknowledged push is lost to a concurrent `mirror gc`, `mirror rm` or `mirror
//! import`. Two writers push for a bounded time (monolithic and chunked blobs, mounts, image
//! manifests by tag and by digest, referrers with a `subject`, indexes) into one repository,
//! while other threads run `mirror gc`, push-then-`mirror rm` a tag of that same repository,
//! and import-then-`mirror rm` a signed bundle, all through the running server. Afterwards
//! every digest the registry acknowledged (201) answers with its bytes, every tag and referrer
//! is as last acknowledged, the removed tags alone are gone, and `mirror verify` passes.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use e2e::{bin, http, payload, run, sha256, Gap, Mirror};

const WRITER: (&str, &str) = ("builder", "b8ild-s3cret");
const REPO: &str = "site/shared";
/// How long the writers and the gc/rm/import loops run.
const STRESS: Duration = Duration::from_secs(25);
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json";
const EMPTY: &[u8] = b"{}";

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A writer on one keep-alive connection. Every method returns the digest the registry
/// acknowledged, or what it answered instead.
struct Writer {
    conn: http::Conn,
    auth: String,
}

impl Writer {
    fn new(host: &str) -> Writer {
        let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", WRITER.0, WRITER.1)));
        Writer { conn: http::Conn::new(host), auth }
    }

    fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<http::Resp, String> {
        let mut h = vec![("Authorization", self.auth.as_str())];
        h.extend_from_slice(headers);
        self.conn.send(method, path, &h, body).map_err(|e| format!("{method} {path}: {e}"))
    }

    fn expect(r: http::Resp, status: u16, what: &str) -> Result<http::Resp, String> {
        if r.status == status {
            Ok(r)
        } else {
            Err(format!("{what}: {} {}", r.status, String::from_utf8_lossy(&r.body)))
        }
    }

    fn monolithic(&mut self, data: &[u8]) -> Result<String, String> {
        let d = sha256(data);
        let r = self.send("POST", &format!("/v2/{REPO}/blobs/uploads/?digest={d}"), &[("Content-Type", "application/octet-stream")], data)?;
        Self::expect(r, 201, "monolithic upload")?;
        Ok(d)
    }

    /// POST, two PATCHes with Content-Range, PUT ?digest=.
    fn chunked(&mut self, data: &[u8]) -> Result<String, String> {
        let d = sha256(data);
        let post = Self::expect(self.send("POST", &format!("/v2/{REPO}/blobs/uploads/"), &[], b"")?, 202, "starting an upload")?;
        let mut loc = post.header("location").ok_or("no Location")?.to_string();
        let half = data.len() / 2;
        for (start, chunk) in [(0, &data[..half]), (half, &data[half..])] {
            let range = format!("{start}-{}", start + chunk.len() - 1);
            let r = self.send("PATCH", &loc, &[("Content-Range", &range), ("Content-Type", "application/octet-stream")], chunk)?;
            loc = Self::expect(r, 202, "a chunk")?.header("location").ok_or("no Location")?.to_string();
        }
        let sep = if loc.contains('?') { '&' } else { '?' };
        Self::expect(self.send("PUT", &format!("{loc}{sep}digest={d}"), &[], b"")?, 201, "finishing an upload")?;
        Ok(d)
    }

    fn mount(&mut self, d: &str, from: &str) -> Result<String, String> {
        Self::expect(self.send("POST", &format!("/v2/{REPO}/blobs/uploads/?mount={d}&from={from}"), &[], b"")?, 201, "mount")?;
        Ok(d.to_string())
    }

    fn manifest(&mut self, reference: &str, media_type: &str, bytes: &[u8]) -> Result<String, String> {
        let r = self.send("PUT", &format!("/v2/{REPO}/manifests/{reference}"), &[("Content-Type", media_type)], bytes)?;
        let r = Self::expect(r, 201, &format!("manifest PUT {reference}"))?;
        let d = sha256(bytes);
        match r.header("docker-content-digest") {
            Some(got) if got == d => Ok(d),
            other => Err(format!("manifest PUT {reference}: Docker-Content-Digest {other:?}, expected {d}")),
        }
    }
}

fn descriptor(media_type: &str, d: &str, size: usize) -> serde_json::Value {
    serde_json::json!({"mediaType": media_type, "digest": d, "size": size})
}

fn image(config: &(String, usize), layers: &[(String, usize)], extra: serde_json::Value) -> Vec<u8> {
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config.0, config.1),
        "layers": layers.iter().map(|(d, n)| descriptor("application/vnd.oci.image.layer.v1.tar", d, *n)).collect::<Vec<_>>(),
    });
    if let serde_json::Value::Object(e) = extra {
        m.as_object_mut().unwrap().extend(e);
    }
    serde_json::to_vec(&m).unwrap()
}

/// What the registry acknowledged, to check afterwards.
#[derive(Default)]
struct Acked {
    blobs: Vec<String>,
    manifests: Vec<String>,
    /// tag → digest, as last acknowledged (each writer owns its tags).
    tags: BTreeMap<String, String>,
    /// (subject, referrer)
    referrers: Vec<(String, String)>,
}

/// One round of a writer: every kind of push, each one recorded once acknowledged.
fn push_round(w: &mut Writer, who: usize, i: usize, base: &(String, usize), acked: &Mutex<Acked>) -> Result<(), String> {
    let record = |f: &dyn Fn(&mut Acked)| f(&mut acked.lock().unwrap());
    let config = format!(r#"{{"architecture":"amd64","os":"linux","writer":{who},"round":{i}}}"#).into_bytes();
    let cd = w.monolithic(&config)?;
    record(&|a| a.blobs.push(cd.clone()));
    let mut layer = payload(40_000 + i % 7 * 1000, (who * 31 + i) as u8);
    layer.extend_from_slice(format!("{who}/{i}").as_bytes());
    let ld = w.chunked(&layer)?;
    record(&|a| a.blobs.push(ld.clone()));
    w.mount(&base.0, "site/base")?;
    let config = (cd, config.len());
    let m = image(&config, &[base.clone(), (ld.clone(), layer.len())], serde_json::json!({}));
    let tag = format!("w{who}-{i}");
    let md = w.manifest(&tag, OCI_MANIFEST, &m)?;
    record(&|a| {
        a.manifests.push(md.clone());
        a.tags.insert(tag.clone(), md.clone());
    });
    // Untagged, by digest.
    let n = image(&config, &[(ld.clone(), layer.len())], serde_json::json!({"annotations": {"round": format!("{who}/{i}")}}));
    let nd = w.manifest(&sha256(&n), OCI_MANIFEST, &n)?;
    record(&|a| a.manifests.push(nd.clone()));
    // A signature-like referrer of the tagged manifest.
    let sig = format!("signature {who}/{i}").into_bytes();
    let sd = w.monolithic(&sig)?;
    record(&|a| a.blobs.push(sd.clone()));
    let r = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature",
        "config": descriptor("application/vnd.oci.empty.v1+json", &sha256(EMPTY), EMPTY.len()),
        "layers": [descriptor("application/octet-stream", &sd, sig.len())],
        "subject": descriptor(OCI_MANIFEST, &md, m.len()),
    }))
    .unwrap();
    let rd = w.manifest(&sha256(&r), OCI_MANIFEST, &r)?;
    record(&|a| {
        a.manifests.push(rd.clone());
        a.referrers.push((md.clone(), rd.clone()));
    });
    // An index over both, moving the writer's `latest` tag.
    let idx = serde_json::to_vec(
        &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor(OCI_MANIFEST, &md, m.len()), descriptor(OCI_MANIFEST, &nd, n.len())]}),
    )
    .unwrap();
    let tag = format!("latest-w{who}");
    let id = w.manifest(&tag, OCI_INDEX, &idx)?;
    record(&|a| {
        a.manifests.push(id.clone());
        a.tags.insert(tag.clone(), id.clone());
    });
    Ok(())
}

fn mirror_cmd(args: &[&str]) -> e2e::Run {
    e2e::run_within(Command::new(bin("mirror")).args(args), Duration::from_secs(120))
}

#[test]
fn acknowledged_pushes_survive_concurrent_gc_rm_and_import() {
    let gap = Gap::new();
    // A signed bundle (an image, a wheel, a deb) imported once; re-imported in the loop.
    e2e::imported_image_wheel_deb(&gap, "base", "stressbase", "stress-base");
    let bundle = gap.path("base.bundle");
    let writers = gap.write("writers.htpasswd", &e2e::htpasswd_line(WRITER.0, WRITER.1));
    let store = gap.store();
    let m = Mirror::start_with_serve_args(&store, &["--push-htpasswd", writers.to_str().unwrap()]);
    let store_s = s(&store);

    // The shared base layer and the empty config, pushed once.
    let mut setup = Writer::new(&m.host);
    let base_layer = payload(100_000, 200);
    let base_d = sha256(&base_layer);
    let r = setup.send("POST", &format!("/v2/site/base/blobs/uploads/?digest={base_d}"), &[], &base_layer).unwrap();
    assert_eq!(r.status, 201);
    let base = (base_d, base_layer.len());
    setup.monolithic(EMPTY).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Acked::default()));
    let rounds = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let deadline = Instant::now() + STRESS;
    let mut threads = Vec::new();

    for who in 0..2 {
        let (host, base, acked, rounds, failures, stop) = (m.host.clone(), base.clone(), acked.clone(), rounds.clone(), failures.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut w = Writer::new(&host);
            let mut i = 0;
            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                if let Err(e) = push_round(&mut w, who, i, &base, &acked) {
                    failures.lock().unwrap().push(format!("writer {who} round {i}: {e}"));
                    stop.store(true, Ordering::Relaxed);
                }
                rounds.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    // gc, over and over, through the server.
    let gcs = Arc::new(AtomicUsize::new(0));
    {
        let (store_s, gcs, failures, stop) = (store_s.clone(), gcs.clone(), failures.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                let r = mirror_cmd(&["gc", "--store", &store_s]);
                if r.status != 0 {
                    failures.lock().unwrap().push(format!("gc failed: {}", r.stderr));
                }
                gcs.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // A tag of the same repository pushed, then removed with `mirror rm`.
    let removed_tags = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let (host, store_s, base, removed_tags, failures, stop) = (m.host.clone(), store_s.clone(), base.clone(), removed_tags.clone(), failures.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut w = Writer::new(&host);
            let mut k = 0;
            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                let config = format!(r#"{{"architecture":"amd64","os":"linux","temporary":{k}}}"#).into_bytes();
                let pushed = w.monolithic(&config).and_then(|cd| {
                    let m = image(&(cd, config.len()), std::slice::from_ref(&base), serde_json::json!({}));
                    w.manifest(&format!("tmp-{k}"), OCI_MANIFEST, &m)
                });
                match pushed {
                    Ok(_) => {
                        let r = mirror_cmd(&["rm", "--store", &store_s, &format!("{REPO}:tmp-{k}")]);
                        if r.status != 0 {
                            failures.lock().unwrap().push(format!("rm {REPO}:tmp-{k} failed: {}", r.stderr));
                        }
                        removed_tags.lock().unwrap().push(format!("tmp-{k}"));
                    }
                    Err(e) => failures.lock().unwrap().push(format!("temporary push {k}: {e}")),
                }
                k += 1;
            }
        }));
    }
    // The signed bundle removed and imported again.
    let imports = Arc::new(AtomicUsize::new(0));
    {
        let (store_s, bundle, public, imports, failures, stop) = (store_s.clone(), s(&bundle), s(&gap.public()), imports.clone(), failures.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                for args in [vec!["rm", "--store", &store_s, "base"], vec!["import", &bundle, "--store", &store_s, "--trust", &public]] {
                    let r = mirror_cmd(&args);
                    if r.status != 0 {
                        failures.lock().unwrap().push(format!("`mirror {}` failed: {}", args[0], r.stderr));
                    }
                }
                imports.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "{} operation(s) failed during the run; first: {:#?}\n{}", failures.len(), &failures[..failures.len().min(5)], m.server.log_text());

    // One more gc at rest, then every acknowledged digest must answer with its bytes.
    mirror_cmd(&["gc", "--store", &store_s]).ok();
    let acked = acked.lock().unwrap();
    eprintln!(
        "{} writer rounds: {} blobs, {} manifests, {} tags, {} referrers acknowledged; {} gc runs, {} rm of a temporary tag, {} rm+import cycles",
        rounds.load(Ordering::Relaxed),
        acked.blobs.len(),
        acked.manifests.len(),
        acked.tags.len(),
        acked.referrers.len(),
        gcs.load(Ordering::Relaxed),
        removed_tags.lock().unwrap().len(),
        imports.load(Ordering::Relaxed)
    );
    assert!(gcs.load(Ordering::Relaxed) >= 3 && acked.manifests.len() >= 20, "too little happened to prove anything");
    let mut c = http::Conn::new(&m.host);
    let mut lost = Vec::new();
    for d in &acked.blobs {
        match c.get(&format!("/v2/{REPO}/blobs/{d}"), &[]) {
            Ok(r) if r.status == 200 && sha256(&r.body) == *d => {}
            Ok(r) => lost.push(format!("blob {d}: {}", r.status)),
            Err(e) => lost.push(format!("blob {d}: {e}")),
        }
    }
    for d in &acked.manifests {
        match c.get(&format!("/v2/{REPO}/manifests/{d}"), &[("Accept", ACCEPT)]) {
            Ok(r) if r.status == 200 && sha256(&r.body) == *d => {}
            Ok(r) => lost.push(format!("manifest {d}: {}", r.status)),
            Err(e) => lost.push(format!("manifest {d}: {e}")),
        }
    }
    for (tag, d) in &acked.tags {
        match c.get(&format!("/v2/{REPO}/manifests/{tag}"), &[("Accept", ACCEPT)]) {
            Ok(r) if r.status == 200 && r.header("docker-content-digest") == Some(d) => {}
            Ok(r) => lost.push(format!("tag {tag} (acknowledged as {d}): {} {:?}", r.status, r.header("docker-content-digest"))),
            Err(e) => lost.push(format!("tag {tag}: {e}")),
        }
    }
    let mut by_subject: BTreeMap<&String, Vec<&String>> = BTreeMap::new();
    for (subject, r) in &acked.referrers {
        by_subject.entry(subject).or_default().push(r);
    }
    for (subject, want) in by_subject {
        let r = c.get(&format!("/v2/{REPO}/referrers/{subject}"), &[]).unwrap();
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        let got: Vec<&str> = body["manifests"].as_array().map(|a| a.iter().filter_map(|m| m["digest"].as_str()).collect()).unwrap_or_default();
        for d in want {
            if !got.contains(&d.as_str()) {
                lost.push(format!("referrer {d} of {subject}: not listed ({})", r.status));
            }
        }
    }
    assert!(lost.is_empty(), "{} acknowledged push(es) lost; first: {:#?}", lost.len(), &lost[..lost.len().min(10)]);
    // What `mirror rm` named is gone, and only that.
    for tag in removed_tags.lock().unwrap().iter() {
        let r = c.get(&format!("/v2/{REPO}/manifests/{tag}"), &[("Accept", ACCEPT)]).unwrap();
        assert_eq!(r.status, 404, "{REPO}:{tag} was removed with `mirror rm`");
    }
    let v = run(Command::new(bin("mirror")).args(["verify", "--store", &store_s]));
    assert_eq!(v.status, 0, "mirror verify after the run: {}", v.stderr);
    drop(m);
}
