//! Persistence for Fanzha: one [`Store`] API over SQLite (default, embedded)
//! and PostgreSQL (cluster). The only crate that writes SQL.
//!
//! * Open a store with [`open`] and a [`StoreConfig`], then call
//!   [`Store::migrate`] once; it applies the embedded migrations
//!   (`migrations/{sqlite,postgres}/NNNN_name.sql`) idempotently.
//! * Reads take a [`Scope`]: rows outside it are invisible, exactly as if
//!   they did not exist.
//! * Every mutating call takes an [`AuditRecord`] and appends its entry to
//!   the hash-chained audit log in the same transaction as the change
//!   (DESIGN §4: "Any change to a record about a person writes its audit
//!   entry in the same transaction"). A failed call leaves neither the change
//!   nor the entry. Verify the chain with [`fanzha_core::audit::verify_chain`]
//!   over [`Store::audit_chain`].
//! * Personal values arrive protected (ciphertext, blind index, masked form);
//!   the store never sees ID or phone numbers in the clear, and its errors and
//!   logs never carry personal values.
//! * Timestamps are unix milliseconds ([`fanzha_core::Timestamp`]) passed in
//!   by the caller; the store does not read the clock for domain data.
//!
//! Both backends run the same SQL text (written with `$1` placeholders and
//! rewritten for SQLite) through the same logic, and pass one conformance
//! suite (`tests/conformance.rs`).
//!
//! The audit log is the table `audit_log(seq, at, actor_id, actor, action,
//! target, detail, ip, prev_hash, hash)`; `audit_head(id = 1, seq, hash)`
//! holds its last entry. Tests that tamper with it can open the SQLite file
//! with rusqlite directly (WAL mode; the store may stay open) or call
//! [`DbStore::raw_execute`]; no trigger stops them, the chain shows it.
//!
//! For PostgreSQL tests, [`testing::PgTestStore`] opens a store in a fresh,
//! uniquely named schema and drops the schema afterwards.

mod db;
pub mod error;
pub mod model;
mod ops;
mod pg;
mod sqlite;
pub mod testing;

pub use error::StoreError;
pub use events::*;
pub use intel::*;
pub use model::*;
pub use tasks::*;

use async_trait::async_trait;
use fanzha_core::audit::AuditEntry;
use fanzha_core::org::NodeKind;
use fanzha_core::{NodeId, ResidentId, Timestamp, TokenId, UnitId, UserId};
use std::path::PathBuf;
use std::sync::Arc;

/// Where the data lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreConfig {
    /// An SQLite database file (created when missing).
    Sqlite { path: PathBuf },
    /// A PostgreSQL server. `url` is a libpq-style URL
    /// (`postgres://user@host:5432/db`); its `options` parameter may set a
    /// `search_path`.
    Postgres { url: String, max_connections: usize },
}

/// Opens a store. Call [`Store::migrate`] before first use.
pub async fn open(cfg: &StoreConfig) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(DbStore::open(cfg).await?))
}

/// The store API. Use it as `Arc<dyn Store>`. The intelligence base is its
/// supertrait [`IntelStore`], the detection pipeline's data [`EventStore`],
/// the dissuasion workflow's [`TaskStore`] (bring those traits into scope to
/// call them).
///
/// Conventions: `get_*`/`*_by_*` return `Ok(None)` for missing or
/// out-of-scope records; mutations return [`StoreError::NotFound`] for a
/// missing target, [`StoreError::Invalid`] for input that breaks a rule and
/// [`StoreError::Conflict`] for collisions with stored data.
#[async_trait]
pub trait Store: IntelStore + EventStore + TaskStore + Send + Sync {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Applies the embedded migrations that have not run yet; returns how
    /// many ran (0 when the schema is current).
    async fn migrate(&self) -> Result<usize, StoreError>;

    // ---- audit -------------------------------------------------------

