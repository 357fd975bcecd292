use std::path::Path;

use crate::format::sign;

use super::password;

/// `bundler keygen`: the secret key is password-protected unless `unencrypted` asks otherwise.
pub fn run(out: &Path, password_file: Option<&Path>, unencrypted: bool) -> anyhow::Result<()> {
    // Refuse to overwrite before asking for a password.
    for p in sign::key_files(out) {
        if p.exists() {
            return Err(sign::SignError::Exists(p).into());
        }
    }
    let password = if unencrypted { None } else { password::for_new_key(password_file)? };
    let unencrypted = password.is_none();
    let (sk, pk, id) = sign::keygen(out, password.as_ref().map(|p| p.text.as_str()))?;
    let how = if unencrypted { "NOT encrypted: anyone who reads it can sign" } else { "encrypted with the password" };
    eprintln!(
        "key {id}\n  secret: {} ({how}; keep it on the connected side)\n  public: {} (give it to every mirror: mirror import --trust, or a trust file)",
        sk.display(),
        pk.display()
    );
    Ok(())
}
