//! Property tests: strange input never panics the event parser, the rules
//! parser or the detector, and the detector stays deterministic.

use std::sync::{Arc, OnceLock};

use fanzha_core::Timestamp;
use fanzha_core::event::{
    AccountRef, AppAction, AppEvent, Call, Direction, Event, EventBody, ParseOptions, Party, Sms, Transfer,
    Web, parse_event_line,
};
use fanzha_core::{FraudType, IndicatorKind};
use fanzha_engine::detect::{DetectContext, Detector, PersonAttrs, RulesDoc, default_rules};
use fanzha_engine::index::{IndexBuilder, IndexSnapshot};
use fanzha_engine::text::{CombineParams, Lexicon, TextClassifier};
use proptest::prelude::*;

fn index() -> &'static IndexSnapshot {
    static I: OnceLock<IndexSnapshot> = OnceLock::new();
    I.get_or_init(|| {
        let mut b = IndexBuilder::new();
        let rows = [
            (IndicatorKind::Phone, "+8613800000001"),
            (IndicatorKind::Phone, "+86110"),
            (IndicatorKind::Domain, "evil.example.com"),
            (IndicatorKind::Url, "https://evil.example.com/x"),
            (IndicatorKind::Ip, "203.0.113.0/24"),
            (IndicatorKind::App, "pkg:com.evil.app"),
            (IndicatorKind::BankAccount, "6222021000001234567"),
            (IndicatorKind::PaymentAccount, "alipay:+8613800000001"),
        ];
        for (i, (k, v)) in rows.iter().enumerate() {
            b.push(i as i64 + 1, *k, v, FraudType::FakeLoan, 90).unwrap();
        }
        b.finish()
    })
}

fn classifier() -> &'static TextClassifier {
    static C: OnceLock<TextClassifier> = OnceLock::new();
    C.get_or_init(|| TextClassifier::new(Lexicon::builtin().unwrap(), None, CombineParams::default()))
}

/// Strings that are sometimes canonical values, sometimes flagged ones,
/// sometimes garbage.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("+8613800000001".to_owned()),
        Just("+86110".to_owned()),
        Just("https://evil.example.com/x".to_owned()),
        Just("evil.example.com".to_owned()),
        Just("com.oray.sunlogin".to_owned()),
        Just("com.evil.app".to_owned()),
        Just("6222021000001234567".to_owned()),
        Just(String::new()),
        "\\PC{0,40}",
        "[0-9+]{0,30}",
        ".{0,300}",
    ]
}

fn event() -> impl Strategy<Value = Event> {
    let ts = prop_oneof![any::<i64>(), 946_684_800_000i64..4_000_000_000_000];
    let body = prop_oneof![
        (
            value(),
            value(),
            any::<bool>(),
            any::<u32>(),
            proptest::option::of(value())
        )
            .prop_map(|(a, b, inb, d, t)| EventBody::Call(Call {
                caller: a,
                callee: b,
                direction: if inb { Direction::In } else { Direction::Out },
                start: Timestamp(0),
                duration_s: d,
                transcript: t,
            })),
        (value(), value(), proptest::option::of(value())).prop_map(|(a, b, t)| EventBody::Sms(Sms {
            sender: a,
            receiver: b,
            text: t
        })),
        (
            value(),
            proptest::option::of(value()),
            proptest::option::of(value()),
            proptest::option::of(value())
        )
            .prop_map(|(s, u, d, i)| EventBody::Web(Web {
                subscriber: s,
                url: u,
                domain: d,
                ip: i
            })),
        (
            value(),
            proptest::option::of(value()),
            proptest::option::of(value()),
            0u8..3
        )
            .prop_map(|(s, p, c, a)| EventBody::App(AppEvent {
                subscriber: s,
                package: p,
                cert_sha256: c,
                apk_sha256: None,
                action: [AppAction::Install, AppAction::Open, AppAction::Uninstall][a as usize],
            })),
        (value(), value(), any::<i64>(), 0usize..8).prop_map(|(p, v, amt, k)| EventBody::Transfer(
            Transfer {
                payer: Party::Phone(p),
                payee: AccountRef {
                    kind: IndicatorKind::ALL[k],
                    value: v
                },
                amount_fen: amt,
                channel: String::new(),
            }
        )),
    ];
    (ts, body, ".{0,10}").prop_map(|(ts, body, id)| Event {
        id,
        ts: Timestamp(ts),
        source: "p".to_owned(),
        body,
    })
}

