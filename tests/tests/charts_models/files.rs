//! Issue 5, raw files: an URL + sha256 in the manifest, fetched from a static server, bundled,
//! imported and served at `/files/<name>` to curl (whole, HEAD, Range); a wrong sha256 and an
//! unreachable upstream refused with nothing bundled. Issue 7: the sha256 read from a release's
//! published checksum list (RKE2's `sha256sum-amd64.txt`) or pinned on first use, then held by
//! the lock.

use std::path::Path;
use std::process::Command;

use e2e::{run, sha256, Gap, Mirror, StaticServer};

fn manifest(gap: &Gap, name: &str, entries: &[(String, String, Option<&str>)]) -> std::path::PathBuf {
    let mut y = format!("name: {name}\nfiles:\n");
    for (url, sha, n) in entries {
        y.push_str(&format!("  - {{url: {url:?}, sha256: {sha:?}"));
        if let Some(n) = n {
            y.push_str(&format!(", name: {n:?}"));
        }
        y.push_str("}\n");
    }
    gap.write(&format!("{name}.yaml"), &y)
}

fn curl(args: &[&str]) -> e2e::Run {
    run(Command::new("curl").args(["-sS", "--max-time", "30"]).args(args))
}

fn upstream(dir: &Path) -> (StaticServer, Vec<u8>, Vec<u8>) {
    std::fs::create_dir_all(dir).unwrap();
    let big = e2e::payload(6 << 20, 1);
    let script = b"#!/bin/sh\necho installing\n".to_vec();
    std::fs::write(dir.join("rke2-images.linux-amd64.tar.zst"), &big).unwrap();
    std::fs::write(dir.join("install.sh"), &script).unwrap();
    (StaticServer::start(dir), big, script)
}

