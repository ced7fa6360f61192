//! Dispatch policies, tasks, notifications, appeals, cases and the review
//! queue (see [`crate::tasks`]).

use super::audit::{self, Pending};
use super::in_list;
use crate::Scope;
use crate::db::{Db, P, Q, Row, params, subtree_bounds};
use crate::error::{Result, StoreError};
use crate::events::{LeadSource, LeadStatus, SealedName};
use crate::model::{AuditRecord, SealedPhone};
use crate::tasks::*;
use fanzha_core::dispatch::Method;
use fanzha_core::idcard::Sex;
use fanzha_core::roles::Role;
use fanzha_core::task::{ContactMethod, ContactResult, OutcomeKind, TaskState};
use fanzha_core::{FraudType, Grade, IndicatorKind, NodeId, ResidentId, Timestamp, UserId};

/// Most ids in one `IN` list.
const CHUNK: usize = 256;

fn pending(rec: &AuditRecord, action: &str, target: String, detail: String) -> Pending {
    Pending {
        rec_at: rec.at,
        actor_id: rec.actor_id,
        actor: rec.actor.clone(),
        action: action.to_string(),
        target,
        detail,
        ip: rec.ip.clone(),
    }
}

fn action_or<'a>(rec: &'a AuditRecord, default: &'a str) -> &'a str {
    if rec.action.is_empty() {
        default
    } else {
        &rec.action
    }
}

fn check_len(v: &str, max: usize, what: &str) -> Result<()> {
    if v.len() > max {
        return Err(StoreError::invalid(format!("{what} is longer than {max} bytes")));
    }
    Ok(())
}

fn check_chars(v: &str, max: usize, what: &str) -> Result<()> {
    if v.chars().count() > max {
        return Err(StoreError::invalid(format!(
            "{what} is longer than {max} characters"
        )));
    }
    Ok(())
}

fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn offset_i64(offset: usize) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}

fn corrupt(what: &str) -> StoreError {
    StoreError::corrupt(format!("unknown {what}"))
}

fn grade_of(s: &str) -> Result<Grade> {
    Grade::parse(s).map_err(|_| corrupt("grade"))
}
fn fraud_opt(s: Option<String>) -> Result<Option<FraudType>> {
    s.map(|s| FraudType::parse(&s).map_err(|_| corrupt("fraud type")))
        .transpose()
}
fn state_of(s: &str) -> Result<TaskState> {
    TaskState::parse(s).map_err(|_| corrupt("task state"))
}
fn state_opt(s: Option<String>) -> Result<Option<TaskState>> {
    s.map(|s| state_of(&s)).transpose()
}
fn method_of(s: &str) -> Result<Method> {
    Method::parse(s).map_err(|_| corrupt("dispatch method"))
}
fn outcome_opt(s: Option<String>) -> Result<Option<OutcomeKind>> {
    s.map(|s| OutcomeKind::parse(&s).map_err(|_| corrupt("outcome")))
        .transpose()
}
fn route_of(s: &str) -> Result<fanzha_core::dispatch::Route> {
    parse_route(s).ok_or_else(|| corrupt("route"))
}
fn kind_of(s: &str) -> Result<IndicatorKind> {
    IndicatorKind::parse(s).map_err(|_| corrupt("indicator kind"))
}
fn role_of(s: &str) -> Result<Role> {
    Role::parse(s).map_err(|_| corrupt("role"))
}

fn user_opt(v: Option<i64>) -> Option<UserId> {
    v.map(UserId)
}

/// Bumps the intel generation, so that match indexes rebuild.
async fn bump_intel_generation<D: Db>(db: &D) -> Result<()> {
    db.exec(
        "UPDATE intel_state SET generation = generation + 1 WHERE id = 1",
        &[],
    )
    .await?;
    Ok(())
}

// ------------------------------------------------------------------ policies

const POLICY_COLS: &str = "version, name, toml, author, author_id, note, created_at, active";

fn policy_of(mut r: Row) -> Result<DispatchPolicyVersion> {
    Ok(DispatchPolicyVersion {
        version: r.i64(0)?,
        name: r.text(1)?,
        toml: r.text(2)?,
        author: r.text(3)?,
        author_id: r.i64(4)?,
        note: r.text(5)?,
        created_at: r.ts(6)?,
        active: r.bool(7)?,
    })
}

pub(crate) async fn active_policy<D: Db>(db: &D) -> Result<Option<DispatchPolicyVersion>> {
    db.query_opt(
        &format!(
            "SELECT {POLICY_COLS} FROM dispatch_policies WHERE active = 1 ORDER BY version DESC LIMIT 1"
        ),
        &[],
    )
    .await?
    .map(policy_of)
    .transpose()
}

pub(crate) async fn get_policy<D: Db>(db: &D, version: i64) -> Result<Option<DispatchPolicyVersion>> {
    db.query_opt(
        &format!("SELECT {POLICY_COLS} FROM dispatch_policies WHERE version = $1"),
        params![version],
    )
    .await?
    .map(policy_of)
    .transpose()
}

pub(crate) async fn list_policies<D: Db>(db: &D, limit: usize) -> Result<Vec<DispatchPolicyVersion>> {
    db.query(
        &format!("SELECT {POLICY_COLS} FROM dispatch_policies ORDER BY version DESC LIMIT $1"),
        params![limit_i64(limit)],
    )
    .await?
    .into_iter()
    .map(policy_of)
    .collect()
}

pub(crate) async fn next_policy_version<D: Db>(db: &D) -> Result<i64> {
    db.query_i64("SELECT COALESCE(MAX(version), 0) + 1 FROM dispatch_policies", &[])
        .await
}

pub(crate) async fn save_policy<D: Db>(db: &D, new: &NewDispatchPolicy, rec: &AuditRecord) -> Result<()> {
    if new.version < 1 {
        return Err(StoreError::invalid("policy versions start at 1"));
    }
    if new.toml.trim().is_empty() {
        return Err(StoreError::invalid("the policy document is empty"));
    }
    check_len(&new.toml, MAX_POLICY_TOML, "the policy document")?;
    let name = super::required(&new.name, "policy name")?;
    check_chars(&new.note, MAX_TASK_TEXT, "the note")?;
    if db
        .query_opt(
            "SELECT 1 FROM dispatch_policies WHERE version = $1",
            params![new.version],
        )
        .await?
        .is_some()
    {
        return Err(StoreError::conflict(format!(
            "dispatch policy version {} was saved meanwhile",
            new.version
        )));
    }
    db.exec("UPDATE dispatch_policies SET active = 0 WHERE active = 1", &[])
        .await?;
    db.exec(
        "INSERT INTO dispatch_policies (version, name, toml, author, author_id, note, created_at, active) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1)",
        params![
            new.version,
            &name,
            &new.toml,
            &rec.actor,
            rec.actor_id,
            &new.note,
            rec.at
        ],
    )
    .await?;
    let target = super::target_or(rec, || format!("dispatch_policy:{}", new.version));
    let detail = if rec.detail.is_empty() {
        format!("version={} name={name}", new.version)
    } else {
        rec.detail.clone()
    };
    audit::append_many(
        db,
        vec![pending(
            rec,
            action_or(rec, "dispatch.policy.save"),
            target,
            detail,
        )],
    )
    .await?;
    Ok(())
}

pub(crate) async fn activate_policy<D: Db>(db: &D, version: i64, rec: &AuditRecord) -> Result<()> {
    if db
        .query_opt(
            "SELECT 1 FROM dispatch_policies WHERE version = $1",
            params![version],
        )
        .await?
        .is_none()
    {
        return Err(StoreError::NotFound {
            what: "dispatch policy version",
        });
    }
    db.exec("UPDATE dispatch_policies SET active = 0 WHERE active = 1", &[])
        .await?;
    db.exec(
        "UPDATE dispatch_policies SET active = 1 WHERE version = $1",
        params![version],
    )
    .await?;
    let target = super::target_or(rec, || format!("dispatch_policy:{version}"));
    audit::append_many(
        db,
        vec![pending(
            rec,
            action_or(rec, "dispatch.policy.activate"),
            target,
            format!("version={version}"),
        )],
    )
    .await?;
    Ok(())
}

// ------------------------------------------------------------------ templates, heads, phones

pub(crate) async fn template_overrides<D: Db>(db: &D) -> Result<Vec<TemplateOverride>> {
    db.query(
        "SELECT kind, key, body, updated_by, updated_at FROM message_templates ORDER BY kind, key",
        &[],
    )
    .await?
    .into_iter()
    .map(|mut r| {
        Ok(TemplateOverride {
            kind: TemplateKind::parse(&r.text(0)?).ok_or_else(|| corrupt("template kind"))?,
            key: r.text(1)?,
            body: r.text(2)?,
            updated_by: r.i64(3)?,
            updated_at: r.ts(4)?,
        })
    })
    .collect()
}

