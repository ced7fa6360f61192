//! `fanzha bench engine`: matching and scoring throughput, per-event latency
//! and risk-state memory on a generated stream.
//!
//! Builds an index of generated indicators ([`crate::index::bench::build_mixed`]),
//! a population of subscribers with ages and tags, and a mixed event stream
//! (by default 60 % calls, 20 % SMS, 10 % web, 5 % app, 5 % transfers; about
//! 3 % of events have a flagged counterparty, plus international calls,
//! remote-control apps and large transfers at realistic rates). It then runs
//! the detector single-threaded:
//!
//! * **structured**: every event without text (the headline figure);
//! * **with_sms_text**: the same mix where every SMS carries a text for the
//!   lexicon classifier (5 % of them fraud-like), with a fresh detector.
//!
//! Events are generated in chunks outside the timed loop; the timed loop is
//! `process_into` (plus `evict_idle` once per simulated hour). Every 64th
//! event is also timed alone for the latency percentiles.
//!
//! Measuring time with `Instant` is the one clock reading here; memory comes
//! from the probe the caller passes in (the binary reads `/proc/self/status`).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use fanzha_core::event::{
    AccountRef, AppAction, AppEvent, Call, Direction, Event, EventBody, Party, Sms, Transfer, Web,
};
use fanzha_core::{IndicatorKind, Timestamp};
use serde::Serialize;

use super::engine::{DetectContext, Detector, Outcome};
use super::rules::default_rules;
use super::score::PersonAttrs;
use crate::index::bench::{Generator, build_mixed};
use crate::text::{CombineParams, Lexicon, TextClassifier};

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineBenchParams {
    pub indicators: usize,
    pub subscribers: usize,
    /// Events in the structured run.
    pub events: usize,
    /// Events in the run with SMS texts.
    pub text_events: usize,
    /// Events per thousand whose counterparty is a flagged value.
    pub hit_per_mille: u32,
    /// Simulated time the structured stream spans, in hours.
    pub span_hours: u32,
    pub seed: u64,
}

impl Default for EngineBenchParams {
    fn default() -> Self {
        EngineBenchParams {
            indicators: 1_000_000,
            subscribers: 1_000_000,
            events: 5_000_000,
            text_events: 500_000,
            hit_per_mille: 30,
            span_hours: 72,
            seed: 20_240_601,
        }
    }
}

/// Figures of one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunFigures {
    pub events: u64,
    pub secs: f64,
    /// Events over wall-clock time.
    pub events_per_sec: f64,
    /// This thread's CPU time in the timed loops, when the caller passed a
    /// CPU-time probe (on a loaded machine wall time overstates the cost).
    pub cpu_secs: Option<f64>,
    /// Events per CPU-second of the one thread that ran them (wall time when
    /// there is no CPU probe).
    pub events_per_sec_per_core: f64,
    /// Per-event latency, every 64th event timed alone (includes `timer_overhead_ns`).
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub events_with_signals: u64,
    pub signals: u64,
    pub leads_raised: u64,
    pub leads_updated: u64,
    pub texts_classified: u64,
    pub evictions: u64,
    pub evict_secs: f64,
    pub persons_tracked_end: u64,
    pub persons_tracked_max: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct EngineBenchReport {
    pub indicators: usize,
    pub subscribers: usize,
    pub seed: u64,
    /// Share of events per kind, in percent.
    pub mix: BTreeMap<&'static str, f64>,
    pub hit_per_mille: u32,
    /// Share of structured events that raised at least one signal.
    pub signal_rate: f64,
    pub span_hours: u32,
    pub index_build_secs: f64,
    pub rules_version: u32,
    pub timer_overhead_ns: u64,
    /// The headline: matching and scoring of structured events.
    pub structured: RunFigures,
    /// The same mix with a text on every SMS (lexicon classifier).
    pub with_sms_text: RunFigures,
    /// Mean cost of one classification of the bench texts.
    pub classify_mean_us: f64,
    /// Share of the text run's time spent classifying.
    pub classifier_share: f64,
    pub persons_tracked: u64,
    /// Allocated bytes of the risk-state table and records at the end of the
    /// structured run, divided by the persons tracked.
    pub state_bytes: u64,
    pub state_bytes_per_person: f64,
    /// The fixed size of one person's record.
    pub record_bytes: usize,
    pub rss_start_bytes: Option<u64>,
    pub peak_rss_bytes: Option<u64>,
    pub leads_raised: u64,
}

