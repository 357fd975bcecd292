#!/usr/bin/env bash
# Create and import a ~1 GiB two-platform image bundle; print times, sizes and peak RSS next to
# the peer doing the same bytes: `tar -x` piped through sha256sum of every blob (the floor for
# "read a tar and hash everything").
# Usage: bench/bundle-1g.sh [MiB per platform-specific layer, default 400] (needs docker-registry,
# skopeo, /usr/bin/time; builds release binaries). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-400}
T=$(mktemp -d /tmp/feas-bench.XXXXXX)
. bench/lib.sh
PORT=$(port)
cleanup() { [ -f "$T/registry.pid" ] && kill "$(cat "$T/registry.pid")" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

cargo build --release -q -p bundler -p mirror
B=$PWD/target/release/bundler; M=$PWD/target/release/mirror

start_registry "$PORT"

# An OCI layout: shared 200 MiB layer + one $MIB MiB layer per platform, incompressible.
python3 - "$T/layout" "$MIB" <<'PY'
import hashlib, io, json, os, sys, tarfile
root, mib = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{root}/blobs/sha256", exist_ok=True)
def put(b):
    d = hashlib.sha256(b).hexdigest(); open(f"{root}/blobs/sha256/{d}", "wb").write(b); return {"digest": "sha256:" + d, "size": len(b)}
def layer(name, size):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        ti = tarfile.TarInfo(name); ti.size = size; ti.mtime = 0
        t.addfile(ti, io.BytesIO(os.urandom(size)))
    return dict(put(buf.getvalue()), mediaType="application/vnd.oci.image.layer.v1.tar")
shared = layer("shared.bin", 200 << 20)
ms = []
for arch in ("amd64", "arm64"):
    own = layer(f"{arch}.bin", mib << 20)
    cfg = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [shared["digest"], own["digest"]]}}).encode()
    m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(put(cfg), mediaType="application/vnd.oci.image.config.v1+json"), "layers": [shared, own]}).encode()
    ms.append(dict(put(m), mediaType="application/vnd.oci.image.manifest.v1+json", platform={"architecture": arch, "os": "linux"}))
idx = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": ms}).encode()
top = dict(put(idx), mediaType="application/vnd.oci.image.index.v1+json", annotations={"org.opencontainers.image.ref.name": "1"})
json.dump({"schemaVersion": 2, "manifests": [top]}, open(f"{root}/index.json", "w"))
open(f"{root}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
skopeo copy -q --all --dest-tls-verify=false "oci:$T/layout:1" "docker://127.0.0.1:$PORT/library/big:1"

cat > "$T/m.yaml" <<Y
name: bench
platforms: [linux/amd64, linux/arm64]
registries: {docker.io: {url: "http://127.0.0.1:$PORT", insecure: true}}
images: [docker.io/library/big:1]
Y
"$B" keygen --out "$T/keys" --unencrypted 2>/dev/null
export BUNDLER_CACHE=$T/cache
t() { /usr/bin/time -f "%e %M" -o "$T/time" "$@"; read -r secs rss < "$T/time"; }

t "$B" lock "$T/m.yaml" --lock "$T/b.lock" 2>/dev/null
t "$B" create "$T/m.yaml" --key "$T/keys/bundle.key" --out "$T/b.bundle" --lock "$T/b.lock" --json >/dev/null
create_fetch=$secs; create_fetch_rss=$rss
rm -f "$T/b.bundle"
t "$B" create "$T/m.yaml" --key "$T/keys/bundle.key" --out "$T/b.bundle" --lock "$T/b.lock" --json >/dev/null
create_cached=$secs; create_rss=$rss
t "$B" create "$T/m.yaml" --key "$T/keys/bundle.key" --out "$T/n.bundle" --lock "$T/b.lock" --compression none --json >/dev/null
create_plain=$secs
size=$(stat -c %s "$T/b.bundle"); plain_size=$(stat -c %s "$T/n.bundle")

# Import vs peer, ROUNDS rounds each from a cold page cache (when allowed); medians reported.
ROUNDS=${ROUNDS:-3}
cold() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: > "$T/r_ours"; : > "$T/r_ours_rss"; : > "$T/r_peer"; : > "$T/r_peer_rss"; : > "$T/r_z"; : > "$T/r_z_rss"
for _ in $(seq "$ROUNDS"); do
  rm -rf "$T/store" "$T/peer"; mkdir "$T/peer"; cold
  t "$M" import "$T/n.bundle" --store "$T/store" --trust "$T/keys/bundle.pub" 2>/dev/null; echo "$secs" >> "$T/r_ours"; echo "$rss" >> "$T/r_ours_rss"
  cold
  t bash -c "tar -x -C '$T/peer' -f '$T/n.bundle' && sha256sum '$T'/peer/blobs/sha256/* > /dev/null"; echo "$secs" >> "$T/r_peer"; echo "$rss" >> "$T/r_peer_rss"
  rm -rf "$T/store"; cold
  t "$M" import "$T/b.bundle" --store "$T/store" --trust "$T/keys/bundle.pub" 2>/dev/null; echo "$secs" >> "$T/r_z"; echo "$rss" >> "$T/r_z_rss"
done
import_secs=$(median < "$T/r_ours"); import_rss=$(sort -n "$T/r_ours_rss" | tail -1)
peer_secs=$(median < "$T/r_peer"); peer_rss=$(sort -n "$T/r_peer_rss" | tail -1)
zimport_secs=$(median < "$T/r_z"); zimport_rss=$(sort -n "$T/r_z_rss" | tail -1)

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
mibs() { python3 -c "print(f'{$plain_size/1048576/$1:.0f}')"; }
echo "bundle: $((size >> 20)) MiB zstd, $((plain_size >> 20)) MiB uncompressed (2 platforms, one shared layer; random data)"
echo "create, fetching from docker-registry + zstd: ${create_fetch}s, peak RSS $((create_fetch_rss / 1024)) MiB"
echo "create, cache warm: zstd ${create_cached}s (peak RSS $((create_rss / 1024)) MiB), uncompressed ${create_plain}s"
echo "import uncompressed (median of $ROUNDS): ${import_secs}s = $(mibs "$import_secs") MiB/s, peak RSS $((import_rss / 1024)) MiB"
echo "peer tar -x + sha256sum (median of $ROUNDS): ${peer_secs}s = $(mibs "$peer_secs") MiB/s, peak RSS $((peer_rss / 1024)) MiB"
echo "import throughput ours/peer: $(ratio "$peer_secs" "$import_secs")"
echo "import zstd bundle (median of $ROUNDS): ${zimport_secs}s, peak RSS $((zimport_rss / 1024)) MiB"
