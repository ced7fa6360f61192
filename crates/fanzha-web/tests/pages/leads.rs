//! Leads, rules and backtests through the pages. Leads are made the real
//! way: flagged numbers imported into the intelligence base, events ingested
//! through the app and judged by the running pipeline.

use super::support::*;
use fanzha_app::detect::leads::LeadQuery;
use fanzha_app::intel::formats::ImportFormat;
use fanzha_app::intel::import::IntelImportRequest;
use fanzha_app::{Actor, App, AuthVia, User};
use fanzha_core::{FraudType, IndicatorKind, ResidentId};
use std::collections::HashMap;
use std::time::Duration;

const MIN: i64 = 60_000;
const FLAGGED: [&str; 3] = ["+8617100000001", "+8617100000002", "+8617100000003"];
/// Numbers of nobody in the registry: their leads belong to the county root.
const STRANGERS: [&str; 3] = ["+8613700000091", "+8613700000092", "+8613700000093"];

/// A demo user as the app's actor (for setting up through the app).
async fn actor_of(app: &App, username: &str) -> Actor {
    let cli = app.cli_actor();
    let u = app
        .cli_users()
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.username == username)
        .unwrap();
    let node = app.node(&cli, u.node_id.unwrap()).await.unwrap();
    Actor {
        user: User {
            id: u.id,
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            role: u.role,
            node_id: Some(node.id),
            node_path: Some(node.path.clone()),
            password_hash: String::new(),
            disabled: false,
            failed_logins: 0,
            locked_until: None,
            must_change_password: false,
            lang: "zh".into(),
            created_at: NOW,
            updated_at: NOW,
        },
        ip: "192.0.2.1".into(),
        via: AuthVia::Token,
    }
}

fn call(from: &str, to: &str, ts: i64, duration: u32) -> String {
    format!(
        r#"{{"ts":{ts},"source":"cmcc","kind":"call","caller":"{from}","callee":"{to}","direction":"in","duration_s":{duration}}}"#
    )
}

/// Flags the numbers, starts the pipeline.
async fn arm(app: &App) -> Actor {
    let analyst = actor_of(app, "analyst").await;
    let mut req = IntelImportRequest::new("flagged.txt");
    req.format = Some(ImportFormat::List);
    req.kind = Some(IndicatorKind::Phone);
    req.fraud_type = Some(FraudType::ImpersonateAuthority);
    req.confidence = Some(90);
    app.import_intel(&analyst, FLAGGED.join("\n").as_bytes(), &req, &|_| {})
        .await
        .unwrap();
    app.sync_intel().await.unwrap();
    app.start_pipeline().await.unwrap();
    analyst
}

