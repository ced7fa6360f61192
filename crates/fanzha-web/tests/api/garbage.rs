//! Garbage to every route: for every path and method of the OpenAPI document
//! and a spread of hostile inputs (invalid JSON, wrong types, huge strings,
//! invalid UTF-8, negative and overflowing ids, unknown enum values, empty
//! bodies, wrong content types, oversized bodies, bad query strings, bad
//! credentials), as an administrator and anonymously: never a 5xx, and every
//! 4xx is JSON with `error.code` and `error.message`.

use crate::support::{Client, Resp, start};
use reqwest::Method;

const IDS: &[&str] = &[
    "1",
    "-1",
    "0",
    "99999999999999999999",
    "9223372036854775807",
    "abc",
    "%FF%FE",
    "1.5",
];
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"];

fn huge(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

/// A labelled request body with its content type.
type Variant = (&'static str, Option<&'static str>, Option<Vec<u8>>);

fn bodies() -> Vec<Variant> {
    let json = Some("application/json");
    // Under the body limit (the oversized case is separate), far over every field's limit.
    let big = huge('A', 40_000);
    let big_zh = huge('诈', 20_000);
    vec![
        ("no body", None, None),
        ("empty json", json, Some(Vec::new())),
        ("invalid json", json, Some(b"{\"name\": ".to_vec())),
        ("null", json, Some(b"null".to_vec())),
        ("array", json, Some(b"[1, 2, 3]".to_vec())),
        ("string", json, Some(b"\"x\"".to_vec())),
        (
            "wrong types",
            json,
            Some(
                br#"{"name": 5, "username": [], "password": {}, "id_number": 1, "grid_id": "x", "kind": 7,
                    "field": 3, "role": null, "node_id": "one", "unit_type": false, "parent_id": [1], "index": "0",
                    "disabled": "yes", "phones": 13800000000, "expected_version": "v"}"#
                    .to_vec(),
            ),
        ),
        (
            "huge strings",
            json,
            Some(
                serde_json::json!({
                    "name": big, "username": big, "password": big, "id_number": big, "phones": big_zh,
                    "address": big_zh, "tags": big, "contacts": big_zh, "display_name": big,
                    "code": big, "responsible_name": big, "responsible_phone": big,
                    "grid_id": 1, "node_id": 1, "parent_id": 1, "kind": "grid", "role": "admin",
                    "unit_type": "school", "field": "id_number"
                })
                .to_string()
                .into_bytes(),
            ),
        ),
        ("invalid utf-8", json, Some(b"{\"name\": \"\xff\xfe\xfd\", \"username\": \"\xc3\x28\"}".to_vec())),
        (
            "unknown enums",
            json,
            Some(
                br#"{"kind": "planet", "role": "emperor", "field": "password", "unit_type": "spaceship",
                    "name": "x", "username": "x", "password": "x", "node_id": 1, "grid_id": 1, "id_number": "x"}"#
                    .to_vec(),
            ),
        ),
        (
            "bad numbers",
            json,
            Some(
                br#"{"grid_id": -1, "node_id": 99999999999999999999, "parent_id": -9223372036854775808,
                    "field": "phone", "index": -1, "expected_version": 1e400, "name": "x", "id_number": "x",
                    "unit_type": "school", "role": "analyst", "username": "xx"}"#
                    .to_vec(),
            ),
        ),
        ("text/plain", Some("text/plain"), Some(b"{}".to_vec())),
        ("form", Some("application/x-www-form-urlencoded"), Some(b"name=x&_csrf=y".to_vec())),
        ("multipart", Some("multipart/form-data; boundary=zz"), Some(b"--zz\r\ngarbage\r\n--zz--".to_vec())),
        ("xml", Some("application/xml"), Some(b"<a>1</a>".to_vec())),
        ("utf-16 json", Some("application/json; charset=utf-16"), Some(b"\xff\xfe{\x00}\x00".to_vec())),
        ("binary", Some("application/octet-stream"), Some((0u8..=255).cycle().take(4096).collect())),
    ]
}

const BAD_QUERY: &str = "?page=-1&per_page=99999999999999999999&age_min=abc&age_max=-5&node=%FF&format=exe\
    &q=%00%01%02&from=x&to=1e99&unit_type=spaceship&default_grid=-1&tag=%C3%28&actor=&action=%FF";

struct Run {
    failures: Vec<String>,
    requests: usize,
}

impl Run {
    fn check(&mut self, what: &str, method: &str, r: &Result<Resp, String>) -> u16 {
        self.requests += 1;
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                self.failures.push(format!("{what}: {e}"));
                return 0;
            }
        };
        if r.status >= 500 {
            self.failures.push(format!(
                "{what}: status {} body {}",
                r.status,
                r.text().chars().take(200).collect::<String>()
            ));
            return r.status;
        }
        if (400..500).contains(&r.status) && method != "HEAD" {
            let v: Option<serde_json::Value> = serde_json::from_slice(&r.body).ok();
            let ok = v.as_ref().is_some_and(|v| {
                v["error"]["code"].as_str().is_some_and(|c| !c.is_empty())
                    && v["error"]["message"].as_str().is_some_and(|m| !m.is_empty())
            }) && r.ctype.starts_with("application/json");
            if !ok {
                self.failures.push(format!(
                    "{what}: {} is not a JSON error ({}): {}",
                    r.status,
                    r.ctype,
                    r.text().chars().take(200).collect::<String>()
                ));
            }
        }
        r.status
    }
}

