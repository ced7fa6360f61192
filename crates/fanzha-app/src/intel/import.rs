//! Importing indicator files and feeds: the formats parsers
//! ([`super::formats::parse`]) read the file, the allowlist removes what
//! must never be flagged (each with its reason), the defaults of the
//! import fill what the file leaves out, and the rows are upserted keyed by
//! (kind, value, source). Importing the same file again changes nothing and
//! reports every value as unchanged. The run is recorded as an import job
//! with its full report.

use super::formats::{self, AllowCandidate, ImportFormat, ImportOptions, SkipReason};
use super::service::{intel_gate, parse_source};
use crate::{Actor, App, AppError, AuthVia, Page, Result};
use fanzha_core::i18n::Msg;
use fanzha_core::roles::Action;
use fanzha_core::{FraudType, IndicatorKind};
use fanzha_store::{
    AllowEntry, ImportJob, IndicatorSource, IndicatorStatus, IndicatorUpsert, IntelUpsertOutcome,
    NewImportJob,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// What the user chose for an import.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct IntelImportRequest {
    /// The uploaded file's name (kept with the job; also the default source).
    pub file_name: String,
    /// Detected from the name and content when missing.
    #[serde(default)]
    pub format: Option<ImportFormat>,
    /// The kind of every value of a list; detected per value when missing.
    #[serde(default)]
    pub kind: Option<IndicatorKind>,
    /// The source of rows that name none: a feed name (`tw165`) or a source
    /// code (`upper_push`, `case`, `analyst`, `feed:<name>`). Defaults to the
    /// file name without its extension. Keep it the same between runs of
    /// one feed: it is part of the key that makes re-imports idempotent.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub fraud_type: Option<FraudType>,
    #[serde(default)]
    pub confidence: Option<u8>,
    /// The status of new indicators: `confirmed` (default: the importing
    /// analyst vouches for the file) or `pending`.
    #[serde(default)]
    pub status: Option<IndicatorStatus>,
}

impl IntelImportRequest {
    pub fn new(file_name: &str) -> IntelImportRequest {
        IntelImportRequest {
            file_name: file_name.to_string(),
            format: None,
            kind: None,
            source: None,
            fraud_type: None,
            confidence: None,
            status: None,
        }
    }
}

/// Progress of a running import, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportProgress {
    /// Values stored so far.
    pub stored: usize,
    /// Values to store in all (after the allowlist).
    pub total: usize,
}

/// A value left out because the allowlist covers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowlistedValue {
    pub line: usize,
    pub kind: IndicatorKind,
    pub value: String,
    /// The allowlist entry that covers it, and its note.
    pub entry: String,
    pub note: String,
    pub builtin: bool,
}

/// A line that gave nothing, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedLine {
    pub line: usize,
    pub reason: Msg,
    pub excerpt: String,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntelImportReport {
    /// The recorded import job.
    pub job_id: i64,
    pub file_name: String,
    pub format: String,
    pub source: String,
    /// Lines (rows, STIX objects) read.
    pub lines: usize,
    /// Distinct values the file gave.
    pub values: usize,
    pub added: usize,
    pub updated: usize,
    /// Already stored exactly so.
    pub unchanged: usize,
    /// Revoked by an analyst; the import leaves them revoked.
    pub kept_revoked: usize,
    /// Lines that repeated a value of an earlier line (merged into it).
    pub duplicate_lines: usize,
    /// Values the allowlist covers, not imported.
    pub allowlisted: Vec<AllowlistedValue>,
    /// Lines without a value: blank, comment, header… by reason.
    pub skipped_lines: BTreeMap<String, usize>,
    /// Lines that could not be read or are not supported, with the reason.
    pub rejected: Vec<RejectedLine>,
    /// Rejections by reason (message key).
    pub rejected_by_reason: BTreeMap<String, usize>,
    /// Exception rules of the file (`@@||domain^`): candidates for the
    /// allowlist, not applied.
    pub allowlist_candidates: Vec<AllowCandidate>,
    /// Things about accepted lines that were ignored (options, columns).
    pub notes: usize,
}

fn skip_code(r: SkipReason) -> &'static str {
    match r {
        SkipReason::Blank => "blank",
        SkipReason::Comment => "comment",
        SkipReason::Header => "header",
        SkipReason::Localhost => "localhost",
        SkipReason::OtherObject => "other_object",
        SkipReason::Revoked => "revoked",
    }
}

