//! The stand-in archive's OpenPGP keys: gpg in a GNUPGHOME of its own, stopped on drop.

use std::path::Path;
use std::process::Command;

use super::{run, run_bytes};
use crate::Run;

/// An ed25519 OpenPGP signing key in its own GNUPGHOME; its gpg-agent is stopped on drop.
pub struct Signer {
    home: tempfile::TempDir,
    pub fingerprint: String,
    /// The signing subkey's fingerprint, for a key made by `with_signing_subkey`.
    pub subkey: Option<String>,
    /// gpg's `--faked-system-time` for signing (`20200601T000000`), for keys made in the past.
    sign_at: Option<String>,
}

impl Signer {
    pub fn new(name: &str) -> Signer {
        Self::generate(name, &[], "sign", "never")
    }

    /// A key made at `created` (gpg's time form, `20200101T000000`) that expires `expire`
    /// later (`1y`); it signs at `sign_at`. A past `created` and `expire` make a key that signed
    /// while valid and has expired since.
    pub fn made_at(name: &str, created: &str, expire: &str, sign_at: &str) -> Signer {
        let mut s = Self::generate(name, &["--faked-system-time", created], "sign", expire);
        s.sign_at = Some(sign_at.into());
        s
    }

    /// A certify-only primary key (never expiring) made at `created`, with a signing subkey
    /// that expires `expire` later and signs at `sign_at`.
    pub fn with_signing_subkey(name: &str, created: &str, expire: &str, sign_at: &str) -> Signer {
        let mut s = Self::generate(name, &["--faked-system-time", created], "cert", "never");
        s.gpg(&["--faked-system-time", created, "--quick-add-key", &s.fingerprint.clone(), "ed25519", "sign", expire]).ok();
        let list = s.gpg(&["--with-colons", "--list-keys"]).ok();
        s.subkey = list.stdout.lines().filter_map(|l| l.strip_prefix("fpr:")).nth(1).map(|l| l.trim_matches(':').to_string());
        assert!(s.subkey.is_some(), "no subkey in {}", list.stdout);
        s.sign_at = Some(sign_at.into());
        s
    }

    fn generate(name: &str, time: &[&str], usage: &str, expire: &str) -> Signer {
        let home = tempfile::Builder::new().prefix("gpg").tempdir().unwrap();
        let mut s = Signer { home, fingerprint: String::new(), subkey: None, sign_at: None };
        let uid = format!("{name} <{}@example.invalid>", name.to_lowercase().replace(' ', "-"));
        s.gpg(&[time, &["--quick-gen-key", &uid, "ed25519", usage, expire]].concat()).ok();
        let list = s.gpg(&["--with-colons", "--list-secret-keys"]).ok();
        let fingerprint = list.stdout.lines().find_map(|l| l.strip_prefix("fpr:")).map(|l| l.trim_matches(':').to_string()).expect("fingerprint");
        s.fingerprint = fingerprint;
        s
    }

    /// Revoke the key with the certificate gpg wrote when it made it (then export again).
    pub fn revoke(&self) {
        let cert = self.home.path().join("openpgp-revocs.d").join(format!("{}.rev", self.fingerprint));
        // gpg writes it with the armor line escaped so it is not imported by accident.
        let text = std::fs::read_to_string(&cert).unwrap().replace(":-----BEGIN PGP PUBLIC KEY BLOCK", "-----BEGIN PGP PUBLIC KEY BLOCK");
        let armored = self.home.path().join("revocation.asc");
        std::fs::write(&armored, text).unwrap();
        self.gpg(&["--import", armored.to_str().unwrap()]).ok();
    }

    pub fn gnupghome(&self) -> &Path {
        self.home.path()
    }

    /// `gpg --batch ARGS` with this key's GNUPGHOME.
    pub fn gpg(&self, args: &[&str]) -> Run {
        run(Command::new("gpg").args(["--batch", "--yes", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""]).args(args).env("GNUPGHOME", self.home.path()))
    }

    /// The long key id apt names in `NO_PUBKEY` (last 16 hex digits of the fingerprint).
    pub fn key_id(&self) -> &str {
        &self.fingerprint[self.fingerprint.len() - 16..]
    }

    /// Write the binary public key (`gpg --export`) to `path`.
    pub fn export_binary(&self, path: &Path) {
        let key = run_bytes(Command::new("gpg").args(["--batch", "--export", &self.fingerprint]).env("GNUPGHOME", self.home.path()));
        assert!(!key.is_empty(), "gpg --export wrote nothing");
        std::fs::write(path, key).unwrap();
    }

    /// Write the armored public key (`gpg --armor --export`) to `path`.
    pub fn export_armored(&self, path: &Path) {
        let r = self.gpg(&["--armor", "--export", &self.fingerprint]).ok();
        assert!(r.stdout.contains("BEGIN PGP PUBLIC KEY BLOCK"), "{}", r.stdout);
        std::fs::write(path, r.stdout).unwrap();
    }

    /// `InRelease` (clearsigned) and `Release.gpg` (detached, armored) next to `release`.
    pub fn sign_release(&self, release: &Path) {
        let dir = release.parent().unwrap();
        let (r, inr, det) = (release.display().to_string(), dir.join("InRelease").display().to_string(), dir.join("Release.gpg").display().to_string());
        // `!`: exactly this (sub)key, not whichever signing key gpg prefers.
        let user = match &self.subkey {
            Some(sub) => format!("{sub}!"),
            None => self.fingerprint.clone(),
        };
        let time: Vec<&str> = self.sign_at.as_deref().map(|t| vec!["--faked-system-time", t]).unwrap_or_default();
        self.gpg(&[&time[..], &["--local-user", &user, "--digest-algo", "SHA512", "--clearsign", "-o", &inr, &r]].concat()).ok();
        self.gpg(&[&time[..], &["--local-user", &user, "--digest-algo", "SHA512", "--armor", "--detach-sign", "-o", &det, &r]].concat()).ok();
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf").args(["--kill", "all"]).env("GNUPGHOME", self.home.path()).output();
    }
}
