//! Fraud-text classification (DESIGN §5 "Text").

pub mod classifier;
pub mod data;
pub mod eval;
pub mod features;
pub mod format;
pub mod lexicon;
pub mod model;
pub mod normalize;
mod rng;

pub use classifier::{CombineParams, LabelMeaning, ModelEvidence, TextClassifier, TextVerdict};
pub use data::{LabelledData, RejectedRow, TableFormat, read_labelled, read_labelled_csv, stratified_split};
pub use eval::{ClassMetrics, EvalReport, evaluate};
pub use format::ModelFormatError;
pub use lexicon::{Lexicon, LexiconError, LexiconScan, PhraseHit};
pub use model::{Model, Prediction, TrainError, TrainParams, train};
