//! `mirror serve`.

use anyhow::Context;

use crate::cli::ServeArgs;
use crate::store::Store;

pub async fn run(args: &ServeArgs) -> anyhow::Result<()> {
    if !args.read_only {
        tracing::debug!("serving read-only: the only mode this version has");
    }
    let store = Store::open(&args.store)?;
    let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}; is the port in use?", args.listen))?;
    crate::serve::run(store, listener).await
}