pub(crate) async fn set_template_override<D: Db>(
    db: &D,
    kind: TemplateKind,
    key: &str,
    body: Option<&str>,
    rec: &AuditRecord,
) -> Result<()> {
    let key = key.trim();
    if key.is_empty() || key.len() > 64 {
        return Err(StoreError::invalid("a template key must be 1 to 64 bytes"));
    }
    let detail = match body {
        Some(b) => {
            if b.trim().is_empty() {
                return Err(StoreError::invalid("a template body must not be empty"));
            }
            check_chars(b, MAX_TEMPLATE_BODY, "the template body")?;
            db.exec(
                "INSERT INTO message_templates (kind, key, body, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body, updated_by = excluded.updated_by, \
                 updated_at = excluded.updated_at",
                params![kind.code(), key, b, rec.actor_id, rec.at],
            )
            .await?;
            format!("set chars={}", b.chars().count())
        }
        None => {
            let n = db
                .exec(
                    "DELETE FROM message_templates WHERE kind = $1 AND key = $2",
                    params![kind.code(), key],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::NotFound {
                    what: "template override",
                });
            }
            "removed".to_string()
        }
    };
    let target = super::target_or(rec, || format!("template:{}:{key}", kind.code()));
    audit::append_many(
        db,
        vec![pending(
            rec,
            action_or(rec, "dispatch.template.set"),
            target,
            detail,
        )],
    )
    .await?;
    Ok(())
}

pub(crate) async fn org_heads<D: Db>(db: &D) -> Result<Vec<OrgHead>> {
    db.query(
        "SELECT node_id, role, user_id FROM org_heads ORDER BY node_id, role",
        &[],
    )
    .await?
    .into_iter()
    .map(|mut r| {
        Ok(OrgHead {
            node_id: NodeId(r.i64(0)?),
            role: role_of(&r.text(1)?)?,
            user_id: UserId(r.i64(2)?),
        })
    })
    .collect()
}

pub(crate) async fn set_org_head<D: Db>(
    db: &D,
    node: NodeId,
    role: Role,
    user: Option<UserId>,
    rec: &AuditRecord,
) -> Result<()> {
    let detail = match user {
        Some(u) => {
            let mut r = db
                .query_opt("SELECT role, node_id FROM users WHERE id = $1", params![u])
                .await?
                .ok_or(StoreError::NotFound { what: "user" })?;
            if role_of(&r.text(0)?)? != role {
                return Err(StoreError::invalid("the head must have the role they head for"));
            }
            if r.opt_i64(1)? != Some(node.0) {
                return Err(StoreError::invalid(
                    "the head must be bound to the node they head",
                ));
            }
            db.exec(
                "INSERT INTO org_heads (node_id, role, user_id, set_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (node_id, role) DO UPDATE SET user_id = excluded.user_id, set_at = excluded.set_at",
                params![node, role.code(), u, rec.at],
            )
            .await?;
            format!("role={} user={}", role.code(), u.0)
        }
        None => {
            db.exec(
                "DELETE FROM org_heads WHERE node_id = $1 AND role = $2",
                params![node, role.code()],
            )
            .await?;
            format!("role={} cleared", role.code())
        }
    };
    let target = super::target_or(rec, || format!("node:{}", node.0));
    audit::append_many(
        db,
        vec![pending(rec, action_or(rec, "org.head.set"), target, detail)],
    )
    .await?;
    Ok(())
}

pub(crate) async fn user_phones<D: Db>(db: &D, users: &[UserId]) -> Result<Vec<(UserId, SealedPhone)>> {
    let mut ids: Vec<i64> = users.iter().map(|u| u.0).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut q =
            Q::new("SELECT user_id, phone_enc, phone_bidx, masked FROM user_phones WHERE user_id IN ");
        in_list(&mut q, chunk);
        q.push(" ORDER BY user_id");
        for mut r in db.query(&q.sql, &q.params).await? {
            out.push((
                UserId(r.i64(0)?),
                SealedPhone {
                    enc: r.blob(1)?,
                    bidx: r.blob(2)?,
                    masked: r.text(3)?,
                },
            ));
        }
    }
    Ok(out)
}

pub(crate) async fn set_user_phone<D: Db>(
    db: &D,
    user: UserId,
    phone: Option<&SealedPhone>,
    rec: &AuditRecord,
) -> Result<()> {
    if db
        .query_opt("SELECT 1 FROM users WHERE id = $1", params![user])
        .await?
        .is_none()
    {
        return Err(StoreError::NotFound { what: "user" });
    }
    let detail = match phone {
        Some(p) => {
            if p.enc.is_empty() || p.bidx.is_empty() {
                return Err(StoreError::invalid("the phone must be sealed"));
            }
            check_len(&p.masked, 64, "the masked phone")?;
            db.exec(
                "INSERT INTO user_phones (user_id, phone_enc, phone_bidx, masked, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (user_id) DO UPDATE SET phone_enc = excluded.phone_enc, phone_bidx = excluded.phone_bidx, \
                 masked = excluded.masked, updated_at = excluded.updated_at",
                params![user, &p.enc, &p.bidx, &p.masked, rec.at],
            )
            .await?;
            "phone set".to_string()
        }
        None => {
            db.exec("DELETE FROM user_phones WHERE user_id = $1", params![user])
                .await?;
            "phone removed".to_string()
        }
    };
    let target = super::target_or(rec, || format!("user:{}", user.0));
    audit::append_many(
        db,
        vec![pending(rec, action_or(rec, "user.phone.set"), target, detail)],
    )
    .await?;
    Ok(())
}

// ------------------------------------------------------------------ dispatch

const LEAD_RANK: &str =
    "(CASE l.grade WHEN 'critical' THEN 3 WHEN 'high' THEN 2 WHEN 'medium' THEN 1 ELSE 0 END)";

pub(crate) async fn leads_to_dispatch<D: Db>(db: &D, limit: usize) -> Result<Vec<LeadToDispatch>> {
    let cols = "l.id, l.person_key, l.subscriber_kind, l.subscriber_enc, l.subscriber_bidx, l.subscriber_masked, \
                l.resident_id, l.node_id, l.grade, l.fraud_type, l.source, l.opened_at, l.updated_at";
    // New leads, then regrades; each the highest grade first.
    let fresh = db
        .query(
            &format!(
                "SELECT {cols}, NULL FROM leads l WHERE l.status = 'open' \
                 AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.lead_id = l.id) \
                 ORDER BY {LEAD_RANK} DESC, l.id LIMIT $1"
            ),
            params![limit_i64(limit)],
        )
        .await?;
    let mut rows = fresh;
    if rows.len() < limit {
        let more = db
            .query(
                &format!(
                    "SELECT {cols}, t.id FROM tasks t JOIN leads l ON l.id = t.lead_id \
                     WHERE t.state NOT IN ('done', 'transferred') AND {LEAD_RANK} > t.grade_rank \
                     ORDER BY {LEAD_RANK} DESC, l.id LIMIT $1"
                ),
                params![limit_i64(limit - rows.len())],
            )
            .await?;
        rows.extend(more);
    }
    rows.into_iter()
        .map(|mut r| {
            Ok(LeadToDispatch {
                lead_id: r.i64(0)?,
                person_key: r.i64(1)?,
                subscriber_kind: r.text(2)?,
                subscriber: SealedPhone {
                    enc: r.blob(3)?,
                    bidx: r.blob(4)?,
                    masked: r.text(5)?,
                },
                resident_id: r.opt_i64(6)?.map(ResidentId),
                node_id: r.opt_i64(7)?.map(NodeId),
                grade: grade_of(&r.text(8)?)?,
                fraud_type: fraud_opt(r.opt_text(9)?)?,
                source: LeadSource::parse(&r.text(10)?).ok_or_else(|| corrupt("lead source"))?,
                opened_at: r.ts(11)?,
                updated_at: r.ts(12)?,
                task_id: r.opt_i64(13)?,
            })
        })
        .collect()
}

pub(crate) async fn resident_briefs<D: Db>(db: &D, ids: &[ResidentId]) -> Result<Vec<ResidentBrief>> {
    let mut ids: Vec<i64> = ids.iter().map(|r| r.0).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let mut q = Q::new("SELECT id, name, sex, grid_id FROM residents WHERE id IN ");
        in_list(&mut q, chunk);
        q.push(" ORDER BY id");
        for mut r in db.query(&q.sql, &q.params).await? {
            out.push(ResidentBrief {
                id: ResidentId(r.i64(0)?),
                name: r.text(1)?,
                sex: match r.opt_text(2)?.as_deref() {
                    Some("male") | Some("m") | Some("M") => Some(Sex::Male),
                    Some("female") | Some("f") | Some("F") => Some(Sex::Female),
                    _ => None,
                },
                grid_id: NodeId(r.i64(3)?),
            });
        }
    }
    Ok(out)
}

pub(crate) async fn warning_history<D: Db>(
    db: &D,
    person_keys: &[i64],
    since: Timestamp,
) -> Result<Vec<(i64, Timestamp)>> {
    let mut keys = person_keys.to_vec();
    keys.sort_unstable();
    keys.dedup();
    let mut out = Vec::new();
    for chunk in keys.chunks(CHUNK) {
        let mut q = Q::new("SELECT person_key, created_at FROM notifications WHERE person_key IN ");
        in_list(&mut q, chunk);
        q.push(" AND purpose = 'warning' AND status <> 'failed' AND created_at > ")
            .bind(since)
            .push(" ORDER BY person_key, created_at");
        for mut r in db.query(&q.sql, &q.params).await? {
            out.push((r.i64(0)?, r.ts(1)?));
        }
    }
    Ok(out)
}

fn check_fields(f: &TaskFields) -> Result<()> {
    check_len(&f.plan, MAX_PLAN_JSON, "the plan")?;
    check_len(&f.watch_roles, 512, "the watch roles")?;
    if let Some(n) = &f.outcome_note {
        check_chars(n, MAX_TASK_TEXT, "the outcome note")?;
    }
    if let Some(a) = &f.alert {
        check_len(a, 64, "the alert")?;
    }
    if f.escalation_step < 0 {
        return Err(StoreError::invalid("the escalation step is negative"));
    }
    Ok(())
}

