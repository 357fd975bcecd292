//! Issue 5, Hugging Face models: a stand-in hub (revision and paginated tree APIs, git and
//! LFS files, LFS redirected to a CDN on another origin, one connection dropped mid-file) is
//! read by `bundler lock/create` with include/exclude globs; the bundle is imported and the real
//! huggingface_hub 2.4.0 (`snapshot_download`, `hf_hub_download`, `model_info`, `list_repo_tree`)
//! downloads from the mirror with `HF_ENDPOINT=<mirror>/hf`, getting upstream's bytes and
//! commit and the hub's error classes. A 3 GiB LFS file goes through with flat memory. Bad
//! upstream bytes, unknown revisions and repositories are refused with nothing bundled; a gated
//! repository needs HF_TOKEN, which is sent to the hub and not to the CDN.

use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::hf::{hf_python, vm_hwm_kib, with_peak_rss, HubFile, HubOptions, HubRepo, StandinHub};
use e2e::{bin, run, sha256, Gap, Mirror};

const REPO: &str = "demo/tiny-embed";
const COMMIT: &str = "3c1f0d0e5a7b9c2d4e6f80911a2b3c4d5e6f7a8b";

/// Path in the repo, LFS or not, content.
fn files() -> Vec<(&'static str, bool, Vec<u8>)> {
    vec![
        ("config.json", false, br#"{"model_type": "bert", "hidden_size": 8}"#.to_vec()),
        ("tokenizer.json", false, br#"{"version": "1.0", "model": {"type": "WordPiece"}}"#.to_vec()),
        ("vocab.txt", false, b"[PAD]\n[UNK]\nhello\nworld\n".to_vec()),
        ("README.md", false, b"# tiny-embed\n".to_vec()),
        ("training_args.json", false, br#"{"lr": 0.1}"#.to_vec()),
        ("1_Pooling/config.json", false, br#"{"pooling_mode_mean_tokens": true}"#.to_vec()),
        ("model.safetensors", true, e2e::payload(3 << 20, 1)),
        ("sub/extra.safetensors", true, e2e::payload(200 << 10, 2)),
        ("onnx/model.onnx", true, e2e::payload(100 << 10, 3)),
    ]
}

/// What the manifest's include/exclude keep.
const KEPT: &[&str] = &["1_Pooling/config.json", "config.json", "model.safetensors", "sub/extra.safetensors", "tokenizer.json", "vocab.txt"];

/// Writes the repo's files under `dir`; returns the stand-in repo and path → sha256 hex.
fn upstream_repo(dir: &Path) -> (HubRepo, Vec<(String, String)>) {
    let mut hub_files = Vec::new();
    let mut shas = Vec::new();
    for (path, lfs, bytes) in files() {
        let local = dir.join(path);
        std::fs::create_dir_all(local.parent().unwrap()).unwrap();
        std::fs::write(&local, &bytes).unwrap();
        shas.push((path.to_string(), sha256(&bytes).trim_start_matches("sha256:").to_string()));
        hub_files.push(HubFile { path: path.into(), local, lfs, sha256: None });
    }
    (HubRepo { id: REPO.into(), commit: COMMIT.into(), files: hub_files }, shas)
}

fn manifest(gap: &Gap, name: &str, endpoint: &str, repo: &str, revision: &str) -> PathBuf {
    gap.write(
        &format!("{name}.yaml"),
        &format!("name: {name}\nmodels:\n  - hf: {repo}\n    revision: {revision}\n    include: [\"*.json\", \"*.safetensors\", \"*.txt\"]\n    exclude: [\"training_*\"]\n    endpoint: {endpoint:?}\n"),
    )
}

fn curl(args: &[&str]) -> e2e::Run {
    run(Command::new("curl").args(["-sS", "--max-time", "60"]).args(args))
}

/// The real client against `endpoint`: every call the suite checks, as one JSON document.
const CLIENT: &str = include_str!("hf_client.py");

fn client(endpoint: &str, hf_home: &Path) -> serde_json::Value {
    hf_python(CLIENT, &[REPO], endpoint, hf_home).ok().json()
}

#[test]
fn hf_models_reach_huggingface_hub_through_the_gap() {
    let gap = Gap::new();
    let (repo, shas) = upstream_repo(&gap.path("upstream"));
    let hub = StandinHub::start(&[repo], &HubOptions { page_size: Some(2), drop_once: vec!["model.safetensors".into()], ..Default::default() });

    let m = manifest(&gap, "hfdemo", &hub.url(), REPO, "main");
    gap.lock(&m).ok();
    let lock: toml::Value = toml::from_str(&std::fs::read_to_string(gap.lock_file()).unwrap()).unwrap();
    let models = lock["model"].as_array().unwrap();
    let locked: Vec<&str> = models.iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(locked, KEPT, "include/exclude chose the files:\n{lock}");
    for e in models {
        assert_eq!((e["kind"].as_str(), e["commit"].as_str(), e["revision"].as_str()), (Some("hf"), Some(COMMIT), Some("main")));
        let path = e["path"].as_str().unwrap();
        assert_eq!(e["lfs"].as_bool(), Some(path.ends_with(".safetensors")), "{path}");
        let want = &shas.iter().find(|(p, _)| p == path).unwrap().1;
        assert_eq!(e["sha256"].as_str().unwrap(), format!("sha256:{want}"), "{path} pinned by upstream's sha256");
    }
    assert!(lock.get("hf_request").is_some());

    let bundle = gap.create(&m, "hf.bundle", &["--locked"]);
    gap.verify(&bundle).ok();
    let inspect = gap.inspect(&bundle);
    let art = inspect["artifacts"].as_array().unwrap().iter().find(|a| a["kind"] == "hf").expect("an hf artifact");
    assert_eq!(art["ref"].as_str().unwrap(), format!("hf/{REPO}@{COMMIT}"));
    assert_eq!(art["platforms"][0]["layers"].as_array().unwrap().len(), KEPT.len(), "one layer per file");
    // The tree was read page by page, and the dropped LFS download was resumed with Range.
    let reqs = hub.requests();
    assert!(reqs.iter().any(|r| r.contains("/tree/") && r.contains("cursor=")), "tree pagination followed: {reqs:#?}");
    let sha_model = &shas.iter().find(|(p, _)| p == "model.safetensors").unwrap().1;
    assert!(reqs.iter().any(|r| r.contains(&format!("/lfs-cdn/{sha_model}")) && r.contains("range=bytes=")), "resumed with Range: {reqs:#?}");
    // The stand-in answers the real client as the hub does (LFS through the CDN redirect).
    let direct = client(&hub.url(), &gap.path("hf-direct"));
    assert_eq!(direct["files"].as_object().unwrap().len(), files().len(), "{direct}");
    assert_eq!(direct["sha"], COMMIT);
    drop(hub); // the gap: nothing upstream from here on

    gap.import(&bundle).ok();
    // gc must count the model's files (and the artifact's own manifest) as referenced.
    let gc = gap.mirror(&["gc", "--store", gap.store().to_str().unwrap(), "--json"]).ok();
    assert_eq!(gc.json()["removed"].as_array().map(Vec::len), Some(0), "{}", gc.stdout);
    let mirror = Mirror::start_with_env(&gap.store(), &[], &[("MIRROR_HF_TREE_PAGE_SIZE", "3")]);
    let endpoint = mirror.url("/hf");
    let got = client(&endpoint, &gap.path("hf-home"));
    let served = got["files"].as_object().unwrap();
    let mut names: Vec<&str> = served.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, KEPT, "snapshot_download got exactly the bundled files (excluded ones absent)");
    for (path, sha) in served {
        assert_eq!(sha.as_str().unwrap(), shas.iter().find(|(p, _)| p == path).unwrap().1, "{path}: the mirror's bytes are upstream's");
    }
    assert_eq!(got["snapshot_commit"], COMMIT);
    assert_eq!(got["sha"], COMMIT);
    assert_eq!(got["config"].as_str().unwrap().as_bytes(), &files()[0].2[..]);
    assert_eq!(got["lfs_meta"]["commit"], COMMIT, "X-Repo-Commit is upstream's commit");
    assert_eq!(got["lfs_meta"]["etag"].as_str().unwrap(), sha_model, "an LFS file's ETag is its sha256");
    assert_eq!(got["lfs_meta"]["size"], 3 << 20);
    assert_eq!(got["git_meta"]["etag"], direct["git_meta"]["etag"], "a git file's ETag is its blob id, as upstream's");
    assert_eq!(got["siblings"].as_array().unwrap().len(), KEPT.len());
    assert_eq!(got["lfs_siblings"], serde_json::json!(["model.safetensors", "sub/extra.safetensors"]));
    assert_eq!(got["tree_root"], serde_json::json!(["1_Pooling", "config.json", "model.safetensors", "sub", "tokenizer.json", "vocab.txt"]));
    assert_eq!(got["tree_sub"], serde_json::json!(["sub/extra.safetensors"]));
    assert_eq!(got["errors"], serde_json::json!({"entry": "RemoteEntryNotFoundError", "revision": "RevisionNotFoundError", "repo": "RepositoryNotFoundError"}));
    assert_eq!(got["errors"], direct["errors"], "the mirror fails as upstream does");

    // The hub's headers and Range, seen by curl; the tree pages by Link.
    let url = mirror.url(&format!("/hf/{REPO}/resolve/main/model.safetensors"));
    let head = curl(&["-fI", &url]).ok().stdout.to_lowercase();
    for h in [
        format!("x-repo-commit: {COMMIT}"),
        format!("etag: \"{sha_model}\""),
        format!("x-linked-etag: \"{sha_model}\""),
        format!("x-linked-size: {}", 3 << 20),
        "accept-ranges: bytes".into(),
    ] {
        assert!(head.contains(&h), "HEAD lacks {h}:\n{head}");
    }
    let part = curl(&["-f", "-r", "10-19", "-o", "-", "-w", "\n%{http_code}", &url]).ok();
    assert!(part.stdout.ends_with("\n206"), "{}", part.stdout);
    let page = curl(&["-fi", &mirror.url(&format!("/hf/api/models/{REPO}/tree/main?recursive=true"))]).ok().stdout;
    assert!(page.to_lowercase().contains(&format!("link: <http://{}/hf/api/models/{REPO}/tree/main?recursive=true&expand=false&cursor=3>; rel=\"next\"", mirror.host)), "{page}");
    // Behind a TLS-terminating proxy the next page is announced as clients reach it.
    let proxied = curl(&["-fi", "-H", "X-Forwarded-Proto: https", "-H", "X-Forwarded-Host: models.example", &mirror.url(&format!("/hf/api/models/{REPO}/tree/main"))]).ok().stdout;
    assert!(proxied.to_lowercase().contains(&format!("link: <https://models.example/hf/api/models/{REPO}/tree/main?recursive=false&expand=false&cursor=3>")), "{proxied}");
    let home = curl(&["-f", &mirror.url("/")]).ok().stdout;
    assert!(home.contains(REPO) && home.contains(COMMIT), "/ lists the model: {home}");
    let cfg = gap.mirror(&["client-config", "hf", "--url", &mirror.url("")]).ok().stdout;
    assert!(cfg.contains(&format!("export HF_ENDPOINT={endpoint}\n")) && cfg.contains("HF_HUB_OFFLINE"), "{cfg}");
    gap.mirror(&["client-config", "hf", "--url", &mirror.url(""), "--out", gap.path("cc").to_str().unwrap()]).ok();
    assert_eq!(std::fs::read_to_string(gap.path("cc/hf/hf.env")).unwrap(), cfg, "--out writes what it prints");
}

/// A file whose upstream bytes differ from what the hub's tree says, a revision or repository
/// that does not exist: refused, naming it, with nothing written.
#[test]
fn bad_upstream_is_refused() {
    let gap = Gap::new();
    let (repo, _) = upstream_repo(&gap.path("upstream"));
    let hub = StandinHub::start(&[repo], &HubOptions { bad_bytes: vec!["model.safetensors".into()], ..Default::default() });
    let out = gap.path("bad.bundle");

    // LFS: the tree's sha256 is locked without a download; the bytes fail it while streaming.
    let m = manifest(&gap, "bad", &hub.url(), REPO, "main");
    let r = gap.try_create(&m, &out, &gap.key(), &[]).fails();
    let e = r.stderr.to_lowercase();
    assert!(e.contains("model.safetensors") && e.contains("sha256") && e.contains(REPO), "names the file: {}", r.stderr);
    assert!(!out.exists(), "no bundle written");
    // The same under --locked (the failed create wrote the lock: it resolved fine).
    let r = gap.try_create(&m, &out, &gap.key(), &["--locked"]).fails();
    assert!(r.stderr.contains("model.safetensors") && r.stderr.contains("sha256"), "{}", r.stderr);
    assert!(!out.exists());
    // A changed hf entry is not taken from the lock under --locked.
    let m2 = gap.write("bad.yaml", &std::fs::read_to_string(&m).unwrap().replace("training_*", "training_args*"));
    gap.try_create(&m2, &out, &gap.key(), &["--locked"]).fails_with(&["--locked", "hf:", "bundler lock"]);
    drop(hub);

    // A git-stored file: its blob id is checked when it is locked.
    let (repo, _) = upstream_repo(&gap.path("upstream"));
    let hub = StandinHub::start(&[repo], &HubOptions { bad_bytes: vec!["config.json".into()], ..Default::default() });
    let m = manifest(&gap, "badgit", &hub.url(), REPO, "main");
    std::fs::remove_file(gap.lock_file()).ok();
    let r = gap.lock(&m).fails();
    assert!(r.stderr.contains("config.json") && r.stderr.contains("git blob id"), "{}", r.stderr);
    assert!(!gap.lock_file().exists(), "no lock written");

    // Unknown revision and repository, named.
    let m = manifest(&gap, "norev", &hub.url(), REPO, "v9.9");
    let r = gap.try_create(&m, &out, &gap.key(), &[]).fails();
    assert!(r.stderr.contains("v9.9") && r.stderr.contains(REPO) && r.stderr.contains("revision"), "{}", r.stderr);
    let m = manifest(&gap, "norepo", &hub.url(), "nobody/nothing", "main");
    let r = gap.try_create(&m, &out, &gap.key(), &[]).fails();
    assert!(r.stderr.contains("nobody/nothing") && r.stderr.contains("no such repository"), "{}", r.stderr);
    assert!(!out.exists() && !gap.lock_file().exists());
}

/// A gated repository: refused without HF_TOKEN (naming it); with it the bearer token reaches the
/// hub but not the CDN the LFS files are redirected to.
#[test]
fn gated_model_needs_hf_token() {
    let gap = Gap::new();
    let (repo, _) = upstream_repo(&gap.path("upstream"));
    let hub = StandinHub::start(&[repo], &HubOptions { token: Some("hf_e2eSecret".into()), ..Default::default() });
    let m = manifest(&gap, "gated", &hub.url(), REPO, "main");
    let (s, out) = (|p: &Path| p.display().to_string(), gap.path("gated.bundle"));
    let args = ["create", &s(&m), "--key", &s(&gap.key()), "--out", &s(&out), "--lock", &s(&gap.lock_file())];
    let r = gap.bundler_env(&args, &[("HF_TOKEN", "")]).fails();
    assert!(r.stderr.contains("gated") && r.stderr.contains("HF_TOKEN") && r.stderr.contains(REPO), "{}", r.stderr);
    assert!(!out.exists());
    let before = hub.requests().len();
    gap.bundler_env(&args, &[("HF_TOKEN", "hf_e2eSecret")]).ok();
    let reqs = hub.requests().split_off(before);
    let cdn = format!("port={}", hub.cdn_port);
    assert!(reqs.iter().filter(|r| r.contains("/api/models/")).all(|r| r.contains("auth=yes")), "{reqs:#?}");
    assert!(reqs.iter().any(|r| r.ends_with(&cdn)) && reqs.iter().filter(|r| r.ends_with(&cdn)).all(|r| r.contains("auth=no")), "the token stays on the hub: {reqs:#?}");
}

/// A 3 GiB LFS file (sparse upstream) is bundled, imported and served with flat memory: peak
/// RSS of `bundler create`, `mirror import` and `mirror serve` stays far below the file size.
#[test]
fn multi_gigabyte_model_with_flat_memory() {
    const SIZE: u64 = 3 << 30;
    const RSS_LIMIT_KIB: u64 = 200 << 10;
    let gap = Gap::new();
    let up = gap.path("upstream");
    std::fs::create_dir_all(&up).unwrap();
    let big = up.join("model.safetensors");
    run(Command::new("truncate").args(["-s", &SIZE.to_string()]).arg(&big)).ok();
    std::fs::write(up.join("config.json"), b"{\"model_type\": \"big\"}").unwrap();
    let sum = run(Command::new("sha256sum").arg(&big)).ok().stdout.split_whitespace().next().unwrap().to_string();
    let repo = HubRepo {
        id: "demo/big".into(),
        commit: COMMIT.into(),
        files: vec![
            HubFile { path: "config.json".into(), local: up.join("config.json"), lfs: false, sha256: None },
            HubFile { path: "model.safetensors".into(), local: big.clone(), lfs: true, sha256: Some(sum.clone()) },
        ],
    };
    let hub = StandinHub::start(&[repo], &HubOptions::default());
    let m = gap.write("big.yaml", &format!("name: big\nmodels:\n  - {{hf: demo/big, endpoint: {:?}}}\n", hub.url()));
    let bundle = gap.path("big.bundle");
    let cache = gap.path("cache");
    let s = |p: &Path| p.display().to_string();
    let (r, create_kib) = with_peak_rss(
        &bin("bundler"),
        // zstd (the default) turns the zeros into a small bundle: the disk holds one 3 GiB copy
        // at a time, and import streams through the decompressor.
        &["create", &s(&m), "--key", &s(&gap.key()), "--out", &s(&bundle), "--lock", &s(&gap.lock_file())],
        &[("BUNDLER_CACHE", &cache), ("BUNDLER_KEY_PASSWORD", Path::new(e2e::KEY_PASSWORD))],
        gap.dir.path(),
    );
    r.ok();
    drop(hub);
    // The cache's copy is not needed any more.
    std::fs::remove_dir_all(&cache).unwrap();
    let (r, import_kib) = with_peak_rss(&bin("mirror"), &["import", &s(&bundle), "--store", &s(&gap.store()), "--trust", &s(&gap.public())], &[], gap.dir.path());
    r.ok();
    std::fs::remove_file(&bundle).unwrap();

    let mirror = Mirror::start(&gap.store());
    let url = mirror.url("/hf/demo/big/resolve/main/model.safetensors");
    let got = run(Command::new("sh").args(["-c", &format!("curl -sSf --max-time 300 '{url}' | sha256sum")])).ok();
    assert_eq!(got.stdout.split_whitespace().next(), Some(sum.as_str()), "served bytes are upstream's");
    let serve_kib = vm_hwm_kib(mirror.server.pid());
    eprintln!("peak RSS (KiB) for a {SIZE}-byte model: bundler create {create_kib}, mirror import {import_kib}, mirror serve {serve_kib}");
    for (what, kib) in [("bundler create", create_kib), ("mirror import", import_kib), ("mirror serve", serve_kib)] {
        assert!(kib > 0 && kib < RSS_LIMIT_KIB, "{what}: peak RSS {kib} KiB (limit {RSS_LIMIT_KIB} KiB)");
    }
}
