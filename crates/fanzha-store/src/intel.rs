//! The intelligence base (情报库): indicators, the allowlist (白名单),
//! public reports (举报), disposal records (处置记录) and import jobs, as the
//! [`IntelStore`] part of the store API.
//!
//! # Design
//!
//! * **Global, not org-scoped.** Intel belongs to the whole deployment: no
//!   row names an org node, reads take no [`crate::Scope`], and no intel row
//!   keeps a node from being deleted. Who may see or change what is the
//!   app's permission gate.
//! * **Several sources per value.** An indicator is unique by
//!   `(kind, value, source)`: the 165 feed, an analyst and a public report
//!   may each hold the same number, each with its own confidence, status and
//!   validity. [`IntelStore::indicators_by_value`] returns all of them, and
//!   the match index holds all of them (a lookup reports each).
//! * **History is the audit log.** Every change to an indicator writes an
//!   audit entry with target `indicator:{id}` in the same transaction; bulk
//!   calls write one entry per indicator. Sightings
//!   ([`IntelStore::record_sightings`]) are telemetry, counted in bulk and not
//!   audited.
//! * **What feeds the match index.** Indicators that are `pending`,
//!   `confirmed` or `disposed` and valid at the build time
//!   (`valid_from <= now < valid_until`, no `valid_until` meaning no end).
//!   Pending ones match with their own (usually low) confidence, so the
//!   engine weighs them accordingly; disposed ones keep matching because a
//!   blocked domain or a suspended number is still evidence when it shows up
//!   elsewhere. `revoked` and `expired` never match. The app also leaves out
//!   values the allowlist covers.
//! * **Generation.** Every call that can change what the index holds (an
//!   indicator's value, status, validity, fraud type or confidence, or the
//!   allowlist) increments [`IntelStore::intel_generation`] in its
//!   transaction. A process compares it with the generation its index was
//!   built from to know when to rebuild, which also works across the nodes
//!   of a cluster.

use crate::StoreError;
use crate::model::{AuditRecord, SealedPhone};
use async_trait::async_trait;
use fanzha_core::{FraudType, IndicatorKind, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest description, note or result text the store keeps, in characters.
pub const MAX_INTEL_TEXT: usize = 2000;
/// Most tags on one indicator.
pub const MAX_INDICATOR_TAGS: usize = 32;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;
/// Longest feed name (after `feed:`), in characters.
pub const MAX_FEED_NAME: usize = 64;
/// Longest canonical value, in bytes.
pub const MAX_VALUE_BYTES: usize = 2048;

/// Where an indicator is in its life.
///
/// ```text
/// pending ──confirm──► confirmed ──dispose──► disposed
///    │                    │                      │
///    └──────revoke────────┴───────revoke─────────┴──► revoked ──confirm──► confirmed
/// pending | confirmed | disposed ──valid_until passed──► expired ──confirm──► confirmed
/// ```
///
/// An import that lists an expired indicator again revives it with a new
/// validity; a revoked one stays revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorStatus {
    /// Reported or imported, not yet checked by an analyst. Matches.
    Pending,
    /// Checked and confirmed. Matches; block lists export it.
    Confirmed,
    /// Acted on (blocked, suspended, frozen). Matches; block lists export it.
    Disposed,
    /// Withdrawn (a wrong flag, an appeal upheld). Never matches.
    Revoked,
    /// Its validity ended. Never matches.
    Expired,
}

impl IndicatorStatus {
    pub const ALL: &'static [IndicatorStatus] = &[
        IndicatorStatus::Pending,
        IndicatorStatus::Confirmed,
        IndicatorStatus::Disposed,
        IndicatorStatus::Revoked,
        IndicatorStatus::Expired,
    ];
    /// The statuses that feed the match index.
    pub const ACTIVE: &'static [IndicatorStatus] = &[
        IndicatorStatus::Pending,
        IndicatorStatus::Confirmed,
        IndicatorStatus::Disposed,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            IndicatorStatus::Pending => "pending",
            IndicatorStatus::Confirmed => "confirmed",
            IndicatorStatus::Disposed => "disposed",
            IndicatorStatus::Revoked => "revoked",
            IndicatorStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<IndicatorStatus> {
        let t = s.trim();
        IndicatorStatus::ALL
            .iter()
            .copied()
            .find(|x| x.code().eq_ignore_ascii_case(t))
    }

    /// Pending, confirmed or disposed.
    pub const fn is_active(self) -> bool {
        matches!(
            self,
            IndicatorStatus::Pending | IndicatorStatus::Confirmed | IndicatorStatus::Disposed
        )
    }
}

impl fmt::Display for IndicatorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A change of status (or validity) applied to several indicators at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "change")]
pub enum StatusChange {
    /// pending, revoked or expired → confirmed. An indicator whose
    /// `valid_until` has passed gets a new end: `renew`'s lifetime for its
    /// kind from the time of the change.
    Confirm { renew: Lifetimes },
    /// confirmed → disposed.
    Dispose,
    /// pending, confirmed or disposed → revoked.
    Revoke,
    /// Sets a new end of validity (which must lie after `audit.at`) on a
    /// pending, confirmed or disposed indicator; the status stays.
    Extend { valid_until: Timestamp },
}

