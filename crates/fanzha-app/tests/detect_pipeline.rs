//! Detection through the app: events in, leads out. Ingest per line,
//! dedup, allowlisted numbers, unknown subscribers, scope, rules hot reload
//! mid-stream, restarts without duplicate leads, upper-level pushes, public
//! reports, backtests, and strange events that must never stop the pipeline.

mod org_support;

use fanzha_app::crypto::MasterKey;
use fanzha_app::detect::leads::LeadQuery;
use fanzha_app::detect::{LeadSource, PIPELINE_CONSUMER};
use fanzha_app::intel::formats::ImportFormat;
use fanzha_app::intel::import::IntelImportRequest;
use fanzha_app::residents::ResidentForm;
use fanzha_app::{Actor, App, AppConfig, AuthVia, ManualClock, StoreConfig, User};
use fanzha_core::roles::Role;
use fanzha_core::time::Date;
use fanzha_core::{FraudType, Grade, IndicatorKind, NodeId, ResidentId, Timestamp, UserId};
use fanzha_engine::detect::DEFAULT_RULES;
use fanzha_store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// 2026-01-01T00:00:00Z.
const NOW: i64 = 1_767_225_600_000;
const MIN: i64 = 60_000;
const WAIT: Duration = Duration::from_secs(30);

/// Flagged numbers (confidence 90) and the residents' phones.
const FLAGGED: [&str; 3] = ["+8617100000001", "+8617100000002", "+8617100000003"];
const ELDER: &str = "+8613900000001"; // 76 years old, grid A1, lives alone
const STUDENT: &str = "+8613900000002"; // 19, grid B1
const STRANGER: &str = "+8613700000009"; // not a resident

struct World {
    app: Arc<App>,
    clock: Arc<ManualClock>,
    dir: tempfile::TempDir,
    county: NodeId,
    grid_a1: NodeId,
    grid_b1: NodeId,
    elder: ResidentId,
    analyst: Actor,
}

fn config(dir: &std::path::Path) -> AppConfig {
    let mut cfg = AppConfig::new(MasterKey::from_hex(&"cd".repeat(32)).unwrap());
    cfg.intel.snapshot_dir = Some(dir.to_path_buf());
    cfg.detect.rules_poll_secs = 1;
    cfg.detect.relay_poll_ms = 100;
    cfg
}

async fn open_app(dir: &std::path::Path, clock: Arc<ManualClock>) -> Arc<App> {
    let store = fanzha_app::open_store(&StoreConfig::Sqlite {
        path: dir.join("fanzha.db"),
    })
    .await
    .unwrap();
    let app = App::new(store, config(dir), clock).unwrap();
    app.migrate().await.unwrap();
    app
}

fn actor(role: Role, id: i64, node: &fanzha_store::model::OrgNode) -> Actor {
    Actor {
        user: User {
            id: UserId(id),
            username: format!("{}{id}", role.code()),
            display_name: String::new(),
            role,
            node_id: Some(node.id),
            node_path: Some(node.path.clone()),
            password_hash: String::new(),
            disabled: false,
            failed_logins: 0,
            locked_until: None,
            must_change_password: false,
            lang: "zh".into(),
            created_at: Timestamp(NOW),
            updated_at: Timestamp(NOW),
        },
        ip: "192.0.2.1".into(),
        via: AuthVia::Token,
    }
}

async fn node(app: &App, id: NodeId) -> fanzha_store::model::OrgNode {
    app.node(&app.cli_actor(), id).await.unwrap()
}

fn id_number(birth: Date, seq: u16) -> String {
    fanzha_core::idcard::compose("330523", birth, seq)
        .unwrap()
        .as_str()
        .to_string()
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(NOW)));
    let app = open_app(dir.path(), clock.clone()).await;
    let admin = app.cli_actor();
    let org_support::Tree {
        county,
        grid_a1,
        grid_b1,
        ..
    } = org_support::two_townships(&app, &admin).await;
    let elder = app
        .create_resident(
            &admin,
            &ResidentForm {
                name: "王奶奶".into(),
                id_number: id_number(Date::new(1949, 5, 1).unwrap(), 12),
                phones: ELDER.into(),
                address: "幸福路1号".into(),
                grid_id: grid_a1,
                tags: "独居老人".into(),
                contacts: String::new(),
                expected_version: None,
            },
        )
        .await
        .unwrap();
    app.create_resident(
        &admin,
        &ResidentForm {
            name: "李同学".into(),
            id_number: id_number(Date::new(2006, 9, 1).unwrap(), 21),
            phones: STUDENT.into(),
            address: "学府路2号".into(),
            grid_id: grid_b1,
            tags: "学生".into(),
            contacts: String::new(),
            expected_version: None,
        },
    )
    .await
    .unwrap();
    let analyst = actor(Role::Analyst, 2, &node(&app, county).await);
    let list = FLAGGED.join("\n");
    let mut req = IntelImportRequest::new("flagged.txt");
    req.format = Some(ImportFormat::List);
    req.kind = Some(IndicatorKind::Phone);
    req.fraud_type = Some(FraudType::ImpersonateAuthority);
    req.confidence = Some(90);
    app.import_intel(&analyst, list.as_bytes(), &req, &|_| {})
        .await
        .unwrap();
    app.sync_intel().await.unwrap();
    app.start_pipeline().await.unwrap();
    World {
        app,
        clock,
        dir,
        county,
        grid_a1,
        grid_b1,
        elder,
        analyst,
    }
}