/// splitmix64.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn pct(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

/// Flagged values from the index, by what events can carry.
#[derive(Default)]
struct Flagged {
    phones: Vec<String>,
    urls: Vec<String>,
    domains: Vec<String>,
    packages: Vec<String>,
    certs: Vec<String>,
    banks: Vec<String>,
    payments: Vec<String>,
}

fn flagged_values(n: usize, seed: u64, per_kind: usize) -> Flagged {
    let g = Generator::new(seed);
    let mut f = Flagged::default();
    let mut buf = String::new();
    for i in 0..n as u64 {
        let (kind, _, _) = g.indicator(i, &mut buf);
        let v = match kind {
            IndicatorKind::Phone => &mut f.phones,
            IndicatorKind::Url => &mut f.urls,
            IndicatorKind::Domain => &mut f.domains,
            IndicatorKind::App if buf.starts_with("pkg:") => &mut f.packages,
            IndicatorKind::App if buf.starts_with("cert:") => &mut f.certs,
            IndicatorKind::BankAccount => &mut f.banks,
            IndicatorKind::PaymentAccount => &mut f.payments,
            _ => continue,
        };
        if v.len() < per_kind {
            let s = buf
                .strip_prefix("pkg:")
                .or_else(|| buf.strip_prefix("cert:"))
                .unwrap_or(&buf);
            v.push(s.to_owned());
        }
    }
    f
}

const BENIGN: [&str; 8] = [
    "明天上午九点在村委会开会，请准时参加。",
    "您的快递已放驿站，请凭取件码取件。",
    "晚饭回家吃吗？我买了鱼。",
    "本周六社区卫生服务中心免费量血压，欢迎参加。",
    "您本月话费账单已出，详情可登录营业厅查询。",
    "孩子今天下午四点放学，记得去接。",
    "会议改到周三下午两点，地点不变。",
    "您预约的体检时间为下周一上午八点。",
];

const FRAUDY: [&str; 6] = [
    "您涉嫌洗钱，请把资金转入安全账户配合调查",
    "兼职刷单，日结佣金，添加QQ领取任务",
    "您的征信有问题，需要注销校园贷账户，否则影响征信",
    "低息贷款无抵押当天放款，先交保证金即可",
    "您网购的商品有质量问题，客服为您办理退款，请提供验证码",
    "内部消息，跟着导师投资稳赚不赔，收益翻倍",
];

const REMOTE: [&str; 4] = [
    "com.oray.sunlogin",
    "com.teamviewer.quicksupport.market",
    "com.tencent.wemeet.app",
    "com.anydesk.anydeskandroid",
];

/// The population: phone numbers and attributes.
struct Population {
    phones: Vec<String>,
    attrs: Vec<PersonAttrs>,
}

fn population(n: usize, seed: u64) -> Population {
    let mut rng = Rng(seed ^ 0xB0B);
    let mut phones = Vec::with_capacity(n);
    let mut attrs = Vec::with_capacity(n);
    for i in 0..n {
        phones.push(format!("+86150{:08}", i % 100_000_000));
        let age = 14 + rng.below(75) as u8;
        let mut tags = Vec::new();
        if age >= 65 && rng.pct(20) {
            tags.push("独居老人".to_owned());
        }
        if age < 23 && rng.pct(40) {
            tags.push("学生".to_owned());
        }
        // One in ten subscribers has no resident record.
        attrs.push(if rng.pct(10) {
            PersonAttrs::default()
        } else {
            PersonAttrs { age: Some(age), tags }
        });
    }
    Population { phones, attrs }
}

