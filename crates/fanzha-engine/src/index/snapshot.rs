//! The immutable snapshot and its lookups. Lookups allocate nothing: they
//! hand each hit to a callback. [`IndexSnapshot::lookup`] collects them into
//! a `Vec` for convenience.

use std::fmt;

use fanzha_core::{FraudType, IndicatorKind};
use serde::Serialize;

use super::MAX_DOMAIN_LEN;
use super::codec::{
    ENTRY_LEN, KIND_COUNT, NT_BANK, NT_PHONE, NUM_TABLES, RawEntry, ST_APP, ST_BANK, ST_DOMAIN, ST_PAYMENT,
    ST_PHONE, ST_SOCIAL, ST_URL, STR_TABLES, fraud_from_code, get_varint, key_hash, kind_code, nt_kind,
    pack_bank, pack_phone, read_record, st_kind,
};
use super::inline::{self, Side32, Side64, SideSlot};
use super::ip::{IpKey, IpTables, mask4, mask6, parse_ip};
use super::iplayout::IpLayout;
use super::table::{NumSlot, capacity_for, home, num_find, str_find, str_first};
use super::url::host_span;

/// How a hit matched the query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum MatchVia {
    /// The indicator's value equals the whole query.
    Exact,
    /// A domain indicator equal to `&query[start..end]`: a parent domain of a
    /// domain query, or the host (or a parent of it) of a URL query.
    Domain { start: u32, end: u32 },
    /// An IP indicator whose prefix (of `prefix_len` bits) contains the
    /// queried address or prefix, or the URL's host address.
    Cidr { prefix_len: u8 },
}

/// One indicator that matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Hit {
    /// The indicator's store row id.
    pub id: i64,
    /// The indicator's kind (for a URL lookup, `domain` or `ip` when the host matched).
    pub kind: IndicatorKind,
    pub fraud_type: FraudType,
    /// 0–100.
    pub confidence: u8,
    pub via: MatchVia,
}

/// Sizes of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IndexStats {
    pub indicators: u64,
    pub per_kind: Vec<(IndicatorKind, u64)>,
    /// Distinct non-IP values.
    pub keys: u64,
    /// Of those, phone and card numbers kept packed in numeric slots.
    pub packed_keys: u64,
    pub ipv4_prefixes: u64,
    pub ipv6_prefixes: u64,
    /// Values shared by more than one indicator.
    pub shared_values: u64,
    pub arena_bytes: u64,
    pub table_bytes: u64,
    pub shared_bytes: u64,
    pub ip_trie_bytes: u64,
    /// Domains kept inline beside the domain table.
    pub inline_domains: u64,
    /// URLs kept inline beside the URL table.
    pub inline_urls: u64,
    /// Everything above, as allocated.
    pub heap_bytes: u64,
}

/// An immutable snapshot of every active indicator.
pub struct IndexSnapshot {
    pub(crate) arena: Vec<u8>,
    pub(crate) strs: [Vec<u64>; STR_TABLES],
    pub(crate) nums: [Vec<NumSlot>; NUM_TABLES],
    pub(crate) keys: usize,
    pub(crate) packed_keys: usize,
    /// Values shared by more than one indicator.
    pub(crate) shared: usize,
    /// `(record offset, run offset)`, sorted by record offset.
    pub(crate) runs: Vec<(u32, u32)>,
    pub(crate) ip: IpTables,
    /// The prefixes again, laid out for lookups (derived from `ip`).
    pub(crate) ip_layout: IpLayout,
    /// Short domains inline, beside the domain table (derived).
    pub(crate) domain_inline: Vec<Side32>,
    /// Short URLs inline, beside the URL table (derived).
    pub(crate) url_inline: Vec<Side64>,
    pub(crate) counts: [u64; KIND_COUNT],
}

impl fmt::Debug for IndexSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexSnapshot")
            .field("indicators", &self.len())
            .field("keys", &self.keys)
            .field("ipv4_prefixes", &self.ip.v4.len())
            .field("ipv6_prefixes", &self.ip.v6.len())
            .finish()
    }
}

impl Default for IndexSnapshot {
    fn default() -> Self {
        Self::empty()
    }
}

