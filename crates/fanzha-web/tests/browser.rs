//! Browser test in real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven over WebDriver). The demo grid worker logs in,
//! sees only the residents of their own grid, switches the language, and a
//! screenshot is kept as a test artifact.
//!
//! Outside CI the test prints that it skipped when Chromium or ChromeDriver
//! is missing; with `CI` set it fails instead.

mod browser_support;

use browser_support::*;
use fantoccini::Locator;
use fanzha_app::residents::ResidentQuery;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grid_worker_sees_only_own_grid_and_switches_language() {
    let dir = tempfile::tempdir().unwrap();
    let (app, base) = start_app(dir.path()).await;

    // What the grid worker should see, straight from the app.
    let actor = {
        let ok = app
            .login("grid", fanzha_app::demo::DEMO_PASSWORD, "127.0.0.1", "test")
            .await
            .unwrap();
        app.session_actor(&ok.token, "127.0.0.1").await.unwrap()
    };
    let own_grid = actor.user.node_id.expect("grid worker has a node");
    // The first page as the residents page shows it (50 a page).
    let mine = app
        .residents(
            &actor,
            &ResidentQuery {
                per_page: Some(50),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(mine.total > 0, "the demo grid has residents");
    let admin = app.cli_actor();
    let all = app
        .residents(
            &admin,
            &ResidentQuery {
                per_page: Some(500),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let other = all
        .items
        .iter()
        .find(|r| r.grid_id != own_grid)
        .expect("a resident of another grid");

    let Some((c, mut chromedriver, _profile)) = phone_browser().await else {
        return;
    };

    // Log in through the real form.
    sign_in(&c, &base, "grid").await;
    let home = c.source().await.unwrap();
    assert!(home.contains("演示数据"), "demo banner shown");

    // The residents list holds only the worker's own grid.
    c.goto(&format!("{base}/residents")).await.unwrap();
    let page = c.source().await.unwrap();
    for r in &mine.items {
        assert!(
            page.contains(&format!("/residents/{}\"", r.id)),
            "own resident {} listed",
            r.id
        );
    }
    assert!(
        !page.contains(&format!("/residents/{}\"", other.id)),
        "another grid's resident is not listed"
    );
    // And another grid's resident cannot be opened by URL.
    c.goto(&format!("{base}/residents/{}", other.id)).await.unwrap();
    let denied = c.source().await.unwrap();
    assert!(denied.contains("404"), "other grid's resident is not found");

    // Switch to English.
    c.goto(&format!("{base}/residents")).await.unwrap();
    c.find(Locator::Id("lang-switch"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The switch reloads the page; give it time to land.
    let mut en = String::new();
    for _ in 0..100 {
        en = c.source().await.unwrap();
        if en.contains("DEMO DATA") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(en.contains("Residents"), "English navigation after switching");
    assert!(en.contains("DEMO DATA"), "English demo banner");

    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let out = artifacts().join("browser-grid-worker.png");
    std::fs::write(&out, &png).unwrap();
    eprintln!("screenshot: {}", out.display());

    c.close().await.unwrap();
    let _ = chromedriver.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grid_worker_works_a_lead_on_a_phone() {
    let Some((c, mut chromedriver, _profile)) = phone_browser().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (app, base) = start_app(dir.path()).await;
    let session = |user: &'static str| {
        let app = app.clone();
        async move {
            let ok = app
                .login(user, fanzha_app::demo::DEMO_PASSWORD, "127.0.0.1", "test")
                .await
                .unwrap();
            app.session_actor(&ok.token, "127.0.0.1").await.unwrap()
        }
    };
    let grid = session("grid").await;
    let analyst = session("analyst").await;
    // A resident of the worker's grid is called by a flagged number and
    // then texted; the pipeline raises a lead.
    let phone = "+8613912348001";
    app.create_resident(
        &app.cli_actor(),
        &fanzha_app::residents::ResidentForm {
            name: "手机测试".into(),
            id_number: fanzha_core::idcard::compose(
                "110105",
                fanzha_core::time::Date::new(1950, 3, 3).unwrap(),
                961,
            )
            .unwrap()
            .as_str()
            .to_string(),
            phones: phone.into(),
            address: String::new(),
            grid_id: grid.user.node_id.unwrap(),
            tags: "独居老人".into(),
            contacts: String::new(),
            expected_version: None,
        },
    )
    .await
    .unwrap();
    let flagged = "+8617100000077";
    let mut req = fanzha_app::intel::import::IntelImportRequest::new("flagged.txt");
    req.format = Some(fanzha_app::intel::formats::ImportFormat::List);
    req.kind = Some(fanzha_core::IndicatorKind::Phone);
    req.fraud_type = Some(fanzha_core::FraudType::ImpersonateAuthority);
    req.confidence = Some(90);
    app.import_intel(&analyst, flagged.as_bytes(), &req, &|_| {})
        .await
        .unwrap();
    app.sync_intel().await.unwrap();
    app.start_pipeline().await.unwrap();
    let now = app.now().0;
    let lines = [
        serde_json::json!({"ts": now - 20 * 60_000, "source": "cmcc", "kind": "call", "caller": flagged,
            "callee": phone, "direction": "in", "duration_s": 1300}),
        serde_json::json!({"ts": now - 10 * 60_000, "source": "cmcc", "kind": "sms", "sender": flagged,
            "receiver": phone, "text": "您的账户涉嫌洗钱，请立即将资金转入安全账户配合调查，并开启屏幕共享"}),
    ]
    .map(|v| v.to_string())
    .join("\n");
    let rep = app
        .ingest_ndjson(&app.cli_actor(), lines.as_bytes())
        .await
        .unwrap();
    assert!(
        app.wait_processed(rep.last_seq.unwrap(), Duration::from_secs(30))
            .await
    );
    let lead = app
        .leads(&grid, &Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .next()
        .expect("a lead in the worker's grid");

    sign_in(&c, &base, "grid").await;
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("home-leads"))
        .await
        .expect("the home page with the lead counts");
    c.goto(&format!("{base}/leads")).await.unwrap();
    assert!(!overflows(&c).await, "the lead list fits the phone");
    let list_png = c.screenshot().await.unwrap();
    std::fs::write(artifacts().join("browser-leads-phone.png"), &list_png).unwrap();
    c.find(Locator::Css(&format!("a[href='/leads/{}'].mono", lead.id)))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("lead-timeline"))
        .await
        .expect("the lead detail");
    let detail = c.source().await.unwrap();
    assert!(detail.contains("lead-timeline"), "the evidence timeline");
    assert!(!detail.contains("13912348001"), "masked before reveal");
    assert!(!overflows(&c).await, "the lead detail fits the phone");
    let png = c.screenshot().await.unwrap();
    std::fs::write(artifacts().join("browser-lead-phone.png"), &png).unwrap();
    c.execute(
        "document.getElementById('lead-timeline').scrollIntoView();",
        vec![],
    )
    .await
    .unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(artifacts().join("browser-lead-timeline-phone.png"), &png).unwrap();
    // Reveal with the real button: the full number, as a link to call.
    c.find(Locator::Id("lead-reveal"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let tel = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("a.phone-full"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap();
    assert_eq!(tel.as_deref(), Some("tel:+8613912348001"));
    c.close().await.unwrap();
    let _ = chromedriver.kill().await;
}
