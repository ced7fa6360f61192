//! Public reports (举报): anyone may report a number, URL, account…; the
//! report is kept with a reference number for the reporter, and the value
//! becomes a pending indicator (source `public_report`, low confidence)
//! for analysts to review. Reports are rate-limited and length-limited per
//! client address. The reporter's optional contact phone is personal data:
//! sealed like residents' phones and shown masked; revealing it is
//! audited. The client address is kept only as a keyed hash.
//!
//! A report of an allowlisted value (a spoofed 95588, say) is recorded with
//! status `allowlisted` and makes no indicator.

use super::allowlist::normalize_value;
use super::service::intel_gate;
use crate::crypto::Field;
use crate::{Actor, App, AppError, Page, Result};
use fanzha_core::i18n::Msg;
use fanzha_core::roles::Action;
use fanzha_core::time::Date;
use fanzha_core::{FraudType, IndicatorKind, mask, phone};
use fanzha_store::{
    IndicatorSource, IndicatorStatus, NewIndicator, NewReport, Report, ReportFilter, ReportStatus,
    SealedPhone, StatusChange,
};
use serde::{Deserialize, Serialize};

/// A report as the public submits it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PublicReportForm {
    /// Detected from the value when missing.
    #[serde(default)]
    pub kind: Option<IndicatorKind>,
    pub value: String,
    #[serde(default)]
    pub fraud_type: Option<FraudType>,
    /// What happened; at most [`super::IntelConfig::max_report_chars`].
    #[serde(default)]
    pub description: String,
    /// A phone number to call the reporter back on.
    #[serde(default)]
    pub contact: Option<String>,
}

/// What the reporter gets back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReportReceipt {
    /// e.g. `JB20260101-7K3QX9`.
    pub reference: String,
    pub kind: IndicatorKind,
}

/// A report as staff see it: the contact masked.
#[derive(Clone, Debug, Serialize)]
pub struct ReportView {
    pub id: i64,
    pub reference: String,
    pub kind: IndicatorKind,
    pub value: String,
    pub fraud_type: Option<FraudType>,
    pub description: String,
    pub contact_masked: Option<String>,
    pub status: ReportStatus,
    pub indicator_id: Option<i64>,
    pub review_note: String,
    pub reviewed_by: Option<i64>,
    pub created_at: fanzha_core::Timestamp,
    pub updated_at: fanzha_core::Timestamp,
}

impl From<Report> for ReportView {
    fn from(r: Report) -> Self {
        ReportView {
            id: r.id,
            reference: r.reference,
            kind: r.kind,
            value: r.value,
            fraud_type: r.fraud_type,
            description: r.description,
            contact_masked: r.contact.map(|c| c.masked),
            status: r.status,
            indicator_id: r.indicator_id,
            review_note: r.review_note,
            reviewed_by: r.reviewed_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Filters of the report list.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ReportQuery {
    #[serde(default)]
    pub status: Option<ReportStatus>,
    #[serde(default)]
    pub kind: Option<IndicatorKind>,
    #[serde(default)]
    pub page: Option<usize>,
    #[serde(default)]
    pub per_page: Option<usize>,
}

/// What to do with the report's indicator when reviewing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewIndicator {
    /// Leave it as it is.
    Keep,
    /// Confirm it.
    Confirm,
    /// Revoke it (only an indicator that came from public reports).
    Revoke,
}

/// An analyst's review of a report.
#[derive(Clone, Debug, Deserialize)]
pub struct ReportReview {
    /// `accepted` or `rejected`.
    pub status: ReportStatus,
    #[serde(default)]
    pub note: String,
    #[serde(default = "keep")]
    pub indicator: ReviewIndicator,
}

fn keep() -> ReviewIndicator {
    ReviewIndicator::Keep
}

/// Crockford's base32 without look-alikes.
const REF_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";

fn reference(date: Date) -> Result<String> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|_| AppError::Internal("random source failed".into()))?;
    let tail: String = bytes
        .iter()
        .map(|b| char::from(REF_ALPHABET[usize::from(*b) % REF_ALPHABET.len()]))
        .collect();
    Ok(format!(
        "JB{:04}{:02}{:02}-{tail}",
        date.year, date.month, date.day
    ))
}

