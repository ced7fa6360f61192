//! Dispatch: leads become tasks by the policy, posts become people.

use crate::notify::check_rate;
use crate::{App, AppError, Result, Scope, User};
use fanzha_core::dispatch::{Assignee, OrgLevel, PersonLocation, Route, Salutation, TaskPlan};
use fanzha_core::i18n::{Lang, Msg};
use fanzha_core::org::NodeKind;
use fanzha_core::roles::Role;
use fanzha_core::{FraudType, NodeId, Timestamp, UserId};
use fanzha_store::model::OrgNode;
use fanzha_store::{
    AssigneeKind, DispatchOutcome, LeadToDispatch, NewAssignee, NewNotification, NewTask, NotifyChannel,
    NotifyPurpose, NotifyStatus, ResidentBrief, SealedPhone, TaskFields,
};
use std::collections::{HashMap, HashSet};

/// The org tree, the staff and the designated heads, to resolve posts.
pub(crate) struct Staff {
    pub(crate) nodes: HashMap<NodeId, OrgNode>,
    users: Vec<User>,
    heads: HashMap<(NodeId, Role), UserId>,
    phones: HashMap<UserId, SealedPhone>,
}

impl Staff {
    pub(crate) async fn load(app: &App) -> Result<Staff> {
        let nodes = app
            .store
            .list_nodes(&Scope::All)
            .await?
            .into_iter()
            .map(|n| (n.id, n))
            .collect();
        let users: Vec<User> = app
            .store
            .list_users(&Scope::All)
            .await?
            .into_iter()
            .filter(|u| !u.disabled)
            .collect();
        let heads = app
            .store
            .org_heads()
            .await?
            .into_iter()
            .map(|h| ((h.node_id, h.role), h.user_id))
            .collect();
        let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
        let phones = app.store.user_phones(&ids).await?.into_iter().collect();
        Ok(Staff {
            nodes,
            users,
            heads,
            phones,
        })
    }

    /// Where a person of grid `node` lives: grid, village, township.
    pub(crate) fn location(&self, node: Option<NodeId>) -> Option<PersonLocation> {
        let grid = self.nodes.get(&node?)?;
        if grid.kind != NodeKind::Grid {
            return None;
        }
        let village = self.nodes.get(&grid.parent_id?)?;
        let township = self.nodes.get(&village.parent_id?)?;
        (village.kind == NodeKind::Village && township.kind == NodeKind::Township).then_some(PersonLocation {
            grid: grid.id,
            village: village.id,
            township: township.id,
        })
    }

    /// The county (center) a node belongs to; the first county otherwise.
    pub(crate) fn county_of(&self, node: Option<NodeId>) -> Option<NodeId> {
        if let Some(n) = node.and_then(|n| self.nodes.get(&n)) {
            for id in n.path.ids() {
                if self.nodes.get(&id).is_some_and(|x| x.kind == NodeKind::County) {
                    return Some(id);
                }
            }
        }
        let mut counties: Vec<&OrgNode> = self
            .nodes
            .values()
            .filter(|n| n.kind == NodeKind::County)
            .collect();
        counties.sort_by_key(|n| n.id);
        counties.first().map(|n| n.id)
    }

    fn with_role_at(&self, role: Role, node: NodeId) -> Vec<UserId> {
        self.users
            .iter()
            .filter(|u| u.role == role && u.node_id == Some(node))
            .map(|u| u.id)
            .collect()
    }

    /// The people a post stands for. `county` is the center of the task.
    pub(crate) fn resolve(&self, a: &Assignee, county: Option<NodeId>) -> Vec<UserId> {
        let node = match a.at {
            OrgLevel::Center => county,
            _ => a.node,
        };
        let Some(node) = node else {
            return Vec::new();
        };
        if a.head
            && let Some(u) = self.heads.get(&(node, a.role))
            && self.users.iter().any(|x| x.id == *u)
        {
            return vec![*u];
        }
        // Without a designated head, everyone with the role at the node.
        self.with_role_at(a.role, node)
    }

    pub(crate) fn resolve_all(&self, posts: &[Assignee], county: Option<NodeId>) -> Vec<UserId> {
        let mut out = Vec::new();
        for a in posts {
            for u in self.resolve(a, county) {
                if !out.contains(&u) {
                    out.push(u);
                }
            }
        }
        out
    }

    pub(crate) fn phone(&self, u: UserId) -> Option<&SealedPhone> {
        self.phones.get(&u)
    }