fn check_notification(n: &NewNotification) -> Result<()> {
    let k = &n.idempotency_key;
    if k.is_empty() || k.len() > MAX_NOTIFY_KEY || !k.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(StoreError::invalid(
            "an idempotency key must be 1 to 128 printable ASCII characters",
        ));
    }
    check_len(&n.template_id, 64, "the template id")?;
    check_chars(&n.body, MAX_TEMPLATE_BODY, "the message")?;
    match n.channel {
        NotifyChannel::Sms | NotifyChannel::Voice => {
            let Some(to) = &n.to else {
                return Err(StoreError::invalid("an SMS or a call needs a number"));
            };
            if to.enc.is_empty() {
                return Err(StoreError::invalid("the number must be sealed"));
            }
        }
        NotifyChannel::InApp => {
            if n.user_id.is_none() {
                return Err(StoreError::invalid("an in-app message needs a user"));
            }
        }
    }
    Ok(())
}

/// Inserts a notification unless its key is stored; its id either way.
async fn insert_notification<D: Db>(db: &D, n: &NewNotification, task_id: Option<i64>) -> Result<i64> {
    check_notification(n)?;
    let task_id = if n.appeal_id.is_some() {
        n.task_id
    } else {
        n.task_id.or(task_id)
    };
    let to = n.to.as_ref();
    let sent_at = matches!(n.status, NotifyStatus::Sent | NotifyStatus::Delivered).then_some(n.created_at);
    let row = db
        .query_opt(
            "INSERT INTO notifications (task_id, appeal_id, user_id, person_key, channel, purpose, to_enc, to_bidx, \
             to_masked, template_id, body, idempotency_key, status, attempts, next_attempt_at, created_at, sent_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $15, $16) \
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            params![
                task_id,
                n.appeal_id,
                n.user_id,
                n.person_key,
                n.channel.code(),
                n.purpose.code(),
                to.map(|p| p.enc.as_slice()),
                to.map(|p| p.bidx.as_slice()),
                to.map(|p| p.masked.as_str()),
                &n.template_id,
                &n.body,
                &n.idempotency_key,
                n.status.code(),
                n.next_attempt_at,
                n.created_at,
                sent_at,
            ],
        )
        .await?;
    match row {
        Some(mut r) => r.i64(0),
        None => db
            .query_one(
                "SELECT id FROM notifications WHERE idempotency_key = $1",
                params![&n.idempotency_key],
            )
            .await?
            .i64(0),
    }
}

async fn insert_assignees<D: Db>(db: &D, task_id: i64, items: &[NewAssignee], at: Timestamp) -> Result<()> {
    for a in items {
        db.exec(
            "INSERT INTO task_assignees (task_id, user_id, kind, step, added_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (task_id, user_id, kind) DO NOTHING",
            params![task_id, a.user_id, a.kind.code(), a.step, at],
        )
        .await?;
    }
    Ok(())
}

