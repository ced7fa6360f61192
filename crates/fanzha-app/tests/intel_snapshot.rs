//! The live index at start-up: loaded from `intel.idx` when the store
//! generation beside it is current, rebuilt when it is stale, damaged or
//! unreadable (logged, never a crash); and rebuilt in the background after
//! changes.

mod intel_app;

use fanzha_app::intel::lookup::Verdict;
use fanzha_app::intel::service::IndicatorForm;
use fanzha_app::intel::state::{SNAPSHOT_FILE, SNAPSHOT_META_FILE};
use fanzha_store::IndicatorStatus;
use intel_app::{analyst, sqlite_app, sqlite_app_in};
use std::time::Duration;

fn confirmed(value: &str) -> IndicatorForm {
    IndicatorForm {
        value: value.into(),
        status: Some(IndicatorStatus::Confirmed),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_is_loaded_when_current_and_rebuilt_otherwise() {
    let a = analyst();
    let t = sqlite_app().await;
    let info = t.app.start_intel().await.unwrap();
    assert!(!info.from_snapshot, "a fresh install builds");
    for v in ["snap-one.top", "snap-two.top", "17300001111", "192.0.2.0/24"] {
        t.app.create_indicator(&a, &confirmed(v)).await.unwrap();
    }
    t.app.sync_intel().await.unwrap();
    t.app.stop_intel().await;
    let idx = t.dir.path().join(SNAPSHOT_FILE);
    let meta = t.dir.path().join(SNAPSHOT_META_FILE);
    assert!(idx.is_file() && meta.is_file());
    let generation = t.app.intel_index_info().generation;
    let dir = t.dir;
    drop(t.app);

    // A restart with nothing changed loads the file.
    let t = sqlite_app_in(dir, |_| {}).await;
    let info = t.app.start_intel().await.unwrap();
    assert!(info.from_snapshot);
    assert_eq!(info.generation, generation);
    assert_eq!(info.indicators, 4);
    for v in ["www.snap-one.top", "17300001111", "192.0.2.200"] {
        assert_eq!(
            t.app.lookup(&a, v, None).await.unwrap().verdict,
            Verdict::Flagged,
            "{v}"
        );
    }
    // A change moves the store on: the next start rebuilds.
    t.app
        .create_indicator(&a, &confirmed("snap-three.top"))
        .await
        .unwrap();
    let dir = t.dir;
    drop(t.app);
    let t = sqlite_app_in(dir, |_| {}).await;
    let info = t.app.start_intel().await.unwrap();
    assert!(!info.from_snapshot, "stale snapshot is rebuilt");
    assert_eq!(info.indicators, 5);
    t.app.stop_intel().await;
    let dir = t.dir;
    drop(t.app);

    // A damaged file (its meta still current): logged, rebuilt, answers right.
    let mut bytes = std::fs::read(dir.path().join(SNAPSHOT_FILE)).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 16] {
        *b ^= 0x5a;
    }
    std::fs::write(dir.path().join(SNAPSHOT_FILE), &bytes).unwrap();
    let t = sqlite_app_in(dir, |_| {}).await;
    let info = t.app.start_intel().await.unwrap();
    assert!(!info.from_snapshot, "a damaged snapshot is rebuilt");
    assert_eq!(info.indicators, 5);
    assert_eq!(
        t.app.lookup(&a, "snap-three.top", None).await.unwrap().verdict,
        Verdict::Flagged
    );
    t.app.stop_intel().await;
    let dir = t.dir;
    drop(t.app);

    // Garbage meta, a truncated file, a missing file: the same.
    std::fs::write(dir.path().join(SNAPSHOT_META_FILE), b"{not json").unwrap();
    let t = sqlite_app_in(dir, |_| {}).await;
    assert!(!t.app.start_intel().await.unwrap().from_snapshot);
    t.app.stop_intel().await;
    assert!(t.app.intel_index_info().generation > 0);
    let dir = t.dir;
    drop(t.app);
    let len = std::fs::metadata(dir.path().join(SNAPSHOT_FILE)).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join(SNAPSHOT_FILE))
        .unwrap();
    f.set_len(len / 3).unwrap();
    drop(f);
    let t = sqlite_app_in(dir, |_| {}).await;
    let info = t.app.start_intel().await.unwrap();
    assert!(!info.from_snapshot);
    assert_eq!(info.indicators, 5);
    let dir = t.dir;
    drop(t.app);
    std::fs::remove_file(dir.path().join(SNAPSHOT_FILE)).unwrap();
    let t = sqlite_app_in(dir, |_| {}).await;
    assert_eq!(t.app.start_intel().await.unwrap().indicators, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_task_rebuilds_after_changes() {
    let a = analyst();
    let dir = tempfile::tempdir().unwrap();
    let t = sqlite_app_in(dir, |c| {
        c.intel.rebuild_debounce_ms = 50;
        c.intel.sightings_flush_ms = 50;
    })
    .await;
    t.app.start_intel().await.unwrap();
    let before = t.app.intel_index_info().generation;
    t.app.create_indicator(&a, &confirmed("late.top")).await.unwrap();
    // Lookups answer from the old index until the swap, without waiting.
    let mut flagged = false;
    for _ in 0..100 {
        if t.app.lookup(&a, "late.top", None).await.unwrap().verdict == Verdict::Flagged {
            flagged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(flagged, "the background task rebuilt the index");
    assert!(t.app.intel_index_info().generation > before);
    // Sightings reach the store without an explicit flush.
    t.app.public_lookup("late.top", None, "192.0.2.1").await.unwrap();
    let mut seen = 0;
    for _ in 0..100 {
        let page = t.app.list_indicators(&a, &Default::default()).await.unwrap();
        seen = page.items[0].sightings;
        if seen > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, 1);
}