    /// Appends an entry on its own (reveals, logins, exports); returns its
    /// sequence number.
    async fn append_audit(&self, rec: &AuditRecord) -> Result<i64, StoreError>;
    /// Entries matching the filter, newest first, and the number matching.
    async fn list_audit(&self, filter: &AuditFilter) -> Result<(Vec<AuditEntry>, i64), StoreError>;
    /// Up to `limit` entries with `seq >= from_seq`, in chain order.
    async fn audit_chain(&self, from_seq: i64, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
    /// The last sequence number and hash of the chain.
    async fn audit_head(&self) -> Result<AuditHead, StoreError>;

    // ---- org tree ----------------------------------------------------

    /// Creates a node. A root must be a county; a child's kind must be
    /// `parent.kind.child()`; sibling names are unique.
    async fn create_node(
        &self,
        parent: Option<NodeId>,
        kind: NodeKind,
        name: &str,
        code: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<NodeId, StoreError>;
    async fn get_node(&self, scope: &Scope, id: NodeId) -> Result<Option<OrgNode>, StoreError>;
    /// Nodes in scope in tree order (ordered by path: each node before its
    /// descendants).
    async fn list_nodes(&self, scope: &Scope) -> Result<Vec<OrgNode>, StoreError>;
    /// In-scope children of a node, by name.
    async fn node_children(&self, scope: &Scope, id: NodeId) -> Result<Vec<OrgNode>, StoreError>;
    /// Sets a node's name and administrative code.
    async fn rename_node(
        &self,
        id: NodeId,
        name: &str,
        code: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;
    /// Moves a node (and its subtree) under another parent of the right kind,
    /// rewriting every descendant's path in the same transaction.
    async fn move_node(&self, id: NodeId, new_parent: NodeId, audit: &AuditRecord) -> Result<(), StoreError>;
    /// Deletes an empty node. A node that still holds child nodes,
    /// residents, units or users is refused with a [`StoreError::Conflict`]
    /// whose reason lists them, e.g. `node has 3 child nodes, 2 units`.
    async fn delete_node(&self, id: NodeId, audit: &AuditRecord) -> Result<(), StoreError>;
    /// For each node in scope (tree order), the residents in its subtree.
    async fn node_resident_counts(&self, scope: &Scope) -> Result<Vec<NodeCount>, StoreError>;

    // ---- units -------------------------------------------------------

    async fn create_unit(&self, unit: &NewUnit, audit: &AuditRecord) -> Result<UnitId, StoreError>;
    async fn get_unit(&self, scope: &Scope, id: UnitId) -> Result<Option<Unit>, StoreError>;
    /// Units in scope, by node path then name.
    async fn list_units(&self, scope: &Scope, filter: &UnitFilter) -> Result<Vec<Unit>, StoreError>;
    async fn update_unit(&self, id: UnitId, unit: &UnitUpdate, audit: &AuditRecord)
    -> Result<(), StoreError>;
    async fn move_unit(&self, id: UnitId, node: NodeId, audit: &AuditRecord) -> Result<(), StoreError>;
    async fn delete_unit(&self, id: UnitId, audit: &AuditRecord) -> Result<(), StoreError>;

    // ---- residents ---------------------------------------------------

    /// Creates a resident in a grid. A second resident with the same ID
    /// blind index is a conflict.
    async fn create_resident(&self, r: &NewResident, audit: &AuditRecord) -> Result<ResidentId, StoreError>;
    /// Replaces everything about a resident; returns the new version.
    async fn update_resident(
        &self,
        id: ResidentId,
        update: &ResidentUpdate,
        audit: &AuditRecord,
    ) -> Result<i64, StoreError>;
    /// Deletes a resident with phones, tags and contacts; contacts of other
    /// residents that linked to it keep their text and lose the link.
    async fn delete_resident(&self, id: ResidentId, audit: &AuditRecord) -> Result<(), StoreError>;
    async fn get_resident(&self, scope: &Scope, id: ResidentId) -> Result<Option<Resident>, StoreError>;
    async fn resident_by_id_bidx(&self, scope: &Scope, bidx: &[u8]) -> Result<Option<Resident>, StoreError>;
    /// Residents in scope with this number among their own phones.
    async fn residents_by_phone_bidx(
        &self,
        scope: &Scope,
        bidx: &[u8],
    ) -> Result<Vec<ResidentId>, StoreError>;
    /// Residents in scope who list this number as one of their contacts'.
    async fn residents_by_contact_phone_bidx(
        &self,
        scope: &Scope,
        bidx: &[u8],
    ) -> Result<Vec<ResidentId>, StoreError>;
    /// A page of residents (by id) and the number matching in all.
    async fn list_residents(
        &self,
        scope: &Scope,
        filter: &ResidentFilter,
    ) -> Result<(Vec<ResidentSummary>, i64), StoreError>;
    /// The number of residents matching the filter (its page is ignored).
    async fn count_residents_filtered(
        &self,
        scope: &Scope,
        filter: &ResidentFilter,
    ) -> Result<i64, StoreError>;
    /// Imports rows in one transaction, keyed by ID blind index: a known
    /// index updates that resident (full replacement), a new one inserts.
    /// Writes one audit entry per row from `audit_template` with action
    /// `resident.import.insert` / `resident.import.update` and target
    /// `resident:{id}`. Any failing row rolls back the whole batch; the
    /// error's reason starts with `row {i}` (0-based index into `rows`).
    async fn upsert_residents_batch(
        &self,
        rows: &[NewResident],
        audit_template: &AuditRecord,
    ) -> Result<Vec<UpsertOutcome>, StoreError>;
    /// Every resident matching the filter (its page is ignored), by id, read
    /// in one snapshot.
    async fn export_residents(
        &self,
        scope: &Scope,
        filter: &ResidentFilter,
    ) -> Result<Vec<ResidentExportRow>, StoreError>;
    /// Up to `limit` residents matching the filter with id above `after`, by
    /// id: call again with the last id until a short page comes back.
    async fn export_residents_page(
        &self,
        scope: &Scope,
        filter: &ResidentFilter,
        after: Option<ResidentId>,
        limit: usize,
    ) -> Result<Vec<ResidentExportRow>, StoreError>;
    async fn count_residents(&self, scope: &Scope) -> Result<i64, StoreError>;
    /// Residents per tag in scope, most frequent first.
    async fn resident_tag_counts(&self, scope: &Scope) -> Result<Vec<(String, i64)>, StoreError>;

    // ---- users -------------------------------------------------------

    /// Creates a user. Administrators have no node; every other role must.
    async fn create_user(&self, user: &NewUser, audit: &AuditRecord) -> Result<UserId, StoreError>;
    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError>;
    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// Users whose node is in scope, by username ([`Scope::All`] includes
    /// administrators).
    async fn list_users(&self, scope: &Scope) -> Result<Vec<User>, StoreError>;
    /// Replaces role, node, display name, disabled flag and language. Taking
    /// the last enabled administrator away is a conflict.
    async fn update_user(
        &self,
        id: UserId,
        update: &UserUpdate,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;
    async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: &str,
        must_change_password: bool,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;
    /// Counts a failed login atomically; at `max_failures` the account is
    /// locked until `now + lock_ms` and the count restarts from 0.
    async fn record_login_failure(
        &self,
        id: UserId,
        now: Timestamp,
        max_failures: u32,
        lock_ms: i64,
        audit: &AuditRecord,
    ) -> Result<LoginState, StoreError>;
    /// Clears the failure count and any lock.
    async fn record_login_success(&self, id: UserId, audit: &AuditRecord) -> Result<(), StoreError>;
    /// Enabled administrators.
    async fn count_admins(&self) -> Result<i64, StoreError>;

    // ---- sessions ----------------------------------------------------

    async fn create_session(&self, session: &NewSession, audit: &AuditRecord) -> Result<(), StoreError>;
    /// The session if it has not expired at `now` and its user is enabled.
    async fn session_by_hash(
        &self,
        token_hash: &[u8],
        now: Timestamp,
    ) -> Result<Option<SessionWithUser>, StoreError>;
    /// Sets `last_seen_at` and a new expiry (not audited); false when gone.
    async fn touch_session(
        &self,
        token_hash: &[u8],
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Logs one session out; false (and no audit entry) when it was gone.
    async fn delete_session(&self, token_hash: &[u8], audit: &AuditRecord) -> Result<bool, StoreError>;
    /// Logs a user out everywhere; returns how many sessions ended.
    async fn delete_user_sessions(&self, user_id: UserId, audit: &AuditRecord) -> Result<u64, StoreError>;
    /// Deletes sessions expired at `now` (housekeeping, not audited).
    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StoreError>;

    // ---- API tokens --------------------------------------------------

    async fn create_token(&self, token: &NewApiToken, audit: &AuditRecord) -> Result<TokenId, StoreError>;
    /// The token if it is not revoked and its user is enabled.
    async fn token_by_hash(&self, token_hash: &[u8]) -> Result<Option<TokenWithUser>, StoreError>;
    async fn get_token(&self, id: TokenId) -> Result<Option<ApiToken>, StoreError>;
    /// A user's tokens, revoked ones included, oldest first.
    async fn list_tokens(&self, user_id: UserId) -> Result<Vec<ApiToken>, StoreError>;
    /// Revokes a token as of `audit.at` (idempotent).
    async fn revoke_token(&self, id: TokenId, audit: &AuditRecord) -> Result<(), StoreError>;
    /// Records a use (not audited); false when the token does not exist.
    async fn touch_token(&self, id: TokenId, now: Timestamp) -> Result<bool, StoreError>;

    // ---- settings and aggregates -------------------------------------

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn set_setting(&self, key: &str, value: &str, audit: &AuditRecord) -> Result<(), StoreError>;
    async fn list_settings(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// Cheap counts for the home page.
    async fn scope_counts(&self, scope: &Scope) -> Result<ScopeCounts, StoreError>;
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::SqliteBackend),
    Postgres(pg::PgBackend),
}

/// The concrete store behind [`open`], for callers that need more than the
/// trait (tests, the `migrate` command).
#[derive(Clone)]
pub struct DbStore {
    backend: Backend,
}

impl DbStore {
    /// Opens the configured database.
    pub async fn open(cfg: &StoreConfig) -> Result<DbStore, StoreError> {
        match cfg {
            StoreConfig::Sqlite { path } => DbStore::open_sqlite(path).await,
            StoreConfig::Postgres { url, max_connections } => {
                DbStore::open_postgres(url, *max_connections, None).await
            }
        }
    }

    /// Opens (creating if needed) an SQLite database file.
    pub async fn open_sqlite(path: &std::path::Path) -> Result<DbStore, StoreError> {
        Ok(DbStore {
            backend: Backend::Sqlite(sqlite::SqliteBackend::open(path).await?),
        })
    }

    /// Connects to PostgreSQL. With `schema`, every pooled connection uses
    /// that schema (which must exist, `[a-z0-9_]+`) as its `search_path`.
    pub async fn open_postgres(
        url: &str,
        max_connections: usize,
        schema: Option<&str>,
    ) -> Result<DbStore, StoreError> {
        Ok(DbStore {
            backend: Backend::Postgres(pg::PgBackend::open(url, max_connections, schema).await?),
        })
    }

    /// The SQLite file, for the SQLite backend.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match &self.backend {
            Backend::Sqlite(s) => Some(s.path()),
            Backend::Postgres(_) => None,
        }
    }

    /// Runs raw SQL (several statements allowed) outside any transaction and
    /// outside the audit log. Only for tests that tamper with stored data.
    #[doc(hidden)]
    pub async fn raw_execute(&self, sql: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.raw_execute(sql).await,
            Backend::Postgres(p) => p.raw_execute(sql).await,
        }
    }
}

/// Runs shared logic in a transaction on either backend.
///
/// `$kind` is `write` or `read`; the bracketed names are borrowed arguments
/// that SQLite's blocking task must own (they are cloned and re-borrowed);
/// `Copy` arguments are moved in as they are.
macro_rules! run {
    ($self:ident, $kind:ident, [$($arg:ident),*], |$db:ident| $body:expr) => {
        match &$self.backend {
            Backend::Sqlite(s) => {
                $(let $arg = ToOwned::to_owned($arg);)*
                s.$kind(move |$db| {
                    $(let $arg = &$arg;)*
                    crate::sqlite::sync($body)
                })
                .await
            }
            Backend::Postgres(p) => {
                let mut client = p.client().await?;
                let tx = run!(@begin $kind, &mut client).await?;
                let out = {
                    let $db = &pg::PgDb::new(&tx);
                    $body.await
                };
                pg::finish(tx, out).await
            }
        }
    };
    (@begin write, $c:expr) => { pg::begin_write($c) };
    (@begin read, $c:expr) => { pg::begin_read($c) };
}

// Declared after `run!` so that their `impl … for DbStore` can use it.
pub mod events;
pub mod intel;
pub mod tasks;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[async_trait]
impl Store for DbStore {
    fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    async fn migrate(&self) -> Result<usize, StoreError> {
        let now = now_ms();
        run!(self, write, [], |db| ops::migrate::migrate(db, now))
    }

    async fn append_audit(&self, rec: &AuditRecord) -> Result<i64, StoreError> {
        run!(self, write, [rec], |db| ops::audit::append(
            db,
            rec,
            rec.target.clone()
        ))
    }
    async fn list_audit(&self, filter: &AuditFilter) -> Result<(Vec<AuditEntry>, i64), StoreError> {
        run!(self, read, [filter], |db| ops::audit::list(db, filter))
    }
    async fn audit_chain(&self, from_seq: i64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        run!(self, read, [], |db| ops::audit::chain(db, from_seq, limit))
    }
    async fn audit_head(&self) -> Result<AuditHead, StoreError> {
        run!(self, read, [], |db| ops::audit::head(db))
    }

    async fn create_node(
        &self,
        parent: Option<NodeId>,
        kind: NodeKind,
        name: &str,
        code: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<NodeId, StoreError> {
        let code = code.map(str::to_string);
        run!(self, write, [name, audit], |db| ops::org::create(
            db,
            parent,
            kind,
            name,
            code.as_deref(),
            audit
        ))
    }
    async fn get_node(&self, scope: &Scope, id: NodeId) -> Result<Option<OrgNode>, StoreError> {
        run!(self, read, [scope], |db| ops::org::get(db, scope, id))
    }
    async fn list_nodes(&self, scope: &Scope) -> Result<Vec<OrgNode>, StoreError> {
        run!(self, read, [scope], |db| ops::org::list(db, scope))
    }
    async fn node_children(&self, scope: &Scope, id: NodeId) -> Result<Vec<OrgNode>, StoreError> {
        run!(self, read, [scope], |db| ops::org::children(db, scope, id))
    }
    async fn rename_node(
        &self,
        id: NodeId,
        name: &str,
        code: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let code = code.map(str::to_string);
        run!(self, write, [name, audit], |db| ops::org::rename(
            db,
            id,
            name,
            code.as_deref(),
            audit
        ))
    }
    async fn move_node(&self, id: NodeId, new_parent: NodeId, audit: &AuditRecord) -> Result<(), StoreError> {
        run!(self, write, [audit], |db| ops::org::move_to(
            db, id, new_parent, audit
        ))
    }
    async fn delete_node(&self, id: NodeId, audit: &AuditRecord) -> Result<(), StoreError> {
        run!(self, write, [audit], |db| ops::org::delete(db, id, audit))
    }
    async fn node_resident_counts(&self, scope: &Scope) -> Result<Vec<NodeCount>, StoreError> {
        run!(self, read, [scope], |db| ops::org::resident_counts(db, scope))
    }

    async fn create_unit(&self, unit: &NewUnit, audit: &AuditRecord) -> Result<UnitId, StoreError> {
        run!(self, write, [unit, audit], |db| ops::units::create(
            db, unit, audit
        ))
    }
    async fn get_unit(&self, scope: &Scope, id: UnitId) -> Result<Option<Unit>, StoreError> {
        run!(self, read, [scope], |db| ops::units::get(db, scope, id))
    }
    async fn list_units(&self, scope: &Scope, filter: &UnitFilter) -> Result<Vec<Unit>, StoreError> {
        run!(self, read, [scope, filter], |db| ops::units::list(
            db, scope, filter
        ))
    }
    async fn update_unit(
        &self,
        id: UnitId,
        unit: &UnitUpdate,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        run!(self, write, [unit, audit], |db| ops::units::update(
            db, id, unit, audit
        ))
    }
    async fn move_unit(&self, id: UnitId, node: NodeId, audit: &AuditRecord) -> Result<(), StoreError> {
        run!(self, write, [audit], |db| ops::units::move_to(
            db, id, node, audit
        ))
    }
    async fn delete_unit(&self, id: UnitId, audit: &AuditRecord) -> Result<(), StoreError> {
        run!(self, write, [audit], |db| ops::units::delete(db, id, audit))
    }

    async fn create_resident(&self, r: &NewResident, audit: &AuditRecord) -> Result<ResidentId, StoreError> {
        run!(self, write, [r, audit], |db| ops::residents::create(db, r, audit))
    }
    async fn update_resident(
        &self,
        id: ResidentId,
        update: &ResidentUpdate,
        audit: &AuditRecord,
    ) -> Result<i64, StoreError> {
        run!(self, write, [update, audit], |db| ops::residents::update(
            db, id, update, audit
        ))
    }
    async fn delete_resident(&self, id: ResidentId, audit: &AuditRecord) -> Result<(), StoreError> {
        run!(self, write, [audit], |db| ops::residents::delete(db, id, audit))
    }
    async fn get_resident(&self, scope: &Scope, id: ResidentId) -> Result<Option<Resident>, StoreError> {
        run!(self, read, [scope], |db| ops::residents::get(db, scope, id))
    }
    async fn resident_by_id_bidx(&self, scope: &Scope, bidx: &[u8]) -> Result<Option<Resident>, StoreError> {
        run!(self, read, [scope, bidx], |db| ops::residents::by_id_bidx(
            db, scope, bidx
        ))
    }
    async fn residents_by_phone_bidx(
        &self,
        scope: &Scope,
        bidx: &[u8],
    ) -> Result<Vec<ResidentId>, StoreError> {
        run!(self, read, [scope, bidx], |db| ops::residents::by_phone_bidx(
            db, scope, bidx
        ))
    }
    async fn residents_by_contact_phone_bidx(
        &self,
        scope: &Scope,
        bidx: &[u8],
    ) -> Result<Vec<ResidentId>, StoreError> {
        run!(self, read, [scope, bidx], |db| {
            ops::residents::by_contact_phone_bidx(db, scope, bidx)
        })
    }
    async fn list_residents(
        &self,
        scope: &Scope,
        filter: &ResidentFilter,
    ) -> Result<(Vec<ResidentSummary>, i64), StoreError> {
        run!(self, read, [scope, filter], |db| ops::residents::list(
            db, scope, filter
        ))
    }
    async fn count_residents_filtered(
        &self,
        scope: &Scope,
        filter: &ResidentFilter,
    ) -> Result<i64, StoreError> {
        run!(self, read, [scope, filter], |db| ops::residents::count_filtered(
            db, scope, filter
        ))
    }
    async fn upsert_residents_batch(
        &self,
        rows: &[NewResident],
        audit_template: &AuditRecord,
    ) -> Result<Vec<UpsertOutcome>, StoreError> {
        run!(self, write, [rows, audit_template], |db| {
            ops::residents::upsert_batch(db, rows, audit_template)
        })
    }
    async fn export_residents(
        &self,
        scope: &Scope,
        filter: &ResidentFilter,
    ) -> Result<Vec<ResidentExportRow>, StoreError> {
        run!(self, read, [scope, filter], |db| ops::residents::export_all(
            db, scope, filter
        ))
    }
    async fn export_residents_page(
        &self,
        scope: &Scope,
        filter: &ResidentFilter,
        after: Option<ResidentId>,
        limit: usize,
    ) -> Result<Vec<ResidentExportRow>, StoreError> {
        run!(self, read, [scope, filter], |db| ops::residents::export_page(
            db, scope, filter, after, limit
        ))
    }
    async fn count_residents(&self, scope: &Scope) -> Result<i64, StoreError> {
        run!(self, read, [scope], |db| ops::residents::count(db, scope))
    }
    async fn resident_tag_counts(&self, scope: &Scope) -> Result<Vec<(String, i64)>, StoreError> {
        run!(self, read, [scope], |db| ops::residents::tag_counts(db, scope))
    }

    async fn create_user(&self, user: &NewUser, audit: &AuditRecord) -> Result<UserId, StoreError> {
        run!(self, write, [user, audit], |db| ops::users::create(
            db, user, audit
        ))
    }
    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        run!(self, read, [], |db| ops::users::get(db, id))
    }
    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        run!(self, read, [username], |db| ops::users::by_username(db, username))
    }
    async fn list_users(&self, scope: &Scope) -> Result<Vec<User>, StoreError> {
        run!(self, read, [scope], |db| ops::users::list(db, scope))
    }
    async fn update_user(
        &self,
        id: UserId,
        update: &UserUpdate,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        run!(self, write, [update, audit], |db| ops::users::update(
            db, id, update, audit
        ))
    }
    async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: &str,
        must_change_password: bool,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        run!(self, write, [password_hash, audit], |db| {
            ops::users::set_password_hash(db, id, password_hash, must_change_password, audit)
        })
    }
    async fn record_login_failure(
        &self,
        id: UserId,
        now: Timestamp,
        max_failures: u32,
        lock_ms: i64,
        audit: &AuditRecord,
    ) -> Result<LoginState, StoreError> {
        run!(self, write, [audit], |db| ops::users::record_failure(
            db,
            id,
            now,
            max_failures,
            lock_ms,
            audit
        ))
    }
    async fn record_login_success(&self, id: UserId, audit: &AuditRecord) -> Result<(), StoreError> {
        run!(self, write, [audit], |db| ops::users::record_success(
            db, id, audit
        ))
    }
    async fn count_admins(&self) -> Result<i64, StoreError> {
        run!(self, read, [], |db| ops::users::count_admins(db))
    }

