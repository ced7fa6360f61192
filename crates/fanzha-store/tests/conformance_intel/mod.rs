//! Conformance cases of the intelligence base ([`fanzha_store::IntelStore`]),
//! run on both backends by the harness in `conformance.rs`.

use super::{T0, audit, reason, tree, verify_all};
use fanzha_core::{FraudType, IndicatorKind, Timestamp};
use fanzha_store::*;
use std::sync::Arc;

const DAY: i64 = 86_400_000;

fn audit_at(action: &str, at: i64) -> AuditRecord {
    AuditRecord {
        at: Timestamp(at),
        ..audit(action)
    }
}

fn new_ind(kind: IndicatorKind, value: &str, source: IndicatorSource) -> NewIndicator {
    NewIndicator {
        kind,
        value: value.into(),
        fraud_type: FraudType::FakeInvestment,
        confidence: 80,
        source,
        status: IndicatorStatus::Pending,
        valid_from: Timestamp(T0),
        valid_until: Some(Timestamp(T0 + 30 * DAY)),
        tags: vec!["b".into(), "a".into(), " a ".into()],
        description: "from the tests".into(),
        notes: String::new(),
        external_id: None,
    }
}

fn upsert(kind: IndicatorKind, value: &str, feed: &str) -> IndicatorUpsert {
    IndicatorUpsert {
        kind,
        value: value.into(),
        source: IndicatorSource::feed(feed).unwrap(),
        status: IndicatorStatus::Confirmed,
        fraud_type: None,
        confidence: None,
        valid_from: None,
        valid_until: None,
        tags: Vec::new(),
        description: None,
        external_id: None,
        default_fraud_type: FraudType::Other,
        default_confidence: 60,
        default_valid_until: Some(Timestamp(T0 + 180 * DAY)),
    }
}

async fn count_actions(s: &Arc<dyn Store>, prefix: &str) -> i64 {
    s.list_audit(&AuditFilter {
        action_prefix: Some(prefix.into()),
        ..Default::default()
    })
    .await
    .unwrap()
    .1
}

fn ids(list: &[Indicator]) -> Vec<i64> {
    list.iter().map(|i| i.id).collect()
}

