use clap::Parser;

use bundler::cli::{Cli, Command, CompressionArg};
use bundler::commands;
use bundler::format::writer::Compression;

async fn run(cli: Cli) -> anyhow::Result<()> {
    let cache = |c: Option<std::path::PathBuf>| c.unwrap_or_else(bundler::cache::BlobCache::default_dir);
    match cli.command {
        Command::Keygen { out, password_file, unencrypted } => commands::keygen::run(&out, password_file.as_deref(), unencrypted),
        Command::Check { manifests, pinned, json } => commands::check::run(&manifests, pinned).map(|r| {
            if json {
                println!("{}", serde_json::to_string_pretty(&r).expect("report serializes"));
            } else {
                println!("{}", r.summary);
                for u in &r.unpinned {
                    println!("unpinned: {u}");
                }
                for f in &r.first_use {
                    println!("pinned on first use: {f}");
                }
            }
        }),
        Command::Lock { manifests, lock, cache: c, prune } => commands::lock::run(&manifests, &lock, &cache(c), prune).await.map(|_| ()),
        Command::Create {
            manifests,
            key,
            password_file,
            out,
            lock,
            locked,
            compression,
            sequence,
            cache: c,
            have,
            split_size,
            expires,
            allow_expired,
            json,
            dry_run,
            no_space_check,
        } => {
            let s = commands::create::run(commands::create::CreateArgs {
                manifests,
                key,
                password_file,
                out,
                lock,
                locked,
                compression: match compression {
                    CompressionArg::Zstd => Compression::Zstd,
                    CompressionArg::None => Compression::None,
                },
                sequence,
                cache: cache(c),
                have,
                split_size,
                expires,
                allow_expired,
                quiet: json,
                dry_run,
                space_check: !no_space_check,
            })
            .await?;
            let s = match s {
                commands::create::Outcome::Planned(p) if json => return bundler::term::print_json(&p),
                commands::create::Outcome::Planned(p) => {
                    print!("{}", p.report());
                    return Ok(());
                }
                commands::create::Outcome::Created(s) => s,
            };
            if json {
                bundler::term::print_json(&s)
            } else {
                eprintln!("wrote {} ({} bytes, {} blobs, sequence {}) sha256:{}", s.bundle, s.size, s.blobs, s.sequence, s.sha256.hex());
                if s.assumed > 0 {
                    eprintln!("  delta: {} blobs the far side has are left out", s.assumed);
                }
                for p in &s.parts {
                    eprintln!("  part {p}");
                }
                for a in &s.artifacts {
                    eprintln!("  {a}");
                }
                Ok(())
            }
        }
        Command::Verify { file, public, json } => {
            let s = commands::verify::run(&file, &public)?;
            if json {
                bundler::term::print_json(&s)
            } else {
                eprintln!("OK {}: bundle {} sequence {} signed by {}; {} blobs ({} bytes) verified", s.bundle, s.name, s.sequence, s.signer, s.blobs, s.bytes);
                Ok(())
            }
        }
        Command::Inspect { file, sbom: true, .. } => {
            use std::io::Write;
            let doc = commands::inspect::sbom(&file)?;
            std::io::stdout().write_all(&doc)?;
            Ok(())
        }
        Command::Inspect { file, json, .. } => {
            let s = commands::inspect::run(&file)?;
            if json {
                bundler::term::print_json(&s)
            } else {
                print!("{}", commands::inspect::render(&s));
                Ok(())
            }
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    bundler::term::init_logging("BUNDLER_LOG", "warn", cli.verbose, false);
    bundler::sources::http::set_retry(bundler::sources::http::Retry { tries: cli.retries, wait_for: std::time::Duration::from_secs(cli.retry_for) });
    bundler::sources::http::set_per_upstream(cli.per_upstream);
    bundler::term::exit(run(cli).await)
}
