//! `/metrics`, scraped from a running `mirror serve` and parsed by Prometheus's own Python
//! client (`prometheus_client.parser`, the text-format parser its exporters are tested with).
//! Known requests, imports, pushes, a delete and a gc run between two scrapes must move the
//! counters by exactly what was done; the store gauges must say what the store holds.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use base64::Engine;
use e2e::{http, payload, sha256, Gap, Mirror};

const WRITER: (&str, &str) = ("builder", "m3trics-pass");

/// Every sample of a scrape: (name, labels) → value.
type Samples = BTreeMap<(String, BTreeMap<String, String>), f64>;

const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append([s.name, s.labels, s.value])
print(json.dumps(out))
"#;

fn scrape(m: &Mirror) -> (String, Samples) {
    let r = http::get(&m.host, "/metrics", &[]).unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let text = String::from_utf8(r.body).unwrap();
    let mut child = Command::new(e2e::pypi::python())
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running FEAS_PYTHON (scripts/test.sh installs prometheus-client into it)");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "prometheus_client rejected the scrape: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    let parsed: Vec<(String, BTreeMap<String, String>, f64)> = serde_json::from_slice(&out.stdout).unwrap();
    (text, parsed.into_iter().map(|(n, l, v)| ((n, l), v)).collect())
}

fn value(s: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    s.get(&(name.to_string(), labels)).copied().unwrap_or(0.0)
}

fn moved(before: &Samples, after: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(after, name, labels) - value(before, name, labels)
}

