//! Helpers of the intel app tests: a fresh app on SQLite (always) or
//! PostgreSQL (when `FANZHA_TEST_PG` is set), actors of each role, and the
//! shared data directory.
#![allow(dead_code)]

use fanzha_app::crypto::MasterKey;
use fanzha_app::{Actor, App, AppConfig, AuthVia, ManualClock, StoreConfig, User};
use fanzha_core::org::OrgPath;
use fanzha_core::roles::Role;
use fanzha_core::{NodeId, Timestamp, UserId};
use fanzha_store::testing::PgTestStore;
use std::path::PathBuf;
use std::sync::Arc;

/// 2026-01-01T00:00:00Z.
pub const NOW: Timestamp = Timestamp(1_767_225_600_000);
pub const DAY: i64 = 86_400_000;

/// An app and what keeps its database alive.
pub struct TestApp {
    pub app: Arc<App>,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    _pg: Option<PgTestStore>,
}

pub fn config(dir: &std::path::Path) -> AppConfig {
    let mut cfg = AppConfig::new(MasterKey::from_hex(&"ab".repeat(32)).unwrap());
    cfg.intel.snapshot_dir = Some(dir.to_path_buf());
    // The tests apply changes with `sync_intel` and `flush_sightings`; the
    // background task stays out of their way (one test turns it back on).
    cfg.intel.rebuild_debounce_ms = 3_600_000;
    cfg.intel.generation_poll_ms = 3_600_000;
    cfg.intel.sightings_flush_ms = 3_600_000;
    cfg.intel.sightings_flush_count = usize::MAX;
    cfg
}

/// A fresh app on SQLite.
pub async fn sqlite_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    sqlite_app_in(dir, |_| {}).await
}

/// An app on the SQLite database in `dir` (created when new), with the
/// config adjusted by `tweak`.
pub async fn sqlite_app_in(dir: tempfile::TempDir, tweak: impl FnOnce(&mut AppConfig)) -> TestApp {
    let store = fanzha_app::open_store(&StoreConfig::Sqlite {
        path: dir.path().join("fanzha.db"),
    })
    .await
    .unwrap();
    let mut cfg = config(dir.path());
    tweak(&mut cfg);
    let clock = Arc::new(ManualClock::new(NOW));
    let app = App::new(store, cfg, clock.clone()).unwrap();
    app.migrate().await.unwrap();
    TestApp {
        app,
        clock,
        dir,
        _pg: None,
    }
}

/// A fresh app on PostgreSQL, or `None` (with a note) when
/// `FANZHA_TEST_PG` is not set; under CI a missing server fails.
pub async fn pg_app() -> Option<TestApp> {
    let url = match std::env::var("FANZHA_TEST_PG") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "FANZHA_TEST_PG is not set: under CI the PostgreSQL run must not be skipped"
            );
            eprintln!("skipped: set FANZHA_TEST_PG");
            return None;
        }
    };
    let pg = PgTestStore::create(&url, 8)
        .await
        .expect("cannot reach the PostgreSQL server named by FANZHA_TEST_PG");
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOW));
    let app = App::new(Arc::new(pg.store.clone()), config(dir.path()), clock.clone()).unwrap();
    app.migrate().await.unwrap();
    Some(TestApp {
        app,
        clock,
        dir,
        _pg: Some(pg),
    })
}

/// A signed-in user of `role` (intel is not org-scoped, so the node only
/// has to exist on paper).
pub fn actor(role: Role, id: i64) -> Actor {
    let node = NodeId(1);
    Actor {
        user: User {
            id: UserId(id),
            username: format!("{}{id}", role.code()),
            display_name: String::new(),
            role,
            node_id: (role != Role::Admin).then_some(node),
            node_path: (role != Role::Admin).then(|| OrgPath::root(node)),
            password_hash: String::new(),
            disabled: false,
            failed_logins: 0,
            locked_until: None,
            must_change_password: false,
            lang: "zh".into(),
            created_at: NOW,
            updated_at: NOW,
        },
        ip: "192.0.2.10".into(),
        via: AuthVia::Token,
    }
}

pub fn analyst() -> Actor {
    actor(Role::Analyst, 11)
}

/// The shared data directory: `FANZHA_SHARED_DATA`, default
/// `../shared/data` beside the workspace. Fails clearly when missing.
pub fn shared_data() -> PathBuf {
    let dir = match std::env::var_os("FANZHA_SHARED_DATA") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    assert!(
        dir.join("intel").is_dir() && dir.join("benign").is_dir(),
        "shared data not found at {} (set FANZHA_SHARED_DATA to the shared/data directory)",
        dir.display()
    );
    dir
}

pub fn read_shared(rel: &str) -> Vec<u8> {
    let p = shared_data().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// Runs a scenario on SQLite and, when configured, on PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let t = $crate::intel_app::sqlite_app().await;
                    super::$name(&t).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(t) = $crate::intel_app::pg_app().await else { return };
                    super::$name(&t).await;
                }
            )*
        }
    };
}
