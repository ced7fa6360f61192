//! The intelligence base at run time: its settings ([`IntelConfig`]), the
//! live match index and the allowlist matcher the app owns, and the
//! background task that keeps them current.
//!
//! * **Start.** [`App::start_intel`] syncs the built-in allowlist, then loads
//!   the index from `intel.idx` in the snapshot directory when the store
//!   generation recorded beside it (`intel.idx.meta`) is the store's current
//!   one, and otherwise builds it from the store and saves it. A damaged or
//!   unreadable snapshot is logged and rebuilt, never fatal. Use cases that
//!   need the index start it on first use, so calling `start_intel` is only
//!   needed to do the work up front (the server does).
//! * **Changes.** Every intel write marks the index dirty; the background
//!   task rebuilds at most every `rebuild_debounce_ms` while it is dirty,
//!   and swaps the new snapshot in. Lookups read whatever snapshot is current
//!   and never wait. The task also rebuilds when the store generation moved
//!   (another node of a cluster changed intel), when the index is older than
//!   `max_index_age_secs` (so indicators whose validity starts later join
//!   it), expires indicators whose validity ended, flushes buffered
//!   sightings and saves the snapshot now and then.
//! * **What the index holds.** Active indicators valid at the build time
//!   (see [`fanzha_store::intel`]), except values the allowlist covers, with
//!   the same matching as lookups: a domain entry covers its subdomains, an
//!   IP network its addresses.

use super::allowlist::builtin_entries;
use super::ratelimit::{RateLimit, RateLimiter};
use crate::{App, AppError, Result};
use fanzha_core::{FraudType, IndicatorKind, Timestamp};
use fanzha_engine::index::{IndexBuilder, IndexSnapshot, LiveIndex};
use fanzha_store::{AllowEntry, Lifetimes};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OnceCell};

/// The snapshot file in [`IntelConfig::snapshot_dir`].
pub const SNAPSHOT_FILE: &str = "intel.idx";
/// The store generation and build time of the snapshot, beside it.
pub const SNAPSHOT_META_FILE: &str = "intel.idx.meta";
/// Indicators read from the store per page while building.
const BUILD_PAGE: usize = 20_000;

/// Settings of the intelligence base. The binary fills them (defaults from
/// [`IntelConfig::default`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IntelConfig {
    /// Default validity per kind of new indicators without an end.
    pub lifetimes: Lifetimes,
    /// Confidence of an analyst's new indicator when the form gives none.
    pub analyst_confidence: u8,
    /// Confidence of imported indicators whose file gives none.
    pub import_confidence: u8,
    /// Confidence of the pending indicator a public report creates.
    pub report_confidence: u8,
    /// A pending indicator counts for the public lookup only from this
    /// confidence on (and never when it came from a public report, so that
    /// reports cannot flag a number by themselves).
    pub public_pending_min_confidence: u8,
    /// Where `intel.idx` lives (the data directory); `None` keeps the index
    /// in memory only.
    pub snapshot_dir: Option<PathBuf>,
    /// Shortest time between two rebuilds while changes keep coming.
    pub rebuild_debounce_ms: u64,
    /// How often the store generation is compared with the index's.
    pub generation_poll_ms: u64,
    /// Rebuild an index older than this even without changes.
    pub max_index_age_secs: u64,
    /// Shortest time between two snapshot saves.
    pub snapshot_save_interval_secs: u64,
    /// How often ended indicators are marked expired.
    pub expire_interval_secs: u64,
    /// How often buffered sightings are written.
    pub sightings_flush_ms: u64,
    /// Buffered distinct indicators that trigger a write before the period.
    pub sightings_flush_count: usize,
    /// Public lookups per address.
    pub public_lookup_rate: RateLimit,
    /// Public reports per address.
    pub public_report_rate: RateLimit,
    /// Most values in one batch lookup.
    pub max_batch_lookup: usize,
    /// Longest report description, in characters.
    pub max_report_chars: usize,
    /// Rows stored per transaction during an import.
    pub import_chunk: usize,
    /// The RPZ zone name of exports (absolute).
    pub rpz_origin: String,
}