struct StreamGen<'a> {
    rng: Rng,
    flagged: &'a Flagged,
    pop: &'a Population,
    hit_per_mille: u64,
    texts: bool,
    t0: i64,
    step_ms: f64,
    n: u64,
}

fn pick<'v>(rng: &mut Rng, v: &'v [String]) -> Option<&'v str> {
    if v.is_empty() {
        None
    } else {
        Some(&v[rng.below(v.len() as u64) as usize])
    }
}

impl StreamGen<'_> {
    /// The next event and its subscriber's index.
    fn next(&mut self) -> (Event, usize) {
        let r = &mut self.rng;
        let sub = r.below(self.pop.phones.len() as u64) as usize;
        let me = self.pop.phones[sub].clone();
        let hit = r.below(1000) < self.hit_per_mille;
        let ts = Timestamp(self.t0 + (self.n as f64 * self.step_ms) as i64);
        self.n += 1;
        let random_phone = |r: &mut Rng| format!("+86139{:08}", r.below(100_000_000));
        let f = self.flagged;
        let body = match r.below(100) {
            0..60 => {
                let peer = if hit {
                    pick(r, &f.phones).map_or_else(|| random_phone(r), str::to_owned)
                } else if r.pct(1) {
                    format!("+1212555{:04}", r.below(10_000))
                } else {
                    random_phone(r)
                };
                let direction = if r.pct(80) { Direction::In } else { Direction::Out };
                let duration_s = if r.pct(15) { 0 } else { r.below(1200) as u32 };
                let (caller, callee) = match direction {
                    Direction::In => (peer, me),
                    Direction::Out => (me, peer),
                };
                EventBody::Call(Call {
                    caller,
                    callee,
                    direction,
                    start: ts,
                    duration_s,
                    transcript: None,
                })
            }
            60..80 => {
                let sender = if hit {
                    pick(r, &f.phones).map_or_else(|| random_phone(r), str::to_owned)
                } else {
                    format!("+86106{:08}", r.below(100_000_000))
                };
                let text = self.texts.then(|| {
                    if r.pct(5) {
                        FRAUDY[r.below(FRAUDY.len() as u64) as usize].to_owned()
                    } else {
                        BENIGN[r.below(BENIGN.len() as u64) as usize].to_owned()
                    }
                });
                EventBody::Sms(Sms {
                    sender,
                    receiver: me,
                    text,
                })
            }
            80..90 => {
                let (url, domain) = if hit && r.pct(50) {
                    let u = pick(r, &f.urls).map(str::to_owned);
                    (u, None)
                } else if hit {
                    (None, pick(r, &f.domains).map(str::to_owned))
                } else {
                    let d = format!("site{}.example.com", r.below(1_000_000));
                    (Some(format!("https://{d}/p/{}", r.below(1000))), Some(d))
                };
                let (url, domain) = if url.is_none() && domain.is_none() {
                    (Some("https://www.example.com/".to_owned()), None)
                } else {
                    (url, domain)
                };
                EventBody::Web(Web {
                    subscriber: me,
                    url,
                    domain,
                    ip: r
                        .pct(30)
                        .then(|| format!("198.51.{}.{}", r.below(256), r.below(256))),
                })
            }
            90..95 => {
                let (package, cert) = if hit && r.pct(70) {
                    (pick(r, &f.packages).map(str::to_owned), None)
                } else if hit {
                    (
                        Some(format!("com.example.app{}", r.below(100_000))),
                        pick(r, &f.certs).map(str::to_owned),
                    )
                } else if r.pct(3) {
                    (
                        Some(REMOTE[r.below(REMOTE.len() as u64) as usize].to_owned()),
                        None,
                    )
                } else {
                    (Some(format!("com.example.app{}", r.below(100_000))), None)
                };
                let package = package.or_else(|| Some("com.example.app".to_owned()));
                EventBody::App(AppEvent {
                    subscriber: me,
                    package,
                    cert_sha256: cert,
                    apk_sha256: None,
                    action: match r.below(10) {
                        0..6 => AppAction::Open,
                        6..9 => AppAction::Install,
                        _ => AppAction::Uninstall,
                    },
                })
            }
            _ => {
                let payee = if hit && r.pct(60) {
                    pick(r, &f.banks).map(|v| AccountRef {
                        kind: IndicatorKind::BankAccount,
                        value: v.to_owned(),
                    })
                } else if hit {
                    pick(r, &f.payments).map(|v| AccountRef {
                        kind: IndicatorKind::PaymentAccount,
                        value: v.to_owned(),
                    })
                } else {
                    None
                };
                let payee = payee.unwrap_or_else(|| AccountRef {
                    kind: IndicatorKind::BankAccount,
                    value: format!("62220200{:011}", r.below(100_000_000_000)),
                });
                let amount_fen = if r.pct(10) {
                    500_000 + r.below(5_000_000) as i64
                } else {
                    1_000 + r.below(200_000) as i64
                };
                EventBody::Transfer(Transfer {
                    payer: Party::Phone(me),
                    payee,
                    amount_fen,
                    channel: String::new(),
                })
            }
        };
        (
            Event {
                id: String::new(),
                ts,
                source: String::new(),
                body,
            },
            sub,
        )
    }
}

