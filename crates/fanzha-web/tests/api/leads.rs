//! Leads, rules and backtests through the JSON API, with leads made by the
//! running pipeline from ingested events.

use crate::support::{Client, assert_error_json, start};
use fanzha_app::detect::leads::LeadQuery;
use fanzha_app::intel::formats::ImportFormat;
use fanzha_app::intel::import::IntelImportRequest;
use fanzha_app::model::AuditFilter;
use fanzha_app::residents::ResidentForm;
use fanzha_app::{Actor, App, AuthVia, User};
use fanzha_core::org::NodeKind;
use fanzha_core::time::Date;
use fanzha_core::{FraudType, IndicatorKind, NodeId};
use serde_json::json;
use std::time::Duration;

const FLAGGED: [&str; 2] = ["+8617100000011", "+8617100000012"];
const OWN: &str = "+8613912349001";
const FAR: &str = "+8613912349002";

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
    let now = app.now();
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
            created_at: now,
            updated_at: now,
        },
        ip: "192.0.2.1".into(),
        via: AuthVia::Token,
    }
}

async fn resident(app: &App, grid: NodeId, phone: &str, seq: u16) {
    let id_number = fanzha_core::idcard::compose("110105", Date::new(1980, 5, 17).unwrap(), seq)
        .unwrap()
        .as_str()
        .to_string();
    app.create_resident(
        &app.cli_actor(),
        &ResidentForm {
            name: format!("接口{seq}"),
            id_number,
            phones: phone.into(),
            address: String::new(),
            grid_id: grid,
            tags: String::new(),
            contacts: String::new(),
            expected_version: None,
        },
    )
    .await
    .unwrap();
}

async fn audit_count(app: &App, action: &str) -> i64 {
    let f = AuditFilter {
        action_prefix: Some(action.into()),
        ..Default::default()
    };
    app.audit_log(&app.cli_actor(), f, 1, 10).await.unwrap().total
}

