//! The dissuasion workflow through the app on a simulated clock: lead →
//! task → overdue → escalation → outcome → feedback into intel and the
//! statistics; routing by grade and location; scope; idempotent outcomes;
//! warnings through a gateway that fails on purpose, retried and then
//! escalated; delivery receipts.

mod org_support;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fanzha_app::crypto::MasterKey;
use fanzha_app::intel::formats::ImportFormat;
use fanzha_app::intel::import::IntelImportRequest;
use fanzha_app::notify::{HttpChannelConfig, HttpNotifier, LogNotifier};
use fanzha_app::residents::ResidentForm;
use fanzha_app::tasks::work::{AttemptForm, OutcomeForm, TaskQuery};
use fanzha_app::{Actor, App, AppConfig, AppError, AuthVia, ManualClock, StoreConfig};
use fanzha_core::dispatch::{Method, Route};
use fanzha_core::roles::Role;
use fanzha_core::task::{ContactMethod, ContactResult, OutcomeKind, TaskState};
use fanzha_core::time::Date;
use fanzha_core::{FraudType, Grade, IndicatorKind, NodeId, Timestamp};
use fanzha_store::{
    AssigneeKind, IndicatorSource, IndicatorStatus, NotifyChannel, NotifyStatus, ReviewFilter, Store,
    TaskVisibility,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// 2026-01-01T00:00:00Z.
const NOW: i64 = 1_767_225_600_000;
const MIN: i64 = 60;
const WAIT: Duration = Duration::from_secs(30);

const FLAGGED: &str = "+8617100000001";
const ELDER: &str = "+8613900000001"; // grid A1
const STUDENT: &str = "+8613900000002"; // grid B1
const STRANGER: &str = "+8613700000009"; // not a resident
const SON: &str = "+8613900000003";

struct World {
    app: Arc<App>,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
    grid_a1: NodeId,
    analyst: Actor,
    grid: Actor,
    grid_b: Actor,
    cadre: Actor,
    officer: Actor,
    leader: Actor,
}

fn config(dir: &std::path::Path) -> AppConfig {
    let mut cfg = AppConfig::new(MasterKey::from_hex(&"ab".repeat(32)).unwrap());
    cfg.intel.snapshot_dir = Some(dir.to_path_buf());
    cfg.detect.rules_poll_secs = 1;
    cfg.detect.relay_poll_ms = 100;
    cfg.tasks.background = false;
    cfg
}

fn id_number(birth: Date, seq: u16) -> String {
    fanzha_core::idcard::compose("330523", birth, seq)
        .unwrap()
        .as_str()
        .to_string()
}

async fn staff(store: &Arc<dyn Store>, name: &str, role: Role, node: NodeId) -> Actor {
    store
        .create_user(
            &fanzha_store::model::NewUser {
                username: name.into(),
                display_name: name.into(),
                role,
                node_id: Some(node),
                password_hash: "x".into(),
                must_change_password: false,
                lang: "zh".into(),
            },
            &fanzha_store::AuditRecord {
                at: Timestamp(NOW),
                actor_id: 0,
                actor: "test".into(),
                action: "user.create".into(),
                target: String::new(),
                detail: String::new(),
                ip: String::new(),
            },
        )
        .await
        .unwrap();
    let user = store.user_by_username(name).await.unwrap().unwrap();
    Actor {
        user,
        ip: "192.0.2.1".into(),
        via: AuthVia::Token,
    }
}

async fn world_with(cfg_fn: impl FnOnce(&mut AppConfig)) -> World {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(NOW)));
    let store = fanzha_app::open_store(&StoreConfig::Sqlite {
        path: dir.path().join("fanzha.db"),
    })
    .await
    .unwrap();
    let mut cfg = config(dir.path());
    cfg_fn(&mut cfg);
    let app = App::new(store.clone(), cfg, clock.clone()).unwrap();
    app.migrate().await.unwrap();
    let admin = app.cli_actor();
    let org_support::Tree {
        county,
        town_a,
        village_a,
        grid_a1,
        grid_b1,
        ..
    } = org_support::two_townships(&app, &admin).await;
    app.create_resident(
        &admin,
        &ResidentForm {
            name: "王奶奶".into(),
            id_number: id_number(Date::new(1949, 5, 1).unwrap(), 12),
            phones: ELDER.into(),
            address: "幸福路1号".into(),
            grid_id: grid_a1,
            tags: "独居老人".into(),
            contacts: format!("儿子:王大:{SON}"),
            expected_version: None,
        },
    )
    .await
    .unwrap();
    app.create_resident(
        &admin,
        &ResidentForm {
            name: "李同学".into(),
            id_number: id_number(Date::new(2006, 9, 1).unwrap(), 21),
            phones: STUDENT.into(),
            address: "学府路2号".into(),
            grid_id: grid_b1,
            tags: "学生".into(),
            contacts: String::new(),
            expected_version: None,
        },
    )
    .await
    .unwrap();
    let analyst = staff(&store, "analyst", Role::Analyst, county).await;
    let leader = staff(&store, "leader", Role::Leader, county).await;
    let officer = staff(&store, "officer", Role::Officer, town_a).await;
    let cadre = staff(&store, "cadre", Role::GridWorker, village_a).await;
    let grid = staff(&store, "grid", Role::GridWorker, grid_a1).await;
    let grid_b = staff(&store, "grid_b", Role::GridWorker, grid_b1).await;
    let mut req = IntelImportRequest::new("flagged.txt");
    req.format = Some(ImportFormat::List);
    req.kind = Some(IndicatorKind::Phone);
    req.fraud_type = Some(FraudType::ImpersonateAuthority);
    req.confidence = Some(90);
    app.import_intel(&analyst, FLAGGED.as_bytes(), &req, &|_| {})
        .await
        .unwrap();
    app.sync_intel().await.unwrap();
    World {
        app,
        store,
        clock,
        _dir: dir,
        grid_a1,
        analyst,
        grid,
        grid_b,
        cadre,
        officer,
        leader,
    }
}

