//! Use cases of Fanzha. The web layer and the CLI call these; nothing else
//! touches the store.
//!
//! Every use case that acts for a user takes an [`Actor`] and passes through
//! the permission gate ([`App::gate`]): the role must allow the action, and
//! every read and write is limited to the user's org subtree. Because the
//! gate is here, the pages and the API share it.

pub mod audit;
pub mod auth;
pub mod crypto;
pub mod demo;
pub mod detect;
pub mod error;
pub mod home;
pub mod intel;
pub mod notify;
pub mod org;
pub mod residents;
pub mod table;
pub mod tasks;
pub mod users;

use crypto::{FieldCipher, MasterKey, PasswordCost};
pub use error::{AppError, Result};
use fanzha_core::Timestamp;
use fanzha_core::i18n::Msg;
use fanzha_core::roles::{Action, Role};
/// The records the use cases return (org nodes, units, residents, users…).
pub use fanzha_store::model;
/// Opens (and, when asked, migrates) the configured store.
pub use fanzha_store::open as open_store;
pub use fanzha_store::{AuditRecord, Scope, Store, StoreConfig, StoreError, User};
use std::sync::Arc;

/// Where the app gets the time. Tests use [`ManualClock`].
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_millis() as i64)
    }
}

/// A clock that moves only when told, for scenario tests.
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    pub fn new(at: Timestamp) -> ManualClock {
        ManualClock(std::sync::atomic::AtomicI64::new(at.0))
    }
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.0, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn advance_secs(&self, s: i64) {
        self.0.fetch_add(s * 1000, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// Settings of the app, filled by the binary from its config file and
/// environment.
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// Encrypts ID numbers and phones and keys the blind indexes.
    pub master_key: MasterKey,
    pub password_cost: PasswordCost,
    /// Failed logins before the account locks.
    pub lockout_failures: u32,
    /// How long a lockout lasts.
    pub lockout_minutes: u32,
    /// Session lifetime.
    pub session_hours: u32,
    /// Largest accepted upload.
    pub max_upload_bytes: usize,
    /// The intelligence base: lifetimes, snapshot directory, rate limits…
    pub intel: intel::state::IntelConfig,
    /// Detection: partitions, batch limits, the text model, replay…
    pub detect: detect::DetectConfig,
    /// Notification gateways (SMS, robocall), rate limit, receipts.
    pub notify: notify::NotifyConfig,
    /// The dissuasion workflow: tick, sending rounds, feedback.
    pub tasks: tasks::TasksConfig,
}

impl AppConfig {
    pub fn new(master_key: MasterKey) -> AppConfig {
        AppConfig {
            master_key,
            password_cost: PasswordCost::default(),
            lockout_failures: 5,
            lockout_minutes: 15,
            session_hours: 12,
            max_upload_bytes: 20 * 1024 * 1024,
            intel: intel::state::IntelConfig::default(),
            detect: detect::DetectConfig::default(),
            notify: notify::NotifyConfig::default(),
            tasks: tasks::TasksConfig::default(),
        }
    }
}

/// The application: the store, the keys and the settings.
pub struct App {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) cipher: FieldCipher,
    pub(crate) cfg: AppConfig,
    pub(crate) clock: Arc<dyn Clock>,
    /// The live intel index, allowlist matcher and their background task.
    pub(crate) intel: intel::state::IntelState,
    /// The event bus, the pipeline task and its caches.
    pub(crate) detect: detect::DetectState,
    /// Recently checked API tokens, so that a busy machine client does not
    /// cost a database read per request.
    pub(crate) tokens: auth::TokenCache,
    /// The dissuasion workflow's notifier, caches and background task.
    pub(crate) tasks: tasks::TasksState,
}

/// How the actor proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthVia {
    /// A browser session; `csrf` must accompany every state-changing request.
    Session { csrf: String },
    /// A machine client's API token.
    Token,
    /// The command line, run by whoever can read the data directory.
    Cli,
}

/// Someone acting: a signed-in user, with the address they came from.
#[derive(Clone, Debug)]
pub struct Actor {
    pub user: User,
    pub ip: String,
    pub via: AuthVia,
}