impl IndexSnapshot {
    /// A snapshot with no indicators.
    pub fn empty() -> IndexSnapshot {
        IndexSnapshot::from_parts(
            vec![0],
            std::array::from_fn(|_| vec![0; capacity_for(0)]),
            std::array::from_fn(|_| vec![NumSlot::default(); capacity_for(0)]),
            Vec::new(),
            IpTables::default(),
            [0; KIND_COUNT],
        )
    }

    pub(crate) fn from_parts(
        arena: Vec<u8>,
        strs: [Vec<u64>; STR_TABLES],
        nums: [Vec<NumSlot>; NUM_TABLES],
        runs: Vec<(u32, u32)>,
        ip: IpTables,
        counts: [u64; KIND_COUNT],
    ) -> IndexSnapshot {
        let packed_keys = nums.iter().flatten().filter(|s| s.key != 0).count();
        let keys = strs.iter().flatten().filter(|s| **s != 0).count() + packed_keys;
        let shared = runs.len() + nums.iter().flatten().filter(|s| s.run != 0).count();
        let ip_layout = IpLayout::build(&ip.list4, &ip.list6, &arena);
        let domain_inline = inline::build(&strs[ST_DOMAIN], &arena);
        let url_inline = inline::build(&strs[ST_URL], &arena);
        IndexSnapshot {
            arena,
            strs,
            nums,
            keys,
            packed_keys,
            shared,
            runs,
            ip,
            ip_layout,
            domain_inline,
            url_inline,
            counts,
        }
    }

    /// Rebuilds the derived lookup layouts from the stored parts (after the
    /// arena of a loaded snapshot is in place).
    pub(crate) fn derive_layouts(&mut self) {
        self.ip_layout = IpLayout::build(&self.ip.list4, &self.ip.list6, &self.arena);
        self.domain_inline = inline::build(&self.strs[ST_DOMAIN], &self.arena);
        self.url_inline = inline::build(&self.strs[ST_URL], &self.arena);
    }

