//! HTTP for Fanzha: the JSON API under `/api/v1` and the server-rendered
//! pages. Both call `fanzha-app`, which holds the permission gate; this crate
//! never reaches into the store or the engine.

mod api;
mod auth;
mod error;
mod pages;
mod render;
mod state;

pub use auth::SESSION_COOKIE;
pub use state::WebConfig;

use axum::Router;
use fanzha_app::App;
use std::net::SocketAddr;
use std::sync::Arc;

/// Builds the whole router: pages, API, static files, health checks.
pub fn router(app: Arc<App>, cfg: WebConfig) -> Result<Router, WebError> {
    let state = state::AppState::new(app, cfg)?;
    Ok(Router::new()
        .merge(pages::routes())
        .nest("/api/v1", api::routes())
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::csrf_guard,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(state.cfg.max_body_bytes))
        .layer(axum::middleware::from_fn(error::security_headers))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            error::panic_response,
        ))
        .with_state(state))
}

/// Serves until Ctrl-C or SIGTERM.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("template error: {0}")]
    Template(String),
}
