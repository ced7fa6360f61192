//! The intelligence base through the app: indicator lifecycle and bulk
//! actions, allowlist refusals and built-ins, lookups (staff, batch,
//! public), public reports, rate limits, exports and disposal records. Each
//! scenario runs on SQLite and, with `FANZHA_TEST_PG`, on PostgreSQL.

mod intel_app;

use fanzha_app::intel::allowlist::AllowForm;
use fanzha_app::intel::disposal::{DisposalForm, DisposalUpdate};
use fanzha_app::intel::export::IntelExportRequest;
use fanzha_app::intel::formats::{ExportFormat, RpzPolicy};
use fanzha_app::intel::lookup::{MatchKind, Verdict};
use fanzha_app::intel::reports::{PublicReportForm, ReportQuery, ReportReview, ReviewIndicator};
use fanzha_app::intel::service::{BulkAction, IndicatorEdit, IndicatorForm, IndicatorQuery};
use fanzha_app::{AppError, model::AuditFilter};
use fanzha_core::roles::Role;
use fanzha_core::{FraudType, IndicatorKind, Timestamp};
use fanzha_store::{DisposalStatus, DisposalTarget, IndicatorStatus, ReportStatus};
use intel_app::{DAY, NOW, TestApp, actor, analyst};

both_backends!(
    lifecycle_and_bulk_actions,
    allowlist_refusals_and_builtins,
    lookup_verdicts,
    public_lookup_hides_sources_and_counts_sightings,
    reports_make_pending_indicators,
    rate_limits_trip,
    exports_and_disposals,
    expiry_and_renewal,
);

fn form(value: &str) -> IndicatorForm {
    IndicatorForm {
        value: value.into(),
        ..Default::default()
    }
}

fn msg_key(e: &AppError) -> String {
    e.msg().key
}

