//! Property tests (fuzzing) of every intel parser and of the STIX pattern
//! parser: arbitrary bytes and structured near-valid input never panic, every
//! line of a line format is accounted for, and every draft value is already
//! canonical. Exporters never panic on arbitrary stored values and stay
//! deterministic.
//!
//! The number of cases per property is `PROPTEST_CASES` (default 256); each
//! property prints how many executions ran clean.

mod intel_support;

use fanzha_app::intel::formats::stix_pattern::{disjuncts, parse_pattern, quote};
use fanzha_app::intel::formats::{
    ExportFormat, ExportItem, ExportOptions, ImportFormat, ImportOptions, IndicatorStatus, ParseReport,
    export, parse,
};
use fanzha_core::{IndicatorKind, Timestamp};
use intel_support::assert_accounted;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::sync::atomic::{AtomicUsize, Ordering};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256)
}

fn run<S: Strategy>(name: &str, strategy: S, f: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let count = AtomicUsize::new(0);
    let result = runner.run(&strategy, |v| {
        count.fetch_add(1, Ordering::Relaxed);
        f(v)
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    eprintln!("{name}: {} executions ran clean", count.load(Ordering::Relaxed));
}

fn check_report(r: &ParseReport) -> Result<(), TestCaseError> {
    if !matches!(
        r.format,
        ImportFormat::Csv | ImportFormat::Xlsx | ImportFormat::Stix
    ) && r.error.is_none()
    {
        assert_accounted(r, r.format.code());
    }
    for d in &r.drafts {
        let again = fanzha_core::indicator::normalize(d.draft.kind, &d.draft.value);
        prop_assert_eq!(
            again.as_deref(),
            Ok(d.draft.value.as_str()),
            "draft value is not canonical"
        );
        prop_assert!(d.draft.confidence.is_none_or(|c| c <= 100));
        if let (Some(a), Some(b)) = (d.draft.valid_from, d.draft.valid_until) {
            prop_assert!(a < b);
        }
    }
    for x in r.rejected.iter().chain(&r.unsupported) {
        prop_assert!(x.excerpt.chars().count() <= 60);
        prop_assert!(!x.excerpt.chars().any(char::is_control));
    }
    Ok(())
}

fn all_formats(bytes: &[u8]) -> Result<(), TestCaseError> {
    for f in ImportFormat::ALL {
        let mut o = ImportOptions::new(*f);
        check_report(&parse(bytes, &o))?;
        o.default_kind = Some(IndicatorKind::Domain);
        check_report(&parse(bytes, &o))?;
    }
    Ok(())
}

#[test]
fn arbitrary_bytes_into_every_parser() {
    run(
        "arbitrary bytes × 9 formats",
        proptest::collection::vec(any::<u8>(), 0..600),
        |b| all_formats(&b),
    );
}

/// Lines that look like the real thing: list, hosts, adblock, TSV and CSV
/// fragments with noise.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        "(\\|\\||@@\\|\\||\\|)?[a-zA-Z0-9.\\-_*ßä例中国,]{0,24}(\\^|\\^\\$[a-z,=~-]{0,12}|\\^w|/[a-z]{0,5})?",
        "(0\\.0\\.0\\.0|127\\.0\\.0\\.1|::|::1|10\\.1\\.1\\.1)[ \\t]+[a-z0-9.\\-]{0,20}( [a-z.]{0,10})?( #.*)?",
        "[!#\\[/].{0,20}",
        "(\\+|00)?[0-9 \\-]{0,18}",
        "[0-9]{1,3}(\\.[0-9]{1,3}){0,4}(/[0-9]{0,3})?\\.?",
        "(https?://|hxxp://)?[a-z0-9.\\[\\]]{1,20}(/[a-z?=&#%]{0,12})?",
        "(apk:|cert:|pkg:|wechat:|alipay:)[a-fA-F0-9:._a-z]{0,70}",
        "[a-z_]{0,12}(,|\\t)[^\\n]{0,30}",
        ".{0,40}",
    ]
}

#[test]
fn structured_lines_into_every_parser() {
    run(
        "structured lines × 9 formats",
        proptest::collection::vec(line(), 0..12),
        |lines| {
            all_formats(lines.join("\n").as_bytes())?;
            let with_header = format!(
                "kind,value,fraud_type,confidence,valid_from,valid_until,tags\n{}",
                lines.join("\n")
            );
            all_formats(with_header.as_bytes())
        },
    );
}

/// STIX-pattern-like text: comparisons, operators, brackets and qualifiers
/// in random order.
fn pattern_like() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("[".to_string()),
        Just("]".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just(" AND ".to_string()),
        Just(" OR ".to_string()),
        Just(" FOLLOWEDBY ".to_string()),
        Just(" NOT ".to_string()),
        Just(" WITHIN 5 SECONDS".to_string()),
        Just(" REPEATS 2 TIMES".to_string()),
        Just(" START t'2020-01-01T00:00:00Z' STOP t'2021-01-01T00:00:00Z'".to_string()),
        "(domain-name|url|ipv4-addr|ipv6-addr|file|x509-certificate|[a-z\\-]{1,8}):(value|hashes\\.'SHA-256'|[a-z_]{1,6})(\\[[0-9*]\\])?"
            .prop_map(|s| s),
        "(=|==|!=|<>|<|<=|>|>=| IN | LIKE | MATCHES | ISSUBSET | EXISTS )".prop_map(|s| s),
        ".{0,12}".prop_map(|s| quote(&s)),
        "'[^']{0,6}(\\\\.)?[^']{0,4}'?".prop_map(|s| s),
        "-?[0-9]{1,5}(\\.[0-9]{0,3})?".prop_map(|s| s),
        "[thb]'[^']{0,8}'".prop_map(|s| s),
        Just(",".to_string()),
    ];
    proptest::collection::vec(token, 0..24).prop_map(|v| v.concat())
}

