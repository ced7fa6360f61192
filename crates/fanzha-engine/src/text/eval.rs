//! Evaluation of a model on labelled data: accuracy, macro-F1, per-class
//! precision/recall/F1, confusion matrix and prediction throughput.

use super::model::Model;
use serde::Serialize;
use std::collections::BTreeSet;

/// Precision, recall and F1 of one class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Test samples whose true label is this one.
    pub support: u64,
}

/// The result of [`evaluate`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalReport {
    /// Samples evaluated.
    pub n: usize,
    pub accuracy: f64,
    /// Unweighted mean F1 over the labels that occur in the data or in the
    /// predictions.
    pub macro_f1: f64,
    /// Label order of `per_class` and of both axes of `confusion`: the
    /// model's labels, then labels seen only in the data (sorted).
    pub labels: Vec<String>,
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<u64>>,
    /// Samples whose label the model does not know (always counted wrong).
    pub unknown_label_samples: usize,
    /// Prediction throughput on one thread, measured over the prediction loop
    /// only. The one figure in the report that is not deterministic.
    pub msgs_per_sec: f64,
    pub predict_seconds: f64,
}

/// Predicts every sample and scores the predictions against the labels.
/// Measures elapsed time with `std::time::Instant` (a duration, not the time
/// of day; it affects only `msgs_per_sec` and `predict_seconds`).
pub fn evaluate<T: AsRef<str>, L: AsRef<str>>(model: &Model, data: &[(T, L)]) -> EvalReport {
    let mut predicted = Vec::with_capacity(data.len());
    let mut scratch = Vec::new();
    let start = std::time::Instant::now();
    for (text, _) in data {
        predicted.push(model.predict_index(text.as_ref(), &mut scratch));
    }
    let secs = start.elapsed().as_secs_f64();
    let mut report = score(model.labels(), data.iter().map(|(_, l)| l.as_ref()), &predicted);
    report.predict_seconds = secs;
    report.msgs_per_sec = if secs > 0.0 { data.len() as f64 / secs } else { 0.0 };
    report
}

/// Scores predicted class indices (into `model_labels`) against true labels.
/// `msgs_per_sec` and `predict_seconds` are left at 0.
pub fn score<'a>(
    model_labels: &[String],
    truth: impl Iterator<Item = &'a str>,
    predicted: &[usize],
) -> EvalReport {
    let truth: Vec<&str> = truth.collect();
    let mut labels: Vec<String> = model_labels.to_vec();
    let extra: BTreeSet<&str> = truth
        .iter()
        .copied()
        .filter(|t| !model_labels.iter().any(|m| m == t))
        .collect();
    let unknown_label_samples = truth.iter().filter(|t| extra.contains(**t)).count();
    labels.extend(extra.iter().map(|s| s.to_string()));
    let k = labels.len();
    let mut confusion = vec![vec![0u64; k]; k];
    let n = truth.len().min(predicted.len());
    for (t, &p) in truth.iter().zip(predicted) {
        let ti = labels.iter().position(|l| l == t).unwrap_or(0);
        if let Some(cell) = confusion.get_mut(ti).and_then(|r| r.get_mut(p)) {
            *cell += 1;
        }
    }
    let mut per_class = Vec::with_capacity(k);
    let (mut f1_sum, mut f1_count, mut correct) = (0f64, 0usize, 0u64);
    for (c, label) in labels.iter().enumerate() {
        let tp = confusion[c][c];
        correct += tp;
        let support: u64 = confusion[c].iter().sum();
        let predicted_c: u64 = confusion.iter().map(|r| r[c]).sum();
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let (precision, recall) = (ratio(tp, predicted_c), ratio(tp, support));
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        if support > 0 || predicted_c > 0 {
            f1_sum += f1;
            f1_count += 1;
        }
        per_class.push(ClassMetrics {
            label: label.clone(),
            precision,
            recall,
            f1,
            support,
        });
    }
    EvalReport {
        n,
        accuracy: if n == 0 { 0.0 } else { correct as f64 / n as f64 },
        macro_f1: if f1_count == 0 {
            0.0
        } else {
            f1_sum / f1_count as f64
        },
        labels,
        per_class,
        confusion,
        unknown_label_samples,
        msgs_per_sec: 0.0,
        predict_seconds: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_a_known_confusion() {
        let labels = vec!["a".to_string(), "b".to_string()];
        // truth a a a b b c ; predicted a a b b a a
        let truth = ["a", "a", "a", "b", "b", "c"];
        let r = score(&labels, truth.iter().copied(), &[0, 0, 1, 1, 0, 0]);
        assert_eq!(r.labels, vec!["a", "b", "c"]);
        assert_eq!(r.confusion, vec![vec![2, 1, 0], vec![1, 1, 0], vec![1, 0, 0]]);
        assert_eq!(r.unknown_label_samples, 1);
        assert!((r.accuracy - 0.5).abs() < 1e-12);
        // a: p=2/4 r=2/3 f1=4/7; b: p=1/2 r=1/2 f1=1/2; c: 0.
        assert!((r.per_class[0].f1 - 4.0 / 7.0).abs() < 1e-12);
        assert!((r.macro_f1 - (4.0 / 7.0 + 0.5) / 3.0).abs() < 1e-12);
    }
}
