//! The intelligence base through the pages: which roles reach which page,
//! the list's bulk actions, the analyst lookup, import with its report,
//! export downloads, the allowlist, and the public check and report pages
//! (no login, escaping, limits, sightings).

use super::support::*;
use fanzha_app::intel::service::IndicatorForm;
use fanzha_app::intel::{IndicatorStatus, ReportStatus};
use fanzha_core::FraudType;

/// A confirmed domain indicator with an internal note, index rebuilt.
async fn seed(s: &Server) -> i64 {
    let cli = s.app.cli_intel_actor();
    let f = IndicatorForm {
        value: "page-scam-test.top".into(),
        fraud_type: Some(FraudType::FakeInvestment),
        confidence: Some(88),
        status: Some(IndicatorStatus::Confirmed),
        source: Some("feed:pagetest".into()),
        notes: "secret-analyst-note-4411".into(),
        ..Default::default()
    };
    let i = s.app.create_indicator(&cli, &f).await.unwrap();
    s.app.sync_intel().await.unwrap();
    i.id
}

/// A form post: path, fields and the expected status.
type Post = (&'static str, Vec<(&'static str, String)>, u16);

const ROLES: [&str; 7] = [
    "admin", "analyst", "leader", "officer", "liaison", "cadre", "grid",
];

