//! Data-driven tests of the intel parsers and exporters.
//!
//! * `testdata/intel/<import format>/<case>.input` is parsed with
//!   `ImportOptions::new(<format>)`, overridden by `<case>.options` (JSON)
//!   when present, and the report must equal `<case>.expected` (JSON). In the
//!   `xlsx` directory the input is CSV text that is first written to a
//!   workbook with the app's XLSX writer.
//! * `testdata/intel/export/<case>.input` is `{"format", "options", "items"}`
//!   (JSON) and the exported bytes must equal `<case>.expected`.
//!
//! `FANZHA_BLESS=1` rewrites the expected files from the current output
//! (review the diff before committing).

use fanzha_app::intel::formats::{
    ExportFormat, ExportItem, ExportOptions, ImportFormat, ImportOptions, IndicatorDraft, IndicatorStatus,
    ParseReport, export, parse,
};
use fanzha_core::{FraudType, IndicatorKind, Timestamp};
mod intel_support;

use intel_support::assert_accounted;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/intel")
}

fn bless() -> bool {
    std::env::var_os("FANZHA_BLESS").is_some()
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "input"))
        .collect();
    v.sort();
    v
}

fn check(path: &Path, got: &[u8], failures: &mut Vec<String>) {
    let exp_path = path.with_extension("expected");
    if bless() {
        std::fs::write(&exp_path, got).unwrap();
        return;
    }
    let want = std::fs::read(&exp_path).unwrap_or_else(|e| panic!("{}: {e}", exp_path.display()));
    if want != got {
        failures.push(format!(
            "{}: output differs from {}\n--- got ---\n{}",
            path.display(),
            exp_path.display(),
            String::from_utf8_lossy(got)
        ));
    }
}

fn report_json(r: &ParseReport) -> Vec<u8> {
    let mut s = serde_json::to_vec_pretty(r).unwrap();
    s.push(b'\n');
    s
}

#[test]
fn import_cases() {
    let mut failures = Vec::new();
    let mut n = 0;
    for format in ImportFormat::ALL {
        let dir = testdata().join(format.code());
        if !dir.is_dir() {
            failures.push(format!(
                "no test cases for {} (expected {})",
                format.code(),
                dir.display()
            ));
            continue;
        }
        for case in cases(&dir) {
            let mut opts = ImportOptions::new(*format);
            let opt_path = case.with_extension("options");
            if opt_path.exists() {
                let mut v: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&opt_path).unwrap()).unwrap();
                v["format"] = serde_json::json!(format.code());
                opts = serde_json::from_value(v).unwrap();
            }
            let mut input = std::fs::read(&case).unwrap();
            if *format == ImportFormat::Xlsx {
                input = csv_to_xlsx(&input);
            }
            let report = parse(&input, &opts);
            if !matches!(
                format,
                ImportFormat::Csv | ImportFormat::Xlsx | ImportFormat::Stix
            ) && report.error.is_none()
            {
                assert_accounted(&report, &case.display().to_string());
            }
            check(&case, &report_json(&report), &mut failures);
            n += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} import cases failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(n >= 15, "only {n} import cases found");
}

fn csv_to_xlsx(csv_text: &[u8]) -> Vec<u8> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv_text);
    let mut rows: Vec<Vec<String>> = rdr
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    let headers = rows.remove(0);
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    fanzha_app::table::write_xlsx("intel", &h, &rows).unwrap()
}

#[derive(serde::Deserialize)]
struct ExportCase {
    format: ExportFormat,
    #[serde(default)]
    options: ExportOptions,
    items: Vec<ExportItem>,
}

