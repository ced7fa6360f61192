//! The labelled demo activity: demo fraud numbers and demo events go through
//! the real ingest path, the pipeline raises leads, the task tick dispatches
//! them, the demo grid worker finds tasks of their own grid, and loading it
//! again adds nothing.

use fanzha_app::crypto::{MasterKey, PasswordCost};
use fanzha_app::detect::leads::LeadQuery;
use fanzha_app::tasks::work::TaskQuery;
use fanzha_app::{App, AppConfig, ManualClock, StoreConfig};
use fanzha_core::Timestamp;
use std::sync::Arc;
use std::time::Duration;

const NOW: i64 = 1_767_225_600_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_activity_gives_leads_and_tasks_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = fanzha_app::open_store(&StoreConfig::Sqlite {
        path: dir.path().join("fanzha.db"),
    })
    .await
    .unwrap();
    let mut cfg = AppConfig::new(MasterKey::from_hex(&"ab".repeat(32)).unwrap());
    cfg.password_cost = PasswordCost {
        memory_kib: 64,
        iterations: 1,
    };
    cfg.intel.snapshot_dir = Some(dir.path().to_path_buf());
    cfg.detect.relay_poll_ms = 100;
    let app = App::new(store, cfg, Arc::new(ManualClock::new(Timestamp(NOW)))).unwrap();
    app.migrate().await.unwrap();
    app.load_demo(2026, 3_000).await.unwrap();

    let first = app.load_demo_activity().await.unwrap();
    assert_eq!(first.indicators, 12);
    assert!(first.people >= 4, "{first:?}");
    assert!(first.events >= first.people, "{first:?}");

    app.start_pipeline().await.unwrap();
    let login = |name: &'static str| {
        let app = app.clone();
        async move {
            let ok = app
                .login(name, fanzha_app::demo::DEMO_PASSWORD, "127.0.0.1", "test")
                .await
                .unwrap();
            app.session_actor(&ok.token, "127.0.0.1").await.unwrap()
        }
    };
    let analyst = login("analyst").await;
    // The pipeline raises one lead per demo person.
    let mut leads = 0;
    for _ in 0..300 {
        leads = app.leads(&analyst, &LeadQuery::default()).await.unwrap().total;
        if leads as usize >= first.people {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(leads as usize, first.people, "one lead per demo person");
    app.tasks_tick().await.unwrap();
    let all = app.list_tasks(&analyst, &TaskQuery::default()).await.unwrap();
    assert_eq!(all.total as usize, first.people, "one task per lead");
    assert!(
        all.items
            .iter()
            .any(|t| t.item.row.grade != all.items[0].item.row.grade),
        "the demo shows more than one grade"
    );
    let grid = login("grid").await;
    let mine = app.list_tasks(&grid, &TaskQuery::default()).await.unwrap();
    assert_eq!(mine.total, 2, "two demo tasks in the demo grid worker's grid");

    // Loading again adds nothing.
    let again = app.load_demo_activity().await.unwrap();
    assert_eq!((again.indicators, again.events), (0, 0), "{again:?}");
    app.stop_pipeline().await;
}
