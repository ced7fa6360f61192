//! The event wire format: `testdata/detect/event_lines.tsv` (valid lines and
//! their normalised fields, invalid lines and their errors), round trips,
//! derived ids and person keys.

use std::path::Path;

use fanzha_core::Timestamp;
use fanzha_core::event::{
    Event, EventBody, EventError, MAX_LINE_BYTES, ParseOptions, Party, derive_event_id, parse_event_line,
    parse_time,
};

fn opts() -> ParseOptions {
    // 2024-06-01T12:00:00Z
    ParseOptions::at(Timestamp(1_717_243_200_000))
}

fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && b.get(i + 1) == Some(&b'x')
            && let Some(h) = s.get(i + 2..i + 4)
            && let Ok(v) = u8::from_str_radix(h, 16)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn variant(e: &EventError) -> &'static str {
    match e {
        EventError::Empty => "Empty",
        EventError::LineTooLong { .. } => "LineTooLong",
        EventError::InvalidUtf8 { .. } => "InvalidUtf8",
        EventError::Json { .. } => "Json",
        EventError::NotObject => "NotObject",
        EventError::UnknownKind { .. } => "UnknownKind",
        EventError::Missing { .. } => "Missing",
        EventError::MissingOneOf { .. } => "MissingOneOf",
        EventError::WrongType { .. } => "WrongType",
        EventError::TooLong { .. } => "TooLong",
        EventError::EmptyField { .. } => "EmptyField",
        EventError::BadTime { .. } => "BadTime",
        EventError::BadValue { .. } => "BadValue",
        EventError::BadEnum { .. } => "BadEnum",
        EventError::OutOfRange { .. } => "OutOfRange",
    }
}

fn field(ev: &Event, name: &str) -> String {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    match (name, &ev.body) {
        ("kind", b) => b.kind_code().to_owned(),
        ("id", _) => ev.id.clone(),
        ("ts", _) => ev.ts.0.to_string(),
        ("subscriber", _) => ev.subscriber().value().to_owned(),
        ("peer", _) => ev.peer_phone().unwrap_or_default().to_owned(),
        ("duration", EventBody::Call(c)) => c.duration_s.to_string(),
        ("start", EventBody::Call(c)) => c.start.0.to_string(),
        ("text", EventBody::Call(c)) => o(&c.transcript),
        ("text", EventBody::Sms(s)) => o(&s.text),
        ("url", EventBody::Web(w)) => o(&w.url),
        ("domain", EventBody::Web(w)) => o(&w.domain),
        ("ip", EventBody::Web(w)) => o(&w.ip),
        ("package", EventBody::App(a)) => o(&a.package),
        ("cert", EventBody::App(a)) => o(&a.cert_sha256),
        ("apk", EventBody::App(a)) => o(&a.apk_sha256),
        ("action", EventBody::App(a)) => a.action.code().to_owned(),
        ("payee", EventBody::Transfer(t)) => format!("{}:{}", t.payee.kind.code(), t.payee.value),
        ("amount", EventBody::Transfer(t)) => t.amount_fen.to_string(),
        (other, _) => panic!("unknown check field {other}"),
    }
}

#[test]
fn event_lines() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/detect/event_lines.tsv");
    let text = std::fs::read_to_string(&path).expect("testdata/detect/event_lines.tsv is missing");
    let mut n = 0;
    for (lineno, row) in text.lines().enumerate() {
        if row.starts_with('#') || row.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = row.split('\t').collect();
        assert_eq!(cols.len(), 3, "line {}: three columns", lineno + 1);
        let (expect, line, check) = (cols[0], unescape(cols[1]), cols[2]);
        let at = format!("event_lines.tsv:{}", lineno + 1);
        let got = parse_event_line(&line, &opts());
        n += 1;
        if expect == "ok" {
            let ev = got.unwrap_or_else(|e| panic!("{at}: {e}"));
            for pair in check.split(" ; ") {
                let (k, v) = pair
                    .split_once('=')
                    .unwrap_or_else(|| panic!("{at}: bad check {pair}"));
                assert_eq!(field(&ev, k.trim()), v, "{at}: {k}");
            }
            assert!(!ev.id.is_empty(), "{at}: id");
            // A serialised event parses back to itself.
            let again = parse_event_line(ev.to_json_line().as_bytes(), &opts()).unwrap();
            assert_eq!(again, ev, "{at}: round trip");
        } else {
            let e = got
                .err()
                .unwrap_or_else(|| panic!("{at}: accepted, expected {expect}"));
            assert_eq!(variant(&e), expect, "{at}: {e}");
            let msg = e.to_string();
            assert!(msg.contains(check), "{at}: {msg:?} lacks {check:?}");
            // No personal value in a message: none of the phone digits of the line.
            for secret in [
                "13800000001",
                "13900000002",
                "6222021000001234567",
                "12345678901234567",
            ] {
                assert!(!msg.contains(secret), "{at}: {msg} echoes a value");
            }
        }
    }
    assert!(n >= 50, "{n} cases");
}