fn call(from: &str, to: &str, ts: i64, duration: u32) -> String {
    format!(
        r#"{{"ts":{ts},"source":"cmcc","kind":"call","caller":"{from}","callee":"{to}","direction":"in","duration_s":{duration}}}"#
    )
}

fn sms(from: &str, to: &str, ts: i64, text: &str) -> String {
    serde_json::json!({"ts": ts, "source": "cmcc", "kind": "sms", "sender": from, "receiver": to, "text": text})
        .to_string()
}

fn transfer(payer: &str, ts: i64, fen: i64) -> String {
    format!(
        r#"{{"ts":{ts},"source":"bank:icbc","kind":"transfer","payer":"{payer}","payee":{{"kind":"bank_account","value":"6222021234567890123"}},"amount_fen":{fen}}}"#
    )
}

async fn ingest(w: &World, lines: &[String]) -> fanzha_app::detect::ingest::IngestReport {
    let body = lines.join("\n");
    let rep = w.app.ingest_ndjson(&w.analyst, body.as_bytes()).await.unwrap();
    if let Some(last) = rep.last_seq {
        assert!(
            w.app.wait_processed(last, WAIT).await,
            "the pipeline processes up to {last}"
        );
    }
    rep
}

async fn leads(w: &World, actor: &Actor) -> Vec<fanzha_app::detect::LeadSummary> {
    w.app.leads(actor, &LeadQuery::default()).await.unwrap().items
}

