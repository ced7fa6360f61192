//! Leads (线索): lists and details for staff, upper-level pushes and leads
//! from public reports.
//!
//! * **Scope.** A lead belongs to the resident's grid, so grid workers and
//!   stations see their own; a subscriber who is not a resident belongs to
//!   the county root (or the configured node), where the center sees it.
//! * **Evidence.** A lead's detail shows the engine's explanation (scores,
//!   weights, indicator ids — never a personal value) and a timeline of its
//!   events, decrypted and masked, with the signals each raised.
//! * **Upper-level pushes (上级推送)** arrive as CSV, XLSX or JSON with the
//!   phone, name, fraud type, grade, push time and the upstream id; each row
//!   is checked on its own (bad rows reported, good rows kept) and the import
//!   is idempotent by upstream id.
//! * **Public reports.** A report names a *suspicious* value (a number, a
//!   site): that is intelligence, handled by the intel use cases, and makes
//!   no lead. Only when the reporter says they are being defrauded and gives
//!   their own phone does the report also raise a lead (source
//!   `public_report`, grade [`super::DetectConfig::public_report_grade`]) for
//!   the reporter, so that someone calls them back at once.

use super::masking::masked_event;
use super::{decode_stored, person_key_of, subscriber_index};
use crate::crypto::Field;
use crate::intel::reports::{PublicReportForm, ReportReceipt};
use crate::residents::RowError;
use crate::table::{Columns, TableFormat, read_table};
use crate::{Actor, App, AppError, Page, Result};
use fanzha_core::event::PartyRef;
use fanzha_core::i18n::Msg;
use fanzha_core::roles::Action;
use fanzha_core::{FraudType, Grade, NodeId, Timestamp, mask, phone};
use fanzha_store::{
    LeadFilter, LeadImportOutcome, LeadSource, LeadStatus, LeadSummary, NewLead, SealedName, SealedPhone,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;

/// Filters of the lead list.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct LeadQuery {
    #[serde(default)]
    pub grade: Option<Grade>,
    #[serde(default)]
    pub status: Option<LeadStatus>,
    #[serde(default)]
    pub fraud_type: Option<FraudType>,
    /// Leads anywhere below this org node.
    #[serde(default)]
    pub node: Option<NodeId>,
    #[serde(default)]
    pub source: Option<LeadSource>,
    /// Opened at or after.
    #[serde(default)]
    pub from: Option<Timestamp>,
    /// Opened before.
    #[serde(default)]
    pub to: Option<Timestamp>,
    #[serde(default)]
    pub page: Option<usize>,
    #[serde(default)]
    pub per_page: Option<usize>,
}

/// A signal in a lead's timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SignalView {
    pub signal: String,
    pub fraud_type: Option<FraudType>,
    /// The rules' weight times strength when it was raised.
    pub weight: f64,
    pub evidence: Value,
}

/// One event of a lead's evidence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimelineItem {
    pub seq: i64,
    pub ts: Timestamp,
    pub kind: String,
    pub source: String,
    /// The event with every personal value masked (`null` when it could not be opened).
    pub event: Value,
    pub signals: Vec<SignalView>,
    /// The event that raised the lead or last updated it.
    pub deciding: bool,
}

/// A lead with its explanation and evidence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeadView {
    #[serde(flatten)]
    pub summary: LeadSummary,
    pub score: f64,
    pub raised_seq: Option<i64>,
    pub last_seq: i64,
    pub note: String,
    /// The engine's breakdown (engine leads); `null` otherwise.
    pub explanation: Value,
    pub timeline: Vec<TimelineItem>,
}

/// What an import of pushed leads did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LeadImportReport {
    pub rows: usize,
    pub inserted: usize,
    /// Rows whose upstream id was imported before.
    pub existing: usize,
    pub rejected: Vec<RowError>,
    /// The lead of each good row, by row number.
    pub leads: Vec<(usize, i64)>,
}

/// What a reporter who is being defrauded gets back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VictimReportReceipt {
    #[serde(flatten)]
    pub receipt: ReportReceipt,
    /// Whether a lead was raised for the reporter.
    pub lead: bool,
}

