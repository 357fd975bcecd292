#!/usr/bin/env bash
# Benchmark (not a test): the apt closure of the MAGE base-image package list against the full
# Debian bookworm main index (amd64), `bundler lock` beside `apt-get install --simulate` in an
# isolated apt state (empty dpkg status, so both compute the full closure). Needs the Debian
# archive (deb.debian.org). Prints wall time and peak RSS of each (medians of ROUNDS, warm
# caches: index download excluded on both sides), the ratios, and whether the two chose the
# same package set (and the difference if not).
# Usage: bash bench/apt-closure.sh   (ROUNDS=5, ARCHIVE=http://deb.debian.org/debian)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
ARCHIVE=${ARCHIVE:-http://deb.debian.org/debian}
PKGS="build-essential libpq-dev postgresql-client libmagic1 libreoffice python3-uno tesseract-ocr libtesseract-dev poppler-utils pkg-config curl"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT

cargo build --release -q -p bundler
B=$PWD/target/release/bundler
export BUNDLER_CACHE=$T/cache

list=$(printf '"%s", ' $PKGS); list="[${list%, }]"
cat > "$T/mage.yaml" <<Y
name: mage-apt
platforms: [linux/amd64]
apt:
  - source: $ARCHIVE
    id: debian
    suite: bookworm
    components: [main]
    keyring: $PWD/manifests/keys/debian-archive-keyring.gpg
    packages: $list
    exclude_installed: none
Y

S=$T/aptstate
mkdir -p "$S/sources.list.d" "$S/preferences.d" "$S/trusted.gpg.d" "$S/lists/partial" "$S/archives/partial" "$S/log"
touch "$S/status"
echo "deb [signed-by=$PWD/manifests/keys/debian-archive-keyring.gpg] $ARCHIVE bookworm main" > "$S/sources.list"
cat > "$S/apt.conf" <<C
Dir::Etc::SourceList "$S/sources.list"; Dir::Etc::SourceParts "$S/sources.list.d";
Dir::Etc::Trusted "$S/trusted.gpg"; Dir::Etc::TrustedParts "$S/trusted.gpg.d";
Dir::Etc::Preferences "$S/preferences"; Dir::Etc::PreferencesParts "$S/preferences.d";
Dir::State "$S"; Dir::State::Lists "$S/lists"; Dir::State::status "$S/status";
Dir::Cache "$S"; Dir::Cache::Archives "$S/archives"; Dir::Log "$S/log";
APT::Architecture "amd64"; APT::Install-Recommends "false"; Debug::NoLocking "true"; APT::Sandbox::User "root";
C
export APT_CONFIG=$S/apt.conf

echo "== warming: index downloads (not timed)"
apt-get update -qq
"$B" lock "$T/mage.yaml" --lock "$T/mage.lock" 2>/dev/null

# time_rss CMD... -> "seconds kib" of one run
time_rss() {
  /usr/bin/time -f "%e %M" -o "$T/t" "$@" >"$T/out" 2>"$T/err" || { cat "$T/err" >&2; exit 1; }
  cat "$T/t"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

: > "$T/ours"; : > "$T/apt"
for _ in $(seq "$ROUNDS"); do
  time_rss "$B" lock "$T/mage.yaml" --lock "$T/mage.lock" >> "$T/ours"
  # shellcheck disable=SC2086
  time_rss apt-get install --simulate -qq $PKGS >> "$T/apt"
done
cp "$T/out" "$T/apt.out"
ours_s=$(awk '{print $1}' "$T/ours" | median); ours_k=$(awk '{print $2}' "$T/ours" | median)
apt_s=$(awk '{print $1}' "$T/apt" | median); apt_k=$(awk '{print $2}' "$T/apt" | median)

grep '^name = ' "$T/mage.lock" | sed -E 's/name = "debian\/(.*)_(.*)_(.*)"/\1 \2/' | sort > "$T/ours.set"
grep '^Inst ' "$T/apt.out" | sed -E 's/^Inst ([^ ]+) \(([^ ]+) .*/\1 \2/' | sort > "$T/apt.set"

echo
echo "closure of: $PKGS"
printf "%-34s %8s s %10s KiB  %5s packages\n" "bundler lock (resolve, warm cache)" "$ours_s" "$ours_k" "$(wc -l < "$T/ours.set")"
printf "%-34s %8s s %10s KiB  %5s packages\n" "apt-get install --simulate" "$apt_s" "$apt_k" "$(wc -l < "$T/apt.set")"
awk -v a="$ours_s" -v b="$apt_s" -v c="$ours_k" -v d="$apt_k" 'BEGIN {printf "ours/apt-get: time %.2f, peak RSS %.2f (medians of '"$ROUNDS"' rounds)\n", a/b, c/d}'
if diff -q "$T/ours.set" "$T/apt.set" >/dev/null; then
  echo "same package set as apt-get: yes"
else
  echo "same package set as apt-get: NO"
  diff "$T/ours.set" "$T/apt.set" | grep '^[<>]' | sed 's/^</  only ours:/; s/^>/  only apt-get:/'
fi
