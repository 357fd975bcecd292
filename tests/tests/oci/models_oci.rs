//! Issue 5, models as OCI artifacts: an Ollama-style model manifest (Docker schema 2, config
//! plus `application/vnd.ollama.image.*` layers: weights, template, params) travels through
//! the image path unchanged — same manifest digest, every blob byte for byte from the mirror.

use std::process::Command;

use e2e::image::push_manifest_as;
use e2e::{run, sha256, Gap, Mirror, Registry};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

#[test]
fn ollama_style_model_manifest_is_carried_unchanged() {
    let gap = Gap::new();
    let reg = Registry::start();
    // Stand-ins for a GGUF file, its prompt template and parameters (content is irrelevant to
    // the registry; media types and digests are what Ollama's pull checks).
    let weights: Vec<u8> = (0..(3 << 20)).map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let template = b"{{ .Prompt }}".to_vec();
    let params = br#"{"num_ctx":8192}"#.to_vec();
    let config = br#"{"model_format":"gguf","model_family":"nomic-bert","model_type":"137M","file_type":"F16","architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
    let desc = |mt: &str, b: &[u8]| serde_json::json!({"mediaType": mt, "digest": sha256(b), "size": b.len()});
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": desc("application/vnd.docker.container.image.v1+json", &config),
        "layers": [desc("application/vnd.ollama.image.model", &weights), desc("application/vnd.ollama.image.template", &template), desc("application/vnd.ollama.image.params", &params)],
    }))
    .unwrap();
    let digest = push_manifest_as(&reg.host, "library/nomic-embed-text", "v1.5", DOCKER_MANIFEST, &manifest, &[&config, &weights, &template, &params]);

    let m = gap.write(
        "models.yaml",
        &format!(
            "name: models\nregistries:\n  registry.ollama.ai: {{url: \"http://{}\", insecure: true}}\nimages:\n  - registry.ollama.ai/library/nomic-embed-text:v1.5\n",
            reg.host
        ),
    );
    gap.lock(&m).ok();
    let bundle = gap.create(&m, "models.bundle", &["--locked"]);
    gap.verify(&bundle).ok();
    drop(reg);
    gap.import(&bundle).ok();
    let mirror = Mirror::start(&gap.store());

    let base = mirror.url("/v2/registry.ollama.ai/library/nomic-embed-text");
    let out = gap.path("m.json");
    let r = run(Command::new("curl").args(["-sSf", "-D", "-", "-o", out.to_str().unwrap(), "-H", &format!("Accept: {DOCKER_MANIFEST}"), &format!("{base}/manifests/v1.5")])).ok();
    assert_eq!(sha256(&std::fs::read(&out).unwrap()), digest, "the manifest is served unchanged");
    assert!(r.stdout.to_ascii_lowercase().contains(&format!("docker-content-digest: {digest}")), "{}", r.stdout);
    for (name, b) in [("config", &config), ("weights", &weights), ("template", &template), ("params", &params)] {
        let f = gap.path(name);
        run(Command::new("curl").args(["-sSf", "-o", f.to_str().unwrap(), &format!("{base}/blobs/{}", sha256(b))])).ok();
        assert_eq!(sha256(&std::fs::read(&f).unwrap()), sha256(b), "{name} byte for byte");
    }
}