/// Columns of a push file and their accepted headers.
pub const PUSH_COLUMNS: &[(&str, &[&str])] = &[
    ("upstream_id", &["id", "编号", "线索编号", "推送编号", "上级编号"]),
    (
        "phone",
        &["手机号", "手机号码", "电话", "号码", "受害人电话", "受害人手机号"],
    ),
    ("name", &["姓名", "受害人", "受害人姓名"]),
    ("fraud_type", &["诈骗类型", "类型", "案件类型"]),
    ("grade", &["风险等级", "等级", "预警等级"]),
    ("pushed_at", &["push_time", "推送时间", "时间"]),
    ("note", &["备注", "说明", "线索内容"]),
];

/// Longest pushed name, in characters.
const MAX_NAME: usize = 50;

/// One pushed lead after checking.
struct PushRow {
    number: usize,
    upstream_id: String,
    phone: String,
    name: Option<String>,
    fraud_type: Option<FraudType>,
    grade: Grade,
    pushed_at: Option<Timestamp>,
    note: String,
}

type FieldErr = (&'static str, Msg);

fn push_row(number: usize, get: &dyn Fn(&str) -> Option<String>) -> std::result::Result<PushRow, FieldErr> {
    let upstream_id = get("upstream_id").ok_or(("upstream_id", Msg::new("leads.import.missing")))?;
    if upstream_id.len() > fanzha_store::MAX_UPSTREAM_ID || upstream_id.chars().any(char::is_control) {
        return Err(("upstream_id", Msg::new("leads.import.bad_upstream_id")));
    }
    let raw_phone = get("phone").ok_or(("phone", Msg::new("leads.import.missing")))?;
    let phone = phone::normalize(&raw_phone).map_err(|_| ("phone", Msg::new("leads.import.bad_phone")))?;
    let name = get("name");
    if name.as_ref().is_some_and(|n| n.chars().count() > MAX_NAME) {
        return Err(("name", Msg::new("leads.import.too_long").arg("max", MAX_NAME)));
    }
    let fraud_type = get("fraud_type").map(|t| FraudType::parse(&t).unwrap_or(FraudType::Other));
    let grade = match get("grade") {
        None => Grade::High,
        Some(g) => Grade::parse(&g).map_err(|_| ("grade", Msg::new("leads.import.bad_grade")))?,
    };
    let pushed_at = match get("pushed_at") {
        None => None,
        Some(t) => Some(parse_push_time(&t).ok_or(("pushed_at", Msg::new("leads.import.bad_time")))?),
    };
    let note = get("note").unwrap_or_default();
    if note.chars().count() > fanzha_store::MAX_LEAD_NOTE {
        return Err((
            "note",
            Msg::new("leads.import.too_long").arg("max", fanzha_store::MAX_LEAD_NOTE),
        ));
    }
    Ok(PushRow {
        number,
        upstream_id,
        phone,
        name,
        fraud_type,
        grade,
        pushed_at,
        note,
    })
}

/// RFC 3339, milliseconds, or `YYYY-MM-DD HH:MM[:SS]` / `YYYY/MM/DD …` in
/// China time (UTC+8), or an Excel serial date.
fn parse_push_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Some(t) = fanzha_core::event::parse_time(s) {
        return Some(t);
    }
    let norm = s.replace('/', "-");
    let (date, time) = norm.split_once([' ', 'T']).unwrap_or((&norm, "00:00:00"));
    let mut d = date.split('-');
    let (y, m, dd) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let date = fanzha_core::time::Date::new(y, m, dd)?;
    let mut t = time.split(':');
    let h: i64 = t.next().unwrap_or("0").trim().parse().ok()?;
    let mi: i64 = t.next().unwrap_or("0").trim().parse().ok()?;
    let sec: i64 = t.next().unwrap_or("0").trim().parse().ok()?;
    if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..60).contains(&sec) {
        return None;
    }
    let secs = date.days_since_epoch() * 86_400 + h * 3600 + mi * 60 + sec - 8 * 3600;
    Some(Timestamp(secs * 1000))
}

impl App {
    /// Leads in the actor's scope, newest first.
    pub async fn leads(&self, actor: &Actor, q: &LeadQuery) -> Result<Page<LeadSummary>> {
        let scope = self.gate(actor, Action::ViewLeads)?;
        let node_path = match q.node {
            Some(n) => Some(
                self.store
                    .get_node(&scope, n)
                    .await?
                    .ok_or_else(|| AppError::not_found("error.not_found"))?
                    .path,
            ),
            None => None,
        };
        let per_page = q.per_page.unwrap_or(50).clamp(1, 500);
        let page = q.page.unwrap_or(1).max(1);
        let filter = LeadFilter {
            grade: q.grade,
            status: q.status,
            fraud_type: q.fraud_type,
            source: q.source,
            node_path,
            from: q.from,
            to: q.to,
            limit: Some(per_page),
            offset: (page - 1).saturating_mul(per_page),
            ..Default::default()
        };
        let (items, total) = self.store.list_leads(&scope, &filter).await?;
        Ok(Page {
            items,
            total,
            page,
            per_page,
        })
    }

