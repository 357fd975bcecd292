#!/usr/bin/env bash
# The test command. On a fresh Debian 12 as root: installs the real servers and clients the
# end-to-end suites drive (docker-registry, skopeo, containerd, podman, minisign, ...), builds the
# workspace, runs clippy and every test. Elsewhere it checks the packages and says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "test.sh: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

# python3: bcrypt for the registry's htpasswd; procps: kill; the rest are the suites' real parts.
PKGS="docker-registry skopeo containerd umoci podman minisign gnupg ca-certificates curl python3 procps tar dpkg-dev apt-utils xz-utils"

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  [ "$(id -u)" = 0 ] || die "missing packages:$missing — run as root to install them, or: sudo apt-get install$missing"
  command -v apt-get >/dev/null || die "missing packages:$missing and no apt-get (this script expects Debian 12)"
  step "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null || die "apt-get install$missing failed"
fi
command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (rustup, 1.85 or newer)"

step "tools"
{
  cargo --version
  skopeo --version
  containerd --version
  ctr --version
  podman --version
  umoci --version
  echo "docker-registry $(dpkg-query -W -f='${Version}' docker-registry)"
  echo "minisign $(dpkg-query -W -f='${Version}' minisign)"
} 2>&1 | sed 's/^/  /'

step "build"
cargo build --workspace --bins --tests --locked || die "build failed"
step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings || die "clippy found problems"
step "test"
cargo test --workspace --locked --no-fail-fast || die "tests failed (scroll up for the first failure)"
step "all passed"