#[test]
fn limits() {
    let o = opts();
    let long = vec![b' '; MAX_LINE_BYTES + 1];
    assert!(matches!(
        parse_event_line(&long, &o),
        Err(EventError::LineTooLong { .. })
    ));
    let text = "诈".repeat(1400); // 4200 bytes
    let line = format!(
        r#"{{"ts":1717200000000,"source":"s","kind":"sms","sender":"13800000001","receiver":"13900000002","text":"{text}"}}"#
    );
    match parse_event_line(line.as_bytes(), &o) {
        Err(EventError::TooLong { field, len, max }) => assert_eq!((field, len, max), ("text", 4200, 4096)),
        other => panic!("{other:?}"),
    }
    let wide = ParseOptions {
        max_text_bytes: 8192,
        ..o
    };
    assert!(parse_event_line(line.as_bytes(), &wide).is_ok());
    // The skew is configurable.
    let line = r#"{"ts":"2024-06-01T13:00:00Z","source":"s","kind":"sms","sender":"13800000001","receiver":"13900000002"}"#;
    assert!(parse_event_line(line.as_bytes(), &o).is_err());
    let lax = ParseOptions {
        max_future_skew_ms: 2 * 3600 * 1000,
        ..o
    };
    assert!(parse_event_line(line.as_bytes(), &lax).is_ok());
}

#[test]
fn derived_ids_are_stable_and_content_bound() {
    let o = opts();
    let a = br#"{"ts":1717200000000,"source":"s","kind":"sms","sender":"138 0000 0001","receiver":"13900000002","text":"hi"}"#;
    let b = br#"{"ts":1717200000000,"source":"s","kind":"sms","sender":"+8613800000001","receiver":"139-0000-0002","text":"hi"}"#;
    let c = br#"{"ts":1717200000001,"source":"s","kind":"sms","sender":"+8613800000001","receiver":"13900000002","text":"hi"}"#;
    let (ea, eb, ec) = (
        parse_event_line(a, &o).unwrap(),
        parse_event_line(b, &o).unwrap(),
        parse_event_line(c, &o).unwrap(),
    );
    // Same content after normalisation: same id; any change: another.
    assert_eq!(ea.id, eb.id);
    assert_ne!(ea.id, ec.id);
    assert!(ea.id.starts_with('h') && ea.id.len() == 33, "{}", ea.id);
    assert_eq!(derive_event_id(&ea), ea.id);
    // A given id is kept.
    let d = br#"{"id":"src-9","ts":1717200000000,"source":"s","kind":"sms","sender":"13800000001","receiver":"13900000002"}"#;
    assert_eq!(parse_event_line(d, &o).unwrap().id, "src-9");
}

#[test]
fn person_keys() {
    let o = opts();
    let call_in = br#"{"ts":1717200000000,"source":"s","kind":"call","caller":"13800000001","callee":"13900000002","direction":"in"}"#;
    let call_out = br#"{"ts":1717200000000,"source":"s","kind":"call","caller":"13900000002","callee":"13800000001","direction":"out"}"#;
    let sms = br#"{"ts":1717200000000,"source":"s","kind":"sms","sender":"13800000001","receiver":"+86 139 0000 0002"}"#;
    let pay = br#"{"ts":1717200000000,"source":"s","kind":"transfer","payer":"13900000002","payee":{"kind":"bank_account","value":"6222021000001234567"},"amount_fen":1}"#;
    let keys: Vec<u64> = [&call_in[..], call_out, sms, pay]
        .iter()
        .map(|l| parse_event_line(l, &o).unwrap().person_key())
        .collect();
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    // The same digits as an account are another person.
    let acct = br#"{"ts":1717200000000,"source":"s","kind":"transfer","payer":{"kind":"bank_account","value":"8613900000002"},"payee":{"kind":"bank_account","value":"6222021000001234567"},"amount_fen":1}"#;
    let ev = parse_event_line(acct, &o).unwrap();
    assert!(matches!(&ev.body, EventBody::Transfer(t) if matches!(t.payer, Party::Account(_))));
    assert_ne!(ev.person_key(), keys[0]);
    // Masked display for logs.
    assert_eq!(ev.subscriber().to_string(), "bank_account:8613*****0002");
}

#[test]
fn rfc3339() {
    assert_eq!(
        parse_time("2000-01-01T00:00:00Z"),
        Some(Timestamp(946_684_800_000))
    );
    assert_eq!(
        parse_time("2024-06-01T08:00:00+08:00"),
        Some(Timestamp(1_717_200_000_000))
    );
    assert_eq!(
        parse_time("2024-05-31T19:30:00-04:30"),
        Some(Timestamp(1_717_200_000_000))
    );
    assert_eq!(
        parse_time("2024-06-01T00:00:00.123456789Z"),
        Some(Timestamp(1_717_200_000_123))
    );
    assert_eq!(
        parse_time("2024-02-29T00:00:00Z"),
        Some(Timestamp(1_709_164_800_000))
    );
    for bad in [
        "2023-02-29T00:00:00Z",
        "2024-06-01T00:00:00",
        "2024-06-01T00:00:60Z",
        "2024-06-01T00:00:00.Z",
        "2024-06-01T00:00:00+8:00",
        "2024-6-1T00:00:00Z",
        "",
    ] {
        assert_eq!(parse_time(bad), None, "{bad}");
    }
}
