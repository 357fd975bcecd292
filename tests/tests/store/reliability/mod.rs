//! Issue 8, the reliability suite: real `mirror` processes killed mid-import and mid-gc, a store
//! on a full filesystem, hostile raw HTTP, and 500 concurrent clients followed by a graceful
//! shutdown. Every assertion is on bytes the mirror serves (status + sha256 of each body), on the
//! store's files and on `mirror verify`/`mirror inventory`.
//!
//! HTTP goes through the small client in `e2e::http`, over `std::net::TcpStream`: the point is to send
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

mod disk_full;
mod hostile;
mod kill;
mod load;

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
    e2e::store_blob_files(store)
}
