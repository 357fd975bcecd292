//! `mirror push`: the tags come from a running server (which holds the database) or the store;
//! the bytes are read from the blob files, which never change once written.

use crate::cli::PushArgs;
use crate::control::{self, Reply, Request};
use crate::push::{push, Target};
use crate::store::{Paths, Store};

pub async fn run(args: &PushArgs) -> anyhow::Result<()> {
    let store_dir = args.store.clone();
    let tags = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        match control::request(&store_dir, Request::Tags) {
            Some(Ok(Reply::Tags(t))) => Ok(t),
            Some(Ok(Reply::Err(e))) => anyhow::bail!("the running mirror: {e}"),
            Some(Ok(other)) => anyhow::bail!("unexpected reply from the running mirror: {other:?}"),
            Some(Err(e)) => Err(e.into()),
            None => Ok(Store::open(&store_dir)?.all_tags()?),
        }
    })
    .await??;
    if tags.is_empty() {
        anyhow::bail!("the store at {} holds no tagged images or charts to push", args.store.display());
    }
    let creds = match (&args.username, &args.password_env) {
        (Some(u), Some(var)) => Some((u.clone(), std::env::var(var).map_err(|_| anyhow::anyhow!("--password-env {var}: the variable is not set"))?)),
        (Some(u), None) => Some((u.clone(), String::new())),
        _ => None,
    };
    let mut target = Target::new(&args.oci, &args.prefix, creds)?;
    let s = push(&Paths::new(&args.store), &tags, &mut target).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        for i in &s.images {
            eprintln!("pushed {i}");
        }
        eprintln!("{} blob(s) uploaded ({} bytes), {} already there, {} mounted; {} manifest(s)", s.blobs_uploaded, s.bytes_uploaded, s.blobs_skipped, s.blobs_mounted, s.manifests);
    }
    Ok(())
}