async fn insert_transition<D: Db>(db: &D, task_id: i64, t: &NewTransition, rec: &AuditRecord) -> Result<()> {
    check_len(&t.event, 32, "the event")?;
    check_chars(&t.detail, MAX_TASK_TEXT, "the transition detail")?;
    db.exec(
        "INSERT INTO task_transitions (task_id, at, event, from_state, to_state, step, actor_id, actor, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        params![
            task_id,
            t.at,
            &t.event,
            t.from_state.map(|s| s.code()),
            t.to_state.code(),
            t.step,
            rec.actor_id,
            &rec.actor,
            &t.detail,
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn create_tasks<D: Db>(
    db: &D,
    tasks: &[NewTask],
    tpl: &AuditRecord,
) -> Result<Vec<DispatchOutcome>> {
    let mut out = Vec::with_capacity(tasks.len());
    let mut entries = Vec::with_capacity(tasks.len());
    for (i, t) in tasks.iter().enumerate() {
        let f = &t.fields;
        check_fields(f).map_err(|e| e.at_row(i))?;
        check_chars(&t.detail, MAX_TASK_TEXT, "the detail").map_err(|e| e.at_row(i))?;
        let row = db
            .query_opt(
                "INSERT INTO tasks (lead_id, person_key, resident_id, node_id, route, grade, grade_rank, fraud_type, \
                 method, state, policy_version, plan, watch_roles, contact_due, visit_due, next_check_at, \
                 escalation_step, created_at, accepted_at, first_contact_at, visited_at, closed_at, outcome, loss_fen, \
                 outcome_by, outcome_note, alert, feedback_pending, version, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
                 $21, $22, $23, $24, $25, $26, $27, $28, 1, $29) \
                 ON CONFLICT (lead_id) DO NOTHING RETURNING id",
                params![
                    t.lead_id,
                    t.person_key,
                    t.resident_id,
                    f.node_id,
                    route_code(f.route),
                    f.grade.code(),
                    grade_rank(f.grade),
                    f.fraud_type.map(|x| x.code()),
                    f.method.code(),
                    f.state.code(),
                    f.policy_version,
                    &f.plan,
                    &f.watch_roles,
                    f.contact_due,
                    f.visit_due,
                    f.next_check_at,
                    f.escalation_step,
                    t.created_at,
                    f.accepted_at,
                    f.first_contact_at,
                    f.visited_at,
                    f.closed_at,
                    f.outcome.map(|o| o.code()),
                    f.loss_fen,
                    f.outcome_by,
                    f.outcome_note.as_deref(),
                    f.alert.as_deref(),
                    i64::from(f.feedback_pending),
                    t.created_at,
                ],
            )
            .await
            .map_err(|e| e.at_row(i))?;
        let id = match row {
            Some(mut r) => r.i64(0)?,
            None => {
                let id = db
                    .query_opt("SELECT id FROM tasks WHERE lead_id = $1", params![t.lead_id])
                    .await?
                    .ok_or_else(|| StoreError::conflict("the lead's task vanished").at_row(i))?
                    .i64(0)?;
                out.push(DispatchOutcome::Existing(id));
                continue;
            }
        };
        insert_transition(
            db,
            id,
            &NewTransition {
                at: t.created_at,
                event: "create".into(),
                from_state: None,
                to_state: f.state,
                step: None,
                detail: t.detail.clone(),
            },
            tpl,
        )
        .await?;
        insert_assignees(db, id, &t.assignees, t.created_at).await?;
        for n in &t.notifications {
            insert_notification(db, n, Some(id))
                .await
                .map_err(|e| e.at_row(i))?;
        }
        db.exec(
            "UPDATE leads SET status = 'dispatched', updated_at = $1 WHERE id = $2 AND status = 'open'",
            params![t.created_at, t.lead_id],
        )
        .await?;
        entries.push(pending(
            tpl,
            action_or(tpl, "task.create"),
            format!("task:{id}"),
            format!("lead={} {}", t.lead_id, t.detail),
        ));
        out.push(DispatchOutcome::Created(id));
    }
    if !entries.is_empty() {
        audit::append_many(db, entries).await?;
    }
    Ok(out)
}

// ------------------------------------------------------------------ tasks

const TASK_COLS: &str = "t.id, t.lead_id, t.person_key, t.resident_id, t.node_id, n.name, n.path, t.route, t.grade, \
     t.fraud_type, t.method, t.state, t.policy_version, t.plan, t.watch_roles, t.contact_due, t.visit_due, \
     t.next_check_at, t.escalation_step, t.created_at, t.accepted_at, t.first_contact_at, t.visited_at, t.closed_at, \
     t.outcome, t.loss_fen, t.outcome_by, t.outcome_note, t.alert, t.feedback_pending, t.version, t.updated_at";
/// The same without the plan (lists).
const TASK_LIST_COLS: &str = "t.id, t.lead_id, t.person_key, t.resident_id, t.node_id, n.name, n.path, t.route, \
     t.grade, t.fraud_type, t.method, t.state, t.policy_version, '', t.watch_roles, t.contact_due, t.visit_due, \
     t.next_check_at, t.escalation_step, t.created_at, t.accepted_at, t.first_contact_at, t.visited_at, t.closed_at, \
     t.outcome, t.loss_fen, t.outcome_by, t.outcome_note, t.alert, t.feedback_pending, t.version, t.updated_at";
const TASK_COL_COUNT: usize = 32;

fn task_row(r: &mut Row) -> Result<TaskRow> {
    Ok(TaskRow {
        id: r.i64(0)?,
        lead_id: r.i64(1)?,
        person_key: r.i64(2)?,
        resident_id: r.opt_i64(3)?.map(ResidentId),
        node_id: NodeId(r.i64(4)?),
        node_name: r.text(5)?,
        node_path: r.path(6)?,
        route: route_of(&r.text(7)?)?,
        grade: grade_of(&r.text(8)?)?,
        fraud_type: fraud_opt(r.opt_text(9)?)?,
        method: method_of(&r.text(10)?)?,
        state: state_of(&r.text(11)?)?,
        policy_version: r.i64(12)?,
        plan: r.text(13)?,
        watch_roles: r.text(14)?,
        contact_due: r.ts(15)?,
        visit_due: r.opt_ts(16)?,
        next_check_at: r.opt_ts(17)?,
        escalation_step: r.i64(18)?,
        created_at: r.ts(19)?,
        accepted_at: r.opt_ts(20)?,
        first_contact_at: r.opt_ts(21)?,
        visited_at: r.opt_ts(22)?,
        closed_at: r.opt_ts(23)?,
        outcome: outcome_opt(r.opt_text(24)?)?,
        loss_fen: r.opt_i64(25)?,
        outcome_by: r.opt_i64(26)?,
        outcome_note: r.opt_text(27)?,
        alert: r.opt_text(28)?,
        feedback_pending: r.bool(29)?,
        version: r.i64(30)?,
        updated_at: r.ts(31)?,
    })
}

/// Limits `q` to the tasks `vis` may see (`t` the task, `n` its node).
fn visible(q: &mut Q<'_>, vis: &TaskVisibility) {
    if let Scope::Subtree(p) = &vis.scope {
        let (lo, hi) = subtree_bounds(p);
        q.push(" AND ((n.path >= ")
            .bind(lo)
            .push(" AND n.path < ")
            .bind(hi)
            .push(")");
        if let Some(u) = vis.user {
            q.push(" OR EXISTS (SELECT 1 FROM task_assignees va WHERE va.task_id = t.id AND va.user_id = ")
                .bind(u)
                .push(")");
        }
        q.push(")");
    }
}

const NOTIFY_COLS: &str = "id, task_id, appeal_id, user_id, person_key, channel, purpose, to_enc, to_bidx, to_masked, \
     template_id, body, idempotency_key, status, attempts, next_attempt_at, delivery_id, last_error, created_at, \
     sent_at, delivered_at, failed_at, read_at";

fn notification_of(mut r: Row) -> Result<Notification> {
    let to = match (r.opt_blob(7)?, r.opt_blob(8)?, r.opt_text(9)?) {
        (Some(enc), Some(bidx), Some(masked)) => Some(SealedPhone { enc, bidx, masked }),
        _ => None,
    };
    Ok(Notification {
        id: r.i64(0)?,
        task_id: r.opt_i64(1)?,
        appeal_id: r.opt_i64(2)?,
        user_id: user_opt(r.opt_i64(3)?),
        person_key: r.opt_i64(4)?,
        channel: NotifyChannel::parse(&r.text(5)?).ok_or_else(|| corrupt("notification channel"))?,
        purpose: NotifyPurpose::parse(&r.text(6)?).ok_or_else(|| corrupt("notification purpose"))?,
        to,
        template_id: r.text(10)?,
        body: r.text(11)?,
        idempotency_key: r.text(12)?,
        status: NotifyStatus::parse(&r.text(13)?).ok_or_else(|| corrupt("notification status"))?,
        attempts: r.i64(14)?,
        next_attempt_at: r.opt_ts(15)?,
        delivery_id: r.opt_text(16)?,
        last_error: r.opt_text(17)?,
        created_at: r.ts(18)?,
        sent_at: r.opt_ts(19)?,
        delivered_at: r.opt_ts(20)?,
        failed_at: r.opt_ts(21)?,
        read_at: r.opt_ts(22)?,
    })
}

const ATTEMPT_COLS: &str = "id, at, method, by_user, result, note, notification_id, client_key";

fn attempt_of(mut r: Row) -> Result<TaskAttempt> {
    Ok(TaskAttempt {
        id: r.i64(0)?,
        at: r.ts(1)?,
        method: ContactMethod::parse(&r.text(2)?).map_err(|_| corrupt("contact method"))?,
        by_user: user_opt(r.opt_i64(3)?),
        result: ContactResult::parse(&r.text(4)?).map_err(|_| corrupt("contact result"))?,
        note: r.opt_text(5)?,
        notification_id: r.opt_i64(6)?,
        client_key: r.opt_text(7)?,
    })
}

pub(crate) async fn get_task<D: Db>(db: &D, vis: &TaskVisibility, id: i64) -> Result<Option<TaskRecord>> {
    let mut q = Q::new(&format!(
        "SELECT {TASK_COLS}, l.source, l.upstream_id, l.status, l.subscriber_kind, l.subscriber_enc, \
         l.subscriber_bidx, l.subscriber_masked, l.name_enc, l.name_masked, l.opened_at, l.explanation \
         FROM tasks t JOIN org_nodes n ON n.id = t.node_id JOIN leads l ON l.id = t.lead_id WHERE t.id = "
    ));
    q.bind(id);
    visible(&mut q, vis);
    let Some(mut r) = db.query_opt(&q.sql, &q.params).await? else {
        return Ok(None);
    };
    let row = task_row(&mut r)?;
    let c = TASK_COL_COUNT;
    let source = LeadSource::parse(&r.text(c)?).ok_or_else(|| corrupt("lead source"))?;
    let upstream_id = r.opt_text(c + 1)?;
    let status = LeadStatus::parse(&r.text(c + 2)?).ok_or_else(|| corrupt("lead status"))?;
    let subscriber_kind = r.text(c + 3)?;
    let subscriber = SealedPhone {
        enc: r.blob(c + 4)?,
        bidx: r.blob(c + 5)?,
        masked: r.text(c + 6)?,
    };
    let name = match (r.opt_blob(c + 7)?, r.opt_text(c + 8)?) {
        (Some(enc), Some(masked)) => Some(SealedName { enc, masked }),
        _ => None,
    };
    let opened_at = r.ts(c + 9)?;
    let explanation = r.text(c + 10)?;
    let event_seqs = db
        .query(
            "SELECT seq FROM lead_events WHERE lead_id = $1 ORDER BY seq",
            params![row.lead_id],
        )
        .await?
        .into_iter()
        .map(|mut r| r.i64(0))
        .collect::<Result<_>>()?;
    let assignees = db
        .query(
            "SELECT a.user_id, u.username, u.display_name, u.role, a.kind, a.step, a.added_at \
             FROM task_assignees a JOIN users u ON u.id = a.user_id WHERE a.task_id = $1 \
             ORDER BY a.added_at, a.kind, a.user_id",
            params![id],
        )
        .await?
        .into_iter()
        .map(|mut r| {
            Ok(TaskAssignee {
                user_id: UserId(r.i64(0)?),
                username: r.text(1)?,
                display_name: r.text(2)?,
                role: role_of(&r.text(3)?)?,
                kind: AssigneeKind::parse(&r.text(4)?).ok_or_else(|| corrupt("assignee kind"))?,
                step: r.opt_i64(5)?,
                added_at: r.ts(6)?,
            })
        })
        .collect::<Result<_>>()?;
    let attempts = db
        .query(
            &format!("SELECT {ATTEMPT_COLS} FROM task_attempts WHERE task_id = $1 ORDER BY id"),
            params![id],
        )
        .await?
        .into_iter()
        .map(attempt_of)
        .collect::<Result<_>>()?;
    let transitions = db
        .query(
            "SELECT id, at, event, from_state, to_state, step, actor_id, actor, detail FROM task_transitions \
             WHERE task_id = $1 ORDER BY id",
            params![id],
        )
        .await?
        .into_iter()
        .map(|mut r| {
            Ok(TaskTransition {
                id: r.i64(0)?,
                at: r.ts(1)?,
                event: r.text(2)?,
                from_state: state_opt(r.opt_text(3)?)?,
                to_state: state_of(&r.text(4)?)?,
                step: r.opt_i64(5)?,
                actor_id: r.i64(6)?,
                actor: r.text(7)?,
                detail: r.text(8)?,
            })
        })
        .collect::<Result<_>>()?;
    let notifications = db
        .query(
            &format!("SELECT {NOTIFY_COLS} FROM notifications WHERE task_id = $1 ORDER BY id"),
            params![id],
        )
        .await?
        .into_iter()
        .map(notification_of)
        .collect::<Result<_>>()?;
    let case_id = db
        .query_opt("SELECT id FROM cases WHERE task_id = $1", params![id])
        .await?
        .map(|mut r| r.i64(0))
        .transpose()?;
    Ok(Some(TaskRecord {
        row,
        lead: TaskLead {
            source,
            upstream_id,
            status,
            subscriber_kind,
            subscriber,
            name,
            opened_at,
            explanation,
            event_seqs,
        },
        assignees,
        attempts,
        transitions,
        notifications,
        case_id,
    }))
}

fn task_where<'a>(q: &mut Q<'a>, vis: &TaskVisibility, f: &'a TaskFilter) {
    q.push(" FROM tasks t JOIN org_nodes n ON n.id = t.node_id JOIN leads l ON l.id = t.lead_id WHERE 1 = 1");
    visible(q, vis);
    if let Some(p) = &f.node_path {
        q.subtree("n.path", p);
    }
    if !f.states.is_empty() {
        q.push(" AND t.state IN (");
        for (i, s) in f.states.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.bind(s.code());
        }
        q.push(")");
    }
    match f.open {
        Some(true) => {
            q.push(" AND t.state NOT IN ('done', 'transferred')");
        }
        Some(false) => {
            q.push(" AND t.state IN ('done', 'transferred')");
        }
        None => {}
    }
    if let Some(g) = f.grade {
        q.push(" AND t.grade = ").bind(g.code());
    }
    if let Some(t) = f.fraud_type {
        q.push(" AND t.fraud_type = ").bind(t.code());
    }
    if let Some(u) = f.assignee {
        q.push(" AND EXISTS (SELECT 1 FROM task_assignees fa WHERE fa.task_id = t.id AND fa.user_id = ")
            .bind(u)
            .push(")");
    }
    if let Some(at) = f.overdue_at {
        q.push(" AND t.state NOT IN ('done', 'transferred') AND ((t.first_contact_at IS NULL AND t.contact_due < ")
            .bind(at)
            .push(") OR (t.visited_at IS NULL AND t.visit_due < ")
            .bind(at)
            .push("))");
    }
    if f.alert {
        q.push(" AND t.alert IS NOT NULL");
    }
    if let Some(l) = f.lead_id {
        q.push(" AND t.lead_id = ").bind(l);
    }
    if let Some(t) = f.from {
        q.push(" AND t.created_at >= ").bind(t);
    }
    if let Some(t) = f.to {
        q.push(" AND t.created_at < ").bind(t);
    }
}