    /// A lead with its explanation and its masked evidence timeline.
    pub async fn lead(&self, actor: &Actor, id: i64) -> Result<LeadView> {
        let scope = self.gate(actor, Action::ViewLeads)?;
        let l = self
            .store
            .get_lead(&scope, id)
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))?;
        let events = self.store.events_by_seqs(&l.event_seqs).await?;
        let mut signals: HashMap<i64, Vec<SignalView>> = HashMap::new();
        for s in self.store.signals_for(&l.event_seqs).await? {
            signals.entry(s.seq).or_default().push(SignalView {
                signal: s.signal,
                fraud_type: s.fraud_type,
                weight: s.weight_milli as f64 / 1000.0,
                evidence: serde_json::from_str(&s.evidence).unwrap_or(Value::Null),
            });
        }
        let cipher = &self.cipher;
        let timeline = super::cpu(|| {
            events
                .iter()
                .map(|e| TimelineItem {
                    seq: e.seq,
                    ts: e.ts,
                    kind: e.kind.clone(),
                    source: e.source.clone(),
                    event: decode_stored(cipher, &e.payload)
                        .map(|ev| masked_event(&ev))
                        .unwrap_or(Value::Null),
                    signals: signals.remove(&e.seq).unwrap_or_default(),
                    deciding: l.raised_seq == Some(e.seq) || l.last_seq == e.seq,
                })
                .collect()
        });
        let explanation = if l.explanation.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&l.explanation).unwrap_or(Value::Null)
        };
        Ok(LeadView {
            score: l.summary.score_milli as f64 / 1000.0,
            summary: l.summary,
            raised_seq: l.raised_seq,
            last_seq: l.last_seq,
            note: l.note,
            explanation,
            timeline,
        })
    }

    /// The full phone (or account) of a lead's subscriber; audited (查询留痕).
    pub async fn reveal_lead_subscriber(&self, actor: &Actor, id: i64) -> Result<String> {
        let scope = self.gate(actor, Action::ViewLeads)?;
        self.gate(actor, Action::RevealPhone)?;
        let l = self
            .store
            .get_lead(&scope, id)
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))?;
        let field = if l.summary.subscriber_kind == "phone" {
            Field::Phone
        } else {
            Field::Account
        };
        let full = self.cipher.open(field, &l.subscriber.enc)?;
        let audit = self.audit(actor, "lead.reveal", format!("lead:{id}"), "field=subscriber");
        self.store.append_audit(&audit).await?;
        Ok(full)
    }

    /// Seals a phone subscriber for a lead and finds the resident.
    fn lead_subject(
        &self,
        e164: &str,
    ) -> (i64, SealedPhone, Option<fanzha_core::ResidentId>, Option<NodeId>) {
        let bidx = subscriber_index(&self.cipher, PartyRef::Phone(e164));
        let key = person_key_of(&bidx);
        let dir = self.directory();
        let person = dir.get(key).map(|p| p.resident_id);
        let node = dir.node_of(key);
        let sealed = SealedPhone {
            enc: Vec::new(),
            bidx: bidx.to_vec(),
            masked: mask::phone(e164),
        };
        (key as i64, sealed, person, node)
    }

    /// Imports leads pushed by an upper-level center (CSV, XLSX or JSON):
    /// every bad row is reported, every good row stored; a row whose
    /// upstream id was imported before is counted as existing.
    pub async fn import_leads(
        &self,
        actor: &Actor,
        file_name: Option<&str>,
        bytes: &[u8],
    ) -> Result<LeadImportReport> {
        self.gate(actor, Action::ImportLeads)?;
        if bytes.len() > self.cfg.max_upload_bytes {
            return Err(AppError::TooLarge {
                limit: self.cfg.max_upload_bytes,
            });
        }
        if self.directory().is_empty() && self.directory().residents == 0 {
            // Recognise residents even before the pipeline ran.
            self.refresh_directory().await?;
        }
        let mut report = LeadImportReport::default();
        let mut good: Vec<PushRow> = Vec::new();
        let is_json = file_name.is_some_and(|n| {
            let n = n.to_ascii_lowercase();
            n.ends_with(".json") || n.ends_with(".jsonl") || n.ends_with(".ndjson")
        }) || bytes
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(bytes)
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'[' || *b == b'{');
        let reject = |report: &mut LeadImportReport, row: usize, (column, reason): FieldErr| {
            report.rejected.push(RowError {
                row,
                column: column.to_string(),
                reason,
            });
        };
        if is_json {
            let objects = json_objects(bytes).map_err(AppError::Invalid)?;
            report.rows = objects.len();
            for (i, obj) in objects.into_iter().enumerate() {
                let number = i + 1;
                let Some(obj) = obj else {
                    reject(&mut report, number, ("", Msg::new("leads.import.not_object")));
                    continue;
                };
                let get = |canon: &str| -> Option<String> {
                    let names = PUSH_COLUMNS
                        .iter()
                        .find(|(c, _)| *c == canon)
                        .map_or(&[][..], |(_, a)| *a);
                    std::iter::once(canon)
                        .chain(names.iter().copied())
                        .find_map(|k| obj.get(k))
                        .and_then(|v| match v {
                            Value::String(s) => Some(s.trim().to_string()),
                            Value::Number(n) => Some(n.to_string()),
                            _ => None,
                        })
                        .filter(|s| !s.is_empty())
                };
                match push_row(number, &get) {
                    Ok(r) => good.push(r),
                    Err(e) => reject(&mut report, number, e),
                }
            }
        } else {
            let format = TableFormat::detect(file_name, bytes);
            let table = read_table(format, bytes).map_err(|e| AppError::Invalid(e.msg()))?;
            let cols = Columns::map(&table.headers, PUSH_COLUMNS);
            for required in ["upstream_id", "phone"] {
                if !cols.has(required) {
                    return Err(AppError::Invalid(
                        Msg::new("import.missing_column").arg("column", required),
                    ));
                }
            }
            report.rows = table.rows.len() + table.problems.len();
            for p in table.problems {
                report.rejected.push(RowError {
                    row: p.row,
                    column: p.column,
                    reason: p.reason,
                });
            }
            for row in &table.rows {
                let get = |canon: &str| cols.get(row, canon).map(|c| c.text().to_string());
                match push_row(row.number, &get) {
                    Ok(r) => good.push(r),
                    Err(e) => reject(&mut report, row.number, e),
                }
            }
        }
        // The same upstream id twice in one file: the first row counts.
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut rows = Vec::with_capacity(good.len());
        for r in good {
            if let Some(first) = seen.get(&r.upstream_id) {
                report.rejected.push(RowError {
                    row: r.number,
                    column: "upstream_id".into(),
                    reason: Msg::new("import.duplicate_in_file").arg("first", first),
                });
                continue;
            }
            seen.insert(r.upstream_id.clone(), r.number);
            rows.push(r);
        }
        let now = self.now();
        let mut leads = Vec::with_capacity(rows.len());
        for r in &rows {
            let (key, mut subscriber, resident_id, node_id) = self.lead_subject(&r.phone);
            subscriber.enc = self.cipher.seal(Field::Phone, &r.phone)?;
            let name = match &r.name {
                Some(n) => Some(SealedName {
                    enc: self.cipher.seal(Field::Name, n)?,
                    masked: mask::name(n),
                }),
                None => None,
            };
            leads.push(NewLead {
                person_key: key,
                subscriber_kind: "phone".into(),
                subscriber,
                name,
                resident_id,
                node_id,
                grade: r.grade,
                score_milli: 0,
                fraud_type: r.fraud_type,
                source: LeadSource::UpperPush,
                upstream_id: Some(r.upstream_id.clone()),
                rules_version: None,
                opened_at: r.pushed_at.unwrap_or(now),
                raised_seq: None,
                explanation: String::new(),
                event_seqs: Vec::new(),
                note: r.note.clone(),
            });
        }
        if !leads.is_empty() {
            let audit = self.audit(actor, "lead.import", "", "");
            let outcomes = self.store.import_leads(leads, &audit).await?;
            for (r, o) in rows.iter().zip(outcomes) {
                match o {
                    LeadImportOutcome::Inserted(id) => {
                        report.inserted += 1;
                        report.leads.push((r.number, id));
                    }
                    LeadImportOutcome::Existing(id) => {
                        report.existing += 1;
                        report.leads.push((r.number, id));
                    }
                }
            }
        }
        if report.inserted > 0 {
            self.wake_tasks();
        }
        report.rejected.sort_by_key(|e| e.row);
        tracing::info!(
            user_id = actor.user.id.0,
            rows = report.rows,
            inserted = report.inserted,
            existing = report.existing,
            rejected = report.rejected.len(),
            "pushed leads imported"
        );
        Ok(report)
    }

    /// A public report from someone who says they are being defrauded now:
    /// the reported value goes to the intelligence base like any report, and
    /// when they gave their own phone a lead is raised for them (see the
    /// module docs). Without `being_defrauded` or a phone it is a plain report.
    pub async fn submit_report_being_defrauded(
        &self,
        form: &PublicReportForm,
        being_defrauded: bool,
        ip: &str,
    ) -> Result<VictimReportReceipt> {
        let receipt = self.submit_report(form, ip).await?;
        let contact = form.contact.as_deref().map(str::trim).filter(|c| !c.is_empty());
        let Some(contact) = contact.filter(|_| being_defrauded) else {
            return Ok(VictimReportReceipt { receipt, lead: false });
        };
        let e164 = phone::normalize(contact).map_err(|_| AppError::invalid("intel.error.bad_contact"))?;
        let (key, mut subscriber, resident_id, node_id) = self.lead_subject(&e164);
        subscriber.enc = self.cipher.seal(Field::Phone, &e164)?;
        let lead = NewLead {
            person_key: key,
            subscriber_kind: "phone".into(),
            subscriber,
            name: None,
            resident_id,
            node_id,
            grade: self.cfg.detect.public_report_grade,
            score_milli: 0,
            fraud_type: form.fraud_type,
            source: LeadSource::PublicReport,
            upstream_id: Some(receipt.reference.clone()),
            rules_version: None,
            opened_at: self.now(),
            raised_seq: None,
            explanation: String::new(),
            event_seqs: Vec::new(),
            note: String::new(),
        };
        let audit = self.audit_system("public", "lead.report", "", "", "");
        self.store.import_leads(vec![lead], &audit).await?;
        self.wake_tasks();
        Ok(VictimReportReceipt { receipt, lead: true })
    }
}

