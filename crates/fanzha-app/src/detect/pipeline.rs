//! The background task that turns durable events into signals and leads.
//!
//! One worker consumes every partition of the bus (one detector; the bus
//! keeps order per partition). Per batch it resolves each subscriber
//! through the resident directory, runs the detector, and commits signals,
//! lead raises and updates and the per-partition checkpoints in one
//! transaction; only then it acknowledges the batch. A failed commit is
//! retried with the same results (the detector is not run twice). On start
//! it rebuilds detector state by replaying the last rules window of
//! processed events without emitting anything, then resumes after the
//! checkpoints, so a restart neither loses nor repeats a lead.

use super::masking::sanitize_explanation;
use super::{Msg, cpu};
use crate::crypto::Field;
use crate::{App, AppError, Result};
use fanzha_bus::{Delivery, SubscribeSpec, Subscription, Transport, partition_of};
use fanzha_core::event::PartyRef;
use fanzha_core::{IndicatorKind, Timestamp, mask};
use fanzha_engine::detect::{
    CompiledRules, DetectContext, Detector, LeadAction, LeadDecision, Outcome, SignalEvidence,
};
use fanzha_engine::text::TextClassifier;
use fanzha_store::{
    AuditRecord, LeadUpdate, LeadWrite, LeadWriteOutcome, NewLead, NewSignal, PipelineCommit,
    ResidentsFingerprint, SealedPhone,
};
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// The pipeline's consumer name (its checkpoints and bus group).
pub const PIPELINE_CONSUMER: &str = "pipeline";
/// The setting that remembers the partition count the checkpoints are for.
const PARTITIONS_SETTING: &str = "pipeline.partitions";
/// How long a fetch waits for events before the worker does housekeeping.
const IDLE: Duration = Duration::from_millis(200);
/// How often idle state is evicted from the detector.
const EVICT_EVERY: Duration = Duration::from_secs(60);
/// Events read per page while replaying.
const REPLAY_PAGE: usize = 4_096;

/// What the pipeline has done since the process started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PipelineStatus {
    pub running: bool,
    /// Events judged (replays excluded).
    pub events: u64,
    /// Events replayed on start to rebuild state.
    pub replayed: u64,
    /// Stored events that could not be opened (wrong key, damage).
    pub undecodable: u64,
    pub signals: u64,
    pub leads_raised: u64,
    pub leads_updated: u64,
    pub batches: u64,
    pub commit_failures: u64,
    /// Batches whose results were refused by the store and dropped.
    pub dropped_batches: u64,
    pub rules_version: i64,
    pub persons_tracked: u64,
    pub directory_keys: u64,
    /// Every event up to this seq is processed.
    pub watermark: i64,
    /// The highest seq handed to the bus in this process.
    pub published: i64,
    pub last_error: Option<String>,
}

/// One batch's results, ready to commit.
#[derive(Default)]
struct BatchOut {
    signals: Vec<NewSignal>,
    leads: Vec<LeadWrite>,
    sightings: Vec<i64>,
    parts: BTreeSet<usize>,
    events: u64,
    undecodable: u64,
}

struct Worker {
    app: Weak<App>,
    sub: Box<dyn Subscription<Msg>>,
    det: Detector,
    classifier: Arc<TextClassifier>,
    rules_version: i64,
    rules_gen: u64,
    ckpt: Vec<i64>,
    out: Outcome,
    max_ts: Timestamp,
    floor: i64,
    last_evict: Instant,
    last_rules_poll: Instant,
    last_dir_poll: Instant,
    last_relay: Instant,
    fingerprint: ResidentsFingerprint,
    refreshing: Arc<AtomicBool>,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn milli(x: f32) -> i64 {
    if x.is_finite() {
        (f64::from(x) * 1000.0).round() as i64
    } else {
        0
    }
}

/// The indicator a signal matched, for sightings.
fn indicator_of(e: &SignalEvidence) -> Option<i64> {
    match e {
        SignalEvidence::Indicator { indicator_id, .. } | SignalEvidence::LongCall { indicator_id, .. } => {
            Some(*indicator_id)
        }
        _ => None,
    }
}

impl App {
    /// Starts the pipeline once (later calls return at once): the intel
    /// index, the rules, the text classifier, the resident directory, the
    /// replay of the last window, then the background task. Needs a tokio
    /// runtime.
    pub async fn start_pipeline(&self) -> Result<()> {
        self.detect
            .started
            .get_or_try_init(|| async { self.launch_pipeline().await })
            .await?;
        Ok(())
    }

