//! The dissuasion workflow's data (DESIGN.md §6), as the [`TaskStore`] part
//! of the store API: dispatch policies, tasks (劝阻任务) with assignees,
//! attempts and transitions, notifications, appeals (申诉), cases (案件),
//! template overrides, the intel review queue, heads of org nodes and staff
//! phones.
//!
//! # Design
//!
//! * **The app decides, the store records.** The state machine lives in
//!   `fanzha_core::task`; the app loads a task, applies an event and hands
//!   the store the new columns with a [`TaskChange`]: the transition, an
//!   attempt, new assignees, notifications to queue or update, the lead's
//!   status and a case, all written in one transaction with the audit entry.
//!   Every change is checked against the task's `version` (optimistic
//!   concurrency): a stale change is a [`StoreError::Conflict`] and the app
//!   reloads and applies again (the state machine makes repeats no-ops).
//! * **Dispatch is batched and idempotent.** [`TaskStore::create_tasks`]
//!   stores many tasks in one transaction; a lead has at most one task
//!   (`tasks.lead_id` is unique), so a second dispatch of the same lead
//!   answers [`DispatchOutcome::Existing`]. The lead becomes `dispatched`.
//! * **Notifications are a queue.** A notification's `idempotency_key` is
//!   unique: queuing the same message twice stores it once, and the gateway
//!   sees the same key on every try. In-app messages are stored `sent`.
//! * **Scope.** A task belongs to an org node (the person's grid, or the
//!   transfer-queue node); a reader sees it when the node is inside their
//!   [`crate::Scope`] or when they are one of its assignees
//!   ([`TaskVisibility`]).
//! * **Personal values** arrive sealed ([`SealedPhone`]); texts carry no
//!   full name or number.

use crate::events::{LeadSource, LeadStatus, SealedName};
use crate::model::{AuditRecord, SealedPhone};
use crate::{DbStore, Scope, StoreError};
use async_trait::async_trait;
use fanzha_core::dispatch::{Method, Route};
use fanzha_core::org::OrgPath;
use fanzha_core::roles::Role;
use fanzha_core::task::{ContactMethod, ContactResult, OutcomeKind, TaskState};
use fanzha_core::{FraudType, Grade, IndicatorKind, NodeId, ResidentId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest dispatch policy document, in bytes.
pub const MAX_POLICY_TOML: usize = 64 * 1024;
/// Longest plan (JSON), in bytes.
pub const MAX_PLAN_JSON: usize = 64 * 1024;
/// Longest note, reason or message text the workflow keeps, in characters.
pub const MAX_TASK_TEXT: usize = 2000;
/// Longest template body, in characters.
pub const MAX_TEMPLATE_BODY: usize = 4000;
/// Longest idempotency key, in bytes.
pub const MAX_NOTIFY_KEY: usize = 128;

macro_rules! codes {
    ($(#[$m:meta])* $name:ident, $what:literal { $($(#[$vm:meta])* $v:ident = $c:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v),*];
            pub const fn code(self) -> &'static str {
                match self { $($name::$v => $c),* }
            }
            pub fn parse(s: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|x| x.code() == s.trim())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}

codes!(
    /// Why someone is on a task.
    AssigneeKind, "assignee kind" {
        Owner = "owner",
        Watch = "watch",
        Escalation = "escalation",
        /// Took the task without being named (e.g. a center analyst).
        Accepted = "accepted",
    }
);

codes!(
    /// How a notification travels.
    NotifyChannel, "notification channel" {
        Sms = "sms",
        Voice = "voice",
        InApp = "in_app",
    }
);

codes!(
    /// What a notification is for.
    NotifyPurpose, "notification purpose" {
        /// The warning SMS or robocall to the person.
        Warning = "warning",
        /// A task was given to the staff member.
        Assigned = "assigned",
        /// A task climbed to the staff member.
        Escalated = "escalated",
        /// A warning could not be sent; the task needs a person.
        SendFailed = "send_failed",
        /// The appellant is told the decision.
        AppealDecision = "appeal_decision",
    }
);

codes!(
    /// Where a notification is.
    NotifyStatus, "notification status" {
        Queued = "queued",
        Sent = "sent",
        Failed = "failed",
        Delivered = "delivered",
    }
);

codes!(
    /// Where an appeal is.
    AppealStatus, "appeal status" {
        Pending = "pending",
        /// The flag was wrong: the indicators were revoked.
        Revoked = "revoked",
        /// The flag stands.
        Kept = "kept",
    }
);

codes!(
    /// Why an indicator is in the review queue.
    ReviewReason, "review reason" {
        FalseAlarm = "false_alarm",
        Appeal = "appeal",
    }
);

codes!(
    /// Where a review item is.
    ReviewStatus, "review status" {
        Open = "open",
        Done = "done",
    }
);

codes!(
    /// Which kind of template an override replaces.
    TemplateKind, "template kind" {
        Sms = "sms",
        Robocall = "robocall",
        Script = "script",
        /// The SMS that tells an appellant the decision (keys `revoked`, `kept`).
        Appeal = "appeal",
    }
);

/// The stored code of a route.
pub const fn route_code(r: Route) -> &'static str {
    match r {
        Route::Local => "local",
        Route::TransferQueue => "transfer_queue",
    }
}

/// A route from its stored code.
pub fn parse_route(s: &str) -> Option<Route> {
    match s.trim() {
        "local" => Some(Route::Local),
        "transfer_queue" => Some(Route::TransferQueue),
        _ => None,
    }
}

/// A grade's rank: low 0 … critical 3.
pub fn grade_rank(g: Grade) -> i64 {
    match g {
        Grade::Low => 0,
        Grade::Medium => 1,
        Grade::High => 2,
        Grade::Critical => 3,
    }
}

// ------------------------------------------------------------------ policies

/// A stored dispatch policy document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchPolicyVersion {
    pub version: i64,
    pub name: String,
    pub toml: String,
    pub author: String,
    pub author_id: i64,
    pub note: String,
    pub created_at: Timestamp,
    pub active: bool,
}

