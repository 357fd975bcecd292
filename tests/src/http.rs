//! HTTP/1.1 over a bare socket, for suites that need requests exactly as written or many of
//! them on keep-alive connections: responses with Content-Length or chunked bodies, every read
//! and write bounded by a timeout.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

pub const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub fn connect(host: &str, timeout: Duration) -> io::Result<TcpStream> {
    let addr = host.to_socket_addrs()?.next().ok_or_else(|| io::Error::other(format!("{host}: no address")))?;
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.set_nodelay(true)?;
    Ok(s)
}

pub fn request(path: &str, host: &str, headers: &[(&str, &str)], close: bool) -> Vec<u8> {
    let mut r = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: e2e-reliability\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if close {
        r.push_str("Connection: close\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

fn line(r: &mut impl BufRead) -> io::Result<String> {
    let mut buf = Vec::new();
    let n = r.take(1 << 16).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before a complete response"));
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The status line and headers.
pub fn read_head(r: &mut impl BufRead) -> io::Result<(u16, Vec<(String, String)>)> {
    let status_line = line(r)?;
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let status = match (version.starts_with("HTTP/1."), code.parse::<u16>()) {
        (true, Ok(c)) => c,
        _ => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("not an HTTP status line: {status_line:?}"))),
    };
    let mut headers = Vec::new();
    loop {
        let l = line(r)?;
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok((status, headers))
}

pub fn read_response(r: &mut impl BufRead) -> io::Result<Resp> {
    let (status, headers) = read_head(r)?;
    let mut resp = Resp { status, headers, body: Vec::new() };
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(resp);
    }
    let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    if resp.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let size_line = line(r)?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16).map_err(|_| bad(format!("bad chunk size {size_line:?}")))?;
            if size == 0 {
                while !line(r)?.is_empty() {}
                break;
            }
            let at = resp.body.len();
            resp.body.resize(at + size, 0);
            r.read_exact(&mut resp.body[at..])?;
            line(r)?;
        }
    } else if let Some(n) = resp.header("content-length") {
        let n: usize = n.parse().map_err(|_| bad(format!("bad Content-Length {n:?}")))?;
        resp.body.resize(n, 0);
        r.read_exact(&mut resp.body)?;
    } else {
        r.read_to_end(&mut resp.body)?;
    }
    Ok(resp)
}

/// One GET on a fresh connection.
pub fn get(host: &str, path: &str, headers: &[(&str, &str)]) -> io::Result<Resp> {
    let s = connect(host, TIMEOUT)?;
    (&s).write_all(&request(path, host, headers, true))?;
    read_response(&mut BufReader::new(s))
}

/// A keep-alive connection for many requests, reopened when the server closes it.
pub struct Conn {
    host: String,
    r: Option<BufReader<TcpStream>>,
}

impl Conn {
    pub fn new(host: &str) -> Conn {
        Conn { host: host.to_string(), r: None }
    }

    pub fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> io::Result<Resp> {
        self.exchange(request(path, &self.host, headers, false))
    }

    /// Any method, with a body (sent with its Content-Length).
    pub fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> io::Result<Resp> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n", self.host, body.len());
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.exchange(bytes)
    }

    fn exchange(&mut self, req: Vec<u8>) -> io::Result<Resp> {
        if self.r.is_none() {
            self.r = Some(BufReader::with_capacity(64 << 10, connect(&self.host, TIMEOUT)?));
        }
        let r = self.r.as_mut().expect("connected");
        let res = r.get_ref().write_all(&req).and_then(|()| read_response(r));
        let closing = match &res {
            Ok(resp) => resp.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")),
            Err(_) => true,
        };
        if closing {
            self.r = None;
        }
        res
    }
}

/// Send `bytes` as they are (from a second thread, so an answer the server gives before it
/// has read everything is heard) and read one response; every step bounded by `timeout`.
pub fn raw(host: &str, bytes: Vec<u8>, timeout: Duration) -> io::Result<Resp> {
    let s = connect(host, timeout)?;
    let w = s.try_clone()?;
    let writer = std::thread::spawn(move || {
        let _ = (&w).write_all(&bytes);
    });
    let res = read_response(&mut BufReader::new(&s));
    let _ = s.shutdown(std::net::Shutdown::Both);
    let _ = writer.join();
    res
}