    /// Stops the background task after its current batch (what it committed
    /// stays; the rest is processed after the next start).
    pub async fn stop_pipeline(&self) {
        self.detect.stop.store(true, Ordering::SeqCst);
        let handle = lock(&self.detect.worker).take();
        if let Some(h) = handle {
            let _ = tokio::time::timeout(Duration::from_secs(30), h).await;
        }
    }

    async fn launch_pipeline(&self) -> Result<()> {
        self.ensure_intel().await?;
        let (rules, rules_version) = self.ensure_rules().await?;
        let classifier = self.text_classifier().await?;
        self.refresh_directory().await?;
        let fingerprint = self.store.residents_fingerprint().await?;
        let partitions = self.detect.bus.partitions();
        let mut ckpt = vec![0i64; partitions as usize];
        let stored = self.store.checkpoints(PIPELINE_CONSUMER).await?;
        let same_layout = self
            .store
            .get_setting(PARTITIONS_SETTING)
            .await?
            .is_none_or(|v| v == partitions.to_string());
        if same_layout {
            for (p, s) in &stored {
                if let Some(c) = ckpt.get_mut(*p as usize) {
                    *c = *s;
                }
            }
        } else {
            // The partitions changed: resume everywhere from the lowest
            // checkpoint (writes are idempotent, so repeats are harmless).
            let low = stored.iter().map(|(_, s)| *s).min().unwrap_or(0);
            tracing::warn!(
                partitions,
                low,
                "partition count changed; resuming from the lowest checkpoint"
            );
            ckpt.iter_mut().for_each(|c| *c = low);
        }
        if !same_layout || stored.is_empty() {
            let audit = self.audit_system(
                "system",
                "setting.set",
                format!("setting:{PARTITIONS_SETTING}"),
                "",
                "",
            );
            self.store
                .set_setting(PARTITIONS_SETTING, &partitions.to_string(), &audit)
                .await?;
        }
        let floor = self.store.event_head().await?;
        let mut det = Detector::new(rules);
        let mut max_ts = Timestamp(0);
        if self.cfg.detect.replay_on_start {
            max_ts = self.replay_window(&mut det, &ckpt, &classifier).await?;
        }
        let resume = ckpt
            .iter()
            .enumerate()
            .map(|(p, s)| (p as u32, (*s).max(0) as u64))
            .collect();
        let sub = self
            .detect
            .bus
            .subscribe(SubscribeSpec::single(PIPELINE_CONSUMER, resume))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?;
        {
            let mut st = lock(&self.detect.status);
            st.running = true;
            st.rules_version = rules_version;
            st.directory_keys = self.directory().len() as u64;
        }
        let now = Instant::now();
        let worker = Worker {
            app: self.detect_me(),
            sub,
            det,
            classifier,
            rules_version,
            rules_gen: self.detect.rules_gen.load(Ordering::SeqCst),
            ckpt,
            out: Outcome::default(),
            max_ts,
            floor,
            last_evict: now,
            last_rules_poll: now,
            last_dir_poll: now,
            last_relay: now,
            fingerprint,
            refreshing: Arc::new(AtomicBool::new(false)),
        };
        self.detect.stop.store(false, Ordering::SeqCst);
        let handle = tokio::spawn(worker.run());
        *lock(&self.detect.worker) = Some(handle);
        tracing::info!(partitions, rules_version, floor, "detection pipeline started");
        Ok(())
    }

