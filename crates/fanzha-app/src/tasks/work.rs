//! Working a task: list, detail (locating the person), accept, contact
//! attempts, outcomes, escalation. Every use case passes the gate; a task is
//! visible to whoever's scope holds its node and to its assignees.

use super::dispatch::{Staff, staff_notices};
use crate::crypto::Field;
use crate::{Actor, App, AppError, AuditRecord, Page, Result, Scope};
use fanzha_core::dispatch::{ScriptTemplate, TaskPlan, next_escalation_at};
use fanzha_core::i18n::Msg;
use fanzha_core::roles::Action;
use fanzha_core::task::{
    ContactAttempt, ContactMethod, ContactResult, Effect, EscalationRecord, Outcome, OutcomeKind,
    OutcomeRecord, Task, TaskError, TaskEvent, TaskState,
};
use fanzha_core::{FraudType, Grade, NodeId, Timestamp, UserId, mask};
use fanzha_store::{
    AssigneeKind, LeadSource, LeadStatus, NewAssignee, NewAttempt, NewCase, NewNotification, NewTransition,
    NotificationUpdate, NotifyPurpose, TaskAssignee, TaskAttempt, TaskChange, TaskChangeResult, TaskFields,
    TaskFilter, TaskListItem, TaskRecord, TaskRow, TaskTransition, TaskVisibility,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a change does besides the state machine's event.
#[derive(Clone, Debug, Default)]
pub(crate) struct Edit {
    /// The transition's event (`accept`, `attempt`, `escalate`, `close`…).
    pub event: &'static str,
    pub step: Option<i64>,
    pub detail: String,
    pub attempt: Option<NewAttempt>,
    pub assignees: Vec<NewAssignee>,
    pub notifications: Vec<NewNotification>,
    pub notification_updates: Vec<NotificationUpdate>,
    pub lead_status: Option<LeadStatus>,
    pub case: Option<NewCase>,
    /// `Some(x)`: set the alert to `x`.
    pub alert: Option<Option<String>>,
    pub policy_version: Option<i64>,
    /// `Some(x)`: set the feedback flag to `x`.
    pub feedback_pending: Option<bool>,
}

/// Maps a refusal of the state machine to the app's error.
pub(crate) fn task_error(e: TaskError) -> AppError {
    if e.is_conflict() {
        AppError::Conflict(e.msg())
    } else {
        AppError::Invalid(e.msg())
    }
}

/// The state machine's task from the stored record.
pub(crate) fn core_task(rec: &TaskRecord) -> Result<Task> {
    let plan: TaskPlan = serde_json::from_str(&rec.row.plan)
        .map_err(|e| AppError::Internal(format!("task {} plan: {e}", rec.row.id)))?;
    let mut accepted_by: Vec<UserId> = Vec::new();
    let mut escalations = Vec::new();
    for t in &rec.transitions {
        match t.event.as_str() {
            "accept" if t.actor_id > 0 => {
                let u = UserId(t.actor_id);
                if !accepted_by.contains(&u) {
                    accepted_by.push(u);
                }
            }
            "escalate" => {
                if let Some(step) = t.step {
                    escalations.push(EscalationRecord {
                        step: usize::try_from(step).unwrap_or(0),
                        at: t.at,
                    });
                }
            }
            _ => {}
        }
    }
    let attempts: Vec<ContactAttempt> = rec
        .attempts
        .iter()
        .map(|a| ContactAttempt {
            at: a.at,
            method: a.method,
            by: a.by_user,
            result: a.result,
            note: a.note.clone(),
        })
        .collect();
    for a in &attempts {
        if let Some(u) = a.by
            && !accepted_by.contains(&u)
        {
            accepted_by.push(u);
        }
    }
    let outcome = match (rec.row.outcome, rec.row.closed_at) {
        (Some(kind), Some(at)) => Some(OutcomeRecord {
            outcome: Outcome::new(kind, rec.row.loss_fen).unwrap_or(Outcome::FalseAlarm),
            at,
            by: rec.row.outcome_by.map(UserId),
            note: rec.row.outcome_note.clone(),
        }),
        _ => None,
    };
    Ok(Task {
        plan,
        state: rec.row.state,
        created_at: rec.row.created_at,
        accepted_by,
        accepted_at: rec.row.accepted_at,
        attempts,
        escalations,
        outcome,
    })
}

/// The columns after `task` changed.
fn fields_after(row: &TaskRow, task: &Task, edit: &Edit) -> TaskFields {
    let mut f = row.fields();
    f.state = task.state;
    f.grade = task.plan.grade;
    f.method = task.plan.method;
    f.route = task.plan.route;
    f.contact_due = task.plan.contact_due;
    f.visit_due = task.plan.visit_due;
    f.plan = serde_json::to_string(&task.plan).unwrap_or_else(|_| row.plan.clone());
    if let Some(v) = edit.policy_version {
        f.policy_version = v;
    }
    f.escalation_step = task.escalations.len() as i64;
    f.accepted_at = task.accepted_at;
    f.first_contact_at = task.contacted_at();
    f.visited_at = task.visited_at();
    f.next_check_at = next_escalation_at(task).map(|d| d.due_at);
    if let Some(o) = &task.outcome {
        f.closed_at = Some(o.at);
        f.outcome = Some(o.outcome.kind());
        f.loss_fen = o.outcome.loss_fen();
        f.outcome_by = o.by.map(|u| u.0);
        f.outcome_note = o.note.clone();
    }
    if task.state.is_final() {
        f.next_check_at = None;
    }
    if let Some(a) = &edit.alert {
        f.alert = a.clone();
    }
    if let Some(p) = edit.feedback_pending {
        f.feedback_pending = p;
    }
    f
}

impl App {
    /// Loads a task, lets `f` apply its change to the state machine's task,
    /// and writes the result with the audit entry in one transaction. `f`
    /// answering `None` means nothing to do. A concurrent change is retried
    /// against the fresh row (the state machine makes repeats no-ops).
    pub(crate) async fn edit_task(
        &self,
        vis: &TaskVisibility,
        id: i64,
        audit: AuditRecord,
        mut f: impl FnMut(&TaskRecord, &mut Task) -> Result<Option<Edit>>,
    ) -> Result<Option<(TaskRecord, TaskChangeResult)>> {
        for round in 0..5 {
            let rec = self
                .store
                .get_task(vis, id)
                .await?
                .ok_or_else(|| AppError::not_found("error.not_found"))?;
            let mut task = core_task(&rec)?;
            let from = task.state;
            let Some(edit) = f(&rec, &mut task)? else {
                return Ok(None);
            };
            let fields = fields_after(&rec.row, &task, &edit);
            let change = TaskChange {
                task_id: id,
                expected_version: rec.row.version,
                fields,
                transition: NewTransition {
                    at: audit.at,
                    event: edit.event.to_string(),
                    from_state: Some(from),
                    to_state: task.state,
                    step: edit.step,
                    detail: edit.detail.clone(),
                },
                attempt: edit.attempt.clone(),
                assignees: edit
                    .assignees
                    .iter()
                    .copied()
                    .filter(|a| {
                        !rec.assignees
                            .iter()
                            .any(|x| x.user_id == a.user_id && x.kind == a.kind)
                    })
                    .collect(),
                notifications: edit.notifications.clone(),
                notification_updates: edit.notification_updates.clone(),
                lead_status: edit.lead_status,
                case: edit.case.clone(),
                audit: AuditRecord {
                    action: format!("task.{}", edit.event),
                    ..audit.clone()
                },
            };
            match self.store.update_task(change).await {
                Ok(r) => {
                    self.task_event(id, edit.event, rec.row.node_path.as_str());
                    return Ok(Some((rec, r)));
                }
                Err(fanzha_store::StoreError::Conflict { reason })
                    if round < 4 && reason.contains("meanwhile") =>
                {
                    continue;
                }
                Err(fanzha_store::StoreError::Conflict { reason }) if reason.contains("recorded before") => {
                    return Ok(None);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::conflict("task.busy"))
    }
}

/// Filters of the task list.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct TaskQuery {
    #[serde(default)]
    pub state: Option<TaskState>,
    /// `true`: open tasks only; `false`: closed only.
    #[serde(default)]
    pub open: Option<bool>,
    #[serde(default)]
    pub grade: Option<Grade>,
    #[serde(default)]
    pub fraud_type: Option<FraudType>,
    /// Tasks anywhere below this org node.
    #[serde(default)]
    pub node: Option<NodeId>,
    /// Only tasks I am on.
    #[serde(default)]
    pub mine: Option<bool>,
    /// Only open tasks past a deadline.
    #[serde(default)]
    pub overdue: Option<bool>,
    /// Only tasks with an alert (send failed, no owner…).
    #[serde(default)]
    pub alert: Option<bool>,
    #[serde(default)]
    pub page: Option<usize>,
    #[serde(default)]
    pub per_page: Option<usize>,
}

/// A task in a list, with whether it is late.
#[derive(Clone, Debug, Serialize)]
pub struct TaskSummary {
    #[serde(flatten)]
    pub item: TaskListItem,
    pub overdue: bool,
}

/// Whether an open task has passed a deadline it has not met.
pub fn is_overdue(row: &TaskRow, now: Timestamp) -> bool {
    if row.state.is_final() {
        return false;
    }
    (row.first_contact_at.is_none() && row.contact_due <= now)
        || (row.visited_at.is_none() && row.visit_due.is_some_and(|v| v <= now))
}

/// The person a task is about, as the actor may see them.
#[derive(Clone, Debug, Serialize)]
pub struct PersonInfo {
    pub resident_id: Option<i64>,
    /// Full for the roles that work tasks, masked otherwise.
    pub name: Option<String>,
    pub phone_masked: String,
    pub sex: Option<String>,
    pub age: Option<i32>,
    pub address: Option<String>,
    pub grid_name: Option<String>,
    pub tags: Vec<String>,
    pub contacts: Vec<ContactInfo>,
}

/// A close relative or contact.
#[derive(Clone, Debug, Serialize)]
pub struct ContactInfo {
    pub relation: String,
    pub name: String,
    pub phone_masked: Option<String>,
}

/// One piece of evidence, without personal values.
#[derive(Clone, Debug, Serialize)]
pub struct EvidenceItem {
    pub signal: String,
    pub fraud_type: Option<FraudType>,
    pub at: Option<Timestamp>,
    pub weight: Option<f64>,
}

/// A task with everything the task page shows.
#[derive(Clone, Debug, Serialize)]
pub struct TaskDetail {
    pub task: TaskRow,
    pub plan: Option<TaskPlan>,
    pub source: LeadSource,
    pub upstream_id: Option<String>,
    pub lead_note: Option<String>,
    pub subscriber_masked: String,
    pub person: PersonInfo,
    pub evidence: Vec<EvidenceItem>,
    pub score: Option<f64>,
    /// The recommended dissuasion script for the fraud type.
    pub script: Option<ScriptTemplate>,
    pub assignees: Vec<TaskAssignee>,
    pub attempts: Vec<TaskAttempt>,
    pub transitions: Vec<TaskTransition>,
    pub notifications: Vec<NotificationView>,
    pub case_id: Option<i64>,
    pub overdue: bool,
    pub can_work: bool,
    pub can_escalate: bool,
    pub assigned_to_me: bool,
}

/// A notification of a task, without its number.
#[derive(Clone, Debug, Serialize)]
pub struct NotificationView {
    pub id: i64,
    pub channel: fanzha_store::NotifyChannel,
    pub purpose: NotifyPurpose,
    pub status: fanzha_store::NotifyStatus,
    pub to_masked: Option<String>,
    pub user_id: Option<UserId>,
    pub template_id: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
}

/// A contact attempt from a form.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct AttemptForm {
    pub method: ContactMethod,
    pub result: ContactResult,
    #[serde(default)]
    pub note: Option<String>,
    /// When it happened (default now; not in the future).
    #[serde(default)]
    pub at: Option<Timestamp>,
    /// The client's key: the same key twice records one attempt.
    #[serde(default)]
    pub client_key: Option<String>,
}

/// An outcome from a form.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct OutcomeForm {
    pub outcome: OutcomeKind,
    /// The loss in fen (已被骗).
    #[serde(default)]
    pub loss_fen: Option<i64>,
    /// The loss in yuan, e.g. `1234.56` (forms); used when `loss_fen` is absent.
    #[serde(default)]
    pub loss_yuan: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// What an action did.
#[derive(Clone, Debug, Serialize)]
pub struct TaskActionResult {
    pub task_id: i64,
    pub state: TaskState,
    /// False when the same thing was recorded before (a double submit).
    pub changed: bool,
    pub case_id: Option<i64>,
}

/// Full phone numbers of the person and their contacts (audited).
#[derive(Clone, Debug, Serialize)]
pub struct RevealedPhones {
    pub person: Option<String>,
    pub contacts: Vec<(String, String, String)>,
}

/// Parses `1234.56` yuan to fen.
pub fn yuan_to_fen(s: &str) -> Option<i64> {
    let s = s.trim().replace([',', '，', '元'], "");
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 2 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let i: i64 = int.parse().ok()?;
    let f: i64 = format!("{frac:0<2}").parse().ok()?;
    i.checked_mul(100)?.checked_add(f)
}

fn note(n: &Option<String>) -> Option<String> {
    n.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn evidence_of(explanation: &str) -> (Vec<EvidenceItem>, Option<f64>) {
    let v: Value = serde_json::from_str(explanation).unwrap_or(Value::Null);
    let items = v
        .get("signals")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|s| EvidenceItem {
                    signal: s.get("signal").and_then(Value::as_str).unwrap_or("").to_string(),
                    fraud_type: s
                        .get("fraud_type")
                        .and_then(Value::as_str)
                        .and_then(|t| FraudType::parse(t).ok()),
                    at: s.get("at").and_then(Value::as_i64).map(Timestamp),
                    weight: s.get("decayed_weight").and_then(Value::as_f64),
                })
                .collect()
        })
        .unwrap_or_default();
    (items, v.get("score").and_then(Value::as_f64))
}

