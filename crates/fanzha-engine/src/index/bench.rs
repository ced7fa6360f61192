//! `fanzha bench intel`: generates a realistic mix of indicators, builds the
//! index, times lookups per kind and compares domain-suffix matching with a
//! plain `HashSet<String>` probed once per suffix, in the same run.
//!
//! Measuring time with `Instant` is the one clock reading the engine makes,
//! and only here. Memory is measured by a probe the caller passes in (the
//! binary reads `/proc/self/status`), so the engine stays free of I/O.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use fanzha_core::{FraudType, IndicatorKind};
use serde::Serialize;

use super::codec::fraud_from_code;
use super::ip::{mask4, mask6};
use super::{IndexBuilder, IndexSnapshot, MatchVia};

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchParams {
    /// Indicators to generate and index.
    pub indicators: usize,
    /// Timed lookups per query set.
    pub lookups: usize,
    pub seed: u64,
}

impl Default for BenchParams {
    fn default() -> Self {
        BenchParams {
            indicators: 10_000_000,
            lookups: 200_000,
            seed: 20_240_601,
        }
    }
}

/// Latency of one query set.
#[derive(Clone, Debug, Serialize)]
pub struct LookupFigures {
    pub name: &'static str,
    pub kind: IndicatorKind,
    pub queries: usize,
    /// Share of queries with at least one hit.
    pub hit_rate: f64,
    /// Per lookup, each timed alone, with the query already in cache
    /// (includes `timer_overhead_ns`).
    pub median_ns: u64,
    pub p99_ns: u64,
    /// Whole set in one timed loop, divided by its size.
    pub mean_ns: f64,
}

/// Domain-suffix matching against a `HashSet<String>` of the same domains,
/// probed once per label-boundary suffix, on the same 5-label queries.
#[derive(Clone, Debug, Serialize)]
pub struct BaselineFigures {
    pub queries: usize,
    pub labels: usize,
    pub index_median_ns: u64,
    pub baseline_median_ns: u64,
    /// `baseline_median_ns / index_median_ns`: above 1 means the index is faster.
    pub median_ratio: f64,
    pub index_mean_ns: f64,
    pub baseline_mean_ns: f64,
    pub mean_ratio: f64,
    pub baseline_build_secs: f64,
    /// Both found the same matching suffixes for every query.
    pub same_matches: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct IntelBenchReport {
    pub indicators: usize,
    pub seed: u64,
    pub lookups_per_set: usize,
    /// Indicators generated per kind (`ip` split into `ipv4`/`ipv6`).
    pub mix: BTreeMap<&'static str, u64>,
    pub distinct_keys: u64,
    pub shared_values: u64,
    /// Generating the indicators alone, in a separate pass.
    pub gen_secs: f64,
    /// Generating and building, as one streaming pass.
    pub build_secs: f64,
    /// `build_secs - gen_secs`.
    pub build_secs_excluding_generation: f64,
    /// Peak resident memory before the run and after build and lookups.
    pub rss_start_bytes: Option<u64>,
    pub rss_peak_bytes: Option<u64>,
    /// `(rss_peak_bytes - rss_start_bytes) / indicators`: build and resident index.
    pub bytes_per_indicator: Option<f64>,
    /// The snapshot's own allocations.
    pub index_heap_bytes: u64,
    pub index_bytes_per_indicator: f64,
    /// Median cost of reading the clock twice, included in every `median_ns`.
    pub timer_overhead_ns: u64,
    /// This machine's cost of one random memory read that depends on the
    /// previous one, over a buffer the size of the index (capped at 1 GiB): the
    /// floor under any lookup that has to touch the index in memory.
    pub random_read_ns: f64,
    pub random_read_buffer_bytes: u64,
    /// The same dependent random read over buffers of other sizes
    /// `(bytes, ns)`: what one read costs in a table of that size (a kind's
    /// table is a fraction of the whole index).
    pub random_read_by_size: Vec<(u64, f64)>,
    pub lookup: Vec<LookupFigures>,
    pub domain_suffix_baseline: BaselineFigures,
    pub file_bytes: u64,
    pub save_secs: f64,
    pub load_secs: f64,
    /// The loaded snapshot answered every timed query like the built one.
    pub load_agrees: bool,
}

/// splitmix64: a small, fixed generator, so the same seed gives the same data
/// on every machine and every version.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n.max(1))) >> 64) as u64
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}

