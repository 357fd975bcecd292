#!/usr/bin/env bash
# Reads that cost their answer, under load (issue 18): a store with N tags in one repository
# (and 1,000 in another) and N blob records, served by `mirror serve` on loopback.
#   - one 100-tag page of tags/list at 1k vs N tags (single client, wrk p50): flat means ~1x
#   - `/` cold (first render after start, curl) and warm (cached per generation, wrk)
#   - /healthz p50/p99 and req/s idle, then while CLIENTS clients page tags/list at random
#     `last` and CLIENTS more fetch `/`: a scan on the async workers would show here
# Usage: bench/read-load.sh   (env: N=500000, DUR=10 seconds per wrk run, CLIENTS=2,
#   MIRROR=path to a mirror binary to measure instead of this tree's release build)
# Needs wrk (apt-get install wrk). Binds 127.0.0.1 only; stops its server on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-500000}; DUR=${DUR:-10}; CLIENTS=${CLIENTS:-2}
command -v wrk >/dev/null || { echo "read-load.sh: needs wrk (apt-get install wrk)" >&2; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/feas-read-load.XXXXXX")
cleanup() { [ -f "$T/mirror.pid" ] && kill "$(cat "$T/mirror.pid")" 2>/dev/null; for p in "$T"/load*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; sleep 0.3; rm -rf "$T"; }
trap cleanup EXIT
. bench/lib.sh
log() { echo "read-load.sh: $*" >&2; }

cargo build --release -q -p mirror --example oci_store
M=${MIRROR:-$PWD/target/release/mirror}
[ -n "${MIRROR:-}" ] || cargo build --release -q -p mirror
log "filling a store with $N tags and $N blob records"
t0=$(date +%s.%N)
target/release/examples/oci_store "$T/store" "$N"
log "filled in $(echo "$(date +%s.%N) - $t0" | bc) s"
P=$(port); U=http://127.0.0.1:$P
"$M" serve --store "$T/store" --listen "127.0.0.1:$P" > "$T/mirror.log" 2>&1 & echo $! > "$T/mirror.pid"
up "$U/healthz"

# `wrk --latency` output → "req/s p50 p99" (latencies in ms).
ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.2f", v}'; }
summary() {
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$1")
  p50=$(awk '$1=="50%" {print $2}' "$1" | ms); p99=$(awk '$1=="99%" {print $2}' "$1" | ms)
  echo "$rps req/s, p50 ${p50} ms, p99 ${p99} ms"
}
cat > "$T/pages.lua" <<LUA
local n = $N
request = function()
  return wrk.format("GET", string.format("/v2/bench/big/tags/list?n=100&last=t%07d", math.random(0, n - 1)))
end
LUA

curl -sf -o /dev/null -w '%{time_total}\n' "$U/" > "$T/cold"
echo "/ cold (first render, $N tags + $N blobs): $(awk '{printf "%.1f ms", $1*1000}' "$T/cold")"
for repo in small big; do
  wrk -t1 -c1 -d"$DUR" --latency "$U/v2/bench/$repo/tags/list?n=100&last=t0000500" > "$T/page-$repo"
done
echo "tags/list 100-tag page, 1k tags:   $(summary "$T/page-small")"
echo "tags/list 100-tag page, $N tags: $(summary "$T/page-big")"
wrk -t1 -c8 -d"$DUR" --latency "$U/healthz" > "$T/idle"
echo "/healthz idle (8 conns):                $(summary "$T/idle")"

# Load: CLIENTS connections paging tags at random, CLIENTS fetching `/`, for the whole healthz run.
wrk -t1 -c"$CLIENTS" -d"$((DUR + 4))" --latency -s "$T/pages.lua" "$U" > "$T/load-pages" 2>&1 & echo $! > "$T/load1.pid"
wrk -t1 -c"$CLIENTS" -d"$((DUR + 4))" --latency "$U/" > "$T/load-home" 2>&1 & echo $! > "$T/load2.pid"
sleep 1
wrk -t1 -c8 -d"$DUR" --latency "$U/healthz" > "$T/loaded"
wait "$(cat "$T/load1.pid")" "$(cat "$T/load2.pid")" 2>/dev/null || true
rm -f "$T"/load*.pid
echo "/healthz under load (8 conns):          $(summary "$T/loaded")"
echo "  meanwhile tags/list pages ($CLIENTS conns): $(summary "$T/load-pages")"
echo "  meanwhile / ($CLIENTS conns):               $(summary "$T/load-home")"
grep -h "Non-2xx\|Socket errors" "$T"/idle "$T"/loaded "$T"/load-* "$T"/page-* || echo "errors: none"
