//! `fanzha bench intel`: the compiled intel index at scale
//! ([`fanzha_engine::index::bench::bench_intel`]): a realistic mix of
//! generated indicators, build time, memory per indicator (from the peak
//! resident set in /proc/self/status), per-kind lookup latency and the
//! domain-suffix comparison with a plain hash set, printed as JSON.

use anyhow::Result;
use clap::Args;
use fanzha_engine::index::bench::{BenchParams, bench_intel};

#[derive(Args)]
pub struct IntelArgs {
    /// Indicators to generate and index.
    #[arg(long, default_value_t = 10_000_000)]
    indicators: usize,
    /// Timed lookups per query set.
    #[arg(long, default_value_t = 200_000)]
    lookups: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 20_240_601)]
    seed: u64,
    /// Print the figures as one JSON object (pretty-printed otherwise).
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

pub fn run(args: IntelArgs) -> Result<()> {
    let params = BenchParams {
        indicators: args.indicators,
        lookups: args.lookups,
        seed: args.seed,
    };
    let report = bench_intel(&params, &peak_rss);
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
