#!/usr/bin/env bash
# The test command: on a fresh Debian 12 as root, installs the real servers and clients the
# end-to-end suites drive, builds everything and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS="docker-registry skopeo containerd umoci podman minisign gnupg ca-certificates curl tar"
missing=""
for p in $PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then echo "missing packages:$missing (run as root to install them)" >&2; exit 1; fi
  echo "== installing:$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
echo "== tools"
skopeo --version; containerd --version; podman --version | head -1; docker-registry --version 2>&1 | head -1 || true
minisign -v 2>&1 | head -1 || true; cargo --version

echo "== build"
cargo build --workspace --bins --tests --locked
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== test"
cargo test --workspace --locked