    /// Number of indicators (entries, not distinct values).
    pub fn len(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of indicators of one kind.
    pub fn count(&self, kind: IndicatorKind) -> u64 {
        self.counts[usize::from(kind_code(kind))]
    }

    pub fn stats(&self) -> IndexStats {
        let arena = self.arena.capacity() as u64;
        let table = self.strs.iter().map(|t| t.capacity() * 8).sum::<usize>() as u64
            + self
                .nums
                .iter()
                .map(|t| t.capacity() * size_of::<NumSlot>())
                .sum::<usize>() as u64
            + (self.domain_inline.capacity() * size_of::<Side32>()) as u64
            + (self.url_inline.capacity() * size_of::<Side64>()) as u64;
        let shared = (self.runs.capacity() * 8) as u64;
        let trie = (self.ip.mem_size() + self.ip_layout.mem_size()) as u64;
        IndexStats {
            indicators: self.len(),
            per_kind: IndicatorKind::ALL.iter().map(|k| (*k, self.count(*k))).collect(),
            keys: self.keys as u64,
            packed_keys: self.packed_keys as u64,
            ipv4_prefixes: self.ip.v4.len() as u64,
            ipv6_prefixes: self.ip.v6.len() as u64,
            shared_values: self.shared as u64,
            arena_bytes: arena,
            table_bytes: table,
            shared_bytes: shared,
            ip_trie_bytes: trie,
            inline_domains: self.domain_inline.iter().filter(|s| s.len() > 0).count() as u64,
            inline_urls: self.url_inline.iter().filter(|s| s.len() > 0).count() as u64,
            heap_bytes: arena + table + shared + trie,
        }
    }

    /// Every indicator matching `value` looked up as `kind`, collected.
    pub fn lookup(&self, kind: IndicatorKind, value: &str) -> Vec<Hit> {
        let mut out = Vec::new();
        self.for_each_hit(kind, value, |h| out.push(h));
        out
    }

    /// Whether anything matches.
    pub fn contains(&self, kind: IndicatorKind, value: &str) -> bool {
        self.for_each_hit(kind, value, |_| {}) > 0
    }

    /// Calls `f` for every indicator matching `value` looked up as `kind`,
    /// with that kind's rules (see the module docs); returns the number of
    /// hits. Allocates nothing.
    pub fn for_each_hit(&self, kind: IndicatorKind, value: &str, f: impl FnMut(Hit)) -> usize {
        match kind {
            IndicatorKind::Phone => self.lookup_phone(value, f),
            IndicatorKind::Domain => self.lookup_domain(value, f),
            IndicatorKind::Url => self.lookup_url(value, f),
            IndicatorKind::Ip => self.lookup_ip(value, f),
            IndicatorKind::App => self.lookup_app(value, f),
            IndicatorKind::BankAccount | IndicatorKind::PaymentAccount | IndicatorKind::SocialAccount => {
                self.lookup_account(kind, value, f)
            }
        }
    }

    /// Phone numbers: exact.
    pub fn lookup_phone(&self, phone: &str, mut f: impl FnMut(Hit)) -> usize {
        match pack_phone(phone) {
            Some(key) => self.exact_num(NT_PHONE, key, &mut f),
            None => self.exact(ST_PHONE, phone.as_bytes(), &mut f),
        }
    }

    /// App keys (`pkg:…`, `cert:…`, `apk:…`): exact.
    pub fn lookup_app(&self, key: &str, mut f: impl FnMut(Hit)) -> usize {
        self.exact(ST_APP, key.as_bytes(), &mut f)
    }

    /// Bank, payment and social accounts: exact. Any other kind finds nothing.
    pub fn lookup_account(&self, kind: IndicatorKind, account: &str, mut f: impl FnMut(Hit)) -> usize {
        match kind {
            IndicatorKind::BankAccount => match pack_bank(account) {
                Some(key) => self.exact_num(NT_BANK, key, &mut f),
                None => self.exact(ST_BANK, account.as_bytes(), &mut f),
            },
            IndicatorKind::PaymentAccount => self.exact(ST_PAYMENT, account.as_bytes(), &mut f),
            IndicatorKind::SocialAccount => self.exact(ST_SOCIAL, account.as_bytes(), &mut f),
            _ => 0,
        }
    }

    /// Domains: the domain itself and every parent at a label boundary, the
    /// longest first (`a.b.evil.com` finds `a.b.evil.com`, `b.evil.com`,
    /// `evil.com`, `com`; `notevil.com` never finds `evil.com`).
    pub fn lookup_domain(&self, domain: &str, mut f: impl FnMut(Hit)) -> usize {
        self.domain_suffixes(domain.as_bytes(), 0, true, None, &mut f)
    }

    /// URLs: the canonical URL exactly, then its host: a name by the domain
    /// rules, an address by the IP rules (longest prefix).
    pub fn lookup_url(&self, url: &str, mut f: impl FnMut(Hit)) -> usize {
        let Some(span) = host_span(url) else {
            return self.exact(ST_URL, url.as_bytes(), &mut f);
        };
        let host = url.get(span.start..span.end).unwrap_or_default();
        let ip = if span.bracketed || host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            parse_ip(host)
        } else {
            None
        };
        match ip {
            Some(key) => self.exact(ST_URL, url.as_bytes(), &mut f) + self.ip_longest(key, &mut f),
            None if span.bracketed => self.exact(ST_URL, url.as_bytes(), &mut f),
            // The URL's own slot is loaded together with its host's.
            None => self.domain_suffixes(host.as_bytes(), span.start, false, Some(url.as_bytes()), &mut f),
        }
    }

    /// IP addresses and prefixes (`1.2.3.4`, `1.2.3.0/24`, `2001:db8::/32`):
    /// the indicators of the longest prefix that contains the query. Text
    /// that is not an address finds nothing.
    pub fn lookup_ip(&self, ip: &str, mut f: impl FnMut(Hit)) -> usize {
        match parse_ip(ip) {
            Some(key) => self.ip_longest(key, &mut f),
            None => 0,
        }
    }

    /// Like [`IndexSnapshot::lookup_ip`], but every prefix that contains the
    /// query, from the shortest to the longest.
    pub fn for_each_ip_cover(&self, ip: &str, mut f: impl FnMut(Hit)) -> usize {
        let mut n = 0;
        match parse_ip(ip) {
            Some(IpKey::V4(a, l)) => {
                for (p, off) in self.ip.v4.cover(&(a, l)) {
                    n += self.emit(
                        *off as usize,
                        IndicatorKind::Ip,
                        MatchVia::Cidr { prefix_len: p.1 },
                        &mut f,
                    );
                }
            }
            Some(IpKey::V6(a, l)) => {
                for (p, off) in self.ip.v6.cover(&(a, l)) {
                    n += self.emit(
                        *off as usize,
                        IndicatorKind::Ip,
                        MatchVia::Cidr { prefix_len: p.1 },
                        &mut f,
                    );
                }
            }
            None => {}
        }
        n
    }

