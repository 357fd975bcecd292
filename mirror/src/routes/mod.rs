//! One router per protocol, merged here on one listener.

pub mod apt;
pub mod files;
pub mod home;
pub mod oci;
pub mod origin;
pub mod pypi;
pub mod range;

use std::sync::Arc;

use axum::Router;

use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub apt: Arc<apt::AptState>,
    /// Rendered simple pages, by store generation.
    pub pypi: Arc<pypi::PageCache>,
    /// Push configuration and upload sessions (`Default`: read-only).
    pub uploads: Arc<oci::push::Uploads>,
    /// Where clients reach the mirror, for absolute URLs in answers.
    pub origin: Arc<origin::Origin>,
}

pub fn router(state: AppState) -> Router {
    Router::new().merge(home::router()).merge(oci::router()).merge(apt::router()).merge(pypi::router()).merge(files::router()).merge(crate::ecosystems::router()).with_state(state)
}
