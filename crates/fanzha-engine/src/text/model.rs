//! The trainable text model: hashed character n-grams and a linear
//! multiclass model trained by averaged SGD (multiclass hinge loss by default,
//! multinomial logistic optionally), stored as 8-bit weights. A temperature
//! fitted on the training data (least log-loss) scales the margins so that
//! their softmax gives usable probabilities.
//!
//! Features: every n-gram (`min_n..=max_n` characters, plus the "head" copies,
//! see [`NgramSpec`]) of the normalised text is hashed into one of 2^`bits`
//! buckets. A text's feature vector holds, per bucket,
//! `count × idf / sqrt(total n-grams)`. After training the idf factor is
//! folded into the weights and each class's weights are quantised to `i8`
//! with one scale per class, so prediction only adds small integer rows and
//! scales once at the end. Weights are stored class-major per bucket
//! (`weights[bucket * n_classes + class]`): one n-gram touches one short,
//! contiguous row, and the whole table of a 5-class model with 2^18 buckets
//! is 1.3 MB.

use super::features::NgramSpec;
use super::rng::SplitMix64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Training settings. The defaults are the ones the evaluation tests use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainParams {
    /// Buckets = 2^bucket_bits (4..=24).
    pub bucket_bits: u8,
    /// Shortest and longest character n-gram (1..=8).
    pub min_n: u8,
    pub max_n: u8,
    /// Mark the start and end of the text as an extra symbol.
    pub boundaries: bool,
    /// N-grams within the first `head` symbols also count as "near the start".
    pub head: u8,
    /// Passes over the training data.
    pub epochs: u32,
    /// SGD step size (hinge: about 0.01; logistic: about 0.5).
    pub learning_rate: f32,
    /// The loss SGD minimises.
    pub loss: Loss,
    /// Weight features by smoothed inverse document frequency.
    pub idf: bool,
    /// Weight each class's loss by n / (classes × class count).
    pub balance_classes: bool,
    /// Seeds the hash and the shuffles: same data + same params = same model.
    pub seed: u64,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            bucket_bits: 18,
            min_n: 1,
            max_n: 4,
            boundaries: true,
            head: 16,
            epochs: 8,
            learning_rate: 0.01,
            loss: Loss::Hinge,
            idf: true,
            balance_classes: false,
            seed: 0x000F_A2A0,
        }
    }
}

/// The training loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Multinomial logistic regression (softmax cross-entropy).
    Logistic,
    /// Multiclass hinge, as a linear SVM.
    Hinge,
}

/// Why training could not start.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    #[error("no training samples")]
    Empty,
    #[error("need at least two labels, found only {label:?}")]
    OneLabel { label: String },
    #[error("sample {index} has an empty label")]
    EmptyLabel { index: usize },
    #[error("too many labels: {count} (at most {max})")]
    TooManyLabels { count: usize, max: usize },
    #[error("label longer than {max} bytes at sample {index}")]
    LabelTooLong { index: usize, max: usize },
    #[error("invalid training parameters: {0}")]
    InvalidParams(String),
}

/// Most labels a model may have (also enforced when loading).
pub const MAX_LABELS: usize = 4096;
/// Longest label, in bytes (also enforced when loading).
pub const MAX_LABEL_BYTES: usize = 1024;

/// A trained model. Immutable; share it between threads by reference or `Arc`.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub(crate) spec: NgramSpec,
    pub(crate) labels: Vec<String>,
    /// Per class: added to the score.
    pub(crate) bias: Vec<f32>,
    /// Per class: the value of one weight step.
    pub(crate) scale: Vec<f32>,
    /// `buckets × classes`, class-major per bucket.
    pub(crate) weights: Vec<i8>,
}

/// One prediction. `probabilities` follow [`Model::labels`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction<'m> {
    pub label: &'m str,
    pub index: usize,
    /// Probability of `label`, in [0, 1].
    pub score: f32,
    pub probabilities: Vec<f32>,
}

