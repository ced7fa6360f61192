//! Fraud-text classification (DESIGN §5 "Text"): SMS and call transcripts
//! are classified by fraud type.
//!
//! Three parts, usable alone or together:
//! - [`Lexicon`]: the rule lexicon shipped with the product (`lexicon.toml`,
//!   embedded), weighted phrases per [`FraudType`](fanzha_core::FraudType),
//!   matched with Aho-Corasick; gives per-type scores and the phrases found.
//! - [`Model`]: a trainable classifier over arbitrary string labels. Hashed
//!   character 1–4-grams of the normalised text (plus the opening n-grams once
//!   more, see [`features`]), a linear model trained by averaged SGD (hinge
//!   loss by default, logistic optional) with a fitted temperature so that
//!   [`Model::predict`] gives probabilities; 8-bit weights stored class-major
//!   per bucket. [`train`] is deterministic for a given seed.
//!   [`Model::save`]/[`Model::load`] use a versioned, checksummed file format
//!   ([`format`]).
//! - [`TextClassifier`]: lexicon + model → a fraud type, a score in [0, 1] and
//!   the evidence (phrases, model label and probability). Model labels map to
//!   fraud types through [`LabelMeaning`].
//!
//! Data helpers: [`read_labelled_csv`] (columns `content` and `label` in any
//! order; bad rows reported with row, line and reason, good rows kept),
//! [`stratified_split`] (seeded, per label), [`evaluate`] (macro-F1, accuracy,
//! per-class precision/recall/F1, confusion matrix, messages per second), and
//! [`train_from_csv`] / [`evaluate_csv`] for the `train` and `eval` commands.
//!
//! The module does no I/O of its own: callers pass readers and writers.
//!
//! ```
//! use fanzha_engine::text::{CombineParams, Lexicon, TextClassifier, TrainParams, train};
//!
//! let data = [
//!     ("您涉嫌洗钱，请把资金转入安全账户", "冒充公检法及政府机关类"),
//!     ("兼职刷单，日结佣金", "刷单返利"),
//!     ("今晚一起吃饭吗", "正常"),
//! ];
//! let model = train(&data, &TrainParams { bucket_bits: 12, ..TrainParams::default() }).unwrap();
//! let mut file = Vec::new();
//! model.save(&mut file).unwrap();
//! let model = fanzha_engine::text::Model::load(file.as_slice()).unwrap();
//! let clf = TextClassifier::new(Lexicon::builtin().unwrap(), Some(model), CombineParams::default());
//! let verdict = clf.classify("请将存款转入安全账户配合调查");
//! assert_eq!(verdict.fraud_type, Some(fanzha_core::FraudType::ImpersonateAuthority));
//! ```

pub mod classifier;
pub mod data;
pub mod eval;
pub mod features;
pub mod format;
pub mod lexicon;
pub mod model;
pub mod normalize;
pub mod pipeline;
mod rng;

pub use classifier::{CombineParams, LabelMeaning, ModelEvidence, TextClassifier, TextVerdict};
pub use data::{
    DataError, LabelledData, RejectedRow, TableFormat, read_labelled, read_labelled_csv, stratified_split,
    stratified_split_indices,
};
pub use eval::{ClassMetrics, EvalReport, evaluate};
pub use format::ModelFormatError;
pub use lexicon::{Lexicon, LexiconError, LexiconScan, PhraseHit};
pub use model::{Loss, Model, Prediction, TrainError, TrainParams, train};
pub use pipeline::{
    TrainCsvError, TrainedFromCsv, evaluate_csv, evaluate_table, train_from_csv, train_from_table,
};