    pub(crate) fn path(&self, node: NodeId) -> String {
        self.nodes
            .get(&node)
            .map(|n| n.path.as_str().to_string())
            .unwrap_or_default()
    }
}

/// The in-app message and (when the user has a phone) the staff SMS telling
/// `users` about a task. Texts carry the grade and lead/task numbers only.
pub(crate) fn staff_notices(
    staff: &Staff,
    users: &[UserId],
    purpose: NotifyPurpose,
    key_base: &str,
    msg: &Msg,
    now: Timestamp,
) -> Vec<NewNotification> {
    let body = serde_json::to_string(msg).unwrap_or_default();
    let sms_text = msg.render(Lang::Zh);
    let mut out = Vec::new();
    for u in users {
        out.push(NewNotification {
            task_id: None,
            appeal_id: None,
            user_id: Some(*u),
            person_key: None,
            channel: NotifyChannel::InApp,
            purpose,
            to: None,
            template_id: format!("in_app:{}", purpose.code()),
            body: body.clone(),
            idempotency_key: format!("{key_base}-{}-app-{}", purpose.code(), u.0),
            status: NotifyStatus::Sent,
            next_attempt_at: None,
            created_at: now,
        });
        if let Some(p) = staff.phone(*u) {
            out.push(NewNotification {
                task_id: None,
                appeal_id: None,
                user_id: Some(*u),
                person_key: None,
                channel: NotifyChannel::Sms,
                purpose,
                to: Some(p.clone()),
                template_id: format!("staff:{}", purpose.code()),
                body: sms_text.clone(),
                idempotency_key: format!("{key_base}-{}-sms-{}", purpose.code(), u.0),
                status: NotifyStatus::Queued,
                next_attempt_at: Some(now),
                created_at: now,
            });
        }
    }
    out
}