async fn send(
    c: &Client,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    ctype: Option<&str>,
    body: Option<Vec<u8>>,
) -> Result<Resp, String> {
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    let mut rb = c.http.request(m, format!("{}{}", c.base, path));
    if let Some(t) = &c.bearer {
        rb = rb.bearer_auth(t);
    }
    if let Some(csrf) = &c.csrf
        && !matches!(method, "GET" | "HEAD" | "OPTIONS")
    {
        rb = rb.header("x-csrf-token", csrf);
    }
    for (k, v) in extra {
        rb = rb.header(*k, *v);
    }
    if let Some(t) = ctype {
        rb = rb.header("content-type", t);
    }
    if let Some(b) = body {
        // The server may answer before reading a large body and then close
        // the connection; do not reuse it.
        if b.len() > 64 * 1024 {
            rb = rb.header("connection", "close");
        }
        rb = rb.body(b);
    }
    // A server that answers (say 401) before reading a large body and then
    // closes may reset the connection while the client still writes; that
    // race is the client's view of a valid answer, so a transport error is
    // retried once (a handler that crashes would fail again).
    let retry = rb.try_clone();
    let r = match rb.send().await {
        Ok(r) => r,
        Err(first) => match retry {
            Some(again) => again
                .send()
                .await
                .map_err(|e| format!("transport error twice: {first}; {e}"))?,
            None => return Err(format!("transport error: {first}")),
        },
    };
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = r
        .bytes()
        .await
        .map_err(|e| format!("transport error reading the body: {e}"))?
        .to_vec();
    Ok(Resp { status, ctype, body })
}

async fn hammer(base: &str, paths: &[String], admin: bool) -> Run {
    let mut run = Run {
        failures: Vec::new(),
        requests: 0,
    };
    let mut c = if admin {
        Client::login(base, "admin").await
    } else {
        Client::anon(base)
    };
    let oversized = vec![b'a'; 1_200_000];
    for path in paths {
        let path = &path.replace("{version}", "{id}");
        let instances: Vec<String> = if path.contains("{id}") {
            IDS.iter().map(|id| path.replace("{id}", id)).collect()
        } else {
            vec![path.clone()]
        };
        for inst in &instances {
            for method in METHODS {
                let with_body = matches!(*method, "POST" | "PUT" | "PATCH");
                let variants = if with_body {
                    bodies()
                } else {
                    bodies().into_iter().take(3).collect()
                };
                for (label, ctype, body) in variants {
                    let r = send(&c, method, inst, &[], ctype, body).await;
                    let status = run.check(
                        &format!(
                            "{} {method} {inst} [{label}]",
                            if admin { "admin" } else { "anon" }
                        ),
                        method,
                        &r,
                    );
                    if admin && status == 401 {
                        // A garbage call may have been a valid logout; sign in again.
                        c = Client::login(base, "admin").await;
                    }
                }
                let q = format!("{inst}{BAD_QUERY}&q={}", huge('9', 400));
                let r = send(&c, method, &q, &[], None, None).await;
                run.check(&format!("{method} {inst} [bad query]"), method, &r);
                if !admin {
                    for auth in [
                        "Bearer fz_not_a_token",
                        "Bearer ",
                        "Basic Zm9vOmJhcg==",
                        "Bearer a b c",
                        "bearer fz_\u{e9}",
                    ] {
                        let r = send(&c, method, inst, &[("authorization", auth)], None, None).await;
                        run.check(&format!("{method} {inst} [authorization {auth:?}]"), method, &r);
                    }
                    let r = send(
                        &c,
                        method,
                        inst,
                        &[("cookie", "fz_session=garbage; fz_lang=xx")],
                        None,
                        None,
                    )
                    .await;
                    run.check(&format!("{method} {inst} [bad session cookie]"), method, &r);
                }
                if with_body && inst == &path.replace("{id}", "1") {
                    // The server may answer and close before the client has sent
                    // everything; a reset connection is then the client's view of it.
                    if let Ok(r) = send(
                        &c,
                        method,
                        inst,
                        &[],
                        Some("application/json"),
                        Some(oversized.clone()),
                    )
                    .await
                    {
                        let status = run.check(&format!("{method} {inst} [oversized]"), method, &Ok(r));
                        if status < 400 {
                            run.failures.push(format!(
                                "{method} {inst}: an oversized body was accepted ({status})"
                            ));
                        }
                    }
                }
                if admin && c.get("/me").await.status == 401 {
                    c = Client::login(base, "admin").await;
                }
            }
        }
    }
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_to_every_route_is_never_a_server_error() {
    let srv = start().await;
    let doc = Client::anon(&srv.base).get("/openapi.json").await.json();
    let mut paths: Vec<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    // Sign-out routes last, so that the admin's session lives through most of the run.
    paths.sort_by_key(|p| (p.starts_with("/auth/logout"), p.clone()));
    assert!(paths.len() >= 20, "the document lists only {} paths", paths.len());

    let anon = hammer(&srv.base, &paths, false).await;
    let admin = hammer(&srv.base, &paths, true).await;
    let failures: Vec<&String> = anon.failures.iter().chain(admin.failures.iter()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed:\n{}",
        failures.len(),
        anon.requests + admin.requests,
        failures
            .iter()
            .take(40)
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The store survived it: the audit chain is still intact.
    let v = srv.app.verify_audit().await.unwrap();
    assert!(v.ok, "{:?}", v.problem);
}