/// A policy document to save; it becomes the active one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDispatchPolicy {
    /// Must be [`TaskStore::next_dispatch_policy_version`]'s answer.
    pub version: i64,
    pub name: String,
    pub toml: String,
    pub note: String,
}

/// An analyst's text laid over a shipped template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateOverride {
    pub kind: TemplateKind,
    /// `generic`, a fraud type code, or (appeal) `revoked` / `kept`.
    pub key: String,
    pub body: String,
    pub updated_by: i64,
    pub updated_at: Timestamp,
}

/// The designated head of a node for a role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgHead {
    pub node_id: NodeId,
    pub role: Role,
    pub user_id: UserId,
}

// ------------------------------------------------------------------ tasks

/// Someone to add to a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAssignee {
    pub user_id: UserId,
    pub kind: AssigneeKind,
    /// The escalation step (escalation assignees).
    pub step: Option<i64>,
}

/// Someone on a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskAssignee {
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub kind: AssigneeKind,
    pub step: Option<i64>,
    pub added_at: Timestamp,
}

/// A notification to queue (or, in-app, to store as sent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNotification {
    /// Filled with the task's id by [`TaskStore::create_tasks`] and
    /// [`TaskStore::update_task`] when `None` and `appeal_id` is `None`.
    pub task_id: Option<i64>,
    pub appeal_id: Option<i64>,
    /// The staff member it is for (in-app and staff SMS).
    pub user_id: Option<UserId>,
    /// The person it is for (warnings; rate limits count these).
    pub person_key: Option<i64>,
    pub channel: NotifyChannel,
    pub purpose: NotifyPurpose,
    /// The number (SMS, voice).
    pub to: Option<SealedPhone>,
    /// e.g. `sms:fake_investment`, `in_app:assigned`.
    pub template_id: String,
    /// The SMS or robocall text; for in-app messages the catalogue message
    /// as JSON (`{"key": …, "args": …}`).
    pub body: String,
    pub idempotency_key: String,
    pub status: NotifyStatus,
    pub next_attempt_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// A stored notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: i64,
    pub task_id: Option<i64>,
    pub appeal_id: Option<i64>,
    pub user_id: Option<UserId>,
    pub person_key: Option<i64>,
    pub channel: NotifyChannel,
    pub purpose: NotifyPurpose,
    pub to: Option<SealedPhone>,
    pub template_id: String,
    pub body: String,
    pub idempotency_key: String,
    pub status: NotifyStatus,
    pub attempts: i64,
    pub next_attempt_at: Option<Timestamp>,
    pub delivery_id: Option<String>,
    /// The last error code (`notify.gave_up`, `status 503`, a gateway code…).
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub read_at: Option<Timestamp>,
}

/// The result of a send, a retry plan or a receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationUpdate {
    pub id: i64,
    pub status: NotifyStatus,
    pub attempts: i64,
    /// When to try again (status `queued`).
    pub next_attempt_at: Option<Timestamp>,
    /// Kept when `None`.
    pub delivery_id: Option<String>,
    /// Kept when `None`.
    pub last_error: Option<String>,
    pub at: Timestamp,
}

/// A task's columns that change over its life. The store writes them all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskFields {
    pub node_id: NodeId,
    pub route: Route,
    pub grade: Grade,
    pub fraud_type: Option<FraudType>,
    pub method: Method,
    pub state: TaskState,
    pub policy_version: i64,
    /// The frozen `fanzha_core::dispatch::TaskPlan`, as JSON.
    pub plan: String,
    /// The watching posts, e.g. `analyst@center`.
    pub watch_roles: String,
    pub contact_due: Timestamp,
    pub visit_due: Option<Timestamp>,
    /// When the scheduler should look at the task again.
    pub next_check_at: Option<Timestamp>,
    /// Escalation steps taken.
    pub escalation_step: i64,
    pub accepted_at: Option<Timestamp>,
    pub first_contact_at: Option<Timestamp>,
    pub visited_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub outcome: Option<OutcomeKind>,
    pub loss_fen: Option<i64>,
    pub outcome_by: Option<i64>,
    pub outcome_note: Option<String>,
    /// Something that needs a person: `send_failed`, `rate_limited`,
    /// `no_phone`, `no_owner`…
    pub alert: Option<String>,
    /// Feedback (intel, case) still to apply after the close.
    pub feedback_pending: bool,
}

/// A task to create for a lead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTask {
    pub lead_id: i64,
    pub person_key: i64,
    pub resident_id: Option<ResidentId>,
    pub created_at: Timestamp,
    pub fields: TaskFields,
    pub assignees: Vec<NewAssignee>,
    pub notifications: Vec<NewNotification>,
    /// Detail of the `create` transition and audit entry.
    pub detail: String,
}

