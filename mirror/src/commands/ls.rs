//! `mirror ls [KIND] [PATTERN]`: the artifacts the store holds, by the names `mirror import`
//! prints (what `rm` and the web page take). Through the running server when there is one.

use crate::cli::LsArgs;
use crate::control::{self, Request};
use crate::inventory::Held;
use crate::store::{Store, StoreError};

/// The kinds `ls` filters by: `image`, and every ecosystem.
fn kinds() -> Vec<&'static str> {
    std::iter::once("image").chain(crate::ecosystems::NAMES.iter().copied()).collect()
}

/// Held artifacts of `kind` (all when `None`) whose name matches `pattern`: a glob (`*`, `?`,
/// `[…]`) over the whole name, or else a case-insensitive substring.
pub fn ls(store: &Store, kind: Option<&str>, pattern: Option<&str>) -> Result<Vec<Held>, LsError> {
    if let Some(k) = kind.filter(|k| !kinds().contains(k)) {
        return Err(LsError::Kind(k.to_string(), kinds().join(", ")));
    }
    let glob = match pattern.filter(|p| p.contains(['*', '?', '['])) {
        Some(p) => Some(globset::Glob::new(p).map_err(|e| LsError::Pattern(p.to_string(), e.to_string()))?.compile_matcher()),
        None => None,
    };
    let needle = pattern.map(str::to_lowercase);
    let mut keep = |name: &str, k: &str| {
        kind.is_none_or(|want| want == k)
            && match (&glob, &needle) {
                (Some(g), _) => g.is_match(name),
                (None, Some(n)) => name.to_lowercase().contains(n.as_str()),
                (None, None) => true,
            }
    };
    Ok(crate::inventory::held(store, &mut keep, usize::MAX, None)?)
}

#[derive(Debug, thiserror::Error)]
pub enum LsError {
    #[error("no artifact kind {0:?}; the kinds are {1}")]
    Kind(String, String),
    #[error("pattern {0:?}: {1}")]
    Pattern(String, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn run(args: &LsArgs) -> anyhow::Result<()> {
    // `mirror ls numpy`: one word that is no kind is the pattern.
    let (kind, pattern) = match (args.kind.as_deref(), args.pattern.as_deref()) {
        (Some(k), None) if !kinds().contains(&k) && k != "oci" => (None, Some(k)),
        (k, p) => (k.map(|k| if k == "oci" { "image" } else { k }), p),
    };
    let listed = match control::request(&args.store, Request::Ls { kind: kind.map(String::from), pattern: pattern.map(String::from) }) {
        Some(reply) => reply?.into_ls()?,
        None => ls(&Store::open(&args.store)?, kind, pattern)?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&listed)?);
        return Ok(());
    }
    for h in &listed {
        println!("{:<6} {}", h.kind, h.name);
    }
    if listed.is_empty() {
        eprintln!("nothing held matches{}", pattern.map(|p| format!(" {p:?}")).unwrap_or_default());
    }
    Ok(())
}
