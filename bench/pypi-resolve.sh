#!/usr/bin/env bash
# Benchmark (not a test): resolving a realistic requirement set against PyPI for CPython 3.11 on
# manylinux_2_17 x86_64 — `bundler lock` beside `uv pip compile --python-platform` and
# `pip download --platform … --only-binary=:all:` (which also downloads the files: that is how
# pip resolves for another platform). Each round starts from empty caches for all three.
# Prints wall time and peak RSS (medians of ROUNDS), ratios, and whether the chosen versions
# agree. Needs PyPI. Usage: bash bench/pypi-resolve.sh   (ROUNDS=3, REQS="requests fastapi …")
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
REQS=${REQS:-"requests fastapi pydantic numpy pandas"}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT

cargo build --release -q -p bundler
B=$PWD/target/release/bundler
python3 -m venv "$T/venv" && "$T/venv/bin/pip" install -q uv
PIP=$T/venv/bin/pip; UV=$T/venv/bin/uv

list=$(printf '"%s", ' $REQS); list="[${list%, }]"
printf 'name: bench\nplatforms: [linux/amd64]\npypi:\n  - python: ["3.11"]\n    requirements: %s\n' "$list" > "$T/m.yaml"
printf '%s\n' $REQS > "$T/req.in"

time_rss() {
  /usr/bin/time -f "%e %M" -o "$T/t" "$@" >"$T/out" 2>"$T/err" || { cat "$T/err" >&2; exit 1; }
  cat "$T/t"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

: > "$T/ours"; : > "$T/uv"; : > "$T/pip"
for r in $(seq "$ROUNDS"); do
  rm -rf "$T/c"; mkdir -p "$T/c"
  BUNDLER_CACHE=$T/c/bundler time_rss "$B" lock "$T/m.yaml" --lock "$T/m.lock" >> "$T/ours"
  UV_CACHE_DIR=$T/c/uv time_rss "$UV" pip compile -q --only-binary :all: --python-version 3.11 --python-platform x86_64-manylinux_2_17 --index-url https://pypi.org/simple/ "$T/req.in" -o "$T/uv.txt" >> "$T/uv"
  PIP_CONFIG_FILE=/dev/null time_rss "$PIP" download -q --cache-dir "$T/c/pip" --only-binary=:all: --python-version 3.11 --implementation cp \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --index-url https://pypi.org/simple/ -d "$T/c/dl" $REQS >> "$T/pip"
done

col() { awk "{print \$$1}" "$T/$2" | median; }
# name==version, names PEP 503-normalized (versions untouched)
norm() { awk -F'==' '{n=tolower($1); gsub(/[-_.]+/,"-",n); print n"=="$2}' | sort -u; }
python3 -c 'import sys, tomllib; [print(w["project"] + "==" + w["version"]) for w in tomllib.load(open(sys.argv[1], "rb"))["wheel"]]' "$T/m.lock" | norm > "$T/ours.set"
grep -E '^[A-Za-z0-9]' "$T/uv.txt" | sed 's/ .*//' | norm > "$T/uv.set"
ls "$T/c/dl" | sed -E 's/^([^-]+)-([^-]+)-.*/\1==\2/; s/^([^-]+)-([^-]+)\.tar\.gz$/\1==\2/' | norm > "$T/pip.set"

echo
echo "resolve for cp311 manylinux_2_17_x86_64: $REQS"
printf "%-40s %7s s %9s KiB  %3s pins\n" "bundler lock" "$(col 1 ours)" "$(col 2 ours)" "$(wc -l < "$T/ours.set")"
printf "%-40s %7s s %9s KiB  %3s pins\n" "uv pip compile --python-platform" "$(col 1 uv)" "$(col 2 uv)" "$(wc -l < "$T/uv.set")"
printf "%-40s %7s s %9s KiB  %3s files\n" "pip download --platform (downloads too)" "$(col 1 pip)" "$(col 2 pip)" "$(wc -l < "$T/pip.set")"
awk -v a="$(col 1 ours)" -v u="$(col 1 uv)" -v p="$(col 1 pip)" -v am="$(col 2 ours)" -v um="$(col 2 uv)" -v pm="$(col 2 pip)" \
  'BEGIN {printf "ours/uv: time %.2f, RSS %.2f; ours/pip: time %.2f, RSS %.2f (medians of '"$ROUNDS"' cold rounds)\n", a/u, am/um, a/p, am/pm}'
for peer in uv pip; do
  if diff -q "$T/ours.set" "$T/$peer.set" >/dev/null; then echo "same versions as $peer: yes"; else
    echo "same versions as $peer: NO"; { diff "$T/ours.set" "$T/$peer.set" || true; } | { grep '^[<>]' || true; } | sed "s/^</  only ours:/; s/^>/  only $peer:/"; fi
done
