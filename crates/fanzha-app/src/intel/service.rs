//! Indicator use cases (情报管理): list, detail, create, edit, delete, and the
//! lifecycle — pending → confirmed → disposed, revoked, expired — one at a
//! time or in bulk. Values are normalised with `fanzha_core::indicator`;
//! values the allowlist covers are refused with the entry that covers them.
//! Every write is audited (target `indicator:{id}`), and the match index is
//! rebuilt shortly after.
//!
//! Intel is not org-scoped: the gate checks the role only (see
//! [`fanzha_core::roles::Action`]: analysts manage intel; officers and
//! leaders view it; grid workers may only look values up).

use super::allowlist::normalize_value;
use super::state::IndexInfo;
use crate::{Actor, App, AppError, AuthVia, Page, Result, User};
use fanzha_core::audit::AuditEntry;
use fanzha_core::i18n::Msg;
use fanzha_core::roles::{Action, Role};
use fanzha_core::{FraudType, IndicatorKind, Timestamp, indicator};
use fanzha_store::{
    AuditFilter, ChangeOutcome, Disposal, DisposalFilter, Indicator, IndicatorFilter, IndicatorSource,
    IndicatorStatus, IndicatorUpdate, IntelCounts, NewIndicator, Report, ReportFilter, StatusChange,
    StoreError,
};
use serde::{Deserialize, Serialize};

/// Most ids in one bulk action.
pub const MAX_BULK: usize = 10_000;
/// Characters that separate tags in one field.
const TAG_SEPARATORS: [char; 6] = [';', ',', '，', '、', '；', '|'];

/// The intel permission gate: the role must allow `action`. Intel is global
/// to the deployment, so there is no data scope to check.
pub(crate) fn intel_gate(actor: &Actor, action: Action) -> Result<()> {
    if actor.can(action) {
        return Ok(());
    }
    tracing::info!(
        user_id = actor.user.id.0,
        action = action.code(),
        "permission denied"
    );
    Err(AppError::Forbidden(
        Msg::new("error.forbidden_action").arg("action", action.code()),
    ))
}

/// Splits a tag field on `;`, `,`, `、`, `|` (and their full-width forms).
pub fn parse_tags(s: &str) -> Vec<String> {
    s.split(TAG_SEPARATORS)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// A source as typed: `analyst`, `upper_push`, `case`, `public_report`,
/// `feed:<name>`, or a bare name (taken as a feed).
pub fn parse_source(s: &str) -> Result<IndicatorSource> {
    let t = s.trim();
    IndicatorSource::parse(t)
        .or_else(|_| IndicatorSource::feed(t))
        .map_err(|_| AppError::invalid("intel.error.bad_source"))
}

/// The text a search box holds, as the start of canonical values: a value
/// that normalises is searched as such, digits as a Chinese number
/// (`138…` → `+86138…`), anything else lower-cased.
pub fn search_prefix(q: &str) -> Option<String> {
    let t = q.trim();
    if t.is_empty() {
        return None;
    }
    if let Some((_, v)) = indicator::detect(t) {
        return Some(v);
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return Some(if t.starts_with("86") && t.len() > 11 {
            format!("+{t}")
        } else {
            format!("+86{}", t.trim_start_matches('0'))
        });
    }
    Some(t.to_lowercase())
}

/// A new indicator as entered in a form or an API call.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct IndicatorForm {
    /// Detected from the value when missing.
    #[serde(default)]
    pub kind: Option<IndicatorKind>,
    pub value: String,
    /// 其他 when missing.
    #[serde(default)]
    pub fraud_type: Option<FraudType>,
    /// [`super::IntelConfig::analyst_confidence`] when missing.
    #[serde(default)]
    pub confidence: Option<u8>,
    /// `analyst` when missing; see [`parse_source`].
    #[serde(default)]
    pub source: Option<String>,
    /// `pending` (default) or `confirmed`.
    #[serde(default)]
    pub status: Option<IndicatorStatus>,
    #[serde(default)]
    pub valid_from: Option<Timestamp>,
    /// The kind's default lifetime when missing.
    #[serde(default)]
    pub valid_until: Option<Timestamp>,
    /// Separated by `;`, `,` or `、`.
    #[serde(default)]
    pub tags: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub notes: String,
}

/// A full edit of an indicator's editable fields (kind, value and source
/// are its identity).
#[derive(Clone, Debug, Deserialize)]
pub struct IndicatorEdit {
    pub fraud_type: FraudType,
    pub confidence: u8,
    pub valid_from: Timestamp,
    /// `None`: no end.
    #[serde(default)]
    pub valid_until: Option<Timestamp>,
    #[serde(default)]
    pub tags: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub expected_version: Option<i64>,
}

