//! Intel parsers and exporters over the real Taiwan 165 lists
//! (`FANZHA_SHARED_DATA`, default `../shared/data` beside the workspace).
//! Each figure is one whole file: parse it, or export its indicators.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fanzha_app::intel::formats::{
    ExportFormat, ExportItem, ExportOptions, ImportFormat, ImportOptions, IndicatorStatus, export, parse,
};
use fanzha_core::{FraudType, Timestamp};
use std::hint::black_box;
use std::path::PathBuf;

fn shared(rel: &str) -> Vec<u8> {
    let dir = std::env::var_os("FANZHA_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let p = dir.join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (set FANZHA_SHARED_DATA)", p.display()))
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("intel_parse");
    g.sample_size(20);
    for (name, rel, format) in [
        (
            "adblock_32k",
            "intel/tw165_scam_sites.adblock.txt",
            ImportFormat::Adblock,
        ),
        (
            "tw165_tsv_45k",
            "intel/tw165_scam_sites_raw.tsv",
            ImportFormat::Tw165Tsv,
        ),
        (
            "bank_csv_2k",
            "intel/tw165_bank_accounts.csv",
            ImportFormat::Tw165BankCsv,
        ),
    ] {
        let bytes = shared(rel);
        let opts = ImportOptions::new(format);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(name, |b| b.iter(|| black_box(parse(black_box(&bytes), &opts))));
    }
    g.finish();

    let r = parse(
        &shared("intel/tw165_scam_sites.adblock.txt"),
        &ImportOptions::new(ImportFormat::Adblock),
    );
    let items: Vec<ExportItem> = r
        .drafts
        .iter()
        .enumerate()
        .map(|(i, d)| ExportItem {
            id: i as i64,
            kind: d.draft.kind,
            value: d.draft.value.clone(),
            fraud_type: Some(FraudType::FakeInvestment),
            confidence: 70,
            status: IndicatorStatus::Confirmed,
            valid_from: None,
            valid_until: None,
            tags: vec!["tw165".into()],
            source: None,
            description: None,
            created_at: Timestamp(1_700_000_000_000),
            updated_at: Timestamp(1_700_000_000_000),
        })
        .collect();
    let mut g = c.benchmark_group("intel_export_32k");
    g.sample_size(10);
    for f in [
        ExportFormat::Rpz,
        ExportFormat::Nftables,
        ExportFormat::Csv,
        ExportFormat::Xlsx,
        ExportFormat::Stix,
    ] {
        let o = ExportOptions::default();
        g.bench_function(f.code(), |b| {
            b.iter(|| black_box(export(f, black_box(&items), &o).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