/// Ingests the lines through the app and waits until the pipeline judged them.
async fn ingest(app: &App, lines: &[String]) {
    let rep = app
        .ingest_ndjson(&app.cli_actor(), lines.join("\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(rep.rejected.len(), 0, "{:?}", rep.rejected);
    if let Some(last) = rep.last_seq {
        assert!(app.wait_processed(last, Duration::from_secs(30)).await);
    }
}

/// One flagged call (12 minutes ago) to each of the world's three residents:
/// three low leads, one per grid. Returns lead id by resident.
async fn three_leads(app: &App, w: &World, analyst: &Actor) -> HashMap<ResidentId, i64> {
    let now = NOW.0;
    ingest(
        app,
        &[
            call(FLAGGED[0], &w.own.phone, now - 12 * MIN, 60),
            call(FLAGGED[1], &w.sibling.phone, now - 11 * MIN, 60),
            call(FLAGGED[2], &w.far.phone, now - 10 * MIN, 60),
        ],
    )
    .await;
    let all = app.leads(analyst, &LeadQuery::default()).await.unwrap().items;
    let by: HashMap<ResidentId, i64> = all
        .iter()
        .filter_map(|l| l.resident_id.map(|r| (r, l.id)))
        .collect();
    assert_eq!(by.len(), 3, "{all:?}");
    by
}

/// The masked form of a stored E.164 phone, as lists show it.
fn masked(e164: &str) -> String {
    fanzha_core::mask::phone(e164)
}

fn national(e164: &str) -> &str {
    e164.trim_start_matches("+86")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lead_list_and_detail_are_scoped_to_the_users_area() {
    let srv = start().await;
    let w = world(&srv.app).await;
    let analyst = arm(&srv.app).await;
    let leads = three_leads(&srv.app, &w, &analyst).await;
    let (own, sibling, far) = (leads[&w.own.id], leads[&w.sibling.id], leads[&w.far.id]);

    // The analyst (county) sees all three, masked, graded, with the nav entry.
    let a = Browser::login(&srv.base, "analyst").await;
    let page = a.get("/leads").await;
    page.expect(200)
        .contains("href=\"/leads\"")
        .contains("grade g-low");
    for k in [&w.own, &w.sibling, &w.far] {
        page.contains(&masked(&k.phone)).lacks(national(&k.phone));
    }

    // The grid worker: only the own grid's lead, in the list and by URL.
    let g = Browser::login(&srv.base, "grid").await;
    let page = g.get("/leads").await;
    page.expect(200)
        .contains(&masked(&w.own.phone))
        .lacks(&masked(&w.sibling.phone))
        .lacks(&masked(&w.far.phone));
    assert_eq!(ids_after(&page.text(), "href=\"/leads/"), vec![own, own]);
    g.get(&format!("/leads/{own}")).await.expect(200);
    for id in [sibling, far] {
        let r = g.get(&format!("/leads/{id}")).await;
        r.expect(404)
            .lacks(&masked(&w.sibling.phone))
            .lacks(&masked(&w.far.phone));
        g.post(&format!("/leads/{id}/reveal"), &[]).await.expect(404);
        let api = g.get(&format!("/api/v1/leads/{id}")).await;
        api.expect(404);
        assert!(!api.text().contains(&masked(&w.far.phone)));
    }
    // A node filter outside the scope is bad input, not data.
    let r = g.get(&format!("/leads?node={}", w.far_grid.0)).await;
    r.expect(422).lacks(&masked(&w.far.phone));

    // The village cadre: both grids of the village, not the far one.
    let c = Browser::login(&srv.base, "cadre").await;
    let page = c.get("/leads").await;
    page.expect(200)
        .contains(&masked(&w.own.phone))
        .contains(&masked(&w.sibling.phone))
        .lacks(&masked(&w.far.phone));
    c.get(&format!("/leads/{far}")).await.expect(404);
    c.get(&format!("/leads/{sibling}")).await.expect(200);

    // Filters: by grade, by grid, bad values reported.
    a.get("/leads?grade=high")
        .await
        .expect(200)
        .lacks(&masked(&w.own.phone));
    a.get(&format!("/leads?grade=low&status=open&node={}", w.own_grid.0))
        .await
        .expect(200)
        .contains(&masked(&w.own.phone))
        .lacks(&masked(&w.sibling.phone));
    let r = a.get("/leads?grade=purple").await;
    r.expect(422);
    assert!(
        r.error_text().is_some_and(|e| e.contains("风险等级")),
        "{:?}",
        r.error_text()
    );
    a.get("/leads?from=2026-11-30&to=2026-11-29").await.expect(422);
    a.get("/leads?from=2026-11-29&to=2026-11-29")
        .await
        .expect(200)
        .contains(&masked(&w.far.phone));

    // Roles without leads: no nav entry, no page.
    for user in ["liaison", "admin"] {
        let b = Browser::login(&srv.base, user).await;
        b.get("/").await.expect(200).lacks("href=\"/leads\"");
        b.get("/leads").await.expect(403);
        b.get(&format!("/leads/{own}")).await.expect(403);
    }

    // The home page counts open leads in scope by grade.
    a.get("/").await.contains("id=\"count-leads-low\">3<");
    g.get("/").await.contains("id=\"count-leads-low\">1<");

    // In English too.
    g.get("/lang/en?back=/leads").await;
    g.get("/leads")
        .await
        .expect(200)
        .contains(">Leads</a>")
        .contains("Real-time detection")
        .contains(">Low</a>");
    g.get(&format!("/leads/{own}"))
        .await
        .contains("Evidence timeline")
        .contains("Call with a flagged number");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lead_detail_shows_evidence_and_reveal_is_audited() {
    let srv = start().await;
    let w = world(&srv.app).await;
    let analyst = arm(&srv.app).await;
    // A long call, then a fraud text, from the same flagged number.
    let now = NOW.0;
    ingest(
        &srv.app,
        &[
            call(FLAGGED[0], &w.own.phone, now - 30 * MIN, 900),
            serde_json::json!({"ts": now - 20 * MIN, "source": "cmcc", "kind": "sms", "sender": FLAGGED[0],
                "receiver": w.own.phone, "text": "您涉嫌洗钱，请将资金转入安全账户，回电13800001111"})
            .to_string(),
        ],
    )
    .await;
    let id = srv
        .app
        .leads(&analyst, &LeadQuery::default())
        .await
        .unwrap()
        .items[0]
        .id;

    let g = Browser::login(&srv.base, "grid").await;
    let page = g.get(&format!("/leads/{id}")).await;
    page.expect(200)
        .contains("id=\"lead-timeline\"")
        .contains("涉诈号码来电")
        .contains("与涉诈号码长时间通话")
        .contains("命中情报")
        .contains("安全账户")
        .contains("id=\"lead-rules-version\">版本 1")
        .contains(&masked(&w.own.phone))
        .contains(&masked(FLAGGED[0]))
        .contains("id=\"lead-reveal\"")
        .lacks(national(&w.own.phone))
        .lacks(national(FLAGGED[0]))
        .lacks("13800001111");
    assert!(page.text().matches("class=\"signal\"").count() >= 3);

    // Revealing is an audited action; the value is only on that answer.
    let before = audit_count(&srv.app, "lead.reveal").await;
    let r = g.post(&format!("/leads/{id}/reveal"), &[]).await;
    r.expect(200)
        .contains(national(&w.own.phone))
        .contains("id=\"reveal-note\"");
    assert_eq!(audit_count(&srv.app, "lead.reveal").await, before + 1);
    g.get(&format!("/leads/{id}")).await.lacks(national(&w.own.phone));
    // Without the CSRF token nothing is revealed.
    let no_token = g
        .send(
            "POST",
            &format!("/leads/{id}/reveal"),
            Some(("application/x-www-form-urlencoded", Vec::new())),
        )
        .await;
    assert_eq!(no_token.status, 403);
    assert_eq!(audit_count(&srv.app, "lead.reveal").await, before + 1);

    // A leader sees the lead masked, without a reveal button, and may not reveal.
    let l = Browser::login(&srv.base, "leader").await;
    l.get(&format!("/leads/{id}"))
        .await
        .expect(200)
        .lacks("id=\"lead-reveal\"")
        .lacks(national(&w.own.phone));
    l.post(&format!("/leads/{id}/reveal"), &[]).await.expect(403);
    assert_eq!(audit_count(&srv.app, "lead.reveal").await, before + 1);
}

async fn audit_count(app: &App, action: &str) -> i64 {
    let filter = fanzha_app::model::AuditFilter {
        action_prefix: Some(action.to_string()),
        ..Default::default()
    };
    app.audit_log(&app.cli_actor(), filter, 1, 10)
        .await
        .unwrap()
        .total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_checked_saved_and_activated_through_the_page() {
    let srv = start().await;
    let analyst = arm(&srv.app).await;
    let default_rules = srv.app.rules(&analyst).await.unwrap().active.toml;
    let a = Browser::login(&srv.base, "analyst").await;
    let page = a.get("/rules").await;
    page.expect(200)
        .contains("id=\"rules-toml\"")
        .contains("href=\"/rules\"")
        .contains("id=\"active-version\"");
    // A document with a problem: the problem and its line, nothing saved.
    let bad = default_rules.replace("medium = 40", "medium = 10");
    let line = bad.lines().position(|l| l.starts_with("medium = 10")).unwrap() + 1;
    for op in ["check", "save"] {
        let r = a
            .post("/rules", &[("toml", &bad), ("note", "x"), ("op", op)])
            .await;
        r.expect(422)
            .contains("id=\"rules-problem\"")
            .contains("grades.medium")
            .contains(&format!("问题位于第 {line} 行"))
            .contains("medium = 10");
    }
    let r = a
        .post(
            "/rules",
            &[("toml", "version = 1\nname = \"x\"\n[window\n"), ("op", "save")],
        )
        .await;
    r.expect(422).contains("问题位于第 3 行");
    assert_eq!(srv.app.rules(&analyst).await.unwrap().versions.len(), 1);
    // A good document checks, then saves as version 2 and is active.
    let good = default_rules.replace("name = \"default\"", "name = \"page-test\"");
    a.post("/rules", &[("toml", &good), ("op", "check")])
        .await
        .expect(200)
        .contains("id=\"rules-check-ok\"");
    assert_eq!(srv.app.rules(&analyst).await.unwrap().versions.len(), 1);
    let r = a
        .post("/rules", &[("toml", &good), ("note", "页面测试"), ("op", "save")])
        .await;
    r.expect(303);
    assert_eq!(r.location, "/rules/2?ok=saved");
    a.get("/rules/2?ok=saved")
        .await
        .expect(200)
        .contains("已保存为第 2 版并启用")
        .contains("id=\"version-active\"")
        .contains("page-test");
    // The next lead is judged by version 2.
    let now = NOW.0;
    ingest(&srv.app, &[call(FLAGGED[0], STRANGERS[0], now - 5 * MIN, 60)]).await;
    let version_of = |items: &[fanzha_app::detect::LeadSummary], who: &str| {
        items
            .iter()
            .find(|l| l.subscriber_masked == masked(who))
            .and_then(|l| l.rules_version)
    };
    let items = srv
        .app
        .leads(&analyst, &LeadQuery::default())
        .await
        .unwrap()
        .items;
    assert_eq!(version_of(&items, STRANGERS[0]), Some(2));
    // Activating version 1 again: the lead after that is judged by version 1.
    let r = a.post("/rules/1/activate", &[]).await;
    r.expect(303);
    a.get(&r.location).await.expect(200).contains("第 1 版已启用");
    ingest(&srv.app, &[call(FLAGGED[1], STRANGERS[1], now - 4 * MIN, 60)]).await;
    let items = srv
        .app
        .leads(&analyst, &LeadQuery::default())
        .await
        .unwrap()
        .items;
    assert_eq!(version_of(&items, STRANGERS[1]), Some(1));
    assert_eq!(
        version_of(&items, STRANGERS[0]),
        Some(2),
        "earlier leads keep their version"
    );
    let id = items
        .iter()
        .find(|l| l.subscriber_masked == masked(STRANGERS[0]))
        .unwrap()
        .id;
    a.get(&format!("/leads/{id}"))
        .await
        .contains("id=\"lead-rules-version\"><a href=\"/rules/2\">版本 2");
    // An unknown version is not found; roles without EditRules get no page.
    a.post("/rules/99/activate", &[]).await.expect(404);
    for user in ["grid", "leader", "officer"] {
        let b = Browser::login(&srv.base, user).await;
        b.get("/")
            .await
            .lacks("href=\"/rules\"")
            .lacks("href=\"/backtest\"");
        b.get("/rules").await.expect(403);
        b.get("/rules/1").await.expect(403);
        b.post("/rules", &[("toml", &good), ("op", "save")])
            .await
            .expect(403);
        b.post("/rules/2/activate", &[]).await.expect(403);
        b.get("/backtest").await.expect(403);
    }
    assert_eq!(srv.app.rules(&analyst).await.unwrap().active.version, 1);
    assert_eq!(audit_count(&srv.app, "rules.save").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtest_page_shows_what_candidate_rules_change() {
    let srv = start().await;
    let w = world(&srv.app).await;
    let analyst = arm(&srv.app).await;
    three_leads(&srv.app, &w, &analyst).await;
    let default_rules = srv.app.rules(&analyst).await.unwrap().active.toml;
    let a = Browser::login(&srv.base, "analyst").await;
    a.get("/backtest")
        .await
        .expect(200)
        .contains("id=\"backtest-run\"");
    let from = "2026-11-28T00:00";
    let to = "2026-11-30T00:00";
    // A lower medium threshold: the three low leads become medium.
    let lower = default_rules.replace("medium = 40", "medium = 25");
    let r = a
        .post(
            "/backtest",
            &[("version", ""), ("toml", &lower), ("from", from), ("to", to)],
        )
        .await;
    r.expect(200)
        .contains("id=\"bt-events\">3<")
        .contains("id=\"bt-changed\">3<")
        .contains("id=\"bt-new\">0<")
        .contains("id=\"bt-dropped\">0<")
        .contains(&masked(&w.far.phone))
        .lacks(national(&w.far.phone));
    // Only medium and above raise a lead: all three are dropped.
    let strict = default_rules.replace("lead_min = \"low\"", "lead_min = \"medium\"");
    let r = a
        .post(
            "/backtest",
            &[("version", ""), ("toml", &strict), ("from", from), ("to", to)],
        )
        .await;
    r.expect(200)
        .contains("id=\"bt-dropped\">3<")
        .contains("id=\"bt-changed\">0<");
    // A saved version as the candidate: the live rules against themselves.
    a.post("/backtest", &[("version", "1"), ("from", from), ("to", to)])
        .await
        .expect(200)
        .contains("id=\"bt-dropped\">0<")
        .contains("id=\"bt-changed\">0<")
        .contains("id=\"bt-new\">0<");
    // A period without events replays nothing.
    a.post(
        "/backtest",
        &[
            ("version", ""),
            ("toml", &lower),
            ("from", "2026-01-01T00:00"),
            ("to", "2026-01-02T00:00"),
        ],
    )
    .await
    .expect(200)
    .contains("id=\"bt-events\">0<");
    // Bad input is reported on the form.
    for (fields, needle) in [
        (
            vec![
                ("version", ""),
                ("toml", "nonsense ="),
                ("from", from),
                ("to", to),
            ],
            "规则文档有误",
        ),
        (
            vec![("version", ""), ("toml", ""), ("from", from), ("to", to)],
            "请选择一个规则版本",
        ),
        (vec![("version", "77"), ("from", from), ("to", to)], "不存在"),
        (
            vec![("version", "1"), ("from", "yesterday"), ("to", to)],
            "格式有误",
        ),
        (vec![("version", "1"), ("from", to), ("to", from)], "结束时间"),
    ] {
        let r = a.post("/backtest", &fields).await;
        r.expect(422);
        assert!(
            r.error_text().is_some_and(|e| e.contains(needle)),
            "{fields:?}: {:?}",
            r.error_text()
        );
    }
    // Nothing a backtest did became a lead.
    assert_eq!(
        srv.app
            .leads(&analyst, &LeadQuery::default())
            .await
            .unwrap()
            .total,
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_push_import_reports_bad_rows_and_scopes_the_good_ones() {
    let srv = start().await;
    let w = world(&srv.app).await;
    let analyst = actor_of(&srv.app, "analyst").await;
    let a = Browser::login(&srv.base, "analyst").await;
    a.get("/leads").await.expect(200).contains("id=\"lead-import\"");
    a.get("/leads/import").await.expect(200);
    let file = format!(
        "推送编号,手机号,姓名,诈骗类型,风险等级,推送时间\n\
         UP-1,{},测试甲,刷单返利,高,2026-11-28 10:00\n\
         UP-2,电话未知,某某,,高,\n\
         UP-3,{},,,紫色,\n\
         UP-4,{},,,,昨天\n\
         ,{},,,,\n\
         UP-6,{},,冒充公检法,特高,2026/11/28 11:00\n",
        national(&w.own.phone),
        national(&w.sibling.phone),
        national(&w.far.phone),
        national(&w.far.phone),
        national(&w.far.phone),
    );
    let r = a.upload("/leads/import", "push.csv", file.as_bytes(), &[]).await;
    r.expect(200)
        .contains("id=\"import-rows\">6<")
        .contains("id=\"import-inserted\">2<")
        .contains("id=\"import-existing\">0<")
        .contains("id=\"import-rejected\">4<")
        .contains("不是有效的手机号码")
        .contains("风险等级须为特高、高、中或低")
        .contains("推送时间格式有误")
        .contains("必填项为空");
    for (row, col) in [(3, "手机号"), (4, "风险等级"), (5, "推送时间"), (6, "推送编号")] {
        r.contains(&format!(
            "<td data-label=\"行号\" class=\"num\">{row}</td><td data-label=\"列\">{col}</td>"
        ));
    }
    // Again: nothing new, the good rows are known.
    let r = a.upload("/leads/import", "push.csv", file.as_bytes(), &[]).await;
    r.expect(200)
        .contains("id=\"import-inserted\">0<")
        .contains("id=\"import-existing\">2<");
    let all = srv.app.leads(&analyst, &LeadQuery::default()).await.unwrap();
    assert_eq!(all.total, 2);
    // The same in JSON, with a bad entry.
    let json = serde_json::json!([
        {"upstream_id": "UP-J1", "phone": w.sibling.phone, "grade": "medium"},
        {"upstream_id": "UP-J2", "phone": "nope"},
        7
    ])
    .to_string();
    a.upload("/leads/import", "push.json", json.as_bytes(), &[])
        .await
        .expect(200)
        .contains("id=\"import-inserted\">1<")
        .contains("id=\"import-rejected\">2<")
        .contains("该条记录不是 JSON 对象");
    // Pushed leads land in the person's grid: the grid worker sees the own
    // one (name masked), not the far grid's.
    let g = Browser::login(&srv.base, "grid").await;
    let page = g.get("/leads?source=upper_push").await;
    page.expect(200)
        .contains(&masked(&w.own.phone))
        .contains("上级推送")
        .lacks("测试甲")
        .lacks(&masked(&w.far.phone));
    // Only analysts import; an empty or garbage upload is a 4xx with a message.
    g.get("/leads/import").await.expect(403);
    g.upload("/leads/import", "push.csv", file.as_bytes(), &[])
        .await
        .expect(403);
    g.get("/leads").await.lacks("id=\"lead-import\"");
    a.upload("/leads/import", "push.csv", b"", &[]).await.expect(422);
    let r = a.upload("/leads/import", "push.csv", b"a,b\n1,2\n", &[]).await;
    r.expect(422);
    assert!(
        r.error_text().is_some_and(|e| e.contains("缺少必需的列")),
        "{:?}",
        r.error_text()
    );
    assert_eq!(
        srv.app
            .leads(&analyst, &LeadQuery::default())
            .await
            .unwrap()
            .total,
        3
    );
}
