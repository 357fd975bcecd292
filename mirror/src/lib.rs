//! The mirror: verifies and imports bundles atomically, then serves them to unmodified clients.

pub mod auth;
pub mod cli;
pub mod commands;
pub mod control;
pub mod ecosystems;
#[doc(hidden)]
pub mod fuzz;
pub mod gc;
pub mod import;
pub mod inventory;
pub mod metrics;
pub mod push;
pub mod remove;
pub mod routes;
pub mod serve;
pub mod store;
pub mod tls;

pub use feas_format;
