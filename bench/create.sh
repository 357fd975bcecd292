#!/usr/bin/env bash
# Benchmark (not a test): `bundler lock` + `bundler create --locked` from LOCAL upstreams on
# loopback, beside the peer tools fetching the same content: `skopeo copy docker://… dir:…` +
# `pip download` (resolving, like ours) + `apt-get update` and `apt-get download` of the closure
# `apt-get install --simulate` picks. Upstreams, all on 127.0.0.1, stopped on exit:
#   - Debian's docker-registry holding a ~200 MB single-platform OCI image (index → amd64
#     manifest, six gzip layers of random data);
#   - python3 -m http.server over a PEP 503 simple index (HTML, `#sha256=`, requires-python,
#     PEP 658 `.metadata`) of 30 pure wheels in 26 projects: a Requires-Dist tree with version
#     bounds, older versions, a marker that excludes a missing project;
#   - python3 -m http.server over an apt archive of 50 debs (dpkg-deb, apt-ftparchive, signed
#     with a throwaway gpg key): a Depends tree with a versioned relation, an alternative, a
#     virtual package, Recommends (not followed by either side) and an older version.
# Each round starts cold on both sides (empty bundler cache and lock; fresh apt state, pip
# without cache, empty skopeo destination); upstream files are in the page cache for both.
# Prints wall time and peak RSS (/usr/bin/time "%e %M", medians of ROUNDS), ours/peer ratios,
# and whether both sides got the same bytes (image blob digests; wheel and deb sha256 sets, and
# all of them present in the bundle).
# Usage: bash bench/create.sh   (ROUNDS=3, COMPRESSION=zstd|none, BIG_LAYER_MIB=N adds a layer of
# N MiB of random data to the image — 1024 puts a 1 GiB+ image in the mix; needs docker-registry,
# skopeo, dpkg-deb, apt-ftparchive, apt-get, gpg, zstd, /usr/bin/time, python3, and the pip at
# target/pyclients (PY= to use another python with pip); builds release binaries; ~1.5 GB in $TMPDIR).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
COMPRESSION=${COMPRESSION:-zstd}
PY=${PY:-$PWD/target/pyclients/bin/python}
T=$(mktemp -d "${TMPDIR:-/tmp}/feas-create.XXXXXX")
. bench/lib.sh
RPORT=$(port); PPORT=$(port); APORT=$(port)
cleanup() {
  for p in registry pypi apt; do [ -f "$T/$p.pid" ] && kill "$(cat "$T/$p.pid")" 2>/dev/null; done
  [ -d "$T/gnupg" ] && GNUPGHOME=$T/gnupg gpgconf --kill all 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

cargo build --release -q -p bundler -p mirror
B=$PWD/target/release/bundler
"$PY" -m pip --version >/dev/null

echo "== making the upstreams (not timed)"
# The image layout, the wheel index and the deb trees; dpkg-deb builds the debs.
python3 - "$T" <<'PY'
import base64, gzip, hashlib, html, io, json, os, subprocess, sys, tarfile, zipfile
T = sys.argv[1]
sha = lambda b: hashlib.sha256(b).hexdigest()

# --- OCI image: index → linux/amd64 manifest → config + six gzip layers, ~200 MB random.
root = f"{T}/layout"; os.makedirs(f"{root}/blobs/sha256")
def put(b, mt):
    d = sha(b); open(f"{root}/blobs/sha256/{d}", "wb").write(b)
    return {"mediaType": mt, "digest": "sha256:" + d, "size": len(b)}
layers, diff_ids = [], []
for i, mib in enumerate([64, 48, 40, 24, 16, 8]):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        ti = tarfile.TarInfo(f"opt/bench/layer{i}.bin"); ti.size = mib << 20; ti.mtime = 0
        t.addfile(ti, io.BytesIO(os.urandom(mib << 20)))
    raw = buf.getvalue(); diff_ids.append("sha256:" + sha(raw))
    layers.append(put(gzip.compress(raw, compresslevel=1, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"))
big = int(os.environ.get("BIG_LAYER_MIB", "0"))
if big:
    # Streamed through tar and gzip -1 on disk: a GiB of random bytes never sits in memory.
    src = f"{T}/bigsrc"; os.makedirs(f"{src}/opt/bench")
    subprocess.run(f"head -c {big}M /dev/urandom > {src}/opt/bench/big.bin", shell=True, check=True)
    subprocess.run(["tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-C", src, "-cf", f"{T}/big.tar", "opt"], check=True)
    def file_sha(p):
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""): h.update(chunk)
        return h.hexdigest()
    diff_ids.append("sha256:" + file_sha(f"{T}/big.tar"))
    subprocess.run(f"gzip -1 -n -c {T}/big.tar > {T}/big.tar.gz", shell=True, check=True)
    d = file_sha(f"{T}/big.tar.gz"); os.replace(f"{T}/big.tar.gz", f"{root}/blobs/sha256/{d}")
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + d, "size": os.path.getsize(f"{root}/blobs/sha256/{d}")})
    subprocess.run(["rm", "-rf", src, f"{T}/big.tar"], check=True)
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]},
                  "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": put(cfg, "application/vnd.oci.image.config.v1+json"), "layers": layers}).encode()
