#!/usr/bin/env bash
# Serving speed of `mirror serve` next to its peers on the same bytes, on loopback, in one run:
# Debian's docker-registry (distribution 2.8, filesystem storage) holding the same images, and
# nginx (sendfile) serving the same blob file, manifest bytes and pre-rendered PyPI pages as
# static files. Prints ours/peer ratios of medians over ROUNDS rounds, and every error seen
# (wrk socket errors, non-2xx/3xx, failed skopeo copies): zero expected.
#   - blob GET of a 1 GiB layer, 1 and 16 connections (wrk): MiB/s
#   - manifest GET and `/v2/` GET at 64 connections (wrk): req/s and p99
#   - PyPI /simple/<project>/ of a project with 5,000 files, HTML and PEP 691 JSON, 64 connections
#   - 32 concurrent `skopeo copy docker://… dir:…` of a 200 MiB five-layer image
# Usage: bench/serve.sh   (env: ROUNDS=3, DUR=5 seconds per wrk run, FILES=5000, PULLS=32)
# Needs root for apt-get when wrk, nginx-light, docker-registry or skopeo are missing; ~8 GiB
# free under $TMPDIR; builds release binaries. All servers bind 127.0.0.1 and stop on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}; DUR=${DUR:-5}; FILES=${FILES:-5000}; PULLS=${PULLS:-32}
T=$(mktemp -d "${TMPDIR:-/tmp}/feas-serve.XXXXXX")
chmod 755 "$T"   # nginx workers read the static tree
cleanup() {
  for p in "$T"/*.pid "$T"/nginx/nginx.pid "$T"/pulls/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
  sleep 0.3; rm -rf "$T"
}
trap cleanup EXIT
. bench/lib.sh
log() { echo "serve.sh: $*" >&2; }

# Peers and clients: Debian packages, installed when missing and allowed.
missing=()
for p in wrk:wrk nginx:nginx-light docker-registry:docker-registry skopeo:skopeo; do
  command -v "${p%%:*}" >/dev/null || [ -x "/usr/sbin/${p%%:*}" ] || missing+=("${p#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "serve.sh: missing ${missing[*]}: apt-get install them (needs root)" >&2; exit 1; }
  log "installing ${missing[*]}"
  apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release -q -p bundler -p mirror
B=$PWD/target/release/bundler; M=$PWD/target/release/mirror
"$B" keygen --out "$T/keys" --unencrypted 2>/dev/null
export BUNDLER_CACHE=$T/cache
RP=$(port); MP=$(port); NP=$(port); UP=$(port)

# An OCI layout with two single-platform images of incompressible, uncompressed layers:
# `big` = one 1 GiB layer; `multi` = five 40 MiB layers.
log "writing the images"
python3 - "$T/layout" <<'PY'
import hashlib, json, os, sys, tarfile
root = sys.argv[1]; os.makedirs(f"{root}/blobs/sha256")
class Out:
    def __init__(s): s.f = open(f"{root}/tmp", "wb"); s.h = hashlib.sha256(); s.n = 0
    def write(s, b): s.h.update(b); s.n += len(b); return s.f.write(b)
    def done(s):
        s.f.close(); d = s.h.hexdigest(); os.rename(f"{root}/tmp", f"{root}/blobs/sha256/{d}")
        return {"digest": "sha256:" + d, "size": s.n}
class Rand:
    def read(s, n): return os.urandom(n)
def put(b):
    o = Out(); o.write(b); return o.done()
def layer(name, size):
    o = Out()
    with tarfile.open(fileobj=o, mode="w|", format=tarfile.USTAR_FORMAT, bufsize=1 << 20) as t:
        ti = tarfile.TarInfo(name); ti.size = size; ti.mtime = 0
        t.addfile(ti, Rand())
    return dict(o.done(), mediaType="application/vnd.oci.image.layer.v1.tar")
refs = []
for tag, sizes in (("big", [1 << 30]), ("multi", [40 << 20] * 5)):
    layers = [layer(f"{tag}-{i}.bin", n) for i, n in enumerate(sizes)]
    if tag == "big": open(f"{root}/big-layer", "w").write(layers[0]["digest"])
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]}}).encode()
    m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(put(cfg), mediaType="application/vnd.oci.image.config.v1+json"), "layers": layers}).encode()
    refs.append(dict(put(m), mediaType="application/vnd.oci.image.manifest.v1+json", annotations={"org.opencontainers.image.ref.name": tag}))
json.dump({"schemaVersion": 2, "manifests": refs}, open(f"{root}/index.json", "w"))
open(f"{root}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY

# A stand-in PyPI upstream where project benchproj has $FILES tiny wheels, one version each.
# The resolver picks one file per requirement and target, so the manifest has one `pypi:` entry
# per version, each on its own index (a one-link page) to keep locking linear.
log "writing $FILES wheels"
python3 - "$T/pyup" "$UP" "$FILES" "$T/pypi.yaml" <<'PY'
import hashlib, os, sys, zipfile
root, port, n, manifest = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
os.makedirs(f"{root}/files")
with open(manifest, "w") as m:
    m.write("name: benchpypi\nplatforms: [linux/amd64]\npypi:\n")
    for i in range(n):
        v = f"1.0.{i}"; fn = f"benchproj-{v}-py3-none-any.whl"; p = f"{root}/files/{fn}"
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("benchproj/__init__.py", "")
            z.writestr(f"benchproj-{v}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: benchproj\nVersion: {v}\nRequires-Python: >=3.8\n")
            z.writestr(f"benchproj-{v}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
            z.writestr(f"benchproj-{v}.dist-info/RECORD", "")
        h = hashlib.sha256(open(p, "rb").read()).hexdigest()
        os.makedirs(f"{root}/i/{i}/benchproj")
        open(f"{root}/i/{i}/benchproj/index.html", "w").write(
            f'<!DOCTYPE html><html><body><a href="/files/{fn}#sha256={h}" data-requires-python="&gt;=3.8">{fn}</a></body></html>\n')
        m.write(f'  - {{index: "http://127.0.0.1:{port}/i/{i}/", python: ["3.11"], requirements: ["benchproj=={v}"]}}\n')
PY

log "registry: pushing the images"
start_registry "$RP" "accesslog: {disabled: true}"
for tag in big multi; do
  skopeo copy -q --preserve-digests --dest-tls-verify=false "oci:$T/layout:$tag" "docker://127.0.0.1:$RP/library/$tag:1"
done

log "bundling and importing"
printf 'name: benchimg\nplatforms: [linux/amd64]\nimages:\n' > "$T/img.yaml"
for tag in big multi; do printf '  - {ref: "docker.io/library/%s:1", oci_layout: "%s", layout_ref: %s}\n' "$tag" "$T/layout" "$tag" >> "$T/img.yaml"; done
python3 -m http.server "$UP" --bind 127.0.0.1 --directory "$T/pyup" >/dev/null 2>&1 & echo $! > "$T/pyup.pid"
up "http://127.0.0.1:$UP/i/0/benchproj/"
for b in img pypi; do
  "$B" lock "$T/$b.yaml" --lock "$T/$b.lock" 2>/dev/null
  "$B" create "$T/$b.yaml" --key "$T/keys/bundle.key" --out "$T/$b.bundle" --lock "$T/$b.lock" --locked --compression none --json >/dev/null
  "$M" import "$T/$b.bundle" --store "$T/store" --trust "$T/keys/bundle.pub" 2>/dev/null
  rm -f "$T/$b.bundle"
done
kill "$(cat "$T/pyup.pid")"; rm -f "$T/pyup.pid"; rm -rf "$T/cache" "$T/pyup"
"$M" serve --store "$T/store" --listen "127.0.0.1:$MP" > "$T/mirror.log" 2>&1 & echo $! > "$T/mirror.pid"
up "http://127.0.0.1:$MP/v2/"

# nginx: the same bytes as static files at the same URL paths (query strings are ignored).
OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
PYPI_JSON=application/vnd.pypi.simple.v1+json
BIG=$(cat "$T/layout/big-layer")
W=$T/www; mkdir -p "$W/v2/library/big/manifests" "$W/v2/library/big/blobs" "$W/pypi/simple/benchproj" "$T/nginx"
echo '{}' > "$W/v2/index.json"
curl -sf -H "Accept: $OCI_MANIFEST" "http://127.0.0.1:$MP/v2/library/big/manifests/1?ns=docker.io" > "$W/v2/library/big/manifests/1"
cp "$T/layout/blobs/sha256/${BIG#sha256:}" "$W/v2/library/big/blobs/$BIG"
rm -rf "$T/layout"
curl -sf "http://127.0.0.1:$MP/pypi/simple/benchproj/" > "$W/pypi/simple/benchproj/index.html"
curl -sf -H "Accept: $PYPI_JSON" "http://127.0.0.1:$MP/pypi/simple/benchproj/" > "$W/pypi/simple/benchproj/index.json"
[ "$(id -u)" = 0 ] && user="user root;" || user=""
cat > "$T/nginx/nginx.conf" <<C
$user
worker_processes auto;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off; sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_requests 10000000;
  client_body_temp_path $T/nginx/body; proxy_temp_path $T/nginx/proxy; fastcgi_temp_path $T/nginx/fastcgi;
  uwsgi_temp_path $T/nginx/uwsgi; scgi_temp_path $T/nginx/scgi;
  types { text/html html; application/json json; }
  map \$http_accept \$pypi_page { ~vnd\\.pypi\\.simple\\.v1\\+json index.json; default index.html; }
  server {
    listen 127.0.0.1:$NP; root $W; default_type application/octet-stream;
    location = /v2/ { try_files /v2/index.json =404; }
    location /v2/library/big/manifests/ { default_type $OCI_MANIFEST; }
    location /pypi/simple/ { index \$pypi_page; }
  }
}
C
"$NGINX" -p "$T/nginx" -c "$T/nginx/nginx.conf"
up "http://127.0.0.1:$NP/v2/"

declare -A HOST=([ours]="127.0.0.1:$MP" [registry]="127.0.0.1:$RP" [nginx]="127.0.0.1:$NP")
# The same request paths for all three: containerd's mirror form (`?ns=`), which docker-registry
# and nginx ignore; ours resolves it to the docker.io/library/big repository.
MAN="/v2/library/big/manifests/1?ns=docker.io"; BLOB="/v2/library/big/blobs/$BIG?ns=docker.io"; PAGE="/pypi/simple/benchproj/"

# Same bytes everywhere, or the comparison means nothing.
for s in ours registry nginx; do
  h=$(curl -sf -H "Accept: $OCI_MANIFEST" "http://${HOST[$s]}$MAN" | sha256sum | cut -c1-64)
  [ "$h" = "$(sha256sum < "$W/v2/library/big/manifests/1" | cut -c1-64)" ] || { echo "serve.sh: $s serves other manifest bytes" >&2; exit 1; }
  [ "$(curl -sf "http://${HOST[$s]}$BLOB" | sha256sum | cut -c1-64)" = "${BIG#sha256:}" ] || { echo "serve.sh: $s serves other blob bytes" >&2; exit 1; }
done
for a in text/html "$PYPI_JSON"; do
  cmp -s <(curl -sf -H "Accept: $a" "http://127.0.0.1:$MP$PAGE") <(curl -sf -H "Accept: $a" "http://127.0.0.1:$NP$PAGE") || { echo "serve.sh: nginx serves another page for $a" >&2; exit 1; }
done

# wrk prints one line per run: req/s MiB/s p50_ms p99_ms errors (socket errors + status >= 400).
cat > "$T/report.lua" <<'L'
done = function(s, lat, req)
  local e = s.errors
  io.write(string.format("RESULT %.1f %.1f %.3f %.3f %d\n", s.requests / s.duration * 1e6, s.bytes / s.duration * 1e6 / 1048576,
    lat:percentile(50) / 1000, lat:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout + e.status))
end
L
R=$T/results; mkdir -p "$R"
# bench KEY SERVER PATH CONNS [Accept]: one round of wrk, appended to $R/KEY.SERVER
bench() {
  local key=$1 srv=$2 path=$3 c=$4 accept=${5:-*/*} t=2
  [ "$c" -lt 2 ] && t=1
  wrk -t"$t" -c"$c" -d"${DUR}s" --timeout 60s --latency -s "$T/report.lua" -H "Accept: $accept" "http://${HOST[$srv]}$path" | sed -n 's/^RESULT //p' >> "$R/$key.$srv"
}
# pulls SERVER: PULLS concurrent skopeo copies; appends "seconds failures"
pulls() {
  local srv=$1 repo=library/multi:1 fails=0 start
  [ "$srv" = ours ] && repo=docker.io/library/multi:1
  rm -rf "$T/pulls"; mkdir -p "$T/pulls"; start=$(date +%s.%N)
  for i in $(seq "$PULLS"); do
    skopeo copy -q --src-tls-verify=false "docker://${HOST[$srv]}/$repo" "dir:$T/pulls/$i" > "$T/pulls/$i.log" 2>&1 & echo $! > "$T/pulls/$i.pid"
  done
  for i in $(seq "$PULLS"); do wait "$(cat "$T/pulls/$i.pid")" || fails=$((fails + 1)); done
  echo "$(python3 -c "import time;print(f'{time.time()-$start:.2f}')") $fails" >> "$R/pull.$srv"
  rm -rf "$T/pulls"
}

