#!/usr/bin/env bash
# Peak RSS and time of `mirror gc --dry-run` and `mirror verify` on stores of N tiny blobs
# (mirror/examples/blob_store.rs: half in tagged images, half raw files, ~0.1% garbage).
# Memory must stay flat as the store grows (target: <= 256 MB at 1M blobs).
# Usage: bench/gc-rss.sh [blob counts, default "10000 100000 1000000"]  (builds release
# binaries; needs /usr/bin/time; 1M blobs take ~1M inodes and ~4 GB under $TMPDIR).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${1:-"10000 100000 1000000"}
T=$(mktemp -d "${TMPDIR:-/tmp}/feas-gc-rss.XXXXXX")
trap 'rm -rf "$T"' EXIT

cargo build --release -q -p mirror --bins --example blob_store
M=$PWD/target/release/mirror; FILL=$PWD/target/release/examples/blob_store
need=$(echo "$SIZES" | tr ' ' '\n' | sort -n | tail -1)
free=$(df --output=iavail "$T" | tail -1)
[ "$free" -gt $((need * 2)) ] || { echo "need ~$((need * 2)) free inodes under $T, have $free" >&2; exit 1; }

t() { /usr/bin/time -f "%e %M" -o "$T/time" "$@" > /dev/null 2>&1 || true; read -r secs rss < "$T/time"; }
printf '%-9s %-10s %-26s %-26s\n' blobs "fill (s)" "gc --dry-run (s, MB)" "verify (s, MB)"
for n in $SIZES; do
  rm -rf "$T/store"
  start=$(date +%s.%N)
  "$FILL" "$T/store" "$n" 2>/dev/null
  fill=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
  t "$M" gc --store "$T/store" --dry-run
  g="$secs s, $((rss / 1024)) MB"
  t "$M" verify --store "$T/store"
  v="$secs s, $((rss / 1024)) MB"
  printf '%-9s %-10s %-26s %-26s\n' "$n" "$fill" "$g" "$v"
done
