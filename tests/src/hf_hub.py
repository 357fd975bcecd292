# A small stand-in for the Hugging Face hub, answering as huggingface.co does the requests
# huggingface_hub 2.4.0 and the bundler make (REAL-CLIENTS §9):
#   GET  /api/models/<owner>/<name>[/revision/<rev>]      model info (sha, siblings, ...)
#   GET  /api/models/<owner>/<name>/tree/<rev>[/<path>]   ?recursive=&expand=&cursor=, paginated
#                                                         with an absolute `Link: <…>; rel="next"`
#   HEAD/GET /<owner>/<name>/resolve/<rev>/<path>         git files: 200 with X-Repo-Commit and the
#                                                         git blob id as ETag; LFS files: 302 to the
#                                                         CDN (another origin) with X-Linked-Etag
#                                                         (sha256) and X-Linked-Size
#   HEAD/GET /lfs-cdn/<sha256> on the CDN port            the bytes, with Range
# Errors carry the hub's X-Error-Code (RepoNotFound as 401, as the hub answers anonymous
# clients; RevisionNotFound, EntryNotFound as 404).
# Knobs from the config: page_size; bad_bytes (paths whose served bytes differ from what the
# tree claims); drop_once (paths whose first full download is cut off halfway); token (the
# repos are gated: hub requests without `Authorization: Bearer <token>` get 401 GatedRepo).
# Usage: python3 hf_hub.py CONFIG.json HUB_PORT CDN_PORT
import base64
import hashlib
import json
import os
import socket
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CFG = json.load(open(sys.argv[1]))
HUB, CDN = int(sys.argv[2]), int(sys.argv[3])
PAGE = int(CFG.get("page_size", 1000))
BAD = set(CFG.get("bad_bytes", []))
DROP = set(CFG.get("drop_once", []))
TOKEN = CFG.get("token")
dropped = set()
lock = threading.Lock()


