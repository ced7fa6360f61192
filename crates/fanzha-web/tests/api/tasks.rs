//! The dissuasion workflow over the API: tasks from pushed leads, a grid
//! worker confined to their grid, idempotent outcomes, the leader watching
//! but not working, appeals from the public to the analyst and back,
//! delivery receipts, the feedback export and the metrics.

use super::support::{Client, Server, assert_error_json, start};
use serde_json::{Value, json};

/// A resident with a phone that `c` may see: (id, grid id, full phone).
async fn resident_with_phone(c: &Client, not_in_grid: Option<i64>) -> (i64, i64, String) {
    let list = c.get("/residents?per_page=500").await;
    list.expect(200);
    for r in list.json()["items"].as_array().unwrap() {
        let grid = r["grid_id"].as_i64().unwrap();
        if r["phone_masked"].is_null() || Some(grid) == not_in_grid {
            continue;
        }
        let id = r["id"].as_i64().unwrap();
        let v = c
            .post(
                &format!("/residents/{id}/reveal"),
                json!({"field": "phone", "index": 0}),
            )
            .await;
        v.expect(200);
        return (id, grid, v.json()["value"].as_str().unwrap().to_string());
    }
    panic!("no resident with a phone in scope");
}

async fn setup() -> (Server, Client, Client, i64, i64) {
    let srv = start().await;
    let grid = Client::login(&srv.base, "grid").await;
    let officer = Client::login(&srv.base, "officer").await;
    let analyst = Client::login(&srv.base, "analyst").await;
    let (_, own_grid, own_phone) = resident_with_phone(&grid, None).await;
    let (_, _, far_phone) = resident_with_phone(&officer, Some(own_grid)).await;
    let push = json!([
        {"id": "UP-A", "phone": own_phone, "grade": "high", "fraud_type": "刷单返利", "name": "张三"},
        {"id": "UP-B", "phone": far_phone, "grade": "high", "fraud_type": "虚假网络贷款"},
    ]);
    analyst
        .raw(
            reqwest::Method::POST,
            "/leads/import?format=json",
            Some("application/json"),
            Some(serde_json::to_vec(&push).unwrap()),
        )
        .await
        .expect(200);
    srv.app.tasks_tick().await.unwrap();
    let all = analyst.get("/tasks").await;
    all.expect(200);
    let items = all.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2, "{items:?}");
    let own = items
        .iter()
        .find(|t| t["node_id"].as_i64() == Some(own_grid))
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let far = items.iter().find(|t| t["id"].as_i64() != Some(own)).unwrap()["id"]
        .as_i64()
        .unwrap();
    (srv, grid, analyst, own, far)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grid_worker_sees_and_works_only_their_grid() {
    let (srv, grid, _analyst, own, far) = setup().await;
    // The list holds their grid's task only.
    let mine = grid.get("/tasks").await;
    mine.expect(200);
    let ids: Vec<i64> = mine.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![own]);
    // Another grid's task does not exist for them: read or act.
    for r in [
        grid.get(&format!("/tasks/{far}")).await,
        grid.post(&format!("/tasks/{far}/accept"), json!({})).await,
        grid.post(
            &format!("/tasks/{far}/attempts"),
            json!({"method": "call", "result": "reached"}),
        )
        .await,
        grid.post(
            &format!("/tasks/{far}/outcome"),
            json!({"outcome": "false_alarm"}),
        )
        .await,
        grid.post(&format!("/tasks/{far}/escalate"), json!({"reason": "x"}))
            .await,
        grid.post(&format!("/tasks/{far}/reveal"), json!({})).await,
    ] {
        r.expect(404);
        assert_error_json(&r, "other grid");
    }
    // Their own: detail with the script and the person, one-tap flow.
    let d = grid.get(&format!("/tasks/{own}")).await;
    d.expect(200);
    let d = d.json();
    assert!(d["script"]["title"].is_string());
    assert!(d["can_work"].as_bool().unwrap());
    assert!(d["person"]["phone_masked"].as_str().unwrap().contains('*'));
    let phones = grid.post(&format!("/tasks/{own}/reveal"), json!({})).await;
    phones.expect(200);
    assert!(phones.json()["person"].as_str().unwrap().starts_with("+86"));
    grid.post(&format!("/tasks/{own}/accept"), json!({}))
        .await
        .expect(200);
    let a = grid
        .post(
            &format!("/tasks/{own}/attempts"),
            json!({"method": "call", "result": "reached", "client_key": "k1"}),
        )
        .await;
    a.expect(200);
    assert_eq!(a.json()["state"], "contacting");
    let again = grid
        .post(
            &format!("/tasks/{own}/attempts"),
            json!({"method": "call", "result": "reached", "client_key": "k1"}),
        )
        .await;
    assert_eq!(again.json()["changed"], false);
    let bad = grid
        .post(
            &format!("/tasks/{own}/attempts"),
            json!({"method": "sms", "result": "reached"}),
        )
        .await;
    bad.expect(422);
    let done = grid
        .post(&format!("/tasks/{own}/outcome"), json!({"outcome": "dissuaded"}))
        .await;
    done.expect(200);
    assert_eq!(done.json()["state"], "done");
    let twice = grid
        .post(&format!("/tasks/{own}/outcome"), json!({"outcome": "dissuaded"}))
        .await;
    twice.expect(200);
    assert_eq!(twice.json()["changed"], false);
    grid.post(&format!("/tasks/{own}/outcome"), json!({"outcome": "refused"}))
        .await
        .expect(409);
    // The leader watches everything and works nothing.
    let leader = Client::login(&srv.base, "leader").await;
    let l = leader.get("/tasks").await;
    l.expect(200);
    assert_eq!(l.json()["total"], 2);
    leader
        .post(&format!("/tasks/{far}/accept"), json!({}))
        .await
        .expect(403);
    let m = leader.get("/tasks/metrics").await;
    m.expect(200);
    let m = m.json();
    assert_eq!(m["total"]["tasks"], 2);
    assert_eq!(m["total"]["dissuaded"], 1);
    // A liaison may not look at tasks at all.
    let liaison = Client::login(&srv.base, "liaison").await;
    liaison.get("/tasks").await.expect(403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defrauded_needs_a_loss_and_feedback_export_carries_outcomes() {
    let (srv, _grid, analyst, own, far) = setup().await;
    let r = analyst
        .post(&format!("/tasks/{far}/outcome"), json!({"outcome": "defrauded"}))
        .await;
    r.expect(422);
    assert_error_json(&r, "loss required");
    analyst
        .post(
            &format!("/tasks/{far}/attempts"),
            json!({"method": "call", "result": "reached"}),
        )
        .await
        .expect(200);
    let c = analyst
        .post(
            &format!("/tasks/{far}/outcome"),
            json!({"outcome": "defrauded", "loss_yuan": "5000", "note": "已转账"}),
        )
        .await;
    c.expect(200);
    assert!(c.json()["case_id"].as_i64().is_some());
    // The export: the pushed columns plus the outcome.
    let csv = analyst.get("/tasks/feedback-export?format=csv").await;
    csv.expect(200);
    assert!(csv.ctype.starts_with("text/csv"));
    let text = csv.text();
    assert!(text.contains("UP-A") && text.contains("UP-B"), "{text}");
    assert!(text.contains("已被骗") && text.contains("5000.00"), "{text}");
    assert!(text.contains("张三"), "the analyst sees the pushed name in full");
    let j = analyst.get("/tasks/feedback-export?format=json").await;
    j.expect(200);
    let v: Value = j.json();
    assert_eq!(v["leads"].as_array().unwrap().len(), 2);
    let x = analyst.get("/tasks/feedback-export").await;
    x.expect(200);
    assert!(x.ctype.contains("spreadsheetml"));
    assert_eq!(&x.body[..2], b"PK");
    analyst.get("/tasks/feedback-export?format=pdf").await.expect(422);
    // The leader's export masks; the grid worker may not export.
    let leader = Client::login(&srv.base, "leader").await;
    let lt = leader.get("/tasks/feedback-export?format=csv").await;
    lt.expect(200);
    assert!(!lt.text().contains("张三"));
    let grid = Client::login(&srv.base, "grid").await;
    grid.get("/tasks/feedback-export?format=csv").await.expect(403);
    let _ = own;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appeals_go_from_the_public_to_the_analyst_and_back() {
    let srv = start().await;
    let anon = Client::anon(&srv.base);
    let r = anon
        .post(
            "/appeals",
            json!({"value": "13800138000", "contact": "13900139000", "reason": "这是我本人的号码，被误标记为诈骗"}),
        )
        .await;
    r.expect(201);
    let reference = r.json()["reference"].as_str().unwrap().to_string();
    assert!(reference.starts_with("SS"));
    anon.post("/appeals", json!({"value": "13800138000", "reason": ""}))
        .await
        .expect(422);
    anon.post("/appeals", json!({"value": "???", "reason": "x"}))
        .await
        .expect(422);
    let s = anon.get(&format!("/appeals/status?reference={reference}")).await;
    s.expect(200);
    assert_eq!(s.json()["status"], "pending");
    anon.get("/appeals/status?reference=SS0-NOPE").await.expect(404);
    // The queue is the analyst's.
    let grid = Client::login(&srv.base, "grid").await;
    grid.get("/appeals").await.expect(403);
    let analyst = Client::login(&srv.base, "analyst").await;
    let q = analyst.get("/appeals?status=pending").await;
    q.expect(200);
    let item = q.json()["items"][0].clone();
    assert_eq!(item["reference"], reference);
    assert!(item["contact_masked"].as_str().unwrap().contains('*'));
    let id = item["id"].as_i64().unwrap();
    analyst
        .post(
            &format!("/appeals/{id}/decision"),
            json!({"decision": "kept", "reason": ""}),
        )
        .await
        .expect(422);
    let d = analyst
        .post(
            &format!("/appeals/{id}/decision"),
            json!({"decision": "revoked", "reason": "核实为本人正常使用"}),
        )
        .await;
    d.expect(200);
    assert_eq!(d.json()["status"], "revoked");
    analyst
        .post(
            &format!("/appeals/{id}/decision"),
            json!({"decision": "kept", "reason": "改判"}),
        )
        .await
        .expect(409);
    let s = anon.get(&format!("/appeals/status?reference={reference}")).await;
    assert_eq!(s.json()["status"], "revoked");
    // The appellant's SMS went out through the notifier on the next tick.
    srv.app.tasks_tick().await.unwrap();
    let again = analyst.get(&format!("/appeals/{id}")).await;
    assert_eq!(again.json()["appellant_notified"], true);
    // Receipts: unknown ids counted, garbage refused.
    let rc = anon
        .raw(
            reqwest::Method::POST,
            "/notify/receipts",
            Some("application/json"),
            Some(br#"[{"id": "nope", "status": "DELIVRD"}]"#.to_vec()),
        )
        .await;
    rc.expect(200);
    assert_eq!(rc.json()["unknown"], 1);
    let g = anon
        .raw(
            reqwest::Method::POST,
            "/notify/receipts",
            Some("application/json"),
            Some(b"not json".to_vec()),
        )
        .await;
    g.expect(422);
    assert_error_json(&g, "receipt garbage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dispatch_policy_is_versioned_and_validated() {
    let srv = start().await;
    let analyst = Client::login(&srv.base, "analyst").await;
    let v = analyst.get("/dispatch/policy").await;
    v.expect(200);
    let v = v.json();
    assert_eq!(v["active"]["version"], 1);
    let text = v["active"]["toml"].as_str().unwrap().to_string();
    // A high grade contacted later than a medium one is refused.
    let bad = text.replacen("contact_minutes = 15", "contact_minutes = 500", 1);
    let r = analyst.put("/dispatch/policy", json!({"toml": bad})).await;
    r.expect(422);
    assert_error_json(&r, "invalid policy");
    let faster = text.replacen("contact_minutes = 15", "contact_minutes = 10", 1);
    let r = analyst
        .put(
            "/dispatch/policy",
            json!({"toml": faster, "note": "高风险10分钟内联系"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["version"], 2);
    assert!(r.json()["toml"].as_str().unwrap().contains("version = 2"));
    let grid = Client::login(&srv.base, "grid").await;
    grid.get("/dispatch/policy").await.expect(200);
    grid.put("/dispatch/policy", json!({"toml": text}))
        .await
        .expect(403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_edited_validated_and_shown_on_the_next_task() {
    let srv = start().await;
    let analyst = Client::login(&srv.base, "analyst").await;
    let v = analyst.get("/dispatch/templates").await;
    v.expect(200);
    let entry = |v: &Value, key: &str| {
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == key)
            .unwrap()
            .clone()
    };
    let before = entry(&v.json(), "brushing_rebate");
    assert!(before["sms_segments"].as_u64().unwrap() >= 1);
    // Bad: an unknown placeholder in the script; a script without red flags.
    let bad_script = json!({"title": "刷单劝阻", "say": "请拨{hotline}，{phone}", "ask": ["转账了吗？"], "red_flags": ["正在转账"]});
    let r = analyst
        .put(
            "/dispatch/templates",
            json!({"key": "brushing_rebate", "sms": "刷单是诈骗，请拨{hotline}。", "script": bad_script}),
        )
        .await;
    r.expect(422);
    assert_error_json(&r, "unknown placeholder");
    let r = analyst
        .put(
            "/dispatch/templates",
            json!({"key": "nonsense", "sms": "请拨{hotline}"}),
        )
        .await;
    r.expect(422);
    assert_error_json(&r, "unknown key");
    let after = entry(
        &analyst.get("/dispatch/templates").await.json(),
        "brushing_rebate",
    );
    assert_eq!(after, before, "a refused save changed nothing");

    // Good: the next 刷单返利 task shows the new script.
    let script = json!({"title": "刷单返利劝阻（本地版）", "say": "刷单就是诈骗。\n\n有疑问请拨{hotline}。",
        "ask": ["有没有垫付过钱？"], "red_flags": ["还在做任务"]});
    let r = analyst
        .put(
            "/dispatch/templates",
            json!({"key": "brushing_rebate", "script": script}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["edited_script"], true);
    assert_eq!(r.json()["edited_sms"], false);
    let officer = Client::login(&srv.base, "officer").await;
    let (_, _, phone) = resident_with_phone(&officer, None).await;
    let push = json!([{"id": "UP-S", "phone": phone, "grade": "high", "fraud_type": "刷单返利"}]);
    analyst
        .raw(
            reqwest::Method::POST,
            "/leads/import?format=json",
            Some("application/json"),
            Some(serde_json::to_vec(&push).unwrap()),
        )
        .await
        .expect(200);
    srv.app.tasks_tick().await.unwrap();
    let list = analyst.get("/tasks").await;
    list.expect(200);
    let id = list.json()["items"][0]["id"].as_i64().unwrap();
    let t = analyst.get(&format!("/tasks/{id}")).await;
    t.expect(200);
    assert_eq!(t.json()["script"]["title"], "刷单返利劝阻（本地版）");
    assert!(t.json()["script"]["say"].as_str().unwrap().contains("96110"));

    // A grid worker may not read or edit them.
    let grid = Client::login(&srv.base, "grid").await;
    grid.get("/dispatch/templates").await.expect(403);
    grid.put(
        "/dispatch/templates",
        json!({"key": "generic", "sms": "请拨{hotline}"}),
    )
    .await
    .expect(403);
}
