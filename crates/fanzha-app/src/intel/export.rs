//! Disposal exports (处置导出): block lists for DNS resolvers (RPZ), hosts
//! files, domain lists, firewall sets (nftables, ipset), spreadsheets and
//! STIX, written by the formats exporters from the indicators a filter
//! selects. Values the allowlist covers are never exported.
//!
//! Every export takes the next export serial (a counter in the store) in
//! the same transaction as its audit entry; the RPZ SOA serial is that
//! counter, so it grows with every export. Given the same indicators,
//! serial and time the bytes are the same.

use super::formats::{self, ExportFormat, ExportItem, ExportOptions, RpzPolicy, SkipCount};
use super::service::intel_gate;
use crate::{Actor, App, AppError, Result};
use fanzha_core::roles::Action;
use fanzha_core::{FraudType, IndicatorKind};
use fanzha_store::{Indicator, IndicatorFilter, IndicatorStatus};
use serde::{Deserialize, Serialize};

/// Indicators read from the store per page.
const PAGE: usize = 10_000;

/// What to export.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct IntelExportRequest {
    pub format: ExportFormat,
    /// Statuses to take. Empty: confirmed and disposed for block lists,
    /// everything for spreadsheets and STIX.
    #[serde(default)]
    pub statuses: Vec<IndicatorStatus>,
    #[serde(default)]
    pub kind: Option<IndicatorKind>,
    #[serde(default)]
    pub fraud_type: Option<FraudType>,
    #[serde(default)]
    pub min_confidence: Option<u8>,
    /// What resolvers answer for RPZ entries (NXDOMAIN by default).
    #[serde(default)]
    pub rpz_policy: Option<RpzPolicy>,
}

impl IntelExportRequest {
    pub fn new(format: ExportFormat) -> IntelExportRequest {
        IntelExportRequest {
            format,
            statuses: Vec::new(),
            kind: None,
            fraud_type: None,
            min_confidence: None,
            rpz_policy: None,
        }
    }
}

/// An export file.
#[derive(Clone, Debug, Serialize)]
pub struct IntelExport {
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// A download name, e.g. `fanzha-rpz-12.zone`.
    pub file_name: String,
    pub content_type: &'static str,
    /// The export serial (also the RPZ SOA serial).
    pub serial: i64,
    /// Indicators the filter selected.
    pub selected: usize,
    /// Items written.
    pub written: usize,
    /// Left out because the allowlist covers them.
    pub allowlisted: usize,
    /// Left out by the exporter, by reason.
    pub skipped: Vec<SkipCount>,
}

fn content_type(f: ExportFormat) -> &'static str {
    match f {
        ExportFormat::Csv => "text/csv; charset=utf-8",
        ExportFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ExportFormat::Stix => "application/json",
        _ => "text/plain; charset=utf-8",
    }
}

fn item(i: Indicator) -> ExportItem {
    ExportItem {
        id: i.id,
        kind: i.kind,
        value: i.value,
        fraud_type: Some(i.fraud_type),
        confidence: i.confidence,
        status: formats::IndicatorStatus::parse(i.status.code()).unwrap_or(formats::IndicatorStatus::Pending),
        valid_from: Some(i.valid_from),
        valid_until: i.valid_until,
        tags: i.tags,
        source: Some(i.source.code()),
        description: Some(i.description).filter(|d| !d.is_empty()),
        created_at: i.created_at,
        updated_at: i.updated_at,
    }
}

impl App {
    /// Writes an export (analysts and leaders); audited with its filter.
    pub async fn export_intel(&self, actor: &Actor, req: &IntelExportRequest) -> Result<IntelExport> {
        intel_gate(actor, Action::ExportIntel)?;
        self.ensure_intel().await?;
        let block = req.format.is_block_list();
        let statuses = if req.statuses.is_empty() && block {
            vec![IndicatorStatus::Confirmed, IndicatorStatus::Disposed]
        } else {
            req.statuses.clone()
        };
        let now = self.now();
        let filter = IndicatorFilter {
            kind: req.kind,
            statuses: statuses.clone(),
            fraud_type: req.fraud_type,
            min_confidence: req.min_confidence,
            valid_at: block.then_some(now),
            ..Default::default()
        };
        let mut items = Vec::new();
        let (mut selected, mut allowlisted) = (0, 0);
        let mut after = 0;
        loop {
            let page = self.store.indicators_page(&filter, after, PAGE).await?;
            let short = page.len() < PAGE;
            for i in page {
                after = i.id;
                selected += 1;
                if !self.intel.allow_hits(i.kind, &i.value).is_empty() {
                    allowlisted += 1;
                    continue;
                }
                items.push(item(i));
            }
            if short {
                break;
            }
        }
        let detail = format!(
            "format={} statuses={} kind={} fraud_type={} min_confidence={} selected={selected}",
            req.format.code(),
            statuses.iter().map(|s| s.code()).collect::<Vec<_>>().join("|"),
            req.kind.map_or("any", |k| k.code()),
            req.fraud_type.map_or("any", |t| t.code()),
            req.min_confidence.unwrap_or(0),
        );
        let audit = self.audit(actor, "intel.export", "", detail);
        let serial = self.store.next_export_serial(&audit).await?;
        let mut opts = ExportOptions {
            serial: u32::try_from(serial.rem_euclid(i64::from(u32::MAX)))
                .unwrap_or(1)
                .max(1),
            origin: self.cfg.intel.rpz_origin.clone(),
            at: block.then_some(now),
            ..ExportOptions::default()
        };
        if block {
            opts.block_statuses = statuses
                .iter()
                .filter_map(|s| formats::IndicatorStatus::parse(s.code()))
                .collect();
        }
        if let Some(p) = &req.rpz_policy {
            opts.policy = p.clone();
        }
        let format = req.format;
        let out = tokio::task::spawn_blocking(move || formats::export(format, &items, &opts))
            .await
            .map_err(|e| AppError::Internal(format!("export failed: {e}")))?
            .map_err(|e| AppError::Invalid(e.msg()))?;
        Ok(IntelExport {
            file_name: format!("fanzha-{}-{serial}.{}", format.code(), format.extension()),
            content_type: content_type(format),
            serial,
            selected,
            written: out.written,
            allowlisted,
            skipped: out.skipped,
            bytes: out.bytes,
        })
    }
}