impl StatusChange {
    /// The statuses this change applies to.
    pub const fn from_statuses(self) -> &'static [IndicatorStatus] {
        use IndicatorStatus::*;
        match self {
            StatusChange::Confirm { .. } => &[Pending, Revoked, Expired],
            StatusChange::Dispose => &[Confirmed],
            StatusChange::Revoke => &[Pending, Confirmed, Disposed],
            StatusChange::Extend { .. } => &[Pending, Confirmed, Disposed],
        }
    }

    /// The status after the change (`None`: unchanged).
    pub const fn to_status(self) -> Option<IndicatorStatus> {
        match self {
            StatusChange::Confirm { .. } => Some(IndicatorStatus::Confirmed),
            StatusChange::Dispose => Some(IndicatorStatus::Disposed),
            StatusChange::Revoke => Some(IndicatorStatus::Revoked),
            StatusChange::Extend { .. } => None,
        }
    }

    pub const fn code(self) -> &'static str {
        match self {
            StatusChange::Confirm { .. } => "confirm",
            StatusChange::Dispose => "dispose",
            StatusChange::Revoke => "revoke",
            StatusChange::Extend { .. } => "extend",
        }
    }
}

/// How long an indicator stays valid by default, per kind, in days (`None`:
/// no end). Phone numbers are recycled by operators, so theirs is short.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lifetimes {
    pub phone: Option<u32>,
    pub domain: Option<u32>,
    pub url: Option<u32>,
    pub ip: Option<u32>,
    pub app: Option<u32>,
    pub bank_account: Option<u32>,
    pub payment_account: Option<u32>,
    pub social_account: Option<u32>,
}

impl Default for Lifetimes {
    /// Phone 30 days, domain and URL 180, IP 30, app 365, accounts 180.
    fn default() -> Self {
        Lifetimes {
            phone: Some(30),
            domain: Some(180),
            url: Some(180),
            ip: Some(30),
            app: Some(365),
            bank_account: Some(180),
            payment_account: Some(180),
            social_account: Some(180),
        }
    }
}

impl Lifetimes {
    /// The lifetime of `kind` in days.
    pub const fn days(&self, kind: IndicatorKind) -> Option<u32> {
        match kind {
            IndicatorKind::Phone => self.phone,
            IndicatorKind::Domain => self.domain,
            IndicatorKind::Url => self.url,
            IndicatorKind::Ip => self.ip,
            IndicatorKind::App => self.app,
            IndicatorKind::BankAccount => self.bank_account,
            IndicatorKind::PaymentAccount => self.payment_account,
            IndicatorKind::SocialAccount => self.social_account,
        }
    }

    /// The end of validity of a `kind` indicator that starts at `from`.
    pub fn until(&self, kind: IndicatorKind, from: Timestamp) -> Option<Timestamp> {
        self.days(kind)
            .map(|d| Timestamp(from.0.saturating_add(i64::from(d) * 86_400_000)))
    }
}

/// What a bulk status change did to one indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum ChangeOutcome {
    Changed,
    /// Already in the target state (nothing written, no audit entry).
    Unchanged,
    /// The change does not apply to an indicator in this status.
    Refused {
        status: IndicatorStatus,
    },
    NotFound,
}

/// Who said a value is fraudulent.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum IndicatorSource {
    /// Pushed by the upper level (上级推送).
    UpperPush,
    /// Taken from a case (案件).
    Case,
    /// A public report (举报).
    PublicReport,
    /// Entered by an analyst.
    Analyst,
    /// An imported feed or file, by name: `feed:<name>`.
    Feed(String),
}

impl IndicatorSource {
    /// The stored code: `upper_push`, `case`, `public_report`, `analyst` or
    /// `feed:<name>`.
    pub fn code(&self) -> String {
        match self {
            IndicatorSource::UpperPush => "upper_push".into(),
            IndicatorSource::Case => "case".into(),
            IndicatorSource::PublicReport => "public_report".into(),
            IndicatorSource::Analyst => "analyst".into(),
            IndicatorSource::Feed(n) => format!("feed:{n}"),
        }
    }

    /// A feed source; the name is trimmed and must be 1–64 characters
    /// without control characters.
    pub fn feed(name: &str) -> Result<IndicatorSource, StoreError> {
        let n = name.trim();
        if n.is_empty() || n.chars().count() > MAX_FEED_NAME || n.chars().any(char::is_control) {
            return Err(StoreError::Invalid {
                reason: format!("a feed name must be 1 to {MAX_FEED_NAME} printable characters"),
            });
        }
        Ok(IndicatorSource::Feed(n.to_string()))
    }

