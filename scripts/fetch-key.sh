#!/bin/sh
# Fetch a vendor's apt signing key for a manifest's `keyring:`, refusing it unless its primary
# key has the fingerprint the vendor publishes. Run on the connected side, once per key:
#   scripts/fetch-key.sh URL FINGERPRINT OUT.gpg
# e.g. NVIDIA's container toolkit repository (manifests/gpu-runtime.yaml):
#   scripts/fetch-key.sh https://nvidia.github.io/libnvidia-container/gpgkey \
#       C95B321B61E88C1809C4F759DDCAE044F796ECB0 manifests/keys/nvidia-container-toolkit.gpg
set -eu
[ $# -eq 3 ] || { echo "usage: $0 URL FINGERPRINT OUT.gpg" >&2; exit 2; }
url=$1 want=$(echo "$2" | tr -d ' ' | tr a-f A-F) out=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL --max-time 60 -o "$work/key" "$url"
# The primary keys' fingerprints, without importing anything anywhere.
got=$(GNUPGHOME="$work" gpg --batch --show-keys --with-colons "$work/key" |
	awk -F: '$1 == "pub" { p = 1; next } $1 == "fpr" && p { print $10; p = 0 }')
if [ "$got" != "$want" ]; then
	echo "$url: primary key fingerprint(s) [$got] are not the pinned $want; nothing written" >&2
	exit 1
fi
# apt and the bundler take binary keyrings; dearmor whatever came.
if grep -q -- '-----BEGIN PGP PUBLIC KEY BLOCK-----' "$work/key"; then
	GNUPGHOME="$work" gpg --batch --dearmor -o "$work/key.gpg" "$work/key"
else
	cp "$work/key" "$work/key.gpg"
fi
mkdir -p "$(dirname "$out")"
mv "$work/key.gpg" "$out"
echo "$out: $want"
