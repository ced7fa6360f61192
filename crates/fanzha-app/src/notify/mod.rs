//! Notification gateways: warning SMS and robocalls leave the platform here.
//!
//! * [`Notifier`] is the pluggable interface: `send_sms` and `call`, each
//!   with an idempotency key, answering a [`DeliveryId`] or a typed
//!   [`NotifyError`]. A failed send (after retries) is always an error that
//!   the caller acts on (escalate to a person); nothing is dropped silently.
//! * [`HttpNotifier`] talks to an HTTP SMS gateway and an HTTP voice gateway
//!   built from configuration: URL, method, JSON or form body from a
//!   template, auth header, success status, a dotted path to the message id;
//!   per-request timeout, retries with exponential backoff and jitter for
//!   timeouts, connection errors, 5xx, 408 and 429 (never for other 4xx), the
//!   idempotency key in an `Idempotency-Key` header and in the body.
//! * [`LogNotifier`] sends nothing: for the demo and tests it logs ids and
//!   masked numbers, never a number or a text in full.
//! * [`receipt`] parses delivery receipts (callbacks) into [`Receipt`]s.
//! * [`ratelimit`] caps warning SMS per person ([`RateLimiter`]), as a pure
//!   component with time passed in.
//!
//! [`NotifyConfig`] holds all the settings; the binary fills it from the
//! config file (`[notify]`) and calls [`NotifyConfig::build`].

pub mod http;
pub mod log;
pub mod ratelimit;
pub mod receipt;

pub use http::{BodyFormat, HttpChannelConfig, HttpMethod, HttpNotifier, PhoneFormat, Secret};
pub use log::{LogNotifier, LoggedMessage};
pub use ratelimit::{RateDecision, RateLimitConfig, RateLimiter, check_rate};
pub use receipt::{
    Receipt, ReceiptError, ReceiptFormat, ReceiptItemError, ReceiptStatus, Receipts, parse_receipts,
};

use crate::error::AppError;
use fanzha_core::i18n::Msg;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Longest idempotency key, in bytes.
pub const MAX_KEY_LEN: usize = 128;
/// Longest SMS text accepted, in characters (a long concatenated SMS).
pub const MAX_SMS_CHARS: usize = 1000;
/// Longest robocall text accepted, in characters.
pub const MAX_CALL_CHARS: usize = 4000;

/// The gateway's id of a sent message or placed call, for receipts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeliveryId(pub String);

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a robocall says: a script the voice platform holds, or a text it
/// reads out (TTS).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoiceContent {
    ScriptId(String),
    Text(String),
}

/// Which gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Voice,
}

impl Channel {
    pub const fn code(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Voice => "voice",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why the last try of a send failed in a way worth retrying.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// No answer within the per-request timeout.
    Timeout,
    /// The gateway could not be reached.
    Connect,
    /// 5xx, 408 or 429.
    Status { status: u16 },
    /// Any other transport error (its text has no URL in it).
    Transport { reason: String },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout => f.write_str("timeout"),
            Failure::Connect => f.write_str("connection failed"),
            Failure::Status { status } => write!(f, "status {status}"),
            Failure::Transport { reason } => write!(f, "transport error: {reason}"),
        }
    }
}

/// A send that did not go out. Messages never hold the number or the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// The settings are wrong (bad URL, body template, header…).
    #[error("notifier configuration: {0}")]
    Config(String),
    /// The request itself is unusable (empty text, bad key, bad number).
    #[error("notification request: {0}")]
    Invalid(&'static str),
    #[error("no {channel} gateway is configured")]
    NotConfigured { channel: Channel },
    /// The gateway refused with a status that retrying will not change (4xx).
    #[error("{channel} gateway refused the request with status {status}")]
    Rejected {
        channel: Channel,
        status: u16,
        attempts: u32,
    },
    /// A success status whose answer lacks the message id, or says it failed.
    #[error("{channel} gateway answer not understood (status {status}): {reason}")]
    BadResponse {
        channel: Channel,
        status: u16,
        reason: String,
        attempts: u32,
    },
    /// Every try failed with a timeout, a connection error or a 5xx.
    #[error("{channel} gateway failed after {attempts} attempts: {last}")]
    GaveUp {
        channel: Channel,
        attempts: u32,
        last: Failure,
    },
}

impl NotifyError {
    /// The catalogue key of the message.
    pub const fn key(&self) -> &'static str {
        match self {
            NotifyError::Config(_) => "notify.config",
            NotifyError::Invalid(_) => "notify.invalid",
            NotifyError::NotConfigured { .. } => "notify.not_configured",
            NotifyError::Rejected { .. } => "notify.rejected",
            NotifyError::BadResponse { .. } => "notify.bad_response",
            NotifyError::GaveUp { .. } => "notify.gave_up",
        }
    }

    pub fn msg(&self) -> Msg {
        let m = Msg::new(self.key());
        match self {
            NotifyError::Config(_) | NotifyError::Invalid(_) => m,
            NotifyError::NotConfigured { channel } => m.arg("channel", channel),
            NotifyError::Rejected { channel, status, .. }
            | NotifyError::BadResponse { channel, status, .. } => {
                m.arg("channel", channel).arg("status", status)
            }
            NotifyError::GaveUp {
                channel, attempts, ..
            } => m.arg("channel", channel).arg("attempts", attempts),
        }
    }

    /// The channel could work later (the caller may try the fallback method
    /// now and this one again later).
    pub const fn is_transient(&self) -> bool {
        matches!(self, NotifyError::GaveUp { .. })
    }

    /// Tries made before giving up (0 when none was made).
    pub const fn attempts(&self) -> u32 {
        match self {
            NotifyError::Rejected { attempts, .. }
            | NotifyError::BadResponse { attempts, .. }
            | NotifyError::GaveUp { attempts, .. } => *attempts,
            _ => 0,
        }
    }
}