    pub fn parse(s: &str) -> Result<IndicatorSource, StoreError> {
        let t = s.trim();
        Ok(match t {
            "upper_push" => IndicatorSource::UpperPush,
            "case" => IndicatorSource::Case,
            "public_report" => IndicatorSource::PublicReport,
            "analyst" => IndicatorSource::Analyst,
            _ => match t.strip_prefix("feed:") {
                Some(n) => IndicatorSource::feed(n)?,
                None => {
                    return Err(StoreError::Invalid {
                        reason: "a source must be upper_push, case, public_report, analyst or feed:<name>"
                            .into(),
                    });
                }
            },
        })
    }
}

impl fmt::Display for IndicatorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

impl TryFrom<String> for IndicatorSource {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        IndicatorSource::parse(&s)
    }
}

impl From<IndicatorSource> for String {
    fn from(s: IndicatorSource) -> String {
        s.code()
    }
}

/// An indicator to create. `value` must already be canonical for `kind`
/// (the app normalises with `fanzha_core::indicator`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewIndicator {
    pub kind: IndicatorKind,
    pub value: String,
    pub fraud_type: FraudType,
    /// 0–100.
    pub confidence: u8,
    pub source: IndicatorSource,
    /// `pending` or `confirmed`.
    pub status: IndicatorStatus,
    pub valid_from: Timestamp,
    /// `None`: no end.
    pub valid_until: Option<Timestamp>,
    pub tags: Vec<String>,
    /// What the source says about it.
    pub description: String,
    /// The analysts' own notes.
    pub notes: String,
    /// The identifier the source gave it.
    pub external_id: Option<String>,
}

/// A stored indicator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Indicator {
    pub id: i64,
    pub kind: IndicatorKind,
    pub value: String,
    pub fraud_type: FraudType,
    pub confidence: u8,
    pub source: IndicatorSource,
    pub status: IndicatorStatus,
    pub valid_from: Timestamp,
    pub valid_until: Option<Timestamp>,
    /// When it was first recorded.
    pub first_seen: Timestamp,
    /// When it was last recorded or sighted.
    pub last_seen: Timestamp,
    /// How often it matched a lookup or an event.
    pub sightings: i64,
    /// Sorted.
    pub tags: Vec<String>,
    pub description: String,
    pub notes: String,
    pub external_id: Option<String>,
    /// The creating user's id (0 for the system and the public).
    pub created_by: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Starts at 1 and grows by one with every change (not with sightings).
    pub version: i64,
}

impl Indicator {
    /// Whether it feeds the match index at `now`.
    pub fn is_live_at(&self, now: Timestamp) -> bool {
        self.status.is_active() && self.valid_from <= now && self.valid_until.is_none_or(|u| u > now)
    }
}

/// Full replacement of an indicator's editable fields. Kind, value and
/// source are its identity and do not change; status changes go through
/// [`IntelStore::change_indicator_status`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndicatorUpdate {
    pub fraud_type: FraudType,
    pub confidence: u8,
    pub valid_from: Timestamp,
    pub valid_until: Option<Timestamp>,
    pub tags: Vec<String>,
    pub description: String,
    pub notes: String,
    pub external_id: Option<String>,
    /// When set, the update is refused with a conflict unless the stored
    /// version is this one.
    pub expected_version: Option<i64>,
}

/// One row of an import ([`IntelStore::upsert_indicators_batch`]). Fields set
/// here were given by the source; `None` (or empty tags) keeps the stored
/// value of an existing indicator and takes the `default_*` value for a new
/// one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndicatorUpsert {
    pub kind: IndicatorKind,
    pub value: String,
    pub source: IndicatorSource,
    /// The status of a new indicator, and of an expired one the source lists
    /// again (which revives it). `pending` or `confirmed`.
    pub status: IndicatorStatus,
    pub fraud_type: Option<FraudType>,
    pub confidence: Option<u8>,
    pub valid_from: Option<Timestamp>,
    pub valid_until: Option<Timestamp>,
    pub tags: Vec<String>,
    pub description: Option<String>,
    pub external_id: Option<String>,
    pub default_fraud_type: FraudType,
    pub default_confidence: u8,
    /// The end of validity of a new (or revived) indicator when the source
    /// gives none: the kind's default lifetime from now.
    pub default_valid_until: Option<Timestamp>,
}

/// What an import did with one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "id")]
pub enum IntelUpsertOutcome {
    Inserted(i64),
    /// Some field changed, or an expired indicator was revived.
    Updated(i64),
    /// The stored indicator already says the same (also: a key repeated
    /// within one batch, which is applied once).
    Unchanged(i64),
    /// The indicator was revoked by an analyst; an import does not bring it
    /// back.
    KeptRevoked(i64),
}

impl IntelUpsertOutcome {
    pub fn id(self) -> i64 {
        match self {
            IntelUpsertOutcome::Inserted(id)
            | IntelUpsertOutcome::Updated(id)
            | IntelUpsertOutcome::Unchanged(id)
            | IntelUpsertOutcome::KeptRevoked(id) => id,
        }
    }
}

