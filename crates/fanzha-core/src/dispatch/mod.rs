//! Dispatch (DESIGN.md §6 "grade decides method, owner and deadline"), as
//! pure functions over data:
//!
//! * [`policy`]: the versioned dispatch policy ([`PolicyDoc`], default in
//!   `dispatch_policy.toml`), [`Policy::plan`] turning a grade and a
//!   location into a [`TaskPlan`], and [`next_escalation`] telling a
//!   scheduler when an open task is overdue and who is next up;
//! * [`sms`]: SMS length and segment counting (GSM 03.38 and UCS-2);
//! * [`templates`]: warning SMS, robocall scripts and dissuasion scripts
//!   (劝阻话术) per fraud type, with safe placeholder rendering.
//!
//! Nothing here reads the clock or sends anything: the app passes `now` in
//! and hands the rendered texts to its notifiers.

pub mod policy;
pub mod sms;
pub mod templates;

pub use policy::{
    Assignee, DEFAULT_POLICY, EscalationDue, OrgLevel, Overdue, PersonLocation, Policy, PolicyDoc,
    PolicyError, Post, Route, ServiceHours, TaskPlan, default_policy, next_escalation, next_escalation_at,
};
pub use sms::{SmsEncoding, SmsText, count_sms};
pub use templates::{
    Placeholder, Salutation, ScriptTemplate, TemplateError, TemplateKey, TemplateSet, TemplateWarning, Vars,
    render_sms,
};

use crate::taxonomy::vocabulary;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

pub use crate::taxonomy::UnknownCode;

vocabulary!(
    /// How a grade's task is worked.
    Method, "dispatch method" {
        AutoSms = ("auto_sms", "自动预警短信", "Automatic warning SMS"),
        Robocall = ("robocall", "语音外呼", "Robocall"),
        CenterCall = ("center_call", "中心电话劝阻", "Call from the center"),
        Visit = ("visit", "上门劝阻", "In-person visit", "上门"),
    }
);

impl Method {
    /// Done by the system, with no person as owner.
    pub const fn is_automatic(self) -> bool {
        matches!(self, Method::AutoSms | Method::Robocall)
    }
}
