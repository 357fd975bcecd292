//! The stand-in PEP 503/691 index: pages and files on disk, served by a small stdlib Python
//! server (`standin_index.py`) on a free loopback port.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{hex_sha256, isolated, python, BuiltDist, DistSpec};
use crate::procs::Server;
use crate::{free_port, http_status};

/// How the stand-in answers `/simple/` pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pages {
    /// PEP 691 JSON or PEP 503 HTML as the `Accept` header prefers (PyPI's behaviour).
    Negotiate,
    /// HTML whatever is asked (a static file server).
    Html,
    /// JSON whatever is asked.
    Json,
}

/// Builder of a stand-in PEP 503/691 index.
pub struct PyIndexBuilder {
    dir: PathBuf,
    dists: Vec<DistSpec>,
    metadata_files: bool,
    pages: Pages,
}

impl PyIndexBuilder {
    /// An index under `dir` (`dir/simple/…` pages, `dir/files/…` distributions).
    pub fn new(dir: &Path) -> PyIndexBuilder {
        PyIndexBuilder { dir: dir.to_path_buf(), dists: Vec::new(), metadata_files: true, pages: Pages::Negotiate }
    }
    pub fn dist(mut self, d: DistSpec) -> Self {
        self.dists.push(d);
        self
    }
    pub fn dists(mut self, d: impl IntoIterator<Item = DistSpec>) -> Self {
        self.dists.extend(d);
        self
    }
    /// Without PEP 658/714: no `.metadata` files and no `core-metadata` attributes (a client must
    /// read METADATA from the wheel).
    pub fn without_metadata_files(mut self) -> Self {
        self.metadata_files = false;
        self
    }
    pub fn pages(mut self, p: Pages) -> Self {
        self.pages = p;
        self
    }
    pub fn build(self) -> PyIndex {
        std::fs::create_dir_all(self.dir.join("files")).unwrap();
        std::fs::create_dir_all(self.dir.join("simple")).unwrap();
        let mut idx = PyIndex { root: self.dir, dists: Vec::new(), metadata_files: self.metadata_files, pages: self.pages };
        for d in self.dists {
            idx.add(d);
        }
        idx.publish();
        idx
    }
}

/// A built stand-in index.
pub struct PyIndex {
    /// Holds `simple/` and `files/`.
    pub root: PathBuf,
    dists: Vec<BuiltDist>,
    pub metadata_files: bool,
    pub pages: Pages,
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl PyIndex {
    pub fn dists(&self) -> &[BuiltDist] {
        &self.dists
    }
    /// The distribution file `filename`.
    pub fn dist(&self, filename: &str) -> &BuiltDist {
        self.dists.iter().find(|d| d.filename == filename).unwrap_or_else(|| panic!("no {filename} in the stand-in index"))
    }
    pub fn has(&self, filename: &str) -> bool {
        self.dists.iter().any(|d| d.filename == filename)
    }
    pub fn file_path(&self, filename: &str) -> PathBuf {
        self.root.join("files").join(filename)
    }
    /// Normalized project names.
    pub fn projects(&self) -> BTreeSet<String> {
        self.dists.iter().map(|d| d.spec.project()).collect()
    }

    /// Build a distribution into `files/` (replacing one with the same file name); `publish`
    /// lists it.
    pub fn add(&mut self, spec: DistSpec) -> &BuiltDist {
        let bytes = spec.build();
        let filename = spec.filename();
        std::fs::write(self.file_path(&filename), &bytes).unwrap();
        let metadata = spec.metadata();
        let metadata_sha256 = hex_sha256(metadata.as_bytes());
        if self.metadata_files && spec.is_wheel() {
            std::fs::write(self.file_path(&format!("{filename}.metadata")), &metadata).unwrap();
        }
        self.dists.retain(|d| d.filename != filename);
        self.dists.push(BuiltDist { spec, filename, sha256: hex_sha256(&bytes), size: bytes.len() as u64, metadata, metadata_sha256 });
        self.dists.last().unwrap()
    }

    /// Take a file out of the index (and its `.metadata`); `publish` to apply.
    pub fn remove(&mut self, filename: &str) {
        self.dists.retain(|d| d.filename != filename);
        let _ = std::fs::remove_file(self.file_path(filename));
        let _ = std::fs::remove_file(self.file_path(&format!("{filename}.metadata")));
    }

    /// Write every `/simple/` page (HTML and JSON) from the current files.
    pub fn publish(&self) {
        let simple = self.root.join("simple");
        let _ = std::fs::remove_dir_all(&simple);
        std::fs::create_dir_all(&simple).unwrap();
        let projects = self.projects();
        let meta = "<meta name=\"pypi:repository-version\" content=\"1.1\">";
        let mut list = format!("<!DOCTYPE html>\n<html><head>{meta}<title>Simple index</title></head><body>\n");
        for p in &projects {
            list.push_str(&format!("<a href=\"{p}/\">{p}</a><br>\n"));
        }
        list.push_str("</body></html>\n");
        std::fs::write(simple.join("index.html"), list).unwrap();
        let json = serde_json::json!({"meta": {"api-version": "1.1"}, "projects": projects.iter().map(|p| serde_json::json!({"name": p})).collect::<Vec<_>>()});
        std::fs::write(simple.join("index.json"), serde_json::to_vec_pretty(&json).unwrap()).unwrap();

        for p in &projects {
            let dir = simple.join(p);
            std::fs::create_dir_all(&dir).unwrap();
            let mut files: Vec<&BuiltDist> = self.dists.iter().filter(|d| &d.spec.project() == p).collect();
            files.sort_by(|a, b| a.filename.cmp(&b.filename));
            let mut html = format!("<!DOCTYPE html>\n<html><head>{meta}<title>Links for {p}</title></head><body><h1>Links for {p}</h1>\n");
            let mut jfiles = Vec::new();
            let mut versions = BTreeSet::new();
            for d in files {
                versions.insert(d.spec.version.clone());
                let href = format!("../../files/{}", d.filename);
                let mut attrs = String::new();
                let mut jf = serde_json::json!({"filename": d.filename, "url": href, "hashes": {"sha256": d.sha256}, "size": d.size});
                if let Some(rp) = &d.spec.requires_python {
                    attrs.push_str(&format!(" data-requires-python=\"{}\"", html_escape(rp)));
                    jf["requires-python"] = rp.clone().into();
                }
                if let Some(y) = &d.spec.yanked {
                    attrs.push_str(&format!(" data-yanked=\"{}\"", html_escape(y)));
                    jf["yanked"] = if y.is_empty() { true.into() } else { y.clone().into() };
                }
                if self.metadata_files && d.spec.is_wheel() {
                    let v = format!("sha256={}", d.metadata_sha256);
                    attrs.push_str(&format!(" data-dist-info-metadata=\"{v}\" data-core-metadata=\"{v}\""));
                    jf["core-metadata"] = serde_json::json!({"sha256": d.metadata_sha256});
                    jf["dist-info-metadata"] = serde_json::json!({"sha256": d.metadata_sha256});
                }
                html.push_str(&format!("<a href=\"{href}#sha256={}\"{attrs}>{}</a><br>\n", d.sha256, d.filename));
                jfiles.push(jf);
            }
            html.push_str("</body></html>\n");
            std::fs::write(dir.join("index.html"), html).unwrap();
            let json = serde_json::json!({"meta": {"api-version": "1.1"}, "name": p, "files": jfiles, "versions": versions});
            std::fs::write(dir.join("index.json"), serde_json::to_vec_pretty(&json).unwrap()).unwrap();
        }
    }

    /// Replace a distribution's bytes after indexing: the same size, still a valid wheel (its own
    /// RECORD matches), but not the sha256 the index gives. Returns the new sha256.
    pub fn tamper(&self, filename: &str) -> String {
        let d = self.dist(filename);
        let mut spec = d.spec.clone();
        spec.payload = "tampered".into();
        let bytes = spec.build();
        assert_eq!(bytes.len() as u64, d.size, "a tampered {filename} keeps its size");
        std::fs::write(self.file_path(filename), &bytes).unwrap();
        let sha = hex_sha256(&bytes);
        assert_ne!(sha, d.sha256);
        sha
    }

    /// Put the indexed bytes back after `tamper`.
    pub fn restore(&self, filename: &str) {
        let d = self.dist(filename);
        std::fs::write(self.file_path(filename), d.spec.build()).unwrap();
    }

    /// Serve the index on a free loopback port.
    pub fn serve(&self) -> PyServer {
        PyServer::start(&self.root, self.pages)
    }
}

// ---------------------------------------------------------------------------------------------
// The server

/// A static file server that answers `/simple/` and `/simple/<project>/` with the page's
/// `index.json` or `index.html` as `Accept` prefers (q-values honoured), redirects
/// non-normalized project names (301) like PyPI, and logs `METHOD PATH STATUS "ACCEPT"` lines.
const SERVER: &str = include_str!("standin_index.py");

/// One request the stand-in saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub status: String,
    pub accept: String,
}