impl App {
    /// Records a public report (no login). `ip` is the client address: it
    /// is rate-limited, and stored only as a keyed hash.
    pub async fn submit_report(&self, f: &PublicReportForm, ip: &str) -> Result<ReportReceipt> {
        let now = self.now();
        if !self.intel.report_limiter.allow(ip, now) {
            return Err(AppError::RateLimited);
        }
        self.ensure_intel().await?;
        let (kind, value) = normalize_value(f.kind, &f.value)?;
        let description = f.description.trim();
        let max = self.cfg.intel.max_report_chars;
        if description.chars().count() > max {
            return Err(AppError::Invalid(
                Msg::new("intel.error.text_too_long").arg("max", max),
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
        let allowlisted = !self.intel.allow_hits(kind, &value).is_empty();
        let ip_hash = self
            .cipher
            .blind_index(Field::Phone, &format!("report-ip:{}", ip.trim()));
        let report = NewReport {
            reference: reference(Date::from_timestamp(now))?,
            kind,
            value: value.clone(),
            fraud_type: f.fraud_type,
            description: description.to_string(),
            contact,
            ip_hash: ip_hash.clone(),
            status: if allowlisted {
                ReportStatus::Allowlisted
            } else {
                ReportStatus::New
            },
        };
        let indicator = (!allowlisted).then(|| NewIndicator {
            kind,
            value,
            fraud_type: f.fraud_type.unwrap_or(FraudType::Other),
            confidence: self.cfg.intel.report_confidence,
            source: IndicatorSource::PublicReport,
            status: IndicatorStatus::Pending,
            valid_from: now,
            valid_until: self.cfg.intel.lifetimes.until(kind, now),
            tags: Vec::new(),
            description: String::new(),
            notes: String::new(),
            external_id: None,
        });
        let audit = self.audit_system(
            "public",
            "intel.report.create",
            "",
            format!("kind={kind}{}", if allowlisted { " allowlisted" } else { "" }),
            &hex::encode(&ip_hash[..8]),
        );
        let created = self
            .store
            .create_report(&report, indicator.as_ref(), &audit)
            .await?;
        if created.indicator_created {
            self.intel_changed();
        }
        Ok(ReportReceipt {
            reference: report.reference,
            kind,
        })
    }

    /// The status of a report by its reference, for the reporter
    /// (rate-limited like reports).
    pub async fn public_report_status(&self, reference: &str, ip: &str) -> Result<ReportStatus> {
        if !self.intel.lookup_limiter.allow(ip, self.now()) {
            return Err(AppError::RateLimited);
        }
        self.store
            .report_by_reference(reference)
            .await?
            .map(|r| r.status)
            .ok_or_else(|| AppError::not_found("error.not_found"))
    }

    /// A page of reports, newest first (analysts).
    pub async fn list_reports(&self, actor: &Actor, q: &ReportQuery) -> Result<Page<ReportView>> {
        intel_gate(actor, Action::ReviewReports)?;
        let per_page = q.per_page.unwrap_or(50).clamp(1, 500);
        let page = q.page.unwrap_or(1).max(1);
        let (items, total) = self
            .store
            .list_reports(&ReportFilter {
                status: q.status,
                kind: q.kind,
                indicator_id: None,
                limit: Some(per_page),
                offset: (page - 1) * per_page,
            })
            .await?;
        Ok(Page {
            items: items.into_iter().map(ReportView::from).collect(),
            total,
            page,
            per_page,
        })
    }

    pub async fn get_report(&self, actor: &Actor, id: i64) -> Result<ReportView> {
        intel_gate(actor, Action::ReviewReports)?;
        self.store
            .get_report(id)
            .await?
            .map(ReportView::from)
            .ok_or_else(|| AppError::not_found("error.not_found"))
    }

    /// The reporter's full contact number (audited, 查询留痕).
    pub async fn reveal_report_contact(&self, actor: &Actor, id: i64) -> Result<String> {
        intel_gate(actor, Action::ReviewReports)?;
        intel_gate(actor, Action::RevealPhone)?;
        let r = self
            .store
            .get_report(id)
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))?;
        let c = r
            .contact
            .ok_or_else(|| AppError::not_found("intel.error.no_contact"))?;
        let full = self.cipher.open(Field::Phone, &c.enc)?;
        let audit = self.audit(actor, "intel.report.reveal_contact", format!("report:{id}"), "");
        self.store.append_audit(&audit).await?;
        Ok(full)
    }

    /// Reviews a report and, when asked, confirms or revokes its indicator.
    pub async fn review_report(&self, actor: &Actor, id: i64, r: &ReportReview) -> Result<ReportView> {
        intel_gate(actor, Action::ReviewReports)?;
        if !matches!(r.status, ReportStatus::Accepted | ReportStatus::Rejected) {
            return Err(AppError::invalid("intel.error.bad_review"));
        }
        let note = r.note.trim();
        if note.chars().count() > 2_000 {
            return Err(AppError::Invalid(
                Msg::new("intel.error.text_too_long").arg("max", 2_000),
            ));
        }
        let report = self
            .store
            .get_report(id)
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))?;
        // Check the indicator action before writing anything.
        let change = match (report.indicator_id, r.indicator) {
            (None, _) | (_, ReviewIndicator::Keep) => None,
            (Some(iid), ReviewIndicator::Confirm) => Some((
                iid,
                StatusChange::Confirm {
                    renew: self.cfg.intel.lifetimes,
                },
                "intel.indicator.confirm",
            )),
            (Some(iid), ReviewIndicator::Revoke) => {
                let ind = self.store.get_indicator(iid).await?;
                if ind.is_some_and(|i| i.source != IndicatorSource::PublicReport) {
                    return Err(AppError::invalid("intel.error.revoke_not_report"));
                }
                Some((iid, StatusChange::Revoke, "intel.indicator.revoke"))
            }
        };
        let audit = self.audit(
            actor,
            "intel.report.review",
            format!("report:{id}"),
            format!("status={}", r.status.code()),
        );
        self.store.review_report(id, r.status, note, &audit).await?;
        if let Some((iid, change, action)) = change {
            let audit = self.audit(actor, action, "", format!("report:{id}"));
            self.store.change_indicator_status(&[iid], change, &audit).await?;
            self.intel_changed();
        }
        self.get_report(actor, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_dated_and_distinct() {
        let d = Date::new(2026, 3, 5).unwrap();
        let a = reference(d).unwrap();
        let b = reference(d).unwrap();
        assert!(a.starts_with("JB20260305-"), "{a}");
        assert_eq!(a.len(), "JB20260305-".len() + 6);
        assert!(
            a["JB20260305-".len()..]
                .bytes()
                .all(|c| REF_ALPHABET.contains(&c))
        );
        assert_ne!(a, b);
    }
}