impl Default for IntelConfig {
    fn default() -> Self {
        IntelConfig {
            lifetimes: Lifetimes::default(),
            analyst_confidence: 80,
            import_confidence: 70,
            report_confidence: 30,
            public_pending_min_confidence: 80,
            snapshot_dir: None,
            rebuild_debounce_ms: 500,
            generation_poll_ms: 5_000,
            max_index_age_secs: 3_600,
            snapshot_save_interval_secs: 300,
            expire_interval_secs: 60,
            sightings_flush_ms: 1_000,
            sightings_flush_count: 1_000,
            public_lookup_rate: RateLimit {
                burst: 20,
                per_minute: 30,
            },
            public_report_rate: RateLimit {
                burst: 3,
                per_minute: 1,
            },
            max_batch_lookup: 10_000,
            max_report_chars: 2_000,
            import_chunk: 2_000,
            rpz_origin: "rpz.fanzha.local.".into(),
        }
    }
}

/// What the current index was built from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexInfo {
    /// The store generation it reflects (0: not built yet).
    pub generation: i64,
    pub built_at: Timestamp,
    pub indicators: u64,
    /// Active indicators left out because the allowlist covers them.
    pub allowlisted: u64,
    /// Active indicators the index could not take (logged).
    pub unusable: u64,
    pub allow_entries: u64,
    /// Loaded from the snapshot file rather than built.
    pub from_snapshot: bool,
}

/// The meta file beside the snapshot.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SnapshotMeta {
    generation: i64,
    built_at: Timestamp,
    indicators: u64,
    allowlisted: u64,
    unusable: u64,
    format_version: u32,
}

/// The run-time state of the intelligence base, owned by [`App`].
pub(crate) struct IntelState {
    pub(crate) index: LiveIndex,
    /// The allowlist as an index (ids are allowlist entry ids).
    pub(crate) allow: LiveIndex,
    pub(crate) info: Mutex<IndexInfo>,
    dirty: AtomicBool,
    notify: Arc<Notify>,
    started: OnceCell<()>,
    build_lock: tokio::sync::Mutex<()>,
    /// Sightings waiting to be written: id → (count, last time).
    sightings: Mutex<HashMap<i64, (u32, Timestamp)>>,
    /// Single lookups by API token waiting to be audited, per user: the
    /// actor, lookups and flagged verdicts.
    lookup_tally: Mutex<HashMap<i64, (crate::Actor, u64, u64)>>,
    /// Recently read indicator rows for lookups; emptied by every intel
    /// change in this process, and trusted for [`ROW_CACHE_TTL`] at most.
    pub(crate) rows: Mutex<RowCache>,
    pub(crate) lookup_limiter: RateLimiter,
    pub(crate) report_limiter: RateLimiter,
    /// Generation of the last saved snapshot and when it was saved.
    saved: Mutex<(i64, Timestamp)>,
    /// The app itself, for the background task.
    me: Weak<App>,
}

/// How long a cached indicator row is trusted (changes made in this
/// process empty the cache at once; other processes' within this time).
pub(crate) const ROW_CACHE_TTL: Duration = Duration::from_secs(1);
/// Rows cached before the cache is emptied.
const ROW_CACHE_MAX: usize = 100_000;

/// Indicator rows by id, with when they were read.
#[derive(Default)]
pub(crate) struct RowCache {
    /// Bumped by every change: a read that began before it is not kept.
    pub(crate) epoch: u64,
    map: HashMap<i64, (Instant, fanzha_store::Indicator)>,
}

impl RowCache {
    pub(crate) fn get(&self, id: i64) -> Option<&fanzha_store::Indicator> {
        self.map
            .get(&id)
            .filter(|(at, _)| at.elapsed() < ROW_CACHE_TTL)
            .map(|(_, r)| r)
    }

