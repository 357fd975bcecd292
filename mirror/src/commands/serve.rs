//! `mirror serve`.

use anyhow::Context;

use crate::cli::ServeArgs;
use crate::store::Store;

pub async fn run(args: &ServeArgs) -> anyhow::Result<()> {
    if !args.read_only {
        tracing::debug!("serving read-only: the only mode this version has");
    }
    // TLS first: a bad certificate fails before the store is touched.
    let paths = crate::store::Paths::new(&args.store);
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(crate::tls::server_config(c, k)?),
        _ if !args.no_tls && paths.tls_cert().exists() => Some(crate::tls::server_config(&paths.tls_cert(), &paths.tls_key())?),
        _ => None,
    };
    let auth = args.htpasswd.as_deref().map(|p| crate::auth::Auth::load(p, tls.is_some())).transpose()?.map(std::sync::Arc::new);
    let store = Store::open(&args.store)?;
    let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}; is the port in use?", args.listen))?;
    crate::serve::run(store, listener, tls, auth).await
}
