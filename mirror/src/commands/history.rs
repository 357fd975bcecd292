//! `mirror history`: the audit trail — every import, push, delete, rm, gc and quarantine, who
//! did it and from where — oldest first; through a running server if one holds the store.

use crate::cli::HistoryArgs;
use crate::control::{self, Request};
use crate::store::{Action, Store};

pub fn run(args: &HistoryArgs) -> anyhow::Result<()> {
    let events = match control::request(&args.store, Request::History) {
        Some(reply) => reply?.into_history()?,
        None => Store::open(&args.store)?.events()?,
    };
    let events: Vec<_> = events.into_iter().filter(|e| !args.imports_only || matches!(e.action, Action::Import { .. })).collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&events)?);
        return Ok(());
    }
    for e in events {
        let by = e.by.map(|b| format!(" by {b}")).unwrap_or_default();
        println!("#{} {} {}{by}", e.generation, e.at, e.action);
    }
    Ok(())
}