pub(crate) async fn list_tasks<D: Db>(
    db: &D,
    vis: &TaskVisibility,
    f: &TaskFilter,
) -> Result<(Vec<TaskListItem>, i64)> {
    let mut q = Q::new("SELECT COUNT(*)");
    task_where(&mut q, vis, f);
    let total = db.query_i64(&q.sql, &q.params).await?;
    let mut q = Q::new(&format!(
        "SELECT {TASK_LIST_COLS}, l.subscriber_masked, l.name_masked, l.source"
    ));
    task_where(&mut q, vis, f);
    q.push(
        " ORDER BY CASE WHEN t.state IN ('done', 'transferred') THEN 1 ELSE 0 END, \
         CASE WHEN t.state IN ('done', 'transferred') THEN 0 ELSE t.contact_due END, t.id DESC LIMIT ",
    )
    .bind(audit::limit_of(f.limit))
    .push(" OFFSET ")
    .bind(offset_i64(f.offset));
    let items = db
        .query(&q.sql, &q.params)
        .await?
        .into_iter()
        .map(|mut r| {
            let row = task_row(&mut r)?;
            let c = TASK_COL_COUNT;
            Ok(TaskListItem {
                row,
                subscriber_masked: r.text(c)?,
                name_masked: r.opt_text(c + 1)?,
                source: LeadSource::parse(&r.text(c + 2)?).ok_or_else(|| corrupt("lead source"))?,
            })
        })
        .collect::<Result<_>>()?;
    Ok((items, total))
}

async fn apply_notification_update<D: Db>(db: &D, u: &NotificationUpdate) -> Result<Option<i64>> {
    if let Some(e) = &u.last_error {
        check_len(e, 200, "the error code")?;
    }
    if let Some(d) = &u.delivery_id {
        check_len(d, 200, "the delivery id")?;
    }
    let (sent, delivered, failed) = match u.status {
        NotifyStatus::Sent => (Some(u.at), None, None),
        NotifyStatus::Delivered => (None, Some(u.at), None),
        NotifyStatus::Failed => (None, None, Some(u.at)),
        NotifyStatus::Queued => (None, None, None),
    };
    let row = db
        .query_opt(
            "UPDATE notifications SET status = $1, attempts = $2, next_attempt_at = $3, \
             delivery_id = COALESCE($4, delivery_id), last_error = COALESCE($5, last_error), \
             sent_at = COALESCE(sent_at, $6), delivered_at = COALESCE(delivered_at, $7), \
             failed_at = COALESCE($8, failed_at) WHERE id = $9 RETURNING appeal_id",
            params![
                u.status.code(),
                u.attempts,
                u.next_attempt_at,
                u.delivery_id.as_deref(),
                u.last_error.as_deref(),
                sent,
                delivered,
                failed,
                u.id,
            ],
        )
        .await?
        .ok_or(StoreError::NotFound { what: "notification" })?;
    let mut row = row;
    let appeal = row.opt_i64(0)?;
    if let Some(a) = appeal
        && matches!(u.status, NotifyStatus::Sent | NotifyStatus::Delivered)
    {
        db.exec(
            "UPDATE appeals SET appellant_notified = 1, updated_at = $1 WHERE id = $2",
            params![u.at, a],
        )
        .await?;
    }
    Ok(appeal)
}

pub(crate) async fn update_task<D: Db>(db: &D, c: &TaskChange) -> Result<TaskChangeResult> {
    let f = &c.fields;
    check_fields(f)?;
    let rec = &c.audit;
    let n = db
        .exec(
            "UPDATE tasks SET node_id = $1, route = $2, grade = $3, grade_rank = $4, fraud_type = $5, method = $6, \
             state = $7, policy_version = $8, plan = $9, watch_roles = $10, contact_due = $11, visit_due = $12, \
             next_check_at = $13, escalation_step = $14, accepted_at = $15, first_contact_at = $16, visited_at = $17, \
             closed_at = $18, outcome = $19, loss_fen = $20, outcome_by = $21, outcome_note = $22, alert = $23, \
             feedback_pending = $24, version = version + 1, updated_at = $25 WHERE id = $26 AND version = $27",
            params![
                f.node_id,
                route_code(f.route),
                f.grade.code(),
                grade_rank(f.grade),
                f.fraud_type.map(|x| x.code()),
                f.method.code(),
                f.state.code(),
                f.policy_version,
                &f.plan,
                &f.watch_roles,
                f.contact_due,
                f.visit_due,
                f.next_check_at,
                f.escalation_step,
                f.accepted_at,
                f.first_contact_at,
                f.visited_at,
                f.closed_at,
                f.outcome.map(|o| o.code()),
                f.loss_fen,
                f.outcome_by,
                f.outcome_note.as_deref(),
                f.alert.as_deref(),
                i64::from(f.feedback_pending),
                rec.at,
                c.task_id,
                c.expected_version,
            ],
        )
        .await?;
    if n == 0 {
        return Err(
            if db
                .query_opt("SELECT 1 FROM tasks WHERE id = $1", params![c.task_id])
                .await?
                .is_none()
            {
                StoreError::NotFound { what: "task" }
            } else {
                StoreError::conflict("the task was changed meanwhile")
            },
        );
    }
    let attempt_id = match &c.attempt {
        None => None,
        Some(a) => {
            if let Some(n) = &a.note {
                check_chars(n, MAX_TASK_TEXT, "the attempt note")?;
            }
            if let Some(k) = &a.client_key {
                check_len(k, 128, "the client key")?;
            }
            let row = db
                .query_opt(
                    "INSERT INTO task_attempts (task_id, at, method, by_user, result, note, notification_id, client_key) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (task_id, client_key) DO NOTHING RETURNING id",
                    params![
                        c.task_id,
                        a.at,
                        a.method.code(),
                        a.by_user,
                        a.result.code(),
                        a.note.as_deref(),
                        a.notification_id,
                        a.client_key.as_deref(),
                    ],
                )
                .await?;
            match row {
                Some(mut r) => Some(r.i64(0)?),
                None => return Err(StoreError::conflict("this attempt was recorded before")),
            }
        }
    };
    insert_transition(db, c.task_id, &c.transition, rec).await?;
    insert_assignees(db, c.task_id, &c.assignees, rec.at).await?;
    for n in &c.notifications {
        insert_notification(db, n, Some(c.task_id)).await?;
    }
    for u in &c.notification_updates {
        apply_notification_update(db, u).await?;
    }
    if let Some(s) = c.lead_status {
        db.exec(
            "UPDATE leads SET status = $1, updated_at = $2 WHERE id = (SELECT lead_id FROM tasks WHERE id = $3)",
            params![s.code(), rec.at, c.task_id],
        )
        .await?;
    }
    let case_id = match &c.case {
        None => None,
        Some(k) => {
            if k.loss_fen <= 0 {
                return Err(StoreError::invalid("a case needs a loss above 0"));
            }
            let row = db
                .query_opt(
                    "INSERT INTO cases (task_id, lead_id, resident_id, person_key, node_id, fraud_type, loss_fen, \
                     reported_at, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (task_id) DO NOTHING RETURNING id",
                    params![
                        c.task_id,
                        k.lead_id,
                        k.resident_id,
                        k.person_key,
                        k.node_id,
                        k.fraud_type.map(|x| x.code()),
                        k.loss_fen,
                        k.reported_at,
                        k.created_by,
                        rec.at,
                    ],
                )
                .await?;
            match row {
                Some(mut r) => Some(r.i64(0)?),
                None => Some(
                    db.query_one("SELECT id FROM cases WHERE task_id = $1", params![c.task_id])
                        .await?
                        .i64(0)?,
                ),
            }
        }
    };
    let mut entries = vec![pending(
        rec,
        action_or(rec, "task.change"),
        super::target_or(rec, || format!("task:{}", c.task_id)),
        if rec.detail.is_empty() {
            format!(
                "{} {} -> {}",
                c.transition.event,
                c.transition.from_state.map_or("-", |s| s.code()),
                c.transition.to_state.code()
            )
        } else {
            rec.detail.clone()
        },
    )];
    if let Some(id) = case_id {
        entries.push(pending(
            rec,
            "case.create",
            format!("case:{id}"),
            format!(
                "task={} loss_fen={}",
                c.task_id,
                c.case.as_ref().map_or(0, |k| k.loss_fen)
            ),
        ));
    }
    audit::append_many(db, entries).await?;
    let version = db
        .query_one("SELECT version FROM tasks WHERE id = $1", params![c.task_id])
        .await?
        .i64(0)?;
    Ok(TaskChangeResult {
        version,
        attempt_id,
        case_id,
    })
}

pub(crate) async fn tasks_due<D: Db>(db: &D, now: Timestamp, limit: usize) -> Result<Vec<i64>> {
    db.query(
        "SELECT id FROM tasks WHERE next_check_at IS NOT NULL AND next_check_at <= $1 \
         AND state NOT IN ('done', 'transferred') ORDER BY next_check_at, id LIMIT $2",
        params![now, limit_i64(limit)],
    )
    .await?
    .into_iter()
    .map(|mut r| r.i64(0))
    .collect()
}

