//! Data-driven normalisation cases from `testdata/normalize/*.tsv`.
//!
//! File format: one case a line, fields separated by TAB; `#` starts a
//! comment line; blank lines are ignored. In input fields `\t`, `\n`, `\r`,
//! `\s` (space), `\u{…}` and `\\` are escapes. An expected value `ERR`
//! means any error; `ERR:Variant` means that error variant (the start of its
//! `Debug` form). Every accepted value must also normalise to itself.

use fanzha_core::IndicatorKind;
use fanzha_core::indicator::{self, NormalizeError};
use fanzha_core::{account, app, domain, ip, phone, url};
use std::fmt::Debug;
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/normalize")
}

struct Case {
    line: usize,
    fields: Vec<String>,
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some('u') => {
                assert_eq!(it.next(), Some('{'), "bad \\u escape in {s:?}");
                let hex: String = it.by_ref().take_while(|&c| c != '}').collect();
                let cp = u32::from_str_radix(&hex, 16).expect("hex in \\u{..}");
                out.push(char::from_u32(cp).expect("valid code point"));
            }
            other => panic!("unknown escape \\{other:?} in {s:?}"),
        }
    }
    out
}

fn load(name: &str, min_fields: usize) -> Vec<Case> {
    let path = data_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut cases = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        let fields: Vec<String> = raw.split('\t').map(unescape).collect();
        assert!(
            fields.len() >= min_fields,
            "{name}:{}: expected {min_fields} fields: {raw:?}",
            i + 1
        );
        cases.push(Case { line: i + 1, fields });
    }
    cases
}

/// Checks one outcome against an expectation; returns a failure message.
fn check<E: Debug>(
    file: &str,
    line: usize,
    input: &str,
    want: &str,
    got: Result<String, E>,
    again: impl Fn(&str) -> Result<String, E>,
) -> Option<String> {
    match (want.strip_prefix("ERR"), got) {
        (Some(variant), Err(e)) => {
            let variant = variant.strip_prefix(':').unwrap_or(variant);
            let dbg = format!("{e:?}");
            (!dbg.starts_with(variant))
                .then(|| format!("{file}:{line}: {input:?}: want ERR:{variant}, got {dbg}"))
        }
        (Some(_), Ok(v)) => Some(format!("{file}:{line}: {input:?}: want {want}, got Ok({v:?})")),
        (None, Err(e)) => Some(format!("{file}:{line}: {input:?}: want {want:?}, got {e:?}")),
        (None, Ok(v)) if v != want => Some(format!("{file}:{line}: {input:?}: want {want:?}, got {v:?}")),
        (None, Ok(v)) => match again(&v) {
            Ok(v2) if v2 == v => None,
            other => Some(format!(
                "{file}:{line}: {input:?}: not idempotent: {v:?} -> {other:?}"
            )),
        },
    }
}

