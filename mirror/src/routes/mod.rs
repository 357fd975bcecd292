//! One router per protocol, merged here on one listener.

pub mod home;
pub mod oci;
pub mod origin;
pub mod range;
pub mod renders;
pub mod ui;

use std::sync::Arc;

use axum::Router;

use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    /// Each ecosystem's own (rendered indexes, page caches).
    pub eco: Arc<crate::ecosystems::EcoState>,
    /// Push configuration and upload sessions (`Default`: read-only).
    pub uploads: Arc<oci::push::Uploads>,
    /// Where clients reach the mirror, for absolute URLs in answers.
    pub origin: Arc<origin::Origin>,
}

pub fn router(state: AppState) -> Router {
    Router::new().merge(home::router()).merge(ui::router()).merge(oci::router()).merge(crate::ecosystems::router()).with_state(state)
}
