//! The detection commands: `ingest`, `backtest`, `train`, `eval`.

use anyhow::{Context, Result, bail};
use clap::Args;
use fanzha_app::App;
use fanzha_app::detect::ingest::{EventFileFormat, IngestProgress};
use fanzha_core::i18n::Lang;
use fanzha_engine::text::{
    LabelledData, Model, TableFormat, TrainParams, evaluate, read_labelled, stratified_split,
    train as train_model,
};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

fn app_err(e: fanzha_app::AppError) -> anyhow::Error {
    anyhow::anyhow!("{}", e.msg().render(Lang::En))
}

#[derive(Args)]
pub struct IngestArgs {
    /// An NDJSON file (one event per line) or a CSV file whose header names
    /// the event fields (`ts,source,kind,caller,callee,…`; nested ones as
    /// `payee.kind`, `payee.value`).
    pub file: PathBuf,
    /// `ndjson` or `csv` (default: from the name, else from the content).
    #[arg(long)]
    pub format: Option<String>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `fanzha ingest FILE`: stores the file's events (the server's pipeline
/// processes them), with progress on stderr and a final report.
pub async fn ingest(app: Arc<App>, args: IngestArgs) -> Result<()> {
    let f = std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = BufReader::with_capacity(1 << 20, f);
    let head = reader.fill_buf().context("reading the file")?.to_vec();
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let format = match args.format.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => EventFileFormat::detect(&name, &head),
        Some("ndjson" | "jsonl" | "json") => EventFileFormat::Ndjson,
        Some("csv") => EventFileFormat::Csv,
        Some(other) => bail!("--format must be ndjson or csv, not {other}"),
    };
    let started = Instant::now();
    let mut last = Instant::now();
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut progress = move |p: IngestProgress| {
        if last.elapsed().as_millis() < 250 && p.bytes < size {
            return;
        }
        last = Instant::now();
        let pct = if size > 0 {
            p.bytes as f64 * 100.0 / size as f64
        } else {
            100.0
        };
        let rate = p.lines as f64 / started.elapsed().as_secs_f64().max(1e-3);
        let line = format!(
            "{pct:5.1}%  {} lines  {} accepted  {} duplicates  {} rejected  ({rate:.0} lines/s)",
            p.lines, p.accepted, p.duplicates, p.rejected
        );
        if tty {
            eprint!("\r{line}   ");
        } else {
            eprintln!("{line}");
        }
        let _ = std::io::stderr().flush();
    };
    let rep = app
        .ingest_file(&app.cli_actor(), Box::new(reader), format, &mut progress)
        .await
        .map_err(app_err)?;
    if tty {
        eprintln!();
    }
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        let mut v = serde_json::to_value(&rep)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("seconds".into(), serde_json::json!(secs));
        }
        println!("{v}");
    } else {
        println!(
            "{} lines in {secs:.1} s: {} accepted, {} duplicates, {} rejected",
            rep.lines, rep.accepted, rep.duplicates, rep.rejected_total
        );
        for e in rep.rejected.iter().take(50) {
            println!("  line {}: {}", e.line, e.error);
        }
        if rep.rejected_total > 50 {
            println!("  … and {} more (use --json for all)", rep.rejected_total - 50);
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct BacktestArgs {
    /// The candidate rules document (TOML).
    #[arg(long)]
    pub rules: PathBuf,
    /// Start (RFC 3339 like 2026-03-01T00:00:00+08:00, or ms since the epoch), inclusive.
    #[arg(long)]
    pub from: String,
    /// End, exclusive.
    #[arg(long)]
    pub to: String,
    #[arg(long)]
    pub json: bool,
}

fn time_arg(s: &str, name: &str) -> Result<fanzha_core::Timestamp> {
    fanzha_core::event::parse_time(s)
        .with_context(|| format!("--{name} must be RFC 3339 (2026-03-01T00:00:00+08:00) or milliseconds"))
}

/// `fanzha backtest`: candidate rules against the live rules over stored events.
pub async fn backtest(app: Arc<App>, args: BacktestArgs) -> Result<()> {
    let text =
        std::fs::read_to_string(&args.rules).with_context(|| format!("reading {}", args.rules.display()))?;
    let from = time_arg(&args.from, "from")?;
    let to = time_arg(&args.to, "to")?;
    let rep = app.cli_backtest(&text, from, to).await.map_err(app_err)?;
    if args.json {
        println!("{}", serde_json::to_string(&rep)?);
        return Ok(());
    }
    println!(
        "{} events replayed ({}); live rules v{} vs candidate \"{}\": {} leads vs {}",
        rep.events,
        if rep.truncated {
            "truncated"
        } else {
            "all in range"
        },
        rep.live_version,
        rep.candidate_name,
        rep.counts.a.leads,
        rep.counts.b.leads
    );
    let show = |title: &str, v: &[fanzha_app::detect::backtest::BacktestLeadView]| {
        println!("{title}: {}", v.len());
        for l in v.iter().take(30) {
            println!(
                "  seq {:<10} {:<12} {:<8} {}",
                l.event_seq,
                l.subscriber_masked,
                l.max_grade.code(),
                l.fraud_type.map(|f| f.zh()).unwrap_or("")
            );
        }
    };
    show("new leads", &rep.new_leads);
    show("dropped leads", &rep.dropped_leads);
    println!("grade changes: {}", rep.grade_changes.len());
    for g in rep.grade_changes.iter().take(30) {
        println!(
            "  seq {:<10} {:<12} {} -> {}",
            g.live.event_seq,
            g.live.subscriber_masked,
            g.live.max_grade.code(),
            g.candidate.max_grade.code()
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct TrainArgs {
    /// Labelled texts: CSV with `content` and `label` columns (any order).
    #[arg(long)]
    pub data: PathBuf,
    /// Where to write the model.
    #[arg(long)]
    pub out: PathBuf,
    /// `csv` or `tsv`.
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// The text column (default `content`).
    #[arg(long)]
    pub text_column: Option<String>,
    /// The label column (default `label`).
    #[arg(long)]
    pub label_column: Option<String>,
    /// Hash buckets = 2^bits (4–24).
    #[arg(long)]
    pub bucket_bits: Option<u8>,
    #[arg(long)]
    pub epochs: Option<u32>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Hold out this fraction of every label (a seeded, stratified split)
    /// and train on the rest; `eval` with the same `--holdout` and
    /// `--split-seed` scores exactly the held-out rows.
    #[arg(long)]
    pub holdout: Option<f64>,
    /// Seed of the `--holdout` split.
    #[arg(long, default_value_t = 42)]
    pub split_seed: u64,
    #[arg(long)]
    pub json: bool,
}

/// Reads labelled rows and, with `--holdout`, keeps one side of the seeded
/// stratified split: the training side or the held-out side.
fn labelled(
    path: &Path,
    format: &TableFormat,
    holdout: Option<f64>,
    seed: u64,
    held_out: bool,
) -> Result<LabelledData> {
    let mut data =
        read_labelled(open(path)?, format).with_context(|| format!("reading {}", path.display()))?;
    if let Some(h) = holdout {
        if !(h > 0.0 && h < 1.0) {
            bail!("--holdout must lie between 0 and 1, not {h}");
        }
        let (tr, te) = stratified_split(&data.samples, h, seed);
        data.samples = if held_out { te } else { tr };
    }
    Ok(data)
}

fn table_format(format: &str, text: Option<&str>, label: Option<&str>) -> Result<TableFormat> {
    let mut f = match format {
        "csv" => TableFormat::csv(),
        "tsv" => TableFormat::tsv(text.unwrap_or("content"), label.unwrap_or("label")),
        other => bail!("--format must be csv or tsv, not {other}"),
    };
    if let Some(t) = text {
        f.text_column = t.to_string();
    }
    if let Some(l) = label {
        f.label_column = l.to_string();
    }
    Ok(f)
}

/// A data path as given, or else relative to the shared data directory
/// (`FANZHA_SHARED_DATA`, default `../shared/data`), so that
/// `--data text/zh_spam_sms/train.csv` finds the public data sets.
pub fn data_path(given: &Path, shared: &Path) -> PathBuf {
    if given.exists() || given.is_absolute() {
        return given.to_path_buf();
    }
    let under = shared.join(given);
    if under.exists() {
        under
    } else {
        given.to_path_buf()
    }
}

fn open(path: &Path) -> Result<BufReader<std::fs::File>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(BufReader::with_capacity(1 << 20, f))
}

struct Trained {
    model: Model,
    rows: usize,
    rejected: Vec<fanzha_engine::text::RejectedRow>,
}

/// `fanzha train`: trains the text model on labelled data.
pub fn train(mut args: TrainArgs, shared: &Path) -> Result<()> {
    args.data = data_path(&args.data, shared);
    let format = table_format(
        &args.format,
        args.text_column.as_deref(),
        args.label_column.as_deref(),
    )?;
    let mut params = TrainParams::default();
    if let Some(b) = args.bucket_bits {
        params.bucket_bits = b;
    }
    if let Some(e) = args.epochs {
        params.epochs = e;
    }
    if let Some(s) = args.seed {
        params.seed = s;
    }
    let data = labelled(&args.data, &format, args.holdout, args.split_seed, false)?;
    let started = Instant::now();
    let model = train_model(&data.samples, &params).context("training")?;
    let secs = started.elapsed().as_secs_f64();
    let t = Trained {
        model,
        rows: data.samples.len(),
        rejected: data.rejected,
    };
    let tmp = args.out.with_extension("tmp");
    {
        let f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut w = std::io::BufWriter::new(f);
        t.model.save(&mut w).context("writing the model")?;
        w.flush()?;
    }
    std::fs::rename(&tmp, &args.out).with_context(|| format!("writing {}", args.out.display()))?;
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "rows": t.rows, "rejected": t.rejected.len(), "labels": t.model.labels(),
                "holdout": args.holdout, "split_seed": args.holdout.map(|_| args.split_seed),
                "bucket_bits": params.bucket_bits, "epochs": params.epochs, "seconds": secs, "model_bytes": bytes,
            })
        );
    } else {
        println!(
            "trained on {} rows ({} rejected) in {secs:.1} s; {} labels: {}; model {} ({} KiB)",
            t.rows,
            t.rejected.len(),
            t.model.n_classes(),
            t.model.labels().join(", "),
            args.out.display(),
            bytes / 1024
        );
        for r in t.rejected.iter().take(20) {
            println!("  row {} (line {}): {}", r.row, r.line, r.reason);
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct EvalArgs {
    /// A model written by `fanzha train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled texts (as for `train`).
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, default_value = "csv")]
    pub format: String,
    #[arg(long)]
    pub text_column: Option<String>,
    #[arg(long)]
    pub label_column: Option<String>,
    /// Score only the rows `train --holdout` held out (same fraction and seed).
    #[arg(long)]
    pub holdout: Option<f64>,
    /// Seed of the `--holdout` split.
    #[arg(long, default_value_t = 42)]
    pub split_seed: u64,
    /// Print one JSON object (macro_f1, accuracy, per_class, confusion, n, msgs_per_sec…).
    #[arg(long)]
    pub json: bool,
}

/// `fanzha eval`: scores a model on labelled data.
pub fn eval(mut args: EvalArgs, shared: &Path) -> Result<()> {
    args.data = data_path(&args.data, shared);
    let format = table_format(
        &args.format,
        args.text_column.as_deref(),
        args.label_column.as_deref(),
    )?;
    let model =
        Model::load(open(&args.model)?).with_context(|| format!("loading {}", args.model.display()))?;
    let data = labelled(&args.data, &format, args.holdout, args.split_seed, true)?;
    let rep = evaluate(&model, &data.samples);
    let rejected = data.rejected;
    if args.json {
        let mut v = serde_json::to_value(&rep)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("rejected".into(), serde_json::json!(rejected.len()));
            o.insert("holdout".into(), serde_json::json!(args.holdout));
            o.insert(
                "split_seed".into(),
                serde_json::json!(args.holdout.map(|_| args.split_seed)),
            );
        }
        println!("{v}");
        return Ok(());
    }
    println!(
        "n={} accuracy={:.4} macro_f1={:.4} ({:.0} msgs/s; {} rows rejected)",
        rep.n,
        rep.accuracy,
        rep.macro_f1,
        rep.msgs_per_sec,
        rejected.len()
    );
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>8}",
        "label", "precision", "recall", "f1", "support"
    );
    for c in &rep.per_class {
        println!(
            "{:<28} {:>9.4} {:>9.4} {:>9.4} {:>8}",
            c.label, c.precision, c.recall, c.f1, c.support
        );
    }
    println!("confusion (rows: true label, columns: predicted, in the order above):");
    for (label, row) in rep.labels.iter().zip(&rep.confusion) {
        let cells: Vec<String> = row.iter().map(|n| format!("{n:>7}")).collect();
        println!("{label:<28} {}", cells.join(" "));
    }
    Ok(())
}
