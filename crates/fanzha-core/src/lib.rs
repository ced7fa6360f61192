//! Fanzha domain core: the vocabulary every other crate speaks.
//!
//! This crate is pure. It does no I/O, uses no async, runs no SQL and never
//! reads the clock: every time it needs is passed in as a [`Timestamp`].

pub mod account;
pub mod app;
pub mod audit;
pub mod dispatch;
pub mod domain;
pub mod event;
pub mod i18n;
pub mod idcard;
pub mod ids;
pub mod indicator;
pub mod ip;
pub mod mask;
pub mod org;
pub mod phone;
pub mod roles;
pub mod task;
pub mod taxonomy;
pub mod time;
pub mod url;

pub use ids::*;
pub use taxonomy::{FraudType, Grade, IndicatorKind};
pub use time::Timestamp;
