//! Helpers for tests in this and other crates: a PostgreSQL store in a fresh,
//! uniquely named schema that is dropped afterwards, so that test binaries
//! running at the same time never see each other's data.

use crate::{DbStore, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A store in its own PostgreSQL schema. The schema is dropped when this
/// value is dropped (from a helper thread, so it works inside and outside a
/// runtime, and during a panic).
pub struct PgTestStore {
    pub store: DbStore,
    pub schema: String,
    url: String,
}

impl PgTestStore {
    /// Creates a schema named `fz_test_<pid>_<n>_<nanos>` and opens a store
    /// whose connections use it. Migrations are not run.
    pub async fn create(url: &str, max_connections: usize) -> Result<PgTestStore, StoreError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let schema = format!(
            "fz_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos
        );
        admin_exec(url, &format!("CREATE SCHEMA {schema}")).await?;
        match DbStore::open_postgres(url, max_connections, Some(&schema)).await {
            Ok(store) => Ok(PgTestStore {
                store,
                schema,
                url: url.to_string(),
            }),
            Err(e) => {
                let _ = admin_exec(url, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
                Err(e)
            }
        }
    }
}

impl Drop for PgTestStore {
    fn drop(&mut self) {
        let url = self.url.clone();
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(rt) = rt
                && let Err(e) = rt.block_on(admin_exec(&url, &sql))
            {
                tracing::warn!(error = %e, "could not drop test schema");
            }
        })
        .join();
        if done.is_err() {
            tracing::warn!("test schema cleanup thread panicked");
        }
    }
}

/// Runs one statement on a fresh connection outside the pool.
async fn admin_exec(url: &str, sql: &str) -> Result<(), StoreError> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(crate::pg::map_err)?;
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    let out = client.batch_execute(sql).await.map_err(crate::pg::map_err);
    drop(client);
    let _ = task.await;
    out
}