/// The generated shapes, with their share in per mille.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Phone,
    Domain,
    Url,
    Ipv4,
    Ipv6,
    App,
    Bank,
    Payment,
    Social,
}

const MIX: [(Shape, u64); 9] = [
    (Shape::Phone, 300),
    (Shape::Domain, 180),
    (Shape::Url, 150),
    (Shape::Ipv4, 70),
    (Shape::Ipv6, 30),
    (Shape::App, 60),
    (Shape::Bank, 110),
    (Shape::Payment, 50),
    (Shape::Social, 50),
];

/// Share (per mille) of indicators that repeat an earlier value with their
/// own fraud type and confidence.
const SHARED_PER_MILLE: u64 = 30;

impl Shape {
    fn kind(self) -> IndicatorKind {
        match self {
            Shape::Phone => IndicatorKind::Phone,
            Shape::Domain => IndicatorKind::Domain,
            Shape::Url => IndicatorKind::Url,
            Shape::Ipv4 | Shape::Ipv6 => IndicatorKind::Ip,
            Shape::App => IndicatorKind::App,
            Shape::Bank => IndicatorKind::BankAccount,
            Shape::Payment => IndicatorKind::PaymentAccount,
            Shape::Social => IndicatorKind::SocialAccount,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Shape::Phone => "phone",
            Shape::Domain => "domain",
            Shape::Url => "url",
            Shape::Ipv4 => "ipv4",
            Shape::Ipv6 => "ipv6",
            Shape::App => "app",
            Shape::Bank => "bank_account",
            Shape::Payment => "payment_account",
            Shape::Social => "social_account",
        }
    }
    fn pick(rng: &mut Rng) -> Shape {
        let mut w = rng.below(1000);
        for (s, share) in MIX {
            if w < share {
                return s;
            }
            w -= share;
        }
        Shape::Phone
    }
}

const TLDS: [&str; 10] = [
    "com", "cn", "net", "top", "xyz", "vip", "cc", "shop", "com.cn", "org",
];
const SUBS: [&str; 8] = ["www", "m", "app", "api", "pay", "h5", "kf", "vip"];
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";

fn push_chars(buf: &mut String, rng: &mut Rng, set: &[u8], n: u64) {
    for _ in 0..n {
        buf.push(char::from(set[rng.below(set.len() as u64) as usize]));
    }
}

fn push_digits(buf: &mut String, rng: &mut Rng, n: u64) {
    push_chars(buf, rng, &ALNUM[26..], n);
}

fn push_label(buf: &mut String, rng: &mut Rng) {
    buf.push(char::from(ALNUM[rng.below(26) as usize]));
    let n = rng.range(2, 11);
    push_chars(buf, rng, ALNUM, n);
}

/// A domain of 2–4 labels (one more for `com.cn`).
fn push_domain(buf: &mut String, rng: &mut Rng) {
    match rng.below(10) {
        0..=4 => {}
        5..=7 => {
            buf.push_str(SUBS[rng.below(SUBS.len() as u64) as usize]);
            buf.push('.');
        }
        _ => {
            push_label(buf, rng);
            buf.push('.');
            buf.push_str(SUBS[rng.below(SUBS.len() as u64) as usize]);
            buf.push('.');
        }
    }
    push_label(buf, rng);
    buf.push('.');
    buf.push_str(TLDS[rng.below(TLDS.len() as u64) as usize]);
}

fn push_phone(buf: &mut String, rng: &mut Rng) {
    if rng.below(20) == 0 {
        let cc = ["1", "44", "60", "63", "66", "855", "95"][rng.below(7) as usize];
        buf.push('+');
        buf.push_str(cc);
        push_digits(buf, rng, 10);
    } else {
        buf.push_str("+861");
        buf.push(char::from(b'3' + rng.below(7) as u8));
        push_digits(buf, rng, 9);
    }
}

