//! Conformance cases of the detection pipeline's data
//! ([`fanzha_store::EventStore`]), run on both backends by the harness in
//! `conformance.rs`.

use super::{T0, audit, phone, reason, resident, tree, verify_all};
use fanzha_core::{FraudType, Grade, NodeId, ResidentId, Timestamp};
use fanzha_store::*;
use std::sync::Arc;

fn ev(n: u32, ts: i64) -> NewEvent {
    NewEvent {
        id_hash: format!("digest-{n}").into_bytes(),
        legacy_id_hash: None,
        ts: Timestamp(ts),
        kind: if n.is_multiple_of(2) { "call" } else { "sms" }.into(),
        source: "cmcc".into(),
        person_key: i64::from(n % 5) - 2,
        payload: format!("sealed-{n}").into_bytes(),
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

fn lead(person: i64, seq: Option<i64>, node: Option<NodeId>, grade: Grade) -> NewLead {
    NewLead {
        person_key: person,
        subscriber_kind: "phone".into(),
        subscriber: phone(&person.to_string()),
        name: None,
        resident_id: None,
        node_id: node,
        grade,
        score_milli: 25_500,
        fraud_type: Some(FraudType::FakeInvestment),
        source: LeadSource::Engine,
        upstream_id: None,
        rules_version: Some(1),
        opened_at: Timestamp(T0 + seq.unwrap_or(0)),
        raised_seq: seq,
        explanation: r#"{"signals":[]}"#.into(),
        event_seqs: seq.into_iter().collect(),
        note: String::new(),
    }
}

fn commit(signals: Vec<NewSignal>, leads: Vec<LeadWrite>, checkpoints: Vec<(u32, i64)>) -> PipelineCommit {
    PipelineCommit {
        consumer: "pipeline".into(),
        checkpoints,
        signals,
        leads,
        audit: AuditRecord {
            actor_id: 0,
            actor: "engine".into(),
            ..audit("lead")
        },
    }
}

pub(crate) async fn events_append_is_idempotent_and_ordered(s: Arc<dyn Store>) {
    assert_eq!(s.event_head().await.unwrap(), 0);
    assert!(s.events_after(0, 10).await.unwrap().is_empty());
    // A batch with a duplicate inside it.
    let mut batch: Vec<NewEvent> = (0..5).map(|n| ev(n, T0 + i64::from(n) * 1000)).collect();
    batch.push(ev(2, T0));
    let got = s
        .append_events(batch, Timestamp(T0 + 10), &audit("event.ingest"))
        .await
        .unwrap();
    assert_eq!(got.len(), 6);
    assert!(got[..5].iter().all(Option::is_some));
    assert_eq!(got[5], None, "the second copy in the batch is a duplicate");
    let seqs: Vec<i64> = got.iter().flatten().copied().collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seqs grow in batch order: {seqs:?}"
    );
    // Re-sending the same events adds nothing; new ones follow.
    let again: Vec<NewEvent> = (3..700).map(|n| ev(n, T0 + i64::from(n) * 1000)).collect();
    let got2 = s
        .append_events(again, Timestamp(T0 + 20), &audit("event.ingest"))
        .await
        .unwrap();
    assert_eq!(got2.len(), 697);
    assert_eq!(got2[0], None);
    assert_eq!(got2[1], None);
    let fresh: Vec<i64> = got2.iter().flatten().copied().collect();
    assert_eq!(fresh.len(), 695);
    assert!(fresh.iter().all(|q| *q > seqs[4]));
    let head = s.event_head().await.unwrap();
    assert_eq!(head, *fresh.iter().max().unwrap());
    // Reading back: paged, in order, exactly what was stored.
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = s.events_after(after, 128).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().unwrap().seq;
        all.extend(page);
    }
    assert_eq!(all.len(), 700);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    let e0 = &all[0];
    assert_eq!(
        (
            e0.ts,
            e0.kind.as_str(),
            e0.source.as_str(),
            e0.person_key,
            e0.received_at
        ),
        (Timestamp(T0), "call", "cmcc", -2, Timestamp(T0 + 10))
    );
    assert_eq!(e0.payload, b"sealed-0");
    let some = s
        .events_by_seqs(&[all[10].seq, all[3].seq, all[10].seq, 999_999])
        .await
        .unwrap();
    assert_eq!(
        some.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![all[3].seq, all[10].seq]
    );
    // Time ranges.
    assert_eq!(
        s.first_seq_since(Timestamp(T0 + 600_000)).await.unwrap(),
        Some(all[600].seq)
    );
    assert_eq!(s.first_seq_since(Timestamp(T0 + 10_000_000)).await.unwrap(), None);
    let range = s
        .events_in_range(Timestamp(T0 + 100_000), Timestamp(T0 + 110_000), 0, 100)
        .await
        .unwrap();
    assert_eq!(
        range.iter().map(|e| e.ts.0 - T0).collect::<Vec<_>>(),
        (100..110).map(|n| n * 1000).collect::<Vec<_>>()
    );
    let tail = s
        .events_in_range(Timestamp(T0), Timestamp(T0 + 1_000_000), all[695].seq, 100)
        .await
        .unwrap();
    assert_eq!(tail.len(), 4);
    // One audit entry per batch, with the counts.
    let (entries, n) = s
        .list_audit(&AuditFilter {
            action_prefix: Some("event.ingest".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert!(
        entries
            .iter()
            .any(|e| e.fields.detail.contains("accepted=695 duplicates=2"))
    );
    let counts = s.event_counts().await.unwrap();
    assert_eq!(counts.head_seq, head);
    verify_all(&s).await;
}

pub(crate) async fn events_legacy_digests_are_duplicates(s: Arc<dyn Store>) {
    // Stored under an earlier digest scheme.
    let old: Vec<NewEvent> = (0..3).map(|n| ev(n, T0 + i64::from(n))).collect();
    let got = s
        .append_events(old, Timestamp(T0), &audit("event.ingest"))
        .await
        .unwrap();
    assert!(got.iter().all(Option::is_some));
    // The same events under the new scheme, and two new ones: only the new
    // ones are stored, each once (the second copy in the batch too).
    let renamed = |n: u32| NewEvent {
        id_hash: format!("v2-{n}").into_bytes(),
        legacy_id_hash: Some(format!("digest-{n}").into_bytes()),
        ..ev(n, T0 + i64::from(n))
    };
    let batch: Vec<NewEvent> = (0..5).chain([4]).map(renamed).collect();
    let got = s
        .append_events(batch.clone(), Timestamp(T0 + 1), &audit("event.ingest"))
        .await
        .unwrap();
    assert_eq!(&got[..3], &[None, None, None], "stored under the old digest");
    assert!(got[3].is_some() && got[4].is_some(), "{got:?}");
    assert_eq!(got[5], None, "the second copy in the batch");
    // Sent again: duplicates by the new digest; nothing stores a legacy one.
    let again = s
        .append_events(batch, Timestamp(T0 + 2), &audit("event.ingest"))
        .await
        .unwrap();
    assert!(again.iter().all(Option::is_none), "{again:?}");
    assert_eq!(s.event_head().await.unwrap(), *got[4].as_ref().unwrap());
    let stored = s.events_after(0, 100).await.unwrap();
    assert_eq!(stored.len(), 5);
    // A bad legacy digest refuses the batch.
    let e = s
        .append_events(
            vec![NewEvent {
                legacy_id_hash: Some(Vec::new()),
                ..renamed(9)
            }],
            Timestamp(T0),
            &audit("event.ingest"),
        )
        .await
        .unwrap_err();
    assert!(e.is_invalid(), "{e}");
    verify_all(&s).await;
}

pub(crate) async fn events_reject_bad_input_whole(s: Arc<dyn Store>) {
    let cases: Vec<(NewEvent, &str)> = vec![
        (
            NewEvent {
                id_hash: Vec::new(),
                ..ev(1, T0)
            },
            "row 1",
        ),
        (
            NewEvent {
                kind: "x".repeat(40),
                ..ev(1, T0)
            },
            "kind",
        ),
        (
            NewEvent {
                source: "s".repeat(100),
                ..ev(1, T0)
            },
            "source",
        ),
    ];
    for (bad, needle) in cases {
        let e = s
            .append_events(vec![ev(0, T0), bad], Timestamp(T0), &audit("event.ingest"))
            .await
            .unwrap_err();
        assert!(e.is_invalid(), "{e}");
        assert!(reason(e).contains(needle));
    }
    assert_eq!(
        s.event_head().await.unwrap(),
        0,
        "nothing of a refused batch is kept"
    );
    assert_eq!(count_actions(&s, "event.ingest").await, 0);
}

pub(crate) async fn pipeline_commit_is_idempotent(s: Arc<dyn Store>) {
    let t = tree(&s).await;
    let seqs: Vec<i64> = s
        .append_events(
            (0..10).map(|n| ev(n, T0 + i64::from(n))).collect(),
            Timestamp(T0),
            &audit("event.ingest"),
        )
        .await
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    let signal = |seq: i64, position: i64| NewSignal {
        seq,
        position,
        person_key: 7,
        signal: "call_flagged".into(),
        fraud_type: Some(FraudType::FakeInvestment),
        weight_milli: 30_000,
        evidence: r#"{"type":"indicator","indicator_id":3}"#.into(),
    };
    let mut raise = lead(7, Some(seqs[2]), Some(t.grid_a1), Grade::Low);
    raise.event_seqs = vec![seqs[1], seqs[2]];
    let update = LeadUpdate {
        person_key: 7,
        seq: seqs[5],
        grade: Grade::High,
        score_milli: 80_000,
        fraud_type: None,
        rules_version: Some(2),
        explanation: r#"{"grade":"high"}"#.into(),
        event_seqs: vec![seqs[1], seqs[2], seqs[5]],
        at: Timestamp(T0 + 5),
    };
    let c = commit(
        vec![
            signal(seqs[1], 0),
            signal(seqs[2], 0),
            signal(seqs[5], 0),
            signal(seqs[5], 1),
        ],
        vec![
            LeadWrite::Raise(Box::new(raise.clone())),
            LeadWrite::Update(update.clone()),
        ],
        vec![(0, seqs[5]), (3, seqs[4])],
    );
    let out = s.commit_pipeline(c.clone()).await.unwrap();
    let LeadWriteOutcome::Raised(id) = out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(out[1], LeadWriteOutcome::Updated(id));
    // The same batch again (a replay after a crash) changes nothing.
    let again = s.commit_pipeline(c).await.unwrap();
    assert_eq!(
        again,
        vec![LeadWriteOutcome::AlreadyRaised(id), LeadWriteOutcome::Skipped]
    );
    // An older update arriving late is skipped too.
    let old = LeadUpdate {
        seq: seqs[3],
        grade: Grade::Medium,
        ..update.clone()
    };
    let late = s
        .commit_pipeline(commit(vec![], vec![LeadWrite::Update(old)], vec![(0, seqs[3])]))
        .await
        .unwrap();
    assert_eq!(late, vec![LeadWriteOutcome::Skipped]);
    let l = s.get_lead(&Scope::All, id).await.unwrap().unwrap();
    assert_eq!(l.summary.grade, Grade::High);
    assert_eq!(l.summary.score_milli, 80_000);
    assert_eq!(
        l.summary.fraud_type,
        Some(FraudType::FakeInvestment),
        "an update without a type keeps it"
    );
    assert_eq!(l.summary.rules_version, Some(2));
    assert_eq!(l.summary.updates, 1);
    assert_eq!(l.summary.status, LeadStatus::Open);
    assert_eq!(l.summary.source, LeadSource::Engine);
    assert_eq!((l.raised_seq, l.last_seq), (Some(seqs[2]), seqs[5]));
    assert_eq!(l.event_seqs, vec![seqs[1], seqs[2], seqs[5]]);
    assert_eq!(l.explanation, r#"{"grade":"high"}"#);
    assert_eq!(l.subscriber, phone("7"));
    assert_eq!(
        l.node_path
            .as_ref()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default()
            .matches('/')
            .count(),
        5
    );
    // Signals stored once.
    let sig = s.signals_for(&[seqs[5], seqs[1], seqs[2]]).await.unwrap();
    assert_eq!(sig.len(), 4);
    assert_eq!(sig[2], signal(seqs[5], 0));
    // Checkpoints only move forwards.
    assert_eq!(
        s.checkpoints("pipeline").await.unwrap(),
        vec![(0, seqs[5]), (3, seqs[4])]
    );
    assert!(s.checkpoints("other").await.unwrap().is_empty());
    // One raise and one update in the audit log, by the engine.
    assert_eq!(count_actions(&s, "lead.raise").await, 1);
    assert_eq!(count_actions(&s, "lead.update").await, 1);
    // A person without an engine lead: the update is skipped.
    let lonely = LeadUpdate {
        person_key: 99,
        ..update
    };
    assert_eq!(
        s.commit_pipeline(commit(vec![], vec![LeadWrite::Update(lonely)], vec![]))
            .await
            .unwrap(),
        vec![LeadWriteOutcome::Skipped]
    );
    // A bad signal refuses the whole batch.
    let mut bad = signal(seqs[6], 0);
    bad.signal = "x".repeat(100);
    let e = s
        .commit_pipeline(commit(
            vec![bad],
            vec![LeadWrite::Raise(Box::new(lead(
                8,
                Some(seqs[6]),
                None,
                Grade::Low,
            )))],
            vec![(0, seqs[9])],
        ))
        .await
        .unwrap_err();
    assert!(e.is_invalid());
    assert_eq!(s.checkpoints("pipeline").await.unwrap()[0], (0, seqs[5]));
    verify_all(&s).await;
}

pub(crate) async fn leads_scope_filters_and_status(s: Arc<dyn Store>) {
    let t = tree(&s).await;
    let rid = s
        .create_resident(&resident(t.grid_a1, 1), &audit("resident.create"))
        .await
        .unwrap();
    let mut a1 = lead(1, Some(101), Some(t.grid_a1), Grade::High);
    a1.resident_id = Some(rid);
    let b1 = lead(2, Some(102), Some(t.grid_b1), Grade::Low);
    let mut county = lead(3, Some(103), Some(t.county), Grade::Medium);
    county.fraud_type = Some(FraudType::FakeCustomerService);
    let nowhere = lead(4, Some(104), None, Grade::Critical);
    let out = s
        .commit_pipeline(commit(
            vec![],
            vec![
                LeadWrite::Raise(Box::new(a1)),
                LeadWrite::Raise(Box::new(b1)),
                LeadWrite::Raise(Box::new(county)),
                LeadWrite::Raise(Box::new(nowhere)),
            ],
            vec![],
        ))
        .await
        .unwrap();
    let ids: Vec<i64> = out
        .iter()
        .map(|o| match o {
            LeadWriteOutcome::Raised(id) => *id,
            other => panic!("{other:?}"),
        })
        .collect();
    let path = |n: NodeId| {
        let s = s.clone();
        async move { s.get_node(&Scope::All, n).await.unwrap().unwrap().path }
    };
    let town_a = Scope::Subtree(path(t.town_a).await);
    let county_scope = Scope::Subtree(path(t.county).await);
    let list = |scope: Scope, f: LeadFilter| {
        let s = s.clone();
        async move {
            let (items, total) = s.list_leads(&scope, &f).await.unwrap();
            (items.iter().map(|l| l.id).collect::<Vec<_>>(), total)
        }
    };
    // Newest first; town A sees only its grid's lead; the county sees every
    // lead with a node; only the administrator sees the one without.
    assert_eq!(
        list(town_a.clone(), LeadFilter::default()).await,
        (vec![ids[0]], 1)
    );
    assert_eq!(
        list(county_scope.clone(), LeadFilter::default()).await,
        (vec![ids[2], ids[1], ids[0]], 3)
    );
    assert_eq!(list(Scope::All, LeadFilter::default()).await.1, 4);
    assert!(s.get_lead(&town_a, ids[1]).await.unwrap().is_none());
    assert!(s.get_lead(&county_scope, ids[3]).await.unwrap().is_none());
    let l = s.get_lead(&town_a, ids[0]).await.unwrap().unwrap();
    assert_eq!(l.summary.resident_id, Some(rid));
    assert_eq!(l.summary.node_name.as_deref(), Some("一网格"));
    // Filters.
    let f = |g: Option<Grade>| LeadFilter {
        grade: g,
        ..Default::default()
    };
    assert_eq!(list(Scope::All, f(Some(Grade::Low))).await.0, vec![ids[1]]);
    assert_eq!(
        list(
            Scope::All,
            LeadFilter {
                fraud_type: Some(FraudType::FakeCustomerService),
                ..Default::default()
            }
        )
        .await
        .0,
        vec![ids[2]]
    );
    assert_eq!(
        list(
            Scope::All,
            LeadFilter {
                node_path: Some(path(t.town_b).await),
                ..Default::default()
            }
        )
        .await
        .0,
        vec![ids[1]]
    );
    assert_eq!(
        list(
            Scope::All,
            LeadFilter {
                from: Some(Timestamp(T0 + 102)),
                to: Some(Timestamp(T0 + 104)),
                ..Default::default()
            }
        )
        .await
        .0,
        vec![ids[2], ids[1]]
    );
    assert_eq!(
        list(
            Scope::All,
            LeadFilter {
                resident_id: Some(rid),
                ..Default::default()
            }
        )
        .await
        .0,
        vec![ids[0]]
    );
    assert_eq!(
        list(
            Scope::All,
            LeadFilter {
                subscriber_bidx: Some(phone("2").bidx),
                ..Default::default()
            }
        )
        .await
        .0,
        vec![ids[1]]
    );
    assert_eq!(
        list(
            Scope::All,
            LeadFilter {
                limit: Some(2),
                offset: 1,
                ..Default::default()
            }
        )
        .await,
        (vec![ids[2], ids[1]], 4)
    );
    // Status changes are audited; a missing lead is not found.
    s.set_lead_status(
        ids[0],
        LeadStatus::Dispatched,
        Some("任务已派"),
        &audit("lead.status"),
    )
    .await
    .unwrap();
    let l = s.get_lead(&Scope::All, ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (l.summary.status, l.note.as_str()),
        (LeadStatus::Dispatched, "任务已派")
    );
    assert_eq!(
        list(
            Scope::All,
            LeadFilter {
                status: Some(LeadStatus::Open),
                ..Default::default()
            }
        )
        .await
        .1,
        3
    );
    let e = s
        .set_lead_status(9_999, LeadStatus::Closed, None, &audit("lead.status"))
        .await
        .unwrap_err();
    assert!(e.is_not_found());
    assert_eq!(count_actions(&s, "lead.status").await, 1);
    let counts = s.event_counts().await.unwrap();
    assert_eq!((counts.leads, counts.open_leads), (4, 3));
    // Deleting the resident keeps the lead and forgets the link.
    s.delete_resident(rid, &audit("resident.delete")).await.unwrap();
    let l = s.get_lead(&Scope::All, ids[0]).await.unwrap().unwrap();
    assert_eq!(l.summary.resident_id, None);
    verify_all(&s).await;
}

pub(crate) async fn leads_import_is_idempotent_by_upstream_id(s: Arc<dyn Store>) {
    let t = tree(&s).await;
    let pushed = |n: i64| NewLead {
        source: LeadSource::UpperPush,
        upstream_id: Some(format!("SJ-2026-{n}")),
        raised_seq: None,
        name: Some(SealedName {
            enc: b"enc-name".to_vec(),
            masked: "张*".into(),
        }),
        event_seqs: Vec::new(),
        ..lead(n, None, Some(t.grid_a2), Grade::High)
    };
    let first = s
        .import_leads(vec![pushed(1), pushed(2)], &audit("lead.import"))
        .await
        .unwrap();
    let ids: Vec<i64> = first
        .iter()
        .map(|o| match o {
            LeadImportOutcome::Inserted(id) => *id,
            other => panic!("{other:?}"),
        })
        .collect();
    let second = s
        .import_leads(vec![pushed(2), pushed(3)], &audit("lead.import"))
        .await
        .unwrap();
    assert_eq!(second[0], LeadImportOutcome::Existing(ids[1]));
    assert!(matches!(second[1], LeadImportOutcome::Inserted(_)));
    assert_eq!(count_actions(&s, "lead.import").await, 3);
    let l = s.get_lead(&Scope::All, ids[0]).await.unwrap().unwrap();
    assert_eq!(l.summary.source, LeadSource::UpperPush);
    assert_eq!(l.summary.upstream_id.as_deref(), Some("SJ-2026-1"));
    assert_eq!(l.name.as_ref().map(|n| n.masked.as_str()), Some("张*"));
    // The same upstream id from another source is another lead.
    let mut report = pushed(2);
    report.source = LeadSource::PublicReport;
    assert!(matches!(
        s.import_leads(vec![report], &audit("lead.import")).await.unwrap()[0],
        LeadImportOutcome::Inserted(_)
    ));
    // No upstream id, or a bad row, refuses the whole batch.
    let mut none = pushed(9);
    none.upstream_id = None;
    let e = s
        .import_leads(vec![pushed(8), none], &audit("lead.import"))
        .await
        .unwrap_err();
    assert!(reason(e).contains("row 1"));
    let (_, total) = s.list_leads(&Scope::All, &LeadFilter::default()).await.unwrap();
    assert_eq!(total, 4);
    verify_all(&s).await;
}

pub(crate) async fn rules_versions_and_activation(s: Arc<dyn Store>) {
    assert!(s.active_rules().await.unwrap().is_none());
    assert_eq!(s.next_rules_version().await.unwrap(), 1);
    let doc = |v: i64| NewRulesVersion {
        version: v,
        name: format!("rules {v}"),
        toml: format!("version = {v}\nname = \"r{v}\"\n"),
        note: "调整权重".into(),
    };
    s.save_rules(&doc(1), &audit("rules.save")).await.unwrap();
    assert_eq!(s.next_rules_version().await.unwrap(), 2);
    s.save_rules(&doc(2), &audit("rules.save")).await.unwrap();
    let active = s.active_rules().await.unwrap().unwrap();
    assert_eq!((active.version, active.active), (2, true));
    assert_eq!(active.toml, "version = 2\nname = \"r2\"\n");
    assert_eq!((active.author.as_str(), active.author_id), ("tester", 1));
    assert!(!s.get_rules(1).await.unwrap().unwrap().active);
    let e = s.save_rules(&doc(2), &audit("rules.save")).await.unwrap_err();
    assert!(e.is_conflict());
    s.activate_rules(1, &audit("rules.activate")).await.unwrap();
    assert_eq!(s.active_rules().await.unwrap().unwrap().version, 1);
    assert!(
        s.activate_rules(7, &audit("rules.activate"))
            .await
            .unwrap_err()
            .is_not_found()
    );
    let all = s.list_rules(10).await.unwrap();
    assert_eq!(
        all.iter().map(|r| (r.version, r.active)).collect::<Vec<_>>(),
        vec![(2, false), (1, true)]
    );
    let empty = NewRulesVersion {
        toml: "  ".into(),
        ..doc(3)
    };
    assert!(
        s.save_rules(&empty, &audit("rules.save"))
            .await
            .unwrap_err()
            .is_invalid()
    );
    assert_eq!(count_actions(&s, "rules.").await, 3);
    verify_all(&s).await;
}

pub(crate) async fn resident_directory_and_fingerprint(s: Arc<dyn Store>) {
    let t = tree(&s).await;
    let f0 = s.residents_fingerprint().await.unwrap();
    assert_eq!(f0.count, 0);
    let mut ids = Vec::new();
    for n in 0..5u32 {
        let mut r = resident(if n < 3 { t.grid_a1 } else { t.grid_b1 }, n);
        if n == 1 {
            r.phones.push(phone("extra"));
            r.tags = vec!["独居老人".into(), "低保".into()];
        }
        ids.push(s.create_resident(&r, &audit("resident.create")).await.unwrap());
    }
    let f1 = s.residents_fingerprint().await.unwrap();
    assert_eq!(f1.count, 5);
    assert_ne!(f0, f1);
    let page1 = s.resident_directory_page(None, 2).await.unwrap();
    let page2 = s
        .resident_directory_page(Some(page1[1].resident_id), 10)
        .await
        .unwrap();
    assert_eq!(page1.len() + page2.len(), 5);
    let one = &page1[1];
    assert_eq!(one.resident_id, ids[1]);
    assert_eq!(one.grid_id, t.grid_a1);
    assert_eq!(one.phone_bidx, vec![phone("1").bidx, phone("extra").bidx]);
    assert_eq!(one.tags, vec!["低保".to_string(), "独居老人".to_string()]);
    assert_eq!(one.birth_date, resident(t.grid_a1, 1).birth_date);
    assert_eq!(page2.last().unwrap().grid_id, t.grid_b1);
    assert!(
        s.resident_directory_page(Some(ResidentId(i64::MAX - 1)), 10)
            .await
            .unwrap()
            .is_empty()
    );
    s.delete_resident(ids[4], &audit("resident.delete"))
        .await
        .unwrap();
    assert_ne!(s.residents_fingerprint().await.unwrap(), f1);
}