fn json_scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        any::<i64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:e}")),
        value().prop_map(|s| serde_json::to_string(&s).unwrap()),
        Just("{}".to_owned()),
        Just("[]".to_owned()),
        Just(r#"{"kind":"bank_account","value":"6222021000001234567"}"#.to_owned()),
    ]
}

const FIELDS: [&str; 24] = [
    "id",
    "ts",
    "source",
    "kind",
    "caller",
    "callee",
    "direction",
    "duration_s",
    "start",
    "transcript",
    "sender",
    "receiver",
    "text",
    "subscriber",
    "url",
    "domain",
    "ip",
    "package",
    "cert_sha256",
    "apk_sha256",
    "action",
    "payer",
    "payee",
    "amount_fen",
];

fn json_object() -> impl Strategy<Value = String> {
    let kind = prop_oneof![
        Just("call"),
        Just("sms"),
        Just("web"),
        Just("app"),
        Just("transfer"),
        Just("other")
    ];
    (
        kind,
        proptest::collection::vec((0usize..FIELDS.len(), json_scalar()), 0..12),
    )
        .prop_map(|(k, fields)| {
            let mut s = format!(r#"{{"kind":"{k}","ts":1717200000000,"source":"p""#);
            for (f, v) in fields {
                s.push_str(&format!(r#","{}":{}"#, FIELDS[f], v));
            }
            s.push('}');
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_event_line(&bytes, &ParseOptions::at(Timestamp(1_717_243_200_000)));
    }

    #[test]
    fn parser_never_panics_on_objects(line in json_object()) {
        let o = ParseOptions::at(Timestamp(1_717_243_200_000));
        if let Ok(ev) = parse_event_line(line.as_bytes(), &o) {
            // Whatever it accepts serialises and parses back to itself.
            let again = parse_event_line(ev.to_json_line().as_bytes(), &o);
            prop_assert_eq!(again, Ok(ev));
        }
    }

    #[test]
    fn detector_never_panics_and_is_deterministic(
        events in proptest::collection::vec((event(), proptest::option::of(any::<u8>())), 1..30),
    ) {
        let rules = Arc::new(default_rules().unwrap());
        let ctx = DetectContext::new(index()).with_classifier(classifier());
        let mut a = Detector::new(rules.clone());
        let mut b = Detector::new(rules);
        for (i, (ev, age)) in events.iter().enumerate() {
            let attrs = PersonAttrs { age: *age, tags: vec!["独居老人".to_owned()] };
            let x = a.process(&ctx, ev, i as u64, &attrs);
            let y = b.process(&ctx, ev, i as u64, &attrs);
            prop_assert_eq!(&x, &y);
            if let Some(s) = x.score {
                prop_assert!(s.is_finite() && s >= 0.0);
            }
            a.evict_idle(ev.ts);
            b.evict_idle(ev.ts);
        }
        prop_assert!(a.state_bytes() >= a.persons_tracked() * Detector::record_bytes());
    }

    #[test]
    fn rules_parser_never_panics(text in ".{0,400}") {
        let _ = RulesDoc::parse(&text);
    }

    #[test]
    fn rules_parser_rejects_or_accepts_mutations(pos in 0usize..5000, ch in any::<char>()) {
        // A one-character change to the shipped rules either still parses
        // or gives an error; never a panic.
        let mut s: Vec<char> = fanzha_engine::detect::DEFAULT_RULES.chars().collect();
        let p = pos % s.len();
        s[p] = ch;
        let text: String = s.into_iter().collect();
        let _ = RulesDoc::parse(&text);
    }
}