/// A generated index and event stream, for kernel benchmarks and tests.
pub struct BenchWorld {
    pub index: crate::index::IndexSnapshot,
    /// Events with their subscriber's attributes.
    pub events: Vec<(Event, PersonAttrs)>,
}

/// Generates `events` events of the bench mix over an index of
/// `indicators` indicators and `subscribers` subscribers (SMS with texts
/// when `texts`).
pub fn bench_world(
    indicators: usize,
    subscribers: usize,
    events: usize,
    hit_per_mille: u32,
    texts: bool,
    seed: u64,
) -> BenchWorld {
    let index = build_mixed(indicators, seed);
    let flagged = flagged_values(indicators, seed, 50_000);
    let pop = population(subscribers.max(1), seed);
    let mut g = StreamGen {
        rng: Rng(seed),
        flagged: &flagged,
        pop: &pop,
        hit_per_mille: u64::from(hit_per_mille),
        texts,
        t0: 1_717_200_000_000,
        step_ms: 50.0,
        n: 0,
    };
    let events = (0..events)
        .map(|_| {
            let (e, s) = g.next();
            (e, pop.attrs[s].clone())
        })
        .collect();
    BenchWorld { index, events }
}

fn timer_overhead() -> u64 {
    let mut v: Vec<u64> = (0..10_001)
        .map(|_| {
            let t = Instant::now();
            black_box(());
            t.elapsed().as_nanos() as u64
        })
        .collect();
    v.sort_unstable();
    v[v.len() / 2]
}