log "measuring: $ROUNDS rounds"
for r in $(seq "$ROUNDS"); do
  log "round $r"
  for s in ours nginx registry; do
    bench blob1 "$s" "$BLOB" 1; bench blob16 "$s" "$BLOB" 16
    bench man "$s" "$MAN" 64 "$OCI_MANIFEST"; bench base "$s" /v2/ 64
  done
  for s in ours nginx; do
    bench html "$s" "$PAGE" 64 text/html; bench json "$s" "$PAGE" 64 "$PYPI_JSON"; bench html1 "$s" "$PAGE" 1 text/html
  done
  for s in ours registry; do pulls "$s"; done
done

# Medians per column, error sums, and the table.
peers="$("$NGINX" -v 2>&1 | cut -d' ' -f3), docker-registry $(dpkg-query -W -f '${Version}' docker-registry 2>/dev/null), wrk $(dpkg-query -W -f '${Version}' wrk 2>/dev/null), skopeo $(skopeo --version | cut -d' ' -f3)"
python3 - "$R" "ROUNDS=$ROUNDS DUR=$DUR FILES=$FILES PULLS=$PULLS bench/serve.sh" "$PULLS" "$FILES" "$(nproc)" "$(free -g | awk '/^Mem:/{print $2}')" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" "$peers" <<'PY'
import statistics, sys
R, cmd, pulls, files, cpus, ram, model, peers = sys.argv[1:]
def load(key, srv):
    rows = [list(map(float, l.split())) for l in open(f"{R}/{key}.{srv}")]
    return [statistics.median(c) for c in zip(*rows)], int(sum(r[-1] for r in rows))
