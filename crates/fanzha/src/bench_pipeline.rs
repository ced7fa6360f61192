//! `fanzha bench pipeline`: detection end to end, through the real app.
//!
//! Starts the app on a fresh SQLite database in a temporary directory, with
//! a small org tree, generated residents (their phones resolve through the
//! blind index) and flagged phones and bank accounts in the intelligence
//! base, serves it on 127.0.0.1:0, and issues an API token. Then:
//!
//! * **throughput**: the events, pre-serialised as NDJSON batches, are
//!   POSTed to `/api/v1/events` by several concurrent clients with the token;
//!   the clock stops when the pipeline has processed the last acknowledged
//!   event, which means its signals and leads are committed. Leads stored
//!   are counted through the app.
//! * **latency**: at a steady rate (default 10,000 events/s, in batches
//!   every 10 ms), each batch carrying one event that raises a new lead (a
//!   flagged call to a subscriber not seen before), the time from sending a
//!   batch to the pipeline having committed it (the lead is then visible to
//!   any reader of the store). Every raised lead is counted at the end.
//!
//! Prints one JSON object.

use crate::bench::{Rng, app_err, cpu_secs, fresh_app_with, load_avg, peak_rss, people};
use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use fanzha_app::detect::leads::LeadQuery;
use fanzha_app::intel::formats::ImportFormat;
use fanzha_app::intel::import::IntelImportRequest;
use fanzha_app::{Actor, App, AuthVia};
use fanzha_core::{FraudType, IndicatorKind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Args)]
pub struct PipelineArgs {
    /// Events in the throughput phase.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Events per POST in the throughput phase.
    #[arg(long, default_value_t = 5_000)]
    batch: usize,
    /// Concurrent HTTP clients in the throughput phase.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Residents registered (a share of the subscribers resolves to them).
    #[arg(long, default_value_t = 5_000)]
    residents: usize,
    /// Distinct subscribers the events are about.
    #[arg(long, default_value_t = 200_000)]
    subscribers: usize,
    /// Flagged phones and flagged bank accounts in the intelligence base (each).
    #[arg(long, default_value_t = 2_000)]
    flagged: usize,
    /// Events per thousand whose counterparty is flagged.
    #[arg(long, default_value_t = 30)]
    hit_per_mille: u64,
    /// Percentage of SMS that carry a text (classified by the lexicon).
    #[arg(long, default_value_t = 50)]
    sms_text_pct: usize,
    /// Rate of the latency phase, in events per second (0 skips the phase).
    #[arg(long, default_value_t = 10_000)]
    rate: usize,
    /// Seconds of the latency phase.
    #[arg(long, default_value_t = 10)]
    latency_secs: u64,
    /// Batches per second in the latency phase.
    #[arg(long, default_value_t = 100)]
    latency_batches_per_sec: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Print one JSON object on one line (pretty-printed otherwise).
    #[arg(long)]
    json: bool,
}

/// Texts on generated SMS: benign, and a few fraud-like ones.
const BENIGN: [&str; 4] = [
    "明天上午九点在村委会开会，请准时参加。",
    "您的快递已放驿站，请凭取件码取件。",
    "本周六社区卫生服务中心免费量血压，欢迎参加。",
    "会议改到周三下午两点，地点不变。",
];
const FRAUDY: [&str; 3] = [
    "您涉嫌洗钱，请把资金转入安全账户配合调查",
    "兼职刷单，日结佣金，添加QQ领取任务",
    "您的征信有问题，需要注销校园贷账户，否则影响征信",
];

fn flagged_phone(i: usize) -> String {
    format!("+86171{:08}", i)
}

/// A 19-digit bank card number with a valid Luhn check digit.
fn flagged_account(i: usize) -> String {
    let base = format!("6222029{:011}", i);
    let sum: u32 = base
        .bytes()
        .rev()
        .enumerate()
        .map(|(k, c)| {
            let v = u32::from(c - b'0');
            // Doubled: every other digit from the right, starting with the
            // one next to the check digit.
            if k % 2 == 0 {
                let d = v * 2;
                if d > 9 { d - 9 } else { d }
            } else {
                v
            }
        })
        .sum();
    format!("{base}{}", (10 - sum % 10) % 10)
}

