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
