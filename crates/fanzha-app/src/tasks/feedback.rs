//! Feedback of outcomes into intelligence: a false alarm lowers its
//! indicators' confidence and queues them for review; a person defrauded
//! puts the evidence into intel as pending indicators linked to the case.

use crate::detect::decode_stored;
use crate::{App, Result};
use fanzha_core::event::{Event, EventBody};
use fanzha_core::task::OutcomeKind;
use fanzha_core::{FraudType, IndicatorKind, indicator};
use fanzha_store::{
    FalseAlarmFeedback, IndicatorSource, IndicatorStatus, NewIndicator, TaskRecord, TaskVisibility,
};
use serde_json::Value;

/// Every `indicator_id` in an explanation.
pub fn evidence_indicators(explanation: &str) -> Vec<i64> {
    fn walk(v: &Value, out: &mut Vec<i64>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "indicator_id"
                        && let Some(id) = x.as_i64()
                        && !out.contains(&id)
                    {
                        out.push(id);
                    }
                    walk(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_str::<Value>(explanation) {
        walk(&v, &mut out);
    }
    out
}

/// The values in an event that point at the fraudster: the other party of
/// a call or SMS, the site visited, the app, the account paid.
pub fn counterparties(ev: &Event) -> Vec<(IndicatorKind, String)> {
    let mut out = Vec::new();
    let mut add = |k: IndicatorKind, v: &str| {
        if let Ok(c) = indicator::normalize(k, v)
            && !out.iter().any(|(kk, vv)| *kk == k && *vv == c)
        {
            out.push((k, c));
        }
    };
    if let Some(p) = ev.peer_phone() {
        add(IndicatorKind::Phone, p);
    }
    match &ev.body {
        EventBody::Web(w) => {
            if let Some(u) = &w.url {
                add(IndicatorKind::Url, u);
            } else if let Some(d) = &w.domain {
                add(IndicatorKind::Domain, d);
            }
        }
        EventBody::App(a) => {
            if let Some(p) = &a.package {
                add(IndicatorKind::App, p);
            }
        }
        EventBody::Transfer(t) => {
            add(t.payee.kind, &t.payee.value);
        }
        _ => {}
    }
    out
}

impl App {
    /// Applies the feedback of closed tasks that still owe it; how many.
    pub(crate) async fn apply_pending_feedback(&self) -> Result<usize> {
        let ids = self.store.tasks_feedback_pending(100).await?;
        let mut n = 0;
        for id in ids {
            match self.feedback_for(id).await {
                Ok(()) => n += 1,
                Err(e) => tracing::warn!(task_id = id, error = %e, "task feedback failed"),
            }
        }
        Ok(n)
    }

    async fn feedback_for(&self, id: i64) -> Result<()> {
        let Some(rec) = self.store.get_task(&TaskVisibility::all(), id).await? else {
            return Ok(());
        };
        let evidence = evidence_indicators(&rec.lead.explanation);
        match rec.row.outcome {
            Some(OutcomeKind::FalseAlarm) => {
                let fb = FalseAlarmFeedback {
                    task_id: id,
                    indicator_ids: evidence,
                    confidence_step: self.cfg.tasks.false_alarm_step,
                    confidence_floor: self.cfg.tasks.false_alarm_floor,
                };
                let audit = self.audit_system("system", "task.feedback", "", "", "");
                let changes = self.store.apply_false_alarm(&fb, &audit).await?;
                if changes.iter().any(|(_, b, a)| a != b) {
                    self.intel_changed();
                }
                tracing::info!(task_id = id, indicators = changes.len(), "false alarm fed back");
            }
            Some(OutcomeKind::Defrauded) => self.case_feedback(&rec, evidence).await?,
            _ => {
                // Nothing to feed back; clear the flag.
                let audit = self.audit_system("system", "task.feedback", "", "", "");
                let fb = FalseAlarmFeedback {
                    task_id: id,
                    indicator_ids: Vec::new(),
                    confidence_step: 0,
                    confidence_floor: 0,
                };
                self.store.apply_false_alarm(&fb, &audit).await?;
            }
        }
        Ok(())
    }

    async fn case_feedback(&self, rec: &TaskRecord, evidence: Vec<i64>) -> Result<()> {
        let Some(case_id) = rec.case_id else {
            return Ok(());
        };
        let now = self.now();
        let fraud_type = rec.row.fraud_type.unwrap_or(FraudType::Other);
        // The values behind the evidence: the matched indicators' own values
        // and the counterparties of the lead's events.
        let mut values: Vec<(IndicatorKind, String)> = self
            .store
            .indicators_by_ids(&evidence)
            .await?
            .into_iter()
            .map(|i| (i.kind, i.value))
            .collect();
        let stored = self.store.events_by_seqs(&rec.lead.event_seqs).await?;
        for e in &stored {
            if let Some(ev) = decode_stored(&self.cipher, &e.payload) {
                for cp in counterparties(&ev) {
                    if !values.contains(&cp) {
                        values.push(cp);
                    }
                }
            }
        }
        let mut linked = evidence.clone();
        let mut created = 0;
        for (kind, value) in values {
            if !self.intel.allow_hits(kind, &value).is_empty() {
                continue;
            }
            let existing = self.store.indicators_by_value(kind, &value).await?;
            if let Some(i) = existing.iter().find(|i| i.source == IndicatorSource::Case) {
                if !linked.contains(&i.id) {
                    linked.push(i.id);
                }
                continue;
            }
            let new = NewIndicator {
                kind,
                value,
                fraud_type,
                confidence: self.cfg.tasks.case_indicator_confidence,
                source: IndicatorSource::Case,
                status: IndicatorStatus::Pending,
                valid_from: now,
                valid_until: self.cfg.intel.lifetimes.until(kind, now),
                tags: Vec::new(),
                description: String::new(),
                notes: format!("case:{case_id} task:{}", rec.row.id),
                external_id: Some(format!("case-{case_id}")),
            };
            let audit = self.audit_system(
                "system",
                "intel.indicator.create",
                "",
                format!("case:{case_id}"),
                "",
            );
            match self.store.create_indicator(&new, &audit).await {
                Ok(id) => {
                    created += 1;
                    linked.push(id);
                }
                Err(fanzha_store::StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let audit = self.audit_system("system", "case.indicators", "", "", "");
        self.store
            .link_case_indicators(case_id, Some(rec.row.id), &linked, &audit)
            .await?;
        if created > 0 {
            self.intel_changed();
        }
        tracing::info!(
            task_id = rec.row.id,
            case_id,
            created,
            linked = linked.len(),
            "case fed back"
        );
        Ok(())
    }
}
