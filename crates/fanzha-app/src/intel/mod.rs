pub mod allowlist;
pub mod disposal;
pub mod export;
pub mod formats;
pub mod import;
pub mod lookup;
pub mod ratelimit;
pub mod reports;
pub mod service;
pub mod state;

/// The stored intel types callers (the web layer) name.
pub use fanzha_store::{
    AllowEntry, Disposal, DisposalStatus, DisposalTarget, ImportJob, Indicator, IndicatorSource,
    IndicatorStatus, Report, ReportStatus,
};
