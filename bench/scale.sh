#!/usr/bin/env bash
# How the mirror's costs grow with its store, 1k → 1M records, in one run on loopback. For each
# size a store is filled by `mirror/examples/scale_store.rs` (half apt records, a quarter PyPI
# files, a quarter pushed image tags over four repositories), then, medians of REPS:
#   writes, no server:   a one-file `mirror import`, `mirror rm` of one deb, of one tag;
#   writes, serving:     an import through the server, a push (blob + manifest under a new tag),
#                        a tag DELETE, and the stop (SIGTERM → exit);
#   reads, serving:      `/`, `/apt/`, a 100-tag page of tags/list from the middle, the PyPI root,
#                        `Packages.gz` of the big suite right after a push (a cache hit unless a
#                        push re-renders it), its first render; the server's peak RSS;
#   memory, no server:   peak RSS of `gc --dry-run` and `verify`.
# Prints one row per measure, one column per size and the ratio of the largest size to the
# smallest: a cost that follows its answer stays near 1.
# Usage: bench/scale.sh   (env: SIZES="1000 10000 100000 1000000" REPS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"1000 10000 100000 1000000"}; REPS=${REPS:-3}
T=$(mktemp -d "${TMPDIR:-/tmp}/feas-scale.XXXXXX")
cleanup() { for p in "$T"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; sleep 0.3; rm -rf "$T"; }
trap cleanup EXIT
. bench/lib.sh
log() { echo "scale.sh: $*" >&2; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.4f}')" "$1" "$(now)"; }
# Seconds a command takes (its output to $T/cmd.log; a failure stops the run, naming it).
timed() { local t0; t0=$(now); "$@" > "$T/cmd.log" 2>&1 || { log "failed: $*"; cat "$T/cmd.log" >&2; exit 1; }; since "$t0"; }
# curl's time_total for one request; HTTP status other than 2xx stops the run.
fetch() { curl -sf -o /dev/null -w '%{time_total}\n' "$@" || { log "request failed: $*"; exit 1; }; }
# Peak RSS (MB) of a command (verify exits non-zero here: the apt and PyPI records name no files).
rss() { /usr/bin/time -f "%M" -o "$T/rss" "$@" > "$T/cmd.log" 2>&1 || true; echo "$(( $(tail -1 "$T/rss") / 1024 ))"; }
[ -x /usr/bin/time ] || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null; }

cargo build --release -q -p mirror --bin mirror --example scale_store -p bundler --bin bundler
M=$PWD/target/release/mirror; B=$PWD/target/release/bundler; FILL=$PWD/target/release/examples/scale_store
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3

# One-file bundles, one name each: REPS imported offline, REPS through the server, per size.
log "making $((2 * REPS)) one-file bundles"
"$B" keygen --out "$T/keys" --unencrypted > /dev/null 2>&1
mkdir -p "$T/www" "$T/bundles"; WP=$(port)
(cd "$T/www" && exec "$PY" -m http.server --bind 127.0.0.1 "$WP") > "$T/www.log" 2>&1 & echo $! > "$T/www.pid"
for k in $(seq $((2 * REPS))); do echo "scale file $k" > "$T/www/f$k.txt"; done
up "http://127.0.0.1:$WP/f1.txt"
for k in $(seq $((2 * REPS))); do
  sum=$(sha256sum "$T/www/f$k.txt" | cut -d' ' -f1)
  printf 'name: scale-%s\nfiles:\n  - {url: "http://127.0.0.1:%s/f%s.txt", sha256: "%s", name: scale-f%s.txt}\n' "$k" "$WP" "$k" "$sum" "$k" > "$T/m$k.yaml"
  BUNDLER_CACHE=$T/cache "$B" create "$T/m$k.yaml" --key "$T/keys/bundle.key" --out "$T/bundles/b$k.bundle" --lock "$T/m$k.lock" > "$T/cmd.log" 2>&1 || { cat "$T/cmd.log" >&2; exit 1; }
done
kill "$(cat "$T/www.pid")"; rm "$T/www.pid"

USER=bench; PASS=bench-pass
"$PY" -c "import crypt,sys; print('$USER:' + crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))" "$PASS" > "$T/writers" 2>/dev/null

R=$T/results; mkdir -p "$R"
put() { echo "$3" >> "$R/$1.$2"; }