async fn lifecycle_and_bulk_actions(t: &TestApp) {
    let app = &t.app;
    let a = analyst();
    let mut f = form("138 0000 1111");
    f.fraud_type = Some(FraudType::FakeLoan);
    f.tags = "贷款; 回访".into();
    f.notes = "caller asked for a deposit".into();
    let p = app.create_indicator(&a, &f).await.unwrap();
    assert_eq!(p.kind, IndicatorKind::Phone);
    assert_eq!(p.value, "+8613800001111");
    assert_eq!(p.status, IndicatorStatus::Pending);
    assert_eq!(p.confidence, 80, "the analyst default");
    assert_eq!(p.source.code(), "analyst");
    assert_eq!(
        p.valid_until,
        Some(Timestamp(NOW.0 + 30 * DAY)),
        "phones live 30 days"
    );
    assert_eq!(p.tags, vec!["回访", "贷款"]);
    let e = app.create_indicator(&a, &f).await.unwrap_err();
    assert_eq!(msg_key(&e), "intel.error.duplicate");

    let mut d = form("scam-invest.top");
    d.kind = Some(IndicatorKind::Domain);
    d.status = Some(IndicatorStatus::Confirmed);
    d.fraud_type = Some(FraudType::FakeInvestment);
    let dom = app.create_indicator(&a, &d).await.unwrap();
    assert_eq!(
        dom.valid_until,
        Some(Timestamp(NOW.0 + 180 * DAY)),
        "domains live 180 days"
    );
    let mut bad = form("not a value at all");
    assert_eq!(
        msg_key(&app.create_indicator(&a, &bad).await.unwrap_err()),
        "intel.error.unknown_kind"
    );
    bad.value = "scam.top".into();
    bad.status = Some(IndicatorStatus::Revoked);
    assert!(matches!(
        app.create_indicator(&a, &bad).await.unwrap_err(),
        AppError::Invalid(_)
    ));
    bad.status = None;
    bad.source = Some("public_report".into());
    assert!(
        app.create_indicator(&a, &bad).await.is_err(),
        "only reports make public_report rows"
    );

    // Roles.
    for role in [
        Role::Officer,
        Role::Leader,
        Role::GridWorker,
        Role::UnitLiaison,
        Role::Admin,
    ] {
        let e = app
            .create_indicator(&actor(role, 50), &form("scam2.top"))
            .await
            .unwrap_err();
        assert!(matches!(e, AppError::Forbidden(_)), "{role}");
    }
    assert!(
        app.list_indicators(&actor(Role::Officer, 51), &IndicatorQuery::default())
            .await
            .is_ok()
    );
    assert!(
        app.list_indicators(&actor(Role::Leader, 52), &IndicatorQuery::default())
            .await
            .is_ok()
    );
    assert!(
        app.list_indicators(&actor(Role::GridWorker, 53), &IndicatorQuery::default())
            .await
            .is_err()
    );

    // Lists and search.
    let page = app.list_indicators(&a, &IndicatorQuery::default()).await.unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.items[0].id, dom.id, "newest first");
    let page = app
        .list_indicators(
            &a,
            &IndicatorQuery {
                q: Some("13800001".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.iter().map(|i| i.id).collect::<Vec<_>>(), vec![p.id]);
    let page = app
        .list_indicators(
            &a,
            &IndicatorQuery {
                status: Some(IndicatorStatus::Confirmed),
                kind: Some(IndicatorKind::Domain),
                tag: None,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1);

    // Bulk: confirm, dispose, revoke (with a reason), extend.
    let r = app
        .bulk_indicators(&a, &[p.id, dom.id, 424_242], BulkAction::Confirm, "")
        .await
        .unwrap();
    assert_eq!(r.changed, vec![p.id]);
    assert_eq!(r.unchanged, vec![dom.id]);
    assert_eq!(r.not_found, vec![424_242]);
    let r = app
        .bulk_indicators(&a, &[p.id, dom.id], BulkAction::Dispose, "")
        .await
        .unwrap();
    assert_eq!(r.changed, vec![p.id, dom.id]);
    let e = app
        .bulk_indicators(&a, &[p.id], BulkAction::Revoke, "  ")
        .await
        .unwrap_err();
    assert_eq!(msg_key(&e), "intel.error.reason_required");
    let r = app
        .bulk_indicators(&a, &[p.id], BulkAction::Revoke, "申诉成立")
        .await
        .unwrap();
    assert_eq!(r.changed, vec![p.id]);
    let r = app
        .bulk_indicators(&a, &[p.id, dom.id], BulkAction::ExtendDays { days: 365 }, "")
        .await
        .unwrap();
    assert_eq!(r.changed, vec![dom.id]);
    assert_eq!(r.refused, vec![(p.id, IndicatorStatus::Revoked)]);
    let e = app
        .bulk_indicators(
            &a,
            &[dom.id],
            BulkAction::Extend {
                valid_until: Timestamp(NOW.0 - 1),
            },
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(msg_key(&e), "intel.error.until_in_past");
    assert!(
        app.bulk_indicators(&actor(Role::Officer, 9), &[dom.id], BulkAction::Confirm, "")
            .await
            .is_err()
    );

    // The detail carries the history.
    let det = app.indicator_detail(&a, p.id).await.unwrap();
    assert_eq!(det.indicator.status, IndicatorStatus::Revoked);
    assert!(!det.live);
    let actions: Vec<&str> = det.history.iter().map(|e| e.fields.action.as_str()).collect();
    assert_eq!(
        actions,
        vec![
            "intel.indicator.revoke",
            "intel.indicator.dispose",
            "intel.indicator.confirm",
            "intel.indicator.create"
        ]
    );
    assert_eq!(det.history[0].fields.detail, "申诉成立 (disposed -> revoked)");
    assert_eq!(det.history[0].fields.actor, a.user.username);

    // Edits with a version check, then a delete.
    let cur = app.indicator_detail(&a, dom.id).await.unwrap().indicator;
    let edit = IndicatorEdit {
        fraud_type: FraudType::FakeShopping,
        confidence: 95,
        valid_from: cur.valid_from,
        valid_until: cur.valid_until,
        tags: "购物".into(),
        description: "a shop that never ships".into(),
        notes: String::new(),
        external_id: None,
        expected_version: Some(cur.version),
    };
    let v = app.update_indicator(&a, dom.id, &edit).await.unwrap();
    assert_eq!(v, cur.version + 1);
    assert_eq!(
        msg_key(&app.update_indicator(&a, dom.id, &edit).await.unwrap_err()),
        "intel.error.version_conflict"
    );
    app.delete_indicator(&a, p.id).await.unwrap();
    assert!(matches!(
        app.indicator_detail(&a, p.id).await.unwrap_err(),
        AppError::NotFound(_)
    ));
    let log = app
        .audit_log(
            &actor(Role::Admin, 1),
            AuditFilter {
                action_prefix: Some("intel.indicator.delete".into()),
                ..Default::default()
            },
            1,
            10,
        )
        .await
        .unwrap();
    assert_eq!(log.items[0].fields.target, format!("indicator:{}", p.id));
    assert!(app.verify_audit().await.unwrap().ok);
}

async fn allowlist_refusals_and_builtins(t: &TestApp) {
    let app = &t.app;
    let a = analyst();
    let admin = actor(Role::Admin, 1);
    app.start_intel().await.unwrap();
    // Built-ins are refused with the entry's name: exact numbers, a domain
    // and its subdomains, a URL on such a domain.
    for (value, entry) in [
        ("110", "+86110"),
        ("96110", "+8696110"),
        ("95588", "+8695588"),
        ("gov.cn", "gov.cn"),
        ("www.mps.gov.cn", "gov.cn"),
        ("www.icbc.com.cn", "icbc.com.cn"),
        ("https://mybank.icbc.com.cn/login", "icbc.com.cn"),
        ("114.114.114.114", "114.114.114.114"),
    ] {
        let e = app.create_indicator(&a, &form(value)).await.unwrap_err();
        let m = e.msg();
        assert_eq!(m.key, "intel.error.allowlisted", "{value}");
        assert!(
            m.args.contains(&("value".to_string(), entry.to_string())),
            "{value}: {m:?}"
        );
    }
    // The shipped list is in the store, built-in, and cannot be removed.
    let builtins = fanzha_app::intel::allowlist::builtin_entries();
    let page = app
        .list_allowlist(
            &admin,
            &fanzha_app::intel::allowlist::AllowQuery {
                builtin: Some(true),
                per_page: Some(500),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total as usize, builtins.len());
    let e = app
        .remove_allow_entry(&admin, page.items[0].id)
        .await
        .unwrap_err();
    assert_eq!(msg_key(&e), "intel.error.allow_builtin");

    // An administrator's entry takes covered indicators out of the index.
    let mut d = form("partner-bank.top");
    d.status = Some(IndicatorStatus::Confirmed);
    app.create_indicator(&a, &d).await.unwrap();
    app.sync_intel().await.unwrap();
    let r = app.lookup(&a, "login.partner-bank.top", None).await.unwrap();
    assert_eq!(r.verdict, Verdict::Flagged);
    let allow = AllowForm {
        kind: None,
        value: "partner-bank.top".into(),
        note: "合作银行".into(),
    };
    assert!(matches!(
        app.add_allow_entry(&a, &allow).await.unwrap_err(),
        AppError::Forbidden(_)
    ));
    let added = app.add_allow_entry(&admin, &allow).await.unwrap();
    assert_eq!(added.covered_indicators, 1);
    assert_eq!(
        msg_key(&app.add_allow_entry(&admin, &allow).await.unwrap_err()),
        "intel.error.allow_exists"
    );
    app.sync_intel().await.unwrap();
    let r = app.lookup(&a, "login.partner-bank.top", None).await.unwrap();
    assert_eq!(r.verdict, Verdict::Allowlisted);
    assert_eq!(r.allowlisted_by[0].note, "合作银行");
    assert!(!r.allowlisted_by[0].builtin);
    assert!(r.matches.is_empty());
    assert_eq!(app.intel_index_info().allowlisted, 1);
    app.remove_allow_entry(&admin, added.id).await.unwrap();
    app.sync_intel().await.unwrap();
    assert_eq!(
        app.lookup(&a, "login.partner-bank.top", None)
            .await
            .unwrap()
            .verdict,
        Verdict::Flagged
    );
}

async fn lookup_verdicts(t: &TestApp) {
    let app = &t.app;
    let a = analyst();
    let mk = |value: &str, ft: FraudType, status: IndicatorStatus, notes: &str| {
        let mut f = form(value);
        f.fraud_type = Some(ft);
        f.status = Some(status);
        f.notes = notes.into();
        f
    };
    let d = app
        .create_indicator(
            &a,
            &mk(
                "evil-shop.top",
                FraudType::FakeShopping,
                IndicatorStatus::Confirmed,
                "seen in 3 cases",
            ),
        )
        .await
        .unwrap();
    let ip = app
        .create_indicator(
            &a,
            &mk(
                "203.0.113.0/24",
                FraudType::FakeInvestment,
                IndicatorStatus::Confirmed,
                "",
            ),
        )
        .await
        .unwrap();
    let ph = app
        .create_indicator(
            &a,
            &mk("13800001111", FraudType::FakeLoan, IndicatorStatus::Pending, ""),
        )
        .await
        .unwrap();
    // The same phone from another source: a lookup shows both.
    let mut other = mk(
        "+86 138 0000 1111",
        FraudType::FakeLoan,
        IndicatorStatus::Confirmed,
        "",
    );
    other.source = Some("upper_push".into());
    other.confidence = Some(90);
    let ph2 = app.create_indicator(&a, &other).await.unwrap();
    app.sync_intel().await.unwrap();
    assert_eq!(app.intel_index_info().indicators, 4);

    let r = app.lookup(&a, "shop.evil-shop.top", None).await.unwrap();
    assert_eq!(r.verdict, Verdict::Flagged);
    assert_eq!(r.kind, Some(IndicatorKind::Domain));
    assert_eq!(r.matches.len(), 1);
    assert_eq!(r.matches[0].indicator_id, d.id);
    assert_eq!(r.matches[0].value, "evil-shop.top");
    assert_eq!(r.matches[0].matched, MatchKind::Domain);
    assert_eq!(r.matches[0].notes.as_deref(), Some("seen in 3 cases"));
    assert_eq!(r.matches[0].source.as_deref(), Some("analyst"));
    let r = app
        .lookup(&a, "http://pay.evil-shop.top/order?id=7", None)
        .await
        .unwrap();
    assert_eq!((r.verdict, r.kind), (Verdict::Flagged, Some(IndicatorKind::Url)));
    let r = app.lookup(&a, "203.0.113.77", None).await.unwrap();
    assert_eq!(r.matches[0].indicator_id, ip.id);
    assert_eq!(r.matches[0].matched, MatchKind::Cidr);
    let r = app.lookup(&a, "138-0000-1111", None).await.unwrap();
    assert_eq!(r.verdict, Verdict::Flagged);
    assert_eq!(
        r.matches.iter().map(|m| m.indicator_id).collect::<Vec<_>>(),
        vec![ph2.id, ph.id],
        "every source's row, highest confidence first"
    );
    assert_eq!(r.max_confidence, Some(90));
    assert_eq!(r.matches[1].status, IndicatorStatus::Pending);
    for (v, verdict) in [
        ("110", Verdict::Allowlisted),
        ("www.icbc.com.cn", Verdict::Allowlisted),
        ("gov.cn", Verdict::Allowlisted),
        ("good-shop.top", Verdict::Clean),
        ("13900002222", Verdict::Clean),
    ] {
        assert_eq!(app.lookup(&a, v, None).await.unwrap().verdict, verdict, "{v}");
    }
    let r = app.lookup(&a, "110", None).await.unwrap();
    assert_eq!(r.allowlisted_by[0].note, "报警电话");
    assert!(r.allowlisted_by[0].builtin);
    assert!(matches!(
        app.lookup(&a, "???", None).await.unwrap_err(),
        AppError::Invalid(_)
    ));
    // A forced kind.
    let r = app
        .lookup(&a, "evil-shop.top", Some(IndicatorKind::Domain))
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Flagged);

    // Grid workers may look up but see no sources or notes.
    let g = app
        .lookup(&actor(Role::GridWorker, 30), "evil-shop.top", None)
        .await
        .unwrap();
    assert_eq!(g.verdict, Verdict::Flagged);
    assert!(g.matches[0].source.is_none() && g.matches[0].notes.is_none());
    let json = serde_json::to_string(&g).unwrap();
    assert!(
        !json.contains("seen in 3 cases") && !json.contains("\"source\""),
        "{json}"
    );
    assert!(matches!(
        app.lookup(&actor(Role::UnitLiaison, 31), "evil-shop.top", None)
            .await
            .unwrap_err(),
        AppError::Forbidden(_)
    ));

    // A revocation counts at once, before the index is rebuilt.
    app.bulk_indicators(&a, &[d.id], BulkAction::Revoke, "wrong flag")
        .await
        .unwrap();
    assert_eq!(
        app.lookup(&a, "evil-shop.top", None).await.unwrap().verdict,
        Verdict::Clean
    );

    // Batch.
    let values: Vec<String> = ["13800001111", "203.0.113.1", "???", "110", "ok.top"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let rs = app.lookup_batch(&a, &values, None).await.unwrap();
    assert_eq!(
        rs.iter().map(|r| r.verdict).collect::<Vec<_>>(),
        vec![
            Verdict::Flagged,
            Verdict::Flagged,
            Verdict::Invalid,
            Verdict::Allowlisted,
            Verdict::Clean
        ]
    );
    assert!(rs[2].error.is_some());
    let too_many: Vec<String> = (0..10_001).map(|i| format!("{i}.top")).collect();
    assert!(app.lookup_batch(&a, &too_many, None).await.is_err());
    let tenk: Vec<String> = (0..10_000).map(|i| format!("host{i}.evil.top")).collect();
    assert_eq!(app.lookup_batch(&a, &tenk, None).await.unwrap().len(), 10_000);

    // Every staff lookup is logged, without the value: batches one entry
    // each, single lookups by API token as a tally per user.
    app.flush_lookup_tally().await.unwrap();
    let log = app
        .audit_log(
            &actor(Role::Admin, 1),
            AuditFilter {
                action_prefix: Some("intel.lookup".into()),
                ..Default::default()
            },
            1,
            100,
        )
        .await
        .unwrap();
    let counted: u64 = log
        .items
        .iter()
        .map(|e| {
            e.fields
                .detail
                .split(' ')
                .find_map(|w| w.strip_prefix("lookups="))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(1)
        })
        .sum();
    assert!(counted >= 15, "{counted}");
    assert!(log.items.iter().all(|e| !e.fields.detail.contains("138")));
}

async fn public_lookup_hides_sources_and_counts_sightings(t: &TestApp) {
    let app = &t.app;
    let a = analyst();
    let mut f = form("17100001234");
    f.status = Some(IndicatorStatus::Confirmed);
    f.fraud_type = Some(FraudType::ImpersonateAuthority);
    f.notes = "internal: linked to case 2026-17".into();
    f.source = Some("feed:upper".into());
    let c = app.create_indicator(&a, &f).await.unwrap();
    let mut low = form("17100005678");
    low.confidence = Some(50);
    let low = app.create_indicator(&a, &low).await.unwrap();
    let mut high = form("17100009999");
    high.confidence = Some(90);
    high.fraud_type = Some(FraudType::FakeLoan);
    app.create_indicator(&a, &high).await.unwrap();
    app.sync_intel().await.unwrap();

    let ip = "198.51.100.4";
    let p = app.public_lookup("171 0000 1234", None, ip).await.unwrap();
    assert_eq!(p.verdict, Verdict::Flagged);
    assert_eq!(p.fraud_types, vec![FraudType::ImpersonateAuthority]);
    let json = serde_json::to_string(&p).unwrap();
    for secret in [
        "internal",
        "feed",
        "upper",
        "source",
        "notes",
        "confidence",
        "indicator_id",
    ] {
        assert!(!json.contains(secret), "public answer leaks {secret}: {json}");
    }
    // A pending indicator counts publicly only with high confidence.
    assert_eq!(
        app.public_lookup("17100005678", None, ip).await.unwrap().verdict,
        Verdict::Clean
    );
    assert_eq!(
        app.public_lookup("17100009999", None, ip).await.unwrap().verdict,
        Verdict::Flagged
    );
    assert_eq!(
        app.public_lookup("95588", None, ip).await.unwrap().verdict,
        Verdict::Allowlisted
    );
    app.public_lookup("17100001234", None, ip).await.unwrap();
    app.public_lookup("17100001234", None, "198.51.100.5")
        .await
        .unwrap();

    // Sightings are buffered, then written in one batch.
    app.flush_sightings().await.unwrap();
    let got = app.indicator_detail(&a, c.id).await.unwrap().indicator;
    assert_eq!(got.sightings, 3);
    assert_eq!(got.last_seen, NOW);
    assert_eq!(got.version, c.version, "sightings are not a change");
    assert_eq!(
        app.indicator_detail(&a, low.id)
            .await
            .unwrap()
            .indicator
            .sightings,
        0,
        "a match that did not count is no sighting"
    );
    assert!(matches!(
        app.public_lookup("not a number", None, ip).await.unwrap_err(),
        AppError::Invalid(_)
    ));
}

async fn reports_make_pending_indicators(t: &TestApp) {
    let app = &t.app;
    let a = analyst();
    let report = PublicReportForm {
        kind: None,
        value: "170 0000 0001".into(),
        fraud_type: Some(FraudType::FakeCustomerService),
        description: "自称快递客服，说包裹丢了要理赔，让我下载会议软件共享屏幕".into(),
        contact: Some("13912345678".into()),
    };
    let r1 = app.submit_report(&report, "203.0.113.50").await.unwrap();
    assert!(r1.reference.starts_with("JB20260101-"), "{}", r1.reference);
    assert_eq!(r1.kind, IndicatorKind::Phone);
    let r2 = app.submit_report(&report, "203.0.113.51").await.unwrap();
    assert_ne!(r1.reference, r2.reference);
    app.sync_intel().await.unwrap();

    // One pending indicator from public reports, low confidence.
    let staff = app.lookup(&a, "17000000001", None).await.unwrap();
    assert_eq!(staff.verdict, Verdict::Flagged);
    assert_eq!(staff.matches.len(), 1);
    let m = &staff.matches[0];
    assert_eq!(m.status, IndicatorStatus::Pending);
    assert_eq!(m.source.as_deref(), Some("public_report"));
    assert_eq!(m.confidence, 30);
    assert_eq!(m.fraud_type, FraudType::FakeCustomerService);
    // Reports alone never flag a number for the public.
    assert_eq!(
        app.public_lookup("17000000001", None, "203.0.113.60")
            .await
            .unwrap()
            .verdict,
        Verdict::Clean
    );

    // Staff see the reports with the contact masked; revealing is audited.
    let page = app.list_reports(&a, &ReportQuery::default()).await.unwrap();
    assert_eq!(page.total, 2);
    let v = &page.items[0];
    assert_eq!(v.contact_masked.as_deref(), Some("139****5678"));
    assert_eq!(v.status, ReportStatus::New);
    assert_eq!(v.indicator_id, Some(m.indicator_id));
    let json = serde_json::to_string(&page.items).unwrap();
    assert!(!json.contains("13912345678"));
    assert!(
        app.list_reports(&actor(Role::Officer, 5), &ReportQuery::default())
            .await
            .is_err()
    );
    let full = app.reveal_report_contact(&a, v.id).await.unwrap();
    assert_eq!(full, "+8613912345678");
    assert!(
        app.reveal_report_contact(&actor(Role::Leader, 6), v.id)
            .await
            .is_err()
    );
    assert_eq!(
        app.public_report_status(&r1.reference, "203.0.113.70")
            .await
            .unwrap(),
        ReportStatus::New
    );

    // The indicator's detail lists its reports, without sealed values.
    let det = app.indicator_detail(&a, m.indicator_id).await.unwrap();
    assert_eq!(det.reports.len(), 2);
    assert!(det.reports.iter().all(|r| {
        r.ip_hash.is_empty()
            && r.contact
                .as_ref()
                .is_some_and(|c| c.enc.is_empty() && c.masked == "139****5678")
    }));

    // Review: accepted, and the indicator confirmed.
    let done = app
        .review_report(
            &a,
            v.id,
            &ReportReview {
                status: ReportStatus::Accepted,
                note: "回访核实".into(),
                indicator: ReviewIndicator::Confirm,
            },
        )
        .await
        .unwrap();
    assert_eq!(done.status, ReportStatus::Accepted);
    assert_eq!(done.reviewed_by, Some(a.user.id.0));
    app.sync_intel().await.unwrap();
    assert_eq!(
        app.public_lookup("17000000001", None, "203.0.113.60")
            .await
            .unwrap()
            .verdict,
        Verdict::Flagged
    );

    // An allowlisted value: recorded, no indicator.
    let bank = PublicReportForm {
        value: "95588".into(),
        description: "来电显示95588，说我的卡被冻结".into(),
        ..Default::default()
    };
    app.submit_report(&bank, "203.0.113.52").await.unwrap();
    let page = app
        .list_reports(
            &a,
            &ReportQuery {
                status: Some(ReportStatus::Allowlisted),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].indicator_id, None);

    // Limits.
    let long = PublicReportForm {
        value: "17000000002".into(),
        description: "很".repeat(2_001),
        ..Default::default()
    };
    assert_eq!(
        msg_key(&app.submit_report(&long, "203.0.113.53").await.unwrap_err()),
        "intel.error.text_too_long"
    );
    let bad_contact = PublicReportForm {
        value: "17000000002".into(),
        contact: Some("call me".into()),
        ..Default::default()
    };
    assert_eq!(
        msg_key(&app.submit_report(&bad_contact, "203.0.113.54").await.unwrap_err()),
        "intel.error.bad_contact"
    );
    // The public audit entries carry no address.
    let log = app
        .audit_log(
            &actor(Role::Admin, 1),
            AuditFilter {
                action_prefix: Some("intel.report.create".into()),
                ..Default::default()
            },
            1,
            10,
        )
        .await
        .unwrap();
    assert_eq!(log.total, 3);
    assert!(log.items.iter().all(|e| !e.fields.ip.contains("203.0.113")));
    assert!(log.items.iter().all(|e| e.fields.actor == "public"));
}

async fn rate_limits_trip(t: &TestApp) {
    let app = &t.app;
    let f = PublicReportForm {
        value: "17000000003".into(),
        ..Default::default()
    };
    // Reports: a burst of 3 per address, then one a minute.
    for _ in 0..3 {
        app.submit_report(&f, "192.0.2.99").await.unwrap();
    }
    assert!(matches!(
        app.submit_report(&f, "192.0.2.99").await.unwrap_err(),
        AppError::RateLimited
    ));
    app.submit_report(&f, "192.0.2.100").await.unwrap();
    t.clock.advance_secs(61);
    app.submit_report(&f, "192.0.2.99").await.unwrap();
    // Lookups: a burst of 20, then 30 a minute.
    for _ in 0..20 {
        app.public_lookup("17000000003", None, "2001:db8:5::1")
            .await
            .unwrap();
    }
    assert!(matches!(
        app.public_lookup("17000000003", None, "2001:db8:5::2")
            .await
            .unwrap_err(),
        AppError::RateLimited
    ));
    t.clock.advance_secs(3);
    app.public_lookup("17000000003", None, "2001:db8:5::1")
        .await
        .unwrap();
}

async fn exports_and_disposals(t: &TestApp) {
    let app = &t.app;
    let a = analyst();
    let mut ids = Vec::new();
    for (v, status) in [
        ("bad-one.top", IndicatorStatus::Confirmed),
        ("bad-two.top", IndicatorStatus::Confirmed),
        ("maybe-bad.top", IndicatorStatus::Pending),
        ("198.51.100.0/24", IndicatorStatus::Confirmed),
    ] {
        let mut f = form(v);
        f.status = Some(status);
        ids.push(app.create_indicator(&a, &f).await.unwrap().id);
    }
    let rpz = app
        .export_intel(&a, &IntelExportRequest::new(ExportFormat::Rpz))
        .await
        .unwrap();
    let text = String::from_utf8(rpz.bytes.clone()).unwrap();
    assert!(text.contains("bad-one.top"), "{text}");
    assert!(text.contains("*.bad-two.top"));
    assert!(!text.contains("maybe-bad.top"), "pending ones are not blocked");
    assert!(!text.contains("198.51.100"), "RPZ holds domains");
    assert_eq!(rpz.selected, 3);
    assert_eq!(rpz.written, 2);
    assert!(rpz.file_name.ends_with(".zone"));
    let again = app
        .export_intel(&a, &IntelExportRequest::new(ExportFormat::Rpz))
        .await
        .unwrap();
    assert_eq!(again.serial, rpz.serial + 1, "every export takes the next serial");
    let mut redirect = IntelExportRequest::new(ExportFormat::Rpz);
    redirect.rpz_policy = Some(RpzPolicy::Redirect {
        host: "warn.fanzha.local".into(),
    });
    let text = String::from_utf8(app.export_intel(&a, &redirect).await.unwrap().bytes).unwrap();
    assert!(text.contains("warn.fanzha.local."), "{text}");

    let ipset = app
        .export_intel(&a, &IntelExportRequest::new(ExportFormat::Ipset))
        .await
        .unwrap();
    assert!(
        String::from_utf8(ipset.bytes)
            .unwrap()
            .contains("198.51.100.0/24")
    );
    // Spreadsheets take every status and are the same bytes each time.
    let csv1 = app
        .export_intel(&a, &IntelExportRequest::new(ExportFormat::Csv))
        .await
        .unwrap();
    let csv2 = app
        .export_intel(&a, &IntelExportRequest::new(ExportFormat::Csv))
        .await
        .unwrap();
    assert_eq!(csv1.bytes, csv2.bytes);
    assert_eq!(csv1.written, 4);
    let mut only = IntelExportRequest::new(ExportFormat::DomainList);
    only.statuses = vec![IndicatorStatus::Pending];
    let list = app.export_intel(&a, &only).await.unwrap();
    assert_eq!(String::from_utf8(list.bytes).unwrap().trim(), "maybe-bad.top");

    // Allowlisted values never leave.
    let admin = actor(Role::Admin, 1);
    app.add_allow_entry(
        &admin,
        &AllowForm {
            kind: None,
            value: "bad-two.top".into(),
            note: "false positive".into(),
        },
    )
    .await
    .unwrap();
    let rpz = app
        .export_intel(&a, &IntelExportRequest::new(ExportFormat::Rpz))
        .await
        .unwrap();
    assert_eq!(rpz.allowlisted, 1);
    assert!(!String::from_utf8(rpz.bytes).unwrap().contains("bad-two.top"));

    // Who may export.
    assert!(
        app.export_intel(
            &actor(Role::Leader, 3),
            &IntelExportRequest::new(ExportFormat::Csv)
        )
        .await
        .is_ok()
    );
    assert!(
        app.export_intel(
            &actor(Role::Officer, 4),
            &IntelExportRequest::new(ExportFormat::Csv)
        )
        .await
        .is_err()
    );
    let log = app
        .audit_log(
            &admin,
            AuditFilter {
                action_prefix: Some("intel.export".into()),
                ..Default::default()
            },
            1,
            50,
        )
        .await
        .unwrap();
    assert_eq!(log.total, 9);
    assert!(log.items[0].fields.detail.starts_with("format=csv"));

    // A disposal record: done disposes its confirmed indicators.
    let d = app
        .create_disposal(
            &a,
            &DisposalForm {
                indicator_ids: vec![ids[0], ids[2]],
                filter_description: String::new(),
                target: DisposalTarget::Registrar,
                target_name: "某注册商".into(),
                request_note: "请暂停解析".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(d.status, DisposalStatus::Requested);
    assert!(
        app.create_disposal(
            &actor(Role::Leader, 3),
            &DisposalForm {
                indicator_ids: vec![ids[0]],
                filter_description: String::new(),
                target: DisposalTarget::Registrar,
                target_name: "x".into(),
                request_note: String::new(),
            }
        )
        .await
        .is_err()
    );
    let upd = |status, result: &str| DisposalUpdate {
        status,
        result: result.into(),
        expected_version: None,
    };
    app.update_disposal(&a, d.id, &upd(DisposalStatus::InProgress, "已发函"))
        .await
        .unwrap();
    let done = app
        .update_disposal(&a, d.id, &upd(DisposalStatus::Done, "已暂停解析"))
        .await
        .unwrap();
    assert_eq!(done.status, DisposalStatus::Done);
    let e = app
        .update_disposal(&a, d.id, &upd(DisposalStatus::Rejected, ""))
        .await
        .unwrap_err();
    assert_eq!(msg_key(&e), "intel.error.disposal_move");
    let det = app.indicator_detail(&a, ids[0]).await.unwrap();
    assert_eq!(det.indicator.status, IndicatorStatus::Disposed);
    assert_eq!(det.disposals.len(), 1);
    assert_eq!(
        app.indicator_detail(&a, ids[2]).await.unwrap().indicator.status,
        IndicatorStatus::Pending,
        "only confirmed indicators are disposed"
    );
    let list = app
        .list_disposals(&actor(Role::Leader, 3), &Default::default())
        .await
        .unwrap();
    assert_eq!(list.total, 1);
    assert_eq!(
        msg_key(&app.delete_indicator(&a, ids[0]).await.unwrap_err()),
        "intel.error.in_disposal"
    );
}

async fn expiry_and_renewal(t: &TestApp) {
    let app = &t.app;
    let a = analyst();
    let mut f = form("17200001111");
    f.status = Some(IndicatorStatus::Confirmed);
    let p = app.create_indicator(&a, &f).await.unwrap();
    app.sync_intel().await.unwrap();
    assert_eq!(
        app.lookup(&a, "17200001111", None).await.unwrap().verdict,
        Verdict::Flagged
    );
    t.clock.advance_secs(31 * 86_400);
    // Past its end it no longer counts, even before the expiry job ran.
    assert_eq!(
        app.lookup(&a, "17200001111", None).await.unwrap().verdict,
        Verdict::Clean
    );
    assert_eq!(app.expire_intel().await.unwrap(), 1);
    assert_eq!(app.expire_intel().await.unwrap(), 0);
    let det = app.indicator_detail(&a, p.id).await.unwrap();
    assert_eq!(det.indicator.status, IndicatorStatus::Expired);
    assert_eq!(det.history[0].fields.action, "intel.indicator.expire");
    assert_eq!(det.history[0].fields.actor, "system");
    // Confirming it again renews its validity from now.
    let r = app
        .bulk_indicators(&a, &[p.id], BulkAction::Confirm, "")
        .await
        .unwrap();
    assert_eq!(r.changed, vec![p.id]);
    let now = app.now();
    let got = app.indicator_detail(&a, p.id).await.unwrap().indicator;
    assert_eq!(got.valid_until, Some(Timestamp(now.0 + 30 * DAY)));
    app.sync_intel().await.unwrap();
    assert_eq!(
        app.lookup(&a, "17200001111", None).await.unwrap().verdict,
        Verdict::Flagged
    );
}

/// Every message the intel use cases raise, and a label for every status,
/// verdict, source, report status and disposal state, is in the catalogue.
#[test]
fn intel_messages_are_in_the_catalogue() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/intel");
    let mut keys = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&p).unwrap();
            for part in text.split('"').skip(1).step_by(2) {
                if part.starts_with("intel.error.") {
                    keys.insert(part.to_string());
                }
            }
        }
    }
    assert!(keys.len() >= 20, "{keys:?}");
    for s in IndicatorStatus::ALL {
        keys.insert(format!("intel.status.{}", s.code()));
    }
    for v in ["flagged", "allowlisted", "clean", "invalid"] {
        keys.insert(format!("intel.verdict.{v}"));
    }
    for s in ["upper_push", "case", "public_report", "analyst", "feed"] {
        keys.insert(format!("intel.source.{s}"));
    }
    for s in ReportStatus::ALL {
        keys.insert(format!("intel.report_status.{}", s.code()));
    }
    for s in DisposalStatus::ALL {
        keys.insert(format!("intel.disposal_status.{}", s.code()));
    }
    for s in DisposalTarget::ALL {
        keys.insert(format!("intel.disposal_target.{}", s.code()));
    }
    let missing: Vec<_> = keys.iter().filter(|k| !fanzha_core::i18n::has(k)).collect();
    assert!(missing.is_empty(), "missing catalogue keys: {missing:?}");
}
