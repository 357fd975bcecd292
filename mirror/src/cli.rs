//! Command-line surface (clap types only).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mirror", version, about = "Verify and import signed bundles; serve them to containerd, podman, skopeo and friends")]
pub struct Cli {
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Verify a bundle and import it atomically (through a running `mirror serve` if there is one).
    Import {
        file: PathBuf,
        #[arg(long)]
        store: PathBuf,
        /// Trusted publisher key(s) (minisign .pub); repeat for several.
        #[arg(long, required = true)]
        trust: Vec<PathBuf>,
        /// Accept a bundle whose sequence is not newer than the last one of its name.
        #[arg(long)]
        allow_downgrade: bool,
        #[arg(long)]
        json: bool,
    },
    /// Serve the store on one listener.
    Serve {
        #[arg(long)]
        store: PathBuf,
        #[arg(long, default_value = "127.0.0.1:5000")]
        listen: SocketAddr,
        /// Accepted for compatibility: this version only serves reads.
        #[arg(long)]
        read_only: bool,
    },
    /// Print the blobs and bundle sequences held (JSON), for `bundler create --have`.
    Inventory {
        #[arg(long)]
        store: PathBuf,
    },
    /// Re-hash every blob; exit non-zero naming damaged ones.
    Verify {
        #[arg(long)]
        store: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Show past imports.
    History {
        #[arg(long)]
        store: PathBuf,
    },
}