/// The format a CLI or form name means: any [`ImportFormat`] code, or
/// `tw165` for either 165 list (told apart by the file).
pub fn parse_import_format(name: &str, file_name: Option<&str>, bytes: &[u8]) -> Option<ImportFormat> {
    let t = name.trim().to_ascii_lowercase();
    if t == "tw165" {
        let first = bytes.split(|b| *b == b'\n').next().unwrap_or(b"");
        let first = String::from_utf8_lossy(first);
        let dated = first.trim().chars().next().is_some_and(|c| c.is_ascii_digit()) && !first.contains('\t');
        let bank = file_name.is_some_and(|f| f.contains("bank")) || dated;
        return Some(if bank {
            ImportFormat::Tw165BankCsv
        } else {
            ImportFormat::Tw165Tsv
        });
    }
    ImportFormat::parse(&t)
}

fn default_source(file_name: &str) -> String {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let stem = base.split('.').next().unwrap_or(base).trim();
    if stem.is_empty() {
        "import".to_string()
    } else {
        stem.chars().take(64).collect()
    }
}

impl App {
    /// Imports an indicator file (analysts). See the module docs.
    pub async fn import_intel(
        &self,
        actor: &Actor,
        bytes: &[u8],
        req: &IntelImportRequest,
        progress: &(dyn Fn(ImportProgress) + Send + Sync),
    ) -> Result<IntelImportReport> {
        intel_gate(actor, Action::ImportIntel)?;
        if actor.via != AuthVia::Cli && bytes.len() > self.cfg.max_upload_bytes {
            return Err(AppError::TooLarge {
                limit: self.cfg.max_upload_bytes,
            });
        }
        self.ensure_intel().await?;
        let status = req.status.unwrap_or(IndicatorStatus::Confirmed);
        if !matches!(status, IndicatorStatus::Pending | IndicatorStatus::Confirmed) {
            return Err(AppError::invalid("intel.error.bad_new_status"));
        }
        if req.confidence.is_some_and(|c| c > 100) {
            return Err(AppError::invalid("intel.error.bad_confidence"));
        }
        let source_name = match req.source.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => s.to_string(),
            None => default_source(&req.file_name),
        };
        let request_source = parse_source(&source_name)?;
        let format = req
            .format
            .unwrap_or_else(|| ImportFormat::detect(Some(&req.file_name), bytes));
        let opts = ImportOptions {
            format,
            default_kind: req.kind,
            default_fraud_type: req.fraud_type,
            default_confidence: req.confidence,
            source_name: Some(request_source.code()),
        };
        let owned = bytes.to_vec();
        let parsed = tokio::task::spawn_blocking(move || formats::parse(&owned, &opts))
            .await
            .map_err(|e| AppError::Internal(format!("parsing failed: {e}")))?;
        if let Some(msg) = parsed.error.clone() {
            return Err(AppError::Invalid(msg));
        }

        let mut report = IntelImportReport {
            file_name: req.file_name.clone(),
            format: format.code().to_string(),
            source: request_source.code(),
            lines: parsed.lines,
            values: parsed.drafts.len(),
            duplicate_lines: parsed.duplicates.len(),
            allowlist_candidates: parsed.allowlist_candidates.clone(),
            notes: parsed.notes.len(),
            ..Default::default()
        };
        for s in &parsed.skipped {
            *report
                .skipped_lines
                .entry(skip_code(s.reason).to_string())
                .or_insert(0) += 1;
        }
        for r in parsed.rejected.iter().chain(&parsed.unsupported) {
            *report.rejected_by_reason.entry(r.reason.key.clone()).or_insert(0) += 1;
            report.rejected.push(RejectedLine {
                line: r.line,
                reason: r.reason.clone(),
                excerpt: r.excerpt.clone(),
            });
        }
        report.rejected.sort_by_key(|r| r.line);

        // The allowlist first.
        let allow: HashMap<i64, AllowEntry> = self
            .store
            .all_allow_entries()
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        let now = self.now();
        let lifetimes = self.cfg.intel.lifetimes;
        let default_confidence = req.confidence.unwrap_or(self.cfg.intel.import_confidence);
        let mut rows = Vec::with_capacity(parsed.drafts.len());
        for ld in parsed.drafts {
            let d = ld.draft;
            let hits = self.intel.allow_hits(d.kind, &d.value);
            if let Some(e) = hits.first().and_then(|id| allow.get(id)) {
                report.allowlisted.push(AllowlistedValue {
                    line: ld.line,
                    kind: d.kind,
                    value: d.value,
                    entry: e.value.clone(),
                    note: e.note.clone(),
                    builtin: e.builtin,
                });
                continue;
            }
            let source = d
                .source
                .as_deref()
                .and_then(|s| parse_source(s).ok())
                .unwrap_or_else(|| request_source.clone());
            rows.push(IndicatorUpsert {
                kind: d.kind,
                value: d.value,
                source,
                status,
                fraud_type: d.fraud_type,
                confidence: d.confidence,
                valid_from: d.valid_from,
                valid_until: d.valid_until,
                tags: d.tags,
                description: d.description,
                external_id: d.external_id,
                default_fraud_type: req.fraud_type.unwrap_or(FraudType::Other),
                default_confidence,
                default_valid_until: lifetimes.until(d.kind, now),
            });
        }

