//! `fanzha bench …`: benchmarks of whole paths through the app, each printing
//! one JSON object (DESIGN.md §9). Kernels are measured with criterion in
//! their own crates; these measure what an operator waits for.

use anyhow::{Context, Result, bail, ensure};
use clap::{Args, Subcommand};
use fanzha_app::crypto::MasterKey;
use fanzha_app::residents::ResidentQuery;
use fanzha_app::table::{TableFormat, read_table, write_xlsx};
use fanzha_app::{App, AppConfig, StoreConfig, SystemClock};
use fanzha_core::NodeId;
use fanzha_core::i18n::Lang;
use fanzha_core::idcard::compose;
use fanzha_core::org::NodeKind;
use fanzha_core::time::Date;
use serde::Serialize;
use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Import a generated XLSX of synthetic residents (with a share of bad
    /// rows of several kinds) into a fresh SQLite store, check that every bad
    /// row was reported and every good row stored, and print the figures.
    Import(ImportArgs),
    /// The compiled intel index at scale: build time, bytes per indicator,
    /// per-kind lookup latency, domain-suffix ratio (see `bench_intel.rs`).
    Intel(crate::bench_intel::IntelArgs),
    /// Leads turned into dissuasion tasks (owners resolved, deadlines set,
    /// in-app notices and warning SMS queued) per second on SQLite.
    Dispatch(DispatchArgs),
    /// Detection in-process: 1 million indicators, a mixed event stream,
    /// events/s per core, latency, memory per tracked person (see `bench_engine.rs`).
    Engine(crate::bench_engine::EngineArgs),
    /// End to end: the real app on SQLite and HTTP, NDJSON batches posted
    /// to /api/v1/events until the leads are stored, then event-to-lead
    /// latency at a steady rate (see `bench_pipeline.rs`).
    Pipeline(crate::bench_pipeline::PipelineArgs),
}

#[derive(Args)]
pub struct DispatchArgs {
    /// Leads to dispatch.
    #[arg(long, default_value_t = 20_000)]
    leads: usize,
    /// Residents in the registry (half the leads are about them).
    #[arg(long, default_value_t = 10_000)]
    residents: usize,
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Task board pages (`GET /tasks/board`, full HTML over HTTP) to time.
    #[arg(long, default_value_t = 200)]
    board_renders: usize,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ImportArgs {
    /// Data rows in the file.
    #[arg(long, default_value_t = 20_000)]
    rows: usize,
    /// Percentage of bad rows (bad check digit, unknown grid, bad phone,
    /// empty name, duplicate ID in the file, in turn).
    #[arg(long, default_value_t = 1.0)]
    bad_pct: f64,
    /// Imports to run, each into a fresh store; the median is reported.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
}

pub async fn run(cmd: BenchCmd) -> Result<()> {
    match cmd {
        BenchCmd::Import(args) => import(args).await,
        BenchCmd::Intel(args) => crate::bench_intel::run(args),
        BenchCmd::Dispatch(args) => dispatch(args).await,
        BenchCmd::Engine(args) => crate::bench_engine::run(args),
        BenchCmd::Pipeline(args) => crate::bench_pipeline::run(args).await,
    }
}

/// A small deterministic generator (SplitMix64), enough for synthetic rows.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub(crate) fn pick<'a>(&mut self, s: &[&'a str]) -> &'a str {
        s[self.below(s.len())]
    }
    pub(crate) fn chance(&mut self, pct: usize) -> bool {
        self.below(100) < pct
    }
}

const TOWNSHIPS: usize = 4;
const VILLAGES: usize = 5;
const GRIDS: usize = 4;
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "朱", "胡", "沈", "俞",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娟", "敏", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超", "秀", "英", "华",
    "平",
];
const REGIONS: &[&str] = &["330523", "330522", "330521", "330502", "330503", "330102"];
const TAGS: &[&str] = &["独居老人", "留守儿童", "在校学生", "企业职工", "外来务工"];
const MOBILE: &[&str] = &["13", "15", "17", "18", "19"];

