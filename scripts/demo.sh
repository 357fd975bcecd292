#!/usr/bin/env bash
# The demo: bundle manifests/demo.yaml on the "connected side", carry the bundle over, verify
# and import it on the "air-gapped side", serve it, and print how to point clients at it.
# Runs on a fresh Debian 12 as root with the Rust toolchain; needs no registry or internet
# beyond the crate registry (the demo image is the OCI layout in manifests/demo-image).
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
[ -f "$OUT/keys/bundle.key" ] || "$B" keygen --out "$OUT/keys"
"$B" create manifests/demo.yaml --key "$OUT/keys/bundle.key" --out "$OUT/demo.bundle" --lock bundles.lock --locked
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

  Browse http://$LISTEN/ for what the mirror holds. Ctrl-C stops it.
TXT
wait $SERVER
