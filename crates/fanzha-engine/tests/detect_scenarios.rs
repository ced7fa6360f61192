//! Data-driven detection scenarios: every `testdata/detect/*.toml` file
//! except `rules_*.toml` is one scenario (format in testdata/detect/README.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fanzha_core::event::{ParseOptions, parse_event_line};
use fanzha_core::{FraudType, Grade, IndicatorKind, Timestamp};
use fanzha_engine::detect::{
    CompiledRules, DetectContext, Detector, LeadAction, PersonAttrs, RulesDoc, default_rules,
};
use fanzha_engine::index::IndexBuilder;
use fanzha_engine::text::{CombineParams, Lexicon, TextClassifier};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    name: String,
    #[serde(default)]
    description: String,
    /// A rules file in testdata/detect, or the shipped rules.
    #[serde(default)]
    rules: Option<String>,
    #[serde(default)]
    indicator: Vec<IndicatorCase>,
    /// Attributes per subscriber (any phone spelling).
    #[serde(default)]
    persons: BTreeMap<String, PersonAttrs>,
    /// The app's allowlist, passed as the predicate.
    #[serde(default)]
    allow: Vec<AllowCase>,
    #[serde(default)]
    text_classifier: bool,
    step: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IndicatorCase {
    id: i64,
    kind: IndicatorKind,
    value: String,
    fraud_type: FraudType,
    confidence: u8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowCase {
    kind: IndicatorKind,
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    /// An NDJSON event line.
    #[serde(default)]
    event: Option<String>,
    /// Swap in these rules before the event.
    #[serde(default)]
    reload_rules: Option<String>,
    /// Evict idle persons at this time (RFC 3339) and expect this many gone.
    #[serde(default)]
    evict_at: Option<String>,
    #[serde(default)]
    evicted: Option<usize>,
    #[serde(default)]
    expect: Option<Expect>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// Signal names raised by the event (order ignored).
    #[serde(default)]
    signals: Option<Vec<String>>,
    /// `none` or a grade.
    #[serde(default)]
    grade: Option<String>,
    /// `none`, `raise` or `update`.
    #[serde(default)]
    decision: Option<String>,
    #[serde(default)]
    decision_grade: Option<Grade>,
    #[serde(default)]
    fraud_type: Option<FraudType>,
    #[serde(default)]
    rules_version: Option<u32>,
    #[serde(default)]
    chains: Option<Vec<String>>,
    /// Signal types the decision's explanation lists (order ignored).
    #[serde(default)]
    explained: Option<Vec<String>>,
    #[serde(default)]
    score_min: Option<f32>,
    #[serde(default)]
    score_max: Option<f32>,
    #[serde(default)]
    persons_tracked: Option<usize>,
    #[serde(default)]
    multipliers: Option<Vec<String>>,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/detect")
}

fn load_rules(name: &str) -> Arc<CompiledRules> {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Arc::new(RulesDoc::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}")))
}

fn run(path: &Path) {
    let file = path.file_name().unwrap().to_string_lossy().to_string();
    let text = std::fs::read_to_string(path).unwrap();
    let sc: Scenario = toml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(!sc.step.is_empty(), "{file}: no steps");
    let _ = &sc.description;
    let mut b = IndexBuilder::new();
    for i in &sc.indicator {
        let v = fanzha_core::indicator::normalize(i.kind, &i.value).unwrap_or_else(|e| panic!("{file}: {e}"));
        b.push(i.id, i.kind, &v, i.fraud_type, i.confidence).unwrap();
    }
    let index = b.finish();
    let allow: Vec<(IndicatorKind, String)> = sc
        .allow
        .iter()
        .map(|a| {
            (
                a.kind,
                fanzha_core::indicator::normalize(a.kind, &a.value).unwrap(),
            )
        })
        .collect();
    let allow_fn = |k: IndicatorKind, v: &str| allow.iter().any(|(ak, av)| *ak == k && av == v);
    let classifier = TextClassifier::new(Lexicon::builtin().unwrap(), None, CombineParams::default());
    let mut ctx = DetectContext::new(&index).with_allow(&allow_fn);
    if sc.text_classifier {
        ctx = ctx.with_classifier(&classifier);
    }
    let persons: BTreeMap<String, PersonAttrs> = sc
        .persons
        .iter()
        .map(|(k, v)| {
            (
                fanzha_core::phone::normalize(k).unwrap_or_else(|_| k.clone()),
                v.clone(),
            )
        })
        .collect();
    let rules = match &sc.rules {
        Some(r) => load_rules(r),
        None => Arc::new(default_rules().unwrap()),
    };
    let mut det = Detector::new(rules);
    let opts = ParseOptions::at(Timestamp(4_000_000_000_000));
    for (n, step) in sc.step.iter().enumerate() {
        let at = format!("{file} ({}) step {}", sc.name, n + 1);
        if let Some(r) = &step.reload_rules {
            det.set_rules(load_rules(r));
        }
        if let Some(t) = &step.evict_at {
            let ts = fanzha_core::event::parse_time(t).unwrap_or_else(|| panic!("{at}: bad evict_at"));
            let gone = det.evict_idle(ts);
            if let Some(e) = step.evicted {
                assert_eq!(gone, e, "{at}: evicted");
            }
        }
        let Some(line) = &step.event else {
            if let Some(x) = &step.expect
                && let Some(p) = x.persons_tracked
            {
                assert_eq!(det.persons_tracked(), p, "{at}: persons tracked");
            }
            continue;
        };
        let ev = parse_event_line(line.as_bytes(), &opts).unwrap_or_else(|e| panic!("{at}: {e}"));
        let attrs = persons.get(ev.subscriber().value()).cloned().unwrap_or_default();
        let out = det.process(&ctx, &ev, n as u64 + 1, &attrs);
        let Some(x) = &step.expect else { continue };
        if let Some(sigs) = &x.signals {
            let mut got: Vec<String> = out.signals.iter().map(|s| s.signal.code().to_owned()).collect();
            let mut want = sigs.clone();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{at}: signals");
        }
        if let Some(g) = &x.grade {
            let got = out.grade.map_or("none", |g| g.code());
            assert_eq!(got, g, "{at}: grade (score {:?})", out.score);
        }
        if let Some(min) = x.score_min {
            assert!(
                out.score.unwrap_or(0.0) >= min,
                "{at}: score {:?} < {min}",
                out.score
            );
        }
        if let Some(max) = x.score_max {
            assert!(
                out.score.unwrap_or(0.0) <= max,
                "{at}: score {:?} > {max}",
                out.score
            );
        }
        if let Some(v) = x.rules_version {
            assert_eq!(out.rules_version, v, "{at}: rules version");
        }
        if let Some(p) = x.persons_tracked {
            assert_eq!(det.persons_tracked(), p, "{at}: persons tracked");
        }
        let d = out.decision.as_ref();
        if let Some(want) = &x.decision {
            let got = match d.map(|d| d.action) {
                None => "none",
                Some(LeadAction::Raise) => "raise",
                Some(LeadAction::Update) => "update",
            };
            assert_eq!(
                got, want,
                "{at}: decision (grade {:?}, score {:?})",
                out.grade, out.score
            );
        }
        if let Some(g) = x.decision_grade {
            assert_eq!(d.map(|d| d.grade), Some(g), "{at}: decision grade");
        }
        if let Some(f) = x.fraud_type {
            assert_eq!(d.and_then(|d| d.fraud_type), Some(f), "{at}: fraud type");
        }
        if let Some(d) = d {
            // Every decision explains itself and names its rules.
            assert_eq!(d.rules_version, out.rules_version, "{at}");
            assert_eq!(d.explanation.rules_version, d.rules_version, "{at}");
            assert!(!d.explanation.signals.is_empty(), "{at}: empty explanation");
            assert!(
                (d.explanation.score - d.score).abs() < 1e-3,
                "{at}: explanation score"
            );
            let sum = d.explanation.signal_sum + d.explanation.chain_sum;
            assert!(
                (sum - d.score).abs() < 1e-2 * d.score.max(1.0),
                "{at}: parts {sum} vs {}",
                d.score
            );
            assert!(
                d.explanation.signals.iter().any(|s| s.event_seq == n as u64 + 1),
                "{at}: the deciding event is not in the explanation"
            );
            assert_eq!(d.event_id, ev.id, "{at}");
            assert_eq!(d.subscriber, ev.subscriber().value(), "{at}");
        }
        if let Some(chains) = &x.chains {
            let got: Vec<&str> = d
                .map(|d| d.explanation.chains.iter().map(|c| c.name.as_str()).collect())
                .unwrap_or_default();
            assert_eq!(
                got,
                chains.iter().map(String::as_str).collect::<Vec<_>>(),
                "{at}: chains"
            );
        }
        if let Some(ex) = &x.explained {
            let mut got: Vec<String> = d
                .map(|d| {
                    d.explanation
                        .signals
                        .iter()
                        .map(|s| s.signal.code().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            let mut want = ex.clone();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{at}: explained signals");
        }
        if let Some(ms) = &x.multipliers {
            let got: Vec<&str> = d
                .map(|d| {
                    d.explanation
                        .multipliers
                        .iter()
                        .map(|m| m.source.as_str())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(
                got,
                ms.iter().map(String::as_str).collect::<Vec<_>>(),
                "{at}: multipliers"
            );
        }
    }
}

#[test]
fn scenarios() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("testdata/detect is missing")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "toml")
                && !p.file_name().unwrap().to_string_lossy().starts_with("rules_")
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected the scenario files, found {}",
        files.len()
    );
    for f in &files {
        run(f);
    }
}
