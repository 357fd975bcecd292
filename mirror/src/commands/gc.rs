//! `mirror gc`: through a running server if one holds the store, else here.

use crate::cli::GcArgs;
use crate::control::{self, Request};
use crate::gc::gc;
use crate::store::{Actor, Store};

pub fn run(args: &GcArgs) -> anyhow::Result<()> {
    let s = match control::request(&args.store, Request::Gc { dry_run: args.dry_run, push_grace: args.push_grace }) {
        Some(reply) => reply?.into_collected()?,
        None => {
            let store = Store::open_for_scan(&args.store)?;
            gc(&store, args.dry_run, args.push_grace, &Actor::this_process(), &feas_format::progress::Progress::count("gc", 0, !args.json))?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    let verb = if s.dry_run { "would delete" } else { "deleted" };
    for b in &s.removed {
        eprintln!("{verb} {} ({})", b.digest, feas_format::term::bytes(b.size));
    }
    eprintln!("gc {verb} {} blob(s), {}; {} kept", s.removed.len(), feas_format::term::bytes(s.bytes), s.kept);
    if s.awaiting_manifest > 0 {
        eprintln!(
            "  {} of those kept were pushed in the last {} s and no manifest names them yet (a push in progress?); a later gc collects them if none arrives, `--push-grace 0` now",
            s.awaiting_manifest, args.push_grace
        );
    }
    Ok(())
}
