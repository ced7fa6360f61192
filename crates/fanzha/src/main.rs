//! `fanzha`: the anti-fraud platform's one binary.

mod bench;
mod bench_engine;
mod bench_intel;
mod bench_pipeline;
mod config;
mod detect_cli;
mod hugepages;
mod intel_cli;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use config::Config;
use fanzha_app::{App, AppConfig, SystemClock};
use fanzha_core::i18n::Lang;
use fanzha_core::roles::Role;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;

/// mimalloc rather than the system allocator: ingest and detection allocate
/// and free many small values on several threads, where glibc's malloc spent
/// a fifth of `bench pipeline`'s CPU (mostly consolidating free chunks). Large
/// blocks are advised for huge pages (see `hugepages.rs`).
#[global_allocator]
static ALLOC: hugepages::HugePageAlloc<mimalloc::MiMalloc> = hugepages::HugePageAlloc(mimalloc::MiMalloc);

/// Fanzha (反诈): anti-telecom-fraud platform for a county anti-fraud center.
///
/// Runs embedded by default: one process with an SQLite database in the data
/// directory. Settings come from `<data-dir>/fanzha.toml` (or --config), then
/// FANZHA_* environment variables, then these flags.
#[derive(Parser)]
#[command(name = "fanzha", version, about, long_about)]
struct Cli {
    /// Directory for the database, the generated key and the config file.
    #[arg(long, global = true, default_value = "./fanzha-data", env = "FANZHA_DATA_DIR")]
    data_dir: PathBuf,
    /// Config file (TOML). Defaults to <data-dir>/fanzha.toml when present.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Database: `sqlite` (default) or a postgres:// URL. Overrides the config.
    #[arg(long, global = true)]
    database: Option<String>,
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web interface and the API.
    Serve(ServeArgs),
    /// Load the labelled demo (one real county, synthetic people) and exit.
    Demo(DemoArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage login accounts.
    #[command(subcommand)]
    User(UserCmd),
    /// Audit log tools.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Benchmarks of whole paths; each prints its figures (JSON with --json).
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Store events from an NDJSON or CSV file for detection (progress on stderr).
    Ingest(detect_cli::IngestArgs),
    /// Replay stored events under candidate rules against the live rules.
    Backtest(detect_cli::BacktestArgs),
    /// Train the text model on labelled texts (CSV `content,label`).
    Train(detect_cli::TrainArgs),
    /// Evaluate a text model on labelled texts.
    Eval(detect_cli::EvalArgs),
    /// Import files into the intelligence base.
    #[command(subcommand)]
    Import(intel_cli::ImportCmd),
    /// Export block lists and spreadsheets of indicators (处置导出).
    Export(intel_cli::ExportArgs),
    /// Check values against the intelligence base (风险查询).
    Lookup(intel_cli::LookupArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long)]
    listen: Option<String>,
    /// Load the labelled demo first (if the database is empty) and show the demo banner.
    #[arg(long)]
    demo: bool,
}