fn resident_phone(i: usize) -> String {
    format!("+86150{:08}", i)
}

/// The event generator: kinds 60 % call, 20 % SMS, 10 % web, 5 % app, 5 %
/// transfer; subscribers drawn from residents and unknown numbers.
struct Gen {
    rng: Rng,
    residents: usize,
    subscribers: usize,
    flagged: usize,
    hit_per_mille: u64,
    sms_text_pct: usize,
    run: &'static str,
    n: usize,
}

impl Gen {
    fn subscriber(&mut self) -> String {
        let s = self.rng.below(self.subscribers);
        if s < self.residents {
            resident_phone(s)
        } else {
            format!("+86151{:08}", s)
        }
    }

    /// Appends one NDJSON line at time `ts`.
    fn line(&mut self, ts: i64, out: &mut String) {
        let me = self.subscriber();
        let hit = (self.rng.below(1000) as u64) < self.hit_per_mille;
        let id = format!("{}-{}", self.run, self.n);
        self.n += 1;
        let r = &mut self.rng;
        let peer = if hit {
            flagged_phone(r.below(self.flagged))
        } else {
            format!("+86139{:08}", r.below(100_000_000))
        };
        let _ = match r.below(100) {
            0..60 => {
                let (caller, callee, dir) = if r.chance(80) {
                    (peer.as_str(), me.as_str(), "in")
                } else {
                    (me.as_str(), peer.as_str(), "out")
                };
                let dur = if r.chance(15) { 0 } else { r.below(1200) };
                writeln!(
                    out,
                    r#"{{"id":"{id}","ts":{ts},"source":"cmcc","kind":"call","caller":"{caller}","callee":"{callee}","direction":"{dir}","duration_s":{dur}}}"#
                )
            }
            60..80 => {
                let sender = if hit {
                    peer
                } else {
                    format!("+86106{:08}", r.below(100_000_000))
                };
                if r.chance(self.sms_text_pct) {
                    let text = if r.chance(5) {
                        r.pick(&FRAUDY)
                    } else {
                        r.pick(&BENIGN)
                    };
                    writeln!(
                        out,
                        r#"{{"id":"{id}","ts":{ts},"source":"cmcc","kind":"sms","sender":"{sender}","receiver":"{me}","text":"{text}"}}"#
                    )
                } else {
                    writeln!(
                        out,
                        r#"{{"id":"{id}","ts":{ts},"source":"cmcc","kind":"sms","sender":"{sender}","receiver":"{me}"}}"#
                    )
                }
            }
            80..90 => writeln!(
                out,
                r#"{{"id":"{id}","ts":{ts},"source":"isp","kind":"web","subscriber":"{me}","url":"https://site{}.example.com/p/{}"}}"#,
                r.below(1_000_000),
                r.below(1000)
            ),
            90..95 => writeln!(
                out,
                r#"{{"id":"{id}","ts":{ts},"source":"mdm","kind":"app","subscriber":"{me}","package":"com.example.app{}","action":"install"}}"#,
                r.below(100_000)
            ),
            _ => {
                let payee = if hit {
                    flagged_account(r.below(self.flagged))
                } else {
                    format!("62220200{:011}", r.below(100_000_000_000))
                };
                let fen = if r.chance(10) {
                    500_000 + r.below(5_000_000)
                } else {
                    1_000 + r.below(200_000)
                };
                writeln!(
                    out,
                    r#"{{"id":"{id}","ts":{ts},"source":"bank:icbc","kind":"transfer","payer":"{me}","payee":{{"kind":"bank_account","value":"{payee}"}},"amount_fen":{fen}}}"#
                )
            }
        };
    }
}