fn push_ipv4(buf: &mut String, rng: &mut Rng) {
    let a = rng.next() as u32;
    if rng.below(10) < 6 {
        let _ = write!(buf, "{}", Ipv4Addr::from_bits(a));
    } else {
        let len = rng.range(16, 30) as u8;
        let _ = write!(buf, "{}/{len}", Ipv4Addr::from_bits(mask4(a, len)));
    }
}

fn push_ipv6(buf: &mut String, rng: &mut Rng) {
    let a = (u128::from(0x2000u16 | (rng.next() as u16 & 0x0fff)) << 112)
        | (u128::from(rng.next()) << 48)
        | u128::from(rng.next() >> 16);
    if rng.below(10) < 3 {
        let _ = write!(buf, "{}", Ipv6Addr::from_bits(a));
    } else {
        let len = rng.range(32, 64) as u8;
        let _ = write!(buf, "{}/{len}", Ipv6Addr::from_bits(mask6(a, len)));
    }
}

fn push_value(shape: Shape, buf: &mut String, rng: &mut Rng) {
    match shape {
        Shape::Phone => push_phone(buf, rng),
        Shape::Domain => push_domain(buf, rng),
        Shape::Url => {
            buf.push_str(if rng.below(4) == 0 { "http://" } else { "https://" });
            if rng.below(10) == 0 {
                let _ = write!(buf, "{}", Ipv4Addr::from_bits(rng.next() as u32));
            } else {
                push_domain(buf, rng);
            }
            for _ in 0..rng.range(1, 3) {
                buf.push('/');
                let n = rng.range(3, 10);
                push_chars(buf, rng, ALNUM, n);
            }
            if rng.below(3) == 0 {
                buf.push_str("?id=");
                let n = rng.range(4, 10);
                push_digits(buf, rng, n);
            }
        }
        Shape::Ipv4 => push_ipv4(buf, rng),
        Shape::Ipv6 => push_ipv6(buf, rng),
        Shape::App => match rng.below(10) {
            0..=3 => {
                buf.push_str("pkg:com.");
                push_label(buf, rng);
                buf.push('.');
                push_label(buf, rng);
            }
            4..=6 => {
                buf.push_str("cert:");
                push_chars(buf, rng, HEX, 64);
            }
            _ => {
                buf.push_str("apk:");
                push_chars(buf, rng, HEX, 64);
            }
        },
        Shape::Bank => {
            buf.push_str("62");
            let n = rng.range(14, 17);
            push_digits(buf, rng, n);
        }
        Shape::Payment => match rng.below(3) {
            0 => {
                buf.push_str("alipay:1");
                push_digits(buf, rng, 10);
            }
            1 => {
                buf.push_str("alipay:");
                push_label(buf, rng);
                buf.push_str("@163.com");
            }
            _ => {
                buf.push_str("wxpay:wxid_");
                let n = rng.range(8, 14);
                push_chars(buf, rng, ALNUM, n);
            }
        },
        Shape::Social => match rng.below(3) {
            0 => {
                buf.push_str("qq:");
                buf.push(char::from(b'1' + rng.below(9) as u8));
                let n = rng.range(5, 10);
                push_digits(buf, rng, n);
            }
            1 => {
                buf.push_str("wechat:wxid_");
                let n = rng.range(8, 14);
                push_chars(buf, rng, ALNUM, n);
            }
            _ => {
                buf.push_str("douyin:");
                push_label(buf, rng);
            }
        },
    }
}

