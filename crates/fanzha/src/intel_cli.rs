//! `fanzha import intel`, `fanzha export` and `fanzha lookup`: the
//! intelligence base on the command line. They act as `cli` with an
//! analyst's intel permissions, and are audited like any other user.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use fanzha_app::App;
use fanzha_app::intel::export::IntelExportRequest;
use fanzha_app::intel::formats::{ExportFormat, RpzPolicy};
use fanzha_app::intel::import::{ImportProgress, IntelImportReport, IntelImportRequest, parse_import_format};
use fanzha_app::intel::lookup::LookupResult;
use fanzha_core::i18n::Lang;
use fanzha_core::{FraudType, IndicatorKind};
use fanzha_store::IndicatorStatus;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Subcommand)]
pub enum ImportCmd {
    /// Import an indicator file or feed into the intelligence base. Values
    /// on the allowlist are skipped, bad lines are reported with their line
    /// number and reason, and importing the same file again changes nothing.
    Intel(ImportIntelArgs),
}

#[derive(Args)]
pub struct ImportIntelArgs {
    /// The file to import.
    file: PathBuf,
    /// csv, xlsx, tsv, list, hosts, adblock, stix, tw165 (either 165 list),
    /// tw165_tsv or tw165_bank_csv. Detected from the file when missing.
    #[arg(long)]
    format: Option<String>,
    /// The kind of every value (phone, domain, url, ip, app, bank_account,
    /// payment_account, social_account); detected per value when missing.
    #[arg(long)]
    kind: Option<String>,
    /// The source: a feed name, or upper_push / case / analyst. Defaults to
    /// the file name without extension; keep it the same between runs.
    #[arg(long)]
    source: Option<String>,
    /// The fraud type of rows that give none (code or Chinese name).
    #[arg(long)]
    fraud_type: Option<String>,
    /// The confidence (0–100) of rows that give none.
    #[arg(long)]
    confidence: Option<u8>,
    /// The status of new indicators: confirmed (default) or pending.
    #[arg(long)]
    status: Option<String>,
    /// Print the full report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    /// rpz, hosts, domains, ipset, nftables, csv, xlsx or stix.
    format: String,
    /// Where to write the file.
    #[arg(long)]
    out: PathBuf,
    /// Statuses to take (repeat or separate with commas). Default: confirmed
    /// and disposed for block lists, all for csv, xlsx and stix.
    #[arg(long, value_delimiter = ',')]
    status: Vec<String>,
    #[arg(long)]
    kind: Option<String>,
    #[arg(long)]
    fraud_type: Option<String>,
    #[arg(long)]
    min_confidence: Option<u8>,
    /// What resolvers answer for RPZ entries: nxdomain (default), nodata, or
    /// cname:HOST to send people to a warning page.
    #[arg(long)]
    rpz_policy: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct LookupArgs {
    /// Values to check; read one per line from standard input when none.
    values: Vec<String>,
    /// Force the kind instead of detecting it.
    #[arg(long)]
    kind: Option<String>,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

fn app_err(e: fanzha_app::AppError) -> anyhow::Error {
    anyhow::anyhow!("{}", e.msg().render(Lang::En))
}

fn kind_of(s: Option<&str>) -> Result<Option<IndicatorKind>> {
    s.map(|k| IndicatorKind::parse(k).map_err(|e| anyhow::anyhow!(e)))
        .transpose()
}

fn fraud_of(s: Option<&str>) -> Result<Option<FraudType>> {
    s.map(|k| FraudType::parse(k).map_err(|e| anyhow::anyhow!(e)))
        .transpose()
}

fn status_of(s: &str) -> Result<IndicatorStatus> {
    IndicatorStatus::parse(s)
        .with_context(|| format!("unknown status {s:?} (pending, confirmed, disposed, revoked, expired)"))
}

/// Prints progress on standard error when it is a terminal.
fn progress_printer() -> impl Fn(ImportProgress) + Send + Sync {
    let tty = std::io::stderr().is_terminal();
    move |p: ImportProgress| {
        if tty {
            let pct = (p.stored * 100).checked_div(p.total).unwrap_or(100);
            eprint!("\r导入 / importing: {}/{} ({pct}%)", p.stored, p.total);
            if p.stored == p.total {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        }
    }
}

fn print_report(r: &IntelImportReport) {
    println!(
        "导入完成 / imported {} ({} format, source {}): {} lines, {} values",
        r.file_name, r.format, r.source, r.lines, r.values
    );
    println!(
        "  added {}, updated {}, unchanged {}, kept revoked {}, duplicate lines {}",
        r.added, r.updated, r.unchanged, r.kept_revoked, r.duplicate_lines
    );
    println!(
        "  skipped (allowlisted) {}, rejected {}, skipped lines {:?}",
        r.allowlisted.len(),
        r.rejected.len(),
        r.skipped_lines
    );
    for a in r.allowlisted.iter().take(20) {
        println!(
            "    line {}: {} {} — on the allowlist as {} ({})",
            a.line, a.kind, a.value, a.entry, a.note
        );
    }
    if r.allowlisted.len() > 20 {
        println!("    … {} more", r.allowlisted.len() - 20);
    }
    for x in r.rejected.iter().take(20) {
        println!(
            "    line {}: {} [{}]",
            x.line,
            x.reason.render(Lang::En),
            x.excerpt
        );
    }
    if r.rejected.len() > 20 {
        println!("    … {} more (use --json for all)", r.rejected.len() - 20);
    }
    if !r.allowlist_candidates.is_empty() {
        println!(
            "  {} exception rules (@@) were not applied; add them to the allowlist if they are right",
            r.allowlist_candidates.len()
        );
    }
    println!("  import job #{}", r.job_id);
}

pub async fn import(app: Arc<App>, cmd: ImportCmd) -> Result<()> {
    let ImportCmd::Intel(a) = cmd;
    let bytes = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let file_name = a
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "import".into());
    let mut req = IntelImportRequest::new(&file_name);
    if let Some(f) = &a.format {
        req.format = Some(
            parse_import_format(f, Some(&file_name), &bytes)
                .with_context(|| format!("unknown format {f:?}"))?,
        );
    }
    req.kind = kind_of(a.kind.as_deref())?;
    req.source = a.source.clone();
    req.fraud_type = fraud_of(a.fraud_type.as_deref())?;
    req.confidence = a.confidence;
    req.status = a.status.as_deref().map(status_of).transpose()?;
    app.start_intel().await.map_err(app_err)?;
    let actor = app.cli_intel_actor();
    let report = app
        .import_intel(&actor, &bytes, &req, &progress_printer())
        .await
        .map_err(app_err)?;
    app.sync_intel().await.map_err(app_err)?;
    app.stop_intel().await;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

fn rpz_policy(s: &str) -> Result<RpzPolicy> {
    let t = s.trim();
    Ok(match t.to_ascii_lowercase().as_str() {
        "nxdomain" => RpzPolicy::NxDomain,
        "nodata" => RpzPolicy::NoData,
        _ => match t.split_once(':') {
            Some((p, host)) if p.eq_ignore_ascii_case("cname") && !host.trim().is_empty() => {
                RpzPolicy::Redirect {
                    host: host.trim().to_string(),
                }
            }
            _ => bail!("--rpz-policy must be nxdomain, nodata or cname:HOST"),
        },
    })
}

pub async fn export(app: Arc<App>, a: ExportArgs) -> Result<()> {
    let format = ExportFormat::parse(&a.format).with_context(|| {
        format!(
            "unknown export format {:?} (rpz, hosts, domains, ipset, nftables, csv, xlsx, stix)",
            a.format
        )
    })?;
    let mut req = IntelExportRequest::new(format);
    req.statuses = a.status.iter().map(|s| status_of(s)).collect::<Result<_>>()?;
    req.kind = kind_of(a.kind.as_deref())?;
    req.fraud_type = fraud_of(a.fraud_type.as_deref())?;
    req.min_confidence = a.min_confidence;
    req.rpz_policy = a.rpz_policy.as_deref().map(rpz_policy).transpose()?;
    app.start_intel().await.map_err(app_err)?;
    let out = app
        .export_intel(&app.cli_intel_actor(), &req)
        .await
        .map_err(app_err)?;
    std::fs::write(&a.out, &out.bytes).with_context(|| format!("writing {}", a.out.display()))?;
    app.stop_intel().await;
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!(
            "导出完成 / exported {} items to {} (serial {}; {} selected, {} allowlisted)",
            out.written,
            a.out.display(),
            out.serial,
            out.selected,
            out.allowlisted
        );
        for s in &out.skipped {
            println!("  left out: {}", s.reason.msg(s.count).render(Lang::En));
        }
    }
    Ok(())
}

fn print_lookup(r: &LookupResult, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    let kind = r.kind.map_or("?", |k| k.code());
    let verdict = serde_json::to_value(r.verdict)?;
    let verdict = verdict.as_str().unwrap_or("?");
    match &r.error {
        Some(e) => println!("{}\t{kind}\t{verdict}\t{}", r.value, e.render(Lang::En)),
        None if r.matches.is_empty() => {
            let by = r
                .allowlisted_by
                .first()
                .map(|a| format!("\t{} ({})", a.value, a.note))
                .unwrap_or_default();
            println!(
                "{}\t{kind}\t{verdict}{by}",
                r.canonical.as_deref().unwrap_or(&r.value)
            );
        }
        None => {
            let m: Vec<String> = r
                .matches
                .iter()
                .map(|m| {
                    format!(
                        "{} {} {} {}%{}",
                        m.value,
                        m.status,
                        m.fraud_type.code(),
                        m.confidence,
                        m.source.as_deref().map(|s| format!(" [{s}]")).unwrap_or_default()
                    )
                })
                .collect();
            println!(
                "{}\t{kind}\t{verdict}\t{}",
                r.canonical.as_deref().unwrap_or(&r.value),
                m.join("; ")
            );
        }
    }
    Ok(())
}

pub async fn lookup(app: Arc<App>, a: LookupArgs) -> Result<()> {
    let kind = kind_of(a.kind.as_deref())?;
    let mut values = a.values;
    if values.is_empty() {
        for line in std::io::stdin().lock().lines() {
            let line = line.context("reading standard input")?;
            if !line.trim().is_empty() {
                values.push(line);
            }
        }
    }
    app.start_intel().await.map_err(app_err)?;
    let actor = app.cli_intel_actor();
    for chunk in values.chunks(10_000) {
        let results = app.lookup_batch(&actor, chunk, kind).await.map_err(app_err)?;
        for r in &results {
            print_lookup(r, a.json)?;
        }
    }
    Ok(())
}
