//! The SQLite backend: one writer connection behind a mutex (which also
//! serialises audit appends) and a small pool of reader connections. The
//! database runs in WAL mode so that readers never wait for the writer.
//! Every call runs on tokio's blocking pool.

use crate::db::{Db, Dialect, P, Row, V, run_sync, to_sqlite_placeholders};
use crate::error::{FK_REASON, Result, StoreError, unique_reason};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Number of reader connections.
const READERS: usize = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const STATEMENT_CACHE: usize = 256;
/// Page cache of the writer: large enough that a big import does not spill
/// pages to the WAL mid-transaction.
const WRITER_CACHE_KIB: u32 = 64 * 1024;
const READER_CACHE_KIB: u32 = 16 * 1024;
/// How often the checkpointer copies the WAL back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// WAL size (4 KiB pages) past which the checkpointer restarts the log.
const WAL_RESTART_PAGES: i64 = 65_536;

impl rusqlite::ToSql for P<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            P::Null => ValueRef::Null,
            P::Int(v) => ValueRef::Integer(*v),
            P::Bool(b) => ValueRef::Integer(i64::from(*b)),
            P::Text(s) => ValueRef::Text(s.as_bytes()),
            P::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

pub(crate) fn map_err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        match f.code {
            ErrorCode::ConstraintViolation => {
                let m = msg.as_deref().unwrap_or("");
                if m.contains("FOREIGN KEY") {
                    return StoreError::conflict(FK_REASON);
                }
                if m.contains("UNIQUE") || m.contains("PRIMARY KEY") {
                    return StoreError::conflict(unique_reason(Some(m), None));
                }
                return StoreError::conflict("a database constraint was violated");
            }
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return StoreError::Backend("database is busy".into());
            }
            ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                return StoreError::corrupt("database file is damaged or not a database");
            }
            _ => {}
        }
    }
    // rusqlite's messages name tables, columns and SQL, never bound values.
    StoreError::Backend(e.to_string())
}

/// A connection (inside a transaction) seen through [`Db`].
pub(crate) struct SqliteDb<'c> {
    conn: &'c Connection,
}

impl<'c> SqliteDb<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Self {
        SqliteDb { conn }
    }

    fn query_sync(&self, sql: &str, params: &[P<'_>]) -> Result<Vec<Row>> {
        let sql = to_sqlite_placeholders(sql);
        let mut st = self.conn.prepare_cached(&sql).map_err(map_err)?;
        let n = st.column_count();
        let mut rows = st
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(map_err)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(map_err)? {
            let mut vals = Vec::with_capacity(n);
            for i in 0..n {
                vals.push(match r.get_ref(i).map_err(map_err)? {
                    ValueRef::Null => V::Null,
                    ValueRef::Integer(v) => V::Int(v),
                    ValueRef::Real(_) => return Err(StoreError::corrupt("unexpected real number")),
                    ValueRef::Text(t) => V::Text(
                        std::str::from_utf8(t)
                            .map_err(|_| StoreError::corrupt("text is not UTF-8"))?
                            .to_string(),
                    ),
                    ValueRef::Blob(b) => V::Blob(b.to_vec()),
                });
            }
            out.push(Row(vals));
        }
        Ok(out)
    }

    fn exec_sync(&self, sql: &str, params: &[P<'_>]) -> Result<u64> {
        let sql = to_sqlite_placeholders(sql);
        let mut st = self.conn.prepare_cached(&sql).map_err(map_err)?;
        let n = st
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(map_err)?;
        Ok(n as u64)
    }
}

impl Db for SqliteDb<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
    async fn exec(&self, sql: &str, params: &[P<'_>]) -> Result<u64> {
        self.exec_sync(sql, params)
    }
    async fn query(&self, sql: &str, params: &[P<'_>]) -> Result<Vec<Row>> {
        self.query_sync(sql, params)
    }
    async fn batch(&self, sql: &str) -> Result<()> {
        self.conn.execute_batch(sql).map_err(map_err)
    }
}

/// Copies the WAL back into the database file now and then, on its own
/// connection, so that no commit waits for a checkpoint (a commit that
/// crosses SQLite's automatic threshold would otherwise copy megabytes and
/// sync the file before it returns). Passive checkpoints never block the
/// writer or readers; when the WAL has grown past [`WAL_RESTART_PAGES`]
/// anyway (readers kept old frames alive), a restarting checkpoint lets the
/// writer reuse the file from its start. Ends when the backend is dropped.
fn checkpointer(conn: Connection, inner: std::sync::Weak<Inner>) {
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        if inner.upgrade().is_none() {
            return;
        }
        let wal_pages = conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1))
            .unwrap_or(0);
        if wal_pages > WAL_RESTART_PAGES {
            let _ = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0));
        }
    }
}