#[derive(Args, Clone)]
struct DemoArgs {
    /// How many synthetic residents to generate.
    #[arg(long, default_value_t = 20_000)]
    residents: usize,
    /// Seed of the generator (the same seed gives the same demo).
    #[arg(long, default_value_t = 2026)]
    seed: u64,
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create an account. The password is read from the terminal, or from
    /// standard input with --password-stdin.
    Add {
        username: String,
        /// Create an administrator (needed for the first account).
        #[arg(long)]
        admin: bool,
        /// Role of a non-admin account: analyst, officer, grid_worker, unit_liaison, leader.
        #[arg(long)]
        role: Option<String>,
        /// Org node id the account is bound to (required for every role but admin).
        #[arg(long)]
        node: Option<i64>,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set an account's password (also lifts a lockout).
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check the hash chain of the audit log; exits 1 when it is broken.
    Verify {
        #[arg(long)]
        json: bool,
    },
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

async fn open_app(cfg: &Config) -> Result<Arc<App>> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    let store_cfg = cfg.store()?;
    let store = fanzha_app::open_store(&store_cfg)
        .await
        .context("opening the database")?;
    let mut app_cfg = AppConfig::new(cfg.master_key()?);
    app_cfg.lockout_failures = cfg.lockout_failures;
    app_cfg.lockout_minutes = cfg.lockout_minutes;
    app_cfg.session_hours = cfg.session_hours;
    app_cfg.max_upload_bytes = cfg.max_upload_mb * 1024 * 1024;
    app_cfg.intel.snapshot_dir = Some(cfg.data_dir.clone());
    cfg.apply_detect(&mut app_cfg.detect);
    app_cfg.notify = cfg.notify.clone();
    app_cfg.tasks = cfg.tasks.clone();
    let app = App::new(store, app_cfg, Arc::new(SystemClock)).context("starting the application")?;
    let n = app.migrate().await.context("migrating the database")?;
    if n > 0 {
        tracing::info!(migrations = n, backend = app.backend(), "database migrated");
    }
    app.check_master_key()
        .await
        .map_err(|e| anyhow::anyhow!(e.msg().render(Lang::En)))?;
    Ok(app)
}

fn read_password(from_stdin: bool, confirm: bool) -> Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_string());
    }
    let p = rpassword::prompt_password("密码 / Password: ").context("reading the password")?;
    if confirm {
        let again = rpassword::prompt_password("再次输入 / Again: ").context("reading the password")?;
        if again != p {
            bail!("the passwords do not match");
        }
    }
    Ok(p)
}

fn app_err(e: fanzha_app::AppError) -> anyhow::Error {
    anyhow::anyhow!("{}", e.msg().render(Lang::En))
}

fn print_demo(summary: &fanzha_app::demo::DemoSummary) {
    if summary.already_loaded {
        println!(
            "演示数据已加载 / demo already loaded ({} residents)",
            summary.residents
        );
    } else {
        println!(
            "演示数据已加载 / demo loaded: {} townships, {} villages, {} grids, {} units, {} residents (all synthetic)",
            summary.townships, summary.villages, summary.grids, summary.units, summary.residents
        );
    }
    println!(
        "演示账号 / demo logins (password: {}):",
        fanzha_app::demo::DEMO_PASSWORD
    );
    for l in &summary.logins {
        println!("  {:<8} {:<12} {}", l.username, l.role.code(), l.scope);
    }
}

fn print_demo_activity(a: &fanzha_app::demo::DemoActivity) {
    println!(
        "演示线索 / demo activity: {} demo fraud numbers (source feed:demo), {} demo events about {} residents (source demo)",
        a.indicators, a.events, a.people
    );
}

