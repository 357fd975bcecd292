//! Command-line surface (clap types only; bodies live in `commands`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mirror", version, about = "Verify and import signed bundles; serve them to containerd, podman, skopeo and friends")]
pub struct Cli {
    /// More log output (-v info, -vv debug: one line per request). MIRROR_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log lines as text, or as one JSON object per line (for Loki, journald forwarders, …).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "MIRROR_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Verify a bundle and import it atomically (through a running `mirror serve` if there is one).
    Import(ImportArgs),
    /// Serve the store on one listener.
    Serve(ServeArgs),
    /// Generate a CA and a server certificate for the given names in STORE/tls/ (then `serve`
    /// uses HTTPS, and `client-config` hands clients the CA).
    Init(InitArgs),
    /// Print the blobs and bundle sequences held (JSON), for `bundler create --have`.
    Inventory(StoreArgs),
    /// Re-hash every blob; exit non-zero naming damaged ones (--quarantine moves them aside).
    Verify(VerifyArgs),
    /// Remove what a bundle name imported, or single artifacts, from the metadata (then `mirror gc`).
    Rm(RmArgs),
    /// Delete blobs nothing references any more; safe while `mirror serve` runs.
    Gc(GcArgs),
    /// Copy every tagged image and chart into another registry (Harbor, Nexus, docker-registry).
    Push(PushArgs),
    /// Show the audit trail: every import, push, delete, rm, gc and quarantine, with who and
    /// from where (through a running `mirror serve` if there is one).
    History(HistoryArgs),
    /// Print (or write with --out) the configuration that points a client at a running mirror.
    ClientConfig(ClientConfigArgs),
    /// List what the mirror holds by name (`mirror ls`, `mirror ls pypi`, `mirror ls apt 'apt/*/libc6_*'`).
    Ls(LsArgs),
    /// Whether a server runs on the store and where, what the store holds, its last import, gc and verify.
    Status(StatusArgs),
}

#[derive(Args)]
pub struct LsArgs {
    #[arg(long, env = "MIRROR_STORE")]
    pub store: PathBuf,
    /// `image`, or an ecosystem: apt, pypi, files, nltk, helm, hf. A single word that is none
    /// of these is taken as the pattern.
    pub kind: Option<String>,
    /// A glob over the whole name (`docker.io/*:1.*`), or else a case-insensitive substring.
    pub pattern: Option<String>,
    /// One JSON array of `{name, kind}`.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct StatusArgs {
    #[arg(long, env = "MIRROR_STORE")]
    pub store: PathBuf,
    /// One JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientKind {
    /// deb822 .sources with the mirror's signing key inline, plus the key itself.
    Apt,
    /// pip.conf pointing at the mirror's simple index.
    Pip,
    /// uv.toml (and the environment variable) pointing at the mirror's simple index.
    Uv,
    /// `helm repo add` for the chart repository, and `helm pull oci://` for its OCI charts.
    Helm,
    /// nltk.download() against the mirror's index, or a script that pre-seeds NLTK_DATA.
    Nltk,
    /// Environment for huggingface_hub and transformers (HF_ENDPOINT at the mirror's /hf).
    Hf,
    /// containerd `certs.d/<registry>/hosts.toml` for every registry the mirror holds.
    Containerd,
    /// RKE2 `registries.yaml` (mirrors for every registry held, the CA under configs).
    Rke2,
    /// K3s `registries.yaml`, as for RKE2 under /etc/rancher/k3s.
    K3s,
    /// podman/buildah/skopeo/CRI-O `registries.conf.d` remapping every registry held.
    Podman,
    /// Docker Engine `daemon.json` (`registry-mirrors`: docker.io only).
    Docker,
    /// Pushing to the mirror (`serve --push-htpasswd`): containerd hosts.toml with push, a
    /// registries.conf.d entry and auth.json for podman/buildah/skopeo.
    Push,
}

#[derive(Args)]
pub struct ClientConfigArgs {
    pub kind: ClientKind,
    /// The mirror's URL as clients reach it, e.g. http://mirror.example:5000.
    #[arg(long)]
    pub url: String,
    /// Write files under DIR instead of printing.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The CA the mirror's HTTPS certificate chains to (STORE/tls/ca.crt after `mirror init`):
    /// trusted when asking the mirror, and written next to the configs that need it.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Where clients keep that CA, for the configs that name it by path (apt, pip, uv, helm,
    /// nltk, hf); the default is where Debian's `update-ca-certificates` also picks it up.
    #[arg(long, default_value = "/usr/local/share/ca-certificates/feas-mirror.crt", requires = "ca")]
    pub ca_path: String,
    /// `rke2`/`k3s`: also turn on the cluster's embedded peer-to-peer registry (Spegel), so
    /// nodes fetch layers from each other first and from the mirror once per cluster.
    #[arg(long)]
    pub embedded_registry: bool,
    /// A user to log in to the mirror as (a reader, for a mirror started with `--htpasswd`),
    /// written into the configs that take credentials; `push`: the writer for auth.json.
    #[arg(long)]
    pub username: Option<String>,
    /// The environment variable holding that user's password.
    #[arg(long, requires = "username")]
    pub password_env: Option<String>,
}