/// Search and filters of the indicator list.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct IndicatorQuery {
    /// A value or its beginning (see [`search_prefix`]).
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub kind: Option<IndicatorKind>,
    #[serde(default)]
    pub status: Option<IndicatorStatus>,
    #[serde(default)]
    pub fraud_type: Option<FraudType>,
    /// Exact source code (`analyst`, `feed:tw165`…).
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub min_confidence: Option<u8>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub page: Option<usize>,
    #[serde(default)]
    pub per_page: Option<usize>,
}

/// A lifecycle action on several indicators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum BulkAction {
    /// pending, revoked or expired → confirmed (an ended validity is renewed
    /// by the kind's lifetime).
    Confirm,
    /// confirmed → disposed.
    Dispose,
    /// → revoked; needs a reason.
    Revoke,
    /// A new end of validity.
    Extend { valid_until: Timestamp },
    /// The end of validity moved `days` from now.
    ExtendDays { days: u32 },
}

impl BulkAction {
    fn code(self) -> &'static str {
        match self {
            BulkAction::Confirm => "confirm",
            BulkAction::Dispose => "dispose",
            BulkAction::Revoke => "revoke",
            BulkAction::Extend { .. } | BulkAction::ExtendDays { .. } => "extend",
        }
    }
}

/// What a bulk action did.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct BulkResult {
    pub changed: Vec<i64>,
    pub unchanged: Vec<i64>,
    /// The action does not apply in this status.
    pub refused: Vec<(i64, IndicatorStatus)>,
    pub not_found: Vec<i64>,
}

/// An indicator with what is known around it.
#[derive(Clone, Debug, Serialize)]
pub struct IndicatorDetail {
    pub indicator: Indicator,
    /// Feeds the match index now (active and within its validity).
    pub live: bool,
    /// Its history: the audit entries naming it, newest first.
    pub history: Vec<AuditEntry>,
    /// Other sources' indicators of the same value.
    pub same_value: Vec<Indicator>,
    /// Disposal records that name it.
    pub disposals: Vec<Disposal>,
    /// Public reports linked to it (contacts masked).
    pub reports: Vec<Report>,
}

/// Figures for the intel home page.
#[derive(Clone, Debug, Serialize)]
pub struct IntelOverview {
    pub counts: IntelCounts,
    pub index: IndexInfo,
    /// Most used tags.
    pub top_tags: Vec<(String, i64)>,
}

fn forbidden_source(s: &IndicatorSource) -> bool {
    matches!(s, IndicatorSource::PublicReport)
}

fn text(s: &str, max: usize) -> Result<String> {
    let t = s.trim();
    if t.chars().count() > max {
        return Err(AppError::Invalid(
            Msg::new("intel.error.text_too_long").arg("max", max),
        ));
    }
    Ok(t.to_string())
}

pub(crate) fn map_conflict(e: StoreError, key: &str) -> AppError {
    match e {
        StoreError::Conflict { .. } => AppError::conflict(key),
        StoreError::NotFound { .. } => AppError::not_found("error.not_found"),
        other => other.into(),
    }
}

impl App {
    /// The actor of `fanzha import/export/lookup` on the command line: the
    /// system acting with an analyst's intel permissions, audited as `cli`.
    pub fn cli_intel_actor(&self) -> Actor {
        let now = self.now();
        Actor {
            user: User {
                id: fanzha_core::UserId(0),
                username: "cli".into(),
                display_name: "命令行".into(),
                role: Role::Analyst,
                node_id: None,
                node_path: None,
                password_hash: String::new(),
                disabled: false,
                failed_logins: 0,
                locked_until: None,
                must_change_password: false,
                lang: "zh".into(),
                created_at: now,
                updated_at: now,
            },
            ip: String::new(),
            via: AuthVia::Cli,
        }
    }

    /// Counts, index state and top tags.
    pub async fn intel_overview(&self, actor: &Actor) -> Result<IntelOverview> {
        intel_gate(actor, Action::ViewIntel)?;
        self.ensure_intel().await?;
        Ok(IntelOverview {
            counts: self.store.intel_counts().await?,
            index: self.intel_index_info(),
            top_tags: self.store.indicator_tag_counts(20).await?,
        })
    }

