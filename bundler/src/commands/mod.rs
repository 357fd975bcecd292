//! Command bodies. Each is a library function the thin `main.rs` calls.

pub mod budget;
pub mod check;
pub mod create;
pub mod inspect;
pub mod keygen;
pub mod lock;
pub mod password;
pub mod report;
pub mod verify;

/// `SOURCE_DATE_EPOCH` (reproducible builds) or now, in seconds.
pub fn build_time() -> anyhow::Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v.trim().parse().map_err(|_| anyhow::anyhow!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds")),
        Err(_) => Ok(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs()),
    }
}

pub fn rfc3339(secs: u64) -> String {
    chrono::DateTime::from_timestamp(secs as i64, 0).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