#[test]
fn stix_pattern_parser_never_panics() {
    run("stix patterns (structured)", pattern_like(), |p| {
        if let Ok(e) = parse_pattern(&p) {
            let _ = disjuncts(&e);
        }
        Ok(())
    });
    run("stix patterns (arbitrary)", ".{0,200}", |p| {
        if let Ok(e) = parse_pattern(&p) {
            let _ = disjuncts(&e);
        }
        Ok(())
    });
    run("stix string literals round-trip", ".{0,60}", |s| {
        let p = format!(
            "[url:value = {}] OR [domain-name:value = {}]",
            quote(&s),
            quote(&s)
        );
        let e = parse_pattern(&p).map_err(|e| TestCaseError::fail(format!("{p}: {e}")))?;
        let alts = disjuncts(&e).map_err(|u| TestCaseError::fail(u.to_string()))?;
        let values: Vec<String> = alts.into_iter().filter_map(Result::ok).map(|(_, v)| v).collect();
        prop_assert_eq!(values, vec![s.clone(), s]);
        Ok(())
    });
}

#[test]
fn stix_bundles_with_random_patterns_and_properties() {
    let prop = prop_oneof![
        Just(serde_json::Value::Null),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,30}".prop_map(serde_json::Value::from),
        Just(serde_json::json!(["fake_investment", "刷单", 7])),
        Just(serde_json::json!(true)),
        "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:?[0-9]{2})?"
            .prop_map(serde_json::Value::from),
    ];
    let object = (
        pattern_like(),
        prop.clone(),
        prop.clone(),
        prop.clone(),
        prop.clone(),
        prop,
    )
        .prop_map(|(pattern, vf, vu, conf, labels, revoked)| {
            serde_json::json!({
                "type": "indicator", "id": "indicator--x", "pattern": pattern, "pattern_type": "stix",
                "valid_from": vf, "valid_until": vu, "confidence": conf, "labels": labels, "revoked": revoked,
                "indicator_types": labels.clone(), "name": conf,
            })
        });
    run(
        "stix bundles",
        proptest::collection::vec(object, 0..6),
        |objects| {
            let bundle = serde_json::json!({"type": "bundle", "id": "bundle--x", "objects": objects});
            let bytes = serde_json::to_vec(&bundle).unwrap();
            let r = parse(&bytes, &ImportOptions::new(ImportFormat::Stix));
            prop_assert!(r.error.is_none());
            prop_assert_eq!(r.lines, objects.len());
            check_report(&r)
        },
    );
}

fn item() -> impl Strategy<Value = ExportItem> {
    let kind = prop::sample::select(IndicatorKind::ALL.to_vec());
    let status = prop::sample::select(IndicatorStatus::ALL.to_vec());
    let value = prop_oneof![
        "[a-z0-9\\-]{1,20}\\.(com|top|xn--fiqs8s)",
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(/[0-9]{1,2})?",
        "[0-9a-f:]{2,20}(/[0-9]{1,3})?",
        "https?://[a-z.]{1,12}/[a-z'\\\\ ]{0,8}",
        ".{0,30}",
    ];
    (
        kind,
        value,
        status,
        0u8..=255,
        proptest::option::of(-10_000_000_000_000i64..300_000_000_000_000),
        proptest::option::of(-10_000_000_000_000i64..300_000_000_000_000),
        proptest::collection::vec(".{0,10}", 0..3),
        proptest::option::of(".{0,20}"),
    )
        .prop_map(
            |(kind, value, status, confidence, from, until, tags, description)| ExportItem {
                id: 1,
                kind,
                value,
                fraud_type: None,
                confidence,
                status,
                valid_from: from.map(Timestamp),
                valid_until: until.map(Timestamp),
                tags,
                source: description.clone(),
                description,
                created_at: Timestamp(1_700_000_000_000),
                updated_at: Timestamp(1_600_000_000_000),
            },
        )
}

#[test]
fn exporters_never_panic_and_are_deterministic() {
    run(
        "exports of arbitrary items × 8 formats",
        proptest::collection::vec(item(), 0..10),
        |items| {
            for f in ExportFormat::ALL {
                let a = export(*f, &items, &ExportOptions::default());
                let mut rev = items.clone();
                rev.reverse();
                let b = export(*f, &rev, &ExportOptions::default());
                match (a, b) {
                    (Ok(a), Ok(b)) => {
                        prop_assert!(a == b, "{} export depends on input order", f.code());
                        // The text exports re-import without a panic.
                        let import = match f {
                            ExportFormat::Csv => Some(ImportFormat::Csv),
                            ExportFormat::Xlsx => Some(ImportFormat::Xlsx),
                            ExportFormat::Stix => Some(ImportFormat::Stix),
                            ExportFormat::Hosts => Some(ImportFormat::Hosts),
                            ExportFormat::DomainList => Some(ImportFormat::List),
                            _ => None,
                        };
                        if let Some(i) = import {
                            let r = parse(&a.bytes, &ImportOptions::new(i));
                            check_report(&r)?;
                        }
                    }
                    (a, b) => prop_assert!(a.is_err() && b.is_err(), "{}: {a:?} / {b:?}", f.code()),
                }
            }
            Ok(())
        },
    );
}
