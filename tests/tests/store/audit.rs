//! The audit trail: an import, pushes and a delete by a logged-in writer (skopeo deletes),
//! `mirror rm` (and `--dry-run`, which changes nothing) and `mirror gc` through the control
//! socket are each one event of `mirror history`, naming who (the writer and its address, or
//! the local user) and what (the exact digests). The trail is written with the changes it
//! records, so a server killed -9 right after leaves it complete.

use std::process::Command;

use base64::Engine;
use e2e::{http, payload, sha256, Gap, Mirror};

const WRITER: (&str, &str) = ("auditor", "aud1t-pass");

fn history(store: &std::path::Path) -> Vec<serde_json::Value> {
    let h = e2e::run(Command::new(e2e::bin("mirror")).args(["history", "--json"]).env("MIRROR_STORE", store)).ok().json();
    h.as_array().unwrap().clone()
}

fn uid() -> u64 {
    String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap().trim().parse().unwrap()
}

#[test]
fn every_change_is_in_the_trail_with_who_and_what() {
    let gap = Gap::new();
    let _ = e2e::imported_image_wheel_deb(&gap, "base", "auditwheel", "audit-deb");
    let writers = gap.write("writers.htpasswd", &e2e::htpasswd_line(WRITER.0, WRITER.1));
    let store = gap.store();
    let mut m = Mirror::start_with_serve_args(&store, &["--push-htpasswd", writers.to_str().unwrap()]);
    let s = store.to_str().unwrap();

    // A blob and a config pushed, then a manifest by tag.
    let mut conn = http::Conn::new(&m.host);
    let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", WRITER.0, WRITER.1)));
    let a = [("Authorization", auth.as_str())];
    let layer = payload(20_000, 3);
    let (layer_d, config_d) = (sha256(&layer), sha256(b"{}"));
    for (d, body) in [(&layer_d, &layer[..]), (&config_d, &b"{}"[..])] {
        let r = conn.send("POST", &format!("/v2/site/audit/blobs/uploads/?digest={d}"), &a, body).unwrap();
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    let manifest = e2e::empty_config_manifest(&config_d, &layer_d, layer.len());
    let manifest_d = sha256(manifest.as_bytes());
    let put = [a[0], ("Content-Type", "application/vnd.oci.image.manifest.v1+json")];
    let r = conn.send("PUT", "/v2/site/audit/manifests/t1", &put, manifest.as_bytes()).unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));

    // skopeo deletes it (by digest, as it resolves the tag first).
    let creds = format!("{}:{}", WRITER.0, WRITER.1);
    e2e::skopeo(&["delete", "--tls-verify=false", "--creds", &creds, &format!("docker://{}/site/audit:t1", m.host)]).ok();

    // rm through the server: a dry run first, which must change nothing.
    let dry = gap.mirror(&["rm", "--store", s, "--dry-run", "--json", "docker.io/library/hello:1"]).ok().json();
    assert_eq!(dry["dry_run"], true, "{dry}");
    assert!(dry["removed"].as_array().unwrap().iter().any(|a| a == "docker.io/library/hello:1"), "{dry}");
    assert_eq!(http::get(&m.host, "/v2/docker.io/library/hello/manifests/1", &[]).unwrap().status, 200, "a dry run removed the tag");
    gap.mirror(&["rm", "--store", s, "docker.io/library/hello:1"]).ok();
    assert_eq!(http::get(&m.host, "/v2/docker.io/library/hello/manifests/1", &[]).unwrap().status, 404);
    let gc = gap.mirror(&["gc", "--store", s, "--push-grace", "0", "--json"]).ok().json();

    let events = history(&store);
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["import", "push-blob", "push-blob", "push-manifest", "delete", "remove", "gc"], "{events:#?}");
    let generations: Vec<u64> = events.iter().map(|e| e["generation"].as_u64().unwrap()).collect();
    assert!(generations.windows(2).all(|w| w[0] < w[1]), "one generation per change (gc deleted something), in order: {generations:?}");
    for e in &events {
        assert!(chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).is_ok(), "{e}");
    }
    // Who: the writer from its address for HTTP; the local user (the socket's peer) otherwise.
    for e in &events[1..5] {
        assert_eq!(e["by"]["kind"], "client", "{e}");
        assert_eq!(e["by"]["user"], WRITER.0, "{e}");
        assert!(e["by"]["addr"].as_str().unwrap().starts_with("127.0.0.1:"), "{e}");
    }
    for e in [&events[0], &events[5], &events[6]] {
        assert_eq!(e["by"]["kind"], "local", "{e}");
        assert_eq!(e["by"]["uid"].as_u64(), Some(uid()), "{e}");
    }
    // What: the exact digests, sizes and names.
    assert_eq!((events[1]["digest"].as_str(), events[1]["size"].as_u64()), (Some(layer_d.as_str()), Some(layer.len() as u64)));
    assert_eq!((events[2]["digest"].as_str(), events[2]["size"].as_u64()), (Some(config_d.as_str()), Some(2)));
    assert_eq!((events[3]["repo"].as_str(), events[3]["reference"].as_str(), events[3]["digest"].as_str()), (Some("site/audit"), Some("t1"), Some(manifest_d.as_str())));
    assert_eq!(events[4]["reference"].as_str(), Some(manifest_d.as_str()), "skopeo deletes by digest: {}", events[4]);
    assert_eq!(events[4]["tags"], serde_json::json!(["t1"]));
    assert_eq!(events[4]["manifests"], serde_json::json!([manifest_d]));
    assert_eq!(events[5]["targets"], serde_json::json!(["docker.io/library/hello:1"]));
    assert!(events[5]["artifacts"].as_array().unwrap().iter().any(|a| a == "docker.io/library/hello:1"), "{}", events[5]);
    assert_eq!(events[6]["blobs"].as_u64(), Some(gc["removed"].as_array().unwrap().len() as u64), "{} vs {gc}", events[6]);
    assert_eq!(events[6]["bytes"], gc["bytes"]);
    assert_eq!(events[0]["name"], "base");

    // The lines for people say the same.
    let text = e2e::run(Command::new(e2e::bin("mirror")).args(["history"]).env("MIRROR_STORE", &store)).ok().stdout;
    assert!(text.contains(&format!("push site/audit:t1 -> {manifest_d} by {} from 127.0.0.1:", WRITER.0)), "{text}");
    assert!(text.contains("rm docker.io/library/hello:1") && text.contains(" gc: "), "{text}");
    assert_eq!(text.lines().count(), events.len(), "{text}");
    let imports = e2e::run(Command::new(e2e::bin("mirror")).args(["history", "--json", "--imports-only"]).env("MIRROR_STORE", &store)).ok().json();
    assert_eq!(imports.as_array().unwrap().len(), 1, "{imports}");

    // One more push, acknowledged, then the server killed -9: the trail has it.
    let r = conn.send("POST", &format!("/v2/site/audit/blobs/uploads/?digest={}", sha256(b"last")), &a, b"last").unwrap();
    assert_eq!(r.status, 201);
    m.server.kill9();
    let after = history(&store);
    assert_eq!(after.len(), events.len() + 1, "{after:#?}");
    assert_eq!(after[..events.len()], events[..]);
    assert_eq!(after.last().unwrap()["digest"].as_str(), Some(sha256(b"last").as_str()));
}
