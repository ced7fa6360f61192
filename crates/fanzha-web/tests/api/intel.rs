//! The intelligence base over the API: lookups (single, batch, NDJSON, the
//! batch limit), verdicts, the permission matrix of the intel routes, the
//! public check and report, import uploads and export downloads.

use crate::support::{Client, Server, assert_error_json, start};
use reqwest::Method;
use serde_json::{Value, json};

/// Records confirmed indicators as the analyst and rebuilds the index.
async fn seed(srv: &Server, analyst: &Client) -> (i64, i64) {
    let d = analyst
        .post(
            "/intel/indicators",
            json!({"value": "scam-shop-test.top", "fraud_type": "brushing_rebate", "confidence": 90,
                   "status": "confirmed", "notes": "internal-note-7731", "source": "feed:apitest"}),
        )
        .await;
    d.expect(201);
    let p = analyst
        .post(
            "/intel/indicators",
            json!({"value": "17100009999", "kind": "phone", "fraud_type": "impersonate_authority",
                   "confidence": 85, "status": "confirmed"}),
        )
        .await;
    p.expect(201);
    srv.app.sync_intel().await.unwrap();
    (d.json()["id"].as_i64().unwrap(), p.json()["id"].as_i64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_single_batch_and_ndjson() {
    let srv = start().await;
    let analyst = Client::login(&srv.base, "analyst").await;
    let (domain_id, phone_id) = seed(&srv, &analyst).await;

    // A subdomain of a listed domain is flagged, with kind, fraud type and confidence.
    let r = analyst.get("/lookup?q=www.login.scam-shop-test.top").await;
    r.expect(200);
    let v = r.json();
    assert_eq!(v["verdict"], "flagged");
    assert_eq!(v["kind"], "domain");
    assert_eq!(v["matches"][0]["indicator_id"], domain_id);
    assert_eq!(v["matches"][0]["match"], "domain");
    assert_eq!(v["matches"][0]["fraud_type"], "brushing_rebate");
    assert_eq!(v["matches"][0]["confidence"], 90);
    // A URL on it too; the phone in another spelling; the allowlist; a clean value.
    let r = analyst
        .get("/lookup?q=https%3A%2F%2Fscam-shop-test.top%2Fpay%3Fa%3D1")
        .await;
    assert_eq!(r.json()["verdict"], "flagged");
    let r = analyst.get("/lookup?q=%2B86%20171%200000%209999").await;
    assert_eq!(r.json()["verdict"], "flagged");
    assert_eq!(r.json()["matches"][0]["indicator_id"], phone_id);
    let r = analyst.get("/lookup?q=95588").await;
    r.expect(200);
    assert_eq!(r.json()["verdict"], "allowlisted");
    assert!(r.json()["matches"].as_array().unwrap().is_empty());
    let r = analyst.get("/lookup?q=example.org").await;
    assert_eq!(r.json()["verdict"], "clean");
    // Bad input is a 4xx with a message.
    for bad in [
        "/lookup",
        "/lookup?q=",
        "/lookup?q=%3F%3F%3F",
        "/lookup?q=a.com&kind=planet",
    ] {
        let r = analyst.get(bad).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.text());
        assert_error_json(&r, bad);
    }

    // Batch as a JSON array.
    let body = json!(["scam-shop-test.top", "17100009999", "110", "example.org", "???"]);
    let r = analyst.post("/lookup", body).await;
    r.expect(200);
    let v = r.json();
    let verdicts: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        verdicts,
        ["flagged", "flagged", "allowlisted", "clean", "invalid"]
    );
    assert_eq!(v["flagged"], 2);
    assert!(v["results"][4]["error"].as_str().is_some_and(|e| !e.is_empty()));

    // Batch as NDJSON: strings, objects and plain lines.
    let nd = "\"scam-shop-test.top\"\n{\"value\": \"example.org\"}\n\nsub.scam-shop-test.top\n";
    let r = analyst
        .raw(
            Method::POST,
            "/lookup",
            Some("application/x-ndjson"),
            Some(nd.as_bytes().to_vec()),
        )
        .await;
    r.expect(200);
    let v = r.json();
    assert_eq!(v["count"], 3);
    assert_eq!(v["flagged"], 2);
    assert_eq!(v["clean"], 1);

    // 10,000 values are taken; 10,001 are refused with 422.
    let tenk: Vec<String> = (0..10_000).map(|i| format!("h{i}.scam-shop-test.top")).collect();
    let r = analyst.post("/lookup", json!(tenk)).await;
    r.expect(200);
    assert_eq!(r.json()["flagged"], 10_000);
    let over: Vec<String> = (0..10_001).map(|i| format!("h{i}.example.org")).collect();
    let r = analyst.post("/lookup", json!(over)).await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert_error_json(&r, "10,001 values");
    let over_nd: String = (0..10_001).map(|i| format!("h{i}.example.org\n")).collect();
    let r = analyst
        .raw(
            Method::POST,
            "/lookup",
            Some("application/x-ndjson"),
            Some(over_nd.into_bytes()),
        )
        .await;
    assert_eq!(r.status, 422);

    // A token client: single lookups work and are audited as a tally, not one entry each.
    let t = analyst.post("/tokens", json!({"name": "bench"})).await;
    t.expect(201);
    let bot = Client::bearer(&srv.base, t.json()["token"].as_str().unwrap());
    for _ in 0..5 {
        let r = bot.get("/lookup?q=scam-shop-test.top").await;
        r.expect(200);
        assert_eq!(r.json()["verdict"], "flagged");
    }
    assert_eq!(srv.app.flush_lookup_tally().await.unwrap(), 1);
    let admin = Client::login(&srv.base, "admin").await;
    let log = admin.get("/audit?action=intel.lookup&per_page=500").await.json();
    let tally: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["detail"].as_str().unwrap_or("").starts_with("via=token"))
        .collect();
    assert_eq!(tally.len(), 1, "{log}");
    assert!(
        tally[0]["detail"]
            .as_str()
            .unwrap()
            .contains("lookups=5 flagged=5")
    );
    // A revoked token stops working at once, cache or not.
    let id = t.json()["id"].as_i64().unwrap();
    analyst.delete(&format!("/tokens/{id}")).await.expect(204);
    bot.get("/lookup?q=scam-shop-test.top").await.expect(401);
}

