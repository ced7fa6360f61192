//! Short domains again, beside their hash table: slot `i` of the side table
//! holds the key and first entry of slot `i` of the domain table when the
//! key is short enough. A lookup loads both slots at once (their positions
//! follow from the hash alone), so a hit on a short domain costs one round
//! trip to memory instead of two (slot, then arena record). Derived from the
//! table and the arena whenever a snapshot is built or loaded; never stored.

use super::codec::{FLAG_EXTRAS, RawEntry, read_record, record_key};

/// Longest key kept inline.
pub(crate) const INLINE_KEY: usize = 21;

/// `[len | extras bit][key; 21][id i64 LE][fraud][confidence]`; `len` 0
/// means the slot's key is not inline (empty slot or a longer key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(32))]
pub(crate) struct InlineSlot([u8; 32]);

const EMPTY: InlineSlot = InlineSlot([0; 32]);
const EXTRAS_BIT: u8 = 0x80;

impl InlineSlot {
    /// The key's length, 0 when not inline.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        usize::from(self.0[0] & !EXTRAS_BIT)
    }

    #[inline]
    pub(crate) fn key(&self) -> &[u8] {
        self.0.get(1..1 + self.len()).unwrap_or_default()
    }

    #[inline]
    pub(crate) fn extras(&self) -> bool {
        self.0[0] & EXTRAS_BIT != 0
    }

    #[inline]
    pub(crate) fn entry(&self) -> RawEntry {
        let mut id = [0u8; 8];
        id.copy_from_slice(&self.0[22..30]);
        RawEntry {
            id: i64::from_le_bytes(id),
            fraud: self.0[30],
            confidence: self.0[31],
        }
    }
}

/// The side table of a string table (`slots`, as laid out by `str_layout`).
pub(crate) fn build(slots: &[u64], arena: &[u8]) -> Vec<InlineSlot> {
    slots
        .iter()
        .map(|&s| {
            if s == 0 {
                return EMPTY;
            }
            let off = s as u32 as usize;
            let (Some((head, key, _)), Some(rec)) = (record_key(arena, off), read_record(arena, off)) else {
                return EMPTY;
            };
            if key.is_empty() || key.len() > INLINE_KEY {
                return EMPTY;
            }
            let mut b = [0u8; 32];
            b[0] = key.len() as u8 | if head & FLAG_EXTRAS != 0 { EXTRAS_BIT } else { 0 };
            b[1..1 + key.len()].copy_from_slice(key);
            b[22..30].copy_from_slice(&rec.entry.id.to_le_bytes());
            b[30] = rec.entry.fraud;
            b[31] = rec.entry.confidence;
            InlineSlot(b)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use fanzha_core::{FraudType, IndicatorKind};

    use super::super::bench::Generator;
    use super::super::{IndexBuilder, IndexSnapshot};
    use super::INLINE_KEY;

    /// Domains short and long, some shared by several indicators; every
    /// lookup (domains and URLs, which go through the host's domains) gives
    /// the same hits with the side table as through the arena alone, and
    /// after save and load.
    #[test]
    fn inline_hits_equal_arena_hits() {
        let g = Generator::new(5);
        let mut b = IndexBuilder::new();
        let mut buf = String::new();
        let mut domains = Vec::new();
        for i in 0..30_000u64 {
            let (kind, fraud, conf) = g.indicator(i, &mut buf);
            if kind == IndicatorKind::Domain {
                domains.push(buf.clone());
            }
            let _ = b.push(i as i64 + 1, kind, &buf, fraud, conf);
        }
        // Long keys (not inline), and a short one shared three times.
        let long = "a-rather-long-label-for-a-domain.example.com";
        assert!(long.len() > INLINE_KEY);
        let _ = b.push(900_001, IndicatorKind::Domain, long, FraudType::FakeLoan, 80);
        for k in 0..3 {
            let _ = b.push(
                900_010 + k,
                IndicatorKind::Domain,
                "s.cc",
                FraudType::Other,
                40 + k as u8,
            );
        }
        domains.extend([long.to_string(), "s.cc".to_string()]);
        let snap = b.finish();
        assert!(snap.domain_inline.iter().filter(|s| s.len() > 0).count() > 1_000);
        let mut file = Vec::new();
        assert!(snap.save(&mut file).is_ok());
        let Ok(loaded) = IndexSnapshot::load(&file[..]) else {
            panic!("the saved snapshot did not load");
        };
        let mut plain = IndexSnapshot::load(&file[..]).unwrap_or_default();
        plain.domain_inline.clear();
        let mut hits = 0;
        for d in &domains {
            for q in [
                d.clone(),
                format!("x.{d}"),
                format!("https://m.{d}/p?q=1"),
                format!("{d}.zz"),
            ] {
                let kind = if q.starts_with("https") {
                    IndicatorKind::Url
                } else {
                    IndicatorKind::Domain
                };
                let want = plain.lookup(kind, &q);
                assert_eq!(snap.lookup(kind, &q), want, "{q}");
                assert_eq!(loaded.lookup(kind, &q), want, "{q} after load");
                hits += want.len();
            }
        }
        assert_eq!(snap.lookup(IndicatorKind::Domain, "s.cc").len(), 3);
        assert_eq!(
            snap.lookup(
                IndicatorKind::Domain,
                "www.a-rather-long-label-for-a-domain.example.com"
            )
            .len(),
            1
        );
        assert!(hits > domains.len() * 2, "{hits}");
    }
}
