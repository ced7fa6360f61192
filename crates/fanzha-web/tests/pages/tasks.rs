//! Dissuasion pages without JavaScript: my tasks, the task page with the
//! call link and the one-tap outcome, the board (and its event stream),
//! metrics with SVG charts, the public appeal form and the review queue;
//! a grid worker cannot see or act on another grid's tasks.

use super::support::{Browser, Server, csrf_in, form_body, start, world};

/// Pushes two high-grade leads (own grid, far township) as the analyst
/// through the API and runs the workflow's tick; (own task, far task).
async fn tasks(srv: &Server) -> (i64, i64) {
    let w = world(&srv.app).await;
    let http = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let api = format!("{}/api/v1", srv.base);
    let r = http
        .post(format!("{api}/auth/login"))
        .json(&serde_json::json!({"username": "analyst", "password": fanzha_app::demo::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    let csrf = v["csrf"].as_str().unwrap().to_string();
    let push = serde_json::json!([
        {"id": "P-OWN", "phone": w.own.phone, "grade": "high", "fraud_type": "冒充公检法及政府机关"},
        {"id": "P-FAR", "phone": w.far.phone, "grade": "high"},
    ]);
    let r = http
        .post(format!("{api}/leads/import?format=json"))
        .header("x-csrf-token", &csrf)
        .json(&push)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    srv.app.tasks_tick().await.unwrap();
    let list: serde_json::Value = http
        .get(format!("{api}/tasks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    let id_of = |grid: i64| {
        items
            .iter()
            .find(|t| t["node_id"].as_i64() == Some(grid))
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    (id_of(w.own_grid.0), id_of(w.far_grid.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grid_worker_works_their_task_in_two_taps_and_nothing_else() {
    let srv = start().await;
    let (own, far) = tasks(&srv).await;
    let grid = Browser::login(&srv.base, "grid").await;
    // My tasks: their grid's task only.
    let mine = grid.get("/tasks").await;
    mine.expect(200)
        .contains(&format!("id=\"task-{own}\""))
        .lacks(&format!("id=\"task-{far}\""));
    // Another grid's task: no page, no action.
    grid.get(&format!("/tasks/{far}")).await.expect(404);
    for action in ["accept", "call", "escalate"] {
        grid.post(&format!("/tasks/{far}/{action}"), &[])
            .await
            .expect(404);
    }
    grid.post(&format!("/tasks/{far}/outcome"), &[("outcome", "false_alarm")])
        .await
        .expect(404);
    // Their task: the script for the fraud type and the quick buttons.
    let p = grid.get(&format!("/tasks/{own}")).await;
    p.expect(200)
        .contains("id=\"script\"")
        .contains("id=\"quick-dissuaded\"")
        .contains("id=\"reveal-call\"");
    // Tap 1: show the numbers (audited) — a tel: link.
    let c = grid.post(&format!("/tasks/{own}/call"), &[]).await;
    c.expect(200).contains("href=\"tel:+86");
    // Tap 2: reached by phone, dissuaded.
    let key = format!("quick-{own}-1");
    let done = grid
        .post(
            &format!("/tasks/{own}/outcome"),
            &[("outcome", "dissuaded"), ("reached", "call"), ("key", &key)],
        )
        .await;
    assert_eq!(done.status, 303);
    let after = grid.get(&format!("/tasks/{own}")).await;
    after
        .expect(200)
        .contains("id=\"task-outcome\"")
        .lacks("id=\"quick-dissuaded\"");
    // A second tap on another device changes nothing.
    let again = grid
        .post(
            &format!("/tasks/{own}/outcome"),
            &[("outcome", "dissuaded"), ("reached", "call"), ("key", &key)],
        )
        .await;
    assert_eq!(again.status, 303);
    let closed = grid.get("/tasks?done=1").await;
    closed.expect(200).contains(&format!("id=\"task-{own}\""));
    // A grid worker has no board of the whole county, and no appeal queue.
    grid.get("/appeals").await.expect(403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_streams_and_the_metrics_draw_svg() {
    let srv = start().await;
    let (own, far) = tasks(&srv).await;
    let analyst = Browser::login(&srv.base, "analyst").await;
    let b = analyst.get("/tasks/board").await;
    b.expect(200)
        .contains(&format!("data-id=\"{own}\""))
        .contains(&format!("data-id=\"{far}\""))
        .contains("EventSource");
    let f = analyst.get("/tasks/board?grade=low").await;
    f.expect(200).lacks(&format!("data-id=\"{own}\""));
    analyst.get("/tasks/board?grade=bogus").await.expect(422);
    // The event stream answers as server-sent events.
    let r = analyst
        .http
        .get(format!("{}/tasks/stream", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    drop(r);
    // Overdue after the deadline: highlighted.
    srv.app.tasks_tick().await.unwrap();
    let m = analyst.get("/tasks/metrics").await;
    m.expect(200).contains("<svg").contains("id=\"metrics-total\"");
    let leader = Browser::login(&srv.base, "leader").await;
    leader.get("/tasks/metrics").await.expect(200).contains("<svg");
    leader.get("/tasks/board").await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_appeals_and_the_analyst_decides() {
    let srv = start().await;
    let anon = Browser::anon(&srv.base);
    let form = anon.get("/appeal").await;
    form.expect(200);
    let pre = csrf_in(&form.text()).expect("the appeal form carries a token");
    let r = anon
        .send(
            "POST",
            "/appeal",
            Some((
                "application/x-www-form-urlencoded",
                form_body(&[
                    ("_csrf", &pre),
                    ("value", "https://shop.example.com/item"),
                    ("contact", "13900139000"),
                    ("reason", "这是我们公司的正规网店"),
                ]),
            )),
        )
        .await;
    r.expect(200).contains("id=\"appeal-receipt\"");
    // Without the token: refused.
    let bad = anon
        .send(
            "POST",
            "/appeal",
            Some((
                "application/x-www-form-urlencoded",
                form_body(&[("value", "x.example.com"), ("reason", "r")]),
            )),
        )
        .await;
    bad.expect(403);
    let analyst = Browser::login(&srv.base, "analyst").await;
    let q = analyst.get("/appeals").await;
    q.expect(200).contains("shop.example.com");
    let text = q.text();
    let id: i64 = text
        .split("id=\"appeal-")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    // The dashboard counts it, with no turnaround before a decision.
    analyst
        .get("/tasks/metrics")
        .await
        .expect(200)
        .contains("<span class=\"n\">1 / 1</span>")
        .contains("id=\"appeals-turnaround\">—");
    let d = analyst
        .post(
            &format!("/appeals/{id}/decision"),
            &[("decision", "kept"), ("reason", "经核查仍有诈骗举报")],
        )
        .await;
    assert_eq!(d.status, 303);
    analyst
        .get("/appeals?status=")
        .await
        .expect(200)
        .contains("经核查仍有诈骗举报");
    analyst
        .get("/tasks/metrics")
        .await
        .expect(200)
        .contains("<span class=\"n\">0 / 1</span>")
        .lacks("id=\"appeals-turnaround\">—");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_analyst_edits_templates_and_policy_on_one_page() {
    let srv = start().await;
    let analyst = Browser::login(&srv.base, "analyst").await;
    let p = analyst.get("/dispatch").await;
    p.expect(200)
        .contains("href=\"/dispatch\"")
        .contains("id=\"policy-toml\"")
        .contains("id=\"tpl-generic\"")
        .contains("id=\"tpl-segments-impersonate_authority\"")
        .lacks("id=\"tpl-edited-");
    // A bad policy: shown with its reason, nothing saved.
    let r = analyst
        .post("/dispatch/policy", &[("toml", "version = [oops"), ("note", "")])
        .await;
    r.expect(422)
        .contains("id=\"policy-error\"")
        .contains("version = [oops");
    analyst
        .get("/dispatch")
        .await
        .expect(200)
        .contains("id=\"policy-version\">版本 1")
        .lacks("id=\"policy-error\"");
    // A bad SMS (no hotline): refused, nothing saved.
    let good = [
        ("key", "impersonate_authority"),
        ("robocall", "公检法不会电话办案，请拨{hotline}。"),
        ("title", "冒充公检法劝阻（本地）"),
        ("say", "公检法机关不会通过电话办案。\n\n有疑问请拨{hotline}。"),
        ("ask", "对方有没有让您转到安全账户？\n有没有让您保密？"),
        ("red_flags", "正在和“警官”视频通话"),
    ];
    let mut bad = good.to_vec();
    bad.push(("sms", "{signature}您好：公检法不会电话办案。"));
    let r = analyst.post("/dispatch/templates", &bad).await;
    r.expect(422).contains("id=\"tpl-error-impersonate_authority\"");
    analyst
        .get("/dispatch")
        .await
        .lacks("id=\"tpl-edited-impersonate_authority\"");
    // A good one: saved, shown as edited, and the next task's page shows the script.
    let mut ok = good.to_vec();
    ok.push((
        "sms",
        "{signature}{name}您好：公检法不会电话办案，更没有安全账户。请拨{hotline}。",
    ));
    let r = analyst.post("/dispatch/templates", &ok).await;
    assert_eq!(r.status, 303, "{}", r.text());
    analyst
        .get("/dispatch")
        .await
        .expect(200)
        .contains("id=\"tpl-edited-impersonate_authority\"")
        .contains("更没有安全账户");
    let (own, _far) = tasks(&srv).await;
    analyst
        .get(&format!("/tasks/{own}"))
        .await
        .expect(200)
        .contains("冒充公检法劝阻（本地）");
    // A grid worker: no entry, no page, no post.
    let grid = Browser::login(&srv.base, "grid").await;
    grid.get("/tasks").await.expect(200).lacks("href=\"/dispatch\"");
    grid.get("/dispatch").await.expect(403);
    grid.post("/dispatch/policy", &[("toml", "x")]).await.expect(403);
    grid.post("/dispatch/templates", &ok).await.expect(403);
}
