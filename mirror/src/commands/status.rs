//! `mirror status`: whether a server runs on the store and where it listens, what the store
//! holds and how big it is, and the last import, gc and verify. Through the running server
//! when there is one (it holds the store), else read here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cli::StatusArgs;
use crate::commands::verify::LastVerify;
use crate::control::{self, Request};
use crate::store::{Event, Store, StoreError};

/// What a running `mirror serve` says of itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Running {
    /// `http(s)://ADDR` it listens on.
    pub url: String,
    pub pid: u32,
    /// RFC 3339: when it started.
    pub since: String,
    pub version: String,
    /// Whether `--push-htpasswd` writers may push.
    pub pushes: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Status {
    /// `None`: no server answers on the store's socket.
    pub running: Option<Running>,
    pub store: String,
    pub generation: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
    /// Free bytes on the store's filesystem.
    pub free_bytes: Option<u64>,
    /// Image tags (`image`), and each ecosystem's artifacts.
    pub artifacts: BTreeMap<String, u64>,
    pub bundles: u64,
    pub last_import: Option<String>,
    pub last_gc: Option<Event>,
    pub last_verify: Option<LastVerify>,
}

pub fn status(store: &Store, running: Option<Running>) -> Result<Status, StoreError> {
    let (generation, counts) = store.counts()?;
    let mut artifacts: BTreeMap<String, u64> = crate::ecosystems::artifacts(&counts).into_iter().map(|(e, n)| (e.to_string(), n)).collect();
    artifacts.insert("image".into(), counts.keys.tags);
    Ok(Status {
        running,
        store: store.paths.root().display().to_string(),
        generation,
        blobs: counts.keys.blobs,
        blob_bytes: counts.blob_bytes,
        free_bytes: fs2::available_space(store.paths.root()).ok(),
        artifacts,
        bundles: counts.keys.bundles,
        last_import: store.last_import_time()?,
        last_gc: store.last_event("gc")?,
        last_verify: store.last_verify()?,
    })
}

pub fn run(args: &StatusArgs) -> anyhow::Result<()> {
    let s = match control::request(&args.store, Request::Status) {
        Some(reply) => reply?.into_status()?,
        None => status(&Store::open(&args.store)?, None)?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    let bytes = feas_format::term::bytes;
    match &s.running {
        Some(r) => println!("serving    {} (pid {}, since {}, mirror {}, {})", r.url, r.pid, r.since, r.version, if r.pushes { "pushes accepted" } else { "read-only" }),
        None => println!("serving    no (no `mirror serve` answers on {}/mirror.sock)", s.store),
    }
    println!("store      {}: {} in {} blobs, {} free, generation {}", s.store, bytes(s.blob_bytes), s.blobs, s.free_bytes.map(bytes).unwrap_or_else(|| "?".into()), s.generation);
    let held: Vec<String> = s.artifacts.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{n} {k}")).collect();
    println!("holds      {} ({} bundle names)", if held.is_empty() { "nothing".to_string() } else { held.join(", ") }, s.bundles);
    println!("last import {}", s.last_import.as_deref().unwrap_or("never"));
    match &s.last_gc {
        Some(e) => println!("last gc    {}: {}", e.at, e.action),
        None => println!("last gc    never"),
    }
    match &s.last_verify {
        Some(v) if v.ok() => println!("last verify {}: OK, {} blobs ({}) re-hashed", v.at, v.checked, bytes(v.bytes)),
        Some(v) => println!("last verify {}: {} damaged, {} missing, {} dangling (run `mirror verify`)", v.at, v.damaged, v.missing, v.dangling),
        None => println!("last verify never"),
    }
    Ok(())
}