m = put(man, "application/vnd.oci.image.manifest.v1+json"); m["platform"] = {"architecture": "amd64", "os": "linux"}
idx = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [m]}).encode()
top = put(idx, "application/vnd.oci.image.index.v1+json"); top["annotations"] = {"org.opencontainers.image.ref.name": "1"}
json.dump({"schemaVersion": 2, "manifests": [top]}, open(f"{root}/index.json", "w"))
open(f"{root}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')

# --- Wheels: bench-app → bench-lib-00..04; lib i (5..24) is required by lib (i-5)//2.
#     Older versions of 03, 11, 17, 22; lib-22 is bounded below its newest.
deps = {"bench-app": [f"bench-lib-{i:02d}" for i in range(5)] + ['bench-legacy-shim; python_version < "3.8"']}
for i in range(5, 25):
    deps.setdefault(f"bench-lib-{(i - 5) // 2:02d}", []).append(f"bench-lib-{i:02d}" + ("<1.0" if i == 22 else ">=1.0" if i % 3 == 0 else ""))
projects = ["bench-app"] + [f"bench-lib-{i:02d}" for i in range(25)]
dists = [(p, "1.0") for p in projects] + [(f"bench-lib-{i}", "0.9") for i in ("03", "11", "17", "22")]
py = f"{T}/pypi"; os.makedirs(f"{py}/files"); os.makedirs(f"{py}/simple")
b64 = lambda b: base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b"=").decode()
links = {}
for n, (proj, ver) in enumerate(dists):
    stem = proj.replace("-", "_"); fn = f"{stem}-{ver}-py3-none-any.whl"; di = f"{stem}-{ver}.dist-info"
    rp = ">=3.8" if n % 4 == 0 else None
    meta = f"Metadata-Version: 2.1\nName: {proj}\nVersion: {ver}\nSummary: bench stand-in\n"
    if rp: meta += f"Requires-Python: {rp}\n"
    if ver == "1.0":
        meta += "".join(f"Requires-Dist: {d}\n" for d in deps.get(proj, []))
    files = [(f"{stem}/__init__.py", f"VERSION = {ver!r}\n".encode()),
             (f"{stem}/data.bin", os.urandom((64 + 16 * (n % 12)) << 10)),
             (f"{di}/METADATA", meta.encode()),
             (f"{di}/WHEEL", b"Wheel-Version: 1.0\nGenerator: feas-bench (1.0)\nRoot-Is-Purelib: true\nTag: py3-none-any\n")]
    record = "".join(f"{p},sha256={b64(b)},{len(b)}\n" for p, b in files) + f"{di}/RECORD,,\n"
    with zipfile.ZipFile(f"{py}/files/{fn}", "w", zipfile.ZIP_DEFLATED) as z:
        for p, b in files + [(f"{di}/RECORD", record.encode())]:
            zi = zipfile.ZipInfo(p, (1980, 1, 1, 0, 0, 0)); zi.external_attr = 0o644 << 16; zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, b)
    open(f"{py}/files/{fn}.metadata", "w").write(meta)
    h, mh = sha(open(f"{py}/files/{fn}", "rb").read()), sha(meta.encode())
    attrs = f' data-requires-python="{html.escape(rp)}"' if rp else ""
    attrs += f' data-dist-info-metadata="sha256={mh}" data-core-metadata="sha256={mh}"'
    links.setdefault(proj, []).append(f'<a href="../../files/{fn}#sha256={h}"{attrs}>{fn}</a><br>')
