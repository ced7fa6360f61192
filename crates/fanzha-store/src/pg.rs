//! The PostgreSQL backend: a deadpool of tokio-postgres connections with
//! cached prepared statements. Audit appends are serialised by locking the
//! one-row `audit_head` table inside each writing transaction.

use crate::db::{Db, Dialect, P, Row, V};
use crate::error::{FK_REASON, Result, StoreError, unique_reason};
use bytes::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::error::Error as StdError;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{IsolationLevel, NoTls};

type BoxErr = Box<dyn StdError + Sync + Send>;

impl ToSql for P<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxErr> {
        match self {
            P::Null => Ok(IsNull::Yes),
            P::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                _ => Err(format!("cannot bind an integer to a {ty} parameter").into()),
            },
            P::Bool(b) => match *ty {
                Type::BOOL => b.to_sql(ty, out),
                Type::INT8 => i64::from(*b).to_sql(ty, out),
                _ => Err(format!("cannot bind a boolean to a {ty} parameter").into()),
            },
            P::Text(s) => {
                if <&str as ToSql>::accepts(ty) {
                    s.as_ref().to_sql(ty, out)
                } else {
                    Err(format!("cannot bind text to a {ty} parameter").into())
                }
            }
            P::Blob(b) => {
                if <&[u8] as ToSql>::accepts(ty) {
                    b.as_ref().to_sql(ty, out)
                } else {
                    Err(format!("cannot bind bytes to a {ty} parameter").into())
                }
            }
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

pub(crate) fn map_err(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION {
            return StoreError::conflict(unique_reason(None, db.constraint()));
        }
        if *code == SqlState::FOREIGN_KEY_VIOLATION {
            return StoreError::conflict(FK_REASON);
        }
        if *code == SqlState::NOT_NULL_VIOLATION || *code == SqlState::CHECK_VIOLATION {
            return StoreError::conflict("a database constraint was violated");
        }
        // The message alone: DETAIL may quote key values.
        return StoreError::Backend(format!("{} ({})", db.message(), code.code()));
    }
    StoreError::Backend(e.to_string())
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => map_err(e),
        other => StoreError::Backend(format!("connection pool: {other}")),
    }
}

/// A transaction seen through [`Db`].
pub(crate) struct PgDb<'t> {
    tx: &'t deadpool_postgres::Transaction<'t>,
}

impl<'t> PgDb<'t> {
    pub(crate) fn new(tx: &'t deadpool_postgres::Transaction<'t>) -> Self {
        PgDb { tx }
    }
}

fn convert_row(r: &tokio_postgres::Row) -> Result<Row> {
    let mut vals = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let ty = col.type_();
        let get_err = |e: tokio_postgres::Error| StoreError::corrupt(format!("column {i}: {e}"));
        let v = match *ty {
            Type::INT8 => r.try_get::<_, Option<i64>>(i).map_err(get_err)?.map(V::Int),
            Type::INT4 => r
                .try_get::<_, Option<i32>>(i)
                .map_err(get_err)?
                .map(|v| V::Int(v.into())),
            Type::INT2 => r
                .try_get::<_, Option<i16>>(i)
                .map_err(get_err)?
                .map(|v| V::Int(v.into())),
            Type::BOOL => r.try_get::<_, Option<bool>>(i).map_err(get_err)?.map(V::Bool),
            Type::BYTEA => r.try_get::<_, Option<Vec<u8>>>(i).map_err(get_err)?.map(V::Blob),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
                r.try_get::<_, Option<String>>(i).map_err(get_err)?.map(V::Text)
            }
            _ => {
                return Err(StoreError::Backend(format!(
                    "unsupported column type {ty} in result"
                )));
            }
        };
        vals.push(v.unwrap_or(V::Null));
    }
    Ok(Row(vals))
}

fn refs<'a>(params: &'a [P<'_>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Db for PgDb<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }
    async fn exec(&self, sql: &str, params: &[P<'_>]) -> Result<u64> {
        let st = self.tx.prepare_cached(sql).await.map_err(map_err)?;
        self.tx.execute(&st, &refs(params)).await.map_err(map_err)
    }
    async fn query(&self, sql: &str, params: &[P<'_>]) -> Result<Vec<Row>> {
        let st = self.tx.prepare_cached(sql).await.map_err(map_err)?;
        let rows = self.tx.query(&st, &refs(params)).await.map_err(map_err)?;
        rows.iter().map(convert_row).collect()
    }
    async fn batch(&self, sql: &str) -> Result<()> {
        self.tx.batch_execute(sql).await.map_err(map_err)
    }
}

/// Handle to a PostgreSQL connection pool. Cheap to clone.
#[derive(Clone)]
pub struct PgBackend {
    pool: Pool,
}

impl PgBackend {
    /// Connects lazily: the pool opens connections on first use. When
    /// `schema` is given, every connection uses it as its `search_path`.
    pub(crate) async fn open(url: &str, max_connections: usize, schema: Option<&str>) -> Result<PgBackend> {
        let mut cfg: tokio_postgres::Config = url
            .parse()
            .map_err(|_| StoreError::invalid("the PostgreSQL URL is not valid"))?;
        if let Some(schema) = schema {
            if !valid_ident(schema) {
                return Err(StoreError::invalid("schema name must be [a-z0-9_]+"));
            }
            cfg.options(format!("-c search_path={schema}"));
        }
        if cfg.get_connect_timeout().is_none() {
            cfg.connect_timeout(Duration::from_secs(10));
        }
        let mgr = Manager::from_config(
            cfg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Backend(format!("connection pool: {e}")))?;
        // Fail early on a bad address or credentials.
        drop(pool.get().await.map_err(pool_err)?);
        Ok(PgBackend { pool })
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Client> {
        self.pool.get().await.map_err(pool_err)
    }

    /// Runs raw SQL outside any transaction. For tests.
    pub(crate) async fn raw_execute(&self, sql: &str) -> Result<()> {
        self.client().await?.batch_execute(sql).await.map_err(map_err)
    }
}

pub(crate) async fn begin_write(
    client: &mut deadpool_postgres::Client,
) -> Result<deadpool_postgres::Transaction<'_>> {
    client.transaction().await.map_err(map_err)
}

pub(crate) async fn begin_read(
    client: &mut deadpool_postgres::Client,
) -> Result<deadpool_postgres::Transaction<'_>> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(map_err)
}

pub(crate) async fn finish<T>(tx: deadpool_postgres::Transaction<'_>, out: Result<T>) -> Result<T> {
    match out {
        Ok(v) => {
            tx.commit().await.map_err(map_err)?;
            Ok(v)
        }
        Err(e) => {
            // Dropping would roll back too; doing it here reports nothing new.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

pub(crate) fn valid_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !s.bytes().next().is_some_and(|b| b.is_ascii_digit())
}
