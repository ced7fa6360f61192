//! The rule lexicon: weighted phrases per fraud type, matched with
//! Aho-Corasick over normalised text.
//!
//! The shipped lexicon is `lexicon.toml` beside this file, embedded in the
//! binary. A center can supply its own in the same format:
//!
//! ```toml
//! version = 1
//! [phrases.impersonate_authority]   # a FraudType code
//! "安全账户" = 3.0                   # weight > 0
//! ```
//!
//! A type's raw score is the sum of the weights of the distinct phrases of that
//! type found in the text (a phrase found twice counts once); its score is
//! `1 - exp(-raw / 2)`, in [0, 1]: one phrase of weight 1 gives 0.39, weight 2
//! gives 0.63, weight 3 gives 0.78. Phrases and text are normalised alike (full-width → half-width,
//! lower case, digits → 0, spaces and filler separators such as `*` `·` `丶`
//! dropped: see `normalize_compact`), and overlapping phrases all count.

use super::normalize::normalize_compact;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use fanzha_core::FraudType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The lexicon shipped with the product.
pub const BUILTIN_LEXICON: &str = include_str!("lexicon.toml");

/// The lexicon file version this build reads.
pub const LEXICON_VERSION: u32 = 1;

/// Largest weight a phrase may have.
pub const MAX_WEIGHT: f32 = 10.0;

/// Why a lexicon could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LexiconError {
    #[error("lexicon is not valid TOML: {0}")]
    Syntax(String),
    #[error("unsupported lexicon version {found} (this build reads {LEXICON_VERSION})")]
    Version { found: u32 },
    #[error("unknown fraud type {0:?} in lexicon")]
    UnknownType(String),
    #[error("phrase {phrase:?} ({fraud_type}): {reason}")]
    BadPhrase {
        fraud_type: String,
        phrase: String,
        reason: &'static str,
    },
    #[error("the lexicon has no phrases")]
    Empty,
    #[error("cannot build the matcher: {0}")]
    Build(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LexiconFile {
    version: u32,
    #[serde(default)]
    phrases: BTreeMap<String, BTreeMap<String, f32>>,
}

/// One weighted phrase.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LexiconEntry {
    /// As written in the lexicon.
    pub phrase: String,
    pub fraud_type: FraudType,
    pub weight: f32,
}

/// A phrase found in a text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhraseHit {
    /// As written in the lexicon.
    pub phrase: String,
    pub fraud_type: FraudType,
    pub weight: f32,
    /// How many times it occurs (it scores once).
    pub count: u32,
}

/// What a scan found: per-type scores and the phrases behind them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LexiconScan {
    /// Per type, in the order of `FraudType::ALL`: sum of distinct phrase weights.
    pub raw: [f32; N_TYPES],
    /// Phrases found, in lexicon order (grouped by type).
    pub hits: Vec<PhraseHit>,
}

/// Number of fraud types (`FraudType::ALL.len()`).
pub const N_TYPES: usize = 11;
const _: () = assert!(FraudType::ALL.len() == N_TYPES);

pub(crate) fn type_index(t: FraudType) -> usize {
    FraudType::ALL.iter().position(|x| *x == t).unwrap_or(N_TYPES - 1)
}

impl LexiconScan {
    /// The score of one type, `1 - exp(-raw / 2)`, in [0, 1].
    pub fn score(&self, t: FraudType) -> f32 {
        squash(self.raw.get(type_index(t)).copied().unwrap_or(0.0))
    }

    /// Types with a non-zero score, highest first (ties in `FraudType::ALL` order).
    pub fn ranked(&self) -> Vec<(FraudType, f32)> {
        let mut v: Vec<(FraudType, f32)> = FraudType::ALL
            .iter()
            .zip(&self.raw)
            .filter(|(_, r)| **r > 0.0)
            .map(|(t, r)| (*t, squash(*r)))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }

    /// The best type and its score, if any phrase matched.
    pub fn top(&self) -> Option<(FraudType, f32)> {
        self.ranked().first().copied()
    }
}

/// Raw lexicon score → [0, 1]: `1 - exp(-raw / 2)`.
pub(crate) fn squash(raw: f32) -> f32 {
    if raw > 0.0 { 1.0 - (-raw / 2.0).exp() } else { 0.0 }
}

/// A compiled lexicon. Immutable; share by reference or `Arc`.
#[derive(Clone, Debug)]
pub struct Lexicon {
    matcher: AhoCorasick,
    /// Pattern id → indexes into `entries` (one normalised phrase can belong
    /// to several types).
    by_pattern: Vec<Vec<u32>>,
    entries: Vec<LexiconEntry>,
}

impl Lexicon {
    /// The lexicon shipped with the product.
    pub fn builtin() -> Result<Lexicon, LexiconError> {
        Lexicon::from_toml(BUILTIN_LEXICON)
    }

    /// Parses and compiles a lexicon file.
    pub fn from_toml(text: &str) -> Result<Lexicon, LexiconError> {
        let file: LexiconFile = toml::from_str(text).map_err(|e| LexiconError::Syntax(e.to_string()))?;
        if file.version != LEXICON_VERSION {
            return Err(LexiconError::Version { found: file.version });
        }
        let mut entries = Vec::new();
        for (code, phrases) in &file.phrases {
            let t = FraudType::parse(code).map_err(|_| LexiconError::UnknownType(code.clone()))?;
            for (phrase, &weight) in phrases {
                entries.push(LexiconEntry {
                    phrase: phrase.clone(),
                    fraud_type: t,
                    weight,
                });
            }
        }
        Lexicon::from_entries(entries)
    }

