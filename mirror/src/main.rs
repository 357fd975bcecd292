use clap::Parser;

use mirror::cli::{Cli, Command};
use mirror::import::{self, ImportOptions};
use mirror::serve::{self, ImportRequest};
use mirror::store::Store;

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn,mirror=info",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MIRROR_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init();
}

fn run_import(file: std::path::PathBuf, store: std::path::PathBuf, trust: Vec<std::path::PathBuf>, allow_downgrade: bool, json: bool) -> anyhow::Result<()> {
    let abs = |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let req = ImportRequest { file: abs(&file), trust: trust.iter().map(|p| abs(p)).collect(), allow_downgrade };
    let summary = match serve::import_via_server(&store, &req) {
        Some(r) => r.map_err(|e| anyhow::anyhow!(e))?,
        None => {
            let keys = trust.iter().map(|p| bundler::format::sign::PublicKey::load(p)).collect::<Result<Vec<_>, _>>()?;
            let st = Store::open(&store)?;
            import::import(&st, &file, &ImportOptions { trust: keys, allow_downgrade }, !json)?
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if summary.already_imported {
        eprintln!("{}: already imported; nothing to do", file.display());
    } else {
        eprintln!(
            "imported {} sequence {} signed by {}: {} blobs added ({} bytes), {} already present",
            summary.name, summary.sequence, summary.signer, summary.blobs_added, summary.bytes_added, summary.blobs_present
        );
        for a in &summary.artifacts {
            eprintln!("  {a}");
        }
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Import { file, store, trust, allow_downgrade, json } => {
            tokio::task::spawn_blocking(move || run_import(file, store, trust, allow_downgrade, json)).await?
        }
        Command::Serve { store, listen, read_only: _ } => serve::serve(Store::open(&store)?, listen).await,
        Command::Inventory { store } => {
            let inv = mirror::commands::inventory(&Store::open(&store)?)?;
            println!("{}", serde_json::to_string_pretty(&inv)?);
            Ok(())
        }
        Command::Verify { store, json } => {
            let r = mirror::commands::verify(&Store::open(&store)?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            }
            if r.damaged.is_empty() && r.missing.is_empty() {
                eprintln!("store OK: {} blobs, {} bytes re-hashed", r.checked, r.bytes);
                Ok(())
            } else {
                for d in &r.damaged {
                    eprintln!("DAMAGED {d}");
                }
                for m in &r.missing {
                    eprintln!("MISSING {m}");
                }
                anyhow::bail!("{} damaged and {} missing blob(s); re-import the bundles that carried them", r.damaged.len(), r.missing.len())
            }
        }
        Command::History { store } => {
            for h in Store::open(&store)?.history()? {
                println!("{} {} sequence {} signer {} +{} blobs ({} bytes) from {}", h.imported_at, h.name, h.sequence, h.signer, h.blobs_added, h.bytes_added, h.file);
            }
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