fn finish(file: &str, cases: usize, min: usize, failures: Vec<String>) {
    assert!(
        cases >= min,
        "{file}: only {cases} cases, expected at least {min}"
    );
    assert!(
        failures.is_empty(),
        "{} of {cases} cases in {file} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn phone_cases() {
    let cases = load("phone.tsv", 2);
    let mut failures = Vec::new();
    for c in &cases {
        let (input, want) = (&c.fields[0], &c.fields[1]);
        let got = phone::normalize(input);
        if let Some(f) = check("phone.tsv", c.line, input, want, got.clone(), phone::normalize) {
            failures.push(f);
            continue;
        }
        if let (Ok(v), Some(class)) = (&got, c.fields.get(2)) {
            let cls = phone::classify(v).map(|k| k.code());
            if cls != Some(class.as_str()) {
                failures.push(format!(
                    "phone.tsv:{}: {input:?}: class want {class}, got {cls:?}",
                    c.line
                ));
            }
            if phone::is_international(v) != (class == "international") {
                failures.push(format!(
                    "phone.tsv:{}: {input:?}: is_international disagrees",
                    c.line
                ));
            }
        }
    }
    finish("phone.tsv", cases.len(), 120, failures);
}

#[test]
fn domain_cases() {
    let cases = load("domain.tsv", 2);
    let mut failures = Vec::new();
    for c in &cases {
        let (input, want) = (&c.fields[0], &c.fields[1]);
        let got = domain::normalize(input);
        if let Some(f) = check("domain.tsv", c.line, input, want, got.clone(), domain::normalize) {
            failures.push(f);
            continue;
        }
        if let (Ok(v), Some(reg)) = (&got, c.fields.get(2)) {
            let r = domain::registrable_domain(v).unwrap_or("-");
            if r != reg {
                failures.push(format!(
                    "domain.tsv:{}: {input:?}: registrable want {reg}, got {r}",
                    c.line
                ));
            }
        }
    }
    finish("domain.tsv", cases.len(), 50, failures);
}

#[test]
fn url_cases() {
    let cases = load("url.tsv", 2);
    let mut failures = Vec::new();
    let canon = |s: &str| url::canonicalize(s).map(url::CanonUrl::into_string);
    for c in &cases {
        let (input, want) = (&c.fields[0], &c.fields[1]);
        let got = url::canonicalize(input);
        if let Some(f) = check(
            "url.tsv",
            c.line,
            input,
            want,
            got.clone().map(|u| u.into_string()),
            canon,
        ) {
            failures.push(f);
            continue;
        }
        if let (Ok(u), Some(host)) = (&got, c.fields.get(2))
            && u.host() != host
        {
            failures.push(format!(
                "url.tsv:{}: {input:?}: host want {host}, got {}",
                c.line,
                u.host()
            ));
        }
    }
    finish("url.tsv", cases.len(), 80, failures);
}

#[test]
fn ip_cases() {
    let cases = load("ip.tsv", 2);
    let mut failures = Vec::new();
    for c in &cases {
        let (input, want) = (&c.fields[0], &c.fields[1]);
        if let Some(f) = check("ip.tsv", c.line, input, want, ip::normalize(input), ip::normalize) {
            failures.push(f);
        }
    }
    finish("ip.tsv", cases.len(), 30, failures);
}

#[test]
fn app_cases() {
    let cases = load("app.tsv", 2);
    let mut failures = Vec::new();
    for c in &cases {
        let (input, want) = (&c.fields[0], &c.fields[1]);
        if let Some(f) = check(
            "app.tsv",
            c.line,
            input,
            want,
            app::normalize(input),
            app::normalize,
        ) {
            failures.push(f);
        }
    }
    finish("app.tsv", cases.len(), 20, failures);
}

#[test]
fn account_cases() {
    let cases = load("account.tsv", 3);
    let mut failures = Vec::new();
    for c in &cases {
        let (kind, input, want) = (c.fields[0].as_str(), &c.fields[1], &c.fields[2]);
        let f: fn(&str) -> Result<String, account::AccountError> = match kind {
            "bank" => account::normalize_bank_account,
            "bank_lenient" => account::normalize_bank_account_lenient,
            "payment" => account::normalize_payment_account,
            "social" => account::normalize_social_account,
            other => panic!("account.tsv:{}: unknown kind {other}", c.line),
        };
        if let Some(msg) = check("account.tsv", c.line, input, want, f(input), f) {
            failures.push(msg);
        }
    }
    finish("account.tsv", cases.len(), 60, failures);
}

#[test]
fn indicator_cases() {
    // kind, input, expected: the same cases through the one entry point.
    let cases = load("indicator.tsv", 3);
    let mut failures = Vec::new();
    for c in &cases {
        let kind = IndicatorKind::parse(&c.fields[0]).expect("indicator kind");
        let (input, want) = (&c.fields[1], &c.fields[2]);
        let norm = |s: &str| indicator::normalize(kind, s);
        if let Some(msg) = check("indicator.tsv", c.line, input, want, norm(input), norm) {
            failures.push(msg);
        }
        // Error messages show at most a short prefix of the input.
        if let Err(e) = norm(input) {
            let msg = e.to_string();
            let t = input.trim();
            if t.chars().count() > indicator::EXCERPT_CHARS + 4 && msg.contains(t) {
                failures.push(format!(
                    "indicator.tsv:{}: error echoes the whole input: {msg}",
                    c.line
                ));
            }
            if !matches!(e, NormalizeError::Empty | NormalizeError::TooLong { .. }) && e.kind() != Some(kind)
            {
                failures.push(format!(
                    "indicator.tsv:{}: error kind {:?} != {kind:?}",
                    c.line,
                    e.kind()
                ));
            }
        }
    }
    finish("indicator.tsv", cases.len(), 20, failures);
}

#[test]
fn detect_cases() {
    // input, kind (or NONE), expected value.
    let cases = load("detect.tsv", 2);
    let mut failures = Vec::new();
    for c in &cases {
        let input = &c.fields[0];
        let got = indicator::detect(input);
        let want = match c.fields[1].as_str() {
            "NONE" => None,
            k => Some((
                IndicatorKind::parse(k).expect("indicator kind"),
                c.fields.get(2).cloned().expect("expected value"),
            )),
        };
        if got != want {
            failures.push(format!(
                "detect.tsv:{}: {input:?}: want {want:?}, got {got:?}",
                c.line
            ));
            continue;
        }
        // A detected value is detected again as itself.
        if let Some((k, v)) = &got
            && indicator::detect(v).as_ref() != Some(&(*k, v.clone()))
        {
            failures.push(format!("detect.tsv:{}: {v:?} is not detected as itself", c.line));
        }
    }
    finish("detect.tsv", cases.len(), 60, failures);
}

#[test]
fn too_long_values_are_rejected_for_every_kind() {
    let long = format!("1{}", "0".repeat(indicator::MAX_RAW_LEN));
    for &kind in IndicatorKind::ALL {
        let e = indicator::normalize(kind, &long).unwrap_err();
        assert_eq!(
            e,
            NormalizeError::TooLong {
                len: long.len(),
                max: indicator::MAX_RAW_LEN
            }
        );
        assert!(e.to_string().contains("too long"));
    }
}
