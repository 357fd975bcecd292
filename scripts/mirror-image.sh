#!/usr/bin/env bash
# Build the mirror's container image without Docker: an OCI image layout holding one layer with
# the `mirror` binary, the shared libraries it links (glibc, libgcc_s, libm, the loader), an
# /etc/passwd entry for uid 65532 and an empty /tmp — nothing else. The layout can be bundled
# (`images: [{ref: docker.io/feas/mirror:0.1.0, oci_layout: ./build/mirror-image}]`), pushed
# with `skopeo copy oci:… docker://…`, or loaded with `podman pull oci:…`.
# Usage: scripts/mirror-image.sh OUT_DIR [TAG]   (MIRROR_BIN=path uses that binary instead of a
# release build). Same binary in, same image digest out (fixed mtimes, sorted entries).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/mirror-image.sh OUT_DIR [TAG]}
TAG=${2:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)}
if [ -z "${MIRROR_BIN:-}" ]; then
  cargo build --release -q -p mirror
  MIRROR_BIN=$PWD/target/release/mirror
fi
[ -x "$MIRROR_BIN" ] || { echo "mirror-image.sh: $MIRROR_BIN is not an executable" >&2; exit 1; }
# The loader and every library the binary needs, by their real paths.
LIBS=$(ldd "$MIRROR_BIN" | awk '$3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
python3 - "$OUT" "$TAG" "$MIRROR_BIN" $LIBS <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out, tag, binary, libs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
os.makedirs(f"{out}/blobs/sha256", exist_ok=True)

def put(b):
    d = hashlib.sha256(b).hexdigest()
    with open(f"{out}/blobs/sha256/{d}", "wb") as f:
        f.write(b)
    return {"digest": "sha256:" + d, "size": len(b)}

files = {"usr/local/bin/mirror": (open(binary, "rb").read(), 0o755)}
for lib in libs:
    real = os.path.realpath(lib)
    files[lib.lstrip("/")] = (open(real, "rb").read(), 0o755)
files["etc/passwd"] = (b"root:x:0:0:root:/:/usr/sbin/nologin\nfeas:x:65532:65532:feas mirror:/var/lib/feas:/usr/sbin/nologin\n", 0o644)
files["etc/group"] = (b"root:x:0:\nfeas:x:65532:\n", 0o644)
dirs = sorted({"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)} | {"tmp", "var/lib/feas"})

raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
    for d in dirs:
        ti = tarfile.TarInfo(d + "/"); ti.type = tarfile.DIRTYPE; ti.mtime = 0
        ti.mode = 0o1777 if d == "tmp" else 0o755
        if d == "var/lib/feas":
            ti.uid = ti.gid = 65532
        t.addfile(ti)
    for p in sorted(files):
        data, mode = files[p]
        ti = tarfile.TarInfo(p); ti.size = len(data); ti.mode = mode; ti.mtime = 0
        t.addfile(ti, io.BytesIO(data))
raw = raw.getvalue()
gz = io.BytesIO()
with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, compresslevel=6) as g:
    g.write(raw)
layer = dict(put(gz.getvalue()), mediaType="application/vnd.oci.image.layer.v1.tar+gzip")
config = {
    "architecture": "amd64", "os": "linux",
    "config": {"User": "65532:65532", "Entrypoint": ["/usr/local/bin/mirror"],
               "Cmd": ["serve", "--store", "/var/lib/feas", "--listen", "0.0.0.0:5000"],
               "ExposedPorts": {"5000/tcp": {}}, "WorkingDir": "/var/lib/feas",
               "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
               "Labels": {"org.opencontainers.image.title": "feas mirror", "org.opencontainers.image.version": tag}},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
    "history": [{"created_by": "scripts/mirror-image.sh"}],
}
cfg = dict(put(json.dumps(config, sort_keys=True).encode()), mediaType="application/vnd.oci.image.config.v1+json")
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": cfg, "layers": [layer]}
m = dict(put(json.dumps(manifest, sort_keys=True).encode()), mediaType="application/vnd.oci.image.manifest.v1+json",
         annotations={"org.opencontainers.image.ref.name": tag}, platform={"architecture": "amd64", "os": "linux"})
json.dump({"schemaVersion": 2, "manifests": [m]}, open(f"{out}/index.json", "w"))
open(f"{out}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
print(f"wrote {out} ({tag}): {m['digest']}, layer {layer['size']} bytes")
PY