impl Model {
    /// The class labels, sorted; index `i` is class `i`.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn n_classes(&self) -> usize {
        self.labels.len()
    }

    /// How the model turns text into features.
    pub fn spec(&self) -> NgramSpec {
        self.spec
    }

    /// Index of a label, if the model knows it.
    pub fn label_index(&self, label: &str) -> Option<usize> {
        self.labels.iter().position(|l| l == label)
    }

    /// Raw class scores (logits) into `out`, one slot per class. Returns false
    /// (and leaves `out` alone) if `out` has the wrong length. Allocates
    /// nothing for models of up to 8 classes.
    #[inline]
    pub fn scores_into(&self, text: &str, out: &mut [f32]) -> bool {
        if out.len() != self.labels.len() {
            return false;
        }
        match out.len() {
            2 => self.scores_k::<2>(text, out),
            3 => self.scores_k::<3>(text, out),
            4 => self.scores_k::<4>(text, out),
            5 => self.scores_k::<5>(text, out),
            6 => self.scores_k::<6>(text, out),
            7 => self.scores_k::<7>(text, out),
            8 => self.scores_k::<8>(text, out),
            _ => self.scores_any(text, out),
        }
        true
    }

    #[inline]
    fn scores_k<const K: usize>(&self, text: &str, out: &mut [f32]) {
        let mut acc = [0i32; K];
        let w = &self.weights;
        let n = self.spec.for_each_bucket(text, |b| {
            if let Some(row) = w.get(b * K..b * K + K) {
                for (a, x) in acc.iter_mut().zip(row) {
                    *a += i32::from(*x);
                }
            }
        });
        self.finish(n, acc.iter().copied(), out);
    }

    fn scores_any(&self, text: &str, out: &mut [f32]) {
        let k = self.labels.len();
        let mut acc = vec![0i32; k];
        let w = &self.weights;
        let n = self.spec.for_each_bucket(text, |b| {
            if let Some(row) = w.get(b * k..b * k + k) {
                for (a, x) in acc.iter_mut().zip(row) {
                    *a += i32::from(*x);
                }
            }
        });
        self.finish(n, acc.into_iter(), out);
    }

    #[inline]
    fn finish(&self, n: u32, acc: impl Iterator<Item = i32>, out: &mut [f32]) {
        let norm = if n == 0 { 0.0 } else { 1.0 / (n as f32).sqrt() };
        for (((o, a), s), b) in out.iter_mut().zip(acc).zip(&self.scale).zip(&self.bias) {
            *o = a as f32 * s * norm + b;
        }
    }

    /// The most likely label and the probability of every label.
    pub fn predict(&self, text: &str) -> Prediction<'_> {
        let mut p = vec![0f32; self.labels.len()];
        self.scores_into(text, &mut p);
        softmax(&mut p);
        let index = argmax(&p);
        Prediction {
            label: self.labels.get(index).map(String::as_str).unwrap_or(""),
            index,
            score: p.get(index).copied().unwrap_or(0.0),
            probabilities: p,
        }
    }

    /// Index of the most likely label. `scratch` is resized to the number of
    /// classes and holds the logits afterwards; reuse it to avoid allocating.
    #[inline]
    pub fn predict_index(&self, text: &str, scratch: &mut Vec<f32>) -> usize {
        scratch.resize(self.labels.len(), 0.0);
        self.scores_into(text, scratch);
        argmax(scratch)
    }
}

/// Index of the largest value (the first on ties; 0 for an empty slice).
pub(crate) fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if v.get(best).is_some_and(|b| x > b) {
            best = i;
        }
    }
    best
}

/// In-place softmax. Non-finite input gives a uniform distribution.
pub(crate) fn softmax(v: &mut [f32]) {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        let u = 1.0 / v.len().max(1) as f32;
        v.fill(u);
        return;
    }
    let mut sum = 0f32;
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in v.iter_mut() {
        *x /= sum;
    }
}

/// Sparse feature rows of the training set, in one arena.
struct Rows {
    offsets: Vec<usize>,
    buckets: Vec<u32>,
    values: Vec<f32>,
}

impl Rows {
    fn build<'a>(texts: impl Iterator<Item = &'a str>, spec: &NgramSpec) -> Rows {
        let mut rows = Rows {
            offsets: vec![0],
            buckets: Vec::new(),
            values: Vec::new(),
        };
        let mut scratch: Vec<u32> = Vec::new();
        for t in texts {
            scratch.clear();
            let n = spec.for_each_bucket(t, |b| scratch.push(b as u32));
            scratch.sort_unstable();
            let norm = if n == 0 { 0.0 } else { 1.0 / (n as f32).sqrt() };
            for run in scratch.chunk_by(|a, b| a == b) {
                rows.buckets.push(run[0]);
                rows.values.push(run.len() as f32 * norm);
            }
            rows.offsets.push(rows.buckets.len());
        }
        rows
    }

    fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let (s, e) = (self.offsets[i], self.offsets[i + 1]);
        (&self.buckets[s..e], &self.values[s..e])
    }
}

