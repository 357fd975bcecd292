//! One router per protocol, merged here on one listener.

pub mod home;
pub mod oci;
pub mod range;

use std::sync::Arc;

use axum::Router;

use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
}

pub fn router(state: AppState) -> Router {
    Router::new().merge(home::router()).merge(oci::router()).with_state(state)
}
