//! `mirror gc`: through a running server if one holds the store, else here.

use crate::cli::GcArgs;
use crate::control::{self, Request};
use crate::gc::gc;
use crate::store::Store;

pub fn run(args: &GcArgs) -> anyhow::Result<()> {
    let s = match control::request(&args.store, Request::Gc { dry_run: args.dry_run }) {
        Some(reply) => reply?.into_collected()?,
        None => {
            let store = Store::open(&args.store)?;
            let s = gc(&store, args.dry_run)?;
            drop(store);
            if !args.dry_run && !s.removed.is_empty() {
                Store::settle(&args.store)?;
            }
            s
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    let verb = if s.dry_run { "would delete" } else { "deleted" };
    for b in &s.removed {
        eprintln!("{verb} {} ({} bytes)", b.digest, b.size);
    }
    eprintln!("gc {verb} {} blob(s), {} bytes; {} kept", s.removed.len(), s.bytes, s.kept);
    Ok(())
}
