//! Statistics of the workflow (time to first contact, time to close,
//! deadline compliance, success rate, by grade, fraud type and org node) and
//! the feedback export of upstream-pushed leads (上级推送线索反馈).

use crate::crypto::Field;
use crate::table::{write_csv, write_xlsx};
use crate::{Actor, App, AppError, Result, Scope};
use fanzha_core::roles::Action;
use fanzha_core::task::OutcomeKind;
use fanzha_core::{FraudType, Grade, NodeId, Timestamp};
use fanzha_store::{FactFilter, TaskFact};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Filters of the statistics and the export.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct StatsQuery {
    /// Created (pushed) at or after.
    #[serde(default)]
    pub from: Option<Timestamp>,
    /// Created before.
    #[serde(default)]
    pub to: Option<Timestamp>,
    /// Only below this org node.
    #[serde(default)]
    pub node: Option<NodeId>,
}

/// Figures of one group of tasks.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    pub tasks: u64,
    pub open: u64,
    pub closed: u64,
    pub dissuaded: u64,
    pub defrauded: u64,
    pub false_alarm: u64,
    pub unreachable: u64,
    pub refused: u64,
    pub transferred: u64,
    pub loss_fen: i64,
    /// Median minutes from creation to first contact.
    pub median_contact_min: Option<f64>,
    /// Median minutes from creation to close.
    pub median_close_min: Option<f64>,
    /// Tasks whose deadlines are decided (met, or passed unmet).
    pub deadline_decided: u64,
    pub deadline_met: u64,
    /// `deadline_met / deadline_decided`, in percent.
    pub compliance_pct: Option<f64>,
    /// 劝阻成功 among tasks that reached a real person's outcome
    /// (dissuaded, defrauded, refused, unreachable), in percent.
    pub success_pct: Option<f64>,
    pub escalated: u64,
}

/// One row of a breakdown.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Group {
    /// The grade, fraud type or node code.
    pub key: String,
    /// What the page shows.
    pub label: String,
    pub figures: Figures,
}

/// The metrics page's data.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskMetrics {
    pub total: Figures,
    pub by_grade: Vec<Group>,
    pub by_fraud_type: Vec<Group>,
    pub by_node: Vec<Group>,
    /// Appeals: received, pending, decided, median hours to a decision.
    pub appeals: AppealFigures,
    pub at: Timestamp,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AppealFigures {
    pub received: u64,
    pub pending: u64,
    pub revoked: u64,
    pub kept: u64,
    pub median_turnaround_hours: Option<f64>,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn minutes(a: Timestamp, b: Timestamp) -> f64 {
    (b.0 - a.0) as f64 / 60_000.0
}

fn pct(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| (a as f64 * 1000.0 / b as f64).round() / 10.0)
}

/// The figures of a group of tasks at `now`.
pub fn figures(facts: &[&TaskFact], now: Timestamp) -> Figures {
    let mut f = Figures::default();
    let mut contact = Vec::new();
    let mut close = Vec::new();
    for t in facts {
        f.tasks += 1;
        if t.state.is_open() {
            f.open += 1;
        } else {
            f.closed += 1;
        }
        match t.outcome {
            Some(OutcomeKind::Dissuaded) => f.dissuaded += 1,
            Some(OutcomeKind::Defrauded) => f.defrauded += 1,
            Some(OutcomeKind::FalseAlarm) => f.false_alarm += 1,
            Some(OutcomeKind::Unreachable) => f.unreachable += 1,
            Some(OutcomeKind::Refused) => f.refused += 1,
            Some(OutcomeKind::OutOfJurisdiction) => f.transferred += 1,
            None => {}
        }
        f.loss_fen += t.loss_fen.unwrap_or(0);
        if t.escalation_step > 0 {
            f.escalated += 1;
        }
        if let Some(c) = t.first_contact_at {
            contact.push(minutes(t.created_at, c));
        }
        if let Some(c) = t.closed_at {
            close.push(minutes(t.created_at, c));
        }
        // Deadline compliance: the contact (and the visit, if any) by its time.
        let contact_ok = t.first_contact_at.map(|c| c <= t.contact_due);
        let contact_decided = contact_ok.is_some() || t.contact_due <= now;
        let visit_ok = t.visit_due.map(|due| t.visited_at.is_some_and(|v| v <= due));
        let visit_decided = match t.visit_due {
            None => true,
            Some(due) => t.visited_at.is_some() || due <= now,
        };
        if contact_decided && visit_decided {
            f.deadline_decided += 1;
            if contact_ok == Some(true) && visit_ok != Some(false) {
                f.deadline_met += 1;
            }
        }
    }
    f.median_contact_min = median(contact);
    f.median_close_min = median(close);
    f.compliance_pct = pct(f.deadline_met, f.deadline_decided);
    f.success_pct = pct(f.dissuaded, f.dissuaded + f.defrauded + f.refused + f.unreachable);
    f
}

