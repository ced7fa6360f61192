//! Short keys again, beside their hash table: slot `i` of a side table
//! holds the key and first entry of slot `i` of the domain (or URL) table
//! when the key is short enough. A lookup loads both slots at once (their
//! positions follow from the hash alone), so a hit costs one round trip to
//! memory instead of two (slot, then arena record). Derived from the table
//! and the arena whenever a snapshot is built or loaded; never stored.
//!
//! A side slot is `[len | extras bit][key][id i64 LE][fraud][confidence]`,
//! 32 bytes for domains (keys up to 21 bytes) and 64 for URLs (up to 53);
//! `len` 0 means the slot's key is not inline (empty slot or a longer key).

use super::codec::{FLAG_EXTRAS, RawEntry, read_record, record_key};
use super::table::{home, tag_of};

const EXTRAS_BIT: u8 = 0x80;

/// The byte layout shared by both widths.
pub(crate) trait SideSlot: Copy {
    const WIDTH: usize;
    const EMPTY: Self;
    fn bytes(&self) -> &[u8];
    fn from_bytes(b: &[u8]) -> Self;

    /// Longest key kept inline.
    const KEY: usize = Self::WIDTH - 11;

    /// The key's length, 0 when not inline.
    #[inline]
    fn len(&self) -> usize {
        usize::from(self.bytes()[0] & !EXTRAS_BIT)
    }
    #[inline]
    fn key(&self) -> &[u8] {
        self.bytes().get(1..1 + self.len()).unwrap_or_default()
    }
    #[inline]
    fn extras(&self) -> bool {
        self.bytes()[0] & EXTRAS_BIT != 0
    }
    #[inline]
    fn entry(&self) -> RawEntry {
        let b = self.bytes();
        let w = Self::WIDTH;
        let mut id = [0u8; 8];
        id.copy_from_slice(&b[w - 10..w - 2]);
        RawEntry {
            id: i64::from_le_bytes(id),
            fraud: b[w - 2],
            confidence: b[w - 1],
        }
    }
}

/// A domain's side slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(32))]
pub(crate) struct Side32([u8; 32]);

/// A URL's side slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
pub(crate) struct Side64([u8; 64]);

impl SideSlot for Side32 {
    const WIDTH: usize = 32;
    const EMPTY: Self = Side32([0; 32]);
    fn bytes(&self) -> &[u8] {
        &self.0
    }
    fn from_bytes(b: &[u8]) -> Self {
        let mut a = [0u8; 32];
        a.copy_from_slice(b);
        Side32(a)
    }
}

impl SideSlot for Side64 {
    const WIDTH: usize = 64;
    const EMPTY: Self = Side64([0; 64]);
    fn bytes(&self) -> &[u8] {
        &self.0
    }
    fn from_bytes(b: &[u8]) -> Self {
        let mut a = [0u8; 64];
        a.copy_from_slice(b);
        Side64(a)
    }
}

/// The side table of a string table (`slots`, as laid out by `str_layout`).
pub(crate) fn build<S: SideSlot>(slots: &[u64], arena: &[u8]) -> Vec<S> {
    let w = S::WIDTH;
    slots
        .iter()
        .map(|&s| {
            if s == 0 {
                return S::EMPTY;
            }
            let off = s as u32 as usize;
            let (Some((head, key, _)), Some(rec)) = (record_key(arena, off), read_record(arena, off)) else {
                return S::EMPTY;
            };
            if key.is_empty() || key.len() > S::KEY {
                return S::EMPTY;
            }
            let mut b = [0u8; 64];
            b[0] = key.len() as u8 | if head & FLAG_EXTRAS != 0 { EXTRAS_BIT } else { 0 };
            b[1..1 + key.len()].copy_from_slice(key);
            b[w - 10..w - 2].copy_from_slice(&rec.entry.id.to_le_bytes());
            b[w - 2] = rec.entry.fraud;
            b[w - 1] = rec.entry.confidence;
            S::from_bytes(&b[..w])
        })
        .collect()
}

