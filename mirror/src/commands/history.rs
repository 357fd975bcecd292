//! `mirror history`: past imports, oldest first; through a running server if one holds the store.

use crate::cli::HistoryArgs;
use crate::control::{self, Request};
use crate::store::Store;

pub fn run(args: &HistoryArgs) -> anyhow::Result<()> {
    let records = match control::request(&args.store, Request::History) {
        Some(reply) => reply?.into_history()?,
        None => Store::open(&args.store)?.history()?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&records)?);
        return Ok(());
    }
    for h in records {
        println!(
            "#{} {} {} sequence {} signed by {}: +{} blobs ({} bytes) from {}",
            h.generation, h.imported_at, h.name, h.sequence, h.signer, h.blobs_added, h.bytes_added, h.file
        );
    }
    Ok(())
}