/// What creating one task did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "id")]
pub enum DispatchOutcome {
    Created(i64),
    /// The lead had a task already.
    Existing(i64),
}

impl DispatchOutcome {
    pub fn id(self) -> i64 {
        match self {
            DispatchOutcome::Created(id) | DispatchOutcome::Existing(id) => id,
        }
    }
}

/// A contact attempt to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAttempt {
    pub at: Timestamp,
    pub method: ContactMethod,
    pub by_user: Option<UserId>,
    pub result: ContactResult,
    pub note: Option<String>,
    pub notification_id: Option<i64>,
    /// The client's key of a submission: the same key twice is one attempt.
    pub client_key: Option<String>,
}

/// A stored attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskAttempt {
    pub id: i64,
    pub at: Timestamp,
    pub method: ContactMethod,
    pub by_user: Option<UserId>,
    pub result: ContactResult,
    pub note: Option<String>,
    pub notification_id: Option<i64>,
    pub client_key: Option<String>,
}

/// A transition to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTransition {
    pub at: Timestamp,
    /// `create`, `accept`, `attempt`, `escalate`, `close`, `transfer`,
    /// `regrade`, `alert`, `receipt`, `feedback`.
    pub event: String,
    pub from_state: Option<TaskState>,
    pub to_state: TaskState,
    pub step: Option<i64>,
    pub detail: String,
}

/// A stored transition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskTransition {
    pub id: i64,
    pub at: Timestamp,
    pub event: String,
    pub from_state: Option<TaskState>,
    pub to_state: TaskState,
    pub step: Option<i64>,
    pub actor_id: i64,
    pub actor: String,
    pub detail: String,
}

/// A case to open (已被骗).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCase {
    pub lead_id: Option<i64>,
    pub resident_id: Option<ResidentId>,
    pub person_key: Option<i64>,
    pub node_id: Option<NodeId>,
    pub fraud_type: Option<FraudType>,
    pub loss_fen: i64,
    pub reported_at: Timestamp,
    pub created_by: i64,
}

/// A stored case (the minimal record; the case module grows it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub id: i64,
    pub task_id: Option<i64>,
    pub lead_id: Option<i64>,
    pub resident_id: Option<ResidentId>,
    pub person_key: Option<i64>,
    pub node_id: Option<NodeId>,
    pub fraud_type: Option<FraudType>,
    pub loss_fen: i64,
    pub reported_at: Timestamp,
    pub created_by: i64,
    pub created_at: Timestamp,
    pub indicator_ids: Vec<i64>,
}

/// One change of a task, written in one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskChange {
    pub task_id: i64,
    /// Refused with a conflict unless the stored version is this one.
    pub expected_version: i64,
    pub fields: TaskFields,
    pub transition: NewTransition,
    pub attempt: Option<NewAttempt>,
    pub assignees: Vec<NewAssignee>,
    pub notifications: Vec<NewNotification>,
    pub notification_updates: Vec<NotificationUpdate>,
    pub lead_status: Option<LeadStatus>,
    pub case: Option<NewCase>,
    pub audit: AuditRecord,
}

/// What a change wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskChangeResult {
    pub version: i64,
    pub attempt_id: Option<i64>,
    pub case_id: Option<i64>,
}

/// A task's stored columns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRow {
    pub id: i64,
    pub lead_id: i64,
    pub person_key: i64,
    pub resident_id: Option<ResidentId>,
    pub node_id: NodeId,
    pub node_name: String,
    pub node_path: OrgPath,
    pub route: Route,
    pub grade: Grade,
    pub fraud_type: Option<FraudType>,
    pub method: Method,
    pub state: TaskState,
    pub policy_version: i64,
    /// Empty in lists.
    pub plan: String,
    pub watch_roles: String,
    pub contact_due: Timestamp,
    pub visit_due: Option<Timestamp>,
    pub next_check_at: Option<Timestamp>,
    pub escalation_step: i64,
    pub created_at: Timestamp,
    pub accepted_at: Option<Timestamp>,
    pub first_contact_at: Option<Timestamp>,
    pub visited_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub outcome: Option<OutcomeKind>,
    pub loss_fen: Option<i64>,
    pub outcome_by: Option<i64>,
    pub outcome_note: Option<String>,
    pub alert: Option<String>,
    pub feedback_pending: bool,
    pub version: i64,
    pub updated_at: Timestamp,
}

impl TaskRow {
    /// The columns that change, as they are now.
    pub fn fields(&self) -> TaskFields {
        TaskFields {
            node_id: self.node_id,
            route: self.route,
            grade: self.grade,
            fraud_type: self.fraud_type,
            method: self.method,
            state: self.state,
            policy_version: self.policy_version,
            plan: self.plan.clone(),
            watch_roles: self.watch_roles.clone(),
            contact_due: self.contact_due,
            visit_due: self.visit_due,
            next_check_at: self.next_check_at,
            escalation_step: self.escalation_step,
            accepted_at: self.accepted_at,
            first_contact_at: self.first_contact_at,
            visited_at: self.visited_at,
            closed_at: self.closed_at,
            outcome: self.outcome,
            loss_fen: self.loss_fen,
            outcome_by: self.outcome_by,
            outcome_note: self.outcome_note.clone(),
            alert: self.alert.clone(),
            feedback_pending: self.feedback_pending,
        }
    }
}