fn pct_us(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

const CHUNK: usize = 1 << 16;

#[allow(clippy::too_many_arguments)]
fn run(
    cpu_ns: &dyn Fn() -> Option<u64>,
    ctx: &DetectContext<'_>,
    det: &mut Detector,
    gen_: &mut StreamGen<'_>,
    pop: &Population,
    events: usize,
    max_tracked: &mut u64,
) -> RunFigures {
    let mut out = Outcome::default();
    let mut lat: Vec<u64> = Vec::with_capacity(events / 64 + 1);
    let mut busy_ns = 0u128;
    let mut evict_ns = 0u128;
    let mut done = 0usize;
    let mut chunk: Vec<(Event, usize)> = Vec::with_capacity(CHUNK);
    let mut next_evict: Option<i64> = None;
    let mut evictions = 0u64;
    let mut cpu_total: Option<u64> = Some(0);
    while done < events {
        chunk.clear();
        let n = CHUNK.min(events - done);
        chunk.extend((0..n).map(|_| gen_.next()));
        let c0 = cpu_ns();
        let t = Instant::now();
        for (k, (ev, sub)) in chunk.iter().enumerate() {
            let seq = (done + k) as u64;
            if k % 64 == 0 {
                let t1 = Instant::now();
                det.process_into(ctx, ev, seq, &pop.attrs[*sub], &mut out);
                lat.push(t1.elapsed().as_nanos() as u64);
            } else {
                det.process_into(ctx, ev, seq, &pop.attrs[*sub], &mut out);
            }
            black_box(&out);
            let ts = ev.ts.0;
            match next_evict {
                None => next_evict = Some(ts + 3_600_000),
                Some(at) if ts >= at => {
                    *max_tracked = (*max_tracked).max(det.persons_tracked() as u64);
                    let te = Instant::now();
                    evictions += det.evict_idle(ev.ts) as u64;
                    evict_ns += te.elapsed().as_nanos();
                    next_evict = Some(ts + 3_600_000);
                }
                _ => {}
            }
        }
        busy_ns += t.elapsed().as_nanos();
        cpu_total = match (cpu_total, c0, cpu_ns()) {
            (Some(acc), Some(a), Some(b)) => Some(acc + b.saturating_sub(a)),
            _ => None,
        };
        done += n;
    }
    *max_tracked = (*max_tracked).max(det.persons_tracked() as u64);
    lat.sort_unstable();
    let secs = busy_ns as f64 / 1e9;
    let eps = events as f64 / secs.max(1e-9);
    let cpu_secs = cpu_total.map(|ns| ns as f64 / 1e9);
    let st = det.stats();
    RunFigures {
        events: events as u64,
        secs,
        events_per_sec: eps,
        cpu_secs,
        events_per_sec_per_core: cpu_secs.map_or(eps, |c| events as f64 / c.max(1e-9)),
        p50_us: pct_us(&lat, 0.5),
        p99_us: pct_us(&lat, 0.99),
        p999_us: pct_us(&lat, 0.999),
        max_us: lat.last().map_or(0.0, |v| *v as f64 / 1000.0),
        events_with_signals: st.events_with_signals,
        signals: st.signals,
        leads_raised: st.leads_raised,
        leads_updated: st.leads_updated,
        texts_classified: st.texts_classified,
        evictions,
        evict_secs: evict_ns as f64 / 1e9,
        persons_tracked_end: det.persons_tracked() as u64,
        persons_tracked_max: *max_tracked,
    }
}

/// Runs the engine benchmark. `rss_probe` returns the process's peak
/// resident memory in bytes, or `None` where that is unknown.
pub fn bench_engine(params: &EngineBenchParams, rss_probe: &dyn Fn() -> Option<u64>) -> EngineBenchReport {
    bench_engine_probed(params, rss_probe, &|| None)
}

/// [`bench_engine`] with a probe for the calling thread's CPU time in
/// nanoseconds (the binary reads `/proc/thread-self/schedstat`), so that
/// per-core throughput is right on a machine other work is loading.
pub fn bench_engine_probed(
    params: &EngineBenchParams,
    rss_probe: &dyn Fn() -> Option<u64>,
    cpu_ns_probe: &dyn Fn() -> Option<u64>,
) -> EngineBenchReport {
    let rss_start = rss_probe();
    let t = Instant::now();
    let index = build_mixed(params.indicators, params.seed);
    let index_build_secs = t.elapsed().as_secs_f64();
    let flagged = flagged_values(params.indicators, params.seed, 50_000);
    let pop = population(params.subscribers.max(1), params.seed);
    // The embedded rules are part of the program; a unit test compiles them.
    let rules = match default_rules() {
        Ok(r) => Arc::new(r),
        Err(e) => panic!("the embedded default rules are invalid: {e}"),
    };
    let ctx = DetectContext::new(&index);
    let overhead = timer_overhead();

    let span_ms = f64::from(params.span_hours.max(1)) * 3_600_000.0;
    let t0 = 1_717_200_000_000i64;
    let mut det = Detector::new(rules.clone());
    let mut g = StreamGen {
        rng: Rng(params.seed),
        flagged: &flagged,
        pop: &pop,
        hit_per_mille: u64::from(params.hit_per_mille),
        texts: false,
        t0,
        step_ms: span_ms / params.events.max(1) as f64,
        n: 0,
    };
    let mut max_tracked = 0u64;
    let structured = run(
        cpu_ns_probe,
        &ctx,
        &mut det,
        &mut g,
        &pop,
        params.events,
        &mut max_tracked,
    );
    let persons = det.persons_tracked() as u64;
    let state_bytes = det.state_bytes() as u64;

    // The same mix with texts, fresh state, same simulated rate.
    let lexicon = Lexicon::builtin().ok();
    let classifier = lexicon.map(|l| TextClassifier::new(l, None, CombineParams::default()));
    let tctx = match &classifier {
        Some(c) => DetectContext::new(&index).with_classifier(c),
        None => DetectContext::new(&index),
    };
    let mut tdet = Detector::new(rules.clone());
    let mut tg = StreamGen {
        rng: Rng(params.seed ^ 0x7E47),
        texts: true,
        n: 0,
        ..g
    };
    let mut tmax = 0u64;
    let with_sms_text = run(
        cpu_ns_probe,
        &tctx,
        &mut tdet,
        &mut tg,
        &pop,
        params.text_events,
        &mut tmax,
    );
    let classify_mean_us = match &classifier {
        Some(c) => {
            let texts: Vec<&str> = BENIGN.iter().chain(FRAUDY.iter()).copied().collect();
            let reps = 20_000usize;
            let c0 = cpu_ns_probe();
            let t = Instant::now();
            for i in 0..reps {
                black_box(c.classify(black_box(texts[i % texts.len()])));
            }
            let wall = t.elapsed().as_secs_f64();
            let secs = match (c0, cpu_ns_probe()) {
                (Some(a), Some(b)) => b.saturating_sub(a) as f64 / 1e9,
                _ => wall,
            };
            secs * 1e6 / reps as f64
        }
        None => 0.0,
    };
    let text_secs = with_sms_text.cpu_secs.unwrap_or(with_sms_text.secs);
    let classifier_share =
        (with_sms_text.texts_classified as f64 * classify_mean_us / 1e6 / text_secs.max(1e-9)).min(1.0);

    let mut mix = BTreeMap::new();
    for (k, v) in [
        ("call", 60.0),
        ("sms", 20.0),
        ("web", 10.0),
        ("app", 5.0),
        ("transfer", 5.0),
    ] {
        mix.insert(k, v);
    }
    EngineBenchReport {
        indicators: params.indicators,
        subscribers: params.subscribers,
        seed: params.seed,
        mix,
        hit_per_mille: params.hit_per_mille,
        signal_rate: structured.events_with_signals as f64 / structured.events.max(1) as f64,
        span_hours: params.span_hours,
        index_build_secs,
        rules_version: rules.version,
        timer_overhead_ns: overhead,
        leads_raised: structured.leads_raised,
        structured,
        with_sms_text,
        classify_mean_us,
        classifier_share,
        persons_tracked: persons,
        state_bytes,
        state_bytes_per_person: state_bytes as f64 / persons.max(1) as f64,
        record_bytes: Detector::record_bytes(),
        rss_start_bytes: rss_start,
        peak_rss_bytes: rss_probe(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bench_runs() {
        let r = bench_engine(
            &EngineBenchParams {
                indicators: 20_000,
                subscribers: 5_000,
                events: 100_000,
                text_events: 5_000,
                hit_per_mille: 30,
                span_hours: 24,
                seed: 5,
            },
            &|| None,
        );
        assert_eq!(r.structured.events, 100_000);
        // About 3 % flagged counterparts plus behaviour signals.
        assert!(r.signal_rate > 0.015 && r.signal_rate < 0.08, "{}", r.signal_rate);
        assert!(r.structured.leads_raised > 0);
        assert!(r.persons_tracked > 0);
        assert!(r.with_sms_text.texts_classified > 0);
        assert_eq!(r.record_bytes, 176);
        assert!(r.structured.p50_us <= r.structured.p99_us);
    }
}
