//! Trains and evaluates the text model on the shared public data sets
//! (FANZHA_SHARED_DATA, default ../shared/data beside the workspace), with a
//! seeded, stratified 80/20 split. The data is not in the repository; these
//! tests fail with a clear message when it is missing.
//!
//! Run with `--nocapture` to see the full reports (JSON).

use fanzha_core::FraudType;
use fanzha_engine::text::{
    CombineParams, EvalReport, LabelMeaning, Lexicon, TableFormat, TextClassifier, TrainParams, evaluate,
    read_labelled, read_labelled_csv, stratified_split, train,
};
use std::fs::File;
use std::path::PathBuf;

/// The split seed for every data set.
const SPLIT_SEED: u64 = 42;

fn shared_data() -> PathBuf {
    let dir = match std::env::var_os("FANZHA_SHARED_DATA") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    assert!(
        dir.is_dir(),
        "shared data not found at {}: set FANZHA_SHARED_DATA to the shared/data directory",
        dir.display()
    );
    dir
}

fn open(rel: &str) -> File {
    let path = shared_data().join(rel);
    File::open(&path).unwrap_or_else(|e| panic!("cannot open shared data file {}: {e}", path.display()))
}

fn print_report(name: &str, train_secs: f64, r: &EvalReport) {
    println!(
        "== {name}: n={} macro_f1={:.4} accuracy={:.4} train_secs={train_secs:.2}",
        r.n, r.macro_f1, r.accuracy
    );
    println!("{}", serde_json::to_string(r).unwrap());
}

fn run(
    name: &str,
    data: Vec<(String, String)>,
) -> (EvalReport, fanzha_engine::text::Model, Vec<(String, String)>) {
    let (tr, te) = stratified_split(&data, 0.2, SPLIT_SEED);
    assert_eq!(tr.len() + te.len(), data.len());
    let start = std::time::Instant::now();
    let model = train(&tr, &TrainParams::default()).unwrap();
    let secs = start.elapsed().as_secs_f64();
    let report = evaluate(&model, &te);
    print_report(name, secs, &report);
    (report, model, te)
}

#[test]
fn zh_fraud_5class_macro_f1_at_least_0_98() {
    let data = read_labelled_csv(open("text/zh_fraud_5class/train.csv")).unwrap();
    assert!(
        data.rejected.is_empty(),
        "{:?}",
        &data.rejected[..data.rejected.len().min(5)]
    );
    assert_eq!(data.samples.len(), 9154);
    let (r, model, test) = run("zh_fraud_5class", data.samples);
    assert_eq!(r.labels.len(), 5);
    assert!(r.macro_f1 >= 0.98, "macro-F1 {:.4} < 0.98", r.macro_f1);
    for c in &r.per_class {
        assert!(c.f1 >= 0.95, "{}: F1 {:.4}", c.label, c.f1);
    }

    // The fitted temperature makes the probabilities honest: over the test set,
    // the mean confidence is close to the accuracy (expected calibration error
    // over 10 bins).
    let mut bins = [(0usize, 0f64, 0usize); 10];
    for (text, label) in &test {
        let p = model.predict(text);
        let b = ((p.score * 10.0) as usize).min(9);
        bins[b].0 += 1;
        bins[b].1 += f64::from(p.score);
        bins[b].2 += usize::from(p.label == label);
    }
    let ece: f64 = bins
        .iter()
        .map(|(_, conf, ok)| (conf - *ok as f64).abs())
        .sum::<f64>()
        / test.len() as f64;
    println!("expected calibration error {ece:.4}");
    assert!(ece < 0.05, "calibration error {ece:.4}");

    // The combined classifier names the labelled fraud type, and leaves the
    // normal messages unnamed.
    let clf = TextClassifier::new(Lexicon::builtin().unwrap(), Some(model), CombineParams::default());
    let (mut fraud_n, mut fraud_ok, mut normal_n, mut normal_ok) = (0, 0, 0, 0);
    for (text, label) in &test {
        let v = clf.classify(text);
        match LabelMeaning::of_label(label) {
            LabelMeaning::Fraud(t) => {
                fraud_n += 1;
                fraud_ok += usize::from(v.fraud_type == Some(t));
            }
            _ => {
                normal_n += 1;
                normal_ok += usize::from(v.fraud_type.is_none());
            }
        }
    }
    let (fr, nr) = (
        fraud_ok as f64 / fraud_n as f64,
        normal_ok as f64 / normal_n as f64,
    );
    println!(
        "combined: fraud typed correctly {fr:.4} ({fraud_ok}/{fraud_n}), normal left untyped {nr:.4} ({normal_ok}/{normal_n})"
    );
    assert!(
        fr >= 0.97 && nr >= 0.98,
        "combined classifier: fraud {fr:.4}, normal {nr:.4}"
    );
}

#[test]
fn zh_spam_sms_macro_f1_at_least_0_99() {
    let data = read_labelled_csv(open("text/zh_spam_sms/train.csv")).unwrap();
    assert!(
        data.rejected.is_empty(),
        "{:?}",
        &data.rejected[..data.rejected.len().min(5)]
    );
    assert_eq!(data.samples.len(), 43391);
    let (r, model, _) = run("zh_spam_sms", data.samples);
    assert_eq!(r.labels, ["0", "1"]);
    assert!(r.macro_f1 >= 0.99, "macro-F1 {:.4} < 0.99", r.macro_f1);
    let clf = TextClassifier::new(Lexicon::builtin().unwrap(), Some(model), CombineParams::default());
    assert_eq!(
        clf.label_meanings(),
        [("0", LabelMeaning::NotFraud), ("1", LabelMeaning::Spam)]
    );
}

#[test]
fn en_sms_spam_tsv() {
    let data = read_labelled(
        open("text/en_sms_spam/SMSSpamCollection.tsv"),
        &TableFormat::tsv("SMS", "Label"),
    )
    .unwrap();
    println!(
        "en_sms_spam: {} rows kept, {} rejected",
        data.samples.len(),
        data.rejected.len()
    );
    assert!(data.samples.len() >= 5500);
    let (r, _, _) = run("en_sms_spam", data.samples);
    assert_eq!(r.labels, ["ham", "spam"]);
    assert!(r.macro_f1 >= 0.95, "macro-F1 {:.4}", r.macro_f1);
}

#[test]
fn same_data_same_model() {
    let data = read_labelled_csv(open("text/zh_fraud_5class/train.csv"))
        .unwrap()
        .samples;
    let small: Vec<_> = data.into_iter().step_by(5).collect();
    let a = train(&small, &TrainParams::default()).unwrap();
    let b = train(&small, &TrainParams::default()).unwrap();
    assert_eq!(a.to_bytes(), b.to_bytes());
    let _ = FraudType::ALL;
}
