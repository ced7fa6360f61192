//! Browser test in real headless Chromium at a phone-sized viewport: the
//! demo grid worker opens their dissuasion task, reveals the number to call
//! (a `tel:` link) and records 劝阻成功 in one tap; a screenshot is kept.
//!
//! Outside CI the test prints that it skipped when Chromium or ChromeDriver
//! is missing; with `CI` set it fails instead.

mod browser_support;

use browser_support::*;
use fantoccini::Locator;
use fanzha_app::residents::{ResidentQuery, RevealField};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grid_worker_records_dissuaded_on_a_phone() {
    let dir = tempfile::tempdir().unwrap();
    let (app, base) = start_app(dir.path()).await;
    let actor_of = |name: &'static str| {
        let app = app.clone();
        async move {
            let ok = app
                .login(name, fanzha_app::demo::DEMO_PASSWORD, "127.0.0.1", "test")
                .await
                .unwrap();
            app.session_actor(&ok.token, "127.0.0.1").await.unwrap()
        }
    };
    let grid = actor_of("grid").await;
    let analyst = actor_of("analyst").await;
    // A high-grade lead pushed from above for a resident of the worker's grid.
    let mine = app
        .residents(
            &grid,
            &ResidentQuery {
                per_page: Some(500),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let r = mine
        .items
        .iter()
        .find(|r| r.phone_masked.is_some())
        .expect("a resident with a phone");
    let phone = app.reveal(&grid, r.id, RevealField::Phone(0)).await.unwrap();
    let push =
        serde_json::json!([{"id": "PHONE-1", "phone": phone, "grade": "high", "fraud_type": "刷单返利"}]);
    app.import_leads(&analyst, Some("push.json"), &serde_json::to_vec(&push).unwrap())
        .await
        .unwrap();
    app.tasks_tick().await.unwrap();

    let Some((c, mut chromedriver, _profile)) = phone_browser().await else {
        return;
    };
    sign_in(&c, &base, "grid").await;

    // My tasks: one card; open it.
    c.goto(&format!("{base}/tasks")).await.unwrap();
    let card = match c.find(Locator::Css("#my-tasks a.task-card")).await {
        Ok(card) => card,
        Err(e) => {
            let src = c.source().await.unwrap_or_default();
            let main = src.split("<main").nth(1).unwrap_or(&src);
            panic!(
                "no task card on /tasks ({e}); the page's main part:\n{}",
                &main[..main.len().min(3000)]
            );
        }
    };
    card.click().await.unwrap();
    // Every click below loads a page: wait for what it should show.
    wait_for(&c, "script").await;
    let page = c.source().await.unwrap();
    assert!(page.contains("id=\"script\""), "the script is on the task page");
    // Tap 1: the number to call.
    c.find(Locator::Id("reveal-call"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let call = wait_for(&c, "call-person").await;
    let href = call.attr("href").await.unwrap().unwrap_or_default();
    assert_eq!(href, format!("tel:{phone}"));
    // Tap 2: reached by phone, dissuaded.
    c.find(Locator::Id("quick-dissuaded"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let done = wait_for(&c, "task-outcome").await;
    assert!(done.text().await.unwrap().contains("劝阻成功"));
    let state = c
        .find(Locator::Id("task-state"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(state, "已办结");
    // The button that matters is big enough for a thumb.
    c.goto(&format!("{base}/tasks?done=1")).await.unwrap();
    let card = c.find(Locator::Css("#my-tasks a.task-card")).await.unwrap();
    let (_, _, w, h) = card.rectangle().await.unwrap();
    assert!(w >= 300.0 && h >= 56.0, "card {w}x{h}");

    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let out = artifacts().join("browser-task-dissuaded.png");
    std::fs::write(&out, &png).unwrap();
    eprintln!("screenshot: {}", out.display());
    c.close().await.unwrap();
    let _ = chromedriver.kill().await;
}
