//! Intel index lookups per kind, on a generated mix of 500 000 indicators.
//!
//! Each benchmark cycles through 4 096 queries (about half of them hits), so
//! after warm-up the slots they touch sit in cache: these figures are the
//! lookup's own work. The full-size measurement with cold, random queries
//! over 10 million indicators is `index_full` (`fanzha bench intel`), which
//! also reports this machine's random-read latency for comparison.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use fanzha_engine::index::bench::{build_mixed, query_sets};

const N: usize = 500_000;
const SEED: u64 = 42;

fn lookups(c: &mut Criterion) {
    let snap = build_mixed(N, SEED);
    let sets = query_sets(N, SEED, 4096);
    let mut group = c.benchmark_group("index_lookup");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for set in &sets {
        let kind = set.kind;
        let mut i = 0usize;
        group.bench_function(set.name, |b| {
            b.iter(|| {
                let q = &set.queries[i % set.queries.len()];
                i = i.wrapping_add(1);
                snap.for_each_hit(kind, black_box(q), |h| {
                    black_box(h);
                })
            })
        });
    }
    group.finish();
}

fn build(c: &mut Criterion) {
    let mut group = c.benchmark_group("index_build");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.bench_function("mixed_100k", |b| b.iter(|| build_mixed(black_box(100_000), SEED)));
    group.finish();
}

criterion_group!(benches, lookups, build);
criterion_main!(benches);
