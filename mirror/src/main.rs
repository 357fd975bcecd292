use clap::Parser;

use mirror::cli::{Cli, Command, LogFormat};
use mirror::commands;

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Import(args) => tokio::task::spawn_blocking(move || commands::import::run(&args)).await?,
        Command::Serve(args) => commands::serve::run(&args).await,
        Command::Init(args) => tokio::task::spawn_blocking(move || commands::init::run(&args)).await?,
        Command::Inventory(args) => tokio::task::spawn_blocking(move || commands::inventory::run(&args)).await?,
        Command::Verify(args) => tokio::task::spawn_blocking(move || commands::verify::run(&args)).await?,
        Command::Rm(args) => tokio::task::spawn_blocking(move || commands::rm::run(&args)).await?,
        Command::Gc(args) => tokio::task::spawn_blocking(move || commands::gc::run(&args)).await?,
        Command::Push(args) => commands::push::run(&args).await,
        Command::History(args) => commands::history::run(&args),
        Command::ClientConfig(args) => commands::client_config::run(&args).await,
        Command::Ls(args) => tokio::task::spawn_blocking(move || commands::ls::run(&args)).await?,
        Command::Status(args) => tokio::task::spawn_blocking(move || commands::status::run(&args)).await?,
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // A server logs what it does; a command prints its result once, as its summary.
    let quiet = if matches!(cli.command, Command::Serve(_)) { "warn,mirror=info" } else { "warn" };
    feas_format::term::init_logging("MIRROR_LOG", quiet, cli.verbose, cli.log_format == LogFormat::Json);
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", feas_format::term::chain(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
