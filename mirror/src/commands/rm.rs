//! `mirror rm`: through a running server if one holds the store, else here.

use crate::cli::RmArgs;
use crate::control::{self, Request};
use crate::remove::remove;
use crate::store::Store;

pub fn run(args: &RmArgs) -> anyhow::Result<()> {
    let s = match control::request(&args.store, Request::Remove { targets: args.targets.clone() }) {
        Some(reply) => reply?.into_removed()?,
        None => {
            let store = Store::open(&args.store)?;
            remove(&store, &args.targets)?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    for b in &s.bundles {
        eprintln!("forgot bundle name {b} (its next import starts afresh)");
    }
    for a in &s.removed {
        eprintln!("removed {a}");
    }
    for (a, others) in &s.kept {
        eprintln!("kept {a} (also imported by {})", others.join(", "));
    }
    eprintln!("{} artifact(s) removed, store generation {}; run `mirror gc --store {}` to free their blobs", s.removed.len(), s.generation, args.store.display());
    Ok(())
}
