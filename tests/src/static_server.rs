//! A static file server (`python3 -m http.server`) on a free loopback port: the stand-in upstream
//! for apt archives, Helm repositories, raw files and NLTK indexes.

use std::path::Path;
use std::process::Command;

use crate::procs::Server;
use crate::{free_port, http_status};

/// `python3 -m http.server --bind 127.0.0.1 PORT --directory DIR`, stopped on drop.
pub struct StaticServer {
    pub server: Server,
    pub port: u16,
    _log_dir: tempfile::TempDir,
}

impl StaticServer {
    pub fn start(dir: &Path) -> StaticServer {
        let python = if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
        let log_dir = tempfile::tempdir().unwrap();
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(python);
            cmd.args(["-u", "-m", "http.server", "--bind", "127.0.0.1", &port.to_string(), "--directory"]).arg(dir);
            let mut server = Server::start("python3 -m http.server", &mut cmd, log_dir.path().join(format!("http-{port}.log")));
            match server.try_wait_until("ready", || http_status(&format!("http://127.0.0.1:{port}/")) == 200) {
                Ok(()) => return StaticServer { server, port, _log_dir: log_dir },
                Err(e) if e.to_lowercase().contains("address already in use") => last = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("http.server: no free port after 3 attempts: {last}");
    }

    /// `http://127.0.0.1:PORT/` (with the trailing slash: the archive root).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Paths requested so far, from the server's log (`"GET /path HTTP/1.1" 200`).
    pub fn requests(&self) -> Vec<String> {
        self.server.log_text().lines().filter_map(|l| l.split("\"GET ").nth(1)?.split(' ').next().map(String::from)).collect()
    }
}
