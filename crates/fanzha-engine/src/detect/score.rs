//! Scoring a person's signals under a rule set, and explaining the score.
//!
//! The fast path ([`score`]) allocates nothing; [`explain`] builds the full
//! breakdown that goes with a lead decision.

use fanzha_core::{FraudType, Grade, Timestamp};
use serde::Serialize;

use super::rules::{CompiledRules, fraud_index};
use super::signal::{N_SIGNALS, SignalType};
use super::state::{Entry, NO_FRAUD, RING, unix_ms};

/// What the app knows about the person an event is about. Unknown persons
/// (no resident record) pass `PersonAttrs::default()`: they are still
/// tracked by their key, without vulnerability multipliers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PersonAttrs {
    #[serde(default)]
    pub age: Option<u8>,
    /// Resident tags as the registry writes them (`独居老人`, `学生`…).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Vulnerability multipliers for one person under one rule set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Mults {
    /// For signals without a fraud type and for chain bonuses.
    pub general: f32,
    /// Per index of `FraudType::ALL`.
    pub per_fraud: [f32; 11],
}

pub(crate) fn multipliers(rules: &CompiledRules, attrs: &PersonAttrs) -> Mults {
    let mut general = 1.0f32;
    if let Some(age) = attrs.age
        && let Some(b) = rules.age_bands.iter().find(|b| (b.min..=b.max).contains(&age))
    {
        general *= b.multiplier;
    }
    let mut per_fraud = [1.0f32; 11];
    for t in &rules.tags {
        if !attrs.tags.iter().any(|a| a.trim() == t.tag) {
            continue;
        }
        if t.fraud_mask == 0 {
            general *= t.multiplier;
        } else {
            for (i, m) in per_fraud.iter_mut().enumerate() {
                if t.fraud_mask & (1 << i) != 0 {
                    *m *= t.multiplier;
                }
            }
        }
    }
    let cap = rules.max_multiplier;
    for m in &mut per_fraud {
        *m = (*m * general).min(cap);
    }
    Mults {
        general: general.min(cap),
        per_fraud,
    }
}

impl Mults {
    fn of(&self, fraud: u8) -> f32 {
        self.per_fraud
            .get(usize::from(fraud))
            .copied()
            .unwrap_or(self.general)
    }
}

#[inline]
fn decay(rules: &CompiledRules, now: u32, at: u32) -> f32 {
    let age = now.saturating_sub(at) as f32;
    (-age / rules.half_life_s).exp2()
}

fn in_window(rules: &CompiledRules, now: u32, at: u32) -> bool {
    now.saturating_sub(at) <= rules.window_s
}

/// A score and what drove it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Summary {
    pub total: f32,
    /// Index into `FraudType::ALL` of the largest contributor, if any.
    pub top_fraud: Option<usize>,
}

/// Per-type decayed sums and the cap factor of each type.
fn cap_factors(rules: &CompiledRules, entries: &[Entry], now: u32) -> [f32; N_SIGNALS] {
    let mut sums = [0f32; N_SIGNALS];
    for e in entries {
        if let Some(s) = sums.get_mut(usize::from(e.sig))
            && in_window(rules, now, e.at)
        {
            *s += rules.weight[usize::from(e.sig)] * e.strength() * decay(rules, now, e.at);
        }
    }
    let mut f = [1f32; N_SIGNALS];
    for i in 0..N_SIGNALS {
        if sums[i] > rules.cap[i] {
            f[i] = rules.cap[i] / sums[i];
        }
    }
    f
}

/// A chain found in a person's signals: the entries (indices into the
/// time-sorted list) that fulfil its steps.
struct ChainMatch {
    idx: [u8; 8],
    n: usize,
    last_at: u32,
}

/// Entries in the window, sorted by (time, sequence number).
fn sorted(rules: &CompiledRules, entries: &[Entry], now: u32) -> ([Entry; RING], usize) {
    let mut v = [Entry::EMPTY; RING];
    let mut n = 0;
    for e in entries {
        if in_window(rules, now, e.at) && n < RING {
            v[n] = *e;
            n += 1;
        }
    }
    v[..n].sort_unstable_by_key(|e| (e.at, e.seq()));
    (v, n)
}