impl Actor {
    pub fn role(&self) -> Role {
        self.user.role
    }
    pub fn can(&self, action: Action) -> bool {
        self.user.role.can(action) && !self.user.disabled
    }
    /// The user's data scope. A non-admin without a node sees nothing; the
    /// store refuses to create such a user, so this is a second fence.
    pub fn scope(&self) -> Option<Scope> {
        self.user.scope()
    }
}

impl App {
    pub fn new(store: Arc<dyn Store>, cfg: AppConfig, clock: Arc<dyn Clock>) -> Result<Arc<App>> {
        let cipher = FieldCipher::new(&cfg.master_key)?;
        let notifier = cfg
            .notify
            .build()
            .map_err(|e| AppError::Internal(format!("notifier: {e}")))?;
        Ok(Arc::new_cyclic(|me| {
            let intel = intel::state::IntelState::new(&cfg.intel, me.clone());
            let detect = detect::DetectState::new(&cfg.detect, me.clone());
            let tasks = tasks::TasksState::new(notifier, me.clone());
            App {
                store,
                cipher,
                cfg,
                clock,
                intel,
                detect,
                tokens: auth::TokenCache::default(),
                tasks,
            }
        }))
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn config(&self) -> &AppConfig {
        &self.cfg
    }

    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// The permission gate: the role must allow `action`; the answer is the
    /// scope every query of the use case must be limited to.
    pub fn gate(&self, actor: &Actor, action: Action) -> Result<Scope> {
        if !actor.can(action) {
            tracing::info!(
                user_id = actor.user.id.0,
                action = action.code(),
                "permission denied"
            );
            return Err(AppError::Forbidden(
                Msg::new("error.forbidden_action").arg("action", action.code()),
            ));
        }
        actor.scope().ok_or_else(|| AppError::forbidden("error.no_scope"))
    }

    /// An audit record for `actor` doing `action` to `target`.
    pub(crate) fn audit(
        &self,
        actor: &Actor,
        action: &str,
        target: impl Into<String>,
        detail: impl Into<String>,
    ) -> AuditRecord {
        AuditRecord {
            at: self.now(),
            actor_id: actor.user.id.0,
            actor: actor.user.username.clone(),
            action: action.to_string(),
            target: target.into(),
            detail: detail.into(),
            ip: actor.ip.clone(),
        }
    }

    /// An audit record for the system itself or the public.
    pub(crate) fn audit_system(
        &self,
        who: &str,
        action: &str,
        target: impl Into<String>,
        detail: impl Into<String>,
        ip: &str,
    ) -> AuditRecord {
        AuditRecord {
            at: self.now(),
            actor_id: 0,
            actor: who.to_string(),
            action: action.to_string(),
            target: target.into(),
            detail: detail.into(),
            ip: ip.to_string(),
        }
    }

    /// Checks that the configured master key is the one this database was
    /// first used with, so that a wrong key fails at start-up instead of
    /// producing undecryptable records. The first start records a check value.
    pub async fn check_master_key(&self) -> Result<()> {
        let check = hex::encode(
            self.cipher
                .blind_index(crypto::Field::IdNumber, "fanzha-key-check"),
        );
        match self.store.get_setting("key_check").await? {
            Some(v) if v == check => Ok(()),
            Some(_) => Err(AppError::Invalid(Msg::new("error.wrong_key"))),
            None => {
                let audit = self.audit_system("system", "setting.set", "setting:key_check", "", "");
                self.store.set_setting("key_check", &check, &audit).await?;
                Ok(())
            }
        }
    }

    /// Whether the install was loaded with the labelled demo.
    pub async fn is_demo(&self) -> Result<bool> {
        Ok(self.store.get_setting("demo").await?.as_deref() == Some("1"))
    }

    /// Applies the embedded migrations; returns how many ran.
    pub async fn migrate(&self) -> Result<usize> {
        Ok(self.store.migrate().await?)
    }

    /// Database reachable and migrated.
    pub async fn ready(&self) -> Result<()> {
        self.store.get_setting("demo").await?;
        Ok(())
    }
}

/// A page of results with the total count.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: usize,
    pub per_page: usize,
}

impl<T> Page<T> {
    pub fn pages(&self) -> usize {
        if self.per_page == 0 {
            1
        } else {
            (self.total as usize).div_ceil(self.per_page).max(1)
        }
    }
}
