//! The rules document: every weight, window, threshold, chain and
//! multiplier the engine uses, as versioned TOML (DESIGN.md §4: "the
//! engine's work is defined by data").
//!
//! [`RulesDoc::parse`] reads and validates a document into [`CompiledRules`];
//! [`default_rules`] is the one shipped in `default_rules.toml`. The schema
//! is documented in that file, key by key.

use std::collections::BTreeMap;
use std::sync::Arc;

use fanzha_core::event::AppAction;
use fanzha_core::{FraudType, Grade, phone};
use serde::{Deserialize, Serialize};

use super::remote::{RemoteApps, RemoteAppsError};
use super::signal::{N_SIGNALS, SignalType};

/// The rules shipped with the product.
pub const DEFAULT_RULES: &str = include_str!("default_rules.toml");

/// Highest weight, cap or chain bonus.
pub const MAX_WEIGHT: f32 = 1000.0;
/// Longest window, in hours (a year).
pub const MAX_WINDOW_HOURS: f64 = 24.0 * 366.0;
/// Longest chain.
pub const MAX_CHAIN_STEPS: usize = 8;
/// Most chains in one document.
pub const MAX_CHAINS: usize = 32;

/// A rules document as written (see `default_rules.toml` for every key).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesDoc {
    pub version: u32,
    pub name: String,
    pub window: WindowDoc,
    pub grades: GradesDoc,
    /// Weight per signal type, by name; a type not listed is off.
    pub signals: BTreeMap<String, SignalDoc>,
    pub classifier: ClassifierDoc,
    pub behaviour: BehaviourDoc,
    #[serde(default)]
    pub chains: Vec<ChainDoc>,
    #[serde(default)]
    pub vulnerability: VulnerabilityDoc,
    #[serde(default)]
    pub allow: AllowDoc,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowDoc {
    /// Signals older than this no longer count.
    pub hours: f64,
    /// A signal's weight halves every `half_life_hours`.
    pub half_life_hours: f64,
    /// A rise within this time of the person's last lead updates that lead.
    pub dedup_hours: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradesDoc {
    pub low: f32,
    pub medium: f32,
    pub high: f32,
    pub critical: f32,
    /// The lowest grade that raises a lead.
    pub lead_min: Grade,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalDoc {
    pub weight: f32,
    /// Most this signal type adds up to (decayed, before multipliers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<f32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierDoc {
    /// Lowest classifier score that raises `text_fraud`.
    pub min_score: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviourDoc {
    pub long_call_minutes: f64,
    pub many_flagged_min: u32,
    pub elderly_age: u8,
    pub intl_call_min_seconds: u32,
    pub large_transfer_fen: i64,
    pub transfer_after_signal_min_fen: i64,
    /// Signals that count as "contact with a flagged number".
    pub contact_signals: Vec<String>,
    pub remote_app_actions: Vec<AppAction>,
    #[serde(default = "one")]
    pub remote_app_strength: f32,
    #[serde(default = "one")]
    pub behaviour_strength: f32,
}

fn one() -> f32 {
    1.0
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainDoc {
    pub name: String,
    /// Each step: signal names, any of which fulfils it, in this order.
    pub steps: Vec<Vec<String>>,
    pub within_hours: f64,
    pub bonus: f32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VulnerabilityDoc {
    #[serde(default = "max_mult_default")]
    pub max_multiplier: f32,
    #[serde(default)]
    pub age: Vec<AgeBandDoc>,
    #[serde(default)]
    pub tags: Vec<TagDoc>,
}

fn max_mult_default() -> f32 {
    3.0
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeBandDoc {
    pub min: u8,
    pub max: u8,
    pub multiplier: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagDoc {
    pub tag: String,
    pub multiplier: f32,
    /// Only signals of these fraud types; empty = every signal.
    #[serde(default)]
    pub fraud_types: Vec<FraudType>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowDoc {
    /// Phones (any form) that never signal, beyond the built-in official numbers.
    #[serde(default)]
    pub phones: Vec<String>,
    /// Domains that never signal, with their subdomains.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Extra remote-control / screen-sharing packages (exact names).
    #[serde(default)]
    pub remote_packages: Vec<String>,
}

/// Why a rules document was rejected. Messages name the key.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RulesError {
    #[error("rules are not valid TOML for this schema: {0}")]
    Toml(String),
    #[error("rules key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
    #[error("remote app list: {0}")]
    RemoteApps(#[from] RemoteAppsError),
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> RulesError {
    RulesError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// One chain, compiled: steps as bit sets of signal types.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    pub name: String,
    pub steps: Vec<u16>,
    pub within_s: u32,
    pub bonus: f32,
}

/// A tag's multiplier, compiled.
#[derive(Clone, Debug, PartialEq)]
pub struct TagRule {
    pub tag: String,
    pub multiplier: f32,
    /// Bit set over [`FraudType::ALL`]; 0 = every signal.
    pub fraud_mask: u16,
}

/// Validated rules, ready for the engine. Share as `Arc<CompiledRules>`.
#[derive(Clone, Debug)]
pub struct CompiledRules {
    pub doc: RulesDoc,
    pub version: u32,
    pub name: Arc<str>,
    pub window_s: u32,
    pub half_life_s: f32,
    pub dedup_s: u32,
    /// Score thresholds for low, medium, high, critical.
    pub thresholds: [f32; 4],
    pub lead_min: Grade,
    pub weight: [f32; N_SIGNALS],
    pub cap: [f32; N_SIGNALS],
    pub min_text_score: f32,
    pub long_call_s: u32,
    pub many_flagged_min: u32,
    pub elderly_age: u8,
    pub intl_call_min_s: u32,
    pub large_transfer_fen: i64,
    pub transfer_after_signal_min_fen: i64,
    /// Bit set of the signal types that count as contact with a flagged number.
    pub contact_mask: u16,
    pub remote_app_actions: Vec<AppAction>,
    pub remote_app_strength: f32,
    pub behaviour_strength: f32,
    pub chains: Vec<Chain>,
    pub max_multiplier: f32,
    pub age_bands: Vec<AgeBandDoc>,
    pub tags: Vec<TagRule>,
    pub allow_phones: Vec<String>,
    /// Bit `n` set when an allowlisted phone has `n` bytes.
    pub allow_phone_lens: u64,
    pub allow_domains: Vec<String>,
    pub remote_apps: RemoteApps,
}

/// Official numbers that never signal, whatever the index or the rules say:
/// police, fire, ambulance, traffic police, the anti-fraud hotline 96110,
/// the anti-fraud SMS warning port 12381, the public-security 12110.
pub const BUILTIN_ALLOW_PHONES: [&str; 7] = [
    "+86110", "+86119", "+86120", "+86122", "+8696110", "+8612110", "+8612381",
];

fn check_hours(key: &str, h: f64, allow_zero: bool) -> Result<u32, RulesError> {
    let ok = h.is_finite() && (if allow_zero { h >= 0.0 } else { h > 0.0 }) && h <= MAX_WINDOW_HOURS;
    if !ok {
        let lower = if allow_zero { "0" } else { "above 0" };
        return Err(invalid(
            key,
            format!("must be {lower} and at most {MAX_WINDOW_HOURS} hours, not {h}"),
        ));
    }
    Ok((h * 3600.0).round() as u32)
}

fn check_weight(key: &str, w: f32) -> Result<f32, RulesError> {
    if !(w.is_finite() && (0.0..=MAX_WEIGHT).contains(&w)) {
        return Err(invalid(key, format!("must be from 0 to {MAX_WEIGHT}, not {w}")));
    }
    Ok(w)
}

fn check_unit(key: &str, v: f32) -> Result<f32, RulesError> {
    if !(v.is_finite() && v > 0.0 && v <= 1.0) {
        return Err(invalid(key, format!("must be above 0 and at most 1, not {v}")));
    }
    Ok(v)
}

fn check_multiplier(key: &str, m: f32) -> Result<f32, RulesError> {
    if !(m.is_finite() && (0.1..=10.0).contains(&m)) {
        return Err(invalid(key, format!("must be from 0.1 to 10, not {m}")));
    }
    Ok(m)
}

fn signal_set(key: &str, names: &[String]) -> Result<u16, RulesError> {
    if names.is_empty() {
        return Err(invalid(key, "must name at least one signal"));
    }
    let mut mask = 0u16;
    for n in names {
        let t = SignalType::parse(n).ok_or_else(|| invalid(key, format!("unknown signal `{n}`")))?;
        mask |= t.bit();
    }
    Ok(mask)
}

pub(crate) fn fraud_index(t: FraudType) -> usize {
    FraudType::ALL
        .iter()
        .position(|x| *x == t)
        .unwrap_or(FraudType::ALL.len() - 1)
}

impl RulesDoc {
    /// Reads and validates a TOML rules document.
    #[allow(clippy::should_implement_trait)]
    pub fn parse(text: &str) -> Result<CompiledRules, RulesError> {
        let doc: RulesDoc = toml::from_str(text).map_err(|e| RulesError::Toml(e.to_string()))?;
        doc.compile()
    }

    /// Validates the document and compiles it.
    pub fn compile(self) -> Result<CompiledRules, RulesError> {
        self.compile_with(RemoteApps::builtin()?)
    }

    fn compile_with(self, mut remote_apps: RemoteApps) -> Result<CompiledRules, RulesError> {
        let d = &self;
        if d.version == 0 {
            return Err(invalid("version", "must be 1 or more"));
        }
        let name = d.name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(invalid("name", "must be 1 to 64 bytes"));
        }
        let window_s = check_hours("window.hours", d.window.hours, false)?;
        let half_life_s = check_hours("window.half_life_hours", d.window.half_life_hours, false)? as f32;
        let dedup_s = check_hours("window.dedup_hours", d.window.dedup_hours, true)?;
        if dedup_s > window_s {
            return Err(invalid(
                "window.dedup_hours",
                "must not exceed window.hours (a lead's dedup state lives as long as its signals)",
            ));
        }
        let g = &d.grades;
        let thresholds = [g.low, g.medium, g.high, g.critical];
        let names = ["grades.low", "grades.medium", "grades.high", "grades.critical"];
        for (t, k) in thresholds.iter().zip(names) {
            if !(t.is_finite() && *t > 0.0 && *t <= MAX_WEIGHT * 10.0) {
                return Err(invalid(
                    k,
                    format!("must be above 0 and at most {}, not {t}", MAX_WEIGHT * 10.0),
                ));
            }
        }
        for i in 1..4 {
            if thresholds[i] <= thresholds[i - 1] {
                return Err(invalid(
                    names[i],
                    format!(
                        "must be above `{}` ({} is not above {})",
                        names[i - 1],
                        thresholds[i],
                        thresholds[i - 1]
                    ),
                ));
            }
        }
        let mut weight = [0f32; N_SIGNALS];
        let mut cap = [f32::INFINITY; N_SIGNALS];
        for (n, s) in &d.signals {
            let t =
                SignalType::parse(n).ok_or_else(|| invalid(format!("signals.{n}"), "unknown signal type"))?;
            weight[t as usize] = check_weight(&format!("signals.{n}.weight"), s.weight)?;
            if let Some(c) = s.cap {
                let c = check_weight(&format!("signals.{n}.cap"), c)?;
                if c < s.weight {
                    return Err(invalid(format!("signals.{n}.cap"), "must be at least the weight"));
                }
                cap[t as usize] = c;
            }
        }
        let min_text_score = check_unit("classifier.min_score", d.classifier.min_score)?;
        let b = &d.behaviour;
        if !(b.long_call_minutes.is_finite()
            && b.long_call_minutes > 0.0
            && b.long_call_minutes <= 24.0 * 60.0)
        {
            return Err(invalid(
                "behaviour.long_call_minutes",
                "must be above 0 and at most 1440",
            ));
        }
        if !(2..=8).contains(&b.many_flagged_min) {
            return Err(invalid(
                "behaviour.many_flagged_min",
                "must be from 2 to 8 (the state keeps 8 signals per person)",
            ));
        }
        if !(40..=120).contains(&b.elderly_age) {
            return Err(invalid("behaviour.elderly_age", "must be from 40 to 120"));
        }
        if b.intl_call_min_seconds > 3600 {
            return Err(invalid("behaviour.intl_call_min_seconds", "must be at most 3600"));
        }
        let max_fen = fanzha_core::event::MAX_AMOUNT_FEN;
        if !(1..=max_fen).contains(&b.large_transfer_fen) {
            return Err(invalid(
                "behaviour.large_transfer_fen",
                format!("must be from 1 to {max_fen}"),
            ));
        }
        if !(0..=b.large_transfer_fen).contains(&b.transfer_after_signal_min_fen) {
            return Err(invalid(
                "behaviour.transfer_after_signal_min_fen",
                "must be from 0 to behaviour.large_transfer_fen",
            ));
        }
        let contact_mask = signal_set("behaviour.contact_signals", &b.contact_signals)?;
        let behaviour_only = SignalType::RemoteAppAfterContact.bit()
            | SignalType::FirstLargeTransfer.bit()
            | SignalType::TransferAfterSignal.bit();
        if contact_mask & behaviour_only != 0 {
            return Err(invalid(
                "behaviour.contact_signals",
                "may not contain remote_app_after_contact or transfer signals",
            ));
        }
        let remote_app_strength = check_unit("behaviour.remote_app_strength", b.remote_app_strength)?;
        let behaviour_strength = check_unit("behaviour.behaviour_strength", b.behaviour_strength)?;
        if d.chains.len() > MAX_CHAINS {
            return Err(invalid("chains", format!("at most {MAX_CHAINS} chains")));
        }
        let mut chains = Vec::with_capacity(d.chains.len());
        for (i, c) in d.chains.iter().enumerate() {
            let key = format!("chains[{i}]");
            let cname = c.name.trim();
            if cname.is_empty() || cname.len() > 64 {
                return Err(invalid(format!("{key}.name"), "must be 1 to 64 bytes"));
            }
            if chains.iter().any(|x: &Chain| x.name == cname) {
                return Err(invalid(
                    format!("{key}.name"),
                    format!("duplicate chain name `{cname}`"),
                ));
            }
            if !(2..=MAX_CHAIN_STEPS).contains(&c.steps.len()) {
                return Err(invalid(
                    format!("{key}.steps"),
                    format!("must have 2 to {MAX_CHAIN_STEPS} steps"),
                ));
            }
            let steps = c
                .steps
                .iter()
                .enumerate()
                .map(|(j, s)| signal_set(&format!("{key}.steps[{j}]"), s))
                .collect::<Result<Vec<u16>, _>>()?;
            let within_s = check_hours(&format!("{key}.within_hours"), c.within_hours, false)?;
            if within_s > window_s {
                return Err(invalid(
                    format!("{key}.within_hours"),
                    "must not exceed window.hours",
                ));
            }
            chains.push(Chain {
                name: cname.to_owned(),
                steps,
                within_s,
                bonus: check_weight(&format!("{key}.bonus"), c.bonus)?,
            });
        }
        let v = &d.vulnerability;
        let max_multiplier = check_multiplier("vulnerability.max_multiplier", v.max_multiplier)?;
        if max_multiplier < 1.0 {
            return Err(invalid("vulnerability.max_multiplier", "must be at least 1"));
        }
        for (i, band) in v.age.iter().enumerate() {
            let key = format!("vulnerability.age[{i}]");
            if band.min > band.max || band.max > 150 {
                return Err(invalid(key, "needs min <= max <= 150"));
            }
            check_multiplier(&format!("{key}.multiplier"), band.multiplier)?;
            if v.age[..i].iter().any(|o| band.min <= o.max && o.min <= band.max) {
                return Err(invalid(key, "overlaps an earlier age band"));
            }
        }
        let mut tags = Vec::with_capacity(v.tags.len());
        for (i, t) in v.tags.iter().enumerate() {
            let key = format!("vulnerability.tags[{i}]");
            let tag = t.tag.trim();
            if tag.is_empty() || tag.len() > 64 {
                return Err(invalid(format!("{key}.tag"), "must be 1 to 64 bytes"));
            }
            let multiplier = check_multiplier(&format!("{key}.multiplier"), t.multiplier)?;
            let fraud_mask = t.fraud_types.iter().fold(0u16, |m, f| m | (1 << fraud_index(*f)));
            tags.push(TagRule {
                tag: tag.to_owned(),
                multiplier,
                fraud_mask,
            });
        }
        let mut allow_phones: Vec<String> = BUILTIN_ALLOW_PHONES.iter().map(|s| (*s).to_owned()).collect();
        for (i, p) in d.allow.phones.iter().enumerate() {
            let p = phone::normalize(p)
                .map_err(|e| invalid(format!("allow.phones[{i}]"), format!("not a phone number: {e}")))?;
            allow_phones.push(p);
        }
        allow_phones.sort();
        allow_phones.dedup();
        let mut allow_domains = Vec::new();
        for (i, dn) in d.allow.domains.iter().enumerate() {
            let dn = fanzha_core::domain::normalize(dn)
                .map_err(|e| invalid(format!("allow.domains[{i}]"), format!("not a domain: {e}")))?;
            allow_domains.push(dn);
        }
        for (i, p) in d.allow.remote_packages.iter().enumerate() {
            if !fanzha_core::app::is_package_name(p) {
                return Err(invalid(
                    format!("allow.remote_packages[{i}]"),
                    "not a package name",
                ));
            }
            remote_apps.add_package(p);
        }
        Ok(CompiledRules {
            version: d.version,
            name: Arc::from(name),
            window_s,
            half_life_s,
            dedup_s,
            thresholds,
            lead_min: g.lead_min,
            weight,
            cap,
            min_text_score,
            long_call_s: (b.long_call_minutes * 60.0).round() as u32,
            many_flagged_min: b.many_flagged_min,
            elderly_age: b.elderly_age,
            intl_call_min_s: b.intl_call_min_seconds,
            large_transfer_fen: b.large_transfer_fen,
            transfer_after_signal_min_fen: b.transfer_after_signal_min_fen,
            contact_mask,
            remote_app_actions: b.remote_app_actions.clone(),
            remote_app_strength,
            behaviour_strength,
            chains,
            max_multiplier,
            age_bands: v.age.clone(),
            tags,
            allow_phone_lens: allow_phones
                .iter()
                .filter(|p| p.len() < 64)
                .fold(0u64, |m, p| m | (1 << p.len())),
            allow_phones,
            allow_domains,
            remote_apps,
            doc: self,
        })
    }
}

impl CompiledRules {
    /// The grade of a score, if it reaches `low`.
    pub fn grade_of(&self, score: f32) -> Option<Grade> {
        let mut g = None;
        for (t, grade) in self.thresholds.iter().zip(Grade::ALL) {
            if score >= *t {
                g = Some(*grade);
            }
        }
        g
    }

    pub(crate) fn phone_allowed(&self, e164: &str) -> bool {
        // Allowlisted numbers are mostly short codes: a length filter spares
        // the search for ordinary mobiles.
        let len = e164.len();
        if len >= 64 || self.allow_phone_lens & (1 << len) == 0 {
            return false;
        }
        self.allow_phones
            .binary_search_by(|p| p.as_str().cmp(e164))
            .is_ok()
    }

    pub(crate) fn domain_allowed(&self, domain: &str) -> bool {
        self.allow_domains
            .iter()
            .any(|d| fanzha_core::domain::is_within(domain, d))
    }
}

/// The shipped rules, compiled.
pub fn default_rules() -> Result<CompiledRules, RulesError> {
    RulesDoc::parse(DEFAULT_RULES)
}