impl TrainParams {
    /// The feature spec these params describe, if valid.
    pub fn spec(&self) -> Result<NgramSpec, TrainError> {
        let spec = NgramSpec {
            min_n: self.min_n,
            max_n: self.max_n,
            bits: self.bucket_bits,
            boundaries: self.boundaries,
            head: self.head,
            seed: self.seed,
        };
        if !spec.is_valid() {
            return Err(TrainError::InvalidParams(format!(
                "need 1 <= min_n <= max_n <= {} and {} <= bucket_bits <= {}",
                super::features::MAX_N,
                super::features::MIN_BITS,
                super::features::MAX_BITS
            )));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0 && self.learning_rate <= 100.0) {
            return Err(TrainError::InvalidParams(
                "learning_rate must be in (0, 100]".into(),
            ));
        }
        if self.epochs == 0 || self.epochs > 1000 {
            return Err(TrainError::InvalidParams("epochs must be in 1..=1000".into()));
        }
        Ok(spec)
    }
}

/// Trains a model on `(text, label)` pairs. Labels are arbitrary non-empty
/// strings; the model's classes are the distinct labels, sorted.
/// Deterministic: the same data in the same order with the same params gives
/// the same model.
pub fn train<T: AsRef<str>, L: AsRef<str>>(
    data: &[(T, L)],
    params: &TrainParams,
) -> Result<Model, TrainError> {
    let spec = params.spec()?;
    if data.is_empty() {
        return Err(TrainError::Empty);
    }
    let mut label_ids: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, (_, l)) in data.iter().enumerate() {
        let l = l.as_ref();
        if l.is_empty() {
            return Err(TrainError::EmptyLabel { index: i });
        }
        if l.len() > MAX_LABEL_BYTES {
            return Err(TrainError::LabelTooLong {
                index: i,
                max: MAX_LABEL_BYTES,
            });
        }
        label_ids.entry(l).or_insert(0);
    }
    if label_ids.len() > MAX_LABELS {
        return Err(TrainError::TooManyLabels {
            count: label_ids.len(),
            max: MAX_LABELS,
        });
    }
    if label_ids.len() < 2 {
        let label = label_ids.keys().next().map(|s| s.to_string()).unwrap_or_default();
        return Err(TrainError::OneLabel { label });
    }
    for (i, v) in label_ids.values_mut().enumerate() {
        *v = i;
    }
    let labels: Vec<String> = label_ids.keys().map(|s| s.to_string()).collect();
    let y: Vec<usize> = data
        .iter()
        .map(|(_, l)| label_ids.get(l.as_ref()).copied().unwrap_or(0))
        .collect();
    let k = labels.len();
    let buckets = spec.buckets();

    let mut rows = Rows::build(data.iter().map(|(t, _)| t.as_ref()), &spec);
    let idf: Option<Vec<f32>> = params.idf.then(|| {
        let mut df = vec![0u32; buckets];
        for &b in &rows.buckets {
            df[b as usize] += 1;
        }
        let n = data.len() as f32;
        let idf: Vec<f32> = df
            .iter()
            .map(|&d| ((1.0 + n) / (1.0 + d as f32)).ln() + 1.0)
            .collect();
        for (v, &b) in rows.values.iter_mut().zip(&rows.buckets) {
            *v *= idf[b as usize];
        }
        idf
    });

    let mut class_weight = vec![1f32; k];
    if params.balance_classes {
        let mut counts = vec![0usize; k];
        for &c in &y {
            counts[c] += 1;
        }
        for (w, &c) in class_weight.iter_mut().zip(&counts) {
            *w = data.len() as f32 / (k as f32 * c.max(1) as f32);
        }
    }

    // Averaged SGD on the softmax loss. `acc` collects step × update so that
    // the average of all iterates is `w - acc / step` at the end (the
    // averaging is what regularises the model).
    let mut w = vec![0f32; buckets * k];
    let mut acc = vec![0f64; buckets * k];
    let mut bias = vec![0f32; k];
    let mut acc_bias = vec![0f64; k];
    let mut z = vec![0f32; k];
    let mut step = 1f64;
    let lr = params.learning_rate;
    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut rng = SplitMix64::new(params.seed ^ 0x5EED_0F5A_11ED);
    for _ in 0..params.epochs {
        rng.shuffle(&mut order);
        for &i in &order {
            let (idx, val) = rows.row(i);
            z.copy_from_slice(&bias);
            for (&b, &x) in idx.iter().zip(val) {
                let base = b as usize * k;
                for (zc, wc) in z.iter_mut().zip(&w[base..base + k]) {
                    *zc += x * wc;
                }
            }
            let yi = y[i];
            let cw = class_weight[yi];
            let worst = match params.loss {
                Loss::Logistic => logistic_step(&mut z, yi, lr * cw),
                Loss::Hinge => hinge_step(&mut z, yi, lr * cw),
            };
            // A sample the model already gets right with near certainty
            // would move nothing; skip the sparse update.
            if worst > 1e-4 {
                for (c, d) in z.iter().enumerate() {
                    bias[c] += d;
                    acc_bias[c] += step * f64::from(*d);
                }
                for (&b, &x) in idx.iter().zip(val) {
                    let base = b as usize * k;
                    let (wr, ar) = (&mut w[base..base + k], &mut acc[base..base + k]);
                    for ((wc, ac), d) in wr.iter_mut().zip(ar.iter_mut()).zip(&z) {
                        let d = d * x;
                        *wc += d;
                        *ac += step * f64::from(d);
                    }
                }
            }
            step += 1.0;
        }
    }
    for (wi, ai) in w.iter_mut().zip(&acc) {
        *wi -= (ai / step) as f32;
    }
    for (bi, ai) in bias.iter_mut().zip(&acc_bias) {
        *bi -= (ai / step) as f32;
    }
    if let Some(idf) = idf {
        for (row, f) in w.chunks_exact_mut(k).zip(&idf) {
            for wc in row {
                *wc *= f;
            }
        }
    }
    let (scale, weights) = quantise(&w, k);
    let mut model = Model {
        spec,
        labels,
        bias,
        scale,
        weights,
    };
    let t = fit_temperature(&model, data.iter().map(|(t, _)| t.as_ref()), &y);
    for x in model.bias.iter_mut().chain(model.scale.iter_mut()) {
        *x *= t;
    }
    Ok(model)
}

