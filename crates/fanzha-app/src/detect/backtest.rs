//! Backtest (DESIGN.md §5): stored events between two times replayed under
//! candidate rules and under the live ones, each with fresh state
//! ([`fanzha_engine::detect::backtest::replay`]); the report lists the leads
//! the candidate would add, those it would drop, and grade changes, with
//! subscribers masked.

use super::rules::check_rules;
use super::{Directory, decode_stored};
use crate::crypto::FieldCipher;
use crate::{Actor, App, AppError, Result};
use fanzha_core::event::{Event, PartyRef};
use fanzha_core::i18n::Msg;
use fanzha_core::roles::Action;
use fanzha_core::{FraudType, Grade, IndicatorKind, NodeId, ResidentId, Timestamp, mask};
use fanzha_engine::detect::backtest::{BacktestCounts, BacktestLead, replay};
use fanzha_engine::detect::{DetectContext, PersonAttrs};
use fanzha_store::{Store, StoredEvent};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// A lead as a replay saw it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BacktestLeadView {
    /// The stored event that raised it.
    pub event_seq: i64,
    pub opened_at: Timestamp,
    pub first_grade: Grade,
    pub max_grade: Grade,
    pub updates: u32,
    pub fraud_type: Option<FraudType>,
    pub subscriber_masked: String,
    pub resident_id: Option<ResidentId>,
    pub node_id: Option<NodeId>,
}

/// A lead both rule sets raise, at different grades.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BacktestGradeChange {
    pub live: BacktestLeadView,
    pub candidate: BacktestLeadView,
}

/// How the candidate rules' leads differ from the live rules' leads.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BacktestReport {
    pub from: Timestamp,
    pub to: Timestamp,
    pub live_version: i64,
    pub candidate_name: String,
    /// Events replayed.
    pub events: u64,
    /// More events matched than one backtest replays; the rest were left out.
    pub truncated: bool,
    /// Raised by the candidate, not by the live rules.
    pub new_leads: Vec<BacktestLeadView>,
    /// Raised by the live rules, not by the candidate.
    pub dropped_leads: Vec<BacktestLeadView>,
    pub grade_changes: Vec<BacktestGradeChange>,
    /// The engine's totals (`a`: live, `b`: candidate).
    pub counts: BacktestCounts,
    pub elapsed_ms: u64,
}

/// Reads stored events page by page for the synchronous replay.
struct Pager<'a> {
    handle: tokio::runtime::Handle,
    store: Arc<dyn Store>,
    cipher: &'a FieldCipher,
    dir: &'a Directory,
    from: Timestamp,
    to: Timestamp,
    after: i64,
    buf: VecDeque<StoredEvent>,
    done: bool,
    left: usize,
    truncated: &'a mut bool,
    /// Stored seq of each replayed position.
    seqs: &'a mut Vec<i64>,
    error: &'a mut Option<String>,
}

const PAGE: usize = 4_096;

impl Iterator for Pager<'_> {
    type Item = (Event, PersonAttrs);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.buf.pop_front() {
                let Some(ev) = decode_stored(self.cipher, &e.payload) else {
                    continue;
                };
                if self.left == 0 {
                    *self.truncated = true;
                    self.done = true;
                    self.buf.clear();
                    return None;
                }
                self.left -= 1;
                self.seqs.push(e.seq);
                let attrs = self.dir.attrs(e.person_key as u64).clone();
                return Some((ev, attrs));
            }
            if self.done {
                return None;
            }
            let page = self
                .handle
                .block_on(self.store.events_in_range(self.from, self.to, self.after, PAGE));
            match page {
                Ok(p) => {
                    if p.len() < PAGE {
                        self.done = true;
                    }
                    if let Some(last) = p.last() {
                        self.after = last.seq;
                    }
                    self.buf.extend(p);
                }
                Err(e) => {
                    *self.error = Some(e.to_string());
                    self.done = true;
                }
            }
        }
    }
}

