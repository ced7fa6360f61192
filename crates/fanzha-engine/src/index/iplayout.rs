//! The lookup layout of the IP prefixes, made for one memory read per lookup.
//!
//! A prefix trie walks one node per few bits: a lookup in hundreds of
//! thousands of prefixes is several dependent reads, most of them from main
//! memory (450–900 ns a lookup on this project's VM with `prefix-trie`; the
//! LC-trie of `iptrie` and the `poptrie` crate measured no better there).
//! This layout is derived from the snapshot's sorted prefix lists whenever a
//! snapshot is built or loaded; it is never stored in a file, and the tries
//! stay the reference (and answer the rare queries it does not cover).
//!
//! * **IPv4**: prefixes of length 16 or more are grouped by their first 16
//!   bits, in one array sorted by address; a table of 65,537 starts (256 KiB,
//!   which stays in cache) gives each group's range. The longest prefix
//!   shorter than 16 bits covering each /16 is resolved ahead, per /16.
//! * **IPv6**: prefixes of length 32 or more sit in an open-addressing table
//!   keyed by their first 32 bits; the entries of one key follow each other in
//!   its probe sequence, so a lookup reads the slots from the home slot to the
//!   first empty one. Prefixes shorter than 32 bits (rare) go to a small trie.
//!
//! Entries carry the indicator's id, fraud type and confidence inline, so a
//! hit needs no second read; a prefix shared by several indicators is marked,
//! and its further entries are read through the arena as before.

use prefix_trie::PrefixMap;

use super::codec::{RawEntry, read_record};
use super::ip::{mask4, mask6};
use super::table::{capacity_for, home, num_hash};

/// The first bits that pick an IPv4 group.
const V4_TOP: u8 = 16;
/// The first bits that key the IPv6 table.
const V6_TOP: u8 = 32;
const NONE: u32 = u32::MAX;

/// One IPv4 prefix and its first indicator (16 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct V4Entry {
    pub addr: u32,
    pub len: u8,
    pub fraud: u8,
    pub confidence: u8,
    /// More indicators share this prefix (their run is found through the arena).
    pub extras: bool,
    pub id: i64,
}

/// One IPv6 prefix and its first indicator (32 bytes); `len == 0xff` marks
/// an empty slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct V6Entry {
    pub addr: u128,
    pub id: i64,
    pub len: u8,
    pub fraud: u8,
    pub confidence: u8,
    pub extras: bool,
}

const V6_EMPTY: V6Entry = V6Entry {
    addr: 0,
    id: 0,
    len: 0xff,
    fraud: 0,
    confidence: 0,
    extras: false,
};

/// A prefix found: its length, its first entry, and whether more follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IpHit {
    pub len: u8,
    pub entry: RawEntry,
    pub extras: bool,
}

/// See the module docs.
pub(crate) struct IpLayout {
    v4_start: Vec<u32>,
    v4: Vec<V4Entry>,
    /// Per /16: index into `v4_short` of the longest shorter prefix covering it.
    v4_cover: Vec<u32>,
    v4_short: Vec<V4Entry>,
    v6: Vec<V6Entry>,
    v6_short: PrefixMap<(u128, u8), IpHit>,
}

impl Default for IpLayout {
    fn default() -> Self {
        IpLayout::build(&[], &[], &[0])
    }
}

impl IpHit {
    fn of(len: u8, id: i64, fraud: u8, confidence: u8, extras: bool) -> IpHit {
        IpHit {
            len,
            entry: RawEntry {
                id,
                fraud,
                confidence,
            },
            extras,
        }
    }
}

fn top6(a: u128) -> u64 {
    // Plus one bit, so that no key is zero (num_hash is fine with zero, but
    // this keeps the key space apart from "no key").
    (a >> (128 - u32::from(V6_TOP))) as u64 | (1 << 32)
}

fn hit_of(arena: &[u8], off: u32) -> Option<IpHit> {
    let rec = read_record(arena, off as usize)?;
    Some(IpHit {
        len: 0,
        entry: rec.entry,
        extras: rec.has_extras,
    })
}

