//! `mirror inventory`: print the inventory, asking a running server when it holds the store.

use crate::cli::StoreArgs;
use crate::control;
use crate::inventory::inventory;
use crate::store::Store;

pub fn run(args: &StoreArgs) -> anyhow::Result<()> {
    let inv = match control::request_inventory(&args.store) {
        Some(reply) => reply?,
        None => inventory(&Store::open(&args.store)?)?,
    };
    println!("{}", serde_json::to_string_pretty(&inv)?);
    Ok(())
}
