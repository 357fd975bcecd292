#!/usr/bin/env bash
# Peak RSS and time of `bundler create` and `mirror import` for 1 GiB and 4 GiB bundles (one raw
# file each, uncompressed bundles), next to the peer doing the same bytes: `tar -x` of the
# bundle piped into sha256sum of every blob. Memory must not grow with the bundle size.
# Usage: bench/import-rss.sh [GiB sizes, default "1 4"]  (builds release binaries; needs
# python3, /usr/bin/time, ~3x the largest size free on disk under $TMPDIR). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${1:-"1 4"}
T=$(mktemp -d "${TMPDIR:-/tmp}/feas-rss.XXXXXX")
. bench/lib.sh
PORT=$(port)
cleanup() { [ -f "$T/http.pid" ] && kill "$(cat "$T/http.pid")" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

cargo build --release -q -p bundler -p mirror
B=$PWD/target/release/bundler; M=$PWD/target/release/mirror
"$B" keygen --out "$T/keys" --unencrypted 2>/dev/null
mkdir -p "$T/up"
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$T/up" >/dev/null 2>&1 & echo $! > "$T/http.pid"
up "http://127.0.0.1:$PORT/"

t() { /usr/bin/time -f "%e %M" -o "$T/time" "$@"; read -r secs rss < "$T/time"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
printf '%-6s %-28s %-30s %-30s %s\n' size "create (s, peak RSS)" "import (s, peak RSS)" "peer tar|sha256sum (s, RSS)" "import speed ours/peer"
for g in $SIZES; do
  f="$T/up/model-$g.bin"
  # Pseudo-random but cheap to make: a 64 MiB random block repeated (sha256 cost is the same).
  head -c $((64 << 20)) /dev/urandom > "$T/block"
  : > "$f"; for _ in $(seq $((g * 16))); do cat "$T/block" >> "$f"; done; rm "$T/block"
  sum=$(sha256sum "$f" | cut -d' ' -f1)
  printf 'name: rss%s\nfiles:\n  - {url: "http://127.0.0.1:%s/model-%s.bin", sha256: "%s"}\n' "$g" "$PORT" "$g" "$sum" > "$T/m.yaml"
  export BUNDLER_CACHE=$T/cache
  "$B" lock "$T/m.yaml" --lock "$T/b.lock" 2>/dev/null
  t "$B" create "$T/m.yaml" --key "$T/keys/bundle.key" --out "$T/b.bundle" --lock "$T/b.lock" --locked --compression none --json >/dev/null
  c_secs=$secs; c_rss=$rss
  rm -rf "$T/cache" "$f"
  sync
  t "$M" import "$T/b.bundle" --store "$T/store" --trust "$T/keys/bundle.pub" 2>/dev/null
  i_secs=$secs; i_rss=$rss
  rm -rf "$T/store"; mkdir -p "$T/peer"; sync
  t bash -c "tar -x -C '$T/peer' -f '$T/b.bundle' && sha256sum '$T'/peer/blobs/sha256/* > /dev/null"
  p_secs=$secs; p_rss=$rss
  rm -rf "$T/peer" "$T/b.bundle" "$T/b.lock"
  printf '%-6s %-28s %-30s %-30s %s\n' "${g}GiB" "${c_secs}s $((c_rss / 1024))MiB" "${i_secs}s $((i_rss / 1024))MiB" "${p_secs}s $((p_rss / 1024))MiB" "$(ratio "$p_secs" "$i_secs")"
done
