//! A stand-in Nexus apt (hosted) repository (`nexus_apt.py`: the components REST API's upload
//! and paged listing, Basic auth, the hosted repository rebuilt by apt-ftparchive), since Nexus
//! itself does not run here. Stopped on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::procs::Server;
use crate::{free_port, http_status};

const SCRIPT: &str = include_str!("nexus_apt.py");

pub struct StandinNexus {
    pub server: Server,
    pub port: u16,
    pub repo: String,
    root: PathBuf,
    _dir: tempfile::TempDir,
}

impl StandinNexus {
    /// Repository `repo` publishing distribution `dist`, writable by `user`:`password`, the
    /// component listing paged `page` items at a time.
    pub fn start(repo: &str, dist: &str, user: &str, password: &str, page: usize) -> StandinNexus {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("nexus_apt.py");
        std::fs::write(&script, SCRIPT).unwrap();
        let root = dir.path().join("blobs");
        let python = if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(python);
            cmd.arg("-u").arg(&script).arg(port.to_string()).arg(&root).args([repo, dist, user, password, &page.to_string()]);
            let mut server = Server::start("stand-in nexus", &mut cmd, dir.path().join(format!("nexus-{port}.log")));
            match server.try_wait_until("ready", || http_status(&format!("http://127.0.0.1:{port}/")) == 200) {
                Ok(()) => return StandinNexus { server, port, repo: repo.into(), root, _dir: dir },
                Err(e) if e.to_lowercase().contains("address already in use") => last = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("stand-in nexus: no free ports after 3 attempts: {last}");
    }

    /// The repository's URL, as Nexus shows it (`…/repository/<name>/`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/repository/{}/", self.port, self.repo)
    }

    /// Files the repository holds under `pool/`.
    pub fn pool(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.join(&self.repo).join("pool")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    out.push(e.file_name().to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }

    /// Upload requests logged: `POST <path> auth=yes|no`.
    pub fn uploads(&self) -> Vec<String> {
        self.server.log_text().lines().filter(|l| l.starts_with("POST ")).map(String::from).collect()
    }
}