/// The kinds of bad row, used in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bad {
    CheckDigit,
    UnknownGrid,
    Phone,
    EmptyName,
    DuplicateInFile,
}

/// A mobile prefix with too few digits (`12345` would be the government hotline).
const BAD_PHONE: &str = "1391234";

const BAD_KINDS: [Bad; 5] = [
    Bad::CheckDigit,
    Bad::UnknownGrid,
    Bad::Phone,
    Bad::EmptyName,
    Bad::DuplicateInFile,
];

pub(crate) struct Person {
    pub(crate) name: String,
    pub(crate) id: String,
}

fn mobile(rng: &mut Rng) -> String {
    format!(
        "{}{}{:08}",
        rng.pick(MOBILE),
        rng.below(10),
        rng.below(100_000_000)
    )
}

/// Distinct synthetic people with valid ID numbers.
pub(crate) fn people(rng: &mut Rng, n: usize) -> Vec<Person> {
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let birth = Date::new(
            1930 + rng.below(90) as i32,
            1 + rng.below(12) as u8,
            1 + rng.below(28) as u8,
        );
        let Some(id) = birth.and_then(|b| compose(rng.pick(REGIONS), b, rng.below(1000) as u16)) else {
            continue;
        };
        if !seen.insert(id.as_str().to_string()) {
            continue;
        }
        let given_len = 1 + rng.below(2);
        let name = std::iter::once(rng.pick(SURNAMES))
            .chain((0..given_len).map(|_| rng.pick(GIVEN)))
            .collect();
        out.push(Person {
            name,
            id: id.as_str().to_string(),
        });
    }
    out
}

/// The generated workbook and what a correct import must report.
struct Workload {
    xlsx: Vec<u8>,
    rows: usize,
    /// Spreadsheet row numbers (header is row 1) of the bad rows.
    bad_rows: BTreeSet<usize>,
}

const HEADERS: [&str; 7] = ["姓名", "身份证号", "手机号", "住址", "网格", "标签", "联系人"];

/// Rows of synthetic residents over the grids (`(id, "township/village/grid")`).
fn workload(seed: u64, rows: usize, bad_pct: f64, grids: &[(NodeId, String)]) -> Result<Workload> {
    ensure!(!grids.is_empty(), "no grids");
    let mut rng = Rng(seed);
    let folks = people(&mut rng, rows);
    let bad_n = ((rows as f64) * bad_pct / 100.0).round().clamp(0.0, rows as f64) as usize;
    // Bad rows spread evenly, one per stride, never the first row (a
    // duplicate needs an earlier row to copy).
    let stride = rows.checked_div(bad_n).unwrap_or(rows + 1);
    let mut bad_at = std::collections::HashMap::new();
    for k in 0..bad_n {
        let pos = (k * stride + 1 + rng.below(stride.saturating_sub(1).max(1))).min(rows - 1);
        if pos >= 1 && !bad_at.contains_key(&pos) {
            bad_at.insert(pos, BAD_KINDS[k % BAD_KINDS.len()]);
        }
    }
    let good: Vec<usize> = (0..rows).filter(|i| !bad_at.contains_key(i)).collect();
    let mut out = Vec::with_capacity(rows);
    let mut bad_rows = BTreeSet::new();
    let mut last_good = 0usize;
    for (i, p) in folks.iter().enumerate() {
        let (gid, gpath) = &grids[rng.below(grids.len())];
        let grid = if rng.chance(70) {
            gid.to_string()
        } else {
            gpath.clone()
        };
        let mut phones = mobile(&mut rng);
        if rng.chance(20) {
            phones = format!("{phones};{}", mobile(&mut rng));
        }
        let address = format!("{}{}号", gpath.replace('/', ""), 1 + rng.below(300));
        let tags = if rng.chance(30) {
            rng.pick(TAGS).to_string()
        } else {
            String::new()
        };
        let mut contacts = Vec::new();
        if rng.chance(40) {
            contacts.push(format!(
                "子女:{}{}:{}",
                rng.pick(SURNAMES),
                rng.pick(GIVEN),
                mobile(&mut rng)
            ));
        }
        if rng.chance(10) {
            // A relative registered elsewhere in the same file, by ID number.
            let j = good[rng.below(good.len())];
            if j != i {
                contacts.push(format!("配偶:{}:{}", folks[j].name, folks[j].id));
            }
        }
        let mut row = vec![
            p.name.clone(),
            p.id.clone(),
            phones,
            address,
            grid,
            tags,
            contacts.join(";"),
        ];
        match bad_at.get(&i) {
            None => last_good = i,
            Some(kind) => {
                bad_rows.insert(i + 2);
                match kind {
                    Bad::CheckDigit => {
                        let last = row[1].pop().unwrap_or('0');
                        row[1].push(if last == '0' { '1' } else { '0' });
                    }
                    Bad::UnknownGrid => row[4] = "999999999".into(),
                    Bad::Phone => row[2] = BAD_PHONE.into(),
                    Bad::EmptyName => row[0].clear(),
                    Bad::DuplicateInFile => row[1] = folks[last_good].id.clone(),
                }
            }
        }
        out.push(row);
    }
    let xlsx = write_xlsx("residents", &HEADERS, &out).context("writing the workbook")?;
    Ok(Workload { xlsx, rows, bad_rows })
}

