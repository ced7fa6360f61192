//! Helpers shared by the intel test files.
#![allow(dead_code)]

use fanzha_app::intel::formats::{
    ExportItem, ImportFormat, ImportOptions, IndicatorStatus, ParseReport, parse,
};
use fanzha_core::{FraudType, IndicatorKind, Timestamp};
use std::path::{Path, PathBuf};

/// The shared data directory: `FANZHA_SHARED_DATA`, default `../shared/data`
/// beside the workspace. Fails clearly when it is missing.
pub fn shared_data() -> PathBuf {
    let dir = match std::env::var_os("FANZHA_SHARED_DATA") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    assert!(
        dir.join("intel").is_dir() && dir.join("benign").is_dir(),
        "shared data not found at {} (set FANZHA_SHARED_DATA to the shared/data directory)",
        dir.display()
    );
    dir
}

pub fn read_shared(rel: &str) -> Vec<u8> {
    let p = shared_data().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

pub fn parse_shared(rel: &str, format: ImportFormat, kind: Option<IndicatorKind>) -> ParseReport {
    let mut o = ImportOptions::new(format);
    o.default_kind = kind;
    parse(&read_shared(rel), &o)
}

/// A tool the test drives: `Some(path)` when it is there; otherwise the
/// test prints "skipped" and returns `None` — unless `CI` is set, where a
/// missing tool fails the test.
pub fn tool(what: &str, candidates: &[&str]) -> Option<PathBuf> {
    for c in candidates {
        let p = Path::new(c);
        if p.is_absolute() && p.is_file() {
            return Some(p.to_path_buf());
        }
        if !p.is_absolute()
            && let Some(found) = std::env::var_os("PATH")
                .iter()
                .flat_map(std::env::split_paths)
                .map(|d| d.join(c))
                .find(|f| f.is_file())
        {
            return Some(found);
        }
    }
    if std::env::var_os("CI").is_some() {
        panic!("{what} is required in CI but was not found (tried {candidates:?})");
    }
    eprintln!("skipped: {what} not found (tried {candidates:?})");
    None
}

/// Confirmed export items for drafts, as a store would hold them.
pub fn items_of(report: &ParseReport) -> Vec<ExportItem> {
    let t0 = Timestamp(1_700_000_000_000);
    report
        .drafts
        .iter()
        .enumerate()
        .map(|(i, d)| ExportItem {
            id: i as i64 + 1,
            kind: d.draft.kind,
            value: d.draft.value.clone(),
            fraud_type: Some(d.draft.fraud_type.unwrap_or(FraudType::FakeInvestment)),
            confidence: d.draft.confidence.unwrap_or(70),
            status: IndicatorStatus::Confirmed,
            valid_from: d.draft.valid_from,
            valid_until: d.draft.valid_until,
            tags: d.draft.tags.clone(),
            source: Some("tw165".into()),
            description: d.draft.description.clone(),
            created_at: t0,
            updated_at: t0,
        })
        .collect()
}

/// Counts of rejected/unsupported lines by reason, with a few excerpts each.
pub fn summary(name: &str, r: &ParseReport) -> String {
    use std::collections::BTreeMap;
    let mut by: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
    for (class, list) in [("rejected", &r.rejected), ("unsupported", &r.unsupported)] {
        for x in list {
            let detail = x
                .reason
                .args
                .iter()
                .find(|(k, _)| k == "detail")
                .map(|(_, v)| format!(" ({v})"));
            let e = by
                .entry(format!("{class} {}{}", x.reason.key, detail.unwrap_or_default()))
                .or_default();
            e.0 += 1;
            if e.1.len() < 3 {
                e.1.push(format!("{}:{}", x.line, x.excerpt));
            }
        }
    }
    let mut s = format!(
        "{name}: {} lines → {} drafts, {} rejected, {} unsupported, {} allowlist candidates, {} duplicates, {} skipped, {} notes\n",
        r.lines,
        r.drafts.len(),
        r.rejected.len(),
        r.unsupported.len(),
        r.allowlist_candidates.len(),
        r.duplicates.len(),
        r.skipped.len(),
        r.notes.len()
    );
    for (k, (n, ex)) in by {
        s.push_str(&format!("  {n:>6} {k}  e.g. {}\n", ex.join(" | ")));
    }
    s
}

/// Every line of a line format is accounted for somewhere in the report.
pub fn assert_accounted(r: &ParseReport, what: &str) {
    use std::collections::BTreeSet;
    let mut seen = BTreeSet::new();
    seen.extend(r.drafts.iter().map(|d| d.line));
    seen.extend(r.rejected.iter().map(|d| d.line));
    seen.extend(r.unsupported.iter().map(|d| d.line));
    seen.extend(r.allowlist_candidates.iter().map(|d| d.line));
    seen.extend(r.duplicates.iter().map(|d| d.line));
    seen.extend(r.skipped.iter().map(|d| d.line));
    let all: BTreeSet<usize> = (1..=r.lines).collect();
    let missing: Vec<_> = all.difference(&seen).take(10).collect();
    let extra: Vec<_> = seen.difference(&all).take(10).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: lines not accounted for {missing:?}, out of range {extra:?}"
    );
}
