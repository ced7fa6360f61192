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
    let en = c.source().await.unwrap();
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
