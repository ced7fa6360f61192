//! The parsers over the real public lists in the shared data directory
//! (`FANZHA_SHARED_DATA`, default `../shared/data` beside the workspace):
//! every line is accounted for, and the shares of accepted, rejected and
//! unsupported lines stay within bounds measured on these files. Each test
//! prints what was skipped and why.

mod intel_support;

use fanzha_app::intel::formats::{ImportFormat, ParseReport};
use fanzha_core::{FraudType, IndicatorKind};
use intel_support::{assert_accounted, parse_shared, summary};

fn share(n: usize, of: usize) -> f64 {
    n as f64 / of.max(1) as f64
}

fn check(name: &str, r: &ParseReport, min_drafts: usize, max_rejected_share: f64) {
    eprintln!("{}", summary(name, r));
    assert!(r.error.is_none(), "{name}: {:?}", r.error);
    assert_accounted(r, name);
    assert!(
        r.drafts.len() >= min_drafts,
        "{name}: only {} drafts (floor {min_drafts})",
        r.drafts.len()
    );
    let rej = share(r.rejected.len(), r.lines);
    assert!(
        rej <= max_rejected_share,
        "{name}: {:.2}% rejected (ceiling {:.2}%)",
        rej * 100.0,
        max_rejected_share * 100.0
    );
}

#[test]
fn tw165_adblock_list() {
    let r = parse_shared("intel/tw165_scam_sites.adblock.txt", ImportFormat::Adblock, None);
    check("tw165_scam_sites.adblock.txt", &r, 32_000, 0.002);
    assert!(r.drafts.iter().all(|d| matches!(
        d.draft.kind,
        IndicatorKind::Domain | IndicatorKind::Ip | IndicatorKind::Url
    )));
    assert!(
        r.drafts.iter().any(|d| d.draft.kind == IndicatorKind::Ip),
        "the list has bare IPs"
    );
    assert!(r.skipped_comments() >= 3);
}

#[test]
fn tw165_site_table() {
    let r = parse_shared("intel/tw165_scam_sites_raw.tsv", ImportFormat::Tw165Tsv, None);
    check("tw165_scam_sites_raw.tsv", &r, 30_000, 0.01);
    // Report counts of repeated sites add up into one tag.
    let counted: u64 = r
        .drafts
        .iter()
        .flat_map(|d| d.draft.tags.iter())
        .filter_map(|t| t.strip_prefix("reports:")?.parse::<u64>().ok())
        .sum();
    assert!(
        counted as usize >= r.lines - 5 - r.rejected.len(),
        "report counts lost: {counted}"
    );
}

#[test]
fn tw165_bank_accounts() {
    let r = parse_shared("intel/tw165_bank_accounts.csv", ImportFormat::Tw165BankCsv, None);
    check("tw165_bank_accounts.csv", &r, 2_000, 0.02);
    let mut by_type = std::collections::BTreeMap::new();
    for d in &r.drafts {
        *by_type
            .entry(d.draft.fraud_type.map_or("none", FraudType::code))
            .or_insert(0usize) += 1;
    }
    eprintln!("by fraud type: {by_type:?}");
    assert!(
        r.drafts
            .iter()
            .all(|d| d.draft.fraud_type.is_some() && d.draft.valid_from.is_some())
    );
    assert!(
        by_type.get("romance_scam").copied().unwrap_or(0) > 1000,
        "{by_type:?}"
    );
    assert!(
        by_type.get("fake_investment").copied().unwrap_or(0) > 300,
        "{by_type:?}"
    );
}

#[test]
fn tw165_phones() {
    let r = parse_shared(
        "intel/tw165_phones.txt",
        ImportFormat::List,
        Some(IndicatorKind::Phone),
    );
    check("tw165_phones.txt", &r, 300, 0.25);
}

#[test]
fn benign_top_domains() {
    for (file, floor) in [
        ("benign/top-10000-domains.txt", 9_900),
        ("benign/top-100000-domains.txt", 99_000),
    ] {
        let r = parse_shared(file, ImportFormat::List, Some(IndicatorKind::Domain));
        check(file, &r, floor, 0.005);
        // Detected kinds agree with the forced kind for nearly all of them.
        let detected = parse_shared(file, ImportFormat::List, None);
        let domains = detected
            .drafts
            .iter()
            .filter(|d| d.draft.kind == IndicatorKind::Domain)
            .count();
        eprintln!(
            "{file}: {domains} of {} detected as domains",
            detected.drafts.len()
        );
        assert!(share(domains, r.drafts.len()) > 0.98);
    }
}
