//! Importing intel files through the app: idempotency, the allowlist and
//! rejections in the report, the job record (both backends); and the real
//! public lists from the shared data directory, with the check that matters
//! most: how many popular, mostly benign domains the imported 165 list
//! flags — none, unless the list really names that domain or a parent.

mod intel_app;

use fanzha_app::intel::formats::ImportFormat;
use fanzha_app::intel::import::{ImportProgress, IntelImportReport, IntelImportRequest};
use fanzha_app::intel::lookup::Verdict;
use fanzha_core::{FraudType, IndicatorKind};
use fanzha_store::IndicatorStatus;
use intel_app::{TestApp, analyst, read_shared, sqlite_app};
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

both_backends!(import_is_idempotent);

const LIST: &str = "\
# a small feed
scam-a.top
scam-b.top
www.icbc.com.cn
95588
+86 171 0000 2222
203.0.113.9
hello world
scam-a.top
";

fn req(name: &str, format: ImportFormat) -> IntelImportRequest {
    let mut r = IntelImportRequest::new(name);
    r.format = Some(format);
    r
}

fn no_progress(_: ImportProgress) {}

async fn import_is_idempotent(t: &TestApp) {
    let app = &t.app;
    let a = analyst();
    let mut r = req("feed.txt", ImportFormat::List);
    r.fraud_type = Some(FraudType::FakeInvestment);
    let steps = Mutex::new(Vec::new());
    let first = app
        .import_intel(&a, LIST.as_bytes(), &r, &|p| steps.lock().unwrap().push(p))
        .await
        .unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&first).unwrap());
    assert_eq!(first.source, "feed:feed");
    assert_eq!(first.lines, 9);
    assert_eq!(first.values, 6);
    assert_eq!(first.added, 4);
    assert_eq!((first.updated, first.unchanged), (0, 0));
    assert_eq!(first.duplicate_lines, 1);
    let allowed: Vec<(&str, &str)> = first
        .allowlisted
        .iter()
        .map(|s| (s.value.as_str(), s.entry.as_str()))
        .collect();
    assert_eq!(
        allowed,
        vec![("www.icbc.com.cn", "icbc.com.cn"), ("+8695588", "+8695588")]
    );
    assert_eq!(first.allowlisted[1].line, 5);
    assert_eq!(first.allowlisted[1].note, "中国工商银行");
    assert_eq!(first.rejected.len(), 1);
    assert_eq!(first.rejected[0].line, 8);
    assert_eq!(first.skipped_lines.get("comment"), Some(&1));
    assert_eq!(
        steps.lock().unwrap().last(),
        Some(&ImportProgress { stored: 4, total: 4 })
    );

    let second = app
        .import_intel(&a, LIST.as_bytes(), &r, &no_progress)
        .await
        .unwrap();
    assert_eq!((second.added, second.updated, second.unchanged), (0, 0, 4));
    assert_eq!(second.allowlisted.len(), 2);
    assert_ne!(second.job_id, first.job_id);

    // A changed option updates; another source is its own row.
    r.confidence = Some(95);
    let third = app
        .import_intel(&a, LIST.as_bytes(), &r, &no_progress)
        .await
        .unwrap();
    assert_eq!((third.added, third.updated, third.unchanged), (0, 4, 0));
    r.source = Some("upper_push".into());
    let fourth = app
        .import_intel(&a, LIST.as_bytes(), &r, &no_progress)
        .await
        .unwrap();
    assert_eq!(fourth.added, 4);
    assert_eq!(fourth.source, "upper_push");

    app.sync_intel().await.unwrap();
    let hit = app.lookup(&a, "x.scam-a.top", None).await.unwrap();
    assert_eq!(hit.verdict, Verdict::Flagged);
    assert_eq!(hit.matches.len(), 2, "the feed's row and the upper push's");
    assert!(hit.matches.iter().all(|m| m.confidence == 95));
    assert!(
        hit.matches
            .iter()
            .all(|m| m.fraud_type == FraudType::FakeInvestment)
    );
    assert!(hit.matches.iter().all(|m| m.status == IndicatorStatus::Confirmed));

    // The jobs, with their reports.
    let jobs = app.list_import_jobs(&a, 1, 10).await.unwrap();
    assert_eq!(jobs.total, 4);
    let (job, report) = app.import_job(&a, first.job_id).await.unwrap();
    assert_eq!((job.added, job.skipped, job.rejected), (4, 2, 1));
    assert_eq!(report.unwrap().allowlisted.len(), 2);

    // Pending imports, forced kinds, a file that cannot be read.
    let mut p = req("phones.txt", ImportFormat::List);
    p.status = Some(IndicatorStatus::Pending);
    p.kind = Some(IndicatorKind::Phone);
    let rep = app
        .import_intel(&a, b"17100003333\nscam-c.top\n", &p, &no_progress)
        .await
        .unwrap();
    assert_eq!((rep.added, rep.rejected.len()), (1, 1));
    let bad = app
        .import_intel(&a, b"", &req("empty.txt", ImportFormat::List), &no_progress)
        .await
        .unwrap_err();
    assert_eq!(bad.msg().key, "intel.import.empty_file");
    let officer = intel_app::actor(fanzha_core::roles::Role::Officer, 8);
    assert!(
        app.import_intel(&officer, LIST.as_bytes(), &r, &no_progress)
            .await
            .is_err()
    );
}

