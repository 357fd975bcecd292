//! `mirror rm`: through a running server if one holds the store, else here.

use crate::cli::RmArgs;
use crate::control::{self, Request};
use crate::remove::remove;
use crate::store::{Actor, Store};

pub fn run(args: &RmArgs) -> anyhow::Result<()> {
    let s = match control::request(&args.store, Request::Remove { targets: args.targets.clone(), dry_run: args.dry_run }) {
        Some(reply) => reply?.into_removed()?,
        None => {
            let store = Store::open(&args.store)?;
            remove(&store, &args.targets, args.dry_run, &Actor::this_process())?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    let (forgot, removed, kept) = if s.dry_run { ("would forget", "would remove", "would keep") } else { ("forgot", "removed", "kept") };
    for b in &s.bundles {
        eprintln!("{forgot} bundle name {b} (its next import starts afresh)");
    }
    for a in &s.removed {
        eprintln!("{removed} {a}");
    }
    for (a, others) in &s.kept {
        eprintln!("{kept} {a} (also imported by {})", others.join(", "));
    }
    if s.dry_run {
        eprintln!("{} artifact(s) would be removed; nothing was (run again without --dry-run)", s.removed.len());
    } else {
        eprintln!(
            "{} artifact(s) removed, store generation {}; run `mirror gc --store {}` to free their blobs. Importing a bundle that carries them again brings them back",
            s.removed.len(),
            s.generation,
            args.store.display()
        );
    }
    Ok(())
}