    /// Rebuilds detector state from the events of the last rules window that
    /// were processed before (at or below their partition's checkpoint),
    /// without emitting; returns the newest event time seen.
    async fn replay_window(
        &self,
        det: &mut Detector,
        ckpt: &[i64],
        classifier: &Arc<TextClassifier>,
    ) -> Result<Timestamp> {
        let Some(&top) = ckpt.iter().max() else {
            return Ok(Timestamp(0));
        };
        if top <= 0 {
            return Ok(Timestamp(0));
        }
        let Some(anchor) = self.store.events_by_seqs(&[top]).await?.into_iter().next() else {
            return Ok(Timestamp(0));
        };
        let window_ms = i64::from(det.rules().window_s) * 1000;
        let cutoff = Timestamp(anchor.ts.0.saturating_sub(window_ms));
        let Some(first) = self.store.first_seq_since(cutoff).await? else {
            return Ok(Timestamp(0));
        };
        let cap = i64::try_from(self.cfg.detect.replay_max_events).unwrap_or(i64::MAX);
        let mut after = (first - 1).max(top.saturating_sub(cap));
        let started = Instant::now();
        let parts = ckpt.len() as u32;
        let mut replayed = 0u64;
        let mut max_ts = Timestamp(0);
        let mut out = Outcome::default();
        let dir = self.directory();
        'pages: loop {
            let page = self.store.events_after(after, REPLAY_PAGE).await?;
            if page.is_empty() {
                break;
            }
            let index = self.intel_index().snapshot();
            let allow = self.intel.allow.snapshot();
            let allow_fn = move |k: IndicatorKind, v: &str| allow.for_each_hit(k, v, |_| {}) > 0;
            let ctx = DetectContext::new(&index)
                .with_classifier(classifier)
                .with_allow(&allow_fn);
            let cipher = &self.cipher;
            let done = cpu(|| {
                for e in &page {
                    if e.seq > top {
                        return true;
                    }
                    let key = e.person_key as u64;
                    let p = partition_of(key, parts) as usize;
                    if ckpt.get(p).is_none_or(|c| e.seq > *c) {
                        continue;
                    }
                    let Some(ev) = super::decode_stored(cipher, &e.payload) else {
                        continue;
                    };
                    max_ts = max_ts.max(ev.ts);
                    det.process_into(&ctx, &ev, e.seq as u64, dir.attrs(key), &mut out);
                    replayed += 1;
                }
                false
            });
            after = page.last().map_or(after, |e| e.seq);
            if done {
                break 'pages;
            }
        }
        lock(&self.detect.status).replayed += replayed;
        tracing::info!(
            replayed,
            persons = det.persons_tracked(),
            ms = started.elapsed().as_millis() as u64,
            "detector state rebuilt from the last window"
        );
        Ok(max_ts)
    }

    /// A weak handle on the app, for the background task.
    fn detect_me(&self) -> Weak<App> {
        self.detect.me.clone()
    }

    /// Writes what a lead decision means for the store.
    fn lead_write(
        &self,
        msg: &super::Ingested,
        seq: i64,
        d: LeadDecision,
        dir: &super::Directory,
    ) -> Result<LeadWrite> {
        let explanation = serde_json::to_value(&d.explanation)
            .map(sanitize_explanation)
            .map(|v| v.to_string())
            .unwrap_or_else(|_| "{}".into());
        let mut seqs: Vec<i64> = d
            .explanation
            .signals
            .iter()
            .map(|s| s.event_seq as i64)
            .chain(
                d.explanation
                    .chains
                    .iter()
                    .flat_map(|c| c.event_seqs.iter().map(|s| *s as i64)),
            )
            .collect();
        seqs.push(seq);
        seqs.sort_unstable();
        seqs.dedup();
        let person_key = msg.person_key as i64;
        Ok(match d.action {
            LeadAction::Raise => {
                let (field, masked) = match msg.event.as_ref().map(|e| e.subscriber()) {
                    Some(PartyRef::Account(..)) => (Field::Account, mask::keep_ends(&d.subscriber, 4, 4)),
                    _ => (Field::Phone, mask::phone(&d.subscriber)),
                };
                let person = dir.get(msg.person_key);
                LeadWrite::Raise(Box::new(NewLead {
                    person_key,
                    subscriber_kind: d.subscriber_kind.to_string(),
                    subscriber: SealedPhone {
                        enc: self.cipher.seal(field, &d.subscriber)?,
                        bidx: msg.bidx.to_vec(),
                        masked,
                    },
                    name: None,
                    resident_id: person.map(|p| p.resident_id),
                    node_id: dir.node_of(msg.person_key),
                    grade: d.grade,
                    score_milli: milli(d.score),
                    fraud_type: d.fraud_type,
                    source: fanzha_store::LeadSource::Engine,
                    upstream_id: None,
                    rules_version: Some(i64::from(d.rules_version)),
                    opened_at: d.opened_at,
                    raised_seq: Some(seq),
                    explanation,
                    event_seqs: seqs,
                    note: String::new(),
                }))
            }
            LeadAction::Update => LeadWrite::Update(LeadUpdate {
                person_key,
                seq,
                grade: d.grade,
                score_milli: milli(d.score),
                fraud_type: d.fraud_type,
                rules_version: Some(i64::from(d.rules_version)),
                explanation,
                event_seqs: seqs,
                at: self.now(),
            }),
        })
    }
}

