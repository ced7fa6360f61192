//! Whole-path detection benchmark: `detect::bench::bench_engine` with the
//! peak resident memory read from /proc/self/status, printed as JSON.
//!
//! cargo bench -p fanzha-engine --bench detect_full -- --indicators 1000000 --subscribers 1000000 --events 5000000
//!
//! Defaults are the full size (one million indicators and subscribers, five
//! million structured events, half a million with SMS texts).

use fanzha_engine::detect::bench::{EngineBenchParams, bench_engine_probed};

/// VmHWM (peak resident set) in bytes, where /proc is available.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// This thread's CPU time in ns (first field of schedstat), where /proc is available.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn main() {
    let mut params = EngineBenchParams::default();
    let args: Vec<String> = std::env::args().collect();
    for pair in args.windows(2) {
        let value = pair[1].parse::<u64>();
        match (pair[0].as_str(), value) {
            ("--indicators", Ok(v)) => params.indicators = v as usize,
            ("--subscribers", Ok(v)) => params.subscribers = v as usize,
            ("--events", Ok(v)) => params.events = v as usize,
            ("--text-events", Ok(v)) => params.text_events = v as usize,
            ("--hit-per-mille", Ok(v)) => params.hit_per_mille = v as u32,
            ("--span-hours", Ok(v)) => params.span_hours = v as u32,
            ("--seed", Ok(v)) => params.seed = v,
            _ => {}
        }
    }
    let report = bench_engine_probed(&params, &peak_rss, &thread_cpu_ns);
    match serde_json::to_string_pretty(&report) {
        Ok(json) => println!("{json}"),
        Err(e) => eprintln!("cannot print the report: {e}"),
    }
}
