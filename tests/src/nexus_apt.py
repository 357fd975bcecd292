"""A stand-in for a Nexus Repository 3 apt (hosted) repository, the parts `mirror push
--apt-nexus` uses (Nexus does not run here). Faithful to Sonatype's documented REST API:

  POST /service/rest/v1/components?repository=NAME   multipart field `apt.asset` (one .deb),
       Basic auth; 204 on success, 400 when the asset exists and redeploy is off, 401 without
       credentials, 404 for an unknown repository.
  GET  /service/rest/v1/components?repository=NAME[&continuationToken=T]
       {"items": [{name, version, assets: [{path, downloadUrl, checksum: {sha1, sha256}}]}],
        "continuationToken": T|null}, paged.
  GET  /repository/NAME/...  the hosted apt repository (dists/DIST/main/binary-ARCH/Packages,
       Release; pool/<first letter>/<package>/<file>), rebuilt by apt-ftparchive per upload.

Usage: nexus_apt.py PORT ROOT REPO DIST USER PASSWORD PAGE_SIZE
"""
import base64
import email.parser
import email.policy
import hashlib
import http.server
import json
import os
import subprocess
import sys
import urllib.parse

PORT, ROOT, REPO, DIST, USER, PASSWORD, PAGE = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7])
REPO_DIR = os.path.join(ROOT, REPO)
os.makedirs(os.path.join(REPO_DIR, "pool"), exist_ok=True)


def assets():
    out = []
    pool = os.path.join(REPO_DIR, "pool")
    for d, _, files in sorted(os.walk(pool)):
        for f in sorted(files):
            full = os.path.join(d, f)
            out.append(os.path.relpath(full, REPO_DIR))
    return out


def control(path, field):
    return subprocess.run(["dpkg-deb", "-f", path, field], check=True, capture_output=True, text=True).stdout.strip()


def reindex():
    archs = set()
    for rel in assets():
        a = control(os.path.join(REPO_DIR, rel), "Architecture")
        archs.add(a)
    if "all" in archs:
        archs.discard("all")
        archs.add("amd64")
    dist = os.path.join(REPO_DIR, "dists", DIST)
    for a in sorted(archs):
        d = os.path.join(dist, "main", "binary-" + a)
        os.makedirs(d, exist_ok=True)
        p = subprocess.run(["apt-ftparchive", "--arch", a, "packages", "pool"], cwd=REPO_DIR, check=True, capture_output=True)
        with open(os.path.join(d, "Packages"), "wb") as f:
            f.write(p.stdout)
    r = subprocess.run(["apt-ftparchive", "-o", "APT::FTPArchive::Release::Suite=" + DIST, "-o", "APT::FTPArchive::Release::Codename=" + DIST,
                        "-o", "APT::FTPArchive::Release::Components=main", "-o", "APT::FTPArchive::Release::Architectures=" + " ".join(sorted(archs)),
                        "release", "."], cwd=dist, check=True, capture_output=True)
    with open(os.path.join(dist, "Release"), "wb") as f:
        f.write(r.stdout)


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s auth=%s\n" % (self.command, self.path, "yes" if self.headers.get("Authorization") else "no"))

    def reply(self, code, body=b"", ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def authorised(self):
        want = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
        return self.headers.get("Authorization") == want

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path == "/":
            return self.reply(200, b"{}")
        if u.path == "/service/rest/v1/components":
            if q.get("repository", [""])[0] != REPO:
                return self.reply(404, b'"Repository not found"')
            start = int(q.get("continuationToken", ["0"])[0])
            items = []
            all_assets = assets()
            for rel in all_assets[start:start + PAGE]:
                full = os.path.join(REPO_DIR, rel)
                data = open(full, "rb").read()
                items.append({"repository": REPO, "format": "apt", "name": control(full, "Package"), "version": control(full, "Version"),
                              "assets": [{"path": rel, "downloadUrl": "http://127.0.0.1:%s/repository/%s/%s" % (PORT, REPO, rel),
                                          "format": "apt", "checksum": {"sha1": hashlib.sha1(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}}]})
            token = str(start + PAGE) if start + PAGE < len(all_assets) else None
            return self.reply(200, json.dumps({"items": items, "continuationToken": token}).encode())
        prefix = "/repository/%s/" % REPO
        if u.path.startswith(prefix):
            rel = os.path.normpath(urllib.parse.unquote(u.path[len(prefix):]))
            full = os.path.join(REPO_DIR, rel)
            if rel.startswith("..") or not os.path.isfile(full):
                return self.reply(404, b"Not Found", "text/plain")
            return self.reply(200, open(full, "rb").read(), "application/octet-stream")
        return self.reply(404, b"Not Found", "text/plain")

    do_HEAD = do_GET

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if u.path != "/service/rest/v1/components":
            return self.reply(404, b"Not Found", "text/plain")
        if not self.authorised():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'BASIC realm="Sonatype Nexus Repository Manager"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if q.get("repository", [""])[0] != REPO:
            return self.reply(404, b'"Repository not found"')
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + self.headers.get("Content-Type", "").encode() + b"\r\n\r\n" + body)
        parts = [p for p in msg.iter_parts() if p.get_param("name", header="content-disposition") == "apt.asset"] if msg.is_multipart() else []
        if len(parts) != 1:
            return self.reply(400, json.dumps([{"id": "apt.asset", "message": "Missing required asset field 'apt.asset'"}]).encode())
        data = parts[0].get_payload(decode=True)
        tmp = os.path.join(ROOT, "upload.deb")
        with open(tmp, "wb") as f:
            f.write(data)
        try:
            pkg, ver, arch = control(tmp, "Package"), control(tmp, "Version"), control(tmp, "Architecture")
        except subprocess.CalledProcessError:
            return self.reply(400, json.dumps([{"id": "apt.asset", "message": "Invalid debian package"}]).encode())
        rel = os.path.join("pool", pkg[0], pkg, "%s_%s_%s.deb" % (pkg, ver.split(":")[-1], arch))
        full = os.path.join(REPO_DIR, rel)
        if os.path.exists(full):
            os.unlink(tmp)
            return self.reply(400, json.dumps([{"id": "*", "message": "Repository does not allow updating assets: " + REPO}]).encode())
        os.makedirs(os.path.dirname(full), exist_ok=True)
        os.replace(tmp, full)
        reindex()
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(("127.0.0.1", int(PORT)), H).serve_forever()