#[test]
fn files_reach_curl_through_the_gap() {
    let gap = Gap::new();
    let (srv, big, script) = upstream(&gap.path("upstream"));
    let m = manifest(
        &gap,
        "rke2",
        &[(format!("{}rke2-images.linux-amd64.tar.zst", srv.url()), sha256(&big), None), (format!("{}install.sh", srv.url()), sha256(&script), Some("rke2-install.sh"))],
    );
    gap.lock(&m).ok();
    let lock = std::fs::read_to_string(gap.lock_file()).unwrap();
    assert!(lock.contains("[[file]]") && lock.contains(&format!("size = {}", big.len())), "the lock pins each file with its size:\n{lock}");
    let bundle = gap.create(&m, "rke2.bundle", &["--locked"]);
    gap.verify(&bundle).ok();
    drop(srv); // the gap: nothing upstream from here on
    gap.import(&bundle).ok();
    let mirror = Mirror::start(&gap.store());

    let out = gap.path("got.tar.zst");
    curl(&["-f", "-o", out.to_str().unwrap(), &mirror.url("/files/rke2-images.linux-amd64.tar.zst")]).ok();
    assert_eq!(sha256(&std::fs::read(&out).unwrap()), sha256(&big), "served bytes equal upstream's");
    let got = curl(&["-f", &mirror.url("/files/rke2-install.sh")]).ok();
    assert_eq!(got.stdout.as_bytes(), &script[..], "named file served under its name");

    let head = curl(&["-fI", &mirror.url("/files/rke2-images.linux-amd64.tar.zst")]).ok();
    let h = head.stdout.to_lowercase();
    assert!(h.contains(&format!("content-length: {}", big.len())) && h.contains("accept-ranges: bytes"), "{}", head.stdout);
    // A resumed download: the tail from a Range request completes a truncated copy.
    let part = gap.path("part.tar.zst");
    std::fs::write(&part, &big[..1_000_000]).unwrap();
    curl(&["-f", "-C", "-", "-o", part.to_str().unwrap(), &mirror.url("/files/rke2-images.linux-amd64.tar.zst")]).ok();
    assert_eq!(sha256(&std::fs::read(&part).unwrap()), sha256(&big), "curl -C - resumes from the mirror");

    let listing: serde_json::Value = serde_json::from_str(&curl(&["-f", &mirror.url("/files/")]).ok().stdout).unwrap();
    let names: Vec<&str> = listing["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["rke2-images.linux-amd64.tar.zst", "rke2-install.sh"]);
    assert_eq!(listing["files"][0]["sha256"].as_str().unwrap(), sha256(&big).trim_start_matches("sha256:"));
    let missing = curl(&["-o", "/dev/null", "-w", "%{http_code}", &mirror.url("/files/nope.bin")]);
    assert_eq!(missing.stdout.trim(), "404");
}

#[test]
fn wrong_sha256_is_refused_with_nothing_bundled() {
    let gap = Gap::new();
    let (srv, big, _) = upstream(&gap.path("upstream"));
    let wrong = sha256(&big[1..]);
    let m = manifest(&gap, "bad", &[(format!("{}rke2-images.linux-amd64.tar.zst", srv.url()), wrong.clone(), None)]);
    let r = gap.lock(&m).fails();
    let e = r.stderr.to_lowercase();
    assert!(e.contains("rke2-images.linux-amd64.tar.zst") && e.contains("sha256") && e.contains(wrong.trim_start_matches("sha256:")), "{}", r.stderr);
    assert!(!gap.lock_file().exists(), "no lock written");
    let out = gap.path("bad.bundle");
    gap.try_create(&m, &out, &gap.key(), &[]).fails();
    assert!(!out.exists(), "no bundle written");
}

#[test]
fn unreachable_upstream_is_named() {
    let gap = Gap::new();
    let port = e2e::free_port();
    let url = format!("http://127.0.0.1:{port}/missing.bin");
    let m = manifest(&gap, "down", &[(url.clone(), sha256(b"x"), None)]);
    let out = gap.path("down.bundle");
    let r = gap.try_create(&m, &out, &gap.key(), &["--retries", "2"]).fails();
    assert!(r.stderr.contains(&url), "the error names the URL: {}", r.stderr);
    assert!(r.stderr.contains("on each of 2 tries") && r.stderr.contains("--retries"), "a refused connection is tried again, then named: {}", r.stderr);
    assert!(!out.exists());
}

#[test]
fn checksum_list_and_first_use_pins_are_held_by_the_lock() {
    let gap = Gap::new();
    let dir = gap.path("upstream");
    let (srv, big, script) = upstream(&dir);
    // The list as RKE2 publishes it: `sha256sum` output, other artifacts listed too.
    let other = "0".repeat(64);
    let list = format!("{other}  rke2.linux-amd64.tar.gz\n{}  rke2-images.linux-amd64.tar.zst\n", sha256(&big).trim_start_matches("sha256:"));
    std::fs::write(dir.join("sha256sum-amd64.txt"), &list).unwrap();
    let y = format!(
        "name: rke2\nfiles:\n  - {{url: '{u}rke2-images.linux-amd64.tar.zst', checksums: '{u}sha256sum-amd64.txt'}}\n  - {{url: '{u}install.sh', trust_on_first_use: true}}\n",
        u = srv.url()
    );
    let m = gap.write("rke2.yaml", &y);
    gap.lock(&m).ok();
    let lock = std::fs::read_to_string(gap.lock_file()).unwrap();
    for d in [sha256(&big), sha256(&script)] {
        assert!(lock.contains(&d), "the lock pins {d}:\n{lock}");
    }
    // Upstream changes after the lock: the lock, not the new bytes or list, decides.
    std::fs::write(dir.join("install.sh"), b"#!/bin/sh\necho replaced\n").unwrap();
    std::fs::write(dir.join("sha256sum-amd64.txt"), format!("{}  rke2-images.linux-amd64.tar.zst\n", "1".repeat(64))).unwrap();
    let r = gap.try_create(&m, &gap.path("drift.bundle"), &gap.key(), &["--locked", "--cache", gap.path("fresh-cache").to_str().unwrap()]).fails();
    assert!(r.stderr.contains("install.sh") && r.stderr.contains(&sha256(&script)[7..]), "a changed script is refused against the locked digest: {}", r.stderr);
    std::fs::write(dir.join("install.sh"), &script).unwrap();
    let bundle = gap.create(&m, "rke2.bundle", &["--locked", "--cache", gap.path("fresh-cache").to_str().unwrap()]);
    drop(srv);
    gap.import(&bundle).ok();
    let mirror = Mirror::start(&gap.store());
    let got = curl(&["-f", &mirror.url("/files/install.sh")]).ok();
    assert_eq!(got.stdout.as_bytes(), &script[..]);
    let out = gap.path("got.tar.zst");
    curl(&["-f", "-o", out.to_str().unwrap(), &mirror.url("/files/rke2-images.linux-amd64.tar.zst")]).ok();
    assert_eq!(sha256(&std::fs::read(&out).unwrap()), sha256(&big));
}

#[test]
fn a_file_missing_from_its_checksum_list_is_refused() {
    let gap = Gap::new();
    let dir = gap.path("upstream");
    let (srv, _, _) = upstream(&dir);
    std::fs::write(dir.join("sha256sum-amd64.txt"), format!("{}  rke2.linux-amd64.tar.gz\n", "0".repeat(64))).unwrap();
    let y = format!("name: rke2\nfiles:\n  - {{url: '{u}rke2-images.linux-amd64.tar.zst', checksums: '{u}sha256sum-amd64.txt'}}\n", u = srv.url());
    let m = gap.write("rke2.yaml", &y);
    let r = gap.lock(&m).fails();
    assert!(r.stderr.contains("sha256sum-amd64.txt") && r.stderr.contains("no sha256 line for rke2-images.linux-amd64.tar.zst"), "{}", r.stderr);
    assert!(!gap.lock_file().exists());
    // Two pins for one file is a manifest error naming the file and line.
    let m = gap.write("two.yaml", &format!("files:\n  - {{url: '{}x', sha256: '{}', trust_on_first_use: true}}\n", srv.url(), "a".repeat(64)));
    let r = gap.lock(&m).fails();
    assert!(r.stderr.contains("two.yaml") && r.stderr.contains("exactly one of"), "{}", r.stderr);
}

/// Issue 20, retries: behind a proxy that answers 503 with `Retry-After: 1`, then 429 without
/// it, then drops the connection 1 MiB into the file, `lock` and `create` still get the
/// upstream's bytes (tried again, with backoff, naming each failure), and the bundle serves
/// them. An upstream that keeps answering 503 is given up after `--retries` tries, named with
/// its status and the flags that wait longer, and no bundle is written.
#[test]
fn transient_failures_are_tried_again_then_named() {
    let gap = Gap::new();
    let (srv, big, _) = upstream(&gap.path("upstream"));
    let proxy = e2e::fault::FaultProxy::start(&format!("127.0.0.1:{}", srv.port));
    proxy
        .then("rke2-images", e2e::fault::Fault::Status(503, Some(1)))
        .then("rke2-images", e2e::fault::Fault::Status(429, None))
        .then("rke2-images", e2e::fault::Fault::DropAfter(1 << 20));
    let url = format!("{}rke2-images.linux-amd64.tar.zst", proxy.url());
    let m = manifest(&gap, "flaky", &[(url.clone(), sha256(&big), None)]);
    let lock = gap.lock(&m).ok();
    let out = gap.path("flaky.bundle");
    let r = gap.try_create(&m, &out, &gap.key(), &[]).ok();
    let said = format!("{}{}", lock.stderr, r.stderr);
    assert!(said.contains("HTTP 503; trying again in 1.0s") && said.contains("HTTP 429; trying again"), "{said}");
    let tries = proxy.requests().len();
    assert!((4..=6).contains(&tries), "503, 429, the dropped one and the whole file (the lock may fetch too): {:?}", proxy.requests());
    assert!(proxy.relayed() <= 2 * big.len() as u64 + (1 << 20) + 4096, "relayed {} bytes for a {}-byte file", proxy.relayed(), big.len());
    gap.import(&out).ok();
    let mirror = Mirror::start(&gap.store());
    let got = gap.path("got");
    curl(&["-f", "-o", got.to_str().unwrap(), &mirror.url("/files/rke2-images.linux-amd64.tar.zst")]).ok();
    assert_eq!(sha256(&std::fs::read(&got).unwrap()), sha256(&big), "the upstream's bytes, whole");

    // Always 503: given up after 3 tries, named; nothing written.
    let down = e2e::fault::FaultProxy::start(&format!("127.0.0.1:{}", srv.port));
    for _ in 0..10 {
        down.then("rke2-images", e2e::fault::Fault::Status(503, Some(0)));
    }
    let gap2 = Gap::new();
    let url = format!("{}rke2-images.linux-amd64.tar.zst", down.url());
    let m = manifest(&gap2, "down", &[(url.clone(), sha256(&big), None)]);
    let out = gap2.path("down.bundle");
    let r = gap2.try_create(&m, &out, &gap2.key(), &["--retries", "3"]).fails();
    assert!(r.stderr.contains(&url) && r.stderr.contains("HTTP 503 on each of 3 tries") && r.stderr.contains("--retry-for"), "{}", r.stderr);
    assert_eq!(down.requests().len(), 3, "{:?}", down.requests());
    assert!(!out.exists());
}

/// Issue 20, continue on error and per-upstream limits: of five files behind one upstream, one
/// answers 404 and one arrives with a flipped byte. `create --per-upstream 2` fetches the other
/// three (never more than two requests at once), then fails naming both, with the URL, and for
/// the wrong byte both digests, and writes no bundle; the wrong bytes are not tried again into
/// the cache. The next run asks only for those two, whole.
#[test]
fn each_failed_file_is_named_and_the_others_are_kept() {
    use e2e::fault::{Fault, FaultProxy};
    let gap = Gap::new();
    let dir = gap.path("upstream");
    std::fs::create_dir_all(&dir).unwrap();
    let names = ["a.bin", "b.bin", "c.bin", "d.bin", "e.bin"];
    let data: Vec<Vec<u8>> = (0..names.len()).map(|i| e2e::payload(256 << 10, 10 + i as u8)).collect();
    for (n, d) in names.iter().zip(&data) {
        std::fs::write(dir.join(n), d).unwrap();
    }
    let srv = StaticServer::start(&dir);
    let proxy = FaultProxy::start(&format!("127.0.0.1:{}", srv.port));
    let entries: Vec<(String, String, Option<&str>)> = names.iter().zip(&data).map(|(n, d)| (format!("{}{n}", proxy.url()), sha256(d), None)).collect();
    let m = manifest(&gap, "several", &entries);
    let lock = gap.lock_file().display().to_string();
    gap.bundler(&["lock", m.to_str().unwrap(), "--lock", &lock, "--per-upstream", "2"]).ok();
    for n in ["a.bin", "b.bin", "e.bin"] {
        proxy.then(n, Fault::Delay(400));
    }
    proxy.then("c.bin", Fault::Status(404, None)).then("d.bin", Fault::Corrupt(100_000));
    let out = gap.path("several.bundle");
    let cache = gap.path("cache2").display().to_string();
    let before = proxy.requests().len();
    let r = gap.try_create(&m, &out, &gap.key(), &["--locked", "--cache", &cache, "--per-upstream", "2"]).fails();
    assert!(r.stderr.contains("2 artifacts could not be fetched"), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("{}c.bin", proxy.url())) && r.stderr.contains("404"), "{}", r.stderr);
    let d_sha = sha256(&data[3]);
    assert!(r.stderr.contains(&format!("{}d.bin", proxy.url())) && r.stderr.contains(&d_sha[7..]), "{}", r.stderr);
    let line = r.stderr.lines().find(|l| l.contains("d.bin")).unwrap_or_default();
    let hexes: std::collections::BTreeSet<&str> = line.split(|c: char| !c.is_ascii_hexdigit()).filter(|w| w.len() == 64).collect();
    assert_eq!(hexes.len(), 2, "the line names the locked and the received digest: {line}");
    assert!(!r.stderr.contains("a.bin") && !r.stderr.contains("e.bin"), "{}", r.stderr);
    assert!(!out.exists(), "no bundle after a failure");
    let first: Vec<String> = proxy.requests()[before..].to_vec();
    assert_eq!(first.iter().filter(|p| p.contains("d.bin")).count(), 1, "wrong bytes are not tried again: {first:?}");
    assert_eq!(proxy.most_in_flight(), 2, "--per-upstream 2: two at once, never more");

    let before = proxy.requests().len();
    gap.try_create(&m, &out, &gap.key(), &["--locked", "--cache", &cache]).ok();
    let mut second: Vec<String> = proxy.requests()[before..].to_vec();
    second.sort();
    assert_eq!(second, ["/c.bin", "/d.bin"], "only the two that failed, once each");
    assert!(!proxy.ranged().iter().any(|r| r.contains("d.bin")), "bytes that hashed wrong are not resumed: {:?}", proxy.ranged());
    gap.import(&out).ok();
}

