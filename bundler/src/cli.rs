//! Command-line surface (clap types only; bodies live in `commands`).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "bundler", version, about = "Resolve manifests to exact digests and pack signed, content-addressed bundles for an air gap")]
pub struct Cli {
    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Tries of one HTTP request in all, after connection errors, timeouts, 408, 429 and 5xx
    /// (with exponential backoff and jitter, or the upstream's Retry-After).
    #[arg(long, global = true, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..))]
    pub retries: u32,
    /// The most seconds spent waiting between the tries of one request.
    #[arg(long, global = true, default_value_t = 300, value_name = "SECONDS")]
    pub retry_for: u64,
    /// Downloads at once from one upstream (host:port); different upstreams run side by side.
    #[arg(long, global = true, default_value_t = crate::sources::http::PER_UPSTREAM, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64), value_name = "N")]
    pub per_upstream: usize,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum CompressionArg {
    Zstd,
    None,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a signing key pair: DIR/bundle.key and DIR/bundle.pub (minisign format). The
    /// secret key is encrypted with a password: from --password-file, $BUNDLER_KEY_PASSWORD, or
    /// asked on the terminal.
    Keygen {
        #[arg(long)]
        out: PathBuf,
        /// Read the password from the first line of FILE.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Write the secret key without a password (as `minisign -G -W`): anyone who can read
        /// the file can sign bundles.
        #[arg(long, short = 'W', conflicts_with = "password_file")]
        unencrypted: bool,
    },
    /// Read and validate manifests offline: syntax, unknown keys, references, keyrings.
    Check {
        #[arg(required = true)]
        manifests: Vec<PathBuf>,
        /// Also require every image, chart and top-level requirement to name one version.
        #[arg(long)]
        pinned: bool,
        #[arg(long)]
        json: bool,
    },
    /// Resolve every artifact of the manifests to exact digests and write the lock file.
    Lock {
        #[arg(required = true)]
        manifests: Vec<PathBuf>,
        #[arg(long, default_value = "bundles.lock")]
        lock: PathBuf,
        /// Blob cache directory [default: $BUNDLER_CACHE or ~/.cache/feas-bundler]
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Drop the lock's sections these manifests do not name (kept by default: a lock shared
        /// by several manifests keeps the pins of those not locked this time).
        #[arg(long)]
        prune: bool,
    },
    /// Fetch what the lock pins and write a signed bundle.
    Create {
        #[arg(required = true)]
        manifests: Vec<PathBuf>,
        /// Secret key (minisign; from `bundler keygen` or `minisign -G`, with or without a password).
        #[arg(long)]
        key: PathBuf,
        /// Read the secret key's password from the first line of FILE [default:
        /// $BUNDLER_KEY_PASSWORD, else asked on the terminal].
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Bundle file to write.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "bundles.lock")]
        lock: PathBuf,
        /// Use the lock exactly; fail if it does not cover the manifests or upstream bytes changed.
        #[arg(long)]
        locked: bool,
        #[arg(long, value_enum, default_value = "zstd")]
        compression: CompressionArg,
        /// Bundle sequence number [default: SOURCE_DATE_EPOCH or the current time in seconds].
        #[arg(long)]
        sequence: Option<u64>,
        #[arg(long)]
        cache: Option<PathBuf>,
        /// The far side's `mirror inventory` output: blobs it holds are left out (a delta;
        /// bundle.json lists them as assumed) and the sequence follows its last one.
        #[arg(long)]
        have: Option<PathBuf>,
        /// Write OUT.part0001, OUT.part0002, … of at most this size (e.g. 4GiB, 700MB) and a
        /// signed OUT.parts.json instead of one file.
        #[arg(long, value_parser = crate::format::split::parse_size)]
        split_size: Option<u64>,
        /// Refuse imports after this: a duration from the creation time (30d, 12h, 2w) or an
        /// RFC 3339 time.
        #[arg(long)]
        expires: Option<String>,
        /// Write the bundle even when --expires is already past (every mirror will refuse it:
        /// for testing that refusal).
        #[arg(long, requires = "expires")]
        allow_expired: bool,
        /// Print a JSON summary on stdout and no progress.
        #[arg(long)]
        json: bool,
        /// Print the plan — per kind what is new, what is cached, what --have leaves out, the
        /// bytes to download and to write, the free space — and fetch nothing (no key needed).
        #[arg(long)]
        dry_run: bool,
        /// Go ahead even when the cache's or the bundle's filesystem looks too small.
        #[arg(long)]
        no_space_check: bool,
    },
    /// Check a bundle's signature and every blob; exit 0 only if it is whole.
    Verify {
        file: PathBuf,
        /// Trusted public key(s).
        #[arg(long = "pub", required = true)]
        public: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Show what a bundle holds.
    Inspect {
        file: PathBuf,
        #[arg(long)]
        json: bool,
        /// Print the bundle's SBOM (SPDX 2.3 JSON) instead.
        #[arg(long)]
        sbom: bool,
    },
}
