use std::path::Path;

use crate::format::sign;

pub fn run(out: &Path) -> anyhow::Result<()> {
    let (sk, pk, id) = sign::keygen(out)?;
    eprintln!("key {id}\n  secret: {} (keep it on the connected side)\n  public: {} (give it to every mirror: mirror import --trust)", sk.display(), pk.display());
    Ok(())
}
