//! The combined text classifier: rule lexicon + trained model → a fraud type
//! and a score in [0, 1], with the evidence behind it.
//!
//! Model labels are arbitrary strings; each gets a [`LabelMeaning`]:
//! - a label `FraudType::parse` accepts (a code such as `fake_loan`, the
//!   Chinese name, or an alias such as the 5-class data set's
//!   `冒充公检法及政府机关类`, `贷款、代办信用卡类`, `冒充客服服务`,
//!   `冒充领导、熟人类`) means that fraud type;
//! - `正常`, `0`, `ham`, `normal`, `benign`, `非诈骗` mean not fraud;
//! - `1`, `spam`, `垃圾短信`, `广告` mean spam: unwanted, but not a fraud type
//!   (the Chinese spam corpus is advertising). Spam counts as "not fraud" in
//!   the score and is reported separately as `spam_probability`;
//! - any other label means [`FraudType::Other`]: a center that labels its own
//!   data with a type outside the national ten still gets it flagged. Override
//!   with [`TextClassifier::set_label_meaning`].
//!
//! Combination, per fraud type t (all weights in [`CombineParams`]):
//! ```text
//! lex_t   = 1 - exp(-lexicon_weight × raw lexicon score of t / 2)
//! model_t = model_weight × Σ probability of the labels meaning t
//! benign  = Σ probability of the labels meaning not-fraud or spam
//!           (0 when the model has no fraud label at all: a spam/ham model
//!           was never shown fraud, so its "ham" says nothing about fraud)
//! score_t = 1 - (1 - lex_t × (1 - benign_damping × benign)) × (1 - model_t)
//! ```
//! The verdict's type is the best-scoring one; it is named only when its score
//! reaches `type_threshold`.

use super::lexicon::{Lexicon, N_TYPES, PhraseHit, squash};
use super::model::{Model, softmax};
use fanzha_core::FraudType;
use serde::{Deserialize, Serialize};

/// What a model label stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelMeaning {
    Fraud(FraudType),
    NotFraud,
    Spam,
}

impl LabelMeaning {
    /// The default meaning of a label (see the module docs).
    pub fn of_label(label: &str) -> LabelMeaning {
        if let Ok(t) = FraudType::parse(label) {
            return LabelMeaning::Fraud(t);
        }
        let l = label.trim().to_lowercase();
        match l.as_str() {
            "正常" | "0" | "ham" | "normal" | "benign" | "非诈骗" | "not_fraud" => {
                LabelMeaning::NotFraud
            }
            "1" | "spam" | "垃圾短信" | "广告" => LabelMeaning::Spam,
            _ => LabelMeaning::Fraud(FraudType::Other),
        }
    }
}

/// How lexicon and model are combined. Lives in configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CombineParams {
    /// Multiplies the lexicon's raw scores before squashing.
    pub lexicon_weight: f32,
    /// Multiplies the model's fraud-type probabilities.
    pub model_weight: f32,
    /// How far the model's belief that a text is benign damps the lexicon
    /// (0 = not at all, 1 = fully).
    pub benign_damping: f32,
    /// Lowest score for which the verdict names a fraud type.
    pub type_threshold: f32,
}

impl Default for CombineParams {
    fn default() -> Self {
        CombineParams {
            lexicon_weight: 1.0,
            model_weight: 1.0,
            benign_damping: 0.5,
            type_threshold: 0.5,
        }
    }
}

/// The model's part of the evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelEvidence {
    pub label: String,
    pub probability: f32,
    pub meaning: LabelMeaning,
}

/// The result of [`TextClassifier::classify`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextVerdict {
    /// The fraud type, when the best score reaches the threshold.
    pub fraud_type: Option<FraudType>,
    /// How strongly the text looks like fraud of its best type, in [0, 1].
    pub score: f32,
    /// Types with a non-zero score, best first.
    pub type_scores: Vec<(FraudType, f32)>,
    /// Probability the model gives to spam labels (0 without a model).
    pub spam_probability: f32,
    /// Lexicon phrases found.
    pub phrases: Vec<PhraseHit>,
    /// The model's top label, if there is a model.
    pub model: Option<ModelEvidence>,
}

/// Lexicon + optional model. Immutable once built; share by reference.
#[derive(Clone, Debug)]
pub struct TextClassifier {
    lexicon: Lexicon,
    model: Option<Model>,
    meanings: Vec<LabelMeaning>,
    params: CombineParams,
}

impl TextClassifier {
    pub fn new(lexicon: Lexicon, model: Option<Model>, params: CombineParams) -> Self {
        let meanings = model
            .as_ref()
            .map(|m| m.labels().iter().map(|l| LabelMeaning::of_label(l)).collect())
            .unwrap_or_default();
        TextClassifier {
            lexicon,
            model,
            meanings,
            params,
        }
    }

    /// Overrides what one model label means. False if the model has no such label.
    pub fn set_label_meaning(&mut self, label: &str, meaning: LabelMeaning) -> bool {
        let Some(i) = self.model.as_ref().and_then(|m| m.label_index(label)) else {
            return false;
        };
        match self.meanings.get_mut(i) {
            Some(slot) => {
                *slot = meaning;
                true
            }
            None => false,
        }
    }

    /// Each model label with its meaning.
    pub fn label_meanings(&self) -> Vec<(&str, LabelMeaning)> {
        match &self.model {
            Some(m) => m
                .labels()
                .iter()
                .map(String::as_str)
                .zip(self.meanings.iter().copied())
                .collect(),
            None => Vec::new(),
        }
    }

    pub fn lexicon(&self) -> &Lexicon {
        &self.lexicon
    }

    pub fn model(&self) -> Option<&Model> {
        self.model.as_ref()
    }

    pub fn params(&self) -> &CombineParams {
        &self.params
    }

