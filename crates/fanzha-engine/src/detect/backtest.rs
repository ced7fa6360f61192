//! Backtest (DESIGN.md §5): replay one event stream under two rule sets,
//! each with fresh state, and report how the leads would change.
//!
//! Leads are matched per person: a lead under rules B matches a lead under
//! rules A of the same person raised within the larger of the two dedup
//! windows (at least one minute) of it, pairing the earliest first.
//! Unmatched B leads are new, unmatched A leads dropped; matched pairs whose
//! highest grade differs are grade changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use fanzha_core::event::Event;
use fanzha_core::{FraudType, Grade, Timestamp};
use serde::Serialize;

use super::engine::{DetectContext, Detector, LeadAction, Outcome};
use super::rules::CompiledRules;
use super::score::PersonAttrs;

/// One lead as a replay saw it: raised once, maybe updated later.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BacktestLead {
    pub person_key: u64,
    pub opened_at: Timestamp,
    /// The event that raised it.
    pub event_id: String,
    pub event_seq: u64,
    /// The grade it was raised with.
    pub first_grade: Grade,
    /// The highest grade its updates reached.
    pub max_grade: Grade,
    pub updates: u32,
    pub fraud_type: Option<FraudType>,
}

/// A lead both rule sets raise, at different grades.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GradeChange {
    pub person_key: u64,
    pub a: BacktestLead,
    pub b: BacktestLead,
}

/// Totals of one replay.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReplayCounts {
    pub rules_version: u32,
    pub rules_name: String,
    pub leads: u64,
    pub updates: u64,
    pub signals: u64,
    pub events_with_signals: u64,
    /// Leads by the highest grade they reached (`low`, `medium`…).
    pub by_grade: BTreeMap<Grade, u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BacktestCounts {
    pub events: u64,
    pub a: ReplayCounts,
    pub b: ReplayCounts,
    pub matched: u64,
}

/// How rules B's leads differ from rules A's over the same events.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BacktestDiff {
    /// Raised by B, not by A.
    pub new_leads: Vec<BacktestLead>,
    /// Raised by A, not by B.
    pub dropped_leads: Vec<BacktestLead>,
    pub grade_changes: Vec<GradeChange>,
    pub counts: BacktestCounts,
}

fn record(leads: &mut Vec<BacktestLead>, open: &mut BTreeMap<u64, usize>, out: &Outcome) {
    let Some(d) = &out.decision else { return };
    match d.action {
        LeadAction::Raise => {
            open.insert(d.person_key, leads.len());
            leads.push(BacktestLead {
                person_key: d.person_key,
                opened_at: d.opened_at,
                event_id: d.event_id.clone(),
                event_seq: d.event_seq,
                first_grade: d.grade,
                max_grade: d.grade,
                updates: 0,
                fraud_type: d.fraud_type,
            });
        }
        LeadAction::Update => {
            if let Some(l) = open.get(&d.person_key).and_then(|&i| leads.get_mut(i)) {
                l.max_grade = l.max_grade.max(d.grade);
                l.updates += 1;
                if d.fraud_type.is_some() {
                    l.fraud_type = d.fraud_type;
                }
            }
        }
    }
}

fn counts(rules: &CompiledRules, det: &Detector, leads: &[BacktestLead]) -> ReplayCounts {
    let mut by_grade = BTreeMap::new();
    for l in leads {
        *by_grade.entry(l.max_grade).or_insert(0) += 1;
    }
    ReplayCounts {
        rules_version: rules.version,
        rules_name: rules.name.to_string(),
        leads: det.stats().leads_raised,
        updates: det.stats().leads_updated,
        signals: det.stats().signals,
        events_with_signals: det.stats().events_with_signals,
        by_grade,
    }
}

/// Replays `events` (in order; the sequence number is the position) under
/// `rules_a` and `rules_b`, each with fresh state, and compares their leads.
pub fn replay(
    events: impl IntoIterator<Item = (Event, PersonAttrs)>,
    ctx: &DetectContext<'_>,
    rules_a: Arc<CompiledRules>,
    rules_b: Arc<CompiledRules>,
) -> BacktestDiff {
    let mut da = Detector::new(rules_a.clone());
    let mut db = Detector::new(rules_b.clone());
    let (mut la, mut lb) = (Vec::new(), Vec::new());
    let (mut oa, mut ob) = (BTreeMap::new(), BTreeMap::new());
    let mut out = Outcome::default();
    let mut n = 0u64;
    for (seq, (ev, attrs)) in events.into_iter().enumerate() {
        n += 1;
        da.process_into(ctx, &ev, seq as u64, &attrs, &mut out);
        record(&mut la, &mut oa, &out);
        db.process_into(ctx, &ev, seq as u64, &attrs, &mut out);
        record(&mut lb, &mut ob, &out);
    }
    let tol_ms = i64::from(rules_a.dedup_s.max(rules_b.dedup_s).max(60)) * 1000;
    let mut by_person: BTreeMap<u64, (Vec<&BacktestLead>, Vec<&BacktestLead>)> = BTreeMap::new();
    for l in &la {
        by_person.entry(l.person_key).or_default().0.push(l);
    }
    for l in &lb {
        by_person.entry(l.person_key).or_default().1.push(l);
    }
    let mut diff = BacktestDiff::default();
    let mut matched = 0u64;
    for (_, (a, b)) in by_person {
        let mut used = vec![false; b.len()];
        for x in &a {
            let found = b
                .iter()
                .enumerate()
                .find(|(j, y)| !used[*j] && (y.opened_at.0 - x.opened_at.0).abs() <= tol_ms);
            match found {
                Some((j, y)) => {
                    used[j] = true;
                    matched += 1;
                    if x.max_grade != y.max_grade {
                        diff.grade_changes.push(GradeChange {
                            person_key: x.person_key,
                            a: (*x).clone(),
                            b: (*y).clone(),
                        });
                    }
                }
                None => diff.dropped_leads.push((*x).clone()),
            }
        }
        for (j, y) in b.iter().enumerate() {
            if !used[j] {
                diff.new_leads.push((*y).clone());
            }
        }
    }
    diff.counts = BacktestCounts {
        events: n,
        a: counts(&rules_a, &da, &la),
        b: counts(&rules_b, &db, &lb),
        matched,
    };
    diff
}