    fn ip_longest(&self, key: IpKey, f: &mut impl FnMut(Hit)) -> usize {
        let fast = match key {
            IpKey::V4(a, l) => self.ip_layout.lpm4(a, l),
            IpKey::V6(a, l) => self.ip_layout.lpm6(a, l),
        };
        let Some(found) = fast else {
            return self.ip_longest_trie(key, f);
        };
        let Some(h) = found else { return 0 };
        let via = MatchVia::Cidr { prefix_len: h.len };
        if h.extras {
            // Shared by several indicators: the record and its run.
            let exact = match key {
                IpKey::V4(a, _) => IpKey::V4(mask4(a, h.len), h.len),
                IpKey::V6(a, _) => IpKey::V6(mask6(a, h.len), h.len),
            };
            if let Some(off) = self.ip.get(exact) {
                return self.emit(off as usize, IndicatorKind::Ip, via, f);
            }
        }
        emit_entry(h.entry, IndicatorKind::Ip, via, f)
    }

    /// The longest prefix through the tries (queries shorter than the
    /// layout's first level).
    #[cold]
    fn ip_longest_trie(&self, key: IpKey, f: &mut impl FnMut(Hit)) -> usize {
        let found = match key {
            IpKey::V4(a, l) => self.ip.v4.get_lpm(&(a, l)).map(|(p, off)| (p.1, *off)),
            IpKey::V6(a, l) => self.ip.v6.get_lpm(&(a, l)).map(|(p, off)| (p.1, *off)),
        };
        match found {
            Some((len, off)) => self.emit(
                off as usize,
                IndicatorKind::Ip,
                MatchVia::Cidr { prefix_len: len },
                f,
            ),
            None => 0,
        }
    }

    #[inline]
    fn exact(&self, table: usize, key: &[u8], f: &mut impl FnMut(Hit)) -> usize {
        let hash = key_hash(table, key);
        let slots = &self.strs[table];
        match str_find(slots, &self.arena, key, hash, str_first(slots, hash)) {
            Some(off) => self.emit(off, st_kind(table), MatchVia::Exact, f),
            None => 0,
        }
    }

    #[inline]
    fn exact_num(&self, table: usize, key: u64, f: &mut impl FnMut(Hit)) -> usize {
        let Some(slot) = num_find(&self.nums[table], key) else {
            return 0;
        };
        let kind = nt_kind(table);
        let mut n = emit_entry(slot.entry(), kind, MatchVia::Exact, f);
        if slot.run != 0 {
            n += self.emit_run(slot.run as usize, kind, MatchVia::Exact, f);
        }
        n
    }

    /// Probes every suffix of `q` that starts at a label boundary. The
    /// suffixes are handled in batches of eight: hash all, load all their
    /// first slots (independent loads the CPU overlaps), then compare.
    fn domain_suffixes(
        &self,
        q: &[u8],
        base: usize,
        whole: bool,
        mut url: Option<&[u8]>,
        f: &mut impl FnMut(Hit),
    ) -> usize {
        const BATCH: usize = 8;
        let len = q.len();
        let mut starts = [0usize; BATCH];
        let mut k = 0;
        let mut n = 0;
        let mut s = len.saturating_sub(MAX_DOMAIN_LEN);
        while s < len {
            if s == 0 || q.get(s - 1) == Some(&b'.') {
                starts[k] = s;
                k += 1;
                if k == BATCH {
                    n += self.domain_batch(q, &starts, base, whole, url.take(), f);
                    k = 0;
                }
            }
            s += 1;
        }
        if k > 0 || url.is_some() {
            n += self.domain_batch(q, &starts[..k], base, whole, url, f);
        }
        n
    }