    pub(crate) fn put(&mut self, epoch: u64, rows: &[fanzha_store::Indicator]) {
        if epoch != self.epoch {
            return;
        }
        if self.map.len() + rows.len() > ROW_CACHE_MAX {
            self.map.clear();
        }
        let now = Instant::now();
        for r in rows {
            self.map.insert(r.id, (now, r.clone()));
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl IntelState {
    pub(crate) fn new(cfg: &IntelConfig, me: Weak<App>) -> IntelState {
        IntelState {
            index: LiveIndex::default(),
            allow: LiveIndex::default(),
            info: Mutex::new(IndexInfo::default()),
            dirty: AtomicBool::new(false),
            notify: Arc::new(Notify::new()),
            started: OnceCell::new(),
            build_lock: tokio::sync::Mutex::new(()),
            sightings: Mutex::new(HashMap::new()),
            lookup_tally: Mutex::new(HashMap::new()),
            rows: Mutex::new(RowCache::default()),
            lookup_limiter: RateLimiter::new(cfg.public_lookup_rate),
            report_limiter: RateLimiter::new(cfg.public_report_rate),
            saved: Mutex::new((0, Timestamp(0))),
            me,
        }
    }

    /// Whether the allowlist covers `value` (same matching as the index).
    pub(crate) fn allow_hits(&self, kind: IndicatorKind, value: &str) -> Vec<i64> {
        let mut ids = Vec::new();
        self.allow.for_each_hit(kind, value, |h| ids.push(h.id));
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

fn build_allow(entries: &[AllowEntry]) -> IndexSnapshot {
    let mut b = IndexBuilder::with_capacity(entries.len(), 0);
    for e in entries {
        if let Err(err) = b.push(e.id, e.kind, &e.value, FraudType::Other, 0) {
            tracing::warn!(entry = e.id, error = %err, "allowlist entry cannot be indexed");
        }
    }
    b.finish()
}

impl App {
    /// Marks the index stale after an intel change; the background task
    /// rebuilds it shortly.
    pub(crate) fn intel_changed(&self) {
        {
            let mut rows = lock(&self.intel.rows);
            rows.epoch += 1;
            rows.map.clear();
        }
        self.intel.dirty.store(true, Ordering::SeqCst);
        self.intel.notify.notify_one();
    }

    /// What the current index was built from.
    pub fn intel_index_info(&self) -> IndexInfo {
        lock(&self.intel.info).clone()
    }

    /// The live index of indicators, for the event engine.
    pub fn intel_index(&self) -> &LiveIndex {
        &self.intel.index
    }

    /// Starts the intelligence base once: syncs the built-in allowlist,
    /// loads or builds the index and starts the background task. Later
    /// calls return at once. Needs a tokio runtime.
    pub async fn start_intel(&self) -> Result<IndexInfo> {
        self.intel
            .started
            .get_or_try_init(|| async {
                self.sync_builtin_allowlist().await?;
                self.load_or_build_index().await?;
                spawn_background(self.intel.me.clone(), self.intel.notify.clone());
                Ok::<(), AppError>(())
            })
            .await?;
        Ok(self.intel_index_info())
    }

    /// Starts the intelligence base when a use case needs it.
    pub(crate) async fn ensure_intel(&self) -> Result<()> {
        if self.intel.started.initialized() {
            return Ok(());
        }
        self.start_intel().await.map(|_| ())
    }

    async fn sync_builtin_allowlist(&self) -> Result<()> {
        let entries = builtin_entries();
        let audit = self.audit_system("system", "allow.builtin", "", "", "");
        let (added, removed) = self.store.sync_builtin_allowlist(&entries, &audit).await?;
        if added + removed > 0 {
            tracing::info!(added, removed, "built-in allowlist updated");
        }
        Ok(())
    }

    fn snapshot_paths(&self) -> Option<(PathBuf, PathBuf)> {
        self.cfg
            .intel
            .snapshot_dir
            .as_ref()
            .map(|d| (d.join(SNAPSHOT_FILE), d.join(SNAPSHOT_META_FILE)))
    }

    async fn load_or_build_index(&self) -> Result<()> {
        if let Some((idx, meta)) = self.snapshot_paths() {
            match self.try_load_snapshot(&idx, &meta).await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(reason) => {
                    tracing::error!(
                        path = %idx.display(),
                        error = %reason,
                        "the intel index snapshot cannot be used; rebuilding it from the store"
                    );
                }
            }
        }
        self.rebuild_index().await?;
        self.save_snapshot().await;
        Ok(())
    }

    /// Loads the snapshot when its generation is current: `Ok(false)` when it
    /// is missing or stale, `Err` when it is damaged.
    async fn try_load_snapshot(&self, idx: &Path, meta: &Path) -> std::result::Result<bool, String> {
        let meta_text = match std::fs::read_to_string(meta) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(format!("reading {}: {e}", meta.display())),
        };
        let m: SnapshotMeta =
            serde_json::from_str(&meta_text).map_err(|e| format!("the meta file is damaged: {e}"))?;
        let generation = self.store.intel_generation().await.map_err(|e| e.to_string())?;
        if m.generation != generation || m.format_version != fanzha_engine::index::FORMAT_VERSION {
            tracing::info!(
                snapshot = m.generation,
                store = generation,
                "the intel index snapshot is stale; rebuilding"
            );
            return Ok(false);
        }
        let _guard = self.intel.build_lock.lock().await;
        let entries = self.store.all_allow_entries().await.map_err(|e| e.to_string())?;
        let path = idx.to_path_buf();
        let snap = tokio::task::spawn_blocking(move || {
            let f = std::fs::File::open(&path).map_err(|e| format!("opening {}: {e}", path.display()))?;
            IndexSnapshot::load(std::io::BufReader::with_capacity(1 << 20, f)).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())??;
        let indicators = snap.len();
        self.intel.allow.replace(build_allow(&entries));
        self.intel.index.replace(snap);
        *lock(&self.intel.info) = IndexInfo {
            generation,
            built_at: m.built_at,
            indicators,
            allowlisted: m.allowlisted,
            unusable: m.unusable,
            allow_entries: entries.len() as u64,
            from_snapshot: true,
        };
        *lock(&self.intel.saved) = (generation, self.now());
        tracing::info!(generation, indicators, "intel index loaded from its snapshot");
        Ok(true)
    }

    /// Reloads the allowlist matcher from the store at once (an allowlist
    /// change must hold for lookups and exports before the index rebuild).
    pub(crate) async fn refresh_allow_matcher(&self) -> Result<()> {
        let entries = self.store.all_allow_entries().await?;
        self.intel.allow.replace(build_allow(&entries));
        Ok(())
    }

    /// Builds the allowlist matcher and the index from the store and swaps
    /// them in. One build runs at a time; lookups keep using the old index
    /// meanwhile.
    pub async fn rebuild_index(&self) -> Result<IndexInfo> {
        let _guard = self.intel.build_lock.lock().await;
        self.intel.dirty.store(false, Ordering::SeqCst);
        let started = std::time::Instant::now();
        let generation = self.store.intel_generation().await?;
        let now = self.now();
        let entries = self.store.all_allow_entries().await?;
        self.intel.allow.replace(build_allow(&entries));
        let allow = self.intel.allow.snapshot();
        let mut b = IndexBuilder::new();
        let (mut allowlisted, mut unusable) = (0u64, 0u64);
        let mut after = 0;
        loop {
            let page = self.store.active_indicators_page(now, after, BUILD_PAGE).await?;
            let short = page.len() < BUILD_PAGE;
            for a in &page {
                after = a.id;
                if allow.for_each_hit(a.kind, &a.value, |_| {}) > 0 {
                    allowlisted += 1;
                    continue;
                }
                if let Err(e) = b.push(a.id, a.kind, &a.value, a.fraud_type, a.confidence) {
                    unusable += 1;
                    tracing::warn!(indicator = a.id, error = %e, "indicator cannot be indexed");
                }
            }
            if short {
                break;
            }
        }
        let snap = tokio::task::spawn_blocking(move || b.finish())
            .await
            .map_err(|e| AppError::Internal(format!("index build failed: {e}")))?;
        let indicators = snap.len();
        self.intel.index.replace(snap);
        let info = IndexInfo {
            generation,
            built_at: now,
            indicators,
            allowlisted,
            unusable,
            allow_entries: entries.len() as u64,
            from_snapshot: false,
        };
        *lock(&self.intel.info) = info.clone();
        tracing::info!(
            generation,
            indicators,
            allowlisted,
            unusable,
            ms = started.elapsed().as_millis() as u64,
            "intel index built"
        );
        Ok(info)
    }

    /// Writes the current index and its meta file (atomically, through
    /// temporary files). Failures are logged: the snapshot only saves time.
    pub(crate) async fn save_snapshot(&self) {
        let Some((idx, meta)) = self.snapshot_paths() else {
            return;
        };
        let info = self.intel_index_info();
        if info.generation == 0 {
            return;
        }
        let snap = self.intel.index.snapshot();
        let m = SnapshotMeta {
            generation: info.generation,
            built_at: info.built_at,
            indicators: info.indicators,
            allowlisted: info.allowlisted,
            unusable: info.unusable,
            format_version: fanzha_engine::index::FORMAT_VERSION,
        };
        let res = tokio::task::spawn_blocking(move || write_snapshot(&snap, &m, &idx, &meta)).await;
        match res {
            Ok(Ok(bytes)) => {
                *lock(&self.intel.saved) = (info.generation, self.now());
                tracing::info!(generation = info.generation, bytes, "intel index snapshot saved");
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "could not save the intel index snapshot"),
            Err(e) => tracing::warn!(error = %e, "could not save the intel index snapshot"),
        }
    }

    /// Queues sightings of matched indicators (written in batches by the
    /// background task; telemetry, not audited).
    pub fn record_sightings(&self, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        let now = self.now();
        let full = {
            let mut s = lock(&self.intel.sightings);
            for id in ids {
                let e = s.entry(*id).or_insert((0, now));
                e.0 = e.0.saturating_add(1);
                e.1 = e.1.max(now);
            }
            s.len() >= self.cfg.intel.sightings_flush_count
        };
        if full {
            self.intel.notify.notify_one();
        }
    }

    /// Counts a single lookup by an API token; the counts are audited per
    /// user in one entry by the background task (as sightings are), so that
    /// a machine client's lookups cost no database write each.
    pub(crate) fn tally_lookup(&self, actor: &crate::Actor, flagged: bool) {
        let mut t = lock(&self.intel.lookup_tally);
        let e = t.entry(actor.user.id.0).or_insert_with(|| (actor.clone(), 0, 0));
        e.1 += 1;
        e.2 += u64::from(flagged);
    }

    /// Writes the tallied token lookups to the audit log, one entry per user.
    pub async fn flush_lookup_tally(&self) -> Result<usize> {
        let batch: Vec<(crate::Actor, u64, u64)> = std::mem::take(&mut *lock(&self.intel.lookup_tally))
            .into_values()
            .collect();
        for (actor, n, flagged) in &batch {
            let audit = self.audit(
                actor,
                "intel.lookup",
                "",
                format!("via=token lookups={n} flagged={flagged}"),
            );
            self.store.append_audit(&audit).await?;
        }
        Ok(batch.len())
    }

    /// Writes the buffered sightings; returns how many indicators were touched.
    pub async fn flush_sightings(&self) -> Result<u64> {
        let batch: Vec<(i64, u32, Timestamp)> = {
            let mut s = lock(&self.intel.sightings);
            std::mem::take(&mut *s)
                .into_iter()
                .map(|(id, (n, t))| (id, n, t))
                .collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        Ok(self.store.record_sightings(&batch).await?)
    }

    /// Marks indicators whose validity ended as expired (audited as the
    /// system); returns how many.
    pub async fn expire_intel(&self) -> Result<usize> {
        let now = self.now();
        let audit = self.audit_system("system", "intel.indicator.expire", "", "", "");
        let ids = self.store.expire_due(now, &audit).await?;
        if !ids.is_empty() {
            tracing::info!(count = ids.len(), "indicators expired");
            self.intel_changed();
        }
        Ok(ids.len())
    }

    /// Rebuilds the index now when changes are waiting (instead of after the
    /// debounce); returns whether it did. For the command line and tests.
    pub async fn sync_intel(&self) -> Result<bool> {
        self.ensure_intel().await?;
        let stale = self.intel.dirty.load(Ordering::SeqCst)
            || self.store.intel_generation().await? != self.intel_index_info().generation;
        if stale {
            self.rebuild_index().await?;
        }
        Ok(stale)
    }

    /// One round of the background task. Its cadence follows the machine's
    /// monotonic clock; what expires is decided by the app's clock.
    async fn background_tick(&self, last: &mut Ticks) {
        let c = &self.cfg.intel;
        let elapsed = |since: Instant, ms: u64| since.elapsed() >= Duration::from_millis(ms);
        let pending_sightings = lock(&self.intel.sightings).len();
        if pending_sightings > 0
            && (pending_sightings >= c.sightings_flush_count || elapsed(last.flush, c.sightings_flush_ms))
        {
            last.flush = Instant::now();
            if let Err(e) = self.flush_sightings().await {
                tracing::warn!(error = %e, "could not write sightings");
            }
        }
        if elapsed(last.tally, c.sightings_flush_ms) {
            last.tally = Instant::now();
            if let Err(e) = self.flush_lookup_tally().await {
                tracing::warn!(error = %e, "could not audit lookups");
            }
        }
        if last
            .expire
            .is_none_or(|t| elapsed(t, c.expire_interval_secs * 1000))
        {
            last.expire = Some(Instant::now());
            if let Err(e) = self.expire_intel().await {
                tracing::warn!(error = %e, "could not expire indicators");
            }
        }
        let mut rebuild =
            self.intel.dirty.load(Ordering::SeqCst) && elapsed(last.build, c.rebuild_debounce_ms);
        if !rebuild && elapsed(last.poll, c.generation_poll_ms) {
            last.poll = Instant::now();
            match self.store.intel_generation().await {
                Ok(g) => rebuild = g != self.intel_index_info().generation,
                Err(e) => tracing::warn!(error = %e, "could not read the intel generation"),
            }
        }
        if !rebuild && elapsed(last.build, c.max_index_age_secs * 1000) {
            rebuild = true;
        }
        if rebuild {
            last.build = Instant::now();
            if let Err(e) = self.rebuild_index().await {
                tracing::error!(error = %e, "intel index rebuild failed; the previous index stays in use");
                self.intel.dirty.store(true, Ordering::SeqCst);
            }
        }
        let saved_gen = lock(&self.intel.saved).0;
        if self.intel_index_info().generation != saved_gen
            && last
                .saved
                .is_none_or(|t| elapsed(t, c.snapshot_save_interval_secs * 1000))
        {
            last.saved = Some(Instant::now());
            self.save_snapshot().await;
        }
    }

    /// Flushes sightings and saves the snapshot if it moved on; for a clean
    /// shutdown.
    pub async fn stop_intel(&self) {
        if let Err(e) = self.flush_sightings().await {
            tracing::warn!(error = %e, "could not write sightings");
        }
        if let Err(e) = self.flush_lookup_tally().await {
            tracing::warn!(error = %e, "could not audit lookups");
        }
        let (saved_gen, _) = *lock(&self.intel.saved);
        if self.intel_index_info().generation != saved_gen {
            self.save_snapshot().await;
        }
    }
}

/// When the background task last did each job.
struct Ticks {
    flush: Instant,
    tally: Instant,
    expire: Option<Instant>,
    poll: Instant,
    build: Instant,
    saved: Option<Instant>,
}

/// The background task lives as long as the app: it holds only a weak
/// reference and ends when the app is dropped.
fn spawn_background(app: Weak<App>, notify: Arc<Notify>) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no runtime: the intel background task does not run");
        return;
    };
    handle.spawn(async move {
        let now = Instant::now();
        let mut last = Ticks {
            flush: now,
            tally: now,
            expire: None,
            poll: now,
            build: now,
            saved: Some(now),
        };
        loop {
            let tick = match app.upgrade() {
                Some(a) => {
                    a.background_tick(&mut last).await;
                    let c = &a.cfg.intel;
                    c.rebuild_debounce_ms.min(c.sightings_flush_ms).clamp(50, 1_000)
                }
                None => return,
            };
            tokio::select! {
                _ = notify.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(tick)) => {}
            }
        }
    });
}

fn write_snapshot(
    snap: &IndexSnapshot,
    meta: &SnapshotMeta,
    idx: &Path,
    meta_path: &Path,
) -> std::result::Result<u64, String> {
    use std::io::Write;
    let tmp = idx.with_extension("idx.tmp");
    // The meta goes first, so that a crash mid-way leaves no meta that
    // vouches for another file.
    match std::fs::remove_file(meta_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("removing {}: {e}", meta_path.display())),
    }
    let f = std::fs::File::create(&tmp).map_err(|e| format!("creating {}: {e}", tmp.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    let bytes = snap.save(&mut w).map_err(|e| e.to_string())?;
    w.flush().map_err(|e| e.to_string())?;
    w.into_inner()
        .map_err(|e| e.to_string())?
        .sync_all()
        .map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, idx).map_err(|e| format!("renaming to {}: {e}", idx.display()))?;
    let text = serde_json::to_string_pretty(meta).map_err(|e| e.to_string())?;
    let mtmp = meta_path.with_extension("meta.tmp");
    std::fs::write(&mtmp, text).map_err(|e| format!("writing {}: {e}", mtmp.display()))?;
    std::fs::rename(&mtmp, meta_path).map_err(|e| format!("renaming to {}: {e}", meta_path.display()))?;
    Ok(bytes)
}