fn shared_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_leads_out_with_evidence_and_scope() {
    let w = world().await;
    // A flagged caller rings the elder for 12 minutes, then texts, then she
    // sends money: one lead, raised then updated as the grade rises.
    let rep = ingest(
        &w,
        &[
            call(FLAGGED[0], ELDER, NOW - 30 * MIN, 720),
            sms(
                FLAGGED[0],
                ELDER,
                NOW - 20 * MIN,
                "您涉嫌洗钱，请将资金转入安全账户配合调查",
            ),
            transfer(ELDER, NOW - 10 * MIN, 800_000),
        ],
    )
    .await;
    assert_eq!((rep.accepted, rep.duplicates, rep.rejected.len()), (3, 0, 0));
    let all = leads(&w, &w.analyst).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let l = &all[0];
    assert_eq!(l.source, LeadSource::Engine);
    assert_eq!(l.resident_id, Some(w.elder));
    assert_eq!(l.node_id, Some(w.grid_a1));
    assert_eq!(l.subscriber_masked, "139****0001");
    assert_eq!(l.rules_version, Some(1));
    assert!(l.grade >= Grade::High, "{:?}", l.grade);
    assert!(l.updates >= 1);
    assert_eq!(l.fraud_type, Some(FraudType::ImpersonateAuthority));
    // The detail: explanation and a masked timeline.
    let v = w.app.lead(&w.analyst, l.id).await.unwrap();
    // The lead holds the events up to the one that last raised its grade:
    // the call raised it, the text made it critical; the transfer came when
    // it was already critical, so the lead kept its evidence.
    let kinds: Vec<&str> = v.timeline.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(kinds, ["call", "sms"], "{}", v.explanation);
    assert!(v.timeline.iter().all(|t| !t.signals.is_empty()));
    assert!(v.timeline.iter().any(|t| t.deciding));
    let text = serde_json::to_string(&v).unwrap();
    for full in ["13900000001", "17100000001", "6222021234567890123"] {
        assert!(!text.contains(full), "a full number leaks into the lead view");
    }
    assert!(text.contains("安全账户"), "texts stay readable");
    assert!(v.explanation["signals"].as_array().is_some_and(|s| s.len() >= 3));
    assert!(!text.contains("caller_hash") && !text.contains("text_hash"));
    // Scope: grid A1's worker sees it, grid B1's does not, a liaison may not look.
    let a1 = actor(Role::GridWorker, 3, &node(&w.app, w.grid_a1).await);
    let b1 = actor(Role::GridWorker, 4, &node(&w.app, w.grid_b1).await);
    assert_eq!(leads(&w, &a1).await.len(), 1);
    assert!(leads(&w, &b1).await.is_empty());
    assert!(w.app.lead(&b1, l.id).await.is_err());
    let liaison = actor(Role::UnitLiaison, 5, &node(&w.app, w.county).await);
    assert!(w.app.leads(&liaison, &LeadQuery::default()).await.is_err());
    // Revealing the subscriber is audited.
    assert_eq!(
        w.app.reveal_lead_subscriber(&w.analyst, l.id).await.unwrap(),
        ELDER
    );
    // Signals were stored and the flagged number counted as seen.
    w.app.flush_sightings().await.unwrap();
    let st = w.app.pipeline_status();
    assert_eq!(st.events, 3);
    assert!(st.signals >= 3);
    assert_eq!(st.leads_raised, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_allowlisted_numbers_and_unknown_subscribers() {
    let w = world().await;
    let batch = vec![
        call(FLAGGED[1], STRANGER, NOW - 5 * MIN, 60),
        // 95588 (a bank's official number) and 110 never signal, whatever they say.
        sms(
            "95588",
            STUDENT,
            NOW - 4 * MIN,
            "您涉嫌洗钱，请将资金转入安全账户",
        ),
        call("110", STUDENT, NOW - 3 * MIN, 900),
    ];
    let first = ingest(&w, &batch).await;
    assert_eq!(first.accepted, 3);
    // Sending the same batch again stores nothing and raises nothing.
    let again = ingest(&w, &batch).await;
    assert_eq!((again.accepted, again.duplicates), (0, 3));
    let all = leads(&w, &w.analyst).await;
    assert_eq!(all.len(), 1, "only the stranger's call raises a lead: {all:?}");
    let l = &all[0];
    assert_eq!(l.resident_id, None);
    assert_eq!(
        l.node_id,
        Some(w.county),
        "unknown subscribers belong to the county root"
    );
    assert_eq!(l.subscriber_masked, "137****0009");
    // A grid worker does not see the county's unknown subscribers.
    let a1 = actor(Role::GridWorker, 3, &node(&w.app, w.grid_a1).await);
    assert!(leads(&w, &a1).await.is_empty());
    // An analyst-managed allowlist entry works the same way as the built-ins.
    let admin = w.app.cli_actor();
    w.app
        .add_allow_entry(
            &admin,
            &fanzha_app::intel::allowlist::AllowForm {
                kind: Some(IndicatorKind::Phone),
                value: FLAGGED[2].into(),
                note: "镇政府总机".into(),
            },
        )
        .await
        .unwrap();
    w.app.sync_intel().await.unwrap();
    ingest(&w, &[call(FLAGGED[2], STUDENT, NOW - MIN, 700)]).await;
    assert_eq!(leads(&w, &w.analyst).await.len(), 1);
}

/// A flagged value's indicator, as the intel list shows it.
async fn indicator(w: &World, value: &str) -> fanzha_store::Indicator {
    let q = fanzha_app::intel::service::IndicatorQuery {
        q: Some(value.to_string()),
        ..Default::default()
    };
    let page = w.app.list_indicators(&w.analyst, &q).await.unwrap();
    let mut hits: Vec<_> = page.items.into_iter().filter(|i| i.value == value).collect();
    assert_eq!(hits.len(), 1, "one indicator for the value");
    hits.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_hits_count_sightings_and_move_last_seen() {
    let w = world().await;
    let before = indicator(&w, FLAGGED[0]).await;
    assert_eq!(before.sightings, 0);
    // An hour later, traffic with two of the flagged numbers.
    w.clock.advance_secs(3600);
    let later = Timestamp(NOW + 3_600_000);
    ingest(
        &w,
        &[
            // A long call raises two signals on one indicator: one sighting.
            call(FLAGGED[0], STRANGER, NOW + 50 * MIN, 900),
            call(FLAGGED[0], ELDER, NOW + 51 * MIN, 30),
            sms(FLAGGED[1], STUDENT, NOW + 52 * MIN, "明天见"),
            // Not flagged: no sighting anywhere.
            call("+8613700000077", STUDENT, NOW + 53 * MIN, 60),
        ],
    )
    .await;
    w.app.flush_sightings().await.unwrap();
    let a = indicator(&w, FLAGGED[0]).await;
    assert_eq!(a.sightings, 2, "one sighting per event");
    assert_eq!(a.last_seen, later);
    assert!(a.last_seen > before.last_seen);
    assert_eq!(a.version, before.version, "a sighting is not a change");
    let b = indicator(&w, FLAGGED[1]).await;
    assert_eq!(b.sightings, 1);
    assert_eq!(b.last_seen, later);
    let c = indicator(&w, FLAGGED[2]).await;
    assert_eq!(c.sightings, 0);
    assert_eq!(c.last_seen, before.last_seen);
    // Nothing is left buffered.
    assert_eq!(w.app.flush_sightings().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_hot_reload_mid_stream_and_versions_on_leads() {
    let w = world().await;
    ingest(&w, &[call(FLAGGED[0], STRANGER, NOW - 50 * MIN, 30)]).await;
    assert_eq!(leads(&w, &w.analyst).await[0].rules_version, Some(1));
    // A bad document is refused and changes nothing.
    let e = w
        .app
        .save_rules(&w.analyst, "version = 1\nname = 'x'\n", "")
        .await
        .unwrap_err();
    assert_eq!(e.status(), 422);
    // Only analysts edit rules.
    let leader = actor(Role::Leader, 6, &node(&w.app, w.county).await);
    assert_eq!(
        w.app
            .save_rules(&leader, DEFAULT_RULES, "")
            .await
            .unwrap_err()
            .status(),
        403
    );
    // Stricter rules: a lead needs `medium` now.
    let strict = DEFAULT_RULES.replace("lead_min = \"low\"", "lead_min = \"medium\"");
    let saved = w
        .app
        .save_rules(&w.analyst, &strict, "只报中风险以上")
        .await
        .unwrap();
    assert_eq!((saved.version, saved.active), (2, true));
    assert!(saved.toml.contains("version = 2"));
    // Events keep flowing; a single flagged call no longer raises a lead,
    // two distinct flagged callers within the window do (medium).
    let rep = ingest(
        &w,
        &[
            call(FLAGGED[1], STUDENT, NOW - 20 * MIN, 30),
            call(FLAGGED[0], ELDER, NOW - 15 * MIN, 30),
            call(FLAGGED[1], ELDER, NOW - 14 * MIN, 30),
        ],
    )
    .await;
    assert_eq!(rep.accepted, 3);
    let all = leads(&w, &w.analyst).await;
    let versions: Vec<(Option<ResidentId>, Option<i64>)> =
        all.iter().map(|l| (l.resident_id, l.rules_version)).collect();
    assert_eq!(
        versions,
        vec![(Some(w.elder), Some(2)), (None, Some(1))],
        "{all:?}"
    );
    let view = w.app.rules(&w.analyst).await.unwrap();
    assert_eq!(view.active.version, 2);
    assert_eq!(view.versions.len(), 2);
    assert_eq!(w.app.pipeline_status().rules_version, 2);
    // Every event was processed: the checkpoints cover the head.
    let head = w.app_store().event_head().await.unwrap();
    let ck = w.app_store().checkpoints(PIPELINE_CONSUMER).await.unwrap();
    assert!(!ck.is_empty());
    assert_eq!(ck.iter().map(|(_, s)| *s).max(), Some(head));
}

impl World {
    fn app_store(&self) -> Arc<dyn Store> {
        // The tests read the store the app opened, through a second handle.
        let path = self.dir.path().join("fanzha.db");
        let rt = tokio::runtime::Handle::current();
        tokio::task::block_in_place(|| {
            rt.block_on(async {
                fanzha_app::open_store(&StoreConfig::Sqlite { path })
                    .await
                    .unwrap()
            })
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_rebuilds_state_and_never_duplicates_a_lead() {
    let w = world().await;
    ingest(&w, &[call(FLAGGED[0], STUDENT, NOW - 40 * MIN, 60)]).await;
    assert_eq!(leads(&w, &w.analyst).await.len(), 1);
    w.app.stop_pipeline().await;
    // A second process over the same database: the state of the last window
    // is replayed, so more signals for the same person update the lead
    // instead of raising a second one.
    let app2 = open_app(w.dir.path(), w.clock.clone()).await;
    app2.start_pipeline().await.unwrap();
    assert!(app2.pipeline_status().replayed >= 1);
    let rep = app2
        .ingest_ndjson(
            &w.analyst,
            [
                call(FLAGGED[1], STUDENT, NOW - 30 * MIN, 60),
                call(FLAGGED[2], STUDENT, NOW - 20 * MIN, 900),
            ]
            .join("\n")
            .as_bytes(),
        )
        .await
        .unwrap();
    assert!(app2.wait_processed(rep.last_seq.unwrap(), WAIT).await);
    let all = app2.leads(&w.analyst, &LeadQuery::default()).await.unwrap().items;
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(all[0].updates >= 1);
    assert!(all[0].grade > Grade::Low);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_are_rejected_one_by_one() {
    let w = world().await;
    let root = shared_root().join("testdata/ingest");
    let body = std::fs::read(root.join("bad_lines.ndjson")).expect("testdata/ingest/bad_lines.ndjson");
    let expected = std::fs::read_to_string(root.join("bad_lines.expected")).unwrap();
    let rep = w.app.ingest_ndjson(&w.analyst, &body).await.unwrap();
    let mut want_rejected = Vec::new();
    for line in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (k, v) = line.split_once('\t').unwrap();
        match k {
            "accepted" => assert_eq!(rep.accepted, v.parse::<usize>().unwrap(), "accepted"),
            "duplicates" => assert_eq!(rep.duplicates, v.parse::<usize>().unwrap(), "duplicates"),
            n => want_rejected.push((n.parse::<usize>().unwrap(), v.to_string())),
        }
    }
    let got: Vec<usize> = rep.rejected.iter().map(|e| e.line).collect();
    assert_eq!(got, want_rejected.iter().map(|(n, _)| *n).collect::<Vec<_>>());
    for (e, (_, needle)) in rep.rejected.iter().zip(&want_rejected) {
        assert!(
            e.error.contains(needle.as_str()),
            "line {}: {:?} lacks {needle:?}",
            e.line,
            e.error
        );
        assert!(!e.error.contains("13900000002"), "errors never echo a phone");
    }
    // Too large a body is refused whole.
    let big = vec![b' '; w.app.config().detect.max_batch_bytes + 1];
    assert_eq!(
        w.app.ingest_ndjson(&w.analyst, &big).await.unwrap_err().status(),
        413
    );
    // Only feeds (analysts, administrators) may send events.
    let officer = actor(Role::Officer, 7, &node(&w.app, w.county).await);
    assert_eq!(
        w.app.ingest_ndjson(&officer, b"").await.unwrap_err().status(),
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_ingest_is_idempotent_in_both_formats() {
    let w = world().await;
    let csv = format!(
        "ts,source,kind,caller,callee,direction,duration_s,payer,payee.kind,payee.value,amount_fen\n\
         {t1},cmcc,call,{f},{s},in,120,,,,\n\
         {t2},bank:icbc,transfer,,,,,{s},bank_account,6222021234567890123,50000\n\
         {t2},cmcc,fax,,,,,,,,\n",
        t1 = NOW - 9 * MIN,
        t2 = NOW - 8 * MIN,
        f = FLAGGED[0],
        s = STUDENT
    );
    let nd = [
        call(FLAGGED[1], ELDER, NOW - 7 * MIN, 30),
        sms(FLAGGED[1], ELDER, NOW - 6 * MIN, "hi"),
    ]
    .join("\n");
    for round in 0..2 {
        let mut seen = Vec::new();
        let rep = w
            .app
            .ingest_file(
                &w.analyst,
                Box::new(std::io::Cursor::new(csv.clone().into_bytes())),
                fanzha_app::detect::ingest::EventFileFormat::Csv,
                &mut |p| seen.push(p),
            )
            .await
            .unwrap();
        assert_eq!((rep.lines, rep.rejected_total), (3, 1));
        assert_eq!(rep.rejected[0].line, 4);
        assert!(rep.rejected[0].error.contains("unknown event kind"));
        assert_eq!(
            (rep.accepted, rep.duplicates),
            if round == 0 { (2, 0) } else { (0, 2) }
        );
        assert!(!seen.is_empty());
        let rep = w
            .app
            .ingest_file(
                &w.analyst,
                Box::new(std::io::Cursor::new(nd.clone().into_bytes())),
                fanzha_app::detect::ingest::EventFileFormat::Ndjson,
                &mut |_| {},
            )
            .await
            .unwrap();
        assert_eq!(
            (rep.accepted, rep.duplicates),
            if round == 0 { (2, 0) } else { (0, 2) }
        );
    }
    // Stored by another path than this process's bus: the pipeline picks
    // them up from the log all the same.
    let head = w.app_store().event_head().await.unwrap();
    assert!(w.app.wait_processed(head, WAIT).await);
    assert_eq!(w.app.pipeline_status().events, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upper_level_pushes_and_public_reports() {
    let w = world().await;
    let csv = format!(
        "推送编号,手机号,姓名,诈骗类型,风险等级,推送时间\n\
         SJ-001,{elder},王奶奶,冒充公检法及政府机关,高,2026-01-01 07:30\n\
         SJ-002,{stranger},张三,刷单返利,中,2026-01-01 07:40\n\
         SJ-003,not-a-phone,李四,刷单返利,中,2026-01-01 07:40\n\
         SJ-004,{student},,,极高,\n\
         SJ-001,{student},,,,\n",
        elder = "13900000001",
        stranger = "13700000009",
        student = "13900000002"
    );
    let rep = w
        .app
        .import_leads(&w.analyst, Some("push.csv"), csv.as_bytes())
        .await
        .unwrap();
    assert_eq!((rep.rows, rep.inserted, rep.existing), (5, 2, 0));
    let bad: Vec<(usize, &str)> = rep.rejected.iter().map(|e| (e.row, e.column.as_str())).collect();
    assert_eq!(bad, vec![(4, "phone"), (5, "grade"), (6, "upstream_id")]);
    // Again: nothing new. JSON works too.
    let again = w
        .app
        .import_leads(&w.analyst, Some("push.csv"), csv.as_bytes())
        .await
        .unwrap();
    assert_eq!((again.inserted, again.existing), (0, 2));
    let json =
        r#"[{"upstream_id":"SJ-010","phone":"13900000002","grade":"critical","fraud_type":"刷单返利"}]"#;
    let j = w
        .app
        .import_leads(&w.analyst, None, json.as_bytes())
        .await
        .unwrap();
    assert_eq!(j.inserted, 1);
    let pushed = w
        .app
        .leads(
            &w.analyst,
            &LeadQuery {
                source: Some(LeadSource::UpperPush),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(pushed.total, 3);
    let elder_lead = pushed
        .items
        .iter()
        .find(|l| l.upstream_id.as_deref() == Some("SJ-001"))
        .unwrap();
    assert_eq!(
        (elder_lead.resident_id, elder_lead.node_id),
        (Some(w.elder), Some(w.grid_a1))
    );
    assert_eq!(elder_lead.name_masked.as_deref(), Some("王**"));
    assert_eq!(elder_lead.grade, Grade::High);
    // Only analysts import.
    let officer = actor(Role::Officer, 7, &node(&w.app, w.county).await);
    assert_eq!(
        w.app
            .import_leads(&officer, None, json.as_bytes())
            .await
            .unwrap_err()
            .status(),
        403
    );
    // A public report of a suspicious number is intel, not a lead; one from
    // somebody being defrauded right now who leaves their phone is a lead.
    let form = fanzha_app::intel::reports::PublicReportForm {
        kind: None,
        value: "17100000009".into(),
        fraud_type: Some(FraudType::FakeInvestment),
        description: "自称客服让我下载会议软件".into(),
        contact: Some(STUDENT.into()),
    };
    let plain = w
        .app
        .submit_report_being_defrauded(&form, false, "198.51.100.1")
        .await
        .unwrap();
    assert!(!plain.lead);
    let victim = w
        .app
        .submit_report_being_defrauded(&form, true, "198.51.100.2")
        .await
        .unwrap();
    assert!(victim.lead);
    let reported = w
        .app
        .leads(
            &w.analyst,
            &LeadQuery {
                source: Some(LeadSource::PublicReport),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(reported.total, 1);
    assert_eq!(reported.items[0].node_id, Some(w.grid_b1));
    assert_eq!(
        reported.items[0].upstream_id.as_deref(),
        Some(victim.receipt.reference.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtest_reports_new_dropped_and_changed_leads() {
    let w = world().await;
    ingest(
        &w,
        &[
            call(FLAGGED[0], STRANGER, NOW - 50 * MIN, 30),
            call(FLAGGED[1], STUDENT, NOW - 40 * MIN, 30),
            sms(
                FLAGGED[1],
                STUDENT,
                NOW - 39 * MIN,
                "刷单兼职，日结佣金，先垫付后返利",
            ),
        ],
    )
    .await;
    let from = Timestamp(NOW - 60 * MIN);
    let to = Timestamp(NOW);
    // The live rules against themselves: nothing changes.
    let same = w.app.backtest(&w.analyst, DEFAULT_RULES, from, to).await.unwrap();
    assert_eq!(same.events, 3);
    assert!(same.new_leads.is_empty() && same.dropped_leads.is_empty() && same.grade_changes.is_empty());
    assert_eq!(same.counts.a.leads, same.counts.b.leads);
    // Stricter: the stranger's single call no longer makes a lead.
    let strict = DEFAULT_RULES.replace("lead_min = \"low\"", "lead_min = \"medium\"");
    let rep = w.app.backtest(&w.analyst, &strict, from, to).await.unwrap();
    assert_eq!(rep.dropped_leads.len(), 1, "{rep:?}");
    assert_eq!(rep.dropped_leads[0].subscriber_masked, "137****0009");
    assert_eq!(rep.dropped_leads[0].node_id, Some(w.county));
    // Heavier flagged calls: grades rise.
    let heavy = DEFAULT_RULES.replacen("weight = 30\ncap = 45", "weight = 120\ncap = 200", 1);
    let rep = w.app.backtest(&w.analyst, &heavy, from, to).await.unwrap();
    assert!(!rep.grade_changes.is_empty(), "{rep:?}");
    assert!(
        rep.grade_changes
            .iter()
            .all(|g| g.candidate.max_grade > g.live.max_grade)
    );
    // Bad input.
    assert_eq!(
        w.app
            .backtest(&w.analyst, "x", from, to)
            .await
            .unwrap_err()
            .status(),
        422
    );
    assert_eq!(
        w.app
            .backtest(&w.analyst, DEFAULT_RULES, to, from)
            .await
            .unwrap_err()
            .status(),
        422
    );
    let leader = actor(Role::Leader, 6, &node(&w.app, w.county).await);
    assert_eq!(
        w.app
            .backtest(&leader, DEFAULT_RULES, from, to)
            .await
            .unwrap_err()
            .status(),
        403
    );
}

/// Strange but valid events, and garbage lines, in random batches: the
/// pipeline judges them all and keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strange_events_never_stop_the_pipeline() {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let w = world().await;
    let phone = prop_oneof![
        Just(ELDER.to_string()),
        Just(FLAGGED[0].to_string()),
        Just("+12025550123".to_string()),
        Just("110".to_string()),
        Just("95588".to_string()),
        "1[3-9][0-9]{9}",
        "\\+44[0-9]{10}",
    ];
    let text = prop_oneof![
        Just(String::new()),
        "\\PC{0,300}",
        Just("https://x.example/a 安全账户 http://[::1]/ 转账".to_string()),
        Just("\u{202e}\u{0000}\u{feff}".to_string()),
    ];
    let event = (0u8..7, phone.clone(), phone, text, any::<u32>(), 0i64..=i64::MAX / 1_000, -10_000i64..900)
        .prop_map(|(k, a, b, t, d, amount, dt)| {
            let ts = NOW + dt * 1000;
            match k {
                0 => serde_json::json!({"ts": ts, "source": "s", "kind": "call", "caller": a, "callee": b,
                    "direction": if d % 2 == 0 { "in" } else { "out" }, "duration_s": d % 604_800, "transcript": t}),
                1 => serde_json::json!({"ts": ts, "source": "s", "kind": "sms", "sender": a, "receiver": b, "text": t}),
                2 => serde_json::json!({"ts": ts, "source": "s", "kind": "web", "subscriber": b,
                    "url": format!("http://{}.example/{}", d % 97, t.len()), "ip": "203.0.113.9"}),
                3 => {
                    let action = ["install", "open", "uninstall"][(d % 3) as usize];
                    serde_json::json!({"ts": ts, "source": "s", "kind": "app", "subscriber": b,
                        "package": "com.example.remote", "action": action})
                }
                4 => serde_json::json!({"ts": ts, "source": "s", "kind": "transfer", "payer": b,
                    "payee": {"kind": "payment_account", "value": format!("pay{d}")}, "amount_fen": amount % 1_000_000_000_000_000}),
                5 => serde_json::json!({"ts": ts, "source": "s", "kind": "transfer",
                    "payer": {"kind": "bank_account", "value": format!("6222{:015}", d)},
                    "payee": {"kind": "bank_account", "value": "6222000011112222"}, "amount_fen": 1}),
                _ => serde_json::json!({"ts": ts, "source": t, "kind": a, "x": [b]}),
            }
            .to_string()
        });
    let garbage = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200)
            .prop_map(|v| String::from_utf8_lossy(&v).replace('\n', " ")),
        Just("{\"ts\":1e400}".to_string()),
        Just("{\"ts\":\"2026-02-30T00:00:00Z\",\"source\":\"s\",\"kind\":\"sms\"}".to_string()),
    ];
    let line = prop_oneof![6 => event, 1 => garbage];
    let batch = proptest::collection::vec(line, 1..60);
    let mut runner = TestRunner::deterministic();
    let mut total = 0usize;
    for _ in 0..40 {
        let lines = batch.new_tree(&mut runner).unwrap().current();
        let rep = w
            .app
            .ingest_ndjson(&w.analyst, lines.join("\n").as_bytes())
            .await
            .unwrap();
        assert_eq!(rep.accepted + rep.duplicates + rep.rejected.len(), rep.lines);
        total += rep.accepted;
        if let Some(last) = rep.last_seq {
            assert!(w.app.wait_processed(last, WAIT).await);
        }
    }
    let st = w.app.pipeline_status();
    assert!(st.running);
    assert_eq!(st.events as usize, total);
    assert_eq!(
        (st.undecodable, st.commit_failures, st.dropped_batches),
        (0, 0, 0)
    );
}

/// Events stored under the first id digest scheme (a keyed digest of the
/// whole `(source, id)`) are still found when sent again, whatever their
/// time; a database that never held such events skips that lookup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stored_under_the_first_id_digest_stay_duplicates() {
    use fanzha_app::crypto::{Field, FieldCipher};
    use fanzha_store::{AuditRecord, NewEvent};
    let line = |id: &str, ts: i64| {
        format!(
            r#"{{"id":"{id}","ts":{ts},"source":"cmcc","kind":"call","caller":"{}","callee":"{STRANGER}","direction":"in","duration_s":5}}"#,
            FLAGGED[0]
        )
    };
    let audit = AuditRecord {
        at: Timestamp(NOW),
        actor_id: 0,
        actor: "test".into(),
        action: "event.ingest".into(),
        target: String::new(),
        detail: String::new(),
        ip: String::new(),
    };
    let clock = Arc::new(ManualClock::new(Timestamp(NOW)));
    // An install that stored an event before the stem-clustered digest.
    let old = tempfile::tempdir().unwrap();
    let app = open_app(old.path(), clock.clone()).await;
    let store = fanzha_app::open_store(&StoreConfig::Sqlite {
        path: old.path().join("fanzha.db"),
    })
    .await
    .unwrap();
    let cipher = FieldCipher::new(&MasterKey::from_hex(&"cd".repeat(32)).unwrap()).unwrap();
    let first = line("cdr-20260101-0001", NOW - 10 * MIN);
    let sealed = cipher.seal_many(Field::Event, &[first.as_bytes()]).unwrap();
    let stored = store
        .append_events(
            vec![NewEvent {
                id_hash: cipher
                    .blind_index16(Field::EventId, b"cmcc\x1fcdr-20260101-0001")
                    .to_vec(),
                legacy_id_hash: None,
                ts: Timestamp(NOW - 10 * MIN),
                kind: "call".into(),
                source: "cmcc".into(),
                person_key: 1,
                payload: sealed.into_iter().next().unwrap(),
            }],
            Timestamp(NOW - 10 * MIN),
            &audit,
        )
        .await
        .unwrap();
    assert!(stored[0].is_some());
    let admin = app.cli_actor();
    // Sent again with another time: a duplicate. A new event is stored,
    // once.
    let again = app
        .ingest_ndjson(&admin, line("cdr-20260101-0001", NOW - 2 * MIN).as_bytes())
        .await
        .unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 1));
    let next = line("cdr-20260101-0002", NOW - MIN);
    let rep = app.ingest_ndjson(&admin, next.as_bytes()).await.unwrap();
    assert_eq!((rep.accepted, rep.duplicates), (1, 0));
    let rep = app.ingest_ndjson(&admin, next.as_bytes()).await.unwrap();
    assert_eq!((rep.accepted, rep.duplicates), (0, 1));
    assert_eq!(
        store.get_setting("events.id_digest").await.unwrap().as_deref(),
        Some("2+1")
    );
    // A fresh install records that it needs no such lookup, and still
    // finds duplicates by (source, id) whatever their time.
    let fresh = tempfile::tempdir().unwrap();
    let app = open_app(fresh.path(), clock).await;
    let admin = app.cli_actor();
    let rep = app
        .ingest_ndjson(&admin, line("cdr-20260101-0001", NOW - 3 * MIN).as_bytes())
        .await
        .unwrap();
    assert_eq!((rep.accepted, rep.duplicates), (1, 0));
    let rep = app
        .ingest_ndjson(&admin, line("cdr-20260101-0001", NOW - 9 * MIN).as_bytes())
        .await
        .unwrap();
    assert_eq!((rep.accepted, rep.duplicates), (0, 1));
    let store = fanzha_app::open_store(&StoreConfig::Sqlite {
        path: fresh.path().join("fanzha.db"),
    })
    .await
    .unwrap();
    assert_eq!(
        store.get_setting("events.id_digest").await.unwrap().as_deref(),
        Some("2")
    );
}
