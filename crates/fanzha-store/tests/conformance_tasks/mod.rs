//! Conformance cases of the dissuasion workflow's data
//! ([`fanzha_store::TaskStore`]), run on both backends by the harness in
//! `conformance.rs`.

use super::{T0, Tree, audit, path_of, phone, reason, resident, tree, verify_all};
use fanzha_core::dispatch::{Method, Route};
use fanzha_core::roles::Role;
use fanzha_core::task::{ContactMethod, ContactResult, OutcomeKind, TaskState};
use fanzha_core::{FraudType, Grade, IndicatorKind, NodeId, ResidentId, Timestamp, UserId};
use fanzha_store::*;
use std::sync::Arc;

async fn count_actions(s: &Arc<dyn Store>, prefix: &str) -> i64 {
    s.list_audit(&AuditFilter {
        action_prefix: Some(prefix.into()),
        ..Default::default()
    })
    .await
    .unwrap()
    .1
}

async fn user(s: &Arc<dyn Store>, name: &str, role: Role, node: NodeId) -> UserId {
    s.create_user(
        &NewUser {
            username: name.into(),
            display_name: name.into(),
            role,
            node_id: Some(node),
            password_hash: "x".into(),
            must_change_password: false,
            lang: "zh".into(),
        },
        &audit("user.create"),
    )
    .await
    .unwrap()
}

fn new_lead(person: i64, node: Option<NodeId>, grade: Grade, resident: Option<ResidentId>) -> NewLead {
    NewLead {
        person_key: person,
        subscriber_kind: "phone".into(),
        subscriber: phone(&person.to_string()),
        name: None,
        resident_id: resident,
        node_id: node,
        grade,
        score_milli: 30_000,
        fraud_type: Some(FraudType::BrushingRebate),
        source: LeadSource::UpperPush,
        upstream_id: Some(format!("UP-{person}")),
        rules_version: None,
        opened_at: Timestamp(T0 + person),
        raised_seq: None,
        explanation: r#"{"signals":[{"evidence":{"type":"indicator","indicator_id":1}}]}"#.into(),
        event_seqs: Vec::new(),
        note: String::new(),
    }
}

async fn leads(s: &Arc<dyn Store>, items: Vec<NewLead>) -> Vec<i64> {
    s.import_leads(items, &audit("lead.import"))
        .await
        .unwrap()
        .into_iter()
        .map(|o| match o {
            LeadImportOutcome::Inserted(id) | LeadImportOutcome::Existing(id) => id,
        })
        .collect()
}

fn fields(node: NodeId, grade: Grade, created: i64) -> TaskFields {
    TaskFields {
        node_id: node,
        route: Route::Local,
        grade,
        fraud_type: Some(FraudType::BrushingRebate),
        method: Method::Visit,
        state: TaskState::Pending,
        policy_version: 1,
        plan: r#"{"plan":true}"#.into(),
        watch_roles: "analyst@center".into(),
        contact_due: Timestamp(created + 300_000),
        visit_due: Some(Timestamp(created + 1_800_000)),
        next_check_at: Some(Timestamp(created + 300_000)),
        escalation_step: 0,
        accepted_at: None,
        first_contact_at: None,
        visited_at: None,
        closed_at: None,
        outcome: None,
        loss_fen: None,
        outcome_by: None,
        outcome_note: None,
        alert: None,
        feedback_pending: false,
    }
}

fn in_app(user: UserId, key: &str, at: i64) -> NewNotification {
    NewNotification {
        task_id: None,
        appeal_id: None,
        user_id: Some(user),
        person_key: None,
        channel: NotifyChannel::InApp,
        purpose: NotifyPurpose::Assigned,
        to: None,
        template_id: "in_app:assigned".into(),
        body: r#"{"key":"task.notify.assigned","args":[]}"#.into(),
        idempotency_key: key.into(),
        status: NotifyStatus::Sent,
        next_attempt_at: None,
        created_at: Timestamp(at),
    }
}

fn sms(person: i64, key: &str, at: i64) -> NewNotification {
    NewNotification {
        task_id: None,
        appeal_id: None,
        user_id: None,
        person_key: Some(person),
        channel: NotifyChannel::Sms,
        purpose: NotifyPurpose::Warning,
        to: Some(phone(&person.to_string())),
        template_id: "sms:brushing_rebate".into(),
        body: "【反诈中心】您好：刷单就是诈骗。".into(),
        idempotency_key: key.into(),
        status: NotifyStatus::Queued,
        next_attempt_at: Some(Timestamp(at)),
        created_at: Timestamp(at),
    }
}

fn new_task(lead: i64, person: i64, node: NodeId, grade: Grade, owners: &[UserId]) -> NewTask {
    NewTask {
        lead_id: lead,
        person_key: person,
        resident_id: None,
        created_at: Timestamp(T0),
        fields: fields(node, grade, T0),
        assignees: owners
            .iter()
            .map(|u| NewAssignee {
                user_id: *u,
                kind: AssigneeKind::Owner,
                step: None,
            })
            .collect(),
        notifications: owners
            .iter()
            .map(|u| in_app(*u, &format!("lead-{lead}-assign-{}", u.0), T0))
            .chain(std::iter::once(sms(person, &format!("lead-{lead}-warn"), T0)))
            .collect(),
        detail: format!("grade={}", grade.code()),
    }
}

struct World {
    t: Tree,
    grid_worker: UserId,
    officer: UserId,
    analyst: UserId,
    /// Leads: person 1 (grid A1, high), 2 (grid B1, critical), 3 (grid A1, low).
    leads: Vec<i64>,
    resident: ResidentId,
}

