//! The combined classifier end to end on our own small fixture: read the CSV,
//! train, save and load the model, classify the cases in
//! testdata/text/classifier_cases.tsv.

use fanzha_core::FraudType;
use fanzha_engine::text::{
    CombineParams, LabelMeaning, Lexicon, Model, TextClassifier, TrainParams, read_labelled_csv, train,
};
use std::path::Path;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/text")
        .join(name)
}

fn classifier() -> TextClassifier {
    let data = read_labelled_csv(std::fs::File::open(fixture("mini_train.csv")).unwrap()).unwrap();
    assert!(data.rejected.is_empty(), "{:?}", data.rejected);
    let model = train(
        &data.samples,
        &TrainParams {
            bucket_bits: 14,
            epochs: 20,
            ..TrainParams::default()
        },
    )
    .unwrap();
    // Through the file format, as the binary does.
    let model = Model::from_bytes(&model.to_bytes()).unwrap();
    TextClassifier::new(Lexicon::builtin().unwrap(), Some(model), CombineParams::default())
}

#[test]
fn classifier_cases() {
    let clf = classifier();
    let cases = std::fs::read_to_string(fixture("classifier_cases.tsv")).unwrap();
    let mut failures = Vec::new();
    let mut n = 0;
    for line in cases.lines().filter(|l| !l.starts_with('#')).skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let c: Vec<&str> = line.split('\t').collect();
        assert_eq!(c.len(), 3, "bad case line {line:?}");
        let v = clf.classify(c[0]);
        let want = if c[1] == "none" {
            None
        } else {
            Some(FraudType::parse(c[1]).unwrap())
        };
        if v.fraud_type != want {
            failures.push(format!(
                "{:?}: type {:?}, want {want:?} ({:?})",
                c[0], v.fraud_type, v.type_scores
            ));
        }
        assert!((0.0..=1.0).contains(&v.score));
        let model = v.model.as_ref().unwrap();
        if c[2] != "-" && model.label != c[2] {
            failures.push(format!("{:?}: model label {}, want {}", c[0], model.label, c[2]));
        }
        if want.is_some() {
            assert!(
                !v.phrases.is_empty(),
                "{:?}: a fraud verdict carries its phrases",
                c[0]
            );
            assert!(v.score >= clf.params().type_threshold);
        }
        n += 1;
    }
    assert!(n >= 8);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn label_meanings_and_overrides() {
    let mut clf = classifier();
    let meanings = clf.label_meanings();
    assert!(meanings.contains(&("正常", LabelMeaning::NotFraud)));
    assert!(meanings.contains(&("刷单返利", LabelMeaning::Fraud(FraudType::BrushingRebate))));
    // Declare the loan label "not fraud": loan texts are then typed by the lexicon alone,
    // damped by the model's (now benign) belief.
    let text = "无抵押贷款秒批";
    let before = clf.classify(text);
    assert!(clf.set_label_meaning("贷款、代办信用卡类", LabelMeaning::NotFraud));
    assert!(!clf.set_label_meaning("no such label", LabelMeaning::Spam));
    let after = clf.classify(text);
    assert!(after.score < before.score, "{} !< {}", after.score, before.score);
}

#[test]
fn verdict_serialises_with_codes() {
    let clf = classifier();
    let v = clf.classify("您涉嫌洗钱，请转入安全账户");
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["fraud_type"], "impersonate_authority");
    assert!(
        json["phrases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["phrase"] == "安全账户")
    );
    assert!(json["model"]["probability"].as_f64().unwrap() > 0.0);
}
