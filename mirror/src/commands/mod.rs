//! Command bodies: library functions called by the thin `main.rs`.

pub mod client_config;
pub mod history;
pub mod import;
pub mod inventory;
pub mod serve;
pub mod verify;
