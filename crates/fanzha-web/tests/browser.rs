//! Browser test in real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven over WebDriver). The demo grid worker logs in,
//! sees only the residents of their own grid, switches the language, and a
//! screenshot is kept as a test artifact.
//!
//! Outside CI the test prints that it skipped when Chromium or ChromeDriver
//! is missing; with `CI` set it fails instead.

use fantoccini::{ClientBuilder, Locator};
use fanzha_app::crypto::{MasterKey, PasswordCost};
use fanzha_app::residents::ResidentQuery;
use fanzha_app::{App, AppConfig, StoreConfig, SystemClock};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

fn tool(var: &str, default: &str) -> Option<PathBuf> {
    let p = std::env::var(var)
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(default));
    p.exists().then_some(p)
}

fn artifacts() -> PathBuf {
    let dir = std::env::var("FANZHA_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/artifacts"));
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

async fn start_app(dir: &std::path::Path) -> (Arc<App>, String) {
    let store = fanzha_app::open_store(&StoreConfig::Sqlite {
        path: dir.join("fanzha.db"),
    })
    .await
    .unwrap();
    let mut cfg = AppConfig::new(MasterKey::generate().unwrap());
    cfg.password_cost = PasswordCost {
        memory_kib: 64,
        iterations: 1,
    };
    let app = App::new(store, cfg, Arc::new(SystemClock)).unwrap();
    app.migrate().await.unwrap();
    app.load_demo(7, 1500).await.unwrap();
    let web = fanzha_web::WebConfig {
        demo: true,
        ..Default::default()
    };
    let router = fanzha_web::router(app.clone(), web).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = fanzha_web::serve(listener, router).await;
    });
    (app, format!("http://{addr}"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grid_worker_sees_only_own_grid_and_switches_language() {
    let (Some(chromium), Some(driver)) = (
        tool("FANZHA_CHROMIUM", "/usr/bin/chromium"),
        tool("FANZHA_CHROMEDRIVER", "/usr/bin/chromedriver"),
    ) else {
        if std::env::var_os("CI").is_some() {
            panic!("CI: chromium and chromedriver are required (FANZHA_CHROMIUM, FANZHA_CHROMEDRIVER)");
        }
        eprintln!("skipped: chromium or chromedriver not found (set FANZHA_CHROMIUM / FANZHA_CHROMEDRIVER)");
        return;
    };
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

    let port = free_port();
    let mut chromedriver = tokio::process::Command::new(&driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    let user_data = tempfile::tempdir().unwrap();
    let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=390,844",
                format!("--user-data-dir={}", user_data.path().display()),
            ]
        }
    }))
    .unwrap();
    let mut client = None;
    for _ in 0..50 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let c = client.expect("connect to chromedriver");

    // Log in through the real form.
    c.goto(&format!("{base}/login")).await.unwrap();
    c.find(Locator::Css("input[name=username]"))
        .await
        .unwrap()
        .send_keys("grid")
        .await
        .unwrap();
    c.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(fanzha_app::demo::DEMO_PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Wait until the sign-in has landed on the next page, so that the next
    // navigation does not race the form's redirect.
    for _ in 0..100 {
        if c.current_url().await.is_ok_and(|u| u.path() != "/login") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ne!(c.current_url().await.unwrap().path(), "/login", "signed in");
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

/// Chromium at phone size behind ChromeDriver; `None` (test skipped) when
/// either is missing outside CI.
async fn phone_browser() -> Option<(fantoccini::Client, tokio::process::Child, tempfile::TempDir)> {
    let (Some(chromium), Some(driver)) = (
        tool("FANZHA_CHROMIUM", "/usr/bin/chromium"),
        tool("FANZHA_CHROMEDRIVER", "/usr/bin/chromedriver"),
    ) else {
        if std::env::var_os("CI").is_some() {
            panic!("CI: chromium and chromedriver are required (FANZHA_CHROMIUM, FANZHA_CHROMEDRIVER)");
        }
        eprintln!("skipped: chromium or chromedriver not found (set FANZHA_CHROMIUM / FANZHA_CHROMEDRIVER)");
        return None;
    };
    let port = free_port();
    let chromedriver = tokio::process::Command::new(&driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    let user_data = tempfile::tempdir().unwrap();
    let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=390,844",
                format!("--user-data-dir={}", user_data.path().display()),
            ]
        }
    }))
    .unwrap();
    for _ in 0..50 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => return Some((c, chromedriver, user_data)),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("connect to chromedriver");
}

/// Whether the page is wider than the phone's screen (a sideways scroll).
async fn overflows(c: &fantoccini::Client) -> bool {
    let v = c
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth + 1;",
            vec![],
        )
        .await
        .unwrap();
    v.as_bool().unwrap_or(true)
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

    c.goto(&format!("{base}/login")).await.unwrap();
    c.find(Locator::Css("input[name=username]"))
        .await
        .unwrap()
        .send_keys("grid")
        .await
        .unwrap();
    c.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(fanzha_app::demo::DEMO_PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Wait until the sign-in has landed on the next page, so that the next
    // navigation does not race the form's redirect.
    for _ in 0..100 {
        if c.current_url().await.is_ok_and(|u| u.path() != "/login") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ne!(c.current_url().await.unwrap().path(), "/login", "signed in");
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
