//! Text classification throughput, one thread: the model's prediction over
//! the held-out 20% of each shared data set (trained here at start-up), and
//! the lexicon and the combined classifier on the fraud set.
//!
//! Needs the shared data (FANZHA_SHARED_DATA, default ../shared/data beside
//! the workspace). Throughput is in messages (elements) per second.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fanzha_engine::text::{
    CombineParams, Lexicon, Model, TextClassifier, TrainParams, read_labelled_csv, stratified_split, train,
};

fn load(rel: &str) -> Vec<(String, String)> {
    let dir = std::env::var_os("FANZHA_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let path = dir.join(rel);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| {
        panic!(
            "shared data file {} missing ({e}); set FANZHA_SHARED_DATA",
            path.display()
        )
    });
    read_labelled_csv(file).unwrap().samples
}

fn setup(rel: &str) -> (Model, Vec<String>) {
    let data = load(rel);
    let (tr, te) = stratified_split(&data, 0.2, 42);
    let model = train(&tr, &TrainParams::default()).unwrap();
    (model, te.into_iter().map(|(t, _)| t).collect())
}

fn predict(c: &mut Criterion) {
    let mut group = c.benchmark_group("text");
    group
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    for (name, rel) in [
        ("zh_fraud_5class", "text/zh_fraud_5class/train.csv"),
        ("zh_spam_sms", "text/zh_spam_sms/train.csv"),
    ] {
        let (model, texts) = setup(rel);
        group.throughput(Throughput::Elements(texts.len() as u64));
        let mut scratch = Vec::new();
        group.bench_function(format!("predict/{name}"), |b| {
            b.iter(|| {
                let mut s = 0usize;
                for t in &texts {
                    s += model.predict_index(black_box(t), &mut scratch);
                }
                s
            })
        });
        if name == "zh_fraud_5class" {
            let lexicon = Lexicon::builtin().unwrap();
            group.bench_function(format!("lexicon/{name}"), |b| {
                b.iter(|| {
                    texts
                        .iter()
                        .map(|t| lexicon.scan(black_box(t)).hits.len())
                        .sum::<usize>()
                })
            });
            let clf = TextClassifier::new(lexicon.clone(), Some(model.clone()), CombineParams::default());
            group.bench_function(format!("classify/{name}"), |b| {
                b.iter(|| {
                    texts
                        .iter()
                        .map(|t| clf.classify(black_box(t)).score)
                        .sum::<f32>()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, predict);
criterion_main!(benches);