/// Residents in the grid worker's grid and in a grid of another township,
/// flagged numbers, the pipeline, one flagged call to each: two low leads.
async fn setup(app: &App) -> (Actor, i64, i64) {
    let cli = app.cli_actor();
    let grid = actor_of(app, "grid").await;
    let officer = actor_of(app, "officer").await;
    let own_grid = grid.user.node_id.unwrap();
    let town = officer.user.node_id.unwrap();
    let tree = app.org_tree(&cli).await.unwrap();
    let far_grid = tree
        .iter()
        .find(|n| n.node.kind == NodeKind::Grid && !n.node.path.ids().contains(&town))
        .unwrap()
        .node
        .id;
    resident(app, own_grid, OWN, 951).await;
    resident(app, far_grid, FAR, 952).await;
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
    let now = app.now().0;
    let lines = [
        json!({"ts": now - 600_000, "source": "cmcc", "kind": "call", "caller": FLAGGED[0], "callee": OWN, "direction": "in", "duration_s": 60}),
        json!({"ts": now - 500_000, "source": "cmcc", "kind": "call", "caller": FLAGGED[1], "callee": FAR, "direction": "in", "duration_s": 60}),
    ]
    .map(|v| v.to_string())
    .join("\n");
    let rep = app.ingest_ndjson(&cli, lines.as_bytes()).await.unwrap();
    assert_eq!(rep.accepted, 2);
    assert!(
        app.wait_processed(rep.last_seq.unwrap(), Duration::from_secs(30))
            .await
    );
    let leads = app.leads(&analyst, &LeadQuery::default()).await.unwrap().items;
    assert_eq!(leads.len(), 2, "{leads:?}");
    let id_of = |p: &str| {
        leads
            .iter()
            .find(|l| l.subscriber_masked == fanzha_core::mask::phone(p))
            .unwrap()
            .id
    };
    (analyst, id_of(OWN), id_of(FAR))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leads_are_scoped_and_reveal_is_audited() {
    let srv = start().await;
    let (_, own, far) = setup(&srv.app).await;
    let grid = Client::login(&srv.base, "grid").await;
    let list = grid.get("/leads").await;
    list.expect(200);
    let v = list.json();
    assert_eq!(v["total"], 1, "{v}");
    assert_eq!(v["items"][0]["id"], own);
    assert!(!list.text().contains("13912349002"));
    let detail = grid.get(&format!("/leads/{own}")).await;
    detail.expect(200);
    let d = detail.json();
    assert_eq!(d["timeline"].as_array().unwrap().len(), 1);
    assert_eq!(d["timeline"][0]["signals"][0]["signal"], "call_flagged");
    assert!(!detail.text().contains("13912349001"), "the detail is masked");
    for path in [format!("/leads/{far}"), format!("/leads/{}", far + 1000)] {
        let r = grid.get(&path).await;
        r.expect(404);
        assert_error_json(&r, &path);
    }
    let before = audit_count(&srv.app, "lead.reveal").await;
    grid.post(&format!("/leads/{far}/reveal"), json!({}))
        .await
        .expect(404);
    let r = grid.post(&format!("/leads/{own}/reveal"), json!({})).await;
    r.expect(200);
    assert_eq!(r.json()["subscriber"], OWN);
    assert_eq!(audit_count(&srv.app, "lead.reveal").await, before + 1);
    // A leader sees leads but may not reveal; a liaison sees none.
    let leader = Client::login(&srv.base, "leader").await;
    assert_eq!(leader.get("/leads").await.json()["total"], 2);
    leader
        .post(&format!("/leads/{own}/reveal"), json!({}))
        .await
        .expect(403);
    Client::login(&srv.base, "liaison")
        .await
        .get("/leads")
        .await
        .expect(403);
    assert_eq!(audit_count(&srv.app, "lead.reveal").await, before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_check_save_activate_and_backtest() {
    let srv = start().await;
    let (analyst, _, _) = setup(&srv.app).await;
    let a = Client::login(&srv.base, "analyst").await;
    let view = a.get("/rules").await;
    view.expect(200);
    let default = view.json()["active"]["toml"].as_str().unwrap().to_string();
    // Checking tells the problem and its line, and saves nothing.
    let bad = default.replace("high = 70", "high = 30");
    let line = bad.lines().position(|l| l.starts_with("high = 30")).unwrap() + 1;
    let r = a.post("/rules/check", json!({ "toml": bad })).await;
    r.expect(200);
    let c = r.json();
    assert_eq!(c["ok"], false);
    assert_eq!(c["problem"]["line"], line);
    assert!(c["problem"]["message"].as_str().unwrap().contains("grades.high"));
    let c = a.post("/rules/check", json!({ "toml": default })).await.json();
    assert_eq!(
        (c["ok"].as_bool(), c["name"].as_str()),
        (Some(true), Some("default"))
    );
    let r = a.put("/rules", json!({ "toml": bad })).await;
    r.expect(422);
    assert_error_json(&r, "bad rules");
    assert_eq!(srv.app.rules(&analyst).await.unwrap().versions.len(), 1);
    // Save, read back, activate the first again.
    let saved = a.put("/rules", json!({ "toml": default, "note": "api" })).await;
    saved.expect(200);
    assert_eq!(saved.json()["version"], 2);
    assert_eq!(a.get("/rules").await.json()["active"]["version"], 2);
    let v1 = a.get("/rules/1").await;
    v1.expect(200);
    assert_eq!(v1.json()["active"], false);
    a.get("/rules/99").await.expect(404);
    a.post("/rules/99/activate", json!({})).await.expect(404);
    let r = a.post("/rules/1/activate", json!({})).await;
    r.expect(200);
    assert_eq!(r.json()["active"], true);
    assert_eq!(a.get("/rules").await.json()["active"]["version"], 1);
    // Only analysts change rules; whoever sees leads may read the version
    // that judged them.
    let grid = Client::login(&srv.base, "grid").await;
    grid.post("/rules/check", json!({ "toml": default }))
        .await
        .expect(403);
    grid.post("/rules/2/activate", json!({})).await.expect(403);
    grid.get("/rules/1").await.expect(200);
    let liaison = Client::login(&srv.base, "liaison").await;
    liaison.get("/rules/1").await.expect(403);
    assert_eq!(a.get("/rules").await.json()["active"]["version"], 1);
    // Backtest: a lower medium threshold turns both low leads into medium ones.
    let now = srv.app.now().0;
    let lower = default.replace("medium = 40", "medium = 25");
    let r = a
        .post(
            "/backtest",
            json!({ "rules": lower, "from": now - 86_400_000, "to": now + 60_000 }),
        )
        .await;
    r.expect(200);
    let b = r.json();
    assert_eq!(b["events"], 2);
    assert_eq!(b["grade_changes"].as_array().unwrap().len(), 2, "{b}");
    assert_eq!(b["grade_changes"][0]["candidate"]["max_grade"], "medium");
    assert!(b["new_leads"].as_array().unwrap().is_empty());
    let r = a
        .post("/backtest", json!({ "rules": lower, "from": now, "to": now - 1 }))
        .await;
    r.expect(422);
    assert_error_json(&r, "backwards range");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_leads_import_reports_bad_rows() {
    let srv = start().await;
    let a = Client::login(&srv.base, "analyst").await;
    let csv = "upstream_id,phone,grade\nU1,13912349003,high\nU2,bad,high\nU3,13912349004,purple\n";
    let r = a
        .raw(
            reqwest::Method::POST,
            "/leads/import",
            Some("text/csv"),
            Some(csv.as_bytes().to_vec()),
        )
        .await;
    r.expect(200);
    let v = r.json();
    assert_eq!((v["rows"].as_u64(), v["inserted"].as_u64()), (Some(3), Some(1)));
    let rows: Vec<u64> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["row"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, vec![3, 4]);
    assert_eq!(v["rejected"][0]["column"], "phone");
    Client::login(&srv.base, "grid")
        .await
        .raw(
            reqwest::Method::POST,
            "/leads/import",
            Some("text/csv"),
            Some(csv.as_bytes().to_vec()),
        )
        .await
        .expect(403);
}
