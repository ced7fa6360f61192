//! Roles (DESIGN.md §1) and the actions each may take. The permission gate in
//! `fanzha-app` combines this table with the data scope of the user's org node.

use crate::taxonomy::vocabulary;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

pub use crate::taxonomy::UnknownCode;

vocabulary!(
    /// A user's role.
    Role, "role" {
        Analyst = ("analyst", "研判员", "Analyst"),
        Officer = ("officer", "民警", "Police officer"),
        GridWorker = ("grid_worker", "网格员/村干部", "Grid worker / village cadre", "网格员", "村干部"),
        UnitLiaison = ("unit_liaison", "单位联络员", "Unit liaison"),
        Leader = ("leader", "领导", "Leader"),
        Admin = ("admin", "管理员", "Administrator"),
    }
);

/// Something a user may ask to do. Data scope is checked separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    ViewOrg,
    EditOrg,
    ViewResidents,
    EditResidents,
    ImportResidents,
    ExportResidents,
    /// See a full phone number instead of the masked one.
    RevealPhone,
    /// See a full ID number instead of the masked one.
    RevealIdNumber,
    ManageUsers,
    ViewAudit,
    ManageOwnTokens,
    /// See the intelligence base: indicators, their sources and notes.
    ViewIntel,
    /// Create, edit, confirm, revoke and extend indicators.
    EditIntel,
    /// Import indicator files and feeds.
    ImportIntel,
    /// Export block lists and spreadsheets of indicators.
    ExportIntel,
    /// Check a value against the intelligence base (风险查询).
    LookupIntel,
    /// Add and remove allowlist (白名单) entries.
    ManageAllowlist,
    /// Review public reports (举报).
    ReviewReports,
    /// Record disposal requests (处置) and their outcomes.
    ManageDisposal,
    /// See leads (线索) in the user's scope, with their evidence (masked).
    ViewLeads,
    /// Change the detection rules and run backtests.
    EditRules,
    /// Send events to the detection pipeline (machine feeds, `fanzha ingest`).
    IngestEvents,
    /// Import leads pushed by an upper-level center (上级推送).
    ImportLeads,
    /// See dissuasion tasks (劝阻任务) in the user's scope or assigned to
    /// them, with the person's locating information (masked), and their
    /// statistics.
    ViewTasks,
    /// Accept a task, record contact attempts and the outcome.
    WorkTasks,
    /// Escalate a task by hand to the next person up.
    EscalateTasks,
    /// Change the dispatch policy and the message templates.
    EditDispatch,
    /// Review appeals (申诉) against a wrong flag.
    ReviewAppeals,
    /// Export the results of upper-level pushes (反馈上级).
    ExportFeedback,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::ViewOrg,
        Action::EditOrg,
        Action::ViewResidents,
        Action::EditResidents,
        Action::ImportResidents,
        Action::ExportResidents,
        Action::RevealPhone,
        Action::RevealIdNumber,
        Action::ManageUsers,
        Action::ViewAudit,
        Action::ManageOwnTokens,
        Action::ViewIntel,
        Action::EditIntel,
        Action::ImportIntel,
        Action::ExportIntel,
        Action::LookupIntel,
        Action::ManageAllowlist,
        Action::ReviewReports,
        Action::ManageDisposal,
        Action::ViewLeads,
        Action::EditRules,
        Action::IngestEvents,
        Action::ImportLeads,
        Action::ViewTasks,
        Action::WorkTasks,
        Action::EscalateTasks,
        Action::EditDispatch,
        Action::ReviewAppeals,
        Action::ExportFeedback,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            Action::ViewOrg => "view_org",
            Action::EditOrg => "edit_org",
            Action::ViewResidents => "view_residents",
            Action::EditResidents => "edit_residents",
            Action::ImportResidents => "import_residents",
            Action::ExportResidents => "export_residents",
            Action::RevealPhone => "reveal_phone",
            Action::RevealIdNumber => "reveal_id_number",
            Action::ManageUsers => "manage_users",
            Action::ViewAudit => "view_audit",
            Action::ManageOwnTokens => "manage_own_tokens",
            Action::ViewIntel => "view_intel",
            Action::EditIntel => "edit_intel",
            Action::ImportIntel => "import_intel",
            Action::ExportIntel => "export_intel",
            Action::LookupIntel => "lookup_intel",
            Action::ManageAllowlist => "manage_allowlist",
            Action::ReviewReports => "review_reports",
            Action::ManageDisposal => "manage_disposal",
            Action::ViewLeads => "view_leads",
            Action::EditRules => "edit_rules",
            Action::IngestEvents => "ingest_events",
            Action::ImportLeads => "import_leads",
            Action::ViewTasks => "view_tasks",
            Action::WorkTasks => "work_tasks",
            Action::EscalateTasks => "escalate_tasks",
            Action::EditDispatch => "edit_dispatch",
            Action::ReviewAppeals => "review_appeals",
            Action::ExportFeedback => "export_feedback",
        }
    }
}

