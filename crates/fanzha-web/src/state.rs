//! Shared state of the handlers.

use crate::WebError;
use crate::render::Templates;
use fanzha_app::App;
use std::sync::Arc;

/// Settings of the web layer, filled by the binary.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// Mark cookies `Secure` (when served over TLS, directly or behind a proxy).
    pub cookie_secure: bool,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_proxy: bool,
    /// Show the demo banner.
    pub demo: bool,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            cookie_secure: false,
            trust_proxy: false,
            demo: false,
            max_body_bytes: 25 * 1024 * 1024,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub app: Arc<App>,
    pub cfg: Arc<WebConfig>,
    pub tpl: Arc<Templates>,
}

impl AppState {
    pub fn new(app: Arc<App>, cfg: WebConfig) -> Result<AppState, WebError> {
        Ok(AppState {
            app,
            cfg: Arc::new(cfg),
            tpl: Arc::new(Templates::new()?),
        })
    }
}