/// The stand-in index server, stopped on drop (or by `stop`: the index is then down).
pub struct PyServer {
    pub server: Server,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl PyServer {
    pub fn start(root: &Path, pages: Pages) -> PyServer {
        let dir = tempfile::Builder::new().prefix("pyserver").tempdir().unwrap();
        let script = dir.path().join("standin_index.py");
        std::fs::write(&script, SERVER).unwrap();
        let mode = match pages {
            Pages::Negotiate => "negotiate",
            Pages::Html => "html",
            Pages::Json => "json",
        };
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = isolated(&python());
            cmd.arg("-u").arg(&script).arg(root).arg(port.to_string()).arg(mode);
            let mut server = Server::start("stand-in index", &mut cmd, dir.path().join(format!("index-{port}.log")));
            match server.try_wait_until("ready", || http_status(&format!("http://127.0.0.1:{port}/simple/")) == 200) {
                Ok(()) => return PyServer { server, port, dir },
                Err(e) if e.to_lowercase().contains("address already in use") => last = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("stand-in index: no free port after 3 attempts: {last}");
    }

    /// `http://127.0.0.1:PORT/simple/`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/simple/", self.port)
    }

    /// `http://127.0.0.1:PORT/files/FILENAME`
    pub fn file_url(&self, filename: &str) -> String {
        format!("http://127.0.0.1:{}/files/{filename}", self.port)
    }

    /// Requests seen so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.server
            .log_text()
            .lines()
            .filter_map(|l| {
                let rest = l.strip_prefix("REQ ")?;
                let mut it = rest.splitn(4, ' ');
                let (method, path, status, accept) = (it.next()?, it.next()?, it.next()?, it.next().unwrap_or("\"\""));
                Some(Seen { method: method.into(), path: path.into(), status: status.into(), accept: serde_json::from_str(accept).unwrap_or_default() })
            })
            .collect()
    }

    /// Stop serving (the index is down from now on); the port stays unanswered.
    pub fn stop(&mut self) {
        assert!(self.server.terminate(), "stand-in index did not stop");
        assert_eq!(http_status(&self.url()), 0, "{} still answers", self.url());
    }

    pub fn log_dir(&self) -> &Path {
        self.dir.path()
    }
}