impl Role {
    /// The role-action table. Everything not listed is denied.
    pub const fn can(self, action: Action) -> bool {
        use Action::*;
        use Role::*;
        match action {
            ViewOrg => true,
            EditOrg | ManageUsers => matches!(self, Admin),
            ViewResidents => matches!(self, Analyst | Officer | GridWorker | Leader | Admin),
            EditResidents | ImportResidents => matches!(self, Analyst | Officer | GridWorker | Admin),
            ExportResidents => matches!(self, Analyst | Officer | GridWorker | Leader | Admin),
            RevealPhone => matches!(self, Analyst | Officer | GridWorker),
            RevealIdNumber => matches!(self, Analyst | Officer),
            ViewAudit => matches!(self, Admin | Leader),
            ManageOwnTokens => matches!(self, Analyst | Admin),
            ViewIntel => matches!(self, Analyst | Officer | Leader | Admin),
            EditIntel | ImportIntel | ReviewReports | ManageDisposal => matches!(self, Analyst),
            ExportIntel => matches!(self, Analyst | Leader),
            LookupIntel => matches!(self, Analyst | Officer | GridWorker),
            ManageAllowlist => matches!(self, Admin),
            // Leads name people being defrauded: the staff who act on them,
            // inside their scope; not the administrator, not unit liaisons.
            ViewLeads => matches!(self, Analyst | Officer | GridWorker | Leader),
            EditRules | ImportLeads => matches!(self, Analyst),
            // Feeds run under an analyst's or the administrator's API token.
            IngestEvents => matches!(self, Analyst | Admin),
            // Dissuasion tasks: the people who work them and those who
            // supervise, inside their scope (plus the tasks assigned to them).
            ViewTasks | EscalateTasks => matches!(self, Analyst | Officer | GridWorker | Leader),
            WorkTasks => matches!(self, Analyst | Officer | GridWorker),
            EditDispatch | ReviewAppeals => matches!(self, Analyst),
            ExportFeedback => matches!(self, Analyst | Leader),
        }
    }

    /// Admin sees the whole tree; every other role is bound to its org node.
    pub const fn is_unscoped(self) -> bool {
        matches!(self, Role::Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admin_manages_users() {
        for r in Role::ALL {
            assert_eq!(r.can(Action::ManageUsers), *r == Role::Admin, "{r}");
        }
    }

    /// The intelligence base, role by role.
    #[test]
    fn intel_actions() {
        use Action::*;
        let intel = [
            ViewIntel,
            EditIntel,
            ImportIntel,
            ExportIntel,
            LookupIntel,
            ManageAllowlist,
            ReviewReports,
            ManageDisposal,
        ];
        let allowed = |r: Role| -> Vec<Action> { intel.iter().copied().filter(|a| r.can(*a)).collect() };
        assert_eq!(
            allowed(Role::Analyst),
            vec![
                ViewIntel,
                EditIntel,
                ImportIntel,
                ExportIntel,
                LookupIntel,
                ReviewReports,
                ManageDisposal
            ]
        );
        assert_eq!(allowed(Role::Admin), vec![ViewIntel, ManageAllowlist]);
        assert_eq!(allowed(Role::Leader), vec![ViewIntel, ExportIntel]);
        assert_eq!(allowed(Role::Officer), vec![ViewIntel, LookupIntel]);
        assert_eq!(allowed(Role::GridWorker), vec![LookupIntel]);
        assert!(allowed(Role::UnitLiaison).is_empty());
    }

    /// The detection pipeline, role by role.
    #[test]
    fn detection_actions() {
        use Action::*;
        let detection = [ViewLeads, EditRules, IngestEvents, ImportLeads];
        let allowed = |r: Role| -> Vec<Action> { detection.iter().copied().filter(|a| r.can(*a)).collect() };
        assert_eq!(
            allowed(Role::Analyst),
            vec![ViewLeads, EditRules, IngestEvents, ImportLeads]
        );
        assert_eq!(allowed(Role::Officer), vec![ViewLeads]);
        assert_eq!(allowed(Role::GridWorker), vec![ViewLeads]);
        assert_eq!(allowed(Role::Leader), vec![ViewLeads]);
        assert_eq!(allowed(Role::Admin), vec![IngestEvents]);
        assert!(allowed(Role::UnitLiaison).is_empty());
    }

    /// The dissuasion workflow, role by role.
    #[test]
    fn task_actions() {
        use Action::*;
        let tasks = [
            ViewTasks,
            WorkTasks,
            EscalateTasks,
            EditDispatch,
            ReviewAppeals,
            ExportFeedback,
        ];
        let allowed = |r: Role| -> Vec<Action> { tasks.iter().copied().filter(|a| r.can(*a)).collect() };
        assert_eq!(
            allowed(Role::Analyst),
            vec![
                ViewTasks,
                WorkTasks,
                EscalateTasks,
                EditDispatch,
                ReviewAppeals,
                ExportFeedback
            ]
        );
        assert_eq!(allowed(Role::Officer), vec![ViewTasks, WorkTasks, EscalateTasks]);
        assert_eq!(
            allowed(Role::GridWorker),
            vec![ViewTasks, WorkTasks, EscalateTasks]
        );
        assert_eq!(
            allowed(Role::Leader),
            vec![ViewTasks, EscalateTasks, ExportFeedback]
        );
        assert!(allowed(Role::Admin).is_empty());
        assert!(allowed(Role::UnitLiaison).is_empty());
    }

    #[test]
    fn action_codes_are_unique() {
        let mut codes: Vec<&str> = Action::ALL.iter().map(|a| a.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Action::ALL.len());
    }

    #[test]
    fn liaison_never_sees_residents() {
        assert!(!Role::UnitLiaison.can(Action::ViewResidents));
        assert!(!Role::Leader.can(Action::RevealPhone));
    }
}