    /// Hashes a batch of suffixes, loads all their home slots (and the
    /// URL's, for a URL lookup) before looking at any of them, so that the
    /// memory reads overlap; then compares. The URL's hits come first.
    #[inline]
    fn domain_batch(
        &self,
        q: &[u8],
        starts: &[usize],
        base: usize,
        whole: bool,
        url: Option<&[u8]>,
        f: &mut impl FnMut(Hit),
    ) -> usize {
        let mut hashes = [0u64; 8];
        let mut firsts = [0u64; 8];
        let mut lens = [0u8; 8];
        let slots = &self.strs[ST_DOMAIN];
        let url_slots = &self.strs[ST_URL];
        let len = slots.len();
        for (h, &s) in hashes.iter_mut().zip(starts) {
            *h = key_hash(ST_DOMAIN, q.get(s..).unwrap_or_default());
        }
        let url_hash = url.map(|u| key_hash(ST_URL, u));
        let url_first = url_hash.map(|h| str_first(url_slots, h));
        let url_touch = url_hash.map(|h| inline::touch(&self.url_inline, home(h, url_slots.len())));
        for ((fst, l), h) in firsts.iter_mut().zip(&mut lens).zip(&hashes).take(starts.len()) {
            let i = home(*h, len);
            *fst = slots.get(i).copied().unwrap_or(0);
            // Loaded now, beside the slot, so the reads are in flight at once.
            *l = inline::touch(&self.domain_inline, i);
        }
        std::hint::black_box((&lens, url_touch));
        let mut n = 0;
        if let (Some(u), Some(h), Some(first)) = (url, url_hash, url_first)
            && let Some((off, inl)) = inline::find(url_slots, &self.url_inline, &self.arena, u, h, first)
        {
            n += match inl {
                Some(e) => emit_entry(e, IndicatorKind::Url, MatchVia::Exact, f),
                None => self.emit(off, IndicatorKind::Url, MatchVia::Exact, f),
            };
        }
        for ((&s, &h), &first) in starts.iter().zip(&hashes).zip(&firsts) {
            let key = q.get(s..).unwrap_or_default();
            if let Some((off, inl)) = inline::find(slots, &self.domain_inline, &self.arena, key, h, first) {
                let via = if whole && s == 0 {
                    MatchVia::Exact
                } else {
                    // Queries are far below 4 GiB; saturate rather than wrap.
                    let start = u32::try_from(base + s).unwrap_or(u32::MAX);
                    let end = u32::try_from(base + q.len()).unwrap_or(u32::MAX);
                    MatchVia::Domain { start, end }
                };
                n += match inl {
                    Some(e) => emit_entry(e, IndicatorKind::Domain, via, f),
                    None => self.emit(off, IndicatorKind::Domain, via, f),
                };
            }
        }
        n
    }

    /// Reports the entries of the record at `off`: its own, then its run.
    #[inline]
    fn emit(&self, off: usize, kind: IndicatorKind, via: MatchVia, f: &mut impl FnMut(Hit)) -> usize {
        let Some(rec) = read_record(&self.arena, off) else {
            return 0;
        };
        let mut n = emit_entry(rec.entry, kind, via, f);
        if rec.has_extras
            && let Ok(off) = u32::try_from(off)
            && let Ok(i) = self.runs.binary_search_by_key(&off, |r| r.0)
            && let Some(&(_, run)) = self.runs.get(i)
        {
            n += self.emit_run(run as usize, kind, via, f);
        }
        n
    }

    /// Reports the entries of the run at `run`: a count, then the entries.
    #[cold]
    fn emit_run(&self, run: usize, kind: IndicatorKind, via: MatchVia, f: &mut impl FnMut(Hit)) -> usize {
        let Some((count, mut pos)) = get_varint(&self.arena, run) else {
            return 0;
        };
        let mut n = 0;
        for _ in 0..count {
            let Some(e) = self.arena.get(pos..pos + ENTRY_LEN).and_then(RawEntry::decode) else {
                break;
            };
            n += emit_entry(e, kind, via, f);
            pos += ENTRY_LEN;
        }
        n
    }
}

#[inline]
fn emit_entry(e: RawEntry, kind: IndicatorKind, via: MatchVia, f: &mut impl FnMut(Hit)) -> usize {
    match fraud_from_code(e.fraud) {
        Some(fraud_type) => {
            f(Hit {
                id: e.id,
                kind,
                fraud_type,
                confidence: e.confidence,
                via,
            });
            1
        }
        None => 0,
    }
}
