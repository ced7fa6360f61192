//! Server-rendered pages. They work without JavaScript; forms post back and
//! redirect. Every state-changing form passes the CSRF guard.

mod account;
mod audit;
mod common;
mod dispatch;
mod intel;
mod leads;
mod org;
mod public;
mod residents;
mod rules;
mod session;
mod tasks;
mod users;

use crate::state::AppState;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(session::routes())
        .merge(org::routes())
        .merge(residents::routes())
        .merge(leads::routes())
        .merge(rules::routes())
        .merge(dispatch::routes())
        .merge(users::routes())
        .merge(audit::routes())
        .merge(account::routes())
        .merge(intel::routes())
        .merge(public::routes())
        .merge(tasks::routes())
        .route("/static/app.css", get(css))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/app.css"),
    )
}

/// Alive: the process answers.
async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok")
}

/// Ready: the database answers.
async fn readyz(axum::extract::State(st): axum::extract::State<AppState>) -> impl IntoResponse {
    match st.app.ready().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}
