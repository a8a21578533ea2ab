//! Provider webhooks under `/hooks`: no API key, each provider's own signature is the
//! authentication.

pub mod whatsapp;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;

use crate::app::AppState;

/// Largest webhook body accepted: Meta's payloads stay under 3 MB.
pub const MAX_HOOK_BYTES: usize = 3 * 1024 * 1024;

/// Provider webhook routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/whatsapp", get(whatsapp::verify).post(whatsapp::receive).layer(DefaultBodyLimit::max(MAX_HOOK_BYTES)))
}
