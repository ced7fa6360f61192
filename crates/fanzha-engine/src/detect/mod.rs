//! Real-time detection (DESIGN.md §5): events → signals → per-person risk
//! state → grade changes → leads, with the rules as versioned data.
//!
//! * [`Detector`] processes [`Event`](fanzha_core::event::Event)s one at a
//!   time against a [`DetectContext`] (the intel [`IndexSnapshot`](crate::index::IndexSnapshot),
//!   an optional [`TextClassifier`](crate::text::TextClassifier) and the app's
//!   allowlist) and returns an [`Outcome`]: the [`Signal`]s the event raised,
//!   the person's score and grade, and a [`LeadDecision`] when the grade rose.
//! * Signals: indicator hits on the counterparty (`call_flagged`,
//!   `sms_flagged`, `web_flagged`, `app_flagged`, `transfer_flagged`), text
//!   (`text_fraud`), links in texts (`link_flagged`), and behaviour (`long_call_flagged`,
//!   `many_flagged_contacts`, `intl_call_elderly`,
//!   `remote_app_after_contact`, `first_large_transfer`,
//!   `transfer_after_signal`); see [`SignalType`].
//! * Allowlisted values (the built-in official numbers 110, 119, 120, 122,
//!   96110, 12110, 12381, the rules' `[allow]` lists and the app's predicate)
//!   never raise anything: an event whose counterparty is allowlisted is
//!   dropped before matching and before text classification.
//! * Risk state ([`state`]): at most [`state::RING`] signals per person in a
//!   176-byte record; nothing for persons without signals; see
//!   [`Detector::evict_idle`].
//! * Rules ([`RulesDoc`], [`CompiledRules`]): versioned TOML, the default
//!   embedded from `default_rules.toml`, which documents every key. Swap them
//!   with [`Detector::set_rules`] between events; state is kept.
//! * Leads: a rise raises a lead, or, within the dedup window of the
//!   person's last lead and to a grade above that lead's, updates it. Every
//!   decision carries an [`Explanation`] and the rules version.
//! * [`backtest::replay`] compares two rule sets over one event stream;
//!   [`bench::bench_engine`] measures throughput, latency and memory.
//!
//! Everything here is pure: time comes from the events, the same inputs
//! give the same outputs.

pub mod backtest;
pub mod bench;
mod engine;
pub mod remote;
pub mod rules;
mod score;
mod signal;
pub mod state;

pub use engine::{AllowFn, DetectContext, Detector, DetectorStats, LeadAction, LeadDecision, Outcome};
pub use remote::{RemoteApp, RemoteApps, RemoteCategory};
pub use rules::{CompiledRules, DEFAULT_RULES, RulesDoc, RulesError, default_rules};
pub use score::{ChainApplied, ExplainedSignal, Explanation, MultiplierApplied, PersonAttrs, StoredEvidence};
pub use signal::{N_SIGNALS, Signal, SignalEvidence, SignalType};
