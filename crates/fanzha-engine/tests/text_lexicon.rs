//! Data-driven lexicon cases: testdata/text/lexicon_cases.tsv.

use fanzha_core::FraudType;
use fanzha_engine::text::Lexicon;

#[test]
fn lexicon_cases() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/text/lexicon_cases.tsv"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let lx = Lexicon::builtin().unwrap();
    let mut n = 0;
    let mut failures = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .skip_while(|(_, l)| l.starts_with('#'))
        .skip(1)
    {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols.len() == 3, "line {}: want 3 tab-separated columns", i + 1);
        let (input, want_type, want_phrases) = (cols[0], cols[1], cols[2]);
        let scan = lx.scan(input);
        let got_type = scan.top().map(|(t, _)| t);
        let want = if want_type == "none" {
            None
        } else {
            Some(FraudType::parse(want_type).unwrap())
        };
        if got_type != want {
            failures.push(format!(
                "line {}: top type {got_type:?}, want {want:?} ({:?})",
                i + 1,
                scan.ranked()
            ));
        }
        if want.is_none() && !scan.hits.is_empty() {
            failures.push(format!("line {}: want no phrase, found {:?}", i + 1, scan.hits));
        }
        for p in want_phrases.split('|').filter(|p| !p.is_empty()) {
            if !scan.hits.iter().any(|h| h.phrase == p) {
                let found: Vec<&str> = scan.hits.iter().map(|h| h.phrase.as_str()).collect();
                failures.push(format!("line {}: phrase {p:?} not found in {found:?}", i + 1));
            }
        }
        if let Some((_, s)) = scan.top() {
            assert!(s > 0.0 && s <= 1.0);
        }
        n += 1;
    }
    assert!(n >= 30, "only {n} cases");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
