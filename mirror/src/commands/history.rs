//! `mirror history`: past imports, oldest first.

use crate::store::Store;

pub fn run(store: &Store) -> anyhow::Result<()> {
    for h in store.history()? {
        println!(
            "#{} {} {} sequence {} signed by {}: +{} blobs ({} bytes) from {}",
            h.generation, h.imported_at, h.name, h.sequence, h.signer, h.blobs_added, h.bytes_added, h.file
        );
    }
    Ok(())
}
