//! Property tests of the intel index: arbitrary input never panics, and the
//! domain and IP rules agree with plain reference models.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use fanzha_core::{FraudType, IndicatorKind};
use fanzha_engine::index::bench::build_mixed;
use fanzha_engine::index::{IndexBuilder, IndexSnapshot, MatchVia};
use proptest::prelude::*;

fn populated() -> &'static IndexSnapshot {
    static SNAP: std::sync::OnceLock<IndexSnapshot> = std::sync::OnceLock::new();
    SNAP.get_or_init(|| build_mixed(20_000, 5))
}

fn saved_small() -> Vec<u8> {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES
        .get_or_init(|| {
            let mut out = Vec::new();
            build_mixed(300, 5).save(&mut out).unwrap();
            out
        })
        .clone()
}

fn any_kind() -> impl Strategy<Value = IndicatorKind> {
    prop::sample::select(IndicatorKind::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_queries_never_panic(kind in any_kind(), q in ".{0,300}") {
        let snap = populated();
        let hits = snap.lookup(kind, &q);
        for h in &hits {
            if let MatchVia::Domain { start, end } = h.via {
                prop_assert!(q.get(start as usize..end as usize).is_some());
            }
        }
        snap.for_each_ip_cover(&q, |_| {});
    }

    #[test]
    fn url_and_domain_shaped_queries_never_panic(
        q in "(https?://)?([a-z0-9.:@\\[\\]-]{0,40})(/[a-z?=&.]{0,20})?"
    ) {
        let snap = populated();
        snap.lookup(IndicatorKind::Url, &q);
        snap.lookup(IndicatorKind::Domain, &q);
        snap.lookup(IndicatorKind::Ip, &q);
    }

    #[test]
    fn arbitrary_indicators_build_or_are_refused(
        items in prop::collection::vec((any_kind(), ".{0,40}", 0u8..=120), 0..40)
    ) {
        let mut b = IndexBuilder::new();
        let mut accepted = Vec::new();
        for (i, (kind, value, conf)) in items.iter().enumerate() {
            if b.push(i as i64, *kind, value, FraudType::Other, *conf).is_ok() {
                accepted.push((i as i64, *kind, value.clone()));
            }
        }
        let snap = b.finish();
        prop_assert_eq!(snap.len(), accepted.len() as u64);
        for (id, kind, value) in accepted {
            prop_assert!(snap.lookup(kind, &value).iter().any(|h| h.id == id));
        }
    }

    /// A damaged file whose checksum was recomputed (so only the structural
    /// checks stand between it and the lookups) loads or is refused, and a
    /// loaded one answers every query without panicking.
    #[test]
    fn damaged_files_with_valid_checksums_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        queries in prop::collection::vec((any_kind(), "[a-z0-9.:/+]{0,30}"), 1..20),
    ) {
        let mut bytes = saved_small();
        let payload = bytes.len() - 40;
        for (at, x) in &flips {
            let i = 40 + at.index(payload);
            bytes[i] ^= x | 1;
        }
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(&bytes[..32]);
        h.update(&bytes[40..]);
        let sum = h.digest().to_le_bytes();
        bytes[32..40].copy_from_slice(&sum);
        if let Ok(snap) = IndexSnapshot::load(&bytes[..]) {
            let g = fanzha_engine::index::bench::Generator::new(5);
            let mut buf = String::new();
            for i in 0..300 {
                let (kind, _, _) = g.indicator(i, &mut buf);
                snap.lookup(kind, &buf);
            }
            for (kind, q) in &queries {
                snap.lookup(*kind, q);
                snap.for_each_ip_cover(q, |_| {});
            }
            let _ = snap.stats();
        }
    }

    #[test]
    fn arbitrary_files_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = IndexSnapshot::load(&bytes[..]);
    }

    /// Domain lookups agree with a model: an indicator matches when it equals
    /// the query or the query ends with "." followed by it.
    #[test]
    fn domain_matching_agrees_with_model(
        domains in prop::collection::vec("[ab]{1,2}(\\.[ab]{1,2}){0,3}", 1..30),
        queries in prop::collection::vec("[ab]{1,2}(\\.[ab]{1,2}){0,5}", 1..30),
    ) {
        let mut b = IndexBuilder::new();
        for (i, d) in domains.iter().enumerate() {
            b.push(i as i64, IndicatorKind::Domain, d, FraudType::Other, 50).unwrap();
        }
        let snap = b.finish();
        for q in &queries {
            let mut got: Vec<i64> = snap.lookup(IndicatorKind::Domain, q).iter().map(|h| h.id).collect();
            let mut want: Vec<i64> = domains
                .iter()
                .enumerate()
                .filter(|(_, d)| q == *d || q.ends_with(&format!(".{d}")))
                .map(|(i, _)| i as i64)
                .collect();
            got.sort_unstable();
            want.sort_unstable();
            prop_assert_eq!(got, want, "query {}", q);
        }
    }

    /// IPv4 lookups return exactly the indicators of the longest containing
    /// prefix, as a linear scan finds it.
    #[test]
    fn ipv4_longest_prefix_agrees_with_model(
        prefixes in prop::collection::vec((any::<u32>(), 0u8..=32), 1..40),
        probes in prop::collection::vec(any::<u32>(), 1..40),
    ) {
        let mask = |a: u32, l: u8| if l == 0 { 0 } else { a & (u32::MAX << (32 - u32::from(l))) };
        // Concentrate addresses so that prefixes nest and probes hit them.
        let prefixes: Vec<(u32, u8)> = prefixes.iter().map(|&(a, l)| (mask(a & 0x0f0f_00ff, l), l)).collect();
        let mut b = IndexBuilder::new();
        for (i, (a, l)) in prefixes.iter().enumerate() {
            b.push(i as i64, IndicatorKind::Ip, &format!("{}/{l}", Ipv4Addr::from_bits(*a)), FraudType::Other, 9)
                .unwrap();
        }
        let snap = b.finish();
        let mut by_prefix: HashMap<(u32, u8), Vec<i64>> = HashMap::new();
        for (i, p) in prefixes.iter().enumerate() {
            by_prefix.entry(*p).or_default().push(i as i64);
        }
        for &p in &probes {
            let p = p & 0x0f0f_00ff;
            let best = by_prefix.keys().filter(|(a, l)| mask(p, *l) == *a).map(|k| k.1).max();
            let want = best.map(|l| by_prefix[&(mask(p, l), l)].clone()).unwrap_or_default();
            let hits = snap.lookup(IndicatorKind::Ip, &Ipv4Addr::from_bits(p).to_string());
            let got: Vec<i64> = hits.iter().map(|h| h.id).collect();
            prop_assert_eq!(got, want);
            if let Some(l) = best {
                let via = MatchVia::Cidr { prefix_len: l };
                prop_assert!(hits.iter().all(|h| h.via == via), "{:?}", hits);
            }
        }
    }
}