/// What a task shows of its lead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskLead {
    pub source: LeadSource,
    pub upstream_id: Option<String>,
    pub status: LeadStatus,
    pub subscriber_kind: String,
    pub subscriber: SealedPhone,
    pub name: Option<SealedName>,
    pub opened_at: Timestamp,
    /// JSON, without personal values.
    pub explanation: String,
    pub event_seqs: Vec<i64>,
}

/// A task with everything attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskRecord {
    pub row: TaskRow,
    pub lead: TaskLead,
    pub assignees: Vec<TaskAssignee>,
    pub attempts: Vec<TaskAttempt>,
    pub transitions: Vec<TaskTransition>,
    pub notifications: Vec<Notification>,
    pub case_id: Option<i64>,
}

/// A task as lists show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskListItem {
    #[serde(flatten)]
    pub row: TaskRow,
    pub subscriber_masked: String,
    pub name_masked: Option<String>,
    pub source: LeadSource,
}

/// Who is reading: their scope, and their own id (assignees see their tasks
/// outside the scope too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskVisibility {
    pub scope: Scope,
    pub user: Option<UserId>,
}

impl TaskVisibility {
    /// Everything (the system).
    pub fn all() -> TaskVisibility {
        TaskVisibility {
            scope: Scope::All,
            user: None,
        }
    }
}

/// Filters of the task list. Every set field must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Any of these states; empty for all.
    pub states: Vec<TaskState>,
    /// Only open (`Some(true)`) or only final (`Some(false)`) tasks.
    pub open: Option<bool>,
    pub grade: Option<Grade>,
    pub fraud_type: Option<FraudType>,
    /// Tasks anywhere below this node.
    pub node_path: Option<OrgPath>,
    /// Tasks this user is on (any kind).
    pub assignee: Option<UserId>,
    /// Open tasks with a deadline passed at this time.
    pub overdue_at: Option<Timestamp>,
    /// Tasks with an alert.
    pub alert: bool,
    pub lead_id: Option<i64>,
    /// `created_at >= from`.
    pub from: Option<Timestamp>,
    /// `created_at < to`.
    pub to: Option<Timestamp>,
    pub limit: Option<usize>,
    pub offset: usize,
}

/// What dispatch needs of a lead: an open lead without a task, or a lead
/// whose grade rose above its open task's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeadToDispatch {
    pub lead_id: i64,
    pub person_key: i64,
    pub subscriber_kind: String,
    pub subscriber: SealedPhone,
    pub resident_id: Option<ResidentId>,
    pub node_id: Option<NodeId>,
    pub grade: Grade,
    pub fraud_type: Option<FraudType>,
    pub source: LeadSource,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
    /// The open task whose grade is below the lead's, when regrading.
    pub task_id: Option<i64>,
}

/// What a warning text needs of a resident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResidentBrief {
    pub id: ResidentId,
    pub name: String,
    pub sex: Option<fanzha_core::idcard::Sex>,
    pub grid_id: NodeId,
}

/// What statistics need of a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFact {
    pub id: i64,
    pub node_path: OrgPath,
    pub grade: Grade,
    pub fraud_type: Option<FraudType>,
    pub method: Method,
    pub route: Route,
    pub state: TaskState,
    pub created_at: Timestamp,
    pub contact_due: Timestamp,
    pub visit_due: Option<Timestamp>,
    pub first_contact_at: Option<Timestamp>,
    pub visited_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub outcome: Option<OutcomeKind>,
    pub loss_fen: Option<i64>,
    /// `None`: closed by the system.
    pub outcome_by: Option<i64>,
    pub escalation_step: i64,
}

/// Filter of [`TaskStore::task_facts`] and [`TaskStore::upstream_results`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FactFilter {
    /// `created_at >= from` (leads: `opened_at`).
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub node_path: Option<OrgPath>,
    /// Most rows.
    pub limit: Option<usize>,
}

/// A lead pushed from above with what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamResult {
    pub lead_id: i64,
    pub upstream_id: Option<String>,
    pub subscriber: SealedPhone,
    pub name: Option<SealedName>,
    pub grade: Grade,
    pub fraud_type: Option<FraudType>,
    pub opened_at: Timestamp,
    pub note: String,
    pub lead_status: LeadStatus,
    pub task_id: Option<i64>,
    pub task_state: Option<TaskState>,
    pub outcome: Option<OutcomeKind>,
    pub loss_fen: Option<i64>,
    pub first_contact_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub outcome_note: Option<String>,
    pub node_name: Option<String>,
    pub case_id: Option<i64>,
}

// ------------------------------------------------------------------ appeals

/// An appeal to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAppeal {
    pub reference: String,
    pub kind: IndicatorKind,
    /// Canonical for `kind`.
    pub value: String,
    pub contact: Option<SealedPhone>,
    pub reason: String,
    /// Keyed hash of the client address.
    pub ip_hash: Vec<u8>,
}

