//! The HTTP gateways against a local server that records every request and
//! fails on purpose: retries with backoff, the same idempotency key on every
//! try, filled templates, garbage answers, 4xx not retried, final failures.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use fanzha_app::notify::{
    BodyFormat, Channel, Failure, HttpChannelConfig, HttpMethod, HttpNotifier, LogNotifier, Notifier,
    NotifyConfig, NotifyError, NotifyMode, PhoneFormat, Secret, VoiceContent,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TO: &str = "+8613800001234";
const TEXT: &str = "【反诈中心】张先生您好：刷单就是诈骗，请拨打96110 & 勿转账。";

/// What the server does with its n-th request (0-based).
#[derive(Clone)]
enum Reply {
    Status(u16, &'static str),
    Sleep(u64),
}

#[derive(Clone, Debug)]
struct Recorded {
    at: Instant,
    method: String,
    uri: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

#[derive(Clone)]
struct Srv {
    log: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<dyn Fn(usize) -> Reply + Send + Sync>,
}

async fn handle(State(s): State<Srv>, req: Request) -> Response {
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let headers = req.headers().clone();
    let body = to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default()
        .to_vec();
    let n = {
        let mut log = s.log.lock().unwrap();
        log.push(Recorded {
            at: Instant::now(),
            method,
            uri,
            headers,
            body,
        });
        log.len() - 1
    };
    match (s.script)(n) {
        Reply::Status(code, body) => (StatusCode::from_u16(code).unwrap(), Body::from(body)).into_response(),
        Reply::Sleep(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            (StatusCode::OK, r#"{"id": "too-late"}"#).into_response()
        }
    }
}

/// Starts the server on 127.0.0.1:0; returns its base URL and request log.
async fn server(
    script: impl Fn(usize) -> Reply + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Recorded>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let srv = Srv {
        log: log.clone(),
        script: Arc::new(script),
    };
    let app = Router::new().fallback(handle).with_state(srv);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), log)
}

fn requests(log: &Arc<Mutex<Vec<Recorded>>>) -> Vec<Recorded> {
    log.lock().unwrap().clone()
}

fn sms_cfg(base: &str) -> HttpChannelConfig {
    let mut c = HttpChannelConfig::new(&format!("{base}/v1/sms"));
    c.backoff_base_ms = 100;
    c.backoff_max_ms = 1000;
    c.timeout_ms = 2000;
    c
}

fn sms_only(c: HttpChannelConfig) -> HttpNotifier {
    HttpNotifier::new(Some(c), None).unwrap()
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap()
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_and_one_key() {
    let (base, log) = server(|n| match n {
        0 | 1 => Reply::Status(500, "boom"),
        _ => Reply::Status(200, r#"{"code": 0, "data": {"msgid": "m-77"}}"#),
    })
    .await;
    let mut c = sms_cfg(&base);
    c.body_template =
        r#"{"phone": "{to}", "content": "{text}", "requestId": "{key}", "notify": "{callback}", "n": 1}"#
            .into();
    c.id_path = "data.msgid".into();
    c.auth_header = Some("X-Api-Key".into());
    c.auth_value = Secret("secret-123".into());
    c.callback_url = Some("https://fanzha.example/api/v1/notify/receipts".into());
    c.phone_format = PhoneFormat::National;
    let n = sms_only(c);

    let id = n.send_sms(TO, TEXT, "task-42-sms-1").await.unwrap();
    assert_eq!(id.0, "m-77");

    let reqs = requests(&log);
    assert_eq!(reqs.len(), 3, "two failures, then success");
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.uri, "/v1/sms");
        assert_eq!(r.headers["idempotency-key"], "task-42-sms-1");
        assert_eq!(r.headers["x-api-key"], "secret-123");
        assert_eq!(r.headers["content-type"], "application/json");
        let b = json(&r.body);
        assert_eq!(b["phone"], "13800001234");
        assert_eq!(b["content"], TEXT);
        assert_eq!(b["requestId"], "task-42-sms-1");
        assert_eq!(b["notify"], "https://fanzha.example/api/v1/notify/receipts");
        assert_eq!(b["n"], 1);
    }
    // Exponential backoff with jitter in [0.5, 1] of 100 ms, then 200 ms.
    let gap1 = reqs[1].at - reqs[0].at;
    let gap2 = reqs[2].at - reqs[1].at;
    assert!(gap1 >= Duration::from_millis(50), "{gap1:?}");
    assert!(gap2 >= Duration::from_millis(100), "{gap2:?}");
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let (base, log) = server(|n| match n {
        0 => Reply::Sleep(3000),
        _ => Reply::Status(202, r#"{"id": "m-2"}"#),
    })
    .await;
    let mut c = sms_cfg(&base);
    c.timeout_ms = 300;
    let n = sms_only(c);
    assert_eq!(n.send_sms(TO, TEXT, "k-timeout").await.unwrap().0, "m-2");
    let reqs = requests(&log);
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().all(|r| r.headers["idempotency-key"] == "k-timeout"));
    // The default body carries the key too.
    assert_eq!(json(&reqs[1].body)["key"], "k-timeout");
    assert_eq!(json(&reqs[1].body)["to"], TO);
}

#[tokio::test]
async fn garbage_success_answers_are_errors_and_not_retried() {
    for (answer, want) in [
        ("<html>oops</html>", "not JSON"),
        (r#"{"ok": true}"#, "no message id at id"),
        (r#"{"id": ""}"#, "no message id at id"),
        (r#"{"id": {"nested": 1}}"#, "no message id at id"),
    ] {
        let (base, log) = server(move |_| Reply::Status(200, answer)).await;
        let err = sms_only(sms_cfg(&base))
            .send_sms(TO, TEXT, "k-garbage")
            .await
            .unwrap_err();
        match &err {
            NotifyError::BadResponse {
                channel: Channel::Sms,
                status: 200,
                reason,
                attempts: 1,
            } => {
                assert!(reason.contains(want), "{answer}: {reason}")
            }
            other => panic!("{answer}: {other:?}"),
        }
        assert_eq!(requests(&log).len(), 1, "{answer}");
        assert_eq!(err.key(), "notify.bad_response");
    }
}

#[tokio::test]
async fn a_gateway_saying_no_in_a_200_is_an_error() {
    let (base, _log) =
        server(|_| Reply::Status(200, r#"{"code": 1001, "msg": "余额不足", "msgid": "x"}"#)).await;
    let mut c = sms_cfg(&base);
    c.ok_path = Some("code".into());
    c.ok_value = Some("0".into());
    c.id_path = "msgid".into();
    let err = sms_only(c).send_sms(TO, TEXT, "k-ok").await.unwrap_err();
    assert!(
        matches!(&err, NotifyError::BadResponse { reason, .. } if reason.contains("code is \"1001\"")),
        "{err:?}"
    );

    let (base, _log) = server(|_| Reply::Status(200, r#"{"code": 0, "msgid": 991}"#)).await;
    let mut c = sms_cfg(&base);
    c.ok_path = Some("code".into());
    c.ok_value = Some("0".into());
    c.id_path = "msgid".into();
    assert_eq!(sms_only(c).send_sms(TO, TEXT, "k-ok").await.unwrap().0, "991");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    for status in [400u16, 401, 403, 404, 422] {
        let (base, log) = server(move |_| Reply::Status(status, r#"{"error": "bad"}"#)).await;
        let err = sms_only(sms_cfg(&base))
            .send_sms(TO, TEXT, "k-4xx")
            .await
            .unwrap_err();
        assert_eq!(
            err,
            NotifyError::Rejected {
                channel: Channel::Sms,
                status,
                attempts: 1
            }
        );
        assert_eq!(requests(&log).len(), 1, "{status} must not be retried");
        assert!(!err.is_transient());
    }
}

#[tokio::test]
async fn too_many_requests_is_retried() {
    let (base, log) = server(|n| {
        if n == 0 {
            Reply::Status(429, "")
        } else {
            Reply::Status(200, r#"{"id": "m-9"}"#)
        }
    })
    .await;
    assert_eq!(
        sms_only(sms_cfg(&base))
            .send_sms(TO, TEXT, "k-429")
            .await
            .unwrap()
            .0,
        "m-9"
    );
    assert_eq!(requests(&log).len(), 2);
}

#[tokio::test]
async fn the_final_failure_surfaces() {
    let (base, log) = server(|_| Reply::Status(503, "down")).await;
    let mut c = sms_cfg(&base);
    c.max_retries = 2;
    let err = sms_only(c).send_sms(TO, TEXT, "k-down").await.unwrap_err();
    assert_eq!(
        err,
        NotifyError::GaveUp {
            channel: Channel::Sms,
            attempts: 3,
            last: Failure::Status { status: 503 }
        }
    );
    assert!(err.is_transient());
    assert_eq!(err.attempts(), 3);
    let reqs = requests(&log);
    assert_eq!(reqs.len(), 3);
    assert!(reqs.iter().all(|r| r.headers["idempotency-key"] == "k-down"));
}

#[tokio::test]
async fn an_unreachable_gateway_gives_up_without_leaking_the_request() {
    // A port nobody listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let mut c = HttpChannelConfig::new(&format!("http://{addr}/send?to={{to}}&text={{text}}"));
    c.method = HttpMethod::Get;
    c.body = BodyFormat::None;
    c.max_retries = 1;
    c.backoff_base_ms = 10;
    c.backoff_max_ms = 10;
    let err = sms_only(c).send_sms(TO, TEXT, "k-refused").await.unwrap_err();
    assert!(
        matches!(
            err,
            NotifyError::GaveUp {
                attempts: 2,
                last: Failure::Connect,
                ..
            }
        ),
        "{err:?}"
    );
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("13800001234") && !shown.contains("96110"),
        "{shown}"
    );
}

#[tokio::test]
async fn form_bodies_and_get_urls_are_encoded() {
    let (base, log) = server(|_| Reply::Status(200, r#"{"result": [{"sid": "s-1"}]}"#)).await;
    let mut c = sms_cfg(&base);
    c.body = BodyFormat::Form;
    c.body_template = "mobile={to}&msg={text}&sign=fanzha&rid={key}".into();
    c.id_path = "result.0.sid".into();
    c.headers.insert("X-Tenant".into(), "county-1".into());
    assert_eq!(sms_only(c).send_sms(TO, TEXT, "k-form").await.unwrap().0, "s-1");
    let r = &requests(&log)[0];
    assert_eq!(r.headers["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(r.headers["x-tenant"], "county-1");
    let form: Vec<(String, String)> = form_urlencoded::parse(&r.body).into_owned().collect();
    assert_eq!(
        form,
        vec![
            ("mobile".into(), TO.into()),
            ("msg".into(), TEXT.into()),
            ("sign".into(), "fanzha".into()),
            ("rid".into(), "k-form".into()),
        ]
    );

    // A voice gateway taking GET with the values in the query string.
    let (base, log) = server(|_| Reply::Status(200, r#"{"callId": "c-5"}"#)).await;
    let mut v = HttpChannelConfig::new(&format!(
        "{base}/call?to={{to}}&script={{script_id}}&tts={{text}}&key={{key}}"
    ));
    v.method = HttpMethod::Get;
    v.body = BodyFormat::None;
    v.id_path = "callId".into();
    let n = HttpNotifier::new(None, Some(v)).unwrap();
    let id = n
        .call(
            TO,
            &VoiceContent::ScriptId("warn-brushing".into()),
            "task-42-call-1",
        )
        .await
        .unwrap();
    assert_eq!(id.0, "c-5");
    let r = &requests(&log)[0];
    assert_eq!(r.method, "GET");
    assert!(r.body.is_empty());
    let query = r.uri.split_once('?').unwrap().1;
    let q: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    assert_eq!(
        q,
        vec![
            ("to".into(), TO.into()),
            ("script".into(), "warn-brushing".into()),
            ("tts".into(), String::new()),
            ("key".into(), "task-42-call-1".into()),
        ]
    );
    // No SMS gateway configured here.
    assert_eq!(
        n.send_sms(TO, TEXT, "k").await.unwrap_err(),
        NotifyError::NotConfigured {
            channel: Channel::Sms
        }
    );
}

#[tokio::test]
async fn voice_text_goes_in_the_json_body() {
    let (base, log) = server(|_| Reply::Status(200, r#"{"id": "c-1"}"#)).await;
    let n = HttpNotifier::new(None, Some(sms_cfg(&base))).unwrap();
    let script = "您好，这里是反诈中心。请拨打96110。";
    n.call(TO, &VoiceContent::Text(script.into()), "k-voice")
        .await
        .unwrap();
    let b = json(&requests(&log)[0].body);
    assert_eq!(b["text"], script);
    assert_eq!(b["script_id"], "");
    assert_eq!(b["callback"], "");
}

#[tokio::test]
async fn bad_requests_never_reach_the_gateway() {
    let (base, log) = server(|_| Reply::Status(200, r#"{"id": "x"}"#)).await;
    let n = sms_only(sms_cfg(&base));
    for (to, text, key) in [
        (TO, "", "k"),
        (TO, TEXT, ""),
        (TO, TEXT, "two words"),
        ("138-0000", TEXT, "k"),
    ] {
        assert!(matches!(
            n.send_sms(to, text, key).await,
            Err(NotifyError::Invalid(_))
        ));
    }
    assert!(requests(&log).is_empty());
}

#[tokio::test]
async fn the_log_notifier_is_idempotent_and_masks() {
    let n = LogNotifier::new();
    let a = n.send_sms(TO, TEXT, "task-1-sms-1").await.unwrap();
    let b = n.send_sms(TO, TEXT, "task-1-sms-1").await.unwrap();
    let c = n
        .call(TO, &VoiceContent::ScriptId("s".into()), "task-1-sms-1")
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c, "calls and SMS have their own ids");
    let sent = n.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].to_masked, "138****1234");
    assert_eq!(sent[0].chars, TEXT.chars().count());
    assert!(!format!("{sent:?}").contains("13800001234"));
    assert!(!format!("{sent:?}").contains("刷单"));
}

#[tokio::test]
async fn config_builds_from_serialised_settings() {
    let (base, log) = server(|_| Reply::Status(200, r#"{"id": "m-cfg"}"#)).await;
    let cfg: NotifyConfig = serde_json::from_value(serde_json::json!({
        "mode": "http",
        "sms": { "url": format!("{base}/sms"), "auth_header": "Authorization", "auth_value": "Bearer t0k" },
        "sms_rate_limit": { "max": 2, "window_hours": 12 },
        "receipts": { "id_path": "msgid", "status_path": "stat" }
    }))
    .unwrap();
    assert_eq!(cfg.mode, NotifyMode::Http);
    assert!(!format!("{cfg:?}").contains("t0k"));
    let n = cfg.build().unwrap();
    assert_eq!(n.name(), "http");
    assert_eq!(n.send_sms(TO, TEXT, "k-cfg").await.unwrap().0, "m-cfg");
    assert_eq!(requests(&log)[0].headers["authorization"], "Bearer t0k");
    assert_eq!(cfg.rate_limiter().config().max, 2);
    let bad: Result<NotifyConfig, _> = serde_json::from_value(serde_json::json!({"mode": "carrier-pigeon"}));
    assert!(bad.is_err());
    let bad = NotifyConfig {
        sms_rate_limit: fanzha_app::notify::RateLimitConfig {
            max: 0,
            window_hours: 24,
        },
        ..NotifyConfig::default()
    };
    assert!(matches!(bad.build(), Err(NotifyError::Config(_))));
}