/// JSON push files: an array of objects, `{"leads": [...]}`, or one object per line.
fn json_objects(bytes: &[u8]) -> std::result::Result<Vec<Option<serde_json::Map<String, Value>>>, Msg> {
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
        .map_err(|_| Msg::new("leads.import.bad_json"))?;
    let as_list = |v: Value| -> Vec<Option<serde_json::Map<String, Value>>> {
        match v {
            Value::Array(a) => a
                .into_iter()
                .map(|x| match x {
                    Value::Object(o) => Some(o),
                    _ => None,
                })
                .collect(),
            Value::Object(mut o) => match o.remove("leads") {
                Some(Value::Array(a)) => a
                    .into_iter()
                    .map(|x| match x {
                        Value::Object(o) => Some(o),
                        _ => None,
                    })
                    .collect(),
                _ => vec![Some(o)],
            },
            _ => vec![None],
        }
    };
    match serde_json::from_str::<Value>(text) {
        Ok(v) => Ok(as_list(v)),
        Err(_) => {
            // One object per line.
            let mut out = Vec::new();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                out.push(match serde_json::from_str::<Value>(line) {
                    Ok(Value::Object(o)) => Some(o),
                    _ => None,
                });
            }
            if out.is_empty() {
                return Err(Msg::new("leads.import.bad_json"));
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_times() {
        let t = parse_push_time("2026-03-05 10:30").unwrap();
        assert_eq!(
            t,
            fanzha_core::event::parse_time("2026-03-05T10:30:00+08:00").unwrap()
        );
        assert_eq!(parse_push_time("2026/03/05 10:30:00"), Some(t));
        assert_eq!(
            parse_push_time("2026-03-05T02:30:00Z"),
            Some(t),
            "RFC 3339 keeps its own offset"
        );
        assert!(parse_push_time("yesterday").is_none());
        assert!(parse_push_time("2026-13-05").is_none());
    }

    #[test]
    fn json_shapes() {
        assert_eq!(json_objects(br#"[{"a":1}, 3]"#).unwrap().len(), 2);
        assert_eq!(json_objects(br#"{"leads":[{"a":1}]}"#).unwrap().len(), 1);
        let lines = json_objects(b"{\"a\":1}\n{\"b\":2}\nnot json\n").unwrap();
        assert_eq!(lines.len(), 3);
        assert!(lines[2].is_none());
        assert!(json_objects(b"   ").is_err());
    }
}
