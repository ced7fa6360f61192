//! Rules documents: validation (`testdata/detect/rules_mutations.tsv`),
//! the shipped defaults, hot reload and backtest replay.

use std::path::Path;
use std::sync::Arc;

use fanzha_core::event::{Event, ParseOptions, parse_event_line};
use fanzha_core::{FraudType, Grade, IndicatorKind, Timestamp};
use fanzha_engine::detect::backtest::replay;
use fanzha_engine::detect::{DEFAULT_RULES, DetectContext, Detector, PersonAttrs, RulesDoc, default_rules};
use fanzha_engine::index::IndexBuilder;

fn testdata(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/detect")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn mutations() {
    let text = testdata("rules_mutations.tsv");
    let mut n = 0;
    for (i, row) in text.lines().enumerate() {
        if row.starts_with('#') || row.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = row.split('\t').collect();
        assert_eq!(cols.len(), 3, "line {}", i + 1);
        let (find, replace, want) = (cols[0], cols[1].replace("\\n", "\n"), cols[2]);
        assert!(
            DEFAULT_RULES.contains(find),
            "line {}: {find:?} not in the rules",
            i + 1
        );
        let doc = DEFAULT_RULES.replacen(find, &replace, 1);
        let got = RulesDoc::parse(&doc);
        n += 1;
        if want == "ok" {
            got.unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
        } else {
            let e = got
                .err()
                .unwrap_or_else(|| panic!("line {}: accepted, expected {want}", i + 1));
            assert!(e.to_string().contains(want), "line {}: {e} lacks {want:?}", i + 1);
        }
    }
    assert!(n >= 30, "{n}");
}

#[test]
fn shipped_rules() {
    let r = default_rules().unwrap();
    assert_eq!((r.version, &*r.name), (1, "default"));
    assert_eq!(r.window_s, 72 * 3600);
    assert_eq!(r.dedup_s, 24 * 3600);
    assert_eq!(r.grade_of(19.9), None);
    assert_eq!(r.grade_of(20.0), Some(Grade::Low));
    assert_eq!(r.grade_of(69.9), Some(Grade::Medium));
    assert_eq!(r.grade_of(1e6), Some(Grade::Critical));
    assert_eq!(r.chains.len(), 3);
    assert!(
        r.chains
            .iter()
            .any(|c| c.name == "flagged_call_remote_app_transfer" && c.steps.len() == 3)
    );
    // Every signal type has a weight in the shipped rules.
    assert!(r.weight.iter().all(|w| *w > 0.0));
    assert!(r.remote_apps.find("com.oray.sunlogin.client").is_some());
}

fn ev(line: &str) -> Event {
    parse_event_line(line.as_bytes(), &ParseOptions::at(Timestamp(4_000_000_000_000))).unwrap()
}

fn stream() -> Vec<(Event, PersonAttrs)> {
    let mut v = Vec::new();
    // Five persons, each gets one flagged SMS (15) and, for some, a flagged call.
    for p in 0..5 {
        let who = format!("1390000010{p}");
        v.push((
            ev(&format!(
                r#"{{"ts":"2024-06-01T09:0{p}:00Z","source":"s","kind":"sms","sender":"13800000001","receiver":"{who}"}}"#
            )),
            PersonAttrs::default(),
        ));
        if p % 2 == 0 {
            v.push((
                ev(&format!(
                    r#"{{"ts":"2024-06-01T10:0{p}:00Z","source":"s","kind":"call","caller":"13800000002","callee":"{who}","direction":"in","duration_s":60}}"#
                )),
                PersonAttrs { age: Some(80), tags: vec![] },
            ));
        }
    }
    v
}

#[test]
fn backtest_compares_rule_sets() {
    let mut b = IndexBuilder::new();
    b.push(
        1,
        IndicatorKind::Phone,
        "+8613800000001",
        FraudType::FakeCredit,
        100,
    )
    .unwrap();
    b.push(
        2,
        IndicatorKind::Phone,
        "+8613800000002",
        FraudType::FakeCredit,
        100,
    )
    .unwrap();
    let index = b.finish();
    let ctx = DetectContext::new(&index);
    let a = Arc::new(default_rules().unwrap());
    let strict = Arc::new(RulesDoc::parse(&testdata("rules_strict.toml")).unwrap());
    let d = replay(stream(), &ctx, a.clone(), strict.clone());
    assert_eq!(d.counts.events, 8);
    // Default: only the three persons with a call reach low (15 + 30 × 1.4).
    assert_eq!(d.counts.a.leads, 3);
    // Strict: every flagged SMS (25) is already low: two more persons.
    assert_eq!(d.counts.b.leads, 5);
    assert_eq!(d.new_leads.len(), 2);
    assert!(d.dropped_leads.is_empty());
    assert_eq!(d.counts.matched, 3);
    // The called persons reach a higher grade under strict rules.
    assert_eq!(d.grade_changes.len(), 3, "{:?}", d.grade_changes);
    for g in &d.grade_changes {
        assert!(g.b.max_grade > g.a.max_grade);
    }
    assert_eq!((d.counts.a.rules_version, d.counts.b.rules_version), (1, 2));
    // Same rules on both sides: no difference.
    let same = replay(stream(), &ctx, a.clone(), a);
    assert!(same.new_leads.is_empty() && same.dropped_leads.is_empty() && same.grade_changes.is_empty());
    // Reversed: the strict-only leads are dropped.
    let rev = replay(stream(), &ctx, strict, Arc::new(default_rules().unwrap()));
    assert_eq!(rev.dropped_leads.len(), 2);
    let json = serde_json::to_string(&rev).unwrap();
    assert!(json.contains("\"dropped_leads\""));
}

#[test]
fn hot_reload_keeps_state_and_records_version() {
    let mut b = IndexBuilder::new();
    b.push(
        1,
        IndicatorKind::Phone,
        "+8613800000001",
        FraudType::FakeCredit,
        100,
    )
    .unwrap();
    let index = b.finish();
    let ctx = DetectContext::new(&index);
    let mut det = Detector::with_default_rules().unwrap();
    let e1 = ev(
        r#"{"ts":"2024-06-01T09:00:00Z","source":"s","kind":"sms","sender":"13800000001","receiver":"13900000200"}"#,
    );
    let out = det.process(&ctx, &e1, 1, &PersonAttrs::default());
    assert_eq!((out.rules_version, out.grade), (1, None));
    let j = serde_json::to_value(&out).unwrap();
    assert_eq!(j["signals"][0]["evidence"]["type"], "indicator");
    assert_eq!(j["signals"][0]["evidence"]["indicator_id"], 1);
    assert_eq!(j["signals"][0]["evidence"]["via"], "exact");
    let old = det.set_rules(Arc::new(RulesDoc::parse(&testdata("rules_strict.toml")).unwrap()));
    assert_eq!(old.version, 1);
    assert_eq!(det.persons_tracked(), 1);
    // The kept signal is re-scored under the new weights.
    let x = det
        .assess(e1.person_key(), Timestamp(e1.ts.0), &PersonAttrs::default())
        .unwrap();
    assert_eq!((x.rules_version, x.grade), (2, Some(Grade::Low)));
    assert!((x.score - 25.0).abs() < 1e-3, "{}", x.score);
    let json = serde_json::to_value(&x).unwrap();
    assert_eq!(json["signals"][0]["signal"], "sms_flagged");
    assert_eq!(json["signals"][0]["evidence"]["indicator_id"], 1);
}
