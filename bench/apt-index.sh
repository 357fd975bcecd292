#!/usr/bin/env bash
# The mirror's apt index for a large suite next to nginx serving the same bytes as static files,
# on loopback, in one run: a store with N package records (default 50,000; the debs themselves
# are not needed, `mirror/examples/apt_store.rs` writes the records), then
#   - render time: the first `Packages.gz` and `InRelease` after start (cold; rendered and
#     signed once per store generation), curl's time_total, vs nginx's first GET of the file;
#   - requests/s and p99 of `Packages.gz` and `InRelease` at 64 connections (wrk), vs nginx.
# Also checks that `apt-get update` accepts the mirror's signed suite. Prints ours/peer ratios of
# medians over ROUNDS rounds and the errors seen (zero expected).
# Usage: bench/apt-index.sh   (env: N=50000 ROUNDS=3 DUR=5). Needs wrk and nginx-light
# (apt-get installs them as root). All servers bind 127.0.0.1 and stop on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50000}; ROUNDS=${ROUNDS:-3}; DUR=${DUR:-5}
T=$(mktemp -d "${TMPDIR:-/tmp}/feas-aptidx.XXXXXX"); chmod 755 "$T"
cleanup() { for p in "$T"/*.pid "$T"/nginx/nginx.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; sleep 0.3; rm -rf "$T"; }
trap cleanup EXIT
. bench/lib.sh
log() { echo "apt-index.sh: $*" >&2; }
missing=()
for p in wrk:wrk nginx:nginx-light; do command -v "${p%%:*}" >/dev/null || [ -x "/usr/sbin/${p%%:*}" ] || missing+=("${p#*:}"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "apt-index.sh: missing ${missing[*]}: apt-get install them (needs root)" >&2; exit 1; }
  apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release -q -p mirror --bin mirror --example apt_store --example apt_render
M=$PWD/target/release/mirror
log "writing $N package records"
target/release/examples/apt_store "$T/store" "$N"
MP=$(port); NP=$(port)
D=/apt/bench/dists/stable; PKG=$D/main/binary-amd64/Packages.gz
start_ours() { "$M" serve --store "$T/store" --listen "127.0.0.1:$MP" > "$T/serve.log" 2>&1 & echo $! > "$T/mirror.pid"; up "http://127.0.0.1:$MP/healthz"; }
stop_ours() { kill "$(cat "$T/mirror.pid")"; wait "$(cat "$T/mirror.pid")" 2>/dev/null || true; rm -f "$T/mirror.pid"; }
start_ours
# nginx: the same bytes at the same paths.
W=$T/www; mkdir -p "$W$D/main/binary-amd64" "$T/nginx"
for f in "$PKG" "$D/InRelease" "$D/Release"; do curl -sf -o "$W$f" "http://127.0.0.1:$MP$f"; done
entries=$(zcat "$W$PKG" | grep -c '^Package: ')
[ "$entries" = "$N" ] || { echo "apt-index.sh: Packages.gz lists $entries packages, expected $N" >&2; exit 1; }
cat > "$T/nginx/nginx.conf" <<C
daemon on; worker_processes 2; pid $T/nginx/nginx.pid; error_log $T/nginx/error.log;
events { worker_connections 4096; }
http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;
  client_body_temp_path $T/nginx/body; proxy_temp_path $T/nginx/proxy; fastcgi_temp_path $T/nginx/fastcgi;
  uwsgi_temp_path $T/nginx/uwsgi; scgi_temp_path $T/nginx/scgi;
  server { listen 127.0.0.1:$NP; root $W; } }
C
"$NGINX" -p "$T/nginx" -c "$T/nginx/nginx.conf"
up "http://127.0.0.1:$NP$D/Release"
cmp -s "$W$PKG" <(curl -sf "http://127.0.0.1:$NP$PKG") || { echo "apt-index.sh: nginx serves other bytes" >&2; exit 1; }

# apt-get accepts the mirror's signed suite (its key from /apt/).
A=$T/aptc; mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/etc/trusted.gpg.d" "$A/etc/preferences.d"
curl -sf -o "$A/key.gpg" "http://127.0.0.1:$MP/apt/key.gpg"
echo "deb [signed-by=$A/key.gpg] http://127.0.0.1:$MP/apt/bench stable main" > "$A/sources.list"
apt_ok=no
apt-get -o Dir::Etc::SourceList="$A/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$A/lists" -o Dir::Cache="$A/cache" \
  -o Dir::Etc::Trusted="$A/etc/trusted.gpg" -o Dir::Etc::TrustedParts="$A/etc/trusted.gpg.d" -o Dir::Etc::PreferencesParts="$A/etc/preferences.d" \
  -o Debug::NoLocking=1 -o APT::Architecture=amd64 -q update > "$T/apt.log" 2>&1 && ! grep -q '^[WE]:' "$T/apt.log" && apt_ok=yes
[ "$apt_ok" = yes ] || { log "apt-get update against the mirror failed:"; cat "$T/apt.log" >&2; }

cat > "$T/report.lua" <<'L'
done = function(s, lat, req)
  local e = s.errors
  io.write(string.format("RESULT %.1f %.3f %d\n", s.requests / s.duration * 1e6, lat:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout + e.status))
end
L
R=$T/results; mkdir -p "$R"
bench() { wrk -t2 -c64 -d"${DUR}s" --timeout 60s --latency -s "$T/report.lua" "http://127.0.0.1:$2$3" | sed -n 's/^RESULT //p' >> "$R/$1"; }
cold() { curl -sf -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$2$3" >> "$R/$1"; }
log "measuring: $ROUNDS rounds"
for r in $(seq "$ROUNDS"); do
  stop_ours; start_ours   # a fresh process: the first request renders (and signs) the suite
  cold cold_pkg.ours "$MP" "$PKG"; cold cold_pkg.nginx "$NP" "$PKG"
  cold cold_inrel.ours "$MP" "$D/InRelease"; cold cold_inrel.nginx "$NP" "$D/InRelease"
  for s in ours:$MP nginx:$NP; do bench "pkg.${s%%:*}" "${s#*:}" "$PKG"; bench "inrel.${s%%:*}" "${s#*:}" "$D/InRelease"; done
done
python3 - "$R" "N=$N ROUNDS=$ROUNDS DUR=$DUR bench/apt-index.sh" "$N" "$(stat -c %s "$W$PKG")" "$(nproc)" "$(free -g | awk '/^Mem:/{print $2}')" "$apt_ok" <<'PY'
import statistics, sys
R, cmd, n, size, cpus, ram, apt_ok = sys.argv[1:]
def load(k):
    rows = [list(map(float, l.split())) for l in open(f"{R}/{k}")]
    return [statistics.median(c) for c in zip(*rows)], int(sum(r[-1] for r in rows)) if len(rows[0]) > 1 else 0
print(f"# `{cmd}` on {cpus} CPUs, {ram} GiB RAM; loopback; {n} packages, Packages.gz {int(size)//1024} KiB; apt-get update accepts the suite: {apt_ok}")
print(f"{'measure':<52} {'ours':>9} {'nginx':>9} {'ours/nginx':>10}  errors ours/nginx")
def row(what, k, col, fmt):
    (o, oe), (p, pe) = load(k + ".ours"), load(k + ".nginx")
    print(f"{what:<52} {fmt.format(o[col]):>9} {fmt.format(p[col]):>9} {o[col] / p[col]:>10.2f}  {oe}/{pe}")
row("first Packages.gz after start (s, render)", "cold_pkg", 0, "{:.3f}")
row("first InRelease after start (s, render + sign)", "cold_inrel", 0, "{:.3f}")
row("Packages.gz, 64 conns (req/s)", "pkg", 0, "{:.0f}")
row("Packages.gz, 64 conns (p99 ms)", "pkg", 1, "{:.2f}")
row("InRelease, 64 conns (req/s)", "inrel", 0, "{:.0f}")
row("InRelease, 64 conns (p99 ms)", "inrel", 1, "{:.2f}")
PY
# Incremental: in one process, a full render, then a one-package import (the earlier rendering is
# served at once) and its background re-render, which compresses only the changed chunk.
stop_ours
target/release/examples/apt_render "$T/store"