/// A deterministic stream of mixed indicators: indicator `i` depends only on
/// the seed and `i`, so query sets can regenerate any of them.
#[derive(Clone, Copy, Debug)]
pub struct Generator {
    seed: u64,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator { seed }
    }

    fn rng(&self, i: u64) -> Rng {
        let mut r = Rng::new(self.seed ^ i.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        r.next();
        r
    }

    /// Writes the value of indicator `i` into `buf` (cleared first) and
    /// returns its kind, fraud type and confidence.
    pub fn indicator(&self, i: u64, buf: &mut String) -> (IndicatorKind, FraudType, u8) {
        let (shape, fraud, confidence) = self.shape_of(i, buf);
        (shape.kind(), fraud, confidence)
    }

    fn shape_of(&self, i: u64, buf: &mut String) -> (Shape, FraudType, u8) {
        let mut rng = self.rng(i);
        let fraud = fraud_from_code(rng.below(11) as u8).unwrap_or(FraudType::Other);
        let confidence = rng.range(30, 100) as u8;
        // A shared value repeats the value of an earlier indicator.
        let mut j = i;
        let mut r = rng.clone();
        while j > 0 && r.below(1000) < SHARED_PER_MILLE {
            j = r.below(j);
            r = self.rng(j);
            r.below(11);
            r.range(30, 100);
        }
        let shape = Shape::pick(&mut r);
        buf.clear();
        push_value(shape, buf, &mut r);
        (shape, fraud, confidence)
    }
}

/// Builds an index of `n` generated indicators (for benches and tests).
pub fn build_mixed(n: usize, seed: u64) -> IndexSnapshot {
    let g = Generator::new(seed);
    let mut b = IndexBuilder::with_capacity(n, n.saturating_mul(24));
    let mut buf = String::new();
    for i in 0..n as u64 {
        let (kind, fraud, conf) = g.indicator(i, &mut buf);
        // Generated values are always valid; a rejection would only drop one.
        let _ = b.push(i as i64 + 1, kind, &buf, fraud, conf);
    }
    b.finish()
}

/// Queries of one shape, about half of them expected to hit.
#[derive(Clone, Debug)]
pub struct QuerySet {
    pub name: &'static str,
    pub kind: IndicatorKind,
    pub queries: Vec<String>,
}

/// Query sets for an index built by [`build_mixed`]`(n, seed)`: per kind,
/// plus `domain_5_labels` (parents of indexed domains padded to five labels)
/// and URL queries whose host is indexed but whose path is new.
pub fn query_sets(n: usize, seed: u64, per_set: usize) -> Vec<QuerySet> {
    let g = Generator::new(seed);
    let mut rng = Rng::new(seed ^ 0x005E_ED0F_0DE5);
    let mut fresh = Rng::new(!seed);
    let mut buf = String::new();
    let present = |shape: Shape, rng: &mut Rng, buf: &mut String| {
        for _ in 0..10_000 {
            let i = rng.below(n as u64);
            if g.shape_of(i, buf).0 == shape {
                return true;
            }
        }
        false
    };
    let mut sets = Vec::new();
    let simple = [
        ("phone", Shape::Phone),
        ("domain", Shape::Domain),
        ("url", Shape::Url),
        ("ipv4", Shape::Ipv4),
        ("ipv6", Shape::Ipv6),
        ("app", Shape::App),
        ("bank_account", Shape::Bank),
        ("payment_account", Shape::Payment),
        ("social_account", Shape::Social),
    ];
    for (name, shape) in simple {
        let mut queries = Vec::with_capacity(per_set);
        for q in 0..per_set {
            let hit = q % 2 == 0 && present(shape, &mut rng, &mut buf);
            if !hit {
                buf.clear();
                push_value(shape, &mut buf, &mut fresh);
            }
            if matches!(shape, Shape::Ipv4 | Shape::Ipv6) {
                // Query a single address: inside an indexed prefix for a hit.
                let host = host_in(&buf, &mut fresh);
                buf = host;
            }
            queries.push(buf.clone());
        }
        sets.push(QuerySet {
            name,
            kind: shape.kind(),
            queries,
        });
    }
    // Five-label domains: an indexed domain (or a fresh one) padded on the left.
    let mut queries = Vec::with_capacity(per_set);
    for q in 0..per_set {
        if !(q % 2 == 0 && present(Shape::Domain, &mut rng, &mut buf)) {
            buf.clear();
            push_domain(&mut buf, &mut fresh);
        }
        let labels = buf.split('.').count();
        let mut s = String::new();
        for _ in labels..5 {
            push_label(&mut s, &mut fresh);
            s.push('.');
        }
        s.push_str(&buf);
        queries.push(s);
    }
    sets.push(QuerySet {
        name: "domain_5_labels",
        kind: IndicatorKind::Domain,
        queries,
    });
    // URLs on an indexed domain with a new path: found through the host.
    let mut queries = Vec::with_capacity(per_set);
    for q in 0..per_set {
        if !(q % 2 == 0 && present(Shape::Domain, &mut rng, &mut buf)) {
            buf.clear();
            push_domain(&mut buf, &mut fresh);
        }
        let mut s = format!("https://{buf}/");
        let n = fresh.range(3, 12);
        push_chars(&mut s, &mut fresh, ALNUM, n);
        queries.push(s);
    }
    sets.push(QuerySet {
        name: "url_host",
        kind: IndicatorKind::Url,
        queries,
    });
    sets
}

