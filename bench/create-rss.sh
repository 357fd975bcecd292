#!/usr/bin/env bash
# Benchmark (not a test): does `bundler create`'s memory grow with the bundle? For each size in
# SIZES_GIB (default "1 4 16"), an OCI layout on disk holds one linux/amd64 image whose layer is a
# sparse file of that many GiB of zeros, plus FILES small layers (default 2000, 4 KiB each, so the
# count of artifacts grows too); `bundler lock` + `create --locked` (zstd) bundle it for real:
# every byte is read, hashed, written into the blob cache and through zstd into the bundle (zeros
# compress, so the bundle is small; the cache is not). Beside it, the peer for the same bytes:
# `sha256sum` of the layer (one read and hash, the floor). Prints seconds and peak RSS
# (/usr/bin/time "%e %M") per size, and the RSS of the largest size over the smallest.
# Usage: bash bench/create-rss.sh   (SIZES_GIB="1 4 16", FILES=2000; needs /usr/bin/time,
# python3, sha256sum; builds release binaries; needs the largest size free twice in $TMPDIR).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES_GIB=${SIZES_GIB:-1 4 16}
FILES=${FILES:-2000}
T=$(mktemp -d "${TMPDIR:-/tmp}/feas-create-rss.XXXXXX")
trap 'rm -rf "$T"' EXIT

cargo build --release -q -p bundler -p mirror
B=$PWD/target/release/bundler
"$B" keygen --out "$T/keys" --unencrypted >/dev/null 2>&1

t() { # t CMD... : "secs kib" of one run
  /usr/bin/time -f "%e %M" -o "$T/time" "$@" >"$T/out" 2>"$T/err" || { echo "failed: $*" >&2; cat "$T/out" "$T/err" >&2; exit 1; }
  cat "$T/time"
}

printf '%8s %8s %12s %12s %14s\n' "GiB" "files" "create s" "peak MiB" "sha256sum s"
first="" last=""
for g in $SIZES_GIB; do
  L=$T/layout-$g
  mkdir -p "$L/blobs/sha256"
  truncate -s "${g}G" "$T/big.bin"
  peer=$( { /usr/bin/time -f "%e" sha256sum "$T/big.bin" > "$T/big.sha"; } 2>&1 | tail -1)
  big=$(cut -d' ' -f1 "$T/big.sha")
  mv "$T/big.bin" "$L/blobs/sha256/$big"
  python3 - "$L" "$big" "$((g << 30))" "$FILES" <<'PY'
import hashlib, json, os, sys
root, big, size, files = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def put(b):
    d = hashlib.sha256(b).hexdigest(); open(f"{root}/blobs/sha256/{d}", "wb").write(b)
    return "sha256:" + d, len(b)
L = "application/vnd.oci.image.layer.v1.tar"
layers = [{"mediaType": L, "digest": "sha256:" + big, "size": size}]
for i in range(files):
    d, n = put(i.to_bytes(4, "big") * 1024)
    layers.append({"mediaType": L, "digest": d, "size": n})
cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]}}).encode()
cd, cs = put(cfg)
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs}, "layers": layers}).encode()
md, ms = put(man)
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
           "annotations": {"org.opencontainers.image.ref.name": "1"}}]}, open(f"{root}/index.json", "w"))
open(f"{root}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
  printf 'name: rss-%s\nplatforms: [linux/amd64]\nimages:\n  - {ref: localhost/bench/sparse:1, oci_layout: %s}\n' "$g" "$L" > "$T/m.yaml"
  rm -rf "$T/cache" "$T/b.lock" "$T/b.bundle"
  export BUNDLER_CACHE=$T/cache
  "$B" lock "$T/m.yaml" --lock "$T/b.lock" >/dev/null 2>&1
  read -r secs kib < <(t "$B" create "$T/m.yaml" --key "$T/keys/bundle.key" --out "$T/b.bundle" --lock "$T/b.lock" --locked --json)
  mib=$((kib / 1024))
  printf '%8s %8s %12s %12s %14s\n' "$g" "$((FILES + 1))" "$secs" "$mib" "$peer"
  [ -z "$first" ] && first=$mib
  last=$mib
  rm -rf "$L" "$T/cache" "$T/b.bundle"
done
awk -v a="$first" -v b="$last" 'BEGIN {printf "peak RSS, largest size / smallest: %.2f (1.00 = flat)\n", b / a}'
