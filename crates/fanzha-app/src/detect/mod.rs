//! Real-time detection (DESIGN.md §4 "Data flow", §5): events in, leads out.
//!
//! ```text
//! POST /events, `fanzha ingest` ──► parse + validate per line ──► seal ──► store (one tx, ack)
//!     ──► bus (partitioned by person key) ──► pipeline: resolve person ─► Detector
//!     ──► signals, lead raise/update, sightings, checkpoint (one tx) ──► ack
//! ```
//!
//! * **Ingest** ([`ingest`]): every line is parsed and validated on its own;
//!   bad lines are reported with their number and reason, good lines kept.
//!   An event is *acknowledged* (counted in `accepted` of a 200 reply) only
//!   after the transaction that stores it committed. Ingest is idempotent by
//!   the event's `(source, id)`: a re-sent event is a `duplicate`.
//! * **Privacy at rest.** An event's content is sealed with the master key
//!   ([`crate::crypto::Field::Event`]); the person key is a keyed pseudonym:
//!   the first 8 bytes of the subscriber's blind index (for a phone, the same
//!   blind index the resident registry keeps, so the pipeline recognises
//!   residents without decrypting anything); the event id is kept as a keyed
//!   digest, led by a short digest of the id's stem so that ids a source
//!   gives in sequence lie together in the unique index (see [`ingest`]). No
//!   table holds a phone number or a text in the clear.
//! * **Pipeline** ([`App::start_pipeline`]): one background task consumes the
//!   bus in order per partition, resolves the subscriber to a resident
//!   (phone blind index → resident, cached in memory and refreshed when
//!   residents change), runs the [`Detector`](fanzha_engine::detect::Detector)
//!   with the live intel index, the allowlist and the text classifier (the
//!   lexicon, plus the model in [`DetectConfig::model_file`]), and commits a
//!   batch's signals, leads and checkpoints in one transaction before it
//!   acknowledges the batch. On start it rebuilds detector state by replaying
//!   the last rules window of processed events without emitting, then
//!   resumes after the checkpoints: every acknowledged event is processed and
//!   no lead is written twice (lead writes are idempotent by their deciding
//!   event too).
//! * **Rules as data** ([`rules`]): the active rules document lives in the
//!   store (the shipped default is saved as version 1 on first start);
//!   analysts replace it through the API, every save is validated, numbered
//!   and audited, and the pipeline switches to it between two events without
//!   dropping any. Every lead records the version that judged it.
//! * **Leads** ([`leads`]): engine leads, upper-level pushes (上级推送) imported
//!   from CSV/XLSX/JSON, and public reports whose reporter says they are
//!   being defrauded. A lead belongs to the resident's grid; leads of unknown
//!   subscribers belong to the county root (or [`DetectConfig::unknown_node`]),
//!   where the center's staff see them.
//! * **Backtest** ([`backtest`]): stored events replayed under candidate
//!   rules against the live ones.

pub mod backtest;
mod directory;
pub mod ingest;
pub mod leads;
mod masking;
mod pipeline;
pub mod rules;

use crate::crypto::{Field, FieldCipher};
use crate::{App, AppError, Result};
use fanzha_bus::{BusError, InProcessBus, InProcessConfig, Log, Offset, Record};
use fanzha_core::NodeId;
use fanzha_core::Timestamp;
use fanzha_core::event::{Event, ParseOptions, PartyRef, parse_event_line};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

pub use directory::Directory;
/// The stored records the detection use cases return.
pub use fanzha_store::{LeadSource, LeadStatus, LeadSummary, RulesVersion};
pub use pipeline::{PIPELINE_CONSUMER, PipelineStatus};

