//! `fanzha bench engine`: matching and scoring in-process
//! ([`fanzha_engine::detect::bench::bench_engine_probed`]). Generates the
//! indicators (1 million by default), a population of subscribers and a
//! mixed event stream, runs the detector on one thread and prints one JSON
//! object: the headline figures at the top level (structured events, per
//! core from this thread's CPU time, latency, peak RSS, risk-state bytes per
//! tracked person) and the engine's full report under `report`.

use anyhow::{Result, ensure};
use clap::Args;
use fanzha_engine::detect::bench::{EngineBenchParams, EngineBenchReport, bench_engine_probed};
use serde::Serialize;

#[derive(Args)]
pub struct EngineArgs {
    /// Indicators to generate and index.
    #[arg(long, default_value_t = 1_000_000)]
    indicators: usize,
    /// Distinct subscribers the events are about.
    #[arg(long, default_value_t = 1_000_000)]
    subscribers: usize,
    /// Structured events (no texts) in the headline run.
    #[arg(long, default_value_t = 5_000_000)]
    events: usize,
    /// Events in the second run, where every SMS carries a text.
    #[arg(long, default_value_t = 500_000)]
    text_events: usize,
    /// Events per thousand whose counterparty is a flagged value.
    #[arg(long, default_value_t = 30)]
    hit_per_mille: u32,
    /// Simulated hours the structured stream spans.
    #[arg(long, default_value_t = 72)]
    span_hours: u32,
    /// Seed of the generator.
    #[arg(long, default_value_t = 20_240_601)]
    seed: u64,
    /// Print one JSON object on one line (pretty-printed otherwise).
    #[arg(long)]
    json: bool,
}

/// VmHWM (peak resident set) in bytes, where /proc is available.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The calling thread's time on a CPU in nanoseconds (first field of
/// /proc/thread-self/schedstat).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[derive(Serialize)]
struct Figures {
    bench: &'static str,
    indicators: usize,
    subscribers: usize,
    /// Share of events per kind, in percent, and the rate of flagged counterparties.
    mix: std::collections::BTreeMap<&'static str, f64>,
    hit_per_mille: u32,
    signal_rate: f64,
    events: u64,
    /// Structured events over wall-clock time of the timed loop.
    events_per_sec: f64,
    /// Structured events per CPU-second of the one thread that ran them.
    events_per_sec_per_core: f64,
    p50_us: f64,
    p99_us: f64,
    peak_rss_bytes: Option<u64>,
    persons_tracked: u64,
    /// Allocated bytes of the risk-state table and records over the persons tracked.
    state_bytes_per_person: f64,
    /// The fixed size of one person's record.
    record_bytes: usize,
    /// The same mix with a text on every SMS (lexicon classifier), per core.
    with_sms_text_events_per_sec_per_core: f64,
    target_events_per_sec_per_core: f64,
    target_state_bytes_per_person: f64,
    meets_targets: bool,
    report: EngineBenchReport,
}

pub fn run(a: EngineArgs) -> Result<()> {
    ensure!(a.events > 0, "--events must be positive");
    ensure!(a.subscribers > 0, "--subscribers must be positive");
    ensure!(a.hit_per_mille <= 1000, "--hit-per-mille is at most 1000");
    let params = EngineBenchParams {
        indicators: a.indicators,
        subscribers: a.subscribers,
        events: a.events,
        text_events: a.text_events,
        hit_per_mille: a.hit_per_mille,
        span_hours: a.span_hours,
        seed: a.seed,
    };
    // The timed loops run on this thread, so its CPU time is theirs.
    let r = bench_engine_probed(&params, &peak_rss, &thread_cpu_ns);
    const EPS_TARGET: f64 = 1_000_000.0;
    const BYTES_TARGET: f64 = 200.0;
    let s = &r.structured;
    let f = Figures {
        bench: "engine",
        indicators: r.indicators,
        subscribers: r.subscribers,
        mix: r.mix.clone(),
        hit_per_mille: r.hit_per_mille,
        signal_rate: r.signal_rate,
        events: s.events,
        events_per_sec: s.events_per_sec,
        events_per_sec_per_core: s.events_per_sec_per_core,
        p50_us: s.p50_us,
        p99_us: s.p99_us,
        peak_rss_bytes: r.peak_rss_bytes,
        persons_tracked: r.persons_tracked,
        state_bytes_per_person: r.state_bytes_per_person,
        record_bytes: r.record_bytes,
        with_sms_text_events_per_sec_per_core: r.with_sms_text.events_per_sec_per_core,
        target_events_per_sec_per_core: EPS_TARGET,
        target_state_bytes_per_person: BYTES_TARGET,
        meets_targets: s.events_per_sec_per_core >= EPS_TARGET && r.state_bytes_per_person <= BYTES_TARGET,
        report: r,
    };
    if a.json {
        println!("{}", serde_json::to_string(&f)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&f)?);
    }
    Ok(())
}
