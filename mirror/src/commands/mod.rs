//! Command bodies: library functions called by the thin `main.rs`.

pub mod client_config;
pub mod gc;
pub mod history;
pub mod import;
pub mod init;
pub mod inventory;
pub mod ls;
pub mod push;
pub mod registry_config;
pub mod rm;
pub mod serve;
pub mod status;
pub mod verify;