/// A stored appeal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appeal {
    pub id: i64,
    pub reference: String,
    pub kind: IndicatorKind,
    pub value: String,
    pub contact: Option<SealedPhone>,
    pub reason: String,
    pub status: AppealStatus,
    /// The indicators the decision revoked.
    pub indicator_ids: Vec<i64>,
    pub decision_reason: String,
    pub decided_by: Option<i64>,
    pub decided_at: Option<Timestamp>,
    pub appellant_notified: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Filters of the appeal list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppealFilter {
    pub status: Option<AppealStatus>,
    /// `created_at >= from`.
    pub from: Option<Timestamp>,
    /// `created_at < to`.
    pub to: Option<Timestamp>,
    pub limit: Option<usize>,
    pub offset: usize,
}

/// An analyst's decision on an appeal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppealDecision {
    /// `revoked` or `kept`.
    pub status: AppealStatus,
    pub reason: String,
    pub indicator_ids: Vec<i64>,
    pub decided_by: i64,
    pub at: Timestamp,
    /// The SMS that tells the appellant.
    pub notification: Option<NewNotification>,
}

/// What deciding did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecideOutcome {
    Decided,
    /// The same decision was recorded before.
    Unchanged,
}

// ------------------------------------------------------------------ review

/// An indicator to put into the review queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReviewItem {
    pub indicator_id: i64,
    pub reason: ReviewReason,
    pub task_id: Option<i64>,
    pub appeal_id: Option<i64>,
    pub note: String,
}

/// A review queue entry with its indicator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewItem {
    pub id: i64,
    pub indicator_id: i64,
    pub kind: IndicatorKind,
    pub value: String,
    pub confidence: u8,
    pub indicator_status: String,
    pub reason: ReviewReason,
    pub task_id: Option<i64>,
    pub appeal_id: Option<i64>,
    pub status: ReviewStatus,
    pub note: String,
    pub created_at: Timestamp,
    pub resolved_by: Option<i64>,
    pub resolved_at: Option<Timestamp>,
}

/// Filters of the review queue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReviewFilter {
    pub status: Option<ReviewStatus>,
    pub reason: Option<ReviewReason>,
    pub indicator_id: Option<i64>,
    pub limit: Option<usize>,
    pub offset: usize,
}

/// How a false alarm changes intel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FalseAlarmFeedback {
    pub task_id: i64,
    pub indicator_ids: Vec<i64>,
    /// Points taken off each indicator's confidence.
    pub confidence_step: u8,
    /// Never below this.
    pub confidence_floor: u8,
}

/// What a false alarm changed: (indicator id, confidence before, after).
pub type ConfidenceChanges = Vec<(i64, u8, u8)>;

/// The dissuasion workflow's part of the store. Bring it into scope to call it.
#[async_trait]
pub trait TaskStore: Send + Sync {
    // ---- dispatch policies, templates, heads, staff phones -----------

