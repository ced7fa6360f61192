//! Normalisation kernels: these run on every event, so the already-canonical
//! fast path and the common messy forms are measured separately.

use criterion::{Criterion, criterion_group, criterion_main};
use fanzha_core::IndicatorKind;
use fanzha_core::{domain, indicator, phone, url};
use std::hint::black_box;

fn bench_phone(c: &mut Criterion) {
    let mut g = c.benchmark_group("phone");
    for (name, input) in [
        ("canonical_mobile", "+8613812345678"),
        ("bare_mobile", "13812345678"),
        ("messy_mobile", "+86 (138) 1234-5678"),
        ("landline", "0571-8888 1234"),
        ("service", "400-123-4567"),
        ("international", "+886 2 2182 1318"),
    ] {
        g.bench_function(format!("normalize/{name}"), |b| {
            b.iter(|| phone::normalize(black_box(input)))
        });
    }
    g.bench_function("normalize_cow/canonical_mobile", |b| {
        b.iter(|| phone::normalize_cow(black_box("+8613812345678")).map(|c| c.len()))
    });
    g.bench_function("classify/mobile", |b| {
        b.iter(|| phone::classify(black_box("+8613812345678")))
    });
    g.finish();
}

fn bench_domain(c: &mut Criterion) {
    let mut g = c.benchmark_group("domain");
    for (name, input) in [
        ("canonical", "www.example.com.cn"),
        ("upper_case", "WWW.Example.COM.cn"),
        ("idn", "www.例子.中国"),
        ("punycode", "www.xn--fsqu00a.xn--fiqs8s"),
    ] {
        g.bench_function(format!("normalize/{name}"), |b| {
            b.iter(|| domain::normalize(black_box(input)))
        });
    }
    g.bench_function("normalize_cow/canonical", |b| {
        b.iter(|| domain::normalize_cow(black_box("www.example.com.cn")).map(|c| c.len()))
    });
    g.bench_function("registrable_domain", |b| {
        b.iter(|| domain::registrable_domain(black_box("a.b.www.example.com.cn")))
    });
    g.finish();
}

fn bench_url(c: &mut Criterion) {
    let mut g = c.benchmark_group("url");
    for (name, input) in [
        ("canonical", "http://www.example.com/login/index.html?id=42"),
        ("no_scheme", "7kfx4.com/LM9H"),
        (
            "messy",
            "HTTP://User@WWW.Example.COM:80/a/./b/../c//d?x=%2541#frag",
        ),
        (
            "escaped",
            "http://%65%78%61%6d%70%6c%65%2e%63%6f%6d/%25%32%35%2E%73%65%63",
        ),
        ("ip_hex", "http://0xc37f000b/uploads/%20%20/.verify/"),
    ] {
        g.bench_function(format!("canonicalize/{name}"), |b| {
            b.iter(|| url::canonicalize(black_box(input)))
        });
    }
    g.finish();
}

fn bench_detect(c: &mut Criterion) {
    let mut g = c.benchmark_group("detect");
    for (name, input) in [
        ("phone", "138 1234 5678"),
        ("url", "example.com/login.html"),
        ("domain", "www.example.com"),
        ("account", "wechat:abc123"),
    ] {
        g.bench_function(name, |b| b.iter(|| indicator::detect(black_box(input))));
    }
    g.bench_function("normalize_cow/phone_canonical", |b| {
        b.iter(|| {
            indicator::normalize_cow(IndicatorKind::Phone, black_box("+8613812345678")).map(|c| c.len())
        })
    });
    g.finish();
}

/// Trivial work on the same inputs, to quote the kernels as ratios that
/// hold on a busy machine: copying a string, and ASCII-lower-casing one.
fn bench_baseline(c: &mut Criterion) {
    let mut g = c.benchmark_group("baseline");
    g.bench_function("to_owned/phone", |b| {
        b.iter(|| black_box("+8613812345678").to_owned())
    });
    g.bench_function("to_ascii_lowercase/domain", |b| {
        b.iter(|| black_box("WWW.Example.COM.cn").to_ascii_lowercase())
    });
    g.bench_function("to_ascii_lowercase/url", |b| {
        b.iter(|| black_box("http://www.example.com/login/index.html?id=42").to_ascii_lowercase())
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_baseline,
    bench_phone,
    bench_domain,
    bench_url,
    bench_detect
);
criterion_main!(benches);