#[tokio::test]
async fn intel_pages_permission_matrix() {
    let s = start().await;
    let id = seed(&s).await;
    // Expected status per role (admin, analyst, leader, officer, liaison, cadre, grid).
    let gets: Vec<(String, [u16; 7])> = vec![
        // Lookup-only roles are sent from the list to the lookup page.
        ("/intel".into(), [200, 200, 200, 200, 403, 303, 303]),
        (format!("/intel/{id}"), [200, 200, 200, 200, 403, 403, 403]),
        (
            "/intel/lookup?q=page-scam-test.top".into(),
            [200, 200, 200, 200, 403, 200, 200],
        ),
        ("/intel/new".into(), [403, 200, 403, 403, 403, 403, 403]),
        (format!("/intel/{id}/edit"), [403, 200, 403, 403, 403, 403, 403]),
        ("/intel/import".into(), [403, 200, 403, 403, 403, 403, 403]),
        ("/intel/export".into(), [403, 200, 200, 403, 403, 403, 403]),
        (
            "/intel/export/download?format=domains".into(),
            [403, 200, 200, 403, 403, 403, 403],
        ),
        ("/intel/allowlist".into(), [200, 200, 200, 200, 403, 403, 403]),
        ("/intel/reports".into(), [403, 200, 403, 403, 403, 403, 403]),
        ("/intel/disposals".into(), [200, 200, 200, 200, 403, 403, 403]),
        ("/intel/disposals/new".into(), [403, 200, 403, 403, 403, 403, 403]),
    ];
    let mut failures = Vec::new();
    for (i, role) in ROLES.iter().enumerate() {
        let b = Browser::login(&s.base, role).await;
        for (path, expected) in &gets {
            let r = b.get(path).await;
            if r.text().contains("系统内部错误") {
                failures.push(format!("{role} GET {path}: the page failed to render"));
            }
            if r.status != expected[i] {
                failures.push(format!(
                    "{role} GET {path}: expected {}, got {}",
                    expected[i], r.status
                ));
            }
        }
        let posts: Vec<Post> = vec![
            (
                "/intel/new",
                vec![("value", format!("pg-{role}.example.top"))],
                if *role == "analyst" { 303 } else { 403 },
            ),
            (
                "/intel/allowlist",
                vec![
                    ("value", format!("allow-{role}.example.cn")),
                    ("note", "t".into()),
                ],
                if *role == "admin" { 303 } else { 403 },
            ),
            (
                "/intel/bulk",
                vec![
                    ("id", id.to_string()),
                    ("action", "extend".into()),
                    ("days", "10".into()),
                ],
                if *role == "analyst" { 303 } else { 403 },
            ),
        ];
        for (path, pairs, expected) in posts {
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = b.post(path, &pairs).await;
            if r.status != expected {
                failures.push(format!(
                    "{role} POST {path}: expected {expected}, got {} {:?}",
                    r.status,
                    r.error_text()
                ));
            }
        }
        // The navigation shows the intel base only to roles that may use it.
        let home = b.get("/").await.text();
        let has_intel = home.contains("href=\"/intel\"");
        let has_lookup = home.contains("href=\"/intel/lookup\"");
        let (want_intel, want_lookup) = match *role {
            "liaison" => (false, false),
            "cadre" | "grid" => (false, true),
            _ => (true, true),
        };
        if (has_intel, has_lookup) != (want_intel, want_lookup) {
            failures.push(format!(
                "{role} nav: intel {has_intel} lookup {has_lookup}, expected {want_intel} {want_lookup}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // A grid worker's lookup shows the verdict but no source or notes.
    let grid = Browser::login(&s.base, "grid").await;
    let r = grid.get("/intel/lookup?q=www.page-scam-test.top").await;
    r.expect(200)
        .contains("verdict-flagged")
        .lacks("pagetest")
        .lacks("secret-analyst-note-4411");
}

#[tokio::test]
async fn list_bulk_detail_and_forms() {
    let s = start().await;
    let id = seed(&s).await;
    let b = Browser::login(&s.base, "analyst").await;
    // Create through the form; it shows on its detail page and in the filtered list.
    let r = b
        .post(
            "/intel/new",
            &[
                ("value", "13700001234"),
                ("fraud_type", "fake_loan"),
                ("confidence", "75"),
                ("tags", "测试、电话"),
            ],
        )
        .await;
    r.expect(303);
    let new_id: i64 = r
        .location
        .trim_start_matches("/intel/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    b.get(&format!("/intel/{new_id}"))
        .await
        .expect(200)
        .contains("+8613700001234");
    let list = b.get("/intel?kind=phone&status=pending").await;
    list.expect(200);
    assert_eq!(ids_after(&list.text(), "href=\"/intel/"), vec![new_id]);
    // A bad filter is reported on the page, not a crash.
    let bad = b.get("/intel?min_confidence=abc").await;
    assert_eq!(bad.status, 422);
    // An allowlisted value is refused with the reason.
    let r = b.post("/intel/new", &[("value", "95588")]).await;
    assert_eq!(r.status, 422);
    assert!(r.error_text().unwrap().contains("白名单"), "{:?}", r.error_text());
    // Bulk: confirm both, then revoke needs a reason.
    let r = b
        .post(
            "/intel/bulk",
            &[
                ("id", &new_id.to_string()),
                ("id", &id.to_string()),
                ("action", "confirm"),
                ("back", "/intel?kind=phone&"),
            ],
        )
        .await;
    r.expect(303);
    assert!(r.location.starts_with("/intel?kind=phone&"), "{}", r.location);
    let r = b
        .post(
            "/intel/bulk",
            &[("id", &new_id.to_string()), ("action", "revoke")],
        )
        .await;
    assert_eq!(r.status, 422);
    let r = b
        .post(
            "/intel/bulk",
            &[
                ("id", &new_id.to_string()),
                ("action", "revoke"),
                ("reason", "误报"),
            ],
        )
        .await;
    r.expect(303);
    let v = s
        .app
        .indicator_detail(&s.app.cli_intel_actor(), new_id)
        .await
        .unwrap();
    assert_eq!(v.indicator.status, IndicatorStatus::Revoked);
    // Edit: the form shows current values and saves.
    b.get(&format!("/intel/{id}/edit"))
        .await
        .expect(200)
        .contains("secret-analyst-note-4411");
    let r = b
        .post(
            &format!("/intel/{id}/edit"),
            &[
                ("fraud_type", "fake_investment"),
                ("confidence", "95"),
                ("valid_from", "2026-11-01"),
                ("valid_until", "2027-01-31"),
                ("notes", "更新"),
            ],
        )
        .await;
    r.expect(303);
    let d = b.get(&format!("/intel/{id}")).await;
    d.expect(200)
        .contains("95")
        .contains("2027-01-31")
        .contains("intel.indicator.update");
    // Paste-many lookup.
    let r = b
        .post(
            "/intel/lookup",
            &[("values", "page-scam-test.top\n110\nexample.org\n???")],
        )
        .await;
    r.expect(200)
        .contains("id=\"lookup-summary\"")
        .contains("id=\"sum-flagged\">1<");
    // Disposal record: create, then done marks the confirmed indicator disposed.
    let r = b
        .post(
            "/intel/disposals/new",
            &[
                ("indicator_ids", &id.to_string()),
                ("target", "registrar"),
                ("target_name", "某域名注册商"),
                ("request_note", "请停止解析"),
            ],
        )
        .await;
    r.expect(303);
    let did: i64 = r
        .location
        .trim_start_matches("/intel/disposals/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    b.get(&format!("/intel/disposals/{did}"))
        .await
        .expect(200)
        .contains("某域名注册商")
        .contains("page-scam-test.top");
    let r = b
        .post(
            &format!("/intel/disposals/{did}"),
            &[("status", "done"), ("result", "已停止解析")],
        )
        .await;
    r.expect(303);
    let v = s
        .app
        .indicator_detail(&s.app.cli_intel_actor(), id)
        .await
        .unwrap();
    assert_eq!(v.indicator.status, IndicatorStatus::Disposed);
    b.get(&format!("/intel/{id}"))
        .await
        .contains(&format!("/intel/disposals/{did}"));
}

#[tokio::test]
async fn import_page_report_and_export_download() {
    let s = start().await;
    let b = Browser::login(&s.base, "analyst").await;
    let file = "||adblock-one.top^\n||adblock-two.top^$third-party\n@@||good-site.cn^\n/ads[0-9]+/\n! comment\n||www.gov.cn^\n";
    let r = b
        .upload(
            "/intel/import",
            "filters.txt",
            file.as_bytes(),
            &[
                ("format", "adblock"),
                ("source", "pagetest"),
                ("fraud_type", "fake_shopping"),
            ],
        )
        .await;
    r.expect(200);
    let t = r.text();
    assert!(
        t.contains("id=\"import-added\">2<"),
        "{}",
        &t[t.find("import-report").unwrap_or(0)..]
            .chars()
            .take(1500)
            .collect::<String>()
    );
    r.contains("id=\"import-allowlisted\">1<")
        .contains("id=\"import-rejected\">1<")
        .contains("www.gov.cn")
        .contains("不支持正则表达式规则");
    // The recorded job shows the same report.
    let page = b.get("/intel/import").await;
    let job = ids_after(&page.text(), "href=\"/intel/imports/")[0];
    b.get(&format!("/intel/imports/{job}"))
        .await
        .expect(200)
        .contains("id=\"import-added\">2<");
    // No file is a form error.
    let r = b.upload("/intel/import", "empty.txt", b"", &[]).await;
    assert_eq!(r.status, 422);
    // Without the CSRF token the upload is refused.
    let (ctype, body) = multipart("x.txt", b"a.top\n", &[]);
    let r = b.send("POST", "/intel/import", Some((&ctype, body))).await;
    assert_eq!(r.status, 403);

    // Downloads: RPZ has the domain and its wildcard; XLSX is a zip.
    s.app.sync_intel().await.unwrap();
    let r = b.get("/intel/export/download?format=rpz&policy=nxdomain").await;
    r.expect(200);
    assert!(r.disposition.contains("attachment"), "{}", r.disposition);
    let zone = r.text();
    assert!(
        zone.lines().any(|l| l.starts_with("adblock-one.top CNAME .")),
        "{zone}"
    );
    assert!(
        zone.lines().any(|l| l.starts_with("*.adblock-one.top CNAME .")),
        "{zone}"
    );
    let r = b.get("/intel/export/download?format=xlsx&status=confirmed").await;
    r.expect(200);
    assert!(r.body.starts_with(b"PK"));
    let r = b.get("/intel/export/download?format=stix").await;
    r.expect(200).contains("bundle").contains("adblock-one.top");
    let r = b.get("/intel/export/download?format=nope").await;
    assert_eq!(r.status, 422);
}

#[tokio::test]
async fn public_check_and_report_pages() {
    let s = start().await;
    let id = seed(&s).await;
    let anon = Browser::anon(&s.base);
    // The login page links both public pages.
    anon.get("/login")
        .await
        .expect(200)
        .contains("href=\"/check\"")
        .contains("href=\"/report\"");
    // No login needed; verdict and fraud type only.
    let r = anon.get("/check?q=https%3A%2F%2Fm.page-scam-test.top%2Fx").await;
    r.expect(200)
        .contains("id=\"check-verdict\"")
        .contains("发现涉诈风险")
        .contains("虚假网络投资理财")
        .lacks("pagetest")
        .lacks("secret-analyst-note-4411");
    anon.get("/check?q=110").await.expect(200).contains("白名单");
    anon.get("/check?q=example.org")
        .await
        .expect(200)
        .contains("暂未发现风险");
    let r = anon.get("/check?q=%3F%3F%3F").await;
    assert_eq!(r.status, 422);
    // The flagged check was a sighting; the others were not.
    s.app.flush_sightings().await.unwrap();
    let v = s
        .app
        .indicator_detail(&s.app.cli_intel_actor(), id)
        .await
        .unwrap();
    assert_eq!(v.indicator.sightings, 1);

    // Report with a script: the receipt shows the reference; staff see it escaped.
    let mut anon = Browser::anon(&s.base);
    let form = anon.get("/report").await;
    form.expect(200);
    anon.csrf = csrf_in(&form.text()).expect("the report form carries a token");
    let r = anon
        .post(
            "/report",
            &[("value", "<script>alert(1)</script>"), ("description", "x")],
        )
        .await;
    assert_eq!(r.status, 422, "an unrecognisable value is refused");
    assert!(
        !r.text().contains("<script>alert(1)</script>"),
        "the value is echoed escaped"
    );
    let r = anon
        .post(
            "/report",
            &[
                ("value", "evil-report-test.top"),
                ("fraud_type", "fake_shopping"),
                (
                    "description",
                    "<script>alert('x')</script><img src=x onerror=alert(2)>",
                ),
                ("contact", "13912340000"),
            ],
        )
        .await;
    r.expect(200).contains("id=\"report-reference\"");
    let t = r.text();
    let i = t.find("id=\"report-reference\">").unwrap() + "id=\"report-reference\">".len();
    let reference = t[i..i + t[i..].find('<').unwrap()].to_string();
    assert!(reference.starts_with("JB"), "{reference}");
    let analyst = Browser::login(&s.base, "analyst").await;
    let queue = analyst.get("/intel/reports").await;
    queue.expect(200).contains(&reference);
    let rid = ids_after(&queue.text(), "href=\"/intel/reports/")[0];
    let page = analyst.get(&format!("/intel/reports/{rid}")).await;
    page.expect(200)
        .contains("&lt;script&gt;")
        .lacks("<script>alert")
        .lacks("<img src=x")
        .lacks("13912340000");
    // Review: accept and confirm its pending indicator.
    let r = analyst
        .post(
            &format!("/intel/reports/{rid}/review"),
            &[("status", "accepted"), ("indicator", "confirm"), ("note", "核实")],
        )
        .await;
    r.expect(303);
    let rs = anon.get(&format!("/report/status?reference={reference}")).await;
    rs.expect(200).contains("已采纳");
    let reports = s
        .app
        .list_reports(&s.app.cli_intel_actor(), &Default::default())
        .await
        .unwrap();
    assert!(reports.items.iter().any(|x| x.status == ReportStatus::Accepted));

    // Too long a description is refused with the limit; then the rate limit answers 429.
    let long = "长".repeat(2_001);
    let r = anon
        .post("/report", &[("value", "13800005555"), ("description", &long)])
        .await;
    assert_eq!(r.status, 422);
    assert!(r.error_text().unwrap().contains("2000"), "{:?}", r.error_text());
    let mut last = 0;
    for i in 0..4 {
        let r = anon
            .post(
                "/report",
                &[
                    ("value", &format!("1380000{:04}", 6000 + i)),
                    ("description", "x"),
                ],
            )
            .await;
        last = r.status;
        if r.status == 429 {
            assert!(
                r.error_text().is_some_and(|m| !m.is_empty()),
                "429 without a message"
            );
            break;
        }
    }
    assert_eq!(last, 429, "the report rate limit answers 429");
    // Without the form token the report is refused.
    let fresh = Browser::anon(&s.base);
    let r = fresh.post("/report", &[("value", "13800007777")]).await;
    assert_eq!(r.status, 403);
    // The public check is rate-limited per address too.
    let mut limited = false;
    for _ in 0..25 {
        let r = anon.get("/check?q=example.org").await;
        if r.status == 429 {
            assert!(r.error_text().is_some_and(|m| !m.is_empty()));
            limited = true;
            break;
        }
    }
    assert!(limited, "the public check answers 429 after its burst");
}