/// Touches the side slot of home slot `i` and the start of the next cache
/// line (a key sits on average about one slot past its home), so that these
/// loads are in flight together with the table's own slot load.
#[inline]
pub(crate) fn touch<S: SideSlot>(side: &[S], i: usize) -> u8 {
    let per_line = (64 / S::WIDTH).max(1);
    let next = (i / per_line + 1) * per_line;
    side.get(i).map_or(0, |s| s.bytes()[0]) ^ side.get(next).map_or(0, |s| s.bytes()[0])
}

/// Finds `key` in a string table from its home slot's content `first`:
/// the record's arena offset, and its entry when the key was found inline
/// and has no further entries. Keys not inline are compared in the arena.
#[inline]
pub(crate) fn find<S: SideSlot>(
    slots: &[u64],
    side: &[S],
    arena: &[u8],
    key: &[u8],
    hash: u64,
    mut first: u64,
) -> Option<(usize, Option<RawEntry>)> {
    let len = slots.len();
    let tag = tag_of(hash);
    let mut i = home(hash, len);
    for _ in 0..len {
        if first == 0 {
            return None;
        }
        if (first >> 32) as u32 == tag {
            let off = first as u32 as usize;
            match side.get(i) {
                Some(s) if s.len() > 0 => {
                    if s.key() == key {
                        return Some((off, (!s.extras()).then(|| s.entry())));
                    }
                }
                _ => {
                    if record_key(arena, off).map(|r| r.1) == Some(key) {
                        return Some((off, None));
                    }
                }
            }
        }
        i += 1;
        if i == len {
            i = 0;
        }
        first = *slots.get(i)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use fanzha_core::{FraudType, IndicatorKind};

    use super::super::bench::Generator;
    use super::super::{IndexBuilder, IndexSnapshot};
    use super::{Side32, Side64, SideSlot};

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
        let mut urls = Vec::new();
        for i in 0..30_000u64 {
            let (kind, fraud, conf) = g.indicator(i, &mut buf);
            if kind == IndicatorKind::Domain {
                domains.push(buf.clone());
            }
            if kind == IndicatorKind::Url {
                urls.push(buf.clone());
            }
            let _ = b.push(i as i64 + 1, kind, &buf, fraud, conf);
        }
        // Long keys (not inline), and a short one shared three times.
        let long = "a-rather-long-label-for-a-domain.example.com";
        assert!(long.len() > Side32::KEY);
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
        let long_url = format!("https://{long}/a/very/long/path/that/goes/on/and/on?x=1");
        assert!(long_url.len() > Side64::KEY);
        let _ = b.push(900_002, IndicatorKind::Url, &long_url, FraudType::FakeLoan, 80);
        for k in 0..2 {
            let _ = b.push(
                900_020 + k,
                IndicatorKind::Url,
                "http://s.cc/x",
                FraudType::Other,
                50,
            );
        }
        urls.extend([long_url.clone(), "http://s.cc/x".to_string()]);
        let snap = b.finish();
        assert!(snap.domain_inline.iter().filter(|s| s.len() > 0).count() > 1_000);
        assert!(snap.url_inline.iter().filter(|s| s.len() > 0).count() > 1_000);
        let mut file = Vec::new();
        assert!(snap.save(&mut file).is_ok());
        let Ok(loaded) = IndexSnapshot::load(&file[..]) else {
            panic!("the saved snapshot did not load");
        };
        let mut plain = IndexSnapshot::load(&file[..]).unwrap_or_default();
        plain.domain_inline.clear();
        plain.url_inline.clear();
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
        for u in &urls {
            for q in [u.clone(), format!("{u}x"), u.replacen("://", "://w.", 1)] {
                let want = plain.lookup(IndicatorKind::Url, &q);
                assert_eq!(snap.lookup(IndicatorKind::Url, &q), want, "{q}");
                assert_eq!(loaded.lookup(IndicatorKind::Url, &q), want, "{q} after load");
                hits += want.len();
            }
        }
        // The shared URL's two entries, and the host's three.
        assert_eq!(snap.lookup(IndicatorKind::Url, "http://s.cc/x").len(), 5);
        assert_eq!(snap.lookup(IndicatorKind::Url, &long_url).len(), 2);
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