head = '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.1"><title>{}</title></head><body>\n'
open(f"{py}/simple/index.html", "w").write(head.format("Simple index") + "".join(f'<a href="{p}/">{p}</a><br>\n' for p in sorted(links)) + "</body></html>\n")
for p, ls in links.items():
    os.makedirs(f"{py}/simple/{p}")
    open(f"{py}/simple/{p}/index.html", "w").write(head.format(f"Links for {p}") + "\n".join(ls) + "\n</body></html>\n")

# --- Debs: bench-top → bench-pkg-01..05; pkg i (6..37) ← pkg 1+(i-6)//4. pkg-07 needs
#     pkg-20 (>= 1.2) (1.0 and 1.2 exist); pkg-10 needs virtual bench-mta (pkg-38 provides);
#     pkg-11 needs pkg-45 | pkg-39; pkg-03 recommends pkg-40; 39..48 otherwise unrelated.
ddeps = {"bench-top": [f"bench-pkg-{i:02d}" for i in range(1, 6)]}
for i in range(6, 38):
    ddeps.setdefault(f"bench-pkg-{1 + (i - 6) // 4:02d}", []).append(f"bench-pkg-{i:02d}")
ddeps["bench-pkg-07"].append("bench-pkg-20 (>= 1.2)")
ddeps.setdefault("bench-pkg-10", []).append("bench-mta")
ddeps.setdefault("bench-pkg-11", []).append("bench-pkg-45 | bench-pkg-39")
extra = {"bench-pkg-38": "Provides: bench-mta\n", "bench-pkg-03": "Recommends: bench-pkg-40\n"}
debs = [("bench-top", "1.0")] + [(f"bench-pkg-{i:02d}", "1.2" if i == 20 else "1.0") for i in range(1, 49)] + [("bench-pkg-20", "1.0")]
arch_root = f"{T}/apt/debian"
for n, (pkg, ver) in enumerate(debs):
    arch = "all" if n % 5 == 4 else "amd64"
    st = f"{T}/debstage/{pkg}_{ver}"; os.makedirs(f"{st}/DEBIAN"); os.makedirs(f"{st}/usr/share/bench/{pkg}")
    ctl = f"Package: {pkg}\nVersion: {ver}\nArchitecture: {arch}\nMaintainer: Bench <bench@example.invalid>\nPriority: optional\nSection: misc\n"
    d = ddeps.get(pkg, [])
    if d: ctl += "Depends: " + ", ".join(d) + "\n"
    ctl += extra.get(pkg, "") + f"Description: bench stand-in {pkg}\n synthetic package for bench/create.sh\n"
    open(f"{st}/DEBIAN/control", "w").write(ctl)
    open(f"{st}/usr/share/bench/{pkg}/payload.bin", "wb").write(os.urandom((96 + 32 * (n % 8)) << 10))
    for p in (st, f"{st}/DEBIAN"): os.chmod(p, 0o755)
    out = f"{arch_root}/pool/main/b/{pkg}/{pkg}_{ver}_{arch}.deb"; os.makedirs(os.path.dirname(out), exist_ok=True)
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", "-Zxz", "-z1", st, out], check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, SOURCE_DATE_EPOCH="1700000000"))
PY