impl App {
    fn task_vis(&self, actor: &Actor, action: Action) -> Result<TaskVisibility> {
        let scope = self.gate(actor, action)?;
        Ok(TaskVisibility {
            scope,
            user: Some(actor.user.id),
        })
    }

    /// Tasks the actor may see, the most urgent open ones first.
    pub async fn list_tasks(&self, actor: &Actor, q: &TaskQuery) -> Result<Page<TaskSummary>> {
        let vis = self.task_vis(actor, Action::ViewTasks)?;
        let node_path = match q.node {
            Some(n) => Some(
                self.store
                    .get_node(&vis.scope, n)
                    .await?
                    .ok_or_else(|| AppError::not_found("error.not_found"))?
                    .path,
            ),
            None => None,
        };
        let per_page = q.per_page.unwrap_or(50).clamp(1, 500);
        let page = q.page.unwrap_or(1).clamp(1, 1_000_000);
        let now = self.now();
        let filter = TaskFilter {
            states: q.state.into_iter().collect(),
            open: q.open,
            grade: q.grade,
            fraud_type: q.fraud_type,
            node_path,
            assignee: q.mine.unwrap_or(false).then_some(actor.user.id),
            overdue_at: q.overdue.unwrap_or(false).then_some(now),
            alert: q.alert.unwrap_or(false),
            limit: Some(per_page),
            offset: (page - 1).saturating_mul(per_page),
            ..Default::default()
        };
        let (items, total) = self.store.list_tasks(&vis, &filter).await?;
        Ok(Page {
            items: items
                .into_iter()
                .map(|item| TaskSummary {
                    overdue: is_overdue(&item.row, now),
                    item,
                })
                .collect(),
            total,
            page,
            per_page,
        })
    }

