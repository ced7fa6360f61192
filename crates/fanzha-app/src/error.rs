//! The app's error: what went wrong, as a translatable message, and which
//! kind of failure it is so that the web layer can answer with the right
//! status. Messages never carry personal values.

use fanzha_core::Timestamp;
use fanzha_core::i18n::Msg;
use fanzha_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No valid session or token.
    #[error("not signed in")]
    Unauthenticated,
    /// The role may not do this, or the record is outside the user's scope
    /// and the caller already knows it exists.
    #[error("forbidden: {0}")]
    Forbidden(Msg),
    #[error("not found: {0}")]
    NotFound(Msg),
    /// Bad input: the message says what and why.
    #[error("invalid: {0}")]
    Invalid(Msg),
    #[error("conflict: {0}")]
    Conflict(Msg),
    #[error("account locked until {until:?}")]
    Locked { until: Timestamp },
    #[error("upload too large (limit {limit} bytes)")]
    TooLarge { limit: usize },
    #[error("too many requests")]
    RateLimited,
    /// A failure that is not the caller's fault (database down…). The text
    /// is for logs; users see a generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

impl AppError {
    pub fn invalid(key: &str) -> AppError {
        AppError::Invalid(Msg::new(key))
    }
    pub fn not_found(key: &str) -> AppError {
        AppError::NotFound(Msg::new(key))
    }
    pub fn forbidden(key: &str) -> AppError {
        AppError::Forbidden(Msg::new(key))
    }
    pub fn conflict(key: &str) -> AppError {
        AppError::Conflict(Msg::new(key))
    }

    /// The HTTP status that fits.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Unauthenticated => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::Invalid(_) => 422,
            AppError::Conflict(_) => 409,
            AppError::Locked { .. } => 423,
            AppError::TooLarge { .. } => 413,
            AppError::RateLimited => 429,
            AppError::Internal(_) => 500,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated => "unauthenticated",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Invalid(_) => "invalid",
            AppError::Conflict(_) => "conflict",
            AppError::Locked { .. } => "locked",
            AppError::TooLarge { .. } => "too_large",
            AppError::RateLimited => "rate_limited",
            AppError::Internal(_) => "internal",
        }
    }

    /// The message to show the user.
    pub fn msg(&self) -> Msg {
        match self {
            AppError::Unauthenticated => Msg::new("error.unauthenticated"),
            AppError::Forbidden(m) | AppError::NotFound(m) | AppError::Invalid(m) | AppError::Conflict(m) => {
                m.clone()
            }
            AppError::Locked { .. } => Msg::new("error.locked"),
            AppError::TooLarge { limit } => Msg::new("error.too_large").arg("limit", limit / 1024),
            AppError::RateLimited => Msg::new("error.rate_limited"),
            AppError::Internal(_) => Msg::new("error.internal"),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => AppError::not_found("error.not_found"),
            StoreError::Conflict { reason } => {
                AppError::Conflict(Msg::new("error.conflict").arg("reason", reason))
            }
            StoreError::Invalid { reason } => {
                AppError::Invalid(Msg::new("error.store_invalid").arg("reason", reason))
            }
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<crate::crypto::CryptoError> for AppError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        AppError::Internal(e.to_string())
    }
}