/// The peak resident set size of this process (VmHWM), in bytes.
pub(crate) fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU time used so far by the whole process (all threads, user and
/// system), from /proc/self/stat in clock ticks of 1/100 s (USER_HZ).
pub(crate) fn cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = s.get(s.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// The one-minute load average, to tell a busy machine's figures apart.
pub(crate) fn load_avg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A fresh store in a temporary directory with a small org tree.
async fn fresh_app(dir: &PathBuf) -> Result<(Arc<App>, Vec<(NodeId, String)>)> {
    fresh_app_with(dir, |_| {}).await
}

/// [`fresh_app`] with the configuration adjusted by `tweak`.
pub(crate) async fn fresh_app_with(
    dir: &PathBuf,
    tweak: impl FnOnce(&mut AppConfig),
) -> Result<(Arc<App>, Vec<(NodeId, String)>)> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let store = fanzha_app::open_store(&StoreConfig::Sqlite {
        path: dir.join("fanzha.db"),
    })
    .await?;
    let mut cfg = AppConfig::new(MasterKey::generate()?);
    cfg.max_upload_bytes = 1 << 30;
    tweak(&mut cfg);
    let app = App::new(store, cfg, Arc::new(SystemClock)).map_err(app_err)?;
    app.migrate().await.map_err(app_err)?;
    let cli = app.cli_actor();
    let county = app
        .create_node(&cli, None, NodeKind::County, "基准县", Some("330523"))
        .await
        .map_err(app_err)?;
    let mut grids = Vec::new();
    for t in 1..=TOWNSHIPS {
        let tn = format!("基准{t}镇");
        let tid = app
            .create_node(&cli, Some(county), NodeKind::Township, &tn, None)
            .await
            .map_err(app_err)?;
        for v in 1..=VILLAGES {
            let vn = format!("{tn}{v}村");
            let vid = app
                .create_node(&cli, Some(tid), NodeKind::Village, &vn, None)
                .await
                .map_err(app_err)?;
            for g in 1..=GRIDS {
                let gn = format!("第{g}网格");
                let gid = app
                    .create_node(&cli, Some(vid), NodeKind::Grid, &gn, None)
                    .await
                    .map_err(app_err)?;
                grids.push((gid, format!("{tn}/{vn}/{gn}")));
            }
        }
    }
    Ok((app, grids))
}

pub(crate) fn app_err(e: fanzha_app::AppError) -> anyhow::Error {
    anyhow::anyhow!("{}", e.msg().render(Lang::En))
}

#[derive(Serialize)]
struct ImportFigures {
    bench: &'static str,
    rows: usize,
    bad_rows_expected: usize,
    rejected_reported: usize,
    inserted: usize,
    updated: usize,
    /// Median wall-clock seconds of `App::import_residents` over the runs.
    secs: f64,
    rows_per_sec: f64,
    /// Median CPU seconds of the process (all threads) during the import,
    /// which a busy machine does not inflate as it does wall-clock time.
    cpu_secs: f64,
    rows_per_cpu_sec: f64,
    /// The one-minute load average when the runs ended.
    load_avg: f64,
    peak_rss_bytes: u64,
    xlsx_bytes: usize,
    /// Seconds of reading the workbook alone (part of `secs`).
    parse_secs: f64,
    runs: Vec<f64>,
}

async fn import(a: ImportArgs) -> Result<()> {
    ensure!(a.rows >= 2, "--rows must be at least 2");
    ensure!(
        (0.0..=50.0).contains(&a.bad_pct),
        "--bad-pct must be between 0 and 50"
    );
    let runs = a.runs.max(1);
    let base = std::env::temp_dir().join(format!("fanzha-bench-import-{}", std::process::id()));
    let mut secs = Vec::with_capacity(runs);
    let mut cpu = Vec::with_capacity(runs);
    let mut last = None;
    let mut work = None;
    let mut parse_secs = 0.0;
    for run in 0..runs {
        let dir = base.join(format!("run{run}"));
        let (app, grids) = fresh_app(&dir).await?;
        if work.is_none() {
            let w = workload(a.seed, a.rows, a.bad_pct, &grids)?;
            let t = Instant::now();
            let table = read_table(TableFormat::Xlsx, &w.xlsx).map_err(|e| anyhow::anyhow!("{e}"))?;
            parse_secs = t.elapsed().as_secs_f64();
            ensure!(
                table.rows.len() == w.rows,
                "the workbook reads back {} rows, not {}",
                table.rows.len(),
                w.rows
            );
            work = Some(w);
        }
        let Some(w) = work.as_ref() else {
            bail!("no workload")
        };
        let cli = app.cli_actor();
        let (t, c) = (Instant::now(), cpu_secs());
        let report = app
            .import_residents(&cli, Some("bench.xlsx"), &w.xlsx, None)
            .await
            .map_err(app_err)?;
        secs.push(t.elapsed().as_secs_f64());
        if let (Some(before), Some(after)) = (c, cpu_secs()) {
            cpu.push(after - before);
        }
        // Every bad row reported, every good row stored.
        let reported: BTreeSet<usize> = report.rejected.iter().map(|e| e.row).collect();
        let good = w.rows - w.bad_rows.len();
        if reported != w.bad_rows || report.rejected.len() != w.bad_rows.len() {
            let missing: Vec<_> = w.bad_rows.difference(&reported).take(5).collect();
            let extra: Vec<_> = report
                .rejected
                .iter()
                .filter(|e| !w.bad_rows.contains(&e.row))
                .take(5)
                .collect();
            bail!("rejections differ from the planted bad rows: missing {missing:?}, unexpected {extra:?}");
        }
        ensure!(
            report.rows == w.rows,
            "the report counts {} rows, not {}",
            report.rows,
            w.rows
        );
        ensure!(
            report.inserted == good && report.updated == 0,
            "inserted {} updated {}, expected {good} new",
            report.inserted,
            report.updated
        );
        let q = ResidentQuery {
            per_page: Some(1),
            ..Default::default()
        };
        let stored = app.residents(&cli, &q).await.map_err(app_err)?.total;
        ensure!(
            stored == good as i64,
            "{stored} residents stored, expected {good}"
        );
        let _ = std::fs::remove_dir_all(&dir);
        last = Some(report);
    }
    let _ = std::fs::remove_dir_all(&base);
    let (Some(report), Some(w)) = (last, work) else {
        bail!("no run")
    };
    let median_of = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s.get(s.len() / 2).copied().unwrap_or(0.0)
    };
    let median = median_of(&secs);
    let cpu_median = median_of(&cpu);
    let figures = ImportFigures {
        bench: "import",
        rows: w.rows,
        bad_rows_expected: w.bad_rows.len(),
        rejected_reported: report.rejected.len(),
        inserted: report.inserted,
        updated: report.updated,
        secs: median,
        rows_per_sec: w.rows as f64 / median,
        cpu_secs: cpu_median,
        rows_per_cpu_sec: if cpu_median > 0.0 {
            w.rows as f64 / cpu_median
        } else {
            0.0
        },
        load_avg: load_avg().unwrap_or(0.0),
        peak_rss_bytes: peak_rss().unwrap_or(0),
        xlsx_bytes: w.xlsx.len(),
        parse_secs,
        runs: secs,
    };
    if a.json {
        println!("{}", serde_json::to_string(&figures)?);
    } else {
        println!(
            "import: {} rows ({} bad, all reported) in {:.3} s = {:.0} rows/s ({:.3} CPU s, load {:.1}); workbook {} KiB read in {:.3} s; peak RSS {} MiB",
            figures.rows,
            figures.bad_rows_expected,
            figures.secs,
            figures.rows_per_sec,
            figures.cpu_secs,
            figures.load_avg,
            figures.xlsx_bytes / 1024,
            figures.parse_secs,
            figures.peak_rss_bytes / (1024 * 1024)
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct DispatchFigures {
    bench: &'static str,
    leads: usize,
    tasks_created: usize,
    /// Of them, for residents of a known grid (local owners).
    local: i64,
    /// Outside the registry: the transfer queue.
    transfer_queue: i64,
    secs: f64,
    leads_per_sec: f64,
    cpu_secs: f64,
    leads_per_cpu_sec: f64,
    load_avg: f64,
    peak_rss_bytes: u64,
    /// The board's query (first page of 100, most urgent first) over all
    /// the open tasks, as the analyst: median and p99 over the runs, in ms.
    board_query_p50_ms: f64,
    board_query_p99_ms: f64,
    /// Open tasks when the board was rendered.
    open_tasks: i64,
    /// `GET /tasks/board` through the real web router on 127.0.0.1, signed
    /// in as the center's analyst (session cookie from POST
    /// /api/v1/auth/login): the whole HTML page, request sent to last byte
    /// read; every other request filters by grade. Median, p99 and max over
    /// `board_renders` requests, in ms, and the page size.
    board_renders: usize,
    board_render_p50_ms: f64,
    board_render_p99_ms: f64,
    board_render_max_ms: f64,
    board_page_bytes: usize,
}

/// The board page over HTTP: (sorted latencies in ms, bytes of the last page).
async fn time_board_page(
    app: &Arc<App>,
    username: &str,
    password: &str,
    renders: usize,
) -> Result<(Vec<f64>, usize)> {
    let router = fanzha_web::router(app.clone(), fanzha_web::WebConfig::default())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { fanzha_web::serve(listener, router).await });
    let base = format!("http://{addr}");
    let client = reqwest::Client::builder().build()?;
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(
            &serde_json::json!({"username": username, "password": password}),
        )?)
        .send()
        .await
        .context("signing in")?;
    ensure!(login.status().is_success(), "sign-in answered {}", login.status());
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{}=", fanzha_web::SESSION_COOKIE)))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .context("no session cookie after sign-in")?;
    let get = |path: String| {
        let client = client.clone();
        let cookie = cookie.clone();
        async move {
            let r = client
                .get(path)
                .header("cookie", cookie)
                .send()
                .await
                .context("GET /tasks/board")?;
            let status = r.status();
            let body = r.bytes().await.context("reading the board")?;
            ensure!(status.is_success(), "the board answered {status}");
            anyhow::Ok(body)
        }
    };
    // One page to warm the templates and the connection, and to check it
    // is the board with tasks on it.
    let first = get(format!("{base}/tasks/board")).await?;
    let text = String::from_utf8_lossy(&first);
    ensure!(text.contains("data-id=\""), "the board shows no task rows");
    let mut times = Vec::with_capacity(renders);
    let mut bytes = first.len();
    for i in 0..renders {
        let url = if i % 2 == 1 {
            format!("{base}/tasks/board?grade=high")
        } else {
            format!("{base}/tasks/board")
        };
        let t = Instant::now();
        let body = get(url).await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if i % 2 == 0 {
            bytes = body.len();
        }
    }
    server.abort();
    times.sort_by(f64::total_cmp);
    Ok((times, bytes))
}

/// Tasks routed to the transfer queue (no grid: they sit at the county root).
async fn count_root(app: &App, analyst: &fanzha_app::Actor) -> Result<i64> {
    let m = app
        .task_metrics(analyst, &Default::default())
        .await
        .map_err(app_err)?;
    Ok(m.by_node
        .iter()
        .filter(|g| g.label == "基准县")
        .map(|g| g.figures.tasks as i64)
        .sum())
}

async fn dispatch(a: DispatchArgs) -> Result<()> {
    ensure!(
        a.leads >= 1 && a.residents >= 1,
        "--leads and --residents must be at least 1"
    );
    let dir = std::env::temp_dir().join(format!("fanzha-bench-dispatch-{}", std::process::id()));
    let (app, grids) = fresh_app(&dir).await?;
    let cli = app.cli_actor();
    // Staff: a grid worker per grid, officers per township, the center.
    let nodes = app.org_nodes(&cli).await.map_err(app_err)?;
    let password = "bench-Password-2026";
    for n in &nodes {
        let role = match n.kind {
            NodeKind::Grid => fanzha_core::roles::Role::GridWorker,
            NodeKind::Township => fanzha_core::roles::Role::Officer,
            NodeKind::County => fanzha_core::roles::Role::Analyst,
            _ => continue,
        };
        let form = fanzha_app::users::UserForm {
            username: format!("u{}", n.id.0),
            display_name: String::new(),
            role,
            node_id: Some(n.id),
            password: Some(password.into()),
            disabled: false,
        };
        app.create_user(&cli, &form).await.map_err(app_err)?;
    }
    let analyst_name = nodes
        .iter()
        .find(|n| n.kind == NodeKind::County)
        .map(|n| format!("u{}", n.id.0))
        .context("no county")?;
    let ok = app
        .login(&analyst_name, password, "127.0.0.1", "bench")
        .await
        .map_err(app_err)?;
    let analyst = app.session_actor(&ok.token, "127.0.0.1").await.map_err(app_err)?;
    // Residents with phones, then the pushed leads: half about them.
    let w = workload(a.seed, a.residents, 0.0, &grids)?;
    app.import_residents(&cli, Some("bench.xlsx"), &w.xlsx, None)
        .await
        .map_err(app_err)?;
    let table = read_table(TableFormat::Xlsx, &w.xlsx).map_err(|e| anyhow::anyhow!("{e}"))?;
    let phones: Vec<String> = table
        .rows
        .iter()
        .filter_map(|r| {
            r.cells
                .get(2)
                .map(|c| c.text().split(';').next().unwrap_or("").to_string())
        })
        .filter(|p| !p.is_empty())
        .collect();
    ensure!(!phones.is_empty(), "no resident phones");
    let mut rng = Rng(a.seed ^ 0x5eed);
    let grades = [
        "critical", "high", "high", "medium", "medium", "medium", "low", "low", "low", "low",
    ];
    let mut used = HashSet::new();
    let mut leads = Vec::with_capacity(a.leads);
    for i in 0..a.leads {
        let phone = if i % 2 == 0 && used.len() < phones.len() {
            let p = phones[(i / 2) % phones.len()].clone();
            used.insert(p.clone());
            p
        } else {
            format!("170{:08}", i)
        };
        leads.push(serde_json::json!({
            "id": format!("B-{i}"), "phone": phone, "grade": grades[rng.below(grades.len())],
            "fraud_type": rng.pick(&["刷单返利", "虚假网络投资理财", "冒充公检法及政府机关", "其他"]),
        }));
    }
    let body = serde_json::to_vec(&leads)?;
    let rep = app
        .import_leads(&analyst, Some("push.json"), &body)
        .await
        .map_err(app_err)?;
    ensure!(
        rep.rejected.is_empty(),
        "{} pushed leads rejected",
        rep.rejected.len()
    );
    let pushed = rep.inserted;
    let (t, c) = (Instant::now(), cpu_secs());
    let (created, _) = app.dispatch_pending().await.map_err(app_err)?;
    let secs = t.elapsed().as_secs_f64();
    let cpu = match (c, cpu_secs()) {
        (Some(b), Some(e)) => e - b,
        _ => 0.0,
    };
    ensure!(created == pushed, "{created} tasks for {pushed} leads");
    let count = |q: fanzha_app::tasks::work::TaskQuery| {
        let app = app.clone();
        let analyst = analyst.clone();
        async move { app.list_tasks(&analyst, &q).await.map(|p| p.total) }
    };
    let all = count(Default::default()).await.map_err(app_err)?;
    ensure!(all == created as i64, "{all} tasks listed, {created} created");
    let transfer_queue = count_root(&app, &analyst).await?;
    let local = all - transfer_queue;
    let mut board = Vec::with_capacity(200);
    for i in 0..200 {
        let q = fanzha_app::tasks::work::TaskQuery {
            per_page: Some(100),
            grade: (i % 2 == 1).then_some(fanzha_core::Grade::High),
            ..Default::default()
        };
        let t = Instant::now();
        app.list_tasks(&analyst, &q).await.map_err(app_err)?;
        board.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    board.sort_by(f64::total_cmp);
    let open_tasks = count(fanzha_app::tasks::work::TaskQuery {
        open: Some(true),
        ..Default::default()
    })
    .await
    .map_err(app_err)?;
    let (renders, board_page_bytes) =
        time_board_page(&app, &analyst_name, password, a.board_renders.max(1)).await?;
    let pct = |v: &[f64], p: usize| v[(v.len() * p / 100).min(v.len() - 1)];
    let _ = std::fs::remove_dir_all(&dir);
    let figures = DispatchFigures {
        board_query_p50_ms: board[board.len() / 2],
        board_query_p99_ms: board[board.len() * 99 / 100],
        open_tasks,
        board_renders: renders.len(),
        board_render_p50_ms: pct(&renders, 50),
        board_render_p99_ms: pct(&renders, 99),
        board_render_max_ms: renders[renders.len() - 1],
        board_page_bytes,
        bench: "dispatch",
        leads: pushed,
        tasks_created: created,
        local,
        transfer_queue,
        secs,
        leads_per_sec: created as f64 / secs.max(1e-9),
        cpu_secs: cpu,
        leads_per_cpu_sec: if cpu > 0.0 { created as f64 / cpu } else { 0.0 },
        load_avg: load_avg().unwrap_or(0.0),
        peak_rss_bytes: peak_rss().unwrap_or(0),
    };
    if a.json {
        println!("{}", serde_json::to_string(&figures)?);
    } else {
        println!(
            "dispatch: {} leads into tasks in {:.3} s = {:.0} leads/s ({:.3} CPU s, load {:.1})",
            figures.tasks_created, figures.secs, figures.leads_per_sec, figures.cpu_secs, figures.load_avg
        );
        println!(
            "board page over HTTP with {} open tasks: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} renders, {} bytes)",
            figures.open_tasks,
            figures.board_render_p50_ms,
            figures.board_render_p99_ms,
            figures.board_render_max_ms,
            figures.board_renders,
            figures.board_page_bytes
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_plants_the_bad_rows() {
        let grids: Vec<(NodeId, String)> = (1..=8).map(|i| (NodeId(i), format!("镇/村/第{i}网格"))).collect();
        let w = workload(7, 1000, 2.0, &grids).unwrap();
        assert_eq!(w.bad_rows.len(), 20);
        let t = read_table(TableFormat::Xlsx, &w.xlsx).unwrap();
        assert_eq!(t.rows.len(), 1000);
        assert_eq!(t.headers, HEADERS);
        // Each kind shows up: empty names and the unknown grid are visible directly.
        let empty_names = t.rows.iter().filter(|r| r.cells[0].is_empty()).count();
        let unknown = t.rows.iter().filter(|r| r.cells[4].text() == "999999999").count();
        assert_eq!((empty_names, unknown), (4, 4));
        assert!(w.bad_rows.iter().all(|r| *r >= 3 && *r <= 1001));
        assert!(fanzha_core::phone::normalize(BAD_PHONE).is_err());
    }
}
