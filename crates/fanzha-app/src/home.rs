//! The home page's figures: real counts in the user's scope.

use crate::{Actor, App, Result};
use fanzha_core::roles::Action;
use fanzha_store::ScopeCounts;

impl App {
    pub async fn home(&self, actor: &Actor) -> Result<ScopeCounts> {
        let scope = self.gate(actor, Action::ViewOrg)?;
        let mut c = self.store.scope_counts(&scope).await?;
        if !actor.can(Action::ViewResidents) {
            c.residents = 0;
            c.residents_by_tag.clear();
        }
        Ok(c)
    }
}

/// Open leads in the actor's scope, by grade (most severe first).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OpenLeads {
    pub total: i64,
    pub by_grade: Vec<(fanzha_core::Grade, i64)>,
}

impl App {
    /// The home page's lead figures: open leads in scope by grade; `None`
    /// for a role that does not see leads.
    pub async fn home_leads(&self, actor: &Actor) -> Result<Option<OpenLeads>> {
        if !actor.can(Action::ViewLeads) {
            return Ok(None);
        }
        let scope = self.gate(actor, Action::ViewLeads)?;
        let mut by_grade = Vec::with_capacity(4);
        for g in [
            fanzha_core::Grade::Critical,
            fanzha_core::Grade::High,
            fanzha_core::Grade::Medium,
            fanzha_core::Grade::Low,
        ] {
            let filter = fanzha_store::LeadFilter {
                grade: Some(g),
                status: Some(fanzha_store::LeadStatus::Open),
                limit: Some(0),
                ..Default::default()
            };
            let (_, n) = self.store.list_leads(&scope, &filter).await?;
            by_grade.push((g, n));
        }
        Ok(Some(OpenLeads {
            total: by_grade.iter().map(|(_, n)| n).sum(),
            by_grade,
        }))
    }
}