/// Settings of detection. The binary fills them (defaults from
/// [`DetectConfig::default`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DetectConfig {
    /// Partitions of the person key.
    pub partitions: u32,
    /// Events kept in memory per partition before the pipeline reads the log instead.
    pub queue_capacity: usize,
    /// Most events the pipeline handles (and commits) at once.
    pub batch_max: usize,
    /// Largest body of one `POST /events` (and chunk of `fanzha ingest`); more is refused (413).
    pub max_batch_bytes: usize,
    /// Longest SMS text or call transcript accepted, in bytes.
    pub max_text_bytes: usize,
    /// How far in the future an event's time may lie (clock skew), in seconds.
    pub max_future_skew_secs: i64,
    /// A trained text model (`fanzha train`) used beside the lexicon.
    pub model_file: Option<PathBuf>,
    /// Where leads of subscribers who are not residents go; default the
    /// first county root.
    pub unknown_node: Option<NodeId>,
    /// Grade of a lead from a public report of someone being defrauded now.
    pub public_report_grade: fanzha_core::Grade,
    /// Rebuild detector state from the last window of events on start.
    pub replay_on_start: bool,
    /// Most events replayed on start.
    pub replay_max_events: usize,
    /// How often the store is asked whether residents changed (other
    /// processes, imports), in seconds. Changes made through this app are
    /// seen at once.
    pub directory_refresh_secs: u64,
    /// How often the store is asked for the active rules version (other
    /// processes), in seconds.
    pub rules_poll_secs: u64,
    /// How often the store's event log is compared with what the bus carried
    /// (events stored by another process, e.g. `fanzha ingest`), in ms.
    pub relay_poll_ms: u64,
    /// Most events one backtest replays.
    pub backtest_max_events: usize,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            partitions: 8,
            queue_capacity: 65_536,
            batch_max: 4_096,
            max_batch_bytes: 8 * 1024 * 1024,
            max_text_bytes: fanzha_core::event::DEFAULT_MAX_TEXT_BYTES,
            max_future_skew_secs: 15 * 60,
            model_file: None,
            unknown_node: None,
            public_report_grade: fanzha_core::Grade::High,
            replay_on_start: true,
            replay_max_events: 5_000_000,
            directory_refresh_secs: 30,
            rules_poll_secs: 5,
            relay_poll_ms: 1_000,
            backtest_max_events: 5_000_000,
        }
    }
}

/// An event on the bus: decoded, with its keyed person key and the
/// subscriber's blind index. `event` is `None` when a stored event could
/// not be opened (wrong key, damaged row): the pipeline counts and skips it.
#[derive(Debug)]
pub struct Ingested {
    pub event: Option<Event>,
    pub person_key: u64,
    pub bidx: [u8; 16],
}

pub(crate) type Msg = Arc<Ingested>;

/// The subscriber's blind index: for a phone, the resident registry's phone
/// index; for an account, the index of `kind:value`.
pub(crate) fn subscriber_index(cipher: &FieldCipher, p: PartyRef<'_>) -> [u8; 16] {
    match p {
        PartyRef::Phone(ph) => cipher.blind_index16(Field::Phone, ph.as_bytes()),
        PartyRef::Account(kind, v) => {
            let mut s = String::with_capacity(v.len() + 20);
            s.push_str(kind.code());
            s.push(':');
            s.push_str(v);
            cipher.blind_index16(Field::Account, s.as_bytes())
        }
    }
}

/// The keyed person key of a blind index.
pub(crate) fn person_key_of(bidx: &[u8; 16]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bidx[..8]);
    u64::from_le_bytes(b)
}

/// The options a stored payload is parsed back with (it was validated on ingest).
fn stored_parse_options() -> ParseOptions {
    ParseOptions {
        now: Timestamp(i64::MAX / 4),
        max_future_skew_ms: 0,
        max_text_bytes: fanzha_core::event::MAX_LINE_BYTES,
    }
}

/// Opens and parses a stored event.
pub(crate) fn decode_stored(cipher: &FieldCipher, payload: &[u8]) -> Option<Event> {
    let bytes = cipher.open_bytes(Field::Event, payload).ok()?;
    parse_event_line(&bytes, &stored_parse_options()).ok()
}

impl Ingested {
    pub(crate) fn decode(cipher: &FieldCipher, stored: &fanzha_store::StoredEvent) -> Ingested {
        let event = decode_stored(cipher, &stored.payload);
        let bidx = match &event {
            Some(ev) => subscriber_index(cipher, ev.subscriber()),
            None => [0; 16],
        };
        Ingested {
            event,
            person_key: stored.person_key as u64,
            bidx,
        }
    }
}

/// The bus's durable log: the store's `events` table.
struct StoreLog {
    app: Weak<App>,
}

#[async_trait::async_trait]
impl Log<Msg> for StoreLog {
    async fn read_after(
        &self,
        after: Offset,
        limit: usize,
    ) -> std::result::Result<Vec<Record<Msg>>, BusError> {
        let app = self.app.upgrade().ok_or(BusError::Closed)?;
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let rows = app
            .store
            .events_after(after, limit)
            .await
            .map_err(|e| BusError::Log(e.to_string()))?;
        let cipher = app.cipher.clone();
        let decode = move || {
            rows.iter()
                .map(|r| Record {
                    offset: r.seq as u64,
                    key: r.person_key as u64,
                    message: Arc::new(Ingested::decode(&cipher, r)),
                })
                .collect::<Vec<_>>()
        };
        Ok(crate::detect::cpu(decode))
    }
    async fn head(&self) -> std::result::Result<Offset, BusError> {
        let app = self.app.upgrade().ok_or(BusError::Closed)?;
        let h = app
            .store
            .event_head()
            .await
            .map_err(|e| BusError::Log(e.to_string()))?;
        Ok(h.max(0) as u64)
    }
}