    /// Classifies one text (an SMS or a call transcript).
    pub fn classify(&self, text: &str) -> TextVerdict {
        let scan = self.lexicon.scan(text);
        let p = &self.params;
        let mut model_t = [0f32; N_TYPES];
        let (mut benign, mut spam) = (0f32, 0f32);
        let mut evidence = None;
        if let Some(model) = &self.model {
            let mut probs = vec![0f32; model.n_classes()];
            model.scores_into(text, &mut probs);
            softmax(&mut probs);
            for (prob, meaning) in probs.iter().zip(&self.meanings) {
                match meaning {
                    LabelMeaning::Fraud(t) => {
                        if let Some(slot) = model_t.get_mut(super::lexicon::type_index(*t)) {
                            *slot += prob;
                        }
                    }
                    LabelMeaning::NotFraud => benign += prob,
                    LabelMeaning::Spam => {
                        benign += prob;
                        spam += prob;
                    }
                }
            }
            let best = super::model::argmax(&probs);
            if let (Some(label), Some(prob), Some(meaning)) =
                (model.labels().get(best), probs.get(best), self.meanings.get(best))
            {
                evidence = Some(ModelEvidence {
                    label: label.clone(),
                    probability: *prob,
                    meaning: *meaning,
                });
            }
        }
        if !self.meanings.iter().any(|m| matches!(m, LabelMeaning::Fraud(_))) {
            benign = 0.0;
        }
        let damp = (1.0 - p.benign_damping.clamp(0.0, 1.0) * benign.clamp(0.0, 1.0)).clamp(0.0, 1.0);
        let mut type_scores: Vec<(FraudType, f32)> = Vec::new();
        for (i, t) in FraudType::ALL.iter().enumerate() {
            let lex = squash(p.lexicon_weight.max(0.0) * scan.raw.get(i).copied().unwrap_or(0.0)) * damp;
            let model = (p.model_weight.max(0.0) * model_t[i]).clamp(0.0, 1.0);
            let s = (1.0 - (1.0 - lex) * (1.0 - model)).clamp(0.0, 1.0);
            if s > 0.0 {
                type_scores.push((*t, s));
            }
        }
        type_scores.sort_by(|a, b| b.1.total_cmp(&a.1));
        let (best, score) = type_scores
            .first()
            .copied()
            .map_or((None, 0.0), |(t, s)| (Some(t), s));
        TextVerdict {
            fraud_type: best.filter(|_| score >= p.type_threshold),
            score,
            type_scores,
            spam_probability: spam.clamp(0.0, 1.0),
            phrases: scan.hits,
            model: evidence,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_meanings() {
        use LabelMeaning::*;
        assert_eq!(
            LabelMeaning::of_label("冒充公检法及政府机关类"),
            Fraud(FraudType::ImpersonateAuthority)
        );
        assert_eq!(
            LabelMeaning::of_label("贷款、代办信用卡类"),
            Fraud(FraudType::FakeLoan)
        );
        assert_eq!(
            LabelMeaning::of_label("冒充客服服务"),
            Fraud(FraudType::FakeCustomerService)
        );
        assert_eq!(
            LabelMeaning::of_label("冒充领导、熟人类"),
            Fraud(FraudType::ImpersonateAcquaintance)
        );
        assert_eq!(
            LabelMeaning::of_label("fake_credit"),
            Fraud(FraudType::FakeCredit)
        );
        assert_eq!(LabelMeaning::of_label("正常"), NotFraud);
        assert_eq!(LabelMeaning::of_label("0"), NotFraud);
        assert_eq!(LabelMeaning::of_label("Ham"), NotFraud);
        assert_eq!(LabelMeaning::of_label("1"), Spam);
        assert_eq!(LabelMeaning::of_label("spam"), Spam);
        assert_eq!(LabelMeaning::of_label("网络赌博"), Fraud(FraudType::Other));
    }

    #[test]
    fn lexicon_only_verdict() {
        let c = TextClassifier::new(Lexicon::builtin().unwrap(), None, CombineParams::default());
        let v = c.classify("您涉嫌洗钱，请把资金转入安全账户配合调查");
        assert_eq!(v.fraud_type, Some(FraudType::ImpersonateAuthority));
        assert!(v.score > 0.9 && v.score <= 1.0);
        assert!(v.phrases.iter().any(|h| h.phrase == "安全账户"));
        assert!(v.model.is_none());
        let calm = c.classify("晚上一起吃饭吗");
        assert_eq!((calm.fraud_type, calm.score), (None, 0.0));
    }

    #[test]
    fn a_spam_model_does_not_damp_the_lexicon() {
        let data = [
            ("全场五折，欢迎光临", "1"),
            ("周末大促销", "1"),
            ("晚上一起吃饭", "0"),
            ("明天开会", "0"),
        ];
        let params = super::super::TrainParams {
            bucket_bits: 10,
            ..Default::default()
        };
        let model = super::super::train(&data, &params).unwrap();
        let lexicon = Lexicon::builtin().unwrap();
        let text = "您涉嫌洗钱，请把资金转入安全账户配合调查";
        let alone = TextClassifier::new(lexicon.clone(), None, CombineParams::default()).classify(text);
        let with_spam = TextClassifier::new(lexicon, Some(model), CombineParams::default()).classify(text);
        assert_eq!(alone.score, with_spam.score);
        assert_eq!(with_spam.fraud_type, Some(FraudType::ImpersonateAuthority));
        assert!(with_spam.spam_probability > 0.0 && with_spam.spam_probability < 1.0);
        assert_eq!(
            with_spam
                .model
                .map(|m| m.meaning == LabelMeaning::NotFraud || m.meaning == LabelMeaning::Spam),
            Some(true)
        );
    }
}