pub(crate) async fn tasks_feedback_pending<D: Db>(db: &D, limit: usize) -> Result<Vec<i64>> {
    db.query(
        "SELECT id FROM tasks WHERE feedback_pending = 1 ORDER BY id LIMIT $1",
        params![limit_i64(limit)],
    )
    .await?
    .into_iter()
    .map(|mut r| r.i64(0))
    .collect()
}

pub(crate) async fn attempt_by_key<D: Db>(db: &D, task_id: i64, key: &str) -> Result<Option<TaskAttempt>> {
    db.query_opt(
        &format!("SELECT {ATTEMPT_COLS} FROM task_attempts WHERE task_id = $1 AND client_key = $2"),
        params![task_id, key],
    )
    .await?
    .map(attempt_of)
    .transpose()
}

// ------------------------------------------------------------------ notifications

pub(crate) async fn due_notifications<D: Db>(
    db: &D,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<Notification>> {
    db.query(
        &format!(
            "SELECT {NOTIFY_COLS} FROM notifications WHERE status = 'queued' AND next_attempt_at <= $1 \
             AND channel IN ('sms', 'voice') ORDER BY next_attempt_at, id LIMIT $2"
        ),
        params![now, limit_i64(limit)],
    )
    .await?
    .into_iter()
    .map(notification_of)
    .collect()
}

pub(crate) async fn get_notification<D: Db>(db: &D, id: i64) -> Result<Option<Notification>> {
    db.query_opt(
        &format!("SELECT {NOTIFY_COLS} FROM notifications WHERE id = $1"),
        params![id],
    )
    .await?
    .map(notification_of)
    .transpose()
}

pub(crate) async fn notifications_by_delivery<D: Db>(db: &D, ids: &[String]) -> Result<Vec<Notification>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut q = Q::new(&format!(
            "SELECT {NOTIFY_COLS} FROM notifications WHERE delivery_id IN ("
        ));
        for (i, id) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.bind(P::from(id.as_str()));
        }
        q.push(") ORDER BY id");
        for r in db.query(&q.sql, &q.params).await? {
            out.push(notification_of(r)?);
        }
    }
    Ok(out)
}

pub(crate) async fn update_notifications<D: Db>(
    db: &D,
    updates: &[NotificationUpdate],
    tpl: &AuditRecord,
) -> Result<()> {
    let mut entries = Vec::with_capacity(updates.len());
    for u in updates {
        apply_notification_update(db, u).await?;
        entries.push(pending(
            tpl,
            action_or(tpl, "notify.update"),
            format!("notification:{}", u.id),
            format!(
                "status={} attempts={}{}",
                u.status.code(),
                u.attempts,
                u.last_error
                    .as_deref()
                    .map(|e| format!(" error={e}"))
                    .unwrap_or_default()
            ),
        ));
    }
    if !entries.is_empty() {
        audit::append_many(db, entries).await?;
    }
    Ok(())
}

pub(crate) async fn queue_notifications<D: Db>(
    db: &D,
    items: &[NewNotification],
    tpl: &AuditRecord,
) -> Result<Vec<i64>> {
    let mut out = Vec::with_capacity(items.len());
    let mut entries = Vec::new();
    for (i, n) in items.iter().enumerate() {
        let id = insert_notification(db, n, None).await.map_err(|e| e.at_row(i))?;
        entries.push(pending(
            tpl,
            action_or(tpl, "notify.queue"),
            format!("notification:{id}"),
            format!("channel={} purpose={}", n.channel.code(), n.purpose.code()),
        ));
        out.push(id);
    }
    if !entries.is_empty() {
        audit::append_many(db, entries).await?;
    }
    Ok(out)
}

pub(crate) async fn user_notifications<D: Db>(
    db: &D,
    user: UserId,
    unread_only: bool,
    limit: usize,
    offset: usize,
) -> Result<(Vec<Notification>, i64, i64)> {
    let unread = db
        .query_i64(
            "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND channel = 'in_app' AND read_at IS NULL",
            params![user],
        )
        .await?;
    let cond = if unread_only { " AND read_at IS NULL" } else { "" };
    let total = db
        .query_i64(
            &format!("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND channel = 'in_app'{cond}"),
            params![user],
        )
        .await?;
    let items = db
        .query(
            &format!(
                "SELECT {NOTIFY_COLS} FROM notifications WHERE user_id = $1 AND channel = 'in_app'{cond} \
                 ORDER BY id DESC LIMIT $2 OFFSET $3"
            ),
            params![user, limit_i64(limit), offset_i64(offset)],
        )
        .await?
        .into_iter()
        .map(notification_of)
        .collect::<Result<_>>()?;
    Ok((items, total, unread))
}

pub(crate) async fn mark_read<D: Db>(
    db: &D,
    user: UserId,
    ids: Option<&[i64]>,
    at: Timestamp,
) -> Result<u64> {
    match ids {
        None => {
            db.exec(
                "UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND channel = 'in_app' AND read_at IS NULL",
                params![at, user],
            )
            .await
        }
        Some(ids) => {
            let mut n = 0;
            for chunk in ids.chunks(CHUNK) {
                let mut q = Q::new("UPDATE notifications SET read_at = ");
                q.bind(at).push(" WHERE user_id = ").bind(user);
                q.push(" AND channel = 'in_app' AND read_at IS NULL AND id IN ");
                in_list(&mut q, chunk);
                n += db.exec(&q.sql, &q.params).await?;
            }
            Ok(n)
        }
    }
}

// ------------------------------------------------------------------ feedback, cases, review

pub(crate) async fn apply_false_alarm<D: Db>(
    db: &D,
    fb: &FalseAlarmFeedback,
    rec: &AuditRecord,
) -> Result<ConfidenceChanges> {
    let pending_now = db
        .query_opt(
            "SELECT feedback_pending FROM tasks WHERE id = $1",
            params![fb.task_id],
        )
        .await?
        .ok_or(StoreError::NotFound { what: "task" })?
        .bool(0)?;
    if !pending_now {
        return Ok(Vec::new());
    }
    let mut ids = fb.indicator_ids.clone();
    ids.sort_unstable();
    ids.dedup();
    let mut changes = Vec::new();
    let mut entries = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut q = Q::new("SELECT id, confidence FROM indicators WHERE id IN ");
        in_list(&mut q, chunk);
        q.push(" ORDER BY id");
        for mut r in db.query(&q.sql, &q.params).await? {
            let id = r.i64(0)?;
            let before = u8::try_from(r.i64(1)?).map_err(|_| corrupt("confidence"))?;
            let after = before
                .saturating_sub(fb.confidence_step)
                .max(fb.confidence_floor)
                .min(before);
            if after != before {
                db.exec(
                    "UPDATE indicators SET confidence = $1, version = version + 1, updated_at = $2 WHERE id = $3",
                    params![i64::from(after), rec.at, id],
                )
                .await?;
                entries.push(pending(
                    rec,
                    "intel.indicator.confidence",
                    format!("indicator:{id}"),
                    format!("confidence {before} -> {after} false_alarm task:{}", fb.task_id),
                ));
            }
            db.exec(
                "INSERT INTO intel_review (indicator_id, reason, task_id, status, note, created_at) \
                 VALUES ($1, 'false_alarm', $2, 'open', '', $3) ON CONFLICT DO NOTHING",
                params![id, fb.task_id, rec.at],
            )
            .await?;
            changes.push((id, before, after));
        }
    }
    if changes.iter().any(|(_, b, a)| a != b) {
        bump_intel_generation(db).await?;
    }
    db.exec(
        "UPDATE tasks SET feedback_pending = 0, version = version + 1, updated_at = $1 WHERE id = $2",
        params![rec.at, fb.task_id],
    )
    .await?;
    entries.push(pending(
        rec,
        action_or(rec, "task.feedback"),
        format!("task:{}", fb.task_id),
        format!("false_alarm indicators={}", changes.len()),
    ));
    audit::append_many(db, entries).await?;
    Ok(changes)
}

pub(crate) async fn link_case_indicators<D: Db>(
    db: &D,
    case_id: i64,
    task_id: Option<i64>,
    indicator_ids: &[i64],
    rec: &AuditRecord,
) -> Result<()> {
    if db
        .query_opt("SELECT 1 FROM cases WHERE id = $1", params![case_id])
        .await?
        .is_none()
    {
        return Err(StoreError::NotFound { what: "case" });
    }
    let mut ids = indicator_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut linked = 0;
    for id in &ids {
        if db
            .query_opt("SELECT 1 FROM indicators WHERE id = $1", params![*id])
            .await?
            .is_none()
        {
            continue;
        }
        linked += db
            .exec(
                "INSERT INTO case_indicators (case_id, indicator_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                params![case_id, *id],
            )
            .await?;
    }
    if let Some(t) = task_id {
        db.exec(
            "UPDATE tasks SET feedback_pending = 0, version = version + 1, updated_at = $1 WHERE id = $2",
            params![rec.at, t],
        )
        .await?;
    }
    let target = super::target_or(rec, || format!("case:{case_id}"));
    audit::append_many(
        db,
        vec![pending(
            rec,
            action_or(rec, "case.indicators"),
            target,
            format!("linked={linked}"),
        )],
    )
    .await?;
    Ok(())
}

const CASE_COLS: &str = "c.id, c.task_id, c.lead_id, c.resident_id, c.person_key, c.node_id, c.fraud_type, c.loss_fen, \
     c.reported_at, c.created_by, c.created_at";

