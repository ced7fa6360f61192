//! The OpenAPI document against the router: every documented method of every
//! documented path is served (not 405, not the unknown-page 404), every other
//! method of those paths is 405, and the document lists exactly the endpoints
//! the API is meant to have.

use crate::support::{Client, assert_error_json, start};
use reqwest::Method;
use std::collections::BTreeSet;

/// The endpoints of /api/v1, written out independently of the code.
const EXPECTED: &[(&str, &str)] = &[
    ("post", "/auth/login"),
    ("post", "/auth/logout"),
    ("post", "/auth/logout-all"),
    ("get", "/me"),
    ("get", "/tokens"),
    ("post", "/tokens"),
    ("delete", "/tokens/{id}"),
    ("get", "/org/nodes"),
    ("post", "/org/nodes"),
    ("patch", "/org/nodes/{id}"),
    ("delete", "/org/nodes/{id}"),
    ("get", "/org/units"),
    ("post", "/org/units"),
    ("get", "/org/units/{id}"),
    ("put", "/org/units/{id}"),
    ("delete", "/org/units/{id}"),
    ("get", "/residents"),
    ("post", "/residents"),
    ("get", "/residents/{id}"),
    ("put", "/residents/{id}"),
    ("delete", "/residents/{id}"),
    ("post", "/residents/{id}/reveal"),
    ("post", "/residents/import"),
    ("get", "/residents/export"),
    ("get", "/users"),
    ("post", "/users"),
    ("get", "/users/{id}"),
    ("put", "/users/{id}"),
    ("get", "/audit"),
    ("get", "/audit/verify"),
    ("get", "/stats/home"),
    ("post", "/events"),
    ("get", "/leads"),
    ("get", "/leads/{id}"),
    ("post", "/leads/{id}/reveal"),
    ("post", "/leads/import"),
    ("get", "/rules"),
    ("put", "/rules"),
    ("get", "/rules/{version}"),
    ("post", "/rules/{version}/activate"),
    ("post", "/rules/check"),
    ("post", "/backtest"),
    ("get", "/openapi.json"),
    ("get", "/lookup"),
    ("post", "/lookup"),
    ("get", "/intel/overview"),
    ("get", "/intel/indicators"),
    ("post", "/intel/indicators"),
    ("post", "/intel/indicators/bulk"),
    ("get", "/intel/indicators/{id}"),
    ("put", "/intel/indicators/{id}"),
    ("delete", "/intel/indicators/{id}"),
    ("get", "/intel/allowlist"),
    ("post", "/intel/allowlist"),
    ("delete", "/intel/allowlist/{id}"),
    ("post", "/intel/import"),
    ("get", "/intel/imports"),
    ("get", "/intel/imports/{id}"),
    ("get", "/intel/export"),
    ("get", "/intel/reports"),
    ("get", "/intel/reports/{id}"),
    ("post", "/intel/reports/{id}/review"),
    ("post", "/intel/reports/{id}/reveal"),
    ("get", "/intel/disposals"),
    ("post", "/intel/disposals"),
    ("get", "/intel/disposals/{id}"),
    ("put", "/intel/disposals/{id}"),
    ("get", "/public/check"),
    ("post", "/public/reports"),
    ("get", "/public/reports/status"),
    // detection
    // dissuasion
    ("get", "/tasks"),
    ("get", "/tasks/metrics"),
    ("get", "/tasks/feedback-export"),
    ("get", "/tasks/{id}"),
    ("post", "/tasks/{id}/accept"),
    ("post", "/tasks/{id}/attempts"),
    ("post", "/tasks/{id}/outcome"),
    ("post", "/tasks/{id}/escalate"),
    ("post", "/tasks/{id}/reveal"),
    ("get", "/dispatch/policy"),
    ("put", "/dispatch/policy"),
    ("get", "/dispatch/templates"),
    ("put", "/dispatch/templates"),
    ("post", "/notify/receipts"),
    ("post", "/appeals"),
    ("get", "/appeals/status"),
    ("get", "/appeals"),
    ("get", "/appeals/{id}"),
    ("post", "/appeals/{id}/decision"),
];

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

fn method(m: &str) -> Method {
    Method::from_bytes(m.to_ascii_uppercase().as_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_router() {
    let srv = start().await;
    let anon = Client::anon(&srv.base);
    let r = anon.get("/openapi.json").await;
    r.expect(200);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    for scheme in ["bearerAuth", "cookieAuth", "csrfHeader"] {
        assert!(
            doc["components"]["securitySchemes"][scheme].is_object(),
            "missing security scheme {scheme}"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (m, op) in item.as_object().unwrap() {
            documented.insert((m.clone(), path.clone()));
            // Every $ref points at a schema that exists.
            let text = op.to_string();
            for part in text.split("#/components/schemas/").skip(1) {
                let name: String = part.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
                assert!(
                    schemas.contains_key(&name),
                    "{m} {path} refers to missing schema {name}"
                );
            }
            // Path parameters are declared.
            for seg in path.split('/').filter(|s| s.starts_with('{')) {
                let name = seg.trim_matches(|c| c == '{' || c == '}');
                assert!(
                    op["parameters"]
                        .as_array()
                        .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path")),
                    "{m} {path} does not declare path parameter {name}"
                );
            }
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{m} {path} has no responses"
            );
        }
    }
    let expected: BTreeSet<(String, String)> = EXPECTED
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, expected,
        "the document and the intended endpoint list differ"
    );

    // Probe the live router with every method of every documented path.
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        let concrete = path.replace("{id}", "1").replace("{version}", "1");
        for m in METHODS {
            let r = anon.call(method(m), &concrete, None).await;
            let what = format!("{m} {concrete}");
            if documented.contains(&(m.to_string(), path.clone())) {
                // Anonymous calls stop at authentication (401) or input checks, never at routing.
                assert!(
                    ![404, 405].contains(&r.status),
                    "{what}: documented but not routed ({})",
                    r.status
                );
            } else {
                assert_eq!(r.status, 405, "{what}: not documented but answered {}", r.status);
                assert_error_json(&r, &what);
            }
        }
    }
    // An unknown path under the API is a JSON 404.
    let r = anon.get("/no/such/endpoint").await;
    r.expect(404);
    assert_error_json(&r, "unknown path");
}