/// The two upstream files behind a fault proxy, in manifest `name`, locked: (server, proxy,
/// manifest, the big file, the script).
fn proxied(gap: &Gap, name: &str) -> (StaticServer, e2e::fault::FaultProxy, std::path::PathBuf, Vec<u8>, Vec<u8>) {
    let (srv, big, script) = upstream(&gap.path("upstream"));
    let proxy = e2e::fault::FaultProxy::start(&format!("127.0.0.1:{}", srv.port));
    let m = manifest(gap, name, &[(format!("{}rke2-images.linux-amd64.tar.zst", proxy.url()), sha256(&big), None), (format!("{}install.sh", proxy.url()), sha256(&script), None)]);
    gap.lock(&m).ok();
    (srv, proxy, m, big, script)
}

/// A tmpfs of `size` mounted at `dir` (root only), unmounted on drop; `None` where mounting is
/// not allowed.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir).status().map(|s| s.success()).unwrap_or(false);
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Issue 20, the plan: `create --dry-run` says per kind what is cached, what it would download
/// and what a `--have` delta leaves out, with the free space, and fetches nothing (no key is
/// read). A cache on a filesystem too small for the download is refused before a byte of the
/// file is fetched, naming what is needed and what is free.
#[test]
fn dry_run_plans_and_a_full_disk_is_refused_up_front() {
    let gap = Gap::new();
    let (_srv, proxy, m, big, script) = proxied(&gap, "plan");
    let (ms, lock) = (m.display().to_string(), gap.lock_file().display().to_string());
    let plan = |extra: &[&str]| {
        let out = gap.path("media/plan.bundle").display().to_string();
        let mut args = vec!["create", &ms, "--key", "/nonexistent/bundle.key", "--out", &out, "--lock", &lock, "--locked", "--dry-run"];
        args.extend_from_slice(extra);
        gap.bundler(&args).ok()
    };
    let before = proxy.requests().len();
    let fresh = gap.path("fresh").display().to_string();
    let p = plan(&["--cache", &fresh, "--json"]).json();
    let files = p["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == "files").unwrap_or_else(|| panic!("{p}")).clone();
    assert_eq!((files["files"].as_u64(), files["cached"].as_u64()), (Some(2), Some(0)), "{p}");
    assert_eq!(p["download_bytes"].as_u64(), Some((big.len() + script.len()) as u64), "{p}");
    assert!(p["write_bytes"].as_u64().unwrap() >= (big.len() + script.len()) as u64 && p["cache_free"].as_u64().unwrap() > 0, "{p}");
    assert_eq!(proxy.requests().len(), before, "a dry run fetches nothing: {:?}", proxy.requests());
    assert!(!gap.path("media").exists(), "nor makes the bundle's directory");

    // The lock's cache holds both; a mirror that imported them makes a delta leave both out.
    let bundle = gap.create(&m, "plan.bundle", &["--locked"]);
    gap.import(&bundle).ok();
    let inv = gap.mirror(&["inventory", "--store", gap.store().to_str().unwrap()]).ok();
    let have = gap.write("have.json", &inv.stdout);
    let text = plan(&["--have", have.to_str().unwrap()]).stdout;
    assert!(text.contains("2 cached") && text.contains("0 bytes to download") && text.contains("2 (6.0 MiB) left out"), "{text}");

    // A 1 MiB filesystem for the cache: refused before the 6 MiB file is asked for.
    let Some(_small) = Tmpfs::mount(&gap.path("small"), "1m") else {
        eprintln!("SKIPPED the full-disk half: cannot mount a tmpfs here (needs root)");
        return;
    };
    let small = gap.path("small/cache").display().to_string();
    let before = proxy.requests().len();
    let r = gap.try_create(&m, &gap.path("full.bundle"), &gap.key(), &["--locked", "--cache", &small]).fails();
    assert!(r.stderr.contains("not enough disk space") && r.stderr.contains(&small) && r.stderr.contains("6.0 MiB") && r.stderr.contains("free"), "{}", r.stderr);
    assert!(!proxy.requests()[before..].iter().any(|p| p.contains("rke2-images")), "{:?}", proxy.requests());
    assert!(!gap.path("full.bundle").exists());
}

/// Issue 20, progress: without a terminal `create` prints a line per kind of artifact every few
/// seconds (bytes done of the total, rate, ETA), then for the bundle being written, and with
/// `--json` JSON events on stderr — the plan, progress, each kind fetched and the bundle written
/// with done equal to total — while stdout keeps the one summary document.
#[test]
fn progress_is_told_per_kind_in_lines_and_events() {
    use e2e::fault::Fault;
    let gap = Gap::new();
    let (_srv, proxy, m, big, script) = proxied(&gap, "told");
    let total = (big.len() + script.len()) as u64;
    let create = |cache: &str, out: &str, json: bool| {
        proxy.then("rke2-images", Fault::Delay(1200));
        let (ms, k, o, l, c) = (
            m.display().to_string(),
            gap.key().display().to_string(),
            gap.path(out).display().to_string(),
            gap.lock_file().display().to_string(),
            gap.path(cache).display().to_string(),
        );
        let mut args = vec!["create", &ms, "--key", &k, "--out", &o, "--lock", &l, "--locked", "--cache", &c];
        if json {
            args.push("--json");
        }
        gap.bundler_env(&args, &[("BUNDLER_PROGRESS_SECONDS", "0.3")]).ok()
    };

    let r = create("c1", "a.bundle", true);
    assert!(r.json()["bundle"].as_str().is_some_and(|b| b.ends_with("a.bundle")), "stdout is the summary: {}", r.stdout);
    let events: Vec<serde_json::Value> = r.stderr.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let of = |name: &str| events.iter().filter(|e| e["event"] == name).cloned().collect::<Vec<_>>();
    assert_eq!(of("plan").len(), 1, "{}", r.stderr);
    assert_eq!(of("plan")[0]["plan"]["download_bytes"].as_u64(), Some(total), "{}", r.stderr);
    let progress = of("progress");
    assert!(!progress.is_empty() && progress.iter().all(|e| e["kind"] == "files" && e["done"].as_u64() <= e["total"].as_u64()), "{}", r.stderr);
    let fetched = of("fetched");
    assert_eq!(fetched.len(), 1, "{}", r.stderr);
    assert_eq!((fetched[0]["kind"].as_str(), fetched[0]["done"].as_u64(), fetched[0]["total"].as_u64()), (Some("files"), Some(total), Some(total)), "{}", r.stderr);
    let written = of("written");
    assert!(written.len() == 1 && written[0]["kind"] == "bundle" && written[0]["done"] == written[0]["total"], "{}", r.stderr);

    let r = create("c2", "b.bundle", false);
    assert!(r.stderr.contains("2 files, 6.0 MiB: 0 cached, 6.0 MiB to download"), "{}", r.stderr);
    assert!(r.stderr.contains("fetching files: ") && r.stderr.contains("fetched files: 6.0 MiB of 6.0 MiB (100%)"), "{}", r.stderr);
    assert!(r.stderr.contains("wrote bundle: 6.0 MiB of 6.0 MiB (100%)"), "{}", r.stderr);
}

/// Issue 20, the cache is not trusted: a cached file damaged after it was verified (a disk
/// fault, a power cut) is caught by its digest when the bundle is written, named with its path,
/// removed, and fetched again by the next run; the bundle then carries the upstream's bytes.
#[test]
fn a_damaged_cache_blob_is_caught_and_fetched_again() {
    let gap = Gap::new();
    let (srv, big, _) = upstream(&gap.path("upstream"));
    let m = manifest(&gap, "damaged", &[(format!("{}rke2-images.linux-amd64.tar.zst", srv.url()), sha256(&big), None)]);
    gap.lock(&m).ok();
    let cached = gap.path(&format!("cache/blobs/sha256/{}", &sha256(&big)[7..]));
    let mut bytes = std::fs::read(&cached).unwrap();
    bytes[4096] ^= 0xff;
    std::fs::write(&cached, &bytes).unwrap();
    let out = gap.path("damaged.bundle");
    let r = gap.try_create(&m, &out, &gap.key(), &["--locked"]).fails();
    assert!(r.stderr.contains("is damaged") && r.stderr.contains(&sha256(&big)) && r.stderr.contains(cached.to_str().unwrap()), "{}", r.stderr);
    assert!(!out.exists() && !cached.exists(), "no bundle, and the damaged blob is gone");
    gap.try_create(&m, &out, &gap.key(), &["--locked"]).ok();
    assert_eq!(sha256(&std::fs::read(&cached).unwrap()), sha256(&big));
    gap.import(&out).ok();
}