        // Then the store, a chunk per transaction.
        let total = rows.len();
        progress(ImportProgress { stored: 0, total });
        let template = self.audit(
            actor,
            "intel.import",
            "",
            format!("file={}", formats::excerpt(&req.file_name)),
        );
        let chunk = self.cfg.intel.import_chunk.max(1);
        let mut stored = 0;
        let mut changed = false;
        for part in rows.chunks(chunk) {
            let outcomes = self.store.upsert_indicators_batch(part, &template).await?;
            for o in outcomes {
                match o {
                    IntelUpsertOutcome::Inserted(_) => report.added += 1,
                    IntelUpsertOutcome::Updated(_) => report.updated += 1,
                    IntelUpsertOutcome::Unchanged(_) => report.unchanged += 1,
                    IntelUpsertOutcome::KeptRevoked(_) => report.kept_revoked += 1,
                }
            }
            changed |= report.added + report.updated > 0;
            stored += part.len();
            progress(ImportProgress { stored, total });
        }
        if changed {
            self.intel_changed();
        }

        let json = serde_json::to_string(&report).map_err(|e| AppError::Internal(e.to_string()))?;
        let job = NewImportJob {
            source_name: report.source.clone(),
            format: report.format.clone(),
            file_name: formats::excerpt(&req.file_name),
            lines: report.lines as i64,
            added: report.added as i64,
            updated: report.updated as i64,
            unchanged: (report.unchanged + report.kept_revoked) as i64,
            skipped: report.allowlisted.len() as i64,
            rejected: report.rejected.len() as i64,
            report: json,
        };
        let audit = self.audit(
            actor,
            "intel.import.job",
            "",
            format!(
                "format={} added={} updated={} unchanged={} allowlisted={} rejected={}",
                report.format,
                report.added,
                report.updated,
                report.unchanged,
                report.allowlisted.len(),
                report.rejected.len()
            ),
        );
        report.job_id = self.store.create_import_job(&job, &audit).await?;
        tracing::info!(
            job = report.job_id,
            format = %report.format,
            added = report.added,
            updated = report.updated,
            unchanged = report.unchanged,
            allowlisted = report.allowlisted.len(),
            rejected = report.rejected.len(),
            "intel import finished"
        );
        Ok(report)
    }

    /// Recorded imports, newest first (without their reports).
    pub async fn list_import_jobs(
        &self,
        actor: &Actor,
        page: usize,
        per_page: usize,
    ) -> Result<Page<ImportJob>> {
        intel_gate(actor, Action::ViewIntel)?;
        let per_page = per_page.clamp(1, 500);
        let page = page.max(1);
        let (items, total) = self
            .store
            .list_import_jobs(per_page, (page - 1) * per_page)
            .await?;
        Ok(Page {
            items,
            total,
            page,
            per_page,
        })
    }

    /// One recorded import with its full report.
    pub async fn import_job(&self, actor: &Actor, id: i64) -> Result<(ImportJob, Option<IntelImportReport>)> {
        intel_gate(actor, Action::ViewIntel)?;
        let job = self
            .store
            .get_import_job(id)
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))?;
        let report = serde_json::from_str(&job.report).ok();
        Ok((job, report))
    }
}

/// The source an import names, for callers that want to show it.
pub fn import_source(req: &IntelImportRequest) -> Result<IndicatorSource> {
    match req.source.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => parse_source(s),
        None => parse_source(&default_source(&req.file_name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sources_and_formats() {
        assert_eq!(
            default_source("/x/y/tw165_scam_sites.adblock.txt"),
            "tw165_scam_sites"
        );
        assert_eq!(default_source(".hidden"), "import");
        assert_eq!(
            parse_import_format("tw165", Some("tw165_bank_accounts.csv"), b"2025/01/01\n"),
            Some(ImportFormat::Tw165BankCsv)
        );
        assert_eq!(
            parse_import_format("tw165", Some("tw165_scam_sites_raw.tsv"), b"# x\n"),
            Some(ImportFormat::Tw165Tsv)
        );
        assert_eq!(
            parse_import_format("ADBLOCK", None, b""),
            Some(ImportFormat::Adblock)
        );
        assert_eq!(parse_import_format("nope", None, b""), None);
    }
}