fn configure(conn: &Connection, cache_kib: u32) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
    conn.execute_batch(&format!("PRAGMA cache_size = -{cache_kib};"))
        .map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;",
    )
    .map_err(map_err)?;
    Ok(())
}

struct ReaderPool {
    conns: Mutex<Vec<Connection>>,
    ready: Condvar,
}

struct Reader<'p> {
    pool: &'p ReaderPool,
    conn: Option<Connection>,
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            lock(&self.pool.conns).push(c);
            self.pool.ready.notify_one();
        }
    }
}

impl ReaderPool {
    fn get(&self) -> Reader<'_> {
        let mut conns = lock(&self.conns);
        loop {
            if let Some(c) = conns.pop() {
                return Reader {
                    pool: self,
                    conn: Some(c),
                };
            }
            conns = self.ready.wait(conns).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// A poisoned lock only means another call panicked; the connection's own
/// transaction was rolled back when it unwound, so the data is consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Inner {
    writer: Mutex<Connection>,
    readers: ReaderPool,
    path: PathBuf,
}

/// Handle to an SQLite database file. Cheap to clone.
#[derive(Clone)]
pub struct SqliteBackend {
    inner: Arc<Inner>,
}

impl SqliteBackend {
    /// Opens (creating if needed) the database file at `path`.
    pub(crate) async fn open(path: &Path) -> Result<SqliteBackend> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let writer = Connection::open(&path).map_err(map_err)?;
            configure(&writer, WRITER_CACHE_KIB)?;
            // Commits never checkpoint: the checkpointer thread does, off
            // the commit path (see `checkpointer`).
            writer
                .execute_batch("PRAGMA wal_autocheckpoint = 0;")
                .map_err(map_err)?;
            let checkpoints = Connection::open(&path).map_err(map_err)?;
            configure(&checkpoints, READER_CACHE_KIB)?;
            let mut readers = Vec::with_capacity(READERS);
            for _ in 0..READERS {
                let c = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI,
                )
                .map_err(map_err)?;
                configure(&c, READER_CACHE_KIB)?;
                c.execute_batch("PRAGMA query_only = ON;").map_err(map_err)?;
                readers.push(c);
            }
            let inner = Arc::new(Inner {
                writer: Mutex::new(writer),
                readers: ReaderPool {
                    conns: Mutex::new(readers),
                    ready: Condvar::new(),
                },
                path,
            });
            let weak = Arc::downgrade(&inner);
            std::thread::Builder::new()
                .name("sqlite-checkpoint".into())
                .spawn(move || checkpointer(checkpoints, weak))
                .map_err(|e| StoreError::Backend(format!("cannot start the checkpoint thread: {e}")))?;
            Ok(SqliteBackend { inner })
        })
        .await
        .map_err(join_err)?
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` inside an immediate (write-locked) transaction on the writer
    /// connection; commits when it returns `Ok`, rolls back otherwise.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&SqliteDb<'_>) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(&inner.writer);
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let out = f(&SqliteDb::new(&tx))?;
            tx.commit().map_err(map_err)?;
            Ok(out)
        })
        .await
        .map_err(join_err)?
    }

    /// Runs `f` inside a read transaction (one consistent snapshot) on a
    /// reader connection.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&SqliteDb<'_>) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut reader = inner.readers.get();
            let conn = reader
                .conn
                .as_mut()
                .ok_or_else(|| StoreError::Backend("reader pool is empty".into()))?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(map_err)?;
            let out = f(&SqliteDb::new(&tx))?;
            tx.finish().map_err(map_err)?;
            Ok(out)
        })
        .await
        .map_err(join_err)?
    }

    /// Runs raw SQL on the writer, outside any transaction. For tests that
    /// need to tamper with stored data.
    pub(crate) async fn raw_execute(&self, sql: &str) -> Result<()> {
        let sql = sql.to_string();
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || lock(&inner.writer).execute_batch(&sql).map_err(map_err))
            .await
            .map_err(join_err)?
    }
}

/// Runs a shared-logic future synchronously; for use inside `write`/`read`.
pub(crate) fn sync<T>(fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    run_sync(fut)
}

fn join_err(e: tokio::task::JoinError) -> StoreError {
    StoreError::Backend(format!("database task failed: {e}"))
}