fn case_of(r: &mut Row) -> Result<Case> {
    Ok(Case {
        id: r.i64(0)?,
        task_id: r.opt_i64(1)?,
        lead_id: r.opt_i64(2)?,
        resident_id: r.opt_i64(3)?.map(ResidentId),
        person_key: r.opt_i64(4)?,
        node_id: r.opt_i64(5)?.map(NodeId),
        fraud_type: fraud_opt(r.opt_text(6)?)?,
        loss_fen: r.i64(7)?,
        reported_at: r.ts(8)?,
        created_by: r.i64(9)?,
        created_at: r.ts(10)?,
        indicator_ids: Vec::new(),
    })
}

async fn case_indicator_ids<D: Db>(db: &D, case_id: i64) -> Result<Vec<i64>> {
    db.query(
        "SELECT indicator_id FROM case_indicators WHERE case_id = $1 ORDER BY indicator_id",
        params![case_id],
    )
    .await?
    .into_iter()
    .map(|mut r| r.i64(0))
    .collect()
}

pub(crate) async fn get_case<D: Db>(db: &D, scope: &Scope, id: i64) -> Result<Option<Case>> {
    let mut q = Q::new(&format!(
        "SELECT {CASE_COLS} FROM cases c LEFT JOIN org_nodes n ON n.id = c.node_id WHERE c.id = "
    ));
    q.bind(id);
    q.scope("n.path", scope);
    let Some(mut r) = db.query_opt(&q.sql, &q.params).await? else {
        return Ok(None);
    };
    let mut c = case_of(&mut r)?;
    c.indicator_ids = case_indicator_ids(db, id).await?;
    Ok(Some(c))
}

pub(crate) async fn list_cases<D: Db>(
    db: &D,
    scope: &Scope,
    limit: usize,
    offset: usize,
) -> Result<(Vec<Case>, i64)> {
    let mut q = Q::new("SELECT COUNT(*) FROM cases c LEFT JOIN org_nodes n ON n.id = c.node_id WHERE 1 = 1");
    q.scope("n.path", scope);
    let total = db.query_i64(&q.sql, &q.params).await?;
    let mut q = Q::new(&format!(
        "SELECT {CASE_COLS} FROM cases c LEFT JOIN org_nodes n ON n.id = c.node_id WHERE 1 = 1"
    ));
    q.scope("n.path", scope);
    q.push(" ORDER BY c.id DESC LIMIT ")
        .bind(limit_i64(limit))
        .push(" OFFSET ")
        .bind(offset_i64(offset));
    let mut out = Vec::new();
    for mut r in db.query(&q.sql, &q.params).await? {
        let mut c = case_of(&mut r)?;
        c.indicator_ids = case_indicator_ids(db, c.id).await?;
        out.push(c);
    }
    Ok((out, total))
}

pub(crate) async fn add_review_items<D: Db>(
    db: &D,
    items: &[NewReviewItem],
    rec: &AuditRecord,
) -> Result<usize> {
    let mut added = 0;
    let mut entries = Vec::new();
    for (i, it) in items.iter().enumerate() {
        check_chars(&it.note, MAX_TASK_TEXT, "the note").map_err(|e| e.at_row(i))?;
        if it.task_id.is_none() && it.appeal_id.is_none() {
            return Err(StoreError::invalid("a review item comes from a task or an appeal").at_row(i));
        }
        let row = db
            .query_opt(
                "INSERT INTO intel_review (indicator_id, reason, task_id, appeal_id, status, note, created_at) \
                 VALUES ($1, $2, $3, $4, 'open', $5, $6) ON CONFLICT DO NOTHING RETURNING id",
                params![it.indicator_id, it.reason.code(), it.task_id, it.appeal_id, &it.note, rec.at],
            )
            .await
            .map_err(|e| e.at_row(i))?;
        if let Some(mut r) = row {
            let id = r.i64(0)?;
            added += 1;
            entries.push(pending(
                rec,
                action_or(rec, "intel.review.add"),
                format!("indicator:{}", it.indicator_id),
                format!("review={id} reason={}", it.reason.code()),
            ));
        }
    }
    if !entries.is_empty() {
        audit::append_many(db, entries).await?;
    }
    Ok(added)
}

fn review_where<'a>(q: &mut Q<'a>, f: &'a ReviewFilter) {
    q.push(" FROM intel_review r JOIN indicators i ON i.id = r.indicator_id WHERE 1 = 1");
    if let Some(s) = f.status {
        q.push(" AND r.status = ").bind(s.code());
    }
    if let Some(s) = f.reason {
        q.push(" AND r.reason = ").bind(s.code());
    }
    if let Some(i) = f.indicator_id {
        q.push(" AND r.indicator_id = ").bind(i);
    }
}

