//! Disposal records (处置记录): a request to an operator, bank, platform or
//! registrar to act on indicators (suspend numbers, freeze accounts, take
//! down or block domains), and its outcome. `requested → in_progress →
//! done | rejected`; when a record is done its confirmed indicators become
//! `disposed` in the same transaction.

use super::service::{intel_gate, map_conflict};
use crate::{Actor, App, AppError, Page, Result};
use fanzha_core::i18n::Msg;
use fanzha_core::roles::Action;
use fanzha_store::{Disposal, DisposalFilter, DisposalStatus, DisposalTarget, NewDisposal};
use serde::Deserialize;

/// Most indicators named in one record.
pub const MAX_DISPOSAL_ITEMS: usize = 10_000;

/// A disposal request as entered.
#[derive(Clone, Debug, Deserialize)]
pub struct DisposalForm {
    #[serde(default)]
    pub indicator_ids: Vec<i64>,
    /// What was sent when the record covers a whole export (its filter).
    #[serde(default)]
    pub filter_description: String,
    pub target: DisposalTarget,
    /// e.g. 中国移动某分公司.
    pub target_name: String,
    #[serde(default)]
    pub request_note: String,
}

/// A status change of a record.
#[derive(Clone, Debug, Deserialize)]
pub struct DisposalUpdate {
    pub status: DisposalStatus,
    #[serde(default)]
    pub result: String,
    #[serde(default)]
    pub expected_version: Option<i64>,
}

/// Filters of the disposal list.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct DisposalQuery {
    #[serde(default)]
    pub status: Option<DisposalStatus>,
    #[serde(default)]
    pub target: Option<DisposalTarget>,
    #[serde(default)]
    pub indicator_id: Option<i64>,
    #[serde(default)]
    pub page: Option<usize>,
    #[serde(default)]
    pub per_page: Option<usize>,
}

impl App {
    /// Records a disposal request (analysts).
    pub async fn create_disposal(&self, actor: &Actor, f: &DisposalForm) -> Result<Disposal> {
        intel_gate(actor, Action::ManageDisposal)?;
        if f.indicator_ids.len() > MAX_DISPOSAL_ITEMS {
            return Err(AppError::Invalid(
                Msg::new("intel.error.too_many").arg("max", MAX_DISPOSAL_ITEMS),
            ));
        }
        let d = NewDisposal {
            indicator_ids: f.indicator_ids.clone(),
            filter_description: f.filter_description.clone(),
            target: f.target,
            target_name: f.target_name.clone(),
            request_note: f.request_note.clone(),
        };
        let audit = self.audit(
            actor,
            "intel.disposal.create",
            "",
            format!("target={} indicators={}", f.target.code(), d.indicator_ids.len()),
        );
        let id = self.store.create_disposal(&d, &audit).await?;
        self.store
            .get_disposal(id)
            .await?
            .ok_or_else(|| AppError::Internal("disposal vanished".into()))
    }

    /// Moves a record on with its result (analysts).
    pub async fn update_disposal(&self, actor: &Actor, id: i64, u: &DisposalUpdate) -> Result<Disposal> {
        intel_gate(actor, Action::ManageDisposal)?;
        let audit = self.audit(
            actor,
            "intel.disposal.update",
            format!("disposal:{id}"),
            format!("status={}", u.status.code()),
        );
        self.store
            .update_disposal(id, u.status, &u.result, u.expected_version, &audit)
            .await
            .map_err(|e| match e {
                fanzha_store::StoreError::Invalid { .. } => {
                    AppError::Invalid(Msg::new("intel.error.disposal_move").arg("status", u.status.code()))
                }
                other => map_conflict(other, "intel.error.version_conflict"),
            })?;
        if u.status == DisposalStatus::Done {
            self.intel_changed();
        }
        self.store
            .get_disposal(id)
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))
    }

    pub async fn get_disposal(&self, actor: &Actor, id: i64) -> Result<Disposal> {
        intel_gate(actor, Action::ViewIntel)?;
        self.store
            .get_disposal(id)
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))
    }

    /// A page of records, newest first.
    pub async fn list_disposals(&self, actor: &Actor, q: &DisposalQuery) -> Result<Page<Disposal>> {
        intel_gate(actor, Action::ViewIntel)?;
        let per_page = q.per_page.unwrap_or(50).clamp(1, 500);
        let page = q.page.unwrap_or(1).max(1);
        let (items, total) = self
            .store
            .list_disposals(&DisposalFilter {
                status: q.status,
                target: q.target,
                indicator_id: q.indicator_id,
                limit: Some(per_page),
                offset: (page - 1) * per_page,
            })
            .await?;
        Ok(Page {
            items,
            total,
            page,
            per_page,
        })
    }
}