def git_oid(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


REPOS, BLOBS = {}, {}
for repo_id, r in CFG["repos"].items():
    files = {}
    for f in r["files"]:
        size = os.path.getsize(f["local"])
        meta = {"path": f["path"], "local": f["local"], "size": size}
        if f.get("lfs"):
            sha = f.get("sha256") or sha256_file(f["local"])
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {size}\n".encode()
            meta["lfs"] = {"oid": sha, "size": size, "pointerSize": len(pointer)}
            meta["oid"] = git_oid(pointer)
            BLOBS[sha] = meta
        else:
            with open(f["local"], "rb") as fh:
                meta["oid"] = git_oid(fh.read())
        files[f["path"]] = meta
    REPOS[repo_id] = {"commit": r["commit"], "branches": r.get("branches", {"main": r["commit"]}), "files": files}


class Hub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        auth = "yes" if self.headers.get("Authorization") else "no"
        sys.stderr.write("%s %s range=%s auth=%s port=%d\n" % (self.command, self.path, self.headers.get("Range"), auth, self.server.server_port))
        sys.stderr.flush()

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def json(self, status, obj, headers=()):
        self.send(status, json.dumps(obj).encode(), [("Content-Type", "application/json; charset=utf-8"), *headers])

    def error(self, status, code, msg, extra=()):
        self.json(status, {"error": msg}, [("X-Error-Code", code), ("X-Error-Message", msg), *extra])

    def do_HEAD(self):
        self.route()

    def do_GET(self):
        self.route()

    def route(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        parts = u.path.split("/")
        unq = urllib.parse.unquote
        try:
            if self.server.server_port == CDN:
                if len(parts) == 3 and parts[1] == "lfs-cdn" and parts[2] in BLOBS:
                    meta = BLOBS[parts[2]]
                    return self.file(meta, f'"{parts[2]}"', [])
                return self.send(404, b"NoSuchKey")
            if u.path == "/":
                return self.send(200, b"stand-in hub\n")
            if parts[1:3] == ["api", "models"] and len(parts) >= 5:
                repo, rest = unq(parts[3]) + "/" + unq(parts[4]), parts[5:]
                if not rest:
                    return self.info(repo, "main")
                if rest[0] == "revision" and len(rest) == 2:
                    return self.info(repo, unq(rest[1]))
                if rest[0] == "tree" and len(rest) >= 2:
                    return self.tree(repo, unq(rest[1]), unq("/".join(rest[2:])).strip("/"), q, u.path)
            if len(parts) >= 6 and parts[3] == "resolve":
                return self.resolve(unq(parts[1]) + "/" + unq(parts[2]), unq(parts[4]), unq("/".join(parts[5:])))
            self.send(404, b"Not Found")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def find(self, repo, rev):
        r = REPOS.get(repo)
        if r is None:
            self.error(401, "RepoNotFound", "Repository not found")
            return None
        if TOKEN and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.error(401, "GatedRepo", f"Access to model {repo} is restricted. You must have access to it and be authenticated to access it.")
            return None
        commit = r["branches"].get(rev) or (rev if rev == r["commit"] else None)
        if commit is None:
            self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            return None
        return r

    def info(self, repo, rev):
        r = self.find(repo, rev)
        if r is None:
            return
        self.json(200, {
            "_id": "65f0c0ffee0000000000beef", "id": repo, "modelId": repo, "author": repo.split("/")[0],
            "sha": r["commit"], "lastModified": "2024-05-01T12:00:00.000Z", "createdAt": "2023-01-01T00:00:00.000Z",
            "private": False, "disabled": False, "gated": False, "downloads": 7, "likes": 1,
            "library_name": "sentence-transformers", "pipeline_tag": "feature-extraction", "tags": ["sentence-transformers"],
            "siblings": [{"rfilename": p} for p in sorted(r["files"])], "spaces": [],
            "usedStorage": sum(m["size"] for m in r["files"].values()),
        })

    def tree(self, repo, rev, path, q, raw_path):
        r = self.find(repo, rev)
        if r is None:
            return
        recursive = q.get("recursive", ["false"])[0].lower() in ("true", "1")
        expand = q.get("expand", ["false"])[0].lower() in ("true", "1")
        files = r["files"]
        dirs = sorted({"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)})
        if path and path not in dirs:
            return self.error(404, "EntryNotFound", f"{path} does not exist on \"{rev}\"", [("X-Repo-Commit", r["commit"])])
        prefix = path + "/" if path else ""

        def wanted(p):
            return p.startswith(prefix) and (recursive or "/" not in p[len(prefix):])

        entries = [{"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d} for d in dirs if wanted(d)]
        for p, m in files.items():
            if wanted(p):
                e = {"type": "file", "oid": m["oid"], "size": m["size"], "path": p}
                if "lfs" in m:
                    e["lfs"] = m["lfs"]
                entries.append(e)
        entries.sort(key=lambda e: e["path"])
        start = int(base64.b64decode(q["cursor"][0]).decode()) if "cursor" in q else 0
        headers = []
        if start + PAGE < len(entries):
            cursor = base64.b64encode(str(start + PAGE).encode()).decode()
            nq = urllib.parse.urlencode({"recursive": str(recursive), "expand": str(expand), "cursor": cursor})
            headers.append(("Link", f'<http://127.0.0.1:{HUB}{raw_path}?{nq}>; rel="next"'))
        self.json(200, entries[start:start + PAGE], headers)

    def resolve(self, repo, rev, path):
        r = self.find(repo, rev)
        if r is None:
            return
        m = r["files"].get(path)
        base = [("X-Repo-Commit", r["commit"])]
        if m is None:
            return self.error(404, "EntryNotFound", "Entry not found", base)
        if "lfs" in m:
            sha = m["lfs"]["oid"]
            loc = f"http://127.0.0.1:{CDN}/lfs-cdn/{sha}"
            return self.send(302, b"", base + [("Location", loc), ("ETag", f'"{sha}"'), ("X-Linked-Etag", f'"{sha}"'), ("X-Linked-Size", str(m["size"]))])
        self.file(m, f'"{m["oid"]}"', base)

    def file(self, meta, etag, headers):
        size = meta["size"]
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            a, _, b = rng[6:].partition("-")
            start = int(a) if a else max(size - int(b), 0)
            end = int(b) if a and b else size - 1
            if start >= size:
                return self.send(416, b"", [("Content-Range", f"bytes */{size}")])
            status = 206
        length = end - start + 1
        self.send_response(status)
        for k, v in headers + [("ETag", etag), ("Accept-Ranges", "bytes"), ("Content-Type", "application/octet-stream")]:
            self.send_header(k, v)
        self.send_header("Content-Length", str(length))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        path = meta["path"]
        if path in BAD:
            # Different bytes than the tree promises, same length.
            with open(meta["local"], "rb") as f:
                data = bytes(b ^ 0xFF for b in f.read())
            self.wfile.write(data[start:end + 1])
            return
        cut = None
        with lock:
            if path in DROP and path not in dropped and start == 0:
                dropped.add(path)
                cut = length // 2
        with open(meta["local"], "rb") as f:
            self.connection.sendfile(f, start, cut if cut is not None else length)
        if cut is not None:
            # A dropped connection halfway: the client must resume with Range.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)


# Both bound before serving, so a taken port ends the process ("Address already in use").
servers = [ThreadingHTTPServer(("127.0.0.1", port), Hub) for port in (CDN, HUB)]
for s in servers:
    s.daemon_threads = True
threading.Thread(target=servers[0].serve_forever, daemon=True).start()
servers[1].serve_forever()
