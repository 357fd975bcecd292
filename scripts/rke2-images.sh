#!/bin/sh
# Print a manifest fragment with RKE2's own images for one release, so the mirror's registry
# serves them (RKE2's registry air-gap method). Run on the connected side:
#   scripts/rke2-images.sh v1.34.1+rke2r1 [amd64] > rke2-images.yaml
#   bundler lock manifests/rke2.yaml rke2-images.yaml
# The list is the release's rke2-images-all.linux-ARCH.txt, checked against the release's
# sha256sum-ARCH.txt when that lists it.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 VERSION [ARCH]" >&2; exit 2; }
version=$1 arch=${2:-amd64}
base="${RKE2_RELEASES:-https://github.com/rancher/rke2/releases/download}/$(echo "$version" | sed 's/+/%2B/g')"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
list="rke2-images-all.linux-$arch.txt"
curl -fsSL --max-time 120 -o "$work/$list" "$base/$list"
curl -fsSL --max-time 120 -o "$work/sums" "$base/sha256sum-$arch.txt"
if grep -q " $list\$" "$work/sums"; then
	(cd "$work" && grep " $list\$" sums | sha256sum -c --quiet -) || { echo "$list does not match sha256sum-$arch.txt" >&2; exit 1; }
fi
echo "# RKE2 $version images (linux/$arch), from $list"
echo "images:"
grep -v '^[[:space:]]*$' "$work/$list" | sed "s|^\(.*\)\$|  - {ref: \1, platforms: [linux/$arch]}|"