/// Filter of indicator lists, counts and exports. Every set field must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndicatorFilter {
    pub kind: Option<IndicatorKind>,
    /// Any of these statuses; empty for all.
    #[serde(default)]
    pub statuses: Vec<IndicatorStatus>,
    pub fraud_type: Option<FraudType>,
    /// Exact source code (`analyst`, `feed:tw165`…).
    pub source: Option<String>,
    pub min_confidence: Option<u8>,
    /// Canonical values starting with this text.
    pub value_prefix: Option<String>,
    pub tag: Option<String>,
    /// Only indicators valid at this time.
    pub valid_at: Option<Timestamp>,
    /// Page size; `None` for all.
    pub limit: Option<usize>,
    #[serde(default)]
    pub offset: usize,
}

/// What the match index needs of one indicator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveIndicator {
    pub id: i64,
    pub kind: IndicatorKind,
    pub value: String,
    pub fraud_type: FraudType,
    pub confidence: u8,
    pub status: IndicatorStatus,
}

/// Counts for the intel pages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntelCounts {
    pub indicators: i64,
    pub by_status: Vec<(IndicatorStatus, i64)>,
    pub by_kind: Vec<(IndicatorKind, i64)>,
    pub allowlist: i64,
    pub reports_new: i64,
    pub disposals_open: i64,
}

/// An allowlist (白名单) entry to add. `value` is canonical.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAllowEntry {
    pub kind: IndicatorKind,
    pub value: String,
    pub note: String,
}

/// A stored allowlist entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowEntry {
    pub id: i64,
    pub kind: IndicatorKind,
    pub value: String,
    pub note: String,
    /// Shipped with the product (cannot be removed).
    pub builtin: bool,
    pub created_by: i64,
    pub created_at: Timestamp,
}

/// Filter of [`IntelStore::list_allowlist`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowFilter {
    pub kind: Option<IndicatorKind>,
    pub builtin: Option<bool>,
    pub value_prefix: Option<String>,
    pub limit: Option<usize>,
    #[serde(default)]
    pub offset: usize,
}

/// What happened to a public report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// Not yet reviewed.
    New,
    /// Reviewed: the report holds up.
    Accepted,
    /// Reviewed: not fraud, or not usable.
    Rejected,
    /// The value is on the allowlist (e.g. a spoofed bank number); no
    /// indicator was made.
    Allowlisted,
}

impl ReportStatus {
    pub const ALL: &'static [ReportStatus] = &[
        ReportStatus::New,
        ReportStatus::Accepted,
        ReportStatus::Rejected,
        ReportStatus::Allowlisted,
    ];
    pub const fn code(self) -> &'static str {
        match self {
            ReportStatus::New => "new",
            ReportStatus::Accepted => "accepted",
            ReportStatus::Rejected => "rejected",
            ReportStatus::Allowlisted => "allowlisted",
        }
    }
    pub fn parse(s: &str) -> Option<ReportStatus> {
        let t = s.trim();
        ReportStatus::ALL
            .iter()
            .copied()
            .find(|x| x.code().eq_ignore_ascii_case(t))
    }
}

/// A public report (举报) to record. The contact phone arrives sealed, the
/// reporter's address only as a keyed hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewReport {
    /// The reference number given to the reporter; unique.
    pub reference: String,
    pub kind: IndicatorKind,
    /// Canonical.
    pub value: String,
    pub fraud_type: Option<FraudType>,
    pub description: String,
    pub contact: Option<SealedPhone>,
    pub ip_hash: Vec<u8>,
    /// `new`, or `allowlisted` when the value is on the allowlist.
    pub status: ReportStatus,
}

/// A stored report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub id: i64,
    pub reference: String,
    pub kind: IndicatorKind,
    pub value: String,
    pub fraud_type: Option<FraudType>,
    pub description: String,
    pub contact: Option<SealedPhone>,
    pub ip_hash: Vec<u8>,
    pub status: ReportStatus,
    pub indicator_id: Option<i64>,
    pub review_note: String,
    pub reviewed_by: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What [`IntelStore::create_report`] made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportCreated {
    pub report_id: i64,
    pub indicator_id: Option<i64>,
    /// False when the report joined an indicator that already existed.
    pub indicator_created: bool,
}

/// Filter of [`IntelStore::list_reports`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportFilter {
    pub status: Option<ReportStatus>,
    pub kind: Option<IndicatorKind>,
    /// Reports linked to this indicator.
    #[serde(default)]
    pub indicator_id: Option<i64>,
    pub limit: Option<usize>,
    #[serde(default)]
    pub offset: usize,
}

/// Who is asked to act on a disposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisposalTarget {
    /// A telecom operator: suspend numbers.
    Operator,
    /// A bank: freeze accounts.
    Bank,
    /// A platform (payment, social, app store): close accounts, pull apps.
    Platform,
    /// A domain registrar or DNS operator: take down or block domains.
    Registrar,
}