impl Worker {
    async fn run(mut self) {
        loop {
            let stop = match self.app.upgrade() {
                Some(app) => app.detect.stop.load(Ordering::SeqCst),
                None => true,
            };
            if stop {
                break;
            }
            let batch = match self.sub.fetch(self.batch_max(), IDLE).await {
                Ok(b) => b,
                Err(fanzha_bus::BusError::Closed) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "pipeline fetch failed");
                    self.note_error(e.to_string());
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let Some(app) = self.app.upgrade() else { break };
            self.housekeeping(&app).await;
            if !batch.is_empty() {
                self.handle(&app, batch).await;
            }
            self.update_watermark(&app);
        }
        if let Some(app) = self.app.upgrade() {
            lock(&app.detect.status).running = false;
            app.detect.stopped.notify_waiters();
        }
    }

    fn batch_max(&self) -> usize {
        self.app.upgrade().map_or(1024, |a| a.cfg.detect.batch_max.max(1))
    }

    fn note_error(&self, e: String) {
        if let Some(app) = self.app.upgrade() {
            lock(&app.detect.status).last_error = Some(e);
        }
    }

    /// Rules changes, resident changes, events stored by other processes,
    /// idle-state eviction.
    async fn housekeeping(&mut self, app: &Arc<App>) {
        let cfg = &app.cfg.detect;
        let local = app.detect.rules_gen.load(Ordering::SeqCst);
        let poll = self.last_rules_poll.elapsed() >= Duration::from_secs(cfg.rules_poll_secs.max(1));
        if local != self.rules_gen || poll {
            self.last_rules_poll = Instant::now();
            self.rules_gen = local;
            match app.store.active_rules().await {
                Ok(Some(r)) if r.version != self.rules_version => match super::rules::compile_stored(&r) {
                    Ok(c) => self.switch_rules(app, c, r.version),
                    Err(e) => {
                        tracing::error!(version = r.version, error = %e, "active rules do not compile; keeping the current ones")
                    }
                },
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not read the active rules"),
            }
        }
        let dir_poll = self.last_dir_poll.elapsed() >= Duration::from_secs(cfg.directory_refresh_secs.max(1));
        if dir_poll {
            self.last_dir_poll = Instant::now();
            match app.store.residents_fingerprint().await {
                Ok(f) if f != self.fingerprint => {
                    self.fingerprint = f;
                    app.residents_changed();
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not check residents"),
            }
        }
        if app.detect.directory_dirty.load(Ordering::SeqCst) && !self.refreshing.swap(true, Ordering::SeqCst)
        {
            let weak = Arc::downgrade(app);
            let flag = self.refreshing.clone();
            tokio::spawn(async move {
                if let Some(app) = weak.upgrade() {
                    if let Err(e) = app.refresh_directory().await {
                        tracing::warn!(error = %e, "could not rebuild the resident directory");
                    } else {
                        lock(&app.detect.status).directory_keys = app.directory().len() as u64;
                    }
                }
                flag.store(false, Ordering::SeqCst);
            });
        }
        if self.last_relay.elapsed() >= Duration::from_millis(cfg.relay_poll_ms.max(50)) {
            self.last_relay = Instant::now();
            if let Err(e) = self.relay(app).await {
                tracing::warn!(error = %e, "could not relay events stored elsewhere");
            }
        }
        if self.last_evict.elapsed() >= EVICT_EVERY && self.max_ts.0 > 0 {
            self.last_evict = Instant::now();
            let n = self.det.evict_idle(self.max_ts);
            lock(&app.detect.status).persons_tracked = self.det.persons_tracked() as u64;
            if n > 0 {
                tracing::debug!(evicted = n, "idle persons evicted");
            }
        }
    }

    fn switch_rules(&mut self, app: &App, rules: Arc<CompiledRules>, version: i64) {
        self.det.set_rules(rules);
        self.rules_version = version;
        lock(&app.detect.status).rules_version = version;
        tracing::info!(version, "rules switched");
    }

    /// Hands over events another process stored (the bus only carries what
    /// this process ingested).
    async fn relay(&mut self, app: &App) -> Result<()> {
        let head = app.store.event_head().await?;
        let from = (app.detect.bus.last_published() as i64).max(self.floor);
        if head <= from {
            return Ok(());
        }
        let _order = app.detect.ingest_lock.lock().await;
        let mut after = (app.detect.bus.last_published() as i64).max(self.floor);
        while after < head {
            let page = app.store.events_after(after, REPLAY_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            let cipher = app.cipher.clone();
            let records = cpu(|| {
                page.iter()
                    .map(|r| fanzha_bus::Record {
                        offset: r.seq as u64,
                        key: r.person_key as u64,
                        message: Arc::new(super::Ingested::decode(&cipher, r)),
                    })
                    .collect::<Vec<_>>()
            });
            app.detect
                .bus
                .publish(records)
                .await
                .map_err(|e| AppError::Internal(e.to_string()))?;
        }
        Ok(())
    }

    /// Runs the detector over a batch (CPU only).
    fn detect(&mut self, app: &App, batch: &[Delivery<Msg>]) -> Result<BatchOut> {
        let index = app.intel_index().snapshot();
        let allow = app.intel.allow.snapshot();
        let allow_fn = move |k: IndicatorKind, v: &str| allow.for_each_hit(k, v, |_| {}) > 0;
        let classifier = self.classifier.clone();
        let ctx = DetectContext::new(&index)
            .with_classifier(&classifier)
            .with_allow(&allow_fn);
        let dir = app.directory();
        let mut b = BatchOut::default();
        for d in batch {
            let p = d.partition as usize;
            let seq = d.offset as i64;
            let Some(c) = self.ckpt.get_mut(p) else { continue };
            if seq <= *c {
                continue;
            }
            *c = seq;
            b.parts.insert(p);
            let Some(ev) = &d.message.event else {
                b.undecodable += 1;
                continue;
            };
            b.events += 1;
            self.max_ts = self.max_ts.max(ev.ts);
            let key = d.message.person_key;
            self.det
                .process_into(&ctx, ev, d.offset, dir.attrs(key), &mut self.out);
            // One sighting per indicator per event (a long call with a
            // flagged number raises two signals on the same indicator).
            let seen_from = b.sightings.len();
            for (i, s) in self.out.signals.iter().enumerate() {
                if let Some(id) = indicator_of(&s.evidence)
                    && !b.sightings[seen_from..].contains(&id)
                {
                    b.sightings.push(id);
                }
                b.signals.push(NewSignal {
                    seq,
                    position: i as i64,
                    person_key: key as i64,
                    signal: s.signal.code().to_string(),
                    fraud_type: s.fraud_type,
                    weight_milli: milli(s.weight),
                    evidence: serde_json::to_string(&s.evidence).unwrap_or_else(|_| "{}".into()),
                });
            }
            if let Some(dec) = self.out.decision.take() {
                b.leads.push(app.lead_write(&d.message, seq, dec, &dir)?);
            }
        }
        Ok(b)
    }

    async fn handle(&mut self, app: &Arc<App>, batch: Vec<Delivery<Msg>>) {
        // What to acknowledge once the results are durable: the highest
        // offset delivered per partition (repeats below the checkpoint too).
        let mut acks: Vec<(u32, u64)> = Vec::new();
        for d in &batch {
            match acks.iter_mut().find(|(p, _)| *p == d.partition) {
                Some(a) => a.1 = a.1.max(d.offset),
                None => acks.push((d.partition, d.offset)),
            }
        }
        let out = match cpu(|| self.detect(app, &batch)) {
            Ok(o) => o,
            Err(e) => {
                // Sealing failed (the random source): keep going without leads.
                tracing::error!(error = %e, "pipeline batch failed");
                self.note_error(e.to_string());
                BatchOut::default()
            }
        };
        if out.parts.is_empty() {
            for (p, o) in acks {
                let _ = self.sub.ack(p, o).await;
            }
            return;
        }
        let checkpoints: Vec<(u32, i64)> = out.parts.iter().map(|p| (*p as u32, self.ckpt[*p])).collect();
        let audit = AuditRecord {
            at: app.now(),
            actor_id: 0,
            actor: "engine".into(),
            action: "lead".into(),
            target: String::new(),
            detail: String::new(),
            ip: String::new(),
        };
        let mut commit = PipelineCommit {
            consumer: PIPELINE_CONSUMER.to_string(),
            checkpoints,
            signals: out.signals,
            leads: out.leads,
            audit,
        };
        let n_signals = commit.signals.len() as u64;
        let mut backoff = Duration::from_millis(50);
        let outcomes = loop {
            match app.store.commit_pipeline(commit.clone()).await {
                Ok(o) => break o,
                Err(e) if e.is_invalid() || e.is_conflict() => {
                    tracing::error!(
                        error = %e,
                        signals = commit.signals.len(),
                        leads = commit.leads.len(),
                        "the store refused a pipeline batch; its results are dropped"
                    );
                    lock(&app.detect.status).dropped_batches += 1;
                    self.note_error(e.to_string());
                    commit.signals.clear();
                    commit.leads.clear();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "pipeline commit failed; retrying");
                    {
                        let mut st = lock(&app.detect.status);
                        st.commit_failures += 1;
                        st.last_error = Some(e.to_string());
                    }
                    if app.detect.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        };
        for (p, o) in acks {
            let _ = self.sub.ack(p, o).await;
        }
        app.record_sightings(&out.sightings);
        let mut st = lock(&app.detect.status);
        st.batches += 1;
        st.events += out.events;
        st.undecodable += out.undecodable;
        st.signals += n_signals;
        for o in &outcomes {
            match o {
                LeadWriteOutcome::Raised(_) => st.leads_raised += 1,
                LeadWriteOutcome::Updated(_) => st.leads_updated += 1,
                _ => {}
            }
        }
        st.persons_tracked = self.det.persons_tracked() as u64;
        drop(st);
        // New or regraded leads: dispatch them now rather than at the next tick.
        if outcomes
            .iter()
            .any(|o| matches!(o, LeadWriteOutcome::Raised(_) | LeadWriteOutcome::Updated(_)))
        {
            app.wake_tasks();
        }
    }

    /// Everything published is processed when nothing waits in the bus.
    fn update_watermark(&self, app: &App) {
        let last = app.detect.bus.last_published() as i64;
        let clean = app
            .detect
            .bus
            .status(PIPELINE_CONSUMER)
            .iter()
            .all(|s| s.queued == 0 && !s.from_log && s.delivered == s.acked);
        if clean {
            let w = last.max(self.floor);
            app.detect.watermark.send_if_modified(|cur| {
                if w > *cur {
                    *cur = w;
                    true
                } else {
                    false
                }
            });
        }
    }
}
