//! Embedded schema migrations, one `.sql` file per backend and version.

use crate::db::{Db, Dialect, params};
use crate::error::{Result, StoreError};

/// One schema version.
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) sqlite: &'static str,
    pub(crate) postgres: &'static str,
}

/// Every migration, in order. The files live in
/// `migrations/{sqlite,postgres}/NNNN_name.sql`.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sqlite: include_str!("../../migrations/sqlite/0001_foundation.sql"),
        postgres: include_str!("../../migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "intel",
        sqlite: include_str!("../../migrations/sqlite/0002_intel.sql"),
        postgres: include_str!("../../migrations/postgres/0002_intel.sql"),
    },
    Migration {
        version: 3,
        name: "detection",
        sqlite: include_str!("../../migrations/sqlite/0003_detection.sql"),
        postgres: include_str!("../../migrations/postgres/0003_detection.sql"),
    },
    Migration {
        version: 4,
        name: "tasks",
        sqlite: include_str!("../../migrations/sqlite/0004_tasks.sql"),
        postgres: include_str!("../../migrations/postgres/0004_tasks.sql"),
    },
];

/// Arbitrary key of the PostgreSQL advisory lock that keeps two processes
/// from migrating at once.
const PG_MIGRATION_LOCK: i64 = 0x6661_6e7a_6861;

/// Applies every migration not yet recorded; returns how many ran. Runs in
/// the caller's transaction, so a failing migration leaves nothing behind.
pub(crate) async fn migrate<D: Db>(db: &D, now_ms: i64) -> Result<usize> {
    if db.dialect() == Dialect::Postgres {
        db.exec("SELECT pg_advisory_xact_lock($1)", params![PG_MIGRATION_LOCK])
            .await?;
    }
    db.batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT NOT NULL PRIMARY KEY,
             name       TEXT   NOT NULL,
             applied_at BIGINT NOT NULL
         )",
    )
    .await?;
    let applied: Vec<i64> = db
        .query("SELECT version FROM schema_migrations ORDER BY version", &[])
        .await?
        .into_iter()
        .map(|mut r| r.i64(0))
        .collect::<Result<_>>()?;
    if let Some(newest) = applied.last()
        && MIGRATIONS.iter().all(|m| m.version < *newest)
    {
        return Err(StoreError::corrupt(
            "the database was migrated by a newer version of Fanzha",
        ));
    }
    let mut ran = 0;
    for m in MIGRATIONS {
        if applied.contains(&m.version) {
            continue;
        }
        let sql = match db.dialect() {
            Dialect::Sqlite => m.sqlite,
            Dialect::Postgres => m.postgres,
        };
        db.batch(sql).await?;
        db.exec(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            params![m.version, m.name, now_ms],
        )
        .await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
        ran += 1;
    }
    Ok(ran)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file on disk is embedded, in order, for both backends.
    #[test]
    fn files_match_the_list() {
        for backend in ["sqlite", "postgres"] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(backend);
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            let expected: Vec<String> = MIGRATIONS
                .iter()
                .map(|m| format!("{:04}_{}.sql", m.version, m.name))
                .collect();
            assert_eq!(files, expected, "{backend}");
        }
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
        }
    }
}
