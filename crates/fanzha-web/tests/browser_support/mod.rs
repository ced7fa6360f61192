//! Shared by the browser tests: the real app on port 0 with the demo, a
//! phone-sized headless Chromium behind ChromeDriver, signing in, waiting.

#![allow(dead_code)]

use fantoccini::{ClientBuilder, Locator};
use fanzha_app::crypto::{MasterKey, PasswordCost};
use fanzha_app::{App, AppConfig, StoreConfig, SystemClock};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

pub fn tool(var: &str, default: &str) -> Option<PathBuf> {
    let p = std::env::var(var)
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(default));
    p.exists().then_some(p)
}

pub fn artifacts() -> PathBuf {
    let dir = std::env::var("FANZHA_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/artifacts"));
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

pub async fn start_app(dir: &std::path::Path) -> (Arc<App>, String) {
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Chromium at phone size behind ChromeDriver; `None` (test skipped) when
/// either is missing outside CI.
pub async fn phone_browser() -> Option<(fantoccini::Client, tokio::process::Child, tempfile::TempDir)> {
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
pub async fn overflows(c: &fantoccini::Client) -> bool {
    let v = c
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth + 1;",
            vec![],
        )
        .await
        .unwrap();
    v.as_bool().unwrap_or(true)
}

/// The element with this id, once the page that holds it has loaded.
pub async fn wait_for(c: &fantoccini::Client, id: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id} did not appear: {e}"))
}

/// Signs in through the real form and waits until the next page has
/// landed, so that the next navigation does not race the form's redirect.
pub async fn sign_in(c: &fantoccini::Client, base: &str, username: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    c.find(Locator::Css("input[name=username]"))
        .await
        .unwrap()
        .send_keys(username)
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
}