impl IpLayout {
    /// From the sorted, masked, distinct prefix lists `(address, length,
    /// record offset)` and the arena their records live in. A prefix whose
    /// record cannot be read is left out (the loader has checked them).
    pub(crate) fn build(list4: &[(u32, u8, u32)], list6: &[(u128, u8, u32)], arena: &[u8]) -> IpLayout {
        // IPv4: long prefixes in address order, grouped by their first 16 bits.
        let mut v4 = Vec::new();
        let mut v4_start = vec![0u32; (1 << V4_TOP) + 1];
        let mut shorts: Vec<(u32, u8, V4Entry)> = Vec::new();
        for &(addr, len, off) in list4 {
            let Some(h) = hit_of(arena, off) else { continue };
            let e = V4Entry {
                addr,
                len,
                fraud: h.entry.fraud,
                confidence: h.entry.confidence,
                extras: h.extras,
                id: h.entry.id,
            };
            if len >= V4_TOP {
                v4_start[(addr >> (32 - u32::from(V4_TOP))) as usize + 1] += 1;
                v4.push(e);
            } else {
                shorts.push((addr, len, e));
            }
        }
        for i in 1..v4_start.len() {
            v4_start[i] += v4_start[i - 1];
        }
        // Short prefixes: shortest first, so a longer one overwrites the
        // groups it covers.
        shorts.sort_by_key(|s| s.1);
        let mut v4_cover = vec![NONE; 1 << V4_TOP];
        let mut v4_short = Vec::with_capacity(shorts.len());
        for (addr, len, e) in shorts {
            let first = (addr >> (32 - u32::from(V4_TOP))) as usize;
            let count = 1usize << (V4_TOP - len);
            let idx = v4_short.len() as u32;
            v4_short.push(e);
            for c in v4_cover.iter_mut().skip(first).take(count) {
                *c = idx;
            }
        }

        // IPv6: long prefixes in an open-addressing table by their first 32 bits.
        let longs: Vec<(u128, u8, IpHit)> = list6
            .iter()
            .filter(|p| p.1 >= V6_TOP)
            .filter_map(|&(a, l, off)| hit_of(arena, off).map(|h| (a, l, h)))
            .collect();
        let mut v6 = vec![V6_EMPTY; capacity_for(longs.len())];
        let slots = v6.len();
        for (addr, len, h) in longs {
            let mut i = home(num_hash(top6(addr)), slots);
            while v6[i].len != 0xff {
                i += 1;
                if i == slots {
                    i = 0;
                }
            }
            v6[i] = V6Entry {
                addr,
                id: h.entry.id,
                len,
                fraud: h.entry.fraud,
                confidence: h.entry.confidence,
                extras: h.extras,
            };
        }
        let mut v6_short = PrefixMap::new();
        for &(a, l, off) in list6.iter().filter(|p| p.1 < V6_TOP) {
            if let Some(h) = hit_of(arena, off) {
                v6_short.insert((a, l), IpHit { len: l, ..h });
            }
        }
        IpLayout {
            v4_start,
            v4,
            v4_cover,
            v4_short,
            v6,
            v6_short,
        }
    }

    /// The longest prefix that contains `addr/qlen`, for `qlen >= 16`;
    /// `None` when the query is shorter (ask the trie).
    #[inline]
    pub(crate) fn lpm4(&self, addr: u32, qlen: u8) -> Option<Option<IpHit>> {
        if qlen < V4_TOP {
            return None;
        }
        let g = (addr >> (32 - u32::from(V4_TOP))) as usize;
        let lo = self.v4_start.get(g).copied().unwrap_or(0) as usize;
        let hi = self.v4_start.get(g + 1).copied().unwrap_or(0) as usize;
        let mut best: Option<&V4Entry> = None;
        for e in self.v4.get(lo..hi).unwrap_or_default() {
            if e.addr > addr {
                // Sorted by address: a prefix starting later cannot contain it.
                break;
            }
            if e.len <= qlen && mask4(addr, e.len) == e.addr && best.is_none_or(|b| e.len > b.len) {
                best = Some(e);
            }
        }
        let best = best.or_else(|| {
            let i = *self.v4_cover.get(g)?;
            self.v4_short.get(i as usize)
        });
        Some(best.map(|e| IpHit::of(e.len, e.id, e.fraud, e.confidence, e.extras)))
    }

    /// The longest prefix that contains `addr/qlen`, for `qlen >= 32`;
    /// `None` when the query is shorter (ask the trie).
    #[inline]
    pub(crate) fn lpm6(&self, addr: u128, qlen: u8) -> Option<Option<IpHit>> {
        if qlen < V6_TOP {
            return None;
        }
        let key = top6(addr);
        let slots = self.v6.len();
        let mut i = home(num_hash(key), slots);
        let mut best: Option<&V6Entry> = None;
        for _ in 0..slots {
            let Some(e) = self.v6.get(i) else { break };
            if e.len == 0xff {
                break;
            }
            if top6(e.addr) == key
                && e.len <= qlen
                && mask6(addr, e.len) == e.addr
                && best.is_none_or(|b| e.len > b.len)
            {
                best = Some(e);
            }
            i += 1;
            if i == slots {
                i = 0;
            }
        }
        if let Some(e) = best {
            return Some(Some(IpHit::of(e.len, e.id, e.fraud, e.confidence, e.extras)));
        }
        if self.v6_short.is_empty() {
            return Some(None);
        }
        Some(self.v6_short.get_lpm(&(addr, qlen)).map(|(_, h)| *h))
    }