/// A flagged long call to a subscriber never seen before: raises a new lead.
fn trigger_line(k: usize, ts: i64, flagged: usize, out: &mut String) {
    let _ = writeln!(
        out,
        r#"{{"id":"lat-trigger-{k}","ts":{ts},"source":"cmcc","kind":"call","caller":"{}","callee":"+86152{:08}","direction":"in","duration_s":900}}"#,
        flagged_phone(k % flagged.max(1)),
        k
    );
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The reply of `POST /events`.
#[derive(serde::Deserialize)]
struct Reply {
    accepted: usize,
    duplicates: usize,
    rejected: Vec<serde_json::Value>,
    last_seq: Option<i64>,
}

async fn post(client: &reqwest::Client, url: &str, token: &str, body: Vec<u8>) -> Result<Reply> {
    let r = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .context("POST /api/v1/events")?;
    let status = r.status();
    let bytes = r.bytes().await.context("reading the reply")?;
    if !status.is_success() {
        bail!(
            "POST /api/v1/events answered {status}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        );
    }
    serde_json::from_slice(&bytes).context("the reply is not the ingest report")
}

/// An analyst of the county (the root of the grids' tree), who sees every lead.
async fn county_analyst(app: &App, grid: fanzha_core::NodeId) -> Result<Actor> {
    let cli = app.cli_actor();
    let path = app.node(&cli, grid).await.map_err(app_err)?.path;
    let root = path
        .as_str()
        .split('/')
        .find(|s| !s.is_empty())
        .and_then(|s| s.parse::<i64>().ok())
        .context("the grid has no root")?;
    let county = app.node(&cli, fanzha_core::NodeId(root)).await.map_err(app_err)?;
    let mut a = cli;
    a.user.role = fanzha_core::roles::Role::Analyst;
    a.user.node_id = Some(county.id);
    a.user.node_path = Some(county.path);
    Ok(a)
}

async fn leads_total(app: &App, analyst: &Actor) -> Result<i64> {
    let q = LeadQuery {
        per_page: Some(1),
        ..Default::default()
    };
    Ok(app.leads(analyst, &q).await.map_err(app_err)?.total)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[derive(Serialize)]
struct Throughput {
    events: usize,
    batch: usize,
    clients: usize,
    posts: usize,
    accepted: usize,
    /// Wall seconds from the first POST to the last reply (events durable).
    ingest_secs: f64,
    ingest_events_per_sec: f64,
    /// Wall seconds from the first POST until the pipeline had committed the
    /// signals and leads of every event.
    end_to_end_secs: f64,
    /// The headline: events through HTTP, SQLite and detection, per second.
    events_per_sec: f64,
    /// CPU seconds of the whole process (server and clients) in that time.
    cpu_secs: f64,
    events_per_cpu_sec: f64,
    signals: u64,
    leads_raised: u64,
    leads_updated: u64,
    /// Leads the app lists after the run.
    leads_stored: i64,
}

#[derive(Serialize)]
struct Latency {
    rate_events_per_sec: usize,
    secs: u64,
    batches: usize,
    events: usize,
    /// Achieved rate of sending.
    sent_events_per_sec: f64,
    /// Time from sending a batch to the pipeline having committed all of it
    /// (its leads are then in the store), in milliseconds.
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// One new lead expected per batch.
    leads_expected: usize,
    leads_new: i64,
}

#[derive(Serialize)]
struct Figures {
    bench: &'static str,
    /// Share of events per kind in percent, the flagged-counterparty rate
    /// and the share of SMS with a text.
    mix: BTreeMap<&'static str, f64>,
    residents: usize,
    subscribers: usize,
    flagged_phones: usize,
    flagged_accounts: usize,
    throughput: Throughput,
    latency: Option<Latency>,
    /// Headline figures, repeated flat.
    events_per_sec: f64,
    p99_event_to_lead_ms: Option<f64>,
    target_events_per_sec: f64,
    target_p99_ms: f64,
    peak_rss_bytes: u64,
    load_avg: f64,
    cores: usize,
}

pub async fn run(a: PipelineArgs) -> Result<()> {
    ensure!(
        a.events > 0 && a.batch > 0,
        "--events and --batch must be positive"
    );
    ensure!(
        a.subscribers > a.residents,
        "--subscribers must exceed --residents"
    );
    ensure!(a.flagged > 0, "--flagged must be positive");
    ensure!(a.hit_per_mille <= 1000, "--hit-per-mille is at most 1000");
    let dir = std::env::temp_dir().join(format!("fanzha-bench-pipeline-{}", std::process::id()));
    let result = bench(&a, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    let f = result?;
    if a.json {
        println!("{}", serde_json::to_string(&f)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&f)?);
    }
    Ok(())
}

async fn bench(a: &PipelineArgs, dir: &std::path::PathBuf) -> Result<Figures> {
    let snapshot_dir = dir.clone();
    let (app, grids) = fresh_app_with(dir, move |cfg| {
        cfg.intel.snapshot_dir = Some(snapshot_dir);
        cfg.detect.max_batch_bytes = 16 * 1024 * 1024;
    })
    .await?;
    let cli = app.cli_actor();
    let analyst = county_analyst(&app, grids[0].0).await?;

    // Residents: generated people on the grids, phones +86150…
    let mut rng = Rng(a.seed);
    let folks = people(&mut rng, a.residents);
    let mut csv = String::from("姓名,身份证号,手机号,网格\n");
    for (i, p) in folks.iter().enumerate() {
        let (gid, _) = &grids[i % grids.len()];
        let _ = writeln!(csv, "{},{},{},{}", p.name, p.id, resident_phone(i), gid);
    }
    let rep = app
        .import_residents(&cli, Some("residents.csv"), csv.as_bytes(), None)
        .await
        .map_err(app_err)?;
    ensure!(
        rep.inserted == a.residents,
        "{} of {} residents imported",
        rep.inserted,
        a.residents
    );

    // Intelligence: flagged phones and bank accounts.
    app.start_intel().await.map_err(app_err)?;
    let intel = app.cli_intel_actor();
    for (kind, name, list) in [
        (
            IndicatorKind::Phone,
            "bench-phones.txt",
            (0..a.flagged).map(flagged_phone).collect::<Vec<_>>().join("\n"),
        ),
        (
            IndicatorKind::BankAccount,
            "bench-accounts.txt",
            (0..a.flagged).map(flagged_account).collect::<Vec<_>>().join("\n"),
        ),
    ] {
        let mut req = IntelImportRequest::new(name);
        req.format = Some(ImportFormat::List);
        req.kind = Some(kind);
        req.fraud_type = Some(FraudType::ImpersonateAuthority);
        req.confidence = Some(90);
        let r = app
            .import_intel(&intel, list.as_bytes(), &req, &|_| {})
            .await
            .map_err(app_err)?;
        if let Some(bad) = r.rejected.first() {
            bail!(
                "{} of the bench's indicators were refused: line {}: {}",
                r.rejected.len(),
                bad.line,
                bad.reason.render(fanzha_core::i18n::Lang::En)
            );
        }
    }
    app.sync_intel().await.map_err(app_err)?;

    // An API token for an ingest account.
    let user = app
        .cli_create_admin("bench-feed", "bench-feed-Passw0rd!")
        .await
        .map_err(app_err)?;
    let feed = Actor {
        user,
        ip: "127.0.0.1".into(),
        via: AuthVia::Token,
    };
    let (_, token) = app.create_token(&feed, "bench").await.map_err(app_err)?;

    // The server.
    let web = fanzha_web::WebConfig {
        max_body_bytes: app.config().detect.max_batch_bytes + 64 * 1024,
        ..Default::default()
    };
    let router = fanzha_web::router(app.clone(), web)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { fanzha_web::serve(listener, router).await });
    app.start_pipeline().await.map_err(app_err)?;
    let url = format!("http://{addr}/api/v1/events");

    // The throughput phase: every batch serialised before the clock starts.
    let t_end = now_ms() - 60_000;
    let span_ms = 2 * 3_600_000i64;
    let step = span_ms as f64 / a.events as f64;
    let mut g = Gen {
        rng: Rng(a.seed ^ 0xE7E7),
        residents: a.residents,
        subscribers: a.subscribers,
        flagged: a.flagged,
        hit_per_mille: a.hit_per_mille,
        sms_text_pct: a.sms_text_pct,
        run: "tp",
        n: 0,
    };
    let mut batches: Vec<Vec<u8>> = Vec::with_capacity(a.events.div_ceil(a.batch));
    let mut done = 0usize;
    while done < a.events {
        let n = a.batch.min(a.events - done);
        let mut s = String::with_capacity(n * 200);
        for k in 0..n {
            g.line(t_end - span_ms + ((done + k) as f64 * step) as i64, &mut s);
        }
        batches.push(s.into_bytes());
        done += n;
    }
    let batches = Arc::new(batches);
    let posts = batches.len();
    let next = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(a.clients.max(1))
        .build()?;
    let st0 = app.pipeline_status();
    let cpu0 = cpu_secs();
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.clients.max(1) {
        let (batches, next, client, url, token) = (
            batches.clone(),
            next.clone(),
            client.clone(),
            url.clone(),
            token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0usize;
            let mut last = 0i64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(b) = batches.get(i) else { break };
                let r = post(&client, &url, &token, b.clone()).await?;
                ensure!(
                    r.rejected.is_empty() && r.duplicates == 0,
                    "batch {i}: {} rejected, {} duplicates",
                    r.rejected.len(),
                    r.duplicates
                );
                accepted += r.accepted;
                last = last.max(r.last_seq.unwrap_or(0));
            }
            Ok::<_, anyhow::Error>((accepted, last))
        }));
    }
    let mut accepted = 0usize;
    let mut last_seq = 0i64;
    for t in tasks {
        let (n, l) = t.await??;
        accepted += n;
        last_seq = last_seq.max(l);
    }
    let ingest_secs = t0.elapsed().as_secs_f64();
    ensure!(accepted == a.events, "{accepted} of {} events accepted", a.events);
    ensure!(
        app.wait_processed(last_seq, Duration::from_secs(600)).await,
        "the pipeline did not catch up within 10 minutes"
    );
    let e2e_secs = t0.elapsed().as_secs_f64();
    let cpu = match (cpu0, cpu_secs()) {
        (Some(x), Some(y)) => y - x,
        _ => 0.0,
    };
    let st1 = app.pipeline_status();
    let leads_stored = leads_total(&app, &analyst).await?;
    ensure!(leads_stored > 0, "no lead was stored");
    let throughput = Throughput {
        events: a.events,
        batch: a.batch,
        clients: a.clients.max(1),
        posts,
        accepted,
        ingest_secs,
        ingest_events_per_sec: a.events as f64 / ingest_secs,
        end_to_end_secs: e2e_secs,
        events_per_sec: a.events as f64 / e2e_secs,
        cpu_secs: cpu,
        events_per_cpu_sec: if cpu > 0.0 { a.events as f64 / cpu } else { 0.0 },
        signals: st1.signals - st0.signals,
        leads_raised: st1.leads_raised - st0.leads_raised,
        leads_updated: st1.leads_updated - st0.leads_updated,
        leads_stored,
    };
    drop(batches);

    // The latency phase.
    let latency = if a.rate > 0 && a.latency_secs > 0 {
        Some(latency_phase(a, &app, &analyst, &client, &url, &token, leads_stored).await?)
    } else {
        None
    };

    app.stop_pipeline().await;
    app.stop_intel().await;
    server.abort();

    let mut mix = BTreeMap::new();
    for (k, v) in [
        ("call", 60.0),
        ("sms", 20.0),
        ("web", 10.0),
        ("app", 5.0),
        ("transfer", 5.0),
        ("flagged_counterparty", a.hit_per_mille as f64 / 10.0),
        ("sms_with_text", a.sms_text_pct as f64),
        (
            "resident_subscribers",
            a.residents as f64 * 100.0 / a.subscribers as f64,
        ),
    ] {
        mix.insert(k, v);
    }
    Ok(Figures {
        bench: "pipeline",
        mix,
        residents: a.residents,
        subscribers: a.subscribers,
        flagged_phones: a.flagged,
        flagged_accounts: a.flagged,
        events_per_sec: throughput.events_per_sec,
        p99_event_to_lead_ms: latency.as_ref().map(|l| l.p99_ms),
        throughput,
        latency,
        target_events_per_sec: 100_000.0,
        target_p99_ms: 100.0,
        peak_rss_bytes: peak_rss().unwrap_or(0),
        load_avg: load_avg().unwrap_or(0.0),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
    })
}