/// Runs CPU-heavy work without holding up other tasks on a multi-thread
/// runtime (inline elsewhere).
pub(crate) fn cpu<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// The run-time state of detection, owned by [`App`].
pub(crate) struct DetectState {
    /// The app itself, for background tasks.
    pub(crate) me: Weak<App>,
    pub(crate) bus: InProcessBus<Msg>,
    /// Serialises store-and-publish so that the bus sees offsets in order.
    pub(crate) ingest_lock: tokio::sync::Mutex<()>,
    pub(crate) started: tokio::sync::OnceCell<()>,
    /// Whether the log may hold events under the first id digest scheme.
    pub(crate) id_digest_legacy: tokio::sync::OnceCell<bool>,
    /// Bumped when this process saves or activates rules.
    pub(crate) rules_gen: AtomicU64,
    pub(crate) directory: Mutex<Arc<Directory>>,
    pub(crate) directory_dirty: AtomicBool,
    pub(crate) classifier: tokio::sync::OnceCell<Arc<fanzha_engine::text::TextClassifier>>,
    pub(crate) status: Mutex<PipelineStatus>,
    /// Every event up to this seq is processed.
    pub(crate) watermark: tokio::sync::watch::Sender<i64>,
    pub(crate) stop: AtomicBool,
    pub(crate) stopped: tokio::sync::Notify,
    pub(crate) worker: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl DetectState {
    pub(crate) fn new(cfg: &DetectConfig, me: Weak<App>) -> DetectState {
        let bus = InProcessBus::new(
            InProcessConfig {
                partitions: cfg.partitions.max(1),
                queue_capacity: cfg.queue_capacity.max(1),
                log_page: cfg.batch_max.clamp(64, 16_384),
            },
            Arc::new(StoreLog { app: me.clone() }),
        );
        DetectState {
            me,
            bus,
            ingest_lock: tokio::sync::Mutex::new(()),
            started: tokio::sync::OnceCell::new(),
            id_digest_legacy: tokio::sync::OnceCell::new(),
            rules_gen: AtomicU64::new(0),
            directory: Mutex::new(Arc::new(Directory::default())),
            directory_dirty: AtomicBool::new(true),
            classifier: tokio::sync::OnceCell::new(),
            status: Mutex::new(PipelineStatus::default()),
            watermark: tokio::sync::watch::channel(0).0,
            stop: AtomicBool::new(false),
            stopped: tokio::sync::Notify::new(),
            worker: Mutex::new(None),
        }
    }
}

impl App {
    /// Tells detection that residents changed (their phones, grid, birth
    /// date or tags); the directory is rebuilt shortly.
    pub fn residents_changed(&self) {
        self.detect.directory_dirty.store(true, Ordering::SeqCst);
    }

    /// The text classifier: the built-in lexicon, plus the configured model.
    pub(crate) async fn text_classifier(&self) -> Result<Arc<fanzha_engine::text::TextClassifier>> {
        self.detect
            .classifier
            .get_or_try_init(|| async {
                use fanzha_engine::text::{CombineParams, Lexicon, Model, TextClassifier};
                let lexicon = Lexicon::builtin().map_err(|e| AppError::Internal(format!("lexicon: {e}")))?;
                let model = match &self.cfg.detect.model_file {
                    None => None,
                    Some(path) => {
                        let path = path.clone();
                        let m = tokio::task::spawn_blocking(move || {
                            let f = std::fs::File::open(&path)
                                .map_err(|e| format!("opening the model {}: {e}", path.display()))?;
                            Model::load(std::io::BufReader::new(f))
                                .map_err(|e| format!("loading the model {}: {e}", path.display()))
                        })
                        .await
                        .map_err(|e| AppError::Internal(e.to_string()))?
                        .map_err(AppError::Internal)?;
                        tracing::info!(labels = m.n_classes(), "text model loaded");
                        Some(m)
                    }
                };
                Ok::<_, AppError>(Arc::new(TextClassifier::new(
                    lexicon,
                    model,
                    CombineParams::default(),
                )))
            })
            .await
            .cloned()
    }

    /// The resident directory the pipeline uses now.
    pub(crate) fn directory(&self) -> Arc<Directory> {
        lock(&self.detect.directory).clone()
    }

    /// Waits until every event up to `seq` is processed (or `timeout`
    /// passes); returns whether it was.
    pub async fn wait_processed(&self, seq: i64, timeout: Duration) -> bool {
        let mut rx = self.detect.watermark.subscribe();
        let wait = rx.wait_for(|w| *w >= seq);
        matches!(tokio::time::timeout(timeout, wait).await, Ok(Ok(_)))
    }

    /// What the pipeline has done since the process started.
    pub fn pipeline_status(&self) -> PipelineStatus {
        let mut s = lock(&self.detect.status).clone();
        s.watermark = *self.detect.watermark.borrow();
        s.published = self.detect.bus.last_published() as i64;
        s
    }
}
