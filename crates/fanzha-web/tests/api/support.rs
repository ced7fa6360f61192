//! Starting the app and talking to it.

use fanzha_app::crypto::{MasterKey, PasswordCost};
use fanzha_app::{App, AppConfig, ManualClock, StoreConfig};
use fanzha_core::Timestamp;
use reqwest::Method;
use serde_json::Value;
use std::sync::Arc;

/// The demo's seed and size in these tests.
pub const SEED: u64 = 11;
pub const RESIDENTS: usize = 800;
/// 2026-11-29 04:00 UTC: the clock stands still so that ages are fixed.
pub const NOW: Timestamp = Timestamp(1_795_924_800_000);
/// Upload limit of the test server.
pub const MAX_UPLOAD: usize = 512 * 1024;
pub const PASSWORD: &str = fanzha_app::demo::DEMO_PASSWORD;

pub struct Server {
    pub base: String,
    pub app: Arc<App>,
    _dir: tempfile::TempDir,
}

/// The real app on 127.0.0.1:0 with a fresh database and the demo loaded.
pub async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = fanzha_app::open_store(&StoreConfig::Sqlite {
        path: dir.path().join("fanzha.db"),
    })
    .await
    .unwrap();
    let mut cfg = AppConfig::new(MasterKey::generate().unwrap());
    cfg.password_cost = PasswordCost {
        memory_kib: 64,
        iterations: 1,
    };
    cfg.max_upload_bytes = MAX_UPLOAD;
    cfg.detect.max_batch_bytes = MAX_UPLOAD;
    let app = App::new(store, cfg, Arc::new(ManualClock::new(NOW))).unwrap();
    app.migrate().await.unwrap();
    app.load_demo(SEED, RESIDENTS).await.unwrap();
    let web = fanzha_web::WebConfig {
        demo: true,
        max_body_bytes: 2 * MAX_UPLOAD,
        ..Default::default()
    };
    let router = fanzha_web::router(app.clone(), web).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = fanzha_web::serve(listener, router).await;
    });
    Server {
        base: format!("http://{addr}/api/v1"),
        app,
        _dir: dir,
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub ctype: String,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Resp {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client: anonymous, a cookie session (with its CSRF token) or a bearer token.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
    /// Send the session's CSRF token on state-changing calls.
    pub send_csrf: bool,
}

impl Client {
    pub fn anon(base: &str) -> Client {
        Client {
            http: reqwest::Client::builder().cookie_store(true).build().unwrap(),
            base: base.to_string(),
            csrf: None,
            bearer: None,
            send_csrf: true,
        }
    }

    pub fn bearer(base: &str, token: &str) -> Client {
        Client {
            http: reqwest::Client::builder().build().unwrap(),
            base: base.to_string(),
            csrf: None,
            bearer: Some(token.to_string()),
            send_csrf: false,
        }
    }

    /// Signs in through POST /auth/login and keeps the cookie and the CSRF token.
    pub async fn login(base: &str, user: &str) -> Client {
        let mut c = Client::anon(base);
        let r = c
            .call(
                Method::POST,
                "/auth/login",
                Some(serde_json::json!({"username": user, "password": PASSWORD})),
            )
            .await;
        r.expect(200);
        let v = r.json();
        assert_eq!(v["user"]["username"], user);
        c.csrf = Some(v["csrf"].as_str().unwrap().to_string());
        c
    }

    pub async fn raw(&self, method: Method, path: &str, ctype: Option<&str>, body: Option<Vec<u8>>) -> Resp {
        let mut rb = self
            .http
            .request(method.clone(), format!("{}{}", self.base, path));
        if let Some(t) = &self.bearer {
            rb = rb.bearer_auth(t);
        }
        if self.send_csrf
            && !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS)
            && let Some(c) = &self.csrf
        {
            rb = rb.header("x-csrf-token", c);
        }
        if let Some(t) = ctype {
            rb = rb.header("content-type", t);
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let ctype = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = r.bytes().await.unwrap().to_vec();
        Resp { status, ctype, body }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        match body {
            Some(v) => {
                self.raw(
                    method,
                    path,
                    Some("application/json"),
                    Some(serde_json::to_vec(&v).unwrap()),
                )
                .await
            }
            None => self.raw(method, path, None, None).await,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None).await
    }
}

/// Asserts the shape of an error answer: JSON with a code and a message.
#[track_caller]
pub fn assert_error_json(r: &Resp, what: &str) {
    let v: Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|_| panic!("{what}: status {} body is not JSON: {:?}", r.status, r.text()));
    let code = v["error"]["code"].as_str().unwrap_or("");
    let msg = v["error"]["message"].as_str().unwrap_or("");
    assert!(
        !code.is_empty() && !msg.is_empty(),
        "{what}: status {} error without code/message: {v}",
        r.status
    );
    assert!(
        r.ctype.starts_with("application/json"),
        "{what}: content type {}",
        r.ctype
    );
}
