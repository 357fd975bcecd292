#!/usr/bin/env bash
# The demo: bundle manifests/demo.yaml on the "connected side", carry the bundle over, verify
# and import it on the "air-gapped side", serve it, and print how to point clients at it.
# Runs on a fresh Debian 12 as root with the Rust toolchain; needs the crate registry and the
# Debian archive (the demo image is the OCI layout in manifests/demo-image; the debs come from
# deb.debian.org, checked against Debian's archive keyring in manifests/keys/).
# Env: LISTEN (default 127.0.0.1:5000), OUT (default ./demo-out).
set -euo pipefail
cd "$(dirname "$0")/.."
LISTEN=${LISTEN:-127.0.0.1:5000}
OUT=${OUT:-$PWD/demo-out}
HOST=${LISTEN%:*}; PORT=${LISTEN##*:}

if ! command -v skopeo >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "== installing skopeo and curl (used to prove the mirror serves)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends skopeo curl >/dev/null
fi

echo "== building bundler and mirror (release)"
cargo build --release -q -p bundler -p mirror
B=$PWD/target/release/bundler; M=$PWD/target/release/mirror
mkdir -p "$OUT"
export BUNDLER_CACHE=$OUT/cache

echo "== connected side: key, bundle (honouring the committed bundles.lock)"
# A throwaway demo key, so without a password; real signing keys keep keygen's default (encrypted).
[ -f "$OUT/keys/bundle.key" ] || "$B" keygen --out "$OUT/keys" --unencrypted
# Not --locked: if Debian replaced a locked version (a point release), the closure is resolved
# again and bundles.lock updated; `--locked` would refuse instead, naming the deb.
"$B" create manifests/demo.yaml --key "$OUT/keys/bundle.key" --out "$OUT/demo.bundle" --lock bundles.lock
"$B" inspect "$OUT/demo.bundle"

echo "== air-gapped side: verify and import (signature checked before any blob is read)"
"$B" verify "$OUT/demo.bundle" --pub "$OUT/keys/bundle.pub"
"$M" import "$OUT/demo.bundle" --store "$OUT/store" --trust "$OUT/keys/bundle.pub"

echo "== serving $OUT/store on http://$LISTEN"
"$M" serve --store "$OUT/store" --listen "$LISTEN" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT INT TERM
for _ in $(seq 100); do curl -sf "http://$LISTEN/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
if command -v skopeo >/dev/null; then
  echo "== proof: skopeo reads the image back from the mirror"
  skopeo inspect --tls-verify=false "docker://$LISTEN/docker.io/library/hello-airgap:1.0" | grep -E '"(Digest|Architecture)"'
fi

echo "== proof: apt-get (own lists and cache under $OUT/apt, this system's dpkg status read as the target's) downloads from the mirror"
"$M" client-config apt --url "http://$LISTEN" --out "$OUT/client"
S=$OUT/apt; rm -rf "$S"
mkdir -p "$S/sources.list.d" "$S/trusted.gpg.d" "$S/preferences.d" "$S/lists/partial" "$S/archives/partial" "$S/log"
touch "$S/sources.list"
cp "$OUT/client/apt/mirror.sources" "$S/sources.list.d/"
cat > "$S/apt.conf" <<C
Dir::Etc::SourceList "$S/sources.list"; Dir::Etc::SourceParts "$S/sources.list.d";
Dir::Etc::Trusted "$S/trusted.gpg"; Dir::Etc::TrustedParts "$S/trusted.gpg.d";
Dir::Etc::Preferences "$S/preferences"; Dir::Etc::PreferencesParts "$S/preferences.d";
Dir::State "$S"; Dir::State::Lists "$S/lists"; Dir::State::status "/var/lib/dpkg/status";
Dir::Cache "$S"; Dir::Cache::Archives "$S/archives"; Dir::Log "$S/log";
APT::Architecture "$(dpkg --print-architecture)"; Debug::NoLocking "true";
C
APT_CONFIG=$S/apt.conf apt-get update 2>&1 | sed 's/^/  /'
# The bundle left out what every Debian system has (exclude_installed: required), so apt-get
# resolves against this machine's installed packages, as it would on a target.
APT_CONFIG=$S/apt.conf apt-get install -y --download-only --reinstall --no-install-recommends hello jq 2>&1 | grep -E '^(Get|Fetched|E:|W:)' | sed 's/^/  /'
(cd "$S/archives" && sha256sum ./*.deb | sed 's/^/  /')

echo "== proof: pip installs requests from the mirror's PyPI index (a fresh venv, no other index)"
if python3 -m venv "$OUT/venv" 2>/dev/null || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$OUT/venv"; }; then
  # Only the mirror: no pip.conf, no PIP_* settings from this machine.
  env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null PIP_ROOT_USER_ACTION=ignore \
    "$OUT/venv/bin/pip" install --no-cache-dir --index-url "http://$LISTEN/pypi/simple/" requests 2>&1 | { grep -E '^(Collecting|Successfully|ERROR)' || true; } | sed 's/^/  /'
  "$OUT/venv/bin/python" -c 'import requests; print("  requests", requests.__version__, "imported from", requests.__file__)'
else
  echo "  (python3 -m venv is not available here; skipped)"
fi

cat <<TXT

The mirror is serving. Point clients at it:

  # skopeo / podman, path-style names
  skopeo copy --src-tls-verify=false docker://$LISTEN/docker.io/library/hello-airgap:1.0 oci:/tmp/hello:1.0
  podman pull --tls-verify=false $LISTEN/docker.io/library/hello-airgap:1.0

  # containerd / ctr: mirror docker.io through the air-gapped mirror
  mkdir -p /etc/containerd/certs.d/docker.io
  cat > /etc/containerd/certs.d/docker.io/hosts.toml <<'T'
  server = "http://$LISTEN"
  [host."http://$LISTEN"]
    capabilities = ["pull", "resolve"]
  T
  ctr images pull --hosts-dir /etc/containerd/certs.d docker.io/library/hello-airgap:1.0

  # RKE2 / K3s: /etc/rancher/rke2/registries.yaml (or /etc/rancher/k3s/registries.yaml)
  mirrors:
    docker.io:
      endpoint: ["http://$LISTEN"]

  # podman/CRI-O: /etc/containers/registries.conf.d/mirror.conf
  [[registry]]
  prefix = "docker.io"
  location = "$LISTEN/docker.io"
  insecure = true

  # apt (Debian 12 / Ubuntu 22.04+): the mirror's signing key is inline in the .sources file
  cp $OUT/client/apt/mirror.sources /etc/apt/sources.list.d/ && apt-get update && apt-get install hello jq
  # (\`mirror client-config apt --url http://$LISTEN\` prints it; the key alone is at http://$LISTEN/apt/key.gpg)

  # pip / uv
  pip install --index-url http://$LISTEN/pypi/simple/ requests
  # (\`mirror client-config pip|uv --url http://$LISTEN\` prints pip.conf / uv.toml)

  Browse http://$LISTEN/ for what the mirror holds, http://$LISTEN/apt/ for the apt suites. Ctrl-C stops it.
TXT
wait $SERVER