async fn latency_phase(
    a: &PipelineArgs,
    app: &Arc<App>,
    analyst: &Actor,
    client: &reqwest::Client,
    url: &str,
    token: &str,
    leads_before: i64,
) -> Result<Latency> {
    let per_sec = a.latency_batches_per_sec.clamp(1, 1000);
    let per_batch = (a.rate / per_sec).max(1);
    let n_batches = per_sec * a.latency_secs as usize;
    let mut g = Gen {
        rng: Rng(a.seed ^ 0x1A7E),
        residents: a.residents,
        subscribers: a.subscribers,
        flagged: a.flagged,
        hit_per_mille: a.hit_per_mille,
        sms_text_pct: a.sms_text_pct,
        run: "lat",
        n: 0,
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1) / per_sec as u32);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(n_batches);
    let started = Instant::now();
    for k in 0..n_batches {
        tick.tick().await;
        // Times now (minus a little), so that the lead is the newest.
        let ts = now_ms() - 1_000;
        let mut s = String::with_capacity(per_batch * 200);
        trigger_line(k, ts, a.flagged, &mut s);
        for _ in 1..per_batch {
            g.line(ts, &mut s);
        }
        let (client, url, token, app) = (client.clone(), url.to_string(), token.to_string(), app.clone());
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = post(&client, &url, &token, s.into_bytes()).await?;
            ensure!(r.rejected.is_empty(), "latency batch {k}: lines rejected");
            let Some(seq) = r.last_seq else {
                bail!("latency batch {k}: nothing accepted")
            };
            ensure!(
                app.wait_processed(seq, Duration::from_secs(60)).await,
                "latency batch {k}: not processed within a minute"
            );
            Ok::<_, anyhow::Error>(t.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    let sent_secs = started.elapsed().as_secs_f64();
    let mut ms = Vec::with_capacity(n_batches);
    for t in tasks {
        ms.push(t.await??);
    }
    ms.sort_by(f64::total_cmp);
    let leads_new = leads_total(app, analyst).await? - leads_before;
    Ok(Latency {
        rate_events_per_sec: per_batch * per_sec,
        secs: a.latency_secs,
        batches: n_batches,
        events: n_batches * per_batch,
        sent_events_per_sec: (n_batches * per_batch) as f64 / sent_secs.max(1e-9),
        p50_ms: pct(&ms, 0.5),
        p90_ms: pct(&ms, 0.9),
        p99_ms: pct(&ms, 0.99),
        max_ms: ms.last().copied().unwrap_or(0.0),
        leads_expected: n_batches,
        leads_new,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_accounts_pass_the_luhn_check() {
        for i in [0, 1, 7, 1999, 123_456] {
            let a = flagged_account(i);
            assert_eq!(a.len(), 19);
            assert!(fanzha_core::account::luhn_valid(a.as_bytes()), "{a}");
        }
    }
}
