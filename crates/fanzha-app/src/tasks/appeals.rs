//! Appeals (申诉), as the Anti-Telecom and Online Fraud Law asks: the owner
//! of a number, account or URL says it is wrongly flagged. A public form
//! without login (rate-limited per address, the address kept only as a
//! keyed hash, the contact sealed); an analyst decides revoke or keep with
//! a reason; revoking revokes every indicator of that value; the appellant
//! is told by SMS; all of it audited.

use super::stats::AppealFigures;
use crate::crypto::Field;
use crate::intel::allowlist::normalize_value;
use crate::{Actor, App, AppError, Page, Result};
use fanzha_core::i18n::{Lang, Msg};
use fanzha_core::roles::Action;
use fanzha_core::time::Date;
use fanzha_core::{IndicatorKind, Timestamp, mask, phone};
use fanzha_store::{
    Appeal, AppealDecision, AppealFilter, AppealStatus, DecideOutcome, IndicatorStatus, NewAppeal,
    NewNotification, NotifyChannel, NotifyPurpose, NotifyStatus, SealedPhone, StatusChange, TemplateKind,
};
use serde::{Deserialize, Serialize};

/// Longest appeal reason, in characters.
pub const MAX_REASON: usize = 1000;

/// The public form.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct AppealForm {
    /// The kind of the value; detected when absent.
    #[serde(default)]
    pub kind: Option<IndicatorKind>,
    pub value: String,
    /// A phone to tell the appellant the decision.
    #[serde(default)]
    pub contact: Option<String>,
    pub reason: String,
}

/// What the appellant gets back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppealReceipt {
    pub reference: String,
    pub kind: IndicatorKind,
}

/// What the appellant may see of their appeal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppealPublicStatus {
    pub reference: String,
    pub status: AppealStatus,
    pub decision_reason: String,
    pub decided_at: Option<Timestamp>,
}

/// An appeal as the review queue shows it (contact masked).
#[derive(Clone, Debug, Serialize)]
pub struct AppealView {
    #[serde(flatten)]
    pub appeal: Appeal,
    pub contact_masked: Option<String>,
    /// How many indicators hold the value, and how many of them are live.
    pub indicators: usize,
    pub live_indicators: usize,
}

/// Filters of the review queue.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct AppealQuery {
    #[serde(default)]
    pub status: Option<AppealStatus>,
    #[serde(default)]
    pub page: Option<usize>,
    #[serde(default)]
    pub per_page: Option<usize>,
}

/// An analyst's decision.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct AppealDecisionForm {
    /// `revoked` or `kept`.
    pub decision: AppealStatus,
    pub reason: String,
}

const REF_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";

fn reference(date: Date) -> Result<String> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|_| AppError::Internal("random source failed".into()))?;
    let tail: String = bytes
        .iter()
        .map(|b| char::from(REF_ALPHABET[usize::from(*b) % REF_ALPHABET.len()]))
        .collect();
    Ok(format!(
        "SS{:04}{:02}{:02}-{tail}",
        date.year, date.month, date.day
    ))
}