/// The posts a plan's watchers stand for, as text (`analyst@center`).
fn watch_roles(plan: &TaskPlan) -> String {
    plan.watch
        .iter()
        .map(|a| a.post().to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The columns of a new task from its plan.
pub(crate) fn plan_fields(
    plan: &TaskPlan,
    policy_version: i64,
    node_id: NodeId,
    fraud_type: Option<FraudType>,
    alert: Option<String>,
) -> TaskFields {
    TaskFields {
        node_id,
        route: plan.route,
        grade: plan.grade,
        fraud_type,
        method: plan.method,
        state: fanzha_core::task::TaskState::Pending,
        policy_version,
        plan: serde_json::to_string(plan).unwrap_or_default(),
        watch_roles: watch_roles(plan),
        contact_due: plan.contact_due,
        visit_due: plan.visit_due,
        next_check_at: Some(plan.contact_due),
        escalation_step: 0,
        accepted_at: None,
        first_contact_at: None,
        visited_at: None,
        closed_at: None,
        outcome: None,
        loss_fen: None,
        outcome_by: None,
        outcome_note: None,
        alert,
        feedback_pending: false,
    }
}

/// The key of a lead's warning on a channel; the same on every dispatch
/// and every retry, so that a person is never warned twice for one lead.
pub(crate) fn warning_key(lead_id: i64, channel: NotifyChannel) -> String {
    format!("lead-{lead_id}-warn-{}", channel.code())
}

impl App {
    /// Renders the warning for a person: the SMS (or the robocall text) for
    /// the fraud type, with the salutation when the resident is known.
    pub(crate) fn warning_text(
        &self,
        templates: &fanzha_core::dispatch::TemplateSet,
        channel: NotifyChannel,
        fraud_type: Option<FraudType>,
        brief: Option<&ResidentBrief>,
    ) -> Result<String> {
        let salutation = brief.map_or_else(Salutation::none, |b| Salutation::of(&b.name, b.sex));
        let vars = templates.defaults().name(salutation);
        let t = fraud_type.unwrap_or(FraudType::Other);
        let r = match channel {
            NotifyChannel::Voice => templates.render_robocall(t, &vars),
            _ => templates.render_sms(t, &vars).map(|s| s.text),
        };
        r.map_err(|e| AppError::Internal(format!("warning template: {e}")))
    }

    /// A warning notification to a person.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn warning_notice(
        &self,
        lead_id: i64,
        person_key: i64,
        to: &SealedPhone,
        channel: NotifyChannel,
        fraud_type: Option<FraudType>,
        text: String,
        now: Timestamp,
    ) -> NewNotification {
        let kind = if channel == NotifyChannel::Voice {
            "robocall"
        } else {
            "sms"
        };
        NewNotification {
            task_id: None,
            appeal_id: None,
            user_id: None,
            person_key: Some(person_key),
            channel,
            purpose: NotifyPurpose::Warning,
            to: Some(to.clone()),
            template_id: format!("{kind}:{}", fraud_type.unwrap_or(FraudType::Other).code()),
            body: text,
            idempotency_key: warning_key(lead_id, channel),
            status: NotifyStatus::Queued,
            next_attempt_at: Some(now),
            created_at: now,
        }
    }

    /// Turns every lead waiting for dispatch into a task (and raises the
    /// grade of tasks whose lead rose); how many of each.
    pub(crate) async fn dispatch_leads(&self) -> Result<(usize, usize)> {
        let mut created = 0;
        let mut regraded = 0;
        let batch = self.cfg.tasks.dispatch_batch.clamp(1, 10_000);
        let mut staff: Option<Staff> = None;
        // Bounded: each round either creates tasks or regrades them.
        for _ in 0..1_000 {
            let todo = self.store.leads_to_dispatch(batch).await?;
            if todo.is_empty() {
                break;
            }
            if staff.is_none() {
                staff = Some(Staff::load(self).await?);
            }
            let Some(st) = staff.as_ref() else { break };
            let (fresh, regrade): (Vec<_>, Vec<_>) = todo.into_iter().partition(|l| l.task_id.is_none());
            let mut progress = 0;
            if !fresh.is_empty() {
                let n = self.create_for_leads(st, &fresh).await?;
                created += n;
                progress += fresh.len();
            }
            for l in &regrade {
                self.regrade_task(st, l).await?;
                regraded += 1;
                progress += 1;
            }
            if progress == 0 {
                break;
            }
        }
        if created > 0 || regraded > 0 {
            tracing::info!(created, regraded, "leads dispatched");
        }
        Ok((created, regraded))
    }

    async fn create_for_leads(&self, st: &Staff, leads: &[LeadToDispatch]) -> Result<usize> {
        let now = self.now();
        let (version, policy) = self.dispatch_policy().await?;
        let templates = self.task_templates().await?;
        let rids: Vec<_> = leads.iter().filter_map(|l| l.resident_id).collect();
        let briefs: HashMap<_, _> = self
            .store
            .resident_briefs(&rids)
            .await?
            .into_iter()
            .map(|b| (b.id, b))
            .collect();
        let rate = self.sms_rate();
        let since = Timestamp(now.0 - i64::from(rate.window_hours) * 3_600_000);
        let keys: Vec<i64> = leads
            .iter()
            .map(|l| l.person_key)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut history: HashMap<i64, Vec<Timestamp>> = HashMap::new();
        for (k, at) in self.store.warning_history(&keys, since).await? {
            history.entry(k).or_default().push(at);
        }
        let mut tasks = Vec::with_capacity(leads.len());
        for l in leads {
            let node = l
                .resident_id
                .and_then(|r| briefs.get(&r))
                .map(|b| b.grid_id)
                .or(l.node_id);
            let loc = st.location(node);
            let plan = policy.plan(l.grade, loc, now);
            let county = st.county_of(node);
            let node_id = match (plan.route, loc) {
                (Route::Local, Some(loc)) => loc.grid,
                _ => node
                    .or(county)
                    .ok_or_else(|| AppError::Internal("no org node for a task".into()))?,
            };
            let owners = st.resolve_all(&plan.owners, county);
            let watchers: Vec<UserId> = st
                .resolve_all(&plan.watch, county)
                .into_iter()
                .filter(|u| !owners.contains(u))
                .collect();
            let mut alert = None;
            let mut notifications = Vec::new();
            if plan.method.is_automatic() {
                let phone_ok = l.subscriber_kind == "phone" && !l.subscriber.enc.is_empty();
                if !phone_ok {
                    alert = Some("no_phone".to_string());
                } else {
                    let h = history.entry(l.person_key).or_default();
                    let mut channel = match plan.method {
                        fanzha_core::dispatch::Method::Robocall => NotifyChannel::Voice,
                        _ => NotifyChannel::Sms,
                    };
                    if channel == NotifyChannel::Sms && !check_rate(&rate, h, now).is_allowed() {
                        if plan.fallback == Some(fanzha_core::dispatch::Method::Robocall) {
                            channel = NotifyChannel::Voice;
                        } else {
                            alert = Some("rate_limited".to_string());
                        }
                    }
                    if alert.is_none() {
                        let brief = l.resident_id.and_then(|r| briefs.get(&r));
                        let text = self.warning_text(&templates, channel, l.fraud_type, brief)?;
                        if channel == NotifyChannel::Sms {
                            h.push(now);
                        } else if plan.method == fanzha_core::dispatch::Method::AutoSms {
                            alert = Some("rate_limited".to_string());
                        }
                        notifications.push(self.warning_notice(
                            l.lead_id,
                            l.person_key,
                            &l.subscriber,
                            channel,
                            l.fraud_type,
                            text,
                            now,
                        ));
                    }
                }
            } else if owners.is_empty() {
                alert = Some("no_owner".to_string());
            }
            let msg = Msg::new("task.notify.assigned")
                .arg("grade", l.grade.zh())
                .arg("lead", l.lead_id);
            notifications.extend(staff_notices(
                st,
                &owners,
                NotifyPurpose::Assigned,
                &format!("lead-{}", l.lead_id),
                &msg,
                now,
            ));
            let mut assignees: Vec<NewAssignee> = owners
                .iter()
                .map(|u| NewAssignee {
                    user_id: *u,
                    kind: AssigneeKind::Owner,
                    step: None,
                })
                .collect();
            assignees.extend(watchers.iter().map(|u| NewAssignee {
                user_id: *u,
                kind: AssigneeKind::Watch,
                step: None,
            }));
            let detail = format!(
                "lead={} grade={} method={} route={} owners={} policy={version}",
                l.lead_id,
                l.grade.code(),
                plan.method.code(),
                fanzha_store::route_code(plan.route),
                owners.len()
            );
            tasks.push(NewTask {
                lead_id: l.lead_id,
                person_key: l.person_key,
                resident_id: l.resident_id,
                created_at: now,
                fields: plan_fields(&plan, version, node_id, l.fraud_type, alert),
                assignees,
                notifications,
                detail,
            });
        }
        let paths: Vec<String> = tasks.iter().map(|t| st.path(t.fields.node_id)).collect();
        let audit = self.audit_system("system", "task.create", "", "", "");
        let out = self.store.create_tasks(tasks, &audit).await?;
        let mut n = 0;
        for (o, path) in out.iter().zip(paths) {
            if let DispatchOutcome::Created(id) = o {
                n += 1;
                self.task_event(*id, "create", &path);
            }
        }
        Ok(n)
    }

    /// A lead whose grade rose above its open task's: the task takes the
    /// new grade's plan (method, owners, deadlines from now if sooner).
    async fn regrade_task(&self, st: &Staff, l: &LeadToDispatch) -> Result<()> {
        let Some(task_id) = l.task_id else {
            return Ok(());
        };
        let now = self.now();
        let (version, policy) = self.dispatch_policy().await?;
        let vis = fanzha_store::TaskVisibility::all();
        let Some(rec) = self.store.get_task(&vis, task_id).await? else {
            return Ok(());
        };
        let node = Some(rec.row.node_id);
        let loc = st.location(node);
        let new_plan: TaskPlan = policy.plan(l.grade, loc, now);
        let county = st.county_of(node);
        let owners = st.resolve_all(&new_plan.owners, county);
        let msg = Msg::new("task.notify.assigned")
            .arg("grade", l.grade.zh())
            .arg("lead", l.lead_id);
        let key = format!("task-{task_id}-regrade-{}", l.grade.code());
        let notifications = staff_notices(st, &owners, NotifyPurpose::Assigned, &key, &msg, now);
        let audit = self.audit_system("system", "task.regrade", "", "", "");
        let from_grade = rec.row.grade;
        self.edit_task(&vis, task_id, audit, |rec, task| {
            let mut plan = new_plan.clone();
            plan.contact_due = plan.contact_due.min(rec.row.contact_due);
            task.plan = plan;
            Ok(Some(super::work::Edit {
                event: "regrade",
                detail: format!(
                    "grade {} -> {} policy={version}",
                    from_grade.code(),
                    l.grade.code()
                ),
                assignees: owners
                    .iter()
                    .map(|u| NewAssignee {
                        user_id: *u,
                        kind: AssigneeKind::Owner,
                        step: None,
                    })
                    .collect(),
                notifications: notifications.clone(),
                policy_version: Some(version),
                ..Default::default()
            }))
        })
        .await?;
        Ok(())
    }
}