fn find_chain(steps: &[u16], within_s: u32, v: &[Entry]) -> Option<ChainMatch> {
    let (first, rest) = steps.split_first()?;
    let (last_step, middle) = rest.split_last()?;
    let has = |mask: u16, e: &Entry| e.sig < 16 && mask & (1 << e.sig) != 0;
    let mut best: Option<ChainMatch> = None;
    for s in 0..v.len() {
        if !has(*first, &v[s]) {
            continue;
        }
        let mut m = ChainMatch {
            idx: [0; 8],
            n: 1,
            last_at: v[s].at,
        };
        m.idx[0] = s as u8;
        let mut cur = s;
        let mut ok = true;
        for step in middle {
            match (cur + 1..v.len()).find(|&j| has(*step, &v[j])) {
                Some(j) => {
                    m.idx[m.n] = j as u8;
                    m.n += 1;
                    cur = j;
                }
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            continue;
        }
        let start_at = v[s].at;
        let end = (cur + 1..v.len())
            .rev()
            .find(|&j| has(*last_step, &v[j]) && v[j].at.saturating_sub(start_at) <= within_s);
        let Some(j) = end else { continue };
        if v[cur].at.saturating_sub(start_at) > within_s {
            continue;
        }
        m.idx[m.n] = j as u8;
        m.n += 1;
        m.last_at = v[j].at;
        if best.as_ref().is_none_or(|b| m.last_at > b.last_at) {
            best = Some(m);
        }
    }
    best
}

/// The score of `entries` at `now`.
pub(crate) fn score(rules: &CompiledRules, entries: &[Entry], now: u32, m: &Mults) -> Summary {
    let caps = cap_factors(rules, entries, now);
    let mut total = 0f32;
    let mut by_fraud = [0f32; 11];
    for e in entries {
        let sig = usize::from(e.sig);
        if sig >= N_SIGNALS || !in_window(rules, now, e.at) {
            continue;
        }
        let c = rules.weight[sig] * e.strength() * decay(rules, now, e.at) * caps[sig] * m.of(e.fraud);
        total += c;
        if let Some(b) = by_fraud.get_mut(usize::from(e.fraud)) {
            *b += c;
        }
    }
    if !rules.chains.is_empty() {
        let (v, n) = sorted(rules, entries, now);
        for ch in &rules.chains {
            if let Some(cm) = find_chain(&ch.steps, ch.within_s, &v[..n]) {
                total += ch.bonus * decay(rules, now, cm.last_at) * m.general;
            }
        }
    }
    let top_fraud = by_fraud
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0.0)
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i);
    Summary { total, top_fraud }
}

/// The compact evidence kept in state, as the explanation shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StoredEvidence {
    /// The indicator's store id (`None` when it does not fit the compact
    /// state: re-match the event to find it).
    Indicator {
        indicator_id: Option<i64>,
    },
    /// The classifier's score is the signal's strength; the text is found
    /// through the event.
    Text {
        text_hash: u32,
    },
    FlaggedContacts {
        distinct: u32,
    },
    InternationalCaller {
        caller_hash: u32,
    },
    RemoteApp {
        app: String,
    },
    LargeTransfer {
        amount_yuan: u32,
    },
    Payee {
        payee_hash: u32,
    },
}

/// Sentinel for an indicator id that does not fit in 32 bits.
pub(crate) const ID_ELSEWHERE: u32 = u32::MAX;

pub(crate) fn compact_id(id: i64) -> u32 {
    if id > 0 && id < i64::from(ID_ELSEWHERE) {
        id as u32
    } else {
        ID_ELSEWHERE
    }
}

fn stored_evidence(rules: &CompiledRules, sig: SignalType, ev: u32) -> StoredEvidence {
    match sig {
        SignalType::CallFlagged
        | SignalType::SmsFlagged
        | SignalType::WebFlagged
        | SignalType::AppFlagged
        | SignalType::TransferFlagged
        | SignalType::LongCallFlagged
        | SignalType::LinkFlagged => StoredEvidence::Indicator {
            indicator_id: (ev != ID_ELSEWHERE).then_some(i64::from(ev)),
        },
        SignalType::TextFraud => StoredEvidence::Text { text_hash: ev },
        SignalType::ManyFlaggedContacts => StoredEvidence::FlaggedContacts { distinct: ev },
        SignalType::IntlCallElderly => StoredEvidence::InternationalCaller { caller_hash: ev },
        SignalType::RemoteAppAfterContact => StoredEvidence::RemoteApp {
            app: rules
                .remote_apps
                .apps()
                .get(ev as usize)
                .map_or_else(|| format!("#{ev}"), |a| a.name.clone()),
        },
        SignalType::FirstLargeTransfer => StoredEvidence::LargeTransfer { amount_yuan: ev },
        SignalType::TransferAfterSignal => StoredEvidence::Payee { payee_hash: ev },
    }
}

/// One signal's part in a score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExplainedSignal {
    pub signal: SignalType,
    /// The caller's sequence number of the event that raised it (the store's
    /// event row id or the bus offset): the app maps it back to the event and
    /// its id.
    pub event_seq: u64,
    pub at: Timestamp,
    pub fraud_type: Option<FraudType>,
    pub evidence: StoredEvidence,
    pub strength: f32,
    /// Rule weight × strength.
    pub raw_weight: f32,
    /// After decay.
    pub decayed_weight: f32,
    /// Below 1 when the signal type's cap applied.
    pub cap_factor: f32,
    pub multiplier: f32,
    pub contribution: f32,
}

/// A chain bonus in a score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChainApplied {
    pub name: String,
    pub bonus: f32,
    pub decayed_bonus: f32,
    pub multiplier: f32,
    pub contribution: f32,
    /// The events that fulfilled the steps, in order.
    pub event_seqs: Vec<u64>,
}