/// What a report says, for the test log.
fn summary(name: &str, r: &IntelImportReport) -> String {
    let mut s = format!(
        "{name}: {} lines, {} values: {} added, {} updated, {} unchanged, {} kept revoked, \
         {} duplicate lines, {} allowlisted, {} rejected, {} allowlist candidates; skipped lines {:?}",
        r.lines,
        r.values,
        r.added,
        r.updated,
        r.unchanged,
        r.kept_revoked,
        r.duplicate_lines,
        r.allowlisted.len(),
        r.rejected.len(),
        r.allowlist_candidates.len(),
        r.skipped_lines
    );
    s.push_str(&format!("\n  rejected by reason: {:?}", r.rejected_by_reason));
    for v in &r.allowlisted {
        s.push_str(&format!(
            "\n  allowlisted line {}: {} {} (covered by {} — {})",
            v.line, v.kind, v.value, v.entry, v.note
        ));
    }
    for x in r.rejected.iter().take(5) {
        s.push_str(&format!(
            "\n  e.g. rejected line {}: {} ({:?})",
            x.line, x.reason.key, x.excerpt
        ));
    }
    s
}

/// The domains a 165 list names, read directly from the files (not through
/// the importer): `||domain^` rules of the adblock list and the hosts of the
/// site table's URLs.
fn listed_domains() -> HashSet<String> {
    let mut out = HashSet::new();
    let adblock = String::from_utf8_lossy(&read_shared("intel/tw165_scam_sites.adblock.txt")).into_owned();
    for l in adblock.lines() {
        if let Some(rest) = l.trim().strip_prefix("||") {
            let d = rest.split(['^', '$', '/']).next().unwrap_or("");
            out.insert(d.to_ascii_lowercase());
        }
    }
    let raw = String::from_utf8_lossy(&read_shared("intel/tw165_scam_sites_raw.tsv")).into_owned();
    for l in raw.lines().filter(|l| !l.starts_with('#')) {
        for cell in l.split('\t') {
            let c = cell.trim();
            let rest = c
                .strip_prefix("https://")
                .or_else(|| c.strip_prefix("http://"))
                .unwrap_or(c);
            let host = rest.split(['/', '?', '#', ':']).next().unwrap_or("");
            if host.contains('.') {
                out.insert(host.trim_end_matches('.').to_ascii_lowercase());
            }
        }
    }
    out
}