for N in $SIZES; do
  S=$T/store-$N; rm -rf "$S"
  log "N=$N: filling the store"
  t=$(timed "$FILL" "$S" "$N"); put fill "$N" "$t"
  debs=$((N / 2)); wheels=$((N / 4)); tags=$((N - debs - wheels))
  for r in $(seq "$REPS"); do
    put import "$N" "$(timed "$M" import "$T/bundles/b$r.bundle" --store "$S" --trust "$T/keys/bundle.pub")"
    i=$((debs / 2 + r)); pkg=$(printf 'stable-pkg%07d' "$i")
    put rm_deb "$N" "$(timed "$M" rm --store "$S" "apt/bench/${pkg}_1.$((i % 7))-1_amd64.deb")"
    i=$(( (tags / 8 + r) * 4 ))
    put rm_tag "$N" "$(timed "$M" rm --store "$S" "$(printf 'bench.local/scale/r0:t%07d' "$i")")"
  done
  put gc_rss "$N" "$(rss "$M" gc --dry-run --store "$S")"
  put verify_rss "$N" "$(rss "$M" verify --store "$S")"

  P=$(port); U=http://127.0.0.1:$P
  "$M" serve --store "$S" --listen "127.0.0.1:$P" --push-htpasswd "$T/writers" > "$T/serve-$N.log" 2>&1 & echo $! > "$T/mirror.pid"
  up "$U/healthz"
  PKG=$U/apt/bench/dists/stable/main/binary-amd64/Packages.gz
  put render "$N" "$(fetch "$PKG")"
  mid=$(printf 't%07d' $(( tags / 2 / 4 * 4 )))
  for r in $(seq "$REPS"); do
    put import_srv "$N" "$(timed "$M" import "$T/bundles/b$((REPS + r)).bundle" --store "$S" --trust "$T/keys/bundle.pub")"
    # A push: one blob (monolithic POST) and a manifest naming it under a new tag.
    blob="pushed blob $N $r $(now)"; bd=sha256:$(printf '%s' "$blob" | sha256sum | cut -d' ' -f1)
    man=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[]}' "$bd" "${#blob}")
    t0=$(now)
    curl -sf -o /dev/null -u "$USER:$PASS" -X POST -H 'Content-Type: application/octet-stream' --data-binary "$blob" "$U/v2/bench.local/scale/r1/blobs/uploads/?digest=$bd"
    curl -sf -o /dev/null -u "$USER:$PASS" -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "$man" "$U/v2/bench.local/scale/r1/manifests/pushed-$r"
    put push "$N" "$(since "$t0")"
    put pkg_after_push "$N" "$(fetch "$PKG")"
    put tag_delete "$N" "$(fetch -u "$USER:$PASS" -X DELETE "$U/v2/bench.local/scale/r2/manifests/$(printf 't%07d' $(( (tags / 8 + r) * 4 + 2 )))")"
    put home "$N" "$(fetch "$U/")"
    put apt_list "$N" "$(fetch "$U/apt/")"
    put tags_page "$N" "$(fetch "$U/v2/bench.local/scale/r0/tags/list?n=100&last=$mid")"
    put pypi_root "$N" "$(fetch "$U/pypi/simple/")"
  done
  put serve_rss "$N" "$(( $(awk '/^VmHWM/{print $2}' "/proc/$(cat "$T/mirror.pid")/status") / 1024 ))"
  t0=$(now); kill -TERM "$(cat "$T/mirror.pid")"; wait "$(cat "$T/mirror.pid")" 2>/dev/null || true; put stop "$N" "$(since "$t0")"; rm "$T/mirror.pid"
  rm -rf "$S"
done

"$PY" - "$R" "SIZES=\"$SIZES\" REPS=$REPS bench/scale.sh" "$SIZES" "$(nproc)" "$(free -g | awk '/^Mem:/{print $2}')" <<'PY'
import statistics, sys
R, cmd, sizes, cpus, ram = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3].split()], sys.argv[4], sys.argv[5]
rows = [
    ("fill", "store fill (s, setup)"), ("import", "one-file import, no server (s)"), ("rm_deb", "rm of one deb, no server (s)"),
    ("rm_tag", "rm of one tag, no server (s)"), ("gc_rss", "gc --dry-run peak RSS (MB)"), ("verify_rss", "verify peak RSS (MB)"),
    ("import_srv", "one-file import, serving (s)"), ("push", "push blob + manifest (s)"), ("tag_delete", "tag DELETE (s)"),
    ("stop", "serve stop, SIGTERM to exit (s)"), ("render", "first Packages.gz, big suite (s)"), ("pkg_after_push", "Packages.gz after a push (s)"),
    ("home", "GET / (s)"), ("apt_list", "GET /apt/ (s)"), ("tags_page", "100-tag page from the middle (s)"), ("pypi_root", "GET /pypi/simple/ (s)"),
    ("serve_rss", "server peak RSS (MB)"),
]
def med(k, n):
    try:
        return statistics.median(float(l) for l in open(f"{R}/{k}.{n}"))
    except FileNotFoundError:
        return None
print(f"# `{cmd}` on {cpus} CPUs, {ram} GiB RAM; loopback; medians")
print(f"{'measure':<36}" + "".join(f"{n:>11}" for n in sizes) + f"{'largest/smallest':>18}")
for k, what in rows:
    v = [med(k, n) for n in sizes]
    cells = "".join(f"{'-' if x is None else (f'{x:.0f}' if k.endswith('rss') else f'{x:.4f}'):>11}" for x in v)
    ratio = f"{v[-1] / v[0]:.1f}" if v[0] and v[-1] is not None else "-"
    print(f"{what:<36}{cells}{ratio:>18}")
PY