#[derive(Args)]
pub struct StoreArgs {
    /// Store directory.
    #[arg(long, env = "MIRROR_STORE")]
    pub store: PathBuf,
}

#[derive(Args)]
pub struct HistoryArgs {
    /// Store directory.
    #[arg(long, env = "MIRROR_STORE")]
    pub store: PathBuf,
    /// One JSON array of events instead of lines (each with `action`: import, push-blob,
    /// push-manifest, delete, remove, gc or quarantine).
    #[arg(long)]
    pub json: bool,
    /// Imports only (what `--json` listed before pushes, deletes, rm and gc were recorded).
    #[arg(long)]
    pub imports_only: bool,
}

#[derive(Args)]
pub struct ImportArgs {
    /// Bundle file (.bundle, zstd-compressed or plain tar), or a split bundle: its first part
    /// (X.part0001), its part index (X.parts.json) or the directory holding them; `-` reads
    /// one bundle file from stdin (`kubectl exec -i POD -- mirror import - … < x.bundle`).
    pub file: PathBuf,
    #[arg(long, env = "MIRROR_STORE")]
    pub store: PathBuf,
    /// Trusted publisher key (minisign .pub), for any bundle name; repeat for several. At least
    /// one key is needed: from --trust, --trust-file, or a `mirror serve --trust-file` that
    /// takes the import.
    #[arg(long)]
    pub trust: Vec<PathBuf>,
    /// Trust file (TOML, docs/trust.md): keys with the bundle names each may sign, and revoked
    /// keys. A key it names signs only those names; a revoked key signs nothing. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub trust_file: Vec<PathBuf>,
    /// Accept a bundle older than the last one imported under its name (a deliberate rollback).
    #[arg(long)]
    pub allow_downgrade: bool,
    /// Accept a bundle of a name another trusted key imported so far; the name is the new
    /// signer's from then on (a deliberate hand-over to a new publisher).
    #[arg(long)]
    pub allow_signer_change: bool,
    /// Stage blobs here while they are verified [default: STORE/tmp]. Must be on the store's
    /// filesystem (verified blobs are moved, never copied); nothing is staged anywhere else.
    #[arg(long)]
    pub tmpdir: Option<PathBuf>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ServeArgs {
    #[arg(long, env = "MIRROR_STORE")]
    pub store: PathBuf,
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub listen: SocketAddr,
    /// Serve reads only (the default unless --push-htpasswd is given).
    #[arg(long, conflicts_with = "push_htpasswd")]
    pub read_only: bool,
    /// Serve HTTPS with this certificate (PEM, chain allowed) [default: STORE/tls/server.crt
    /// when `mirror init` made one].
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require credentials for every read: an htpasswd file of bcrypt entries (`htpasswd -B`).
    /// OCI clients get the Docker token flow (`/token`), the rest HTTP Basic.
    #[arg(long)]
    pub htpasswd: Option<PathBuf>,
    /// Accept OCI pushes and deletes (`podman push`, `buildah push`, `skopeo copy`, `ctr push`)
    /// from the users of this htpasswd file (bcrypt); reads stay as --htpasswd says.
    #[arg(long)]
    pub push_htpasswd: Option<PathBuf>,
    /// Let pushes and deletes change tags that were imported from signed bundles.
    #[arg(long, requires = "push_htpasswd")]
    pub allow_overwrite_imported: bool,
    /// Plain HTTP even when STORE/tls/ holds a certificate.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub no_tls: bool,
    /// Trust file (TOML, docs/trust.md) for every import handed to this server through its
    /// socket: its keys need no --trust, its name scopes and revocations hold for keys the
    /// importer passes too. Read again for each import. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub trust_file: Vec<PathBuf>,
    /// The URL clients reach the mirror at (e.g. https://mirror.example:5000, or a reverse
    /// proxy's): the absolute URLs the mirror hands out (NLTK package URLs, hub API page links,
    /// the token realm) use it. Without it they follow each request's Host header, which a
    /// client can forge.
    #[arg(long, value_name = "URL")]
    pub external_url: Option<String>,
    /// Failed logins tolerated per user name, and per client address, within --login-window;
    /// past it, logins for that name or from that address get 429 (Retry-After) until the
    /// window has passed. 0 turns the limit off.
    #[arg(long, value_name = "N", default_value_t = crate::auth::LoginLimit::default().failures)]
    pub login_failures: u32,
    /// The window of --login-failures, and how long a lockout lasts.
    #[arg(long, value_name = "SECONDS", default_value_t = crate::auth::LoginLimit::default().window.as_secs())]
    pub login_window: u64,
    /// Upload sessions (blob pushes in progress) one writer may hold open; more get 429
    /// TOOMANYREQUESTS.
    #[arg(long, value_name = "N", default_value_t = crate::routes::oci::push::UploadLimits::default().sessions)]
    pub max_upload_sessions: usize,
    /// Bytes one writer's open upload sessions may hold in STORE/uploads (e.g. 64GiB, 500MB);
    /// past it the upload gets 429 TOOMANYREQUESTS.
    #[arg(long, value_name = "SIZE", default_value = "64GiB", value_parser = feas_format::split::parse_bytes)]
    pub max_upload_bytes: u64,
}

#[derive(Args)]
pub struct InitArgs {
    #[arg(long, env = "MIRROR_STORE")]
    pub store: PathBuf,
    /// A DNS name or IP address clients use to reach the mirror; repeat for several.
    #[arg(long = "name", required_unless_present_any = ["add_names", "owner"])]
    pub names: Vec<String>,
    /// Issue a new server certificate for the current names plus this one (repeat for several),
    /// from the CA made before: clients that trust it need nothing new.
    #[arg(long = "add-name", conflicts_with = "names")]
    pub add_names: Vec<String>,
    /// Give the store and everything in it (the TLS keys too) to this user, the one `mirror
    /// serve` runs as (the systemd unit's `feas`).
    #[arg(long)]
    pub owner: Option<String>,
}

#[derive(Args)]
pub struct VerifyArgs {
    #[arg(long, env = "MIRROR_STORE")]
    pub store: PathBuf,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Move damaged blobs to STORE/quarantine/ and out of the inventory, naming the artifacts to re-import.
    #[arg(long)]
    pub quarantine: bool,
}

#[derive(Args)]
pub struct RmArgs {
    #[arg(long, env = "MIRROR_STORE")]
    pub store: PathBuf,
    /// Bundle names, or artifacts as `mirror import` prints them: REPO:TAG, REPO@sha256:HEX,
    /// apt/<id>/<package>_<version>_<arch>.deb, pypi/<project>/<file> (or the file name),
    /// files/<name>, nltk/<subdir>/<id>, charts/<name>:<version>, hf/<owner>/<name>@<commit>.
    #[arg(required = true, value_name = "NAME|REF")]
    pub targets: Vec<String>,
    /// Say what would be removed (and kept), and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct PushArgs {
    #[arg(long, env = "MIRROR_STORE")]
    pub store: PathBuf,
    /// The target registry's URL, e.g. https://harbor.site (OCI distribution API).
    #[arg(long, required_unless_present_any = ["pypi", "apt", "apt_nexus"])]
    pub oci: Option<String>,
    /// An aptly API server (`aptly api serve`): each apt source's suites are published there
    /// under the source's id.
    #[arg(long)]
    pub apt: Option<String>,
    /// GPG key aptly signs the published suites with (default: unsigned).
    #[arg(long, requires = "apt")]
    pub apt_gpg_key: Option<String>,
    /// A Nexus apt (hosted) repository, e.g. https://nexus.site/repository/apt-hosted/: every
    /// deb is uploaded through the components API (with --username/--password-env).
    #[arg(long)]
    pub apt_nexus: Option<String>,
    /// A PyPI upload URL (what twine's `--repository-url` takes), e.g.
    /// https://nexus.site/repository/pypi-hosted/ or a pypiserver's root.
    #[arg(long)]
    pub pypi: Option<String>,
    /// Prefix every repository name with this (a Harbor project, say: `mirror`).
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// An index the bundle carried for some of its platforms: `keep` puts it as it is (its
    /// upstream digest, which pinned pulls need); `rewrite` puts one listing only the carried
    /// platforms, for registries that refuse an index whose children are absent.
    #[arg(long, value_enum, default_value_t = crate::push::SparseIndex::Keep, requires = "oci")]
    pub sparse_index: crate::push::SparseIndex,
    #[arg(long)]
    pub username: Option<String>,
    /// Environment variable holding the password.
    #[arg(long, requires = "username")]
    pub password_env: Option<String>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct GcArgs {
    #[arg(long, env = "MIRROR_STORE")]
    pub store: PathBuf,
    /// Only report what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep blobs pushed within this many seconds that no manifest names yet: a client
    /// pushes a manifest's blobs first, so a gc in between would break its push. 0 collects
    /// them now (e.g. after deleting a just-pushed image).
    #[arg(long, value_name = "SECONDS", default_value_t = crate::store::PUSH_GRACE.as_secs())]
    pub push_grace: u64,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}