async fn world(s: &Arc<dyn Store>) -> World {
    let t = tree(s).await;
    let grid_worker = user(s, "grid_a1", Role::GridWorker, t.grid_a1).await;
    let officer = user(s, "officer_a", Role::Officer, t.town_a).await;
    let analyst = user(s, "analyst", Role::Analyst, t.county).await;
    let r = s
        .create_resident(&resident(t.grid_a1, 1), &audit("resident.create"))
        .await
        .unwrap();
    let leads = leads(
        s,
        vec![
            new_lead(1, Some(t.grid_a1), Grade::High, Some(r)),
            new_lead(2, Some(t.grid_b1), Grade::Critical, None),
            new_lead(3, Some(t.grid_a1), Grade::Low, None),
        ],
    )
    .await;
    World {
        t,
        grid_worker,
        officer,
        analyst,
        leads,
        resident: r,
    }
}

fn sys(action: &str) -> AuditRecord {
    AuditRecord {
        actor_id: 0,
        actor: "system".into(),
        ..audit(action)
    }
}

pub(crate) async fn tasks_dispatch_policy_versions(s: Arc<dyn Store>) {
    assert!(s.active_dispatch_policy().await.unwrap().is_none());
    assert_eq!(s.next_dispatch_policy_version().await.unwrap(), 1);
    let doc = |v: i64| NewDispatchPolicy {
        version: v,
        name: format!("p{v}"),
        toml: format!("version = {v}"),
        note: "note".into(),
    };
    s.save_dispatch_policy(&doc(1), &audit("dispatch.policy.save"))
        .await
        .unwrap();
    s.save_dispatch_policy(&doc(2), &audit("dispatch.policy.save"))
        .await
        .unwrap();
    let again = s
        .save_dispatch_policy(&doc(2), &audit("dispatch.policy.save"))
        .await
        .unwrap_err();
    assert!(reason(again).contains("meanwhile"));
    assert!(
        s.save_dispatch_policy(
            &NewDispatchPolicy {
                toml: " ".into(),
                ..doc(3)
            },
            &audit("x")
        )
        .await
        .unwrap_err()
        .is_invalid()
    );
    assert_eq!(s.active_dispatch_policy().await.unwrap().unwrap().version, 2);
    s.activate_dispatch_policy(1, &audit("dispatch.policy.activate"))
        .await
        .unwrap();
    let active = s.active_dispatch_policy().await.unwrap().unwrap();
    assert_eq!(
        (active.version, active.name.as_str(), active.author.as_str()),
        (1, "p1", "tester")
    );
    assert!(
        s.activate_dispatch_policy(9, &audit("x"))
            .await
            .unwrap_err()
            .is_not_found()
    );
    let list = s.list_dispatch_policies(10).await.unwrap();
    assert_eq!(
        list.iter().map(|p| (p.version, p.active)).collect::<Vec<_>>(),
        vec![(2, false), (1, true)]
    );
    assert_eq!(
        s.get_dispatch_policy(2).await.unwrap().unwrap().toml,
        "version = 2"
    );
    assert_eq!(count_actions(&s, "dispatch.policy.").await, 3);

    // Template overrides, heads and staff phones ride along here.
    s.set_template_override(TemplateKind::Sms, "generic", Some("{signature}您好"), &audit("t"))
        .await
        .unwrap();
    s.set_template_override(TemplateKind::Sms, "generic", Some("{signature}再见"), &audit("t"))
        .await
        .unwrap();
    s.set_template_override(TemplateKind::Appeal, "kept", Some("维持"), &audit("t"))
        .await
        .unwrap();
    let o = s.template_overrides().await.unwrap();
    assert_eq!(
        o.iter()
            .map(|t| (t.kind, t.key.as_str(), t.body.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (TemplateKind::Appeal, "kept", "维持"),
            (TemplateKind::Sms, "generic", "{signature}再见")
        ]
    );
    s.set_template_override(TemplateKind::Sms, "generic", None, &audit("t"))
        .await
        .unwrap();
    assert!(
        s.set_template_override(TemplateKind::Sms, "generic", None, &audit("t"))
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(s.template_overrides().await.unwrap().len(), 1);

    let t = tree(&s).await;
    let chief = user(&s, "chief", Role::Officer, t.town_a).await;
    let other = user(&s, "other", Role::Officer, t.town_b).await;
    s.set_org_head(t.town_a, Role::Officer, Some(chief), &audit("org.head.set"))
        .await
        .unwrap();
    assert!(
        s.set_org_head(t.town_a, Role::Officer, Some(other), &audit("x"))
            .await
            .unwrap_err()
            .is_invalid()
    );
    assert!(
        s.set_org_head(t.town_a, Role::GridWorker, Some(chief), &audit("x"))
            .await
            .unwrap_err()
            .is_invalid()
    );
    assert_eq!(
        s.org_heads().await.unwrap(),
        vec![OrgHead {
            node_id: t.town_a,
            role: Role::Officer,
            user_id: chief
        }]
    );
    s.set_org_head(t.town_a, Role::Officer, None, &audit("org.head.set"))
        .await
        .unwrap();
    assert!(s.org_heads().await.unwrap().is_empty());

    s.set_user_phone(chief, Some(&phone("77")), &audit("user.phone.set"))
        .await
        .unwrap();
    let got = s.user_phones(&[chief, other, chief]).await.unwrap();
    assert_eq!(got, vec![(chief, phone("77"))]);
    s.set_user_phone(chief, None, &audit("user.phone.set"))
        .await
        .unwrap();
    assert!(s.user_phones(&[chief]).await.unwrap().is_empty());
    assert!(
        s.set_user_phone(UserId(9999), Some(&phone("1")), &audit("x"))
            .await
            .unwrap_err()
            .is_not_found()
    );
    verify_all(&s).await;
}

pub(crate) async fn tasks_create_is_idempotent_and_marks_leads(s: Arc<dyn Store>) {
    let w = world(&s).await;
    let todo = s.leads_to_dispatch(10).await.unwrap();
    // Highest grade first.
    assert_eq!(
        todo.iter().map(|l| l.lead_id).collect::<Vec<_>>(),
        vec![w.leads[1], w.leads[0], w.leads[2]]
    );
    assert!(todo.iter().all(|l| l.task_id.is_none()));
    assert!(todo[1].resident_id.is_some());
    assert_eq!(todo[0].subscriber, phone("2"));
    assert_eq!(s.leads_to_dispatch(1).await.unwrap().len(), 1);

    let batch = vec![
        new_task(
            w.leads[0],
            1,
            w.t.grid_a1,
            Grade::High,
            &[w.grid_worker, w.officer],
        ),
        new_task(w.leads[1], 2, w.t.grid_b1, Grade::Critical, &[]),
    ];
    let out = s.create_tasks(batch.clone(), &sys("task.create")).await.unwrap();
    assert!(matches!(out[0], DispatchOutcome::Created(_)) && matches!(out[1], DispatchOutcome::Created(_)));
    let again = s.create_tasks(batch, &sys("task.create")).await.unwrap();
    assert_eq!(
        again,
        vec![
            DispatchOutcome::Existing(out[0].id()),
            DispatchOutcome::Existing(out[1].id())
        ]
    );
    assert_eq!(count_actions(&s, "task.create").await, 2);
    // The warning SMS was stored once per key.
    assert_eq!(s.due_notifications(Timestamp(T0), 100).await.unwrap().len(), 2);
    let left = s.leads_to_dispatch(10).await.unwrap();
    assert_eq!(
        left.iter().map(|l| l.lead_id).collect::<Vec<_>>(),
        vec![w.leads[2]]
    );
    let lead = s.get_lead(&Scope::All, w.leads[0]).await.unwrap().unwrap();
    assert_eq!(lead.summary.status, LeadStatus::Dispatched);

    let rec = s
        .get_task(&TaskVisibility::all(), out[0].id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.row.lead_id, w.leads[0]);
    assert_eq!(rec.row.state, TaskState::Pending);
    assert_eq!(rec.row.version, 1);
    assert_eq!(rec.row.plan, r#"{"plan":true}"#);
    assert_eq!(rec.row.node_path, path_of(&s, w.t.grid_a1).await);
    assert_eq!(rec.lead.source, LeadSource::UpperPush);
    assert_eq!(rec.lead.upstream_id.as_deref(), Some("UP-1"));
    assert!(rec.lead.explanation.contains("indicator_id"));
    assert_eq!(
        rec.assignees
            .iter()
            .map(|a| (a.user_id, a.kind))
            .collect::<Vec<_>>(),
        vec![
            (w.grid_worker, AssigneeKind::Owner),
            (w.officer, AssigneeKind::Owner)
        ]
    );
    assert_eq!(rec.transitions.len(), 1);
    assert_eq!(rec.transitions[0].event, "create");
    assert_eq!(rec.transitions[0].actor, "system");
    assert_eq!(rec.notifications.len(), 3);
    assert!(rec.notifications.iter().all(|n| n.task_id == Some(out[0].id())));

    // A bad row fails the whole batch with its index.
    let bad = NewTask {
        fields: TaskFields {
            plan: "x".repeat(MAX_PLAN_JSON + 1),
            ..fields(w.t.grid_a1, Grade::Low, T0)
        },
        ..new_task(w.leads[2], 3, w.t.grid_a1, Grade::Low, &[])
    };
    let e = s.create_tasks(vec![bad], &sys("task.create")).await.unwrap_err();
    assert!(reason(e).starts_with("row 0"));
    assert_eq!(s.leads_to_dispatch(10).await.unwrap().len(), 1);

    // An engine lead whose grade rises after dispatch comes back as a regrade.
    let engine = NewLead {
        source: LeadSource::Engine,
        upstream_id: None,
        raised_seq: Some(10),
        grade: Grade::Low,
        ..new_lead(50, Some(w.t.grid_a1), Grade::Low, None)
    };
    let commit = |leads: Vec<LeadWrite>| PipelineCommit {
        consumer: "pipeline".into(),
        checkpoints: vec![],
        signals: vec![],
        leads,
        audit: sys("lead"),
    };
    let raised = s
        .commit_pipeline(commit(vec![LeadWrite::Raise(Box::new(engine))]))
        .await
        .unwrap();
    let LeadWriteOutcome::Raised(engine_lead) = raised[0] else {
        panic!("{raised:?}")
    };
    let low = s
        .create_tasks(
            vec![
                new_task(engine_lead, 50, w.t.grid_a1, Grade::Low, &[]),
                new_task(w.leads[2], 3, w.t.grid_a1, Grade::Low, &[]),
            ],
            &sys("task.create"),
        )
        .await
        .unwrap();
    assert!(s.leads_to_dispatch(10).await.unwrap().is_empty());
    s.commit_pipeline(commit(vec![LeadWrite::Update(LeadUpdate {
        person_key: 50,
        seq: 11,
        grade: Grade::Critical,
        score_milli: 90_000,
        fraud_type: None,
        rules_version: Some(1),
        explanation: "{}".into(),
        event_seqs: vec![11],
        at: Timestamp(T0 + 5),
    })]))
    .await
    .unwrap();
    let regrade = s.leads_to_dispatch(10).await.unwrap();
    assert_eq!(regrade.len(), 1);
    assert_eq!(
        (regrade[0].lead_id, regrade[0].grade, regrade[0].task_id),
        (engine_lead, Grade::Critical, Some(low[0].id()))
    );
    // Once the task carries the new grade, the lead is settled.
    let rec = s
        .get_task(&TaskVisibility::all(), low[0].id())
        .await
        .unwrap()
        .unwrap();
    let change = TaskChange {
        task_id: rec.row.id,
        expected_version: rec.row.version,
        fields: TaskFields {
            grade: Grade::Critical,
            ..rec.row.fields()
        },
        transition: NewTransition {
            at: Timestamp(T0 + 6),
            event: "regrade".into(),
            from_state: Some(TaskState::Pending),
            to_state: TaskState::Pending,
            step: None,
            detail: "low -> critical".into(),
        },
        attempt: None,
        assignees: vec![],
        notifications: vec![],
        notification_updates: vec![],
        lead_status: None,
        case: None,
        audit: sys("task.regrade"),
    };
    s.update_task(change).await.unwrap();
    assert!(s.leads_to_dispatch(10).await.unwrap().is_empty());
    verify_all(&s).await;
}

pub(crate) async fn tasks_scope_and_assignee_visibility(s: Arc<dyn Store>) {
    let w = world(&s).await;
    let out = s
        .create_tasks(
            vec![
                new_task(w.leads[0], 1, w.t.grid_a1, Grade::High, &[w.grid_worker]),
                new_task(w.leads[1], 2, w.t.grid_b1, Grade::Critical, &[w.analyst]),
                new_task(w.leads[2], 3, w.t.grid_a1, Grade::Low, &[]),
            ],
            &sys("task.create"),
        )
        .await
        .unwrap();
    let (a1, b1, low) = (out[0].id(), out[1].id(), out[2].id());
    let grid_a1 = Scope::Subtree(path_of(&s, w.t.grid_a1).await);
    let worker = TaskVisibility {
        scope: grid_a1.clone(),
        user: Some(w.grid_worker),
    };
    let ids = |l: Vec<TaskListItem>| l.into_iter().map(|t| t.row.id).collect::<Vec<_>>();
    let (list, total) = s.list_tasks(&worker, &TaskFilter::default()).await.unwrap();
    assert_eq!(total, 2);
    let mut got = ids(list);
    got.sort_unstable();
    assert_eq!(got, vec![a1, low]);
    assert!(
        s.get_task(&worker, b1).await.unwrap().is_none(),
        "another grid's task is invisible"
    );
    // Assigned outside the scope: visible to that user only.
    let analyst_in_a = TaskVisibility {
        scope: grid_a1.clone(),
        user: Some(w.analyst),
    };
    assert!(s.get_task(&analyst_in_a, b1).await.unwrap().is_some());
    assert_eq!(
        s.list_tasks(&analyst_in_a, &TaskFilter::default())
            .await
            .unwrap()
            .1,
        3
    );
    let county = TaskVisibility {
        scope: Scope::Subtree(path_of(&s, w.t.county).await),
        user: None,
    };
    assert_eq!(s.list_tasks(&county, &TaskFilter::default()).await.unwrap().1, 3);
    // Filters.
    let f = |filter: TaskFilter| {
        let s = s.clone();
        let county = county.clone();
        async move { ids(s.list_tasks(&county, &filter).await.unwrap().0) }
    };
    assert_eq!(
        f(TaskFilter {
            assignee: Some(w.grid_worker),
            ..Default::default()
        })
        .await,
        vec![a1]
    );
    assert_eq!(
        f(TaskFilter {
            grade: Some(Grade::Critical),
            ..Default::default()
        })
        .await,
        vec![b1]
    );
    assert_eq!(
        f(TaskFilter {
            node_path: Some(path_of(&s, w.t.town_b).await),
            ..Default::default()
        })
        .await,
        vec![b1]
    );
    assert!(
        f(TaskFilter {
            overdue_at: Some(Timestamp(T0 + 1000)),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        f(TaskFilter {
            overdue_at: Some(Timestamp(T0 + 400_000)),
            ..Default::default()
        })
        .await
        .len(),
        3
    );
    assert!(
        f(TaskFilter {
            open: Some(false),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    let page = s
        .list_tasks(
            &county,
            &TaskFilter {
                limit: Some(2),
                offset: 2,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((page.0.len(), page.1), (1, 3));
    assert_eq!(
        page.0[0].subscriber_masked,
        phone(&page.0[0].row.person_key.to_string()).masked
    );
    assert!(page.0[0].row.plan.is_empty(), "lists leave the plan out");
    // Due for the scheduler.
    assert!(s.tasks_due(Timestamp(T0), 10).await.unwrap().is_empty());
    assert_eq!(s.tasks_due(Timestamp(T0 + 300_000), 10).await.unwrap().len(), 3);
}

pub(crate) async fn tasks_update_is_versioned_and_atomic(s: Arc<dyn Store>) {
    let w = world(&s).await;
    let out = s
        .create_tasks(
            vec![new_task(
                w.leads[0],
                1,
                w.t.grid_a1,
                Grade::High,
                &[w.grid_worker],
            )],
            &sys("task.create"),
        )
        .await
        .unwrap();
    let id = out[0].id();
    let rec = s.get_task(&TaskVisibility::all(), id).await.unwrap().unwrap();
    let attempt = |key: &str, at: i64| NewAttempt {
        at: Timestamp(at),
        method: ContactMethod::Call,
        by_user: Some(w.officer),
        result: ContactResult::Reached,
        note: Some("接通".into()),
        notification_id: None,
        client_key: Some(key.into()),
    };
    let change = |version: i64, key: &str, fields: TaskFields| TaskChange {
        task_id: id,
        expected_version: version,
        fields,
        transition: NewTransition {
            at: Timestamp(T0 + 60_000),
            event: "attempt".into(),
            from_state: Some(TaskState::Pending),
            to_state: TaskState::Contacting,
            step: None,
            detail: "call reached".into(),
        },
        attempt: Some(attempt(key, T0 + 60_000)),
        assignees: vec![NewAssignee {
            user_id: w.officer,
            kind: AssigneeKind::Accepted,
            step: None,
        }],
        notifications: vec![in_app(w.analyst, "task-note-1", T0 + 60_000)],
        notification_updates: vec![],
        lead_status: None,
        case: None,
        audit: AuditRecord {
            actor_id: w.officer.0,
            actor: "officer_a".into(),
            ..audit("task.attempt")
        },
    };
    let contacting = TaskFields {
        state: TaskState::Contacting,
        first_contact_at: Some(Timestamp(T0 + 60_000)),
        accepted_at: Some(Timestamp(T0 + 60_000)),
        ..rec.row.fields()
    };
    let r = s.update_task(change(1, "k1", contacting.clone())).await.unwrap();
    assert_eq!(r.version, 2);
    assert!(r.attempt_id.is_some());
    // A stale version is refused and writes nothing.
    let stale = s
        .update_task(change(1, "k2", contacting.clone()))
        .await
        .unwrap_err();
    assert!(reason(stale).contains("meanwhile"));
    // The same client key again is refused, and the whole change rolls back.
    let dup = s
        .update_task(change(2, "k1", contacting.clone()))
        .await
        .unwrap_err();
    assert!(reason(dup).contains("before"));
    let rec = s.get_task(&TaskVisibility::all(), id).await.unwrap().unwrap();
    assert_eq!(rec.row.version, 2);
    assert_eq!(rec.attempts.len(), 1);
    assert_eq!(rec.transitions.len(), 2);
    assert_eq!(
        rec.notifications
            .iter()
            .filter(|n| n.idempotency_key == "task-note-1")
            .count(),
        1
    );
    assert_eq!(
        s.attempt_by_key(id, "k1").await.unwrap().unwrap().result,
        ContactResult::Reached
    );
    assert!(s.attempt_by_key(id, "k9").await.unwrap().is_none());
    assert_eq!(rec.row.first_contact_at, Some(Timestamp(T0 + 60_000)));
    assert!(
        rec.assignees
            .iter()
            .any(|a| a.user_id == w.officer && a.kind == AssigneeKind::Accepted)
    );

    // Close as defrauded: the case opens with the close, the lead closes.
    let closed = TaskFields {
        state: TaskState::Done,
        closed_at: Some(Timestamp(T0 + 120_000)),
        outcome: Some(OutcomeKind::Defrauded),
        loss_fen: Some(1_234_500),
        outcome_by: Some(w.officer.0),
        outcome_note: Some("已转账".into()),
        next_check_at: None,
        feedback_pending: true,
        ..rec.row.fields()
    };
    let case = NewCase {
        lead_id: Some(w.leads[0]),
        resident_id: rec.row.resident_id,
        person_key: Some(1),
        node_id: Some(w.t.grid_a1),
        fraud_type: Some(FraudType::BrushingRebate),
        loss_fen: 1_234_500,
        reported_at: Timestamp(T0 + 120_000),
        created_by: w.officer.0,
    };
    let close = TaskChange {
        attempt: None,
        assignees: vec![],
        notifications: vec![],
        transition: NewTransition {
            at: Timestamp(T0 + 120_000),
            event: "close".into(),
            from_state: Some(TaskState::Contacting),
            to_state: TaskState::Done,
            step: None,
            detail: "defrauded".into(),
        },
        lead_status: Some(LeadStatus::Closed),
        case: Some(case.clone()),
        ..change(2, "unused", closed.clone())
    };
    let r = s.update_task(close).await.unwrap();
    let case_id = r.case_id.unwrap();
    let rec = s.get_task(&TaskVisibility::all(), id).await.unwrap().unwrap();
    assert_eq!(rec.case_id, Some(case_id));
    assert_eq!(rec.row.outcome, Some(OutcomeKind::Defrauded));
    assert_eq!(rec.row.loss_fen, Some(1_234_500));
    assert!(rec.row.feedback_pending);
    assert_eq!(s.tasks_feedback_pending(10).await.unwrap(), vec![id]);
    assert_eq!(
        s.get_lead(&Scope::All, w.leads[0])
            .await
            .unwrap()
            .unwrap()
            .summary
            .status,
        LeadStatus::Closed
    );
    assert!(
        s.tasks_due(Timestamp(T0 + 10_000_000), 10)
            .await
            .unwrap()
            .is_empty(),
        "closed tasks are never due"
    );
    // A case with no loss is refused.
    let bad = TaskChange {
        case: Some(NewCase { loss_fen: 0, ..case }),
        attempt: None,
        ..change(r.version, "x", closed)
    };
    assert!(s.update_task(bad).await.unwrap_err().is_invalid());
    // Cases: scope and indicators.
    let ind = s
        .create_indicator(
            &NewIndicator {
                kind: IndicatorKind::Phone,
                value: "+8613900000001".into(),
                fraud_type: FraudType::BrushingRebate,
                confidence: 40,
                source: IndicatorSource::Case,
                status: IndicatorStatus::Pending,
                valid_from: Timestamp(T0),
                valid_until: None,
                tags: vec![],
                description: String::new(),
                notes: String::new(),
                external_id: None,
            },
            &audit("intel.indicator.create"),
        )
        .await
        .unwrap();
    s.link_case_indicators(case_id, Some(id), &[ind, ind, 999_999], &audit("case.indicators"))
        .await
        .unwrap();
    let c = s
        .get_case(&Scope::Subtree(path_of(&s, w.t.town_a).await), case_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.indicator_ids, vec![ind]);
    assert_eq!(c.loss_fen, 1_234_500);
    assert!(
        s.get_case(&Scope::Subtree(path_of(&s, w.t.town_b).await), case_id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.list_cases(&Scope::All, 10, 0).await.unwrap().1, 1);
    assert!(s.tasks_feedback_pending(10).await.unwrap().is_empty());
    assert!(
        s.update_task(TaskChange {
            task_id: 999_999,
            ..change(1, "z", contacting)
        })
        .await
        .unwrap_err()
        .is_not_found()
    );
    verify_all(&s).await;
}

pub(crate) async fn tasks_notifications_queue_and_inbox(s: Arc<dyn Store>) {
    let w = world(&s).await;
    let out = s
        .create_tasks(
            vec![new_task(
                w.leads[0],
                1,
                w.t.grid_a1,
                Grade::High,
                &[w.grid_worker],
            )],
            &sys("task.create"),
        )
        .await
        .unwrap();
    let existing = format!("lead-{}-warn", w.leads[0]);
    let ids = s
        .queue_notifications(
            vec![
                sms(7, "later", T0 + 5000),
                sms(7, &existing, T0),
                in_app(w.grid_worker, "x-1", T0),
            ],
            &sys("notify.queue"),
        )
        .await
        .unwrap();
    assert_eq!(ids.len(), 3);
    let due = s.due_notifications(Timestamp(T0), 10).await.unwrap();
    assert_eq!(
        due.len(),
        1,
        "the in-app message is never due and `later` is not yet"
    );
    let warn = due[0].clone();
    assert_eq!(
        warn.id, ids[1],
        "a key queued before answers the stored notification"
    );
    assert_eq!(warn.person_key, Some(1));
    assert_eq!(
        s.due_notifications(Timestamp(T0 + 5000), 10).await.unwrap().len(),
        2
    );
    assert_eq!(warn.task_id, Some(out[0].id()));
    assert_eq!(warn.status, NotifyStatus::Queued);
    assert_eq!(warn.to, Some(phone("1")));
    // A retry plan, then success with a delivery id, then a receipt.
    let upd = |status, attempts, next: Option<i64>, delivery: Option<&str>, err: Option<&str>, at| {
        NotificationUpdate {
            id: warn.id,
            status,
            attempts,
            next_attempt_at: next.map(Timestamp),
            delivery_id: delivery.map(str::to_string),
            last_error: err.map(str::to_string),
            at: Timestamp(at),
        }
    };
    s.update_notifications(
        &[upd(
            NotifyStatus::Queued,
            1,
            Some(T0 + 30_000),
            None,
            Some("status 503"),
            T0,
        )],
        &sys("notify.send"),
    )
    .await
    .unwrap();
    assert!(
        s.due_notifications(Timestamp(T0 + 1000), 10)
            .await
            .unwrap()
            .iter()
            .all(|n| n.id != warn.id)
    );
    s.update_notifications(
        &[upd(NotifyStatus::Sent, 2, None, Some("gw-1"), None, T0 + 30_000)],
        &sys("notify.send"),
    )
    .await
    .unwrap();
    let by = s
        .notifications_by_delivery(&["gw-1".into(), "nope".into()])
        .await
        .unwrap();
    assert_eq!(by.len(), 1);
    assert_eq!(
        by[0].last_error.as_deref(),
        Some("status 503"),
        "the last error is kept"
    );
    assert_eq!(by[0].sent_at, Some(Timestamp(T0 + 30_000)));
    s.update_notifications(
        &[upd(NotifyStatus::Delivered, 2, None, None, None, T0 + 40_000)],
        &sys("notify.receipt"),
    )
    .await
    .unwrap();
    let n = s.get_notification(warn.id).await.unwrap().unwrap();
    assert_eq!(
        (n.status, n.delivery_id.as_deref(), n.delivered_at),
        (
            NotifyStatus::Delivered,
            Some("gw-1"),
            Some(Timestamp(T0 + 40_000))
        )
    );
    assert_eq!(
        count_actions(&s, "notify.").await,
        6,
        "three queued, three updates"
    );
    // Rate history counts warnings that were not failed.
    s.update_notifications(
        &[NotificationUpdate {
            id: ids[0],
            status: NotifyStatus::Failed,
            attempts: 3,
            next_attempt_at: None,
            delivery_id: None,
            last_error: Some("notify.gave_up".into()),
            at: Timestamp(T0),
        }],
        &sys("notify.send"),
    )
    .await
    .unwrap();
    let hist = s.warning_history(&[1, 7, 7], Timestamp(T0 - 1)).await.unwrap();
    assert_eq!(hist, vec![(1, Timestamp(T0))], "a failed warning does not count");
    assert!(
        s.warning_history(&[1], Timestamp(T0)).await.unwrap().is_empty(),
        "the window is open at its start"
    );
    // The in-app inbox.
    let (items, total, unread) = s.user_notifications(w.grid_worker, false, 10, 0).await.unwrap();
    assert_eq!((items.len(), total, unread), (2, 2, 2));
    assert!(items[0].id > items[1].id, "newest first");
    assert_eq!(
        s.mark_notifications_read(w.grid_worker, Some(&[items[0].id]), Timestamp(T0 + 1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.mark_notifications_read(w.officer, None, Timestamp(T0 + 1))
            .await
            .unwrap(),
        0
    );
    let (items, total, unread) = s.user_notifications(w.grid_worker, true, 10, 0).await.unwrap();
    assert_eq!((items.len(), total, unread), (1, 1, 1));
    assert_eq!(
        s.mark_notifications_read(w.grid_worker, None, Timestamp(T0 + 2))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.user_notifications(w.grid_worker, false, 10, 0).await.unwrap().2,
        0
    );
    // Bad keys and missing numbers are refused.
    assert!(
        s.queue_notifications(vec![sms(1, "has space", T0)], &sys("x"))
            .await
            .unwrap_err()
            .is_invalid()
    );
    let mut no_to = sms(1, "no-to", T0);
    no_to.to = None;
    assert!(
        s.queue_notifications(vec![no_to], &sys("x"))
            .await
            .unwrap_err()
            .is_invalid()
    );
    verify_all(&s).await;
}

pub(crate) async fn tasks_false_alarm_feedback_applies_once(s: Arc<dyn Store>) {
    let w = world(&s).await;
    let mk = |v: &str, conf: u8| NewIndicator {
        kind: IndicatorKind::Phone,
        value: v.into(),
        fraud_type: FraudType::BrushingRebate,
        confidence: conf,
        source: IndicatorSource::Analyst,
        status: IndicatorStatus::Confirmed,
        valid_from: Timestamp(T0),
        valid_until: None,
        tags: vec![],
        description: String::new(),
        notes: String::new(),
        external_id: None,
    };
    let i1 = s
        .create_indicator(&mk("+8613900000011", 80), &audit("intel.indicator.create"))
        .await
        .unwrap();
    let i2 = s
        .create_indicator(&mk("+8613900000012", 12), &audit("intel.indicator.create"))
        .await
        .unwrap();
    let out = s
        .create_tasks(
            vec![new_task(w.leads[0], 1, w.t.grid_a1, Grade::High, &[])],
            &sys("task.create"),
        )
        .await
        .unwrap();
    let id = out[0].id();
    let rec = s.get_task(&TaskVisibility::all(), id).await.unwrap().unwrap();
    s.update_task(TaskChange {
        task_id: id,
        expected_version: rec.row.version,
        fields: TaskFields {
            state: TaskState::Done,
            outcome: Some(OutcomeKind::FalseAlarm),
            closed_at: Some(Timestamp(T0 + 1)),
            feedback_pending: true,
            ..rec.row.fields()
        },
        transition: NewTransition {
            at: Timestamp(T0 + 1),
            event: "close".into(),
            from_state: Some(TaskState::Pending),
            to_state: TaskState::Done,
            step: None,
            detail: String::new(),
        },
        attempt: None,
        assignees: vec![],
        notifications: vec![],
        notification_updates: vec![],
        lead_status: Some(LeadStatus::Closed),
        case: None,
        audit: audit("task.close"),
    })
    .await
    .unwrap();
    let gen0 = s.intel_generation().await.unwrap();
    let fb = FalseAlarmFeedback {
        task_id: id,
        indicator_ids: vec![i1, i2, i1, 424_242],
        confidence_step: 20,
        confidence_floor: 10,
    };
    let changes = s.apply_false_alarm(&fb, &audit("task.feedback")).await.unwrap();
    assert_eq!(changes, vec![(i1, 80, 60), (i2, 12, 10)]);
    assert_eq!(s.get_indicator(i1).await.unwrap().unwrap().confidence, 60);
    assert_eq!(s.get_indicator(i1).await.unwrap().unwrap().version, 2);
    assert!(s.intel_generation().await.unwrap() > gen0);
    assert_eq!(count_actions(&s, "intel.indicator.confidence").await, 2);
    // Once only.
    assert!(
        s.apply_false_alarm(&fb, &audit("task.feedback"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.get_indicator(i1).await.unwrap().unwrap().confidence, 60);
    let (queue, total) = s
        .list_review(&ReviewFilter {
            status: Some(ReviewStatus::Open),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 2);
    assert_eq!(queue[0].indicator_id, i1);
    assert_eq!(queue[0].reason, ReviewReason::FalseAlarm);
    assert_eq!(queue[0].task_id, Some(id));
    assert_eq!(queue[0].confidence, 60);
    // An appeal adds its own item; the same again is ignored.
    let item = NewReviewItem {
        indicator_id: i1,
        reason: ReviewReason::Appeal,
        task_id: None,
        appeal_id: None,
        note: String::new(),
    };
    assert!(
        s.add_review_items(std::slice::from_ref(&item), &audit("x"))
            .await
            .unwrap_err()
            .is_invalid()
    );
    let ap = s
        .create_appeal(
            &NewAppeal {
                reference: "SS1".into(),
                kind: IndicatorKind::Phone,
                value: "+8613900000011".into(),
                contact: None,
                reason: "我的号码".into(),
                ip_hash: vec![1, 2],
            },
            &sys("appeal.create"),
        )
        .await
        .unwrap();
    let item = NewReviewItem {
        appeal_id: Some(ap),
        ..item
    };
    assert_eq!(
        s.add_review_items(&[item.clone(), item], &audit("intel.review.add"))
            .await
            .unwrap(),
        1
    );
    s.resolve_review(queue[0].id, "复核后维持", &audit("intel.review.resolve"))
        .await
        .unwrap();
    assert!(
        reason(
            s.resolve_review(queue[0].id, "again", &audit("x"))
                .await
                .unwrap_err()
        )
        .contains("before")
    );
    let (open, _) = s
        .list_review(&ReviewFilter {
            status: Some(ReviewStatus::Open),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 2);
    let (mine, _) = s
        .list_review(&ReviewFilter {
            indicator_id: Some(i1),
            reason: Some(ReviewReason::FalseAlarm),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (mine[0].status, mine[0].note.as_str()),
        (ReviewStatus::Done, "复核后维持")
    );
    verify_all(&s).await;
}

pub(crate) async fn tasks_appeals_are_decided_once(s: Arc<dyn Store>) {
    let mk = |r: &str, contact: bool| NewAppeal {
        reference: r.into(),
        kind: IndicatorKind::Phone,
        value: "+8613900000021".into(),
        contact: contact.then(|| phone("21")),
        reason: "这是我本人的号码".into(),
        ip_hash: vec![9; 16],
    };
    let a1 = s
        .create_appeal(&mk("SS20260101-A", true), &sys("appeal.create"))
        .await
        .unwrap();
    let a2 = s
        .create_appeal(&mk("SS20260101-B", false), &sys("appeal.create"))
        .await
        .unwrap();
    assert!(
        s.create_appeal(&mk("SS20260101-A", false), &sys("x"))
            .await
            .unwrap_err()
            .is_conflict()
    );
    let got = s.appeal_by_reference(" SS20260101-A ").await.unwrap().unwrap();
    assert_eq!(
        (got.id, got.status, got.contact.clone()),
        (a1, AppealStatus::Pending, Some(phone("21")))
    );
    let (pending, total) = s
        .list_appeals(&AppealFilter {
            status: Some(AppealStatus::Pending),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 2);
    assert_eq!(
        pending.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![a1, a2],
        "oldest first"
    );
    let note = NewNotification {
        purpose: NotifyPurpose::AppealDecision,
        template_id: "appeal:revoked".into(),
        person_key: None,
        ..sms(0, "appeal-1-decision", T0 + 10)
    };
    let decision = AppealDecision {
        status: AppealStatus::Revoked,
        reason: "核实为误报".into(),
        indicator_ids: vec![5, 6],
        decided_by: 3,
        at: Timestamp(T0 + 10),
        notification: Some(note),
    };
    assert_eq!(
        s.decide_appeal(a1, &decision, &audit("appeal.decide"))
            .await
            .unwrap(),
        DecideOutcome::Decided
    );
    assert_eq!(
        s.decide_appeal(a1, &decision, &audit("appeal.decide"))
            .await
            .unwrap(),
        DecideOutcome::Unchanged
    );
    let kept = AppealDecision {
        status: AppealStatus::Kept,
        notification: None,
        ..decision.clone()
    };
    assert!(
        s.decide_appeal(a1, &kept, &audit("appeal.decide"))
            .await
            .unwrap_err()
            .is_conflict()
    );
    assert!(
        s.decide_appeal(
            a1,
            &AppealDecision {
                status: AppealStatus::Pending,
                ..kept.clone()
            },
            &audit("x")
        )
        .await
        .unwrap_err()
        .is_invalid()
    );
    assert!(
        s.decide_appeal(999, &kept, &audit("x"))
            .await
            .unwrap_err()
            .is_not_found()
    );
    let got = s.get_appeal(a1).await.unwrap().unwrap();
    assert_eq!(got.status, AppealStatus::Revoked);
    assert_eq!(got.indicator_ids, vec![5, 6]);
    assert_eq!(got.decided_by, Some(3));
    assert!(!got.appellant_notified);
    // The appellant's SMS goes out: the appeal records it.
    let due = s.due_notifications(Timestamp(T0 + 10), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].appeal_id, due[0].task_id), (Some(a1), None));
    s.update_notifications(
        &[NotificationUpdate {
            id: due[0].id,
            status: NotifyStatus::Sent,
            attempts: 1,
            next_attempt_at: None,
            delivery_id: Some("gw-9".into()),
            last_error: None,
            at: Timestamp(T0 + 20),
        }],
        &sys("notify.send"),
    )
    .await
    .unwrap();
    assert!(s.get_appeal(a1).await.unwrap().unwrap().appellant_notified);
    let (all, _) = s.list_appeals(&AppealFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![a2, a1],
        "newest first"
    );
    let (range, _) = s
        .list_appeals(&AppealFilter {
            from: Some(Timestamp(T0 + 1)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(range.is_empty());
    verify_all(&s).await;
}

pub(crate) async fn tasks_facts_and_upstream_results(s: Arc<dyn Store>) {
    let w = world(&s).await;
    let out = s
        .create_tasks(
            vec![
                new_task(w.leads[0], 1, w.t.grid_a1, Grade::High, &[]),
                new_task(w.leads[1], 2, w.t.grid_b1, Grade::Critical, &[]),
            ],
            &sys("task.create"),
        )
        .await
        .unwrap();
    let rec = s
        .get_task(&TaskVisibility::all(), out[0].id())
        .await
        .unwrap()
        .unwrap();
    s.update_task(TaskChange {
        task_id: rec.row.id,
        expected_version: rec.row.version,
        fields: TaskFields {
            state: TaskState::Done,
            first_contact_at: Some(Timestamp(T0 + 100)),
            closed_at: Some(Timestamp(T0 + 200)),
            outcome: Some(OutcomeKind::Dissuaded),
            outcome_by: Some(w.grid_worker.0),
            outcome_note: Some("已劝阻".into()),
            next_check_at: None,
            ..rec.row.fields()
        },
        transition: NewTransition {
            at: Timestamp(T0 + 200),
            event: "close".into(),
            from_state: Some(TaskState::Pending),
            to_state: TaskState::Done,
            step: None,
            detail: String::new(),
        },
        attempt: None,
        assignees: vec![],
        notifications: vec![],
        notification_updates: vec![],
        lead_status: Some(LeadStatus::Closed),
        case: None,
        audit: audit("task.close"),
    })
    .await
    .unwrap();
    let facts = s.task_facts(&Scope::All, &FactFilter::default()).await.unwrap();
    assert_eq!(facts.len(), 2);
    assert_eq!(facts[0].outcome, Some(OutcomeKind::Dissuaded));
    assert_eq!(facts[0].first_contact_at, Some(Timestamp(T0 + 100)));
    let town_a = Scope::Subtree(path_of(&s, w.t.town_a).await);
    assert_eq!(
        s.task_facts(&town_a, &FactFilter::default()).await.unwrap().len(),
        1
    );
    assert!(
        s.task_facts(
            &Scope::All,
            &FactFilter {
                from: Some(Timestamp(T0 + 1)),
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .is_empty()
    );
    let up = s
        .upstream_results(&Scope::All, &FactFilter::default())
        .await
        .unwrap();
    assert_eq!(up.len(), 3, "every pushed lead, with a task or not");
    assert_eq!(up[0].upstream_id.as_deref(), Some("UP-1"));
    assert_eq!(up[0].outcome, Some(OutcomeKind::Dissuaded));
    assert_eq!(up[0].outcome_note.as_deref(), Some("已劝阻"));
    assert_eq!(up[0].lead_status, LeadStatus::Closed);
    assert_eq!(up[1].task_state, Some(TaskState::Pending));
    assert_eq!(up[2].task_id, None);
    assert_eq!(
        s.upstream_results(&town_a, &FactFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
    let briefs = s
        .resident_briefs(&[ResidentId(999_999), w.resident, w.resident])
        .await
        .unwrap();
    assert_eq!(briefs.len(), 1);
    assert_eq!(
        (
            briefs[0].id,
            briefs[0].name.as_str(),
            briefs[0].sex,
            briefs[0].grid_id
        ),
        (
            w.resident,
            "居民1",
            Some(fanzha_core::idcard::Sex::Male),
            w.t.grid_a1
        )
    );
}
