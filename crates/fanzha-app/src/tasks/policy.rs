//! The dispatch policy as data, versioned and editable like the detection
//! rules: analysts read it, save a new version (validated first; its
//! `version` key set to the stored number) or make an earlier one active
//! again. Every save and activation is audited; tasks keep the plan they
//! were given.

use crate::detect::rules::set_rules_version;
use crate::{Actor, App, AppError, Result};
use fanzha_core::dispatch::PolicyDoc;
use fanzha_core::i18n::Msg;
use fanzha_core::roles::Action;
use fanzha_store::{DispatchPolicyVersion, NewDispatchPolicy};
use serde::Serialize;

/// The active policy and the saved versions (newest first, without text).
#[derive(Clone, Debug, Serialize)]
pub struct PolicyView {
    pub active: DispatchPolicyVersion,
    pub versions: Vec<PolicyVersionInfo>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PolicyVersionInfo {
    pub version: i64,
    pub name: String,
    pub author: String,
    pub note: String,
    pub created_at: fanzha_core::Timestamp,
    pub active: bool,
}

fn invalid(reason: String) -> AppError {
    AppError::Invalid(Msg::new("dispatch.policy_invalid").arg("reason", reason))
}

impl App {
    /// The dispatch policy in force and its history (staff who see tasks).
    pub async fn dispatch_policy_view(&self, actor: &Actor) -> Result<PolicyView> {
        self.gate(actor, Action::ViewTasks)?;
        self.dispatch_policy().await?;
        let versions = self.store.list_dispatch_policies(100).await?;
        let active = self
            .store
            .active_dispatch_policy()
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))?;
        Ok(PolicyView {
            active,
            versions: versions
                .into_iter()
                .map(|v| PolicyVersionInfo {
                    version: v.version,
                    name: v.name,
                    author: v.author,
                    note: v.note,
                    created_at: v.created_at,
                    active: v.active,
                })
                .collect(),
        })
    }

    /// Validates and saves a policy document as the next version and makes
    /// it active; new tasks are planned by it.
    pub async fn save_dispatch_policy(
        &self,
        actor: &Actor,
        text: &str,
        note: &str,
    ) -> Result<DispatchPolicyVersion> {
        self.gate(actor, Action::EditDispatch)?;
        if text.len() > fanzha_store::MAX_POLICY_TOML {
            return Err(invalid(format!(
                "longer than {} bytes",
                fanzha_store::MAX_POLICY_TOML
            )));
        }
        if note.chars().count() > fanzha_store::MAX_TASK_TEXT {
            return Err(invalid("the note is too long".into()));
        }
        PolicyDoc::parse(text).map_err(|e| invalid(e.to_string()))?;
        self.dispatch_policy().await?;
        let version = self.store.next_dispatch_policy_version().await?;
        let text = set_rules_version(text, version);
        let policy = PolicyDoc::parse(&text).map_err(|e| invalid(e.to_string()))?;
        let audit = self.audit(
            actor,
            "dispatch.policy.save",
            format!("dispatch_policy:{version}"),
            format!("version={version} name={}", policy.name()),
        );
        self.store
            .save_dispatch_policy(
                &NewDispatchPolicy {
                    version,
                    name: policy.name().to_string(),
                    toml: text,
                    note: note.trim().to_string(),
                },
                &audit,
            )
            .await?;
        self.store
            .get_dispatch_policy(version)
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))
    }

    /// Makes a saved version the active one again.
    pub async fn activate_dispatch_policy(
        &self,
        actor: &Actor,
        version: i64,
    ) -> Result<DispatchPolicyVersion> {
        self.gate(actor, Action::EditDispatch)?;
        let audit = self.audit(
            actor,
            "dispatch.policy.activate",
            format!("dispatch_policy:{version}"),
            "",
        );
        self.store.activate_dispatch_policy(version, &audit).await?;
        self.store
            .get_dispatch_policy(version)
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))
    }
}