/// `d` or one of its parents (at a label boundary) is in `set`.
fn listed_or_parent(d: &str, set: &HashSet<String>) -> Option<String> {
    let mut s = d;
    loop {
        if set.contains(s) {
            return Some(s.to_string());
        }
        match s.split_once('.') {
            Some((_, rest)) if rest.contains('.') => s = rest,
            _ => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_lists_import_and_benign_domains_stay_clean() {
    let t = sqlite_app().await;
    let app = &t.app;
    let a = analyst();
    // The largest share of rejected lines each file may have: the phone list
    // is messy (numbers like `+10220237021` that no numbering plan has).
    let files = [
        (
            "intel/tw165_scam_sites.adblock.txt",
            ImportFormat::Adblock,
            "tw165_sites",
            0.01,
        ),
        (
            "intel/tw165_scam_sites_raw.tsv",
            ImportFormat::Tw165Tsv,
            "tw165_sites",
            0.01,
        ),
        (
            "intel/tw165_bank_accounts.csv",
            ImportFormat::Tw165BankCsv,
            "tw165_bank",
            0.03,
        ),
        ("intel/tw165_phones.txt", ImportFormat::List, "tw165_phones", 0.3),
    ];
    let mut added = BTreeMap::new();
    for (rel, format, source, max_rejected) in files {
        let bytes = read_shared(rel);
        let mut r = req(rel.rsplit('/').next().unwrap(), format);
        r.source = Some(source.into());
        if rel.ends_with("phones.txt") {
            r.kind = Some(IndicatorKind::Phone);
        }
        let rep = app.import_intel(&a, &bytes, &r, &no_progress).await.unwrap();
        eprintln!("{}", summary(rel, &rep));
        assert!(rep.lines > 0, "{rel}");
        // Every value is stored, allowlisted or accounted for as rejected.
        assert_eq!(
            rep.added + rep.updated + rep.unchanged + rep.kept_revoked + rep.allowlisted.len(),
            rep.values,
            "{rel}"
        );
        assert!(
            (rep.rejected.len() as f64) < max_rejected * rep.lines as f64,
            "{rel}: {} of {} lines rejected",
            rep.rejected.len(),
            rep.lines
        );
        added.insert(rel, rep.added + rep.updated + rep.unchanged);
    }
    assert!(added["intel/tw165_scam_sites.adblock.txt"] > 30_000);
    assert!(added["intel/tw165_bank_accounts.csv"] > 2_000);
    assert!(added["intel/tw165_phones.txt"] > 300);

    // Re-importing the adblock list changes nothing.
    let mut r = req("tw165_scam_sites.adblock.txt", ImportFormat::Adblock);
    r.source = Some("tw165_sites".into());
    let again = app
        .import_intel(
            &a,
            &read_shared("intel/tw165_scam_sites.adblock.txt"),
            &r,
            &no_progress,
        )
        .await
        .unwrap();
    assert_eq!(
        (again.added, again.updated),
        (0, 0),
        "{}",
        summary("again", &again)
    );

    let info = app.rebuild_index().await.unwrap();
    eprintln!(
        "index: {} indicators, {} left out by the allowlist",
        info.indicators, info.allowlisted
    );

    // The benign lists: which popular domains does the 165 list flag?
    let listed = listed_domains();
    for (rel, limit) in [
        ("benign/top-10000-domains.txt", 10_000usize),
        ("benign/top-100000-domains.txt", 100_000),
    ] {
        let text = String::from_utf8_lossy(&read_shared(rel)).into_owned();
        let domains: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .take(limit)
            .map(str::to_string)
            .collect();
        let mut flagged = Vec::new();
        let (mut allowlisted, mut invalid) = (0, 0);
        for chunk in domains.chunks(10_000) {
            for r in app
                .lookup_batch(&a, chunk, Some(IndicatorKind::Domain))
                .await
                .unwrap()
            {
                match r.verdict {
                    Verdict::Flagged => flagged.push(r),
                    Verdict::Allowlisted => allowlisted += 1,
                    Verdict::Invalid => invalid += 1,
                    Verdict::Clean => {}
                }
            }
        }
        eprintln!(
            "{rel}: {} domains, {} flagged, {allowlisted} allowlisted, {invalid} not valid domains",
            domains.len(),
            flagged.len()
        );
        for r in &flagged {
            let canonical = r.canonical.clone().unwrap();
            let by: Vec<String> = r
                .matches
                .iter()
                .map(|m| format!("{} [{}]", m.value, m.source.clone().unwrap_or_default()))
                .collect();
            let listed_as = listed_or_parent(&canonical, &listed);
            eprintln!(
                "  flagged {canonical}: by {} (165 list names {listed_as:?})",
                by.join(", ")
            );
            assert!(
                listed_as.is_some(),
                "{canonical} is flagged but the 165 lists name neither it nor a parent"
            );
            for m in &r.matches {
                assert_eq!(m.kind, IndicatorKind::Domain);
                assert!(
                    canonical == m.value || canonical.ends_with(&format!(".{}", m.value)),
                    "{canonical} matched by {}",
                    m.value
                );
            }
        }
        if rel.contains("10000-") {
            assert!(
                flagged.len() <= 10,
                "{} of the top 10,000 flagged: the importer or the index is too eager",
                flagged.len()
            );
        }
    }
}
