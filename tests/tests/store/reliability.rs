//! Issue 8, the reliability suite: real `mirror` processes killed mid-import and mid-gc, a store
//! on a full filesystem, hostile raw HTTP, and 500 concurrent clients followed by a graceful
//! shutdown. Every assertion is on bytes the mirror serves (status + sha256 of each body), on the
//! store's files and on `mirror verify`/`mirror inventory`.
//!
//! HTTP goes through the small client below over `std::net::TcpStream`: the point is to send
//! what client libraries would normalise away and to hold 500 keep-alive connections without
//! a dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{bin, free_port, http, payload, run, sha256, snapshot, BuiltImage, Gap, ImageBuilder, StaticServer};

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Every manifest type, so `/v2/…/manifests/…` answers with whatever is stored.
const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

// ---------------------------------------------------------------------------------------------
// Processes

/// `mirror serve`, started here rather than through `e2e::Mirror` because these tests need its
/// exit status and its pid; stopped (TERM, then KILL) on drop.
struct Serve {
    child: Child,
    host: String,
    log: PathBuf,
}

impl Serve {
    fn start(store: &Path) -> Serve {
        static N: AtomicU64 = AtomicU64::new(0);
        let log = store.with_extension(format!("serve-{}.log", N.fetch_add(1, Ordering::Relaxed)));
        for _ in 0..3 {
            let port = free_port();
            let out = File::create(&log).unwrap();
            let child = Command::new(bin("mirror"))
                .args(["serve", "--store", &s(store), "--listen", &format!("127.0.0.1:{port}")])
                .stdin(Stdio::null())
                .stdout(Stdio::from(out.try_clone().unwrap()))
                .stderr(Stdio::from(out))
                .spawn()
                .expect("start mirror serve");
            let mut serve = Serve { child, host: format!("127.0.0.1:{port}"), log: log.clone() };
            let deadline = Instant::now() + e2e::READY_WITHIN;
            loop {
                if http::get(&serve.host, "/healthz", &[]).is_ok_and(|r| r.status == 200) {
                    return serve;
                }
                if let Ok(Some(st)) = serve.child.try_wait() {
                    let text = serve.log_text();
                    if text.contains("in use") {
                        break;
                    }
                    panic!("mirror serve exited ({st}) before it was ready:\n{text}");
                }
                assert!(Instant::now() < deadline, "mirror serve not ready within {:?}:\n{}", e2e::READY_WITHIN, serve.log_text());
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("mirror serve: no free port after 3 attempts");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size, from /proc/PID/status.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS in /proc/PID/status");
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn signal(&self, sig: &str) {
        run(Command::new("kill").args([&format!("-{sig}"), &self.pid().to_string()])).ok();
    }

    fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        wait_exit(&mut self.child, within)
    }

    /// SIGTERM; the server must exit 0 within 10 s.
    fn stop(mut self) {
        self.signal("TERM");
        let st = self.wait_exit(Duration::from_secs(10));
        assert!(st.is_some_and(|st| st.success()), "mirror serve did not exit 0 on SIGTERM ({st:?}):\n{}", self.log_text());
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status();
            let _ = self.wait_exit(Duration::from_secs(3));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child's exit status once it exits, or `None` after `within`.
fn wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child killed with SIGKILL on drop (an importer or gc a test did not get to kill).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_mirror(args: &[&str], log: &Path) -> Proc {
    let out = File::create(log).unwrap();
    Proc(Command::new(bin("mirror")).args(args).stdin(Stdio::null()).stdout(Stdio::from(out.try_clone().unwrap())).stderr(Stdio::from(out)).spawn().expect("start mirror"))
}

fn copy_dir(from: &Path, to: &Path) {
    run(Command::new("cp").args(["-a", &s(from), &s(to)])).ok();
}

/// What is in STORE/tmp (staging of imports, temp files): empty after any import ended.
fn tmp_entries(store: &Path) -> Vec<String> {
    std::fs::read_dir(store.join("tmp")).map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
}

/// Entries of an uncompressed bundle: (name, offset of its data, size).
fn tar_entries(bundle: &Path) -> Vec<(String, usize, usize)> {
    let mut ar = tar::Archive::new(File::open(bundle).unwrap());
    ar.entries().unwrap().map(|e| e.unwrap()).map(|e| (e.path().unwrap().to_string_lossy().into_owned(), e.raw_file_position() as usize, e.size() as usize)).collect()
}

/// A FIFO's write end, opened without blocking (so a reader that never comes cannot hang the
/// test) and written without blocking, bounded by a deadline.
struct FifoWriter(File);

impl FifoWriter {
    fn open(path: &Path, within: Duration) -> FifoWriter {
        use std::os::unix::fs::OpenOptionsExt;
        const O_NONBLOCK: i32 = 0o4000;
        let deadline = Instant::now() + within;
        loop {
            // ENXIO until the reader has it open.
            match std::fs::OpenOptions::new().write(true).custom_flags(O_NONBLOCK).open(path) {
                Ok(f) => return FifoWriter(f),
                Err(e) => assert!(Instant::now() < deadline, "nobody opened {} for reading within {within:?}: {e}", path.display()),
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Write all of `data`; an error when the reader went away (or the deadline passed).
    fn feed(&mut self, mut data: &[u8], within: Duration) -> std::io::Result<()> {
        let deadline = Instant::now() + within;
        while !data.is_empty() {
            match self.0.write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the reader stopped reading"));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    run(Command::new("mkfifo").arg(path)).ok();
}

// ---------------------------------------------------------------------------------------------
// What a store serves

/// Status and body digest of every URL, and the store's inventory: two stores with equal
/// `Observed` serve the same state.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    served: BTreeMap<String, String>,
    inventory: serde_json::Value,
}

fn observe(gap: &Gap, serve: &Serve, store: &Path, urls: &[String]) -> Observed {
    let served = urls
        .iter()
        .map(|u| {
            let r = http::get(&serve.host, u, &[("Accept", ACCEPT_MANIFESTS)]).unwrap_or_else(|e| panic!("GET {u}: {e}\n{}", serve.log_text()));
            assert!(r.status < 500, "GET {u}: {}\n{}", r.status, String::from_utf8_lossy(&r.body));
            let digest = if r.status == 200 { sha256(&r.body) } else { String::new() };
            (u.clone(), format!("{} {digest}", r.status))
        })
        .collect();
    let inventory = gap.mirror(&["inventory", "--store", &s(store)]).ok().json();
    Observed { served, inventory }
}

/// The URLs where two observations differ, for a readable failure.
fn diff(got: &Observed, want: &Observed) -> String {
    let mut out = String::new();
    for (u, v) in &want.served {
        let g = got.served.get(u).map(String::as_str).unwrap_or("(not asked)");
        if g != v {
            out.push_str(&format!("  {u}: got {g}, want {v}\n"));
        }
    }
    if got.inventory != want.inventory {
        out.push_str(&format!("  inventory: got {}\n             want {}\n", got.inventory, want.inventory));
    }
    out
}

/// The blob files of a store, as `sha256:<hex>`.
fn blob_files(store: &Path) -> BTreeSet<String> {
    std::fs::read_dir(store.join("blobs/sha256")).unwrap().flatten().map(|e| format!("sha256:{}", e.file_name().to_string_lossy())).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Crash consistency

/// Two imports of one bundle name: A (sequence 1: hello:1 and a small file) and B (sequence 2:
/// hello:1 moved to new content, other:1, six 6 MiB files), both uncompressed so byte offsets in
/// the file are offsets in the tar stream.
struct Site {
    gap: Gap,
    /// A store with A imported; every case starts from a copy.
    template: PathBuf,
    bundle_b: PathBuf,
    urls: Vec<String>,
    a: Observed,
    b: Observed,
    /// How long `mirror import B` takes here.
    b_import: Duration,
    /// Blobs B carries that A's store does not hold.
    b_only: BTreeSet<String>,
    hello_v2: BuiltImage,
}

const B_FILES: [&str; 6] = ["b1.bin", "b2.bin", "b3.bin", "b4.bin", "b5.bin", "b6.bin"];

fn site() -> Site {
    let gap = Gap::new();
    let (reg, hello_v1, other) = e2e::image::shared_pair(gap.dir.path());

    let up = gap.path("up");
    std::fs::create_dir_all(&up).unwrap();
    std::fs::write(up.join("a.bin"), payload(256 << 10, 1)).unwrap();
    let big = payload(6 << 20, 2);
    for (i, f) in B_FILES.iter().enumerate() {
        let mut b = big.clone();
        b[..8].copy_from_slice(&(i as u64).to_le_bytes());
        std::fs::write(up.join(f), b).unwrap();
    }
    let http = StaticServer::start(&up);
    let entry = |f: &str| format!("  - {{url: {}, sha256: {}}}\n", q(&format!("{}{f}", http.url())), q(&sha256(&std::fs::read(up.join(f)).unwrap())[7..]));
    let manifest = |rel: &str, images: &str, files: &[&str]| {
        gap.write(
            rel,
            &format!(
                "name: site\nplatforms: [linux/amd64, linux/arm64]\nregistries:\n  docker.io: {{url: \"http://{}\", insecure: true}}\nimages:\n{images}files:\n{}",
                reg.host,
                files.iter().map(|f| entry(f)).collect::<String>()
            ),
        )
    };
    let ma = manifest("a.yaml", "  - docker.io/library/hello:1\n", &["a.bin"]);
    gap.lock(&ma).ok();
    let bundle_a = gap.create(&ma, "a.bundle", &["--sequence", "1", "--compression", "none"]);
    let mut l3 = ImageBuilder::new(&gap.path("l3"));
    // On the pair's base layer, as hello v1 and other are.
    let hello_v2 = l3.multi_arch("1", "shared base layer", "hello v2");
    l3.push("1", &reg.host, "library/hello");
    let mut b_files = vec!["a.bin"];
    b_files.extend(B_FILES);
    let mb = manifest("b.yaml", "  - docker.io/library/hello:1\n  - docker.io/library/other:1\n", &b_files);
    gap.lock(&mb).ok();
    let bundle_b = gap.create(&mb, "b.bundle", &["--sequence", "2", "--compression", "none"]);
    drop((reg, http));

    let template = gap.path("template");
    let trust = s(&gap.public());
    gap.mirror(&["import", &s(&bundle_a), "--store", &s(&template), "--trust", &trust]).ok();
    let info = gap.inspect(&bundle_b);
    let carried: BTreeSet<String> = info["blobs"].as_array().unwrap().iter().map(|b| b["digest"].as_str().unwrap().to_string()).collect();
    let b_only: BTreeSet<String> = carried.difference(&blob_files(&template)).cloned().collect();
    assert!(b_only.len() >= 10, "B brings many blobs of its own: {b_only:?}");

    let repo = "/v2/docker.io/library";
    let mut urls: Vec<String> = vec![
        "/v2/_catalog".into(),
        format!("{repo}/hello/tags/list"),
        format!("{repo}/other/tags/list"),
        format!("{repo}/hello/manifests/1"),
        format!("{repo}/other/manifests/1"),
        format!("{repo}/hello/manifests/{}", hello_v1.index),
        format!("{repo}/hello/manifests/{}", hello_v2.index),
        format!("{repo}/other/manifests/{}", other.index),
        "/files/".into(),
        "/files/a.bin".into(),
        "/sbom/site".into(),
    ];
    urls.extend(B_FILES.iter().map(|f| format!("/files/{f}")));
    urls.extend(hello_v1.blobs().iter().map(|d| format!("{repo}/hello/blobs/{d}")));

    let reference = gap.path("reference");
    copy_dir(&template, &reference);
    let t = Instant::now();
    gap.mirror(&["import", &s(&bundle_b), "--store", &s(&reference), "--trust", &trust]).ok();
    let b_import = t.elapsed();
    let observe_store = |store: &Path| {
        let serve = Serve::start(store);
        let o = observe(&gap, &serve, store, &urls);
        serve.stop();
        o
    };
    let a = observe_store(&template);
    let b = observe_store(&reference);
    let manifest_of = |o: &Observed| o.served[&format!("{repo}/hello/manifests/1")].clone();
    assert_eq!(manifest_of(&a), format!("200 {}", hello_v1.index), "A serves hello v1");
    assert_eq!(manifest_of(&b), format!("200 {}", hello_v2.index), "B moved the tag to hello v2");
    assert!(a.served[&format!("{repo}/other/manifests/1")].starts_with("404") && a.served["/files/b1.bin"].starts_with("404"), "{a:?}");
    assert_eq!(b.served[&format!("{repo}/other/manifests/1")], format!("200 {}", other.index));
    std::fs::remove_dir_all(&reference).unwrap();
    eprintln!("site: B carries {} new blobs; `mirror import B` takes {b_import:?}", b_only.len());
    Site { gap, template, bundle_b, urls, a, b, b_import, b_only, hello_v2 }
}

#[derive(Debug, Clone)]
enum Kill {
    /// Feed the bundle through a FIFO up to this byte, let the importer take it, kill -9.
    AtByte(usize),
    /// kill -9 this long after `mirror import` (of the bundle file) started.
    After(Duration),
    /// kill -9 as soon as this many of B's own blobs are in blobs/: promotion under way, the
    /// metadata commit next.
    WhenPromoted(usize),
    /// kill -9 the `mirror serve` that runs the import for `mirror import` (control socket),
    /// fed through a FIFO up to this byte.
    ServeAtByte(usize),
}

/// Run one crash case on a fresh copy of A's store; returns the store (the importer is dead
/// and nothing else holds it) and what happened.
fn crash(site: &Site, n: usize, kill: &Kill) -> (PathBuf, String) {
    let gap = &site.gap;
    let store = gap.path(&format!("case-{n}"));
    copy_dir(&site.template, &store);
    let log = gap.path(&format!("case-{n}.import.log"));
    let trust = s(&gap.public());
    let bytes = || std::fs::read(&site.bundle_b).unwrap();
    let import_args = |file: &Path| vec!["import".to_string(), s(file), "--store".into(), s(&store), "--trust".into(), trust.clone()];
    let args = |v: &Vec<String>| v.iter().map(String::as_str).collect::<Vec<_>>().join(" ");
    let what = match kill {
        Kill::AtByte(at) => {
            let fifo = gap.path(&format!("case-{n}.fifo"));
            mkfifo(&fifo);
            let a = import_args(&fifo);
            let mut p = spawn_mirror(&a.iter().map(String::as_str).collect::<Vec<_>>(), &log);
            let mut w = FifoWriter::open(&fifo, Duration::from_secs(20));
            let data = bytes();
            let fed = w.feed(&data[..*at], Duration::from_secs(20));
            // Let the importer take what the pipe holds and write it out.
            std::thread::sleep(Duration::from_millis(300));
            let exited = p.0.try_wait().unwrap();
            assert!(
                exited.is_none() || *at == data.len(),
                "the importer exited ({exited:?}) fed {at} of {} bytes ({fed:?}):\n{}",
                data.len(),
                std::fs::read_to_string(&log).unwrap()
            );
            let _ = p.0.kill();
            let _ = p.0.wait();
            format!("killed -9 at byte {at} of {}", data.len())
        }
        Kill::After(d) => {
            let a = import_args(&site.bundle_b);
            let mut p = spawn_mirror(&a.iter().map(String::as_str).collect::<Vec<_>>(), &log);
            std::thread::sleep(*d);
            match p.0.try_wait().unwrap() {
                Some(st) => format!("finished ({st}) before the kill at {d:?}"),
                None => {
                    let _ = p.0.kill();
                    let _ = p.0.wait();
                    format!("killed -9 after {d:?}")
                }
            }
        }
        Kill::WhenPromoted(k) => {
            let a = import_args(&site.bundle_b);
            let mut p = spawn_mirror(&a.iter().map(String::as_str).collect::<Vec<_>>(), &log);
            let dir = store.join("blobs/sha256");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(st) = p.0.try_wait().unwrap() {
                    break format!("finished ({st}) before {k} blobs were seen promoted");
                }
                let promoted = site.b_only.iter().filter(|d| dir.join(&d[7..]).exists()).count();
                if promoted >= *k {
                    let _ = p.0.kill();
                    let _ = p.0.wait();
                    break format!("killed -9 with {promoted} of {} new blobs promoted", site.b_only.len());
                }
                assert!(Instant::now() < deadline, "{}: no promotion seen", args(&a));
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        Kill::ServeAtByte(at) => {
            let mut serve = Serve::start(&store);
            let fifo = gap.path(&format!("case-{n}.fifo"));
            mkfifo(&fifo);
            let a = import_args(&fifo);
            let mut p = spawn_mirror(&a.iter().map(String::as_str).collect::<Vec<_>>(), &log);
            let mut w = FifoWriter::open(&fifo, Duration::from_secs(20));
            let _ = w.feed(&bytes()[..*at], Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis(300));
            assert!(tmp_entries(&store).iter().any(|e| e.starts_with("import-")), "the server is staging the import");
            serve.kill9();
            drop(w);
            // The client learns the server went away and fails.
            let st = wait_exit(&mut p.0, Duration::from_secs(10)).expect("`mirror import` hangs after its server died");
            assert!(!st.success(), "`mirror import` succeeded although its server was killed");
            format!("mirror serve killed -9 while importing, at byte {at}")
        }
    };
    (store, what)
}

#[test]
fn import_killed_at_any_point_leaves_the_previous_state_served() {
    let started = Instant::now();
    let site = site();
    let entries = tar_entries(&site.bundle_b);
    let len = std::fs::metadata(&site.bundle_b).unwrap().len() as usize;
    let end_of = |name: &str| entries.iter().find(|e| e.0 == name).map(|e| e.1 + e.2).unwrap_or_else(|| panic!("no {name} in the bundle"));
    let big: Vec<&(String, usize, usize)> = entries.iter().filter(|e| e.2 >= 1 << 20).collect();
    let first_blob = entries.iter().find(|e| e.0.starts_with("blobs/")).unwrap();
    assert!(big.len() == 6, "{entries:?}");
    let mut cases = vec![
        (Kill::AtByte(0), true),
        (Kill::AtByte(end_of("bundle.json.minisig")), true),
        (Kill::AtByte(first_blob.1 - 512), true),
        (Kill::AtByte(big[0].1 + big[0].2 / 2), true),
        (Kill::AtByte(big[2].1 + big[2].2), true),
        (Kill::AtByte(big[5].1 + big[5].2 / 2), true),
        (Kill::AtByte(len - 1024), true),
        (Kill::ServeAtByte(big[1].1 + big[1].2 / 3), true),
        (Kill::WhenPromoted(1), false),
        (Kill::WhenPromoted(site.b_only.len()), false),
    ];
    // Spread over the whole import, process start to exit (sled's commit and settle included).
    for f in [5, 20, 40, 60, 80, 95, 110, 150] {
        cases.push((Kill::After(site.b_import * f / 100), false));
    }
    let (mut served_a, mut served_b) = (0, 0);
    for (n, (kill, must_be_a)) in cases.iter().enumerate() {
        let (store, what) = crash(&site, n, kill);
        let serve = Serve::start(&store);
        assert!(tmp_entries(&store).is_empty(), "case {n} ({what}): staging left in tmp/: {:?}", tmp_entries(&store));
        let seen = observe(&site.gap, &serve, &store, &site.urls);
        let state = if seen == site.a {
            served_a += 1;
            "A"
        } else if seen == site.b {
            served_b += 1;
            "B"
        } else {
            panic!("case {n} ({what}): the store serves neither A's nor B's state; against A:\n{}against B:\n{}", diff(&seen, &site.a), diff(&seen, &site.b));
        };
        assert!(!must_be_a || state == "A", "case {n} ({what}): serves B's state although B's import cannot have finished");
        site.gap.mirror(&["verify", "--store", &s(&store)]).ok();
        site.gap.mirror(&["import", &s(&site.bundle_b), "--store", &s(&store), "--trust", &s(&site.gap.public())]).ok();
        let after = observe(&site.gap, &serve, &store, &site.urls);
        assert!(after == site.b, "case {n} ({what}): re-imported B is not served as B:\n{}", diff(&after, &site.b));
        // Every B blob is there and right (verify re-hashes them all).
        assert!(site.b_only.is_subset(&blob_files(&store)));
        site.gap.mirror(&["verify", "--store", &s(&store)]).ok();
        serve.stop();
        eprintln!("case {n}: {what} → served {state}; verify passed; B re-imported and served");
        std::fs::remove_dir_all(&store).unwrap();
    }
    assert!(served_a >= 8, "{served_a} kills left A served, {served_b} B");
    let _ = &site.hello_v2;
    eprintln!("{} kills: {served_a} left A's state, {served_b} B's (killed after its commit); {:?}", cases.len(), started.elapsed());
}

/// Waits until the moment to kill a running gc; `Some` when it finished first.
type GcWait = dyn Fn(&mut Proc, &Path) -> Option<String>;

/// `mirror gc` killed at points spread over its run: the store still verifies and serves
/// exactly what it served before gc, and a gc run to the end collects exactly what an
/// uninterrupted gc does.
#[test]
fn gc_killed_at_any_point_keeps_what_is_served() {
    let started = Instant::now();
    let site = site();
    let gap = &site.gap;
    let trust = s(&gap.public());
    // A then B imported, then other:1 and B's files removed: their blobs are garbage.
    let template = gap.path("gc-template");
    copy_dir(&site.template, &template);
    gap.mirror(&["import", &s(&site.bundle_b), "--store", &s(&template), "--trust", &trust]).ok();
    let mut rm = vec!["rm".to_string(), "--store".into(), s(&template), "docker.io/library/other:1".into()];
    rm.extend(B_FILES.iter().map(|f| format!("files/{f}")));
    gap.mirror(&rm.iter().map(String::as_str).collect::<Vec<_>>()).ok();
    // What must stay served: tags, manifests by tag, files, and hello v2's blobs.
    let repo = "/v2/docker.io/library";
    let mut urls: Vec<String> = site.urls.iter().filter(|u| !u.contains("/blobs/") && !u.contains("/manifests/sha256:")).cloned().collect();
    urls.extend(site.hello_v2.blobs().iter().map(|d| format!("{repo}/hello/blobs/{d}")));
    let before = {
        let serve = Serve::start(&template);
        let o = observe(gap, &serve, &template, &urls);
        serve.stop();
        o
    };
    assert!(before.served["/files/b1.bin"].starts_with("404") && before.served[&format!("{repo}/other/manifests/1")].starts_with("404"));
    assert!(before.served[&format!("{repo}/hello/manifests/1")].starts_with("200"));

    // The uninterrupted gc: what it deletes, how long it takes.
    let reference = gap.path("gc-reference");
    copy_dir(&template, &reference);
    let held = blob_files(&reference);
    let t = Instant::now();
    let summary = gap.mirror(&["gc", "--store", &s(&reference), "--json"]).ok().json();
    let gc_time = t.elapsed();
    let kept = blob_files(&reference);
    let garbage: BTreeSet<String> = held.difference(&kept).cloned().collect();
    assert!(garbage.len() >= 20 && garbage.len() == summary["removed"].as_array().unwrap().len(), "{summary}");
    let inventory_after = gap.mirror(&["inventory", "--store", &s(&reference)]).ok().json();
    std::fs::remove_dir_all(&reference).unwrap();
    eprintln!("gc: {} of {} blobs are garbage; `mirror gc` takes {gc_time:?}", garbage.len(), held.len());

    let mut kills: Vec<(String, Box<GcWait>)> = Vec::new();
    for f in [0, 10, 25, 40, 55, 70, 85, 100] {
        let d = gc_time * f / 100;
        kills.push((
            format!("after {d:?}"),
            Box::new(move |p: &mut Proc, _: &Path| {
                std::thread::sleep(d);
                p.0.try_wait().unwrap().map(|st| format!("finished ({st}) before the kill"))
            }),
        ));
    }
    for k in [1, garbage.len() / 2] {
        let g = garbage.clone();
        kills.push((
            format!("when {k} garbage files are gone"),
            Box::new(move |p: &mut Proc, store: &Path| {
                let dir = store.join("blobs/sha256");
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    if let Some(st) = p.0.try_wait().unwrap() {
                        return Some(format!("finished ({st}) before the kill"));
                    }
                    if g.iter().filter(|d| !dir.join(&d[7..]).exists()).count() >= k {
                        return None;
                    }
                    assert!(Instant::now() < deadline, "gc deleted nothing within 30 s");
                    std::thread::sleep(Duration::from_micros(100));
                }
            }),
        ));
    }
    for (n, (label, wait)) in kills.iter().enumerate() {
        let store = gap.path(&format!("gc-case-{n}"));
        copy_dir(&template, &store);
        let mut p = spawn_mirror(&["gc", "--store", &s(&store)], &gap.path(&format!("gc-case-{n}.log")));
        let what = match wait(&mut p, &store) {
            Some(finished) => finished,
            None => {
                let _ = p.0.kill();
                let _ = p.0.wait();
                format!("killed -9 {label}")
            }
        };
        drop(p);
        let files = blob_files(&store);
        assert!(files.is_superset(&kept) && files.is_subset(&held), "case {n} ({what}): gc deleted a kept blob or added one");
        let serve = Serve::start(&store);
        let seen = observe(gap, &serve, &store, &urls);
        assert!(
            seen.served == before.served,
            "case {n} ({what}): serves something else after the killed gc:\n{}",
            diff(&seen, &Observed { inventory: seen.inventory.clone(), served: before.served.clone() })
        );
        assert!(
            seen.inventory == before.inventory || seen.inventory == inventory_after,
            "case {n} ({what}): the inventory is neither the one before gc nor after:\n{}",
            seen.inventory
        );
        let records = if seen.inventory == before.inventory { "before" } else { "after" };
        gap.mirror(&["verify", "--store", &s(&store)]).ok();
        // Run to the end (through the server): the same result as an uninterrupted gc.
        gap.mirror(&["gc", "--store", &s(&store)]).ok();
        assert_eq!(blob_files(&store), kept, "case {n} ({what}): gc run again keeps exactly what an uninterrupted gc keeps");
        let end = observe(gap, &serve, &store, &urls);
        assert!(
            end.served == before.served && end.inventory == inventory_after,
            "case {n} ({what}): after gc:\n{}",
            diff(&end, &Observed { inventory: inventory_after.clone(), served: before.served.clone() })
        );
        gap.mirror(&["verify", "--store", &s(&store)]).ok();
        serve.stop();
        eprintln!("gc case {n}: {what} → same state served, blob records as {records} gc; verify passed; gc completed");
        std::fs::remove_dir_all(&store).unwrap();
    }
    eprintln!("{} gc kills: {:?}", kills.len(), started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// 2. Disk full

/// A tmpfs mounted for one test, unmounted (lazily, so a straggler cannot block it) on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", &s(dir)]).output().map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount -t tmpfs failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// `needs N bytes` and `only F bytes` from the mirror's no-space message.
fn space_figures(msg: &str) -> (u64, u64) {
    let after = |marker: &str| -> u64 {
        let i = msg.find(marker).unwrap_or_else(|| panic!("no {marker:?} in: {msg}"));
        msg[i + marker.len()..].split_whitespace().next().unwrap().parse().unwrap_or_else(|_| panic!("no number after {marker:?} in: {msg}"))
    };
    (after("needs "), after("only "))
}

#[test]
fn disk_full_import_fails_cleanly_and_the_store_keeps_serving() {
    let gap = Gap::new();
    let small = gap.path("small");
    let _fs = match Tmpfs::mount(&small, "64m") {
        Ok(m) => m,
        Err(why) => {
            eprintln!("SKIPPED disk_full_import_fails_cleanly_and_the_store_keeps_serving: {why} (needs root and a kernel that lets this process mount tmpfs)");
            return;
        }
    };
    let up = gap.path("up");
    std::fs::create_dir_all(&up).unwrap();
    let base = payload(16 << 20, 5);
    let file_of = |i: u64, size: usize| {
        let mut b = base[..size].to_vec();
        b[..8].copy_from_slice(&i.to_le_bytes());
        b
    };
    std::fs::write(up.join("a.bin"), file_of(1, 512 << 10)).unwrap();
    let huge: Vec<String> = (1..=5).map(|i| format!("h{i}.bin")).collect();
    for (i, f) in huge.iter().enumerate() {
        std::fs::write(up.join(f), file_of(10 + i as u64, 16 << 20)).unwrap();
    }
    let mid: Vec<String> = (1..=3).map(|i| format!("m{i}.bin")).collect();
    for (i, f) in mid.iter().enumerate() {
        std::fs::write(up.join(f), file_of(20 + i as u64, 12 << 20)).unwrap();
    }
    let http = StaticServer::start(&up);
    let bundle = |name: &str, files: &[String]| {
        let list: String =
            files.iter().map(|f| format!("  - {{url: {}, sha256: {}}}\n", q(&format!("{}{f}", http.url())), q(&sha256(&std::fs::read(up.join(f)).unwrap())[7..]))).collect();
        let m = gap.write(&format!("{name}.yaml"), &format!("name: {name}\nfiles:\n{list}"));
        gap.create(&m, &format!("{name}.bundle"), &["--compression", "none"])
    };
    let small_bundle = bundle("small", &["a.bin".to_string()]);
    let huge_bundle = bundle("huge", &huge);
    let mid_bundle = bundle("mid", &mid);
    drop(http);

    let store = small.join("store");
    let trust = s(&gap.public());
    let import = |b: &Path| gap.mirror(&["import", &s(b), "--store", &s(&store), "--trust", &trust]);
    import(&small_bundle).ok();
    let serve = Serve::start(&store);
    let mut urls: Vec<String> = vec!["/files/".into(), "/files/a.bin".into()];
    urls.extend(huge.iter().chain(&mid).map(|f| format!("/files/{f}")));
    let before = observe(&gap, &serve, &store, &urls);
    assert!(before.served["/files/a.bin"].starts_with("200"));
    let files_before = snapshot(&store);

    // Larger than the filesystem: refused before a byte is written, saying what is needed and free.
    let r = import(&huge_bundle).fails();
    let (needed, free) = space_figures(&r.stderr);
    eprintln!("refused up front: {}", r.stderr.trim());
    assert!(needed >= 5 * (16 << 20), "needs {needed} bytes: at least the 80 MiB of new blobs\n{}", r.stderr);
    assert!(free < 64 << 20 && free > 40 << 20 && free < needed, "free {free}\n{}", r.stderr);
    assert!(r.stderr.contains("are free") && r.stderr.contains("mirror gc"), "{}", r.stderr);
    assert_eq!(snapshot(&store), files_before, "a refused import changed the store");
    assert!(tmp_entries(&store).is_empty(), "{:?}", tmp_entries(&store));
    assert_eq!(observe(&gap, &serve, &store, &urls), before);

    // Fits when it starts, then the disk fills up under it (another writer): the write fails
    // with ENOSPC, the staging is removed and the message says how much is needed and free.
    let entries = tar_entries(&mid_bundle);
    let first = entries.iter().find(|e| e.2 >= 1 << 20).unwrap();
    let first_hex = first.0.rsplit('/').next().unwrap().to_string();
    let fifo = gap.path("mid.fifo");
    mkfifo(&fifo);
    let log = gap.path("mid-import.log");
    let mut p = spawn_mirror(&["import", &s(&fifo), "--store", &s(&store), "--trust", &trust], &log);
    let mut w = FifoWriter::open(&fifo, Duration::from_secs(20));
    let data = std::fs::read(&mid_bundle).unwrap();
    w.feed(&data[..first.1 + first.2], Duration::from_secs(20)).unwrap();
    let staged = e2e::poll(Duration::from_secs(20), || {
        tmp_entries(&store)
            .iter()
            .filter(|e| e.starts_with("import-"))
            .any(|d| std::fs::metadata(store.join("tmp").join(d).join(format!("sha256-{first_hex}"))).is_ok_and(|m| m.len() == first.2 as u64))
    });
    assert!(staged.is_ok(), "the first blob was not staged: {:?}\n{}", tmp_entries(&store), serve.log_text());
    let filler = small.join("filler");
    {
        let mut f = File::create(&filler).unwrap();
        let chunk = vec![0x5au8; 1 << 20];
        while f.write_all(&chunk).is_ok() {}
    }
    let _ = w.feed(&data[first.1 + first.2..], Duration::from_secs(20));
    drop(w);
    let st = wait_exit(&mut p.0, Duration::from_secs(30)).expect("the import on a full disk did not end");
    let out = std::fs::read_to_string(&log).unwrap();
    assert!(!st.success(), "import succeeded on a full disk:\n{out}");
    let (needed, free) = space_figures(&out);
    eprintln!("failed mid-write: {}", out.trim());
    assert!(needed >= 3 * (12 << 20) && free < 1 << 20, "needs {needed}, free {free}:\n{out}");
    assert!(tmp_entries(&store).is_empty(), "partial files left: {:?}", tmp_entries(&store));
    assert_eq!(snapshot(&store), files_before, "a failed import changed the store");
    assert_eq!(observe(&gap, &serve, &store, &urls), before, "the previous state is still served");

    // Space back: the same bundle imports and is served.
    std::fs::remove_file(&filler).unwrap();
    import(&mid_bundle).ok();
    let after = observe(&gap, &serve, &store, &urls);
    for f in &mid {
        assert_eq!(after.served[&format!("/files/{f}")], format!("200 {}", sha256(&std::fs::read(up.join(f)).unwrap())));
    }
    gap.mirror(&["verify", "--store", &s(&store)]).ok();
    serve.stop();
}

// ---------------------------------------------------------------------------------------------
// 3. Hostile HTTP

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

// ---------------------------------------------------------------------------------------------
// 4. Load, then graceful shutdown

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
    let packages_path = format!("/apt/standin/dists/stable/main/binary-{arch}/Packages");
    let packages = get(&packages_path, &[]);
    assert!(String::from_utf8_lossy(&packages).contains("Package: load-tool"));
    let release = String::from_utf8(get("/apt/standin/dists/stable/Release", &[])).unwrap();
    let packages_digest = sha256(&packages);
    let want = [packages_digest[7..].to_string(), packages.len().to_string(), format!("main/binary-{arch}/Packages")];
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