impl DisposalTarget {
    pub const ALL: &'static [DisposalTarget] = &[
        DisposalTarget::Operator,
        DisposalTarget::Bank,
        DisposalTarget::Platform,
        DisposalTarget::Registrar,
    ];
    pub const fn code(self) -> &'static str {
        match self {
            DisposalTarget::Operator => "operator",
            DisposalTarget::Bank => "bank",
            DisposalTarget::Platform => "platform",
            DisposalTarget::Registrar => "registrar",
        }
    }
    pub fn parse(s: &str) -> Option<DisposalTarget> {
        let t = s.trim();
        DisposalTarget::ALL
            .iter()
            .copied()
            .find(|x| x.code().eq_ignore_ascii_case(t))
    }
}

/// Where a disposal request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisposalStatus {
    Requested,
    InProgress,
    Done,
    Rejected,
}

impl DisposalStatus {
    pub const ALL: &'static [DisposalStatus] = &[
        DisposalStatus::Requested,
        DisposalStatus::InProgress,
        DisposalStatus::Done,
        DisposalStatus::Rejected,
    ];
    pub const fn code(self) -> &'static str {
        match self {
            DisposalStatus::Requested => "requested",
            DisposalStatus::InProgress => "in_progress",
            DisposalStatus::Done => "done",
            DisposalStatus::Rejected => "rejected",
        }
    }
    pub fn parse(s: &str) -> Option<DisposalStatus> {
        let t = s.trim();
        DisposalStatus::ALL
            .iter()
            .copied()
            .find(|x| x.code().eq_ignore_ascii_case(t))
    }
    /// Done and rejected are final.
    pub const fn is_final(self) -> bool {
        matches!(self, DisposalStatus::Done | DisposalStatus::Rejected)
    }
    /// requested → in_progress | done | rejected; in_progress → done |
    /// rejected; final states do not move.
    pub const fn can_move_to(self, next: DisposalStatus) -> bool {
        use DisposalStatus::*;
        matches!(
            (self, next),
            (Requested, InProgress | Done | Rejected) | (InProgress, Done | Rejected)
        )
    }
}

/// A disposal request (处置) to record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewDisposal {
    /// The indicators concerned (may be empty when `filter_description`
    /// says what was sent, e.g. an exported RPZ).
    pub indicator_ids: Vec<i64>,
    /// A description of the selection (an export filter), or empty.
    pub filter_description: String,
    pub target: DisposalTarget,
    /// The party's name, e.g. 中国移动 or 工商银行.
    pub target_name: String,
    pub request_note: String,
}

/// A stored disposal record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disposal {
    pub id: i64,
    /// Sorted.
    pub indicator_ids: Vec<i64>,
    pub filter_description: String,
    pub target: DisposalTarget,
    pub target_name: String,
    pub request_note: String,
    pub status: DisposalStatus,
    pub result: String,
    pub requested_by: i64,
    pub requested_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i64,
}

/// Filter of [`IntelStore::list_disposals`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisposalFilter {
    pub status: Option<DisposalStatus>,
    pub target: Option<DisposalTarget>,
    /// Records that include this indicator.
    pub indicator_id: Option<i64>,
    pub limit: Option<usize>,
    #[serde(default)]
    pub offset: usize,
}

/// An import run to record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewImportJob {
    pub source_name: String,
    pub format: String,
    pub file_name: String,
    pub lines: i64,
    pub added: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub skipped: i64,
    pub rejected: i64,
    /// The full report as JSON.
    pub report: String,
}

/// A recorded import run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportJob {
    pub id: i64,
    pub source_name: String,
    pub format: String,
    pub file_name: String,
    pub lines: i64,
    pub added: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub skipped: i64,
    pub rejected: i64,
    pub report: String,
    pub created_by: i64,
    pub created_at: Timestamp,
}

/// The intelligence part of the store API (see the module docs). Every
/// mutating call takes an [`AuditRecord`] and writes its audit entries in the
/// same transaction; `audit.at` is the time of the change and
/// `audit.actor_id` its author (`created_by`, `requested_by`…).
#[async_trait]
pub trait IntelStore: Send + Sync {
    // ---- indicators --------------------------------------------------

