//! `mirror import`: hand the bundle to a running server if one holds the store, else open the
//! store here. Either way the same library import runs.

use anyhow::Context;

use feas_format::sign::PublicKey;

use crate::cli::ImportArgs;
use crate::control::{self, ImportRequest, TrustedKey};
use crate::import::{self, ImportError, ImportOptions, ImportSummary, Trust, TrustFile};
use crate::store::Store;

pub fn run(args: &ImportArgs) -> anyhow::Result<()> {
    let summary = import(args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if summary.already_imported {
        eprintln!("{}: bundle {} sequence {} is already imported; nothing to do", args.file.display(), summary.name, summary.sequence);
    } else {
        eprintln!(
            "imported bundle {} sequence {} (signed by {}): {} blobs added ({}), {} already held",
            summary.name,
            summary.sequence,
            summary.signer,
            summary.blobs_added,
            feas_format::term::bytes(summary.bytes_added),
            summary.blobs_present
        );
        for a in &summary.artifacts {
            eprintln!("  {a}");
        }
        if !summary.restored.is_empty() {
            eprintln!("brought back {} artifact(s) an earlier `mirror rm` took out (`mirror rm` them again to drop them): {}", summary.restored.len(), summary.restored.join(", "));
        }
    }
    Ok(())
}

fn import(args: &ImportArgs) -> anyhow::Result<ImportSummary> {
    // Read the keys and trust files here so a bad one fails the same way with or without a
    // server, and the server needs no access to the operator's files but the bundle.
    let mut keys = Vec::new();
    let mut texts = Vec::new();
    for p in &args.trust {
        keys.push(PublicKey::load(p)?);
        let text = std::fs::read_to_string(p).with_context(|| format!("reading trusted key {}", p.display()))?;
        texts.push(TrustedKey { source: p.display().to_string(), text });
    }
    let trust_files = args.trust_file.iter().map(|p| TrustFile::load(p)).collect::<Result<Vec<_>, _>>()?;
    // `-`: the bundle arrives on stdin (`kubectl exec -i … mirror import - < x.bundle`, into a
    // container with no tar for `kubectl cp`). It is written to STORE/incoming/ first, where
    // the server can read it too, and removed afterwards (also if the import fails).
    let received = if args.file.as_os_str() == "-" { Some(receive_stdin(args)?) } else { None };
    let file = match &received {
        Some(r) => r.path().to_path_buf(),
        None => std::fs::canonicalize(&args.file).with_context(|| format!("cannot open bundle {}", args.file.display()))?,
    };
    let tmpdir = args.tmpdir.as_ref().map(|d| std::fs::canonicalize(d).with_context(|| format!("--tmpdir {}", d.display()))).transpose()?;
    let req = ImportRequest {
        file: file.clone(),
        trust: texts,
        trust_files: trust_files.clone(),
        allow_downgrade: args.allow_downgrade,
        allow_signer_change: args.allow_signer_change,
        tmpdir: tmpdir.clone(),
    };
    if let Some(reply) = control::request_import(&args.store, req) {
        tracing::info!("handed {} to the mirror serving {}", file.display(), args.store.display());
        return Ok(reply?);
    }
    // No server to add its trust file: without a key, stop before the store is created.
    if Trust::new(&keys, &trust_files)?.keys().is_empty() {
        return Err(ImportError::NoTrust(file).into());
    }
    let store = Store::open(&args.store)?;
    let opts = ImportOptions {
        trust: keys,
        trust_files,
        allow_downgrade: args.allow_downgrade,
        allow_signer_change: args.allow_signer_change,
        progress: !args.json,
        tmpdir,
        by: crate::store::Actor::this_process(),
    };
    Ok(import::import(&store, &file, &opts)?)
}

/// Copy stdin to a file in STORE/incoming/ (or `--tmpdir`), synced, readable by the server;
/// removed when dropped.
fn receive_stdin(args: &ImportArgs) -> anyhow::Result<tempfile::NamedTempFile> {
    let dir = match &args.tmpdir {
        Some(d) => d.clone(),
        None => crate::store::Paths::new(&args.store).incoming(),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut f = tempfile::Builder::new().prefix("stdin-").suffix(".bundle").tempfile_in(&dir).with_context(|| format!("creating a file in {}", dir.display()))?;
    let n = std::io::copy(&mut std::io::stdin().lock(), f.as_file_mut()).with_context(|| format!("reading the bundle from stdin into {}", f.path().display()))?;
    f.as_file().sync_all()?;
    if n == 0 {
        anyhow::bail!("`mirror import -` read nothing on stdin; pipe the bundle in: `mirror import - … < site.bundle`");
    }
    // The server (another user, in a container) reads it; the store is its directory anyway.
    std::fs::set_permissions(f.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    tracing::info!("received {n} bytes on stdin into {}", f.path().display());
    Ok(f)
}