    pub(crate) fn mem_size(&self) -> usize {
        self.v4_start.capacity() * 4
            + self.v4.capacity() * size_of::<V4Entry>()
            + self.v4_cover.capacity() * 4
            + self.v4_short.capacity() * size_of::<V4Entry>()
            + self.v6.capacity() * size_of::<V6Entry>()
            + self.v6_short.mem_size()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use fanzha_core::{FraudType, IndicatorKind};

    use super::super::bench::Rng;
    use super::super::{IndexBuilder, IndexSnapshot, MatchVia};

    /// The longest-prefix hits, as the tries give them: the last group of
    /// `for_each_ip_cover` (shortest to longest).
    fn by_trie(s: &IndexSnapshot, q: &str) -> Vec<(i64, u8)> {
        let mut all = Vec::new();
        s.for_each_ip_cover(q, |h| {
            if let MatchVia::Cidr { prefix_len } = h.via {
                all.push((h.id, prefix_len));
            }
        });
        let longest = all.iter().map(|h| h.1).max();
        all.retain(|h| Some(h.1) == longest);
        all.sort_unstable();
        all
    }

    fn by_layout(s: &IndexSnapshot, q: &str) -> Vec<(i64, u8)> {
        let mut v: Vec<(i64, u8)> = s
            .lookup(IndicatorKind::Ip, q)
            .into_iter()
            .filter_map(|h| match h.via {
                MatchVia::Cidr { prefix_len } => Some((h.id, prefix_len)),
                _ => None,
            })
            .collect();
        v.sort_unstable();
        v
    }

    /// Random nested prefixes of every length, some shared by two
    /// indicators; random addresses and prefixes as queries, inside and
    /// outside them. The layout answers exactly as the tries do, and a saved
    /// and loaded snapshot answers the same.
    #[test]
    fn layout_agrees_with_the_tries() {
        let mut r = Rng::new(11);
        let mut b = IndexBuilder::new();
        let mut prefixes4 = Vec::new();
        let mut prefixes6 = Vec::new();
        let mut id = 0i64;
        for _ in 0..4_000 {
            // Few distinct top bits, so that groups hold many nested prefixes.
            let a = ((r.below(4) as u32) << 30) | (r.next() as u32 & 0x00ff_ffff) | 0x0a00_0000;
            let l = r.below(33) as u8;
            let p = format!("{}/{l}", Ipv4Addr::from_bits(a));
            id += 1;
            b.push(id, IndicatorKind::Ip, &p, FraudType::Other, 50).ok();
            if r.below(10) == 0 {
                id += 1;
                b.push(id, IndicatorKind::Ip, &p, FraudType::FakeLoan, 60).ok();
            }
            prefixes4.push(a);
            let a6 = (0x2400u128 << 112) | (u128::from(r.below(3)) << 96) | u128::from(r.next());
            let l6 = r.below(129) as u8;
            let p6 = format!("{}/{l6}", Ipv6Addr::from_bits(a6));
            id += 1;
            b.push(id, IndicatorKind::Ip, &p6, FraudType::Other, 50).ok();
            if r.below(10) == 0 {
                id += 1;
                b.push(id, IndicatorKind::Ip, &p6, FraudType::RomanceScam, 70)
                    .ok();
            }
            prefixes6.push(a6);
        }
        let snap = b.finish();
        let mut file = Vec::new();
        assert!(snap.save(&mut file).is_ok());
        let loaded = IndexSnapshot::load(&file[..]);
        assert!(loaded.is_ok());
        let Ok(loaded) = loaded else { return };
        let mut found = 0;
        for i in 0..20_000 {
            let q = match i % 4 {
                0 => {
                    let a = prefixes4[r.below(prefixes4.len() as u64) as usize] ^ (r.next() as u32 & 0xff);
                    Ipv4Addr::from_bits(a).to_string()
                }
                1 => format!(
                    "{}/{}",
                    Ipv4Addr::from_bits(prefixes4[r.below(prefixes4.len() as u64) as usize]),
                    r.below(33)
                ),
                2 => {
                    let a =
                        prefixes6[r.below(prefixes6.len() as u64) as usize] ^ u128::from(r.next() & 0xffff);
                    Ipv6Addr::from_bits(a).to_string()
                }
                _ => format!(
                    "{}/{}",
                    Ipv6Addr::from_bits(prefixes6[r.below(prefixes6.len() as u64) as usize]),
                    r.below(129)
                ),
            };
            let want = by_trie(&snap, &q);
            assert_eq!(by_layout(&snap, &q), want, "query {q}");
            assert_eq!(by_layout(&loaded, &q), want, "query {q} after load");
            found += usize::from(!want.is_empty());
        }
        // The queries really exercised hits, shared prefixes and misses.
        assert!(found > 10_000, "{found}");
    }
}