    async fn create_session(&self, session: &NewSession, audit: &AuditRecord) -> Result<(), StoreError> {
        run!(self, write, [session, audit], |db| ops::auth::create_session(
            db, session, audit
        ))
    }
    async fn session_by_hash(
        &self,
        token_hash: &[u8],
        now: Timestamp,
    ) -> Result<Option<SessionWithUser>, StoreError> {
        run!(self, read, [token_hash], |db| ops::auth::session_by_hash(
            db, token_hash, now
        ))
    }
    async fn touch_session(
        &self,
        token_hash: &[u8],
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        run!(self, write, [token_hash], |db| ops::auth::touch_session(
            db, token_hash, now, expires_at
        ))
    }
    async fn delete_session(&self, token_hash: &[u8], audit: &AuditRecord) -> Result<bool, StoreError> {
        run!(self, write, [token_hash, audit], |db| ops::auth::delete_session(
            db, token_hash, audit
        ))
    }
    async fn delete_user_sessions(&self, user_id: UserId, audit: &AuditRecord) -> Result<u64, StoreError> {
        run!(self, write, [audit], |db| ops::auth::delete_user_sessions(
            db, user_id, audit
        ))
    }
    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        run!(self, write, [], |db| ops::auth::purge_expired(db, now))
    }

    async fn create_token(&self, token: &NewApiToken, audit: &AuditRecord) -> Result<TokenId, StoreError> {
        run!(self, write, [token, audit], |db| ops::auth::create_token(
            db, token, audit
        ))
    }
    async fn token_by_hash(&self, token_hash: &[u8]) -> Result<Option<TokenWithUser>, StoreError> {
        run!(self, read, [token_hash], |db| ops::auth::token_by_hash(
            db, token_hash
        ))
    }
    async fn get_token(&self, id: TokenId) -> Result<Option<ApiToken>, StoreError> {
        run!(self, read, [], |db| ops::auth::get_token(db, id))
    }
    async fn list_tokens(&self, user_id: UserId) -> Result<Vec<ApiToken>, StoreError> {
        run!(self, read, [], |db| ops::auth::list_tokens(db, user_id))
    }
    async fn revoke_token(&self, id: TokenId, audit: &AuditRecord) -> Result<(), StoreError> {
        run!(self, write, [audit], |db| ops::auth::revoke_token(db, id, audit))
    }
    async fn touch_token(&self, id: TokenId, now: Timestamp) -> Result<bool, StoreError> {
        run!(self, write, [], |db| ops::auth::touch_token(db, id, now))
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        run!(self, read, [key], |db| ops::auth::get_setting(db, key))
    }
    async fn set_setting(&self, key: &str, value: &str, audit: &AuditRecord) -> Result<(), StoreError> {
        run!(self, write, [key, value, audit], |db| ops::auth::set_setting(
            db, key, value, audit
        ))
    }
    async fn list_settings(&self) -> Result<Vec<(String, String)>, StoreError> {
        run!(self, read, [], |db| ops::auth::list_settings(db))
    }
    async fn scope_counts(&self, scope: &Scope) -> Result<ScopeCounts, StoreError> {
        run!(self, read, [scope], |db| ops::auth::scope_counts(db, scope))
    }
}
