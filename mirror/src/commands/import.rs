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
    let file = std::fs::canonicalize(&args.file).with_context(|| format!("cannot open bundle {}", args.file.display()))?;
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
