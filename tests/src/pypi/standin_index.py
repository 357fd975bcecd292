import http.server, io, json, os, re, sys
root, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
JSON = "application/vnd.pypi.simple.v1+json"
def wants_json(accept):
    best_q, best = -1.0, "html"
    for part in accept.split(","):
        bits = [b.strip() for b in part.split(";")]
        mt, q = bits[0].lower(), 1.0
        for b in bits[1:]:
            if b.startswith("q="):
                try:
                    q = float(b[2:])
                except ValueError:
                    q = 0.0
        kind = {JSON: "json", "application/vnd.pypi.simple.latest+json": "json",
                "application/vnd.pypi.simple.v1+html": "html", "application/vnd.pypi.simple.latest+html": "html",
                "text/html": "html", "*/*": "html"}.get(mt)
        if kind and q > best_q:
            best_q, best = q, kind
    return best == "json"
class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=root, **k)
    def log_request(self, code="-", size="-"):
        code = getattr(code, "value", code)
        sys.stdout.write("REQ %s %s %s %s\n" % (self.command, self.path, code, json.dumps(self.headers.get("Accept", ""))))
        sys.stdout.flush()
    def log_message(self, fmt, *args):
        sys.stdout.write((fmt % args) + "\n")
        sys.stdout.flush()
    def send_head(self):
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        m = re.fullmatch(r"/simple/([^/]+)/?", path)
        if m:
            norm = re.sub(r"[-_.]+", "-", m.group(1)).lower()
            if norm != m.group(1) or not path.endswith("/"):
                self.send_response(301)
                self.send_header("Location", "/simple/%s/" % norm)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
        if path == "/simple/" or m:
            j = mode == "json" or (mode == "negotiate" and wants_json(self.headers.get("Accept", "")))
            f = os.path.join(root, path.strip("/"), "index.json" if j else "index.html")
            if not os.path.isfile(f):
                self.send_error(404)
                return None
            body = open(f, "rb").read()
            self.send_response(200)
            self.send_header("Content-Type", JSON if j else "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Vary", "Accept")
            self.end_headers()
            return io.BytesIO(body)
        return super().send_head()
http.server.ThreadingHTTPServer.allow_reuse_address = False
httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
print("listening on 127.0.0.1:%d" % port, flush=True)
httpd.serve_forever()
