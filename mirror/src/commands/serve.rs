//! `mirror serve`.

use anyhow::Context;

use crate::cli::ServeArgs;
use crate::store::Store;

pub async fn run(args: &ServeArgs) -> anyhow::Result<()> {
    // A broken trust file stops the start, not the first import. Absolute: it is read again
    // for every import.
    let mut trust_files = Vec::new();
    for f in &args.trust_file {
        crate::import::TrustFile::load(f)?;
        trust_files.push(std::fs::canonicalize(f).with_context(|| format!("--trust-file {}", f.display()))?);
    }
    // TLS first: a bad certificate fails before the store is touched.
    let paths = crate::store::Paths::new(&args.store);
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(crate::tls::server_config(c, k)?),
        _ if !args.no_tls && paths.tls_cert().exists() => Some(crate::tls::server_config(&paths.tls_cert(), &paths.tls_key())?),
        _ => None,
    };
    let origin = crate::routes::origin::Origin::new(args.external_url.as_deref(), tls.is_some())?;
    let limit = crate::auth::LoginLimit { failures: args.login_failures, window: std::time::Duration::from_secs(args.login_window) };
    let auth = match (&args.htpasswd, &args.push_htpasswd) {
        (None, None) => None,
        (r, w) => Some(std::sync::Arc::new(crate::auth::Auth::load(r.as_deref(), w.as_deref(), origin.clone(), limit)?)),
    };
    let limits = crate::routes::oci::push::UploadLimits { sessions: args.max_upload_sessions, bytes: args.max_upload_bytes };
    let uploads = crate::routes::oci::push::Uploads::new(args.push_htpasswd.is_some(), args.allow_overwrite_imported).with_limits(limits);
    let store = Store::open(&args.store)?;
    let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}; is the port in use?", args.listen))?;
    crate::serve::run(store, listener, tls, auth, uploads, trust_files, origin).await
}