print(f"# `{cmd}` on {cpus} CPUs ({model}), {ram} GiB RAM; loopback, clients share the CPUs; medians of {len(open(f'{R}/man.ours').readlines())} rounds")
print(f"# peers: {peers}; ratio = ours/peer: above 1 is better for MiB/s and req/s, below 1 for ms and s")
print(f"{'measure':<46} {'peer':<9} {'ours':>8} {'peer':>8} {'ours/peer':>9}  errors ours/peer")
def row(what, key, peer, col, fmt="{:.0f}"):
    (o, oe), (p, pe) = load(key, "ours"), load(key, peer)
    ratio = o[col] / p[col] if p[col] else float("nan")
    print(f"{what:<46} {peer:<9} {fmt.format(o[col]):>8} {fmt.format(p[col]):>8} {ratio:>9.2f}  {oe}/{pe}")
for conns, key in (("1 conn", "blob1"), ("16 conns", "blob16")):
    for peer in ("nginx", "registry"):
        row(f"blob GET 1 GiB, {conns} (MiB/s)", key, peer, 1)
for what, key in (("manifest GET", "man"), ("/v2/ GET", "base")):
    for peer in ("registry", "nginx"):
        row(f"{what}, 64 conns (req/s)", key, peer, 0)
        row(f"{what}, 64 conns (p99 ms)", key, peer, 3, "{:.2f}")
row(f"PyPI page, {files} files, HTML, 64 conns (req/s)", "html", "nginx", 0)
row(f"PyPI page, {files} files, HTML, 64 conns (p99 ms)", "html", "nginx", 3, "{:.2f}")
row(f"PyPI page, {files} files, JSON, 64 conns (req/s)", "json", "nginx", 0)
row(f"PyPI page, {files} files, HTML, 1 conn (p50 ms)", "html1", "nginx", 2, "{:.2f}")
row(f"{pulls}x skopeo copy 200 MiB, 5 layers (s)", "pull", "registry", 0, "{:.2f}")
PY
