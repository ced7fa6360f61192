//! Runs the normalisers over the real, messy public lists in the shared data
//! directory (`FANZHA_SHARED_DATA`, default `../shared/data` beside the
//! workspace): nothing panics, every accepted value is a fixed point, and the
//! share of accepted values stays above a floor measured on these lists.
//! The lines that are rejected are listed on failure.

use fanzha_core::IndicatorKind;
use fanzha_core::{account, domain, indicator, ip, phone, url};
use std::path::PathBuf;

fn shared_data() -> PathBuf {
    let dir = match std::env::var_os("FANZHA_SHARED_DATA") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    assert!(
        dir.join("intel").is_dir(),
        "shared data not found at {} (set FANZHA_SHARED_DATA to the shared/data directory)",
        dir.display()
    );
    dir
}

fn read(rel: &str) -> String {
    let path = shared_data().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

struct Tally {
    name: &'static str,
    ok: usize,
    rejected: Vec<String>,
}

impl Tally {
    fn new(name: &'static str) -> Self {
        Tally {
            name,
            ok: 0,
            rejected: Vec::new(),
        }
    }
    fn add<E: std::fmt::Debug>(
        &mut self,
        input: &str,
        got: Result<String, E>,
        again: impl Fn(&str) -> Result<String, E>,
    ) {
        match got {
            Ok(v) => {
                let v2 = again(&v);
                assert!(
                    matches!(&v2, Ok(x) if *x == v),
                    "{}: {input:?} -> {v:?} -> {v2:?} is not idempotent",
                    self.name
                );
                self.ok += 1;
            }
            Err(e) => self.rejected.push(format!("{input:?}: {e:?}")),
        }
    }
    fn assert_rate(&self, min_ok: f64) {
        let total = self.ok + self.rejected.len();
        assert!(total > 0, "{}: no lines read", self.name);
        let rate = self.ok as f64 / total as f64;
        eprintln!(
            "{}: {} of {total} accepted ({:.2}%)",
            self.name,
            self.ok,
            rate * 100.0
        );
        assert!(
            rate >= min_ok,
            "{}: only {:.2}% accepted (floor {:.2}%); rejected:\n{}",
            self.name,
            rate * 100.0,
            min_ok * 100.0,
            self.rejected.join("\n")
        );
    }
}

#[test]
fn tw165_phones() {
    let text = read("intel/tw165_phones.txt");
    let mut t = Tally::new("tw165_phones");
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('!'))
    {
        t.add(line, phone::normalize(line), phone::normalize);
        // detect never panics and agrees with the phone rules when it says phone.
        if let Some((IndicatorKind::Phone, v)) = indicator::detect(line) {
            assert_eq!(Ok(v), phone::normalize(line));
        }
    }
    // The list mixes Taiwan numbers with garbled ones such as `+1022…`
    // (a Taipei number behind a stray `+1`), which must be rejected.
    t.assert_rate(0.75);
    assert!(
        t.rejected.iter().any(|r| r.starts_with("\"+1022")),
        "garbled +1022… numbers must be rejected"
    );
}

#[test]
fn tw165_scam_domains() {
    let text = read("intel/tw165_scam_sites.adblock.txt");
    let mut d = Tally::new("tw165_adblock_domains");
    let mut i = Tally::new("tw165_adblock_ips");
    for line in text.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("||") else {
            continue;
        };
        let host = rest.trim_end_matches('^');
        if host.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
            i.add(host, ip::normalize(host), ip::normalize);
        } else {
            d.add(host, domain::normalize(host), domain::normalize);
        }
    }
    d.assert_rate(0.995);
    if i.ok + i.rejected.len() > 0 {
        i.assert_rate(0.95);
    }
}

#[test]
fn tw165_scam_urls() {
    let text = read("intel/tw165_scam_sites_raw.tsv");
    let mut t = Tally::new("tw165_urls");
    let canon = |s: &str| url::canonicalize(s).map(url::CanonUrl::into_string);
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(u) = line.split('\t').nth(1) else {
            continue;
        };
        if u.is_empty() || u == "WEBURL" || u == "網址" {
            continue;
        }
        t.add(u, canon(u), canon);
    }
    t.assert_rate(0.99);
}

#[test]
fn tw165_bank_accounts() {
    let text = read("intel/tw165_bank_accounts.csv");
    let mut strict = Tally::new("tw165_bank_strict");
    let mut lenient = Tally::new("tw165_bank_lenient");
    for line in text.lines().skip(1) {
        let acct = line.split(',').next().unwrap_or("");
        if acct.is_empty() {
            continue;
        }
        strict.add(
            acct,
            account::normalize_bank_account(acct),
            account::normalize_bank_account,
        );
        lenient.add(
            acct,
            account::normalize_bank_account_lenient(acct),
            account::normalize_bank_account_lenient,
        );
    }
    strict.assert_rate(0.97);
    lenient.assert_rate(0.98);
    // The Luhn check is the only difference between the two.
    let luhn = strict
        .rejected
        .iter()
        .filter(|r| r.ends_with("BadCheckDigit"))
        .count();
    assert_eq!(strict.rejected.len() - luhn, lenient.rejected.len());
    eprintln!("tw165_bank_strict: {luhn} rejected by the Luhn check");
}

#[test]
fn benign_top_domains() {
    let text = read("benign/top-10000-domains.txt");
    let mut t = Tally::new("top10k_domains");
    let mut detected = 0usize;
    let mut total = 0usize;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        total += 1;
        t.add(line, domain::normalize(line), domain::normalize);
        if matches!(indicator::detect(line), Some((IndicatorKind::Domain, _))) {
            detected += 1;
        }
    }
    t.assert_rate(0.995);
    let rate = detected as f64 / total as f64;
    eprintln!("top10k_domains: detect says domain for {:.2}%", rate * 100.0);
    assert!(
        rate >= 0.999,
        "detect recognised only {:.2}% of popular domains",
        rate * 100.0
    );
}