impl App {
    /// Records a public appeal (no login). `ip` is rate-limited and kept
    /// only as a keyed hash.
    pub async fn submit_appeal(&self, f: &AppealForm, ip: &str) -> Result<AppealReceipt> {
        let now = self.now();
        if !self.intel.report_limiter.allow(ip, now) {
            return Err(AppError::RateLimited);
        }
        let (kind, value) = normalize_value(f.kind, &f.value)?;
        let reason = f.reason.trim();
        if reason.is_empty() {
            return Err(AppError::invalid("appeal.reason_required"));
        }
        if reason.chars().count() > MAX_REASON {
            return Err(AppError::Invalid(
                Msg::new("appeal.reason_too_long").arg("max", MAX_REASON),
            ));
        }
        let contact = match f.contact.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => {
                let e164 = phone::normalize(c).map_err(|_| AppError::invalid("intel.error.bad_contact"))?;
                Some(SealedPhone {
                    enc: self.cipher.seal(Field::Phone, &e164)?,
                    bidx: self.cipher.blind_index(Field::Phone, &e164),
                    masked: mask::phone(&e164),
                })
            }
        };
        let ip_hash = self
            .cipher
            .blind_index(Field::Phone, &format!("appeal-ip:{}", ip.trim()));
        let new = NewAppeal {
            reference: reference(Date::from_timestamp(now))?,
            kind,
            value,
            contact,
            reason: reason.to_string(),
            ip_hash: ip_hash.clone(),
        };
        let audit = self.audit_system(
            "public",
            "appeal.create",
            "",
            format!("kind={kind}"),
            &hex::encode(&ip_hash[..8]),
        );
        self.store.create_appeal(&new, &audit).await?;
        Ok(AppealReceipt {
            reference: new.reference,
            kind,
        })
    }

    /// The state of an appeal by its reference, for the appellant.
    pub async fn appeal_status(&self, reference: &str, ip: &str) -> Result<AppealPublicStatus> {
        if !self.intel.lookup_limiter.allow(ip, self.now()) {
            return Err(AppError::RateLimited);
        }
        let a = self
            .store
            .appeal_by_reference(reference.trim())
            .await?
            .ok_or_else(|| AppError::not_found("appeal.not_found"))?;
        Ok(AppealPublicStatus {
            reference: a.reference,
            status: a.status,
            decision_reason: a.decision_reason,
            decided_at: a.decided_at,
        })
    }

    async fn appeal_view(&self, a: Appeal) -> Result<AppealView> {
        let found = self.store.indicators_by_value(a.kind, &a.value).await?;
        let live = found
            .iter()
            .filter(|i| matches!(i.status, IndicatorStatus::Pending | IndicatorStatus::Confirmed))
            .count();
        Ok(AppealView {
            contact_masked: a.contact.as_ref().map(|c| c.masked.clone()),
            indicators: found.len(),
            live_indicators: live,
            appeal: a,
        })
    }

    /// The review queue: oldest pending first when filtering by status.
    pub async fn list_appeals(&self, actor: &Actor, q: &AppealQuery) -> Result<Page<AppealView>> {
        self.gate(actor, Action::ReviewAppeals)?;
        let per_page = q.per_page.unwrap_or(50).clamp(1, 500);
        let page = q.page.unwrap_or(1).clamp(1, 1_000_000);
        let (items, total) = self
            .store
            .list_appeals(&AppealFilter {
                status: q.status,
                limit: Some(per_page),
                offset: (page - 1).saturating_mul(per_page),
                ..Default::default()
            })
            .await?;
        let mut out = Vec::with_capacity(items.len());
        for a in items {
            out.push(self.appeal_view(a).await?);
        }
        Ok(Page {
            items: out,
            total,
            page,
            per_page,
        })
    }

    pub async fn get_appeal(&self, actor: &Actor, id: i64) -> Result<AppealView> {
        self.gate(actor, Action::ReviewAppeals)?;
        let a = self
            .store
            .get_appeal(id)
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))?;
        self.appeal_view(a).await
    }

    /// Decides an appeal: revoke (every live indicator of the value is
    /// revoked) or keep, with a reason; the appellant is told by SMS when
    /// they left a number. The same decision again changes nothing.
    pub async fn decide_appeal(&self, actor: &Actor, id: i64, f: &AppealDecisionForm) -> Result<AppealView> {
        self.gate(actor, Action::ReviewAppeals)?;
        if f.decision == AppealStatus::Pending {
            return Err(AppError::invalid("appeal.bad_decision"));
        }
        let reason = f.reason.trim();
        if reason.is_empty() {
            return Err(AppError::invalid("appeal.decision_reason_required"));
        }
        if reason.chars().count() > MAX_REASON {
            return Err(AppError::Invalid(
                Msg::new("appeal.reason_too_long").arg("max", MAX_REASON),
            ));
        }
        let a = self
            .store
            .get_appeal(id)
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))?;
        if a.status == f.decision {
            return self.appeal_view(a).await;
        }
        if a.status != AppealStatus::Pending {
            return Err(AppError::conflict("appeal.decided"));
        }
        let mut revoked = Vec::new();
        if f.decision == AppealStatus::Revoked {
            let ids: Vec<i64> = self
                .store
                .indicators_by_value(a.kind, &a.value)
                .await?
                .into_iter()
                .filter(|i| {
                    matches!(
                        i.status,
                        IndicatorStatus::Pending | IndicatorStatus::Confirmed | IndicatorStatus::Disposed
                    )
                })
                .map(|i| i.id)
                .collect();
            if !ids.is_empty() {
                let audit = self.audit(
                    actor,
                    "intel.indicator.revoke",
                    "",
                    format!("appeal:{} {reason}", a.reference),
                );
                self.store
                    .change_indicator_status(&ids, StatusChange::Revoke, &audit)
                    .await?;
                self.intel_changed();
            }
            revoked = ids;
        }
        let now = self.now();
        let notification = match &a.contact {
            Some(to) => {
                let key = if f.decision == AppealStatus::Revoked {
                    "revoked"
                } else {
                    "kept"
                };
                let over = self
                    .store
                    .template_overrides()
                    .await?
                    .into_iter()
                    .find(|o| o.kind == TemplateKind::Appeal && o.key == key)
                    .map(|o| o.body.replace("{reference}", &a.reference));
                let body = over.unwrap_or_else(|| {
                    Msg::new(&format!("appeal.sms.{key}"))
                        .arg("reference", &a.reference)
                        .render(Lang::Zh)
                });
                Some(NewNotification {
                    task_id: None,
                    appeal_id: Some(id),
                    user_id: None,
                    person_key: None,
                    channel: NotifyChannel::Sms,
                    purpose: NotifyPurpose::AppealDecision,
                    to: Some(to.clone()),
                    template_id: format!("appeal:{key}"),
                    body,
                    idempotency_key: format!("appeal-{id}-{key}"),
                    status: NotifyStatus::Queued,
                    next_attempt_at: Some(now),
                    created_at: now,
                })
            }
            None => None,
        };
        let decision = AppealDecision {
            status: f.decision,
            reason: reason.to_string(),
            indicator_ids: revoked,
            decided_by: actor.user.id.0,
            at: now,
            notification,
        };
        let audit = self.audit(actor, "appeal.decide", format!("appeal:{id}"), "");
        match self.store.decide_appeal(id, &decision, &audit).await? {
            DecideOutcome::Decided | DecideOutcome::Unchanged => {}
        }
        self.wake_tasks();
        let a = self
            .store
            .get_appeal(id)
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))?;
        self.appeal_view(a).await
    }

    /// Counts and turnaround of appeals (dashboard and metrics).
    pub(crate) async fn appeal_figures(&self) -> Result<AppealFigures> {
        let (items, total) = self
            .store
            .list_appeals(&AppealFilter {
                limit: Some(100_000),
                ..Default::default()
            })
            .await?;
        let mut f = AppealFigures {
            received: total.max(0) as u64,
            ..Default::default()
        };
        let mut hours = Vec::new();
        for a in &items {
            match a.status {
                AppealStatus::Pending => f.pending += 1,
                AppealStatus::Revoked => f.revoked += 1,
                AppealStatus::Kept => f.kept += 1,
            }
            if let Some(d) = a.decided_at {
                hours.push((d.0 - a.created_at.0) as f64 / 3_600_000.0);
            }
        }
        hours.sort_by(|a, b| a.total_cmp(b));
        f.median_turnaround_hours = if hours.is_empty() {
            None
        } else {
            let n = hours.len();
            Some(if n % 2 == 1 {
                hours[n / 2]
            } else {
                (hours[n / 2 - 1] + hours[n / 2]) / 2.0
            })
        };
        Ok(f)
    }
}

/// Appeal statuses a form may set.
pub fn decision_of(s: &str) -> Option<AppealStatus> {
    match s.trim() {
        "revoked" | "revoke" | "撤销" => Some(AppealStatus::Revoked),
        "kept" | "keep" | "维持" => Some(AppealStatus::Kept),
        _ => None,
    }
}