/// Who may do what with intel, per demo role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intel_permission_matrix() {
    let srv = start().await;
    let analyst = Client::login(&srv.base, "analyst").await;
    let (domain_id, _) = seed(&srv, &analyst).await;
    let roles = [
        "admin", "analyst", "leader", "officer", "liaison", "cadre", "grid",
    ];
    // Expected status per role, in the order above.
    let cases: Vec<(&str, [u16; 7])> = vec![
        ("view list", [200, 200, 200, 200, 403, 403, 403]),
        ("view detail", [200, 200, 200, 200, 403, 403, 403]),
        ("lookup", [200, 200, 200, 200, 403, 200, 200]),
        ("create", [403, 201, 403, 403, 403, 403, 403]),
        ("bulk", [403, 200, 403, 403, 403, 403, 403]),
        ("import", [403, 200, 403, 403, 403, 403, 403]),
        ("export", [403, 200, 200, 403, 403, 403, 403]),
        ("allowlist add", [201, 403, 403, 403, 403, 403, 403]),
        ("reports", [403, 200, 403, 403, 403, 403, 403]),
        ("disposal create", [403, 201, 403, 403, 403, 403, 403]),
    ];
    let mut failures = Vec::new();
    for (i, role) in roles.iter().enumerate() {
        let c = Client::login(&srv.base, role).await;
        for (case, expected) in &cases {
            let r = match *case {
                "view list" => c.get("/intel/indicators?kind=domain").await,
                "view detail" => c.get(&format!("/intel/indicators/{domain_id}")).await,
                "lookup" => c.get("/lookup?q=scam-shop-test.top").await,
                "create" => {
                    c.post(
                        "/intel/indicators",
                        json!({"value": format!("perm-{role}.example.top")}),
                    )
                    .await
                }
                "bulk" => {
                    c.post(
                        "/intel/indicators/bulk",
                        json!({"ids": [domain_id], "action": "extend", "days": 30}),
                    )
                    .await
                }
                "import" => {
                    c.raw(
                        Method::POST,
                        "/intel/import?format=list&source=perm",
                        Some("text/plain"),
                        Some(format!("imp-{role}.example.top\n").into_bytes()),
                    )
                    .await
                }
                "export" => c.get("/intel/export?format=domains").await,
                "allowlist add" => {
                    c.post(
                        "/intel/allowlist",
                        json!({"value": format!("allow-{role}.example.cn"), "note": "test"}),
                    )
                    .await
                }
                "reports" => c.get("/intel/reports").await,
                "disposal create" => {
                    c.post(
                        "/intel/disposals",
                        json!({"indicator_ids": [domain_id], "target": "registrar", "target_name": "某注册商"}),
                    )
                    .await
                }
                _ => unreachable!(),
            };
            if r.status != expected[i] {
                failures.push(format!(
                    "{role} {case}: expected {}, got {} {}",
                    expected[i],
                    r.status,
                    r.text().chars().take(160).collect::<String>()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Officers and leaders read intel without notes being hidden from them;
    // grid workers get verdicts with no sources or notes.
    let grid = Client::login(&srv.base, "grid").await;
    let v = grid.get("/lookup?q=scam-shop-test.top").await.json();
    assert_eq!(v["verdict"], "flagged");
    assert!(v["matches"][0].get("source").is_none(), "{v}");
    assert!(!v.to_string().contains("internal-note-7731"));
    let officer = Client::login(&srv.base, "officer").await;
    let v = officer.get("/lookup?q=scam-shop-test.top").await.json();
    assert_eq!(v["matches"][0]["source"], "feed:apitest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_check_and_report() {
    let srv = start().await;
    let analyst = Client::login(&srv.base, "analyst").await;
    let (domain_id, _) = seed(&srv, &analyst).await;
    let anon = Client::anon(&srv.base);

    // The public check needs no login and shows only verdict and fraud types.
    let r = anon.get("/public/check?q=pay.scam-shop-test.top").await;
    r.expect(200);
    let v = r.json();
    assert_eq!(v["verdict"], "flagged");
    assert_eq!(v["fraud_types"], json!(["brushing_rebate"]));
    let text = r.text();
    for secret in [
        "internal-note-7731",
        "apitest",
        "source",
        "notes",
        "confidence",
        "indicator_id",
    ] {
        assert!(!text.contains(secret), "public answer leaks {secret}: {text}");
    }
    assert_eq!(
        anon.get("/public/check?q=95588").await.json()["verdict"],
        "allowlisted"
    );
    assert_eq!(
        anon.get("/public/check?q=example.org").await.json()["verdict"],
        "clean"
    );
    // Each flagged public check is a sighting.
    srv.app.flush_sightings().await.unwrap();
    let before = analyst
        .get(&format!("/intel/indicators/{domain_id}"))
        .await
        .json()["indicator"]["sightings"]
        .as_i64()
        .unwrap();
    anon.get("/public/check?q=scam-shop-test.top").await.expect(200);
    srv.app.flush_sightings().await.unwrap();
    let after = analyst
        .get(&format!("/intel/indicators/{domain_id}"))
        .await
        .json()["indicator"]["sightings"]
        .as_i64()
        .unwrap();
    assert_eq!(after, before + 1);

    // A report: stored with a reference, creating a pending indicator; a
    // script in it is only data.
    let r = anon
        .post(
            "/public/reports",
            json!({"value": "https://fake-bank-test.top/login", "fraud_type": "fake_loan",
                   "description": "<script>alert(1)</script> 他们让我转账", "contact": "13912345678"}),
        )
        .await;
    r.expect(201);
    let reference = r.json()["reference"].as_str().unwrap().to_string();
    assert!(reference.starts_with("JB"));
    let st = anon
        .get(&format!("/public/reports/status?reference={reference}"))
        .await;
    st.expect(200);
    assert_eq!(st.json()["status"], "new");
    let list = analyst.get("/intel/reports?status=new").await.json();
    let item = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["reference"] == reference.as_str())
        .unwrap()
        .clone();
    let masked = item["contact_masked"].as_str().unwrap();
    assert!(
        masked.ends_with("5678") && !masked.contains("13912345678"),
        "{masked}"
    );
    let ind = analyst
        .get(&format!("/intel/indicators/{}", item["indicator_id"]))
        .await
        .json();
    assert_eq!(ind["indicator"]["status"], "pending");
    assert_eq!(ind["indicator"]["source"], "public_report");
    // Too long a description is refused; so is a fourth report in a row (429).
    let long = "诈".repeat(2_001);
    let r = anon
        .post(
            "/public/reports",
            json!({"value": "13800001111", "description": long}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    let mut limited = None;
    for i in 0..5 {
        let r = anon
            .post(
                "/public/reports",
                json!({"value": format!("1380000{:04}", 2000 + i), "description": "x"}),
            )
            .await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        r.expect(201);
    }
    let r = limited.expect("the report rate limit answers 429");
    assert_error_json(&r, "rate limited");
    assert_eq!(r.json()["error"]["code"], "rate_limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_upload_and_export_download() {
    let srv = start().await;
    let analyst = Client::login(&srv.base, "analyst").await;
    let list =
        "# test list\nimport-one.top\nimport-two.top\nimport-one.top\nwww.gov.cn\nnot a value at all\n\n";
    let r = analyst
        .raw(
            Method::POST,
            "/intel/import?format=list&source=apitest&fraud_type=%E5%88%B7%E5%8D%95%E8%BF%94%E5%88%A9",
            Some("text/plain"),
            Some(list.as_bytes().to_vec()),
        )
        .await;
    r.expect(200);
    let v = r.json();
    assert_eq!(v["added"], 2, "{v}");
    assert_eq!(v["duplicate_lines"], 1);
    assert_eq!(v["allowlisted"][0]["value"], "www.gov.cn");
    assert_eq!(v["rejected"][0]["line"], 6);
    assert!(v["rejected"][0]["reason"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(v["skipped_lines"]["comment"], 1);
    // The same file again changes nothing.
    let again = analyst
        .raw(
            Method::POST,
            "/intel/import?format=list&source=apitest",
            Some("text/plain"),
            Some(list.as_bytes().to_vec()),
        )
        .await;
    assert_eq!(again.json()["added"], 0);
    // Multipart works too, with the options as parts.
    let boundary = "xyzzy-boundary";
    let mut body = Vec::new();
    for (k, val) in [("format", "hosts"), ("source", "apitest-hosts")] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{val}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"block.hosts\"\r\n\r\n0.0.0.0 hosts-blocked.top\r\n127.0.0.1 localhost\r\n\r\n--{boundary}--\r\n")
            .as_bytes(),
    );
    let r = analyst
        .raw(
            Method::POST,
            "/intel/import",
            Some(&format!("multipart/form-data; boundary={boundary}")),
            Some(body),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["added"], 1, "{}", r.text());
    assert_eq!(r.json()["format"], "hosts");
    let jobs = analyst.get("/intel/imports").await.json();
    assert_eq!(jobs["total"], 3);
    let job = analyst
        .get(&format!("/intel/imports/{}", v["job_id"]))
        .await
        .json();
    assert_eq!(job["report"]["added"], 2);
    // Bad options are 422.
    let r = analyst
        .raw(
            Method::POST,
            "/intel/import?format=exe",
            Some("text/plain"),
            Some(b"a.top".to_vec()),
        )
        .await;
    assert_eq!(r.status, 422);

    // Export: RPZ with the domain and its wildcard; CSV; bad format 422.
    srv.app.sync_intel().await.unwrap();
    let r = analyst.get("/intel/export?format=rpz").await;
    r.expect(200);
    let zone = r.text();
    assert!(zone.contains("SOA"), "{zone}");
    let zone_lines: Vec<&str> = zone.lines().collect();
    for needle in [
        "import-one.top CNAME .",
        "*.import-one.top CNAME .",
        "hosts-blocked.top CNAME .",
        "*.hosts-blocked.top CNAME .",
    ] {
        assert!(
            zone_lines.iter().any(|l| l.starts_with(needle)),
            "{needle} not in zone:\n{zone}"
        );
    }
    assert!(!zone.contains("gov.cn"));
    let r = analyst.get("/intel/export?format=domains&kind=domain").await;
    let lines: Vec<&str> = std::str::from_utf8(&r.body)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert!(lines.contains(&"import-two.top"), "{lines:?}");
    let r = analyst.get("/intel/export?format=csv&status=confirmed").await;
    r.expect(200);
    assert!(r.ctype.starts_with("text/csv"));
    assert!(r.text().contains("import-two.top"));
    let r = analyst.get("/intel/export?format=zip").await;
    assert_eq!(r.status, 422);
    let r = analyst.get("/intel/export?format=rpz&policy=redirect").await;
    assert_eq!(r.status, 422);
}
