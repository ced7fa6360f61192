//! Configuration: defaults, then the TOML file, then `FANZHA_*` environment
//! variables, then command-line flags. This is the only place that reads
//! the environment or config files; every other crate gets typed structs.

use anyhow::{Context, Result, bail};
use fanzha_app::crypto::MasterKey;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The config file, all fields optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address to serve on, e.g. `127.0.0.1:8080`.
    pub listen: Option<String>,
    /// `sqlite` (the default, a file in the data directory) or a `postgres://` URL.
    pub database: Option<String>,
    /// Connections in the PostgreSQL pool.
    pub pg_max_connections: Option<usize>,
    /// The 32-byte master key as 64 hex characters.
    pub secret_key: Option<String>,
    /// A file holding the master key (hex).
    pub secret_key_file: Option<PathBuf>,
    /// Mark cookies Secure (serving over TLS).
    pub cookie_secure: Option<bool>,
    /// Trust `X-Forwarded-For` from a reverse proxy.
    pub trust_proxy: Option<bool>,
    /// Log filter, e.g. `info` or `fanzha=debug,info`.
    pub log: Option<String>,
    /// Failed logins before lockout.
    pub lockout_failures: Option<u32>,
    /// Lockout length in minutes.
    pub lockout_minutes: Option<u32>,
    /// Session lifetime in hours.
    pub session_hours: Option<u32>,
    /// Largest upload in MiB.
    pub max_upload_mb: Option<usize>,
    /// Where the public data sets for evaluation and benchmarks live.
    pub shared_data: Option<PathBuf>,
    /// A text model written by `fanzha train`, used beside the built-in lexicon.
    pub model_file: Option<PathBuf>,
    /// Largest `POST /events` body in MiB.
    pub event_batch_mb: Option<usize>,
    /// Partitions of the event bus.
    pub event_partitions: Option<u32>,
    /// Org node that leads of subscribers who are not residents go to
    /// (default: the county root).
    pub unknown_lead_node: Option<i64>,
    /// Notification gateways (`[notify]`: mode, `[notify.sms]`,
    /// `[notify.voice]`, `sms_rate_limit`, `receipts`).
    pub notify: Option<fanzha_app::notify::NotifyConfig>,
    /// The dissuasion workflow (`[tasks]`: tick, send rounds, feedback, receipt token).
    pub tasks: Option<fanzha_app::tasks::TasksConfig>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: String,
    pub database: String,
    pub pg_max_connections: usize,
    pub secret_key: Option<String>,
    pub secret_key_file: Option<PathBuf>,
    pub cookie_secure: bool,
    pub trust_proxy: bool,
    pub log: String,
    pub lockout_failures: u32,
    pub lockout_minutes: u32,
    pub session_hours: u32,
    pub max_upload_mb: usize,
    pub shared_data: PathBuf,
    pub model_file: Option<PathBuf>,
    pub event_batch_mb: Option<usize>,
    pub event_partitions: Option<u32>,
    pub unknown_lead_node: Option<i64>,
    pub notify: fanzha_app::notify::NotifyConfig,
    pub tasks: fanzha_app::tasks::TasksConfig,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Result<Option<T>> {
    match env(name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<T>()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{name} has an invalid value")),
    }
}

fn env_bool(name: &str) -> Result<Option<bool>> {
    match env(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(Some(true)),
        Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(Some(false)),
        Some(_) => bail!("{name} must be true or false"),
    }
}