# The apt archive: Packages by apt-ftparchive, Release signed with a throwaway key.
export GNUPGHOME=$T/gnupg; mkdir -m 700 "$GNUPGHOME"
gpg -q --batch --pinentry-mode loopback --passphrase '' --quick-gen-key "Bench Archive <bench@example.invalid>" ed25519 sign never 2>/dev/null
gpg -q --batch --export > "$T/apt-key.gpg"
(
  cd "$T/apt/debian"; D=dists/bench; mkdir -p "$D/main/binary-amd64"
  apt-ftparchive packages pool/main > "$D/main/binary-amd64/Packages" 2>/dev/null
  gzip -9nk "$D/main/binary-amd64/Packages"
  apt-ftparchive -o APT::FTPArchive::Release::Origin=Bench -o APT::FTPArchive::Release::Label=Bench \
    -o APT::FTPArchive::Release::Suite=bench -o APT::FTPArchive::Release::Codename=bench \
    -o APT::FTPArchive::Release::Architectures=amd64 -o APT::FTPArchive::Release::Components=main release "$D" > "$T/Release"
  mv "$T/Release" "$D/Release"
  gpg -q --batch --pinentry-mode loopback --passphrase '' --digest-algo SHA512 --clearsign -o "$D/InRelease" "$D/Release"
  gpg -q --batch --pinentry-mode loopback --passphrase '' --digest-algo SHA512 -abs -o "$D/Release.gpg" "$D/Release"
)
unset GNUPGHOME

start_registry "$RPORT"
python3 -m http.server "$PPORT" --bind 127.0.0.1 --directory "$T/pypi" >/dev/null 2>&1 & echo $! > "$T/pypi.pid"
python3 -m http.server "$APORT" --bind 127.0.0.1 --directory "$T/apt" >/dev/null 2>&1 & echo $! > "$T/apt.pid"
up "http://127.0.0.1:$PPORT/simple/"
up "http://127.0.0.1:$APORT/debian/dists/bench/InRelease"
skopeo copy -q --all --preserve-digests --dest-tls-verify=false "oci:$T/layout:1" "docker://127.0.0.1:$RPORT/bench/big:1"
rm -rf "$T/layout" "$T/debstage"

cat > "$T/m.yaml" <<Y
name: bench-create
platforms: [linux/amd64]
registries:
  docker.io: {url: "http://127.0.0.1:$RPORT", insecure: true}
images: [docker.io/bench/big:1]
apt:
  - source: http://127.0.0.1:$APORT/debian
    id: bench
    suite: bench
    components: [main]
    keyring: $T/apt-key.gpg
    packages: [bench-top]
    exclude_installed: none
pypi:
  - index: http://127.0.0.1:$PPORT/simple/
    python: ["3.11"]
    requirements: [bench-app]
Y
"$B" keygen --out "$T/keys" --unencrypted >/dev/null 2>&1

# The peer's apt: its own sources, state, cache and config (as tests/src/apt/client.rs AptClient).
S=$T/aptc
mkdir -p "$S/etc/sources.list.d" "$S/etc/preferences.d" "$S/etc/apt.conf.d" "$S/etc/trusted.gpg.d"
echo "deb [signed-by=$T/apt-key.gpg] http://127.0.0.1:$APORT/debian bench main" > "$S/etc/sources.list"
cat > "$S/apt.conf" <<C
Dir::Etc::Main "$S/etc/apt.conf"; Dir::Etc::Parts "$S/etc/apt.conf.d";
Dir::Etc::SourceList "$S/etc/sources.list"; Dir::Etc::SourceParts "$S/etc/sources.list.d";
Dir::Etc::Preferences "$S/etc/preferences"; Dir::Etc::PreferencesParts "$S/etc/preferences.d";
Dir::Etc::Trusted "$S/etc/trusted.gpg"; Dir::Etc::TrustedParts "$S/etc/trusted.gpg.d";
Dir::State "$S/state"; Dir::State::status "$S/state/status"; Dir::Cache "$S/cache"; Dir::Log "$S/log";
APT::Architecture "amd64"; APT::Architectures { "amd64"; }; APT::Install-Recommends "false";
APT::Sandbox::User "root"; Acquire::Languages "none"; Debug::NoLocking "1";
C
export APT_CONFIG=$S/apt.conf LC_ALL=C DEBIAN_FRONTEND=noninteractive
fresh_apt() { rm -rf "$S/state" "$S/cache" "$S/log" "$T/peer/deb"; mkdir -p "$S/state/lists/partial" "$S/cache/archives/partial" "$S/log" "$T/peer/deb"; : > "$S/state/status"; }
# shellcheck disable=SC2016
APT_PEER='apt-get update -qq && cd "$1" && apt-get download -qq $(apt-get install --simulate -qq bench-top | sed -nE "s/^Inst ([^ ]+) \(([^ ]+) .*/\1=\2/p")'

