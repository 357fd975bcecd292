//! `mirror init`: TLS for the mirror (a CA and a server certificate in STORE/tls/), more names
//! on the certificate later with the same CA (`--add-name`), and the store handed to the user
//! the service runs as (`--owner`).

use crate::cli::InitArgs;
use crate::control::{self, Request};
use crate::store::Paths;

pub fn run(args: &InitArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.store)?;
    let paths = Paths::new(&args.store);
    let issued = if !args.add_names.is_empty() {
        Some(crate::tls::add_names(&paths, &args.add_names)?)
    } else if !args.names.is_empty() {
        Some(crate::tls::init(&paths, &args.names)?)
    } else {
        None
    };
    if let Some(owner) = &args.owner {
        let (uid, gid) = crate::tls::chown_store(&args.store, owner)?;
        eprintln!("{} and everything in it now belong to {owner} (uid {uid}, gid {gid})", args.store.display());
    }
    let Some(issued) = issued else { return Ok(()) };
    eprintln!("wrote {} (give it to clients), {} and {} for {}", issued.ca.display(), issued.cert.display(), issued.key.display(), issued.names.join(", "));
    // A running server read its certificate (or none) when it started.
    match control::request(&args.store, Request::Status).and_then(|r| r.ok()).and_then(|r| r.into_status().ok()).and_then(|s| s.running) {
        Some(r) => eprintln!(
            "the `mirror serve` running on this store (pid {}) still serves {} with what it read at start: restart it (`systemctl restart feas-mirror`) to serve this certificate",
            r.pid, r.url
        ),
        None if args.add_names.is_empty() => eprintln!("`mirror serve --store {}` serves HTTPS with it from its next start", args.store.display()),
        None => eprintln!("`mirror serve --store {}` serves the new certificate from its next start; clients keep the same CA", args.store.display()),
    }
    Ok(())
}