#[test]
fn metrics_count_what_was_done() {
    let gap = Gap::new();
    let image = e2e::imported_image_wheel_deb(&gap, "base", "metricswheel", "metrics-deb");
    let bundle = gap.path("base.bundle");
    let writers = gap.write("writers.htpasswd", &e2e::htpasswd_line(WRITER.0, WRITER.1));
    let store = gap.store();
    let m = Mirror::start_with_serve_args(&store, &["--push-htpasswd", writers.to_str().unwrap()]);
    let (_, before) = scrape(&m);

    // Reads: every OCI body read here is summed, to compare with the counted bytes.
    let mut conn = http::Conn::new(&m.host);
    let mut oci_bytes = 0usize;
    let mut oci = |conn: &mut http::Conn, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8], want: u16| {
        let r = conn.send(method, path, headers, body).unwrap();
        assert_eq!(r.status, want, "{method} {path}: {}", String::from_utf8_lossy(&r.body));
        oci_bytes += r.body.len();
    };
    let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", WRITER.0, WRITER.1)));
    let a = [("Authorization", auth.as_str())];
    let accept = [("Accept", "application/vnd.oci.image.index.v1+json")];
    // With pushes on, `/v2/` asks for credentials (as clients' `login` expects).
    oci(&mut conn, "GET", "/v2/", &a, b"", 200);
    oci(&mut conn, "GET", "/v2/docker.io/library/hello/manifests/1", &accept, b"", 200);
    oci(&mut conn, "GET", &format!("/v2/docker.io/library/hello/blobs/{}", image.shared_layer), &[], b"", 200);
    oci(&mut conn, "GET", "/v2/docker.io/library/nothing-here/manifests/1", &[], b"", 404);
    let apt = conn.get("/apt/standin/dists/stable/InRelease", &[]).unwrap();
    assert_eq!(apt.status, 200);
    let pypi = conn.get("/pypi/simple/metricswheel/", &[]).unwrap();
    assert_eq!(pypi.status, 200);
    let missing = conn.get("/files/no-such-file", &[]).unwrap();
    assert_eq!(missing.status, 404);

    // Writes: a blob and a config pushed, a manifest by tag, then the tag deleted.
    let layer = payload(50_000, 7);
    let (layer_d, config_d) = (sha256(&layer), sha256(b"{}"));
    oci(&mut conn, "POST", &format!("/v2/site/metrics/blobs/uploads/?digest={layer_d}"), &a, &layer, 201);
    oci(&mut conn, "POST", &format!("/v2/site/metrics/blobs/uploads/?digest={config_d}"), &a, b"{}", 201);
    let manifest = e2e::empty_config_manifest(&config_d, &layer_d, layer.len());
    let put = [a[0], ("Content-Type", "application/vnd.oci.image.manifest.v1+json")];
    oci(&mut conn, "PUT", "/v2/site/metrics/manifests/t1", &put, manifest.as_bytes(), 201);
    oci(&mut conn, "DELETE", "/v2/site/metrics/manifests/t1", &a, b"", 202);

    // Imports through the server: the same bundle again (unchanged), and one refused because
    // its signer is not the key given.
    gap.import(&bundle).ok();
    let other = gap.path("other-keys");
    gap.bundler(&["keygen", "--out", other.to_str().unwrap(), "--unencrypted"]).ok();
    gap.mirror(&["import", bundle.to_str().unwrap(), "--store", store.to_str().unwrap(), "--trust", other.join("bundle.pub").to_str().unwrap()]).fails();
    // gc through the server, with no grace: the untagged pushed manifest's blobs stay (the
    // manifest still names them); whatever it deletes is what it reports.
    let gc = gap.mirror(&["gc", "--store", store.to_str().unwrap(), "--push-grace", "0", "--json"]).ok().json();

    // Read-only commands work beside the server (it holds the store; they ask it), and find
    // the store in MIRROR_STORE.
    let history = e2e::run(Command::new(e2e::bin("mirror")).args(["history", "--json", "--imports-only"]).env("MIRROR_STORE", &store)).ok().json();
    let imports = history.as_array().unwrap();
    assert_eq!(imports.len(), 1, "one import recorded (the re-import changed nothing): {history}");
    assert_eq!(imports[0]["name"], "base");
    let lines = e2e::run(Command::new(e2e::bin("mirror")).args(["history"]).env("MIRROR_STORE", &store)).ok().stdout;
    assert!(lines.contains(" base sequence "), "{lines}");

    let (text, after) = scrape(&m);
    let d = |name: &str, labels: &[(&str, &str)]| moved(&before, &after, name, labels);
    assert_eq!(d("mirror_http_requests_total", &[("family", "oci"), ("class", "2xx")]), 7.0, "{text}");
    assert_eq!(d("mirror_http_requests_total", &[("family", "oci"), ("class", "4xx")]), 1.0, "{text}");
    assert_eq!(d("mirror_http_requests_total", &[("family", "apt"), ("class", "2xx")]), 1.0, "{text}");
    assert_eq!(d("mirror_http_requests_total", &[("family", "pypi"), ("class", "2xx")]), 1.0, "{text}");
    assert_eq!(d("mirror_http_requests_total", &[("family", "files"), ("class", "4xx")]), 1.0, "{text}");
    assert_eq!(d("mirror_http_response_bytes_total", &[("family", "oci")]), oci_bytes as f64, "every OCI body byte sent, counted: {text}");
    assert_eq!(d("mirror_http_response_bytes_total", &[("family", "apt")]), apt.body.len() as f64, "{text}");
    assert_eq!(d("mirror_http_request_duration_seconds_count", &[("family", "oci")]), 8.0, "{text}");
    assert_eq!(value(&after, "mirror_http_requests_in_flight", &[]), 1.0, "only the scrape itself: {text}");
    assert_eq!(d("mirror_pushes_total", &[("kind", "blob")]), 2.0, "{text}");
    assert_eq!(d("mirror_pushes_total", &[("kind", "manifest")]), 1.0, "{text}");
    assert_eq!(d("mirror_deletes_total", &[("kind", "tag")]), 1.0, "{text}");
    assert_eq!(d("mirror_imports_total", &[("result", "unchanged"), ("reason", "")]), 1.0, "{text}");
    assert_eq!(d("mirror_imports_total", &[("result", "refused"), ("reason", "untrusted-key")]), 1.0, "{text}");
    assert_eq!(d("mirror_import_duration_seconds_count", &[]), 2.0, "{text}");
    assert_eq!(d("mirror_gc_runs_total", &[]), 1.0, "{text}");
    assert_eq!(d("mirror_gc_freed_bytes_total", &[]), gc["bytes"].as_f64().unwrap(), "{text}");
    assert_eq!(d("mirror_renders_total", &[("ecosystem", "apt")]), 1.0, "the suite rendered once: {text}");
    assert_eq!(d("mirror_renders_total", &[("ecosystem", "pypi")]), 1.0, "the page rendered once: {text}");

    // What the store holds, from its counters.
    assert_eq!(value(&after, "mirror_artifacts", &[("ecosystem", "oci")]), 1.0, "hello:1 (the pushed tag was deleted): {text}");
    assert_eq!(value(&after, "mirror_artifacts", &[("ecosystem", "apt")]), 1.0, "{text}");
    assert_eq!(value(&after, "mirror_artifacts", &[("ecosystem", "pypi")]), 1.0, "{text}");
    assert_eq!(value(&after, "mirror_artifacts", &[("ecosystem", "helm")]), 0.0, "{text}");
    assert!(value(&after, "mirror_store_generation", &[]) > value(&before, "mirror_store_generation", &[]), "{text}");
    let inventory = gap.mirror(&["inventory", "--store", store.to_str().unwrap()]).ok().json();
    let blobs = inventory["blobs"].as_array().map(|b| b.len()).unwrap_or_default();
    assert!(blobs > 0);
    assert_eq!(value(&after, "mirror_store_blobs", &[]), blobs as f64, "{text}");
    let on_disk: u64 = e2e::store_blob_files(&store).iter().map(|d| std::fs::metadata(e2e::store_blob(&store, d)).unwrap().len()).sum();
    assert_eq!(value(&after, "mirror_store_blob_bytes", &[]), on_disk as f64, "{text}");
    assert_eq!(value(&after, "mirror_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0, "{text}");
    drop(m);

    // The Grafana dashboard in deploy/ queries only series a real scrape has.
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/grafana-dashboard.json")).unwrap()).unwrap();
    let names: std::collections::BTreeSet<&str> = after.keys().map(|(n, _)| n.as_str()).collect();
    let mut queried = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("mirror_")) {
                assert!(names.contains(word), "panel {:?} queries {word}, which /metrics does not have", panel["title"]);
                queried += 1;
            }
        }
    }
    assert!(queried >= 16, "the dashboard queries the mirror's series");
}