    /// Compiles a list of entries. Weights must be in (0, MAX_WEIGHT]; a
    /// phrase must not be empty once normalised nor appear twice for one type.
    pub fn from_entries(entries: Vec<LexiconEntry>) -> Result<Lexicon, LexiconError> {
        if entries.is_empty() {
            return Err(LexiconError::Empty);
        }
        let mut patterns: Vec<String> = Vec::new();
        let mut pattern_ids: BTreeMap<String, usize> = BTreeMap::new();
        let mut by_pattern: Vec<Vec<u32>> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let bad = |reason| LexiconError::BadPhrase {
                fraud_type: e.fraud_type.code().to_string(),
                phrase: e.phrase.clone(),
                reason,
            };
            if !(e.weight.is_finite() && e.weight > 0.0 && e.weight <= MAX_WEIGHT) {
                return Err(bad("weight must be in (0, 10]"));
            }
            let norm = normalize_compact(&e.phrase);
            if norm.is_empty() {
                return Err(bad("empty after normalisation"));
            }
            let id = *pattern_ids.entry(norm.clone()).or_insert_with(|| {
                patterns.push(norm);
                by_pattern.push(Vec::new());
                patterns.len() - 1
            });
            if by_pattern[id]
                .iter()
                .any(|&j| entries[j as usize].fraud_type == e.fraud_type)
            {
                return Err(bad("listed twice for this type (after normalisation)"));
            }
            by_pattern[id].push(i as u32);
        }
        // A full DFA is the fastest matcher; a very large custom lexicon may
        // exceed its size limit, and then gets the automatic choice.
        let build = |kind| {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .kind(kind)
                .build(&patterns)
        };
        let matcher = build(Some(AhoCorasickKind::DFA))
            .or_else(|_| build(None))
            .map_err(|e| LexiconError::Build(e.to_string()))?;
        Ok(Lexicon {
            matcher,
            by_pattern,
            entries,
        })
    }

    /// Every entry, in lexicon order.
    pub fn entries(&self) -> &[LexiconEntry] {
        &self.entries
    }

    /// Finds every phrase in `text` and scores each type.
    pub fn scan(&self, text: &str) -> LexiconScan {
        self.scan_compact(&normalize_compact(text))
    }

    /// [`Lexicon::scan`] for text already passed through `normalize_compact`.
    pub fn scan_compact(&self, norm: &str) -> LexiconScan {
        // (pattern, count); a text matches few phrases, so a linear search wins.
        let mut counts: Vec<(usize, u32)> = Vec::new();
        for m in self.matcher.find_overlapping_iter(norm) {
            let pid = m.pattern().as_usize();
            match counts.iter_mut().find(|(p, _)| *p == pid) {
                Some((_, c)) => *c += 1,
                None => counts.push((pid, 1)),
            }
        }
        let mut scan = LexiconScan::default();
        let mut hits: Vec<(u32, PhraseHit)> = Vec::with_capacity(counts.len());
        for (pid, count) in counts {
            for &ei in self.by_pattern.get(pid).map(Vec::as_slice).unwrap_or(&[]) {
                if let Some(e) = self.entries.get(ei as usize) {
                    if let Some(r) = scan.raw.get_mut(type_index(e.fraud_type)) {
                        *r += e.weight;
                    }
                    let hit = PhraseHit {
                        phrase: e.phrase.clone(),
                        fraud_type: e.fraud_type,
                        weight: e.weight,
                        count,
                    };
                    hits.push((ei, hit));
                }
            }
        }
        hits.sort_by_key(|(ei, _)| *ei);
        scan.hits = hits.into_iter().map(|(_, h)| h).collect();
        scan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_compiles_and_is_substantial() {
        let lx = Lexicon::builtin().unwrap();
        assert!(lx.entries().len() >= 300, "{}", lx.entries().len());
        for t in FraudType::ALL {
            let n = lx.entries().iter().filter(|e| e.fraud_type == *t).count();
            assert!(n >= 15, "{t}: only {n} phrases");
        }
    }

    #[test]
    fn scores_distinct_phrases_once_and_overlaps() {
        let lx = Lexicon::from_toml(
            "version = 1\n[phrases.impersonate_authority]\n\"安全账户\" = 3.0\n\"账户\" = 0.5\n\
             [phrases.fake_loan]\n\"ＱＱ贷\" = 1.0\n",
        )
        .unwrap();
        let s = lx.scan("把钱转到安全账户，安全账户！qq贷");
        let auth = s.raw[type_index(FraudType::ImpersonateAuthority)];
        assert!((auth - 3.5).abs() < 1e-6);
        assert_eq!(s.hits.len(), 3);
        let safe = s.hits.iter().find(|h| h.phrase == "安全账户").unwrap();
        assert_eq!(
            (safe.count, safe.fraud_type),
            (2, FraudType::ImpersonateAuthority)
        );
        assert_eq!(s.top().map(|t| t.0), Some(FraudType::ImpersonateAuthority));
        assert!((s.score(FraudType::FakeLoan) - (1.0 - (-0.5f32).exp())).abs() < 1e-6);
        assert!(lx.scan("天气不错").hits.is_empty());
    }

    #[test]
    fn rejects_bad_files() {
        let cases = [
            ("version = 2\n", "version"),
            ("version = 1\n[phrases.nonsense]\n\"x\" = 1.0\n", "unknown"),
            ("version = 1\n[phrases.other]\n\"x\" = 0.0\n", "weight"),
            ("version = 1\n[phrases.other]\n\"x\" = 11.0\n", "weight"),
            ("version = 1\n[phrases.other]\n\" \" = 1.0\n", "empty"),
            (
                "version = 1\n[phrases.other]\n\"QQ\" = 1.0\n\"qq\" = 1.0\n",
                "twice",
            ),
            ("version = 1\n", "no phrases"),
            ("version = [", "TOML"),
            ("version = 1\nextra = 2\n", "TOML"),
        ];
        for (text, want) in cases {
            let err = Lexicon::from_toml(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