t() { # t NAME CMD... : append "secs kib" of one run to $T/r_NAME
  local n=$1; shift
  /usr/bin/time -f "%e %M" -o "$T/time" "$@" >"$T/out" 2>"$T/err" || { echo "failed: $*" >&2; cat "$T/out" "$T/err" >&2; exit 1; }
  cat "$T/time" >> "$T/r_$n"
}
echo "== $ROUNDS rounds (ours, then the peer's three tools), each cold"
for r in $(seq "$ROUNDS"); do
  rm -rf "$T/cache" "$T/b.lock" "$T/b.bundle" "$T/peer"; mkdir -p "$T/peer"; sync
  export BUNDLER_CACHE=$T/cache
  t lock "$B" lock "$T/m.yaml" --lock "$T/b.lock"
  t create "$B" create "$T/m.yaml" --key "$T/keys/bundle.key" --out "$T/b.bundle" --lock "$T/b.lock" --locked --compression "$COMPRESSION" --json
  t skopeo skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$RPORT/bench/big:1" "dir:$T/peer/img"
  t pip env PIP_CONFIG_FILE=/dev/null "$PY" -m pip download -q --no-cache-dir --disable-pip-version-check --index-url "http://127.0.0.1:$PPORT/simple/" --dest "$T/peer/whl" bench-app
  fresh_apt
  t apt bash -c "$APT_PEER" apt "$T/peer/deb"
  echo "   round $r: lock $(tail -1 "$T/r_lock" | cut -d' ' -f1)s create $(tail -1 "$T/r_create" | cut -d' ' -f1)s | skopeo $(tail -1 "$T/r_skopeo" | cut -d' ' -f1)s pip $(tail -1 "$T/r_pip" | cut -d' ' -f1)s apt $(tail -1 "$T/r_apt" | cut -d' ' -f1)s"
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
col() { awk "{print \$$2}" "$T/r_$1" | median; }
# Per-round sums (ours: lock+create; peer: the three tools) and per-round max RSS, then medians.
paste -d' ' "$T/r_lock" "$T/r_create" | awk '{print $1+$3, ($2>$4?$2:$4)}' > "$T/r_ours"
paste -d' ' "$T/r_skopeo" "$T/r_pip" "$T/r_apt" | awk '{m=$2; if($4>m)m=$4; if($6>m)m=$6; print $1+$3+$5, m}' > "$T/r_peer"