/// A single address inside the prefix `p` (or `p` itself if it is an address).
fn host_in(p: &str, rng: &mut Rng) -> String {
    match super::ip::parse_ip(p) {
        Some(super::ip::IpKey::V4(a, l)) if l < 32 => {
            let host = (rng.next() as u32) & (u32::MAX >> l);
            Ipv4Addr::from_bits(a | host).to_string()
        }
        Some(super::ip::IpKey::V6(a, l)) if l < 128 => {
            let host = ((u128::from(rng.next()) << 64) | u128::from(rng.next())) & (u128::MAX >> l);
            Ipv6Addr::from_bits(a | host).to_string()
        }
        _ => p.split('/').next().unwrap_or(p).to_string(),
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Times each call of `f` over `queries` alone; returns the sorted times.
fn time_each(queries: &[String], mut f: impl FnMut(&str) -> usize) -> (Vec<u64>, usize) {
    let mut times = Vec::with_capacity(queries.len());
    let mut hits = 0;
    for q in queries {
        let q = black_box(q.as_str());
        // Each query is its own heap block, scattered over the bench's
        // memory: read it before the clock starts, as a server would have it
        // in cache from parsing the request, so that the figure is the
        // lookup's cost and not the cost of fetching the bench's input.
        black_box(q.bytes().fold(0u8, |a, b| a ^ b));
        let t = Instant::now();
        let n = f(q);
        times.push(t.elapsed().as_nanos() as u64);
        hits += usize::from(black_box(n) > 0);
    }
    times.sort_unstable();
    (times, hits)
}

fn time_all(queries: &[String], mut f: impl FnMut(&str) -> usize) -> f64 {
    let t = Instant::now();
    let mut acc = 0usize;
    for q in queries {
        acc = acc.wrapping_add(f(black_box(q.as_str())));
    }
    black_box(acc);
    t.elapsed().as_nanos() as f64 / queries.len().max(1) as f64
}

fn timer_overhead() -> u64 {
    let mut t: Vec<u64> = (0..10_000)
        .map(|_| {
            let s = Instant::now();
            s.elapsed().as_nanos() as u64
        })
        .collect();
    t.sort_unstable();
    percentile(&t, 0.5)
}

/// Average time of a chain of dependent reads at pseudo-random positions of
/// a buffer of about `bytes` bytes. The chain follows a full-period linear
/// congruential sequence, so it visits every slot once before repeating.
fn random_read_latency(bytes: usize) -> f64 {
    let slots = (bytes / 4).next_power_of_two() / 2;
    let mask = slots as u64 - 1;
    let next: Vec<u32> = (0..slots as u64)
        .map(|i| {
            (i.wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407)
                & mask) as u32
        })
        .collect();
    let steps = 1_000_000usize;
    let mut p = 0u32;
    let t = Instant::now();
    for _ in 0..steps {
        p = next.get(p as usize).copied().unwrap_or(0);
    }
    let ns = t.elapsed().as_nanos() as f64 / steps as f64;
    black_box(p);
    ns
}

/// Suffixes of `q` at label boundaries, longest first, with their offsets.
fn label_suffixes(q: &str) -> impl Iterator<Item = (usize, &str)> {
    std::iter::once(0)
        .chain(q.match_indices('.').map(|(i, _)| i + 1))
        .filter(move |&s| s < q.len())
        .map(move |s| (s, &q[s..]))
}

/// Runs the intel benchmark. `peak_rss` returns the process's peak resident
/// memory in bytes (the binary reads `VmHWM` from `/proc/self/status`), or
/// `None` where that is unknown.
pub fn bench_intel(params: &BenchParams, peak_rss: &dyn Fn() -> Option<u64>) -> IntelBenchReport {
    let n = params.indicators;
    let g = Generator::new(params.seed);
    let rss_start = peak_rss();

    // Generation alone, to separate its cost from the build.
    let mut buf = String::with_capacity(128);
    let mut mix: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut value_bytes = 0usize;
    let t = Instant::now();
    for i in 0..n as u64 {
        let (shape, _, _) = g.shape_of(i, &mut buf);
        value_bytes += buf.len();
        *mix.entry(shape.name()).or_default() += 1;
    }
    let gen_secs = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut b = IndexBuilder::with_capacity(n, value_bytes);
    for i in 0..n as u64 {
        let (kind, fraud, conf) = g.indicator(i, &mut buf);
        let _ = b.push(i as i64 + 1, kind, &buf, fraud, conf);
    }
    let snap = b.finish();
    let build_secs = t.elapsed().as_secs_f64();

    let sets = query_sets(n, params.seed, params.lookups);
    let overhead = timer_overhead();
    let mut lookup = Vec::new();
    for set in &sets {
        let kind = set.kind;
        let (times, hits) = time_each(&set.queries, |q| {
            snap.for_each_hit(kind, q, |h| {
                black_box(h);
            })
        });
        let mean_ns = time_all(&set.queries, |q| {
            snap.for_each_hit(kind, q, |h| {
                black_box(h);
            })
        });
        lookup.push(LookupFigures {
            name: set.name,
            kind,
            queries: set.queries.len(),
            hit_rate: hits as f64 / set.queries.len().max(1) as f64,
            median_ns: percentile(&times, 0.5),
            p99_ns: percentile(&times, 0.99),
            mean_ns,
        });
    }
    let rss_peak = peak_rss();
    let stats = snap.stats();
    let read_buffer = stats.heap_bytes.clamp(1 << 20, 1 << 30);
    let random_read_ns = random_read_latency(read_buffer as usize);
    let random_read_by_size = [4u64 << 20, 16 << 20, 64 << 20, 256 << 20]
        .into_iter()
        .filter(|&b| b < read_buffer)
        .map(|b| (b, random_read_latency(b as usize)))
        .collect();

    let five = sets
        .iter()
        .find(|s| s.name == "domain_5_labels")
        .map_or(&[][..], |s| &s.queries[..]);
    let domain_suffix_baseline = baseline(&g, n, &snap, five);

    // Save and load through memory.
    let mut file = Vec::new();
    let t = Instant::now();
    let file_bytes = snap.save(&mut file).unwrap_or(0);
    let save_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let loaded = IndexSnapshot::load(&file[..]);
    let load_secs = t.elapsed().as_secs_f64();
    drop(file);
    let load_agrees = match &loaded {
        Ok(l) => sets.iter().all(|s| {
            s.queries
                .iter()
                .all(|q| l.lookup(s.kind, q) == snap.lookup(s.kind, q))
        }),
        Err(_) => false,
    };

    IntelBenchReport {
        indicators: n,
        seed: params.seed,
        lookups_per_set: params.lookups,
        mix,
        distinct_keys: stats.keys + stats.ipv4_prefixes + stats.ipv6_prefixes,
        shared_values: stats.shared_values,
        gen_secs,
        build_secs,
        build_secs_excluding_generation: (build_secs - gen_secs).max(0.0),
        rss_start_bytes: rss_start,
        rss_peak_bytes: rss_peak,
        bytes_per_indicator: match (rss_start, rss_peak) {
            (Some(a), Some(b)) if n > 0 => Some(b.saturating_sub(a) as f64 / n as f64),
            _ => None,
        },
        index_heap_bytes: stats.heap_bytes,
        index_bytes_per_indicator: stats.heap_bytes as f64 / n.max(1) as f64,
        timer_overhead_ns: overhead,
        random_read_ns,
        random_read_buffer_bytes: read_buffer,
        random_read_by_size,
        lookup,
        domain_suffix_baseline,
        file_bytes,
        save_secs,
        load_secs,
        load_agrees,
    }
}

fn baseline(g: &Generator, n: usize, snap: &IndexSnapshot, queries: &[String]) -> BaselineFigures {
    let t = Instant::now();
    let mut set: HashSet<String> = HashSet::new();
    let mut buf = String::new();
    for i in 0..n as u64 {
        if g.shape_of(i, &mut buf).0 == Shape::Domain {
            set.insert(buf.clone());
        }
    }
    let baseline_build_secs = t.elapsed().as_secs_f64();

    let index_probe = |q: &str| {
        let mut distinct = 0usize;
        let mut last = u32::MAX;
        snap.lookup_domain(q, |h| {
            let start = match h.via {
                MatchVia::Domain { start, .. } => start,
                _ => 0,
            };
            if start != last {
                distinct += 1;
                last = start;
            }
        });
        distinct
    };
    let base_probe = |q: &str| label_suffixes(q).filter(|(_, s)| set.contains(*s)).count();

    let same_matches = queries.iter().all(|q| index_probe(q) == base_probe(q));
    let (ti, _) = time_each(queries, index_probe);
    let (tb, _) = time_each(queries, base_probe);
    let index_mean_ns = time_all(queries, index_probe);
    let baseline_mean_ns = time_all(queries, base_probe);
    let index_median_ns = percentile(&ti, 0.5);
    let baseline_median_ns = percentile(&tb, 0.5);
    BaselineFigures {
        queries: queries.len(),
        labels: 5,
        index_median_ns,
        baseline_median_ns,
        median_ratio: baseline_median_ns as f64 / index_median_ns.max(1) as f64,
        index_mean_ns,
        baseline_mean_ns,
        mean_ratio: baseline_mean_ns / index_mean_ns.max(1.0),
        baseline_build_secs,
        same_matches,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_deterministic_and_shaped() {
        let g = Generator::new(7);
        let mut a = String::new();
        let mut b = String::new();
        for i in 0..2000 {
            let ka = g.indicator(i, &mut a);
            let kb = g.indicator(i, &mut b);
            assert_eq!((ka, &a), (kb, &b));
            match ka.0 {
                IndicatorKind::Phone => assert!(a.starts_with('+'), "{a}"),
                IndicatorKind::Domain => assert!((2..=5).contains(&a.split('.').count()), "{a}"),
                IndicatorKind::Url => assert!(a.starts_with("http"), "{a}"),
                IndicatorKind::Ip => assert!(super::super::ip::parse_ip(&a).is_some(), "{a}"),
                _ => assert!(!a.is_empty()),
            }
        }
    }

    #[test]
    fn small_bench_runs_and_agrees() {
        let r = bench_intel(
            &BenchParams {
                indicators: 20_000,
                lookups: 200,
                seed: 3,
            },
            &|| None,
        );
        assert_eq!(r.indicators, 20_000);
        assert_eq!(r.mix.values().sum::<u64>(), 20_000);
        assert!(r.domain_suffix_baseline.same_matches);
        assert!(r.load_agrees);
        assert!(r.shared_values > 0);
        for l in &r.lookup {
            // Half the queries are drawn from indexed values.
            assert!(l.hit_rate >= 0.4, "{} {}", l.name, l.hit_rate);
        }
        assert_eq!(r.bytes_per_indicator, None);
    }
}