impl From<NotifyError> for AppError {
    fn from(e: NotifyError) -> Self {
        match e {
            NotifyError::Invalid(_) => AppError::Invalid(e.msg()),
            other => AppError::Internal(other.to_string()),
        }
    }
}

/// A send in flight.
pub type NotifyFuture<'a> = Pin<Box<dyn Future<Output = Result<DeliveryId, NotifyError>> + Send + 'a>>;

/// Sends warning SMS and places robocalls.
///
/// `to` is a phone number in E.164 (`+8613800000000`). `key` makes the
/// request idempotent: the same key sent twice (a retry, a second worker)
/// must not reach the person twice, so derive it from what is being sent
/// (e.g. `task-42-sms-1`), never from the time. Keys are 1 to
/// [`MAX_KEY_LEN`] printable ASCII characters without spaces.
pub trait Notifier: Send + Sync {
    fn send_sms<'a>(&'a self, to: &'a str, text: &'a str, key: &'a str) -> NotifyFuture<'a>;
    fn call<'a>(&'a self, to: &'a str, content: &'a VoiceContent, key: &'a str) -> NotifyFuture<'a>;
    /// A short name for logs (`http`, `log`).
    fn name(&self) -> &'static str;
}

/// Checks the parts every notifier needs.
pub(crate) fn check_request(to: &str, key: &str) -> Result<(), NotifyError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(NotifyError::Invalid(
            "idempotency key must be 1-128 printable ASCII characters",
        ));
    }
    let digits = to.strip_prefix('+').unwrap_or(to);
    if digits.len() < 3 || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NotifyError::Invalid(
            "phone number must be digits, optionally after a +",
        ));
    }
    Ok(())
}

pub(crate) fn check_text(text: &str, max: usize) -> Result<(), NotifyError> {
    if text.trim().is_empty() {
        return Err(NotifyError::Invalid("text is empty"));
    }
    if text.chars().count() > max {
        return Err(NotifyError::Invalid("text is too long"));
    }
    Ok(())
}

pub(crate) fn check_voice(content: &VoiceContent) -> Result<(), NotifyError> {
    match content {
        VoiceContent::Text(t) => check_text(t, MAX_CALL_CHARS),
        VoiceContent::ScriptId(id) => {
            if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
                Err(NotifyError::Invalid(
                    "script id must be 1-64 printable ASCII characters",
                ))
            } else {
                Ok(())
            }
        }
    }
}

/// Which notifier to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyMode {
    /// Log only, send nothing (the default, and the demo's).
    #[default]
    Log,
    /// Real HTTP gateways.
    Http,
}

/// All notification settings (the config file's `[notify]` table).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    #[serde(default)]
    pub mode: NotifyMode,
    /// The SMS gateway; required in `http` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<HttpChannelConfig>,
    /// The voice (robocall) gateway; without it, calls fail with
    /// [`NotifyError::NotConfigured`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<HttpChannelConfig>,
    /// Most warning SMS per person in a window.
    #[serde(default)]
    pub sms_rate_limit: RateLimitConfig,
    /// How delivery receipts posted to the callback endpoint look.
    #[serde(default)]
    pub receipts: ReceiptFormat,
}

impl NotifyConfig {
    /// Checks every setting without building anything.
    pub fn validate(&self) -> Result<(), NotifyError> {
        self.sms_rate_limit.validate()?;
        self.receipts.validate()?;
        if self.mode == NotifyMode::Http && self.sms.is_none() {
            return Err(NotifyError::Config(
                "mode http needs an [notify.sms] gateway".into(),
            ));
        }
        if let Some(c) = &self.sms {
            c.validate(Channel::Sms)?;
        }
        if let Some(c) = &self.voice {
            c.validate(Channel::Voice)?;
        }
        Ok(())
    }

    /// The notifier these settings describe.
    pub fn build(&self) -> Result<Arc<dyn Notifier>, NotifyError> {
        self.validate()?;
        Ok(match self.mode {
            NotifyMode::Log => Arc::new(LogNotifier::new()),
            NotifyMode::Http => Arc::new(HttpNotifier::new(self.sms.clone(), self.voice.clone())?),
        })
    }

    /// A rate limiter with these settings.
    pub fn rate_limiter(&self) -> RateLimiter {
        RateLimiter::new(self.sms_rate_limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked() {
        assert!(check_request("+8613800000000", "task-1-sms-1").is_ok());
        assert!(check_request("13800000000", "k").is_ok());
        assert!(check_request("+86 138", "k").is_err());
        assert!(check_request("+8613800000000", "").is_err());
        assert!(check_request("+8613800000000", "has space").is_err());
        assert!(check_request("+8613800000000", &"k".repeat(129)).is_err());
        assert!(check_text("  ", 10).is_err());
        assert!(check_voice(&VoiceContent::ScriptId("warn-1".into())).is_ok());
    }

    #[test]
    fn errors_never_show_the_request() {
        let e = NotifyError::GaveUp {
            channel: Channel::Sms,
            attempts: 4,
            last: Failure::Timeout,
        };
        assert_eq!(e.to_string(), "sms gateway failed after 4 attempts: timeout");
        assert_eq!(e.key(), "notify.gave_up");
        assert!(e.is_transient());
        assert_eq!(AppError::from(e).status(), 500);
    }

    #[test]
    fn http_mode_needs_an_sms_gateway() {
        let cfg = NotifyConfig {
            mode: NotifyMode::Http,
            ..NotifyConfig::default()
        };
        assert!(matches!(cfg.build(), Err(NotifyError::Config(_))));
        assert_eq!(
            NotifyConfig::default().build().map(|n| n.name()).ok(),
            Some("log")
        );
    }
}