# Same bytes? Image: the blobs skopeo wrote (manifest + config + layers) vs the bundle's blobs.
# Wheels and debs: sha256 of the files the peer downloaded vs the lock, and each in the bundle.
case "$COMPRESSION" in zstd) zstd -dc "$T/b.bundle" | tar -t ;; none) tar -tf "$T/b.bundle" ;; esac \
  | sed -nE 's#^(\./)?blobs/sha256/([0-9a-f]{64})$#\2#p' | sort -u > "$T/bundle.blobs"
{ ls "$T/peer/img" | grep -E '^[0-9a-f]{64}$'; sha256sum "$T/peer/img/manifest.json" | cut -d' ' -f1; } | sort -u > "$T/peer.img"
python3 - "$T/peer/img/manifest.json" > "$T/peer.layers" <<'PY'
import json, sys; [print(l["digest"][7:]) for l in json.load(open(sys.argv[1]))["layers"]]
PY
python3 - "$T/b.lock" "$T" <<'PY'
import sys, tomllib
lock = tomllib.load(open(sys.argv[1], "rb")); T = sys.argv[2]
for kind, key in (("wheel", "whl"), ("deb", "deb")):
    open(f"{T}/ours.{key}", "w").write("".join(sorted(f'{e["sha256"][7:]}  {e["filename"].rsplit("/", 1)[-1]}\n' for e in lock.get(kind, []))))
PY
(cd "$T/peer/whl" && sha256sum -- *) | sort > "$T/peer.whl"
(cd "$T/peer/deb" && sha256sum -- *) | sort > "$T/peer.deb"
same() { # same LABEL OURS PEER: compare sha256 sets (first column)
  if diff <(cut -d' ' -f1 "$2" | sort) <(cut -d' ' -f1 "$3" | sort) >/dev/null \
     && [ -z "$(comm -23 <(cut -d' ' -f1 "$2" | sort -u) "$T/bundle.blobs")" ]; then
    echo "$1: yes ($(wc -l < "$3") files, same sha256s, all in the bundle)"
  else
    echo "$1: NO"; diff <(sort "$2") <(sort "$3") | sed -n 's/^</  only ours:/p; s/^>/  only peer:/p' || true
    comm -23 <(cut -d' ' -f1 "$2" | sort -u) "$T/bundle.blobs" | sed 's/^/  not in bundle: /'
  fi
}

size() { du -sb "$@" | awk '{s+=$1} END {printf "%.0f", s/1e6}'; }
echo
echo "create from local upstreams (loopback): 1 image ($(size "$T/peer/img") MB, $(wc -l < "$T/peer.layers") layers), $(wc -l < "$T/peer.whl") wheels, $(wc -l < "$T/peer.deb") debs; bundle $(size "$T/b.bundle") MB ($COMPRESSION); medians of $ROUNDS cold rounds"
row() { printf '%-54s %8s s %9s MiB\n' "$1" "$2" "$(awk -v k="$3" 'BEGIN {printf "%.0f", k/1024}')"; }
row "bundler lock" "$(col lock 1)" "$(col lock 2)"
row "bundler create --locked" "$(col create 1)" "$(col create 2)"
row "ours: lock + create" "$(col ours 1)" "$(col ours 2)"
row "skopeo copy docker:// dir:" "$(col skopeo 1)" "$(col skopeo 2)"
row "pip download (resolves)" "$(col pip 1)" "$(col pip 2)"
row "apt-get update + install -s + download" "$(col apt 1)" "$(col apt 2)"
row "peer: sum of the three (RSS: the largest)" "$(col peer 1)" "$(col peer 2)"
awk -v o="$(col ours 1)" -v c="$(col create 1)" -v p="$(col peer 1)" -v om="$(col ours 2)" -v pm="$(col peer 2)" \
  'BEGIN {printf "ours/peer (< 1: ours faster/smaller): time lock+create %.2f, create alone %.2f; peak RSS %.2f\n", o/p, c/p, om/pm}'
if diff -q "$T/peer.img" <(comm -12 "$T/peer.img" "$T/bundle.blobs") >/dev/null; then
  echo "image: same bytes: yes (skopeo's $(wc -l < "$T/peer.img") blobs — manifest, config, $(wc -l < "$T/peer.layers") layers — all in the bundle by digest)"
else
  echo "image: same bytes: NO"; comm -23 "$T/peer.img" "$T/bundle.blobs" | sed 's/^/  only peer: /'
fi
same "wheels: same bytes" "$T/ours.whl" "$T/peer.whl"
same "debs: same bytes" "$T/ours.deb" "$T/peer.deb"