/// The factor for the logits that makes the softmax probabilities fit the
/// training labels best (least log-loss), so `predict` gives usable
/// probabilities whatever the loss. Golden-section search on the log scale
/// over [1/64, 64]; the logits are computed once.
fn fit_temperature<'a>(model: &Model, texts: impl Iterator<Item = &'a str>, y: &[usize]) -> f32 {
    let k = model.n_classes();
    let mut logits = Vec::with_capacity(y.len() * k);
    let mut z = vec![0f32; k];
    for t in texts {
        model.scores_into(t, &mut z);
        logits.extend_from_slice(&z);
    }
    let loss = |log_t: f64| -> f64 {
        let t = log_t.exp();
        let mut total = 0f64;
        for (row, &yi) in logits.chunks_exact(k).zip(y) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f64 = row.iter().map(|&v| (f64::from(v - max) * t).exp()).sum();
            total += sum.ln() - f64::from(row[yi] - max) * t;
        }
        total
    };
    let (mut a, mut b) = ((1.0f64 / 64.0).ln(), 64f64.ln());
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - phi * (b - a), a + phi * (b - a));
    let (mut fc, mut fd) = (loss(c), loss(d));
    for _ in 0..40 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - phi * (b - a);
            fc = loss(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + phi * (b - a);
            fd = loss(d);
        }
    }
    let t = ((a + b) / 2.0).exp() as f32;
    if t.is_finite() && t > 0.0 { t } else { 1.0 }
}

/// Turns the logits `z` into the step for each class (-lr × gradient of the
/// softmax loss); returns the largest gradient.
fn logistic_step(z: &mut [f32], yi: usize, lr: f32) -> f32 {
    softmax(z);
    let mut worst = 0f32;
    for (c, zc) in z.iter_mut().enumerate() {
        let g = *zc - if c == yi { 1.0 } else { 0.0 };
        worst = worst.max(g.abs());
        *zc = -lr * g;
    }
    worst
}

/// Multiclass hinge (Crammer–Singer): when the true class does not beat the
/// best other class by a margin of 1, step towards the true class and away
/// from that one.
fn hinge_step(z: &mut [f32], yi: usize, lr: f32) -> f32 {
    let mut rival = usize::from(yi == 0);
    for (c, zc) in z.iter().enumerate() {
        if c != yi && *zc > z[rival] {
            rival = c;
        }
    }
    let margin = z[yi] - z[rival];
    z.fill(0.0);
    if margin >= 1.0 {
        return 0.0;
    }
    z[yi] = lr;
    z[rival] = -lr;
    1.0
}

