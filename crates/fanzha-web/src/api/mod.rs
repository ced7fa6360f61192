//! The JSON API under `/api/v1`. The same use cases and the same permission
//! gate as the pages; machine clients authenticate with a bearer token.

use crate::state::AppState;
use axum::Router;

pub fn routes() -> Router<AppState> {
    Router::new()
}
