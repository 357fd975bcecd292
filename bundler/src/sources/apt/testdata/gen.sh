#!/bin/sh
# Regenerates the OpenPGP fixtures of openpgp.rs (keys made and used at faked 2020 times, so
# "expired" stays expired): run in this directory with gpg 2.2+.
set -e
G() { gpg --batch --yes --no-tty --pinentry-mode loopback --passphrase "" "$@"; }
printf 'Origin: Test\nSuite: stable\nCodename: stable\nDate: Wed, 01 Jan 2020 00:00:00 UTC\nSHA256:\n 0000000000000000000000000000000000000000000000000000000000000000 0 main/binary-amd64/Packages\n' > Release
mk() { export GNUPGHOME=$PWD/home-$1; gpgconf --kill all 2>/dev/null; rm -rf $GNUPGHOME; mkdir -m700 $GNUPGHOME; }
fpr() { G --with-colons --list-keys | awk -F: '/^fpr/{print $10; exit}'; }
sign() { # name, faked time, [local-user]
  G --faked-system-time "$2" --local-user "$3" --clearsign -o $1.inrelease Release
  G --faked-system-time "$2" --local-user "$3" --armor --detach-sign -o $1.release.gpg Release
}
# valid
mk valid; G --faked-system-time 20200101T000000 --quick-gen-key "Valid <valid@example.invalid>" ed25519 sign never; F=$(fpr); sign valid 20200601T000000 $F; G --armor --export $F > valid.key.asc
# expired primary: made 2020-01-01, expires after 1y
mk expired; G --faked-system-time 20200101T000000 --quick-gen-key "Expired <expired@example.invalid>" ed25519 sign 1y; F=$(fpr); sign expired 20200601T000000 $F; G --armor --export $F > expired.key.asc
# revoked primary
mk revoked; G --faked-system-time 20200101T000000 --quick-gen-key "Revoked <revoked@example.invalid>" ed25519 sign never; F=$(fpr); sign revoked 20200601T000000 $F
sed 's/^:-----BEGIN/-----BEGIN/' $GNUPGHOME/openpgp-revocs.d/$F.rev > rev.asc
G --import rev.asc; G --armor --export $F > revoked.key.asc
# expired signing subkey of a never-expiring certify-only primary
mk subexp; G --faked-system-time 20200101T000000 --quick-gen-key "Subkey <subkey@example.invalid>" ed25519 cert never; F=$(fpr)
G --faked-system-time 20200101T000000 --quick-add-key $F ed25519 sign 1y
S=$(G --with-colons --list-keys | awk -F: '/^fpr/{n++; if(n==2){print $10; exit}}')
sign subexp 20200601T000000 "$S!"; G --armor --export $F > subexp.key.asc
# revoked signing subkey
mk subrev; G --faked-system-time 20200101T000000 --quick-gen-key "Subrev <subrev@example.invalid>" ed25519 cert never; F=$(fpr)
G --faked-system-time 20200101T000000 --quick-add-key $F ed25519 sign never
S=$(G --with-colons --list-keys | awk -F: '/^fpr/{n++; if(n==2){print $10; exit}}')
sign subrev 20200601T000000 "$S!"
gpg --no-tty --pinentry-mode loopback --passphrase "" --faked-system-time 20200701T000000 --command-fd 0 --status-fd 2 --edit-key $F <<'IN'
key 1
revkey
y
3
retired in a test

y
save
IN
G --armor --export $F > subrev.key.asc
for n in valid expired revoked subexp subrev; do GNUPGHOME=$PWD/home-$n gpgconf --kill all; done
rm -rf home-* rev.asc