/// Headers of the feedback export: the push file's columns, then the outcome.
pub const FEEDBACK_HEADERS: &[&str] = &[
    "id",
    "手机号",
    "姓名",
    "诈骗类型",
    "风险等级",
    "推送时间",
    "备注",
    "任务编号",
    "任务状态",
    "劝阻结果",
    "损失金额（元）",
    "首次联系时间",
    "办结时间",
    "处置说明",
    "处置单位",
    "案件编号",
];

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Xlsx,
    Csv,
    Json,
}

impl ExportFormat {
    pub fn parse(s: &str) -> Option<ExportFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "xlsx" => Some(ExportFormat::Xlsx),
            "csv" => Some(ExportFormat::Csv),
            "json" => Some(ExportFormat::Json),
            _ => None,
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Json => "application/json",
        }
    }
    pub fn ext(self) -> &'static str {
        match self {
            ExportFormat::Xlsx => "xlsx",
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        }
    }
}

/// China time (UTC+8) as `YYYY-MM-DD HH:MM:SS`, the push files' own form.
pub fn cn_time(t: Timestamp) -> String {
    let secs = t.0.div_euclid(1000) + 8 * 3600;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let d = fanzha_core::time::Date::from_timestamp(Timestamp(days * 86_400_000));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        d.year,
        d.month,
        d.day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl App {
    async fn fact_filter(&self, scope: &Scope, q: &StatsQuery, limit: usize) -> Result<FactFilter> {
        let node_path = match q.node {
            Some(n) => Some(
                self.store
                    .get_node(scope, n)
                    .await?
                    .ok_or_else(|| AppError::not_found("error.not_found"))?
                    .path,
            ),
            None => None,
        };
        Ok(FactFilter {
            from: q.from,
            to: q.to,
            node_path,
            limit: Some(limit),
        })
    }

    /// The workflow's figures in the actor's scope.
    pub async fn task_metrics(&self, actor: &Actor, q: &StatsQuery) -> Result<TaskMetrics> {
        let scope = self.gate(actor, Action::ViewTasks)?;
        let filter = self.fact_filter(&scope, q, 1_000_000).await?;
        let facts = self.store.task_facts(&scope, &filter).await?;
        let now = self.now();
        let all: Vec<&TaskFact> = facts.iter().collect();
        let total = figures(&all, now);
        let by_grade = Grade::ALL
            .iter()
            .rev()
            .map(|g| {
                let group: Vec<&TaskFact> = facts.iter().filter(|t| t.grade == *g).collect();
                Group {
                    key: g.code().to_string(),
                    label: g.zh().to_string(),
                    figures: figures(&group, now),
                }
            })
            .collect();
        let mut by_type: BTreeMap<Option<FraudType>, Vec<&TaskFact>> = BTreeMap::new();
        for t in &facts {
            by_type.entry(t.fraud_type).or_default().push(t);
        }
        let by_fraud_type = by_type
            .into_iter()
            .map(|(k, v)| Group {
                key: k.map_or("none", |t| t.code()).to_string(),
                label: k.map_or("—", |t| t.zh()).to_string(),
                figures: figures(&v, now),
            })
            .collect();
        // By the level just below the actor's node (e.g. townships for the county).
        let nodes: HashMap<NodeId, fanzha_store::model::OrgNode> = self
            .store
            .list_nodes(&scope)
            .await?
            .into_iter()
            .map(|n| (n.id, n))
            .collect();
        // The index, in a task's path, of the level below the viewer's node.
        let base_depth = match &filter.node_path {
            Some(p) => p.depth() + 1,
            None => match &scope {
                Scope::Subtree(p) => p.depth() + 1,
                Scope::All => 0,
            },
        };
        let mut by_n: BTreeMap<NodeId, Vec<&TaskFact>> = BTreeMap::new();
        for t in &facts {
            let ids = t.node_path.ids();
            let pick = ids.get(base_depth).or_else(|| ids.last()).copied();
            if let Some(id) = pick {
                by_n.entry(id).or_default().push(t);
            }
        }
        let by_node = by_n
            .into_iter()
            .map(|(id, v)| Group {
                key: id.0.to_string(),
                label: nodes
                    .get(&id)
                    .map_or_else(|| id.0.to_string(), |n| n.name.clone()),
                figures: figures(&v, now),
            })
            .collect();
        let appeals = self.appeal_figures().await?;
        Ok(TaskMetrics {
            total,
            by_grade,
            by_fraud_type,
            by_node,
            appeals,
            at: now,
        })
    }

    /// The results of leads pushed from above, in the shape they came in
    /// plus the outcome (XLSX, CSV or JSON). Full phones and names for roles
    /// that may reveal phones, masked otherwise; audited.
    pub async fn export_feedback(
        &self,
        actor: &Actor,
        q: &StatsQuery,
        format: ExportFormat,
    ) -> Result<(Vec<u8>, usize)> {
        let scope = self.gate(actor, Action::ExportFeedback)?;
        let full = actor.can(Action::RevealPhone);
        let filter = self.fact_filter(&scope, q, 100_000).await?;
        let rows = self.store.upstream_results(&scope, &filter).await?;
        let mut table: Vec<Vec<String>> = Vec::with_capacity(rows.len());
        for r in &rows {
            let phone = if full && !r.subscriber.enc.is_empty() {
                self.cipher.open(Field::Phone, &r.subscriber.enc)?
            } else {
                r.subscriber.masked.clone()
            };
            let name = match &r.name {
                Some(n) if full => self.cipher.open(Field::Name, &n.enc)?,
                Some(n) => n.masked.clone(),
                None => String::new(),
            };
            table.push(vec![
                r.upstream_id.clone().unwrap_or_default(),
                phone,
                name,
                r.fraud_type.map(|t| t.zh().to_string()).unwrap_or_default(),
                r.grade.zh().to_string(),
                cn_time(r.opened_at),
                r.note.clone(),
                r.task_id.map(|i| i.to_string()).unwrap_or_default(),
                r.task_state.map(|s| s.zh().to_string()).unwrap_or_default(),
                r.outcome.map(|o| o.zh().to_string()).unwrap_or_default(),
                r.loss_fen
                    .map(|f| format!("{}.{:02}", f / 100, f % 100))
                    .unwrap_or_default(),
                r.first_contact_at.map(cn_time).unwrap_or_default(),
                r.closed_at.map(cn_time).unwrap_or_default(),
                r.outcome_note.clone().unwrap_or_default(),
                r.node_name.clone().unwrap_or_default(),
                r.case_id.map(|i| i.to_string()).unwrap_or_default(),
            ]);
        }
        let bytes = match format {
            ExportFormat::Csv => {
                write_csv(FEEDBACK_HEADERS, &table).map_err(|e| AppError::Internal(e.to_string()))?
            }
            ExportFormat::Xlsx => {
                write_xlsx("反馈", FEEDBACK_HEADERS, &table).map_err(|e| AppError::Internal(e.to_string()))?
            }
            ExportFormat::Json => {
                let items: Vec<serde_json::Map<String, serde_json::Value>> = table
                    .iter()
                    .map(|row| {
                        FEEDBACK_HEADERS
                            .iter()
                            .zip(row)
                            .map(|(h, v)| (h.to_string(), serde_json::Value::String(v.clone())))
                            .collect()
                    })
                    .collect();
                serde_json::to_vec_pretty(&serde_json::json!({ "leads": items }))
                    .map_err(|e| AppError::Internal(e.to_string()))?
            }
        };
        let audit = self.audit(
            actor,
            "task.feedback.export",
            "",
            format!("rows={} format={} full={full}", rows.len(), format.ext()),
        );
        self.store.append_audit(&audit).await?;
        Ok((bytes, rows.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentages() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(pct(1, 3), Some(33.3));
        assert_eq!(pct(1, 0), None);
        assert_eq!(cn_time(Timestamp(1_767_225_600_000)), "2026-01-01 08:00:00");
        assert_eq!(yuan(123_450), "1234.50");
    }

    fn yuan(f: i64) -> String {
        format!("{}.{:02}", f / 100, f % 100)
    }
}
