//! `mirror push`: what to push comes from a running server (which holds the database) or the
//! store; the bytes are read from the blob files, which never change once written.

use crate::cli::PushArgs;
use crate::control::{self, Reply, Request};
use crate::push::{push, Target};
use crate::store::{Paths, Store};

/// One request to the running server, or the same read on the store when none runs (also
/// for the ecosystems' own pushes).
pub(crate) async fn ask<T: Send + 'static>(store_dir: &std::path::Path, req: Request, pick: fn(Reply) -> Option<T>, local: fn(&Store) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let dir = store_dir.to_path_buf();
    tokio::task::spawn_blocking(move || match control::request(&dir, req) {
        Some(Ok(Reply::Err(e))) => anyhow::bail!("the running mirror: {e}"),
        Some(Ok(r)) => pick(r).ok_or_else(|| anyhow::anyhow!("unexpected reply from the running mirror")),
        Some(Err(e)) => Err(e.into()),
        None => local(&Store::open(&dir)?),
    })
    .await?
}

pub async fn run(args: &PushArgs) -> anyhow::Result<()> {
    let creds = match (&args.username, &args.password_env) {
        (Some(u), Some(var)) => Some((u.clone(), std::env::var(var).map_err(|_| anyhow::anyhow!("--password-env {var}: the variable is not set"))?)),
        (Some(u), None) => Some((u.clone(), String::new())),
        _ => None,
    };
    let paths = Paths::new(&args.store);
    if let Some(oci) = &args.oci {
        let tags = ask(&args.store, Request::Tags, |r| if let Reply::Tags(t) = r { Some(t) } else { None }, |s| Ok(s.all_tags()?)).await?;
        if tags.is_empty() {
            anyhow::bail!("the store at {} holds no tagged images or charts to push", args.store.display());
        }
        let mut target = Target::new(oci, &args.prefix, creds.clone())?;
        let s = push(&paths, &tags, &mut target, args.sparse_index).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&s)?);
        } else {
            for i in &s.images {
                eprintln!("pushed {i}");
            }
            eprintln!(
                "{} blob(s) uploaded ({} bytes), {} already there, {} mounted; {} manifest(s)",
                s.blobs_uploaded, s.bytes_uploaded, s.blobs_skipped, s.blobs_mounted, s.manifests
            );
        }
    }
    crate::ecosystems::push(args, &paths, creds).await
}