/// A vulnerability multiplier that applied.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MultiplierApplied {
    /// `age 70-150` or `tag 独居老人`.
    pub source: String,
    pub multiplier: f32,
    /// Empty: every signal.
    pub fraud_types: Vec<FraudType>,
}

/// Why a person has the score they have.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    pub rules_version: u32,
    pub rules_name: String,
    pub at: Timestamp,
    /// Every signal inside the window, oldest first.
    pub signals: Vec<ExplainedSignal>,
    pub chains: Vec<ChainApplied>,
    pub multipliers: Vec<MultiplierApplied>,
    /// Held to `vulnerability.max_multiplier`.
    pub max_multiplier: f32,
    pub signal_sum: f32,
    pub chain_sum: f32,
    pub score: f32,
    pub grade: Option<Grade>,
    /// The fraud type that contributes most.
    pub fraud_type: Option<FraudType>,
}

pub(crate) fn fraud_of_code(code: u8) -> Option<FraudType> {
    if code == NO_FRAUD {
        None
    } else {
        FraudType::ALL.get(usize::from(code)).copied()
    }
}

/// The full breakdown of [`score`].
pub(crate) fn explain(
    rules: &CompiledRules,
    entries: &[Entry],
    now: u32,
    attrs: &PersonAttrs,
) -> Explanation {
    let m = multipliers(rules, attrs);
    let caps = cap_factors(rules, entries, now);
    let (v, n) = sorted(rules, entries, now);
    let v = &v[..n];
    let mut signals = Vec::with_capacity(n);
    let mut signal_sum = 0f32;
    for e in v {
        let Some(sig) = SignalType::from_u8(e.sig) else {
            continue;
        };
        let raw = rules.weight[sig as usize] * e.strength();
        let decayed = raw * decay(rules, now, e.at);
        let mult = m.of(e.fraud);
        let cf = caps[sig as usize];
        let contribution = decayed * cf * mult;
        signal_sum += contribution;
        signals.push(ExplainedSignal {
            signal: sig,
            event_seq: e.seq(),
            at: Timestamp(unix_ms(e.at)),
            fraud_type: fraud_of_code(e.fraud),
            evidence: stored_evidence(rules, sig, e.evidence),
            strength: e.strength(),
            raw_weight: raw,
            decayed_weight: decayed,
            cap_factor: cf,
            multiplier: mult,
            contribution,
        });
    }
    let mut chains = Vec::new();
    let mut chain_sum = 0f32;
    for ch in &rules.chains {
        if let Some(cm) = find_chain(&ch.steps, ch.within_s, v) {
            let decayed = ch.bonus * decay(rules, now, cm.last_at);
            let contribution = decayed * m.general;
            chain_sum += contribution;
            chains.push(ChainApplied {
                name: ch.name.clone(),
                bonus: ch.bonus,
                decayed_bonus: decayed,
                multiplier: m.general,
                contribution,
                event_seqs: cm.idx[..cm.n].iter().map(|&i| v[usize::from(i)].seq()).collect(),
            });
        }
    }
    let mut multipliers = Vec::new();
    if let Some(age) = attrs.age
        && let Some(b) = rules.age_bands.iter().find(|b| (b.min..=b.max).contains(&age))
    {
        multipliers.push(MultiplierApplied {
            source: format!("age {}-{}", b.min, b.max),
            multiplier: b.multiplier,
            fraud_types: Vec::new(),
        });
    }
    for t in &rules.tags {
        if attrs.tags.iter().any(|a| a.trim() == t.tag) {
            multipliers.push(MultiplierApplied {
                source: format!("tag {}", t.tag),
                multiplier: t.multiplier,
                fraud_types: FraudType::ALL
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| t.fraud_mask & (1 << i) != 0)
                    .map(|(_, f)| *f)
                    .collect(),
            });
        }
    }
    let summary = score(rules, entries, now, &m);
    Explanation {
        rules_version: rules.version,
        rules_name: rules.name.to_string(),
        at: Timestamp(unix_ms(now)),
        signals,
        chains,
        multipliers,
        max_multiplier: rules.max_multiplier,
        signal_sum,
        chain_sum,
        score: summary.total,
        grade: rules.grade_of(summary.total),
        fraud_type: summary.top_fraud.and_then(|i| FraudType::ALL.get(i).copied()),
    }
}

/// The entry whose current contribution is lowest (expired ones first): the
/// one a full ring gives up.
pub(crate) fn weakest(rules: &CompiledRules, entries: &[Entry], now: u32) -> usize {
    let value = |e: &Entry| {
        if !in_window(rules, now, e.at) {
            return -1.0;
        }
        rules.weight.get(usize::from(e.sig)).copied().unwrap_or(0.0) * e.strength() * decay(rules, now, e.at)
    };
    entries
        .iter()
        .enumerate()
        .min_by(|a, b| value(a.1).total_cmp(&value(b.1)).then(a.1.at.cmp(&b.1.at)))
        .map_or(0, |(i, _)| i)
}

pub(crate) fn fraud_code(t: Option<FraudType>) -> u8 {
    t.map_or(NO_FRAUD, |t| fraud_index(t) as u8)
}
