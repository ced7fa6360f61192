//! Whole-path intel benchmark: `index::bench::bench_intel` with the peak
//! resident memory read from /proc/self/status, printed as JSON.
//!
//! cargo bench -p fanzha-engine --bench index_full -- --indicators 10000000 --lookups 200000 --seed 1
//!
//! Defaults to one million indicators so that a plain `cargo bench` stays short.

use fanzha_engine::index::bench::{BenchParams, bench_intel};

/// VmHWM (peak resident set) in bytes, where /proc is available.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn main() {
    let mut params = BenchParams {
        indicators: 1_000_000,
        ..BenchParams::default()
    };
    let args: Vec<String> = std::env::args().collect();
    for pair in args.windows(2) {
        let value = pair[1].parse::<u64>();
        match (pair[0].as_str(), value) {
            ("--indicators", Ok(v)) => params.indicators = v as usize,
            ("--lookups", Ok(v)) => params.lookups = v as usize,
            ("--seed", Ok(v)) => params.seed = v,
            _ => {}
        }
    }
    let report = bench_intel(&params, &peak_rss);
    match serde_json::to_string_pretty(&report) {
        Ok(json) => println!("{json}"),
        Err(e) => eprintln!("cannot print the report: {e}"),
    }
}