    /// Creates an indicator. The same (kind, value, source) twice is a
    /// conflict. Target `indicator:{id}`.
    async fn create_indicator(&self, new: &NewIndicator, audit: &AuditRecord) -> Result<i64, StoreError>;
    async fn get_indicator(&self, id: i64) -> Result<Option<Indicator>, StoreError>;
    /// The indicators with these ids (missing ones left out), by id.
    async fn indicators_by_ids(&self, ids: &[i64]) -> Result<Vec<Indicator>, StoreError>;
    /// Every indicator with exactly this kind and canonical value, whatever
    /// its source or status, by id.
    async fn indicators_by_value(
        &self,
        kind: IndicatorKind,
        value: &str,
    ) -> Result<Vec<Indicator>, StoreError>;
    /// A page of indicators (newest first) and the number matching in all.
    async fn list_indicators(&self, filter: &IndicatorFilter) -> Result<(Vec<Indicator>, i64), StoreError>;
    /// Up to `limit` indicators matching the filter with id above `after`,
    /// by id (`filter.limit`/`offset` are ignored): call again with the last
    /// id until a short page comes back.
    async fn indicators_page(
        &self,
        filter: &IndicatorFilter,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Indicator>, StoreError>;
    /// Replaces the editable fields; returns the new version.
    async fn update_indicator(
        &self,
        id: i64,
        update: &IndicatorUpdate,
        audit: &AuditRecord,
    ) -> Result<i64, StoreError>;
    /// Deletes an indicator (a mistaken entry; withdrawals are revocations).
    /// One named in a disposal record is a conflict.
    async fn delete_indicator(&self, id: i64, audit: &AuditRecord) -> Result<(), StoreError>;
    /// Applies one change to each id in one transaction, writing one audit
    /// entry (from `audit_template`, target `indicator:{id}`) per indicator
    /// that changed. Returns an outcome per id, in the order given.
    async fn change_indicator_status(
        &self,
        ids: &[i64],
        change: StatusChange,
        audit_template: &AuditRecord,
    ) -> Result<Vec<ChangeOutcome>, StoreError>;
    /// Inserts or updates each row keyed by (kind, value, source), in one
    /// transaction, with one audit entry per inserted
    /// (`intel.import.insert`) or updated (`intel.import.update`) row from
    /// `audit_template`; unchanged rows write nothing. Re-running the same
    /// rows changes nothing and answers `Unchanged`.
    async fn upsert_indicators_batch(
        &self,
        rows: &[IndicatorUpsert],
        audit_template: &AuditRecord,
    ) -> Result<Vec<IntelUpsertOutcome>, StoreError>;
    /// Up to `limit` indicators that feed the match index at `now` (see the
    /// module docs) with id above `after`, by id. Read the generation first,
    /// then page until a short page comes back.
    async fn active_indicators_page(
        &self,
        now: Timestamp,
        after: i64,
        limit: usize,
    ) -> Result<Vec<ActiveIndicator>, StoreError>;
    /// Adds `count` sightings to each indicator and moves `last_seen`
    /// forward to the given time, in one transaction. Telemetry: not audited,
    /// no version or generation change; unknown ids are ignored. Returns the
    /// number of indicators touched.
    async fn record_sightings(&self, batch: &[(i64, u32, Timestamp)]) -> Result<u64, StoreError>;
    /// Marks every active indicator whose `valid_until` is at or before
    /// `now` as expired, with one audit entry (`audit_template`, usually the
    /// system) per indicator. Returns their ids.
    async fn expire_due(&self, now: Timestamp, audit_template: &AuditRecord) -> Result<Vec<i64>, StoreError>;
    /// The current intel generation (see the module docs).
    async fn intel_generation(&self) -> Result<i64, StoreError>;
    /// Increments the export serial and writes `audit` (the export's entry)
    /// in one transaction; returns the new serial.
    async fn next_export_serial(&self, audit: &AuditRecord) -> Result<i64, StoreError>;
    async fn intel_counts(&self) -> Result<IntelCounts, StoreError>;
    /// Tags in use, most frequent first (ties by tag), at most `limit`.
    async fn indicator_tag_counts(&self, limit: usize) -> Result<Vec<(String, i64)>, StoreError>;

    // ---- allowlist ---------------------------------------------------

    /// Adds an entry; the same (kind, value) twice is a conflict. Target
    /// `allow:{id}`.
    async fn add_allow_entry(&self, entry: &NewAllowEntry, audit: &AuditRecord) -> Result<i64, StoreError>;
    /// Removes an entry; a built-in one is refused with a conflict.
    async fn remove_allow_entry(&self, id: i64, audit: &AuditRecord) -> Result<(), StoreError>;
    async fn get_allow_entry(&self, id: i64) -> Result<Option<AllowEntry>, StoreError>;
    /// A page (by kind, then value) and the number matching.
    async fn list_allowlist(&self, filter: &AllowFilter) -> Result<(Vec<AllowEntry>, i64), StoreError>;
    /// Every entry, by id.
    async fn all_allow_entries(&self) -> Result<Vec<AllowEntry>, StoreError>;
    /// Makes the built-in entries exactly `entries`: inserts the missing
    /// ones (turning a matching custom entry into a built-in one) and removes
    /// built-ins no longer listed, with one audit entry
    /// (`allow.builtin.add` / `allow.builtin.remove`) each. Returns
    /// (added, removed).
    async fn sync_builtin_allowlist(
        &self,
        entries: &[NewAllowEntry],
        audit_template: &AuditRecord,
    ) -> Result<(usize, usize), StoreError>;

    // ---- public reports ----------------------------------------------

    /// Records a report and, with `indicator`, links it to the indicator of
    /// the same (kind, value, source), creating that indicator when missing
    /// (an existing one is left as it is). Writes `intel.report.create`
    /// (target `report:{id}`) and, for a new indicator, an
    /// `intel.indicator.create` entry.
    async fn create_report(
        &self,
        report: &NewReport,
        indicator: Option<&NewIndicator>,
        audit: &AuditRecord,
    ) -> Result<ReportCreated, StoreError>;
    async fn get_report(&self, id: i64) -> Result<Option<Report>, StoreError>;
    async fn report_by_reference(&self, reference: &str) -> Result<Option<Report>, StoreError>;
    /// A page of reports (newest first) and the number matching.
    async fn list_reports(&self, filter: &ReportFilter) -> Result<(Vec<Report>, i64), StoreError>;
    /// Sets a report's status and review note; the reviewer is
    /// `audit.actor_id`.
    async fn review_report(
        &self,
        id: i64,
        status: ReportStatus,
        note: &str,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    // ---- disposal records --------------------------------------------

    /// Records a disposal request (status `requested`). Every indicator id
    /// must exist. Target `disposal:{id}`.
    async fn create_disposal(&self, d: &NewDisposal, audit: &AuditRecord) -> Result<i64, StoreError>;
    async fn get_disposal(&self, id: i64) -> Result<Option<Disposal>, StoreError>;
    /// A page of records (newest first) and the number matching.
    async fn list_disposals(&self, filter: &DisposalFilter) -> Result<(Vec<Disposal>, i64), StoreError>;
    /// Moves a record to `status` (see [`DisposalStatus::can_move_to`]) with
    /// its result text. When it becomes `done`, its confirmed indicators
    /// become `disposed` in the same transaction (one audit entry each,
    /// action `intel.indicator.dispose`). Returns the new version.
    async fn update_disposal(
        &self,
        id: i64,
        status: DisposalStatus,
        result: &str,
        expected_version: Option<i64>,
        audit: &AuditRecord,
    ) -> Result<i64, StoreError>;

    // ---- import jobs -------------------------------------------------

    /// Records an import run. Target `import:{id}`.
    async fn create_import_job(&self, job: &NewImportJob, audit: &AuditRecord) -> Result<i64, StoreError>;
    async fn get_import_job(&self, id: i64) -> Result<Option<ImportJob>, StoreError>;
    /// A page of runs (newest first, without their report text) and the
    /// number in all.
    async fn list_import_jobs(
        &self,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<ImportJob>, i64), StoreError>;
}

// ---------------------------------------------------------------- DbStore

use crate::ops::intel as ops;
use crate::{Backend, DbStore, pg};

#[async_trait]
impl IntelStore for DbStore {
    async fn create_indicator(&self, new: &NewIndicator, audit: &AuditRecord) -> Result<i64, StoreError> {
        run!(self, write, [new, audit], |db| ops::create(db, new, audit))
    }
    async fn get_indicator(&self, id: i64) -> Result<Option<Indicator>, StoreError> {
        run!(self, read, [], |db| ops::get(db, id))
    }
    async fn indicators_by_ids(&self, ids: &[i64]) -> Result<Vec<Indicator>, StoreError> {
        run!(self, read, [ids], |db| ops::by_ids(db, ids))
    }
    async fn indicators_by_value(
        &self,
        kind: IndicatorKind,
        value: &str,
    ) -> Result<Vec<Indicator>, StoreError> {
        run!(self, read, [value], |db| ops::by_value(db, kind, value))
    }
    async fn list_indicators(&self, filter: &IndicatorFilter) -> Result<(Vec<Indicator>, i64), StoreError> {
        run!(self, read, [filter], |db| ops::list(db, filter))
    }
    async fn indicators_page(
        &self,
        filter: &IndicatorFilter,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Indicator>, StoreError> {
        run!(self, read, [filter], |db| ops::page(db, filter, after, limit))
    }
    async fn update_indicator(
        &self,
        id: i64,
        update: &IndicatorUpdate,
        audit: &AuditRecord,
    ) -> Result<i64, StoreError> {
        run!(self, write, [update, audit], |db| ops::update(
            db, id, update, audit
        ))
    }
    async fn delete_indicator(&self, id: i64, audit: &AuditRecord) -> Result<(), StoreError> {
        run!(self, write, [audit], |db| ops::delete(db, id, audit))
    }
    async fn change_indicator_status(
        &self,
        ids: &[i64],
        change: StatusChange,
        audit_template: &AuditRecord,
    ) -> Result<Vec<ChangeOutcome>, StoreError> {
        run!(self, write, [ids, audit_template], |db| ops::change_status(
            db,
            ids,
            change,
            audit_template
        ))
    }
    async fn upsert_indicators_batch(
        &self,
        rows: &[IndicatorUpsert],
        audit_template: &AuditRecord,
    ) -> Result<Vec<IntelUpsertOutcome>, StoreError> {
        run!(self, write, [rows, audit_template], |db| ops::upsert_batch(
            db,
            rows,
            audit_template
        ))
    }
    async fn active_indicators_page(
        &self,
        now: Timestamp,
        after: i64,
        limit: usize,
    ) -> Result<Vec<ActiveIndicator>, StoreError> {
        run!(self, read, [], |db| ops::active_page(db, now, after, limit))
    }
    async fn record_sightings(&self, batch: &[(i64, u32, Timestamp)]) -> Result<u64, StoreError> {
        if batch.is_empty() {
            return Ok(0);
        }
        run!(self, write, [batch], |db| ops::record_sightings(db, batch))
    }
    async fn expire_due(&self, now: Timestamp, audit_template: &AuditRecord) -> Result<Vec<i64>, StoreError> {
        run!(self, write, [audit_template], |db| ops::expire_due(
            db,
            now,
            audit_template
        ))
    }
    async fn intel_generation(&self) -> Result<i64, StoreError> {
        run!(self, read, [], |db| ops::generation(db))
    }
    async fn next_export_serial(&self, audit: &AuditRecord) -> Result<i64, StoreError> {
        run!(self, write, [audit], |db| ops::next_export_serial(db, audit))
    }
    async fn intel_counts(&self) -> Result<IntelCounts, StoreError> {
        run!(self, read, [], |db| ops::counts(db))
    }
    async fn indicator_tag_counts(&self, limit: usize) -> Result<Vec<(String, i64)>, StoreError> {
        run!(self, read, [], |db| ops::tag_counts(db, limit))
    }

    async fn add_allow_entry(&self, entry: &NewAllowEntry, audit: &AuditRecord) -> Result<i64, StoreError> {
        run!(self, write, [entry, audit], |db| ops::add_allow(db, entry, audit))
    }
    async fn remove_allow_entry(&self, id: i64, audit: &AuditRecord) -> Result<(), StoreError> {
        run!(self, write, [audit], |db| ops::remove_allow(db, id, audit))
    }
    async fn get_allow_entry(&self, id: i64) -> Result<Option<AllowEntry>, StoreError> {
        run!(self, read, [], |db| ops::get_allow(db, id))
    }
    async fn list_allowlist(&self, filter: &AllowFilter) -> Result<(Vec<AllowEntry>, i64), StoreError> {
        run!(self, read, [filter], |db| ops::list_allow(db, filter))
    }
    async fn all_allow_entries(&self) -> Result<Vec<AllowEntry>, StoreError> {
        run!(self, read, [], |db| ops::all_allow(db))
    }
    async fn sync_builtin_allowlist(
        &self,
        entries: &[NewAllowEntry],
        audit_template: &AuditRecord,
    ) -> Result<(usize, usize), StoreError> {
        run!(self, write, [entries, audit_template], |db| ops::sync_builtin(
            db,
            entries,
            audit_template
        ))
    }

    async fn create_report(
        &self,
        report: &NewReport,
        indicator: Option<&NewIndicator>,
        audit: &AuditRecord,
    ) -> Result<ReportCreated, StoreError> {
        let indicator = indicator.cloned();
        run!(self, write, [report, audit], |db| ops::create_report(
            db,
            report,
            indicator.as_ref(),
            audit
        ))
    }
    async fn get_report(&self, id: i64) -> Result<Option<Report>, StoreError> {
        run!(self, read, [], |db| ops::get_report(db, id))
    }
    async fn report_by_reference(&self, reference: &str) -> Result<Option<Report>, StoreError> {
        run!(self, read, [reference], |db| ops::report_by_reference(
            db, reference
        ))
    }
    async fn list_reports(&self, filter: &ReportFilter) -> Result<(Vec<Report>, i64), StoreError> {
        run!(self, read, [filter], |db| ops::list_reports(db, filter))
    }
    async fn review_report(
        &self,
        id: i64,
        status: ReportStatus,
        note: &str,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        run!(self, write, [note, audit], |db| ops::review_report(
            db, id, status, note, audit
        ))
    }

    async fn create_disposal(&self, d: &NewDisposal, audit: &AuditRecord) -> Result<i64, StoreError> {
        run!(self, write, [d, audit], |db| ops::create_disposal(db, d, audit))
    }
    async fn get_disposal(&self, id: i64) -> Result<Option<Disposal>, StoreError> {
        run!(self, read, [], |db| ops::get_disposal(db, id))
    }
    async fn list_disposals(&self, filter: &DisposalFilter) -> Result<(Vec<Disposal>, i64), StoreError> {
        run!(self, read, [filter], |db| ops::list_disposals(db, filter))
    }
    async fn update_disposal(
        &self,
        id: i64,
        status: DisposalStatus,
        result: &str,
        expected_version: Option<i64>,
        audit: &AuditRecord,
    ) -> Result<i64, StoreError> {
        run!(self, write, [result, audit], |db| ops::update_disposal(
            db,
            id,
            status,
            result,
            expected_version,
            audit
        ))
    }

    async fn create_import_job(&self, job: &NewImportJob, audit: &AuditRecord) -> Result<i64, StoreError> {
        run!(self, write, [job, audit], |db| ops::create_job(db, job, audit))
    }
    async fn get_import_job(&self, id: i64) -> Result<Option<ImportJob>, StoreError> {
        run!(self, read, [], |db| ops::get_job(db, id))
    }
    async fn list_import_jobs(
        &self,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<ImportJob>, i64), StoreError> {
        run!(self, read, [], |db| ops::list_jobs(db, limit, offset))
    }
}