async fn world() -> World {
    world_with(|_| {}).await
}

async fn push(w: &World, rows: serde_json::Value) {
    let body = serde_json::to_vec(&rows).unwrap();
    let rep = w
        .app
        .import_leads(&w.analyst, Some("push.json"), &body)
        .await
        .unwrap();
    assert!(rep.rejected.is_empty(), "{:?}", rep.rejected);
}

async fn tasks_of(w: &World, a: &Actor) -> Vec<fanzha_app::tasks::work::TaskSummary> {
    w.app.list_tasks(a, &TaskQuery::default()).await.unwrap().items
}

fn advance(w: &World, minutes: i64) {
    w.clock.advance_secs(minutes * MIN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_leads_route_by_grade_with_scope_and_idempotent_outcomes() {
    let w = world().await;
    let log = Arc::new(LogNotifier::new());
    w.app.set_notifier(log.clone());
    push(
        &w,
        serde_json::json!([
            {"id": "UP-1", "phone": ELDER, "grade": "high", "fraud_type": "刷单返利"},
            {"id": "UP-2", "phone": STRANGER, "grade": "critical"},
            {"id": "UP-3", "phone": STUDENT, "grade": "low", "fraud_type": "虚假网络投资理财"},
        ]),
    )
    .await;
    let r = w.app.tasks_tick().await.unwrap();
    assert_eq!(r.dispatched, 3, "{r:?}");
    // A second tick dispatches nothing new.
    assert_eq!(w.app.tasks_tick().await.unwrap().dispatched, 0);

    let all = tasks_of(&w, &w.analyst).await;
    assert_eq!(all.len(), 3);
    let by_grade = |g: Grade| {
        all.iter()
            .find(|t| t.item.row.grade == g)
            .unwrap()
            .item
            .row
            .clone()
    };
    let high = by_grade(Grade::High);
    let critical = by_grade(Grade::Critical);
    let low = by_grade(Grade::Low);
    assert_eq!((high.method, high.route), (Method::Visit, Route::Local));
    assert_eq!(high.node_id, w.grid_a1);
    assert_eq!(high.contact_due, Timestamp(NOW + 15 * 60_000));
    assert_eq!(high.visit_due, Some(Timestamp(NOW + 120 * 60_000)));
    // Outside our registry: the transfer queue, worked by the center.
    assert_eq!(critical.route, Route::TransferQueue);
    assert_eq!(critical.method, Method::CenterCall);
    assert_eq!(low.method, Method::AutoSms);

    // Owners: the grid worker and the station officer; the center watches.
    let d = w.app.task_detail(&w.analyst, high.id).await.unwrap();
    let mut owners: Vec<_> = d
        .assignees
        .iter()
        .filter(|a| a.kind == AssigneeKind::Owner)
        .map(|a| a.username.as_str())
        .collect();
    owners.sort_unstable();
    assert_eq!(owners, vec!["grid", "officer"]);
    assert!(
        d.assignees
            .iter()
            .any(|a| a.kind == AssigneeKind::Watch && a.username == "analyst")
    );
    assert_eq!(d.person.name.as_deref(), Some("王奶奶"));
    assert_eq!(d.person.contacts.len(), 1);
    assert_eq!(d.person.contacts[0].phone_masked.as_deref(), Some("139****0003"));
    assert!(d.script.is_some(), "a script for the fraud type");
    let transfer = w.app.task_detail(&w.analyst, critical.id).await.unwrap();
    assert!(
        transfer
            .assignees
            .iter()
            .any(|a| a.kind == AssigneeKind::Owner && a.username == "analyst")
    );

    // The low task: the warning SMS went out through the notifier once and
    // counts as contact (the log notifier delivers at once).
    let sent = log.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].to_masked, "139****0002");
    let low_d = w.app.task_detail(&w.analyst, low.id).await.unwrap();
    assert!(low_d.task.first_contact_at.is_some());
    assert_eq!(low_d.attempts[0].result, ContactResult::Delivered);

    // Scope: grid A1 sees its own task only; grid B1 its own only; the
    // leader sees all and may not work them.
    let mine: Vec<i64> = tasks_of(&w, &w.grid)
        .await
        .iter()
        .map(|t| t.item.row.id)
        .collect();
    assert_eq!(mine, vec![high.id]);
    let theirs: Vec<i64> = tasks_of(&w, &w.grid_b)
        .await
        .iter()
        .map(|t| t.item.row.id)
        .collect();
    assert_eq!(theirs, vec![low.id]);
    assert!(matches!(
        w.app.task_detail(&w.grid_b, high.id).await,
        Err(AppError::NotFound(_))
    ));
    assert!(matches!(
        w.app.accept_task(&w.grid_b, high.id).await,
        Err(AppError::NotFound(_))
    ));
    assert_eq!(tasks_of(&w, &w.leader).await.len(), 3);
    assert!(matches!(
        w.app.accept_task(&w.leader, high.id).await,
        Err(AppError::Forbidden(_))
    ));

    // Work: accept, a call that reached her, 劝阻成功; the same outcome again
    // (a second tap) changes nothing; another outcome is a conflict.
    let a = w.app.accept_task(&w.grid, high.id).await.unwrap();
    assert_eq!((a.state, a.changed), (TaskState::Accepted, true));
    assert!(!w.app.accept_task(&w.grid, high.id).await.unwrap().changed);
    let dissuade = OutcomeForm {
        outcome: OutcomeKind::Dissuaded,
        loss_fen: None,
        loss_yuan: None,
        note: None,
    };
    assert!(matches!(
        w.app.record_outcome(&w.grid, high.id, &dissuade).await,
        Err(AppError::Invalid(_))
    ));
    let attempt = AttemptForm {
        method: ContactMethod::Call,
        result: ContactResult::Reached,
        note: Some("已电话联系".into()),
        at: None,
        client_key: Some("tap-1".into()),
    };
    let r1 = w.app.record_attempt(&w.grid, high.id, &attempt).await.unwrap();
    let r2 = w.app.record_attempt(&w.grid, high.id, &attempt).await.unwrap();
    assert!(r1.changed && !r2.changed);
    assert_eq!(r1.state, TaskState::Contacting);
    let done = w.app.record_outcome(&w.grid, high.id, &dissuade).await.unwrap();
    assert_eq!((done.state, done.changed), (TaskState::Done, true));
    let again = w.app.record_outcome(&w.grid, high.id, &dissuade).await.unwrap();
    assert!(!again.changed);
    let other = OutcomeForm {
        outcome: OutcomeKind::FalseAlarm,
        ..dissuade.clone()
    };
    assert!(matches!(
        w.app.record_outcome(&w.grid, high.id, &other).await,
        Err(AppError::Conflict(_))
    ));
    let d = w.app.task_detail(&w.grid, high.id).await.unwrap();
    assert_eq!(d.attempts.len(), 1);
    assert_eq!(d.task.outcome, Some(OutcomeKind::Dissuaded));
    // Every change audited.
    let n_close = w
        .store
        .list_audit(&fanzha_store::AuditFilter {
            action_prefix: Some("task.close".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .1;
    assert_eq!(n_close, 1);

    // 非本辖区: the transfer task is transferred; 已被骗 needs a loss.
    let t = w
        .app
        .record_outcome(
            &w.analyst,
            critical.id,
            &OutcomeForm {
                outcome: OutcomeKind::OutOfJurisdiction,
                loss_fen: None,
                loss_yuan: None,
                note: Some("外省号码".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(t.state, TaskState::Transferred);
    let defrauded_no_loss = OutcomeForm {
        outcome: OutcomeKind::Defrauded,
        loss_fen: None,
        loss_yuan: None,
        note: None,
    };
    assert!(matches!(
        w.app.record_outcome(&w.analyst, low.id, &defrauded_no_loss).await,
        Err(AppError::Invalid(_))
    ));
    let case = w
        .app
        .record_outcome(
            &w.analyst,
            low.id,
            &OutcomeForm {
                loss_yuan: Some("1234.50".into()),
                ..defrauded_no_loss
            },
        )
        .await
        .unwrap();
    let case_id = case.case_id.expect("a case record");
    let c = w
        .store
        .get_case(&fanzha_store::Scope::All, case_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.loss_fen, 123_450);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_lead_overdue_escalates_then_feedback_reaches_intel_and_stats() {
    let w = world().await;
    w.app.set_notifier(Arc::new(LogNotifier::new()));
    w.app.start_pipeline().await.unwrap();
    // A flagged caller rings the elder, texts, and she sends money.
    let lines = [
        format!(
            r#"{{"ts":{},"source":"cmcc","kind":"call","caller":"{FLAGGED}","callee":"{ELDER}","direction":"in","duration_s":720}}"#,
            NOW - 30 * 60_000
        ),
        serde_json::json!({"ts": NOW - 20 * 60_000, "source": "cmcc", "kind": "sms", "sender": FLAGGED,
            "receiver": ELDER, "text": "您涉嫌洗钱，请将资金转入安全账户配合调查"})
        .to_string(),
        format!(
            r#"{{"ts":{},"source":"bank:icbc","kind":"transfer","payer":"{ELDER}","payee":{{"kind":"bank_account","value":"6222021234567890123"}},"amount_fen":800000}}"#,
            NOW - 10 * 60_000
        ),
    ];
    let rep = w
        .app
        .ingest_ndjson(&w.analyst, lines.join("\n").as_bytes())
        .await
        .unwrap();
    assert!(w.app.wait_processed(rep.last_seq.unwrap(), WAIT).await);
    w.app.tasks_tick().await.unwrap();
    let list = tasks_of(&w, &w.grid).await;
    assert_eq!(list.len(), 1, "the engine lead became a task for grid A1");
    let task = list[0].item.row.clone();
    assert!(task.grade >= Grade::High);
    let contact_mins = if task.grade == Grade::Critical { 5 } else { 15 };

    // Nobody calls: at the deadline it climbs to the village head (no head
    // designated: the village's grid workers), then to the station.
    advance(&w, contact_mins - 1);
    assert_eq!(w.app.tasks_tick().await.unwrap().escalated, 0);
    assert!(
        !tasks_of(&w, &w.cadre).await.is_empty(),
        "the village sees its grid"
    );
    advance(&w, 1);
    assert_eq!(w.app.tasks_tick().await.unwrap().escalated, 1);
    let d = w.app.task_detail(&w.cadre, task.id).await.unwrap();
    assert_eq!(d.task.state, TaskState::Escalated);
    assert!(d.overdue);
    assert!(
        d.assignees
            .iter()
            .any(|a| a.kind == AssigneeKind::Escalation && a.username == "cadre" && a.step == Some(0))
    );
    // A second tick at the same time takes no second step.
    assert_eq!(w.app.tasks_tick().await.unwrap().escalated, 0);
    advance(&w, 15);
    assert_eq!(w.app.tasks_tick().await.unwrap().escalated, 1);
    let d = w.app.task_detail(&w.officer, task.id).await.unwrap();
    assert_eq!(d.task.escalation_step, 2);
    let (notes, _, unread) = w
        .store
        .user_notifications(w.cadre.user.id, false, 10, 0)
        .await
        .unwrap();
    assert!(unread >= 1 && notes.iter().any(|n| n.channel == NotifyChannel::InApp));

    // The officer visits: she was already defrauded of 8000 yuan.
    w.app
        .record_attempt(
            &w.officer,
            task.id,
            &AttemptForm {
                method: ContactMethod::Visit,
                result: ContactResult::Reached,
                note: None,
                at: None,
                client_key: None,
            },
        )
        .await
        .unwrap();
    let closed = w
        .app
        .record_outcome(
            &w.officer,
            task.id,
            &OutcomeForm {
                outcome: OutcomeKind::Defrauded,
                loss_fen: Some(800_000),
                loss_yuan: None,
                note: None,
            },
        )
        .await
        .unwrap();
    let case_id = closed.case_id.unwrap();
    let dd = w.app.task_detail(&w.analyst, task.id).await.unwrap();
    assert!(dd.task.feedback_pending);
    let r = w.app.tasks_tick().await.unwrap();
    assert_eq!(r.feedback, 1);
    // The evidence is in intel as pending indicators from the case, linked to it.
    let case = w
        .store
        .get_case(&fanzha_store::Scope::All, case_id)
        .await
        .unwrap()
        .unwrap();
    assert!(case.indicator_ids.len() >= 2, "{case:?}");
    let from_case: Vec<_> = w
        .store
        .indicators_by_value(IndicatorKind::Phone, FLAGGED)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.source == IndicatorSource::Case)
        .collect();
    assert_eq!(from_case.len(), 1);
    assert_eq!(from_case[0].status, IndicatorStatus::Pending);
    assert!(case.indicator_ids.contains(&from_case[0].id));
    // Once only.
    assert_eq!(w.app.tasks_tick().await.unwrap().feedback, 0);

    // A second lead for the student is a false alarm: the flagged number
    // loses confidence and goes to review.
    let line = format!(
        r#"{{"ts":{},"source":"cmcc","kind":"call","caller":"{FLAGGED}","callee":"{STUDENT}","direction":"in","duration_s":900}}"#,
        NOW
    );
    let more = [
        line,
        serde_json::json!({"ts": NOW + 60_000, "source": "cmcc", "kind": "sms", "sender": FLAGGED,
            "receiver": STUDENT, "text": "您涉嫌洗钱，请将资金转入安全账户配合调查"})
        .to_string(),
    ];
    let rep = w
        .app
        .ingest_ndjson(&w.analyst, more.join("\n").as_bytes())
        .await
        .unwrap();
    assert!(w.app.wait_processed(rep.last_seq.unwrap(), WAIT).await);
    w.app.tasks_tick().await.unwrap();
    let b = tasks_of(&w, &w.grid_b).await;
    let t = b.first().expect("a task for the student");
    {
        let before = w
            .store
            .indicators_by_value(IndicatorKind::Phone, FLAGGED)
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.source != IndicatorSource::Case)
            .unwrap();
        w.app
            .record_outcome(
                &w.analyst,
                t.item.row.id,
                &OutcomeForm {
                    outcome: OutcomeKind::FalseAlarm,
                    loss_fen: None,
                    loss_yuan: None,
                    note: Some("本人确认为正常来电".into()),
                },
            )
            .await
            .unwrap();
        assert_eq!(w.app.tasks_tick().await.unwrap().feedback, 1);
        let after = w.store.get_indicator(before.id).await.unwrap().unwrap();
        assert_eq!(after.confidence, before.confidence - 20);
        let (review, _) = w
            .store
            .list_review(&ReviewFilter {
                indicator_id: Some(before.id),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(review.len(), 1);
    }

    // The statistics count the outcomes.
    let m = w.app.task_metrics(&w.leader, &Default::default()).await.unwrap();
    assert!(m.total.closed >= 1);
    assert_eq!(m.total.defrauded, 1);
    // By the level below the leader's county: the townships.
    assert!(
        m.by_node
            .iter()
            .any(|g| g.label == "甲镇" && g.figures.defrauded == 1)
    );
    assert!(m.by_grade.iter().any(|g| g.figures.tasks > 0));
    w.app.stop_pipeline().await;
}

// ---- a gateway that fails on purpose -----------------------------------

type Log = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

#[derive(Clone)]
struct Srv {
    log: Log,
    fail: Arc<Mutex<bool>>,
}

async fn handle(State(s): State<Srv>, req: Request) -> Response {
    let uri = req.uri().to_string();
    let body = to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default()
        .to_vec();
    let n = {
        let mut log = s.log.lock().unwrap();
        log.push((uri, body));
        log.len()
    };
    if *s.fail.lock().unwrap() {
        (StatusCode::SERVICE_UNAVAILABLE, Body::from("down")).into_response()
    } else {
        (StatusCode::OK, format!(r#"{{"id": "msg-{n}"}}"#)).into_response()
    }
}

async fn gateway(fail: bool) -> (String, Log, Arc<Mutex<bool>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let fail = Arc::new(Mutex::new(fail));
    let srv = Srv {
        log: log.clone(),
        fail: fail.clone(),
    };
    let app = Router::new().fallback(handle).with_state(srv);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), log, fail)
}

fn channel(url: &str) -> HttpChannelConfig {
    let mut c = HttpChannelConfig::new(url);
    c.max_retries = 1;
    c.backoff_base_ms = 20;
    c.backoff_max_ms = 40;
    c.timeout_ms = 2000;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_gateway_is_retried_then_the_fallback_then_escalation() {
    let w = world().await;
    let (base, log, _fail) = gateway(true).await;
    let n = HttpNotifier::new(
        Some(channel(&format!("{base}/sms"))),
        Some(channel(&format!("{base}/voice"))),
    )
    .unwrap();
    w.app.set_notifier(Arc::new(n));
    push(
        &w,
        serde_json::json!([{"id": "UP-9", "phone": STUDENT, "grade": "low", "fraud_type": "刷单返利"}]),
    )
    .await;
    let r = w.app.tasks_tick().await.unwrap();
    assert_eq!((r.dispatched, r.sent, r.send_failures), (1, 0, 0));
    // Round 1: the notifier tried twice (one retry); the SMS waits for round 2,
    // and the task shows it.
    assert_eq!(log.lock().unwrap().len(), 2);
    let id = tasks_of(&w, &w.analyst).await[0].item.row.id;
    let d = w.app.task_detail(&w.analyst, id).await.unwrap();
    assert_eq!(d.task.alert.as_deref(), Some("send_retrying"));
    assert_eq!(d.notifications[0].status, NotifyStatus::Queued);
    assert_eq!(d.notifications[0].last_error.as_deref(), Some("notify.gave_up"));
    // Nothing before the retry time.
    w.app.tasks_tick().await.unwrap();
    assert_eq!(log.lock().unwrap().len(), 2);
    advance(&w, 1);
    w.app.tasks_tick().await.unwrap();
    advance(&w, 2);
    let r = w.app.tasks_tick().await.unwrap();
    // Round 3 failed for good: a failed attempt, the robocall queued and tried.
    assert!(r.send_failures >= 1, "{r:?}");
    let d = w.app.task_detail(&w.analyst, id).await.unwrap();
    let sms = d
        .notifications
        .iter()
        .find(|n| n.channel == NotifyChannel::Sms)
        .unwrap();
    assert_eq!(sms.status, NotifyStatus::Failed);
    assert_eq!(sms.attempts, 3);
    assert!(
        d.attempts
            .iter()
            .any(|a| a.method == ContactMethod::Sms && a.result == ContactResult::Failed)
    );
    assert!(d.notifications.iter().any(|n| n.channel == NotifyChannel::Voice));
    // The robocall fails the same way; then the task climbs at once.
    for _ in 0..4 {
        advance(&w, 5);
        w.app.tasks_tick().await.unwrap();
    }
    let d = w.app.task_detail(&w.analyst, id).await.unwrap();
    let voice = d
        .notifications
        .iter()
        .find(|n| n.channel == NotifyChannel::Voice)
        .unwrap();
    assert_eq!(voice.status, NotifyStatus::Failed);
    assert_eq!(d.task.alert.as_deref(), Some("send_failed"));
    assert!(d.task.escalation_step >= 1, "{:?}", d.transitions);
    assert!(
        d.transitions
            .iter()
            .any(|t| t.event == "escalate" && t.detail.contains("send_failed"))
    );
    assert!(
        d.assignees
            .iter()
            .any(|a| a.kind == AssigneeKind::Escalation && a.username == "analyst")
    );
    // Every request carried an idempotency key; the SMS the same one each time.
    let sms_keys: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(u, _)| u.ends_with("/sms"))
        .map(|(_, b)| serde_json::from_slice::<serde_json::Value>(b).unwrap()["key"].to_string())
        .collect();
    assert_eq!(sms_keys.len(), 6);
    assert!(sms_keys.iter().all(|k| *k == sms_keys[0]));
    // The text never reached the logs of the audit trail in full: the
    // audit holds no number.
    let (audit, _) = w.store.list_audit(&Default::default()).await.unwrap();
    let text = serde_json::to_string(&audit).unwrap();
    assert!(!text.contains("13900000002"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_receipts_record_the_warning_on_the_task() {
    let w = world_with(|c| c.tasks.receipt_token = Some(fanzha_app::notify::Secret("s3cret".into()))).await;
    let (base, _log, _fail) = gateway(false).await;
    let n = HttpNotifier::new(Some(channel(&format!("{base}/sms"))), None).unwrap();
    w.app.set_notifier(Arc::new(n));
    push(
        &w,
        serde_json::json!([{"id": "UP-7", "phone": STUDENT, "grade": "low"}]),
    )
    .await;
    let r = w.app.tasks_tick().await.unwrap();
    assert_eq!(r.sent, 1);
    let id = tasks_of(&w, &w.analyst).await[0].item.row.id;
    let d = w.app.task_detail(&w.analyst, id).await.unwrap();
    assert!(d.task.first_contact_at.is_none(), "sent is not yet delivered");
    let body =
        br#"[{"id": "msg-1", "status": "DELIVRD"}, {"id": "nobody", "status": "DELIVRD"}, {"status": "x"}]"#;
    assert!(matches!(
        w.app.delivery_receipts(body, Some("wrong")).await,
        Err(AppError::Forbidden(_))
    ));
    let rep = w.app.delivery_receipts(body, Some("s3cret")).await.unwrap();
    assert_eq!((rep.recorded, rep.unknown, rep.errors.len()), (1, 1, 1));
    let d = w.app.task_detail(&w.analyst, id).await.unwrap();
    assert!(d.task.first_contact_at.is_some());
    assert_eq!(d.notifications[0].status, NotifyStatus::Delivered);
    // A repeated receipt records nothing new.
    w.app.delivery_receipts(body, Some("s3cret")).await.unwrap();
    let d = w.app.task_detail(&w.analyst, id).await.unwrap();
    assert_eq!(d.attempts.len(), 1);
    // Delivered in time: the deadline passes without escalation.
    advance(&w, 30);
    assert_eq!(w.app.tasks_tick().await.unwrap().escalated, 0);
    let _ = TaskVisibility::all();
    let _ = w.store.tasks_due(Timestamp(NOW), 1).await.unwrap();
}

// ---- editable templates ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_sms_template_is_the_next_warning_and_bad_ones_are_refused() {
    use fanzha_app::tasks::templates::TemplateSave;
    let w = world().await;
    let before = w.app.task_templates_view(&w.analyst).await.unwrap();
    let rebate = |v: &fanzha_app::tasks::templates::TemplatesView| {
        v.entries
            .iter()
            .find(|e| e.key == "brushing_rebate")
            .unwrap()
            .clone()
    };
    assert!(rebate(&before).sms_segments >= 1);
    assert!(!rebate(&before).edited_sms);
    // Refused, nothing saved: an unknown placeholder, no hotline, too many
    // segments (and a good robocall in the same save is not kept either).
    for bad in [
        "{signature}{phone}您好，请拨{hotline}。",
        "{signature}您好，刷单是诈骗。",
        &format!("{{signature}}{}{{hotline}}", "刷单是诈骗请勿转账".repeat(30)),
    ] {
        let r = w
            .app
            .save_task_templates(
                &w.analyst,
                &TemplateSave {
                    key: "brushing_rebate".into(),
                    sms: Some(bad.to_string()),
                    robocall: Some("刷单返利都是诈骗，请拨打{hotline}。".into()),
                    script: None,
                },
            )
            .await;
        assert!(matches!(r, Err(AppError::Invalid(_))), "{bad}: {r:?}");
    }
    let after = w.app.task_templates_view(&w.analyst).await.unwrap();
    assert_eq!(rebate(&after).sms, rebate(&before).sms);
    assert_eq!(rebate(&after).robocall, rebate(&before).robocall);
    assert!(!rebate(&after).edited_robocall);
    // A grid worker may not edit.
    let grid = w.app.task_templates_view(&w.grid).await;
    assert!(matches!(grid, Err(AppError::Forbidden(_))), "{grid:?}");

    // A good one is saved and is the text of the next warning SMS.
    let text = "{signature}{name}您好：刷单测试专用短信，垫付即被骗。咨询请拨{hotline}。";
    let saved = w
        .app
        .save_task_templates(
            &w.analyst,
            &TemplateSave {
                key: "刷单返利".into(),
                sms: Some(text.into()),
                robocall: None,
                script: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(saved.sms, text);
    assert!(saved.edited_sms);
    assert_eq!(saved.sms_segments, 1);
    let (base, log, _fail) = gateway(false).await;
    let n = HttpNotifier::new(Some(channel(&format!("{base}/sms"))), None).unwrap();
    w.app.set_notifier(Arc::new(n));
    push(
        &w,
        serde_json::json!([{"id": "UP-T", "phone": STUDENT, "grade": "low", "fraud_type": "刷单返利"}]),
    )
    .await;
    w.app.tasks_tick().await.unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 1);
    let body = String::from_utf8_lossy(&log[0].1);
    assert!(
        body.contains("刷单测试专用短信，垫付即被骗。咨询请拨96110"),
        "{body}"
    );
}