    /// A task with the person located, the evidence and the script.
    pub async fn task_detail(&self, actor: &Actor, id: i64) -> Result<TaskDetail> {
        let vis = self.task_vis(actor, Action::ViewTasks)?;
        let rec = self
            .store
            .get_task(&vis, id)
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))?;
        let full = actor.can(Action::WorkTasks);
        let mut person = PersonInfo {
            resident_id: rec.row.resident_id.map(|r| r.0),
            name: rec.lead.name.as_ref().map(|n| {
                if full {
                    self.cipher
                        .open(Field::Name, &n.enc)
                        .unwrap_or_else(|_| n.masked.clone())
                } else {
                    n.masked.clone()
                }
            }),
            phone_masked: rec.lead.subscriber.masked.clone(),
            sex: None,
            age: None,
            address: None,
            grid_name: None,
            tags: Vec::new(),
            contacts: Vec::new(),
        };
        if let Some(rid) = rec.row.resident_id
            && let Some(r) = self.store.get_resident(&Scope::All, rid).await?
        {
            person.name = Some(if full { r.name.clone() } else { mask::name(&r.name) });
            person.sex = r.sex.map(|s| format!("{s:?}").to_lowercase());
            person.age = r
                .birth_date
                .map(|b| fanzha_core::time::Date::from_timestamp(self.now()).year - b.year);
            person.address = Some(if full {
                r.address.clone()
            } else {
                r.address.chars().take(6).collect::<String>() + "…"
            });
            person.grid_name = Some(r.grid_name.clone());
            person.tags = r.tags.clone();
            person.contacts = r
                .contacts
                .iter()
                .map(|c| ContactInfo {
                    relation: c.relation.clone(),
                    name: if full { c.name.clone() } else { mask::name(&c.name) },
                    phone_masked: c.phone.as_ref().map(|p| p.masked.clone()),
                })
                .collect();
        }
        let (evidence, score) = evidence_of(&rec.lead.explanation);
        let plan: Option<TaskPlan> = serde_json::from_str(&rec.row.plan).ok();
        let templates = self.task_templates().await?;
        let vars = templates.defaults();
        let script = templates
            .render_script(rec.row.fraud_type.unwrap_or(FraudType::Other), &vars)
            .ok();
        let now = self.now();
        let me = actor.user.id;
        Ok(TaskDetail {
            overdue: is_overdue(&rec.row, now),
            can_work: actor.can(Action::WorkTasks) && rec.row.state.is_open(),
            can_escalate: actor.can(Action::EscalateTasks) && rec.row.state.is_open(),
            assigned_to_me: rec.assignees.iter().any(|a| a.user_id == me),
            plan,
            source: rec.lead.source,
            upstream_id: rec.lead.upstream_id.clone(),
            lead_note: None,
            subscriber_masked: rec.lead.subscriber.masked.clone(),
            person,
            evidence,
            score,
            script,
            assignees: rec.assignees.clone(),
            attempts: rec.attempts.clone(),
            transitions: rec.transitions.clone(),
            notifications: rec
                .notifications
                .iter()
                .map(|n| NotificationView {
                    id: n.id,
                    channel: n.channel,
                    purpose: n.purpose,
                    status: n.status,
                    to_masked: n.to.as_ref().map(|p| p.masked.clone()),
                    user_id: n.user_id,
                    template_id: n.template_id.clone(),
                    attempts: n.attempts,
                    last_error: n.last_error.clone(),
                    created_at: n.created_at,
                    sent_at: n.sent_at,
                    delivered_at: n.delivered_at,
                    failed_at: n.failed_at,
                })
                .collect(),
            case_id: rec.case_id,
            task: rec.row,
        })
    }

    /// The full numbers of the person and their contacts, to call them;
    /// audited (查询留痕).
    pub async fn reveal_task_phones(&self, actor: &Actor, id: i64) -> Result<RevealedPhones> {
        let vis = self.task_vis(actor, Action::WorkTasks)?;
        self.gate(actor, Action::RevealPhone)?;
        let rec = self
            .store
            .get_task(&vis, id)
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))?;
        let person = if rec.lead.subscriber_kind == "phone" && !rec.lead.subscriber.enc.is_empty() {
            Some(self.cipher.open(Field::Phone, &rec.lead.subscriber.enc)?)
        } else {
            None
        };
        let mut contacts = Vec::new();
        if let Some(rid) = rec.row.resident_id
            && let Some(r) = self.store.get_resident(&Scope::All, rid).await?
        {
            for c in &r.contacts {
                if let Some(p) = &c.phone {
                    contacts.push((
                        c.relation.clone(),
                        c.name.clone(),
                        self.cipher.open(Field::Phone, &p.enc)?,
                    ));
                }
            }
        }
        let audit = self.audit(
            actor,
            "task.reveal",
            format!("task:{id}"),
            format!("field=phones contacts={}", contacts.len()),
        );
        self.store.append_audit(&audit).await?;
        Ok(RevealedPhones { person, contacts })
    }

    fn action_result(
        &self,
        id: i64,
        out: Option<(TaskRecord, TaskChangeResult)>,
        state: TaskState,
    ) -> TaskActionResult {
        TaskActionResult {
            task_id: id,
            state,
            changed: out.is_some(),
            case_id: out.and_then(|(_, r)| r.case_id),
        }
    }

    async fn state_of(&self, vis: &TaskVisibility, id: i64) -> Result<TaskState> {
        Ok(self
            .store
            .get_task(vis, id)
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))?
            .row
            .state)
    }

    /// Takes a task.
    pub async fn accept_task(&self, actor: &Actor, id: i64) -> Result<TaskActionResult> {
        let vis = self.task_vis(actor, Action::WorkTasks)?;
        let me = actor.user.id;
        let audit = self.audit(actor, "task.accept", "", "");
        let now = audit.at;
        let out = self
            .edit_task(&vis, id, audit, |rec, task| {
                match task
                    .apply(TaskEvent::Accept { by: me }, now)
                    .map_err(task_error)?
                {
                    Effect::NoOp => Ok(None),
                    Effect::Applied { .. } => Ok(Some(Edit {
                        event: "accept",
                        assignees: if rec.assignees.iter().any(|a| a.user_id == me) {
                            Vec::new()
                        } else {
                            vec![NewAssignee {
                                user_id: me,
                                kind: AssigneeKind::Accepted,
                                step: None,
                            }]
                        },
                        ..Default::default()
                    })),
                }
            })
            .await?;
        let state = self.state_of(&vis, id).await?;
        Ok(self.action_result(id, out, state))
    }

    /// Records a contact attempt.
    pub async fn record_attempt(
        &self,
        actor: &Actor,
        id: i64,
        form: &AttemptForm,
    ) -> Result<TaskActionResult> {
        let vis = self.task_vis(actor, Action::WorkTasks)?;
        let now = self.now();
        let at = form.at.unwrap_or(now);
        if at > now.plus_secs(300) {
            return Err(AppError::invalid("task.attempt_in_future"));
        }
        let key = form
            .client_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_string);
        if key.as_ref().is_some_and(|k| k.len() > 128) {
            return Err(AppError::invalid("task.bad_client_key"));
        }
        if let Some(k) = &key {
            // Visible first, so that a key does not reveal another's task.
            self.state_of(&vis, id).await?;
            if self.store.attempt_by_key(id, k).await?.is_some() {
                let state = self.state_of(&vis, id).await?;
                return Ok(self.action_result(id, None, state));
            }
        }
        let me = actor.user.id;
        let attempt = ContactAttempt {
            at,
            method: form.method,
            by: Some(me),
            result: form.result,
            note: note(&form.note),
        };
        let audit = self.audit(
            actor,
            "task.attempt",
            "",
            format!("method={} result={}", form.method.code(), form.result.code()),
        );
        let out = self
            .edit_task(&vis, id, audit, |rec, task| {
                match task
                    .apply(TaskEvent::Attempt(attempt.clone()), now)
                    .map_err(task_error)?
                {
                    Effect::NoOp => Ok(None),
                    Effect::Applied { .. } => Ok(Some(Edit {
                        event: "attempt",
                        detail: format!(
                            "method={} result={}",
                            attempt.method.code(),
                            attempt.result.code()
                        ),
                        attempt: Some(NewAttempt {
                            at,
                            method: attempt.method,
                            by_user: Some(me),
                            result: attempt.result,
                            note: attempt.note.clone(),
                            notification_id: None,
                            client_key: key.clone(),
                        }),
                        assignees: if rec.assignees.iter().any(|a| a.user_id == me) {
                            Vec::new()
                        } else {
                            vec![NewAssignee {
                                user_id: me,
                                kind: AssigneeKind::Accepted,
                                step: None,
                            }]
                        },
                        ..Default::default()
                    })),
                }
            })
            .await?;
        let state = self.state_of(&vis, id).await?;
        Ok(self.action_result(id, out, state))
    }

    /// Closes a task with its outcome. The same outcome again is a no-op; a
    /// different one a conflict; 已被骗 needs the loss and opens a case.
    pub async fn record_outcome(
        &self,
        actor: &Actor,
        id: i64,
        form: &OutcomeForm,
    ) -> Result<TaskActionResult> {
        let vis = self.task_vis(actor, Action::WorkTasks)?;
        let loss = match (
            form.loss_fen,
            form.loss_yuan.as_deref().map(str::trim).filter(|s| !s.is_empty()),
        ) {
            (Some(f), _) => Some(f),
            (None, Some(y)) => Some(yuan_to_fen(y).ok_or_else(|| AppError::invalid("task.loss_required"))?),
            (None, None) => None,
        };
        let outcome = Outcome::new(form.outcome, loss).map_err(task_error)?;
        let me = actor.user.id;
        let n = note(&form.note);
        let audit = self.audit(
            actor,
            "task.close",
            "",
            format!("outcome={}", form.outcome.code()),
        );
        let now = audit.at;
        let out = self
            .edit_task(&vis, id, audit, |rec, task| {
                let ev = TaskEvent::Close {
                    outcome: Some(outcome),
                    by: Some(me),
                    note: n.clone(),
                };
                match task.apply(ev, now).map_err(task_error)? {
                    Effect::NoOp => Ok(None),
                    Effect::Applied { to, .. } => Ok(Some(Edit {
                        event: if to == TaskState::Transferred {
                            "transfer"
                        } else {
                            "close"
                        },
                        detail: format!(
                            "outcome={}{}",
                            outcome.kind().code(),
                            outcome
                                .loss_fen()
                                .map(|l| format!(" loss_fen={l}"))
                                .unwrap_or_default()
                        ),
                        lead_status: Some(LeadStatus::Closed),
                        case: outcome.loss_fen().map(|loss_fen| NewCase {
                            lead_id: Some(rec.row.lead_id),
                            resident_id: rec.row.resident_id,
                            person_key: Some(rec.row.person_key),
                            node_id: Some(rec.row.node_id),
                            fraud_type: rec.row.fraud_type,
                            loss_fen,
                            reported_at: now,
                            created_by: me.0,
                        }),
                        alert: Some(None),
                        feedback_pending: Some(matches!(
                            outcome.kind(),
                            OutcomeKind::FalseAlarm | OutcomeKind::Defrauded
                        )),
                        ..Default::default()
                    })),
                }
            })
            .await?;
        if out.is_some() {
            self.wake_tasks();
        }
        let state = self.state_of(&vis, id).await?;
        Ok(self.action_result(id, out, state))
    }

    /// Sends a task one step up its chain now (a person asks for help, or a
    /// warning could not be sent). `None` when the chain is at its top.
    pub(crate) async fn escalate_now(
        &self,
        vis: &TaskVisibility,
        id: i64,
        audit: AuditRecord,
        reason: &str,
        staff: &Staff,
    ) -> Result<Option<(TaskRecord, TaskChangeResult)>> {
        let now = audit.at;
        self.edit_task(vis, id, audit, |rec, task| {
            let step = task.escalations.len();
            let Some(to) = task.plan.escalation.get(step).copied() else {
                return Ok(None);
            };
            task.apply(TaskEvent::Escalate { step }, now)
                .map_err(task_error)?;
            Ok(Some(self.escalation_edit(staff, rec, step, &to, reason, now)))
        })
        .await
    }

    pub(crate) fn escalation_edit(
        &self,
        staff: &Staff,
        rec: &TaskRecord,
        step: usize,
        to: &fanzha_core::dispatch::Assignee,
        reason: &str,
        now: Timestamp,
    ) -> Edit {
        let county = staff.county_of(Some(rec.row.node_id));
        let holders = staff.resolve(to, county);
        let msg = Msg::new("task.notify.escalated")
            .arg("grade", rec.row.grade.zh())
            .arg("task", rec.row.id);
        let notifications = staff_notices(
            staff,
            &holders,
            NotifyPurpose::Escalated,
            &format!("task-{}-step-{step}", rec.row.id),
            &msg,
            now,
        );
        Edit {
            event: "escalate",
            step: Some(step as i64),
            detail: format!(
                "step={} to={} reason={reason} holders={}",
                step + 1,
                to.post(),
                holders.len()
            ),
            assignees: holders
                .iter()
                .map(|u| NewAssignee {
                    user_id: *u,
                    kind: AssigneeKind::Escalation,
                    step: Some(step as i64),
                })
                .collect(),
            notifications,
            alert: holders.is_empty().then(|| Some("no_owner".to_string())),
            ..Default::default()
        }
    }

    /// Escalates a task by hand (a worker needs help, a leader steps in).
    pub async fn escalate_task(&self, actor: &Actor, id: i64, reason: &str) -> Result<TaskActionResult> {
        let vis = self.task_vis(actor, Action::EscalateTasks)?;
        let reason: String = reason.trim().chars().take(200).collect();
        let staff = Staff::load(self).await?;
        let audit = self.audit(actor, "task.escalate", "", format!("manual {reason}"));
        let out = self.escalate_now(&vis, id, audit, "manual", &staff).await?;
        let state = self.state_of(&vis, id).await?;
        if out.is_none() && state.is_open() {
            return Err(AppError::conflict("task.chain_top"));
        }
        Ok(self.action_result(id, out, state))
    }

    /// Escalates every task whose deadline passed; how many steps were taken.
    pub(crate) async fn escalate_due(&self) -> Result<usize> {
        let now = self.now();
        let due = self.store.tasks_due(now, 500).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let staff = Staff::load(self).await?;
        let vis = TaskVisibility::all();
        let mut n = 0;
        for id in due {
            let audit = self.audit_system("system", "task.escalate", "", "", "");
            let mut stepped = false;
            let r = self
                .edit_task(&vis, id, audit, |rec, task| {
                    match fanzha_core::dispatch::next_escalation(task, now) {
                        Some(d) => {
                            task.apply(TaskEvent::Escalate { step: d.step }, now)
                                .map_err(task_error)?;
                            stepped = true;
                            let reason = match d.reason {
                                fanzha_core::dispatch::Overdue::Contact => "contact_overdue",
                                fanzha_core::dispatch::Overdue::Visit => "visit_overdue",
                            };
                            Ok(Some(
                                self.escalation_edit(&staff, rec, d.step, &d.to, reason, now),
                            ))
                        }
                        // The check time was stale: record the new one.
                        None => Ok(Some(Edit {
                            event: "check",
                            detail: "no escalation due".into(),
                            ..Default::default()
                        })),
                    }
                })
                .await;
            match r {
                Ok(Some(_)) if stepped => n += 1,
                Ok(_) => {}
                Err(e) => tracing::warn!(task_id = id, error = %e, "escalation failed"),
            }
        }
        Ok(n)
    }
}
