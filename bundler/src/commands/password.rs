//! Where a secret key's password comes from: `--password-file`, then `BUNDLER_KEY_PASSWORD`
//! (for CI), then a prompt when stdin is a terminal. Never a command-line argument: those show
//! in `ps` and shell history.

use std::io::IsTerminal;
use std::path::Path;

use crate::format::sign::{Password, SignError};

pub const ENV: &str = "BUNDLER_KEY_PASSWORD";

/// The password that unlocks the existing secret key `key`.
pub fn unlock(file: Option<&Path>, key: &Path) -> Result<Password, SignError> {
    if let Some(p) = given(file)? {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        return Err(SignError::Encrypted(key.into()));
    }
    let text = prompt(&format!("Password for {}: ", key.display()))?;
    Ok(Password { text, from: "the terminal".into() })
}

/// The password a new secret key is encrypted with; on a terminal it is asked twice. With no
/// password given and no terminal to ask on, `None`: the key is written unencrypted, with a
/// warning, so `bundler keygen --out DIR` (the contract's form, run by scripts) keeps working.
pub fn for_new_key(file: Option<&Path>) -> Result<Option<Password>, SignError> {
    if let Some(p) = given(file)? {
        return Ok(Some(p));
    }
    if !std::io::stdin().is_terminal() {
        eprintln!("warning: no password given (--password-file FILE, {ENV}) and stdin is not a terminal to ask on: the secret key is written UNENCRYPTED; pass --unencrypted to say so, or regenerate it with a password");
        return Ok(None);
    }
    let text = prompt("Password to protect the new secret key: ")?;
    if prompt("The same password again: ")? != text {
        return Err(SignError::Password("the two passwords differ; nothing was written".into()));
    }
    Ok(Some(Password { text, from: "the terminal".into() }))
}

fn given(file: Option<&Path>) -> Result<Option<Password>, SignError> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| SignError::Io { path: path.into(), source })?;
        // The first line, as `minisign` reads a password from stdin; a trailing newline is not part of it.
        let line = text.lines().next().unwrap_or_default();
        if line.is_empty() {
            return Err(SignError::Password(format!("password file {} is empty; write the password on its first line", path.display())));
        }
        return Ok(Some(Password { text: line.to_string(), from: format!("--password-file {}", path.display()) }));
    }
    match std::env::var(ENV) {
        Ok(text) if !text.is_empty() => Ok(Some(Password { text, from: ENV.into() })),
        _ => Ok(None),
    }
}

fn prompt(question: &str) -> Result<String, SignError> {
    let text = rpassword::prompt_password(question).map_err(|e| SignError::Password(format!("reading the password from the terminal: {e}")))?;
    if text.is_empty() {
        return Err(SignError::Password("an empty password protects nothing; nothing was done".into()));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_file_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "two words \r\nignored\n").unwrap();
        let p = given(Some(&f)).unwrap().unwrap();
        assert_eq!(p.text, "two words ");
        assert!(p.from.contains("--password-file"));
        std::fs::write(&f, "\n").unwrap();
        assert!(given(Some(&f)).err().unwrap().to_string().contains("empty"));
        assert!(given(Some(&dir.path().join("missing"))).is_err());
    }
}