impl Config {
    /// Loads the file (the explicit one, or `fanzha.toml` in the data
    /// directory when it exists) and applies the environment.
    pub fn load(data_dir: &Path, file: Option<&Path>) -> Result<Config> {
        let default_file = data_dir.join("fanzha.toml");
        let path = match file {
            Some(p) => Some(p.to_path_buf()),
            None if default_file.exists() => Some(default_file),
            None => None,
        };
        let fc: FileConfig = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading config file {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing config file {}", p.display()))?
            }
            None => FileConfig::default(),
        };
        Ok(Config {
            data_dir: data_dir.to_path_buf(),
            listen: env("FANZHA_LISTEN")
                .or(fc.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            database: env("FANZHA_DATABASE")
                .or(fc.database)
                .unwrap_or_else(|| "sqlite".into()),
            pg_max_connections: env_parse("FANZHA_PG_MAX_CONNECTIONS")?
                .or(fc.pg_max_connections)
                .unwrap_or(16),
            secret_key: env("FANZHA_SECRET_KEY").or(fc.secret_key),
            secret_key_file: env("FANZHA_SECRET_KEY_FILE")
                .map(PathBuf::from)
                .or(fc.secret_key_file),
            cookie_secure: env_bool("FANZHA_COOKIE_SECURE")?
                .or(fc.cookie_secure)
                .unwrap_or(false),
            trust_proxy: env_bool("FANZHA_TRUST_PROXY")?
                .or(fc.trust_proxy)
                .unwrap_or(false),
            log: env("FANZHA_LOG").or(fc.log).unwrap_or_else(|| "info".into()),
            lockout_failures: env_parse("FANZHA_LOCKOUT_FAILURES")?
                .or(fc.lockout_failures)
                .unwrap_or(5),
            lockout_minutes: env_parse("FANZHA_LOCKOUT_MINUTES")?
                .or(fc.lockout_minutes)
                .unwrap_or(15),
            session_hours: env_parse("FANZHA_SESSION_HOURS")?
                .or(fc.session_hours)
                .unwrap_or(12),
            max_upload_mb: env_parse("FANZHA_MAX_UPLOAD_MB")?
                .or(fc.max_upload_mb)
                .unwrap_or(20),
            shared_data: env("FANZHA_SHARED_DATA")
                .map(PathBuf::from)
                .or(fc.shared_data)
                .unwrap_or_else(|| "../shared/data".into()),
            model_file: env("FANZHA_MODEL_FILE").map(PathBuf::from).or(fc.model_file),
            event_batch_mb: env_parse("FANZHA_EVENT_BATCH_MB")?.or(fc.event_batch_mb),
            event_partitions: env_parse("FANZHA_EVENT_PARTITIONS")?.or(fc.event_partitions),
            unknown_lead_node: env_parse("FANZHA_UNKNOWN_LEAD_NODE")?.or(fc.unknown_lead_node),
            notify: {
                let n = fc.notify.unwrap_or_default();
                n.validate().map_err(|e| anyhow::anyhow!("[notify]: {e}"))?;
                n
            },
            tasks: {
                let mut t = fc.tasks.unwrap_or_default();
                if let Some(tok) = env("FANZHA_RECEIPT_TOKEN") {
                    t.receipt_token = Some(fanzha_app::notify::Secret(tok));
                }
                t
            },
        })
    }

    /// Detection settings from the configuration.
    pub fn apply_detect(&self, d: &mut fanzha_app::detect::DetectConfig) {
        if let Some(m) = &self.model_file {
            d.model_file = Some(m.clone());
        }
        if let Some(mb) = self.event_batch_mb {
            d.max_batch_bytes = mb.max(1) * 1024 * 1024;
        }
        if let Some(p) = self.event_partitions {
            d.partitions = p.clamp(1, 1024);
        }
        if let Some(n) = self.unknown_lead_node {
            d.unknown_node = Some(fanzha_core::NodeId(n));
        }
    }

    /// The store to open.
    pub fn store(&self) -> Result<fanzha_app::StoreConfig> {
        let db = self.database.trim();
        if db == "sqlite" {
            return Ok(fanzha_app::StoreConfig::Sqlite {
                path: self.data_dir.join("fanzha.db"),
            });
        }
        if let Some(p) = db.strip_prefix("sqlite:") {
            return Ok(fanzha_app::StoreConfig::Sqlite {
                path: PathBuf::from(p.trim_start_matches("//")),
            });
        }
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            return Ok(fanzha_app::StoreConfig::Postgres {
                url: db.to_string(),
                max_connections: self.pg_max_connections,
            });
        }
        bail!("database must be `sqlite`, `sqlite:PATH` or a postgres:// URL")
    }

    /// The master key: configured, from a key file, or generated into
    /// `secret.key` in the data directory on first run.
    pub fn master_key(&self) -> Result<MasterKey> {
        if let Some(k) = &self.secret_key {
            return MasterKey::from_hex(k).context("secret_key");
        }
        let path = self
            .secret_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("secret.key"));
        if path.exists() {
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            return MasterKey::from_hex(&text).with_context(|| format!("the key in {}", path.display()));
        }
        if self.secret_key_file.is_some() {
            bail!("secret key file {} does not exist", path.display());
        }
        let key = MasterKey::generate()?;
        write_private(&path, &key.to_hex()).with_context(|| format!("writing {}", path.display()))?;
        tracing::info!(path = %path.display(), "generated a new master key");
        Ok(key)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, format!("{text}\n"))
}