    async fn active_dispatch_policy(&self) -> Result<Option<DispatchPolicyVersion>, StoreError>;
    async fn get_dispatch_policy(&self, version: i64) -> Result<Option<DispatchPolicyVersion>, StoreError>;
    /// The newest first.
    async fn list_dispatch_policies(&self, limit: usize) -> Result<Vec<DispatchPolicyVersion>, StoreError>;
    async fn next_dispatch_policy_version(&self) -> Result<i64, StoreError>;
    /// Saves a document and makes it the active one (audited).
    async fn save_dispatch_policy(
        &self,
        new: &NewDispatchPolicy,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;
    /// Makes an earlier document the active one again (audited).
    async fn activate_dispatch_policy(&self, version: i64, audit: &AuditRecord) -> Result<(), StoreError>;

    async fn template_overrides(&self) -> Result<Vec<TemplateOverride>, StoreError>;
    /// Sets (`Some`) or removes (`None`) an override (audited).
    async fn set_template_override(
        &self,
        kind: TemplateKind,
        key: &str,
        body: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    async fn org_heads(&self) -> Result<Vec<OrgHead>, StoreError>;
    /// Names (`Some`) or clears (`None`) the head of a node for a role (audited).
    async fn set_org_head(
        &self,
        node: NodeId,
        role: Role,
        user: Option<UserId>,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// The phones of these users (those who have one).
    async fn user_phones(&self, users: &[UserId]) -> Result<Vec<(UserId, SealedPhone)>, StoreError>;
    /// Sets (`Some`) or removes (`None`) a user's phone (audited).
    async fn set_user_phone(
        &self,
        user: UserId,
        phone: Option<&SealedPhone>,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    // ---- dispatch ------------------------------------------------------

    /// Up to `limit` leads to dispatch: open leads without a task, and leads
    /// whose grade rose above their open task's, the highest grade first.
    async fn leads_to_dispatch(&self, limit: usize) -> Result<Vec<LeadToDispatch>, StoreError>;
    async fn resident_briefs(&self, ids: &[ResidentId]) -> Result<Vec<ResidentBrief>, StoreError>;
    /// Warnings (SMS and voice, not failed) to these people since `since`:
    /// (person key, queued at).
    async fn warning_history(
        &self,
        person_keys: &[i64],
        since: Timestamp,
    ) -> Result<Vec<(i64, Timestamp)>, StoreError>;
    /// Creates tasks in one transaction (see the module docs): per task its
    /// `create` transition, assignees, notifications, the lead marked
    /// `dispatched` and one audit entry (action `task.create`, target
    /// `task:{id}`) from the template.
    async fn create_tasks(
        &self,
        tasks: Vec<NewTask>,
        audit_template: &AuditRecord,
    ) -> Result<Vec<DispatchOutcome>, StoreError>;

    // ---- tasks ---------------------------------------------------------

    async fn get_task(&self, vis: &TaskVisibility, id: i64) -> Result<Option<TaskRecord>, StoreError>;
    /// A page of tasks (the most urgent open ones first, then the newest)
    /// and the number matching.
    async fn list_tasks(
        &self,
        vis: &TaskVisibility,
        filter: &TaskFilter,
    ) -> Result<(Vec<TaskListItem>, i64), StoreError>;
    /// Writes one change (see [`TaskChange`]).
    async fn update_task(&self, change: TaskChange) -> Result<TaskChangeResult, StoreError>;
    /// Open tasks whose `next_check_at` has come, soonest first.
    async fn tasks_due(&self, now: Timestamp, limit: usize) -> Result<Vec<i64>, StoreError>;
    /// Closed tasks whose feedback is still to apply.
    async fn tasks_feedback_pending(&self, limit: usize) -> Result<Vec<i64>, StoreError>;
    /// The attempt a client key recorded, if any.
    async fn attempt_by_key(&self, task_id: i64, client_key: &str)
    -> Result<Option<TaskAttempt>, StoreError>;

    // ---- notifications -------------------------------------------------

    /// Queued SMS and voice notifications due at `now`, soonest first.
    async fn due_notifications(&self, now: Timestamp, limit: usize) -> Result<Vec<Notification>, StoreError>;
    async fn get_notification(&self, id: i64) -> Result<Option<Notification>, StoreError>;
    /// Notifications with these delivery ids.
    async fn notifications_by_delivery(&self, ids: &[String]) -> Result<Vec<Notification>, StoreError>;
    /// Applies send results and retry plans, one audit entry each (action
    /// from the template, target `notification:{id}`). An appeal's message
    /// that went out marks the appellant notified.
    async fn update_notifications(
        &self,
        updates: &[NotificationUpdate],
        audit_template: &AuditRecord,
    ) -> Result<(), StoreError>;
    /// Queues notifications outside a task change (idempotent by key); the
    /// ids, existing ones included.
    async fn queue_notifications(
        &self,
        items: Vec<NewNotification>,
        audit_template: &AuditRecord,
    ) -> Result<Vec<i64>, StoreError>;
    /// A user's in-app messages, newest first; the number matching and the
    /// number unread.
    async fn user_notifications(
        &self,
        user: UserId,
        unread_only: bool,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<Notification>, i64, i64), StoreError>;
    /// Marks a user's in-app messages read (all when `ids` is `None`); how
    /// many changed. Not audited (the messages hold no personal values).
    async fn mark_notifications_read(
        &self,
        user: UserId,
        ids: Option<&[i64]>,
        at: Timestamp,
    ) -> Result<u64, StoreError>;

    // ---- feedback, cases, review queue ---------------------------------

    /// Lowers the confidence of the indicators behind a false alarm, puts
    /// them into the review queue and clears the task's pending feedback,
    /// once (a second call changes nothing). One audit entry per indicator
    /// changed (action `intel.indicator.confidence`) and one for the task.
    async fn apply_false_alarm(
        &self,
        fb: &FalseAlarmFeedback,
        audit: &AuditRecord,
    ) -> Result<ConfidenceChanges, StoreError>;
    /// Links indicators to a case and clears the task's pending feedback
    /// (audited, target `case:{id}`).
    async fn link_case_indicators(
        &self,
        case_id: i64,
        task_id: Option<i64>,
        indicator_ids: &[i64],
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;
    async fn get_case(&self, scope: &Scope, id: i64) -> Result<Option<Case>, StoreError>;
    /// Cases in scope, newest first.
    async fn list_cases(
        &self,
        scope: &Scope,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<Case>, i64), StoreError>;
    /// Adds items (a repeat of an open item is ignored); how many were added.
    async fn add_review_items(
        &self,
        items: &[NewReviewItem],
        audit: &AuditRecord,
    ) -> Result<usize, StoreError>;
    async fn list_review(&self, filter: &ReviewFilter) -> Result<(Vec<ReviewItem>, i64), StoreError>;
    /// Closes a review item with a note (audited).
    async fn resolve_review(&self, id: i64, note: &str, audit: &AuditRecord) -> Result<(), StoreError>;

    // ---- appeals -------------------------------------------------------

    async fn create_appeal(&self, new: &NewAppeal, audit: &AuditRecord) -> Result<i64, StoreError>;
    async fn get_appeal(&self, id: i64) -> Result<Option<Appeal>, StoreError>;
    async fn appeal_by_reference(&self, reference: &str) -> Result<Option<Appeal>, StoreError>;
    /// Appeals, oldest pending first when filtering by status, else newest first.
    async fn list_appeals(&self, filter: &AppealFilter) -> Result<(Vec<Appeal>, i64), StoreError>;
    /// Records a decision on a pending appeal (audited) and queues the
    /// appellant's message. The same decision again is
    /// [`DecideOutcome::Unchanged`]; a different one is a conflict.
    async fn decide_appeal(
        &self,
        id: i64,
        decision: &AppealDecision,
        audit: &AuditRecord,
    ) -> Result<DecideOutcome, StoreError>;

    // ---- statistics and exports ---------------------------------------

    /// What statistics need of the tasks in scope.
    async fn task_facts(&self, scope: &Scope, filter: &FactFilter) -> Result<Vec<TaskFact>, StoreError>;
    /// Leads pushed from above (source `upper_push`) in scope with their
    /// task's outcome, by lead id.
    async fn upstream_results(
        &self,
        scope: &Scope,
        filter: &FactFilter,
    ) -> Result<Vec<UpstreamResult>, StoreError>;
}

use crate::{Backend, ops, pg};

#[async_trait]
impl TaskStore for DbStore {
    async fn active_dispatch_policy(&self) -> Result<Option<DispatchPolicyVersion>, StoreError> {
        run!(self, read, [], |db| ops::tasks::active_policy(db))
    }
    async fn get_dispatch_policy(&self, version: i64) -> Result<Option<DispatchPolicyVersion>, StoreError> {
        run!(self, read, [], |db| ops::tasks::get_policy(db, version))
    }
    async fn list_dispatch_policies(&self, limit: usize) -> Result<Vec<DispatchPolicyVersion>, StoreError> {
        run!(self, read, [], |db| ops::tasks::list_policies(db, limit))
    }
    async fn next_dispatch_policy_version(&self) -> Result<i64, StoreError> {
        run!(self, read, [], |db| ops::tasks::next_policy_version(db))
    }
    async fn save_dispatch_policy(
        &self,
        new: &NewDispatchPolicy,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        run!(self, write, [new, audit], |db| ops::tasks::save_policy(
            db, new, audit
        ))
    }
    async fn activate_dispatch_policy(&self, version: i64, audit: &AuditRecord) -> Result<(), StoreError> {
        run!(self, write, [audit], |db| ops::tasks::activate_policy(
            db, version, audit
        ))
    }
    async fn template_overrides(&self) -> Result<Vec<TemplateOverride>, StoreError> {
        run!(self, read, [], |db| ops::tasks::template_overrides(db))
    }
    async fn set_template_override(
        &self,
        kind: TemplateKind,
        key: &str,
        body: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let body = body.map(str::to_string);
        run!(self, write, [key, audit], |db| ops::tasks::set_template_override(
            db,
            kind,
            key,
            body.as_deref(),
            audit
        ))
    }
    async fn org_heads(&self) -> Result<Vec<OrgHead>, StoreError> {
        run!(self, read, [], |db| ops::tasks::org_heads(db))
    }
    async fn set_org_head(
        &self,
        node: NodeId,
        role: Role,
        user: Option<UserId>,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        run!(self, write, [audit], |db| ops::tasks::set_org_head(
            db, node, role, user, audit
        ))
    }
    async fn user_phones(&self, users: &[UserId]) -> Result<Vec<(UserId, SealedPhone)>, StoreError> {
        run!(self, read, [users], |db| ops::tasks::user_phones(db, users))
    }
    async fn set_user_phone(
        &self,
        user: UserId,
        phone: Option<&SealedPhone>,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let phone = phone.cloned();
        run!(self, write, [audit], |db| ops::tasks::set_user_phone(
            db,
            user,
            phone.as_ref(),
            audit
        ))
    }
    async fn leads_to_dispatch(&self, limit: usize) -> Result<Vec<LeadToDispatch>, StoreError> {
        run!(self, read, [], |db| ops::tasks::leads_to_dispatch(db, limit))
    }
    async fn resident_briefs(&self, ids: &[ResidentId]) -> Result<Vec<ResidentBrief>, StoreError> {
        run!(self, read, [ids], |db| ops::tasks::resident_briefs(db, ids))
    }
    async fn warning_history(
        &self,
        person_keys: &[i64],
        since: Timestamp,
    ) -> Result<Vec<(i64, Timestamp)>, StoreError> {
        run!(self, read, [person_keys], |db| ops::tasks::warning_history(
            db,
            person_keys,
            since
        ))
    }
    async fn create_tasks(
        &self,
        tasks: Vec<NewTask>,
        audit_template: &AuditRecord,
    ) -> Result<Vec<DispatchOutcome>, StoreError> {
        run!(self, write, [audit_template], |db| ops::tasks::create_tasks(
            db,
            &tasks,
            audit_template
        ))
    }
    async fn get_task(&self, vis: &TaskVisibility, id: i64) -> Result<Option<TaskRecord>, StoreError> {
        run!(self, read, [vis], |db| ops::tasks::get_task(db, vis, id))
    }
    async fn list_tasks(
        &self,
        vis: &TaskVisibility,
        filter: &TaskFilter,
    ) -> Result<(Vec<TaskListItem>, i64), StoreError> {
        run!(self, read, [vis, filter], |db| ops::tasks::list_tasks(
            db, vis, filter
        ))
    }
    async fn update_task(&self, change: TaskChange) -> Result<TaskChangeResult, StoreError> {
        run!(self, write, [], |db| ops::tasks::update_task(db, &change))
    }
    async fn tasks_due(&self, now: Timestamp, limit: usize) -> Result<Vec<i64>, StoreError> {
        run!(self, read, [], |db| ops::tasks::tasks_due(db, now, limit))
    }
    async fn tasks_feedback_pending(&self, limit: usize) -> Result<Vec<i64>, StoreError> {
        run!(self, read, [], |db| ops::tasks::tasks_feedback_pending(db, limit))
    }
    async fn attempt_by_key(
        &self,
        task_id: i64,
        client_key: &str,
    ) -> Result<Option<TaskAttempt>, StoreError> {
        run!(self, read, [client_key], |db| ops::tasks::attempt_by_key(
            db, task_id, client_key
        ))
    }
    async fn due_notifications(&self, now: Timestamp, limit: usize) -> Result<Vec<Notification>, StoreError> {
        run!(self, read, [], |db| ops::tasks::due_notifications(db, now, limit))
    }
    async fn get_notification(&self, id: i64) -> Result<Option<Notification>, StoreError> {
        run!(self, read, [], |db| ops::tasks::get_notification(db, id))
    }
    async fn notifications_by_delivery(&self, ids: &[String]) -> Result<Vec<Notification>, StoreError> {
        run!(self, read, [ids], |db| ops::tasks::notifications_by_delivery(
            db, ids
        ))
    }
    async fn update_notifications(
        &self,
        updates: &[NotificationUpdate],
        audit_template: &AuditRecord,
    ) -> Result<(), StoreError> {
        run!(self, write, [updates, audit_template], |db| {
            ops::tasks::update_notifications(db, updates, audit_template)
        })
    }
    async fn queue_notifications(
        &self,
        items: Vec<NewNotification>,
        audit_template: &AuditRecord,
    ) -> Result<Vec<i64>, StoreError> {
        run!(self, write, [audit_template], |db| {
            ops::tasks::queue_notifications(db, &items, audit_template)
        })
    }
    async fn user_notifications(
        &self,
        user: UserId,
        unread_only: bool,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<Notification>, i64, i64), StoreError> {
        run!(self, read, [], |db| ops::tasks::user_notifications(
            db,
            user,
            unread_only,
            limit,
            offset
        ))
    }
    async fn mark_notifications_read(
        &self,
        user: UserId,
        ids: Option<&[i64]>,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let ids = ids.map(<[i64]>::to_vec);
        run!(self, write, [], |db| ops::tasks::mark_read(
            db,
            user,
            ids.as_deref(),
            at
        ))
    }
    async fn apply_false_alarm(
        &self,
        fb: &FalseAlarmFeedback,
        audit: &AuditRecord,
    ) -> Result<ConfidenceChanges, StoreError> {
        run!(self, write, [fb, audit], |db| ops::tasks::apply_false_alarm(
            db, fb, audit
        ))
    }
    async fn link_case_indicators(
        &self,
        case_id: i64,
        task_id: Option<i64>,
        indicator_ids: &[i64],
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        run!(self, write, [indicator_ids, audit], |db| {
            ops::tasks::link_case_indicators(db, case_id, task_id, indicator_ids, audit)
        })
    }
    async fn get_case(&self, scope: &Scope, id: i64) -> Result<Option<Case>, StoreError> {
        run!(self, read, [scope], |db| ops::tasks::get_case(db, scope, id))
    }
    async fn list_cases(
        &self,
        scope: &Scope,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<Case>, i64), StoreError> {
        run!(self, read, [scope], |db| ops::tasks::list_cases(
            db, scope, limit, offset
        ))
    }
    async fn add_review_items(
        &self,
        items: &[NewReviewItem],
        audit: &AuditRecord,
    ) -> Result<usize, StoreError> {
        run!(self, write, [items, audit], |db| ops::tasks::add_review_items(
            db, items, audit
        ))
    }
    async fn list_review(&self, filter: &ReviewFilter) -> Result<(Vec<ReviewItem>, i64), StoreError> {
        run!(self, read, [filter], |db| ops::tasks::list_review(db, filter))
    }
    async fn resolve_review(&self, id: i64, note: &str, audit: &AuditRecord) -> Result<(), StoreError> {
        run!(self, write, [note, audit], |db| ops::tasks::resolve_review(
            db, id, note, audit
        ))
    }
    async fn create_appeal(&self, new: &NewAppeal, audit: &AuditRecord) -> Result<i64, StoreError> {
        run!(self, write, [new, audit], |db| ops::tasks::create_appeal(
            db, new, audit
        ))
    }
    async fn get_appeal(&self, id: i64) -> Result<Option<Appeal>, StoreError> {
        run!(self, read, [], |db| ops::tasks::get_appeal(db, id))
    }
    async fn appeal_by_reference(&self, reference: &str) -> Result<Option<Appeal>, StoreError> {
        run!(self, read, [reference], |db| ops::tasks::appeal_by_reference(
            db, reference
        ))
    }
    async fn list_appeals(&self, filter: &AppealFilter) -> Result<(Vec<Appeal>, i64), StoreError> {
        run!(self, read, [filter], |db| ops::tasks::list_appeals(db, filter))
    }
    async fn decide_appeal(
        &self,
        id: i64,
        decision: &AppealDecision,
        audit: &AuditRecord,
    ) -> Result<DecideOutcome, StoreError> {
        run!(self, write, [decision, audit], |db| ops::tasks::decide_appeal(
            db, id, decision, audit
        ))
    }
    async fn task_facts(&self, scope: &Scope, filter: &FactFilter) -> Result<Vec<TaskFact>, StoreError> {
        run!(self, read, [scope, filter], |db| ops::tasks::task_facts(
            db, scope, filter
        ))
    }
    async fn upstream_results(
        &self,
        scope: &Scope,
        filter: &FactFilter,
    ) -> Result<Vec<UpstreamResult>, StoreError> {
        run!(self, read, [scope, filter], |db| ops::tasks::upstream_results(
            db, scope, filter
        ))
    }
}