async fn run(cli: Cli) -> Result<()> {
    let mut cfg = Config::load(&cli.data_dir, cli.config.as_deref())?;
    if let Some(db) = &cli.database {
        cfg.database = db.clone();
    }
    init_logging(&cfg.log);
    match cli.cmd {
        Command::Serve(args) => {
            let app = open_app(&cfg).await?;
            if args.demo {
                let s = app
                    .load_demo(
                        DemoArgs {
                            residents: 20_000,
                            seed: 2026,
                        }
                        .seed,
                        20_000,
                    )
                    .await
                    .map_err(app_err)?;
                print_demo(&s);
                print_demo_activity(&app.load_demo_activity().await.map_err(app_err)?);
            }
            let demo = app.is_demo().await.map_err(app_err)?;
            let web_cfg = fanzha_web::WebConfig {
                cookie_secure: cfg.cookie_secure,
                trust_proxy: cfg.trust_proxy,
                demo,
                max_body_bytes: cfg.max_upload_mb * 1024 * 1024 + 64 * 1024,
            };
            let listen = args.listen.unwrap_or(cfg.listen.clone());
            let router = fanzha_web::router(app.clone(), web_cfg)?;
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("binding {listen}"))?;
            let addr = listener.local_addr()?;
            if app.needs_setup().await.map_err(app_err)? {
                println!(
                    "尚无管理员 / no administrator yet: open http://{addr}/setup or run `fanzha user add NAME --admin`"
                );
            }
            app.start_intel().await.map_err(app_err)?;
            app.start_pipeline().await.map_err(app_err)?;
            app.start_tasks();
            println!("Fanzha 已启动 / listening on http://{addr}/");
            tracing::info!(%addr, backend = app.backend(), demo, "serving");
            fanzha_web::serve(listener, router).await?;
            app.stop_tasks().await;
            app.stop_pipeline().await;
            app.stop_intel().await;
        }
        Command::Demo(args) => {
            let app = open_app(&cfg).await?;
            let s = app.load_demo(args.seed, args.residents).await.map_err(app_err)?;
            print_demo(&s);
            print_demo_activity(&app.load_demo_activity().await.map_err(app_err)?);
        }
        Command::Migrate => {
            let _app = open_app(&cfg).await?;
            println!("database up to date");
        }
        Command::User(cmd) => {
            let app = open_app(&cfg).await?;
            match cmd {
                UserCmd::Add {
                    username,
                    admin,
                    role,
                    node,
                    name,
                    password_stdin,
                } => {
                    let password = read_password(password_stdin, true)?;
                    if admin {
                        app.cli_create_admin(&username, &password)
                            .await
                            .map_err(app_err)?;
                    } else {
                        let role = role.context("--role is required unless --admin is given")?;
                        let role = Role::parse(&role).map_err(|e| anyhow::anyhow!(e))?;
                        let form = fanzha_app::users::UserForm {
                            username: username.clone(),
                            display_name: name.unwrap_or_default(),
                            role,
                            node_id: node.map(fanzha_core::NodeId),
                            password: Some(password),
                            disabled: false,
                        };
                        app.create_user(&app.cli_actor(), &form).await.map_err(app_err)?;
                    }
                    println!("created user {username}");
                }
                UserCmd::Passwd {
                    username,
                    password_stdin,
                } => {
                    let password = read_password(password_stdin, true)?;
                    app.cli_set_password(&username, &password)
                        .await
                        .map_err(app_err)?;
                    println!("password changed for {username}");
                }
                UserCmd::List { json } => {
                    let users = app.cli_users().await.map_err(app_err)?;
                    if json {
                        for u in &users {
                            println!("{}", serde_json::to_string(u)?);
                        }
                    } else {
                        println!(
                            "{:<6} {:<16} {:<14} {:<8} status",
                            "id", "username", "role", "node"
                        );
                        for u in &users {
                            let status = if u.disabled {
                                "disabled"
                            } else if u.locked {
                                "locked"
                            } else {
                                "active"
                            };
                            let node = u.node_id.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
                            println!(
                                "{:<6} {:<16} {:<14} {:<8} {status}",
                                u.id,
                                u.username,
                                u.role.code(),
                                node
                            );
                        }
                    }
                }
            }
        }
        Command::Bench(cmd) => bench::run(cmd).await?,
        Command::Ingest(args) => detect_cli::ingest(open_app(&cfg).await?, args).await?,
        Command::Backtest(args) => detect_cli::backtest(open_app(&cfg).await?, args).await?,
        Command::Train(args) => detect_cli::train(args, &cfg.shared_data)?,
        Command::Eval(args) => detect_cli::eval(args, &cfg.shared_data)?,
        Command::Import(cmd) => intel_cli::import(open_app(&cfg).await?, cmd).await?,
        Command::Export(args) => intel_cli::export(open_app(&cfg).await?, args).await?,
        Command::Lookup(args) => intel_cli::lookup(open_app(&cfg).await?, args).await?,
        Command::Audit(AuditCmd::Verify { json }) => {
            let app = open_app(&cfg).await?;
            let r = app.verify_audit().await.map_err(app_err)?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else if r.ok {
                println!("audit log intact: {} entries, chain verified", r.entries);
            } else {
                println!(
                    "AUDIT LOG BROKEN after {} good entries: {}",
                    r.entries,
                    r.problem.as_deref().unwrap_or("")
                );
            }
            if !r.ok {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(cli)) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