impl App {
    /// Replays the stored events with `from <= ts < to` under `candidate`
    /// (a rules document) and under the live rules, and reports the
    /// difference. At most [`super::DetectConfig::backtest_max_events`]
    /// events are replayed.
    pub async fn backtest(
        &self,
        actor: &Actor,
        candidate: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<BacktestReport> {
        self.gate(actor, Action::EditRules)?;
        let rep = self.run_backtest(candidate, from, to).await?;
        tracing::info!(
            user_id = actor.user.id.0,
            events = rep.events,
            new = rep.new_leads.len(),
            dropped = rep.dropped_leads.len(),
            changed = rep.grade_changes.len(),
            "backtest"
        );
        Ok(rep)
    }

    /// [`App::backtest`] for the command line, run by whoever can read the
    /// data directory (and so holds the master key).
    pub async fn cli_backtest(
        &self,
        candidate: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<BacktestReport> {
        self.run_backtest(candidate, from, to).await
    }

    async fn run_backtest(&self, candidate: &str, from: Timestamp, to: Timestamp) -> Result<BacktestReport> {
        let cand = check_rules(candidate)
            .map_err(|e| AppError::Invalid(Msg::new("rules.invalid").arg("reason", e)))?;
        if to <= from {
            return Err(AppError::invalid("backtest.bad_range"));
        }
        let started = std::time::Instant::now();
        self.ensure_intel().await?;
        let (live, live_version) = self.ensure_rules().await?;
        let classifier = self.text_classifier().await?;
        if self.directory().residents == 0 {
            self.refresh_directory().await?;
        }
        let dir = self.directory();
        let first = self.store.first_seq_since(from).await?;
        let candidate_name = cand.name.to_string();
        let cand = Arc::new(cand);
        let index = self.intel_index().snapshot();
        let allow = self.intel.allow.snapshot();
        let store = self.store.clone();
        let cipher = self.cipher.clone();
        let limit = self.cfg.detect.backtest_max_events;
        let handle = tokio::runtime::Handle::current();
        let (diff, seqs, truncated) = tokio::task::spawn_blocking(move || {
            let mut seqs = Vec::new();
            let mut truncated = false;
            let mut error = None;
            let allow_fn = move |k: IndicatorKind, v: &str| allow.for_each_hit(k, v, |_| {}) > 0;
            let ctx = DetectContext::new(&index)
                .with_classifier(&classifier)
                .with_allow(&allow_fn);
            let pager = Pager {
                handle,
                store,
                cipher: &cipher,
                dir: &dir,
                from,
                to,
                after: first.map_or(i64::MAX - 1, |f| f - 1),
                buf: VecDeque::new(),
                done: first.is_none(),
                left: limit,
                truncated: &mut truncated,
                seqs: &mut seqs,
                error: &mut error,
            };
            let diff = replay(pager, &ctx, live, cand);
            match error {
                Some(e) => Err(AppError::Internal(e)),
                None => Ok((diff, seqs, truncated)),
            }
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))??;
        // Mask the subscribers of the leads listed.
        let seq_of = |l: &BacktestLead| seqs.get(l.event_seq as usize).copied().unwrap_or(-1);
        let mut wanted: Vec<i64> = diff
            .new_leads
            .iter()
            .chain(&diff.dropped_leads)
            .chain(diff.grade_changes.iter().flat_map(|g| [&g.a, &g.b]))
            .map(seq_of)
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let events = self.store.events_by_seqs(&wanted).await?;
        let dir = self.directory();
        let mut who: HashMap<i64, (String, u64)> = HashMap::new();
        for e in &events {
            if let Some(ev) = decode_stored(&self.cipher, &e.payload) {
                let masked = match ev.subscriber() {
                    PartyRef::Phone(p) => mask::phone(p),
                    PartyRef::Account(_, v) => mask::keep_ends(v, 4, 4),
                };
                who.insert(e.seq, (masked, e.person_key as u64));
            }
        }
        let view = |l: &BacktestLead| {
            let seq = seq_of(l);
            let (masked, key) = who.get(&seq).cloned().unwrap_or_default();
            let person = dir.get(key);
            BacktestLeadView {
                event_seq: seq,
                opened_at: l.opened_at,
                first_grade: l.first_grade,
                max_grade: l.max_grade,
                updates: l.updates,
                fraud_type: l.fraud_type,
                subscriber_masked: masked,
                resident_id: person.map(|p| p.resident_id),
                node_id: person.map(|p| p.grid).or(dir.unknown_node),
            }
        };
        let report = BacktestReport {
            from,
            to,
            live_version,
            candidate_name,
            events: diff.counts.events,
            truncated,
            new_leads: diff.new_leads.iter().map(view).collect(),
            dropped_leads: diff.dropped_leads.iter().map(view).collect(),
            grade_changes: diff
                .grade_changes
                .iter()
                .map(|g| BacktestGradeChange {
                    live: view(&g.a),
                    candidate: view(&g.b),
                })
                .collect(),
            counts: diff.counts,
            elapsed_ms: started.elapsed().as_millis() as u64,
        };
        Ok(report)
    }
}