pub(crate) async fn list_review<D: Db>(db: &D, f: &ReviewFilter) -> Result<(Vec<ReviewItem>, i64)> {
    let mut q = Q::new("SELECT COUNT(*)");
    review_where(&mut q, f);
    let total = db.query_i64(&q.sql, &q.params).await?;
    let mut q = Q::new(
        "SELECT r.id, r.indicator_id, i.kind, i.value, i.confidence, i.status, r.reason, r.task_id, r.appeal_id, \
         r.status, r.note, r.created_at, r.resolved_by, r.resolved_at",
    );
    review_where(&mut q, f);
    q.push(" ORDER BY r.id LIMIT ")
        .bind(audit::limit_of(f.limit))
        .push(" OFFSET ")
        .bind(offset_i64(f.offset));
    let items = db
        .query(&q.sql, &q.params)
        .await?
        .into_iter()
        .map(|mut r| {
            Ok(ReviewItem {
                id: r.i64(0)?,
                indicator_id: r.i64(1)?,
                kind: kind_of(&r.text(2)?)?,
                value: r.text(3)?,
                confidence: u8::try_from(r.i64(4)?).map_err(|_| corrupt("confidence"))?,
                indicator_status: r.text(5)?,
                reason: ReviewReason::parse(&r.text(6)?).ok_or_else(|| corrupt("review reason"))?,
                task_id: r.opt_i64(7)?,
                appeal_id: r.opt_i64(8)?,
                status: ReviewStatus::parse(&r.text(9)?).ok_or_else(|| corrupt("review status"))?,
                note: r.text(10)?,
                created_at: r.ts(11)?,
                resolved_by: r.opt_i64(12)?,
                resolved_at: r.opt_ts(13)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok((items, total))
}

pub(crate) async fn resolve_review<D: Db>(db: &D, id: i64, note: &str, rec: &AuditRecord) -> Result<()> {
    check_chars(note, MAX_TASK_TEXT, "the note")?;
    let mut r = db
        .query_opt(
            "SELECT status, indicator_id FROM intel_review WHERE id = $1",
            params![id],
        )
        .await?
        .ok_or(StoreError::NotFound { what: "review item" })?;
    if r.text(0)? == ReviewStatus::Done.code() {
        return Err(StoreError::conflict("the review item was closed before"));
    }
    let indicator = r.i64(1)?;
    db.exec(
        "UPDATE intel_review SET status = 'done', note = $1, resolved_by = $2, resolved_at = $3 WHERE id = $4",
        params![note.trim(), rec.actor_id, rec.at, id],
    )
    .await?;
    let target = super::target_or(rec, || format!("indicator:{indicator}"));
    audit::append_many(
        db,
        vec![pending(
            rec,
            action_or(rec, "intel.review.resolve"),
            target,
            format!("review={id}"),
        )],
    )
    .await?;
    Ok(())
}

// ------------------------------------------------------------------ appeals

const APPEAL_COLS: &str = "id, reference, kind, value, contact_enc, contact_bidx, contact_masked, reason, status, \
     indicator_ids, decision_reason, decided_by, decided_at, appellant_notified, created_at, updated_at";

fn appeal_of(mut r: Row) -> Result<Appeal> {
    let contact = match (r.opt_blob(4)?, r.opt_blob(5)?, r.opt_text(6)?) {
        (Some(enc), Some(bidx), Some(masked)) => Some(SealedPhone { enc, bidx, masked }),
        _ => None,
    };
    let ids = r.text(9)?;
    Ok(Appeal {
        id: r.i64(0)?,
        reference: r.text(1)?,
        kind: kind_of(&r.text(2)?)?,
        value: r.text(3)?,
        contact,
        reason: r.text(7)?,
        status: AppealStatus::parse(&r.text(8)?).ok_or_else(|| corrupt("appeal status"))?,
        indicator_ids: ids
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<i64>().map_err(|_| corrupt("indicator id list")))
            .collect::<Result<_>>()?,
        decision_reason: r.text(10)?,
        decided_by: r.opt_i64(11)?,
        decided_at: r.opt_ts(12)?,
        appellant_notified: r.bool(13)?,
        created_at: r.ts(14)?,
        updated_at: r.ts(15)?,
    })
}

pub(crate) async fn create_appeal<D: Db>(db: &D, a: &NewAppeal, rec: &AuditRecord) -> Result<i64> {
    if a.reference.is_empty() || a.reference.len() > 40 {
        return Err(StoreError::invalid("an appeal reference must be 1 to 40 bytes"));
    }
    if a.value.trim().is_empty() {
        return Err(StoreError::invalid("the appealed value is empty"));
    }
    check_len(&a.value, 2048, "the appealed value")?;
    check_chars(&a.reason, MAX_TASK_TEXT, "the reason")?;
    if a.ip_hash.is_empty() {
        return Err(StoreError::invalid("the address hash is missing"));
    }
    let c = a.contact.as_ref();
    let id = db
        .query_one(
            "INSERT INTO appeals (reference, kind, value, contact_enc, contact_bidx, contact_masked, reason, ip_hash, \
             status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9) RETURNING id",
            params![
                &a.reference,
                a.kind.code(),
                &a.value,
                c.map(|p| p.enc.as_slice()),
                c.map(|p| p.bidx.as_slice()),
                c.map(|p| p.masked.as_str()),
                &a.reason,
                &a.ip_hash,
                rec.at,
            ],
        )
        .await?
        .i64(0)?;
    let target = super::target_or(rec, || format!("appeal:{id}"));
    let detail = format!("kind={} contact={}", a.kind.code(), c.is_some());
    audit::append_many(
        db,
        vec![pending(rec, action_or(rec, "appeal.create"), target, detail)],
    )
    .await?;
    Ok(id)
}

pub(crate) async fn get_appeal<D: Db>(db: &D, id: i64) -> Result<Option<Appeal>> {
    db.query_opt(
        &format!("SELECT {APPEAL_COLS} FROM appeals WHERE id = $1"),
        params![id],
    )
    .await?
    .map(appeal_of)
    .transpose()
}

pub(crate) async fn appeal_by_reference<D: Db>(db: &D, reference: &str) -> Result<Option<Appeal>> {
    db.query_opt(
        &format!("SELECT {APPEAL_COLS} FROM appeals WHERE reference = $1"),
        params![reference.trim()],
    )
    .await?
    .map(appeal_of)
    .transpose()
}

fn appeal_where<'a>(q: &mut Q<'a>, f: &'a AppealFilter) {
    q.push(" FROM appeals WHERE 1 = 1");
    if let Some(s) = f.status {
        q.push(" AND status = ").bind(s.code());
    }
    if let Some(t) = f.from {
        q.push(" AND created_at >= ").bind(t);
    }
    if let Some(t) = f.to {
        q.push(" AND created_at < ").bind(t);
    }
}

pub(crate) async fn list_appeals<D: Db>(db: &D, f: &AppealFilter) -> Result<(Vec<Appeal>, i64)> {
    let mut q = Q::new("SELECT COUNT(*)");
    appeal_where(&mut q, f);
    let total = db.query_i64(&q.sql, &q.params).await?;
    let mut q = Q::new(&format!("SELECT {APPEAL_COLS}"));
    appeal_where(&mut q, f);
    q.push(if f.status == Some(AppealStatus::Pending) {
        " ORDER BY id LIMIT "
    } else {
        " ORDER BY id DESC LIMIT "
    })
    .bind(audit::limit_of(f.limit))
    .push(" OFFSET ")
    .bind(offset_i64(f.offset));
    let items = db
        .query(&q.sql, &q.params)
        .await?
        .into_iter()
        .map(appeal_of)
        .collect::<Result<_>>()?;
    Ok((items, total))
}

pub(crate) async fn decide_appeal<D: Db>(
    db: &D,
    id: i64,
    d: &AppealDecision,
    rec: &AuditRecord,
) -> Result<DecideOutcome> {
    if d.status == AppealStatus::Pending {
        return Err(StoreError::invalid("a decision revokes or keeps"));
    }
    check_chars(&d.reason, MAX_TASK_TEXT, "the reason")?;
    let current = db
        .query_opt("SELECT status FROM appeals WHERE id = $1", params![id])
        .await?
        .ok_or(StoreError::NotFound { what: "appeal" })?
        .text(0)?;
    if current == d.status.code() {
        return Ok(DecideOutcome::Unchanged);
    }
    if current != AppealStatus::Pending.code() {
        return Err(StoreError::conflict(format!(
            "the appeal was decided before ({current})"
        )));
    }
    let ids: Vec<String> = d.indicator_ids.iter().map(i64::to_string).collect();
    db.exec(
        "UPDATE appeals SET status = $1, decision_reason = $2, decided_by = $3, decided_at = $4, indicator_ids = $5, \
         updated_at = $4 WHERE id = $6",
        params![d.status.code(), d.reason.trim(), d.decided_by, d.at, ids.join(","), id],
    )
    .await?;
    if let Some(n) = &d.notification {
        let mut n = n.clone();
        n.appeal_id = Some(id);
        insert_notification(db, &n, None).await?;
    }
    let target = super::target_or(rec, || format!("appeal:{id}"));
    let detail = format!("status={} indicators={}", d.status.code(), ids.join(","));
    audit::append_many(
        db,
        vec![pending(rec, action_or(rec, "appeal.decide"), target, detail)],
    )
    .await?;
    Ok(DecideOutcome::Decided)
}

// ------------------------------------------------------------------ statistics, exports

pub(crate) async fn task_facts<D: Db>(db: &D, scope: &Scope, f: &FactFilter) -> Result<Vec<TaskFact>> {
    let mut q = Q::new(
        "SELECT t.id, n.path, t.grade, t.fraud_type, t.method, t.route, t.state, t.created_at, t.contact_due, \
         t.visit_due, t.first_contact_at, t.visited_at, t.closed_at, t.outcome, t.loss_fen, t.outcome_by, \
         t.escalation_step FROM tasks t JOIN org_nodes n ON n.id = t.node_id WHERE 1 = 1",
    );
    q.scope("n.path", scope);
    if let Some(p) = &f.node_path {
        q.subtree("n.path", p);
    }
    if let Some(t) = f.from {
        q.push(" AND t.created_at >= ").bind(t);
    }
    if let Some(t) = f.to {
        q.push(" AND t.created_at < ").bind(t);
    }
    q.push(" ORDER BY t.id LIMIT ").bind(audit::limit_of(f.limit));
    db.query(&q.sql, &q.params)
        .await?
        .into_iter()
        .map(|mut r| {
            Ok(TaskFact {
                id: r.i64(0)?,
                node_path: r.path(1)?,
                grade: grade_of(&r.text(2)?)?,
                fraud_type: fraud_opt(r.opt_text(3)?)?,
                method: method_of(&r.text(4)?)?,
                route: route_of(&r.text(5)?)?,
                state: state_of(&r.text(6)?)?,
                created_at: r.ts(7)?,
                contact_due: r.ts(8)?,
                visit_due: r.opt_ts(9)?,
                first_contact_at: r.opt_ts(10)?,
                visited_at: r.opt_ts(11)?,
                closed_at: r.opt_ts(12)?,
                outcome: outcome_opt(r.opt_text(13)?)?,
                loss_fen: r.opt_i64(14)?,
                outcome_by: r.opt_i64(15)?,
                escalation_step: r.i64(16)?,
            })
        })
        .collect()
}

pub(crate) async fn upstream_results<D: Db>(
    db: &D,
    scope: &Scope,
    f: &FactFilter,
) -> Result<Vec<UpstreamResult>> {
    let mut q = Q::new(
        "SELECT l.id, l.upstream_id, l.subscriber_enc, l.subscriber_bidx, l.subscriber_masked, l.name_enc, \
         l.name_masked, l.grade, l.fraud_type, l.opened_at, l.note, l.status, t.id, t.state, t.outcome, t.loss_fen, \
         t.first_contact_at, t.closed_at, t.outcome_note, n.name, c.id \
         FROM leads l LEFT JOIN org_nodes n ON n.id = l.node_id LEFT JOIN tasks t ON t.lead_id = l.id \
         LEFT JOIN cases c ON c.task_id = t.id WHERE l.source = 'upper_push'",
    );
    q.scope("n.path", scope);
    if let Some(p) = &f.node_path {
        q.subtree("n.path", p);
    }
    if let Some(t) = f.from {
        q.push(" AND l.opened_at >= ").bind(t);
    }
    if let Some(t) = f.to {
        q.push(" AND l.opened_at < ").bind(t);
    }
    q.push(" ORDER BY l.id LIMIT ").bind(audit::limit_of(f.limit));
    db.query(&q.sql, &q.params)
        .await?
        .into_iter()
        .map(|mut r| {
            let name = match (r.opt_blob(5)?, r.opt_text(6)?) {
                (Some(enc), Some(masked)) => Some(SealedName { enc, masked }),
                _ => None,
            };
            Ok(UpstreamResult {
                lead_id: r.i64(0)?,
                upstream_id: r.opt_text(1)?,
                subscriber: SealedPhone {
                    enc: r.blob(2)?,
                    bidx: r.blob(3)?,
                    masked: r.text(4)?,
                },
                name,
                grade: grade_of(&r.text(7)?)?,
                fraud_type: fraud_opt(r.opt_text(8)?)?,
                opened_at: r.ts(9)?,
                note: r.text(10)?,
                lead_status: LeadStatus::parse(&r.text(11)?).ok_or_else(|| corrupt("lead status"))?,
                task_id: r.opt_i64(12)?,
                task_state: state_opt(r.opt_text(13)?)?,
                outcome: outcome_opt(r.opt_text(14)?)?,
                loss_fen: r.opt_i64(15)?,
                first_contact_at: r.opt_ts(16)?,
                closed_at: r.opt_ts(17)?,
                outcome_note: r.opt_text(18)?,
                node_name: r.opt_text(19)?,
                case_id: r.opt_i64(20)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for k in AssigneeKind::ALL {
            assert_eq!(AssigneeKind::parse(k.code()), Some(*k));
        }
        for s in NotifyStatus::ALL {
            assert_eq!(NotifyStatus::parse(s.code()), Some(*s));
        }
        for r in [
            fanzha_core::dispatch::Route::Local,
            fanzha_core::dispatch::Route::TransferQueue,
        ] {
            assert_eq!(parse_route(route_code(r)), Some(r));
        }
        assert_eq!(grade_rank(Grade::Critical), 3);
        assert_eq!(grade_rank(Grade::Low), 0);
    }
}