    /// A page of indicators, newest first.
    pub async fn list_indicators(&self, actor: &Actor, q: &IndicatorQuery) -> Result<Page<Indicator>> {
        intel_gate(actor, Action::ViewIntel)?;
        let per_page = q.per_page.unwrap_or(50).clamp(1, 500);
        let page = q.page.unwrap_or(1).max(1);
        let filter = IndicatorFilter {
            kind: q.kind,
            statuses: q.status.into_iter().collect(),
            fraud_type: q.fraud_type,
            source: q.source.clone().filter(|s| !s.trim().is_empty()),
            min_confidence: q.min_confidence,
            value_prefix: q.q.as_deref().and_then(search_prefix),
            tag: q.tag.clone().filter(|s| !s.trim().is_empty()),
            valid_at: None,
            limit: Some(per_page),
            offset: (page - 1) * per_page,
        };
        let (items, total) = self.store.list_indicators(&filter).await?;
        Ok(Page {
            items,
            total,
            page,
            per_page,
        })
    }

    /// One indicator with its history, the other sources of its value, its
    /// disposal records and reports.
    pub async fn indicator_detail(&self, actor: &Actor, id: i64) -> Result<IndicatorDetail> {
        intel_gate(actor, Action::ViewIntel)?;
        let indicator = self
            .store
            .get_indicator(id)
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))?;
        let (history, _) = self
            .store
            .list_audit(&AuditFilter {
                target: Some(format!("indicator:{id}")),
                limit: Some(200),
                ..Default::default()
            })
            .await?;
        let same_value = self
            .store
            .indicators_by_value(indicator.kind, &indicator.value)
            .await?
            .into_iter()
            .filter(|i| i.id != id)
            .collect();
        let (disposals, _) = self
            .store
            .list_disposals(&DisposalFilter {
                indicator_id: Some(id),
                limit: Some(100),
                ..Default::default()
            })
            .await?;
        let reports = self.reports_of_indicator(id).await?;
        Ok(IndicatorDetail {
            live: indicator.is_live_at(self.now()),
            indicator,
            history,
            same_value,
            disposals,
            reports,
        })
    }

    async fn reports_of_indicator(&self, id: i64) -> Result<Vec<Report>> {
        let (list, _) = self
            .store
            .list_reports(&ReportFilter {
                indicator_id: Some(id),
                limit: Some(200),
                ..Default::default()
            })
            .await?;
        Ok(list
            .into_iter()
            .map(|mut r| {
                // Never hand the sealed contact or the address hash out.
                if let Some(c) = &mut r.contact {
                    c.enc.clear();
                    c.bidx.clear();
                }
                r.ip_hash.clear();
                r
            })
            .collect())
    }

    /// Creates an indicator (analysts). The value is normalised; a value the
    /// allowlist covers is refused with the entry's name.
    pub async fn create_indicator(&self, actor: &Actor, f: &IndicatorForm) -> Result<Indicator> {
        intel_gate(actor, Action::EditIntel)?;
        self.ensure_intel().await?;
        let (kind, value) = normalize_value(f.kind, &f.value)?;
        self.refuse_allowlisted(kind, &value).await?;
        let source = match &f.source {
            Some(s) if !s.trim().is_empty() => parse_source(s)?,
            _ => IndicatorSource::Analyst,
        };
        if forbidden_source(&source) {
            return Err(AppError::invalid("intel.error.bad_source"));
        }
        let status = f.status.unwrap_or(IndicatorStatus::Pending);
        if !matches!(status, IndicatorStatus::Pending | IndicatorStatus::Confirmed) {
            return Err(AppError::invalid("intel.error.bad_new_status"));
        }
        let confidence = f.confidence.unwrap_or(self.cfg.intel.analyst_confidence);
        if confidence > 100 {
            return Err(AppError::invalid("intel.error.bad_confidence"));
        }
        let now = self.now();
        let valid_from = f.valid_from.unwrap_or(now);
        let valid_until = f
            .valid_until
            .or_else(|| self.cfg.intel.lifetimes.until(kind, valid_from.max(now)));
        if valid_until.is_some_and(|u| u <= valid_from) {
            return Err(AppError::invalid("intel.error.until_before_from"));
        }
        let new = NewIndicator {
            kind,
            value,
            fraud_type: f.fraud_type.unwrap_or(FraudType::Other),
            confidence,
            source,
            status,
            valid_from,
            valid_until,
            tags: parse_tags(&f.tags),
            description: text(&f.description, 2_000)?,
            notes: text(&f.notes, 2_000)?,
            external_id: None,
        };
        let audit = self.audit(
            actor,
            "intel.indicator.create",
            "",
            format!("kind={kind} status={status}"),
        );
        let id = self
            .store
            .create_indicator(&new, &audit)
            .await
            .map_err(|e| map_conflict(e, "intel.error.duplicate"))?;
        self.intel_changed();
        self.store
            .get_indicator(id)
            .await?
            .ok_or_else(|| AppError::Internal("indicator vanished".into()))
    }

    /// Replaces an indicator's editable fields; returns the new version.
    pub async fn update_indicator(&self, actor: &Actor, id: i64, e: &IndicatorEdit) -> Result<i64> {
        intel_gate(actor, Action::EditIntel)?;
        if e.confidence > 100 {
            return Err(AppError::invalid("intel.error.bad_confidence"));
        }
        if e.valid_until.is_some_and(|u| u <= e.valid_from) {
            return Err(AppError::invalid("intel.error.until_before_from"));
        }
        let update = IndicatorUpdate {
            fraud_type: e.fraud_type,
            confidence: e.confidence,
            valid_from: e.valid_from,
            valid_until: e.valid_until,
            tags: parse_tags(&e.tags),
            description: text(&e.description, 2_000)?,
            notes: text(&e.notes, 2_000)?,
            external_id: e.external_id.clone(),
            expected_version: e.expected_version,
        };
        let audit = self.audit(actor, "intel.indicator.update", format!("indicator:{id}"), "");
        let v = self
            .store
            .update_indicator(id, &update, &audit)
            .await
            .map_err(|err| map_conflict(err, "intel.error.version_conflict"))?;
        self.intel_changed();
        Ok(v)
    }

    /// Deletes a mistaken indicator (withdrawals are revocations).
    pub async fn delete_indicator(&self, actor: &Actor, id: i64) -> Result<()> {
        intel_gate(actor, Action::EditIntel)?;
        let audit = self.audit(actor, "intel.indicator.delete", format!("indicator:{id}"), "");
        self.store
            .delete_indicator(id, &audit)
            .await
            .map_err(|e| map_conflict(e, "intel.error.in_disposal"))?;
        self.intel_changed();
        Ok(())
    }

    /// Applies a lifecycle action to up to [`MAX_BULK`] indicators in one
    /// transaction, with one audit entry per indicator that changed.
    /// Revoking needs a reason, which the entries carry.
    pub async fn bulk_indicators(
        &self,
        actor: &Actor,
        ids: &[i64],
        action: BulkAction,
        reason: &str,
    ) -> Result<BulkResult> {
        intel_gate(actor, Action::EditIntel)?;
        if ids.is_empty() {
            return Ok(BulkResult::default());
        }
        if ids.len() > MAX_BULK {
            return Err(AppError::Invalid(
                Msg::new("intel.error.too_many").arg("max", MAX_BULK),
            ));
        }
        let reason = text(reason, 200)?;
        if action == BulkAction::Revoke && reason.is_empty() {
            return Err(AppError::invalid("intel.error.reason_required"));
        }
        let now = self.now();
        let change = match action {
            BulkAction::Confirm => StatusChange::Confirm {
                renew: self.cfg.intel.lifetimes,
            },
            BulkAction::Dispose => StatusChange::Dispose,
            BulkAction::Revoke => StatusChange::Revoke,
            BulkAction::Extend { valid_until } => StatusChange::Extend { valid_until },
            BulkAction::ExtendDays { days } => StatusChange::Extend {
                valid_until: Timestamp(now.0 + i64::from(days.max(1)) * 86_400_000),
            },
        };
        if let StatusChange::Extend { valid_until } = change
            && valid_until <= now
        {
            return Err(AppError::invalid("intel.error.until_in_past"));
        }
        let audit = self.audit(actor, &format!("intel.indicator.{}", action.code()), "", reason);
        let outcomes = self.store.change_indicator_status(ids, change, &audit).await?;
        let mut r = BulkResult::default();
        for (id, o) in ids.iter().zip(outcomes) {
            match o {
                ChangeOutcome::Changed => r.changed.push(*id),
                ChangeOutcome::Unchanged => r.unchanged.push(*id),
                ChangeOutcome::Refused { status } => r.refused.push((*id, status)),
                ChangeOutcome::NotFound => r.not_found.push(*id),
            }
        }
        if !r.changed.is_empty() {
            self.intel_changed();
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_prefixes() {
        assert_eq!(search_prefix("  ").as_deref(), None);
        assert_eq!(search_prefix("13812345678").as_deref(), Some("+8613812345678"));
        assert_eq!(search_prefix("138").as_deref(), Some("+86138"));
        assert_eq!(search_prefix("Example.COM").as_deref(), Some("example.com"));
        assert_eq!(search_prefix("exam").as_deref(), Some("exam"));
    }

    #[test]
    fn sources_and_tags() {
        assert_eq!(parse_source("analyst").unwrap(), IndicatorSource::Analyst);
        assert_eq!(
            parse_source("feed:tw165").unwrap(),
            IndicatorSource::Feed("tw165".into())
        );
        assert_eq!(
            parse_source("165反诈").unwrap(),
            IndicatorSource::Feed("165反诈".into())
        );
        assert!(parse_source("").is_err());
        assert_eq!(parse_tags("a; b，c、 ;d"), vec!["a", "b", "c", "d"]);
    }
}
