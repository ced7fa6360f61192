//! Detection kernels: `Detector::process_into` over a generated stream
//! (structured events, and SMS with texts), and `parse_event_line`.
//!
//! The stream cycles through 65 536 pre-generated events over an index of
//! 200 000 indicators and 100 000 subscribers, about 3 % with a flagged
//! counterparty; state persists across iterations, as in production. The
//! full-size run (one million indicators and subscribers, latency
//! percentiles, memory) is `detect_full` (`fanzha bench engine`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fanzha_core::Timestamp;
use fanzha_core::event::{ParseOptions, parse_event_line};
use fanzha_engine::detect::bench::bench_world;
use fanzha_engine::detect::{DetectContext, Detector, Outcome, default_rules};
use fanzha_engine::text::{CombineParams, Lexicon, TextClassifier};

const EVENTS: usize = 1 << 16;

fn process(c: &mut Criterion) {
    let rules = Arc::new(default_rules().unwrap());
    let mut group = c.benchmark_group("detect_process");
    group
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(1));
    let world = bench_world(200_000, 100_000, EVENTS, 30, false, 7);
    let ctx = DetectContext::new(&world.index);
    let mut det = Detector::new(rules.clone());
    let mut out = Outcome::default();
    let mut i = 0usize;
    group.bench_function("structured", |b| {
        b.iter(|| {
            let (ev, attrs) = &world.events[i % EVENTS];
            det.process_into(&ctx, black_box(ev), i as u64, attrs, &mut out);
            i = i.wrapping_add(1);
            black_box(out.signals.len())
        })
    });
    let texts = bench_world(200_000, 100_000, EVENTS, 30, true, 8);
    let clf = TextClassifier::new(Lexicon::builtin().unwrap(), None, CombineParams::default());
    let tctx = DetectContext::new(&texts.index).with_classifier(&clf);
    let mut tdet = Detector::new(rules);
    let mut j = 0usize;
    group.bench_function("with_sms_text", |b| {
        b.iter(|| {
            let (ev, attrs) = &texts.events[j % EVENTS];
            tdet.process_into(&tctx, black_box(ev), j as u64, attrs, &mut out);
            j = j.wrapping_add(1);
            black_box(out.signals.len())
        })
    });
    group.finish();
}

fn parse(c: &mut Criterion) {
    let world = bench_world(1_000, 10_000, 4096, 30, true, 9);
    let lines: Vec<String> = world.events.iter().map(|(e, _)| e.to_json_line()).collect();
    let opts = ParseOptions::at(Timestamp(4_000_000_000_000));
    let mut group = c.benchmark_group("detect_parse");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(1));
    let mut i = 0usize;
    group.bench_function("parse_event_line", |b| {
        b.iter(|| {
            let l = &lines[i % lines.len()];
            i = i.wrapping_add(1);
            black_box(parse_event_line(black_box(l.as_bytes()), &opts).is_ok())
        })
    });
    group.finish();
}

criterion_group!(benches, process, parse);
criterion_main!(benches);
