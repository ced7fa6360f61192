//! Data-driven tests of the intel index: testdata/index/*.tsv.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use fanzha_core::{FraudType, IndicatorKind};
use fanzha_engine::index::bench::{Generator, build_mixed};
use fanzha_engine::index::{
    BuildError, FORMAT_VERSION, Hit, IndexBuilder, IndexSnapshot, LiveIndex, LoadError, MAGIC, MatchVia,
};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/index")
}

/// Rows of a TSV file, without comments; empty trailing fields are kept.
fn rows(name: &str) -> Vec<Vec<String>> {
    let path = data_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn expand(value: &str) -> String {
    match value.strip_prefix("REPEAT:").and_then(|r| r.split_once(':')) {
        Some((n, text)) => text.repeat(n.parse().unwrap()),
        None => value.to_string(),
    }
}

fn fixture() -> IndexSnapshot {
    let mut b = IndexBuilder::new();
    for r in rows("indicators.tsv") {
        assert_eq!(r.len(), 5, "{r:?}");
        let kind = IndicatorKind::parse(&r[1]).unwrap();
        let fraud = FraudType::parse(&r[3]).unwrap();
        b.push(r[0].parse().unwrap(), kind, &r[2], fraud, r[4].parse().unwrap())
            .unwrap_or_else(|e| panic!("{r:?}: {e}"));
    }
    b.finish()
}

fn render(query: &str, hits: &[Hit]) -> String {
    if hits.is_empty() {
        return "-".into();
    }
    hits.iter()
        .map(|h| {
            let via = match h.via {
                MatchVia::Exact => "exact".to_string(),
                MatchVia::Domain { start, end } => format!("domain={}", &query[start as usize..end as usize]),
                MatchVia::Cidr { prefix_len } => format!("cidr/{prefix_len}"),
            };
            format!("{}:{via}", h.id)
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs every query of queries.tsv; returns the failures.
fn check_queries(snap: &IndexSnapshot) -> Vec<String> {
    let fixture_kinds = fixture_meta();
    let mut failures = Vec::new();
    for r in rows("queries.tsv") {
        assert_eq!(r.len(), 3, "{r:?}");
        let kind = IndicatorKind::parse(&r[0]).unwrap();
        let hits = snap.lookup(kind, &r[1]);
        let got = render(&r[1], &hits);
        if got != r[2] {
            failures.push(format!("{} {:?}: expected {}, got {got}", r[0], r[1], r[2]));
        }
        // Each hit carries its indicator's own kind, fraud type and confidence.
        for h in &hits {
            let (k, f, c) = fixture_kinds
                .iter()
                .find(|m| m.0 == h.id)
                .map(|m| (m.1, m.2, m.3))
                .unwrap();
            assert_eq!((h.kind, h.fraud_type, h.confidence), (k, f, c), "hit {h:?}");
        }
        let mut n = 0;
        assert_eq!(snap.for_each_hit(kind, &r[1], |_| n += 1), hits.len());
        assert_eq!(n, hits.len());
        assert_eq!(snap.contains(kind, &r[1]), !hits.is_empty());
    }
    failures
}

fn fixture_meta() -> Vec<(i64, IndicatorKind, FraudType, u8)> {
    rows("indicators.tsv")
        .iter()
        .map(|r| {
            (
                r[0].parse().unwrap(),
                IndicatorKind::parse(&r[1]).unwrap(),
                FraudType::parse(&r[3]).unwrap(),
                r[4].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn queries_match_expected_hits() {
    let snap = fixture();
    let failures = check_queries(&snap);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn counts_and_stats() {
    let snap = fixture();
    let meta = fixture_meta();
    assert_eq!(snap.len(), meta.len() as u64);
    for k in IndicatorKind::ALL {
        assert_eq!(
            snap.count(*k),
            meta.iter().filter(|m| m.1 == *k).count() as u64,
            "{k}"
        );
    }
    let s = snap.stats();
    // Shared values: the mobile, evil.com, 10.1.2.0/24 and the card number.
    assert_eq!(s.shared_values, 4);
    // Packed: two phones and the card number.
    assert_eq!(s.packed_keys, 3);
    // 10.1.2.0/24 is shared and ::ffff:5.6.7.8 is an IPv4 host.
    assert_eq!(s.ipv4_prefixes, 6);
    assert_eq!(s.ipv6_prefixes, 2);
    assert!(s.heap_bytes >= s.arena_bytes + s.table_bytes);
}

#[test]
fn ip_covers() {
    let snap = fixture();
    let mut failures = Vec::new();
    for r in rows("covers.tsv") {
        let mut hits = Vec::new();
        let n = snap.for_each_ip_cover(&r[0], |h| hits.push(h));
        assert_eq!(n, hits.len());
        let got = render(&r[0], &hits);
        if got != r[1] {
            failures.push(format!("{:?}: expected {}, got {got}", r[0], r[1]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rejects_what_cannot_be_indexed() {
    for r in rows("rejects.tsv") {
        let mut b = IndexBuilder::new();
        let id: i64 = r[0].parse().unwrap();
        let kind = IndicatorKind::parse(&r[1]).unwrap();
        let err = b
            .push(id, kind, &expand(&r[2]), FraudType::Other, r[3].parse().unwrap())
            .unwrap_err();
        let name = match err {
            BuildError::EmptyValue { .. } => "empty_value",
            BuildError::InvalidIp { .. } => "invalid_ip",
            BuildError::Confidence { .. } => "confidence",
            BuildError::ValueTooLong { .. } => "too_long",
            BuildError::TooLarge => "too_large",
        };
        assert_eq!(name, r[4], "{r:?}");
        assert!(
            err.to_string().contains(&r[0]),
            "the error names the indicator: {err}"
        );
        assert!(b.is_empty());
    }
}

#[test]
fn build_from_iterator_stops_at_the_first_bad_item() {
    let ok = IndexSnapshot::build(vec![
        (1, IndicatorKind::Phone, "+8613800000000", FraudType::Other, 10),
        (2, IndicatorKind::Domain, "evil.com", FraudType::FakeLoan, 20),
    ])
    .unwrap();
    assert_eq!(ok.len(), 2);
    assert_eq!(ok.lookup(IndicatorKind::Domain, "x.evil.com").len(), 1);
    let err = IndexSnapshot::build(vec![
        (
            1,
            IndicatorKind::Phone,
            "+8613800000000".to_string(),
            FraudType::Other,
            10,
        ),
        (2, IndicatorKind::Ip, "nope".to_string(), FraudType::Other, 10),
    ])
    .unwrap_err();
    assert_eq!(err, BuildError::InvalidIp { id: 2 });
}

fn save(snap: &IndexSnapshot) -> Vec<u8> {
    let mut out = Vec::new();
    let n = snap.save(&mut out).unwrap();
    assert_eq!(n, out.len() as u64);
    out
}

#[test]
fn save_load_round_trip() {
    let snap = fixture();
    let bytes = save(&snap);
    assert_eq!(&bytes[..8], &MAGIC);
    let loaded = IndexSnapshot::load(&bytes[..]).unwrap();
    let failures = check_queries(&loaded);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(loaded.stats(), snap.stats());
    // Deterministic: saving the loaded snapshot gives the same bytes.
    assert_eq!(save(&loaded), bytes);
    // Reads exactly one index: trailing bytes stay in the reader.
    let mut two = bytes.clone();
    two.extend_from_slice(b"next");
    let mut r = &two[..];
    IndexSnapshot::load(&mut r).unwrap();
    assert_eq!(r, b"next");
}

#[test]
fn empty_index_round_trips() {
    let empty = IndexSnapshot::empty();
    let loaded = IndexSnapshot::load(&save(&empty)[..]).unwrap();
    assert!(loaded.is_empty());
    assert!(loaded.lookup(IndicatorKind::Domain, "evil.com").is_empty());
    assert!(loaded.lookup(IndicatorKind::Ip, "1.2.3.4").is_empty());
}

#[test]
fn every_truncation_is_reported() {
    let bytes = save(&fixture());
    for len in 0..bytes.len() {
        match IndexSnapshot::load(&bytes[..len]) {
            Err(LoadError::Truncated) => {}
            other => panic!("truncated to {len} of {}: {other:?}", bytes.len()),
        }
    }
}

#[test]
fn every_flipped_byte_is_reported() {
    let bytes = save(&fixture());
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = bytes.clone();
            bad[i] ^= mask;
            let err = IndexSnapshot::load(&bad[..]).err();
            let expected = match i {
                0..8 => matches!(err, Some(LoadError::BadMagic)),
                8..12 => matches!(err, Some(LoadError::UnsupportedVersion { .. })),
                // A longer payload than there is, or a shorter one that fails the checksum.
                16..24 => matches!(
                    err,
                    Some(LoadError::Truncated | LoadError::ChecksumMismatch | LoadError::TooLarge(_))
                ),
                _ => matches!(err, Some(LoadError::ChecksumMismatch)),
            };
            assert!(expected, "byte {i} ^ {mask:#x}: {err:?}");
        }
    }
}

#[test]
fn wrong_version_and_magic_are_named() {
    let mut bytes = save(&fixture());
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let err = IndexSnapshot::load(&bytes[..]).unwrap_err();
    assert!(
        matches!(err, LoadError::UnsupportedVersion { found, supported } if found == FORMAT_VERSION + 1 && supported == FORMAT_VERSION)
    );
    assert!(err.to_string().contains("version"));
    let err = IndexSnapshot::load(&b"PK\x03\x04 this is a zip file, not an index"[..]).unwrap_err();
    assert!(matches!(err, LoadError::BadMagic), "{err:?}");
}

#[test]
fn generated_indicators_all_find_themselves() {
    const N: usize = 60_000;
    let snap = build_mixed(N, 11);
    assert_eq!(snap.len(), N as u64);
    let loaded = IndexSnapshot::load(&save(&snap)[..]).unwrap();
    let g = Generator::new(11);
    let mut buf = String::new();
    for i in 0..N as u64 {
        let (kind, fraud, conf) = g.indicator(i, &mut buf);
        let id = i as i64 + 1;
        for s in [&snap, &loaded] {
            let hits = s.lookup(kind, &buf);
            assert!(
                hits.iter()
                    .any(|h| h.id == id && h.fraud_type == fraud && h.confidence == conf && h.kind == kind),
                "indicator {id} {kind} {buf}: {hits:?}"
            );
        }
    }
}

#[test]
fn live_index_swaps_while_readers_read() {
    let old = IndexSnapshot::build([(1, IndicatorKind::Domain, "evil.com", FraudType::Other, 50)]).unwrap();
    let live = Arc::new(LiveIndex::new(old));
    let held = live.snapshot();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let live = Arc::clone(&live);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut seen = [false; 3];
                while !stop.load(Ordering::Relaxed) {
                    let hits = live.lookup(IndicatorKind::Domain, "a.evil.com");
                    // Each lookup sees one whole snapshot: id 1 alone or id 2 alone.
                    assert_eq!(hits.len(), 1, "{hits:?}");
                    seen[hits[0].id as usize] = true;
                }
                seen
            })
        })
        .collect();
    for round in 0..200 {
        let id = if round % 2 == 0 { 2 } else { 1 };
        let next =
            IndexSnapshot::build([(id, IndicatorKind::Domain, "evil.com", FraudType::Other, 50)]).unwrap();
        live.replace(next);
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    // A snapshot taken before the swaps still answers as it did.
    assert_eq!(held.lookup(IndicatorKind::Domain, "evil.com")[0].id, 1);
    assert_eq!(live.with_snapshot(|s| s.len()), 1);
    assert_eq!(
        LiveIndex::default().lookup(IndicatorKind::Domain, "evil.com"),
        vec![]
    );
}

#[test]
fn hits_serialise_with_codes() {
    let snap = fixture();
    let hits = snap.lookup(IndicatorKind::Domain, "a.b.evil.com");
    let json = serde_json::to_string(&hits[0]).unwrap();
    assert_eq!(
        json,
        r#"{"id":11,"kind":"domain","fraud_type":"brushing_rebate","confidence":75,"via":{"via":"domain","start":2,"end":12}}"#
    );
}