/// Per-class symmetric 8-bit quantisation: class `c`'s step is
/// `max |w_c| / 127`.
fn quantise(w: &[f32], k: usize) -> (Vec<f32>, Vec<i8>) {
    let mut max = vec![0f32; k];
    for row in w.chunks_exact(k) {
        for (m, x) in max.iter_mut().zip(row) {
            *m = m.max(x.abs());
        }
    }
    let scale: Vec<f32> = max.iter().map(|m| m / 127.0).collect();
    let mut q = Vec::with_capacity(w.len());
    for row in w.chunks_exact(k) {
        for (x, s) in row.iter().zip(&scale) {
            let v = if *s > 0.0 {
                (x / s).round().clamp(-127.0, 127.0)
            } else {
                0.0
            };
            q.push(v as i8);
        }
    }
    (scale, q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Vec<(&'static str, &'static str)> {
        vec![
            ("您的账户涉嫌洗钱，请转入安全账户", "fraud"),
            ("公安局通知：你涉嫌洗钱，配合调查", "fraud"),
            ("请将资金转到安全账户接受审查", "fraud"),
            ("明天下午三点开会，记得带材料", "ham"),
            ("周末一起去爬山吧", "ham"),
            ("晚饭吃什么？我买了菜", "ham"),
        ]
    }

    fn small() -> TrainParams {
        TrainParams {
            bucket_bits: 12,
            epochs: 20,
            ..TrainParams::default()
        }
    }

    #[test]
    fn learns_a_toy_set_and_is_deterministic() {
        let m = train(&toy(), &small()).unwrap();
        assert_eq!(m.labels(), ["fraud", "ham"]);
        assert_eq!(m.predict("安全账户 洗钱").label, "fraud");
        assert_eq!(m.predict("一起去吃晚饭").label, "ham");
        let p = m.predict("随便");
        assert!((p.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert_eq!(m, train(&toy(), &small()).unwrap());
        let other = train(&toy(), &TrainParams { seed: 99, ..small() }).unwrap();
        assert_ne!(m.weights, other.weights);
    }

    #[test]
    fn logistic_loss_learns_too() {
        let params = TrainParams {
            loss: Loss::Logistic,
            learning_rate: 0.5,
            ..small()
        };
        let m = train(&toy(), &params).unwrap();
        assert_eq!(m.predict("安全账户 洗钱").label, "fraud");
        assert_eq!(m.predict("一起去吃晚饭").label, "ham");
        assert_ne!(m, train(&toy(), &small()).unwrap());
    }

    #[test]
    fn rejects_bad_input() {
        let none: [(&str, &str); 0] = [];
        assert_eq!(train(&none, &small()), Err(TrainError::Empty));
        assert!(matches!(
            train(&[("a", "x"), ("b", "x")], &small()),
            Err(TrainError::OneLabel { .. })
        ));
        assert_eq!(
            train(&[("a", "x"), ("b", "")], &small()),
            Err(TrainError::EmptyLabel { index: 1 })
        );
        for bad in [
            TrainParams {
                bucket_bits: 30,
                ..small()
            },
            TrainParams { min_n: 0, ..small() },
            TrainParams {
                min_n: 3,
                max_n: 2,
                ..small()
            },
            TrainParams { epochs: 0, ..small() },
            TrainParams {
                learning_rate: f32::NAN,
                ..small()
            },
        ] {
            assert!(
                matches!(train(&toy(), &bad), Err(TrainError::InvalidParams(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn many_classes_use_the_general_path() {
        // Digits all normalise to 0, so the classes are told apart by letters.
        let names = "甲乙丙丁戊己庚辛壬癸";
        let data: Vec<(String, String)> = (0..40)
            .map(|i| {
                let c = names.chars().nth(i % 10).unwrap();
                (format!("类别{c} 文本{c}{c}"), format!("c{}", i % 10))
            })
            .collect();
        let m = train(&data, &small()).unwrap();
        assert_eq!(m.n_classes(), 10);
        assert_eq!(m.predict("类别丁 文本丁").label, "c3");
        let mut wrong = vec![0f32; 3];
        assert!(!m.scores_into("x", &mut wrong));
    }
}
