//! Reading and verifying the audit log.

use crate::{Actor, App, Page, Result};
use fanzha_core::audit::{AuditEntry, GENESIS, verify_chain};
use fanzha_core::roles::Action;
use fanzha_store::AuditFilter;
use serde::Serialize;

/// The outcome of `fanzha audit verify`.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    pub entries: i64,
    pub ok: bool,
    /// Where the chain first breaks, in words.
    pub problem: Option<String>,
}

const BATCH: usize = 5_000;

/// Deepest page a list may ask for; keeps offsets far from overflow.
const MAX_PAGE: usize = 1_000_000;

impl App {
    pub async fn audit_log(
        &self,
        actor: &Actor,
        mut filter: AuditFilter,
        page: usize,
        per_page: usize,
    ) -> Result<Page<AuditEntry>> {
        self.gate(actor, Action::ViewAudit)?;
        let per_page = per_page.clamp(1, 500);
        let page = page.clamp(1, MAX_PAGE);
        filter.limit = Some(per_page);
        filter.offset = (page - 1) * per_page;
        let (items, total) = self.store.list_audit(&filter).await?;
        Ok(Page {
            items,
            total,
            page,
            per_page,
        })
    }

    /// Walks the whole chain and checks every link and hash, and that the
    /// chain reaches the recorded head (so a cut-off tail shows too).
    pub async fn verify_audit(&self) -> Result<VerifyReport> {
        let mut prev = GENESIS.to_string();
        let mut next = 1i64;
        loop {
            let batch = self.store.audit_chain(next, BATCH).await?;
            if batch.is_empty() {
                break;
            }
            match verify_chain(prev.clone(), next, &batch) {
                Ok(h) => prev = h,
                Err(e) => {
                    return Ok(VerifyReport {
                        entries: next - 1,
                        ok: false,
                        problem: Some(e.to_string()),
                    });
                }
            }
            next += batch.len() as i64;
        }
        let head = self.store.audit_head().await?;
        if head.seq != next - 1 || head.hash != prev {
            return Ok(VerifyReport {
                entries: next - 1,
                ok: false,
                problem: Some(format!(
                    "the chain ends at entry {} but the recorded head is entry {} (entries were removed from the end)",
                    next - 1,
                    head.seq
                )),
            });
        }
        Ok(VerifyReport {
            entries: next - 1,
            ok: true,
            problem: None,
        })
    }
}