pub(crate) async fn intel_indicator_crud_and_filters(s: Arc<dyn Store>) {
    let t = tree(&s).await;
    let g0 = s.intel_generation().await.unwrap();
    let a = audit("intel.indicator.create");
    let d1 = s
        .create_indicator(
            &new_ind(IndicatorKind::Domain, "scam.example", IndicatorSource::Analyst),
            &a,
        )
        .await
        .unwrap();
    assert!(
        s.intel_generation().await.unwrap() > g0,
        "a new indicator bumps the generation"
    );
    // The same value from another source coexists; from the same source it
    // is a conflict.
    let d2 = s
        .create_indicator(
            &new_ind(
                IndicatorKind::Domain,
                "scam.example",
                IndicatorSource::feed("tw165").unwrap(),
            ),
            &a,
        )
        .await
        .unwrap();
    let err = s
        .create_indicator(
            &new_ind(IndicatorKind::Domain, "scam.example", IndicatorSource::Analyst),
            &a,
        )
        .await
        .unwrap_err();
    assert_eq!(
        reason(err),
        "an indicator with this value from this source already exists"
    );
    let mut phone = new_ind(
        IndicatorKind::Phone,
        "+8613800000001",
        IndicatorSource::PublicReport,
    );
    phone.fraud_type = FraudType::FakeCustomerService;
    phone.confidence = 30;
    phone.tags = vec!["reported".into()];
    let p1 = s.create_indicator(&phone, &a).await.unwrap();
    let mut ip = new_ind(IndicatorKind::Ip, "203.0.113.0/24", IndicatorSource::UpperPush);
    ip.status = IndicatorStatus::Confirmed;
    ip.valid_until = None;
    ip.tags = Vec::new();
    let i1 = s.create_indicator(&ip, &a).await.unwrap();

    // Bad input is refused before anything is written.
    let mut bad = new_ind(IndicatorKind::Domain, "x.example", IndicatorSource::Analyst);
    bad.confidence = 101;
    assert!(s.create_indicator(&bad, &a).await.unwrap_err().is_invalid());
    bad.confidence = 10;
    bad.status = IndicatorStatus::Revoked;
    assert!(s.create_indicator(&bad, &a).await.unwrap_err().is_invalid());
    bad.status = IndicatorStatus::Pending;
    bad.valid_until = Some(Timestamp(T0 - 1));
    assert!(s.create_indicator(&bad, &a).await.unwrap_err().is_invalid());
    bad.valid_until = None;
    bad.value = " x.example".into();
    assert!(s.create_indicator(&bad, &a).await.unwrap_err().is_invalid());
    bad.value = "x.example".into();
    bad.tags = (0..40).map(|i| format!("t{i}")).collect();
    assert!(s.create_indicator(&bad, &a).await.unwrap_err().is_invalid());

    let got = s.get_indicator(d1).await.unwrap().unwrap();
    assert_eq!(got.kind, IndicatorKind::Domain);
    assert_eq!(got.value, "scam.example");
    assert_eq!(got.source, IndicatorSource::Analyst);
    assert_eq!(got.status, IndicatorStatus::Pending);
    assert_eq!(got.tags, vec!["a", "b"], "tags trimmed, unique, sorted");
    assert_eq!(got.first_seen, Timestamp(T0));
    assert_eq!(got.last_seen, Timestamp(T0));
    assert_eq!(got.sightings, 0);
    assert_eq!(got.created_by, 1);
    assert_eq!(got.version, 1);
    assert!(got.is_live_at(Timestamp(T0 + DAY)));
    assert!(!got.is_live_at(Timestamp(T0 + 31 * DAY)));
    assert!(s.get_indicator(999_999).await.unwrap().is_none());

    let both = s
        .indicators_by_value(IndicatorKind::Domain, "scam.example")
        .await
        .unwrap();
    assert_eq!(ids(&both), vec![d1, d2], "a lookup returns every source's row");
    assert!(
        s.indicators_by_value(IndicatorKind::Url, "scam.example")
            .await
            .unwrap()
            .is_empty()
    );
    let some = s.indicators_by_ids(&[i1, 424_242, d1, d1]).await.unwrap();
    assert_eq!(ids(&some), vec![d1, i1]);

    // Filters and pagination.
    let list = |f: IndicatorFilter| {
        let s = s.clone();
        async move { s.list_indicators(&f).await.unwrap() }
    };
    let (all, total) = list(IndicatorFilter::default()).await;
    assert_eq!(total, 4);
    assert_eq!(ids(&all), vec![i1, p1, d2, d1], "newest first");
    let (page, total) = list(IndicatorFilter {
        limit: Some(2),
        offset: 1,
        ..Default::default()
    })
    .await;
    assert_eq!((ids(&page), total), (vec![p1, d2], 4));
    let (r, n) = list(IndicatorFilter {
        kind: Some(IndicatorKind::Domain),
        ..Default::default()
    })
    .await;
    assert_eq!((ids(&r), n), (vec![d2, d1], 2));
    let (r, _) = list(IndicatorFilter {
        statuses: vec![IndicatorStatus::Confirmed],
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&r), vec![i1]);
    let (r, _) = list(IndicatorFilter {
        statuses: vec![IndicatorStatus::Confirmed, IndicatorStatus::Pending],
        ..Default::default()
    })
    .await;
    assert_eq!(r.len(), 4);
    let (r, _) = list(IndicatorFilter {
        fraud_type: Some(FraudType::FakeCustomerService),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&r), vec![p1]);
    let (r, _) = list(IndicatorFilter {
        source: Some("feed:tw165".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&r), vec![d2]);
    let (r, _) = list(IndicatorFilter {
        min_confidence: Some(50),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&r), vec![i1, d2, d1]);
    let (r, _) = list(IndicatorFilter {
        value_prefix: Some("+86138".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&r), vec![p1]);
    let (r, _) = list(IndicatorFilter {
        value_prefix: Some("scam".into()),
        kind: Some(IndicatorKind::Domain),
        ..Default::default()
    })
    .await;
    assert_eq!(r.len(), 2);
    let (r, _) = list(IndicatorFilter {
        value_prefix: Some("scam.example.".into()),
        ..Default::default()
    })
    .await;
    assert!(r.is_empty());
    let (r, _) = list(IndicatorFilter {
        tag: Some("reported".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&r), vec![p1]);
    let (r, _) = list(IndicatorFilter {
        valid_at: Some(Timestamp(T0 + 100 * DAY)),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&r), vec![i1], "only the IP has no end");
    let page = s
        .indicators_page(&IndicatorFilter::default(), d1, 2)
        .await
        .unwrap();
    assert_eq!(ids(&page), vec![d2, p1]);

    // Update with a version check.
    let g1 = s.intel_generation().await.unwrap();
    let upd = IndicatorUpdate {
        fraud_type: got.fraud_type,
        confidence: got.confidence,
        valid_from: got.valid_from,
        valid_until: got.valid_until,
        tags: vec!["c".into()],
        description: got.description.clone(),
        notes: "checked the whois".into(),
        external_id: Some("X-1".into()),
        expected_version: Some(1),
    };
    let v = s
        .update_indicator(d1, &upd, &audit("intel.indicator.update"))
        .await
        .unwrap();
    assert_eq!(v, 2);
    assert_eq!(
        s.intel_generation().await.unwrap(),
        g1,
        "notes and tags do not change the index"
    );
    let err = s
        .update_indicator(d1, &upd, &audit("intel.indicator.update"))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "stale version");
    let got = s.get_indicator(d1).await.unwrap().unwrap();
    assert_eq!(got.tags, vec!["c"]);
    assert_eq!(got.notes, "checked the whois");
    assert_eq!(got.external_id.as_deref(), Some("X-1"));
    let upd2 = IndicatorUpdate {
        confidence: 95,
        expected_version: None,
        ..upd
    };
    s.update_indicator(d1, &upd2, &audit("intel.indicator.update"))
        .await
        .unwrap();
    assert!(s.intel_generation().await.unwrap() > g1);
    assert!(
        s.update_indicator(777_777, &upd2, &audit("intel.indicator.update"))
            .await
            .unwrap_err()
            .is_not_found()
    );

    // Delete.
    s.delete_indicator(d2, &audit("intel.indicator.delete"))
        .await
        .unwrap();
    assert!(s.get_indicator(d2).await.unwrap().is_none());
    assert!(
        s.delete_indicator(d2, &audit("intel.indicator.delete"))
            .await
            .unwrap_err()
            .is_not_found()
    );

    // History is the audit log.
    let (entries, n) = s
        .list_audit(&AuditFilter {
            target: Some(format!("indicator:{d1}")),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(entries[2].fields.action, "intel.indicator.create");
    assert_eq!(entries[0].fields.action, "intel.indicator.update");

    // Intel is not org-scoped: it keeps no node from being deleted.
    let a = audit("org.node.delete");
    s.delete_node(t.grid_b1, &a).await.unwrap();
    s.delete_node(t.village_b, &a).await.unwrap();
    let err = s.delete_node(t.village_a, &a).await.unwrap_err();
    assert_eq!(reason(err), "node has 2 child nodes");
    verify_all(&s).await;
}

pub(crate) async fn intel_bulk_status_changes(s: Arc<dyn Store>) {
    let a = audit("intel.indicator.create");
    let mut ids = Vec::new();
    for n in 0..4 {
        let mut x = new_ind(
            IndicatorKind::Phone,
            &format!("+861380000000{n}"),
            IndicatorSource::Analyst,
        );
        x.valid_until = Some(Timestamp(T0 + 10 * DAY));
        ids.push(s.create_indicator(&x, &a).await.unwrap());
    }
    let renew = Lifetimes::default();
    let confirm = StatusChange::Confirm { renew };
    let before = s.audit_head().await.unwrap().seq;
    let g0 = s.intel_generation().await.unwrap();
    let out = s
        .change_indicator_status(
            &[ids[0], ids[1], 987_654],
            confirm,
            &audit_at("intel.indicator.confirm", T0 + DAY),
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![
            ChangeOutcome::Changed,
            ChangeOutcome::Changed,
            ChangeOutcome::NotFound
        ]
    );
    assert_eq!(
        s.audit_head().await.unwrap().seq,
        before + 2,
        "one audit entry per changed indicator"
    );
    assert!(s.intel_generation().await.unwrap() > g0);
    let (entries, _) = s
        .list_audit(&AuditFilter {
            target: Some(format!("indicator:{}", ids[0])),
            action_prefix: Some("intel.indicator.confirm".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].fields.detail, "pending -> confirmed");

    // Confirming again changes nothing; disposing a pending one is refused.
    let out = s
        .change_indicator_status(&[ids[0]], confirm, &audit("intel.indicator.confirm"))
        .await
        .unwrap();
    assert_eq!(out, vec![ChangeOutcome::Unchanged]);
    let out = s
        .change_indicator_status(
            &[ids[0], ids[2]],
            StatusChange::Dispose,
            &audit("intel.indicator.dispose"),
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![
            ChangeOutcome::Changed,
            ChangeOutcome::Refused {
                status: IndicatorStatus::Pending
            }
        ]
    );
    let mut r = audit("intel.indicator.revoke");
    r.detail = "appeal upheld".into();
    let out = s
        .change_indicator_status(&[ids[0], ids[1], ids[2]], StatusChange::Revoke, &r)
        .await
        .unwrap();
    assert_eq!(out, vec![ChangeOutcome::Changed; 3]);
    let (entries, _) = s
        .list_audit(&AuditFilter {
            target: Some(format!("indicator:{}", ids[0])),
            action_prefix: Some("intel.indicator.revoke".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(entries[0].fields.detail, "appeal upheld (disposed -> revoked)");
    let out = s
        .change_indicator_status(&[ids[0]], StatusChange::Revoke, &r)
        .await
        .unwrap();
    assert_eq!(out, vec![ChangeOutcome::Unchanged]);

    // Extend: the new end must lie ahead; revoked ones are refused.
    let ext = StatusChange::Extend {
        valid_until: Timestamp(T0 + 90 * DAY),
    };
    let out = s
        .change_indicator_status(&[ids[3], ids[0]], ext, &audit("intel.indicator.extend"))
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![
            ChangeOutcome::Changed,
            ChangeOutcome::Refused {
                status: IndicatorStatus::Revoked
            }
        ]
    );
    let got = s.get_indicator(ids[3]).await.unwrap().unwrap();
    assert_eq!(got.valid_until, Some(Timestamp(T0 + 90 * DAY)));
    assert_eq!(got.status, IndicatorStatus::Pending);
    let err = s
        .change_indicator_status(
            &[ids[3]],
            StatusChange::Extend {
                valid_until: Timestamp(T0 - 1),
            },
            &audit("intel.indicator.extend"),
        )
        .await
        .unwrap_err();
    assert!(err.is_invalid());

    // Confirming a revoked indicator whose end has passed renews it by its
    // kind's lifetime (phones: 30 days).
    let later = T0 + 20 * DAY;
    let out = s
        .change_indicator_status(&[ids[1]], confirm, &audit_at("intel.indicator.confirm", later))
        .await
        .unwrap();
    assert_eq!(out, vec![ChangeOutcome::Changed]);
    let got = s.get_indicator(ids[1]).await.unwrap().unwrap();
    assert_eq!(got.status, IndicatorStatus::Confirmed);
    assert_eq!(got.valid_until, Some(Timestamp(later + 30 * DAY)));
    assert!(got.version >= 3);
    verify_all(&s).await;
}

pub(crate) async fn intel_upsert_batch_is_idempotent(s: Arc<dyn Store>) {
    let mut rows = vec![
        upsert(IndicatorKind::Domain, "a.example", "tw165"),
        upsert(IndicatorKind::Domain, "b.example", "tw165"),
        upsert(IndicatorKind::Phone, "+886912345678", "tw165"),
    ];
    rows[0].tags = vec!["reports:3".into()];
    rows[0].fraud_type = Some(FraudType::FakeInvestment);
    rows[1].confidence = Some(90);
    rows[1].description = Some("投資詐騙".into());
    let t = audit("intel.import");
    let out = s.upsert_indicators_batch(&rows, &t).await.unwrap();
    assert!(out.iter().all(|o| matches!(o, IntelUpsertOutcome::Inserted(_))));
    assert_eq!(count_actions(&s, "intel.import.insert").await, 3);
    let a = s.get_indicator(out[0].id()).await.unwrap().unwrap();
    assert_eq!(a.fraud_type, FraudType::FakeInvestment);
    assert_eq!(a.confidence, 60, "the default confidence");
    assert_eq!(a.status, IndicatorStatus::Confirmed);
    assert_eq!(a.source, IndicatorSource::Feed("tw165".into()));
    assert_eq!(a.valid_until, Some(Timestamp(T0 + 180 * DAY)));
    assert_eq!(a.tags, vec!["reports:3"]);
    let b = s.get_indicator(out[1].id()).await.unwrap().unwrap();
    assert_eq!((b.confidence, b.fraud_type), (90, FraudType::Other));
    assert_eq!(b.description, "投資詐騙");

    // The same rows again, later: nothing changes, nothing is audited.
    let head = s.audit_head().await.unwrap();
    let g = s.intel_generation().await.unwrap();
    let mut rows2 = rows.clone();
    for r in &mut rows2 {
        r.default_valid_until = Some(Timestamp(T0 + 200 * DAY));
    }
    let again = s
        .upsert_indicators_batch(&rows2, &audit_at("intel.import", T0 + DAY))
        .await
        .unwrap();
    assert_eq!(
        again,
        out.iter()
            .map(|o| IntelUpsertOutcome::Unchanged(o.id()))
            .collect::<Vec<_>>()
    );
    assert_eq!(s.audit_head().await.unwrap(), head);
    assert_eq!(s.intel_generation().await.unwrap(), g);

    // A changed field updates; a new value inserts; a repeated key is
    // applied once; another feed's row of the same value is its own.
    rows2[0].tags = vec!["reports:5".into()];
    rows2[1].confidence = Some(70);
    rows2.push(upsert(IndicatorKind::Domain, "c.example", "tw165"));
    rows2.push(upsert(IndicatorKind::Domain, "c.example", "tw165"));
    rows2.push(upsert(IndicatorKind::Domain, "a.example", "other"));
    let res = s
        .upsert_indicators_batch(&rows2, &audit_at("intel.import", T0 + DAY))
        .await
        .unwrap();
    assert_eq!(res[0], IntelUpsertOutcome::Updated(out[0].id()));
    assert_eq!(res[1], IntelUpsertOutcome::Updated(out[1].id()));
    assert_eq!(res[2], IntelUpsertOutcome::Unchanged(out[2].id()));
    let IntelUpsertOutcome::Inserted(c) = res[3] else {
        panic!("c.example is new: {:?}", res[3])
    };
    assert_eq!(res[4], IntelUpsertOutcome::Unchanged(c));
    assert!(matches!(res[5], IntelUpsertOutcome::Inserted(_)));
    assert_eq!(count_actions(&s, "intel.import.update").await, 2);
    let a = s.get_indicator(out[0].id()).await.unwrap().unwrap();
    assert_eq!(a.tags, vec!["reports:5"]);
    assert_eq!(a.version, 2);
    assert_eq!(
        a.valid_until,
        Some(Timestamp(T0 + 180 * DAY)),
        "a default never overrides a stored end"
    );
    assert_eq!(
        s.indicators_by_value(IndicatorKind::Domain, "a.example")
            .await
            .unwrap()
            .len(),
        2
    );

    // An analyst's revocation survives re-imports; an expired row listed
    // again is revived with a fresh validity.
    s.change_indicator_status(
        &[out[1].id()],
        StatusChange::Revoke,
        &audit("intel.indicator.revoke"),
    )
    .await
    .unwrap();
    let late = T0 + 190 * DAY;
    let expired = s
        .expire_due(Timestamp(late), &audit_at("intel.indicator.expire", late))
        .await
        .unwrap();
    assert!(expired.contains(&out[0].id()));
    let mut rows3 = rows2[..3].to_vec();
    for r in &mut rows3 {
        r.default_valid_until = Some(Timestamp(late + 180 * DAY));
    }
    let res = s
        .upsert_indicators_batch(&rows3, &audit_at("intel.import", late))
        .await
        .unwrap();
    assert_eq!(res[0], IntelUpsertOutcome::Updated(out[0].id()));
    assert_eq!(res[1], IntelUpsertOutcome::KeptRevoked(out[1].id()));
    let a = s.get_indicator(out[0].id()).await.unwrap().unwrap();
    assert_eq!(a.status, IndicatorStatus::Confirmed);
    assert_eq!(a.valid_until, Some(Timestamp(late + 180 * DAY)));
    assert_eq!(
        s.get_indicator(out[1].id()).await.unwrap().unwrap().status,
        IndicatorStatus::Revoked
    );

    // A bad row fails the whole batch and names its index.
    let mut bad = rows3.clone();
    bad.push(upsert(IndicatorKind::Domain, "d.example", "tw165"));
    bad[3].confidence = Some(200);
    let head = s.audit_head().await.unwrap();
    let err = s
        .upsert_indicators_batch(&bad, &audit("intel.import"))
        .await
        .unwrap_err();
    assert!(reason(err).starts_with("row 3:"));
    assert_eq!(s.audit_head().await.unwrap(), head);
    assert!(
        s.indicators_by_value(IndicatorKind::Domain, "d.example")
            .await
            .unwrap()
            .is_empty()
    );

    // A row whose validity already ended is stored as expired.
    let mut old = upsert(IndicatorKind::Domain, "old.example", "tw165");
    old.valid_until = Some(Timestamp(T0 - DAY));
    let res = s
        .upsert_indicators_batch(&[old], &audit("intel.import"))
        .await
        .unwrap();
    let got = s.get_indicator(res[0].id()).await.unwrap().unwrap();
    assert_eq!(got.status, IndicatorStatus::Expired);
    assert!(got.valid_from < got.valid_until.unwrap());
    verify_all(&s).await;
}

pub(crate) async fn intel_active_pages_sightings_and_expiry(s: Arc<dyn Store>) {
    let a = audit("intel.indicator.create");
    let mut made = Vec::new();
    for n in 0..10 {
        let mut x = new_ind(
            IndicatorKind::Domain,
            &format!("d{n}.example"),
            IndicatorSource::Analyst,
        );
        x.valid_until = Some(Timestamp(T0 + (n + 1) * DAY));
        made.push(s.create_indicator(&x, &a).await.unwrap());
    }
    let mut future = new_ind(IndicatorKind::Domain, "future.example", IndicatorSource::Analyst);
    future.valid_from = Timestamp(T0 + 5 * DAY);
    let future = s.create_indicator(&future, &a).await.unwrap();
    s.change_indicator_status(&made[..2], StatusChange::Revoke, &audit("intel.indicator.revoke"))
        .await
        .unwrap();
    s.change_indicator_status(
        &made[2..4],
        StatusChange::Confirm {
            renew: Lifetimes::default(),
        },
        &audit("intel.indicator.confirm"),
    )
    .await
    .unwrap();
    s.change_indicator_status(
        &made[3..4],
        StatusChange::Dispose,
        &audit("intel.indicator.dispose"),
    )
    .await
    .unwrap();

    // At T0 + 2.5 days: d0, d1 revoked; d2 (1 day... 3 days) live; the
    // future one not yet valid.
    let now = Timestamp(T0 + 2 * DAY + DAY / 2);
    let mut live = Vec::new();
    let mut after = 0;
    loop {
        let page = s.active_indicators_page(now, after, 3).await.unwrap();
        let short = page.len() < 3;
        after = page.last().map_or(after, |p| p.id);
        live.extend(page);
        if short {
            break;
        }
    }
    let live_ids: Vec<i64> = live.iter().map(|l| l.id).collect();
    assert_eq!(
        live_ids,
        made[2..].to_vec(),
        "revoked, ended and future ones are left out"
    );
    assert_eq!(live[0].status, IndicatorStatus::Confirmed);
    assert_eq!(live[1].status, IndicatorStatus::Disposed);
    assert_eq!(live[2].status, IndicatorStatus::Pending);
    assert_eq!(live[0].fraud_type, FraudType::FakeInvestment);
    assert_eq!(live[0].confidence, 80);
    assert!(!live_ids.contains(&future));

    // Sightings: aggregated per id, not audited, no generation change.
    let head = s.audit_head().await.unwrap();
    let g = s.intel_generation().await.unwrap();
    let touched = s
        .record_sightings(&[
            (made[2], 2, Timestamp(T0 + DAY)),
            (made[2], 3, Timestamp(T0 + 2 * DAY)),
            (made[4], 1, Timestamp(T0 - DAY)),
            (999_999, 5, Timestamp(T0)),
        ])
        .await
        .unwrap();
    assert_eq!(touched, 2);
    assert_eq!(s.record_sightings(&[]).await.unwrap(), 0);
    let x = s.get_indicator(made[2]).await.unwrap().unwrap();
    assert_eq!(x.sightings, 5);
    assert_eq!(x.last_seen, Timestamp(T0 + 2 * DAY));
    let y = s.get_indicator(made[4]).await.unwrap().unwrap();
    assert_eq!(y.sightings, 1);
    assert_eq!(y.last_seen, Timestamp(T0), "last_seen never moves back");
    assert_eq!(y.version, 1, "sightings are not a change");
    assert_eq!(s.audit_head().await.unwrap(), head);
    assert_eq!(s.intel_generation().await.unwrap(), g);
    let many: Vec<(i64, u32, Timestamp)> = (0..300).map(|_| (made[5], 1, Timestamp(T0))).collect();
    s.record_sightings(&many).await.unwrap();
    assert_eq!(s.get_indicator(made[5]).await.unwrap().unwrap().sightings, 300);

    // Expiry: every active indicator whose end passed, audited as the system.
    let mut sys = audit_at("intel.indicator.expire", now.0);
    sys.actor_id = 0;
    sys.actor = "system".into();
    let expired = s.expire_due(now, &sys).await.unwrap();
    assert!(expired.is_empty(), "d0 and d1 were revoked, d2 ends at day 3");
    let expired = s.expire_due(Timestamp(T0 + 3 * DAY), &sys).await.unwrap();
    assert_eq!(expired, vec![made[2]]);
    assert_eq!(
        s.get_indicator(made[2]).await.unwrap().unwrap().status,
        IndicatorStatus::Expired
    );
    assert!(s.intel_generation().await.unwrap() > g);
    let (entries, _) = s
        .list_audit(&AuditFilter {
            target: Some(format!("indicator:{}", made[2])),
            action_prefix: Some("intel.indicator.expire".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].fields.actor, "system");
    assert_eq!(entries[0].fields.detail, "confirmed -> expired");
    assert!(
        s.expire_due(Timestamp(T0 + 3 * DAY), &sys)
            .await
            .unwrap()
            .is_empty()
    );

    let c = s.intel_counts().await.unwrap();
    assert_eq!(c.indicators, 11);
    assert_eq!(
        c.by_status,
        vec![
            (IndicatorStatus::Pending, 7),
            (IndicatorStatus::Disposed, 1),
            (IndicatorStatus::Revoked, 2),
            (IndicatorStatus::Expired, 1),
        ]
    );
    assert_eq!(c.by_kind, vec![(IndicatorKind::Domain, 11)]);
    let tags = s.indicator_tag_counts(1).await.unwrap();
    assert_eq!(tags, vec![("a".to_string(), 11)]);

    let s1 = s.next_export_serial(&audit("intel.export")).await.unwrap();
    let s2 = s.next_export_serial(&audit("intel.export")).await.unwrap();
    assert_eq!((s1, s2), (1, 2));
    assert_eq!(count_actions(&s, "intel.export").await, 2);
    verify_all(&s).await;
}

pub(crate) async fn intel_allowlist(s: Arc<dyn Store>) {
    let a = audit("allow.add");
    let g = s.intel_generation().await.unwrap();
    let id = s
        .add_allow_entry(
            &NewAllowEntry {
                kind: IndicatorKind::Domain,
                value: "county.gov.cn".into(),
                note: "县政府".into(),
            },
            &a,
        )
        .await
        .unwrap();
    assert!(s.intel_generation().await.unwrap() > g);
    let err = s
        .add_allow_entry(
            &NewAllowEntry {
                kind: IndicatorKind::Domain,
                value: "county.gov.cn".into(),
                note: String::new(),
            },
            &a,
        )
        .await
        .unwrap_err();
    assert_eq!(reason(err), "this value is already on the allowlist");
    let builtin = vec![
        NewAllowEntry {
            kind: IndicatorKind::Phone,
            value: "+86110".into(),
            note: "报警电话".into(),
        },
        NewAllowEntry {
            kind: IndicatorKind::Phone,
            value: "+8695588".into(),
            note: "工商银行".into(),
        },
        NewAllowEntry {
            kind: IndicatorKind::Domain,
            value: "county.gov.cn".into(),
            note: "县政府".into(),
        },
    ];
    let sys = audit("allow.builtin");
    assert_eq!(s.sync_builtin_allowlist(&builtin, &sys).await.unwrap(), (3, 0));
    assert_eq!(s.sync_builtin_allowlist(&builtin, &sys).await.unwrap(), (0, 0));
    let e = s.get_allow_entry(id).await.unwrap().unwrap();
    assert!(
        e.builtin,
        "a custom entry the shipped list names becomes built-in"
    );
    let err = s
        .remove_allow_entry(id, &audit("allow.remove"))
        .await
        .unwrap_err();
    assert_eq!(reason(err), "a built-in allowlist entry cannot be removed");
    assert_eq!(
        s.sync_builtin_allowlist(&builtin[..2], &sys).await.unwrap(),
        (0, 1)
    );
    assert!(s.get_allow_entry(id).await.unwrap().is_none());

    let custom = s
        .add_allow_entry(
            &NewAllowEntry {
                kind: IndicatorKind::Ip,
                value: "198.51.100.0/24".into(),
                note: "our office".into(),
            },
            &a,
        )
        .await
        .unwrap();
    let (page, total) = s.list_allowlist(&AllowFilter::default()).await.unwrap();
    assert_eq!(total, 3);
    assert_eq!(
        page.iter().map(|e| e.value.as_str()).collect::<Vec<_>>(),
        vec!["198.51.100.0/24", "+86110", "+8695588"],
        "by kind code, then value"
    );
    let (page, total) = s
        .list_allowlist(&AllowFilter {
            builtin: Some(true),
            kind: Some(IndicatorKind::Phone),
            value_prefix: Some("+8695".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((page.len(), total), (1, 1));
    assert_eq!(page[0].note, "工商银行");
    let (page, _) = s
        .list_allowlist(&AllowFilter {
            builtin: Some(false),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page[0].id, custom);
    assert_eq!(page[0].created_by, 1);
    assert_eq!(s.all_allow_entries().await.unwrap().len(), 3);
    s.remove_allow_entry(custom, &audit("allow.remove"))
        .await
        .unwrap();
    assert!(
        s.remove_allow_entry(custom, &audit("allow.remove"))
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(s.intel_counts().await.unwrap().allowlist, 2);
    verify_all(&s).await;
}

pub(crate) async fn intel_reports(s: Arc<dyn Store>) {
    let contact = SealedPhone {
        enc: b"enc-contact".to_vec(),
        bidx: b"bidx-contact".to_vec(),
        masked: "139****0000".into(),
    };
    let rep = |reference: &str| NewReport {
        reference: reference.into(),
        kind: IndicatorKind::Phone,
        value: "+8617000000001".into(),
        fraud_type: Some(FraudType::FakeLoan),
        description: "自称贷款客服，要求先交保证金".into(),
        contact: Some(contact.clone()),
        ip_hash: b"iphash".to_vec(),
        status: ReportStatus::New,
    };
    let mut ind = new_ind(
        IndicatorKind::Phone,
        "+8617000000001",
        IndicatorSource::PublicReport,
    );
    ind.confidence = 30;
    ind.fraud_type = FraudType::FakeLoan;
    let mut pub_audit = audit("intel.report.create");
    pub_audit.actor_id = 0;
    pub_audit.actor = "public".into();
    let g = s.intel_generation().await.unwrap();
    let r1 = s
        .create_report(&rep("JB-1"), Some(&ind), &pub_audit)
        .await
        .unwrap();
    assert!(r1.indicator_created);
    let iid = r1.indicator_id.unwrap();
    assert!(s.intel_generation().await.unwrap() > g);
    let x = s.get_indicator(iid).await.unwrap().unwrap();
    assert_eq!(x.status, IndicatorStatus::Pending);
    assert_eq!(x.source, IndicatorSource::PublicReport);
    assert_eq!(x.created_by, 0);
    // A second report of the same number joins the same indicator.
    let r2 = s
        .create_report(&rep("JB-2"), Some(&ind), &pub_audit)
        .await
        .unwrap();
    assert_eq!(r2.indicator_id, Some(iid));
    assert!(!r2.indicator_created);
    assert_eq!(s.get_indicator(iid).await.unwrap().unwrap().version, 1);
    // A reference is unique.
    let err = s
        .create_report(&rep("JB-2"), Some(&ind), &pub_audit)
        .await
        .unwrap_err();
    assert!(err.is_conflict());
    // An allowlisted value: the report alone.
    let mut bank = rep("JB-3");
    bank.value = "+8695588".into();
    bank.status = ReportStatus::Allowlisted;
    bank.contact = None;
    let r3 = s.create_report(&bank, None, &pub_audit).await.unwrap();
    assert_eq!(r3.indicator_id, None);
    // Mismatched indicator is refused.
    assert!(
        s.create_report(
            &rep("JB-4"),
            Some(&new_ind(
                IndicatorKind::Phone,
                "+8617000000009",
                IndicatorSource::PublicReport
            )),
            &pub_audit
        )
        .await
        .unwrap_err()
        .is_invalid()
    );

    let got = s.get_report(r1.report_id).await.unwrap().unwrap();
    assert_eq!(got.reference, "JB-1");
    assert_eq!(got.contact, Some(contact.clone()));
    assert_eq!(got.ip_hash, b"iphash".to_vec());
    assert_eq!(got.status, ReportStatus::New);
    assert_eq!(got.fraud_type, Some(FraudType::FakeLoan));
    assert_eq!(got.indicator_id, Some(iid));
    assert_eq!(
        s.report_by_reference(" JB-3 ").await.unwrap().unwrap().id,
        r3.report_id
    );
    assert!(s.report_by_reference("nope").await.unwrap().is_none());
    let (list, total) = s.list_reports(&ReportFilter::default()).await.unwrap();
    assert_eq!(total, 3);
    assert_eq!(list[0].id, r3.report_id, "newest first");
    let (list, total) = s
        .list_reports(&ReportFilter {
            status: Some(ReportStatus::New),
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((list.len(), total), (1, 2));
    let (list, total) = s
        .list_reports(&ReportFilter {
            indicator_id: Some(iid),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 2);
    assert!(list.iter().all(|r| r.indicator_id == Some(iid)));
    assert_eq!(s.intel_counts().await.unwrap().reports_new, 2);

    s.review_report(
        r1.report_id,
        ReportStatus::Accepted,
        "核实属实",
        &audit("intel.report.review"),
    )
    .await
    .unwrap();
    let got = s.get_report(r1.report_id).await.unwrap().unwrap();
    assert_eq!(got.status, ReportStatus::Accepted);
    assert_eq!(got.review_note, "核实属实");
    assert_eq!(got.reviewed_by, Some(1));
    assert!(
        s.review_report(99_999, ReportStatus::Rejected, "", &audit("intel.report.review"))
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(count_actions(&s, "intel.report.create").await, 3);
    let (entries, _) = s
        .list_audit(&AuditFilter {
            target: Some(format!("indicator:{iid}")),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].fields.action, "intel.indicator.create");
    assert_eq!(entries[0].fields.actor, "public");
    // A report keeps its text after its indicator is deleted.
    s.delete_indicator(iid, &audit("intel.indicator.delete"))
        .await
        .unwrap();
    assert_eq!(
        s.get_report(r1.report_id).await.unwrap().unwrap().indicator_id,
        None
    );
    verify_all(&s).await;
}

pub(crate) async fn intel_disposals_and_import_jobs(s: Arc<dyn Store>) {
    let a = audit("intel.indicator.create");
    let mut ids = Vec::new();
    for n in 0..3 {
        let mut x = new_ind(
            IndicatorKind::Domain,
            &format!("block{n}.example"),
            IndicatorSource::Analyst,
        );
        x.status = IndicatorStatus::Confirmed;
        ids.push(s.create_indicator(&x, &a).await.unwrap());
    }
    s.change_indicator_status(&ids[2..], StatusChange::Revoke, &audit("intel.indicator.revoke"))
        .await
        .unwrap();
    let d = NewDisposal {
        indicator_ids: vec![ids[1], ids[0], ids[2], ids[0]],
        filter_description: String::new(),
        target: DisposalTarget::Registrar,
        target_name: "某域名注册商".into(),
        request_note: "请停止解析".into(),
    };
    let err = s
        .create_disposal(
            &NewDisposal {
                indicator_ids: vec![ids[0], 555_555],
                ..d.clone()
            },
            &audit("intel.disposal.create"),
        )
        .await
        .unwrap_err();
    assert!(err.is_invalid());
    assert!(
        s.create_disposal(
            &NewDisposal {
                indicator_ids: Vec::new(),
                ..d.clone()
            },
            &audit("intel.disposal.create"),
        )
        .await
        .unwrap_err()
        .is_invalid()
    );
    let id = s
        .create_disposal(&d, &audit("intel.disposal.create"))
        .await
        .unwrap();
    let rec = s.get_disposal(id).await.unwrap().unwrap();
    assert_eq!(rec.indicator_ids, ids.clone());
    assert_eq!(rec.status, DisposalStatus::Requested);
    assert_eq!(rec.target, DisposalTarget::Registrar);
    assert_eq!(rec.requested_by, 1);
    assert_eq!(rec.version, 1);
    let batch = s
        .create_disposal(
            &NewDisposal {
                indicator_ids: Vec::new(),
                filter_description: "rpz export #3: confirmed domains".into(),
                target: DisposalTarget::Operator,
                target_name: "电信".into(),
                request_note: String::new(),
            },
            &audit("intel.disposal.create"),
        )
        .await
        .unwrap();
    assert_eq!(s.intel_counts().await.unwrap().disposals_open, 2);

    let up = audit("intel.disposal.update");
    assert_eq!(
        s.update_disposal(id, DisposalStatus::InProgress, "已发函", Some(1), &up)
            .await
            .unwrap(),
        2
    );
    assert!(
        s.update_disposal(id, DisposalStatus::Done, "", Some(1), &up)
            .await
            .unwrap_err()
            .is_conflict(),
        "stale version"
    );
    assert!(
        s.update_disposal(id, DisposalStatus::Requested, "", None, &up)
            .await
            .unwrap_err()
            .is_invalid(),
        "no way back"
    );
    let g = s.intel_generation().await.unwrap();
    s.update_disposal(id, DisposalStatus::Done, "已停止解析", None, &up)
        .await
        .unwrap();
    assert!(s.intel_generation().await.unwrap() > g);
    let got = s.indicators_by_ids(&ids).await.unwrap();
    assert_eq!(
        got.iter().map(|i| i.status).collect::<Vec<_>>(),
        vec![
            IndicatorStatus::Disposed,
            IndicatorStatus::Disposed,
            IndicatorStatus::Revoked
        ],
        "done disposes the confirmed indicators only"
    );
    let (entries, _) = s
        .list_audit(&AuditFilter {
            target: Some(format!("indicator:{}", ids[0])),
            action_prefix: Some("intel.indicator.dispose".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        entries[0].fields.detail,
        format!("disposal:{id} (confirmed -> disposed)")
    );
    assert!(
        s.update_disposal(id, DisposalStatus::Rejected, "", None, &up)
            .await
            .unwrap_err()
            .is_invalid(),
        "final"
    );
    let err = s
        .delete_indicator(ids[0], &audit("intel.indicator.delete"))
        .await
        .unwrap_err();
    assert_eq!(reason(err), "indicator is named in 1 disposal record");

    let (list, total) = s.list_disposals(&DisposalFilter::default()).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(list[0].id, batch);
    let (list, _) = s
        .list_disposals(&DisposalFilter {
            indicator_id: Some(ids[2]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].status, DisposalStatus::Done);
    assert_eq!(list[0].result, "已停止解析");
    let (list, _) = s
        .list_disposals(&DisposalFilter {
            status: Some(DisposalStatus::Requested),
            target: Some(DisposalTarget::Operator),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert!(s.get_disposal(424_242).await.unwrap().is_none());

    // Import jobs.
    let job = NewImportJob {
        source_name: "tw165".into(),
        format: "adblock".into(),
        file_name: "tw165_scam_sites.adblock.txt".into(),
        lines: 100,
        added: 90,
        updated: 0,
        unchanged: 0,
        skipped: 7,
        rejected: 3,
        report: "{\"added\":90}".into(),
    };
    let j1 = s
        .create_import_job(&job, &audit("intel.import.job"))
        .await
        .unwrap();
    let j2 = s
        .create_import_job(
            &NewImportJob {
                added: 0,
                unchanged: 90,
                ..job.clone()
            },
            &audit("intel.import.job"),
        )
        .await
        .unwrap();
    let got = s.get_import_job(j1).await.unwrap().unwrap();
    assert_eq!(got.report, "{\"added\":90}");
    assert_eq!((got.lines, got.added, got.skipped, got.rejected), (100, 90, 7, 3));
    assert_eq!(got.created_by, 1);
    let (list, total) = s.list_import_jobs(10, 0).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(list[0].id, j2);
    assert_eq!(list[0].unchanged, 90);
    assert!(list[0].report.is_empty(), "lists leave the report text out");
    verify_all(&s).await;
}