#[test]
fn export_cases() {
    let mut failures = Vec::new();
    let mut formats = BTreeSet::new();
    let all = cases(&testdata().join("export"));
    for case in &all {
        let c: ExportCase = serde_json::from_slice(&std::fs::read(case).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        formats.insert(c.format.code());
        let out = export(c.format, &c.items, &c.options).unwrap();
        // The same input twice gives the same bytes, whatever the order.
        let mut reversed = c.items.clone();
        reversed.reverse();
        assert_eq!(
            export(c.format, &reversed, &c.options).unwrap(),
            out,
            "{}",
            case.display()
        );
        let mut got = out.bytes.clone();
        got.extend_from_slice(format!("#- written {} skipped {:?}\n", out.written, out.skipped).as_bytes());
        check(case, &got, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} export cases failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    for f in ["rpz", "hosts", "domains", "nftables", "ipset", "csv", "stix"] {
        assert!(formats.contains(f), "no export case for {f}");
    }
}

fn ts(s: &str) -> Timestamp {
    fanzha_app::intel::formats::time::parse_rfc3339(s).unwrap()
}

/// A varied set of stored indicators.
fn sample_items() -> Vec<ExportItem> {
    let mk = |id: i64, kind: IndicatorKind, value: &str| ExportItem {
        id,
        kind,
        value: fanzha_core::indicator::normalize(kind, value).unwrap(),
        fraud_type: None,
        confidence: 50,
        status: IndicatorStatus::Confirmed,
        valid_from: None,
        valid_until: None,
        tags: Vec::new(),
        source: None,
        description: None,
        created_at: ts("2024-03-01T08:00:00Z"),
        updated_at: ts("2024-03-02T08:00:00.250Z"),
    };
    let mut v = vec![
        mk(1, IndicatorKind::Domain, "evil-invest.top"),
        mk(2, IndicatorKind::Domain, "xn--fsqu00a.xn--fiqs8s"),
        mk(3, IndicatorKind::Url, "http://phish.example.com/login?next=a%20b"),
        mk(4, IndicatorKind::Ip, "203.0.113.7"),
        mk(5, IndicatorKind::Ip, "198.51.100.0/24"),
        mk(6, IndicatorKind::Ip, "2001:db8::/48"),
        mk(7, IndicatorKind::Phone, "13812345678"),
        mk(8, IndicatorKind::BankAccount, "6222021234567890128"),
        mk(
            9,
            IndicatorKind::App,
            "apk:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ),
        mk(10, IndicatorKind::App, "pkg:com.fake.loan"),
        mk(11, IndicatorKind::SocialAccount, "wechat:scammer_01"),
        mk(
            12,
            IndicatorKind::App,
            "cert:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89",
        ),
    ];
    v[0].fraud_type = Some(FraudType::FakeInvestment);
    v[0].tags = vec!["tw165".into(), "博弈".into()];
    v[0].valid_from = Some(ts("2024-03-01T00:00:00Z"));
    v[0].valid_until = Some(ts("2025-03-01T00:00:00Z"));
    v[0].source = Some("165 反诈专线".into());
    v[0].description = Some("假投资平台, \"高收益\"".into());
    v[1].fraud_type = Some(FraudType::RomanceScam);
    v[2].confidence = 90;
    v[2].tags = vec!["phishing".into()];
    v[6].fraud_type = Some(FraudType::ImpersonateAuthority);
    v[6].status = IndicatorStatus::Pending;
    v[7].status = IndicatorStatus::Disposed;
    v[7].valid_until = Some(ts("2026-01-01T16:00:00Z"));
    v[10].status = IndicatorStatus::Revoked;
    v
}

/// What a draft carries of an item.
fn as_draft(i: &ExportItem) -> IndicatorDraft {
    let mut d = IndicatorDraft::new(i.kind, i.value.clone());
    d.fraud_type = i.fraud_type;
    d.confidence = Some(i.confidence);
    d.source = i.source.clone();
    d.valid_from = i.valid_from;
    d.valid_until = i.valid_until;
    d.tags = i.tags.clone();
    d.tags.sort();
    d.description = i.description.clone();
    d
}

fn round_trip(format: ExportFormat, import: ImportFormat) {
    let items = sample_items();
    let out = export(format, &items, &ExportOptions::default()).unwrap();
    assert_eq!(out.written, items.len());
    let r = parse(&out.bytes, &ImportOptions::new(import));
    assert!(r.rejected.is_empty() && r.error.is_none(), "{r:#?}");
    let mut want: Vec<IndicatorDraft> = items.iter().map(as_draft).collect();
    want.sort_by(|a, b| (a.kind, &a.value).cmp(&(b.kind, &b.value)));
    assert_eq!(r.into_drafts(), want);
}

#[test]
fn csv_export_reimports_losslessly() {
    round_trip(ExportFormat::Csv, ImportFormat::Csv);
}

#[test]
fn xlsx_export_reimports_losslessly() {
    round_trip(ExportFormat::Xlsx, ImportFormat::Xlsx);
}

#[test]
fn xlsx_export_is_deterministic() {
    // Workbooks carry a creation time; a second later the bytes must not change.
    let items = sample_items();
    let a = export(ExportFormat::Xlsx, &items, &ExportOptions::default()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = export(ExportFormat::Xlsx, &items, &ExportOptions::default()).unwrap();
    assert!(a.bytes == b.bytes, "two XLSX exports of the same items differ");
}

#[test]
fn stix_export_reimports_its_indicators() {
    let items = sample_items();
    let out = export(ExportFormat::Stix, &items, &ExportOptions::default()).unwrap();
    // Phones, accounts and package names have no STIX observable.
    assert_eq!(out.written, 8);
    let r = parse(&out.bytes, &ImportOptions::new(ImportFormat::Stix));
    assert!(r.rejected.is_empty() && r.unsupported.is_empty(), "{r:#?}");
    // The revoked social account was not exported; nothing else is revoked.
    assert_eq!(r.drafts.len(), 8);
    for d in &r.drafts {
        let it = items
            .iter()
            .find(|i| i.kind == d.draft.kind && i.value == d.draft.value)
            .unwrap();
        assert_eq!(d.draft.fraud_type, it.fraud_type, "{}", it.value);
        assert_eq!(d.draft.confidence, Some(it.confidence));
        assert_eq!(d.draft.valid_from, Some(it.valid_from.unwrap_or(it.created_at)));
        assert_eq!(d.draft.valid_until, it.valid_until);
        for t in &it.tags {
            assert!(d.draft.tags.contains(t), "{t} missing from {:?}", d.draft.tags);
        }
        assert!(d.draft.tags.contains(&"malicious-activity".to_string()));
        assert!(
            d.draft
                .external_id
                .as_deref()
                .is_some_and(|x| x.starts_with("indicator--"))
        );
    }
    assert_eq!(r.skipped.len(), 1, "the identity object");
}

#[test]
fn block_lists_take_only_active_items() {
    let items = sample_items();
    let mut o = ExportOptions::default();
    let out = export(ExportFormat::DomainList, &items, &o).unwrap();
    assert_eq!(
        String::from_utf8(out.bytes).unwrap(),
        "evil-invest.top\nxn--fsqu00a.xn--fiqs8s\n"
    );
    o.at = Some(ts("2025-06-01T00:00:00Z"));
    let out = export(ExportFormat::DomainList, &items, &o).unwrap();
    assert_eq!(String::from_utf8(out.bytes).unwrap(), "xn--fsqu00a.xn--fiqs8s\n");
    assert!(
        out.skipped
            .iter()
            .any(|s| s.count == 1 && format!("{:?}", s.reason) == "NotValid")
    );
    o.origin = "not a name".into();
    assert!(export(ExportFormat::Rpz, &items, &o).is_err());
    let o = ExportOptions {
        nft_set_v4: "bad name".into(),
        ..ExportOptions::default()
    };
    assert!(export(ExportFormat::Nftables, &items, &o).is_err());
}

#[test]
fn xlsx_numbers_that_lost_digits_are_rejected() {
    use rust_xlsxwriter::Workbook;
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "kind").unwrap();
    ws.write_string(0, 1, "value").unwrap();
    ws.write_string(1, 0, "bank_account").unwrap();
    ws.write_number(1, 1, 6222021234567890128.0).unwrap();
    ws.write_string(2, 0, "phone").unwrap();
    ws.write_number(2, 1, 13812345678.0).unwrap();
    let bytes = wb.save_to_buffer().unwrap();
    let r = parse(&bytes, &ImportOptions::new(ImportFormat::Xlsx));
    assert_eq!(r.rejected.len(), 1, "{r:#?}");
    assert_eq!(r.rejected[0].line, 2);
    assert_eq!(r.rejected[0].reason.key, "intel.import.value_as_number");
    assert_eq!(r.drafts.len(), 1);
    assert_eq!(r.drafts[0].draft.value, "+8613812345678");
    let bad = parse(b"PK\x03\x04 not a zip", &ImportOptions::new(ImportFormat::Xlsx));
    assert!(bad.error.is_some() && bad.drafts.is_empty());
}

#[test]
fn every_message_key_is_in_the_catalogue() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/intel/formats");
    let mut keys = BTreeSet::new();
    for e in std::fs::read_dir(&src).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        for part in text.split('"').skip(1).step_by(2) {
            if part.starts_with("intel.") {
                keys.insert(part.to_string());
            }
        }
    }
    assert!(keys.len() > 40, "{keys:?}");
    let missing: Vec<_> = keys.iter().filter(|k| !fanzha_core::i18n::has(k)).collect();
    assert!(missing.is_empty(), "missing catalogue keys: {missing:?}");
}
