//! A fault-injecting HTTP proxy for the connected side's tests (issue 20): it sits in front of
//! a real stand-in upstream (a `StaticServer`, docker-registry, …) on a free loopback port and,
//! request by request, follows a script — answer a status with `Retry-After`, drop the
//! connection after some bytes of the upstream's answer, stall, wait, serve a wrong byte — then
//! passes requests through. It counts the requests, the bytes it relayed and the most requests
//! it had in flight at once, so a test can bound what was fetched and how.
//! One request per connection: it answers `Connection: close` upstream and to the client.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the proxy does with one request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer this status (with `Retry-After: SECONDS` if given) without asking upstream.
    Status(u16, Option<u32>),
    /// Relay the upstream's answer, then drop the connection after this many bytes of it
    /// (headers included).
    DropAfter(usize),
    /// Relay this many bytes of the answer (headers included), then send nothing more and keep
    /// the connection open until the client goes away or the proxy stops: a hung upstream.
    StallAfter(usize),
    /// Relay the answer with the byte at this offset (headers included) flipped.
    Corrupt(usize),
    /// Wait this many milliseconds, then relay the answer.
    Delay(u64),
}

struct Shared {
    script: Mutex<VecDeque<(String, Fault)>>,
    requests: Mutex<Vec<String>>,
    relayed: AtomicU64,
    ranged: Mutex<Vec<String>>,
    in_flight: AtomicU64,
    most_in_flight: AtomicU64,
    stop: AtomicBool,
}

/// The proxy; stopped (and its threads joined) on drop.
pub struct FaultProxy {
    pub port: u16,
    upstream: String,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// In front of `upstream` (`127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            script: Mutex::default(),
            requests: Mutex::default(),
            relayed: AtomicU64::new(0),
            ranged: Mutex::default(),
            in_flight: AtomicU64::new(0),
            most_in_flight: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let (s, up) = (shared.clone(), upstream.to_string());
        let acceptor = std::thread::spawn(move || {
            let mut workers = Vec::new();
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (s, up) = (s.clone(), up.clone());
                workers.push(std::thread::spawn(move || serve(conn, &up, &s)));
            }
            for w in workers {
                let _ = w.join();
            }
        });
        FaultProxy { port, upstream: upstream.to_string(), shared, acceptor: Some(acceptor) }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The next request whose path contains `path_part` meets `fault` (in the order added).
    pub fn then(&self, path_part: &str, fault: Fault) -> &Self {
        self.shared.script.lock().unwrap().push_back((path_part.to_string(), fault));
        self
    }

    /// Paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Bytes of upstream answers relayed to clients (headers included).
    pub fn relayed(&self) -> u64 {
        self.shared.relayed.load(Ordering::SeqCst)
    }

    /// Paths requested with a `Range` header, with its value (`PATH bytes=N-`).
    pub fn ranged(&self) -> Vec<String> {
        self.shared.ranged.lock().unwrap().clone()
    }

    /// The most requests it was answering at the same time.
    pub fn most_in_flight(&self) -> u64 {
        self.shared.most_in_flight.load(Ordering::SeqCst)
    }

    /// The upstream it stands in front of.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

/// The request head (up to the blank line), at most 64 KiB.
fn read_head(conn: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 << 10 || conn.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(head)
}

/// One request counted in flight until its answer's last byte is about to go out (so a client
/// that starts its next request on receiving it is never counted twice), or until dropped.
struct Flight<'a>(Option<&'a AtomicU64>);

impl Flight<'_> {
    fn land(&mut self) {
        if let Some(n) = self.0.take() {
            n.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.land();
    }
}

fn serve(conn: TcpStream, upstream: &str, s: &Shared) {
    let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    s.most_in_flight.fetch_max(now, Ordering::SeqCst);
    answer(conn, upstream, s, Flight(Some(&s.in_flight)));
}

/// The length of a response whose head is complete in `start` (head plus `Content-Length`).
fn answer_length(start: &[u8]) -> Option<usize> {
    let end = start.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&start[..end]);
    let len = head.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")).and_then(|(_, v)| v.trim().parse::<usize>().ok()))?;
    Some(end + len)
}

fn answer(mut conn: TcpStream, upstream: &str, s: &Shared, mut flight: Flight) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let Some(head) = read_head(&mut conn) else { return };
    let text = String::from_utf8_lossy(&head).into_owned();
    let path = text.split(' ').nth(1).unwrap_or_default().to_string();
    s.requests.lock().unwrap().push(path.clone());
    if let Some(range) = text.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("range")).map(|(_, v)| v.trim().to_string())) {
        s.ranged.lock().unwrap().push(format!("{path} {range}"));
    }
    let fault = {
        let mut script = s.script.lock().unwrap();
        let at = script.iter().position(|(p, _)| path.contains(p.as_str()));
        at.and_then(|i| script.remove(i)).map(|(_, f)| f)
    };
    if let Some(Fault::Status(code, after)) = fault {
        let after = after.map(|a| format!("Retry-After: {a}\r\n")).unwrap_or_default();
        flight.land();
        let _ = write!(conn, "HTTP/1.1 {code} Injected\r\n{after}Content-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    }
    if let Some(Fault::Delay(ms)) = fault {
        std::thread::sleep(Duration::from_millis(ms));
    }
    let (limit, stall, flip) = match fault {
        Some(Fault::DropAfter(n)) => (n, false, None),
        Some(Fault::StallAfter(n)) => (n, true, None),
        Some(Fault::Corrupt(at)) => (usize::MAX, false, Some(at)),
        _ => (usize::MAX, false, None),
    };
    // Upstream gets the same request, asked to close after answering.
    let mut lines: Vec<&str> = text.trim_end().split("\r\n").filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).collect();
    lines.push("Connection: close");
    let Ok(mut up) = TcpStream::connect(upstream) else { return };
    if up.write_all(format!("{}\r\n\r\n", lines.join("\r\n")).as_bytes()).is_err() {
        return;
    }
    let mut buf = vec![0u8; 64 << 10];
    let mut sent = 0usize;
    let (mut start, mut whole) = (Vec::new(), None);
    loop {
        let n = match up.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let n = n.min(limit - sent);
        if let Some(at) = flip.filter(|at| (sent..sent + n).contains(at)) {
            buf[at - sent] ^= 0x01;
        }
        if whole.is_none() && start.len() < 64 << 10 {
            start.extend_from_slice(&buf[..n]);
            whole = answer_length(&start);
        }
        if whole.is_some_and(|w| sent + n >= w) && limit == usize::MAX {
            flight.land();
        }
        if conn.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n;
        s.relayed.fetch_add(n as u64, Ordering::SeqCst);
        if sent >= limit {
            // The client sees a body shorter than its Content-Length.
            break;
        }
    }
    if stall {
        // Bounded: until the client closes, the proxy stops, or a minute has passed.
        let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
        for _ in 0..300 {
            if s.stop.load(Ordering::SeqCst) {
                break;
            }
            match conn.read(&mut buf) {
                Ok(0) => break,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => continue,
                _ => break,
            }
        }
    }
    let _ = conn.shutdown(Shutdown::Both);
}
