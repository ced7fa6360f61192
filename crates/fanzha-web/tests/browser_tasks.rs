//! Browser test in real headless Chromium at a phone-sized viewport: the
//! demo grid worker opens their dissuasion task, reveals the number to call
//! (a `tel:` link) and records 劝阻成功 in one tap; a screenshot is kept.
//!
//! Outside CI the test prints that it skipped when Chromium or ChromeDriver
//! is missing; with `CI` set it fails instead.

use fantoccini::{ClientBuilder, Locator};
use fanzha_app::crypto::{MasterKey, PasswordCost};
use fanzha_app::residents::{ResidentQuery, RevealField};
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
async fn grid_worker_records_dissuaded_on_a_phone() {
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

/// The element with this id, once the page that holds it has loaded.
async fn wait_for(c: &fantoccini::Client, id: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id} did not appear: {e}"))
}
